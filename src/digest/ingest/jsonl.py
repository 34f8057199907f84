"""JSON and JSON Lines article files: one article per object.

Schema: `title`, `url`, `source`, `published` (ISO 8601; a date or a time without an offset is
read in the edition's timezone) and `text` or `html`; optional `id`, `summary`, `author`.
Unknown fields are ignored.
"""

import json
from collections.abc import Iterator
from datetime import date, datetime, time
from typing import Any
from zoneinfo import ZoneInfo

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from digest.core.articles import MAX_ARTICLE_NAME, MAX_TITLE, ParsedArticle
from digest.core.identity import safe_url
from digest.core.text import clean_text, one_line, paragraphs
from digest.errors import IngestError
from digest.ingest.model import Batch, Rejection
from digest.ingest.sanitize import bounded_html, check_length, text_to_html


class JsonArticle(BaseModel):
    model_config = ConfigDict(extra="ignore", str_strip_whitespace=True)

    title: str = Field(min_length=1, max_length=MAX_TITLE)
    url: str = Field(min_length=1)
    source: str = Field(min_length=1, max_length=MAX_ARTICLE_NAME)
    published: datetime | date
    text: str | None = None
    html: str | None = None
    id: str | int | None = None
    summary: str | None = None
    author: str | None = None

    @model_validator(mode="after")
    def _has_body(self) -> "JsonArticle":
        if not (self.text or self.html):
            raise ValueError("needs 'text' or 'html'")
        return self


def _objects(data: str, origin: str, lines: bool) -> Iterator[tuple[str, Any]]:
    """(where, decoded object) pairs; a JSON document may be one object or an array of them."""
    if lines:
        # Only "\n" ends a record: str.splitlines() would also split on U+2028, U+0085 and
        # other characters that JSON strings may hold unescaped.
        for number, line in enumerate(data.split("\n"), start=1):
            if line.strip():
                try:
                    yield f"{origin}: line {number}", json.loads(line)
                except json.JSONDecodeError as exc:
                    yield f"{origin}: line {number}", IngestError(f"not valid JSON: {exc.msg}")
        return
    try:
        document = json.loads(data)
    except json.JSONDecodeError as exc:
        raise IngestError(f"{origin}: line {exc.lineno}: not valid JSON: {exc.msg}") from None
    items = document if isinstance(document, list) else [document]
    for number, item in enumerate(items, start=1):
        yield f"{origin}: item {number}", item


def _describe(exc: ValidationError) -> str:
    error = exc.errors()[0]
    # The field itself, not the union member that failed ('published', not 'published.date').
    field = str(error["loc"][0]) if error["loc"] else "object"
    message = error["msg"].removeprefix("Value error, ")
    return f"field '{field}': {message}" if error["loc"] else message


def _published(value: datetime | date, timezone: str) -> datetime:
    zone = ZoneInfo(timezone)
    if not isinstance(value, datetime):
        value = datetime.combine(value, time.min)
    if value.tzinfo is None:
        value = value.replace(tzinfo=zone)
    return value.astimezone(ZoneInfo("UTC"))


def _article(
    item: JsonArticle, raw: Any, timezone: str, max_depth: int, max_chars: int
) -> ParsedArticle:
    if item.html:
        safe, text = bounded_html(item.html, max_depth, max_chars)
    else:
        text = "\n\n".join(paragraphs(clean_text(item.text or "")))
        check_length(text, max_chars)
        safe = text_to_html([("p", p) for p in text.split("\n\n")])
    if not text:
        raise IngestError("no text left once the markup is removed")
    url = safe_url(item.url)
    if url is None:
        raise IngestError(f"field 'url': not an absolute http(s) URL: {item.url!r}")
    return ParsedArticle(
        title=one_line(item.title),
        text=text,
        html=safe,
        original=json.dumps(raw, ensure_ascii=False),
        source_name=one_line(item.source),
        url=url,
        guid=str(item.id) if item.id is not None else None,
        author=one_line(item.author) if item.author else None,
        summary=one_line(item.summary) if item.summary else "",
        published_at=_published(item.published, timezone),
    )


def parse_json(
    data: str, origin: str, *, lines: bool, timezone: str, max_depth: int, max_chars: int
) -> Batch:
    batch = Batch(origin=origin, kind="jsonl" if lines else "json", title=origin)
    for where, raw in _objects(data, origin, lines):
        try:
            if isinstance(raw, IngestError):
                raise raw
            if not isinstance(raw, dict):
                raise IngestError("expected a JSON object")
            item = JsonArticle.model_validate(raw)
            batch.articles.append(_article(item, raw, timezone, max_depth, max_chars))
        except ValidationError as exc:
            batch.rejected.append(Rejection(where, _describe(exc)))
        except IngestError as exc:
            batch.rejected.append(Rejection(where, str(exc)))
    return batch
