"""The pre-send gate: each check catches its fault, and a failing edition is never sent."""

import json
import re
from datetime import UTC, date, datetime, time
from pathlib import Path

import pytest

from conftest import digest, make_settings
from digest.core import marks
from digest.core.articles import Article
from digest.core.building import build_edition, edition_window
from digest.core.edition import Edition
from digest.errors import RenderError
from digest.gate import check_message
from digest.mime import Envelope, Mailbox, message_bytes
from digest.render import Renderer
from test_render import _edition

ENVELOPE = Envelope(
    Mailbox("Digest", "digest@example.com"),
    Mailbox("Ada", "ada@example.com"),
    "<daily.20240624.1@example.com>",
    "Digest <daily.example.com>",
    "https://news.example.org/unsubscribe/1.abc",
)
GOOD_HTML = '<p><a href="https://example.com/a">Story A</a> <a href="#ukraine">Ukraine</a></p>'
GOOD_TEXT = "Story A\n\nhttps://example.com/a\n"
PERSONAL = {
    "name": "Ada",
    "email": "ada@example.com",
    "unsubscribe_url": "https://news.example.org/unsubscribe/1.abc",
    "preferences_url": "https://news.example.org/preferences/1.abc",
    "web_url": "https://news.example.org/editions/daily/2024-06-24",
}


def failed(html: str = GOOD_HTML, text: str = GOOD_TEXT, budget: int = 100_000) -> set[str]:
    raw = message_bytes(ENVELOPE, "Subject", text, html, datetime(2024, 6, 24, tzinfo=UTC))
    return {f.check for f in check_message(raw, budget) if not f.passed}


def test_a_good_message_passes_every_check() -> None:
    assert failed() == set()


@pytest.mark.parametrize(
    ("html", "text", "budget", "check"),
    [
        (GOOD_HTML + "<p>" + "x" * 5000 + "</p>", GOOD_TEXT, 4000, "size"),
        (GOOD_HTML + "<p>Hello {{ name }}</p>", GOOD_TEXT, 100_000, "leftovers"),
        (GOOD_HTML + "<p>None</p>", GOOD_TEXT, 100_000, "leftovers"),
        (GOOD_HTML, GOOD_TEXT + "Author: Undefined\nUndefined\n", 100_000, "leftovers"),
        (GOOD_HTML + '<p><a href="/relative">x</a></p>', GOOD_TEXT, 100_000, "links"),
        (GOOD_HTML + '<a href="javascript:alert(1)">x</a>', GOOD_TEXT, 100_000, "links"),
        (GOOD_HTML + '<img src="https://example.com/p.png">', GOOD_TEXT, 100_000, "images"),
        (GOOD_HTML + '<a href="https://example.com/b">B</a>', GOOD_TEXT, 100_000, "parts agree"),
        (GOOD_HTML, GOOD_TEXT + "https://example.com/c\n", 100_000, "parts agree"),
    ],
)
def test_each_check_catches_its_fault(html: str, text: str, budget: int, check: str) -> None:
    assert check in failed(html, text, budget)


def test_missing_headers_are_caught() -> None:
    raw = message_bytes(ENVELOPE, "Subject", GOOD_TEXT, GOOD_HTML, datetime.now(UTC))
    without = b"\r\n".join(
        line for line in raw.split(b"\r\n") if not line.startswith(b"List-Unsubscribe")
    )
    (finding,) = [f for f in check_message(without, 100_000) if f.check == "headers"]
    assert not finding.passed
    assert finding.detail == "missing List-Unsubscribe, List-Unsubscribe-Post"


def test_an_unknown_mjml_tag_is_reported_with_file_and_line(tmp_path: Path) -> None:
    folder = tmp_path / "mine"
    folder.mkdir()
    ours = Path(__file__).parents[1] / "templates" / "digest.mjml.j2"
    source = ours.read_text().replace("<mj-divider padding", "<mj-divder padding", 1)
    (folder / "digest.mjml.j2").write_text(source)
    line = next(n for n, text in enumerate(source.splitlines(), 1) if "<mj-divder" in text)
    renderer = Renderer(make_settings(tmp_path, templates={"directory": str(folder)}))
    with pytest.raises(RenderError, match=rf"digest\.mjml\.j2: line {line}: unknown MJML tag"):
        renderer.render(_edition())


@pytest.mark.parametrize(
    ("snippet", "error"),
    [
        ("{% raw %}Dear {{ reader }},{% endraw %}", "placeholder '{{ reader }}' left over"),
        ("Dear {{{digest:nmae}}},", "'digest' is undefined"),
    ],
)
def test_a_placeholder_left_in_a_template_is_reported_with_file_and_line(
    tmp_path: Path, snippet: str, error: str
) -> None:
    folder = tmp_path / "mine"
    folder.mkdir()
    ours = (Path(__file__).parents[1] / "templates" / "digest.txt.j2").read_text()
    lines = ours.splitlines()
    line = next(n for n, text in enumerate(lines, 1) if "IN THIS ISSUE" in text)
    lines[line - 1] = snippet
    (folder / "digest.txt.j2").write_text("\n".join(lines) + "\n")
    renderer = Renderer(make_settings(tmp_path, templates={"directory": str(folder)}))
    with pytest.raises(RenderError, match=rf"digest\.txt\.j2: line {line}: {re.escape(error)}"):
        renderer.render(_edition())


def _one_story(tmp_path: Path, text: str) -> None:
    """A migrated store with one Ukraine story of 2024-06-24 telling `text`, and a reader."""
    story = {
        "title": "Kyiv hit by drones overnight",
        "url": "https://example.com/kyiv",
        "source": "Wire",
        "published": "2024-06-23T12:00:00Z",
        "text": text,
    }
    (tmp_path / "story.jsonl").write_text(json.dumps(story) + "\n")
    digest("db", "upgrade")
    digest("ingest", str(tmp_path / "story.jsonl"))
    digest("subscribers", "add", "ada@example.com")


def test_send_refuses_an_edition_that_fails_the_gate(tmp_path: Path) -> None:
    folder = tmp_path / "mine"
    folder.mkdir()
    ours = (Path(__file__).parents[1] / "templates" / "digest.txt.j2").read_text()
    # The editor's text part forgets the story links: the parts no longer agree.
    (folder / "digest.txt.j2").write_text(ours.replace("      {{ story.url }}\n", ""))
    (tmp_path / "config.toml").write_text(f'[templates]\ndirectory = "{folder}"\n')
    _one_story(tmp_path, "Russia launched drones at Kyiv, Ukrainian officials said.")

    checked = digest("check", "--date", "2024-06-24")
    assert checked.exit_code == 1
    assert "FAIL parts agree: only in HTML" in checked.output

    sent = digest("send", "--date", "2024-06-24")
    assert sent.exit_code == 1
    assert "failed the pre-send check" in sent.stderr and "nothing was sent" in sent.stderr
    assert not (tmp_path / "var" / "outbox" / "new").exists() or not any(
        (tmp_path / "var" / "outbox" / "new").iterdir()
    )
    assert "1 pending" in digest("report").output


# Article text that reads like a fault of the template: a bare domain and URL, template
# syntax, and a headline reading None.
LOOKALIKE_SUMMARY = (
    "Kyiv was hit overnight, Ukrainian officials said at www.president.gov.ua and "
    "https://www.president.gov.ua/news, where a page showed {{ config }}, {% and }}."
)


def _lookalike_edition() -> Edition:
    day = date(2024, 6, 24)
    published = datetime(2024, 6, 24, 9, tzinfo=UTC)
    article = Article(1, "None", LOOKALIKE_SUMMARY, "Wire", "https://example.com/kyiv", published)
    return build_edition(
        [article],
        make_settings(Path(".")).editorial_rules(),
        name="daily",
        day=day,
        timezone="Europe/Kyiv",
        window=edition_window(day, "Europe/Kyiv", time(18, 0), 24),
    )


def _lookalike_message(
    tmp_path: Path, html_fault: str = "", text_fault: str = ""
) -> tuple[bytes, tuple[str, str]]:
    """The message of that edition and its parts as rendered, with a fault written beside the
    article's words as a template would write it (after the last story)."""
    rendered = Renderer(make_settings(tmp_path)).render(_lookalike_edition())
    html, text = rendered.marked(PERSONAL)
    html = html.replace("</body>", html_fault + "</body>")
    text = text.replace("\n\n" + "=" * 76, "\n\n" + text_fault + "=" * 76)
    parts = (marks.HTML.unmarked(html), marks.TEXT.unmarked(text))
    raw = message_bytes(ENVELOPE, "Subject", parts[1], parts[0], datetime(2024, 6, 24, tzinfo=UTC))
    return raw, (html, text)


def test_article_text_is_data_to_the_gate(tmp_path: Path) -> None:
    raw, marked = _lookalike_message(tmp_path)
    assert [f for f in check_message(raw, 100_000, marked) if not f.passed] == []
    # Read as the template's words, the same message would fail three checks.
    unmarked = {f.check for f in check_message(raw, 100_000) if not f.passed}
    assert unmarked == {"leftovers", "links", "parts agree"}


@pytest.mark.parametrize(
    ("html_fault", "text_fault", "check", "detail"),
    [
        ('<a href="/archive">Archive</a>', "", "links", "not absolute http(s): /archive"),
        ("", "Archive: www.example.com/archive\n\n", "links", "www.example.com/archive"),
        ("<p>None</p>", "", "leftovers", "left in the message: None"),
        ("", "None\n\n", "leftovers", "left in the message: None"),
        ("", "Dear {{ reader }}\n\n", "leftovers", "left in the message: {{, }}"),
        ('<a href="https://example.com/extra">More</a>', "", "parts agree", "example.com/extra"),
    ],
)
def test_what_the_template_wrote_beside_such_article_text_is_still_caught(
    tmp_path: Path, html_fault: str, text_fault: str, check: str, detail: str
) -> None:
    raw, marked = _lookalike_message(tmp_path, html_fault, text_fault)
    (failed,) = [f for f in check_message(raw, 100_000, marked) if not f.passed]
    assert failed.check == check
    assert detail in failed.detail and "president" not in failed.detail


def test_marked_parts_of_another_message_are_refused(tmp_path: Path) -> None:
    raw, (html, text) = _lookalike_message(tmp_path)
    with pytest.raises(ValueError, match="not the message's"):
        check_message(raw, 100_000, (html, text + "more"))


def _own_template(tmp_path: Path, name: str, old: str, new: str) -> None:
    """The editor's copy of one of our templates, `old` replaced by `new`, in use from now on."""
    folder = tmp_path / "mine"
    folder.mkdir(exist_ok=True)
    ours = (Path(__file__).parents[1] / "templates" / name).read_text()
    assert old in ours
    (folder / name).write_text(ours.replace(old, new))
    (tmp_path / "config.toml").write_text(f'[templates]\ndirectory = "{folder}"\n')


def test_a_relative_link_the_template_makes_fails_the_gate_and_an_articles_words_do_not(
    tmp_path: Path,
) -> None:
    _one_story(
        tmp_path, "Russia launched drones at Kyiv, officials said at www.president.gov.ua/news."
    )
    assert digest("check", "--date", "2024-06-24").exit_code == 0

    footer = '<a href="{{ slot("web_url") }}">View in a browser</a>'
    _own_template(tmp_path, "digest.mjml.j2", footer, f'{footer} · <a href="/archive">Archive</a>')
    assert digest("build", "--date", "2024-06-24", "--rebuild").exit_code == 0
    checked = digest("check", "--date", "2024-06-24")
    assert checked.exit_code == 1
    assert "FAIL links: not absolute http(s): /archive\n" in checked.output


def test_a_missing_value_the_template_prints_fails_the_gate_and_an_article_reading_none_does_not(
    tmp_path: Path,
) -> None:
    # A feed may leave out an item's link; the other item's teaser reads None.
    (tmp_path / "wire.xml").write_text(
        '<rss version="2.0"><channel><title>Wire</title>'
        "<item><title>Kyiv hit by drones overnight</title><link>https://example.com/kyiv</link>"
        "<description>None</description><pubDate>Sun, 23 Jun 2024 12:00:00 GMT</pubDate></item>"
        "<item><title>Kyiv mayor speaks</title><description>Russia launched drones at Kyiv, "
        "he said.</description><pubDate>Sun, 23 Jun 2024 13:00:00 GMT</pubDate></item>"
        "</channel></rss>"
    )
    digest("db", "upgrade")
    digest("ingest", str(tmp_path / "wire.xml"))
    digest("subscribers", "add", "ada@example.com")
    assert digest("check", "--date", "2024-06-24").exit_code == 0

    # The editor's text part prints every story's URL, that of the one without a link too.
    _own_template(tmp_path, "digest.txt.j2", "{% if story.url %}\n", "{% if true %}\n")
    assert digest("build", "--date", "2024-06-24", "--rebuild").exit_code == 0
    checked = digest("check", "--date", "2024-06-24")
    assert checked.exit_code == 1
    assert "FAIL leftovers: left in the message: None\n" in checked.output
