"""Headline embeddings (the headline alone, and with its lead): computed once per article, as
it is ingested, and kept in the store, so that building an edition only reads them."""

from collections.abc import Sequence
from datetime import datetime

from digest.semantic import encoder, model_directory
from digest.service.app import App
from digest.store.vectors import save_vectors, unembedded

# Headlines embedded per transaction: a large input is stored in steps, in bounded memory.
_CHUNK = 1000


def require_model(app: App) -> None:
    """Fail before any work when the settings name a model that is not installed."""
    if model := app.settings.clustering.model:
        model_directory(model)


def embed(
    app: App,
    *,
    window: tuple[datetime, datetime] | None = None,
    article_ids: Sequence[int] = (),
) -> int:
    """Embed the headlines of the articles in `window`, or among `article_ids`, that hold no
    vector from the model in use; the number embedded."""
    model = app.settings.clustering.model
    if not model:
        return 0
    if window is not None:
        with app.transaction() as session:
            todo = unembedded(session, model, window=window)
        return _embed(app, model, todo)
    done = 0
    for start in range(0, len(article_ids), _CHUNK):
        with app.transaction() as session:
            todo = unembedded(session, model, article_ids=article_ids[start : start + _CHUNK])
        done += _embed(app, model, todo)
    return done


def _embed(app: App, model: str, todo: list[tuple[int, str, str]]) -> int:
    # Encoding happens outside any transaction: it takes seconds, and holds no lock meanwhile.
    for start in range(0, len(todo), _CHUNK):
        chunk = todo[start : start + _CHUNK]
        vectors = encoder(model).articles([(title, lead) for _, title, lead in chunk])
        with app.transaction() as session:
            save_vectors(
                session,
                model,
                ((i, v, lead) for (i, _, _), (v, lead) in zip(chunk, vectors, strict=True)),
            )
    return len(todo)
