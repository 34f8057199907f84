"""Rendering: MJML output, the plain-text part, per-subscriber slots and the MIME message."""

from datetime import UTC, date, datetime, time
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path

import pytest

from conftest import make_settings, shows
from digest.core.articles import Article
from digest.core.building import build_edition, edition_window
from digest.core.edition import Edition
from digest.errors import RenderError
from digest.mime import Envelope, Mailbox, message_bytes
from digest.render import SLOTS, Renderer

SLOT_VALUES = {name: f"value-of-{name}" for name in SLOTS}


def _edition(*articles: Article) -> Edition:
    published = datetime(2024, 6, 24, 9, 30, tzinfo=UTC)
    articles = articles or (
        Article(
            1,
            "Kyiv <b>talks</b> & more",
            "Ukraine Kyiv Ukraine. " * 40,
            "Wire",
            "https://example.com/kyiv?a=1&b=2",
            published,
        ),
        Article(
            2,
            "Senate votes on aid",
            "The Senate and Congress voted. " * 5,
            "Desk",
            "https://example.com/senate",
            published,
        ),
    )
    day = date(2024, 6, 24)
    return build_edition(
        articles,
        make_settings(Path(".")).editorial_rules(),
        name="daily",
        day=day,
        timezone="Europe/Kyiv",
        window=edition_window(day, "Europe/Kyiv", time(18, 0), 24),
    )


@pytest.fixture
def renderer(tmp_path: Path) -> Renderer:
    return Renderer(make_settings(tmp_path))


def test_html_is_escaped_linked_and_carries_every_story(renderer: Renderer) -> None:
    rendered = renderer.render(_edition())
    html, text = rendered.personalise(SLOT_VALUES)
    assert "Kyiv &lt;b&gt;talks&lt;/b&gt; &amp; more" in html
    assert 'href="https://example.com/kyiv?a=1&amp;b=2"' in html
    assert "Senate votes on aid" in html
    assert "12:30 EEST" in html  # published time in the edition's timezone
    assert '<html lang="en"' in html
    assert "value-of-unsubscribe_url" in html and "value-of-unsubscribe_url" in text
    assert "Kyiv <b>talks</b> & more" in text


def test_rendering_is_deterministic(renderer: Renderer) -> None:
    assert renderer.render(_edition()) == renderer.render(_edition())


def test_text_part_is_wrapped_and_keeps_urls_whole(renderer: Renderer) -> None:
    _, text = renderer.render(_edition()).personalise(SLOT_VALUES)
    for line in text.splitlines():
        assert len(line) <= 76 or line.strip().startswith("http"), line
    assert "      https://example.com/kyiv?a=1&b=2" in text.splitlines()
    assert "1. UKRAINE" in text and "2. CONGRESS" in text


def test_a_variant_holds_only_its_sections(renderer: Renderer) -> None:
    html, text = renderer.render(_edition(), {"congress"}).personalise(SLOT_VALUES)
    assert "Senate votes on aid" in html and "Senate votes on aid" in text
    assert "Kyiv" not in html and "Kyiv" not in text


def test_slot_values_are_escaped_and_kept_on_one_line(renderer: Renderer) -> None:
    values = {**SLOT_VALUES, "name": 'Eve <script>alert(1)</script>\r\nBcc: x@evil"'}
    html, text = renderer.render(_edition()).personalise(values)
    assert "<script>alert(1)" not in html
    assert "Eve &lt;script&gt;" in html
    assert "\r" not in text and "Bcc: x@evil" in text.split("Hello ")[1].splitlines()[0]


def test_missing_slot_value_is_refused(renderer: Renderer) -> None:
    with pytest.raises(RenderError, match="no value for slot"):
        renderer.render(_edition()).personalise({"name": "x"})


@pytest.mark.parametrize(
    ("text_template", "error"),
    [
        ("Title\n{% for s in sections %}\n{{ s.title }\n", r"digest\.txt\.j2: line 3"),
        ("Hello\n{{ no_such_thing }}\n", r"digest\.txt\.j2: line 2: 'no_such_thing' is undefined"),
    ],
)
def test_broken_editor_template_names_file_and_line(
    tmp_path: Path, text_template: str, error: str
) -> None:
    folder = tmp_path / "mine"
    folder.mkdir()
    (folder / "digest.txt.j2").write_text(text_template)
    renderer = Renderer(make_settings(tmp_path, templates={"directory": str(folder)}))
    with pytest.raises(RenderError, match=error):
        renderer.render(_edition())


def test_message_is_multipart_utf8_quoted_printable_and_parses_back(renderer: Renderer) -> None:
    rendered = renderer.render(_edition())
    html, text = rendered.personalise(SLOT_VALUES)
    url = "https://news.example.org/unsubscribe/1." + "a" * 60
    envelope = Envelope(
        sender=Mailbox("Ünïcode Digest", "digest@example.com"),
        recipient=Mailbox("Ada Lovelace", "ada@example.com"),
        message_id="<daily.20240624.1@example.com>",
        list_id="The Daily Digest <daily.example.com>",
        unsubscribe_url=url,
        unsubscribe_mailto="unsubscribe@example.com",
    )
    raw = message_bytes(envelope, "Digest · Monday", text, html, datetime.now(UTC))
    head, _, body = raw.partition(b"\r\n\r\n")
    assert f"List-Unsubscribe: <{url}>, <mailto:unsubscribe@example.com?subject=".encode() in head
    assert all(len(line) < 998 for line in head.split(b"\r\n"))
    assert all(len(line) <= 76 for line in body.split(b"\r\n"))
    assert b"\n" not in raw.replace(b"\r\n", b"")

    parsed = message_from_bytes(raw, policy=policy.default)
    assert isinstance(parsed, EmailMessage)
    assert parsed["From"].addresses[0].display_name == "Ünïcode Digest"
    assert parsed["Subject"] == "Digest · Monday"
    assert [p.get_content_type() for p in parsed.iter_parts()] == ["text/plain", "text/html"]
    assert all(p["Content-Transfer-Encoding"] == "quoted-printable" for p in parsed.iter_parts())
    plain, rich = (p.get_content() for p in parsed.iter_parts())
    # Quoted-printable carries the canonical CRLF line ends; the content is otherwise the same.
    assert rich.replace("\r\n", "\n") == html
    assert plain.replace("\r\n", "\n") == text


def test_article_text_is_printed_as_written_and_never_as_template_syntax_or_a_slot(
    renderer: Renderer,
) -> None:
    published = datetime(2024, 6, 24, 9, 30, tzinfo=UTC)
    summary = (
        "Kyiv officials wrote {{ config }}, {% if %} and }} on a page that called "
        'slot("email") and showed {{{digest:email}}} and {{{digest:unsubscribe_url}}}.'
    )
    story = Article(
        1, "Kyiv {{{digest:name}}}", summary, "Wire {{", "https://example.com/{{", published
    )
    html, text = renderer.render(_edition(story)).personalise(SLOT_VALUES)
    for part in (html, text):
        assert shows(part, summary) and shows(part, "Kyiv {{{digest:name}}}")
        assert shows(part, "Wire {{")
        # Each personal value only where the template puts it.
        assert part.count("value-of-name") == part.count("value-of-email") == 1
        assert part.count("value-of-unsubscribe_url") == 1
    assert "https://example.com/%7B%7B" in text and 'href="https://example.com/%7B%7B"' in html
