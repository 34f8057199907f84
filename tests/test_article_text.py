"""Article text is data: words that look like template syntax, a link or a missing value are
built, pass the pre-send gate and reach the reader as written, and never fill in a slot."""

import json
import re
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path

import pytest

from conftest import SmtpServer, digest, make_settings, shows
from digest.config import IngestSettings
from digest.core.articles import Article
from digest.core.building import Override, build_edition, edition_window
from digest.gate import check_message
from digest.ingest.inputs import IngestOptions, load
from digest.mime import Envelope, Mailbox, message_bytes
from digest.render import Renderer

DAY = "2024-06-24"
FEEDS = Path(__file__).parent / "data" / "feeds"
# Every feed that is one: the truncated Reuters file is refused at ingest.
FEED_FILES = sorted(p for p in FEEDS.iterdir() if p.suffix in {".xml", ".rss", ".atom"})
FEED_FILES.remove(FEEDS / "reuters_mostread_2020-03-21_truncated.xml")
LEAD = "Russia launched drones at Kyiv, Ukrainian officials said."
HEADLINE = "Kyiv hit by drones overnight"
# (headline, text) of one story; the words under test are in the summary or the headline.
LOOKALIKES = {
    "bare domain": (HEADLINE, f"{LEAD} Read the statement at www.president.gov.ua for details."),
    "bare url": (HEADLINE, f"{LEAD} The statement is at https://www.president.gov.ua/news today."),
    "opening braces": (HEADLINE, f"{LEAD} Its code names were written {{{{ like this."),
    "closing braces": (HEADLINE, f"{LEAD} Its code names ended }} and }}}} there."),
    "block opener": (HEADLINE, f"{LEAD} A banner read {{% inside."),
    "jinja expression": (HEADLINE, f"{LEAD} Hackers left {{{{ config }}}} on the site."),
    "a summary reading None": (HEADLINE, "None"),
    "a summary whose last line reads None": (
        HEADLINE,
        f"{LEAD} Asked how many of the drones reached the city centre after air defences "
        "engaged them over the western districts, the mayor answered with one word: None",
    ),
    "headline with a bare domain": ("Kyiv: www.president.gov.ua goes dark", LEAD),
    "headline with template syntax": ("Kyiv {{ config }} hit {% if %} overnight }}", LEAD),
    "headline reading None": ("None", LEAD),
}
# What may never reach a reader: a private-use character, raw or as a character reference.
_STRAY = re.compile(r"[\ue000-\uf8ff]|&#x[ef][0-9a-f]{3};|\\u\{", re.IGNORECASE)


@pytest.fixture
def station(smtp_server: SmtpServer, monkeypatch: pytest.MonkeyPatch) -> SmtpServer:
    monkeypatch.setenv("DIGEST_DELIVERY__TRANSPORT", "smtp")
    for key, value in smtp_server.settings().items():
        monkeypatch.setenv(f"DIGEST_SMTP__{key.upper()}", str(value))
    monkeypatch.setenv("DIGEST_WEB__BASE_URL", "https://news.example.org/")
    assert digest("db", "upgrade").exit_code == 0
    assert digest("subscribers", "add", "ada@example.com", "--name", "Ada").exit_code == 0
    return smtp_server


def _ingest(tmp_path: Path, *stories: dict[str, str]) -> None:
    lines = [
        json.dumps({"source": "Wire", "published": "2024-06-23T12:00:00Z", **story})
        for story in stories
    ]
    (tmp_path / "stories.jsonl").write_text("\n".join(lines) + "\n")
    assert digest("ingest", str(tmp_path / "stories.jsonl")).exit_code == 0


def _sent_parts(station: SmtpServer) -> tuple[str, str]:
    """The text and HTML parts of the one message sent, as a reader's client decodes them."""
    (received,) = station.received
    text, html = received.message.get_body(("plain",)), received.message.get_body(("html",))
    assert text is not None and html is not None
    return text.get_content(), html.get_content()


@pytest.mark.parametrize(("headline", "text"), LOOKALIKES.values(), ids=LOOKALIKES.keys())
def test_article_text_that_looks_like_template_syntax_or_a_link_is_sent_as_written(
    station: SmtpServer, tmp_path: Path, headline: str, text: str
) -> None:
    _ingest(tmp_path, {"title": headline, "url": "https://example.com/kyiv", "text": text})

    checked = digest("check", "--date", DAY)
    assert checked.exit_code == 0, checked.output
    sent = digest("send", "--date", DAY)
    assert sent.exit_code == 0, sent.output + sent.stderr
    assert "1 sent" in sent.output

    plain, html = _sent_parts(station)
    for part in (plain, html):
        assert shows(part, headline) and shows(part, text), part
        assert not _STRAY.search(part)
    # Words that read like a link stay words.
    assert not re.search(r'href="[^"]*president', html)
    if text.endswith("None"):
        assert "      None" in plain.splitlines()


def test_article_text_never_fills_in_a_subscribers_slot(
    station: SmtpServer, tmp_path: Path
) -> None:
    _ingest(
        tmp_path,
        {
            "title": "Kyiv hit by drones {{{digest:name}}}",
            "url": "https://example.com/kyiv/{{{digest:email}}}",
            "text": f"{LEAD} Write to {{{{{{digest:email}}}}}} or follow "
            '{{{digest:unsubscribe_url}}}, said a page that called slot("unsubscribe_url").',
        },
    )
    assert digest("send", "--date", DAY).exit_code == 0

    plain, html = _sent_parts(station)
    for part in (plain, html):
        assert shows(part, "Kyiv hit by drones {{{digest:name}}}")
        assert shows(part, "Write to {{{digest:email}}} or follow {{{digest:unsubscribe_url}}}")
        assert shows(part, 'called slot("unsubscribe_url")')
        # Only where the template puts them: the greeting, the footer, one unsubscribe link.
        assert part.count("Ada") == 1
        assert part.count("ada@example.com") == 1
        assert part.count("https://news.example.org/unsubscribe/") == 1
    # Braces are not valid in a URL; written encoded, the link leads where the article said.
    assert "      https://example.com/kyiv/%7B%7B%7Bdigest:email%7D%7D%7D" in plain.splitlines()
    assert 'href="https://example.com/kyiv/%7B%7B%7Bdigest:email%7D%7D%7D"' in html


@pytest.mark.parametrize("path", FEED_FILES, ids=lambda p: p.name)
def test_every_entry_of_the_real_feeds_passes_the_gate(tmp_path: Path, path: Path) -> None:
    """Each feed's entries as one day's news, every one kept by an editor and none folded into
    another (a minute apart, and a story may span no more), so each is shown."""
    entries = load(str(path), IngestOptions(IngestSettings(), "UTC")).articles
    settings = make_settings(tmp_path, clustering={"max_hours_apart": 0.001})
    day, noon = date(2024, 6, 24), datetime(2024, 6, 24, 12, tzinfo=UTC)
    articles = [
        Article(n, e.title, e.text, e.source_name, e.url, noon - timedelta(minutes=n), e.summary)
        for n, e in enumerate(entries, 1)
    ]
    edition = build_edition(
        articles,
        settings.editorial_rules(),
        name="daily",
        day=day,
        timezone="UTC",
        window=edition_window(day, "UTC", time(18, 0), 24),
        overrides=[Override(a.article_id, "pin", "ukraine") for a in articles],
        trim=False,
    )
    assert edition.item_count == len(articles)

    rendered = Renderer(settings).render(edition)
    values = {
        "name": "Ada",
        "email": "ada@example.com",
        "unsubscribe_url": "https://news.example.org/unsubscribe/1.abc",
        "preferences_url": "https://news.example.org/preferences/1.abc",
        "web_url": f"https://news.example.org/editions/daily/{day}",
    }
    html, text = rendered.personalise(values)
    envelope = Envelope(
        Mailbox("Digest", "digest@example.com"),
        Mailbox("Ada", "ada@example.com"),
        "<daily.20240624.1@example.com>",
        "Digest <daily.example.com>",
        values["unsubscribe_url"],
    )
    raw = message_bytes(envelope, rendered.subject, text, html, noon)
    findings = check_message(raw, 100 * 1024, rendered.marked(values))
    # A whole feed in one message is over the size budget, which a build keeps by trimming.
    assert [f for f in findings if not f.passed and f.check != "size"] == []
