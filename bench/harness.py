"""What the sending benchmarks share: SMTP sinks on loopback, a store with N subscribers (SQLite
or a PostgreSQL database of its own), and resource figures of child processes."""

import json
import os
import shutil
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import psycopg

DAY = "2024-06-24"
POSTGRES_ADMIN = "postgresql://postgres@127.0.0.1:5432/test"
STORY = {
    "title": "Kyiv hit by drones overnight",
    "url": "https://example.com/kyiv",
    "source": "Wire",
    "published": "2024-06-23T12:00:00Z",
    "text": "Russia launched drones at Kyiv, Ukrainian officials said. " * 20,
}
DIGEST = [sys.executable, "-m", "digest"]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def smtp_sink_binary() -> str | None:
    found = shutil.which("smtp-sink") or "/usr/sbin/smtp-sink"
    return found if Path(found).exists() else None


@contextmanager
def sink(kind: str) -> Iterator[int]:
    """A discarding SMTP server on loopback ("smtp-sink" or "aiosmtpd"); yields its port."""
    port = free_port()
    if kind == "smtp-sink":
        binary = smtp_sink_binary()
        if binary is None:
            raise SystemExit("smtp-sink not found: apt-get install postfix")
        user = ["-u", "nobody"] if os.geteuid() == 0 else []  # it refuses to run as root
        command = [binary, *user, f"127.0.0.1:{port}", "256"]
    else:
        command = [sys.executable, "-m", "aiosmtpd", "-n", "-l", f"127.0.0.1:{port}"]
        command += ["-c", "aiosmtpd.handlers.Sink"]
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        for _ in range(200):
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                time.sleep(0.05)
        else:
            raise SystemExit(f"{kind} did not start")
        yield port
    finally:
        process.terminate()
        process.wait()


def smtp_env(port: int, connections: int = 1) -> dict[str, str]:
    return {
        "DIGEST_DELIVERY__TRANSPORT": "smtp",
        "DIGEST_SMTP__HOST": "127.0.0.1",
        "DIGEST_SMTP__PORT": str(port),
        "DIGEST_SMTP__SECURITY": "none",
        "DIGEST_DELIVERY__CONNECTIONS": str(connections),
        "DIGEST_DELIVERY__MESSAGES_PER_CONNECTION": "100000",
    }


@contextmanager
def store(folder: Path, subscribers: int, backend: str) -> Iterator[dict[str, str]]:
    """A migrated store ("sqlite" or "postgresql") with one story and `subscribers` active
    subscribers; yields the environment that points `digest` at it."""
    name = f"digest_bench_{uuid.uuid4().hex[:10]}"
    if backend == "postgresql":
        with psycopg.connect(POSTGRES_ADMIN, autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        url = f"postgresql+psycopg://postgres@127.0.0.1:5432/{name}"
    else:
        url = f"sqlite:///{folder}/bench.db"
    env = {
        **os.environ,
        "DIGEST_DATABASE__URL": url,
        "DIGEST_WEB__BASE_URL": "https://news.example.org/",
    }
    try:
        run(env, "db", "upgrade")
        (folder / "story.jsonl").write_text(json.dumps(STORY) + "\n")
        run(env, "ingest", str(folder / "story.jsonl"))
        with (folder / "subscribers.csv").open("w") as csv:
            csv.write("email,name\n")
            csv.writelines(f"reader{n}@example.com,Reader {n}\n" for n in range(subscribers))
        run(env, "subscribers", "import", str(folder / "subscribers.csv"))
        run(env, "build", "--date", DAY)
        yield env
    finally:
        if backend == "postgresql":
            with psycopg.connect(POSTGRES_ADMIN, autocommit=True) as conn:
                conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def run(env: dict[str, str], *args: str) -> None:
    subprocess.run([*DIGEST, *args], env=env, check=True, capture_output=True)


@dataclass(frozen=True, slots=True)
class Usage:
    seconds: float  # wall time
    cpu: float  # user + system seconds
    peak_mib: float


def measured(command: list[str], env: dict[str, str]) -> Usage:
    """Run `command` to its end; its own wall time, CPU time and peak resident memory."""
    started = time.perf_counter()
    process = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL)
    _, status, usage = os.wait4(process.pid, 0)
    process.returncode = os.waitstatus_to_exitcode(status)
    if process.returncode:
        raise SystemExit(f"{' '.join(command)} failed with status {process.returncode}")
    elapsed = time.perf_counter() - started
    return Usage(elapsed, usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024)


def process_cpu(pid: int) -> float:
    """User + system seconds a running process has used so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def process_peak_mib(pid: int) -> float:
    status = Path(f"/proc/{pid}/status").read_text()
    return int(status.split("VmHWM:")[1].split()[0]) / 1024


def machine_busy() -> float:
    """CPU seconds the whole machine has spent not idle since boot (every core)."""
    values = [int(v) for v in Path("/proc/stat").read_text().split("\n")[0].split()[1:]]
    idle = values[3] + values[4]
    return (sum(values[:8]) - idle) / os.sysconf("SC_CLK_TCK")
