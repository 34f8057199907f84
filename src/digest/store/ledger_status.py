"""What the ledger says about an edition: deliveries per state, what each sender did, and the
deliveries that failed or may yet fail, with their reasons."""

from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import String, func, select, type_coerce
from sqlalchemy.orm import Session

from digest.core.states import NOT_DELIVERED, DeliveryStatus
from digest.store.ledger import held_for_decision, in_progress, possibly_twice
from digest.store.tables import Delivery, Subscriber


def counts(session: Session, edition_id: int) -> dict[DeliveryStatus, int]:
    query = (
        select(Delivery.status, func.count())
        .where(Delivery.edition_id == edition_id)
        .group_by(Delivery.status)
    )
    found = dict(session.execute(query).all())
    return {state: found.get(state, 0) for state in DeliveryStatus}


def unfinished(session: Session, edition_id: int) -> bool:
    """Whether any delivery of the edition may still be sent (cheap: one index probe)."""
    query = (
        select(Delivery.delivery_id)
        .where(Delivery.edition_id == edition_id, in_progress())
        .limit(1)
    )
    return session.scalar(query) is not None


@dataclass(frozen=True, slots=True)
class WorkerProgress:
    """What one sender (a `digest send` run, or a Celery worker process) did for an edition."""

    owner: str
    counts: dict[DeliveryStatus, int]
    in_flight: int


def progress_by_worker(session: Session, edition_id: int) -> list[WorkerProgress]:
    """Outcomes recorded by each sender, and the rows each holds right now."""
    done = session.execute(
        # Only rows some sender handled: never NULL.
        select(type_coerce(Delivery.handled_by, String), Delivery.status, func.count())
        .where(Delivery.edition_id == edition_id, Delivery.handled_by.is_not(None))
        .group_by(Delivery.handled_by, Delivery.status)
    ).all()
    holding = session.execute(
        select(Delivery.lease_owner, func.count())
        .where(Delivery.edition_id == edition_id, Delivery.status == DeliveryStatus.SENDING)
        .group_by(Delivery.lease_owner)
    ).all()
    counts: dict[str, dict[DeliveryStatus, int]] = {}
    for owner, status, n in done:
        counts.setdefault(owner, {})[status] = n
    flight = {owner: n for owner, n in holding if owner}
    return [
        WorkerProgress(owner, counts.get(owner, {}), flight.get(owner, 0))
        for owner in sorted(set(counts) | set(flight))
    ]


def has_deliveries(session: Session, edition_id: int) -> bool:
    query = select(Delivery.delivery_id).where(Delivery.edition_id == edition_id).limit(1)
    return session.scalar(query) is not None


@dataclass(frozen=True, slots=True)
class Failure:
    email: str
    state: str
    code: int | None
    reason: str | None


def failures(session: Session, edition_id: int) -> Sequence[Failure]:
    """Deliveries that ended, or may end, without a message: with their reasons."""
    rows = session.execute(
        select(Subscriber.email, Delivery.status, Delivery.smtp_code, Delivery.reason)
        .join(Subscriber, Subscriber.subscriber_id == Delivery.subscriber_id)
        .where(
            Delivery.edition_id == edition_id,
            Delivery.status.in_(NOT_DELIVERED),
        )
        .order_by(Delivery.delivery_id)
    )
    return [Failure(*row) for row in rows]


@dataclass(frozen=True, slots=True)
class Attention:
    """What an operator must know beyond the counts per state: deliveries held for their
    decision (`digest resend`), and readers who may hold two copies."""

    held: int
    possible_duplicates: int


def attention(session: Session, edition_id: int) -> Attention:
    held, twice = session.execute(
        select(
            func.count().filter(held_for_decision()), func.count().filter(possibly_twice())
        ).where(Delivery.edition_id == edition_id)
    ).one()
    return Attention(held or 0, twice or 0)


@dataclass(frozen=True, slots=True)
class PossibleDuplicate:
    """A reader who may hold two copies: `uncertain` attempts the server may have accepted
    (no reply after the data, or the sender stopped mid-transaction), and where it stands."""

    email: str
    state: str
    uncertain: int


def possible_duplicates(session: Session, edition_id: int) -> Sequence[PossibleDuplicate]:
    rows = session.execute(
        select(Subscriber.email, Delivery.status, Delivery.ambiguous_count)
        .join(Subscriber, Subscriber.subscriber_id == Delivery.subscriber_id)
        .where(Delivery.edition_id == edition_id, possibly_twice())
        .order_by(Delivery.delivery_id)
    )
    return [PossibleDuplicate(*row) for row in rows]
