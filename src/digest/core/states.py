"""Every state the program knows, with its full set of values, in one place.

The database stores each state's value as a plain string (the columns are `String(16)`), so a
state added here needs no migration of data; the store reads them back as these enums.
"""

from enum import StrEnum


class DeliveryStatus(StrEnum):
    """Where one (edition, subscriber) delivery stands in the ledger."""

    PENDING = "pending"
    # Handed to a Celery task, leased to its token.
    QUEUED = "queued"
    # Leased to one sender until its lease expires.
    SENDING = "sending"
    SENT = "sent"
    # Refused for now: retried at its next attempt time.
    DEFERRED = "deferred"
    # Refused for good by the server.
    FAILED = "failed"
    # Nothing to send this subscriber (no longer active, none of their sections has a story).
    SUPPRESSED = "suppressed"
    # The server may or may not have the message: retried at its next attempt time, or held
    # for an editor's decision (`digest resend`) when it has none.
    AMBIGUOUS = "ambiguous"
    # Still refused when the retry horizon ran out.
    EXPIRED = "expired"
    # The message could not be built for this subscriber, again and again.
    QUARANTINED = "quarantined"


# A run may still act on these (ambiguous ones only while they have a next attempt).
LIVE_DELIVERIES = (
    DeliveryStatus.PENDING,
    DeliveryStatus.QUEUED,
    DeliveryStatus.SENDING,
    DeliveryStatus.DEFERRED,
)
# Held by a sender: a lease or a queued Celery task.
LEASED_DELIVERIES = (DeliveryStatus.SENDING, DeliveryStatus.QUEUED)
# Not in the reader's mailbox, as far as anyone knows, and worth telling an editor about.
NOT_DELIVERED = (
    DeliveryStatus.FAILED,
    DeliveryStatus.DEFERRED,
    DeliveryStatus.AMBIGUOUS,
    DeliveryStatus.EXPIRED,
    DeliveryStatus.QUARANTINED,
)
# What `digest resend --failed` sends again: given up on, but possibly deliverable.
RESENDABLE = (
    DeliveryStatus.FAILED,
    DeliveryStatus.AMBIGUOUS,
    DeliveryStatus.EXPIRED,
    DeliveryStatus.QUARANTINED,
)


class SubscriberStatus(StrEnum):
    """Whether an address gets editions."""

    # Waiting for the subscriber to confirm (double opt-in).
    PENDING = "pending"
    ACTIVE = "active"
    # Still subscribed, but sent nothing until the subscriber resumes.
    PAUSED = "paused"
    UNSUBSCRIBED = "unsubscribed"
    # The mailbox does not exist.
    BOUNCED = "bounced"


# Asked not to be sent anything, or not reachable: an import leaves these as they are.
OPTED_OUT = (SubscriberStatus.UNSUBSCRIBED, SubscriberStatus.BOUNCED)
# What `subscribers add` and `import` may give a new address.
NEW_SUBSCRIBER_STATUSES = (SubscriberStatus.PENDING, SubscriberStatus.ACTIVE)
# What a subscriber may choose on their own preferences page.
CHOSEN_BY_SUBSCRIBER = (SubscriberStatus.ACTIVE, SubscriberStatus.PAUSED)


class EditionStatus(StrEnum):
    """Where an edition of one day stands."""

    # Built, its stories and rendered email fixed; nothing sent yet.
    FROZEN = "frozen"
    SENDING = "sending"
    # None of its deliveries may still be sent.
    SENT = "sent"
    # Not sent on purpose: an empty day under the "skip" policy, or too late to be news.
    SKIPPED = "skipped"


# Editions whose messages went out (or are going): the archive shows these.
PUBLISHED_EDITIONS = (EditionStatus.SENDING, EditionStatus.SENT)


class Decision(StrEnum):
    """An editor's decision on one article of an edition."""

    # Kept past quotas and the size budget.
    PIN = "pin"
    # Left out.
    DROP = "drop"
    # Only placed: in another section, or at another place in its own.
    MOVE = "move"


class TickAction(StrEnum):
    """What one tick of the scheduler did for an edition."""

    SENT = "sent"
    SKIPPED = "skipped"
    # Waiting for an editor's approval.
    HELD = "held"
    # Stopped on request before it was done; the next tick goes on.
    STOPPED = "stopped"
    # Nothing left to do: already sent or skipped.
    DONE = "done"
