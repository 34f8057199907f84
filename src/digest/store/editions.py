"""Frozen editions, editors' decisions on them, and the record of what editors did.

Editions go upstairs as `StoredEdition` values, never as rows: what an edition says can only
change through the functions here.
"""

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session

from digest.core.edition import Edition, EditionKey
from digest.core.states import PUBLISHED_EDITIONS, Decision, EditionStatus
from digest.store.db import changed
from digest.store.tables import EditionEvent, EditionOverride, EditionRow


@dataclass(frozen=True, slots=True)
class StoredEdition:
    """An edition as stored: the chosen stories (`content`, the JSON form of an `Edition`) and
    the rendered email, exactly as they go out."""

    edition_id: int
    key: EditionKey
    status: EditionStatus
    skip_reason: str | None
    content: Mapping[str, Any]
    subject: str
    html: str
    text: str
    built_at: datetime
    # Who approved exactly this content, when approval is required; a rebuild clears it.
    approved_at: datetime | None
    approved_by: str | None

    @property
    def name(self) -> str:
        return self.key.name

    @property
    def day(self) -> date:
        return self.key.day

    def edition(self) -> Edition:
        return Edition.from_dict(self.content)


def _stored(row: EditionRow) -> StoredEdition:
    return StoredEdition(
        row.edition_id,
        EditionKey(row.name, row.day),
        row.status,
        row.skip_reason,
        row.content,
        row.subject,
        row.html,
        row.text,
        row.built_at,
        row.approved_at,
        row.approved_by,
    )


def _row(session: Session, key: EditionKey) -> EditionRow | None:
    query = select(EditionRow).where(EditionRow.name == key.name, EditionRow.day == key.day)
    return session.scalar(query)


def find_edition(session: Session, key: EditionKey) -> StoredEdition | None:
    row = _row(session, key)
    return None if row is None else _stored(row)


def get_edition(session: Session, edition_id: int) -> StoredEdition | None:
    row = session.get(EditionRow, edition_id)
    return None if row is None else _stored(row)


def save_edition(
    session: Session,
    key: EditionKey,
    status: EditionStatus,
    content: Mapping[str, Any],
    now: datetime,
    *,
    subject: str = "",
    html: str = "",
    text: str = "",
    skip_reason: str | None = None,
) -> StoredEdition:
    """Store the edition of `key`, replacing what was built before. An approval covers the
    content that was looked at, not whatever a rebuild makes, so it is cleared."""
    row = _row(session, key)
    if row is None:
        row = EditionRow(name=key.name, day=key.day)
        session.add(row)
    row.status, row.content, row.skip_reason, row.built_at = status, dict(content), skip_reason, now
    row.subject, row.html, row.text = subject, html, text
    row.approved_at = row.approved_by = None
    session.flush()
    return _stored(row)


def set_status(session: Session, edition_id: int, status: EditionStatus) -> None:
    session.execute(
        update(EditionRow).where(EditionRow.edition_id == edition_id).values(status=status)
    )


def approve_edition(
    session: Session, edition_id: int, actor: str, now: datetime
) -> StoredEdition | None:
    """Record `actor`'s approval of the edition as it is now, unless it has one: the edition
    as approved, or None when it was approved already."""
    row = session.get(EditionRow, edition_id)
    if row is None or row.approved_at is not None:
        return None
    row.approved_at, row.approved_by = now, actor
    session.flush()
    return _stored(row)


def overrides_for(session: Session, name: str, day: date) -> Sequence[EditionOverride]:
    query = select(EditionOverride).where(EditionOverride.name == name, EditionOverride.day == day)
    return session.scalars(query.order_by(EditionOverride.override_id)).all()


def set_override(
    session: Session,
    name: str,
    day: date,
    article_id: int,
    action: Decision,
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
        override = EditionOverride(name=name, day=day, article_id=article_id, action=Decision.MOVE)
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
    return bool(changed(session, query))


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


def list_editions(session: Session) -> list[StoredEdition]:
    query = select(EditionRow).order_by(EditionRow.day.desc(), EditionRow.name)
    return [_stored(row) for row in session.scalars(query)]


def recent_editions(
    session: Session, name: str, status: EditionStatus, days: int = 3
) -> list[StoredEdition]:
    """The last few editions in `status`, newest first."""
    query = (
        select(EditionRow)
        .where(EditionRow.name == name, EditionRow.status == status)
        .order_by(EditionRow.day.desc())
        .limit(days)
    )
    return [_stored(row) for row in session.scalars(query)]


def editions_sending(session: Session) -> list[int]:
    """The ids of every edition whose deliveries are under way."""
    query = select(EditionRow.edition_id).where(EditionRow.status == EditionStatus.SENDING)
    return list(session.scalars(query))


def sent_editions(session: Session, limit: int) -> list[StoredEdition]:
    """Editions that went out (or are going out), newest first: the public archive."""
    query = (
        select(EditionRow)
        .where(EditionRow.status.in_(PUBLISHED_EDITIONS))
        .order_by(EditionRow.day.desc(), EditionRow.name)
        .limit(limit)
    )
    return [_stored(row) for row in session.scalars(query)]
