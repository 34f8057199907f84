"""Subscriber management as an operator meets it: the commands, CSV imports, and opt-outs."""

import json
from pathlib import Path
from typing import Any

import pytest

from conftest import SEED, digest
from digest.service.app import App
from digest.service.subscriber_import import import_csv
from digest.service.subscribers import subscribe

HEADER = "email,name,sections,timezone,send_hour\n"


@pytest.fixture(autouse=True)
def _database() -> None:
    assert digest("db", "upgrade").exit_code == 0


def listed(*options: str) -> dict[str, dict[str, Any]]:
    result = digest("subscribers", "list", "--json", *options)
    assert result.exit_code == 0, result.output
    return {r["email"]: r for r in map(json.loads, result.output.splitlines())}


def write(path: Path, text: str) -> str:
    path.write_text(text, encoding="utf-8")
    return str(path)


def test_add_list_update_and_remove_round_trip() -> None:
    added = digest(
        "subscribers", "add", "Ada@Example.COM", "--name", "Ada\nLovelace",
        "--section", "congress", "--section", "ukraine",
        "--timezone", "Europe/Kyiv", "--send-hour", "7",
    )  # fmt: skip
    assert added.exit_code == 0
    assert "Added ada@example.com (id 1)" in added.output  # one case for one mailbox
    assert digest("subscribers", "add", "bob@example.com", "--status", "pending").exit_code == 0

    assert listed() == {
        "ada@example.com": {
            "id": 1, "email": "ada@example.com", "name": "Ada Lovelace", "status": "active",
            "sections": ["ukraine", "congress"], "timezone": "Europe/Kyiv", "send_hour": 7,
        },
        "bob@example.com": {
            "id": 2, "email": "bob@example.com", "name": "", "status": "pending",
            "sections": None, "timezone": None, "send_hour": None,
        },
    }  # fmt: skip
    table = digest("subscribers", "list").output
    assert "pending" in table and "2 subscribers" in table
    assert list(listed("--status", "pending")) == ["bob@example.com"]

    updated = digest(
        "subscribers", "update", "Ada@example.com", "--all-sections", "--no-send-hour",
        "--timezone", "America/New_York", "--name", "Ada L.",
    )  # fmt: skip
    assert updated.exit_code == 0
    assert "send_hour 7 -> edition" in updated.output
    assert "sections ukraine, congress -> all" in updated.output
    ada = listed()["ada@example.com"]
    assert (ada["name"], ada["sections"], ada["timezone"], ada["send_hour"]) == (
        "Ada L.", None, "America/New_York", None,
    )  # fmt: skip
    same = digest("subscribers", "update", "Ada@example.com", "--name", "Ada L.")
    assert same.exit_code == 0 and "Unchanged" in same.output

    removed = digest("subscribers", "remove", "Ada@example.com")
    assert removed.exit_code == 0 and "Unsubscribed ada@example.com" in removed.output
    assert listed()["ada@example.com"]["status"] == "unsubscribed"
    assert list(listed("--status", "active")) == []


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (["--timezone", "Mars/Base"], "unknown timezone 'Mars/Base'"),
        (["--timezone", "Europe"], "unknown timezone 'Europe'"),
        (["--send-hour", "24"], "send hour 24 is not between 0 and 23"),
        (["--section", "sport"], "unknown section(s) sport"),
    ],
)
def test_add_refuses_bad_choices_with_one_line(options: list[str], message: str) -> None:
    result = digest("subscribers", "add", "ada@example.com", *options)
    assert result.exit_code == 1
    assert result.stderr.startswith(f"error: {message}")
    assert len(result.stderr.strip().splitlines()) == 1
    assert listed() == {}


def test_unknown_address_is_an_error() -> None:
    for command in (
        ["update", "nobody@example.com", "--name", "X"],
        ["remove", "nobody@example.com"],
    ):
        result = digest("subscribers", *command)
        assert result.exit_code == 1
        assert result.stderr.strip() == "error: no subscriber with address 'nobody@example.com'"


def test_update_needs_something_to_change() -> None:
    digest("subscribers", "add", "ada@example.com")
    assert digest("subscribers", "update", "ada@example.com").exit_code == 2
    both = digest("subscribers", "update", "ada@example.com", "--send-hour", "6", "--no-send-hour")
    assert both.exit_code == 2


def test_internationalised_addresses_are_accepted(tmp_path: Path) -> None:
    assert digest("subscribers", "add", "用户@例子.广告").exit_code == 0
    assert digest("subscribers", "add", "jürgen@EXÄMPLE.de").exit_code == 0
    csv = write(tmp_path / "idn.csv", "email\nδοκιμή@παράδειγμα.δοκιμή\nJürgen@exämple.de\n")
    imported = digest("subscribers", "import", csv)
    assert imported.exit_code == 0, imported.stderr
    # Jürgen@ is the same mailbox as jürgen@, added above: case never makes a second subscriber.
    assert "1 added, 0 updated, 1 unchanged, 0 rejected" in imported.output
    assert set(listed()) == {"用户@例子.广告", "jürgen@exämple.de", "δοκιμή@παράδειγμα.δοκιμή"}


def test_import_keeps_good_rows_and_reports_each_bad_one(tmp_path: Path) -> None:
    csv = write(
        tmp_path / "subs.csv",
        HEADER
        + "ada@example.com,Ada,ukraine;congress,Europe/Kyiv,7\n"  # line 2
        + "not-an-address,Bad,,,\n"
        + "sam@example.com,Sam,sport,,\n"
        + "mars@example.com,Mars,,Mars/Base,\n"  # line 5
        + "late@example.com,Late,,,24\n"
        + ",Nobody,,,\n"
        + '"ben@example.com","Ben\nSmith",congress | middle_east,,6\n'  # lines 8-9
        + "\n"
        + "cy@example.com\n"  # line 11: a short row leaves the other columns empty
        + "ADA@example.com,Twice,,,\n"  # line 12: the same mailbox as line 2
        + "ada@example.com,Again,,,\n"
        + "dee@example.com,Dee,,,,surplus\n"
        + "eve@example.com,Eve,,,seven\n",
    )
    result = digest("subscribers", "import", csv)

    assert result.exit_code == 1
    assert result.stderr.splitlines() == [
        f"rejected {csv}: line 3: field 'email': 'not-an-address' is not a valid address: "
        "An email address must have an @-sign.",
        f"rejected {csv}: line 4: field 'sections': unknown section(s) sport; "
        "configured: congress, middle_east, ukraine",
        f"rejected {csv}: line 5: field 'timezone': unknown timezone 'Mars/Base'",
        f"rejected {csv}: line 6: field 'send_hour': send hour 24 is not between 0 and 23",
        f"rejected {csv}: line 7: field 'email': missing",
        f"rejected {csv}: line 12: field 'email': ada@example.com is already on line 2",
        f"rejected {csv}: line 13: field 'email': ada@example.com is already on line 2",
        f"rejected {csv}: line 14: 6 fields, but the header names 5",
        f"rejected {csv}: line 15: field 'send_hour': expected a whole hour from 0 to 23, "
        "got 'seven'",
    ]
    assert f"{csv}: 3 added, 0 updated, 0 unchanged, 9 rejected." in result.output
    subscribers = listed()
    assert set(subscribers) == {
        "ada@example.com", "ben@example.com", "cy@example.com",
    }  # fmt: skip
    assert subscribers["ada@example.com"]["sections"] == ["ukraine", "congress"]
    assert subscribers["ben@example.com"]["name"] == "Ben Smith"
    assert subscribers["ben@example.com"]["sections"] == ["congress", "middle_east"]
    assert subscribers["ben@example.com"]["send_hour"] == 6
    assert subscribers["cy@example.com"]["sections"] is None

    again = digest("subscribers", "import", csv)
    assert f"{csv}: 0 added, 0 updated, 3 unchanged, 9 rejected." in again.output


def test_reimporting_a_clean_file_changes_nothing(tmp_path: Path) -> None:
    rows = "".join(f"r{n}@example.com,Reader {n},ukraine,UTC,{n % 24}\n" for n in range(2500))
    csv = write(tmp_path / "subs.csv", HEADER + rows)
    first = digest("subscribers", "import", csv)
    assert first.exit_code == 0
    assert "2500 added, 0 updated, 0 unchanged, 0 rejected" in first.output
    before = listed()
    again = digest("subscribers", "import", csv)
    assert again.exit_code == 0
    assert "0 added, 0 updated, 2500 unchanged, 0 rejected" in again.output
    assert listed() == before


def test_import_updates_known_addresses_and_keeps_their_status(tmp_path: Path) -> None:
    digest("subscribers", "add", "ada@example.com", "--section", "congress", "--send-hour", "6")
    digest("subscribers", "add", "gone@example.com")
    digest("subscribers", "remove", "gone@example.com")
    csv = write(
        tmp_path / "names.csv",
        "email,name\nada@example.com,Ada Lovelace\ngone@example.com,Gone\nnew@example.com,New\n",
    )

    result = digest("subscribers", "import", csv, "--status", "pending")

    assert result.exit_code == 0
    assert "1 added, 2 updated, 0 unchanged, 0 rejected" in result.output
    assert "1 address in the file unsubscribed or bounced earlier and stay so." in result.output
    subscribers = listed()
    ada = subscribers["ada@example.com"]
    # Only the file's columns change: the sections and send hour it does not name stay.
    assert (ada["name"], ada["status"], ada["sections"], ada["send_hour"]) == (
        "Ada Lovelace", "active", ["congress"], 6,
    )  # fmt: skip
    assert subscribers["gone@example.com"]["status"] == "unsubscribed"
    assert subscribers["new@example.com"]["status"] == "pending"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("Email,Phone,city\nada@example.com,1,x\n", "line 1: unknown column(s) 'Phone', 'city'"),
        ("name\nAda\n", "line 1: no 'email' column"),
        ("email,name,NAME\n", "line 1: column(s) given twice: name"),
        ("", "empty file; expected a header row"),
    ],
)
def test_a_bad_header_refuses_the_whole_file(tmp_path: Path, text: str, message: str) -> None:
    csv = write(tmp_path / "subs.csv", text)
    result = digest("subscribers", "import", csv)
    assert result.exit_code == 1
    assert result.stderr.startswith(f"error: {csv}: {message}")
    assert listed() == {}


def test_a_file_that_is_not_utf8_changes_nothing(tmp_path: Path) -> None:
    path = tmp_path / "latin1.csv"
    path.write_bytes(b"email,name\nada@example.com,Ada\nzoe@example.com,Zo\xe9\n")
    result = digest("subscribers", "import", str(path))
    assert result.exit_code == 1
    assert f"{path}: line 3: not UTF-8 text" in result.stderr
    assert listed() == {}
    missing = digest("subscribers", "import", str(tmp_path / "missing.csv"))
    assert missing.exit_code == 1 and "cannot read: No such file" in missing.stderr


def test_remove_keeps_the_opt_out_until_an_explicit_resubscribe() -> None:
    digest("subscribers", "add", "ada@example.com", "--name", "Ada")
    digest("subscribers", "remove", "ada@example.com")

    again = digest("subscribers", "add", "ada@example.com", "--name", "Ada")

    assert again.exit_code == 0
    assert "Not resubscribed: ada@example.com (id 1) is unsubscribed" in again.output
    assert listed()["ada@example.com"]["status"] == "unsubscribed"
    repeated = digest("subscribers", "remove", "ada@example.com")
    assert "Already unsubscribed" in repeated.output
    back = digest("subscribers", "update", "ada@example.com", "--status", "active")
    assert back.exit_code == 0 and "status unsubscribed -> active" in back.output
    assert listed()["ada@example.com"]["status"] == "active"


def test_purge_deletes_only_what_was_never_sent_to() -> None:
    digest("ingest", str(SEED))
    digest("subscribers", "add", "reader@example.com")
    assert digest("send", "--date", "2024-06-24").exit_code == 0
    digest("subscribers", "add", "typo@exmaple.com")

    refused = digest("subscribers", "remove", "reader@example.com", "--purge")
    assert refused.exit_code == 1
    assert refused.stderr.strip() == (
        "error: cannot purge reader@example.com: the delivery ledger records 1 message(s) "
        "to it; remove it without --purge to keep it as unsubscribed"
    )
    purged = digest("subscribers", "remove", "typo@exmaple.com", "--purge")
    assert purged.exit_code == 0 and "Deleted typo@exmaple.com" in purged.output
    assert list(listed()) == ["reader@example.com"]


def test_the_service_keeps_its_signatures(app: App, tmp_path: Path) -> None:
    added = subscribe(app, "Ada@Example.com", "Ada", ["ukraine"])
    assert (added.email, added.created, added.status) == ("ada@example.com", True, "active")
    assert subscribe(app, "Ada@example.com").created is False
    csv = tmp_path / "one.csv"
    csv.write_text("email,timezone\nAda@example.com,Asia/Tokyo\n", encoding="utf-8")
    report = import_csv(app, csv)
    assert (report.added, report.updated, report.unchanged, report.rejected) == (0, 1, 0, [])
