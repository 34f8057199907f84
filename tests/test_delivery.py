"""Delivery against a real SMTP server that misbehaves on purpose (tests/smtp_faults.py).

Each test asserts both sides: what the server received (every expected recipient exactly
once, nobody unexpected, the documented ambiguous case aside) and what the ledger says.
"""

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from conftest import digest, wait_for
from digest.config import SmtpSettings
from digest.core.schedule import local_instant
from digest.errors import AmbiguousDeliveryError, TemporaryDeliveryError
from digest.transport import SmtpTransport
from smtp_faults import FaultServer

DAY = "2024-06-24"
STORY = {
    "title": "Kyiv hit by drones overnight",
    "url": "https://example.com/kyiv",
    "source": "Wire",
    "published": "2024-06-23T12:00:00Z",
    "text": "Russia launched drones at Kyiv, Ukrainian officials said. Ukraine shot most down.",
}


def readers(count: int) -> list[str]:
    return [f"reader{n:03d}@example.com" for n in range(count)]


@pytest.fixture
def newsroom(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A migrated store with one Ukraine story for 2024-06-24, and quick retries."""
    (tmp_path / "story.jsonl").write_text(json.dumps(STORY) + "\n")
    assert digest("db", "upgrade").exit_code == 0
    assert digest("ingest", str(tmp_path / "story.jsonl")).exit_code == 0
    for name, value in {
        "DELIVERY__TRANSPORT": "smtp",
        "DELIVERY__RETRY_BASE_SECONDS": "0.05",
        "DELIVERY__RETRY_MAX_SECONDS": "0.2",
        "DELIVERY__LEASE_SECONDS": "30",
        "WEB__BASE_URL": "https://news.example.org/",
    }.items():
        monkeypatch.setenv(f"DIGEST_{name}", value)
    return tmp_path


@pytest.fixture
def server(monkeypatch: pytest.MonkeyPatch) -> Iterator[FaultServer]:
    with FaultServer() as running:
        for key, value in running.settings(timeout=2).items():
            monkeypatch.setenv(f"DIGEST_SMTP__{key.upper()}", str(value))
        yield running


def subscribe(*emails: str) -> None:
    for email in emails:
        assert digest("subscribers", "add", email).exit_code == 0


def report() -> dict[str, Any]:
    return json.loads(digest("report", "--date", DAY, "--json").output)


def send_until_settled(runs: int = 20) -> dict[str, Any]:
    """Run `digest send` again until nothing is pending or due for a retry (as cron would)."""
    for _ in range(runs):
        digest("send", "--date", DAY)
        state = report()
        counts = state["counts"]
        if not (counts["pending"] or counts["sending"] or counts["deferred"]) and not any(
            f["state"] == "ambiguous" and "held" not in (f["reason"] or "")
            for f in state["failures"]
        ):
            return state
        time.sleep(0.25)
    raise AssertionError(f"still unsettled after {runs} runs: {report()}")


def exactly_once(server: FaultServer, emails: list[str]) -> None:
    assert server.recipients() == Counter(dict.fromkeys(emails, 1))


@pytest.mark.parametrize(
    "faults",
    [
        {"temp_fail_every": 3},
        {"temp_fail_first": 4},
        {"greylist": True},
        {"temp_fail_for_seconds": 0.4},
    ],
    ids=["every-3rd-451", "first-4-451", "greylisting", "421-for-a-while"],
)
def test_temporary_failures_are_retried_until_each_reader_has_one_copy(
    newsroom: Path, server: FaultServer, faults: dict[str, Any]
) -> None:
    emails = readers(12)
    subscribe(*emails)
    server.reset_faults(**faults)
    final = send_until_settled()
    exactly_once(server, emails)
    assert final["counts"]["sent"] == 12 and final["failures"] == []


def test_permanent_refusals_fail_that_reader_only_and_bounces_are_remembered(
    newsroom: Path, server: FaultServer
) -> None:
    emails = readers(5)
    subscribe(*emails)
    server.reset_faults(permanent_fail={emails[1]}, reject_data_for={emails[3]})
    result = digest("send", "--date", DAY)
    assert result.exit_code == 1
    exactly_once(server, [emails[0], emails[2], emails[4]])
    failures = {f["email"]: f for f in report()["failures"]}
    assert failures[emails[1]]["state"] == "failed" and failures[emails[1]]["code"] == 550
    assert failures[emails[3]]["code"] == 554 and "end of DATA" in failures[emails[3]]["reason"]
    statuses = {
        json.loads(line)["email"]: json.loads(line)["status"]
        for line in digest("subscribers", "list", "--json").output.splitlines()
    }
    assert statuses[emails[1]] == "bounced"  # 5.1.1 at RCPT: the mailbox does not exist
    assert statuses[emails[3]] == "active"  # content refused: not the reader's fault
    assert "this run: nothing" in digest("send", "--date", DAY).output  # nothing is retried


def test_a_lost_reply_after_the_data_is_ambiguous_and_retried_once(
    newsroom: Path, server: FaultServer
) -> None:
    emails = readers(3)
    subscribe(*emails)
    server.reset_faults(drop_after_data=2)  # the second message: emails[1]
    final = send_until_settled()
    assert final["counts"]["sent"] == 3, final
    # The documented exception: the server had the first copy, so this reader got two...
    assert server.recipients() == Counter({emails[0]: 1, emails[1]: 2, emails[2]: 1})
    # ...and the report says so, although the delivery reads "sent".
    assert final["possible_duplicates"] == [
        {"email": emails[1], "state": "sent", "uncertain_attempts": 1}
    ]
    text = digest("report", "--date", DAY).output
    assert "1 reader may have two copies" in text and f"{emails[1]}: sent" in text
    assert "1 may have two copies" in digest("status").output
    (edition,) = json.loads(digest("status", "--json").output)["editions"]
    assert edition["possible_duplicates"] == 1 and edition["held"] == 0


def test_a_connection_cut_while_writing_the_message_is_retried_not_held(
    newsroom: Path, server: FaultServer
) -> None:
    """A proxy resetting the connection part-way through the data: the server never got the
    final dot, so it cannot have the message, and the reader is simply tried again."""
    emails = readers(3)
    subscribe(*emails)
    server.reset_faults(cut_during_data={emails[1]})
    assert digest("send", "--date", DAY).exit_code == 1
    (failure,) = report()["failures"]
    assert failure["state"] == "deferred", failure
    assert "end of the data" in failure["reason"]
    server.reset_faults()
    final = send_until_settled()
    exactly_once(server, emails)
    assert final["status"] == "sent" and final["possible_duplicates"] == []


@pytest.mark.parametrize("lines", [1, 2000], ids=["one-packet", "many-packets"])
def test_a_reset_before_the_final_dot_is_temporary_and_a_lost_final_reply_ambiguous(
    lines: int,
) -> None:
    cut, dropped, fine = readers(3)
    raw = b"Subject: Test\r\n\r\n" + b"A line of the digest.\r\n" * lines
    with (
        FaultServer(cut_during_data={cut}, drop_after_data={dropped}) as server,
        SmtpTransport(SmtpSettings(**server.settings(timeout=2))) as transport,
    ):
        with pytest.raises(TemporaryDeliveryError, match="end of the data"):
            transport.send(raw, "digest@example.com", cut)
        with pytest.raises(AmbiguousDeliveryError, match="may have accepted"):
            transport.send(raw, "digest@example.com", dropped)
        transport.send(raw, "digest@example.com", fine)
    assert server.recipients() == Counter({dropped: 1, fine: 1})


def test_hold_policy_keeps_ambiguous_messages_for_an_editor(
    newsroom: Path, server: FaultServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DIGEST_DELIVERY__AMBIGUOUS_POLICY", "hold")
    emails = readers(2)
    subscribe(*emails)
    server.reset_faults(slow_reply_seconds=3)  # longer than the 2 s client timeout
    assert digest("send", "--date", DAY).exit_code == 1
    final = report()
    assert final["counts"]["ambiguous"] == 2 and final["held"] == 2
    assert all("held for an editor" in f["reason"] for f in final["failures"])
    # Nothing is left for a run to do: the edition is done, and later runs do not fail.
    assert final["status"] == "sent"
    server.reset_faults()
    later = digest("send", "--date", DAY)
    assert later.exit_code == 0 and "this run: nothing" in later.output
    assert "2 deliveries wait for your decision" in later.output
    status = digest("status").output
    assert "2 deliveries wait for your decision" in status
    assert f"'digest resend --date {DAY} --failed' sends them again" in status
    assert digest("resend", "--date", DAY, "--failed").exit_code == 0
    final = send_until_settled()
    assert server.recipients() == Counter(dict.fromkeys(emails, 2))
    assert final["held"] == 0 and len(final["possible_duplicates"]) == 2


@pytest.mark.parametrize(
    ("faults", "message"),
    [
        ({"mail_from_fail": True}, "the server refused the sender: 550"),
        ({"auth_required": ("digest", "s3cret")}, "530"),
        ({"banner_421": True}, "3 times in a row"),
    ],
    ids=["sender-refused", "auth-required", "421-banner"],
)
def test_failures_that_hit_every_message_stop_the_run_with_nothing_lost(
    newsroom: Path, server: FaultServer, faults: dict[str, Any], message: str
) -> None:
    emails = readers(6)
    subscribe(*emails)
    server.reset_faults(**faults)
    stopped = digest("send", "--date", DAY)
    assert stopped.exit_code == 1
    assert message in stopped.stderr
    assert server.received == []
    counts = report()["counts"]
    assert counts["sending"] == 0 and counts["sent"] == 0
    server.reset_faults()
    send_until_settled()
    exactly_once(server, emails)


def test_login_with_the_right_password(
    newsroom: Path, server: FaultServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    server.reset_faults(auth_required=("digest", "s3cret"))
    monkeypatch.setenv("DIGEST_SMTP__USERNAME", "digest")
    monkeypatch.setenv("DIGEST_SMTP__PASSWORD", "wrong")
    subscribe(*readers(2))
    refused = digest("send", "--date", DAY)
    assert refused.exit_code == 1 and "login refused: 535" in refused.stderr
    monkeypatch.setenv("DIGEST_SMTP__PASSWORD", "s3cret")
    send_until_settled()
    exactly_once(server, readers(2))


def test_temporary_failures_expire_after_the_horizon(
    newsroom: Path, server: FaultServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DIGEST_DELIVERY__RETRY_HORIZON_HOURS", str(0.5 / 3600))  # half a second
    subscribe(*readers(2))
    server.reset_faults(temp_fail_first=1000)
    final = send_until_settled()
    assert final["counts"]["expired"] == 2
    assert all(f["reason"].startswith("gave up after") for f in final["failures"])
    assert server.received == []


def test_unsubscribes_after_the_edition_froze_are_honoured(
    newsroom: Path, server: FaultServer
) -> None:
    emails = readers(3)
    subscribe(*emails)
    server.reset_faults(temp_fail_first=1000)
    digest("send", "--date", DAY)
    assert report()["counts"]["deferred"] == 3
    assert digest("subscribers", "remove", emails[0]).exit_code == 0
    server.reset_faults()
    final = send_until_settled()
    exactly_once(server, emails[1:])
    assert final["counts"]["suppressed"] == 1


def test_a_message_that_cannot_be_built_is_quarantined_and_the_others_proceed(
    newsroom: Path, server: FaultServer
) -> None:
    emails = readers(2)
    subscribe(*emails)
    # A row no validation would admit, as an older version or a direct import might leave it.
    with sqlite3.connect(newsroom / "var" / "digest.db") as db:
        db.execute(
            "UPDATE subscribers SET email = 'broken address@example.com' WHERE email = ?",
            (emails[0],),
        )
    final = send_until_settled()
    exactly_once(server, emails[1:])
    (failure,) = final["failures"]
    assert failure["state"] == "quarantined" and failure["reason"].startswith("failed 3 times")


def test_staging_redirects_every_message_to_one_address(
    newsroom: Path, server: FaultServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DIGEST_DELIVERY__REDIRECT_TO", "qa@example.com")
    subscribe(*readers(4))
    assert digest("send", "--date", DAY).exit_code == 0
    assert server.recipients() == Counter({"qa@example.com": 4})
    assert report()["counts"]["sent"] == 4


def test_several_connections_send_each_message_once(
    newsroom: Path, server: FaultServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DIGEST_DELIVERY__CONNECTIONS", "4")
    monkeypatch.setenv("DIGEST_DELIVERY__BATCH_SIZE", "10")
    emails = readers(40)
    subscribe(*emails)
    server.reset_faults(slow_reply_seconds=0.02, temp_fail_every=7)
    send_until_settled()
    exactly_once(server, emails)
    assert server.connections >= 4


def test_dry_run_lists_variants_and_sends_nothing(newsroom: Path, server: FaultServer) -> None:
    digest("subscribers", "add", "all@example.com")
    digest("subscribers", "add", "congress@example.com", "--section", "congress")
    planned = digest("send", "--date", DAY, "--dry-run").output
    assert "all@example.com  ukraine\n" in planned
    assert "congress@example.com  suppressed: none of the subscriber's sections" in planned
    assert "Would send: 1 × ukraine" in planned
    assert server.received == []


def test_resend_to_one_reader_sends_a_second_copy_on_request(
    newsroom: Path, server: FaultServer
) -> None:
    emails = readers(2)
    subscribe(*emails)
    send_until_settled()
    assert digest("resend", "--date", DAY, "--to", emails[1]).exit_code == 0
    send_until_settled()
    assert server.recipients() == Counter({emails[0]: 1, emails[1]: 2})


def _send_process(cwd: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "digest", "send", "--date", DAY],
        cwd=cwd,
        env={**os.environ},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )


def _sending_midway(cwd: Path, server: FaultServer) -> tuple[subprocess.Popen[bytes], list[str]]:
    """A `digest send` process to 40 readers over a slow server, 10 messages in."""
    emails = readers(40)
    subscribe(*emails)
    server.reset_faults(slow_reply_seconds=0.05)
    process = _send_process(cwd)
    wait_for(lambda: len(server.received) >= 10, seconds=20)
    return process, emails


def test_a_send_killed_mid_run_resumes_without_losing_or_repeating(
    newsroom: Path, server: FaultServer
) -> None:
    process, emails = _sending_midway(newsroom, server)
    process.send_signal(signal.SIGKILL)
    process.wait()
    assert 10 <= len(server.received) < 40, "the kill should land mid-run"
    server.reset_faults()
    final = send_until_settled()
    assert final["counts"]["sent"] == 40
    counts = server.recipients()
    assert set(counts) == set(emails)
    # At most the message in flight at the kill (one connection) arrives twice, and the
    # report names whoever may have it twice.
    assert sum(n - 1 for n in counts.values()) <= 1
    twice = {d["email"] for d in final["possible_duplicates"]}
    assert {email for email, n in counts.items() if n > 1} <= twice
    assert len(twice) <= 1


def test_two_senders_at_once_send_each_message_once(
    newsroom: Path, server: FaultServer, store_backend: str
) -> None:
    """On PostgreSQL the leases are taken with FOR UPDATE SKIP LOCKED."""
    _second_store(newsroom, store_backend)
    emails = readers(60)
    subscribe(*emails)
    digest("build", "--date", DAY)
    server.reset_faults(slow_reply_seconds=0.01)
    first, second = _send_process(newsroom), _send_process(newsroom)
    for process in (first, second):
        _, stderr = process.communicate(timeout=60)
        assert process.returncode == 0, stderr.decode()
    exactly_once(server, emails)
    assert report()["counts"]["sent"] == 60


def _second_store(newsroom: Path, store_backend: str) -> None:
    """On PostgreSQL the store starts empty: migrated and stocked like the SQLite one."""
    if store_backend == "postgresql":
        assert digest("db", "upgrade").exit_code == 0
        assert digest("ingest", str(newsroom / "story.jsonl")).exit_code == 0


@pytest.mark.parametrize(
    ("delivery", "count", "later_runs"),
    [
        # As found: lease_seconds 10, 5 a second, 600 readers, a second `digest send` 15 s
        # later. Here the same ratios of lease to batch time, in less time.
        ({"LEASE_SECONDS": "2", "RATE_PER_SECOND": "20"}, 200, [3.0]),
        # As found: the stock lease (300 s) and batch (200 rows), a relay taking 1.6 s a
        # message, and `digest send` from cron every 5 minutes (one lease).
        ({"LEASE_SECONDS": "3", "BATCH_SIZE": "200", "RATE_PER_SECOND": "25"}, 260, [3.0, 6.0]),
    ],
    ids=["short-lease", "stock-batch-slow-relay"],
)
def test_a_lease_never_runs_out_under_a_live_sender(
    newsroom: Path,
    server: FaultServer,
    store_backend: str,
    monkeypatch: pytest.MonkeyPatch,
    delivery: dict[str, str],
    count: int,
    later_runs: list[float],
) -> None:
    """A sender whose batch takes longer than its lease keeps its rows: later runs, which
    start while it works, take only what it has not claimed, and nobody gets two copies."""
    for name, value in delivery.items():
        monkeypatch.setenv(f"DIGEST_DELIVERY__{name}", value)
    _second_store(newsroom, store_backend)
    emails = readers(count)
    subscribe(*emails)
    digest("build", "--date", DAY)
    senders = [_send_process(newsroom)]
    wait_for(lambda: len(server.received) > 0)
    started = time.monotonic()
    for at in later_runs:
        time.sleep(max(0.0, started + at - time.monotonic()))
        senders.append(_send_process(newsroom))
    for process in senders:
        _, stderr = process.communicate(timeout=120)
        assert process.returncode == 0, stderr.decode()
    exactly_once(server, emails)
    final = report()
    assert final["counts"]["sent"] == count and final["possible_duplicates"] == []


def test_the_rate_limit_is_never_exceeded(
    newsroom: Path, server: FaultServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A lower bound only: sending 10 messages at 20 a second cannot take less than 0.45 s."""
    monkeypatch.setenv("DIGEST_DELIVERY__RATE_PER_SECOND", "20")
    monkeypatch.setenv("DIGEST_DELIVERY__CONNECTIONS", "4")
    emails = readers(10)
    subscribe(*emails)
    digest("build", "--date", DAY)
    started = time.monotonic()
    assert digest("send", "--date", DAY).exit_code == 0
    assert time.monotonic() - started >= 0.45
    exactly_once(server, emails)


def test_a_local_send_hour_holds_the_message_until_then(
    tmp_path: Path, server: FaultServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A story from an hour ago, for the next edition; one reader wants it at 23:00 UTC."""
    published = datetime.now(UTC) - timedelta(hours=1)
    day = (published - timedelta(hours=7)).date() + timedelta(days=1)
    (tmp_path / "story.jsonl").write_text(json.dumps({**STORY, "published": published.isoformat()}))
    monkeypatch.setenv("DIGEST_DELIVERY__TRANSPORT", "smtp")
    digest("db", "upgrade")
    digest("ingest", str(tmp_path / "story.jsonl"))
    digest("subscribers", "add", "now@example.com")
    digest("subscribers", "add", "late@example.com", "--timezone", "UTC", "--send-hour", "23")
    assert digest("send", "--date", str(day)).exit_code == 0
    assert server.recipients() == Counter({"now@example.com": 1})
    with sqlite3.connect(tmp_path / "var" / "digest.db") as db:
        ((status, release_at),) = db.execute(
            "SELECT d.status, d.release_at FROM deliveries d JOIN subscribers s "
            "USING (subscriber_id) WHERE s.email = 'late@example.com'"
        )
    assert status == "pending"
    assert datetime.fromisoformat(release_at).replace(tzinfo=UTC) == local_instant(day, 23, "UTC")


def test_sigterm_stops_cleanly_and_leaves_a_resumable_ledger(
    newsroom: Path, server: FaultServer
) -> None:
    process, emails = _sending_midway(newsroom, server)
    process.send_signal(signal.SIGTERM)
    stdout, _ = process.communicate(timeout=20)
    assert process.returncode == 0
    assert b"Stopped on request" in stdout
    counts = report()["counts"]
    assert counts["sending"] == 0 and counts["pending"] > 0
    server.reset_faults()
    send_until_settled()
    exactly_once(server, emails)  # a clean stop repeats nothing
