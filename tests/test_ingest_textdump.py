"""Text-dump articles: the seed page saved as plain text, and what the parser makes of it."""

import json
import re
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from digest.config import IngestSettings
from digest.core.articles import ParsedArticle
from digest.errors import IngestError
from digest.ingest.inputs import IngestOptions, load
from digest.ingest.textdump import parse_text_dump

SEED = Path(__file__).parent / "data" / "2024-06-24-ukraine-peace-talks.txt"
SEED_TEXT = SEED.read_text(encoding="utf-8")
HEADLINE = "U.S. and European Officials Discuss Ukraine Peace Talks, Sources Report"
CROSS_HEADINGS = [
    "Questions about manpower",
    "Is Putin ready to negotiate?",
    "Public support slipping",
]
PROMO = "Also Read House Passes $14.3 Billion Israel Aid, Senate Showdown Looms"


def parse(text: str = SEED_TEXT, timezone: str = "UTC", origin: str = "seed.txt") -> ParsedArticle:
    return parse_text_dump(text, origin, timezone, "Seed Source")


def paragraphs_of(article: ParsedArticle) -> list[str]:
    return article.text.split("\n\n")


def expected_body() -> list[str]:
    """The story's blocks as they stand in the file: after the headline, before the site's
    footer ("Latest Posts"), without the promo line."""
    blocks = [b.strip() for b in SEED_TEXT.split("\n\n")]
    start = blocks.index(HEADLINE) + 1
    end = blocks.index("Latest Posts")
    return [b for b in blocks[start:end] if b != PROMO]


@pytest.fixture(scope="module")
def seed() -> ParsedArticle:
    return parse()


class TestSeedArticle:
    def test_headline_is_exact(self, seed: ParsedArticle) -> None:
        assert seed.title == HEADLINE

    @pytest.mark.parametrize(
        ("timezone", "expected"),
        [
            ("America/New_York", datetime(2024, 6, 24, 4, 0, tzinfo=UTC)),
            ("UTC", datetime(2024, 6, 24, 0, 0, tzinfo=UTC)),
            ("Europe/Kyiv", datetime(2024, 6, 23, 21, 0, tzinfo=UTC)),
        ],
    )
    def test_published_is_start_of_day_in_the_timezone(
        self, timezone: str, expected: datetime
    ) -> None:
        published = parse(timezone=timezone).published_at
        assert published == expected
        assert published is not None and published.utcoffset() == timedelta(0)  # stored in UTC

    @pytest.mark.parametrize("chrome", ["24.8 C", "New York", "Monday, June 24, 2024"])
    def test_page_chrome_is_not_in_the_article(self, seed: ParsedArticle, chrome: str) -> None:
        assert chrome not in seed.text
        assert chrome not in seed.html

    def test_text_starts_with_the_first_body_paragraph(self, seed: ParsedArticle) -> None:
        """Neither chrome nor the headline is repeated at the top of the body."""
        assert seed.text.startswith("U.S. and European officials have initiated discreet dialogues")

    def test_also_read_promo_is_dropped(self, seed: ParsedArticle) -> None:
        assert "Also Read" not in seed.text
        assert "House Passes" not in seed.html
        # ...but the paragraphs either side of it are kept, separately.
        body = paragraphs_of(seed)
        before = body.index(next(p for p in body if p.startswith("President Biden has requested")))
        assert body[before + 1].startswith("Before the outbreak of the Israel-Hamas conflict")

    @pytest.mark.parametrize(
        "boilerplate", ["Latest Posts", "Don't Miss", "Stay in touch", "special announcements"]
    )
    def test_trailing_site_boilerplate_is_dropped(
        self, seed: ParsedArticle, boilerplate: str
    ) -> None:
        assert boilerplate not in seed.text
        assert boilerplate not in seed.html

    @pytest.mark.parametrize("heading", CROSS_HEADINGS)
    def test_cross_heading_is_an_h3_and_its_own_paragraph(
        self, seed: ParsedArticle, heading: str
    ) -> None:
        assert f"<h3>{heading}</h3>" in seed.html
        assert heading in paragraphs_of(seed)
        merged = [p for p in paragraphs_of(seed) if heading in p and p != heading]
        assert merged == []

    def test_exactly_the_three_cross_headings_are_headings(self, seed: ParsedArticle) -> None:
        assert re.findall(r"<h3>(.*?)</h3>", seed.html) == CROSS_HEADINGS

    def test_last_paragraph_is_the_stories_last(self, seed: ParsedArticle) -> None:
        assert paragraphs_of(seed)[-1].startswith(
            "One senior administration official rebuffed the notion"
        )
        assert seed.html.endswith("geopolitical timelines.</p>")

    def test_every_story_paragraph_is_kept_whole_and_in_order(self, seed: ParsedArticle) -> None:
        assert paragraphs_of(seed) == expected_body()

    def test_html_has_one_element_per_block(self, seed: ParsedArticle) -> None:
        body = expected_body()
        assert seed.html.count("<p>") == len(body) - len(CROSS_HEADINGS)
        assert seed.html.count("<h3>") == len(CROSS_HEADINGS)

    def test_typographic_quotes_survive(self, seed: ParsedArticle) -> None:
        assert "Ukraine’s diminishing military resources" in seed.text
        assert "“stalemate,”" in seed.text

    def test_original_is_kept_verbatim(self, seed: ParsedArticle) -> None:
        assert seed.original == SEED_TEXT


class TestLoadingTheFile:
    def test_load_yields_one_article_named_after_the_file(self) -> None:
        batch = load(str(SEED), IngestOptions(IngestSettings(), "America/New_York"))
        assert batch.kind == "text"
        assert batch.rejected == []
        [article] = batch.articles
        assert article.title == HEADLINE
        assert article.source_name == SEED.name
        assert article.published_at == datetime(2024, 6, 24, 4, 0, tzinfo=UTC)

    def test_source_name_option_overrides_the_file_name(self) -> None:
        options = IngestOptions(IngestSettings(), "UTC", source_name="Wire Service")
        [article] = load(str(SEED), options).articles
        assert article.source_name == "Wire Service"

    @pytest.mark.parametrize(
        "variant",
        [
            pytest.param(lambda b: b.replace(b"\n", b"\r\n"), id="crlf"),
            pytest.param(lambda b: b"\xef\xbb\xbf" + b, id="bom"),
            pytest.param(lambda b: b"\xef\xbb\xbf" + b.replace(b"\n", b"\r\n"), id="bom+crlf"),
            pytest.param(lambda b: b.replace(b"\n", b"\r"), id="old-mac-cr"),
        ],
    )
    def test_line_endings_and_bom_parse_the_same(
        self, tmp_path: Path, variant: Callable[[bytes], bytes]
    ) -> None:
        options = IngestOptions(IngestSettings(), "America/New_York")
        plain = load(str(SEED), options).articles[0]
        path = tmp_path / SEED.name
        path.write_bytes(variant(SEED.read_bytes()))
        [other] = load(str(path), options).articles
        assert (other.title, other.text, other.html, other.published_at) == (
            plain.title,
            plain.text,
            plain.html,
            plain.published_at,
        )

    def test_bom_before_the_date_line_is_ignored(self) -> None:
        """A BOM left in the string (file read as plain UTF-8) must not hide the date line."""
        article = parse("\ufeffMonday, June 24, 2024\nHeadline here\n\nBody paragraph.\n")
        assert article.published_at == datetime(2024, 6, 24, tzinfo=UTC)
        assert article.title == "Headline here"

    def test_too_long_text_is_refused(self, tmp_path: Path) -> None:
        path = tmp_path / "long.txt"
        path.write_text("June 24, 2024\nHeadline\n\n" + "word " * 400, encoding="utf-8")
        options = IngestOptions(IngestSettings(max_article_chars=1000), "UTC")
        with pytest.raises(IngestError, match=r"long\.txt.*characters, over the cap of 1,000"):
            load(str(path), options)


class TestDateLines:
    @pytest.mark.parametrize(
        "date_line",
        [
            "Monday, June 24, 2024",
            "June 24, 2024",
            "Jun 24, 2024",
            "24 June 2024",
            "24th June 2024",
            "Mon, Jun 24, 2024",
            "2024-06-24",
        ],
    )
    def test_common_date_lines_are_understood(self, date_line: str) -> None:
        article = parse(f"Kyiv\n{date_line}\nHeadline\n\nBody paragraph.\n")
        assert article.published_at == datetime(2024, 6, 24, tzinfo=UTC)
        assert article.title == "Headline"
        assert article.text == "Body paragraph."


class TestMalformedDumps:
    @pytest.mark.parametrize("content", ["", "\n\n  \n\t\n"], ids=["empty", "blank-lines"])
    def test_empty_file(self, content: str) -> None:
        with pytest.raises(IngestError, match=r"^dump\.txt: file is empty"):
            parse(content, origin="dump.txt")

    def test_no_date_line(self) -> None:
        with pytest.raises(IngestError, match=r"^dump\.txt: no date line") as caught:
            parse("Some headline\n\nA paragraph of text.\n", origin="dump.txt")
        assert "publication date" in str(caught.value)

    def test_date_line_too_far_down_is_not_found(self) -> None:
        """Only the first few lines are chrome: a date deep in the body is not the date line."""
        chrome = "\n".join(f"menu item {n}" for n in range(10))
        with pytest.raises(IngestError, match="no date line"):
            parse(f"{chrome}\nJune 24, 2024\nHeadline\n\nBody.\n", origin="dump.txt")

    def test_date_line_without_headline(self) -> None:
        with pytest.raises(IngestError, match=r"^dump\.txt: line 3: date line .*headline"):
            parse("24.8 C\nNew York\nMonday, June 24, 2024\n\n", origin="dump.txt")

    def test_headline_without_body(self) -> None:
        with pytest.raises(IngestError, match=r"^dump\.txt: line 3: headline .*text"):
            parse("Monday, June 24, 2024\n\nOnly a headline\n", origin="dump.txt")

    def test_error_from_load_names_the_file(self, tmp_path: Path) -> None:
        path = tmp_path / "nodate.txt"
        path.write_text("Headline\n\nBody.\n", encoding="utf-8")
        with pytest.raises(IngestError, match=re.escape(str(path))):
            load(str(path), IngestOptions(IngestSettings(), "UTC"))


class TestEncodings:
    """A dump saved in a legacy code page is read as the text it was, not as mojibake: UTF-8
    first, then the code pages news is written in, never an old DOS or Mac one."""

    def dump(self, tmp_path: Path, headline: str, body: str, encoding: str) -> ParsedArticle:
        path = tmp_path / "dump.txt"
        path.write_bytes(f"Paris\nMonday, June 24, 2024\n{headline}\n\n{body}\n".encode(encoding))
        [article] = load(str(path), IngestOptions(IngestSettings(), "UTC")).articles
        return article

    def test_latin1_dump_keeps_its_accents(self, tmp_path: Path) -> None:
        headline = "Café owners brace for a naïve résumé of the season"
        body = (
            "The café on the corner has been open since 1990. Its owner, in a naïve résumé "
            "of the summer, said business was slow and the crème brûlée went unsold.\n\n"
            "Customers came back in the evening, after the fête in the square."
        )
        article = self.dump(tmp_path, headline, body, "latin-1")
        assert article.title == headline
        assert article.text == body
        assert "café" in article.html and "brûlée" in article.html

    @pytest.mark.parametrize(
        ("encoding", "headline", "body"),
        [
            pytest.param(
                "cp1252",
                "Mayor’s “ready” plan costs €5m",
                "The mayor said “we’re ready” – the naïve plan costs €5m, and critics in the "
                "café across the street were not convinced.",
                id="windows-1252-quotes-and-euro",
            ),
            pytest.param(
                "latin-1",
                "Grüße aus München: Gespräche über den Frieden",
                "Die Gespräche über einen Waffenstillstand werden nächste Woche in München "
                "fortgesetzt. Beobachter äußerten sich vorsichtig.",
                id="latin-1-german",
            ),
            pytest.param(
                "latin-1",
                "Bolsonaro perde de Haddad em simulações de 2º turno",
                "Promotoria abre inquérito para apurar suspeita de improbidade. A eleição "
                "será decidida no segundo turno, segundo a pesquisa.",
                id="latin-1-portuguese",
            ),
            pytest.param(
                "cp1254",
                "Türkiye'de barış görüşmeleri sürüyor",
                "Başbakan, barış görüşmelerinin gelecek hafta devam edeceğini söyledi. "
                "İstanbul'da ağır kış bekleniyor.",
                id="windows-1254-turkish",
            ),
            pytest.param(
                "cp1250",
                "Rozmowy pokojowe będą kontynuowane",
                "Prezydent powiedział, że rozmowy pokojowe będą kontynuowane w przyszłym "
                "tygodniu. Źródła mówią o żądaniach obu stron.",
                id="windows-1250-polish",
            ),
            pytest.param(
                "cp1250",
                "Předseda vlády: jednání o míru budou pokračovat",
                "Předseda vlády řekl, že jednání o míru budou pokračovat příští týden. "
                "Účastníci souhlasí s tím, že žádná dohoda zatím není.",
                id="windows-1250-czech",
            ),
            pytest.param(
                "cp1251",
                "Переговоры о мире на Украине",
                "Американские и европейские чиновники начали переговоры о мире. "
                "Источники говорят, что встреча пройдёт на следующей неделе.",
                id="windows-1251-russian",
            ),
            pytest.param(
                "koi8-r",
                "Переговоры о мире на Украине",
                "Американские и европейские чиновники начали переговоры о мире. "
                "Источники говорят, что встреча пройдёт на следующей неделе.",
                id="koi8-r-russian",
            ),
            pytest.param(
                "cp1253",
                "Συνεχίζονται οι συνομιλίες για την ειρήνη",
                "Ο πρωθυπουργός δήλωσε ότι οι συνομιλίες για την ειρήνη θα συνεχιστούν την "
                "επόμενη εβδομάδα.",
                id="windows-1253-greek",
            ),
        ],
    )
    def test_code_pages_of_the_news(
        self, tmp_path: Path, encoding: str, headline: str, body: str
    ) -> None:
        article = self.dump(tmp_path, headline, body, encoding)
        assert (article.title, article.text) == (headline, body)

    @pytest.mark.parametrize(
        ("encoding", "headline"),
        [
            pytest.param(
                "shift_jis",
                "和平交渉、来週も継続へ。関係者によると、会談は東京で行われる",
                id="sjis",
            ),
            pytest.param(
                "gb18030", "和平谈判下周继续。据消息人士称，会谈将在北京举行", id="gb18030"
            ),
        ],
    )
    def test_cjk_encodings(self, tmp_path: Path, encoding: str, headline: str) -> None:
        """Read by the same decoder as text dumps, from a JSON Lines file."""
        path = tmp_path / "wire.jsonl"
        item = {
            "title": headline,
            "url": "https://example.com/a",
            "source": "Wire",
            "published": "2024-06-24T05:00:00Z",
            "text": headline * 3,
        }
        path.write_bytes(json.dumps(item, ensure_ascii=False).encode(encoding))
        [article] = load(str(path), IngestOptions(IngestSettings(), "UTC")).articles
        assert article.title == headline

    @pytest.mark.parametrize(
        "data",
        [
            pytest.param(
                b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(256)) * 8, id="image"
            ),
            pytest.param(b"\xff\xfe\xfd" * 5, id="utf-16-bom-then-garbage"),
        ],
    )
    def test_what_is_not_text_is_refused(self, tmp_path: Path, data: bytes) -> None:
        path = tmp_path / "photo.txt"
        path.write_bytes(data)
        with pytest.raises(IngestError, match=r"photo\.txt: not text"):
            load(str(path), IngestOptions(IngestSettings(), "UTC"))
