"""From a rendered variant to one subscriber's complete message."""

from dataclasses import dataclass
from email.headerregistry import Address
from email.message import EmailMessage

from pydantic import NameEmail

from digest.core.links import link_token
from digest.errors import RenderError
from digest.mime import Envelope, build_message
from digest.render import Rendered
from digest.service.app import App
from digest.store.tables import EditionRow


@dataclass(frozen=True, slots=True)
class Recipient:
    subscriber_id: int
    email: str
    name: str
    secret: str


# Who a preview is addressed to: a reserved domain, so a preview can never reach a real person.
PREVIEW_RECIPIENT = Recipient(0, "reader@preview.invalid", "Reader", "preview")


def message_id(app: App, edition: EditionRow, subscriber_id: int) -> str:
    """Derived from (edition, subscriber), so a retried message is recognisably the same one."""
    return f"<{edition.name}.{edition.day:%Y%m%d}.{subscriber_id}@{_domain(app)}>"


def _domain(app: App) -> str:
    return app.settings.sender.from_address.email.rpartition("@")[2]


def _address(value: NameEmail) -> Address:
    return Address(display_name=value.name, addr_spec=value.email)


def compose(
    app: App, edition: EditionRow, rendered: Rendered, recipient: Recipient
) -> tuple[EmailMessage, str, str]:
    """The message, and its personalised HTML and text parts."""
    settings = app.settings
    base = str(settings.web.base_url).rstrip("/")
    unsubscribe = (
        f"{base}/unsubscribe/{link_token(recipient.secret, 'unsubscribe', recipient.subscriber_id)}"
    )
    preferences = (
        f"{base}/preferences/{link_token(recipient.secret, 'preferences', recipient.subscriber_id)}"
    )
    html, text = rendered.personalise(
        {
            "name": recipient.name or "reader",
            "email": recipient.email,
            "unsubscribe_url": unsubscribe,
            "preferences_url": preferences,
            "web_url": f"{base}/editions/{edition.name}/{edition.day}",
        }
    )
    sender = settings.sender
    try:
        to = Address(display_name=recipient.name, addr_spec=recipient.email)
    except (ValueError, IndexError) as exc:
        raise RenderError(f"recipient address {recipient.email!r} is malformed: {exc}") from None
    envelope = Envelope(
        sender=_address(sender.from_address),
        recipient=to,
        message_id=message_id(app, edition, recipient.subscriber_id),
        list_id=f"{settings.edition.title} <{edition.name}.{_domain(app)}>",
        unsubscribe_url=unsubscribe,
        reply_to=(
            Address(sender.reply_to.name, addr_spec=sender.reply_to.email)
            if sender.reply_to
            else None
        ),
    )
    message = build_message(envelope, rendered.subject, text, html, app.now())
    return message, html, text
