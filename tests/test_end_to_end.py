"""From the bundled samples to a message received by a real SMTP server, through the CLI."""

import json
import mailbox
from datetime import date
from email.message import EmailMessage
from pathlib import Path

import pytest

from conftest import SAMPLES, SmtpServer, digest

SEED_HEADLINE = "U.S. and European Officials Discuss Ukraine Peace Talks, Sources Report"
DAY = "2024-06-24"


@pytest.fixture
def smtp_env(smtp_server: SmtpServer, monkeypatch: pytest.MonkeyPatch) -> SmtpServer:
    """Settings through the environment, as an operator would set them."""
    monkeypatch.setenv("DIGEST_DELIVERY__TRANSPORT", "smtp")
    monkeypatch.setenv("DIGEST_SMTP__HOST", smtp_server.host)
    monkeypatch.setenv("DIGEST_SMTP__PORT", str(smtp_server.port))
    monkeypatch.setenv("DIGEST_SMTP__SECURITY", "none")
    monkeypatch.setenv("DIGEST_WEB__BASE_URL", "https://news.example.org/")
    assert digest("db", "upgrade").exit_code == 0
    assert digest("ingest", str(SAMPLES)).exit_code == 0
    return smtp_server


def _parts(message: EmailMessage) -> tuple[str, str]:
    text = message.get_body(("plain",))
    html = message.get_body(("html",))
    assert text is not None and html is not None
    return text.get_content(), html.get_content()


def test_samples_build_render_and_arrive_over_smtp(smtp_env: SmtpServer) -> None:
    assert digest("subscribers", "add", "ada@example.com", "--name", "Ada Lovelace").exit_code == 0

    result = digest("send", "--date", DAY)

    assert result.exit_code == 0, result.output
    assert "1 sent" in result.output
    (received,) = smtp_env.received
    assert received.recipients == ["ada@example.com"]
    message = received.message
    assert message["From"] == "The Daily Digest <digest@example.com>"
    assert message["To"] == "Ada Lovelace <ada@example.com>"
    assert message["Subject"] == "The Daily Digest · Monday, June 24, 2024"
    assert message["Message-ID"] == "<daily.20240624.1@example.com>"
    assert message["List-Unsubscribe"].startswith("<https://news.example.org/unsubscribe/1.")
    assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert message.get_content_type() == "multipart/alternative"
    assert [p.get_content_type() for p in message.iter_parts()] == ["text/plain", "text/html"]
    text, html = _parts(message)
    assert SEED_HEADLINE in html
    assert SEED_HEADLINE in text
    assert "Hello Ada Lovelace" in html and "Hello Ada Lovelace" in text
    assert "Ukraine" in html
    assert "{{{digest:" not in html + text
    assert "Also Read" not in html


def test_second_send_delivers_nothing_twice(smtp_env: SmtpServer) -> None:
    digest("subscribers", "add", "one@example.com")
    digest("subscribers", "add", "two@example.com")
    assert digest("send", "--date", DAY).exit_code == 0
    again = digest("send", "--date", DAY)
    assert again.exit_code == 0
    assert "this run: nothing" in again.output
    assert sorted(r.recipients[0] for r in smtp_env.received) == [
        "one@example.com",
        "two@example.com",
    ]


def test_a_refused_recipient_fails_alone(smtp_env: SmtpServer) -> None:
    digest("subscribers", "add", "rcpt550-gone@example.com")
    digest("subscribers", "add", "rcpt451-busy@example.com")
    digest("subscribers", "add", "fine@example.com")

    result = digest("send", "--date", DAY)

    assert result.exit_code == 1
    assert "1 sent" in result.output
    assert "1 failed" in result.output
    assert "1 deferred" in result.output
    assert [r.recipients for r in smtp_env.received] == [["fine@example.com"]]


def test_an_unreachable_server_defers_then_stops_the_run(
    smtp_env: SmtpServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    for n in range(5):
        digest("subscribers", "add", f"reader{n}@example.com")
    monkeypatch.setenv("DIGEST_DELIVERY__RETRY_BASE_SECONDS", "0.01")
    monkeypatch.setenv("DIGEST_SMTP__PORT", "1")  # nothing listens there
    failed = digest("send", "--date", DAY)
    assert failed.exit_code == 1
    assert "cannot connect" in failed.stderr and "3 times in a row" in failed.stderr
    report = json.loads(digest("report", "--date", DAY, "--json").output)
    assert report["counts"]["deferred"] == 2 and report["counts"]["pending"] == 3

    monkeypatch.setenv("DIGEST_SMTP__PORT", str(smtp_env.port))
    retried = digest("send", "--date", DAY)
    assert retried.exit_code == 0, retried.output
    assert sorted(r.recipients[0] for r in smtp_env.received) == [
        f"reader{n}@example.com" for n in range(5)
    ]


def test_subscriber_sections_choose_the_variant(smtp_env: SmtpServer) -> None:
    digest("subscribers", "add", "congress-only@example.com", "--section", "congress")
    digest("subscribers", "add", "everything@example.com")
    result = digest("send", "--date", DAY)
    assert "1 suppressed" in result.output
    assert [r.recipients for r in smtp_env.received] == [["everything@example.com"]]


def test_demo_flow_writes_the_maildir_and_preview_once(tmp_path: Path) -> None:
    """What `make demo` runs, twice: the second run adds nothing."""
    for _ in range(2):
        assert digest("db", "upgrade").exit_code == 0
        assert digest("ingest", str(SAMPLES)).exit_code == 0
        assert digest("subscribers", "add", "demo@example.com").exit_code == 0
        assert digest("build", "--date", DAY).exit_code == 0
        preview = digest("preview", "--date", DAY, "--out", "var/preview")
        assert preview.exit_code == 0
        assert digest("send", "--date", DAY).exit_code == 0

    outbox = mailbox.Maildir(tmp_path / "var" / "outbox", create=False)
    assert len(outbox) == 1
    assert "HTML preview: var/preview/daily-2024-06-24.html" in preview.output
    html = (tmp_path / "var" / "preview" / "daily-2024-06-24.html").read_text()
    assert SEED_HEADLINE in html
    assert (tmp_path / "var" / "preview" / "daily-2024-06-24.eml").stat().st_size > 1000


def test_build_reports_sections_and_skips_an_empty_day(smtp_env: SmtpServer) -> None:
    built = digest("build", "--date", DAY)
    assert built.exit_code == 0
    assert "1 story in 1 section" in built.output
    assert "Ukraine" in built.output

    empty = digest("build", "--date", str(date(1999, 1, 1)))
    assert empty.exit_code == 0
    assert "(skipped" in empty.output and "no story for any section" in empty.output


def test_starttls_required_but_not_offered_stops_the_run(
    smtp_env: SmtpServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    digest("subscribers", "add", "tls@example.com")
    monkeypatch.setenv("DIGEST_SMTP__SECURITY", "starttls")
    result = digest("send", "--date", DAY)
    assert result.exit_code == 1
    assert "TLS failed" in result.stderr
    assert smtp_env.received == []
