"""What an operator asks of a running installation: when each edition goes next, who holds
the sender lease, how the latest editions and their senders are doing, and each feed's health
(`digest status`); and every edition in one line each (`digest report`)."""

from dataclasses import dataclass
from datetime import date, datetime

from digest.core.edition import Edition
from digest.core.states import DeliveryStatus, EditionStatus
from digest.service import schedule
from digest.service.app import App
from digest.store import lease, ledger_status
from digest.store.articles import list_sources
from digest.store.editions import list_editions
from digest.store.ledger_status import WorkerProgress

# Editions `digest status` shows, newest first.
RECENT_EDITIONS = 7


@dataclass(frozen=True, slots=True)
class SenderLease:
    owner: str
    expires_at: datetime
    live: bool


@dataclass(frozen=True, slots=True)
class EditionProgress:
    """One edition and its ledger: the states with deliveries in them, what waits for an
    editor, and each sender's share."""

    key: str
    day: date
    status: EditionStatus
    built_at: datetime
    skip_reason: str | None
    counts: dict[DeliveryStatus, int]
    held: int
    possible_duplicates: int
    workers: list[WorkerProgress]


@dataclass(frozen=True, slots=True)
class FeedHealth:
    source: str
    title: str
    last_fetched_at: datetime | None
    failed_at: datetime | None
    last_error: str | None


@dataclass(frozen=True, slots=True)
class Status:
    next_editions: dict[str, datetime]
    sender_lease: SenderLease | None
    editions: list[EditionProgress]
    feeds: list[FeedHealth]


def status(app: App) -> Status:
    now = app.now()
    next_editions = {
        name: schedule.next_slot(App(app.settings.for_edition(name), app.engine, app.now), now)
        for name in app.settings.edition_names()
    }
    with app.transaction() as session:
        holder = lease.holder(session)
        editions = []
        for row in list_editions(session)[:RECENT_EDITIONS]:
            counts = ledger_status.counts(session, row.edition_id)
            attention = ledger_status.attention(session, row.edition_id)
            editions.append(
                EditionProgress(
                    f"{row.name}:{row.day}",
                    row.day,
                    row.status,
                    row.built_at,
                    row.skip_reason,
                    {state: n for state, n in counts.items() if n},
                    attention.held,
                    attention.possible_duplicates,
                    ledger_status.progress_by_worker(session, row.edition_id),
                )
            )
        feeds = [
            FeedHealth(s.source_key, s.title, s.last_fetched_at, s.failed_at, s.last_error)
            for s in list_sources(session)
        ]
    sender = holder and SenderLease(holder.owner, holder.expires_at, holder.expires_at > now)
    return Status(next_editions, sender or None, editions, feeds)


@dataclass(frozen=True, slots=True)
class EditionSummary:
    key: str
    status: EditionStatus
    stories: int
    left_out: int
    counts: dict[DeliveryStatus, int]
    skip_reason: str | None


def summaries(app: App) -> list[EditionSummary]:
    """Every edition, newest first, with its deliveries per state."""
    with app.transaction() as session:
        return [
            EditionSummary(
                f"{row.name}:{row.day}",
                row.status,
                Edition.from_dict(row.content).item_count,
                len(row.content["dropped"]),
                ledger_status.counts(session, row.edition_id),
                row.skip_reason,
            )
            for row in list_editions(session)
        ]
