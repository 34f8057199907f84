"""Subscribers: who receives the digest, and with which sections."""

import secrets
from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from digest.store.tables import Subscriber


def add_subscriber(
    session: Session, email: str, name: str, sections: list[str] | None, now: datetime
) -> tuple[Subscriber, bool]:
    """The subscriber with `email`, created active if new; the flag says whether it was created."""
    existing = session.scalar(select(Subscriber).where(Subscriber.email == email))
    if existing is not None:
        return existing, False
    subscriber = Subscriber(
        email=email,
        name=name,
        status="active",
        sections=sections,
        secret=secrets.token_hex(32),
        created_at=now,
        updated_at=now,
    )
    session.add(subscriber)
    session.flush()
    return subscriber, True


def active_subscribers(session: Session) -> Sequence[Subscriber]:
    query = select(Subscriber).where(Subscriber.status == "active")
    return session.scalars(query.order_by(Subscriber.subscriber_id)).all()


def list_subscribers(session: Session) -> Sequence[Subscriber]:
    return session.scalars(select(Subscriber).order_by(Subscriber.subscriber_id)).all()
