"""Shared fixtures: a migrated SQLite file, a real SMTP server, and a PostgreSQL database."""

import html
import json
import os
import shutil
import socket
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session
from click.testing import CliRunner, Result

from digest.cli import cli
from digest.config import Settings
from digest.service.app import App
from digest.store import db
from smtp_faults import FaultServer

DATA = Path(__file__).parent / "data"
SAMPLES = Path(__file__).parents[1] / "samples"
SEED = DATA / "2024-06-24-ukraine-peace-talks.txt"
IN_CI = os.environ.get("CI") == "true"


@pytest.fixture(autouse=True)
def _isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Each test runs in its own folder with no DIGEST_* variables from the outside."""
    for name in list(os.environ):
        if name.startswith("DIGEST_"):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)


def make_settings(tmp_path: Path, **tables: dict[str, Any]) -> Settings:
    base: dict[str, Any] = {
        "database": {"url": f"sqlite:///{tmp_path / 'digest.db'}"},
        "delivery": {"transport": "maildir", "maildir": str(tmp_path / "outbox")},
    }
    for table, values in tables.items():
        base[table] = {**base.get(table, {}), **values}
    return Settings(**base)


@pytest.fixture
def app(tmp_path: Path) -> Iterator[App]:
    """An app on a SQLite file migrated from empty by Alembic."""
    application = App.open(make_settings(tmp_path))
    db.upgrade(application.engine)
    yield application
    application.close()


@dataclass
class Received:
    sender: str
    recipients: list[str]
    message: EmailMessage


class _Handler:
    """Accepts mail, or answers with a fault chosen by the recipient's local part:
    `rcpt550-...` / `rcpt451-...` refuse at RCPT TO, `data554-...` refuses after DATA."""

    def __init__(self) -> None:
        self.received: list[Received] = []

    async def handle_RCPT(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, options: list[str]
    ) -> str:
        local = address.split("@")[0]
        if local.startswith("rcpt550"):
            return "550 5.1.1 No such user"
        if local.startswith("rcpt451"):
            return "451 4.3.0 Try again later"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        if any(r.split("@")[0].startswith("data554") for r in envelope.rcpt_tos):
            return "554 5.6.0 Message rejected"
        message = message_from_bytes(envelope.content, policy=policy.default)
        assert isinstance(message, EmailMessage)
        self.received.append(Received(envelope.mail_from, list(envelope.rcpt_tos), message))
        return "250 2.0.0 Queued"


@dataclass
class SmtpServer:
    host: str
    port: int
    handler: _Handler = field(repr=False)

    @property
    def received(self) -> list[Received]:
        return self.handler.received

    def settings(self) -> dict[str, Any]:
        return {"host": self.host, "port": self.port, "security": "none", "timeout": 10}


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture
def smtp_server() -> Iterator[SmtpServer]:
    """A real SMTP server (aiosmtpd) on 127.0.0.1 with an OS-chosen port."""
    handler = _Handler()
    port = free_port()
    controller = Controller(handler, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield SmtpServer("127.0.0.1", port, handler)
    finally:
        controller.stop()


def _service_missing(reason: str) -> None:
    if IN_CI:
        pytest.fail(f"{reason} (CI must run this test)")
    pytest.skip(reason)


@pytest.fixture
def postgres_url() -> Iterator[str]:
    """A fresh, uniquely named PostgreSQL database on 127.0.0.1:5432, dropped afterwards."""
    psycopg = pytest.importorskip("psycopg")
    admin = "postgresql://postgres@127.0.0.1:5432/test"
    name = f"digest_test_{uuid.uuid4().hex[:12]}"
    try:
        with psycopg.connect(admin, autocommit=True, connect_timeout=3) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
    except psycopg.OperationalError as exc:
        _service_missing(f"PostgreSQL on 127.0.0.1:5432 is not reachable: {exc}")
    try:
        yield f"postgresql+psycopg://postgres@127.0.0.1:5432/{name}"
    finally:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(params=["sqlite", "postgresql"])
def store_backend(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """The test runs on the default SQLite file, then on a fresh PostgreSQL database."""
    if request.param == "postgresql":
        monkeypatch.setenv("DIGEST_DATABASE__URL", request.getfixturevalue("postgres_url"))
    return str(request.param)


def shows(page: str, headline: str) -> bool:
    """Whether a page (HTML, or a plain-text part wrapped at 75 columns) shows a headline."""
    return " ".join(headline.split()) in " ".join(html.unescape(page).split())


def copy_samples(dest: Path) -> Path:
    """The bundled samples, copied so a test may add files beside them."""
    return Path(shutil.copytree(SAMPLES, dest / "samples"))


def digest(*args: str) -> Result:
    """Run the `digest` command line in-process; a bug (not a DigestError) is re-raised."""
    result = CliRunner().invoke(cli, list(args))
    if result.exception and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result


def write_busy_day(path: Path, day: str) -> Path:
    """A JSONL file of every labelled news item that belongs in a section (real headlines and
    teasers from the test feeds), re-dated across one day: a digest of 25-odd stories."""
    from quality import labelled_items

    items = [i.article for i in labelled_items() if i.section != "none"]
    start = datetime.fromisoformat(f"{day}T07:30:00+00:00")
    lines = [
        json.dumps(
            {
                "title": a.title,
                "url": a.url or f"https://example.com/item/{a.article_id}",
                "source": a.source,
                "published": (start + timedelta(minutes=40 * n)).isoformat(),
                "text": a.text or a.title,
            }
        )
        for n, a in enumerate(items)
    ]
    path.write_text("\n".join(lines) + "\n")
    return path


def wait_for(condition: Callable[[], bool], seconds: float = 30) -> None:
    """Poll until `condition` holds; fail the test after `seconds`."""
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)


@contextmanager
def stocked_station(
    monkeypatch: pytest.MonkeyPatch, story: Path, settings: dict[str, str], smtp_timeout: float
) -> Iterator[FaultServer]:
    """The environment set from `settings` (names after `DIGEST_`), an SMTP server the config
    points at, and a migrated store holding the articles of `story`."""
    for name, value in settings.items():
        monkeypatch.setenv(f"DIGEST_{name}", value)
    with FaultServer() as server:
        for key, value in server.settings(timeout=smtp_timeout).items():
            monkeypatch.setenv(f"DIGEST_SMTP__{key.upper()}", str(value))
        assert digest("db", "upgrade").exit_code == 0
        assert digest("ingest", str(story)).exit_code == 0
        yield server
