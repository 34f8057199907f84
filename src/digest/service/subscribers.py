"""Managing subscribers: one set of checks for the commands and the CSV import, then the store.

An address once unsubscribed stays so until someone changes its status explicitly: adding or
importing it again keeps the opt-out, because sending to it would break the promise the
unsubscribe link made.
"""

import csv
import re
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from enum import Enum
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from email_validator import EmailNotValidError, validate_email
from sqlalchemy.orm import Session

from digest.core.text import one_line
from digest.errors import SubscriberError
from digest.service.app import App
from digest.store.subscribers import (
    Profile,
    add_subscriber,
    delete_subscriber,
    delivery_count,
    find_subscriber,
    insert_subscribers,
    known_by_email,
    update_profiles,
)
from digest.store.tables import Subscriber

STATUSES = ("pending", "active", "unsubscribed", "bounced")
NEW_STATUSES = ("pending", "active")  # what `add` and `import` may give a new address
OPTED_OUT = ("unsubscribed", "bounced")
CSV_COLUMNS = ("email", "name", "sections", "timezone", "send_hour")
MAX_NAME = 200  # the column's width
# Rows validated per database round trip: one lookup of known addresses, one executemany.
CHUNK = 1000
_SECTION_SEPARATORS = re.compile(r"[;|\s]+")


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
    status: str = "active"


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
    previous_status: str


@dataclass(slots=True)
class ImportReport:
    source: str
    added: int = 0
    updated: int = 0
    unchanged: int = 0
    # Rows of the file whose address had unsubscribed or bounced: kept so.
    opted_out: int = 0
    rejected: list[str] = field(default_factory=list)


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


def _name(name: str) -> str:
    cleaned = one_line(name)  # the name goes into the To header
    if len(cleaned) > MAX_NAME:
        raise FieldError("name", f"longer than {MAX_NAME} characters")
    return cleaned


def _sections(configured: Sequence[str], keys: Iterable[str] | None) -> list[str] | None:
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


def _timezone(name: str | None) -> str | None:
    if name is None or not name.strip():
        return None
    name = name.strip()
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):  # OSError: a folder such as 'Europe'
        raise FieldError("timezone", f"unknown timezone {name!r}") from None
    return name


def _send_hour(hour: int | None) -> int | None:
    if hour is not None and not 0 <= hour <= 23:
        raise FieldError("send_hour", f"send hour {hour} is not between 0 and 23")
    return hour


def _send_hour_text(text: str) -> int | None:
    hour = text.strip()
    if not hour:
        return None
    if not (hour.isascii() and hour.isdigit()):  # int() would also take '1_0' or '٣'
        raise FieldError("send_hour", f"expected a whole hour from 0 to 23, got {text!r}")
    return _send_hour(int(hour))


def _status(status: str, allowed: Sequence[str]) -> str:
    if status not in allowed:
        raise FieldError("status", f"unknown status {status!r}; expected {', '.join(allowed)}")
    return status


def _section_keys(app: App) -> list[str]:
    return [section.key for section in app.settings.sections]


# One subscriber at a time.


def subscribe(
    app: App,
    email: str,
    name: str = "",
    sections: list[str] | None = None,
    *,
    status: str = "active",
    timezone: str | None = None,
    send_hour: int | None = None,
) -> Added:
    """Add a subscriber, or report that the address is already known and leave it as it is."""
    address = normalise_address(email)
    profile = Profile(
        _name(name),
        _sections(_section_keys(app), sections),
        _timezone(timezone),
        _send_hour(send_hour),
    )
    status = _status(status, NEW_STATUSES)
    with app.transaction() as session:
        subscriber, created = add_subscriber(
            session,
            address,
            profile.name,
            profile.sections,
            app.now(),
            status=status,
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
        wanted["name"] = _name(name)
    if not isinstance(sections, Keep):
        wanted["sections"] = _sections(_section_keys(app), sections)
    if not isinstance(timezone, Keep):
        wanted["timezone"] = _timezone(timezone)
    if not isinstance(send_hour, Keep):
        wanted["send_hour"] = _send_hour(send_hour)
    if not isinstance(status, Keep):
        wanted["status"] = _status(status, STATUSES)
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
        if previous != "unsubscribed":
            subscriber.status, subscriber.updated_at = "unsubscribed", app.now()
        return Removed(subscriber.subscriber_id, subscriber.email, previous)


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


def import_csv(app: App, path: str | Path, status: str = "active") -> ImportReport:
    """Add or update every valid row of a CSV file; each bad row is reported and skipped.

    The file is streamed and written in chunks (one lookup and one executemany per chunk), all
    in one transaction: a file that cannot be read to its end changes nothing. Known addresses
    get the columns the file has; their status, and columns the file lacks, stay as they are.
    """
    status = _status(status, NEW_STATUSES)
    report = ImportReport(str(path))
    configured = _section_keys(app)
    try:
        with Path(path).open("rb") as handle, app.transaction() as session:
            lines = _text_lines(handle, report.source)
            _import_records(session, lines, configured, status, app.now(), report)
    except OSError as exc:  # opening or reading the file; database errors are not OSErrors
        raise SubscriberError(f"{report.source}: cannot read: {exc.strerror}") from None
    return report


def _import_records(
    session: Session,
    lines: Iterable[str],
    configured: Sequence[str],
    status: str,
    now: datetime,
    report: ImportReport,
) -> None:
    where = report.source
    records = _records(lines, where)
    columns = _columns(where, next(records, None))
    first_line: dict[str, int] = {}  # address -> line, to refuse an address given twice
    chunk: list[tuple[str, Profile]] = []
    for line, cells in records:
        try:
            address, profile = _row(columns, cells, configured)
            if address in first_line:
                raise FieldError("email", f"{address} is already on line {first_line[address]}")
        except FieldError as exc:
            report.rejected.append(f"{where}: line {line}: field '{exc.field}': {exc}")
            continue
        except SubscriberError as exc:
            report.rejected.append(f"{where}: line {line}: {exc}")
            continue
        first_line[address] = line
        chunk.append((address, profile))
        if len(chunk) == CHUNK:
            _store_chunk(session, chunk, columns, status, now, report)
            chunk = []
    _store_chunk(session, chunk, columns, status, now, report)


def _text_lines(handle: Iterable[bytes], where: str) -> Iterator[str]:
    """Lines decoded one by one, so a byte that is not UTF-8 is reported on its own line."""
    for number, raw in enumerate(handle, 1):
        try:
            yield raw.decode("utf-8-sig" if number == 1 else "utf-8")
        except UnicodeDecodeError as exc:
            raise SubscriberError(
                f"{where}: line {number}: not UTF-8 text (byte {exc.start + 1}); nothing imported"
            ) from None


def _records(lines: Iterable[str], where: str) -> Iterator[tuple[int, list[str]]]:
    """Non-blank CSV records with the line each starts on (a quoted field may span lines)."""
    reader = csv.reader(lines)
    last = 0
    try:
        for cells in reader:
            if any(cell.strip() for cell in cells):
                yield last + 1, cells
            last = reader.line_num
    except csv.Error as exc:
        raise SubscriberError(f"{where}: line {reader.line_num}: {exc}; nothing imported") from None


def _columns(where: str, header: tuple[int, list[str]] | None) -> list[str]:
    expected = ", ".join(CSV_COLUMNS)
    if header is None:
        raise SubscriberError(f"{where}: empty file; expected a header row: {expected}")
    line, cells = header
    columns = [cell.strip().lower() for cell in cells]
    unknown = [
        cell.strip() for cell, name in zip(cells, columns, strict=True) if name not in CSV_COLUMNS
    ]
    if unknown:
        names = ", ".join(repr(name) for name in unknown)
        raise SubscriberError(
            f"{where}: line {line}: unknown column(s) {names}; expected {expected}"
        )
    repeated = sorted({name for name in columns if columns.count(name) > 1})
    if repeated:
        raise SubscriberError(f"{where}: line {line}: column(s) given twice: {', '.join(repeated)}")
    if "email" not in columns:
        raise SubscriberError(f"{where}: line {line}: no 'email' column; expected {expected}")
    return columns


def _row(columns: list[str], cells: list[str], configured: Sequence[str]) -> tuple[str, Profile]:
    """One record's address and choices; a short record leaves its last columns empty."""
    if len(cells) > len(columns):
        raise SubscriberError(f"{len(cells)} fields, but the header names {len(columns)}")
    values = dict(zip(columns, cells, strict=False))
    email = values.get("email", "").strip()
    if not email:
        raise FieldError("email", "missing")
    address = normalise_address(email)
    profile = Profile(
        _name(values.get("name", "")),
        _sections(configured, _SECTION_SEPARATORS.split(values.get("sections", ""))),
        _timezone(values.get("timezone")),
        _send_hour_text(values.get("send_hour", "")),
    )
    return address, profile


def _store_chunk(
    session: Session,
    chunk: list[tuple[str, Profile]],
    columns: list[str],
    status: str,
    now: datetime,
    report: ImportReport,
) -> None:
    """Sort a chunk into new, changed and unchanged addresses and write the first two in bulk."""
    if not chunk:
        return
    known = known_by_email(session, [address for address, _ in chunk])
    given = [name for name in columns if name != "email"]
    new: list[tuple[str, Profile]] = []
    changed: list[tuple[int, Profile]] = []
    for address, profile in chunk:
        found = known.get(address)
        if found is None:
            new.append((address, profile))
            continue
        if found.status in OPTED_OUT:
            report.opted_out += 1
        merged = replace(found.profile, **{name: getattr(profile, name) for name in given})
        if merged == found.profile:
            report.unchanged += 1
        else:
            changed.append((found.subscriber_id, merged))
    insert_subscribers(session, new, status, now)
    update_profiles(session, changed, now)
    report.added += len(new)
    report.updated += len(changed)
