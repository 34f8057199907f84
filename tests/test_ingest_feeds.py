"""RSS and Atom: every real feed in tests/data/feeds (see SOURCES.md there) read end to end."""

import re
from datetime import UTC, datetime, timedelta
from html import escape
from pathlib import Path

import pytest

from digest.config import IngestSettings
from digest.core.identity import canonical_url, dedup_key
from digest.errors import IngestError
from digest.ingest.feeds import parse_feed
from digest.ingest.inputs import IngestOptions, load
from digest.ingest.model import Batch

FEEDS = Path(__file__).parent / "data" / "feeds"
OPTIONS = IngestOptions(IngestSettings(), "UTC")
TRUNCATED = FEEDS / "reuters_mostread_2020-03-21_truncated.xml"
WELL_FORMED = sorted(
    p for p in FEEDS.iterdir() if p.suffix in {".xml", ".rss", ".atom"} and p != TRUNCATED
)


def rss_with(title: str, description_html: str) -> bytes:
    """A one-item RSS feed whose description carries `description_html`, escaped as feeds do."""
    return (
        f'<rss version="2.0"><channel><title>T</title><item><title>{title}</title>'
        f"<link>https://example.com/a</link><description>{escape(description_html)}"
        "</description></item></channel></rss>"
    ).encode()


def raw_items(path: Path) -> list[bytes]:
    """The <item> or <entry> elements of a feed file, found without a feed parser."""
    found = re.finditer(rb"<(item|entry)[\s>].*?</\1>", path.read_bytes(), re.DOTALL)
    return [match.group(0) for match in found]


@pytest.fixture(scope="module")
def batches() -> dict[str, Batch]:
    return {path.name: load(str(path), OPTIONS) for path in WELL_FORMED}


def test_every_feed_named_in_sources_md_is_here() -> None:
    """The parametrised tests below cover exactly the documented fixtures."""
    listed = set(re.findall(r"^\| `([^`]+)`", (FEEDS / "SOURCES.md").read_text(), re.MULTILINE))
    assert listed == {p.name for p in WELL_FORMED} | {TRUNCATED.name}


class TestEveryWellFormedFeed:
    @pytest.mark.parametrize("path", WELL_FORMED, ids=lambda p: p.name)
    def test_all_items_are_ingested(self, batches: dict[str, Batch], path: Path) -> None:
        batch = batches[path.name]
        assert batch.kind == "feed"
        assert batch.rejected == []
        assert len(batch.articles) == len(raw_items(path)) > 0

    @pytest.mark.parametrize("path", WELL_FORMED, ids=lambda p: p.name)
    def test_titles_are_clean_single_lines(self, batches: dict[str, Batch], path: Path) -> None:
        for article in batches[path.name].articles:
            assert article.title
            assert article.title == article.title.strip()
            assert "\n" not in article.title and "\r" not in article.title
            assert "  " not in article.title
            assert not re.search(r"</?[a-zA-Z]", article.title)  # no tags left

    @pytest.mark.parametrize("path", WELL_FORMED, ids=lambda p: p.name)
    def test_links_are_absolute_http(self, batches: dict[str, Batch], path: Path) -> None:
        for article in batches[path.name].articles:
            assert article.url is not None
            assert article.url.startswith(("http://", "https://"))

    @pytest.mark.parametrize("path", WELL_FORMED, ids=lambda p: p.name)
    def test_source_is_the_items_outlet_or_the_feeds_title(
        self, batches: dict[str, Batch], path: Path
    ) -> None:
        batch = batches[path.name]
        assert batch.title
        outlets = [re.search(rb"<source[^>]*>([^<]+)</source>", item) for item in raw_items(path)]
        expected = [o.group(1).decode().strip() if o else batch.title for o in outlets]
        assert [a.source_name for a in batch.articles] == expected

    @pytest.mark.parametrize("path", WELL_FORMED, ids=lambda p: p.name)
    def test_no_markup_or_entities_leak_into_text(
        self, batches: dict[str, Batch], path: Path
    ) -> None:
        for article in batches[path.name].articles:
            for field in (article.text, article.summary):
                assert not re.search(r"</?(p|a|img|div|br|ul|li)\b", field)
                assert not re.search(r"&(lt|gt|amp|quot|#\d+);", field)

    @pytest.mark.parametrize("path", WELL_FORMED, ids=lambda p: p.name)
    def test_dates_are_utc(self, batches: dict[str, Batch], path: Path) -> None:
        for article in batches[path.name].articles:
            if article.published_at is not None:
                assert article.published_at.utcoffset() == timedelta(0)

    def test_source_name_option_renames_the_source(self) -> None:
        options = IngestOptions(IngestSettings(), "UTC", source_name="My Paper")
        batch = load(str(FEEDS / "nyt_world_2024-08-08.xml"), options)
        assert {a.source_name for a in batch.articles} == {"My Paper"}


class TestNewYorkTimes:
    def test_first_item(self, batches: dict[str, Batch]) -> None:
        batch = batches["nyt_world_2024-08-08.xml"]
        assert batch.title == "NYT > World News"
        first = batch.articles[0]
        assert first.title == (
            "Israel-Hamas War: At Least 16 Killed in Israeli Strikes Near Gaza School Buildings"
        )
        assert (
            first.url == "https://www.nytimes.com/live/2024/08/08/world/israel-iran-hamas-gaza-war"
        )
        assert first.published_at == datetime(2024, 8, 8, 18, 54, tzinfo=UTC)
        assert first.text.startswith("Israel said Hamas fighters were operating near")

    def test_the_text_is_the_description_not_the_photo_caption(
        self, batches: dict[str, Batch]
    ) -> None:
        kursk = next(a for a in batches["nyt_world_2024-08-08.xml"].articles if "Kursk" in a.title)
        assert kursk.text.startswith("The local government in the Russian region of Kursk")
        assert "A photo provided by" not in kursk.text

    def test_dc_creator_becomes_author(self, batches: dict[str, Batch]) -> None:
        second = batches["nyt_world_2024-08-08.xml"].articles[1]
        assert second.author == "Adam Rasgon, Ben Hubbard, Matthew Mpoke Bigg and Michael Levenson"


class TestBBC:
    def test_cdata_padding_is_stripped_from_titles(self, batches: dict[str, Batch]) -> None:
        batch = batches["bbc_news_frontpage_2024-08-08.xml"]
        assert batch.title == "BBC News"
        assert batch.articles[0].title == (
            "Suspended Labour councillor arrested over counter-protest remarks"
        )
        for article in batch.articles:
            assert article.title == article.title.strip()
            assert article.text == article.text.strip()

    def test_first_description_and_date(self, batches: dict[str, Batch]) -> None:
        first = batches["bbc_news_frontpage_2024-08-08.xml"].articles[0]
        assert first.text == (
            'Labour says the behaviour is "completely unacceptable and it will not be tolerated".'
        )
        assert first.published_at == datetime(2024, 8, 8, 15, 39, 3, tzinfo=UTC)
        assert first.guid == "https://www.bbc.com/news/articles/cz074vyvjzvo#0"


class TestGuardian:
    @pytest.mark.parametrize(
        "name", ["guardian_us_2018-01-31.rss", "guardian_international_2025-04-01.xml"]
    )
    def test_description_html_becomes_clean_text(
        self, batches: dict[str, Batch], name: str
    ) -> None:
        articles = batches[name].articles
        for article in articles:
            flat = " ".join(article.text.split())
            assert "<p" not in article.text
            assert "&lt;" not in article.text
            assert "Continue reading" not in flat
            assert "Continue reading" not in " ".join(article.summary.split())
        # The description's paragraphs are kept apart, not run together.
        assert any("\n\n" in a.text for a in articles)

    def test_paragraphs_of_the_2018_description(self, batches: dict[str, Batch]) -> None:
        first = batches["guardian_us_2018-01-31.rss"].articles[0]
        assert (
            first.title == "Trump State of the Union address promised unity but emphasized discord"
        )
        assert first.text.split("\n\n")[:2] == [
            "The president’s ‘new American moment’ speech stirred Republican applause while "
            "Democrats showed thinly disguised contempt",
            "Donald Trump has promised a “new American moment” in a State of the Union address "
            "that sought harmony but succeeded only in underlining the deep discord at the heart "
            "of the country’s politics.",
        ]

    def test_pretty_printed_2025_description_is_normalised(self, batches: dict[str, Batch]) -> None:
        """The 2025 copy was run through a pretty-printer: newlines and indentation inside
        sentences must collapse to single spaces."""
        first = batches["guardian_international_2025-04-01.xml"].articles[0]
        assert first.text.startswith(
            "Doctors helping with aftermath of disaster and UN special rapporteur say aid is "
            "disappearing or being blocked in areas controlled by resistance groups\n\n"
        )
        for paragraph in first.text.split("\n\n"):
            assert "  " not in paragraph and "\n" not in paragraph

    def test_links_in_description_are_kept_in_html(self, batches: dict[str, Batch]) -> None:
        first = batches["guardian_us_2018-01-31.rss"].articles[0]
        assert '<a href="https://www.theguardian.com/us-news/2018/jan/30/' in first.html
        assert 'rel="noopener noreferrer nofollow"' in first.html


class TestUOL:
    """Latin-1 bytes with no encoding declared, Portuguese dates."""

    NAME = "uol_noticias_2018-09-24_latin1_undeclared.rss"

    def test_portuguese_characters_are_decoded(self, batches: dict[str, Batch]) -> None:
        titles = [a.title for a in batches[self.NAME].articles]
        assert titles[0] == (
            "Ibope: Bolsonaro perde de Haddad, Ciro e Alckmin em simulações de 2º turno"
        )
        assert (
            "Promotoria abre inquérito para apurar suspeita de improbidade de Skaf no Sebrae-SP"
            in (titles)
        )
        for title in titles:
            assert "\ufffd" not in title and "Ã" not in title

    def test_portuguese_pubdate(self, batches: dict[str, Batch]) -> None:
        """'Seg, 24 Set 2018 19:42:40 -0300' is Monday 24 September, three hours behind UTC."""
        first = batches[self.NAME].articles[0]
        assert first.published_at == datetime(2018, 9, 24, 22, 42, 40, tzinfo=UTC)
        assert all(a.published_at is not None for a in batches[self.NAME].articles)

    def test_description_images_are_dropped(self, batches: dict[str, Batch]) -> None:
        for article in batches[self.NAME].articles:
            assert "<img" not in article.html


class TestIlMessaggero:
    def test_italian_pubdate(self, batches: dict[str, Batch]) -> None:
        """'mer, 16 nov 2022 00:38:15 +0100' is not RFC 822 but still a date."""
        [article] = batches["ilmessaggero_mondo_2022-11-16.xml"].articles
        assert article.published_at == datetime(2022, 11, 15, 23, 38, 15, tzinfo=UTC)
        assert article.title == (
            "Missili Polonia, cosa è successo? Tensione Nato-Russia, Mosca: non siamo stati noi"
        )


class TestHeise:
    NAME = "heise_developer_2016-02-01.atom"

    def test_umlauts(self, batches: dict[str, Batch]) -> None:
        titles = [a.title for a in batches[self.NAME].articles]
        assert "Microsoft veröffentlicht Cordova-Erweiterung für Visual Studio Code" in titles
        assert "Änderungen bei der Authentifizierung in Microsofts v2.0 App Model" in titles
        assert "Facebook schließt Parse-Plattform" in titles

    def test_atom_published_date(self, batches: dict[str, Batch]) -> None:
        first = batches[self.NAME].articles[0]
        assert first.title == "Java-Anwendungsserver: Red Hat gibt WildFly 10 frei"
        assert first.published_at == datetime(2016, 2, 1, 16, 22, tzinfo=UTC)

    def test_tracking_parameter_is_not_part_of_the_identity(
        self, batches: dict[str, Batch]
    ) -> None:
        for article in batches[self.NAME].articles:
            assert article.url is not None and "?wt_mc=" in article.url
            bare = article.url.split("?")[0]
            assert "wt_mc" not in canonical_url(article.url)
            assert canonical_url(article.url) == bare
            assert dedup_key(article.url, article.guid, article.title, article.text) == dedup_key(
                bare, None, "another title", "another text"
            )


class TestCNN:
    NAME = "cnn_hp_hero_2024-08-08_stale.xml"

    def test_items_without_pubdate_are_kept_undated(self, batches: dict[str, Batch]) -> None:
        items = raw_items(FEEDS / self.NAME)
        articles = batches[self.NAME].articles
        assert len(articles) == len(items)
        undated = [b"<pubDate>" not in item for item in items]
        assert any(undated) and not all(undated)
        for item_is_undated, article in zip(undated, articles, strict=True):
            assert (article.published_at is None) == item_is_undated

    def test_dated_items_keep_their_2023_dates(self, batches: dict[str, Batch]) -> None:
        """The feed is stale (built 2024, items from 2023): dates come from the items."""
        first = batches[self.NAME].articles[0]
        assert first.published_at == datetime(2023, 4, 19, 12, 44, 51, tzinfo=UTC)
        assert first.text == ""  # empty description: a headline-only item


class TestReddit:
    def test_atom_html_content_becomes_text(self, batches: dict[str, Batch]) -> None:
        first = batches["reddit_homelab_2023-07-23.atom"].articles[0]
        assert first.title == "Any reason to keep 1G connections to my servers?"
        assert first.guid == "t3_157kyrd"
        assert first.text.startswith("Hello all, I recently acquired a 40G switch")
        assert first.published_at == datetime(2023, 7, 23, 17, 38, 30, tzinfo=UTC)

    def test_a_crosspost_of_nothing_but_links_has_no_text(self, batches: dict[str, Batch]) -> None:
        crosspost = next(
            a for a in batches["reddit_homelab_2023-07-23.atom"].articles if "[Newbie]" in a.title
        )
        assert (crosspost.text, crosspost.summary, crosspost.html) == ("", "", "")


class TestGoogleNews:
    def test_items_are_credited_to_their_outlets(self, batches: dict[str, Batch]) -> None:
        top = batches["gnews_us_top_2019-11-14.xml"]
        assert top.title == "Top stories - Google News"
        second = top.articles[1]
        assert second.title == "Deval Patrick Announces He Is Running For President In 2020"
        assert second.source_name == "NPR"
        assert second.published_at == datetime(2019, 11, 14, 12, 33, tzinfo=UTC)

    def test_a_list_of_other_outlets_headlines_is_not_the_items_text(
        self, batches: dict[str, Batch]
    ) -> None:
        for article in batches["gnews_us_top_2019-11-14.xml"].articles:
            assert (article.text, article.summary, article.html) == ("", "", "")

    def test_a_description_repeating_the_headline_is_dropped(
        self, batches: dict[str, Batch]
    ) -> None:
        search = batches["gnews_tcs_search_2026-09-06.xml"].articles
        short = next(a for a in search if a.title == "TCS at VMware Explore 2026")
        assert short.source_name == "Tata Consultancy Services"
        assert all(a.text == a.summary == "" for a in search)

    @pytest.mark.parametrize(
        "teaser",
        [
            "<p>The Senate passed the bill on Tuesday after a long night of votes, "
            'sending it to the <a href="https://example.com/house">House</a>.</p>',
            '<a href="https://example.com/a">The Senate passed the bill on Tuesday after a long '
            "night of votes.</a>",
        ],
        ids=["a link inside", "all one link"],
    )
    def test_a_teaser_that_links_somewhere_is_kept(self, teaser: str) -> None:
        [article] = parse_feed(rss_with("Senate passes", teaser), "t.rss", 200, 200_000).articles
        assert article.text.startswith("The Senate passed the bill on Tuesday")


class TestBrokenFeeds:
    def test_truncated_reuters_feed_is_refused(self) -> None:
        with pytest.raises(IngestError) as caught:
            load(str(TRUNCATED), OPTIONS)
        message = str(caught.value)
        assert message.startswith(str(TRUNCATED))
        assert "malformed XML" in message

    def test_not_a_feed_at_all(self) -> None:
        with pytest.raises(IngestError, match=r"^page\.xml: "):
            parse_feed(b"just some words, not XML", "page.xml", 200, 200_000)

    def test_entry_without_title_is_rejected_and_others_kept(self) -> None:
        feed = (
            b'<rss version="2.0"><channel><title>T</title>'
            b"<item><link>https://example.com/a</link><description>No title</description></item>"
            b"<item><title>Has a title</title><link>https://example.com/b</link></item>"
            b"</channel></rss>"
        )
        batch = parse_feed(feed, "mini.rss", 200, 200_000)
        assert [a.title for a in batch.articles] == ["Has a title"]
        [rejection] = batch.rejected
        assert rejection.where == "mini.rss: entry 1"
        assert "no title" in rejection.reason

    def test_full_content_is_the_body_and_a_photo_caption_is_ignored(self) -> None:
        feed = (
            b'<rss version="2.0" xmlns:media="http://search.yahoo.com/mrss/"'
            b' xmlns:content="http://purl.org/rss/1.0/modules/content/"><channel><title>T</title>'
            b"<item><title>Story</title><link>https://example.com/a</link>"
            b"<description>The teaser.</description>"
            b"<content:encoded><![CDATA[<p>The whole story.</p>]]></content:encoded>"
            b"<media:description>A caption.</media:description></item>"
            b"</channel></rss>"
        )
        [article] = parse_feed(feed, "mini.rss", 200, 200_000).articles
        assert (article.text, article.summary) == ("The whole story.", "The teaser.")

    def test_media_description_is_the_text_of_an_entry_with_no_other(self) -> None:
        feed = (
            b'<feed xmlns="http://www.w3.org/2005/Atom" xmlns:media="http://search.yahoo.com/mrss/">'
            b"<title>Channel</title><entry><title>Video</title><id>v1</id>"
            b'<link href="https://example.com/v"/><media:group><media:title>Video</media:title>'
            b"<media:description>What the video shows.</media:description></media:group>"
            b"</entry></feed>"
        )
        [article] = parse_feed(feed, "videos.atom", 200, 200_000).articles
        assert article.text == "What the video shows."

    def test_an_aggregated_item_is_credited_to_its_outlet(self) -> None:
        feed = (
            b'<rss version="2.0"><channel><title>"TCS" - Google News</title>'
            b"<item><title>TCS pips Accenture to take over Best Buy's India GCC ops - The Times of"
            b" India</title><link>https://news.google.com/rss/articles/a</link><source url="
            b'"https://timesofindia.indiatimes.com">The Times of India</source></item>'
            b"<item><title>Own headline</title><link>https://example.com/b</link></item>"
            b"</channel></rss>"
        )
        aggregated, own = parse_feed(feed, "news.rss", 200, 200_000).articles
        assert aggregated.source_name == "The Times of India"
        assert aggregated.title == "TCS pips Accenture to take over Best Buy's India GCC ops"
        assert (own.source_name, own.title) == ('"TCS" - Google News', "Own headline")

    def test_well_formed_feed_with_no_items_is_empty_not_an_error(self) -> None:
        batch = parse_feed(
            b'<rss version="2.0"><channel><title>Quiet</title></channel></rss>', "q", 200, 200_000
        )
        assert batch.title == "Quiet"
        assert batch.articles == [] and batch.rejected == []
