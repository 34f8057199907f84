"""Editions through the CLI: ad-hoc analysis, the JSON form, editors' decisions, empty days."""

import json
from pathlib import Path

import pytest
from click.testing import Result

from conftest import DATA, SAMPLES, digest

FEEDS = DATA / "feeds"


@pytest.fixture
def stocked(tmp_path: Path) -> Path:
    assert digest("db", "upgrade").exit_code == 0
    for feed in ("nyt_world_2024-08-08.xml", "bbc_news_frontpage_2024-08-08.xml"):
        assert digest("ingest", str(FEEDS / feed)).exit_code == 0
    return tmp_path


def _json(result: Result) -> dict:  # type: ignore[type-arg]
    assert result.exit_code == 0, result.output
    return json.loads(result.output)


def _ids(edition: dict) -> list[int]:  # type: ignore[type-arg]
    ids = [i["article_id"] for s in edition["sections"] for i in s["items"]]
    ids += [
        d["article_id"] for s in edition["sections"] for i in s["items"] for d in i["duplicates"]
    ]
    return ids + [d["article_id"] for d in edition["dropped"]]


def test_adhoc_json_accounts_for_every_article_in_the_window(stocked: Path) -> None:
    edition = _json(digest("build", "--since", "2024-08-07", "--until", "2024-08-08", "--json"))
    listed = digest("articles", "list", "--json").output.splitlines()
    in_window = [
        json.loads(line)["id"]
        for line in listed
        if "2024-08-07" <= json.loads(line)["published"][:10] <= "2024-08-08"
    ]
    assert sorted(_ids(edition)) == sorted(in_window)
    item = edition["sections"][0]["items"][0]
    assert {
        "article_id",
        "url",
        "title",
        "source",
        "published",
        "score",
        "reasons",
        "also",
        "duplicates",
    } <= item.keys()
    assert {d["reason"] for d in edition["dropped"]} <= {"no-section", "quota", "size-budget"}
    assert edition["date"] is None


def test_no_trim_keeps_every_sectioned_story(stocked: Path) -> None:
    trimmed = _json(digest("build", "--since", "2024-08-01", "--until", "2024-08-09", "--json"))
    untrimmed = _json(
        digest("build", "--since", "2024-08-01", "--until", "2024-08-09", "--no-trim", "--json")
    )
    count = lambda e: sum(len(s["items"]) for s in e["sections"])  # noqa: E731
    assert count(untrimmed) > count(trimmed)
    assert all(d["reason"] == "no-section" for d in untrimmed["dropped"])
    assert any(d["reason"] == "quota" for d in trimmed["dropped"])


def test_frozen_build_is_shown_again_unchanged(stocked: Path) -> None:
    first = _json(digest("build", "--date", "2024-08-09", "--json"))
    digest("ingest", str(FEEDS / "guardian_us_2018-01-31.rss"))
    assert _json(digest("build", "--date", "2024-08-09", "--json")) == first


def test_editor_pin_and_drop_rebuild_the_edition_until_it_is_sent(stocked: Path) -> None:
    edition = _json(digest("build", "--date", "2024-08-09", "--json"))
    top = edition["sections"][0]["items"][0]
    outsider = next(d for d in edition["dropped"] if d["reason"] == "no-section")

    dropped = digest(
        "edition", "drop", "--date", "2024-08-09", str(top["article_id"]), "--note", "old news"
    )
    assert dropped.exit_code == 0, dropped.output
    assert "left out (editor: old news)" in dropped.output
    pinned = digest(
        "edition",
        "pin",
        "--date",
        "2024-08-09",
        str(outsider["article_id"]),
        "--section",
        "congress",
    )
    assert "in Congress" in pinned.output

    after = _json(digest("build", "--date", "2024-08-09", "--json"))
    congress = next(s for s in after["sections"] if s["key"] == "congress")
    assert congress["items"][0]["article_id"] == outsider["article_id"]
    assert congress["items"][0]["pinned"] is True

    digest("subscribers", "add", "editor@example.com")
    assert digest("send", "--date", "2024-08-09").exit_code == 0
    late = digest("edition", "drop", "--date", "2024-08-09", str(outsider["article_id"]))
    assert late.exit_code == 1
    assert "is being sent; it can no longer change" in late.stderr


def test_unknown_article_or_section_is_refused(stocked: Path) -> None:
    assert (
        "no stored article with id 999999"
        in digest("edition", "pin", "--date", "2024-08-09", "999999").stderr
    )
    assert (
        "unknown section 'sport'"
        in digest("edition", "pin", "--date", "2024-08-09", "1", "--section", "sport").stderr
    )


def test_an_empty_day_is_skipped_and_reported(stocked: Path) -> None:
    built = digest("build", "--date", "2030-01-01")
    assert built.exit_code == 0
    assert "skipped" in built.output
    digest("subscribers", "add", "quiet@example.com")
    sent = digest("send", "--date", "2030-01-01")
    assert sent.exit_code == 0
    assert "was skipped" in sent.output and "nothing sent" in sent.output
    report = digest("report").output
    assert "daily:2030-01-01" in report and "skipped" in report


def test_quiet_policy_sends_a_short_edition(stocked: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DIGEST_EDITION__EMPTY_POLICY", "quiet")
    digest("subscribers", "add", "quiet@example.com", "--section", "congress")
    sent = digest("send", "--date", "2030-01-01")
    assert "1 sent" in sent.output
    (message,) = (stocked / "var" / "outbox" / "new").iterdir()
    assert "quiet day" in message.read_text()


def test_html_budget_drops_the_lowest_ranked_stories(
    stocked: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    loose = _json(digest("build", "--since", "2024-08-01", "--until", "2024-08-09", "--json"))
    monkeypatch.setenv("DIGEST_EDITION__HTML_BUDGET_KB", "18")
    tight = _json(digest("build", "--since", "2024-08-01", "--until", "2024-08-09", "--json"))
    budget = [d for d in tight["dropped"] if d["reason"] == "size-budget"]
    assert budget
    kept = [i["score"] for s in tight["sections"] for i in s["items"]]
    # A story dropped whole lists its folded duplicates too; each carries the story's score.
    loose_scores = {
        article_id: i["score"]
        for s in loose["sections"]
        for i in s["items"]
        for article_id in [i["article_id"], *(d["article_id"] for d in i["duplicates"])]
    }
    assert min(kept) >= max(loose_scores[d["article_id"]] for d in budget)


def test_report_lists_editions_with_deliveries(stocked: Path) -> None:
    digest("ingest", str(SAMPLES / "articles"))
    digest("subscribers", "add", "r@example.com")
    digest("send", "--date", "2024-06-24")
    report = digest("report").output
    assert "daily:2024-06-24" in report and "1 sent" in report


def test_an_edition_of_old_news_is_skipped_not_sent(
    stocked: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A weekly window holding only stories from days ago: skipped as stale."""
    monkeypatch.setenv("DIGEST_EDITION__WINDOW_HOURS", "168")
    built = digest("build", "--date", "2024-08-12")
    assert built.exit_code == 0
    assert "(skipped: stale: the newest story is" in built.output
    monkeypatch.setenv("DIGEST_EDITION__STALE_HOURS", "200")
    fresh_enough = digest("build", "--date", "2024-08-13", "--json")
    assert json.loads(fresh_enough.output)["sections"]


def test_move_places_a_story_in_another_section_without_pinning_it(stocked: Path) -> None:
    edition = _json(digest("build", "--date", "2024-08-09", "--json"))
    first, target = edition["sections"][0], edition["sections"][1]
    story = first["items"][0]["article_id"]
    moved = digest(
        "edition", "move", "--date", "2024-08-09", str(story), "--section", target["key"]
    )
    assert f"is in {target['title']}" in moved.output
    after = _json(digest("build", "--date", "2024-08-09", "--json"))
    placed = next(i for s in after["sections"] for i in s["items"] if i["article_id"] == story)
    assert placed in next(s for s in after["sections"] if s["key"] == target["key"])["items"]
    assert placed["pinned"] is False
    assert f"placed in {target['key']} by an editor" in placed["reasons"]


def test_required_approval_holds_the_send_until_an_editor_approves(
    stocked: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DIGEST_EDITION__REQUIRE_APPROVAL", "true")
    digest("subscribers", "add", "reader@example.com")
    refused = digest("send", "--date", "2024-08-09")
    assert refused.exit_code == 1
    assert refused.stderr.strip() == (
        "error: edition daily:2024-08-09 is not approved: approve it with 'digest edition "
        "approve --date 2024-08-09' or in the studio ('digest preview --date 2024-08-09 --serve')"
    )
    assert "no deliveries" in digest("report", "--date", "2024-08-09").output

    approved = digest("edition", "approve", "--date", "2024-08-09")
    assert approved.exit_code == 0 and "(command line" in approved.output
    # A change after the approval withdraws it: what was approved is no longer what goes out.
    some = _json(digest("build", "--date", "2024-08-09", "--json"))["sections"][0]["items"][0]
    digest("edition", "drop", "--date", "2024-08-09", str(some["article_id"]))
    assert digest("send", "--date", "2024-08-09").exit_code == 1

    digest("edition", "approve", "--date", "2024-08-09")
    sent = digest("send", "--date", "2024-08-09")
    assert sent.exit_code == 0, sent.output
    assert "1 sent" in digest("report", "--date", "2024-08-09").output


WEEK = [
    ("2024-06-18", "Ukraine opens a new grain corridor from Odesa"),
    ("2024-06-20", "Kyiv hosts a donor conference on rebuilding power plants"),
    ("2024-06-22", "Zelensky names a new army commander for the east"),
    ("2024-06-23", "Russian drones strike Kharkiv overnight, officials say"),
]


def test_an_edition_of_several_covers_its_own_window_under_its_own_title(
    tmp_path: Path,
) -> None:
    (tmp_path / "config.toml").write_text(
        '[[editions]]\nname = "daily"\ncron = "0 7 * * *"\n\n'
        '[[editions]]\nname = "weekly"\ncron = "0 7 * * mon"\nwindow_hours = 168\n'
        'title = "The Week in Ukraine"\n'
    )
    items = tmp_path / "week.jsonl"
    items.write_text(
        "".join(
            json.dumps(
                {
                    "title": title,
                    "url": f"https://example.com/{day}",
                    "source": "Wire",
                    "published": f"{day}T12:00:00+00:00",
                    "text": f"{title}. Ukrainian officials confirmed it.",
                }
            )
            + "\n"
            for day, title in WEEK
        )
    )
    assert digest("db", "upgrade").exit_code == 0
    assert digest("ingest", str(items)).exit_code == 0
    titles = {
        name: [
            i["title"]
            for s in _json(digest("--edition", name, "build", "--date", "2024-06-24", "--json"))[
                "sections"
            ]
            for i in s["items"]
        ]
        for name in ("daily", "weekly")
    }
    assert titles["daily"] == [WEEK[-1][1]]
    assert sorted(titles["weekly"]) == sorted(title for _, title in WEEK)
    out = tmp_path / "preview"
    preview = digest("--edition", "weekly", "preview", "--date", "2024-06-24", "--out", str(out))
    assert preview.exit_code == 0, preview.output
    assert "The Week in Ukraine" in next(out.glob("*.html")).read_text()
