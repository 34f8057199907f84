"""`digest run` as real processes: one sender at a time, takeover, late runs, clean stops."""

import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from conftest import digest, stocked_station, wait_for
from slow_feeds import SlowFeeds, slow_feeds
from smtp_faults import FaultServer
from test_delivery import STORY, readers, subscribe


@pytest.fixture
def station(
    store_backend: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[FaultServer]:
    """A store (SQLite, then PostgreSQL) whose edition was due a minute ago, with a story from
    two hours ago."""
    now = datetime.now(UTC)
    due = now - timedelta(minutes=1)
    story = {**STORY, "published": (now - timedelta(hours=2)).isoformat()}
    (tmp_path / "story.jsonl").write_text(json.dumps(story) + "\n")
    settings = {
        "EDITION__SEND_TIME": f"{due:%H:%M}",
        "DELIVERY__TRANSPORT": "smtp",
        "DELIVERY__RETRY_BASE_SECONDS": "0.05",
        "SCHEDULE__POLL_SECONDS": "0.5",
        "SCHEDULE__LEASE_SECONDS": "3",
        "WEB__BASE_URL": "https://news.example.org/",
    }
    with stocked_station(monkeypatch, tmp_path / "story.jsonl", settings, 5) as server:
        yield server


def daemon(cwd: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "digest", "run"],
        cwd=cwd,
        env={**os.environ},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )


def stop(process: subprocess.Popen[bytes]) -> str:
    process.send_signal(signal.SIGTERM)
    output, _ = process.communicate(timeout=30)
    assert process.returncode == 0, output.decode()
    return output.decode()


def status() -> dict:  # type: ignore[type-arg]
    return json.loads(digest("status", "--json").output)


def test_two_daemons_send_each_message_once(tmp_path: Path, station: FaultServer) -> None:
    emails = readers(30)
    subscribe(*emails)
    station.reset_faults(slow_reply_seconds=0.01)
    first, second = daemon(tmp_path), daemon(tmp_path)
    wait_for(lambda: len(station.received) >= 30)
    logs = stop(first) + stop(second)
    assert station.recipients() == Counter(dict.fromkeys(emails, 1))
    assert "standby: another daemon holds the sender lease" in logs
    assert status()["editions"][0]["counts"] == {"sent": 30}


def test_the_standby_finishes_when_the_holder_dies(tmp_path: Path, station: FaultServer) -> None:
    emails = readers(40)
    subscribe(*emails)
    station.reset_faults(slow_reply_seconds=0.05)
    holder = daemon(tmp_path)
    wait_for(lambda: len(station.received) >= 5)
    standby = daemon(tmp_path)
    time.sleep(0.5)
    holder.send_signal(signal.SIGKILL)
    holder.wait()
    wait_for(lambda: set(station.recipients()) == set(emails))
    logs = stop(standby)
    assert "sender lease taken" in logs
    # At most the message in flight at the kill arrives twice.
    assert sum(n - 1 for n in station.recipients().values()) <= 1


def test_a_daemon_started_after_the_cutoff_skips_and_records_why(
    tmp_path: Path, station: FaultServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(
        "DIGEST_EDITION__SEND_TIME", f"{datetime.now(UTC) - timedelta(hours=3):%H:%M}"
    )
    monkeypatch.setenv("DIGEST_SCHEDULE__CUTOFF_HOURS", "1")
    subscribe(*readers(3))
    process = daemon(tmp_path)
    wait_for(lambda: bool(status()["editions"]))
    logs = stop(process)
    (edition,) = status()["editions"]
    assert edition["status"] == "skipped"
    assert "past the 1 h 00 min cutoff" in edition["skip_reason"]
    assert "edition skipped" in logs
    assert station.received == []


def test_sigterm_mid_send_leaves_a_resumable_ledger(tmp_path: Path, station: FaultServer) -> None:
    emails = readers(40)
    subscribe(*emails)
    station.reset_faults(slow_reply_seconds=0.05)
    process = daemon(tmp_path)
    wait_for(lambda: len(station.received) >= 5)
    logs = stop(process)
    assert "sender lease released" in logs
    counts = status()["editions"][0]["counts"]
    assert "sending" not in counts and counts.get("pending", 0) > 0
    station.reset_faults()
    restarted = daemon(tmp_path)
    wait_for(lambda: set(station.recipients()) == set(emails))
    stop(restarted)
    assert station.recipients() == Counter(dict.fromkeys(emails, 1))


def test_sighup_reloads_the_configuration(tmp_path: Path, station: FaultServer) -> None:
    process = daemon(tmp_path)
    wait_for(lambda: status()["sender_lease"] is not None)
    time.sleep(0.3)
    process.send_signal(signal.SIGHUP)
    time.sleep(1.0)
    assert process.poll() is None, "the daemon must keep running"
    assert "configuration reloaded" in stop(process)


def test_each_configured_edition_follows_its_own_schedule(
    tmp_path: Path, station: FaultServer
) -> None:
    due = datetime.now(UTC) - timedelta(minutes=1)
    long_ago = due - timedelta(hours=12)  # past the 6-hour cutoff
    (tmp_path / "config.toml").write_text(
        f'[[editions]]\nname = "morning"\ncron = "{due.minute} {due.hour} * * *"\n'
        'sections = ["ukraine"]\n\n'
        f'[[editions]]\nname = "evening"\ncron = "{long_ago.minute} {long_ago.hour} * * *"\n'
    )
    emails = readers(3)
    subscribe(*emails)
    process = daemon(tmp_path)
    wait_for(lambda: len(station.received) >= 3)
    wait_for(lambda: len(status()["editions"]) == 2)
    stop(process)
    assert station.recipients() == Counter(dict.fromkeys(emails, 1))
    editions = {e["edition"].split(":")[0]: e for e in status()["editions"]}
    assert editions["morning"]["counts"] == {"sent": 3}
    assert editions["evening"]["status"] == "skipped"
    assert set(status()["next_editions"]) == {"morning", "evening"}
    unknown = digest("--edition", "noon", "report")
    assert unknown.exit_code == 2
    assert "no edition 'noon'; configured: morning, evening" in unknown.stderr


def test_a_changed_config_file_is_reloaded(tmp_path: Path, station: FaultServer) -> None:
    config = tmp_path / "config.toml"
    config.write_text('[edition]\ntitle = "Morning Brief"\n')
    process = daemon(tmp_path)
    wait_for(lambda: status()["sender_lease"] is not None)
    time.sleep(0.2)
    config.write_text('[edition]\ntitle = "Evening Brief"\n')
    os.utime(config, (time.time() + 5, time.time() + 5))  # a visibly newer change
    time.sleep(2.5)  # a heartbeat comes every lease_seconds / 3 = 1 s
    logs = stop(process)
    assert "configuration file changed" in logs and "configuration reloaded" in logs


def test_the_daemon_deletes_articles_past_keep_days_after_the_edition(
    tmp_path: Path, station: FaultServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DIGEST_DATABASE__KEEP_DAYS", "3")
    old = {
        **STORY,
        "title": "Kyiv counts the damage from last week's strikes",
        "url": "https://example.com/kyiv-last-week",
        "published": (datetime.now(UTC) - timedelta(days=10)).isoformat(),
    }
    (tmp_path / "old.jsonl").write_text(json.dumps(old) + "\n")
    assert digest("ingest", str(tmp_path / "old.jsonl")).exit_code == 0
    emails = readers(2)
    subscribe(*emails)
    process = daemon(tmp_path)
    wait_for(lambda: set(station.recipients()) == set(emails))
    logs = stop(process)
    assert "articles pruned" in logs
    listed = digest("articles", "list", "--json").output.splitlines()
    assert [json.loads(line)["url"] for line in listed] == [STORY["url"]]


@pytest.fixture
def slow() -> Iterator[SlowFeeds]:
    with slow_feeds() as feeds:
        yield feeds


def test_a_trickling_feed_does_not_hold_the_edition_back(
    tmp_path: Path, station: FaultServer, slow: SlowFeeds, monkeypatch: pytest.MonkeyPatch
) -> None:
    feeds = [slow.url("/endless"), slow.url("/news.rss")]
    monkeypatch.setenv("DIGEST_FEEDS__SOURCES", json.dumps(feeds))
    monkeypatch.setenv("DIGEST_FEEDS__REFRESH_BUDGET", "1")
    emails = readers(3)
    subscribe(*emails)
    process = daemon(tmp_path)
    try:
        wait_for(lambda: set(station.recipients()) == set(emails))
    finally:
        logs = stop(process)
    assert "edition sent" in logs
    assert status()["editions"][0]["counts"] == {"sent": 3}
    endless, news = (next(f for f in status()["feeds"] if f["source"] == url) for url in feeds)
    assert endless["last_error"].startswith(f"{feeds[0]}: cut at the end of the 1 s refresh")
    assert endless["failed_at"] is not None and news["failed_at"] is None
    listed = digest("articles", "list", "--json").output
    assert "https://example.com/news.rss/story" in listed


def test_sigterm_during_the_feed_refresh_stops_the_daemon_at_once(
    tmp_path: Path, station: FaultServer, slow: SlowFeeds, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With the default deadline, the fetch would go on for a minute."""
    monkeypatch.setenv("DIGEST_FEEDS__SOURCES", json.dumps([slow.url("/endless")]))
    subscribe(*readers(3))
    process = daemon(tmp_path)
    try:
        wait_for(lambda: "/endless" in slow.requested)
        process.send_signal(signal.SIGTERM)
        output, _ = process.communicate(timeout=10)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
    logs = output.decode()
    assert process.returncode == 0, logs
    assert "edition stopped" in logs and "sender lease released" in logs
    assert status()["editions"] == []  # nothing built from a refresh cut short
    assert station.received == []
