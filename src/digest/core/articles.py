"""Articles: as a parser hands them to the store, and as the editorial engine sees them."""

from dataclasses import dataclass
from datetime import datetime

from digest.errors import IngestError

# The longest value the store keeps in each field (its column sizes); longer input is refused.
MAX_TITLE = 1000
# An outlet's or an author's name (a subscriber's is `MAX_SUBSCRIBER_NAME`, in the store).
MAX_ARTICLE_NAME = 500
MAX_LINK = 2048
# A source's HTTP validators (ETag, Last-Modified), kept for conditional fetches.
MAX_ETAG = 500
MAX_HTTP_DATE = 100


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
    # The headline's embedding, and that of the headline with its lead (see
    # `digest.core.clustering.Doc`), when a model is in use.
    vector: bytes | None = None
    lead_vector: bytes | None = None


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

    def __post_init__(self) -> None:
        limits = (
            ("title", self.title, MAX_TITLE),
            ("source", self.source_name, MAX_ARTICLE_NAME),
            ("author", self.author, MAX_ARTICLE_NAME),
            ("url", self.url, MAX_LINK),
            ("guid", self.guid, MAX_LINK),
        )
        for name, value, limit in limits:
            if value and len(value) > limit:
                raise IngestError(f"field '{name}': longer than {limit:,} characters")
