"""Articles: as a parser hands them to the store, and as the editorial engine sees them."""

from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True, slots=True)
class Article:
    """One stored article; `published_at` is timezone-aware UTC."""

    article_id: int
    title: str
    text: str
    source: str
    url: str | None
    published_at: datetime
    summary: str = ""


@dataclass(frozen=True, slots=True)
class ParsedArticle:
    """A cleaned article: `text` is plain text, `html` is sanitised markup safe to display."""

    title: str
    text: str
    html: str
    original: str
    source_name: str
    url: str | None = None
    guid: str | None = None
    author: str | None = None
    summary: str = ""
    published_at: datetime | None = None
