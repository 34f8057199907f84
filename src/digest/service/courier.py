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
from typing import Protocol

from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from digest.core.outcomes import (
    Accepted,
    Happened,
    Interrupted,
    NotBuilt,
    NothingToSend,
    settle,
)
from digest.core.states import DeliveryStatus, EditionStatus, SubscriberStatus
from digest.errors import MessageDeliveryError, RenderError, SendingError
from digest.service.app import App
from digest.service.messages import Recipient, Variants, compose
from digest.store import claims, ledger, ledger_status
from digest.store.editions import StoredEdition, set_status
from digest.transport import MaildirTransport, SmtpTransport, Transport

# Maildir paths kept for the report (the demo prints them); a large run keeps the first few.
MAX_LOCATIONS = 20
log = logging.getLogger(__name__)
Progress = Callable[[DeliveryStatus], None]
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


class LocalRateLimit:
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
        edition: StoredEdition,
        keeper: LeaseKeeper,
        rate: Throttle,
        progress: Progress = lambda outcome: None,
        should_stop: StopFlag = lambda: False,
    ) -> None:
        self.app, self.edition, self.keeper, self.rate = app, edition, keeper, rate
        self.owner = keeper.owner
        self.progress, self.should_stop = progress, should_stop
        self.settings = app.settings.delivery
        self.policy = self.settings.retry_policy
        self.variants = Variants(app, edition)
        self.rng = random.Random()
        self.locations: list[str] = []
        self._lock = threading.Lock()
        self._stop: SendingError | None = None
        self._outcomes: Counter[DeliveryStatus] = Counter()

    def deliver(
        self, claimed: Sequence[claims.Claimed], channels: Channels
    ) -> Counter[DeliveryStatus]:
        """Deliver every claimed row over `channels`; the outcomes recorded. A `SendingError`
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
            happened = self._attempt(item, channels)
        except SendingError as exc:
            with self._lock:
                self._stop = self._stop or exc
            with self.app.transaction() as session:
                claims.release(session, self.owner, [item.delivery_id])
            return
        finally:
            self.keeper.forget([item.delivery_id])
        if happened is None:
            return  # the lease ran out and another sender may have the row: not ours to send
        now = self.app.now()
        outcome = settle(item.before, happened, now, self.policy, self.rng.uniform(0.5, 1.0))
        columns = outcome.columns()
        if outcome.bounced:  # the subscriber is marked in the same transaction
            with self.app.transaction() as session:
                recorded = claims.record(session, item.delivery_id, self.owner, columns)
                if recorded:
                    ledger.mark_subscriber(
                        session, item.subscriber_id, SubscriberStatus.BOUNCED, now
                    )
        else:
            recorded = self.app.autocommit(
                lambda db: claims.record(db, item.delivery_id, self.owner, columns)
            )
        if recorded:
            with self._lock:
                self._outcomes[outcome.status] += 1
            self.progress(outcome.status)

    def _attempt(self, item: claims.Claimed, channels: Channels) -> Happened | None:
        """What came of sending the row's message, or None when the row is no longer this
        sender's and nothing was tried."""
        if item.status != SubscriberStatus.ACTIVE:
            return NothingToSend(f"subscriber is {item.status}")
        template = self.variants.template(item.sections)
        if template is None:
            return NothingToSend("none of the subscriber's sections has a story")
        if item.interrupted and not self.policy.may_resend(item.before.uncertain):
            return Interrupted()
        recipient = Recipient(item.subscriber_id, item.email, item.name, item.secret)
        try:
            composed = compose(self.app, self.edition.key, template, recipient, self.variants.dkim)
        except RenderError as exc:
            return NotBuilt(str(exc))
        self.rate.wait()
        if not self.keeper.hold(item.delivery_id):
            return None
        try:
            location = channels.channel().send(
                composed.raw, composed.sender, self.settings.redirect_to or item.email
            )
        except MessageDeliveryError as exc:
            return exc
        if self.settings.transport == "maildir":
            if len(self.locations) < MAX_LOCATIONS:
                with self._lock:
                    self.locations.append(location)
            return Accepted(None)
        return Accepted()


def close_if_done(session: Session, edition_id: int) -> None:
    """Mark the edition sent once none of its deliveries may still be sent."""
    if not ledger_status.unfinished(session, edition_id):
        set_status(session, edition_id, EditionStatus.SENT)
