"""The project's error tree.

Adapters translate library exceptions into these at the boundary; the CLI prints any
`DigestError` as one line and exits non-zero, while a bug keeps its traceback.
"""


class DigestError(Exception):
    """A problem the user can act on; its message is one line naming what and where."""

    exit_code = 1


class ConfigError(DigestError):
    """The configuration file or environment holds a value the program cannot use."""

    exit_code = 2


class StoreError(DigestError):
    """The database is unreachable or not at the schema version the code expects."""


class IngestError(DigestError):
    """An input (file, URL, line) could not be turned into articles."""


class StoppedError(DigestError):
    """Work was stopped on request (SIGTERM, SIGINT) before it was done: not a fault of the
    input it was working on."""


class RenderError(DigestError):
    """A template failed to render or produced an email that must not be sent."""


class EditionError(DigestError):
    """An edition cannot be built, previewed or sent in its current state."""


class NotApprovedError(EditionError):
    """The settings ask for an editor's approval before an edition is sent, and it has none."""


class SubscriberError(DigestError):
    """A subscriber's address, name or choices are invalid."""


class SendingError(DigestError):
    """Sending cannot go on (authentication, TLS, the sender refused, the server unreachable):
    the run stops and the deliveries not yet attempted stay pending."""


class MessageDeliveryError(Exception):
    """The server's answer for one message, sorted by what to do about it.

    Not a `DigestError`: the sender records it in the ledger and goes on with the next one.
    """

    def __init__(self, reason: str, code: int | None = None, phase: str = "") -> None:
        super().__init__(reason)
        self.reason, self.code, self.phase = reason, code, phase


class TemporaryDeliveryError(MessageDeliveryError):
    """Refused for now (4xx, connection trouble before the end of the data): retry later."""


class PermanentDeliveryError(MessageDeliveryError):
    """Refused for good (5xx at RCPT or DATA); `hard_bounce` when the mailbox does not exist."""

    def __init__(
        self, reason: str, code: int | None = None, phase: str = "", hard_bounce: bool = False
    ) -> None:
        super().__init__(reason, code, phase)
        self.hard_bounce = hard_bounce


class AmbiguousDeliveryError(MessageDeliveryError):
    """The data went out but the final reply never came: the server may or may not have it."""
