"""Delivering leased rows one message at a time: the code path a local `digest send` and a
Celery worker share.

For each claimed delivery: the subscriber as read with the lease (a late unsubscribe is
honoured), their variant's message, the rate limit, the hold on the row re-checked and
extended, the transport, and the outcome recorded right after the server's final reply,
fenced on still holding the lease. Meanwhile the sender's `LeaseKeeper` renews its leases.
"""

import logging
import random
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from typing import Any, Protocol

from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from digest.config import DeliverySettings
from digest.errors import (
    AmbiguousDeliveryError,
    DeliveryError,
    PermanentDeliveryError,
    RenderError,
    TemporaryDeliveryError,
)
from digest.service.app import App
from digest.service.messages import Recipient, Variants, compose
from digest.store import claims, ledger, ledger_status
from digest.store.tables import EditionRow
from digest.transport import MaildirTransport, SmtpTransport, Transport

# Maildir paths kept for the report (the demo prints them); a large run keeps the first few.
MAX_LOCATIONS = 20
INTERRUPTED = "a sender stopped while handing the message to the server, which may have it"
log = logging.getLogger(__name__)
Progress = Callable[[str], None]
StopFlag = Callable[[], bool]


def transport_for(app: App) -> Transport:
    delivery = app.settings.delivery
    if delivery.transport == "maildir":
        return MaildirTransport(delivery.maildir)
    return SmtpTransport(app.settings.smtp, delivery.messages_per_connection)


class Throttle(Protocol):
    def wait(self) -> None:
        """Return when the next message may go."""
        ...


class RateLimit:
    """At most `per_second` and `per_hour` messages across this process's connections
    (0: no limit)."""

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


class Channels:
    """`connections` threads, each with its own transport, opened on its first message and
    kept from one batch to the next until `close`."""

    def __init__(self, app: App) -> None:
        self._app = app
        self._pool = ThreadPoolExecutor(
            max_workers=app.settings.delivery.connections, thread_name_prefix="digest-send"
        )
        self._local = threading.local()
        self._lock = threading.Lock()
        self._opened: list[Transport] = []

    def __enter__(self) -> "Channels":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def channel(self) -> Transport:
        """The calling thread's transport."""
        if getattr(self._local, "channel", None) is None:
            self._local.channel = transport_for(self._app).__enter__()
            with self._lock:
                self._opened.append(self._local.channel)
        return self._local.channel

    def run(self, work: Callable[[claims.Claimed], None], items: Sequence[claims.Claimed]) -> None:
        if self._app.settings.delivery.connections == 1:
            for item in items:  # in this thread: two thread switches a message saved
                work(item)
        else:
            list(self._pool.map(work, items))

    def close(self) -> None:
        """Wait for the threads, then close every transport politely (QUIT)."""
        self._pool.shutdown(wait=True)
        for transport in self._opened:
            transport.__exit__(None, None, None)
        self._opened = []


class LeaseKeeper:
    """One sender's hold on the rows it claimed. While the sender lives, a thread renews the
    leases of its unfinished rows every third of `lease_seconds`, however slow the server or
    the rate limit; a sender that dies renews nothing, so its rows come due within a lease.
    Before each message, `hold` re-checks the row is still this sender's."""

    def __init__(self, app: App, owner: str) -> None:
        self.app, self.owner = app, owner
        self.lease = timedelta(seconds=app.settings.delivery.lease_seconds)
        self._rows: set[int] = set()
        self._lock = threading.Lock()
        self._closed = threading.Event()
        self._thread = threading.Thread(target=self._renew, name="digest-lease", daemon=True)
        self._thread.start()

    def __enter__(self) -> "LeaseKeeper":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def keep(self, delivery_ids: Iterable[int]) -> None:
        with self._lock:
            self._rows.update(delivery_ids)

    def forget(self, delivery_ids: Iterable[int]) -> None:
        with self._lock:
            self._rows.difference_update(delivery_ids)

    def hold(self, delivery_id: int) -> bool:
        """Whether the row is still this sender's, its lease extended right now; if not, the
        message must not go (another sender may be sending it)."""
        now = self.app.now()
        until = now + self.lease
        return self.app.autocommit(lambda db: claims.hold(db, delivery_id, self.owner, now, until))

    def _renew(self) -> None:
        while not self._closed.wait(self.lease.total_seconds() / 3):
            with self._lock:
                held = sorted(self._rows)
            if held:
                self._renew_rows(held)

    def _renew_rows(self, held: list[int]) -> None:
        now = self.app.now()
        try:
            self.app.autocommit(
                lambda db: claims.renew(db, self.owner, held, now, now + self.lease)
            )
        except SQLAlchemyError as exc:
            # Tried again a third of a lease later; meanwhile `hold` keeps any row whose lease
            # ran out from being sent twice.
            log.warning("could not renew the leases of %s: %s", self.owner, exc)

    def close(self) -> None:
        self._closed.set()
        self._thread.join()


class Courier:
    """Delivers claimed rows of one edition under one sender's leases."""

    def __init__(
        self,
        app: App,
        row: EditionRow,
        keeper: LeaseKeeper,
        rate: Throttle,
        progress: Progress = lambda outcome: None,
        should_stop: StopFlag = lambda: False,
    ) -> None:
        self.app, self.row, self.keeper, self.rate = app, row, keeper, rate
        self.owner = keeper.owner
        self.progress, self.should_stop = progress, should_stop
        self.settings = app.settings.delivery
        self.variants = Variants(app, row)
        self.rng = random.Random()
        self.locations: list[str] = []
        self._lock = threading.Lock()
        self._stop: DeliveryError | None = None
        self._outcomes: Counter[str] = Counter()

    def deliver(self, claimed: Sequence[claims.Claimed], channels: Channels) -> Counter[str]:
        """Deliver every claimed row over `channels`; the outcomes recorded. A `DeliveryError`
        (the server unreachable, login refused) stops the batch: the rows not yet attempted
        are pending again, and the error is raised."""
        self._stop, self._outcomes = None, Counter()
        ids = [item.delivery_id for item in claimed]
        self.keeper.keep(ids)
        try:
            channels.run(lambda item: self._deliver(item, channels), claimed)
        finally:
            self.keeper.forget(ids)
        if self._stop is not None:
            raise self._stop
        return self._outcomes

    def _deliver(self, item: claims.Claimed, channels: Channels) -> None:
        if self._stop is not None or self.should_stop():
            with self.app.transaction() as session:
                claims.release(session, self.owner, [item.delivery_id])
            return
        try:
            values = self._attempt(item, channels)
        except DeliveryError as exc:
            with self._lock:
                self._stop = self._stop or exc
            with self.app.transaction() as session:
                claims.release(session, self.owner, [item.delivery_id])
            return
        finally:
            self.keeper.forget([item.delivery_id])
        if values is None:
            return  # the lease ran out and another sender may have the row: not ours to send
        now = self.app.now()
        bounced = values.pop("_bounced", False)
        values.setdefault("first_attempt_at", item.first_attempt_at or now)
        values.setdefault("ambiguous_count", item.ambiguous_count + item.interrupted)
        if bounced:  # the subscriber is marked in the same transaction
            with self.app.transaction() as session:
                recorded = claims.record(session, item.delivery_id, self.owner, **values)
                if recorded:
                    ledger.mark_subscriber(session, item.subscriber_id, "bounced", now)
        else:
            recorded = self.app.autocommit(
                lambda db: claims.record(db, item.delivery_id, self.owner, **values)
            )
        if recorded:
            with self._lock:
                self._outcomes[values["status"]] += 1
            self.progress(values["status"])

    def _attempt(self, item: claims.Claimed, channels: Channels) -> dict[str, Any] | None:
        """The outcome to record, or None when the row is no longer this sender's."""
        if item.status != "active":
            return {"status": "suppressed", "reason": f"subscriber is {item.status}"}
        template = self.variants.template(item.sections)
        if template is None:
            return {
                "status": "suppressed",
                "reason": "none of the subscriber's sections has a story",
            }
        # A row taken over mid-transaction counts as an attempt the server may have accepted.
        uncertain = item.ambiguous_count + item.interrupted
        if item.interrupted and not self._may_retry(uncertain):
            return self._held(item.attempts, uncertain, INTERRUPTED)
        recipient = Recipient(item.subscriber_id, item.email, item.name, item.secret)
        try:
            composed = compose(self.app, self.row, template, recipient, self.variants.key)
        except RenderError as exc:
            return self._local_failure(item, str(exc))
        self.rate.wait()
        if not self.keeper.hold(item.delivery_id):
            return None
        attempts = item.attempts + 1
        try:
            location = channels.channel().send(
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
            return self._ambiguous(item, attempts, uncertain + 1, exc.reason)
        if self.settings.transport == "maildir" and len(self.locations) < MAX_LOCATIONS:
            with self._lock:
                self.locations.append(location)
        return {
            "status": "sent",
            "attempts": attempts,
            "sent_at": self.app.now(),
            "smtp_code": 250 if self.settings.transport == "smtp" else None,
            "reason": None,
            "next_attempt_at": None,
        }

    def _retry_later(
        self, item: claims.Claimed, attempts: int, status: str, reason: str, code: int | None
    ) -> dict[str, Any]:
        now = self.app.now()
        first = item.first_attempt_at or now
        values: dict[str, Any] = {"attempts": attempts, "smtp_code": code, "reason": reason}
        if now - first >= timedelta(hours=self.settings.retry_horizon_hours):
            horizon = f"gave up after {self.settings.retry_horizon_hours:g} hours: {reason}"
            return {**values, "status": "expired", "reason": horizon, "next_attempt_at": None}
        when = now + backoff(self.settings, attempts, self.rng)
        return {**values, "status": status, "next_attempt_at": when}

    def _may_retry(self, uncertain: int) -> bool:
        """Whether a message the server may already have goes again by itself: once, under
        the default policy; never under "hold"."""
        return self.settings.ambiguous_policy == "retry_once" and uncertain == 1

    def _ambiguous(
        self, item: claims.Claimed, attempts: int, uncertain: int, reason: str
    ) -> dict[str, Any]:
        if self._may_retry(uncertain):
            values = self._retry_later(item, attempts, "ambiguous", reason, None)
            return {**values, "ambiguous_count": uncertain}
        return self._held(attempts, uncertain, reason)

    @staticmethod
    def _held(attempts: int, uncertain: int, reason: str) -> dict[str, Any]:
        return {
            "status": "ambiguous",
            "attempts": attempts,
            "ambiguous_count": uncertain,
            "reason": f"{reason}; held for an editor (digest resend)",
            "next_attempt_at": None,
        }

    def _local_failure(self, item: claims.Claimed, reason: str) -> dict[str, Any]:
        failures = item.local_failures + 1
        if failures >= self.settings.quarantine_after:
            return {
                "status": "quarantined",
                "local_failures": failures,
                "reason": f"failed {failures} times before sending: {reason}",
            }
        values = self._retry_later(item, item.attempts, "deferred", reason, None)
        return {**values, "local_failures": failures}


def close_if_done(session: Session, edition_id: int) -> None:
    """Mark the edition sent once none of its deliveries may still be sent."""
    if not ledger_status.unfinished(session, edition_id):
        edition = session.get(EditionRow, edition_id)
        assert edition is not None
        edition.status = "sent"
