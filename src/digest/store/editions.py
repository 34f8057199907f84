"""Frozen editions, editors' decisions on them, and the record of what editors did."""

from collections.abc import Sequence
from datetime import date, datetime

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from digest.core.states import PUBLISHED_EDITIONS, EditionStatus
from digest.store.tables import EditionEvent, EditionOverride, EditionRow


def find_edition(session: Session, name: str, day: date) -> EditionRow | None:
    return session.scalar(select(EditionRow).where(EditionRow.name == name, EditionRow.day == day))


def overrides_for(session: Session, name: str, day: date) -> Sequence[EditionOverride]:
    query = select(EditionOverride).where(EditionOverride.name == name, EditionOverride.day == day)
    return session.scalars(query.order_by(EditionOverride.override_id)).all()


def set_override(
    session: Session,
    name: str,
    day: date,
    article_id: int,
    action: str,
    section: str | None,
    note: str,
    now: datetime,
) -> EditionOverride:
    """Record an editor's decision for an article; a later decision replaces an earlier one
    (a place the editor gave it in its section stays)."""
    override = _override(session, name, day, article_id)
    if override is None:
        override = EditionOverride(name=name, day=day, article_id=article_id)
        session.add(override)
    override.action, override.section, override.note = action, section, note
    override.created_at = now
    session.flush()
    return override


def set_position(
    session: Session, name: str, day: date, article_id: int, position: int, now: datetime
) -> None:
    """Give an article a place in its section, keeping any other decision on it."""
    override = _override(session, name, day, article_id)
    if override is None:
        override = EditionOverride(name=name, day=day, article_id=article_id, action="move")
        override.section, override.note = None, ""
        session.add(override)
    override.position, override.created_at = position, now
    session.flush()


def clear_override(session: Session, name: str, day: date, article_id: int) -> bool:
    """Forget every decision on an article; whether there was one."""
    query = delete(EditionOverride).where(
        EditionOverride.name == name,
        EditionOverride.day == day,
        EditionOverride.article_id == article_id,
    )
    return bool(session.execute(query).rowcount)


def _override(session: Session, name: str, day: date, article_id: int) -> EditionOverride | None:
    query = select(EditionOverride).where(
        EditionOverride.name == name,
        EditionOverride.day == day,
        EditionOverride.article_id == article_id,
    )
    return session.scalar(query)


def record_event(
    session: Session,
    name: str,
    day: date,
    now: datetime,
    actor: str,
    action: str,
    detail: str,
    article_id: int | None = None,
) -> None:
    session.add(
        EditionEvent(
            name=name,
            day=day,
            at=now,
            actor=actor,
            action=action,
            article_id=article_id,
            detail=detail,
        )
    )


def events_for(session: Session, name: str, day: date) -> Sequence[EditionEvent]:
    """What editors did to an edition, newest first."""
    query = select(EditionEvent).where(EditionEvent.name == name, EditionEvent.day == day)
    return session.scalars(query.order_by(EditionEvent.event_id.desc())).all()


def list_editions(session: Session) -> Sequence[EditionRow]:
    query = select(EditionRow).order_by(EditionRow.day.desc(), EditionRow.name)
    return session.scalars(query).all()


def recent_editions(
    session: Session, name: str, status: EditionStatus, days: int = 3
) -> Sequence[EditionRow]:
    """The last few editions in `status`, newest first."""
    query = (
        select(EditionRow)
        .where(EditionRow.name == name, EditionRow.status == status)
        .order_by(EditionRow.day.desc())
        .limit(days)
    )
    return session.scalars(query).all()


def editions_sending(session: Session) -> list[int]:
    """The ids of every edition whose deliveries are under way."""
    query = select(EditionRow.edition_id).where(EditionRow.status == EditionStatus.SENDING)
    return list(session.scalars(query))


def sent_editions(session: Session, limit: int) -> Sequence[EditionRow]:
    """Editions that went out (or are going out), newest first: the public archive."""
    query = (
        select(EditionRow)
        .where(EditionRow.status.in_(PUBLISHED_EDITIONS))
        .order_by(EditionRow.day.desc(), EditionRow.name)
        .limit(limit)
    )
    return session.scalars(query).all()
