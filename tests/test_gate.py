"""The pre-send gate: each check catches its fault, and a failing edition is never sent."""

import json
import re
from datetime import UTC, datetime
from pathlib import Path

import pytest

from conftest import digest, make_settings
from digest.errors import RenderError
from digest.gate import check_message
from digest.mime import Envelope, Mailbox, message_bytes
from digest.render import Renderer
from test_render import _edition

ENVELOPE = Envelope(
    Mailbox("Digest", "digest@example.com"),
    Mailbox("Ada", "ada@example.com"),
    "<daily.20240624.1@example.com>",
    "Digest <daily.example.com>",
    "https://news.example.org/unsubscribe/1.abc",
)
GOOD_HTML = '<p><a href="https://example.com/a">Story A</a> <a href="#ukraine">Ukraine</a></p>'
GOOD_TEXT = "Story A\n\nhttps://example.com/a\n"


def failed(html: str = GOOD_HTML, text: str = GOOD_TEXT, budget: int = 100_000) -> set[str]:
    raw = message_bytes(ENVELOPE, "Subject", text, html, datetime(2024, 6, 24, tzinfo=UTC))
    return {f.check for f in check_message(raw, budget) if not f.passed}


def test_a_good_message_passes_every_check() -> None:
    assert failed() == set()


@pytest.mark.parametrize(
    ("html", "text", "budget", "check"),
    [
        (GOOD_HTML + "<p>" + "x" * 5000 + "</p>", GOOD_TEXT, 4000, "size"),
        (GOOD_HTML + "<p>Hello {{ name }}</p>", GOOD_TEXT, 100_000, "leftovers"),
        (GOOD_HTML + "<p>None</p>", GOOD_TEXT, 100_000, "leftovers"),
        (GOOD_HTML, GOOD_TEXT + "Author: Undefined\nUndefined\n", 100_000, "leftovers"),
        (GOOD_HTML + '<p><a href="/relative">x</a></p>', GOOD_TEXT, 100_000, "links"),
        (GOOD_HTML + '<a href="javascript:alert(1)">x</a>', GOOD_TEXT, 100_000, "links"),
        (GOOD_HTML + '<img src="https://example.com/p.png">', GOOD_TEXT, 100_000, "images"),
        (GOOD_HTML + '<a href="https://example.com/b">B</a>', GOOD_TEXT, 100_000, "parts agree"),
        (GOOD_HTML, GOOD_TEXT + "https://example.com/c\n", 100_000, "parts agree"),
    ],
)
def test_each_check_catches_its_fault(html: str, text: str, budget: int, check: str) -> None:
    assert check in failed(html, text, budget)


def test_missing_headers_are_caught() -> None:
    raw = message_bytes(ENVELOPE, "Subject", GOOD_TEXT, GOOD_HTML, datetime.now(UTC))
    without = b"\r\n".join(
        line for line in raw.split(b"\r\n") if not line.startswith(b"List-Unsubscribe")
    )
    (finding,) = [f for f in check_message(without, 100_000) if f.check == "headers"]
    assert not finding.passed
    assert finding.detail == "missing List-Unsubscribe, List-Unsubscribe-Post"


def test_an_unknown_mjml_tag_is_reported_with_file_and_line(tmp_path: Path) -> None:
    folder = tmp_path / "mine"
    folder.mkdir()
    ours = Path(__file__).parents[1] / "templates" / "digest.mjml.j2"
    source = ours.read_text().replace("<mj-divider padding", "<mj-divder padding", 1)
    (folder / "digest.mjml.j2").write_text(source)
    line = next(n for n, text in enumerate(source.splitlines(), 1) if "<mj-divder" in text)
    renderer = Renderer(make_settings(tmp_path, templates={"directory": str(folder)}))
    with pytest.raises(RenderError, match=rf"digest\.mjml\.j2: line {line}: unknown MJML tag"):
        renderer.render(_edition())


@pytest.mark.parametrize(
    ("snippet", "error"),
    [
        ("{% raw %}Dear {{ reader }},{% endraw %}", "placeholder '{{ reader }}' left over"),
        ("Dear {{{digest:nmae}}},", "'digest' is undefined"),
    ],
)
def test_a_placeholder_left_in_a_template_is_reported_with_file_and_line(
    tmp_path: Path, snippet: str, error: str
) -> None:
    folder = tmp_path / "mine"
    folder.mkdir()
    ours = (Path(__file__).parents[1] / "templates" / "digest.txt.j2").read_text()
    lines = ours.splitlines()
    line = next(n for n, text in enumerate(lines, 1) if "IN THIS ISSUE" in text)
    lines[line - 1] = snippet
    (folder / "digest.txt.j2").write_text("\n".join(lines) + "\n")
    renderer = Renderer(make_settings(tmp_path, templates={"directory": str(folder)}))
    with pytest.raises(RenderError, match=rf"digest\.txt\.j2: line {line}: {re.escape(error)}"):
        renderer.render(_edition())


def test_send_refuses_an_edition_that_fails_the_gate(tmp_path: Path) -> None:
    folder = tmp_path / "mine"
    folder.mkdir()
    ours = (Path(__file__).parents[1] / "templates" / "digest.txt.j2").read_text()
    # The editor's text part forgets the story links: the parts no longer agree.
    (folder / "digest.txt.j2").write_text(ours.replace("      {{ story.url }}\n", ""))
    (tmp_path / "config.toml").write_text(f'[templates]\ndirectory = "{folder}"\n')
    story = {
        "title": "Kyiv hit by drones overnight",
        "url": "https://example.com/kyiv",
        "source": "Wire",
        "published": "2024-06-23T12:00:00Z",
        "text": "Russia launched drones at Kyiv, Ukrainian officials said.",
    }
    (tmp_path / "story.jsonl").write_text(json.dumps(story) + "\n")
    digest("db", "upgrade")
    digest("ingest", str(tmp_path / "story.jsonl"))
    digest("subscribers", "add", "ada@example.com")

    checked = digest("check", "--date", "2024-06-24")
    assert checked.exit_code == 1
    assert "FAIL parts agree: only in HTML" in checked.output

    sent = digest("send", "--date", "2024-06-24")
    assert sent.exit_code == 1
    assert "failed the pre-send check" in sent.stderr and "nothing was sent" in sent.stderr
    assert not (tmp_path / "var" / "outbox" / "new").exists() or not any(
        (tmp_path / "var" / "outbox" / "new").iterdir()
    )
    assert "1 pending" in digest("report").output
