"""How one delivery attempt settles: the state the ledger records, and when, if ever, the
message is tried again. Pure: the clock and the jitter come in as arguments."""

from dataclasses import asdict, dataclass, replace
from datetime import datetime, timedelta
from typing import Literal

from digest.core.states import DeliveryStatus
from digest.errors import (
    AmbiguousDeliveryError,
    MessageDeliveryError,
    PermanentDeliveryError,
    TemporaryDeliveryError,
)

INTERRUPTED = "a sender stopped while handing the message to the server, which may have it"


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """`[delivery]`'s retry settings."""

    base_seconds: float = 60.0
    max_seconds: float = 3600.0
    horizon_hours: float = 48.0
    # "retry_once": a message the server may already have goes again once by itself; "hold":
    # never, an editor decides.
    ambiguous: Literal["retry_once", "hold"] = "retry_once"
    quarantine_after: int = 3

    def backoff(self, attempts: int, jitter: float) -> timedelta:
        """Exponential backoff: base × 2^(attempts-1), capped, times `jitter` (0.5 to 1 in
        use, so that retries of one outage spread out)."""
        delay = min(self.max_seconds, self.base_seconds * 2 ** (attempts - 1))
        return timedelta(seconds=delay * jitter)

    def may_resend(self, uncertain: int) -> bool:
        """Whether a message the server may already have goes again by itself, this being the
        `uncertain`-th attempt of which the server may hold a copy."""
        return self.ambiguous == "retry_once" and uncertain == 1


@dataclass(frozen=True, slots=True)
class Before:
    """What the ledger knew of a delivery when its sender claimed it."""

    attempts: int = 0
    ambiguous_count: int = 0
    local_failures: int = 0
    first_attempt_at: datetime | None = None
    # Taken over from a sender that stopped while handing it to the server.
    interrupted: bool = False

    @property
    def uncertain(self) -> int:
        """Earlier attempts the server may have accepted; an interrupted one counts."""
        return self.ambiguous_count + self.interrupted


@dataclass(frozen=True, slots=True)
class Accepted:
    """The server (or the Maildir) took the message."""

    smtp_code: int | None = 250


@dataclass(frozen=True, slots=True)
class NothingToSend:
    """The subscriber gets nothing from this edition."""

    reason: str


@dataclass(frozen=True, slots=True)
class NotBuilt:
    """The message could not be built for this subscriber; the server never saw it."""

    reason: str


@dataclass(frozen=True, slots=True)
class Interrupted:
    """A sender stopped mid-transaction on this delivery, and the policy forbids resending."""


Happened = Accepted | NothingToSend | NotBuilt | Interrupted | MessageDeliveryError


@dataclass(frozen=True, slots=True)
class Outcome:
    """Every ledger column an attempt settles, and whether the subscriber's mailbox is gone."""

    status: DeliveryStatus
    attempts: int
    ambiguous_count: int
    local_failures: int
    first_attempt_at: datetime
    reason: str | None = None
    smtp_code: int | None = None
    next_attempt_at: datetime | None = None
    sent_at: datetime | None = None
    bounced: bool = False

    def columns(self) -> dict[str, object]:
        """The values the ledger's row takes."""
        values = asdict(self)
        del values["bounced"]
        return values


def settle(
    before: Before, happened: Happened, now: datetime, policy: RetryPolicy, jitter: float = 1.0
) -> Outcome:
    """The outcome of one attempt on a delivery that stood as `before`, at `now`."""
    base = Outcome(
        DeliveryStatus.PENDING,
        before.attempts,
        before.uncertain,
        before.local_failures,
        before.first_attempt_at or now,
    )
    tried = base.attempts + 1
    match happened:
        case NothingToSend(reason):
            return replace(base, status=DeliveryStatus.SUPPRESSED, reason=reason)
        case Interrupted():
            return _held(base, INTERRUPTED)
        case NotBuilt(reason):
            failures = before.local_failures + 1
            base = replace(base, local_failures=failures)
            if failures >= policy.quarantine_after:
                reason = f"failed {failures} times before sending: {reason}"
                return replace(base, status=DeliveryStatus.QUARANTINED, reason=reason)
            return _later(base, DeliveryStatus.DEFERRED, reason, now, policy, jitter)
        case Accepted(code):
            return replace(
                base, status=DeliveryStatus.SENT, attempts=tried, smtp_code=code, sent_at=now
            )
        case TemporaryDeliveryError():
            base = replace(base, attempts=tried, smtp_code=happened.code)
            return _later(base, DeliveryStatus.DEFERRED, happened.reason, now, policy, jitter)
        case PermanentDeliveryError():
            return replace(
                base,
                status=DeliveryStatus.FAILED,
                attempts=tried,
                smtp_code=happened.code,
                reason=happened.reason,
                bounced=happened.hard_bounce,
            )
        case AmbiguousDeliveryError():
            base = replace(base, attempts=tried, ambiguous_count=before.uncertain + 1)
            if policy.may_resend(base.ambiguous_count):
                return _later(base, DeliveryStatus.AMBIGUOUS, happened.reason, now, policy, jitter)
            return _held(base, happened.reason)
    raise TypeError(f"not an attempt's result: {happened!r}")


def _later(
    base: Outcome,
    status: DeliveryStatus,
    reason: str,
    now: datetime,
    policy: RetryPolicy,
    jitter: float,
) -> Outcome:
    """Tried again after the backoff, unless the retry horizon has run out."""
    if now - base.first_attempt_at >= timedelta(hours=policy.horizon_hours):
        reason = f"gave up after {policy.horizon_hours:g} hours: {reason}"
        return replace(base, status=DeliveryStatus.EXPIRED, reason=reason)
    when = now + policy.backoff(base.attempts, jitter)
    return replace(base, status=status, reason=reason, next_attempt_at=when)


def _held(base: Outcome, reason: str) -> Outcome:
    """Held for an editor's decision: no next attempt."""
    reason = f"{reason}; held for an editor (digest resend)"
    return replace(base, status=DeliveryStatus.AMBIGUOUS, reason=reason)
