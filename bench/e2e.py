"""End to end: one edition to N subscribers into Postfix's smtp-sink, sent by the local engine
on SQLite and by PostgreSQL with two Celery workers (Redis broker). For each: wall time from
`digest send` to the edition recorded as sent, messages a second, CPU per message (the
digest processes' own, and the whole machine's, which adds the database, Redis and the sink),
and peak resident memory per process.

    .venv/bin/python bench/e2e.py [N]                  # make bench-e2e: N = 100,000
    .venv/bin/python bench/e2e.py --memory N [SECONDS]  # peak memory only, SECONDS into sending

The memory mode stops each run after SECONDS (45 by default): enough to see whether memory
grows with the list, without sending a million messages.
"""

import os
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import psycopg
import redis
from harness import (
    DAY,
    DIGEST,
    machine_busy,
    measured,
    process_cpu,
    process_peak_mib,
    sink,
    smtp_env,
    store,
)

REDIS_URL = "redis://127.0.0.1:6379/0"
WORKERS = 2


def celery_env(env: dict[str, str], port: int) -> dict[str, str]:
    prefix = f"digest-bench-{uuid.uuid4().hex[:8]}"
    return {
        **env,
        **smtp_env(port),
        "DIGEST_DELIVERY__ENGINE": "celery",
        "DIGEST_CELERY__BROKER_URL": REDIS_URL,
        "DIGEST_CELERY__QUEUE": prefix,
        "DIGEST_CELERY__KEY_PREFIX": prefix,
    }


@contextmanager
def workers(env: dict[str, str], folder: Path, count: int) -> Iterator[list[int]]:
    """`count` worker processes (solo pool), ready; yields their pids."""
    processes, logs = [], []
    for n in range(count):
        log = folder / f"worker{n}.log"
        with log.open("wb") as output:
            command = [sys.executable, "-m", "celery", "-A", "digest.tasks", "worker"]
            command += ["--pool=solo", f"--hostname=bench{n}@%h", "--loglevel=INFO"]
            command += ["--without-gossip", "--without-mingle", "--without-heartbeat"]
            command += ["-Q", env["DIGEST_CELERY__QUEUE"]]
            processes.append(subprocess.Popen(command, env=env, stdout=output, stderr=output))
        logs.append(log)
    try:
        deadline = time.monotonic() + 60
        while not all(b" ready." in log.read_bytes() for log in logs):
            if time.monotonic() > deadline or any(p.poll() is not None for p in processes):
                raise SystemExit("a worker did not start: " + logs[0].read_text()[-2000:])
            time.sleep(0.1)
        yield [p.pid for p in processes]
    finally:
        for process in processes:
            process.send_signal(signal.SIGTERM)
        for process in processes:
            process.wait()
        client = redis.Redis.from_url(REDIS_URL)
        keys = list(client.scan_iter(f"{env['DIGEST_CELERY__QUEUE']}*"))
        if keys:
            client.delete(*keys)


def edition_sent(env: dict[str, str]) -> bool:
    url = env["DIGEST_DATABASE__URL"].replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(url) as conn:
        row = conn.execute("SELECT status FROM editions").fetchone()
    return row is not None and row[0] == "sent"


def report(label: str, n: int, seconds: float, ours: float, machine: float, peaks: str) -> None:
    print(
        f"  {label:<34} {n:>9,} {seconds:7.1f} s {n / seconds:7.0f}/s "
        f"{ours / n * 1e3:6.2f} / {machine / n * 1e3:5.2f} ms  {peaks}"
    )


def local_run(n: int, port: int) -> None:
    with tempfile.TemporaryDirectory() as folder, store(Path(folder), n, "sqlite") as env:
        busy = machine_busy()
        usage = measured([*DIGEST, "send", "--date", DAY], {**env, **smtp_env(port)})
        machine = machine_busy() - busy
    peaks = f"send {usage.peak_mib:.0f} MiB"
    report("local engine, SQLite", n, usage.seconds, usage.cpu, machine, peaks)


def celery_run(n: int, port: int) -> None:
    with tempfile.TemporaryDirectory() as folder, store(Path(folder), n, "postgresql") as env:
        env = celery_env(env, port)
        with workers(env, Path(folder), WORKERS) as pids:
            cpu = {pid: process_cpu(pid) for pid in pids}  # without their start-up
            busy, started = machine_busy(), time.perf_counter()
            enqueue = measured([*DIGEST, "send", "--date", DAY], env)
            while not edition_sent(env):
                time.sleep(0.2)
            seconds = time.perf_counter() - started
            machine = machine_busy() - busy
            ours = enqueue.cpu + sum(process_cpu(pid) - cpu[pid] for pid in pids)
            peaks = ", ".join(f"{process_peak_mib(pid):.0f}" for pid in pids)
    peaks = f"send {enqueue.peak_mib:.0f} MiB (enqueue {enqueue.seconds:.1f} s), workers {peaks}"
    report(f"Celery, PostgreSQL, {WORKERS} workers", n, seconds, ours, machine, peaks)


def throughput(n: int) -> None:
    print(f"{n:,} subscribers, one edition (one story, 19 KB a message) into smtp-sink")
    print(f"  {'':<34} {'messages':>9} {'wall':>9} {'rate':>9} CPU/message ours / machine")
    with sink("smtp-sink") as port:
        local_run(n, port)
        celery_run(n, port)


def local_memory(n: int, port: int, seconds: float) -> str:
    with tempfile.TemporaryDirectory() as folder, store(Path(folder), n, "sqlite") as env:
        command = [*DIGEST, "send", "--date", DAY]
        sender = subprocess.Popen(command, env={**env, **smtp_env(port)}, stdout=subprocess.DEVNULL)
        time.sleep(seconds)
        peak = process_peak_mib(sender.pid)
        sender.kill()
        sender.wait()
    return f"send {peak:.0f} MiB"


def celery_memory(n: int, port: int, seconds: float) -> str:
    with tempfile.TemporaryDirectory() as folder, store(Path(folder), n, "postgresql") as env:
        env = celery_env(env, port)
        with workers(env, Path(folder), WORKERS) as pids:
            started = time.monotonic()
            enqueue = measured([*DIGEST, "send", "--date", DAY], env)
            time.sleep(max(0.0, seconds - (time.monotonic() - started)))
            peaks = ", ".join(f"{process_peak_mib(pid):.0f}" for pid in pids)
    return f"send (enqueue all) {enqueue.peak_mib:.0f} MiB, workers {peaks} MiB"


def memory(n: int, seconds: float) -> None:
    print(f"{n:,} subscribers, peak memory {seconds:g} s into sending")
    with sink("smtp-sink") as port:
        print(f"  local engine, SQLite: {local_memory(n, port, seconds)}")
        print(f"  Celery, PostgreSQL, {WORKERS} workers: {celery_memory(n, port, seconds)}")


if __name__ == "__main__":
    os.environ.pop("DIGEST_CONFIG", None)
    if sys.argv[1:2] == ["--memory"]:
        memory(int(sys.argv[2]), float(sys.argv[3]) if len(sys.argv) > 3 else 45.0)
    else:
        throughput(int(sys.argv[1]) if len(sys.argv) > 1 else 100_000)
