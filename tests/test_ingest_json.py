"""JSON and JSON Lines article files, read through `load` from temporary files."""

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from digest.config import IngestSettings
from digest.errors import IngestError
from digest.ingest.inputs import IngestOptions, load
from digest.ingest.model import Batch

GOOD: dict[str, Any] = {
    "title": "Talks resume in Geneva",
    "url": "https://example.com/world/geneva-talks",
    "source": "Example Wire",
    "published": "2024-06-24T09:30:00Z",
    "text": "Delegations met on Monday.\n\nNo agreement was reached.",
}


def without(field: str, item: dict[str, Any] = GOOD) -> dict[str, Any]:
    return {k: v for k, v in item.items() if k != field}


def write_jsonl(tmp_path: Path, *lines: dict[str, Any] | str, name: str = "in.jsonl") -> Path:
    """One line per argument: a dict is encoded, a string is written as it is."""
    path = tmp_path / name
    encoded = [x if isinstance(x, str) else json.dumps(x, ensure_ascii=False) for x in lines]
    path.write_text("\n".join(encoded) + "\n", encoding="utf-8")
    return path


def write_json(tmp_path: Path, document: Any, name: str = "in.json") -> Path:
    path = tmp_path / name
    path.write_text(json.dumps(document, ensure_ascii=False), encoding="utf-8")
    return path


def ingest(path: Path, timezone: str = "UTC") -> Batch:
    return load(str(path), IngestOptions(IngestSettings(), timezone))


class TestValidArticles:
    def test_plain_text_article(self, tmp_path: Path) -> None:
        [article] = ingest(write_jsonl(tmp_path, GOOD)).articles
        assert article.title == "Talks resume in Geneva"
        assert article.url == "https://example.com/world/geneva-talks"
        assert article.source_name == "Example Wire"
        assert article.published_at == datetime(2024, 6, 24, 9, 30, tzinfo=UTC)
        assert article.text == "Delegations met on Monday.\n\nNo agreement was reached."
        assert article.html == "<p>Delegations met on Monday.</p>\n<p>No agreement was reached.</p>"

    def test_plain_text_is_escaped_not_interpreted_as_html(self, tmp_path: Path) -> None:
        item = {**GOOD, "text": "Profits <b>rose</b> & fell"}
        [article] = ingest(write_jsonl(tmp_path, item)).articles
        assert article.text == "Profits <b>rose</b> & fell"
        assert article.html == "<p>Profits &lt;b&gt;rose&lt;/b&gt; &amp; fell</p>"

    def test_html_article(self, tmp_path: Path) -> None:
        item = {
            **without("text"),
            "html": "<h2>Geneva</h2><p>Delegations <em>met</em>.</p><p>No deal.</p>",
        }
        [article] = ingest(write_jsonl(tmp_path, item)).articles
        assert article.text == "Geneva\n\nDelegations met.\n\nNo deal."
        assert article.html == "<h2>Geneva</h2><p>Delegations <em>met</em>.</p><p>No deal.</p>"

    def test_optional_fields(self, tmp_path: Path) -> None:
        item = {**GOOD, "id": "wire-123", "author": "A. Writer", "summary": "Short\nsummary"}
        [article] = ingest(write_jsonl(tmp_path, item)).articles
        assert article.guid == "wire-123"
        assert article.author == "A. Writer"
        assert article.summary == "Short summary"

    @pytest.mark.parametrize(("given", "guid"), [("abc-1", "abc-1"), (42, "42")])
    def test_id_becomes_guid(self, tmp_path: Path, given: str | int, guid: str) -> None:
        [article] = ingest(write_jsonl(tmp_path, {**GOOD, "id": given})).articles
        assert article.guid == guid

    def test_no_id_means_no_guid(self, tmp_path: Path) -> None:
        [article] = ingest(write_jsonl(tmp_path, GOOD)).articles
        assert article.guid is None

    def test_unknown_fields_are_ignored(self, tmp_path: Path) -> None:
        item = {**GOOD, "category": "world", "tags": ["a", "b"], "nested": {"x": 1}}
        batch = ingest(write_jsonl(tmp_path, item))
        assert batch.rejected == []
        assert [a.title for a in batch.articles] == [GOOD["title"]]

    def test_original_keeps_the_item_as_given(self, tmp_path: Path) -> None:
        item = {**GOOD, "category": "world"}
        [article] = ingest(write_jsonl(tmp_path, item)).articles
        assert json.loads(article.original) == item

    def test_json_array_document(self, tmp_path: Path) -> None:
        second = {**GOOD, "title": "Second", "url": "https://example.com/2"}
        batch = ingest(write_json(tmp_path, [GOOD, second]))
        assert batch.kind == "json"
        assert [a.title for a in batch.articles] == [GOOD["title"], "Second"]

    def test_json_single_object_document(self, tmp_path: Path) -> None:
        batch = ingest(write_json(tmp_path, GOOD))
        assert [a.title for a in batch.articles] == [GOOD["title"]]

    @pytest.mark.parametrize("suffix", [".jsonl", ".ndjson"])
    def test_json_lines_suffixes(self, tmp_path: Path, suffix: str) -> None:
        batch = ingest(write_jsonl(tmp_path, GOOD, GOOD, name=f"in{suffix}"))
        assert batch.kind == "jsonl"
        assert len(batch.articles) == 2

    def test_blank_lines_and_crlf_are_tolerated(self, tmp_path: Path) -> None:
        path = tmp_path / "in.jsonl"
        line = json.dumps(GOOD)
        path.write_bytes(f"{line}\r\n\r\n{line}\r\n".encode())
        batch = ingest(path)
        assert batch.rejected == []
        assert len(batch.articles) == 2

    def test_line_separator_inside_a_string_does_not_split_the_record(self, tmp_path: Path) -> None:
        """U+2028 and U+0085 may stand unescaped in JSON; only a newline ends a JSONL record."""
        item = {**GOOD, "text": "First part\u2028second part\x85third part"}
        path = write_jsonl(tmp_path, item, GOOD, "{broken")
        batch = ingest(path)
        assert len(batch.articles) == 2
        assert "second part" in batch.articles[0].text
        assert [r.where for r in batch.rejected] == [f"{path}: line 3"]


class TestPublishedTimes:
    @pytest.mark.parametrize(
        ("published", "timezone", "expected"),
        [
            ("2024-06-24T09:30:00", "America/New_York", datetime(2024, 6, 24, 13, 30, tzinfo=UTC)),
            ("2024-06-24T09:30:00", "Europe/Kyiv", datetime(2024, 6, 24, 6, 30, tzinfo=UTC)),
            ("2024-06-24T09:30:00", "UTC", datetime(2024, 6, 24, 9, 30, tzinfo=UTC)),
            ("2024-06-24", "America/New_York", datetime(2024, 6, 24, 4, 0, tzinfo=UTC)),
            ("2024-01-15T09:30:00", "America/New_York", datetime(2024, 1, 15, 14, 30, tzinfo=UTC)),
        ],
        ids=["naive-new-york", "naive-kyiv", "naive-utc", "date-only", "naive-winter-time"],
    )
    def test_naive_times_are_read_in_the_configured_timezone(
        self, tmp_path: Path, published: str, timezone: str, expected: datetime
    ) -> None:
        item = {**GOOD, "published": published}
        [article] = ingest(write_jsonl(tmp_path, item), timezone=timezone).articles
        assert article.published_at == expected

    def test_explicit_offset_wins_over_the_timezone(self, tmp_path: Path) -> None:
        item = {**GOOD, "published": "2024-06-24T09:30:00+02:00"}
        [article] = ingest(write_jsonl(tmp_path, item), timezone="America/New_York").articles
        assert article.published_at == datetime(2024, 6, 24, 7, 30, tzinfo=UTC)


class TestRejectedItems:
    @pytest.mark.parametrize("field", ["title", "url", "published", "source"])
    def test_missing_required_field_in_jsonl(self, tmp_path: Path, field: str) -> None:
        path = write_jsonl(tmp_path, GOOD, without(field), GOOD)
        batch = ingest(path)
        assert len(batch.articles) == 2
        [rejection] = batch.rejected
        assert rejection.where == f"{path}: line 2"
        assert f"'{field}'" in rejection.reason

    @pytest.mark.parametrize("field", ["title", "url", "published"])
    def test_missing_required_field_in_json_array(self, tmp_path: Path, field: str) -> None:
        path = write_json(tmp_path, [GOOD, GOOD, without(field)])
        batch = ingest(path)
        assert len(batch.articles) == 2
        [rejection] = batch.rejected
        assert rejection.where == f"{path}: item 3"
        assert f"'{field}'" in rejection.reason

    @pytest.mark.parametrize(
        "item",
        [
            without("text"),
            {**GOOD, "text": ""},
            {**GOOD, "text": "   "},
            {**GOOD, "text": None, "html": ""},
        ],
        ids=["absent", "empty", "blank", "both-empty"],
    )
    def test_item_without_text_or_html(self, tmp_path: Path, item: dict[str, Any]) -> None:
        path = write_jsonl(tmp_path, item, GOOD)
        batch = ingest(path)
        assert len(batch.articles) == 1
        [rejection] = batch.rejected
        assert rejection.where == f"{path}: line 1"
        assert "'text'" in rejection.reason and "'html'" in rejection.reason

    def test_invalid_json_line(self, tmp_path: Path) -> None:
        path = write_jsonl(tmp_path, GOOD, '{"title": "unterminated', GOOD)
        batch = ingest(path)
        assert len(batch.articles) == 2
        [rejection] = batch.rejected
        assert rejection.where == f"{path}: line 2"
        assert "not valid JSON" in rejection.reason

    @pytest.mark.parametrize("value", ['"just a string"', "[1, 2]", "42", "null"])
    def test_line_that_is_not_an_object(self, tmp_path: Path, value: str) -> None:
        batch = ingest(write_jsonl(tmp_path, value, GOOD))
        assert len(batch.articles) == 1
        [rejection] = batch.rejected
        assert rejection.where.endswith(": line 1")
        assert "object" in rejection.reason

    def test_unreadable_date_names_the_field(self, tmp_path: Path) -> None:
        batch = ingest(write_jsonl(tmp_path, {**GOOD, "published": "last Tuesday"}))
        [rejection] = batch.rejected
        assert rejection.reason.startswith("field 'published': ")

    @pytest.mark.parametrize(
        "url", ["javascript:alert(1)", "/relative/path", "ftp://example.com/x"]
    )
    def test_url_that_is_not_http_is_rejected(self, tmp_path: Path, url: str) -> None:
        batch = ingest(write_jsonl(tmp_path, {**GOOD, "url": url}))
        assert batch.articles == []
        [rejection] = batch.rejected
        assert "'url'" in rejection.reason

    def test_json_document_that_does_not_parse_is_refused_naming_the_line(
        self, tmp_path: Path
    ) -> None:
        path = tmp_path / "broken.json"
        path.write_text('[\n  {"title": "a"},\n  {oops}\n]', encoding="utf-8")
        with pytest.raises(IngestError, match=r"broken\.json: line 3: not valid JSON"):
            ingest(path)

    def test_json_array_with_a_non_object_item(self, tmp_path: Path) -> None:
        path = write_json(tmp_path, [GOOD, "stray string"])
        batch = ingest(path)
        assert len(batch.articles) == 1
        assert [r.where for r in batch.rejected] == [f"{path}: item 2"]
