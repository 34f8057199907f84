"""From a rendered variant to one subscriber's complete message, as bytes for the wire."""

from dataclasses import dataclass
from pathlib import Path

from digest.config import Settings
from digest.core.edition import EditionKey
from digest.core.links import link_token
from digest.errors import ConfigError, RenderError
from digest.mime import Mailbox, MessageTemplate, QpBody
from digest.render import Rendered, Renderer, slot_values
from digest.service.app import App
from digest.signing import DkimKey, private_key
from digest.store.editions import StoredEdition


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
    """One recipient's message as bytes for the wire, and the envelope sender."""

    raw: bytes
    sender: str


def message_domain(settings: Settings) -> str:
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
    key = DkimKey(
        config.domain or message_domain(settings), config.selector, secret, config.algorithm
    )
    try:
        private_key(key)  # a bad key stops the run before the first message, not at each one
    except RenderError as exc:
        origin = f"dkim.key_file ({config.key_file})" if config.key_file else "dkim.private_key"
        raise ConfigError(f"{origin}: {exc}") from None
    return key


def subscriber_path(settings: Settings, purpose: str, subscriber_id: int, secret: str) -> str:
    """`/<purpose>/<token>`: a subscriber's signed link, under the site's link secret."""
    site = settings.web.link_secret.get_secret_value()
    return f"/{purpose}/{link_token(secret, purpose, subscriber_id, site_secret=site)}"


def subscriber_link(settings: Settings, purpose: str, subscriber_id: int, secret: str) -> str:
    base = str(settings.web.base_url).rstrip("/")
    return base + subscriber_path(settings, purpose, subscriber_id, secret)


def slot_values_for(app: App, edition: EditionKey, recipient: Recipient) -> dict[str, str]:
    """The recipient's personal values: greeting, address and signed links."""
    settings, who = app.settings, (recipient.subscriber_id, recipient.secret)
    base = str(settings.web.base_url).rstrip("/")
    return {
        "name": recipient.name or "reader",
        "email": recipient.email,
        "unsubscribe_url": subscriber_link(settings, "unsubscribe", *who),
        "preferences_url": subscriber_link(settings, "preferences", *who),
        "web_url": f"{base}/editions/{edition.name}/{edition.day}",
    }


def message_template(app: App, edition: EditionKey, rendered: Rendered) -> MessageTemplate:
    """What every recipient of this variant shares, encoded once."""
    settings = app.settings
    sender = settings.sender
    return MessageTemplate(
        sender=Mailbox(sender.from_address.name, sender.from_address.email),
        subject=rendered.subject,
        list_id=f"{settings.edition.title} <{edition.name}.{message_domain(settings)}>",
        text=QpBody("plain", rendered.text_parts),
        html=QpBody("html", rendered.html_parts),
        unsubscribe_mailto=sender.unsubscribe_mailto,
        reply_to=Mailbox(sender.reply_to.name, sender.reply_to.email) if sender.reply_to else None,
    )


def compose(
    app: App,
    edition: EditionKey,
    template: MessageTemplate,
    recipient: Recipient,
    dkim: DkimKey | None = None,
) -> Composed:
    """The recipient's message: the variant's template with their values, signed with `dkim`."""
    plain, escaped = slot_values(slot_values_for(app, edition, recipient))
    raw = template.message(
        Mailbox(recipient.name, recipient.email),
        edition.message_id(recipient.subscriber_id, message_domain(app.settings)),
        plain["unsubscribe_url"],
        app.now(),
        plain,
        escaped,
        dkim,
    )
    return Composed(raw, app.settings.sender.from_address.email)


class Variants:
    """Each variant (set of sections) of one edition, rendered and encoded once, on first use."""

    def __init__(self, app: App, stored: StoredEdition) -> None:
        self._app, self._stored = app, stored
        self._renderer = Renderer(app.settings)
        self._edition = stored.edition()
        self._all = frozenset(s.key for s in self._edition.sections)
        self._rendered = {self._all: Rendered(stored.subject, stored.html, stored.text)}
        self._templates: dict[frozenset[str], MessageTemplate] = {}
        self.dkim = dkim_key(app.settings)

    def _variant(self, chosen: list[str] | None) -> frozenset[str] | None:
        if not self._all:  # a quiet-day edition: the same short note for everyone
            return self._all
        wanted = self._all if chosen is None else self._all & frozenset(chosen)
        return wanted or None

    def keys(self, chosen: list[str] | None) -> tuple[str, ...]:
        """The sections of the variant for `chosen`, in the order of the email."""
        wanted = self._variant(chosen) or frozenset()
        return tuple(s.key for s in self._edition.sections if s.key in wanted)

    def for_sections(self, chosen: list[str] | None) -> Rendered | None:
        """The variant for a subscriber's chosen sections (None: all), or None when none of
        them has a story in this edition."""
        wanted = self._variant(chosen)
        if wanted is None:
            return None
        if wanted not in self._rendered:
            self._rendered[wanted] = self._renderer.render(self._edition, wanted)
        return self._rendered[wanted]

    def template(self, chosen: list[str] | None) -> MessageTemplate | None:
        """The message template of that variant (None as for `for_sections`)."""
        wanted = self._variant(chosen)
        rendered = self.for_sections(chosen)
        if wanted is None or rendered is None:
            return None
        if wanted not in self._templates:
            self._templates[wanted] = message_template(self._app, self._stored.key, rendered)
        return self._templates[wanted]
