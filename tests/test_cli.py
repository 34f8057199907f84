"""The command line as a user meets it: help, inputs, summaries and exit codes."""

import json
import shutil
from pathlib import Path

from conftest import DATA, SAMPLES, copy_samples
from conftest import digest as run

COMMANDS = {
    *"db ingest articles build edition preview check send resend".split(),
    *"subscribers report run status serve".split(),
}


def test_help_lists_every_command_with_a_purpose() -> None:
    result = run("--help")
    assert result.exit_code == 0
    listed = {}
    for line in result.output.split("Commands:")[1].splitlines():
        if line.strip():
            name, _, purpose = line.strip().partition(" ")
            listed[name] = purpose.strip()
    assert set(listed) == COMMANDS
    assert all(len(purpose) > 10 for purpose in listed.values())


def test_ingest_summarises_and_a_bad_input_spoils_nothing_else(tmp_path: Path) -> None:
    run("db", "upgrade")
    samples = copy_samples(tmp_path)
    shutil.copy(DATA / "feeds" / "reuters_mostread_2020-03-21_truncated.xml", samples / "feeds")

    first = run("ingest", str(samples))

    assert first.exit_code == 1
    assert "reuters_mostread_2020-03-21_truncated.xml: not a usable feed: malformed XML" in (
        first.stderr
    )
    assert "Total: 210 new, 0 updated, 4 unchanged, 0 rejected, 1 of 5 inputs failed." in (
        first.output
    )
    again = run("ingest", str(SAMPLES))
    assert again.exit_code == 0
    assert "Total: 0 new, 0 updated, 214 unchanged" in again.output


def test_reingesting_a_changed_article_updates_it(tmp_path: Path) -> None:
    run("db", "upgrade")
    path = tmp_path / "one.jsonl"
    record = {
        "title": "Kyiv talks",
        "url": "https://example.com/a?utm_source=x",
        "source": "Wire",
        "published": "2024-06-24T10:00:00Z",
        "text": "First version.",
    }
    path.write_text(json.dumps(record) + "\n")
    assert "1 new" in run("ingest", str(path)).output
    record["text"] = "Second version."
    record["url"] = "https://example.com/a?utm_source=y"  # same story, other tracking tag
    path.write_text(json.dumps(record) + "\n")
    assert "0 new, 1 updated" in run("ingest", str(path)).output
    listed = run("articles", "list", "--json")
    (article,) = [json.loads(line) for line in listed.output.splitlines()]
    assert article["title"] == "Kyiv talks"


def test_articles_list_filters_by_day_and_shows_sections(tmp_path: Path) -> None:
    run("db", "upgrade")
    run("ingest", str(SAMPLES))
    result = run("articles", "list", "--date", "2024-06-24", "--json")
    (article,) = [json.loads(line) for line in result.output.splitlines()]
    assert article["sections"] == ["ukraine", "middle_east", "congress"]
    assert article["published"] == "2024-06-24T00:00:00+00:00"


def test_bad_date_is_a_usage_error() -> None:
    result = run("build", "--date", "24/06/2024")
    assert result.exit_code == 2
    assert "'24/06/2024' is not YYYY-MM-DD" in result.stderr


def test_subscribers_add_validates_and_is_idempotent() -> None:
    run("db", "upgrade")
    bad = run("subscribers", "add", "not-an-address")
    assert bad.exit_code == 1
    assert "not a valid address" in bad.stderr
    assert run("subscribers", "add", "Ada@Example.COM", "--name", "Ada").exit_code == 0
    again = run("subscribers", "add", "Ada@example.com")
    assert again.exit_code == 0 and "Already subscribed" in again.output
    unknown = run("subscribers", "add", "b@example.com", "--section", "sport")
    assert unknown.exit_code == 1 and "unknown section(s) sport" in unknown.stderr
    listing = run("subscribers", "list").output
    assert listing.count("example.com") == 1


def test_a_stale_feed_is_flagged_and_its_undated_entries_refused() -> None:
    """CNN's capture: items from spring 2023, 16 of them undated, which would otherwise pass
    for news at the time they were fetched."""
    run("db", "upgrade")
    result = run("ingest", str(DATA / "feeds" / "cnn_hp_hero_2024-08-08_stale.xml"))
    assert result.exit_code == 0
    refusals = [line for line in result.stderr.splitlines() if line.startswith("rejected")]
    assert len(refusals) == 16
    assert all("undated entry of a stale feed" in line for line in refusals)
    assert "53 new" in result.output
    (feed,) = json.loads(run("status", "--json").output)["feeds"]
    assert feed["last_error"].startswith("stale feed: its newest dated entry is from 2023-")
