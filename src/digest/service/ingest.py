"""Ingesting inputs into the store, one input per transaction so one bad input spoils nothing."""

from dataclasses import dataclass, field
from pathlib import Path

from digest.errors import IngestError
from digest.ingest.inputs import IngestOptions, expand, is_url, load
from digest.ingest.model import Rejection
from digest.service.app import App
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


def _source_key(spec: str) -> str:
    """A URL as given; a file by its absolute path, whatever directory the command ran in."""
    return spec if is_url(spec) else str(Path(spec).resolve())


def ingest(app: App, specs: list[str], source_name: str | None = None) -> IngestReport:
    """Ingest every input; a failing input is reported and the others still go in."""
    options = IngestOptions(app.settings.ingest, app.settings.edition.timezone, source_name)
    report = IngestReport()
    for spec in expand(specs):
        now = app.now()
        key = _source_key(spec)
        with app.transaction() as session:
            validators = source_validators(session, key)
        try:
            batch = load(spec, options, validators)
        except IngestError as exc:
            report.inputs.append(InputResult(spec, "?", error=str(exc)))
            with app.transaction() as session:
                record_source_error(session, key, "unknown", str(exc), now)
            continue
        with app.transaction() as session:
            if batch.not_modified:
                source = upsert_source(session, key, "feed", None, now)
                report.inputs.append(InputResult(spec, "feed", not_modified=True))
                continue
            source = upsert_source(session, key, batch.kind, batch.title, now)
            record_validators(session, source, batch.etag, batch.last_modified)
            counts = upsert_articles(session, source, batch.articles, now)
        report.inputs.append(
            InputResult(
                spec, batch.kind, counts.new, counts.updated, counts.unchanged, batch.rejected
            )
        )
    return report
