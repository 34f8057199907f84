"""`digest run`: the daemon. APScheduler fires the jobs; the sender lease decides who sends.

Jobs only call idempotent service functions, so a double or late run is harmless. A daemon
that does not hold the lease waits as a standby and takes over once the holder's lease
expires. SIGTERM or SIGINT: no new message starts, those in flight finish, the lease is given
back, exit 0. SIGHUP, or a change to the config file: the configuration is read again and the
schedule rebuilt, without dropping work in flight.
"""

import json
import logging
import signal
import threading
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import click
from apscheduler.schedulers.blocking import BlockingScheduler
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger

from digest.cli.base import app_of, cli, out
from digest.cli.delivery import held_note
from digest.config import config_path, load_settings
from digest.errors import DigestError
from digest.service import retention, schedule, status
from digest.service.app import App

log = logging.getLogger("digest.run")


class _JsonLines(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "time": datetime.now(UTC).isoformat(),
            "level": record.levelname,
            "event": record.getMessage(),
            **getattr(record, "fields", {}),
        }
        return json.dumps(entry, ensure_ascii=False)


def _event(message: str, **fields: Any) -> None:
    text = " ".join([message, *(f"{k}={v}" for k, v in fields.items())])
    log.info(text, extra={"fields": {"message": message, **fields}})


def _stamp(path: Path | None) -> float | None:
    """When the config file last changed (None without one, or when it is unreadable)."""
    try:
        return path.stat().st_mtime if path else None
    except OSError:
        return None


class Daemon:
    """One scheduler run; `reload` asks the caller to build a new one with fresh settings."""

    def __init__(self, app: App, config: Path | None) -> None:
        self.app, self.config = app, config
        self.config_stamp = _stamp(config)
        # One view of the settings per edition, all on the same database.
        self.editions = [
            App(app.settings.for_edition(name), app.engine, app.now)
            for name in app.settings.edition_names()
        ]
        self.owner = schedule.new_sender()
        self.stopping = threading.Event()
        self.reload = False
        self.requested = False
        self.holding = False
        self.busy = threading.Lock()
        settings = app.settings
        self.scheduler = BlockingScheduler(
            timezone=UTC,
            job_defaults={
                "coalesce": True,
                "max_instances": 1,
                "misfire_grace_time": int(settings.schedule.cutoff_hours * 3600),
            },
        )
        for edition in self.editions:
            name = edition.settings.edition.name
            trigger = CronTrigger.from_crontab(
                settings.cron_for(name), timezone=edition.settings.edition.timezone
            )
            self.scheduler.add_job(self._edition, trigger, args=[edition], id=f"edition:{name}")
        self.scheduler.add_job(
            self._due, IntervalTrigger(seconds=settings.schedule.poll_seconds), id="due"
        )
        self.scheduler.add_job(
            self._refresh, IntervalTrigger(minutes=settings.feeds.refresh_minutes), id="feeds"
        )
        self.scheduler.add_job(
            self._heartbeat,
            IntervalTrigger(seconds=settings.schedule.lease_seconds / 3),
            id="lease",
        )
        # A stop asked for by a signal is carried out by this job, within a second: see `stop`.
        self.scheduler.add_job(self._watch, IntervalTrigger(seconds=1), id="watch")

    def _heartbeat(self) -> bool:
        held = schedule.hold_sender_lease(self.app, self.owner)
        if held != self.holding:
            _event("sender lease " + ("taken" if held else "lost"), owner=self.owner)
        self.holding = held
        if _stamp(self.config) != self.config_stamp:
            _event("configuration file changed", path=str(self.config))
            self.stop(reload=True)
        elif held:
            self._due()  # a standby that took over finishes what the last holder left
        return held

    def _edition(self, edition: App) -> None:
        if self._may_send():
            with self.busy:
                tick = schedule.run_edition(edition, edition.now(), self._must_stop)
            _event(f"edition {tick.action}", edition=str(tick.edition_key), detail=tick.detail)
            day = retention.kept_from(edition)
            if day is not None:
                start, pruned = retention.prune(edition, day)
                if pruned.deleted:
                    _event("articles pruned", before=start.isoformat(), deleted=pruned.deleted)

    def _due(self) -> None:
        if self._may_send() and self.busy.acquire(blocking=False):
            try:
                for edition in self.editions:
                    for tick in schedule.send_due(edition, edition.now(), self._must_stop):
                        _event("deliveries", edition=str(tick.edition_key), detail=tick.detail)
            finally:
                self.busy.release()

    def _refresh(self) -> None:
        if not self._may_send():
            return
        done: set[str] = set()
        for edition in self.editions:
            report = schedule.refresh_feeds(edition, done, self._must_stop)
            if report is not None:
                errors = "; ".join(i.error or "" for i in report.failed) or "none"
                _event("feeds refreshed", new=report.total("new"), errors=errors)

    def _must_stop(self) -> bool:
        """Checked before each message: a stop was asked for, or the sender lease was lost
        (then another daemon sends, and this one must not start anything more)."""
        return self.stopping.is_set() or not self.holding

    def _may_send(self) -> bool:
        return self.holding and not self.stopping.is_set()

    def serve(self) -> None:
        """Run until a signal stops it; catch up once on the latest slot first."""
        self._heartbeat()
        if not self.holding:
            _event("standby: another daemon holds the sender lease")
        for edition in self.editions:  # catch up once on each edition's latest slot
            self._edition(edition)
        if self.requested:  # a signal came during the catch-up runs
            return
        _event("scheduler started", editions=len(self.editions), owner=self.owner)
        self.scheduler.start()

    def stop(self, reload: bool = False) -> None:
        """Ask for a stop, or a reload. Signal handlers call this on the main thread, in the
        middle of whatever the scheduler was doing there, so it only sets flags: shutting the
        scheduler down from here would wait for locks the interrupted code holds, forever."""
        self.requested, self.reload = True, reload
        if not reload:
            self.stopping.set()  # no code on the main thread ever holds this event's lock

    def _watch(self) -> None:
        if self.requested and self.scheduler.running:
            self.scheduler.shutdown(wait=False)

    def finish(self) -> None:
        """Wait for work in flight, then give the lease back so a standby takes over at once."""
        with self.busy:
            pass
        if self.holding and not self.reload:
            schedule.release_sender_lease(self.app, self.owner)
            _event("sender lease released", owner=self.owner)


def _on_signals(daemon: Daemon) -> None:
    signal.signal(signal.SIGTERM, lambda *_: daemon.stop())
    signal.signal(signal.SIGINT, lambda *_: daemon.stop())
    signal.signal(signal.SIGHUP, lambda *_: daemon.stop(reload=True))


@cli.command("run")
@click.option(
    "--log-format",
    type=click.Choice(["text", "json"]),
    default="text",
    show_default=True,
    help="One line per event; json for log shippers.",
)
@click.pass_context
def run_cmd(ctx: click.Context, log_format: str) -> None:
    """Run the daemon: send each edition on schedule."""
    handler = logging.StreamHandler()
    handler.setFormatter(
        _JsonLines() if log_format == "json" else logging.Formatter("%(asctime)s %(message)s")
    )
    log.addHandler(handler)
    log.setLevel(logging.INFO)
    app = app_of(ctx)
    state = ctx.find_root().obj
    config, edition = state.get("config"), state.get("edition")
    while True:
        daemon = Daemon(app, config_path(config))
        _on_signals(daemon)
        daemon.serve()
        daemon.finish()
        if not daemon.reload:
            _event("stopped")
            return
        try:
            previous, app = app, App.open(load_settings(config).for_edition(edition))
            previous.close()
        except DigestError as exc:
            _event("reload failed, keeping the previous configuration", error=str(exc))
            continue
        _event("configuration reloaded")


@cli.command("status")
@click.option("--json", "as_json", is_flag=True, help="One JSON document.")
@click.pass_context
def status_cmd(ctx: click.Context, as_json: bool) -> None:
    """Show the schedule, editions (with each sender's progress), feeds and the sender lease."""
    state = status.status(app_of(ctx))
    if as_json:
        out.print(json.dumps(_status_json(state), ensure_ascii=False))
        return
    for name, at in state.next_editions.items():
        out.print(f"Next {name} edition: {at.isoformat()}")
    holder = state.sender_lease
    if holder is None:
        out.print("Sender lease: never taken (no daemon has run)")
    else:
        life = "held" if holder.live else "expired"
        out.print(
            f"Sender lease: {life} by {holder.owner} until {holder.expires_at:%Y-%m-%d %H:%M:%S}"
        )
    for edition in state.editions:
        counts = ", ".join(f"{n} {k}" for k, n in edition.counts.items()) or "no deliveries"
        note = f" ({edition.skip_reason})" if edition.skip_reason else ""
        out.print(f"  {edition.key}  {edition.status}: {counts}{note}")
        if edition.held:
            out.print(f"    {held_note(edition.held, edition.day)}")
        if edition.possible_duplicates:
            out.print(
                f"    {edition.possible_duplicates} may have two copies: "
                f"'digest report --date {edition.day}' lists them"
            )
        for worker in edition.workers:
            done = ", ".join(f"{n} {k}" for k, n in sorted(worker.counts.items())) or "nothing"
            out.print(f"    sender {worker.owner}: {done}, {worker.in_flight} in flight")
    for feed in state.feeds:
        health = f"error: {feed.last_error}" if feed.last_error else "ok"
        if feed.failed_at:
            health = f"failed {feed.failed_at.isoformat()}: {feed.last_error}"
        fetched = feed.last_fetched_at.isoformat() if feed.last_fetched_at else "never"
        out.print(f"  feed {feed.title}: last fetched {fetched}, {health}")


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment else None


def _status_json(state: status.Status) -> dict[str, Any]:
    holder = state.sender_lease
    return {
        "next_editions": {name: at.isoformat() for name, at in state.next_editions.items()},
        "sender_lease": {
            "owner": holder.owner,
            "expires_at": holder.expires_at.isoformat(),
            "live": holder.live,
        }
        if holder
        else None,
        "editions": [
            {
                "edition": str(e.key),
                "day": e.day.isoformat(),
                "status": e.status,
                "built_at": e.built_at.isoformat(),
                "skip_reason": e.skip_reason,
                "counts": e.counts,
                "held": e.held,
                "possible_duplicates": e.possible_duplicates,
                "workers": [
                    {"worker": w.owner, "counts": w.counts, "in_flight": w.in_flight}
                    for w in e.workers
                ],
            }
            for e in state.editions
        ],
        "feeds": [
            {
                "source": f.source,
                "title": f.title,
                "last_fetched_at": _iso(f.last_fetched_at),
                "failed_at": _iso(f.failed_at),
                "last_error": f.last_error,
            }
            for f in state.feeds
        ],
    }
