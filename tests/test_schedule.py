"""Schedule arithmetic with explicit datetimes: local send hours across DST, late runs, and an
edition held for approval."""

from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest

from conftest import SAMPLES, make_settings
from digest.config import Settings
from digest.core.schedule import late_run, local_instant
from digest.service import editions
from digest.service.app import App
from digest.service.ingest import ingest
from digest.service.schedule import latest_slot, next_slot, run_edition, send_due
from digest.service.subscribers import subscribe
from digest.store import db
from digest.store.db import make_engine


@pytest.mark.parametrize(
    ("day", "hour", "zone", "expected"),
    [
        # Spring forward in New York: 02:00-03:00 does not exist; 02:00 moves to 03:00 EDT.
        (date(2024, 3, 10), 2, "America/New_York", datetime(2024, 3, 10, 7, 0, tzinfo=UTC)),
        (date(2024, 3, 10), 7, "America/New_York", datetime(2024, 3, 10, 11, 0, tzinfo=UTC)),
        # Fall back in New York: 01:00 happens twice; the first (EDT) counts.
        (date(2024, 11, 3), 1, "America/New_York", datetime(2024, 11, 3, 5, 0, tzinfo=UTC)),
        (date(2024, 11, 3), 7, "America/New_York", datetime(2024, 11, 3, 12, 0, tzinfo=UTC)),
        # London: 01:00 is skipped on 31 March, 01:00 repeats on 27 October.
        (date(2024, 3, 31), 1, "Europe/London", datetime(2024, 3, 31, 1, 0, tzinfo=UTC)),
        (date(2024, 10, 27), 1, "Europe/London", datetime(2024, 10, 27, 0, 0, tzinfo=UTC)),
        # The same day's 07:00 at both ends of the world: 26 hours apart.
        (date(2024, 6, 24), 7, "Pacific/Kiritimati", datetime(2024, 6, 23, 17, 0, tzinfo=UTC)),
        (date(2024, 6, 24), 7, "Etc/GMT+12", datetime(2024, 6, 24, 19, 0, tzinfo=UTC)),
    ],
)
def test_local_send_hours(day: date, hour: int, zone: str, expected: datetime) -> None:
    assert local_instant(day, hour, zone) == expected


SEVEN = datetime(2024, 6, 24, 7, 0, tzinfo=UTC)
GRACE, CUTOFF = timedelta(minutes=30), timedelta(hours=6)


@pytest.mark.parametrize(
    ("now", "action", "reason"),
    [
        (SEVEN, "run", "on time"),
        (SEVEN + timedelta(minutes=20), "run", "20 min late"),
        (SEVEN + timedelta(hours=3), "run", "3 h 00 min late, within the 6 h 00 min cutoff"),
        (
            SEVEN + timedelta(hours=9),
            "skip",
            "9 h 00 min late, past the 6 h 00 min cutoff for a 07:00 run",
        ),
    ],
)
def test_late_run_policy(now: datetime, action: str, reason: str) -> None:
    decision = late_run(SEVEN, now, GRACE, CUTOFF)
    assert (decision.action, decision.reason) == (action, reason)


@pytest.mark.parametrize(
    ("cron", "now", "latest", "following"),
    [
        (
            "0 7 * * *",
            datetime(2024, 6, 24, 6, 0),
            datetime(2024, 6, 23, 7),
            datetime(2024, 6, 24, 7),
        ),
        (
            "30 18 * * fri",
            datetime(2024, 6, 24, 9),
            datetime(2024, 6, 21, 18, 30),
            datetime(2024, 6, 28, 18, 30),
        ),
        ("0 8 1 * *", datetime(2024, 6, 24, 9), datetime(2024, 6, 1, 8), datetime(2024, 7, 1, 8)),
    ],
    ids=["daily", "weekly", "monthly"],
)
def test_slots_follow_the_edition_cron(
    cron: str, now: datetime, latest: datetime, following: datetime
) -> None:
    settings = Settings(editions=[{"name": "e", "cron": cron}])
    app = App(settings.for_edition("e"), make_engine("sqlite://"))
    utc = lambda moment: moment.replace(tzinfo=UTC)  # noqa: E731
    assert latest_slot(app, utc(now)) == utc(latest)
    assert next_slot(app, utc(now)) == utc(following)


def test_an_edition_held_for_approval_goes_out_once_approved_while_still_news(
    tmp_path: Path,
) -> None:
    settings = make_settings(tmp_path, edition={"require_approval": True})
    app = App.open(settings, now=lambda: SEVEN)
    db.upgrade(app.engine)
    ingest(app, [str(SAMPLES / "articles")])
    subscribe(app, "reader@example.com")

    held = run_edition(app, SEVEN + timedelta(minutes=5), lambda: False)
    assert held.action == "held"
    assert "is not approved: approve it with 'digest edition approve" in held.detail
    assert send_due(app, SEVEN + timedelta(minutes=10), lambda: False) == []

    editions.approve(app, date(2024, 6, 24), actor="editor")
    (sent,) = send_due(app, SEVEN + timedelta(hours=1), lambda: False)
    assert sent.detail.startswith("1 sent")
    app.close()
