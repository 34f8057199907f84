"""Sending an edition through the ledger: at least once, and at most once more per message
that was in flight when a sender died.

1. The first run materialises one pending row per (edition, active subscriber) in one
   statement, before any SMTP traffic.
2. The gate checks every variant; a failing edition sends nothing.
3. Senders lease due rows in batches and record each outcome right after the server's final
   reply, fenced on still holding the lease, so a second sender (or a later run) never sends a
   row that is recorded, and resumes every row that is not. The sender is this process
   (engine "local") or Celery workers that are handed the due rows in batches ("celery",
   `service.workers`); both deliver through `service.courier`.
"""

from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from digest.core.edition import EditionKey
from digest.core.schedule import local_instant
from digest.core.states import RESENDABLE, DeliveryStatus, EditionStatus
from digest.errors import EditionError
from digest.service.app import App
from digest.service.checks import require_passing
from digest.service.courier import (
    Channels,
    Courier,
    LeaseKeeper,
    LocalRateLimit,
    Progress,
    StopFlag,
    close_if_done,
)
from digest.service.editions import build, frozen_edition, require_approval, sendable
from digest.service.messages import message_domain
from digest.store import claims, ledger, ledger_status
from digest.store.editions import StoredEdition, set_status
from digest.store.subscribers import active_choices


@dataclass(slots=True)
class SendReport:
    edition_key: EditionKey
    skipped: str | None = None
    stopped: bool = False  # on request (SIGTERM, SIGINT): the rest waits for the next run
    queued: int = 0
    outcomes: Counter[DeliveryStatus] = field(default_factory=Counter)
    locations: list[str] = field(default_factory=list)
    counts: dict[DeliveryStatus, int] = field(default_factory=dict)
    enqueued: int = 0  # engine "celery": deliveries handed to the workers, in `batches` tasks
    batches: int = 0
    attention: ledger_status.Attention = field(
        default_factory=lambda: ledger_status.Attention(0, 0)
    )

    @property
    def attempted(self) -> int:
        return sum(self.outcomes.values())


def _deliver_here(
    app: App, edition: StoredEdition, report: SendReport, progress: Progress, should_stop: StopFlag
) -> None:
    """The local engine: lease due rows batch by batch and deliver them from this process."""
    settings = app.settings.delivery
    rate = LocalRateLimit(settings.rate_per_second, settings.rate_per_hour)
    after = 0
    with LeaseKeeper(app, claims.new_owner()) as keeper, Channels(app) as channels:
        courier = Courier(app, edition, keeper, rate, progress, should_stop)
        report.locations = courier.locations
        while not should_stop():
            with app.transaction() as session:
                if not after:  # at the start of each pass: it reads every row being sent
                    claims.expire_dead_leases(session, edition.edition_id, app.now())
                claimed = claims.claim(
                    session,
                    edition.edition_id,
                    keeper.owner,
                    app.now(),
                    keeper.lease,
                    settings.claim_size,
                    after=after,
                )
            if not claimed:
                if not after:
                    break  # nothing due from the first row on
                after = 0  # a new pass, for rows that came due behind this one
                continue
            after = claimed[-1].delivery_id
            report.outcomes.update(courier.deliver(claimed, channels))


def send(
    app: App,
    day: date,
    progress: Progress = lambda outcome: None,
    should_stop: StopFlag = lambda: False,
) -> SendReport:
    """Build the edition if needed, then deliver every due message of its ledger. When
    `should_stop` turns true, no new message starts; those in flight finish and the rest are
    left pending for the next run."""
    built = build(app, day)
    if built.status == EditionStatus.SKIPPED:
        return SendReport(app.settings.edition.key(day), skipped=built.skip_reason)
    with app.transaction() as session:
        edition = frozen_edition(session, app, day)
        if edition.status == EditionStatus.FROZEN:
            require_approval(app, edition)
        report = SendReport(edition.key)
        report.queued = ledger.materialise(
            session, edition, message_domain(app.settings), app.now()
        )
        if report.queued:
            set_status(session, edition.edition_id, EditionStatus.SENDING)
            ledger.schedule_local_hours(
                session,
                edition,
                app.settings.edition.timezone,
                lambda timezone, hour: local_instant(day, hour, timezone),
            )
    require_passing(app, edition)
    try:
        if app.settings.delivery.engine == "celery":
            # Imported here: Celery and Redis add 0.2 s to every command that never uses them.
            from digest.service import workers

            report.enqueued, report.batches = workers.enqueue(app, edition, should_stop)
        else:
            _deliver_here(app, edition, report, progress, should_stop)
        report.stopped = should_stop()
    finally:
        with app.transaction() as session:
            close_if_done(session, edition.edition_id)
            report.counts = ledger_status.counts(session, edition.edition_id)
            report.attention = ledger_status.attention(session, edition.edition_id)
    return report


@dataclass(frozen=True, slots=True)
class Planned:
    """Who a send would reach, and with which sections (None: suppressed, with the reason)."""

    email: str
    sections: tuple[str, ...] | None
    reason: str = ""


def dry_run(app: App, day: date) -> Iterator[Planned]:
    """Each active subscriber and the variant a send would give them; nothing is sent."""
    built = sendable(app, day)
    available = tuple(s.key for s in built.edition.sections)
    with app.transaction() as session:
        for email, chosen in active_choices(session):
            wanted = available if chosen is None else tuple(k for k in available if k in chosen)
            if not available or wanted:
                yield Planned(email, wanted)
            else:
                yield Planned(email, None, "none of the subscriber's sections has a story")


def edition_report(app: App, day: date) -> dict[str, Any]:
    """Counts per state, every delivery that did not (yet) succeed with its reason, how many
    wait for an editor's decision, and every reader who may hold two copies."""
    with app.transaction() as session:
        edition = frozen_edition(session, app, day)
        return {
            "edition": str(edition.key),
            "status": edition.status,
            "counts": ledger_status.counts(session, edition.edition_id),
            "failures": [
                {"email": f.email, "state": f.state, "code": f.code, "reason": f.reason}
                for f in ledger_status.failures(session, edition.edition_id)
            ],
            "held": ledger_status.attention(session, edition.edition_id).held,
            "possible_duplicates": [
                {"email": d.email, "state": d.state, "uncertain_attempts": d.uncertain}
                for d in ledger_status.possible_duplicates(session, edition.edition_id)
            ],
        }


def resend(app: App, day: date, *, failed: bool = False, to: str | None = None) -> int:
    """Make deliveries pending again for the next `digest send`: every delivery that ended
    without a message (`failed`), or one subscriber's, even one already sent (`to`)."""
    with app.transaction() as session:
        edition = frozen_edition(session, app, day)
        if to is not None:
            if not ledger.ensure_delivery(
                session, edition, to, message_domain(app.settings), app.now()
            ):
                raise EditionError(f"no subscriber {to!r}")
            return ledger.reset(session, edition.edition_id, email=to)
        states = RESENDABLE if failed else ()
        count = ledger.reset(session, edition.edition_id, states=states)
        if count:
            set_status(session, edition.edition_id, EditionStatus.SENDING)
        return count
