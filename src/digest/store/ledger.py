"""The delivery ledger: one row per (edition, subscriber), written before the first message;
what is left to do of an edition; and an editor's resend. Who may send a row, and how its
outcome is recorded, is `digest.store.claims`.
"""

from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import (
    Integer,
    String,
    and_,
    cast,
    func,
    insert,
    literal,
    or_,
    select,
    text,
    type_coerce,
    update,
)
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from digest.core.states import (
    LEASED_DELIVERIES,
    LIVE_DELIVERIES,
    DeliveryStatus,
    SubscriberStatus,
)
from digest.store.db import changed
from digest.store.editions import StoredEdition
from digest.store.tables import Delivery, Subscriber


def in_progress() -> Any:
    """Deliveries a run may still act on: everything but the final states and the ambiguous
    ones held for an editor's decision (those have no next attempt)."""
    return or_(
        Delivery.status.in_(LIVE_DELIVERIES),
        and_(Delivery.status == DeliveryStatus.AMBIGUOUS, Delivery.next_attempt_at.is_not(None)),
    )


def held_for_decision() -> Any:
    """Ambiguous deliveries that wait for `digest resend`: the server may have the message."""
    return and_(Delivery.status == DeliveryStatus.AMBIGUOUS, Delivery.next_attempt_at.is_(None))


def possibly_twice() -> Any:
    """Deliveries whose reader may hold two copies: sent after an attempt the server may have
    accepted, or with two such attempts."""
    return or_(
        Delivery.ambiguous_count >= 2,
        and_(Delivery.ambiguous_count >= 1, Delivery.status == DeliveryStatus.SENT),
    )


def materialise(
    session: Session, edition: StoredEdition, message_id_domain: str, now: datetime
) -> int:
    """One pending row per active subscriber, in one statement (no subscriber is loaded into
    memory). Runs once per edition: a second call, or a racing sender, adds nothing."""
    if session.scalar(
        select(Delivery.delivery_id).where(Delivery.edition_id == edition.edition_id).limit(1)
    ):
        return 0
    prefix, suffix = edition.key.message_id_around(message_id_domain)
    rows = select(
        literal(edition.edition_id),
        Subscriber.subscriber_id,
        literal(DeliveryStatus.PENDING, Delivery.status.type),
        literal(prefix) + cast(Subscriber.subscriber_id, String) + literal(suffix),
        literal(0),
        literal(0),
        literal(0),
        literal(now, Delivery.created_at.type),
    ).where(Subscriber.status == SubscriberStatus.ACTIVE)
    columns = [
        Delivery.edition_id,
        Delivery.subscriber_id,
        Delivery.status,
        Delivery.message_id,
        Delivery.attempts,
        Delivery.ambiguous_count,
        Delivery.local_failures,
        Delivery.created_at,
    ]
    try:
        with session.begin_nested():
            session.execute(insert(Delivery).from_select(columns, rows))
    except IntegrityError:
        return 0  # another sender materialised the same edition first
    # Fresh statistics: without them the planner takes the new rows (a million, say) for a few
    # hundred and reads the whole edition for every batch it leases.
    session.execute(text(f"ANALYZE {Delivery.__tablename__}"))
    # Counted afterwards: drivers do not all report a row count for INSERT ... SELECT.
    query = (
        select(func.count()).select_from(Delivery).where(Delivery.edition_id == edition.edition_id)
    )
    return session.scalar(query) or 0


def schedule_local_hours(
    session: Session,
    edition: StoredEdition,
    default_timezone: str,
    release: Callable[[str, int], datetime],
) -> int:
    """Hold back the deliveries of subscribers who chose a local send hour until that hour:
    one UPDATE per distinct (timezone, hour), never one per subscriber."""
    zone = func.coalesce(Subscriber.timezone, default_timezone)
    pairs = session.execute(
        select(zone, type_coerce(Subscriber.send_hour, Integer))  # never NULL here
        .where(Subscriber.status == SubscriberStatus.ACTIVE, Subscriber.send_hour.is_not(None))
        .distinct()
    ).all()
    held = 0
    for timezone, hour in pairs:
        chosen = select(Subscriber.subscriber_id).where(
            Subscriber.send_hour == hour, zone == timezone
        )
        held += changed(
            session,
            update(Delivery)
            .where(
                Delivery.edition_id == edition.edition_id,
                Delivery.status == DeliveryStatus.PENDING,
                Delivery.subscriber_id.in_(chosen.scalar_subquery()),
            )
            .values(release_at=release(timezone, hour))
            .execution_options(synchronize_session=False),
        )
    return held


def mark_subscriber(
    session: Session, subscriber_id: int, status: SubscriberStatus, now: datetime
) -> None:
    session.execute(
        update(Subscriber)
        .where(Subscriber.subscriber_id == subscriber_id)
        .values(status=status, updated_at=now)
        .execution_options(synchronize_session=False)
    )


def ensure_delivery(
    session: Session, edition: StoredEdition, email: str, message_id_domain: str, now: datetime
) -> bool:
    """Make sure `email` has a delivery row for `edition` (an editor may send to a subscriber
    who joined after the edition was first sent). False when there is no such subscriber."""
    subscriber_id = session.scalar(
        select(Subscriber.subscriber_id).where(Subscriber.email == email)
    )
    if subscriber_id is None:
        return False
    exists = session.scalar(
        select(Delivery.delivery_id).where(
            Delivery.edition_id == edition.edition_id, Delivery.subscriber_id == subscriber_id
        )
    )
    if exists is None:
        prefix, suffix = edition.key.message_id_around(message_id_domain)
        message_id = f"{prefix}{subscriber_id}{suffix}"
        session.add(
            Delivery(
                edition_id=edition.edition_id,
                subscriber_id=subscriber_id,
                status=DeliveryStatus.PENDING,
                message_id=message_id,
                attempts=0,
                ambiguous_count=0,
                local_failures=0,
                created_at=now,
            )
        )
        session.flush()
    return True


def reset(
    session: Session, edition_id: int, *, states: Sequence[str] = (), email: str | None = None
) -> int:
    """Make deliveries pending again (an editor's resend): by final state, or for one address
    whatever its state. Returns how many. Their count of attempts the server may have accepted
    is kept: the report goes on telling that such a reader may hold two copies."""
    query = update(Delivery).where(Delivery.edition_id == edition_id)
    if email is not None:
        subscriber_id = select(Subscriber.subscriber_id).where(Subscriber.email == email)
        query = query.where(Delivery.subscriber_id == subscriber_id.scalar_subquery())
    else:
        query = query.where(Delivery.status.in_(states))
    return changed(
        session,
        query.where(Delivery.status.not_in(LEASED_DELIVERIES))
        .values(
            status=DeliveryStatus.PENDING,
            attempts=0,
            local_failures=0,
            reason=None,
            smtp_code=None,
            next_attempt_at=None,
            first_attempt_at=None,
            sent_at=None,
        )
        .execution_options(synchronize_session=False),
    )
