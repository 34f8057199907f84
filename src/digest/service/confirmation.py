"""Double opt-in: a pending subscriber gets one message with a link that confirms the address;
nothing else is sent to it until then."""

import html
from email.utils import make_msgid

from digest.core.states import SubscriberStatus
from digest.errors import SubscriberError
from digest.mime import Envelope, Mailbox, message_bytes
from digest.service.app import App
from digest.service.courier import transport_for
from digest.service.messages import dkim_key, message_domain, subscriber_link
from digest.service.subscribers import subscribe
from digest.store.subscribers import find_subscriber


def confirmation_link(app: App, subscriber_id: int, secret: str) -> str:
    return subscriber_link(app.settings, "confirm", subscriber_id, secret)


def send_confirmation(app: App, email: str) -> str:
    """Send the confirmation request to a pending subscriber; returns where it went."""
    settings = app.settings
    with app.transaction() as session:
        subscriber = find_subscriber(session, email)
        if subscriber is None:
            raise SubscriberError(f"no subscriber with address {email!r}")
        if subscriber.status != SubscriberStatus.PENDING:
            raise SubscriberError(f"{email} is {subscriber.status}, not waiting for confirmation")
        link = confirmation_link(app, subscriber.subscriber_id, subscriber.secret)
        name, address = subscriber.name, subscriber.email
    title = settings.edition.title
    text = (
        f"Please confirm that you want {title} at {address}:\n\n{link}\n\n"
        "If you did not ask for it, ignore this message: nothing more will be sent.\n"
    )
    page = (
        f'<!doctype html><html lang="en"><body><p>Please confirm that you want '
        f"{html.escape(title)} at {html.escape(address)}:</p>"
        f'<p><a href="{html.escape(link)}">Confirm my subscription</a></p>'
        "<p>If you did not ask for it, ignore this message: nothing more will be sent.</p>"
        "</body></html>"
    )
    sender = settings.sender
    envelope = Envelope(
        sender=Mailbox(sender.from_address.name, sender.from_address.email),
        recipient=Mailbox(name, address),
        message_id=make_msgid("confirm", message_domain(settings)),
        list_id=f"{title} <{settings.edition.name}.{message_domain(settings)}>",
        unsubscribe_url=str(settings.web.base_url),
    )
    raw = message_bytes(
        envelope, f"Confirm your subscription to {title}", text, page, app.now(), dkim_key(settings)
    )
    with transport_for(app) as channel:
        return channel.send(raw, sender.from_address.email, address)


def request_subscription(app: App, email: str) -> None:
    """A request from the public form: a new address is added as pending and sent the
    confirmation link, a pending one gets the link again; an address that is active, paused
    or opted out is left alone (the form's answer does not say which)."""
    added = subscribe(app, email, status=SubscriberStatus.PENDING)
    if added.status == SubscriberStatus.PENDING:
        send_confirmation(app, added.email)
