"""Sending with Celery workers ([delivery] engine = "celery").

`digest send` queues the due deliveries in batches: each batch's rows are leased to a token
(status queued) and the token and ids go to the broker as one task. A worker claims a
batch's rows that are still queued under that token, or due (a killed worker's rows, once its
lease is gone), and delivers them through the same courier as a local send. So a task run
twice finds its rows taken or recorded and sends nothing again, and a queued batch whose task
was lost becomes due when its lease (`visibility_timeout`) ends, for the next `digest send`
or daemon tick to queue again. A worker killed mid-batch stops renewing its leases: its rows
come due within `lease_seconds`, and every worker looks for such rows as often as leases are
renewed (`requeue_abandoned`), so the batch goes on without waiting for the broker.
"""

from collections import Counter
from datetime import timedelta

from digest import broker
from digest.config import Settings
from digest.core.states import DeliveryStatus
from digest.errors import SendingError
from digest.service.app import App
from digest.service.courier import (
    Channels,
    Courier,
    LeaseKeeper,
    LocalRateLimit,
    StopFlag,
    Throttle,
    close_if_done,
)
from digest.store import claims
from digest.store.editions import StoredEdition, editions_sending, get_edition

# Editions whose variants a worker keeps rendered (several may be sending at once).
KEEP_EDITIONS = 4


def enqueue(app: App, edition: StoredEdition, should_stop: StopFlag) -> tuple[int, int]:
    """Queue every due delivery of the edition as tasks of `batch_size`; returns how many
    deliveries and tasks. A batch is committed before it is published, so a worker never
    looks for rows that are not yet queued."""
    settings = app.settings
    lease = timedelta(seconds=settings.celery.visibility_timeout)
    queued = batches = 0
    with app.transaction() as session:
        claims.expire_dead_leases(session, edition.edition_id, app.now())
    publisher = broker.Publisher(settings.celery)
    after: int | None = 0
    try:
        while after is not None and not should_stop():
            token = claims.new_token()
            with app.transaction() as session:
                ids, after = claims.enqueue(
                    session,
                    edition.edition_id,
                    token,
                    app.now(),
                    lease,
                    settings.delivery.claim_size,
                    after,
                )
            if ids:
                _publish(app, publisher, edition.edition_id, token, ids)
                queued, batches = queued + len(ids), batches + 1
    finally:
        publisher.close()
    return queued, batches


def _publish(
    app: App, publisher: broker.Publisher, edition_id: int, token: str, ids: list[int]
) -> None:
    """Hand a committed batch to the broker; if it cannot take it, the rows are due again."""
    try:
        publisher.publish(edition_id, token, ids)
    except SendingError:
        with app.transaction() as session:
            claims.release(session, token, ids)
        raise


def requeue_abandoned(app: App) -> int:
    """Queue again the rows that workers claimed and stopped renewing (killed, or cut off
    from the database for longer than a lease), in every edition being sent; how many. Any
    worker may run it at any time: a row is queued by one of them only."""
    settings = app.settings
    lease = timedelta(seconds=settings.celery.visibility_timeout)
    with app.transaction() as session:
        editions = editions_sending(session)
    queued = 0
    publisher = broker.Publisher(settings.celery)
    try:
        for edition_id in editions:
            with app.transaction() as session:
                claims.expire_dead_leases(session, edition_id, app.now())
            while True:
                token = claims.new_token()
                with app.transaction() as session:
                    ids = claims.requeue_abandoned(
                        session,
                        edition_id,
                        token,
                        app.now(),
                        lease,
                        settings.delivery.claim_size,
                    )
                if not ids:
                    break
                _publish(app, publisher, edition_id, token, ids)
                queued += len(ids)
    finally:
        publisher.close()
    return queued


def _throttle(settings: Settings) -> Throttle:
    delivery = settings.delivery
    if not (delivery.rate_per_second or delivery.rate_per_hour):
        return LocalRateLimit(0, 0)
    return broker.SharedRateLimit(settings.celery, delivery.rate_per_second, delivery.rate_per_hour)


class Worker:
    """One worker process: its lease owner name, its connections and each edition's rendered
    variants, kept from one batch to the next."""

    def __init__(self, app: App) -> None:
        self.app = app
        self.keeper = LeaseKeeper(app, claims.new_owner())
        self.channels = Channels(app)
        self.rate = _throttle(app.settings)
        self._couriers: dict[int, Courier] = {}

    def deliver(
        self, edition_id: int, token: str, delivery_ids: list[int]
    ) -> Counter[DeliveryStatus]:
        """Deliver what is left to do of one batch; the outcomes this call recorded."""
        app = self.app
        courier = self._courier(edition_id)
        with app.transaction() as session:
            claims.expire_dead_leases(session, edition_id, app.now(), among=delivery_ids)
            claimed = claims.claim(
                session,
                edition_id,
                self.keeper.owner,
                app.now(),
                self.keeper.lease,
                len(delivery_ids),
                among=delivery_ids,
                token=token,
            )
        try:
            return courier.deliver(claimed, self.channels) if claimed else Counter()
        finally:
            with app.transaction() as session:
                close_if_done(session, edition_id)

    def _courier(self, edition_id: int) -> Courier:
        if edition_id not in self._couriers:
            with self.app.transaction() as session:
                edition = get_edition(session, edition_id)
            if edition is None:
                raise SendingError(f"no edition with id {edition_id} in the database")
            while len(self._couriers) >= KEEP_EDITIONS:
                del self._couriers[next(iter(self._couriers))]
            self._couriers[edition_id] = Courier(self.app, edition, self.keeper, self.rate)
        return self._couriers[edition_id]

    def close(self) -> None:
        self.channels.close()
        self.keeper.close()
        self.app.close()
