"""Storing and reading headline embeddings (see `digest.semantic`)."""

from collections.abc import Iterable, Sequence
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from digest.store.articles import LEAD_CHARS, in_window, lead_of, vector_from
from digest.store.tables import ArticleRow, ArticleVector


def unembedded(
    session: Session,
    model: str,
    *,
    window: tuple[datetime, datetime] | None = None,
    article_ids: Sequence[int] = (),
) -> list[tuple[int, str, str]]:
    """(id, headline, lead) of the articles in `window` or among `article_ids` that hold no
    vector from `model`."""
    query = (
        select(
            ArticleRow.article_id,
            ArticleRow.title,
            ArticleRow.summary,
            func.substr(ArticleRow.text, 1, LEAD_CHARS).label("opening"),
        )
        .outerjoin(ArticleVector, vector_from(model))
        .where(ArticleVector.article_id.is_(None))
        .order_by(ArticleRow.article_id)
    )
    if window is not None:
        query = query.where(in_window(*window))
    else:
        query = query.where(ArticleRow.article_id.in_(list(article_ids)))
    return [
        (row.article_id, row.title, lead_of(row.summary, row.opening))
        for row in session.execute(query)
    ]


def save_vectors(
    session: Session, model: str, vectors: Iterable[tuple[int, bytes, bytes | None]]
) -> None:
    """Keep each article's vectors (headline, headline with lead), replacing those from another
    model. Two processes embedding the same new article both succeed: the last write wins, and
    both wrote the same vectors."""
    rows = [
        {"article_id": i, "model": model, "vector": v, "lead_vector": lead}
        for i, v, lead in vectors
    ]
    if not rows:
        return
    insert = pg_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert
    statement = insert(ArticleVector).values(rows)
    session.execute(
        statement.on_conflict_do_update(
            index_elements=[ArticleVector.article_id],
            set_={
                "model": statement.excluded.model,
                "vector": statement.excluded.vector,
                "lead_vector": statement.excluded.lead_vector,
            },
        )
    )
