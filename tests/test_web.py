"""The subscriber pages through an in-process client, with links taken from delivered mail."""

import json
import mailbox
import re
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from conftest import SAMPLES, digest
from digest.config import load_settings
from digest.service.app import App
from digest.web import create_app

DAY = "2024-06-24"


@pytest.fixture
def delivered(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """Ada received the demo digest; her message's links, as paths."""
    monkeypatch.setenv("DIGEST_WEB__BASE_URL", "https://news.example.org/")
    digest("db", "upgrade")
    digest("ingest", str(SAMPLES / "articles"))
    digest("subscribers", "add", "ada@example.com", "--name", "Ada")
    assert digest("send", "--date", DAY).exit_code == 0
    (message,) = mailbox.Maildir(tmp_path / "var" / "outbox", create=False)
    header = message["List-Unsubscribe"]
    body = message.get_payload()[0].get_payload(decode=True).decode()
    unsubscribe = re.search(r"<https://news\.example\.org(/unsubscribe/[^>]+)>", header)
    preferences = re.search(r"https://news\.example\.org(/preferences/\S+)", body)
    assert unsubscribe and preferences
    return {"unsubscribe": unsubscribe[1], "preferences": preferences[1]}


@pytest.fixture
def client() -> TestClient:
    return TestClient(create_app(App.open(load_settings())))


def status(email: str) -> str:
    for line in digest("subscribers", "list", "--json").output.splitlines():
        if email in line:
            return str(json.loads(line)["status"])
    raise AssertionError(email)


def test_a_get_only_asks_and_never_unsubscribes(
    delivered: dict[str, str], client: TestClient
) -> None:
    page = client.get(delivered["unsubscribe"])
    assert page.status_code == 200
    assert '<form method="post">' in page.text and "ada@example.com" in page.text
    assert status("ada@example.com") == "active"


def test_one_click_post_unsubscribes_and_repeating_it_is_harmless(
    delivered: dict[str, str], client: TestClient
) -> None:
    # What a mail client sends for List-Unsubscribe-Post (RFC 8058): no cookie, no login.
    for _ in range(2):
        done = client.post(delivered["unsubscribe"], data={"List-Unsubscribe": "One-Click"})
        assert done.status_code == 200
        assert "will get no more messages" in done.text
    assert status("ada@example.com") == "unsubscribed"


@pytest.mark.parametrize(
    "mangle",
    [
        lambda path: path[:-1] + ("0" if path[-1] != "0" else "1"),  # one character changed
        lambda path: re.sub(r"/(\d+)\.", "/99.", path),  # another subscriber's id
        lambda path: path.replace("/unsubscribe/", "/unsubscribe/x"),  # not a token at all
        lambda path: path.replace("/unsubscribe/", "/preferences/"),  # the wrong purpose
    ],
    ids=["altered", "other-id", "garbage", "wrong-purpose"],
)
def test_forged_links_get_a_plain_404_and_change_nothing(
    delivered: dict[str, str],
    client: TestClient,
    mangle,  # type: ignore[no-untyped-def]
) -> None:
    forged = mangle(delivered["unsubscribe"])
    for method in (client.get, client.post):
        answer = method(forged)
        assert answer.status_code == 404
        assert "ada@example.com" not in answer.text
    assert status("ada@example.com") == "active"


def test_preferences_choose_sections_and_stop_or_resume(
    delivered: dict[str, str], client: TestClient
) -> None:
    page = client.get(delivered["preferences"])
    assert page.status_code == 200 and 'name="section-congress" checked' in page.text
    saved = client.post(delivered["preferences"], data={"section-congress": "on", "receive": "on"})
    assert saved.status_code == 200
    assert 'name="section-congress" checked' in saved.text
    assert 'name="section-ukraine" checked' not in saved.text
    listed = digest("subscribers", "list", "--json").output
    assert '"sections": ["congress"]' in listed
    client.post(delivered["preferences"], data={})
    assert status("ada@example.com") == "unsubscribed"


def test_the_web_version_has_the_stories_but_no_personal_links(
    delivered: dict[str, str], client: TestClient
) -> None:
    page = client.get(f"/editions/daily/{DAY}")
    assert page.status_code == 200
    assert "U.S. and European Officials Discuss Ukraine Peace Talks" in page.text
    assert "ada@example.com" not in page.text and "/unsubscribe/" not in page.text
    assert client.get("/editions/daily/1999-01-01").status_code == 404
    assert client.get("/editions/daily/not-a-date").status_code == 404


def test_double_opt_in_sends_nothing_until_the_address_is_confirmed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DIGEST_WEB__BASE_URL", "https://news.example.org/")
    digest("db", "upgrade")
    digest("ingest", str(SAMPLES / "articles"))
    added = digest("subscribers", "add", "new@example.com", "--confirm")
    assert "Added new@example.com (id 1), pending" in added.output
    assert "Confirmation request sent" in added.output
    (request,) = mailbox.Maildir(tmp_path / "var" / "outbox", create=False)
    assert request["Subject"] == "Confirm your subscription to The Daily Digest"
    text = request.get_payload()[0].get_payload(decode=True).decode()
    link = re.search(r"https://news\.example\.org(/confirm/\S+)", text)
    assert link

    digest("send", "--date", DAY)  # pending: no digest yet
    assert len(mailbox.Maildir(tmp_path / "var" / "outbox", create=False)) == 1

    client = TestClient(create_app(App.open(load_settings())))
    assert "Yes, subscribe" in client.get(link[1]).text
    assert status("new@example.com") == "pending"  # a GET confirms nothing
    assert client.post(link[1][:-1] + "x").status_code == 404
    assert "is confirmed" in client.post(link[1]).text
    assert status("new@example.com") == "active"
