"""Article identity: canonical URLs, dedup keys, and which URLs are safe to keep."""

import re

import pytest

from digest.core.identity import canonical_url, content_hash, dedup_key, safe_url

STORY = "https://news.example.com/world/2024/06/24/peace-talks"


class TestCanonicalUrl:
    @pytest.mark.parametrize(
        "tracked",
        [
            f"{STORY}?utm_source=rss&utm_medium=feed&utm_campaign=world",
            f"{STORY}?UTM_Source=rss",
            f"{STORY}?fbclid=IwAR0abc",
            f"{STORY}?gclid=Cj0KCQ",
            f"{STORY}?wt_mc=rss.developer.beitrag.atom",
            f"{STORY}?WT.mc_id=feed",
            f"{STORY}#comments",
            f"{STORY}?utm_source=x&fbclid=y&gclid=z#top",
            "HTTPS://NEWS.Example.COM/world/2024/06/24/peace-talks",
            "https://news.example.com:443/world/2024/06/24/peace-talks",
        ],
    )
    def test_tracking_fragment_and_case_are_removed(self, tracked: str) -> None:
        assert canonical_url(tracked) == STORY

    @pytest.mark.parametrize(
        ("url", "expected"),
        [
            (
                "https://example.com/search?q=ukraine&page=2",
                "https://example.com/search?q=ukraine&page=2",
            ),
            ("https://example.com/article?id=42&utm_source=x", "https://example.com/article?id=42"),
            ("https://example.com/a?utm_medium=x&story=7#frag", "https://example.com/a?story=7"),
        ],
    )
    def test_meaningful_query_parameters_are_kept(self, url: str, expected: str) -> None:
        assert canonical_url(url) == expected

    def test_path_case_is_kept(self) -> None:
        """Hosts are case-insensitive, paths are not."""
        assert (
            canonical_url("https://Example.com/News/Story-A") == "https://example.com/News/Story-A"
        )

    def test_non_default_port_is_kept_and_default_dropped(self) -> None:
        assert canonical_url("http://example.com:8080/a") == "http://example.com:8080/a"
        assert canonical_url("http://example.com:80/a") == "http://example.com/a"

    def test_empty_path_becomes_root(self) -> None:
        assert canonical_url("https://example.com") == "https://example.com/"
        assert canonical_url("https://example.com?utm_source=x") == "https://example.com/"

    def test_different_articles_stay_different(self) -> None:
        assert canonical_url("https://example.com/a?id=1") != canonical_url(
            "https://example.com/a?id=2"
        )
        assert canonical_url("https://example.com/a") != canonical_url("https://example.com/b")


class TestDedupKey:
    def test_is_a_stable_fixed_size_hex_digest(self) -> None:
        first = dedup_key(STORY, None, "Title", "Text")
        assert first == dedup_key(STORY, None, "Title", "Text")
        assert re.fullmatch(r"[0-9a-f]{64}", first)
        # Pinned: a change of recipe would make every stored article look new on re-ingest.
        assert first == "486e936ee5d426759233c38f9b64901543180956b8137f1b6fcbae8150487dcf"

    def test_same_for_urls_that_differ_only_in_tracking(self) -> None:
        variants = [
            STORY,
            f"{STORY}?utm_source=rss",
            f"{STORY}?fbclid=abc&gclid=def",
            f"{STORY}?wt_mc=rss.atom#section-2",
            "HTTPS://News.Example.com/world/2024/06/24/peace-talks",
        ]
        assert len({dedup_key(url, None, "t", "x") for url in variants}) == 1

    def test_url_wins_over_guid_title_and_text(self) -> None:
        """The same story re-published with an edited headline and a new guid is the same."""
        assert dedup_key(STORY, "guid-1", "Old headline", "Old text") == dedup_key(
            f"{STORY}?utm_source=x", "guid-2", "New headline", "New text"
        )

    def test_different_urls_give_different_keys(self) -> None:
        assert dedup_key(STORY, None, "t", "x") != dedup_key(f"{STORY}-update", None, "t", "x")
        assert dedup_key(f"{STORY}?id=1", None, "t", "x") != dedup_key(
            f"{STORY}?id=2", None, "t", "x"
        )

    @pytest.mark.parametrize("no_url", [None, ""])
    def test_falls_back_to_guid(self, no_url: str | None) -> None:
        key = dedup_key(no_url, "urn:example:123", "Headline", "Body")
        assert key == dedup_key(no_url, "  urn:example:123 ", "Edited headline", "Edited body")
        assert key != dedup_key(no_url, "urn:example:124", "Headline", "Body")

    @pytest.mark.parametrize("no_guid", [None, ""])
    def test_falls_back_to_content(self, no_guid: str | None) -> None:
        key = dedup_key(None, no_guid, "Headline", "Body")
        assert key == dedup_key(None, no_guid, "Headline", "Body")
        assert key != dedup_key(None, no_guid, "Headline", "Other body")
        assert key != dedup_key(None, no_guid, "Other headline", "Body")

    def test_content_hash_separates_title_from_text(self) -> None:
        assert content_hash("ab", "c") != content_hash("a", "bc")

    def test_sources_of_identity_do_not_collide(self) -> None:
        """A guid that happens to equal a URL is still a different identity from that URL."""
        assert dedup_key(STORY, None, "t", "x") != dedup_key(None, STORY, "t", "x")


class TestSafeUrl:
    @pytest.mark.parametrize(
        "url",
        [
            "https://example.com/a",
            "http://example.com/a?b=1&c=2#frag",
            "https://example.com:8443/path",
            "HTTPS://EXAMPLE.COM/",
        ],
    )
    def test_absolute_http_urls_are_kept(self, url: str) -> None:
        assert safe_url(url) == url

    def test_surrounding_whitespace_is_trimmed(self) -> None:
        assert safe_url("  https://example.com/a\n") == "https://example.com/a"

    @pytest.mark.parametrize(
        "url",
        [
            pytest.param("javascript:alert(1)", id="javascript"),
            pytest.param("JavaScript:alert(1)", id="javascript-mixed-case"),
            pytest.param(" javascript:alert(1)", id="javascript-leading-space"),
            pytest.param("data:text/html;base64,PHNjcmlwdD4=", id="data"),
            pytest.param("vbscript:msgbox", id="vbscript"),
            pytest.param("file:///etc/passwd", id="file"),
            pytest.param("ftp://example.com/a", id="ftp"),
            pytest.param("mailto:editor@example.com", id="mailto"),
            pytest.param("/world/story", id="relative-path"),
            pytest.param("world/story", id="relative-name"),
            pytest.param("//example.com/story", id="scheme-relative"),
            pytest.param("https://user:secret@example.com/", id="user-and-password"),
            pytest.param("https://user@example.com/", id="user-only"),
            pytest.param("https://example.com\\@evil.example/", id="backslash-at"),
            pytest.param("https:///no-host", id="no-host"),
            pytest.param("https://example.com:99999/", id="bad-port"),
            pytest.param("https://exa mple.com/", id="space"),
            pytest.param("https://example.com/a\r\nSet-Cookie: x", id="header-injection"),
            pytest.param('https://example.com/"><script>', id="markup"),
            pytest.param("", id="empty"),
            pytest.param(None, id="none"),
        ],
    )
    def test_unsafe_urls_are_refused(self, url: str | None) -> None:
        assert safe_url(url) is None
