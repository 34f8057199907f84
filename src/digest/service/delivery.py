"""Sending an edition: materialise the ledger, then deliver each unfinished message once.

Every delivery row is written before the first message leaves, and each message is recorded
as sent in its own transaction right after the transport accepted it. A second run therefore
touches only what is unfinished; a crash can repeat at most the one message in flight.
"""

from dataclasses import dataclass, field
from datetime import date

from digest.errors import PermanentDeliveryError, RenderError, TemporaryDeliveryError
from digest.service.app import App
from digest.service.checks import require_passing
from digest.service.editions import build, frozen_edition
from digest.service.messages import Recipient, Variants, compose, message_id
from digest.store.editions import (
    delivery_counts,
    has_deliveries,
    materialise_deliveries,
    unfinished_deliveries,
)
from digest.store.subscribers import active_subscribers
from digest.store.tables import Delivery, EditionRow, Subscriber
from digest.transport import MaildirTransport, SmtpTransport, Transport

UNFINISHED = ("pending", "deferred")


@dataclass(slots=True)
class SendReport:
    edition_key: str
    skipped: str | None = None
    queued: int = 0
    attempted: int = 0
    locations: list[str] = field(default_factory=list)
    counts: dict[str, int] = field(default_factory=dict)


def transport_for(app: App) -> Transport:
    delivery = app.settings.delivery
    if delivery.transport == "maildir":
        return MaildirTransport(delivery.maildir)
    return SmtpTransport(app.settings.smtp)


def send(app: App, day: date, transport: Transport | None = None) -> SendReport:
    """Build the edition if needed, then deliver it to every active subscriber exactly once."""
    built = build(app, day)
    if built.status == "skipped":
        return SendReport(f"{built.edition.name}:{day}", skipped=built.skip_reason)
    with app.transaction() as session:
        row = frozen_edition(session, app, day)
        report = SendReport(edition_key=f"{row.name}:{day}")
        if not has_deliveries(session, row.edition_id):
            report.queued = materialise_deliveries(
                session,
                row,
                active_subscribers(session),
                lambda edition, subscriber: message_id(app, edition, subscriber.subscriber_id),
                app.now(),
            )
            row.status = "sending"
        pending = [d.delivery_id for d, _ in unfinished_deliveries(session, row.edition_id)]
    if pending:
        require_passing(app, row)
        variants = Variants(app, row)
        with transport or transport_for(app) as channel:
            for delivery_id in pending:
                _deliver(app, row, variants, channel, delivery_id, report)
    with app.transaction() as session:
        report.counts = delivery_counts(session, row.edition_id)
        if not any(report.counts.get(state) for state in UNFINISHED):
            edition = session.get(EditionRow, row.edition_id)
            assert edition is not None
            edition.status = "sent"
    return report


def _deliver(
    app: App,
    row: EditionRow,
    variants: Variants,
    channel: Transport,
    delivery_id: int,
    report: SendReport,
) -> None:
    """Deliver one ledger row. The subscriber is read afresh, so an unsubscribe that happened
    after the edition froze is honoured."""
    with app.transaction() as session:
        delivery = session.get(Delivery, delivery_id)
        assert delivery is not None
        subscriber = session.get(Subscriber, delivery.subscriber_id)
        assert subscriber is not None
        if delivery.status not in UNFINISHED:
            return
        if subscriber.status != "active":
            _finish(delivery, "suppressed", f"subscriber is {subscriber.status}")
            return
        rendered = variants.for_sections(subscriber.sections)
        if rendered is None:
            _finish(delivery, "suppressed", "none of the subscriber's sections has a story")
            return
        recipient = Recipient(
            subscriber.subscriber_id, subscriber.email, subscriber.name, subscriber.secret
        )
        try:
            composed = compose(app, row, rendered, recipient, variants.key)
        except RenderError as exc:
            _finish(delivery, "failed", str(exc))
            return
    report.attempted += 1
    outcome, reason, location = "sent", None, None
    try:
        location = channel.send(composed.raw, composed.sender, recipient.email)
    except TemporaryDeliveryError as exc:
        outcome, reason = "deferred", str(exc)
    except PermanentDeliveryError as exc:
        outcome, reason = "failed", str(exc)
    with app.transaction() as session:
        delivery = session.get(Delivery, delivery_id)
        assert delivery is not None
        delivery.attempts += 1
        _finish(delivery, outcome, reason)
        if outcome == "sent":
            delivery.sent_at = app.now()
            if location:
                report.locations.append(location)


def _finish(delivery: Delivery, status: str, reason: str | None) -> None:
    delivery.status, delivery.last_error = status, reason
