"""Managing subscribers: one set of checks for the commands and the CSV import, then the store.

An address once unsubscribed stays so until someone changes its status explicitly: adding or
importing it again keeps the opt-out, because sending to it would break the promise the
unsubscribe link made.
"""

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from enum import Enum
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from email_validator import EmailNotValidError, validate_email
from sqlalchemy.orm import Session

from digest.core.links import token_subscriber, verify_token
from digest.core.states import NEW_SUBSCRIBER_STATUSES, SubscriberStatus
from digest.core.text import one_line
from digest.errors import SubscriberError
from digest.service.app import App
from digest.store.subscribers import (
    Profile,
    add_subscriber,
    delete_subscriber,
    delivery_count,
    find_subscriber,
    list_subscribers,
)
from digest.store.tables import MAX_SUBSCRIBER_NAME, Subscriber

# Rows validated per database round trip: one lookup of known addresses, one executemany.


class Keep(Enum):
    """Marks an `update` argument that was not given, as opposed to `None` (back to default)."""

    KEEP = "keep"


KEEP = Keep.KEEP


class FieldError(SubscriberError):
    """A value that failed its check, with the field it belongs to (a CSV column)."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


@dataclass(frozen=True, slots=True)
class Added:
    subscriber_id: int
    email: str
    created: bool
    status: SubscriberStatus = SubscriberStatus.ACTIVE


@dataclass(frozen=True, slots=True)
class Listed:
    """A subscriber as `subscribers list` shows them."""

    subscriber_id: int
    email: str
    name: str
    status: SubscriberStatus
    sections: list[str] | None
    timezone: str | None
    send_hour: int | None


@dataclass(frozen=True, slots=True)
class Change:
    field: str
    before: Any
    after: Any


@dataclass(frozen=True, slots=True)
class Updated:
    subscriber_id: int
    email: str
    changes: tuple[Change, ...]


@dataclass(frozen=True, slots=True)
class Removed:
    subscriber_id: int
    email: str
    previous_status: SubscriberStatus


@dataclass(frozen=True, slots=True)
class LinkedSubscriber:
    """The subscriber a link in their email names, as the page it opens shows them; `secret`
    signs the other links that page offers."""

    subscriber_id: int
    email: str
    status: SubscriberStatus
    sections: tuple[str, ...] | None
    timezone: str | None
    send_hour: int | None
    secret: str


# Checks, each raising FieldError with a one-line message.


def normalise_address(email: str) -> str:
    """The address as stored: validated, in Unicode form, and lower-cased whole. Mailbox names
    are case-blind at every provider that matters, so "Ada@" and "ada@" are one subscriber (and
    one opt-out). Addresses that need SMTPUTF8 are accepted; the SMTP transport checks that
    the server supports it."""
    try:
        checked = validate_email(email.strip(), check_deliverability=False, allow_smtputf8=True)
    except EmailNotValidError as exc:
        raise FieldError("email", f"{email!r} is not a valid address: {exc}") from None
    return checked.normalized.lower()


def check_name(name: str) -> str:
    cleaned = one_line(name)  # the name goes into the To header
    if len(cleaned) > MAX_SUBSCRIBER_NAME:
        raise FieldError("name", f"longer than {MAX_SUBSCRIBER_NAME} characters")
    return cleaned


def check_sections(configured: Sequence[str], keys: Iterable[str] | None) -> list[str] | None:
    """Chosen keys in the order of the email; none chosen means all sections, present and
    future."""
    chosen = {key.strip().lower() for key in keys or () if key.strip()}
    unknown = sorted(chosen - set(configured))
    if unknown:
        raise FieldError(
            "sections",
            f"unknown section(s) {', '.join(map(one_line, unknown))}; "
            f"configured: {', '.join(sorted(configured))}",
        )
    return [key for key in configured if key in chosen] or None


def check_timezone(name: str | None) -> str | None:
    if name is None or not name.strip():
        return None
    name = name.strip()
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):  # OSError: a folder such as 'Europe'
        raise FieldError("timezone", f"unknown timezone {name!r}") from None
    return name


def check_send_hour(hour: int | None) -> int | None:
    if hour is not None and not 0 <= hour <= 23:
        raise FieldError("send_hour", f"send hour {hour} is not between 0 and 23")
    return hour


def send_hour_from_text(text: str) -> int | None:
    """A send hour as a form or a file gives it; blank is none (the edition's)."""
    hour = text.strip()
    if not hour:
        return None
    if not (hour.isascii() and hour.isdigit()):  # int() would also take '1_0' or '٣'
        raise FieldError("send_hour", f"expected a whole hour from 0 to 23, got {text!r}")
    return check_send_hour(int(hour))


def check_status(status: str, allowed: Sequence[SubscriberStatus]) -> SubscriberStatus:
    if status not in allowed:
        raise FieldError("status", f"unknown status {status!r}; expected {', '.join(allowed)}")
    return SubscriberStatus(status)


def section_keys(app: App) -> list[str]:
    return [section.key for section in app.settings.sections]


# One subscriber at a time.


def subscribe(
    app: App,
    email: str,
    name: str = "",
    sections: list[str] | None = None,
    *,
    status: str = SubscriberStatus.ACTIVE,
    timezone: str | None = None,
    send_hour: int | None = None,
) -> Added:
    """Add a subscriber, or report that the address is already known and leave it as it is."""
    address = normalise_address(email)
    profile = Profile(
        check_name(name),
        check_sections(section_keys(app), sections),
        check_timezone(timezone),
        check_send_hour(send_hour),
    )
    new_status = check_status(status, NEW_SUBSCRIBER_STATUSES)
    with app.transaction() as session:
        subscriber, created = add_subscriber(
            session,
            address,
            profile.name,
            profile.sections,
            app.now(),
            status=new_status,
            timezone=profile.timezone,
            send_hour=profile.send_hour,
        )
        return Added(subscriber.subscriber_id, subscriber.email, created, subscriber.status)


def update(
    app: App,
    email: str,
    *,
    name: str | Keep = KEEP,
    sections: Sequence[str] | Keep | None = KEEP,
    timezone: str | Keep | None = KEEP,
    send_hour: int | Keep | None = KEEP,
    status: str | Keep = KEEP,
) -> Updated:
    """Change what is given; `None` returns a choice to its default (all sections, the
    edition's timezone and send time). Setting the status to active is how an address that
    unsubscribed is taken back, on its owner's request."""
    wanted: dict[str, Any] = {}
    if not isinstance(name, Keep):
        wanted["name"] = check_name(name)
    if not isinstance(sections, Keep):
        wanted["sections"] = check_sections(section_keys(app), sections)
    if not isinstance(timezone, Keep):
        wanted["timezone"] = check_timezone(timezone)
    if not isinstance(send_hour, Keep):
        wanted["send_hour"] = check_send_hour(send_hour)
    if not isinstance(status, Keep):
        wanted["status"] = check_status(status, tuple(SubscriberStatus))
    with app.transaction() as session:
        subscriber = _known(session, email)
        changes = tuple(
            Change(key, getattr(subscriber, key), value)
            for key, value in wanted.items()
            if getattr(subscriber, key) != value
        )
        for change in changes:
            setattr(subscriber, change.field, change.after)
        if changes:
            subscriber.updated_at = app.now()
        return Updated(subscriber.subscriber_id, subscriber.email, changes)


def unsubscribe(app: App, email: str) -> Removed:
    """Mark the address unsubscribed. The row stays: past deliveries point at it, and it is
    how the opt-out is remembered."""
    with app.transaction() as session:
        subscriber = _known(session, email)
        previous = subscriber.status
        if previous != SubscriberStatus.UNSUBSCRIBED:
            subscriber.status, subscriber.updated_at = SubscriberStatus.UNSUBSCRIBED, app.now()
        return Removed(subscriber.subscriber_id, subscriber.email, previous)


def listing(app: App, status: str | None = None) -> list[Listed]:
    """Every subscriber (in `status` only, if given), oldest first."""
    wanted = None if status is None else check_status(status, tuple(SubscriberStatus))
    with app.transaction() as session:
        return [
            Listed(s.subscriber_id, s.email, s.name, s.status, s.sections, s.timezone, s.send_hour)
            for s in list_subscribers(session, wanted)
        ]


def purge(app: App, email: str) -> Removed:
    """Delete the row, for an address that was never sent anything (a typo, a test). One with
    deliveries is refused: the ledger must keep saying who got what."""
    with app.transaction() as session:
        subscriber = _known(session, email)
        sent = delivery_count(session, subscriber.subscriber_id)
        if sent:
            raise SubscriberError(
                f"cannot purge {subscriber.email}: the delivery ledger records {sent} "
                "message(s) to it; remove it without --purge to keep it as unsubscribed"
            )
        removed = Removed(subscriber.subscriber_id, subscriber.email, subscriber.status)
        delete_subscriber(session, subscriber)
        return removed


def linked_subscriber(app: App, purpose: str, token: str) -> LinkedSubscriber | None:
    """The subscriber `token` names, if it is signed for `purpose` with their own secret under
    the site's; None for any other token, so that a forged link reveals no more than one that
    never existed."""
    subscriber_id = token_subscriber(token)
    if subscriber_id is None:
        return None
    site = app.settings.web.link_secret.get_secret_value()
    with app.transaction() as session:
        found = session.get(Subscriber, subscriber_id)
        if found is None or not verify_token(found.secret, purpose, token, site_secret=site):
            return None
        return LinkedSubscriber(
            found.subscriber_id,
            found.email,
            found.status,
            tuple(found.sections) if found.sections is not None else None,
            found.timezone,
            found.send_hour,
            found.secret,
        )


def _known(session: Session, email: str) -> Subscriber:
    try:
        address = normalise_address(email)
    except FieldError:
        address = email.strip()
    subscriber = find_subscriber(session, address)
    if subscriber is None:
        raise SubscriberError(f"no subscriber with address {email!r}")
    return subscriber


# A whole file at a time.
