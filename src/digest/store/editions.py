"""Frozen editions and the delivery ledger."""

from collections.abc import Sequence
from datetime import date, datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from digest.store.tables import EditionOverride, EditionRow


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
    """Record an editor's decision for an article; a later decision replaces an earlier one."""
    query = select(EditionOverride).where(
        EditionOverride.name == name,
        EditionOverride.day == day,
        EditionOverride.article_id == article_id,
    )
    override = session.scalar(query)
    if override is None:
        override = EditionOverride(name=name, day=day, article_id=article_id)
        session.add(override)
    override.action, override.section, override.note = action, section, note
    override.created_at = now
    session.flush()
    return override


def list_editions(session: Session) -> Sequence[EditionRow]:
    query = select(EditionRow).order_by(EditionRow.day.desc(), EditionRow.name)
    return session.scalars(query).all()


def recent_editions(
    session: Session, name: str, status: str, days: int = 3
) -> Sequence[EditionRow]:
    """The last few editions in `status`, newest first."""
    query = (
        select(EditionRow)
        .where(EditionRow.name == name, EditionRow.status == status)
        .order_by(EditionRow.day.desc())
        .limit(days)
    )
    return session.scalars(query).all()
