"""Time arithmetic for schedules: local send hours across DST, and the late-run policy.

Pure functions over explicit datetimes; every result is timezone-aware UTC.
"""

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Literal
from zoneinfo import ZoneInfo


def local_instant(day: date, hour: int, timezone: str) -> datetime:
    """`hour`:00 on `day` in `timezone`, as UTC. A wall time that a DST change skips (02:30 on
    a spring-forward night) moves forward by the gap; one that happens twice (on a fall-back
    night) is its first occurrence."""
    # fold=0 reads a skipped time with the offset from before the change, which lands it
    # after the gap, and a repeated time as the first of the two.
    local = datetime.combine(day, time(hour), ZoneInfo(timezone)).replace(fold=0)
    return local.astimezone(UTC)


@dataclass(frozen=True, slots=True)
class LateRun:
    """What to do with a scheduled run that starts late."""

    action: Literal["run", "skip"]
    reason: str


def late_run(scheduled_at: datetime, now: datetime, grace: timedelta, cutoff: timedelta) -> LateRun:
    """Run on time or within `grace`; later than that but before `cutoff` still run once (a
    daemon that was down catches up once, not once per missed slot); past `cutoff` the
    edition would be old news, so skip it with the reason."""
    late = now - scheduled_at
    if late <= grace:
        return LateRun("run", "on time" if late <= timedelta(0) else f"{_span(late)} late")
    if late <= cutoff:
        return LateRun("run", f"{_span(late)} late, within the {_span(cutoff)} cutoff")
    return LateRun(
        "skip",
        f"{_span(late)} late, past the {_span(cutoff)} cutoff for a {scheduled_at:%H:%M} run",
    )


def _span(delta: timedelta) -> str:
    minutes = int(delta.total_seconds() // 60)
    return f"{minutes // 60} h {minutes % 60:02d} min" if minutes >= 60 else f"{minutes} min"
