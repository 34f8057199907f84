"""How one delivery attempt settles, with the clock and the jitter given explicitly."""

from datetime import UTC, datetime, timedelta

import pytest

from digest.core.outcomes import (
    Accepted,
    Before,
    Interrupted,
    NotBuilt,
    NothingToSend,
    RetryPolicy,
    settle,
)
from digest.core.states import DeliveryStatus
from digest.errors import AmbiguousDeliveryError, PermanentDeliveryError, TemporaryDeliveryError

NOW = datetime(2024, 6, 24, 7, 0, tzinfo=UTC)
POLICY = RetryPolicy(base_seconds=60, max_seconds=3600, horizon_hours=48, quarantine_after=3)


def test_a_message_the_server_took_is_sent_with_its_first_attempt_time():
    outcome = settle(Before(), Accepted(), NOW, POLICY)
    assert outcome.status == DeliveryStatus.SENT
    assert (outcome.attempts, outcome.smtp_code, outcome.sent_at) == (1, 250, NOW)
    assert outcome.first_attempt_at == NOW
    assert outcome.next_attempt_at is None and outcome.reason is None


def test_a_deferral_backs_off_exponentially_up_to_the_cap():
    first = NOW - timedelta(hours=1)
    refused = TemporaryDeliveryError("mailbox busy", 451)
    delays = [
        settle(Before(attempts=n, first_attempt_at=first), refused, NOW, POLICY).next_attempt_at
        for n in range(8)
    ]
    assert [d - NOW for d in delays if d] == [
        timedelta(seconds=s) for s in (60, 120, 240, 480, 960, 1920, 3600, 3600)
    ]
    later = settle(Before(attempts=2, first_attempt_at=first), refused, NOW, POLICY)
    assert (later.status, later.attempts, later.smtp_code) == (DeliveryStatus.DEFERRED, 3, 451)
    assert later.reason == "mailbox busy" and later.first_attempt_at == first


def test_jitter_spreads_the_retries_of_one_outage():
    refused = TemporaryDeliveryError("try later", 421)
    early = settle(Before(attempts=3), refused, NOW, POLICY, jitter=0.5).next_attempt_at
    late = settle(Before(attempts=3), refused, NOW, POLICY, jitter=1.0).next_attempt_at
    assert (
        early
        and late
        and (early - NOW, late - NOW)
        == (
            timedelta(seconds=240),
            timedelta(seconds=480),
        )
    )


def test_a_deferral_past_the_retry_horizon_expires_and_says_why():
    first = NOW - timedelta(hours=48)
    outcome = settle(
        Before(attempts=9, first_attempt_at=first), TemporaryDeliveryError("full", 452), NOW, POLICY
    )
    assert outcome.status == DeliveryStatus.EXPIRED
    assert outcome.reason == "gave up after 48 hours: full"
    assert outcome.next_attempt_at is None


def test_a_hard_bounce_fails_for_good_and_flags_the_mailbox():
    gone = PermanentDeliveryError("no such user", 550, "RCPT", hard_bounce=True)
    outcome = settle(Before(attempts=1), gone, NOW, POLICY)
    assert (outcome.status, outcome.attempts, outcome.smtp_code) == (DeliveryStatus.FAILED, 2, 550)
    assert outcome.bounced and "bounced" not in outcome.columns()
    refused = settle(Before(), PermanentDeliveryError("policy", 554), NOW, POLICY)
    assert refused.status == DeliveryStatus.FAILED and not refused.bounced


def test_an_unanswered_message_is_retried_once_then_held_for_an_editor():
    lost = AmbiguousDeliveryError("no reply after the data")
    once = settle(Before(), lost, NOW, POLICY)
    assert once.status == DeliveryStatus.AMBIGUOUS and once.ambiguous_count == 1
    assert once.next_attempt_at == NOW + timedelta(seconds=60)
    twice = settle(Before(attempts=1, ambiguous_count=1), lost, NOW, POLICY)
    assert twice.status == DeliveryStatus.AMBIGUOUS and twice.ambiguous_count == 2
    assert twice.next_attempt_at is None
    assert twice.reason == "no reply after the data; held for an editor (digest resend)"


def test_under_the_hold_policy_nothing_the_server_may_have_goes_again_by_itself():
    hold = RetryPolicy(ambiguous="hold")
    outcome = settle(Before(), AmbiguousDeliveryError("timeout"), NOW, hold)
    assert outcome.status == DeliveryStatus.AMBIGUOUS and outcome.next_attempt_at is None


def test_a_delivery_taken_over_mid_transaction_counts_as_one_in_doubt():
    before = Before(attempts=1, interrupted=True)
    assert before.uncertain == 1
    assert POLICY.may_resend(before.uncertain)
    assert not RetryPolicy(ambiguous="hold").may_resend(before.uncertain)
    held = settle(before, Interrupted(), NOW, POLICY)
    assert (held.status, held.attempts, held.ambiguous_count) == (DeliveryStatus.AMBIGUOUS, 1, 1)
    assert held.next_attempt_at is None and "sender stopped" in (held.reason or "")
    # Sent after the takeover: the count of attempts in doubt stays, so the report names it.
    sent = settle(before, Accepted(), NOW, POLICY)
    assert sent.status == DeliveryStatus.SENT and sent.ambiguous_count == 1


@pytest.mark.parametrize(
    ("failures", "status"), [(0, "deferred"), (1, "deferred"), (2, "quarantined")]
)
def test_a_message_that_cannot_be_built_is_quarantined_after_repeated_failures(failures, status):
    outcome = settle(Before(local_failures=failures), NotBuilt("template error"), NOW, POLICY)
    assert outcome.status == status
    assert outcome.local_failures == failures + 1
    assert outcome.attempts == 0  # the server never saw it
    if status == "quarantined":
        assert outcome.reason == "failed 3 times before sending: template error"
        assert outcome.next_attempt_at is None
    else:
        assert outcome.next_attempt_at is not None


def test_nothing_to_send_suppresses_without_counting_an_attempt():
    outcome = settle(Before(attempts=2), NothingToSend("subscriber is paused"), NOW, POLICY)
    assert (outcome.status, outcome.attempts) == (DeliveryStatus.SUPPRESSED, 2)
    assert outcome.reason == "subscriber is paused"
