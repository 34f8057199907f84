"""Ingesting inputs into the store, one input per transaction so one bad input spoils nothing."""

import threading
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

from digest.core.articles import MAX_LINK
from digest.errors import IngestError, StoppedError
from digest.ingest.fetch import Deadline, StopFlag, never
from digest.ingest.inputs import IngestOptions, expand, is_url, load
from digest.ingest.model import Batch, Rejection
from digest.service.app import App
from digest.service.vectors import embed, require_model
from digest.store.articles import (
    record_source_error,
    record_validators,
    source_validators,
    upsert_articles,
    upsert_source,
)


@dataclass(slots=True)
class InputResult:
    origin: str
    kind: str
    new: int = 0
    updated: int = 0
    unchanged: int = 0
    rejected: list[Rejection] = field(default_factory=list)
    error: str | None = None
    not_modified: bool = False
    stopped: bool = False  # not read: a stop was asked for first


@dataclass(slots=True)
class IngestReport:
    inputs: list[InputResult] = field(default_factory=list)

    def total(self, name: str) -> int:
        return sum(getattr(i, name) for i in self.inputs)

    @property
    def rejected(self) -> list[Rejection]:
        return [r for i in self.inputs for r in i.rejected]

    @property
    def failed(self) -> list[InputResult]:
        return [i for i in self.inputs if i.error]

    @property
    def stopped(self) -> list[InputResult]:
        return [i for i in self.inputs if i.stopped]


def _set_aside_if_stale(batch: Batch, now: datetime, stale_hours: float) -> str | None:
    """A feed whose newest dated entry is old: its undated entries are refused (they would
    pass for today's news), and the returned note flags the feed."""
    dated = [a.published_at for a in batch.articles if a.published_at is not None]
    if batch.kind != "feed" or not dated or now - max(dated) <= timedelta(hours=stale_hours):
        return None
    note = f"stale feed: its newest dated entry is from {max(dated):%Y-%m-%d %H:%M} UTC"
    undated = [a for a in batch.articles if a.published_at is None]
    batch.articles = [a for a in batch.articles if a.published_at is not None]
    batch.rejected += [
        Rejection(f"{batch.origin}: {a.title!r}", f"undated entry of a {note}") for a in undated
    ]
    return note


def _source_key(spec: str) -> str:
    """A URL as given; a file by its absolute path, whatever directory the command ran in."""
    return spec if is_url(spec) else str(Path(spec).resolve())


# URLs fetched at once: enough that a few slow hosts do not keep the feeds listed after them
# waiting until a refresh's budget is spent, few enough to stay a polite client.
FETCHES_AT_ONCE = 8


def ingest(
    app: App,
    specs: list[str],
    source_name: str | None = None,
    *,
    until: Deadline | None = None,
    should_stop: StopFlag = never,
) -> IngestReport:
    """Ingest every input; a failing input is reported and the others still go in. URLs are
    fetched several at a time, ahead of their turn; each input is stored in its turn, in the
    order given. A fetch not over by `until` fails. Once `should_stop` turns true, fetches
    under way are abandoned and the inputs left are reported as stopped, not as failing."""
    # Set when this function leaves, by an error too: fetches no one will wait for end at once.
    over = threading.Event()
    options = IngestOptions(
        app.settings.ingest,
        app.settings.edition.timezone,
        source_name,
        until,
        lambda: over.is_set() or should_stop(),
    )
    report = IngestReport()
    require_model(app)
    inputs = [(spec, _source_key(spec)) for spec in expand(specs)]
    urls = [(spec, key) for spec, key in inputs if is_url(spec) and len(key) <= MAX_LINK]
    with app.transaction() as session:
        validators = {spec: source_validators(session, key) for spec, key in urls}
    with ThreadPoolExecutor(FETCHES_AT_ONCE, thread_name_prefix="fetch") as pool:
        try:
            fetches = {spec: pool.submit(load, spec, options, validators[spec]) for spec, _ in urls}
            for spec, key in inputs:
                if should_stop():
                    report.inputs.append(InputResult(spec, "?", stopped=True))
                else:
                    report.inputs.append(_ingest_one(app, spec, key, options, fetches.get(spec)))
        finally:
            over.set()
    return report


def _ingest_one(
    app: App, spec: str, key: str, options: IngestOptions, fetch: Future[Batch] | None
) -> InputResult:
    now = app.now()
    if len(key) > MAX_LINK:
        # Too long to be kept as a source, so the failure is reported, not recorded.
        error = f"{key[:80]}…: longer than {MAX_LINK:,} characters, too long to keep a record of"
        return InputResult(spec, "?", error=error)
    try:
        batch = fetch.result() if fetch else load(spec, options)
    except StoppedError:
        return InputResult(spec, "?", stopped=True)
    except IngestError as exc:
        with app.transaction() as session:
            record_source_error(session, key, str(exc), now)
        return InputResult(spec, "?", error=str(exc))
    with app.transaction() as session:
        if batch.not_modified:
            upsert_source(session, key, "feed", None, now)
            return InputResult(spec, "feed", not_modified=True)
        source = upsert_source(session, key, batch.kind, batch.title, now)
        record_validators(session, source, batch.etag, batch.last_modified)
        stale = _set_aside_if_stale(batch, now, app.settings.ingest.stale_feed_hours)
        source.last_error = stale
        counts = upsert_articles(session, source, batch.articles, now)
    embed(app, article_ids=counts.to_embed_ids)
    return InputResult(
        spec, batch.kind, counts.new, counts.updated, counts.unchanged, batch.rejected
    )
