"""Frozen editions and the delivery ledger."""

from collections.abc import Callable, Sequence
from datetime import date, datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from digest.store.tables import Delivery, EditionOverride, EditionRow, Subscriber


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


def has_deliveries(session: Session, edition_id: int) -> bool:
    query = select(func.count()).select_from(Delivery).where(Delivery.edition_id == edition_id)
    return bool(session.scalar(query))


def materialise_deliveries(
    session: Session,
    edition: EditionRow,
    subscribers: Sequence[Subscriber],
    message_id_for: Callable[[EditionRow, Subscriber], str],
    now: datetime,
) -> int:
    """One pending delivery per (edition, subscriber) not yet in the ledger; returns how many."""
    known = set(
        session.scalars(
            select(Delivery.subscriber_id).where(Delivery.edition_id == edition.edition_id)
        )
    )
    added = 0
    for subscriber in subscribers:
        if subscriber.subscriber_id in known:
            continue
        session.add(
            Delivery(
                edition_id=edition.edition_id,
                subscriber_id=subscriber.subscriber_id,
                status="pending",
                message_id=message_id_for(edition, subscriber),
                attempts=0,
                created_at=now,
            )
        )
        added += 1
    session.flush()
    return added


def unfinished_deliveries(
    session: Session, edition_id: int
) -> Sequence[tuple[Delivery, Subscriber]]:
    query = (
        select(Delivery, Subscriber)
        .join(Subscriber, Subscriber.subscriber_id == Delivery.subscriber_id)
        .where(Delivery.edition_id == edition_id, Delivery.status.in_(("pending", "deferred")))
        .order_by(Delivery.delivery_id)
    )
    return [(d, s) for d, s in session.execute(query)]


def delivery_counts(session: Session, edition_id: int) -> dict[str, int]:
    query = (
        select(Delivery.status, func.count())
        .where(Delivery.edition_id == edition_id)
        .group_by(Delivery.status)
    )
    return {status: count for status, count in session.execute(query)}
