"""The subscriber pages through an in-process client, with links taken from delivered mail."""

import json
import mailbox
import re
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from conftest import SAMPLES, digest, make_settings
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


def open_client() -> TestClient:
    """The public app as `digest serve` runs it, reached at its loopback address."""
    return TestClient(create_app(App.open(load_settings())), base_url="http://127.0.0.1:8000")


@pytest.fixture
def client() -> TestClient:
    return open_client()


def outbox(tmp_path: Path) -> list[mailbox.MaildirMessage]:
    return list(mailbox.Maildir(tmp_path / "var" / "outbox", create=False))


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


def test_links_signed_under_the_site_secret_stop_working_when_it_changes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DIGEST_WEB__LINK_SECRET", "first-site-secret")
    digest("db", "upgrade")
    digest("ingest", str(SAMPLES / "articles"))
    digest("subscribers", "add", "ada@example.com")
    assert digest("send", "--date", DAY).exit_code == 0
    (message,) = outbox(tmp_path)
    link = re.search(r"<https?://[^/>]+(/unsubscribe/[^>]+)>", message["List-Unsubscribe"])
    assert link
    assert open_client().get(link[1]).status_code == 200
    monkeypatch.setenv("DIGEST_WEB__LINK_SECRET", "rotated-site-secret")
    rotated = open_client()
    assert rotated.get(link[1]).status_code == 404
    assert rotated.post(link[1], data={"List-Unsubscribe": "One-Click"}).status_code == 404
    assert status("ada@example.com") == "active"


def profile(email: str) -> dict[str, object]:
    for line in digest("subscribers", "list", "--json").output.splitlines():
        if email in line:
            return dict(json.loads(line))
    raise AssertionError(email)


def test_preferences_choose_sections_hour_and_timezone(
    delivered: dict[str, str], client: TestClient
) -> None:
    page = client.get(delivered["preferences"])
    assert page.status_code == 200 and 'name="section-congress" checked' in page.text
    saved = client.post(
        delivered["preferences"],
        data={
            "section-congress": "on",
            "send_hour": "6",
            "timezone": "Europe/Kyiv",
            "status": "active",
        },
    )
    assert saved.status_code == 200 and "Saved." in saved.text
    assert 'name="section-congress" checked' in saved.text
    assert 'name="section-ukraine" checked' not in saved.text
    assert '<option value="6" selected>06:00</option>' in saved.text
    assert "<option selected>Europe/Kyiv</option>" in saved.text
    assert profile("ada@example.com") | {"sections": ["congress"]} == profile("ada@example.com")
    assert profile("ada@example.com")["send_hour"] == 6
    assert profile("ada@example.com")["timezone"] == "Europe/Kyiv"


def test_preferences_refuse_bad_choices_with_the_reason_and_change_nothing(
    delivered: dict[str, str], client: TestClient
) -> None:
    before = profile("ada@example.com")
    bad_zone = client.post(
        delivered["preferences"], data={"section-congress": "on", "timezone": "Mars/Olympus"}
    )
    assert (
        bad_zone.status_code == 400 and "unknown timezone &#39;Mars/Olympus&#39;" in bad_zone.text
    )
    for hour in ("\u00b9", "\u0661", "six"):
        bad_hour = client.post(
            delivered["preferences"], data={"section-congress": "on", "send_hour": hour}
        )
        assert bad_hour.status_code == 400
        assert "expected a whole hour from 0 to 23" in bad_hour.text
    no_section = client.post(delivered["preferences"], data={"status": "active"})
    assert no_section.status_code == 400
    assert "choose at least one section, or pause the digest" in no_section.text
    assert profile("ada@example.com") == before


@pytest.mark.parametrize(
    "foreign",
    [
        {"Origin": "https://evil.example"},
        {"Origin": "null"},
        {"Referer": "https://evil.example/page"},
    ],
    ids=["origin", "null-origin", "referer"],
)
def test_preferences_are_not_changed_from_another_site(
    delivered: dict[str, str], client: TestClient, foreign: dict[str, str]
) -> None:
    """Like the studio's actions: refused from another origin; a client that sends neither
    Origin nor Referer (a script) is let through, as the signed link is the capability."""
    digest("subscribers", "update", "ada@example.com", "--status", "unsubscribed")
    before = profile("ada@example.com")
    forged = client.post(
        delivered["preferences"],
        data={"section-congress": "on", "status": "active"},
        headers=foreign,
    )
    assert forged.status_code == 403 and "ada@example.com" not in forged.text
    assert profile("ada@example.com") == before
    for own in ({"Origin": "https://news.example.org"}, {"Origin": "http://127.0.0.1:8000"}, {}):
        saved = client.post(delivered["preferences"], data={"section-congress": "on"}, headers=own)
        assert saved.status_code == 200 and "Saved." in saved.text


def test_pause_sends_nothing_until_resumed(
    delivered: dict[str, str], client: TestClient, tmp_path: Path
) -> None:
    everything = {"section-ukraine": "on", "section-congress": "on", "section-middle_east": "on"}
    paused = client.post(delivered["preferences"], data={**everything, "status": "paused"})
    assert 'value="paused" checked' in paused.text
    assert status("ada@example.com") == "paused"
    digest("ingest", str(SAMPLES / "articles"))
    assert digest("send", "--date", "2024-06-25").exit_code == 0
    assert len(outbox(tmp_path)) == 1  # only the message sent before the pause

    client.post(delivered["preferences"], data={**everything, "status": "active"})
    assert status("ada@example.com") == "active"


def test_the_preferences_page_unsubscribes_with_its_button(
    delivered: dict[str, str], client: TestClient
) -> None:
    page = client.get(delivered["preferences"])
    button = re.search(r'<form method="post" action="(/unsubscribe/[^"]+)"', page.text)
    assert button and button[1] == delivered["unsubscribe"]
    assert "will get no more messages" in client.post(button[1]).text
    again = client.get(delivered["preferences"])
    assert "This address is unsubscribed" in again.text
    assert 'action="/unsubscribe/' not in again.text
    # Coming back is the owner's choice, made on this page.
    everything = {"section-ukraine": "on", "section-congress": "on", "section-middle_east": "on"}
    client.post(delivered["preferences"], data={**everything, "status": "active"})
    assert status("ada@example.com") == "active"


@pytest.mark.parametrize("purpose", ["preferences", "unsubscribe"])
def test_a_get_never_changes_anything(
    delivered: dict[str, str], client: TestClient, purpose: str
) -> None:
    before = profile("ada@example.com")
    for _ in range(3):
        assert (
            client.get(delivered[purpose] + "?status=paused&section-congress=on").status_code == 200
        )
    assert profile("ada@example.com") == before


def test_forged_preference_links_reveal_nothing(
    delivered: dict[str, str], client: TestClient
) -> None:
    forged = delivered["preferences"][:-2] + "00"
    for answer in (client.get(forged), client.post(forged, data={"status": "paused"})):
        assert answer.status_code == 404
        assert "ada@example.com" not in answer.text
    too_long = client.get("/preferences/" + "9" * 40 + ".abc")
    assert too_long.status_code == 404
    assert status("ada@example.com") == "active"


@pytest.mark.parametrize(
    ("one", "nine"),
    [("\u0661", "\u0669"), ("\uff11", "\uff19"), ("\u00b9", "\u2079")],
    ids=["arabic-indic", "fullwidth", "superscript"],
)
@pytest.mark.parametrize("purpose", ["unsubscribe", "preferences", "confirm"])
def test_a_token_with_other_digits_gets_the_same_plain_404(
    delivered: dict[str, str], purpose: str, one: str, nine: str
) -> None:
    """int() reads "١" and "１" as 1 (and str.isdigit() passes "¹"): such a token must neither
    fail nor tell Ada's id (1) from an id nobody has (9)."""
    app = create_app(App.open(load_settings()))
    client = TestClient(app, base_url="http://127.0.0.1:8000", raise_server_exceptions=False)
    assert delivered["unsubscribe"].startswith("/unsubscribe/1.")
    mac = delivered["unsubscribe"].rpartition(".")[2]
    plain = client.get(f"/{purpose}/x.{mac}")
    assert plain.status_code == 404
    for token in (f"{one}.{mac}", f"{nine}.{mac}"):
        for answer in (client.get(f"/{purpose}/{token}"), client.post(f"/{purpose}/{token}")):
            assert (answer.status_code, answer.text) == (404, plain.text)
    assert status("ada@example.com") == "active"


def test_the_web_version_has_the_stories_but_no_personal_links(
    delivered: dict[str, str], client: TestClient
) -> None:
    page = client.get(f"/editions/daily/{DAY}")
    assert page.status_code == 200
    assert "U.S. and European Officials Discuss Ukraine Peace Talks" in page.text
    assert "ada@example.com" not in page.text and "/unsubscribe/" not in page.text
    assert client.get("/editions/daily/1999-01-01").status_code == 404
    assert client.get("/editions/daily/not-a-date").status_code == 404


def test_the_archive_and_its_atom_feed_list_sent_editions(
    delivered: dict[str, str], client: TestClient
) -> None:
    digest("build", "--date", "2024-06-25")  # built, never sent: not in the archive
    page = client.get("/archive")
    assert page.status_code == 200
    assert f'href="/editions/daily/{DAY}"' in page.text
    assert "/editions/daily/2024-06-25" not in page.text
    assert 'type="application/atom+xml"' in page.text

    feed = client.get("/archive.atom")
    assert feed.headers["content-type"].startswith("application/atom+xml")
    atom = "{http://www.w3.org/2005/Atom}"
    root = ET.fromstring(feed.content)
    assert root.tag == f"{atom}feed"
    (entry,) = root.findall(f"{atom}entry")
    link = entry.find(f"{atom}link")
    assert link is not None and link.get("href") == f"https://news.example.org/editions/daily/{DAY}"
    assert entry.findtext(f"{atom}title") == "The Daily Digest · Monday, June 24, 2024"
    assert "Ukraine Peace Talks" in (entry.findtext(f"{atom}summary") or "")
    assert "ada@example.com" not in feed.text


def test_a_request_for_another_host_is_refused(delivered: dict[str, str]) -> None:
    app = create_app(App.open(load_settings()))
    for host in ("evil.example", "127.0.0.1.evil.example", "[::2]"):
        answer = TestClient(app, base_url=f"http://{host}").get(delivered["unsubscribe"])
        assert answer.status_code == 400 and "ada@" not in answer.text
    public = TestClient(app, base_url="https://news.example.org")  # behind the reverse proxy
    assert public.get(delivered["unsubscribe"]).status_code == 200
    assert public.get("/studio/").status_code == 404  # the studio is not part of `digest serve`


def test_pages_carry_security_headers(delivered: dict[str, str], client: TestClient) -> None:
    page = client.get(delivered["unsubscribe"])
    assert page.headers["referrer-policy"] == "same-origin"
    assert page.headers["x-content-type-options"] == "nosniff"
    assert "frame-ancestors 'none'" in page.headers["content-security-policy"]
    assert client.get("/static/digest.css").status_code == 200


def test_no_page_may_be_framed_by_another_site(
    delivered: dict[str, str], client: TestClient, tmp_path: Path
) -> None:
    """Every answer, the web version and the errors included, refuses to be framed: by the
    old header (X-Frame-Options) and by the policy that replaces it (frame-ancestors)."""
    unmigrated = tmp_path / "unmigrated"
    unmigrated.mkdir()
    broken = TestClient(
        create_app(App.open(make_settings(unmigrated))),
        base_url="http://127.0.0.1:8000",
        raise_server_exceptions=False,
    )
    answers = {
        "unsubscribe": client.get(delivered["unsubscribe"]),
        "preferences": client.get(delivered["preferences"]),
        "web version": client.get(f"/editions/daily/{DAY}"),
        "archive": client.get("/archive"),
        "atom feed": client.get("/archive.atom"),
        "stylesheet": client.get("/static/digest.css"),
        "bad token": client.get("/unsubscribe/1.00"),
        "no such page": client.get("/no-such-page"),
        "wrong method": client.delete("/archive"),
        "another host": TestClient(client.app, base_url="http://evil.example").get("/archive"),
        "server error": broken.get("/archive"),
    }
    assert [a.status_code for a in answers.values()] == [200] * 6 + [404, 404, 405, 400, 500]
    for name, answer in answers.items():
        assert answer.headers.get("x-frame-options") == "DENY", name
        policy = answer.headers.get("content-security-policy", "")
        assert "frame-ancestors 'none'" in policy, name
        assert answer.headers.get("x-content-type-options") == "nosniff", name


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

    client = open_client()
    assert "Yes, subscribe" in client.get(link[1]).text
    assert status("new@example.com") == "pending"  # a GET confirms nothing
    assert client.post(link[1][:-1] + "x").status_code == 404
    assert "is confirmed" in client.post(link[1]).text
    assert status("new@example.com") == "active"


@pytest.fixture
def subscribe_form(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> TestClient:
    monkeypatch.setenv("DIGEST_WEB__BASE_URL", "https://news.example.org/")
    monkeypatch.setenv("DIGEST_WEB__PUBLIC_SUBSCRIBE", "true")
    digest("db", "upgrade")
    return open_client()


def test_the_subscribe_form_is_off_by_default(tmp_path: Path) -> None:
    digest("db", "upgrade")
    client = open_client()
    assert client.get("/subscribe").status_code == 404
    assert client.post("/subscribe", data={"email": "x@example.com"}).status_code == 404
    assert "x@example.com" not in digest("subscribers", "list").output


def test_the_subscribe_form_mails_a_confirmation_and_reveals_no_subscriber(
    subscribe_form: TestClient, tmp_path: Path
) -> None:
    assert 'name="email"' in subscribe_form.get("/subscribe").text
    digest("subscribers", "add", "known@example.com")
    new = subscribe_form.post("/subscribe", data={"email": "New@Example.com"})
    known = subscribe_form.post("/subscribe", data={"email": "known@example.com"})
    assert new.status_code == known.status_code == 200
    assert new.text == known.text and "confirmation link is on its way" in new.text
    assert status("new@example.com") == "pending"
    assert status("known@example.com") == "active"
    (request,) = outbox(tmp_path)  # the known address got nothing
    assert request["To"] == "new@example.com"
    assert request["Subject"] == "Confirm your subscription to The Daily Digest"

    bad = subscribe_form.post("/subscribe", data={"email": "not an address"})
    assert bad.status_code == 400 and "is not a valid address" in bad.text


def test_the_subscribe_form_refuses_other_sites_and_floods(subscribe_form: TestClient) -> None:
    foreign = subscribe_form.post(
        "/subscribe", data={"email": "a@example.com"}, headers={"Origin": "https://evil.example"}
    )
    assert foreign.status_code == 403
    own = {"Origin": "https://news.example.org"}
    answers = [
        subscribe_form.post("/subscribe", data={"email": f"a{n}@example.com"}, headers=own)
        for n in range(6)
    ]
    assert [a.status_code for a in answers] == [200] * 5 + [429]
    assert "a5@example.com" not in digest("subscribers", "list").output


def test_behind_a_proxy_on_this_machine_each_reader_has_their_own_limit(
    subscribe_form: TestClient,
) -> None:
    """Loopback is a trusted proxy by default: the reader is the one it forwarded for."""
    proxied = TestClient(
        subscribe_form.app, base_url="http://127.0.0.1:8000", client=("127.0.0.1", 40000)
    )

    def ask(email: str, reader: str) -> int:
        headers = {"Origin": "https://news.example.org", "X-Forwarded-For": reader}
        return proxied.post("/subscribe", data={"email": email}, headers=headers).status_code

    assert [ask(f"a{n}@example.com", "198.51.100.7") for n in range(6)] == [200] * 5 + [429]
    assert ask("b@example.com", "203.0.113.9") == 200
