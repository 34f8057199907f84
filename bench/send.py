"""Sending at wire speed: messages per second from one process into a discarding SMTP sink.

    .venv/bin/python bench/send.py 100000   # the README's end-to-end figure (about 100 s)


Sinks: Postfix's `smtp-sink` (C; Debian package `postfix`) when installed, and an aiosmtpd
sink, each in its own process on loopback. For each sink and 1, 4 and 16 connections, a fresh
SQLite store with N subscribers sends one edition; the figures include the ledger (one fenced
commit per message). Peak memory is the sending process's maximum resident set.

    .venv/bin/python bench/send.py [N]
"""

import json
import os
import resource
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

FEEDS = Path(__file__).parents[1] / "tests" / "data" / "feeds"
STORY = {
    "title": "Kyiv hit by drones overnight",
    "url": "https://example.com/kyiv",
    "source": "Wire",
    "published": "2024-06-23T12:00:00Z",
    "text": "Russia launched drones at Kyiv, Ukrainian officials said. " * 20,
}


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def start_sink(kind: str, port: int) -> subprocess.Popen[bytes]:
    if kind == "smtp-sink":
        binary = shutil.which("smtp-sink") or "/usr/sbin/smtp-sink"
        user = ["-u", "nobody"] if os.geteuid() == 0 else []  # it refuses to run as root
        command = [binary, *user, f"127.0.0.1:{port}", "256"]
    else:
        command = [
            sys.executable,
            "-m",
            "aiosmtpd",
            "-n",
            "-l",
            f"127.0.0.1:{port}",
            "-c",
            "aiosmtpd.handlers.Sink",
        ]
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    for _ in range(100):
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return process
        except OSError:
            time.sleep(0.05)
    process.kill()
    raise SystemExit(f"{kind} did not start")


def prepare(folder: Path, subscribers: int) -> dict[str, str]:
    """A migrated store with one story and `subscribers` active subscribers."""
    env = {
        **os.environ,
        "DIGEST_DATABASE__URL": f"sqlite:///{folder}/bench.db",
        "DIGEST_WEB__BASE_URL": "https://news.example.org/",
    }
    digest = [sys.executable, "-m", "digest"]
    subprocess.run([*digest, "db", "upgrade"], env=env, check=True, capture_output=True)
    (folder / "story.jsonl").write_text(json.dumps(STORY) + "\n")
    subprocess.run(
        [*digest, "ingest", str(folder / "story.jsonl")], env=env, check=True, capture_output=True
    )
    with (folder / "subscribers.csv").open("w") as csv:
        csv.write("email,name\n")
        csv.writelines(f"reader{n}@example.com,Reader {n}\n" for n in range(subscribers))
    subprocess.run(
        [*digest, "subscribers", "import", str(folder / "subscribers.csv")],
        env=env,
        check=True,
        capture_output=True,
    )
    return env


def timed_send(env: dict[str, str], port: int, connections: int) -> tuple[float, float]:
    """Seconds and peak MiB of one `digest send` process."""
    env = {
        **env,
        "DIGEST_DELIVERY__TRANSPORT": "smtp",
        "DIGEST_SMTP__HOST": "127.0.0.1",
        "DIGEST_SMTP__PORT": str(port),
        "DIGEST_SMTP__SECURITY": "none",
        "DIGEST_DELIVERY__CONNECTIONS": str(connections),
        "DIGEST_DELIVERY__MESSAGES_PER_CONNECTION": "100000",
    }
    started = time.perf_counter()
    subprocess.run(
        [sys.executable, "-m", "digest", "send", "--date", "2024-06-24"],
        env=env,
        check=True,
        capture_output=True,
    )
    elapsed = time.perf_counter() - started
    peak_kib = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return elapsed, peak_kib / 1024


def main(subscribers: int) -> None:
    sinks = ["aiosmtpd"] + (
        ["smtp-sink"] if shutil.which("smtp-sink") or Path("/usr/sbin/smtp-sink").exists() else []
    )
    print(f"{subscribers:,} subscribers, one 30-story-sized edition, SQLite ledger")
    for sink in sinks:
        for connections in (1, 4, 16):
            with tempfile.TemporaryDirectory() as folder:
                env = prepare(Path(folder), subscribers)
                port = free_port()
                process = start_sink(sink, port)
                try:
                    elapsed, peak = timed_send(env, port, connections)
                finally:
                    process.terminate()
                    process.wait()
            print(
                f"  {sink:<10} {connections:>2} connection(s): {elapsed:6.1f} s, "
                f"{subscribers / elapsed:7.0f} messages/s (peak RSS so far {peak:.0f} MiB)"
            )


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 2000)


def memory_after(subscribers: int, seconds: float) -> float:
    """Peak MiB of a `digest send` over `subscribers` after `seconds` of sending (the whole run
    is not needed to see whether memory grows with the subscriber count)."""
    with tempfile.TemporaryDirectory() as folder:
        env = prepare(Path(folder), subscribers)
        port = free_port()
        sink = start_sink("smtp-sink" if shutil.which("smtp-sink") else "aiosmtpd", port)
        env = {
            **env,
            "DIGEST_DELIVERY__TRANSPORT": "smtp",
            "DIGEST_SMTP__HOST": "127.0.0.1",
            "DIGEST_SMTP__PORT": str(port),
            "DIGEST_SMTP__SECURITY": "none",
        }
        sender = subprocess.Popen(
            [sys.executable, "-m", "digest", "send", "--date", "2024-06-24"],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        time.sleep(seconds)
        status = Path(f"/proc/{sender.pid}/status").read_text()
        sender.kill()
        sender.wait()
        sink.terminate()
        sink.wait()
    return int(status.split("VmHWM:")[1].split()[0]) / 1024
