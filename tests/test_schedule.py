"""Schedule arithmetic with explicit datetimes: local send hours across DST, late runs."""

from datetime import UTC, date, datetime, timedelta

import pytest

from digest.core.schedule import late_run, local_instant


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
