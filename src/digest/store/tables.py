"""Typed table definitions; the migrations under `alembic/` are the only way they are created."""

from datetime import UTC, date, datetime
from enum import StrEnum
from typing import Any, ClassVar, TypeVar, cast

from sqlalchemy import (
    JSON,
    Date,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.types import TypeDecorator

from digest.core.articles import MAX_ARTICLE_NAME, MAX_ETAG, MAX_HTTP_DATE, MAX_LINK, MAX_TITLE
from digest.core.states import Decision, DeliveryStatus, EditionStatus, SubscriberStatus

# Stable constraint names keep migrations identical on SQLite and PostgreSQL.
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class UtcDateTime(TypeDecorator[datetime]):
    """A timestamp that is always timezone-aware UTC in Python, whatever the backend stores."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError(f"naive datetime {value!r}: timestamps must be timezone-aware")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


S = TypeVar("S", bound=StrEnum)


class Status(TypeDecorator[S]):
    """A state stored as its plain string value and read back as its enum; writing a value
    the enum does not know fails before it reaches the database."""

    impl = String
    cache_ok = True

    def __init__(self, states: type[S], length: int = 16) -> None:
        super().__init__(length)
        self.states = states

    def process_bind_param(self, value: str | None, dialect: Dialect) -> str | None:
        return None if value is None else self.states(value).value

    def process_result_value(self, value: str | None, dialect: Dialect) -> S | None:
        return None if value is None else self.states(value)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map: ClassVar = {datetime: UtcDateTime, dict[str, Any]: JSON, list[str]: JSON}


class Source(Base):
    """A place articles come from: a feed URL, a file, or a named outlet."""

    __tablename__ = "sources"

    source_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    source_key: Mapped[str] = mapped_column(String(MAX_LINK), unique=True)
    kind: Mapped[str] = mapped_column(String(16))
    title: Mapped[str] = mapped_column(String(MAX_ARTICLE_NAME))
    etag: Mapped[str | None] = mapped_column(String(MAX_ETAG))
    last_modified: Mapped[str | None] = mapped_column(String(MAX_HTTP_DATE))
    # The last time it was read; when the last attempt failed since (None: it did not), and why
    # (or a note on a source read fine, such as a stale feed's).
    last_fetched_at: Mapped[datetime | None]
    failed_at: Mapped[datetime | None]
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime]


class ArticleRow(Base):
    __tablename__ = "articles"
    __table_args__ = (Index("ix_articles_published_at", "published_at"),)

    article_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    dedup_key: Mapped[str] = mapped_column(String(64), unique=True)
    source_id: Mapped[int | None] = mapped_column(ForeignKey("sources.source_id"))
    source_name: Mapped[str] = mapped_column(String(MAX_ARTICLE_NAME))
    url: Mapped[str | None] = mapped_column(String(MAX_LINK))
    guid: Mapped[str | None] = mapped_column(String(MAX_LINK))
    title: Mapped[str] = mapped_column(String(MAX_TITLE))
    author: Mapped[str | None] = mapped_column(String(MAX_ARTICLE_NAME))
    summary: Mapped[str] = mapped_column(Text, default="")
    text: Mapped[str] = mapped_column(Text)
    html: Mapped[str] = mapped_column(Text)
    original: Mapped[str] = mapped_column(Text)
    content_hash: Mapped[str] = mapped_column(String(64))
    published_at: Mapped[datetime | None]
    ingested_at: Mapped[datetime]
    updated_at: Mapped[datetime]


class ArticleVector(Base):
    """An article headline's sentence embedding, and that of the headline with its lead, kept
    so a build never computes them again. An article holds one row, from the model in use; a
    changed headline or lead loses it."""

    __tablename__ = "article_vectors"

    article_id: Mapped[int] = mapped_column(
        ForeignKey("articles.article_id", ondelete="CASCADE"), primary_key=True
    )
    model: Mapped[str] = mapped_column(String(MAX_LINK))
    # Unit length, float32, little-endian.
    vector: Mapped[bytes] = mapped_column(LargeBinary)
    # None when the article's lead only repeats its headline.
    lead_vector: Mapped[bytes | None] = mapped_column(LargeBinary)


# It goes into the To header of every message.
MAX_SUBSCRIBER_NAME = 200


class Subscriber(Base):
    __tablename__ = "subscribers"

    subscriber_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    email: Mapped[str] = mapped_column(String(320), unique=True)
    name: Mapped[str] = mapped_column(String(MAX_SUBSCRIBER_NAME), default="")
    status: Mapped[SubscriberStatus] = mapped_column(
        Status(SubscriberStatus), default=SubscriberStatus.ACTIVE
    )
    sections: Mapped[list[str] | None]
    timezone: Mapped[str | None] = mapped_column(String(64))
    send_hour: Mapped[int | None]
    secret: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]


class EditionRow(Base):
    """A frozen edition: the chosen stories and the rendered email, exactly as they will be sent."""

    __tablename__ = "editions"
    __table_args__ = (UniqueConstraint("name", "day", name="uq_editions_name_day"),)

    edition_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(100))
    day: Mapped[date] = mapped_column(Date)
    status: Mapped[EditionStatus] = mapped_column(Status(EditionStatus))
    skip_reason: Mapped[str | None] = mapped_column(Text)
    content: Mapped[dict[str, Any]]
    subject: Mapped[str] = mapped_column(String(500))
    html: Mapped[str] = mapped_column(Text)
    text: Mapped[str] = mapped_column(Text)
    built_at: Mapped[datetime]
    # Who approved exactly this content, when `[edition] require_approval` is on; a rebuild
    # clears it.
    approved_at: Mapped[datetime | None]
    approved_by: Mapped[str | None] = mapped_column(String(200))


class EditionOverride(Base):
    """An editor's decision on one article for one edition (pin, drop, or move to a section),
    and its place in its section if the editor set one; applied at every (re)build."""

    __tablename__ = "edition_overrides"
    __table_args__ = (
        UniqueConstraint("name", "day", "article_id", name="uq_edition_overrides_article"),
    )

    override_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(100))
    day: Mapped[date] = mapped_column(Date)
    article_id: Mapped[int] = mapped_column(ForeignKey("articles.article_id"))
    action: Mapped[Decision] = mapped_column(Status(Decision, 8))
    section: Mapped[str | None] = mapped_column(String(100))
    note: Mapped[str] = mapped_column(Text, default="")
    position: Mapped[int | None]
    created_at: Mapped[datetime]


class EditionEvent(Base):
    """What an editor did to an edition, and who and when: the record kept for every pin,
    drop, move, reorder, rebuild, test copy and approval."""

    __tablename__ = "edition_events"
    __table_args__ = (Index("ix_edition_events_name_day", "name", "day"),)

    event_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(100))
    day: Mapped[date] = mapped_column(Date)
    at: Mapped[datetime]
    actor: Mapped[str] = mapped_column(String(200))
    action: Mapped[str] = mapped_column(String(16))
    article_id: Mapped[int | None]
    detail: Mapped[str] = mapped_column(Text, default="")


class Delivery(Base):
    """One message of one edition to one subscriber: the ledger that prevents double sends.

    Its states are `DeliveryStatus`; every state but sent, pending, queued and sending
    carries a reason.
    """

    __tablename__ = "deliveries"
    __table_args__ = (
        UniqueConstraint("edition_id", "subscriber_id", name="uq_deliveries_edition_subscriber"),
        Index("ix_deliveries_edition_status", "edition_id", "status"),
    )

    delivery_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    edition_id: Mapped[int] = mapped_column(ForeignKey("editions.edition_id"))
    subscriber_id: Mapped[int] = mapped_column(ForeignKey("subscribers.subscriber_id"))
    status: Mapped[DeliveryStatus] = mapped_column(
        Status(DeliveryStatus), default=DeliveryStatus.PENDING
    )
    message_id: Mapped[str] = mapped_column(String(320))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    ambiguous_count: Mapped[int] = mapped_column(Integer, default=0)
    local_failures: Mapped[int] = mapped_column(Integer, default=0)
    smtp_code: Mapped[int | None]
    reason: Mapped[str | None] = mapped_column(Text)
    lease_owner: Mapped[str | None] = mapped_column(String(200))
    # The sender that recorded the last outcome: per-worker progress in `digest status`.
    handled_by: Mapped[str | None] = mapped_column(String(200))
    lease_expires_at: Mapped[datetime | None]
    # Set when the sender starts handing the message to the server, cleared with the outcome:
    # a row taken over while it is set may already be in the reader's mailbox.
    in_flight_since: Mapped[datetime | None]
    next_attempt_at: Mapped[datetime | None]
    first_attempt_at: Mapped[datetime | None]
    # Not before this instant: the subscriber's local send hour (NULL: as soon as sending starts).
    release_at: Mapped[datetime | None]
    created_at: Mapped[datetime]
    sent_at: Mapped[datetime | None]


class SenderLease(Base):
    """Who may send right now: one row, held by one daemon until its expiry, renewed while it
    lives. A standby takes it over only once it has expired."""

    __tablename__ = "sender_lease"

    name: Mapped[str] = mapped_column(String(32), primary_key=True)
    owner: Mapped[str] = mapped_column(String(200))
    acquired_at: Mapped[datetime]
    expires_at: Mapped[datetime]


def core_table(model: type[Base]) -> Table:
    """A model's table, for Core statements that skip the ORM's bookkeeping: those built once
    and run per message, or per thousand rows."""
    return cast(Table, model.__table__)
