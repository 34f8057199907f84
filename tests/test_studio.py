"""The editor's preview studio through an in-process client: what it shows, what its actions
change, and what it refuses (no session, no CSRF token, another origin, another host, once
sending has started, without the token off loopback)."""

import asyncio
import json
import mailbox
import os
import re
import subprocess
import sys
from email.header import decode_header, make_header
from pathlib import Path

import httpx
import pytest
from starlette.testclient import TestClient
from starlette.types import ASGIApp

from conftest import SAMPLES, digest, shows
from digest.config import load_settings
from digest.errors import ConfigError
from digest.service.app import App
from digest.web import create_app
from smtp_faults import FaultServer

DAY = "2024-08-09"
STUDIO = f"/studio/{DAY}"
LOCAL = "http://127.0.0.1:8000"


@pytest.fixture
def edition(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict:  # type: ignore[type-arg]
    """The fuller sample edition (Ukraine and Middle East stories), built; Ada reads only
    Ukraine, Bob everything."""
    monkeypatch.setenv("DIGEST_WEB__BASE_URL", "https://news.example.org/")
    digest("db", "upgrade")
    digest("ingest", str(SAMPLES))
    digest("subscribers", "add", "ada@example.com", "--name", "Ada", "--section", "ukraine")
    digest("subscribers", "add", "bob@example.com", "--name", "Bob")
    return built()


def built() -> dict:  # type: ignore[type-arg]
    return dict(json.loads(digest("build", "--date", DAY, "--json").output))


def studio_client(bind_host: str = "127.0.0.1", base_url: str = LOCAL) -> TestClient:
    app = create_app(App.open(load_settings()), studio=True, bind_host=bind_host)
    return TestClient(app, base_url=base_url, follow_redirects=False)


@pytest.fixture
def client(edition: dict) -> TestClient:  # type: ignore[type-arg]
    return studio_client()


def csrf(client: TestClient) -> str:
    token = re.search(r'name="csrf" value="([^"]+)"', client.get(STUDIO).text)
    assert token
    return token[1]


def post(client: TestClient, path: str, **form: str) -> object:
    return client.post(f"{STUDIO}/{path}", data={"csrf": csrf(client), **form})


def titles(edition: dict) -> list[str]:  # type: ignore[type-arg]
    return [i["title"] for s in edition["sections"] for i in s["items"]]


def test_the_edition_list_shows_each_edition_with_status_and_counts(client: TestClient) -> None:
    page = client.get("/studio/")
    assert page.status_code == 200
    assert f'href="/studio/{DAY}"' in page.text and "status-frozen" in page.text
    assert "digest_studio" in page.headers["set-cookie"]
    assert (
        "HttpOnly" in page.headers["set-cookie"] and "SameSite=strict" in page.headers["set-cookie"]
    )


def test_the_edition_view_shows_every_story_with_its_score_and_reasons(
    client: TestClient,
    edition: dict,  # type: ignore[type-arg]
) -> None:
    page = client.get(STUDIO)
    assert page.status_code == 200
    for section in edition["sections"]:
        for item in section["items"]:
            assert f'data-article="{item["article_id"]}"' in page.text
            assert f"{item['score']:.1f}" in page.text
            assert item["reasons"][0].replace("'", "&#39;") in page.text
    for dropped in edition["dropped"][:5]:
        assert f'data-article="{dropped["article_id"]}"' in page.text
    assert 'width="375"' in page.text and 'width="800"' in page.text
    assert "KB of Gmail's 102 KB clip" in page.text


def test_the_frames_text_and_headers_are_the_message_as_sent(
    client: TestClient,
    edition: dict,  # type: ignore[type-arg]
) -> None:
    top = edition["sections"][0]["items"][0]["title"]
    frame = client.get(f"{STUDIO}/message.html")
    assert frame.status_code == 200 and shows(frame.text, top)
    assert "@media (prefers-color-scheme: dark)" in frame.text
    assert "script-src" not in frame.headers["content-security-policy"]
    dark = client.get(f"{STUDIO}/message.html?scheme=dark")  # the template's dark rules, forced
    assert "@media all" in dark.text and "prefers-color-scheme: dark)" not in dark.text
    text = client.get(f"{STUDIO}?view=text").text
    assert shows(text, top)
    assert '<pre class="plain" id="text">' in text
    headers = client.get(f"{STUDIO}?view=headers").text
    assert "List-Unsubscribe-Post: List-Unsubscribe=One-Click" in headers
    assert "To: Reader &lt;reader@preview.invalid&gt;" in headers


def test_variants_and_preview_as_a_subscriber_show_their_exact_message(
    client: TestClient,
    edition: dict,  # type: ignore[type-arg]
) -> None:
    page = client.get(STUDIO)
    assert '<option value="ukraine">ukraine</option>' in page.text  # Ada's choice
    ukraine = client.get(f"{STUDIO}/message.html?variant=ukraine").text
    assert shows(ukraine, edition["sections"][0]["items"][0]["title"])
    assert 'id="middle_east"' not in ukraine

    as_ada = client.get(f"{STUDIO}?view=headers&as=ada@example.com").text
    assert "To: Ada &lt;ada@example.com&gt;" in as_ada
    frame = client.get(f"{STUDIO}/message.html?as=ada@example.com").text
    link = re.search(r'href="https://news\.example\.org(/unsubscribe/[^"]+)"', frame)
    assert link and link[1].startswith("/unsubscribe/1.")
    assert client.get(link[1]).status_code == 200  # a real, working link of Ada's
    unknown = client.get(f"{STUDIO}?as=nobody@example.com")
    assert unknown.status_code == 400 and "no subscriber" in unknown.text


def test_pin_and_drop_change_the_frozen_edition_and_are_recorded(
    client: TestClient,
    edition: dict,  # type: ignore[type-arg]
) -> None:
    top = edition["sections"][0]["items"][0]
    outsider = next(d for d in edition["dropped"] if d["reason"] == "no-section")
    dropped = post(client, "decide", article_id=str(top["article_id"]), action="drop")
    assert dropped.status_code == 303  # type: ignore[attr-defined]
    after = built()
    assert top["title"] not in titles(after)
    assert any(
        d["article_id"] == top["article_id"] and d["reason"] == "editor" for d in after["dropped"]
    )
    post(client, "decide", article_id=str(outsider["article_id"]), action="pin", section="congress")
    congress = next(s for s in built()["sections"] if s["key"] == "congress")
    assert congress["items"][0]["title"] == outsider["title"]

    page = client.get(STUDIO + "?done=pin").text
    assert "Pinned: the story stays" in page
    assert re.search(rf"<strong>pin</strong> #{outsider['article_id']}", page)
    assert re.search(rf"<strong>drop</strong> #{top['article_id']}", page)

    post(client, "decide", article_id=str(top["article_id"]), action="undo")
    assert top["title"] in titles(built())


def test_move_and_reorder(client: TestClient, edition: dict) -> None:  # type: ignore[type-arg]
    ukraine = next(s for s in edition["sections"] if s["key"] == "ukraine")
    first, second = ukraine["items"][0], ukraine["items"][1]
    post(client, "reorder", article_id=str(second["article_id"]), direction="up")
    order = [
        i["article_id"]
        for i in next(s for s in built()["sections"] if s["key"] == "ukraine")["items"]
    ]
    assert order[:2] == [second["article_id"], first["article_id"]]
    post(client, "rebuild")  # a rebuild keeps the editor's order
    order = [
        i["article_id"]
        for i in next(s for s in built()["sections"] if s["key"] == "ukraine")["items"]
    ]
    assert order[:2] == [second["article_id"], first["article_id"]]

    post(client, "decide", article_id=str(first["article_id"]), action="move", section="congress")
    congress = next(s for s in built()["sections"] if s["key"] == "congress")
    assert first["article_id"] in [i["article_id"] for i in congress["items"]]
    assert "placed" in client.get(STUDIO).text


@pytest.mark.parametrize(
    "forge",
    [
        "no-token",
        "wrong-token",
        "non-ascii-token",
        "other-session",
        "foreign-origin",
        "null-origin",
        "no-cookie",
        "non-ascii-cookie",
    ],
)
def test_actions_without_our_session_token_or_origin_are_refused(
    edition: dict,  # type: ignore[type-arg]
    forge: str,
) -> None:
    client = studio_client()
    token = csrf(client)
    top = edition["sections"][0]["items"][0]
    form = {"article_id": str(top["article_id"]), "action": "drop", "csrf": token}
    headers: dict[str, str | bytes] = {}
    if forge == "no-token":
        del form["csrf"]
    elif forge == "wrong-token":
        form["csrf"] = token[:-1] + ("0" if token[-1] != "0" else "1")
    elif forge == "non-ascii-token":
        form["csrf"] = token[:-1] + "\u00e9"
    elif forge == "non-ascii-cookie":
        session = client.cookies["digest_studio"]
        client.cookies.clear()
        headers["Cookie"] = f"digest_studio={session[:-1]}\u00e9".encode()
    elif forge == "other-session":
        form["csrf"] = csrf(studio_client())
    elif forge == "foreign-origin":
        headers["Origin"] = "http://evil.example"
    elif forge == "null-origin":
        headers["Origin"] = "null"
    elif forge == "no-cookie":
        client.cookies.clear()
    answer = client.post(f"{STUDIO}/decide", data=form, headers=headers)
    assert answer.status_code == 403
    assert top["title"] in titles(built())
    assert "drop" not in digest("build", "--date", DAY).output


@pytest.mark.parametrize("article_id", ["\u00b9", "\u0661", "12a"])
def test_an_article_id_of_other_than_ascii_digits_is_refused_with_the_reason(
    client: TestClient, article_id: str
) -> None:
    refused = post(client, "decide", article_id=article_id, action="drop")
    assert refused.status_code == 409  # type: ignore[attr-defined]
    assert "no article chosen" in refused.text  # type: ignore[attr-defined]


def test_no_studio_page_may_be_framed_by_another_site(client: TestClient) -> None:
    """The studio frames the message itself, so that one page may be framed by its own
    origin; no other studio answer may be framed at all."""
    answers = {
        "list": client.get("/studio/"),
        "edition": client.get(STUDIO),
        "login": client.get("/studio/login"),
        "no such date": client.get("/studio/not-a-date"),
        "forged action": client.post(f"{STUDIO}/rebuild", data={"csrf": "forged"}),
    }
    assert [a.status_code for a in answers.values()] == [200, 200, 200, 404, 403]
    for name, answer in answers.items():
        assert answer.headers.get("x-frame-options") == "DENY", name
        assert "frame-ancestors 'none'" in answer.headers["content-security-policy"], name
    frame = client.get(f"{STUDIO}/message.html")
    assert frame.headers.get("x-frame-options") == "SAMEORIGIN"
    assert "frame-ancestors 'self'" in frame.headers["content-security-policy"]


def test_a_request_naming_another_host_is_refused(edition: dict) -> None:  # type: ignore[type-arg]
    # DNS rebinding: a hostile name that resolves to 127.0.0.1 reaches the port, not the studio.
    rebound = studio_client(base_url="http://attacker.example:8000")
    assert rebound.get(STUDIO).status_code == 400
    assert rebound.post(f"{STUDIO}/rebuild").status_code == 400


def test_nothing_changes_once_sending_has_started(
    client: TestClient,
    edition: dict,  # type: ignore[type-arg]
) -> None:
    assert digest("send", "--date", DAY).exit_code == 0
    top = edition["sections"][0]["items"][0]
    page = client.get(STUDIO).text
    assert "Sending has started" in page and 'value="drop"' not in page
    refused = post(client, "decide", article_id=str(top["article_id"]), action="drop")
    assert refused.status_code == 409  # type: ignore[attr-defined]
    assert "is being sent; it can no longer change" in refused.text  # type: ignore[attr-defined]
    assert top["title"] in titles(built())


def test_a_test_copy_is_marked_and_is_not_a_delivery(client: TestClient, tmp_path: Path) -> None:
    sent = post(client, "test", address="Editor@Example.com", variant="ukraine")
    assert sent.status_code == 303  # type: ignore[attr-defined]
    (message,) = mailbox.Maildir(tmp_path / "var" / "outbox", create=False)
    assert message["To"] == "editor@example.com"
    assert str(make_header(decode_header(message["Subject"]))).startswith("[TEST] The Daily")
    assert "no deliveries" in digest("report", "--date", DAY).output
    page = client.get(STUDIO).text
    assert "<strong>test-send</strong> editor@example.com (ukraine)" in page
    bad = post(client, "test", address="not an address")
    assert bad.status_code == 409 and "is not a valid address" in bad.text  # type: ignore[attr-defined]


def test_a_test_copy_waiting_on_a_slow_mail_server_holds_up_no_other_page(
    edition: dict,  # type: ignore[type-arg]
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """While the mail server sits on its reply to a test copy, a reader's archive page is
    answered; the test copy is answered after it."""
    with FaultServer(slow_reply_seconds=10) as smtp:
        monkeypatch.setenv("DIGEST_DELIVERY__TRANSPORT", "smtp")
        for key, value in smtp.settings(timeout=60).items():
            monkeypatch.setenv(f"DIGEST_SMTP__{key.upper()}", str(value))
        studio = create_app(App.open(load_settings()), studio=True)
        finished = asyncio.run(_archive_while_a_test_copy_is_sent(studio, smtp))
    assert finished == ["archive", "test copy"]


async def _archive_while_a_test_copy_is_sent(studio: ASGIApp, smtp: FaultServer) -> list[str]:
    """The order in which the two requests were answered."""
    finished: list[str] = []
    transport = httpx.ASGITransport(app=studio)
    async with httpx.AsyncClient(transport=transport, base_url=LOCAL, timeout=60) as client:
        token = re.search(r'name="csrf" value="([^"]+)"', (await client.get(STUDIO)).text)
        assert token

        async def send_test_copy() -> None:
            form = {"csrf": token[1], "address": "editor@example.com"}
            assert (await client.post(f"{STUDIO}/test", data=form)).status_code == 303
            finished.append("test copy")

        sending = asyncio.create_task(send_test_copy())
        while not smtp.received:  # the message is in; the server waits before it replies
            await asyncio.sleep(0.01)
        assert (await client.get("/archive")).status_code == 200
        finished.append("archive")
        await sending
    return finished


def test_approval_in_the_studio_lets_the_edition_go_out(
    edition: dict,  # type: ignore[type-arg]
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("DIGEST_EDITION__REQUIRE_APPROVAL", "true")
    client = studio_client()
    assert "status-draft" in client.get("/studio/").text
    assert "Needs approval before it can be sent" in client.get(STUDIO).text
    assert digest("send", "--date", DAY).exit_code == 1
    post(client, "approve")
    page = client.get(STUDIO).text
    assert re.search(r"Approved by studio [^,]+, \d\d \w+ \d\d:\d\d UTC", page)
    assert digest("send", "--date", DAY).exit_code == 0


def test_the_checks_panel_shows_the_gate_and_the_size(client: TestClient) -> None:
    page = client.get(f"{STUDIO}?view=checks").text
    assert "Pre-send gate" in page and "passes" in page
    assert "under Gmail's 102 KB clip" in page
    assert 'id="spam-score"' in page or "Not installed" in page


def test_a_date_without_an_edition_offers_to_build_it(client: TestClient) -> None:
    assert "No edition for 2024-06-25 yet" in client.get("/studio/2024-06-25").text
    form = {"csrf": csrf(client), "day": "2024-06-25"}
    assert client.post("/studio/build", data=form).status_code == 303
    assert "status-" in client.get("/studio/2024-06-25").text
    assert client.get("/studio/not-a-date").status_code == 404


def test_off_loopback_the_studio_needs_its_token(
    edition: dict,  # type: ignore[type-arg]
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    with pytest.raises(ConfigError, match=r"web\.studio_token: required when the studio listens"):
        studio_client(bind_host="192.0.2.10")
    monkeypatch.setenv("DIGEST_WEB__STUDIO_TOKEN", "correct horse battery staple")
    client = studio_client(bind_host="192.0.2.10", base_url="http://192.0.2.10:8000")
    assert client.get(STUDIO).headers["location"] == f"/studio/login?next=%2Fstudio%2F{DAY}"
    assert client.post(f"{STUDIO}/rebuild").status_code == 403
    wrong = client.post(f"/studio/login?next={STUDIO}", data={"token": "guess"})
    assert wrong.status_code == 403 and "digest_studio" not in wrong.headers.get("set-cookie", "")
    foreign = client.post(
        "/studio/login",
        data={"token": "correct horse battery staple"},
        headers={"Origin": "http://evil.example"},
    )
    assert foreign.status_code == 403
    right = client.post(
        f"/studio/login?next={STUDIO}", data={"token": "correct horse battery staple"}
    )
    assert right.status_code == 303 and right.headers["location"] == STUDIO
    assert client.get(STUDIO).status_code == 200
    assert client.get("/studio/login?next=//evil.example").status_code == 200


@pytest.mark.parametrize("token", ["x", "fifteen-chars..", "  padded-short  "])
def test_off_loopback_a_weak_token_is_refused_in_one_line(
    edition: dict,  # type: ignore[type-arg]
    monkeypatch: pytest.MonkeyPatch,
    token: str,
) -> None:
    monkeypatch.setenv("DIGEST_WEB__STUDIO_TOKEN", token)
    with pytest.raises(ConfigError, match=r"^web\.studio_token: at least 16 characters"):
        studio_client(bind_host="192.0.2.10")
    answer = digest("preview", "--date", DAY, "--serve", "--host", "192.0.2.10", "--port", "0")
    assert answer.exit_code == 2
    [line] = answer.output.splitlines()
    assert line.startswith("error: web.studio_token: at least 16 characters")
    assert studio_client().get(STUDIO).status_code == 200  # on loopback the token is not used


TOKEN = "correct horse battery staple"


def behind(client_address: str) -> TestClient:
    """The studio off loopback, its token set, reached from `client_address`."""
    app = create_app(App.open(load_settings()), studio=True, bind_host="192.0.2.10")
    return TestClient(
        app,
        base_url="http://192.0.2.10:8000",
        follow_redirects=False,
        client=(client_address, 40000),
    )


def login(client: TestClient, token: str, forwarded_for: str | None = None) -> int:
    headers = {"X-Forwarded-For": forwarded_for} if forwarded_for else {}
    return client.post("/studio/login", data={"token": token}, headers=headers).status_code


def test_behind_a_trusted_proxy_each_editor_has_their_own_login_tries(
    edition: dict,  # type: ignore[type-arg]
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("DIGEST_WEB__STUDIO_TOKEN", TOKEN)
    monkeypatch.setenv("DIGEST_WEB__TRUSTED_PROXIES", '["10.0.0.0/8"]')
    proxy = behind("10.0.0.2")
    # One editor mistypes until locked out...
    assert [login(proxy, "guess", "198.51.100.7") for _ in range(11)] == [403] * 10 + [429]
    # ...and cannot get out by naming another address in front of the one the proxy adds.
    assert login(proxy, TOKEN, "203.0.113.50, 198.51.100.7") == 429
    # Another editor behind the same proxy still logs in.
    assert login(proxy, TOKEN, "203.0.113.9") == 303


def test_a_forwarded_for_header_from_anyone_else_is_ignored(
    edition: dict,  # type: ignore[type-arg]
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("DIGEST_WEB__STUDIO_TOKEN", TOKEN)
    monkeypatch.setenv("DIGEST_WEB__TRUSTED_PROXIES", '["10.0.0.0/8"]')
    direct = behind("198.51.100.66")
    tries = [login(direct, "guess", f"203.0.113.{n}") for n in range(11)]
    assert tries == [403] * 10 + [429]
    assert login(direct, TOKEN, "203.0.113.99") == 429


def test_the_public_server_has_no_studio(edition: dict) -> None:  # type: ignore[type-arg]
    public = TestClient(create_app(App.open(load_settings())), base_url=LOCAL)
    assert public.get(STUDIO).status_code == 404
    assert public.get(f"{STUDIO}/message.html").status_code == 404


def test_get_prints_a_studio_page_without_a_server(edition: dict) -> None:  # type: ignore[type-arg]
    text = digest("preview", "--date", DAY, "--get", f"{STUDIO}?view=text")
    assert text.exit_code == 0 and shows(text.output, edition["sections"][0]["items"][0]["title"])
    listing = digest("preview", "--date", DAY, "--get", "/studio")  # redirected to the list
    assert listing.exit_code == 0 and DAY in listing.output and "frozen" in listing.output
    missing = digest("preview", "--date", DAY, "--get", "/studio/not-a-date")
    assert missing.exit_code == 1 and "answered 404" in missing.stderr
    both = digest("preview", "--date", DAY, "--get", "/studio/", "--serve")
    assert both.exit_code == 2


@pytest.mark.slow
def test_preview_serve_listens_and_serves_the_studio(edition: dict) -> None:  # type: ignore[type-arg]
    command = [str(Path(sys.executable).parent / "digest"), "preview", "--date", DAY]
    server = subprocess.Popen(
        [*command, "--serve", "--port", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    try:
        assert server.stdout is not None
        announced = re.match(
            r"Serving (http://127\.0\.0\.1:\d+/studio/\S+) ", server.stdout.readline()
        )
        assert announced, "no address announced"
        page = httpx.get(announced[1], timeout=30)
        assert page.status_code == 200
        assert shows(page.text, edition["sections"][0]["items"][0]["title"])
    finally:
        server.terminate()
        server.wait(timeout=30)
