"""SMTP at wire speed: messages a second from one process into a discarding SMTP sink.

Sinks: Postfix's `smtp-sink` (C; Debian package `postfix`) and an aiosmtpd sink, each in its
own process on loopback. For 1, 4 and 16 connections (one thread each):

- transport only: the same ready message handed over again and again (`SmtpTransport`);
- `digest send`: a fresh SQLite store with N subscribers sends one edition, so the figure
  includes building each message and the ledger (one fenced commit per message).

    .venv/bin/python bench/send.py [N]
"""

import sys
import tempfile
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

from harness import DAY, DIGEST, STORY, measured, sink, smtp_env, store

from digest.config import SmtpSettings
from digest.mime import Envelope, Mailbox, message_bytes
from digest.transport import SmtpTransport

CONNECTIONS = (1, 4, 16)
SINKS = ("smtp-sink", "aiosmtpd")


def sample_message() -> bytes:
    envelope = Envelope(
        Mailbox("The Daily Digest", "digest@example.com"),
        Mailbox("Reader", "reader@example.com"),
        "<daily.20240624.1@example.com>",
        "The Daily Digest <daily.example.com>",
        "https://news.example.org/unsubscribe/1.x",
    )
    text = "\n\n".join([STORY["title"], STORY["text"]] * 6)
    html = "".join(f"<p>{paragraph}</p>\n" for paragraph in text.split("\n\n")) * 2
    return message_bytes(envelope, STORY["title"], text, html, datetime.now(UTC))


def transport_rate(port: int, connections: int, messages: int, raw: bytes) -> float:
    """Messages a second over `connections` threads, each with its own connection."""
    settings = SmtpSettings(host="127.0.0.1", port=port, security="none")
    share = messages // connections

    def send() -> None:
        with SmtpTransport(settings, max_per_connection=messages) as transport:
            for _ in range(share):
                transport.send(raw, "digest@example.com", "reader@example.com")

    threads = [threading.Thread(target=send) for _ in range(connections)]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return share * connections / (time.perf_counter() - started)


def main(subscribers: int) -> None:
    raw = sample_message()
    print(f"one process into a sink on loopback; {len(raw) / 1024:.0f} KB messages (messages/s)")
    print(f"  {'':<38}" + "".join(f"{n:>4} conn." for n in CONNECTIONS))
    for kind in SINKS:
        with sink(kind) as port:
            rates = [transport_rate(port, n, 4000, raw) for n in CONNECTIONS]
        print(f"  {'transport only, ' + kind:<38}" + "".join(f"{r:>10,.0f}" for r in rates))
    for kind in SINKS:
        rates = [ledger_rate(kind, subscribers, n) for n in CONNECTIONS]
        label = f"digest send ({subscribers:,}), {kind}"
        print(f"  {label:<38}" + "".join(f"{r:>10,.0f}" for r in rates))


def ledger_rate(kind: str, subscribers: int, connections: int) -> float:
    """Messages a second of one `digest send` over a fresh SQLite store."""
    command = [*DIGEST, "send", "--date", DAY]
    with (
        tempfile.TemporaryDirectory() as folder,
        sink(kind) as port,
        store(Path(folder), subscribers, "sqlite") as env,
    ):
        usage = measured(command, {**env, **smtp_env(port, connections)})
    return subscribers / usage.seconds


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 2000)
