"""Storing and reading articles and their sources."""

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import ColumnElement, Select, and_, delete, func, select
from sqlalchemy.orm import Session

from digest.core.articles import MAX_ARTICLE_NAME, Article, ParsedArticle
from digest.core.identity import content_hash, dedup_key
from digest.core.text import shorten
from digest.store.db import changed
from digest.store.tables import ArticleRow, ArticleVector, EditionOverride, Source

# The opening of an article's text that can stand as its lead: the model reads far less.
LEAD_CHARS = 2000


@dataclass(slots=True)
class UpsertCounts:
    new: int = 0
    updated: int = 0
    unchanged: int = 0
    # New articles, and those whose headline or lead changed.
    to_embed_ids: list[int] = field(default_factory=list)


def upsert_source(
    session: Session, source_key: str, kind: str, title: str | None, now: datetime
) -> Source:
    source = session.scalar(select(Source).where(Source.source_key == source_key))
    # The title is a label, often the URL or path itself: a long one is shortened to fit.
    label = shorten(title or source_key, MAX_ARTICLE_NAME)
    if source is None:
        source = Source(source_key=source_key, kind=kind, title=label, created_at=now)
        session.add(source)
    elif title is not None:  # None: the source answered "not modified"; keep what we know
        source.title, source.kind = label, kind
    source.last_fetched_at, source.failed_at, source.last_error = now, None, None
    session.flush()
    return source


def source_validators(session: Session, source_key: str) -> tuple[str | None, str | None]:
    """The ETag and Last-Modified of the last successful fetch of a source."""
    source = session.scalar(select(Source).where(Source.source_key == source_key))
    return (source.etag, source.last_modified) if source else (None, None)


def record_validators(
    session: Session, source: Source, etag: str | None, last_modified: str | None
) -> None:
    source.etag, source.last_modified = etag, last_modified


def record_source_error(session: Session, source_key: str, error: str, now: datetime) -> None:
    """A fetch or read that failed: when and why. A known source keeps its title and when it
    was last read; a new one is known by its key until it is read."""
    source = session.scalar(select(Source).where(Source.source_key == source_key))
    if source is None:
        label = shorten(source_key, MAX_ARTICLE_NAME)
        source = Source(source_key=source_key, kind="unknown", title=label, created_at=now)
        session.add(source)
    source.failed_at, source.last_error = now, error


def upsert_articles(
    session: Session, source: Source | None, parsed: Iterable[ParsedArticle], now: datetime
) -> UpsertCounts:
    """Insert new articles, refresh changed ones, leave identical ones alone."""
    counts = UpsertCounts()
    seen: set[str] = set()
    for article in parsed:
        key = dedup_key(article.url, article.guid, article.title, article.text)
        if key in seen:
            # Feeds list one story twice under two headlines; the first listing wins.
            counts.unchanged += 1
            continue
        seen.add(key)
        digest = content_hash(article.title, article.text)
        row = session.scalar(select(ArticleRow).where(ArticleRow.dedup_key == key))
        if row is None:
            row = ArticleRow(dedup_key=key, ingested_at=now)
            _fill(row, article, source, digest, now)
            session.add(row)
            session.flush()
            counts.new += 1
            counts.to_embed_ids.append(row.article_id)
        elif row.content_hash != digest or row.published_at != article.published_at:
            if row.title != article.title or lead_of(row.summary, row.text) != lead_of(
                article.summary, article.text
            ):
                # Its embeddings described the old headline or lead.
                session.execute(
                    delete(ArticleVector).where(ArticleVector.article_id == row.article_id)
                )
                counts.to_embed_ids.append(row.article_id)
            _fill(row, article, source, digest, now)
            counts.updated += 1
        else:
            counts.unchanged += 1
    return counts


def lead_of(summary: str, text: str) -> str:
    """What stands as an article's lead when it is embedded: its summary or, without one, the
    opening of its text."""
    return summary or text[:LEAD_CHARS]


def _fill(
    row: ArticleRow, article: ParsedArticle, source: Source | None, digest: str, now: datetime
) -> None:
    row.source_id = source.source_id if source else None
    row.source_name = article.source_name
    row.url, row.guid, row.author = article.url, article.guid, article.author
    row.title, row.summary, row.text = article.title, article.summary, article.text
    row.html, row.original, row.content_hash = article.html, article.original, digest
    row.published_at, row.updated_at = article.published_at, now


# When an article was published, or, for feeds that give no date, when it was first seen.
_EFFECTIVE_AT = func.coalesce(ArticleRow.published_at, ArticleRow.ingested_at)


def _to_article(
    row: ArticleRow, vector: bytes | None = None, lead_vector: bytes | None = None
) -> Article:
    return Article(
        article_id=row.article_id,
        title=row.title,
        text=row.text,
        source=row.source_name,
        url=row.url,
        published_at=row.published_at or row.ingested_at,
        summary=row.summary,
        vector=vector,
        lead_vector=lead_vector,
    )


def in_window(start: datetime, end: datetime) -> ColumnElement[bool]:
    """Published (or, undated, first seen) in [start, end)."""
    return and_(start <= _EFFECTIVE_AT, end > _EFFECTIVE_AT)


def _in_window(start: datetime | None, end: datetime | None) -> Select[ArticleRow]:
    query = select(ArticleRow)
    if start is not None and end is not None:
        query = query.where(in_window(start, end))
    return query


def vector_from(model: str) -> ColumnElement[bool]:
    """Joins an article to its vectors, if it holds them from `model`."""
    return and_(ArticleVector.article_id == ArticleRow.article_id, ArticleVector.model == model)


def _with_vectors(session: Session, query: Select[ArticleRow], model: str) -> list[Article]:
    """The articles `query` selects, each with its vectors from `model`, if any."""
    if not model:
        return [_to_article(row) for row in session.scalars(query)]
    joined = query.add_columns(ArticleVector.vector, ArticleVector.lead_vector).outerjoin(
        ArticleVector, vector_from(model)
    )
    return [_to_article(row, v, lead) for row, v, lead in session.execute(joined)]


def articles_between(
    session: Session, start: datetime, end: datetime, model: str = ""
) -> list[Article]:
    """Articles published (or, undated, first seen) in [start, end), oldest first, with their
    vectors from `model` ("": none)."""
    query = _in_window(start, end).order_by(_EFFECTIVE_AT, ArticleRow.article_id)
    return _with_vectors(session, query, model)


def articles_by_id(session: Session, article_ids: Iterable[int], model: str = "") -> list[Article]:
    query = select(ArticleRow).where(ArticleRow.article_id.in_(list(article_ids)))
    return _with_vectors(session, query, model)


def list_articles(
    session: Session, start: datetime | None = None, end: datetime | None = None
) -> Sequence[ArticleRow]:
    order = (_EFFECTIVE_AT.desc(), ArticleRow.article_id)
    return session.scalars(_in_window(start, end).order_by(*order)).all()


@dataclass(frozen=True, slots=True)
class Pruned:
    deleted: int
    # Named by an editor's pin, drop or move, so kept with that record.
    kept: int


def prune_articles(session: Session, before: datetime, dry_run: bool = False) -> Pruned:
    """Delete the articles published (or, undated, first seen) before `before`, and with them
    (by the foreign key) their vectors; those an editor's decision names stay."""
    old = before > _EFFECTIVE_AT
    named = ArticleRow.article_id.in_(select(EditionOverride.article_id))
    count = select(func.count()).select_from(ArticleRow).where(old)
    kept = session.scalar(count.where(named)) or 0
    if dry_run:
        return Pruned((session.scalar(count) or 0) - kept, kept)
    deleted = changed(session, delete(ArticleRow).where(old, ~named))
    return Pruned(deleted, kept)


def list_sources(session: Session) -> Sequence[Source]:
    return session.scalars(select(Source).order_by(Source.source_key)).all()
