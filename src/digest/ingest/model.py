"""What one input yields: its articles and the items it refused."""

from dataclasses import dataclass, field

from digest.core.articles import ParsedArticle


@dataclass(frozen=True, slots=True)
class Rejection:
    """An item left out of an input, with where it was and why."""

    where: str
    reason: str


@dataclass(slots=True)
class Batch:
    """Everything one input yielded: the articles and the items that were refused."""

    origin: str
    kind: str
    title: str
    articles: list[ParsedArticle] = field(default_factory=list)
    rejected: list[Rejection] = field(default_factory=list)
    # For URLs: the validators to send next time, and whether the server said "not modified".
    etag: str | None = None
    last_modified: str | None = None
    not_modified: bool = False
