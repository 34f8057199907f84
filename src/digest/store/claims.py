"""Claims on ledger rows: which sender may send a delivery, for how long, and the fenced
record of its outcome.

A sender claims rows by leasing them (status sending, its owner name, an expiry) and keeps
the lease alive while it works (`renew`). Right before handing a message to the server it
re-checks and extends its hold on that row (`hold`), so a row whose lease ran out and was
taken by another sender is never sent by both; and every write that finishes a delivery is
fenced on still holding the lease. Rows handed to a Celery task wait as queued, leased to
the task's token, until a worker claims them with it.
"""

import os
import socket
import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import cache
from typing import Any

from sqlalchemy import Connection, and_, bindparam, func, or_, select, update
from sqlalchemy.orm import Session

from digest.core.outcomes import Before
from digest.core.states import LEASED_DELIVERIES, DeliveryStatus, SubscriberStatus
from digest.store.db import changed
from digest.store.tables import Delivery, Subscriber, core_table


def new_owner() -> str:
    """A lease owner name: host and process, so a dead local owner can be recognised."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


def new_token() -> str:
    """The owner of the rows of one enqueued batch until a worker claims them."""
    return f"queued:{uuid.uuid4().hex}"


def _owner_is_dead(owner: str) -> bool:
    host, _, rest = owner.partition(":")
    pid = rest.partition(":")[0]
    if host != socket.gethostname() or not pid.isdigit():
        return False  # another machine's process: only its lease expiry can tell
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return False


def _claimable(edition_id: int, now: datetime) -> Any:
    return and_(
        Delivery.edition_id == edition_id,
        or_(
            and_(
                Delivery.status == DeliveryStatus.PENDING,
                or_(Delivery.release_at.is_(None), Delivery.release_at <= now),
            ),
            and_(
                Delivery.status.in_((DeliveryStatus.DEFERRED, DeliveryStatus.AMBIGUOUS)),
                Delivery.next_attempt_at <= now,
            ),
            and_(Delivery.status.in_(LEASED_DELIVERIES), Delivery.lease_expires_at < now),
        ),
    )


def expire_dead_leases(
    session: Session, edition_id: int, now: datetime, among: Sequence[int] | None = None
) -> int:
    """Leases held by a process on this machine that no longer exists (killed, crashed) end
    now, so its unfinished rows can be resumed at once: of the whole edition (a full read,
    once per pass), or only `among` one batch's rows."""
    held = and_(Delivery.edition_id == edition_id, Delivery.status == DeliveryStatus.SENDING)
    if among is not None:
        held = and_(Delivery.delivery_id.in_(list(among)), held)
    owners = session.scalars(select(Delivery.lease_owner).where(held).distinct())
    dead = [owner for owner in owners if owner and _owner_is_dead(owner)]
    if not dead:
        return 0
    return changed(
        session,
        update(Delivery)
        .where(Delivery.lease_owner.in_(dead), Delivery.status == DeliveryStatus.SENDING)
        .values(lease_expires_at=now - timedelta(seconds=1)),
    )


@dataclass(frozen=True, slots=True)
class Claimed:
    """A leased delivery and what sending it needs to know."""

    delivery_id: int
    message_id: str
    attempts: int
    ambiguous_count: int
    local_failures: int
    first_attempt_at: datetime | None
    subscriber_id: int
    email: str
    name: str
    status: SubscriberStatus
    sections: list[str] | None
    secret: str
    # Taken over from a sender that stopped while handing it to the server.
    interrupted: bool

    @property
    def before(self) -> Before:
        return Before(
            self.attempts,
            self.ambiguous_count,
            self.local_failures,
            self.first_attempt_at,
            self.interrupted,
        )


def _lease(
    session: Session,
    due: Any,
    owner: str,
    status: DeliveryStatus,
    expires_at: datetime,
    limit: int,
) -> None:
    ids = select(Delivery.delivery_id).where(due).order_by(Delivery.delivery_id).limit(limit)
    if session.get_bind().dialect.name == "postgresql":
        # Chosen and locked first: PostgreSQL may run a LIMIT ... SKIP LOCKED subquery inside
        # IN once per candidate row, and so lease far more than `limit` rows.
        chosen = list(session.scalars(ids.with_for_update(skip_locked=True)))
        target = Delivery.delivery_id.in_(chosen)
    else:
        target = Delivery.delivery_id.in_(ids.scalar_subquery())
    session.execute(
        update(Delivery)
        # The due condition is repeated so a row another sender leased meanwhile is skipped.
        .where(target, due)
        .values(status=status, lease_owner=owner, lease_expires_at=expires_at)
        .execution_options(synchronize_session=False)
    )


def claim(
    session: Session,
    edition_id: int,
    owner: str,
    now: datetime,
    lease: timedelta,
    limit: int,
    *,
    after: int = 0,
    among: Sequence[int] | None = None,
    token: str | None = None,
) -> list[Claimed]:
    """Lease up to `limit` deliveries that are due, oldest first: any of the edition's with an
    id past `after`, or only those `among` one batch, which also takes the rows still queued
    under its `token`. A sender that goes on `after` its last claim reads each row once per
    pass, where starting from the top every time would step over every finished row again."""
    due = _claimable(edition_id, now)
    if after:
        due = and_(Delivery.delivery_id > after, due)
    if token is not None:
        due = or_(
            due, and_(Delivery.status == DeliveryStatus.QUEUED, Delivery.lease_owner == token)
        )
    if among is not None:
        due = and_(Delivery.delivery_id.in_(list(among)), due)
    _lease(session, due, owner, DeliveryStatus.SENDING, now + lease, limit)
    rows = session.execute(
        select(
            Delivery.delivery_id,
            Delivery.message_id,
            Delivery.attempts,
            Delivery.ambiguous_count,
            Delivery.local_failures,
            Delivery.first_attempt_at,
            Subscriber.subscriber_id,
            Subscriber.email,
            Subscriber.name,
            Subscriber.status,
            Subscriber.sections,
            Subscriber.secret,
            Delivery.in_flight_since.is_not(None).label("interrupted"),
        )
        .join(Subscriber, Subscriber.subscriber_id == Delivery.subscriber_id)
        .where(
            Delivery.edition_id == edition_id,
            Delivery.lease_owner == owner,
            Delivery.status == DeliveryStatus.SENDING,
        )
        .order_by(Delivery.delivery_id)
    )
    return [Claimed(**row._asdict()) for row in rows]


def enqueue(
    session: Session,
    edition_id: int,
    token: str,
    now: datetime,
    lease: timedelta,
    limit: int,
    after: int = 0,
) -> tuple[list[int], int | None]:
    """Queue the due deliveries among the next `limit` of the edition after id `after` under
    a batch's `token` (see `claim`); the lease keeps a later run from queueing them again
    while the batch waits for a worker. Returns their ids and where to go on from (None: the
    end). Walking the ids in windows keeps a million-row edition one index scan, where asking
    for "the next due rows" again and again would rescan the finished ones each time."""
    window = (
        select(Delivery.delivery_id)
        .where(Delivery.edition_id == edition_id, Delivery.delivery_id > after)
        .order_by(Delivery.delivery_id)
        .limit(limit)
        .subquery()
    )
    low, high = session.execute(
        select(func.min(window.c.delivery_id), func.max(window.c.delivery_id))
    ).one()
    if high is None:
        return [], None
    due = and_(Delivery.delivery_id.between(low, high), _claimable(edition_id, now))
    _lease(session, due, token, DeliveryStatus.QUEUED, now + lease, limit)
    query = (
        select(Delivery.delivery_id)
        .where(
            Delivery.delivery_id.between(low, high),
            Delivery.lease_owner == token,
            Delivery.status == DeliveryStatus.QUEUED,
        )
        .order_by(Delivery.delivery_id)
    )
    return list(session.scalars(query)), high


def requeue_abandoned(
    session: Session, edition_id: int, token: str, now: datetime, lease: timedelta, limit: int
) -> list[int]:
    """Queue under a batch's `token` up to `limit` rows a sender claimed and stopped renewing
    (a killed worker's): only leased rows are read, a few per live sender, never the edition."""
    due = and_(
        Delivery.edition_id == edition_id,
        Delivery.status == DeliveryStatus.SENDING,
        Delivery.lease_expires_at < now,
    )
    _lease(session, due, token, DeliveryStatus.QUEUED, now + lease, limit)
    query = (
        select(Delivery.delivery_id)
        .where(
            Delivery.edition_id == edition_id,
            Delivery.status == DeliveryStatus.QUEUED,
            Delivery.lease_owner == token,
        )
        .order_by(Delivery.delivery_id)
    )
    return list(session.scalars(query))


def _holding(table: Any) -> Any:
    return and_(
        table.c.lease_owner == bindparam("_owner"),
        table.c.status == DeliveryStatus.SENDING,
        table.c.lease_expires_at > bindparam("_now"),
    )


@cache
def _hold_statement() -> Any:
    table = core_table(Delivery)
    return (
        update(table)
        .where(table.c.delivery_id == bindparam("_delivery_id"), _holding(table))
        .values(lease_expires_at=bindparam("_until"), in_flight_since=bindparam("_now"))
    )


def hold(
    db: Session | Connection, delivery_id: int, owner: str, now: datetime, until: datetime
) -> bool:
    """Right before the message goes to the server: true if `owner` still holds the row's
    lease, which now lasts `until` and marks the message in flight. False: the lease ran out
    and the row may be another sender's now, so this one must not send it."""
    values = {"_delivery_id": delivery_id, "_owner": owner, "_now": now, "_until": until}
    return changed(db, _hold_statement(), values) == 1


@cache
def _renew_statement() -> Any:
    table = core_table(Delivery)
    return (
        update(table)
        .where(table.c.delivery_id.in_(bindparam("_ids", expanding=True)), _holding(table))
        .values(lease_expires_at=bindparam("_until"))
    )


def renew(
    db: Session | Connection,
    owner: str,
    delivery_ids: Sequence[int],
    now: datetime,
    until: datetime,
) -> None:
    """Extend `owner`'s live leases among `delivery_ids` to `until`; a lease that already ran
    out stays lapsed (another sender may have read the row as due)."""
    values = {"_ids": list(delivery_ids), "_owner": owner, "_now": now, "_until": until}
    db.execute(_renew_statement(), values)


@cache
def _record_statement(columns: frozenset[str]) -> Any:
    # Built once per set of columns: building and keying an UPDATE costs more than sending it.
    table = core_table(Delivery)
    return (
        update(table)
        .where(
            table.c.delivery_id == bindparam("_delivery_id"),
            table.c.lease_owner == bindparam("_owner"),
            table.c.status == DeliveryStatus.SENDING,
        )
        .values(
            {name: bindparam(name) for name in sorted(columns)}
            | {
                "handled_by": bindparam("_owner"),
                "lease_owner": None,
                "lease_expires_at": None,
                "in_flight_since": None,
            }
        )
    )


def record(
    db: Session | Connection, delivery_id: int, owner: str, columns: Mapping[str, object]
) -> bool:
    """Finish (or reschedule) a delivery with an outcome's `columns`, only if `owner` still
    holds its lease. One Core statement, so on an autocommit connection it is one round trip
    to the database."""
    statement = _record_statement(frozenset(columns))
    values = {**columns, "_delivery_id": delivery_id, "_owner": owner}
    return changed(db, statement, values) == 1


def release(session: Session, owner: str, delivery_ids: Iterable[int]) -> None:
    """Give back leased or queued rows that never reached the server: pending again."""
    ids = list(delivery_ids)
    if ids:
        session.execute(
            update(Delivery)
            .where(
                Delivery.delivery_id.in_(ids),
                Delivery.lease_owner == owner,
                Delivery.status.in_(LEASED_DELIVERIES),
            )
            .values(
                status=DeliveryStatus.PENDING,
                lease_owner=None,
                lease_expires_at=None,
                in_flight_since=None,
            )
            .execution_options(synchronize_session=False)
        )
