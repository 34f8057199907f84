"""From a rendered variant to one subscriber's complete message, as bytes for the wire."""

from dataclasses import dataclass
from pathlib import Path

from digest.config import Settings
from digest.core.edition import Edition
from digest.core.links import link_token
from digest.errors import ConfigError
from digest.mime import DkimKey, Envelope, Mailbox, message_bytes
from digest.render import Rendered, Renderer
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


@dataclass(frozen=True, slots=True)
class Composed:
    """One recipient's message: the bytes to send, and the personalised parts inside them."""

    raw: bytes
    html: str
    text: str
    sender: str


def message_id(app: App, edition: EditionRow, subscriber_id: int) -> str:
    """Derived from (edition, subscriber), so a retried message is recognisably the same one."""
    return f"<{edition.name}.{edition.day:%Y%m%d}.{subscriber_id}@{_domain(app.settings)}>"


def _domain(settings: Settings) -> str:
    return settings.sender.from_address.email.rpartition("@")[2]


def dkim_key(settings: Settings) -> DkimKey | None:
    """The configured signing key, read from the environment or the key file, or None."""
    config = settings.dkim
    if not config.enabled:
        return None
    secret = config.private_key.get_secret_value().encode()
    if not secret:
        assert config.key_file is not None  # enforced when the settings are validated
        try:
            secret = Path(config.key_file).read_bytes()
        except OSError as exc:
            raise ConfigError(
                f"dkim.key_file: cannot read {config.key_file}: {exc.strerror}"
            ) from None
    return DkimKey(config.domain or _domain(settings), config.selector, secret, config.algorithm)


def compose(
    app: App,
    edition: EditionRow,
    rendered: Rendered,
    recipient: Recipient,
    key: DkimKey | None = None,
) -> Composed:
    """Personalise the variant for `recipient` and build the message, signed with `key`."""
    settings = app.settings
    base = str(settings.web.base_url).rstrip("/")

    def link(purpose: str) -> str:
        return f"{base}/{purpose}/{link_token(recipient.secret, purpose, recipient.subscriber_id)}"

    unsubscribe = link("unsubscribe")
    html, text = rendered.personalise(
        {
            "name": recipient.name or "reader",
            "email": recipient.email,
            "unsubscribe_url": unsubscribe,
            "preferences_url": link("preferences"),
            "web_url": f"{base}/editions/{edition.name}/{edition.day}",
        }
    )
    sender = settings.sender
    envelope = Envelope(
        sender=Mailbox(sender.from_address.name, sender.from_address.email),
        recipient=Mailbox(recipient.name, recipient.email),
        message_id=message_id(app, edition, recipient.subscriber_id),
        list_id=f"{settings.edition.title} <{edition.name}.{_domain(settings)}>",
        unsubscribe_url=unsubscribe,
        unsubscribe_mailto=sender.unsubscribe_mailto,
        reply_to=Mailbox(sender.reply_to.name, sender.reply_to.email) if sender.reply_to else None,
    )
    raw = message_bytes(envelope, rendered.subject, text, html, app.now(), key)
    return Composed(raw, html, text, sender.from_address.email)


class Variants:
    """Renders each variant (set of sections) of one edition once, on first use."""

    def __init__(self, app: App, row: EditionRow) -> None:
        self._renderer = Renderer(app.settings)
        self._edition = Edition.from_dict(row.content)
        self._all = frozenset(s.key for s in self._edition.sections)
        self._cache = {self._all: Rendered(row.subject, row.html, row.text)}
        self.key = dkim_key(app.settings)

    def for_sections(self, chosen: list[str] | None) -> Rendered | None:
        """The variant for a subscriber's chosen sections (None: all), or None when none of
        them has a story in this edition."""
        if not self._all:  # a quiet-day edition: the same short note for everyone
            return self._cache[self._all]
        wanted = self._all if chosen is None else self._all & frozenset(chosen)
        if not wanted:
            return None
        if wanted not in self._cache:
            self._cache[wanted] = self._renderer.render(self._edition, wanted)
        return self._cache[wanted]
