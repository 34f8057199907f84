"""Sending with Celery workers: real worker processes, PostgreSQL, Redis or RabbitMQ, and an
SMTP server.

Each test has its own database, queue and Redis key prefix. What is asserted is what readers
would notice: every subscriber gets the edition once, also when a batch is delivered twice or
a worker is killed mid-run (then at most the one message it had in flight arrives twice, and
the report names its reader), and a killed worker's batch goes on within seconds although
the broker keeps its task for an hour.
"""

import json
import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import redis
from kombu import Connection

from conftest import _service_missing, digest, stocked_station, wait_for
from digest.broker import SharedRateLimit
from digest.config import CelerySettings
from smtp_faults import FaultServer
from test_delivery import DAY, STORY, report

REDIS_URL = "redis://127.0.0.1:6379/0"
AMQP_URL = "amqp://guest:guest@127.0.0.1:5672//"


@pytest.fixture
def prefix() -> Iterator[str]:
    """A queue name and key prefix of this test's own in Redis; its keys are removed after."""
    client = redis.Redis.from_url(REDIS_URL)
    try:
        client.ping()
    except redis.ConnectionError as exc:
        _service_missing(f"Redis on 127.0.0.1:6379 is not reachable: {exc}")
    name = f"digest-test-{uuid.uuid4().hex[:10]}"
    try:
        yield name
    finally:
        keys = list(client.scan_iter(f"{name}*"))
        if keys:
            client.delete(*keys)
        client.close()


@pytest.fixture(params=["redis", "rabbitmq"])
def broker_url(request: pytest.FixtureRequest, prefix: str) -> Iterator[str]:
    """Redis, then RabbitMQ, whose queue of this test's (named `prefix`) is deleted after."""
    if request.param == "redis":
        yield REDIS_URL
        return
    try:
        with Connection(AMQP_URL, connect_timeout=3) as probe:
            probe.connect()
    except OSError as exc:
        _service_missing(f"RabbitMQ on 127.0.0.1:5672 is not reachable: {exc}")
    try:
        yield AMQP_URL
    finally:
        with Connection(AMQP_URL) as connection:
            connection.default_channel.queue_delete(prefix)


def _cluster(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, database: str, broker: str, prefix: str
) -> Iterator[FaultServer]:
    """A PostgreSQL store with one story for DAY, the celery engine on this test's queue, and
    an SMTP server; worker processes read the same settings from the environment. The
    broker's visibility timeout is its default, an hour: nothing may wait for it."""
    (tmp_path / "story.jsonl").write_text(json.dumps(STORY) + "\n")
    settings = {
        "DATABASE__URL": database,
        "DELIVERY__ENGINE": "celery",
        "DELIVERY__TRANSPORT": "smtp",
        "DELIVERY__BATCH_SIZE": "50",
        "DELIVERY__LEASE_SECONDS": "3",
        "CELERY__BROKER_URL": broker,
        "CELERY__QUEUE": prefix,
        "CELERY__KEY_PREFIX": prefix,
        "WEB__BASE_URL": "https://news.example.org/",
    }
    with stocked_station(monkeypatch, tmp_path / "story.jsonl", settings, 10) as server:
        yield server


@pytest.fixture
def cluster(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, postgres_url: str, prefix: str
) -> Iterator[FaultServer]:
    """The station with Redis as the broker."""
    yield from _cluster(tmp_path, monkeypatch, postgres_url, REDIS_URL, prefix)


@pytest.fixture
def any_cluster(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    postgres_url: str,
    broker_url: str,
    prefix: str,
) -> Iterator[FaultServer]:
    """The station with Redis, then with RabbitMQ as the broker."""
    yield from _cluster(tmp_path, monkeypatch, postgres_url, broker_url, prefix)


@pytest.fixture
def start_worker(tmp_path: Path) -> Iterator[Callable[[], subprocess.Popen[bytes]]]:
    """Starts `celery -A digest.tasks worker` processes and waits until each is ready; stops
    whatever is left of them at the end."""
    started: list[subprocess.Popen[bytes]] = []

    def start() -> subprocess.Popen[bytes]:
        log = tmp_path / f"worker{len(started)}.log"
        command = [
            *(sys.executable, "-m", "celery", "-A", "digest.tasks", "worker"),
            *("--pool=solo", f"--hostname=w{len(started)}@%h", "--loglevel=INFO"),
            *("--without-gossip", "--without-mingle", "--without-heartbeat"),
            *("-Q", os.environ["DIGEST_CELERY__QUEUE"]),
        ]
        with log.open("wb") as output:
            process = subprocess.Popen(
                command, cwd=tmp_path, env={**os.environ}, stdout=output, stderr=output
            )
        started.append(process)
        wait_for(lambda: b" ready." in log.read_bytes() or process.poll() is not None)
        assert process.poll() is None, log.read_text()
        return process

    yield start
    for process in started:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
    for process in started:
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def readers(count: int) -> list[str]:
    return [f"reader{n:04d}@example.com" for n in range(count)]


def subscribe(tmp_path: Path, emails: list[str]) -> None:
    csv = tmp_path / "subscribers.csv"
    csv.write_text("email\n" + "".join(f"{email}\n" for email in emails))
    assert digest("subscribers", "import", str(csv)).exit_code == 0


def status() -> dict[str, Any]:
    return json.loads(digest("status", "--json").output)


def settled(count: int) -> Callable[[], bool]:
    """The edition is sent: every delivery recorded and nothing left to do."""
    return lambda: report()["counts"]["sent"] == count and report()["status"] == "sent"


def test_three_workers_send_a_2000_reader_edition_each_once(
    tmp_path: Path, cluster: FaultServer, start_worker: Callable[[], subprocess.Popen[bytes]]
) -> None:
    emails = readers(2000)
    subscribe(tmp_path, emails)
    for _ in range(3):
        start_worker()
    sent = digest("send", "--date", DAY)
    assert sent.exit_code == 0, sent.output
    assert "2000 handed to the workers in 40 batches" in sent.output
    wait_for(settled(2000), seconds=120)
    assert cluster.recipients() == Counter(dict.fromkeys(emails, 1))
    (edition,) = status()["editions"]
    assert edition["counts"] == {"sent": 2000}
    workers = edition["workers"]
    assert len(workers) == 3 and all(w["counts"]["sent"] > 0 for w in workers)
    assert sum(w["counts"]["sent"] for w in workers) == 2000
    assert "this run" not in digest("send", "--date", DAY).output  # nothing left to queue
    assert "0 handed to the workers" in digest("send", "--date", DAY).output


def test_a_killed_workers_batch_goes_on_within_a_lease_and_repeats_at_most_one_message(
    tmp_path: Path, any_cluster: FaultServer, start_worker: Callable[[], subprocess.Popen[bytes]]
) -> None:
    """The broker keeps the dead worker's task for an hour (Redis), or hands it on at once
    (RabbitMQ): either way the others take its rows over within a lease (3 s here)."""
    emails = readers(600)
    subscribe(tmp_path, emails)
    any_cluster.reset_faults(slow_reply_seconds=0.01)
    doomed, *_ = [start_worker() for _ in range(3)]
    assert digest("send", "--date", DAY).exit_code == 0
    wait_for(lambda: len(any_cluster.received) >= 100)
    doomed.send_signal(signal.SIGKILL)
    doomed.wait()
    assert len(any_cluster.received) < 600, "the kill should land mid-run"
    wait_for(settled(600), seconds=60)
    counts = any_cluster.recipients()
    assert set(counts) == set(emails)
    # The documented bound: one connection per worker, so at most one message twice, and
    # the report names whoever may have it twice.
    assert sum(n - 1 for n in counts.values()) <= 1
    twice = {d["email"] for d in report()["possible_duplicates"]}
    assert {email for email, n in counts.items() if n > 1} <= twice


def test_a_workers_lease_never_runs_out_while_it_sends(
    tmp_path: Path,
    cluster: FaultServer,
    start_worker: Callable[[], subprocess.Popen[bytes]],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A batch that takes longer than the lease (2 s) at the shared rate, and `digest send`
    run again meanwhile: the rows a worker is sending are not queued for another."""
    monkeypatch.setenv("DIGEST_DELIVERY__LEASE_SECONDS", "2")
    monkeypatch.setenv("DIGEST_DELIVERY__BATCH_SIZE", "200")
    monkeypatch.setenv("DIGEST_DELIVERY__RATE_PER_SECOND", "20")
    emails = readers(150)
    subscribe(tmp_path, emails)
    for _ in range(2):
        start_worker()
    assert digest("send", "--date", DAY).exit_code == 0
    wait_for(lambda: len(cluster.received) > 0)
    time.sleep(3)
    assert digest("send", "--date", DAY).exit_code == 0
    wait_for(settled(150), seconds=60)
    assert cluster.recipients() == Counter(dict.fromkeys(emails, 1))
    assert report()["possible_duplicates"] == []


def test_a_batch_delivered_twice_sends_each_message_once(
    tmp_path: Path,
    cluster: FaultServer,
    start_worker: Callable[[], subprocess.Popen[bytes]],
    prefix: str,
) -> None:
    emails = readers(200)
    subscribe(tmp_path, emails)
    assert "in 4 batches" in digest("send", "--date", DAY).output
    broker = redis.Redis.from_url(REDIS_URL)
    queue = f"{prefix}:{prefix}"  # the key prefix, then the queue's name
    tasks = broker.lrange(queue, 0, -1)
    assert len(tasks) == 4
    broker.rpush(queue, *tasks)  # every task enqueued a second time, as a broker may
    for _ in range(2):
        start_worker()
    wait_for(lambda: broker.llen(queue) == 0 and not broker.hlen(f"{prefix}:unacked"), 60)
    wait_for(settled(200))
    assert cluster.recipients() == Counter(dict.fromkeys(emails, 1))


def test_the_rate_limit_holds_across_workers(prefix: str) -> None:
    """Two workers' limiters share one schedule in Redis. A lower bound only: 12 messages at
    20 a second between them cannot take less than 0.55 s."""
    settings = CelerySettings(broker_url=REDIS_URL, key_prefix=prefix)
    limiters = [SharedRateLimit(settings, per_second=20, per_hour=0) for _ in range(2)]

    def send_six(limiter: SharedRateLimit) -> None:
        for _ in range(6):
            limiter.wait()

    workers = [threading.Thread(target=send_six, args=(limiter,)) for limiter in limiters]
    started = time.monotonic()
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    assert time.monotonic() - started >= 0.55
