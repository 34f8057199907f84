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


class RenderError(DigestError):
    """A template failed to render or produced an email that must not be sent."""


class EditionError(DigestError):
    """An edition cannot be built, previewed or sent in its current state."""


class SubscriberError(DigestError):
    """A subscriber's address, name or choices are invalid."""


class DeliveryError(DigestError):
    """A message could not be handed to the mail transport."""


class TemporaryDeliveryError(DeliveryError):
    """The transport refused for now (4xx, connection trouble); retrying may succeed."""


class PermanentDeliveryError(DeliveryError):
    """The transport refused for good (5xx); retrying the same message will not help."""
