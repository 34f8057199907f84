"""Commands for delivery: send, report, resend."""

import json
import time
from collections import Counter
from collections.abc import Mapping
from datetime import date
from typing import Any

import click
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

from digest.cli.base import DAY, app_of, cli, date_option, err, out, plural, stop_on_signals
from digest.core.states import NOT_DELIVERED, DeliveryStatus
from digest.service import delivery, schedule, status

# Without a terminal, a progress line every this many messages.
LOG_EVERY = 1000


class _Meter:
    """Live counts while sending: a progress bar on a terminal, log lines otherwise."""

    def __init__(self) -> None:
        self.counts: Counter[DeliveryStatus] = Counter()
        self.started = time.monotonic()
        self.bar: Progress | None = None
        if out.is_terminal:
            self.bar = Progress(
                TextColumn("sending"),
                BarColumn(),
                TextColumn("{task.description}"),
                TimeElapsedColumn(),
                console=out,
                transient=True,
            )
            self.task = self.bar.add_task("", total=None)

    def __enter__(self) -> "_Meter":
        if self.bar is not None:
            self.bar.start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self.bar is not None:
            self.bar.stop()

    def summary(self) -> str:
        rate = sum(self.counts.values()) / max(time.monotonic() - self.started, 1e-9)
        parts = ", ".join(f"{n} {state}" for state, n in sorted(self.counts.items()))
        return f"{parts} ({rate:.0f}/s)" if parts else "nothing"

    def __call__(self, outcome: DeliveryStatus) -> None:
        self.counts[outcome] += 1
        done = sum(self.counts.values())
        if self.bar is not None:
            self.bar.update(self.task, advance=1, description=self.summary())
        elif done % LOG_EVERY == 0:
            out.print(f"progress: {self.summary()}")


def _states(counts: Mapping[DeliveryStatus, int]) -> str:
    return ", ".join(f"{n} {state}" for state, n in counts.items() if n) or "no deliveries"


@cli.command("send")
@date_option
@click.option("--dry-run", is_flag=True, help="List who would get which sections; send nothing.")
@click.pass_context
def send_cmd(ctx: click.Context, day: date, dry_run: bool) -> None:
    """Deliver the edition for a date to every subscriber, once.

    Builds the edition first if needed and runs the pre-send checks. Running it again only
    touches unfinished deliveries: pending ones, and deferred ones whose retry time has come.
    SIGTERM or Ctrl-C stops it cleanly: messages in flight finish, the rest stay pending.
    """
    app = app_of(ctx)
    if dry_run:
        plan: Counter[str] = Counter()
        for planned in delivery.dry_run(app, day):
            if planned.sections is None:
                label = f"suppressed: {planned.reason}"
            else:
                label = ", ".join(planned.sections) or "quiet day"
            plan[label] += 1
            out.print(f"{planned.email}  {label}")
        out.print("Would send: " + "; ".join(f"{n} × {v}" for v, n in plan.items()))
        return
    with stop_on_signals() as should_stop:
        refreshed = schedule.refresh_feeds(app, should_stop=should_stop)
        if refreshed is not None:
            failed = f", {len(refreshed.failed)} failed" if refreshed.failed else ""
            out.print(f"Feeds refreshed: {refreshed.total('new')} new articles{failed}.")
        if should_stop():  # nothing built from a refresh cut short
            out.print("Stopped on request; the rest is left for the next 'digest send'.")
            return
        with _Meter() as meter:
            report = delivery.send(app, day, progress=meter, should_stop=should_stop)
    if report.skipped:
        out.print(f"Edition {report.edition_key} was skipped ({report.skipped}); nothing sent.")
        return
    if app.settings.delivery.engine == "celery":
        out.print(
            f"Edition {report.edition_key}: {plural(report.queued, 'delivery', 'deliveries')} "
            f"queued now; {report.enqueued} handed to the workers in "
            f"{plural(report.batches, 'batch', 'batches')} on queue "
            f"'{app.settings.celery.queue}'; ledger: {_states(report.counts)}. "
            "Follow them with 'digest status'."
        )
        return
    twice = report.attention.possible_duplicates
    out.print(
        f"Edition {report.edition_key}: {plural(report.queued, 'delivery', 'deliveries')} "
        f"queued now; this run: "
        f"{meter.summary()}; ledger: {_states(report.counts)}"
        + (f"; {plural(twice, 'reader')} may have two copies" if twice else "")
        + "."
    )
    if report.stopped:
        out.print("Stopped on request; the rest is left for the next 'digest send'.")
        return
    if app.settings.delivery.transport == "maildir":
        out.print(f"Outbox (Maildir): {app.settings.delivery.maildir / 'new'}")
    for location in report.locations:
        out.print(f"  {location}")
    if report.attention.held:
        out.print(held_note(report.attention.held, day))
    # This run's outcomes decide, not the ledger's: a reader held for a decision, or refused
    # for good, in an earlier run would otherwise fail every later run.
    if any(report.outcomes[state] for state in NOT_DELIVERED):
        err.print(f"Not everything was delivered: see 'digest report --date {day}'.")
        ctx.exit(1)


def held_note(held: int, day: date) -> str:
    """What to tell of deliveries held for a decision, and the commands that settle them."""
    return (
        f"{plural(held, 'delivery waits', 'deliveries wait')} for your decision (the server may "
        f"have had the message): 'digest report --date {day}' lists them, "
        f"'digest resend --date {day} --failed' sends them again."
    )


@cli.command("report")
@click.option("--date", "day", type=DAY, help="One edition: counts per state and the failures.")
@click.option("--json", "as_json", is_flag=True, help="JSON (its fields: docs/architecture.md).")
@click.pass_context
def report_cmd(ctx: click.Context, day: date | None, as_json: bool) -> None:
    """Show editions and deliveries (one edition's with --date)."""
    app = app_of(ctx)
    if day is not None:
        _edition_report(delivery.edition_report(app, day), day, as_json)
        return
    summaries = status.summaries(app)
    for s in summaries:
        if as_json:
            record = {
                "edition": str(s.key),
                "status": s.status,
                "stories": s.stories,
                "left_out": s.left_out,
                "counts": s.counts,
                "skip_reason": s.skip_reason,
            }
            out.print(json.dumps(record))
            continue
        note = f" ({s.skip_reason})" if s.skip_reason else ""
        out.print(
            f"{s.key}  {s.status}: {s.stories} stories, {s.left_out} left out; "
            f"deliveries: {_states(s.counts)}{note}"
        )
    if not summaries:
        out.print("No editions yet.")


def _edition_report(report: dict[str, Any], day: date, as_json: bool) -> None:
    if as_json:
        out.print(json.dumps(report, ensure_ascii=False))
        return
    out.print(f"{report['edition']} ({report['status']}): {_states(report['counts'])}")
    for failure in report["failures"]:
        code = f" [{failure['code']}]" if failure["code"] else ""
        out.print(f"  {failure['state']:<11} {failure['email']}{code}: {failure['reason']}")
    if report["held"]:
        out.print(held_note(report["held"], day))
    twice = report["possible_duplicates"]
    if twice:
        out.print(
            f"{plural(len(twice), 'reader', 'readers')} may have two copies (an earlier attempt "
            "got no answer after the data, or its sender stopped mid-transaction):"
        )
    for reader in twice:
        doubt = plural(reader["uncertain_attempts"], "attempt", "attempts")
        out.print(f"  {reader['email']}: {reader['state']}, {doubt} in doubt")


@cli.command("resend")
@date_option
@click.option(
    "--failed", is_flag=True, help="Retry every failed, ambiguous, expired or quarantined delivery."
)
@click.option("--to", "email", help="Send this subscriber's copy again, even if it was delivered.")
@click.pass_context
def resend_cmd(ctx: click.Context, day: date, failed: bool, email: str | None) -> None:
    """Queue deliveries again; the next send delivers them."""
    if failed == (email is not None):
        raise click.UsageError("give --failed or --to EMAIL")
    count = delivery.resend(app_of(ctx), day, failed=failed, to=email)
    out.print(
        f"{plural(count, 'delivery', 'deliveries')} queued again; "
        f"run 'digest send --date {day}' to send them."
    )
