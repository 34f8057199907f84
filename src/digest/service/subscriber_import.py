"""Importing subscribers from CSV: every row checked, bad rows reported with their line and
field, good rows written in bulk (a lookup, an insert and an update per chunk of rows).

Columns: email (required), name, sections, timezone, send_hour. A column missing from the
file leaves that value alone for addresses already known; an empty cell resets it.
"""

import csv
import re
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from pathlib import Path

from sqlalchemy.orm import Session

from digest.core.states import NEW_SUBSCRIBER_STATUSES, OPTED_OUT, SubscriberStatus
from digest.errors import SubscriberError
from digest.service.app import App
from digest.service.subscribers import (
    FieldError,
    check_name,
    check_sections,
    check_status,
    check_timezone,
    normalise_address,
    section_keys,
    send_hour_from_text,
)
from digest.store.subscribers import Profile, insert_subscribers, known_by_email, update_profiles

CSV_COLUMNS = ("email", "name", "sections", "timezone", "send_hour")
CHUNK = 1000
_SECTION_SEPARATORS = re.compile(r"[;|\s]+")


@dataclass(slots=True)
class ImportReport:
    source: str
    added: int = 0
    updated: int = 0
    unchanged: int = 0
    # Rows of the file whose address had unsubscribed or bounced: kept so.
    opted_out: int = 0
    rejected: list[str] = field(default_factory=list)


def import_csv(app: App, path: str | Path, status: str = SubscriberStatus.ACTIVE) -> ImportReport:
    """Add or update every valid row of a CSV file; each bad row is reported and skipped.

    The file is streamed and written in chunks (one lookup and one executemany per chunk), all
    in one transaction: a file that cannot be read to its end changes nothing. Known addresses
    get the columns the file has; their status, and columns the file lacks, stay as they are.
    """
    new_status = check_status(status, NEW_SUBSCRIBER_STATUSES)
    report = ImportReport(str(path))
    configured = section_keys(app)
    try:
        with Path(path).open("rb") as handle, app.transaction() as session:
            lines = _text_lines(handle, report.source)
            _import_records(session, lines, configured, new_status, app.now(), report)
    except OSError as exc:  # opening or reading the file; database errors are not OSErrors
        raise SubscriberError(f"{report.source}: cannot read: {exc.strerror}") from None
    return report


def _import_records(
    session: Session,
    lines: Iterable[str],
    configured: Sequence[str],
    status: SubscriberStatus,
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
        check_name(values.get("name", "")),
        check_sections(configured, _SECTION_SEPARATORS.split(values.get("sections", ""))),
        check_timezone(values.get("timezone")),
        send_hour_from_text(values.get("send_hour", "")),
    )
    return address, profile


def _store_chunk(
    session: Session,
    chunk: list[tuple[str, Profile]],
    columns: list[str],
    status: SubscriberStatus,
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
