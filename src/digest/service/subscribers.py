"""Managing subscribers."""

from dataclasses import dataclass

from email_validator import EmailNotValidError, validate_email

from digest.errors import SubscriberError
from digest.service.app import App
from digest.store.subscribers import add_subscriber


@dataclass(frozen=True, slots=True)
class Added:
    subscriber_id: int
    email: str
    created: bool


def subscribe(app: App, email: str, name: str = "", sections: list[str] | None = None) -> Added:
    """Add an active subscriber, or report that the address is already known."""
    try:
        normalised = validate_email(email, check_deliverability=False).normalized
    except EmailNotValidError as exc:
        raise SubscriberError(f"{email!r} is not a valid address: {exc}") from None
    known = {s.key for s in app.settings.sections}
    unknown = sorted(set(sections or ()) - known)
    if unknown:
        raise SubscriberError(
            f"unknown section(s) {', '.join(unknown)}; configured: {', '.join(sorted(known))}"
        )
    name = " ".join(name.split())  # no line breaks: the name goes into a header
    with app.transaction() as session:
        subscriber, created = add_subscriber(session, normalised, name, sections, app.now())
        return Added(subscriber.subscriber_id, subscriber.email, created)
