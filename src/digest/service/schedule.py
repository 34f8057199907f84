"""What the daemon (and cron) does at each tick: the edition at its time, then whatever is due.

Every function here is idempotent: running it twice, or after downtime, sends nothing twice.
"""

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

from apscheduler.triggers.cron import CronTrigger

from digest.core.edition import EditionKey
from digest.core.schedule import late_run
from digest.core.states import EditionStatus, TickAction
from digest.errors import EditionError, NotApprovedError
from digest.ingest.fetch import Deadline, never
from digest.service import delivery, editions
from digest.service.app import App
from digest.service.ingest import IngestReport, ingest
from digest.store import claims, lease
from digest.store.editions import find_edition, recent_editions


@dataclass(frozen=True, slots=True)
class Tick:
    edition_key: EditionKey
    action: TickAction
    detail: str


def _trigger(app: App) -> CronTrigger:
    settings = app.settings
    return CronTrigger.from_crontab(
        settings.cron_for(settings.edition.name), timezone=settings.edition.timezone
    )


def latest_slot(app: App, now: datetime) -> datetime:
    """The edition's most recent scheduled time at or before `now` (UTC)."""
    trigger = _trigger(app)
    # Most schedules fire within a week; a monthly or yearly one needs a longer look back.
    for lookback in (timedelta(days=8), timedelta(days=367)):
        latest, fire = None, trigger.get_next_fire_time(None, now - lookback)
        while fire is not None and fire <= now:
            latest = fire
            fire = trigger.get_next_fire_time(fire, fire + timedelta(seconds=1))
        if latest is not None:
            return latest.astimezone(UTC)
    raise EditionError(f"the schedule of {app.settings.edition.name} has not fired in a year")


def new_sender() -> str:
    """A name for this process as a sender: host and process id, so that a lease left by a
    dead process on this machine is recognised as such."""
    return claims.new_owner()


def hold_sender_lease(app: App, owner: str) -> bool:
    """Take the sender lease, or renew it: whether `owner` holds it now. Only its holder
    sends; a standby takes over once the holder stops renewing it."""
    ttl = timedelta(seconds=app.settings.schedule.lease_seconds)
    with app.transaction() as session:
        return lease.acquire(session, owner, app.now(), ttl)


def release_sender_lease(app: App, owner: str) -> None:
    """Give the lease back, so that a standby takes over at once."""
    with app.transaction() as session:
        lease.release(session, owner, app.now())


def next_slot(app: App, now: datetime) -> datetime:
    """The edition's next scheduled time after `now` (UTC)."""
    fire = _trigger(app).get_next_fire_time(None, now + timedelta(seconds=1))
    if fire is None:
        raise EditionError(f"the schedule of {app.settings.edition.name} never fires")
    return fire.astimezone(UTC)


def _day(app: App, slot: datetime) -> date:
    return slot.astimezone(ZoneInfo(app.settings.edition.timezone)).date()


def refresh_feeds(
    app: App, done: set[str] | None = None, should_stop: delivery.StopFlag = never
) -> IngestReport | None:
    """Fetch the edition's feeds (conditionally), except those in `done`, which then holds
    them too (editions sharing a feed fetch it once); None when there is nothing to fetch.
    Within `[feeds] refresh_budget`: a feed not fetched by then is recorded as failing, and
    what is stored stands. A stop abandons the fetches under way."""
    done = set() if done is None else done
    sources = [s for s in app.settings.feeds.sources if s not in done]
    done.update(sources)
    if not sources:
        return None
    budget = app.settings.feeds.refresh_budget
    until = Deadline.after(budget, f"the end of the {budget:g} s refresh budget")
    return ingest(app, sources, until=until, should_stop=should_stop)


def run_edition(app: App, now: datetime, should_stop: delivery.StopFlag) -> Tick:
    """The edition of the latest slot: skipped if it is too late to be news, else built and
    sent (what is due of it); nothing happens twice."""
    slot = latest_slot(app, now)
    day = _day(app, slot)
    key = app.settings.edition.key(day)
    with app.transaction() as session:
        stored = find_edition(session, key)
        status = stored.status if stored else None
    if status in (EditionStatus.SENT, EditionStatus.SKIPPED):
        return Tick(key, TickAction.DONE, f"already {status}")
    feeds_note = ""
    if status is None:
        schedule = app.settings.schedule
        decision = late_run(
            slot,
            now,
            timedelta(minutes=schedule.grace_minutes),
            timedelta(hours=schedule.cutoff_hours),
        )
        if decision.action == "skip":
            editions.skip(app, day, decision.reason)
            return Tick(key, TickAction.SKIPPED, decision.reason)
        # The newest articles go into the edition about to be built, as far as the budget goes.
        refreshed = refresh_feeds(app, should_stop=should_stop)
        if should_stop():  # what the refresh left unread is fetched at the next run
            return Tick(
                key, TickAction.STOPPED, "stopped during the feed refresh, before the build"
            )
        if refreshed and refreshed.failed:
            feeds_note = f"; {len(refreshed.failed)} of {len(refreshed.inputs)} feeds failed"
    try:
        report = delivery.send(app, day, should_stop=should_stop)
    except NotApprovedError as exc:
        return Tick(key, TickAction.HELD, str(exc))
    return Tick(
        key,
        TickAction.SKIPPED if report.skipped else TickAction.SENT,
        _summary(report) + feeds_note,
    )


def send_due(app: App, now: datetime, should_stop: delivery.StopFlag) -> list[Tick]:
    """Deliveries of recent editions that came due: retries, local send hours, and an edition
    held for approval that an editor approved while it is still news."""
    name = app.settings.edition.name
    with app.transaction() as session:
        days = [row.day for row in recent_editions(session, name, EditionStatus.SENDING)]
        approved = [
            r.day for r in recent_editions(session, name, EditionStatus.FROZEN) if r.approved_at
        ]
    if approved:
        slot = latest_slot(app, now)
        policy = app.settings.schedule
        grace = timedelta(minutes=policy.grace_minutes)
        cutoff = timedelta(hours=policy.cutoff_hours)
        # Only the latest slot's edition, and only while it is still news: an edition approved
        # ahead of its day waits for its slot, one approved too late stays unsent.
        if _day(app, slot) in approved and late_run(slot, now, grace, cutoff).action == "run":
            days.append(_day(app, slot))
    ticks = []
    for day in days:
        report = delivery.send(app, day, should_stop=should_stop)
        ticks.append(Tick(report.edition_key, TickAction.SENT, _summary(report)))
    return ticks


def _summary(report: delivery.SendReport) -> str:
    if report.skipped:
        return report.skipped
    this_run = ", ".join(f"{n} {s}" for s, n in sorted(report.outcomes.items()))
    if report.batches:  # engine "celery": the workers send
        this_run = f"{report.enqueued} handed to the workers in {report.batches} batches"
    this_run = this_run or "nothing due"
    return f"{this_run}; ledger: " + ", ".join(f"{n} {s}" for s, n in report.counts.items() if n)
