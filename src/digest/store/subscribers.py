"""Subscribers: who receives the digest, which sections, when, and whether they still want it."""

import json
import secrets
from collections.abc import Collection, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import String, bindparam, cast, func, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from digest.core.states import SubscriberStatus
from digest.errors import SubscriberError
from digest.store.tables import Delivery, Subscriber, core_table


@dataclass(frozen=True, slots=True)
class Profile:
    """What a subscriber chooses, as stored: `None` means all sections, the edition's timezone,
    the edition's send time."""

    name: str = ""
    sections: list[str] | None = None
    timezone: str | None = None
    send_hour: int | None = None


@dataclass(frozen=True, slots=True)
class Known:
    """An address already stored, read in bulk to sort an import into new, changed and same."""

    subscriber_id: int
    status: SubscriberStatus
    profile: Profile


def add_subscriber(
    session: Session,
    email: str,
    name: str,
    sections: list[str] | None,
    now: datetime,
    *,
    status: SubscriberStatus = SubscriberStatus.ACTIVE,
    timezone: str | None = None,
    send_hour: int | None = None,
) -> tuple[Subscriber, bool]:
    """The subscriber with `email`, created if new; the flag says whether it was created.

    A known address is returned untouched, whatever its status: adding someone again must
    neither change their choices nor undo an unsubscribe."""
    existing = find_subscriber(session, email)
    if existing is not None:
        return existing, False
    subscriber = Subscriber(
        email=email,
        name=name,
        status=status,
        sections=sections,
        timezone=timezone,
        send_hour=send_hour,
        secret=secrets.token_hex(32),
        created_at=now,
        updated_at=now,
    )
    session.add(subscriber)
    session.flush()
    return subscriber, True


def find_subscriber(session: Session, email: str) -> Subscriber | None:
    return session.scalar(select(Subscriber).where(Subscriber.email == email))


def list_subscribers(
    session: Session, status: SubscriberStatus | None = None
) -> Sequence[Subscriber]:
    query = select(Subscriber).order_by(Subscriber.subscriber_id)
    if status is not None:
        query = query.where(Subscriber.status == status)
    return session.scalars(query).all()


def delivery_count(session: Session, subscriber_id: int) -> int:
    query = select(func.count()).select_from(Delivery)
    return session.scalar(query.where(Delivery.subscriber_id == subscriber_id)) or 0


def delete_subscriber(session: Session, subscriber: Subscriber) -> None:
    """Delete the row; a reference the caller did not check for becomes a one-line error."""
    session.delete(subscriber)
    try:
        session.flush()
    except IntegrityError:
        raise SubscriberError(
            f"{subscriber.email}: other records still reference this subscriber; not deleted"
        ) from None


def known_by_email(session: Session, emails: Collection[str]) -> dict[str, Known]:
    """The stored rows among `emails`, in one query (callers pass a chunk, not a whole file)."""
    query = select(
        Subscriber.email,
        Subscriber.subscriber_id,
        Subscriber.status,
        Subscriber.name,
        Subscriber.sections,
        Subscriber.timezone,
        Subscriber.send_hour,
    ).where(Subscriber.email.in_(list(emails)))
    return {
        row.email: Known(
            row.subscriber_id,
            row.status,
            Profile(row.name, row.sections, row.timezone, row.send_hour),
        )
        for row in session.execute(query)
    }


# Core statements on the table, not the ORM entity: the ORM leaves out None values, so rows
# with and without a timezone would need different statements and the executemany would
# break into thousands of single-row INSERTs.
_TABLE = core_table(Subscriber)
_INSERT = insert(_TABLE)
_UPDATE_PROFILE = (
    update(_TABLE)
    .where(_TABLE.c.subscriber_id == bindparam("b_id"))
    .values(
        name=bindparam("b_name"),
        sections=bindparam("b_sections", type_=_TABLE.c.sections.type),
        timezone=bindparam("b_timezone"),
        send_hour=bindparam("b_send_hour"),
        updated_at=bindparam("b_updated_at", type_=_TABLE.c.updated_at.type),
    )
)


def insert_subscribers(
    session: Session,
    rows: Sequence[tuple[str, Profile]],
    status: SubscriberStatus,
    now: datetime,
) -> None:
    """Insert new addresses in one executemany: no ORM objects, so thousands take milliseconds."""
    if not rows:
        return
    session.execute(
        _INSERT,
        [
            {
                "email": email,
                "name": profile.name,
                "status": status,
                "sections": profile.sections,
                "timezone": profile.timezone,
                "send_hour": profile.send_hour,
                "secret": secrets.token_hex(32),
                "created_at": now,
                "updated_at": now,
            }
            for email, profile in rows
        ],
    )


def update_profiles(session: Session, rows: Sequence[tuple[int, Profile]], now: datetime) -> None:
    """Overwrite the chosen fields of known subscribers by id, in one executemany; the status
    is not touched, so an import never undoes an unsubscribe."""
    if not rows:
        return
    session.execute(
        _UPDATE_PROFILE,
        [
            {
                "b_id": subscriber_id,
                "b_name": profile.name,
                "b_sections": profile.sections,
                "b_timezone": profile.timezone,
                "b_send_hour": profile.send_hour,
                "b_updated_at": now,
            }
            for subscriber_id, profile in rows
        ],
    )


def active_choices(session: Session) -> Iterator[tuple[str, list[str] | None]]:
    """(email, chosen sections) of every active subscriber, streamed in pages."""
    query = (
        select(Subscriber.email, Subscriber.sections)
        .where(Subscriber.status == SubscriberStatus.ACTIVE)
        .order_by(Subscriber.subscriber_id)
        .execution_options(yield_per=2000)
    )
    yield from ((email, sections) for email, sections in session.execute(query))


def section_choices(session: Session) -> set[tuple[str, ...] | None]:
    """The distinct section sets active subscribers chose (None: all sections)."""
    # JSON has no equality on PostgreSQL; its text form does, and is the same for equal lists.
    query = (
        select(cast(Subscriber.sections, String))
        .where(Subscriber.status == SubscriberStatus.ACTIVE)
        .distinct()
    )
    choices = (json.loads(text) if text else None for text in session.scalars(query))
    return {tuple(sorted(c)) if c else None for c in choices}
