"""What an editor looks at before an edition goes out: the exact message for any variant or
subscriber, its size against Gmail's clip, SpamAssassin's opinion, and a test copy.

A proof is composed by the same code as a delivery (`Variants`, `compose`), so what the studio
shows is byte for byte what that subscriber would get, minus the Date it is sent at.
"""

import re
import shutil
import subprocess
from dataclasses import dataclass
from datetime import date
from email.utils import make_msgid

from digest.core.edition import Edition
from digest.core.states import Decision, DeliveryStatus, EditionStatus, SubscriberStatus
from digest.errors import EditionError
from digest.mime import Mailbox
from digest.render import Rendered, slot_values
from digest.service.app import App
from digest.service.courier import transport_for
from digest.service.editions import sendable_edition
from digest.service.messages import (
    PREVIEW_RECIPIENT,
    Recipient,
    Variants,
    compose,
    message_domain,
    message_template,
    slot_values_for,
)
from digest.service.subscribers import normalise_address
from digest.store import ledger_status
from digest.store.editions import (
    StoredEdition,
    find_edition,
    list_editions,
    overrides_for,
    record_event,
)
from digest.store.subscribers import find_subscriber, list_subscribers, section_choices

# Gmail shows "[Message clipped]" past about this much HTML, hiding the footer and its
# unsubscribe link.
GMAIL_CLIP_BYTES = 102 * 1024
# Addresses offered by the studio's "preview as" picker; any other can be typed in.
PICKER_LIMIT = 500


@dataclass(frozen=True, slots=True)
class Proof:
    """One recipient's message as it would be sent, and its parts as a reader sees them."""

    sections: tuple[str, ...]
    recipient: str
    raw: bytes
    html: str
    text: str

    @property
    def headers(self) -> str:
        return self.raw.split(b"\r\n\r\n", 1)[0].decode("ascii", "replace").replace("\r\n", "\n")

    @property
    def html_bytes(self) -> int:
        return len(self.html.encode())

    @property
    def clipped(self) -> bool:
        return self.html_bytes > GMAIL_CLIP_BYTES


def _sendable(app: App, day: date) -> StoredEdition:
    with app.transaction() as session:
        return sendable_edition(session, app, day)


def _recipient(app: App, email: str) -> tuple[Recipient, list[str] | None]:
    with app.transaction() as session:
        found = find_subscriber(session, normalise_address(email))
        if found is None:
            raise EditionError(f"no subscriber {email!r}")
        return Recipient(found.subscriber_id, found.email, found.name, found.secret), found.sections


def proof(
    app: App, day: date, sections: list[str] | None = None, as_subscriber: str | None = None
) -> Proof:
    """The message of the frozen edition for `sections` (None: all), or exactly the one
    `as_subscriber` would get (their sections, name and signed links)."""
    stored = _sendable(app, day)
    variants = Variants(app, stored)
    recipient = PREVIEW_RECIPIENT
    if as_subscriber:
        recipient, sections = _recipient(app, as_subscriber)
    rendered = variants.for_sections(sections)
    template = variants.template(sections)
    if rendered is None or template is None:
        raise EditionError(f"none of the sections {', '.join(sections or [])} has a story today")
    composed = compose(app, stored.key, template, recipient, variants.dkim)
    html, text = rendered.personalise(slot_values_for(app, stored.key, recipient))
    chosen = variants.keys(sections)
    return Proof(chosen, recipient.email, composed.raw, html, text)


def variant_choices(app: App) -> list[tuple[str, ...] | None]:
    """The section sets subscribers chose (None: all sections), all sections first."""
    with app.transaction() as session:
        chosen = section_choices(session) - {None}
    return [None, *sorted(c for c in chosen if c)]


def picker_addresses(app: App) -> list[str]:
    """Active subscribers' addresses for the "preview as" picker, the first few hundred."""
    with app.transaction() as session:
        return [s.email for s in list_subscribers(session, SubscriberStatus.ACTIVE)[:PICKER_LIMIT]]


def send_test(
    app: App, day: date, address: str, sections: list[str] | None = None, *, actor: str
) -> str:
    """Send a test copy of the edition to `address`, subject marked "[TEST]". It is not a
    delivery: the ledger does not see it, and its personal links lead nowhere, so nobody can
    be unsubscribed from a forwarded test."""
    address = normalise_address(address)
    stored = _sendable(app, day)
    variants = Variants(app, stored)
    rendered = variants.for_sections(sections)
    if rendered is None:
        raise EditionError(f"none of the sections {', '.join(sections or [])} has a story today")
    marked = Rendered(f"[TEST] {rendered.subject}", rendered.html, rendered.text)
    template = message_template(app, stored.key, marked)
    reader = Recipient(PREVIEW_RECIPIENT.subscriber_id, address, "", PREVIEW_RECIPIENT.secret)
    plain, escaped = slot_values(slot_values_for(app, stored.key, reader))
    raw = template.message(
        Mailbox("", address),
        make_msgid("test", message_domain(app.settings)),
        plain["unsubscribe_url"],
        app.now(),
        plain,
        escaped,
        variants.dkim,
    )
    sender = app.settings.sender.from_address.email
    with transport_for(app) as channel:
        where = channel.send(raw, sender, app.settings.delivery.redirect_to or address)
    label = "+".join(variants.keys(sections)) or "all sections"
    with app.transaction() as session:
        record_event(
            session, stored.name, day, app.now(), actor, "test-send", f"{address} ({label})"
        )
    return where


@dataclass(frozen=True, slots=True)
class SpamVerdict:
    score: float
    rules: tuple[tuple[float, str, str], ...]  # points, rule name, description


_RULE = re.compile(r"^\s*(-?[\d.]+)\s+([A-Z][A-Z0-9_]+)\s+(.*)$", re.MULTILINE)


def spam_check(raw: bytes) -> SpamVerdict | None:
    """SpamAssassin's score of a message with its local rules (no network tests), or None
    when `spamassassin` is not installed."""
    if shutil.which("spamassassin") is None:
        return None
    try:
        result = subprocess.run(
            ["spamassassin", "-t", "-L"], input=raw, capture_output=True, timeout=120, check=True
        )
    except (subprocess.SubprocessError, OSError) as exc:
        raise EditionError(f"spamassassin failed: {exc}") from None
    report = result.stdout.decode(errors="replace")
    score = re.search(r"Content analysis details:\s+\((-?[\d.]+) points", report)
    if score is None:
        raise EditionError("spamassassin gave no score (is its rule set installed?)")
    details = report[score.end() :]
    rules = tuple((float(p), name, desc.strip()) for p, name, desc in _RULE.findall(details))
    return SpamVerdict(float(score[1]), rules)


@dataclass(frozen=True, slots=True)
class EditionState:
    """An edition as the studio shows it: the frozen edition, editors' decisions, deliveries."""

    stored: StoredEdition
    edition: Edition
    decisions: dict[int, Decision]  # by article id
    deliveries: dict[DeliveryStatus, int]
    approval_required: bool

    @property
    def label(self) -> str:
        """The status, with "draft" for a frozen edition still waiting for its approval."""
        if (
            self.stored.status == EditionStatus.FROZEN
            and self.approval_required
            and not self.stored.approved_at
        ):
            return "draft"
        return self.stored.status

    @property
    def editable(self) -> bool:
        return not any(self.deliveries.values())


def edition_state(app: App, day: date) -> EditionState | None:
    """The frozen edition of `day` and what the studio shows beside it; None before a build."""
    name = app.settings.edition.name
    with app.transaction() as session:
        stored = find_edition(session, app.settings.edition.key(day))
        if stored is None:
            return None
        decisions = {o.article_id: o.action for o in overrides_for(session, name, day)}
        counts = ledger_status.counts(session, stored.edition_id)
    required = app.settings.edition.require_approval
    return EditionState(stored, stored.edition(), decisions, counts, required)


def overview(app: App, days: int = 60) -> list[EditionState]:
    """The latest editions of this edition's name, newest first."""
    with app.transaction() as session:
        found = [e for e in list_editions(session) if e.name == app.settings.edition.name]
    return [state for e in found[:days] if (state := edition_state(app, e.day)) is not None]
