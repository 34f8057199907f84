"""Sending an edition through the ledger: at least once, and at most once more per message
that was in flight when a sender died.

1. The first run materialises one pending row per (edition, active subscriber) in one
   statement, before any SMTP traffic.
2. The gate checks every variant; a failing edition sends nothing.
3. Senders lease due rows in batches and record each outcome right after the server's final
   reply, fenced on still holding the lease, so a second sender (or a later run) never sends a
   row that is recorded, and resumes every row that is not.
"""

import random
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

from digest.config import DeliverySettings
from digest.core.schedule import local_instant
from digest.errors import (
    AmbiguousDeliveryError,
    DeliveryError,
    EditionError,
    PermanentDeliveryError,
    RenderError,
    TemporaryDeliveryError,
)
from digest.service.app import App
from digest.service.checks import require_passing
from digest.service.editions import build, frozen_edition, require_approval
from digest.service.messages import Recipient, Variants, compose, message_domain
from digest.store import ledger
from digest.store.tables import EditionRow
from digest.transport import MaildirTransport, SmtpTransport, Transport

# Maildir paths kept for the report (the demo prints them); a large run keeps the first few.
MAX_LOCATIONS = 20
Progress = Callable[[str], None]
StopFlag = Callable[[], bool]


@dataclass(slots=True)
class SendReport:
    edition_key: str
    skipped: str | None = None
    stopped: bool = False  # on request (SIGTERM, SIGINT): the rest waits for the next run
    queued: int = 0
    outcomes: Counter[str] = field(default_factory=Counter)
    locations: list[str] = field(default_factory=list)
    counts: dict[str, int] = field(default_factory=dict)

    @property
    def attempted(self) -> int:
        return sum(self.outcomes.values())


def transport_for(app: App) -> Transport:
    delivery = app.settings.delivery
    if delivery.transport == "maildir":
        return MaildirTransport(delivery.maildir)
    return SmtpTransport(app.settings.smtp, delivery.messages_per_connection)


class RateLimit:
    """At most `per_second` and `per_hour` messages across all connections (0: no limit)."""

    def __init__(self, per_second: float, per_hour: int) -> None:
        self._lock = threading.Lock()
        self._intervals = [1 / per_second] if per_second else []
        if per_hour:
            self._intervals.append(3600 / per_hour)
        self._next = time.monotonic()

    def wait(self) -> None:
        if not self._intervals:
            return
        with self._lock:
            now = time.monotonic()
            slot = max(self._next, now)
            self._next = slot + max(self._intervals)
        time.sleep(max(0.0, slot - now))


def backoff(settings: DeliverySettings, attempts: int, rng: random.Random) -> timedelta:
    """Exponential backoff with jitter: base × 2^(attempts-1), capped, then 50-100% of it."""
    delay = min(settings.retry_max_seconds, settings.retry_base_seconds * 2 ** (attempts - 1))
    return timedelta(seconds=delay * rng.uniform(0.5, 1.0))


class _Run:
    """One `digest send` run over one edition."""

    def __init__(
        self,
        app: App,
        row: EditionRow,
        report: SendReport,
        progress: Progress,
        should_stop: Callable[[], bool],
    ) -> None:
        self.app, self.row, self.report, self.progress = app, row, report, progress
        self.should_stop = should_stop
        self.settings = app.settings.delivery
        self.owner = ledger.new_owner()
        self.variants = Variants(app, row)
        self.rate = RateLimit(self.settings.rate_per_second, self.settings.rate_per_hour)
        self.rng = random.Random()
        self.stop: DeliveryError | None = None
        self.lock = threading.Lock()
        self.local = threading.local()

    def execute(self) -> None:
        """Lease due rows batch by batch and deliver them over `connections` connections,
        each worker thread keeping its own."""
        lease = timedelta(seconds=self.settings.lease_seconds)
        transports: list[Transport] = []
        workers = self.settings.connections
        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="digest-send") as pool:
            try:
                while self.stop is None and not self.should_stop():
                    with self.app.transaction() as session:
                        ledger.expire_dead_leases(session, self.row.edition_id, self.app.now())
                        claimed = ledger.claim(
                            session,
                            self.row.edition_id,
                            self.owner,
                            self.app.now(),
                            lease,
                            self.settings.batch_size,
                        )
                    if not claimed:
                        break
                    channel = self._channel_factory(transports)
                    list(pool.map(self._deliver, claimed, [channel] * len(claimed)))
            finally:
                for channel in transports:
                    channel.__exit__(None, None, None)
        if self.stop is not None:
            raise self.stop

    def _channel_factory(self, opened: list[Transport]) -> Callable[[], Transport]:
        """The calling worker thread's transport, opened on its first message."""

        def channel() -> Transport:
            if getattr(self.local, "channel", None) is None:
                self.local.channel = transport_for(self.app).__enter__()
                with self.lock:
                    opened.append(self.local.channel)
            return self.local.channel

        return channel

    def _deliver(self, item: ledger.Claimed, channel: Callable[[], Transport]) -> None:
        if self.stop is not None or self.should_stop():
            with self.app.transaction() as session:
                ledger.release(session, self.owner, [item.delivery_id])
            return
        try:
            values = self._attempt(item, channel)
        except DeliveryError as exc:
            with self.lock:
                self.stop = self.stop or exc
            with self.app.transaction() as session:
                ledger.release(session, self.owner, [item.delivery_id])
            return
        now = self.app.now()
        bounced = values.pop("_bounced", False)
        values.setdefault("first_attempt_at", item.first_attempt_at or now)
        with self.app.transaction() as session:
            recorded = ledger.record(session, item.delivery_id, self.owner, **values)
            if bounced and recorded:
                ledger.mark_subscriber(session, item.subscriber_id, "bounced", now)
        if recorded:
            with self.lock:
                self.report.outcomes[values["status"]] += 1
            self.progress(values["status"])

    def _attempt(self, item: ledger.Claimed, channel: Callable[[], Transport]) -> dict[str, Any]:
        if item.status != "active":
            return {"status": "suppressed", "reason": f"subscriber is {item.status}"}
        template = self.variants.template(item.sections)
        if template is None:
            return {
                "status": "suppressed",
                "reason": "none of the subscriber's sections has a story",
            }
        recipient = Recipient(item.subscriber_id, item.email, item.name, item.secret)
        try:
            composed = compose(self.app, self.row, template, recipient, self.variants.key)
        except RenderError as exc:
            return self._local_failure(item, str(exc))
        self.rate.wait()
        attempts = item.attempts + 1
        try:
            location = channel().send(
                composed.raw, composed.sender, self.settings.redirect_to or item.email
            )
        except TemporaryDeliveryError as exc:
            return self._retry_later(item, attempts, "deferred", exc.reason, exc.code)
        except PermanentDeliveryError as exc:
            return {
                "status": "failed",
                "attempts": attempts,
                "smtp_code": exc.code,
                "reason": exc.reason,
                "_bounced": exc.hard_bounce,
            }
        except AmbiguousDeliveryError as exc:
            return self._ambiguous(item, attempts, exc.reason)
        if self.settings.transport == "maildir" and len(self.report.locations) < MAX_LOCATIONS:
            with self.lock:
                self.report.locations.append(location)
        return {
            "status": "sent",
            "attempts": attempts,
            "sent_at": self.app.now(),
            "smtp_code": 250 if self.settings.transport == "smtp" else None,
            "reason": None,
            "next_attempt_at": None,
        }

    def _retry_later(
        self, item: ledger.Claimed, attempts: int, status: str, reason: str, code: int | None
    ) -> dict[str, Any]:
        now = self.app.now()
        first = item.first_attempt_at or now
        values: dict[str, Any] = {"attempts": attempts, "smtp_code": code, "reason": reason}
        if now - first >= timedelta(hours=self.settings.retry_horizon_hours):
            horizon = f"gave up after {self.settings.retry_horizon_hours:g} hours: {reason}"
            return {**values, "status": "expired", "reason": horizon, "next_attempt_at": None}
        when = now + backoff(self.settings, attempts, self.rng)
        return {**values, "status": status, "next_attempt_at": when}

    def _ambiguous(self, item: ledger.Claimed, attempts: int, reason: str) -> dict[str, Any]:
        count = item.ambiguous_count + 1
        if self.settings.ambiguous_policy == "retry_once" and count == 1:
            values = self._retry_later(item, attempts, "ambiguous", reason, None)
            return {**values, "ambiguous_count": count}
        held = f"{reason}; held for an editor (digest resend)"
        return {
            "status": "ambiguous",
            "attempts": attempts,
            "ambiguous_count": count,
            "reason": held,
            "next_attempt_at": None,
        }

    def _local_failure(self, item: ledger.Claimed, reason: str) -> dict[str, Any]:
        failures = item.local_failures + 1
        if failures >= self.settings.quarantine_after:
            return {
                "status": "quarantined",
                "local_failures": failures,
                "reason": f"failed {failures} times before sending: {reason}",
            }
        values = self._retry_later(item, item.attempts, "deferred", reason, None)
        return {**values, "local_failures": failures}


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
    if built.status == "skipped":
        return SendReport(f"{built.edition.name}:{day}", skipped=built.skip_reason)
    with app.transaction() as session:
        row = frozen_edition(session, app, day)
        if row.status == "frozen":
            require_approval(app, row)
        report = SendReport(edition_key=f"{row.name}:{day}")
        report.queued = ledger.materialise(session, row, message_domain(app.settings), app.now())
        if report.queued:
            row.status = "sending"
            ledger.schedule_local_hours(
                session,
                row,
                app.settings.edition.timezone,
                lambda timezone, hour: local_instant(day, hour, timezone),
            )
    require_passing(app, row)
    try:
        _Run(app, row, report, progress, should_stop).execute()
        report.stopped = should_stop()
    finally:
        with app.transaction() as session:
            report.counts = ledger.counts(session, row.edition_id)
            if not any(report.counts[state] for state in ledger.UNFINISHED):
                edition = session.get(EditionRow, row.edition_id)
                assert edition is not None
                edition.status = "sent"
    return report


@dataclass(frozen=True, slots=True)
class Planned:
    """Who a send would reach, and with which sections (None: suppressed, with the reason)."""

    email: str
    sections: tuple[str, ...] | None
    reason: str = ""


def dry_run(app: App, day: date) -> Iterator[Planned]:
    """Each active subscriber and the variant a send would give them; nothing is sent."""
    built = build(app, day)
    if built.status == "skipped":
        raise EditionError(f"edition {built.edition.name}:{day} was skipped: {built.skip_reason}")
    available = tuple(s.key for s in built.edition.sections)
    with app.transaction() as session:
        for email, chosen in ledger.active_choices(session):
            wanted = available if chosen is None else tuple(k for k in available if k in chosen)
            if not available or wanted:
                yield Planned(email, wanted)
            else:
                yield Planned(email, None, "none of the subscriber's sections has a story")


def edition_report(app: App, day: date) -> dict[str, Any]:
    """Counts per state and every delivery that did not (yet) succeed, with its reason."""
    with app.transaction() as session:
        row = frozen_edition(session, app, day)
        return {
            "edition": f"{row.name}:{day}",
            "status": row.status,
            "counts": ledger.counts(session, row.edition_id),
            "failures": [
                {"email": f.email, "state": f.state, "code": f.code, "reason": f.reason}
                for f in ledger.failures(session, row.edition_id)
            ],
        }


def resend(app: App, day: date, *, failed: bool = False, to: str | None = None) -> int:
    """Make deliveries pending again for the next `digest send`: every delivery that ended
    without a message (`failed`), or one subscriber's, even one already sent (`to`)."""
    with app.transaction() as session:
        row = frozen_edition(session, app, day)
        if to is not None:
            if not ledger.ensure_delivery(
                session, row, to, message_domain(app.settings), app.now()
            ):
                raise EditionError(f"no subscriber {to!r}")
            return ledger.reset(session, row.edition_id, email=to)
        states = ("failed", "ambiguous", "expired", "quarantined") if failed else ()
        count = ledger.reset(session, row.edition_id, states=states)
        if count:
            row.status = "sending"
        return count
