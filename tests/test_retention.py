"""Pruning old articles: what editions from a date on can use stays, and nothing else."""

import json
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from conftest import digest
from digest.config import load_settings

# One Ukraine story a day at noon UTC; the default edition goes out at 07:00 UTC and covers the
# 24 hours before, so 2024-06-23's window begins 2024-06-22 07:00.
DAYS = ["2024-06-20", "2024-06-21", "2024-06-22", "2024-06-23"]


def _write_days(path: Path) -> Path:
    lines = [
        json.dumps(
            {
                "title": f"Ukraine reports drone strikes on the {n}th night in a row",
                "url": f"https://example.com/ukraine/{day}",
                "source": "Outlet",
                "published": f"{day}T12:00:00+00:00",
                "text": "Ukrainian officials said air defences shot down most of the drones.",
            }
        )
        for n, day in enumerate(DAYS, start=1)
    ]
    path.write_text("\n".join(lines) + "\n")
    return path


def _stored() -> tuple[dict[str, int], set[int]]:
    """Stored article ids by URL, and the ids holding a headline vector."""
    engine = create_engine(load_settings().database.url)
    with engine.connect() as connection:
        articles = dict(connection.execute(text("SELECT url, article_id FROM articles")).all())
        vectors = set(connection.execute(text("SELECT article_id FROM article_vectors")).scalars())
    engine.dispose()
    return articles, vectors


@pytest.mark.usefixtures("store_backend")
def test_prune_deletes_what_only_earlier_editions_could_carry(tmp_path: Path) -> None:
    assert digest("db", "upgrade").exit_code == 0
    assert digest("ingest", str(_write_days(tmp_path / "days.jsonl"))).exit_code == 0
    ids, _ = _stored()
    oldest = ids["https://example.com/ukraine/2024-06-20"]
    # An editor pinned the oldest story into the 2024-06-21 edition, which is frozen with it.
    assert digest("edition", "pin", "--date", "2024-06-21", str(oldest)).exit_code == 0

    dry = digest("articles", "prune", "--before", "2024-06-23", "--dry-run")
    assert dry.exit_code == 0, dry.output
    assert "Would delete 1 article from before 2024-06-22 07:00 UTC" in dry.output
    assert "kept 1 article that an editor's decision names" in dry.output
    assert _stored()[0] == ids

    pruned = digest("articles", "prune", "--before", "2024-06-23")
    assert pruned.exit_code == 0, pruned.output
    assert "Deleted 1 article from before 2024-06-22 07:00 UTC" in pruned.output
    left, vectors = _stored()
    assert sorted(left) == [f"https://example.com/ukraine/{d}" for d in ("2024-06-20", *DAYS[2:])]
    assert vectors == set(left.values())

    # The frozen edition still shows the pinned story; 2024-06-23's edition has its own.
    [kept] = _items("2024-06-21")
    assert kept["article_id"] == oldest
    assert [i["url"] for i in _items("2024-06-23")] == ["https://example.com/ukraine/2024-06-22"]

    again = digest("articles", "prune", "--before", "2024-06-23")
    assert "Deleted 0 articles" in again.output


def _items(day: str) -> list[dict]:  # type: ignore[type-arg]
    built = json.loads(digest("build", "--date", day, "--json").output)
    return [item for section in built["sections"] for item in section["items"]]


def test_prune_refuses_a_date_whose_editions_are_still_to_come() -> None:
    assert digest("db", "upgrade").exit_code == 0
    later = (date.today() + timedelta(days=2)).isoformat()
    result = digest("articles", "prune", "--before", later)
    assert result.exit_code == 1
    assert f"{later} is after today" in result.output


def test_without_a_date_prune_keeps_keep_days(monkeypatch: pytest.MonkeyPatch) -> None:
    assert digest("db", "upgrade").exit_code == 0
    unset = digest("articles", "prune")
    assert unset.exit_code == 2
    assert "give --before DATE, or set [database] keep_days" in unset.output
    monkeypatch.setenv("DIGEST_DATABASE__KEEP_DAYS", "30")
    result = digest("articles", "prune", "--dry-run")
    assert result.exit_code == 0, result.output
    first = datetime.now(UTC).date() - timedelta(days=30)
    assert f"first edition window of {first} begins" in result.output


def test_prune_keeps_the_longest_window_of_several_editions(tmp_path: Path) -> None:
    (tmp_path / "config.toml").write_text(
        '[[editions]]\nname = "daily"\ncron = "0 7 * * *"\n\n'
        '[[editions]]\nname = "weekly"\ncron = "0 7 * * mon"\nwindow_hours = 168\n'
    )
    assert digest("db", "upgrade").exit_code == 0
    result = digest("articles", "prune", "--before", "2024-06-24", "--dry-run")
    assert result.exit_code == 0, result.output
    assert "from before 2024-06-17 07:00 UTC" in result.output
