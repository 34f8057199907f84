"""The sender lease: at most one daemon sends at a time, whatever the scheduler thinks.

A plain row with an owner and an expiry works the same on SQLite (writes are serialised) and
PostgreSQL (the conditional UPDATE is atomic): whoever's UPDATE matches holds it.
"""

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from digest.store.db import changed
from digest.store.tables import SenderLease

NAME = "sender"


@dataclass(frozen=True, slots=True)
class Holder:
    owner: str
    acquired_at: datetime
    expires_at: datetime


def acquire(session: Session, owner: str, now: datetime, ttl: timedelta) -> bool:
    """Renew the lease, or take it over once expired; True if `owner` holds it until now + ttl."""
    renewed = changed(
        session,
        update(SenderLease)
        .where(SenderLease.name == NAME, SenderLease.owner == owner)
        .values(expires_at=now + ttl)
        .execution_options(synchronize_session=False),
    )
    if renewed == 1:
        return True
    taken = changed(
        session,
        update(SenderLease)
        .where(SenderLease.name == NAME, SenderLease.expires_at < now)
        .values(owner=owner, acquired_at=now, expires_at=now + ttl)
        .execution_options(synchronize_session=False),
    )
    if taken == 1:
        return True
    if session.get(SenderLease, NAME) is not None:
        return False
    try:
        with session.begin_nested():
            session.add(SenderLease(name=NAME, owner=owner, acquired_at=now, expires_at=now + ttl))
    except IntegrityError:
        return False  # another daemon created it first
    return True


def release(session: Session, owner: str, now: datetime) -> None:
    """Give the lease up at once (a clean shutdown), so a standby need not wait it out."""
    session.execute(
        update(SenderLease)
        .where(SenderLease.name == NAME, SenderLease.owner == owner)
        .values(expires_at=now)
        .execution_options(synchronize_session=False)
    )


def holder(session: Session) -> Holder | None:
    row = session.scalar(select(SenderLease).where(SenderLease.name == NAME))
    return Holder(row.owner, row.acquired_at, row.expires_at) if row else None
