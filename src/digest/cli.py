"""The `digest` command line: thin commands that parse input, call a service, print a result."""

import json
import sys
from collections import Counter
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import click
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from digest.config import load_settings
from digest.core.edition import Edition, day_window
from digest.core.sections import classify, off_topic_pattern
from digest.errors import DigestError
from digest.service import checks, delivery, editions, subscribers
from digest.service.app import App
from digest.service.ingest import ingest as ingest_inputs
from digest.store import db
from digest.store.articles import list_articles
from digest.store.editions import delivery_counts, list_editions
from digest.store.subscribers import list_subscribers

# Markup is off by default: titles and paths come from outside and may hold [brackets].
out = Console(highlight=False, soft_wrap=True, markup=False)
err = Console(stderr=True, highlight=False, soft_wrap=True, markup=False)


class _Group(click.Group):
    """Prints a `DigestError` as one line and exits non-zero; a bug keeps its traceback."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except DigestError as exc:
            err.print(f"[bold red]error:[/] {escape(str(exc))}", markup=True)
            ctx.exit(exc.exit_code)


def _count(n: int, singular: str, plural: str | None = None) -> str:
    return f"{n} {singular if n == 1 else plural or singular + 's'}"


def _app(ctx: click.Context) -> App:
    state = ctx.find_root().ensure_object(dict)
    if "app" not in state:
        state["app"] = App.open(load_settings(state.get("config")))
        ctx.call_on_close(state["app"].close)
    return state["app"]


class _Day(click.ParamType):
    name = "DATE"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        if isinstance(value, date):
            return value
        if value in ("today", "yesterday"):
            zone = ZoneInfo(_app(ctx).settings.edition.timezone) if ctx else None
            today = datetime.now(zone).date()
            return today if value == "today" else today - timedelta(days=1)
        try:
            return date.fromisoformat(value)
        except ValueError:
            self.fail(f"{value!r} is not YYYY-MM-DD, 'today' or 'yesterday'", param, ctx)


DAY = _Day()
date_option = click.option(
    "--date", "day", type=DAY, required=True, help="Edition date: YYYY-MM-DD, today, yesterday."
)


@click.group(
    cls=_Group, context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100}
)
@click.option(
    "--config",
    type=click.Path(dir_okay=False),
    help="TOML settings file (default: $DIGEST_CONFIG, else ./config.toml, else built-ins).",
)
@click.version_option(package_name="digest")
@click.pass_context
def cli(ctx: click.Context, config: str | None) -> None:
    """Build a sectioned, deduplicated daily news digest and deliver it by email."""
    ctx.ensure_object(dict)["config"] = config


@cli.group(cls=_Group)
def db_group() -> None:
    """Create or upgrade the database schema."""


cli.add_command(db_group, "db")


@db_group.command("upgrade")
@click.pass_context
def db_upgrade(ctx: click.Context) -> None:
    """Apply pending migrations (creates the database if needed)."""
    app = _app(ctx)
    before, after = db.upgrade(app.engine)
    if before == after:
        out.print(f"Database already at revision {after}.")
    else:
        out.print(f"Database upgraded from {before or 'empty'} to revision {after}.")


@db_group.command("current")
@click.pass_context
def db_current(ctx: click.Context) -> None:
    """Show the database's schema revision and the one this version needs."""
    app = _app(ctx)
    out.print(f"current: {db.current_revision(app.engine) or 'empty'}")
    out.print(f"needed:  {db.head_revision(app.engine)}")


@cli.command()
@click.argument("inputs", nargs=-1, required=True)
@click.option(
    "--source",
    help="Outlet name for these articles (default: the feed's title; a text dump's file).",
)
@click.pass_context
def ingest(ctx: click.Context, inputs: tuple[str, ...], source: str | None) -> None:
    """Store articles from files, folders or feed URLs.

    Inputs: text dumps (.txt), JSON or JSON Lines, RSS/Atom files, folders of those, and
    http(s) feed URLs. Ends with a summary; exits 1 if any input could not be read.
    """
    report = ingest_inputs(_app(ctx), list(inputs), source)
    for item in report.inputs:
        if item.error:
            err.print(f"[red]failed[/]  {escape(item.error)}", markup=True)
        else:
            out.print(
                f"ok      {item.origin} ({item.kind}): {item.new} new, {item.updated} updated, "
                f"{item.unchanged} unchanged, {len(item.rejected)} rejected"
            )
    for rejection in report.rejected:
        err.print(f"rejected {rejection.where}: {rejection.reason}")
    out.print(
        f"Total: {report.total('new')} new, {report.total('updated')} updated, "
        f"{report.total('unchanged')} unchanged, {len(report.rejected)} rejected, "
        f"{len(report.failed)} of {len(report.inputs)} inputs failed."
    )
    if report.failed:
        ctx.exit(1)


@cli.group(cls=_Group)
def articles() -> None:
    """Inspect stored articles."""


@articles.command("list")
@click.option("--date", "day", type=DAY, help="Only articles in that edition's window.")
@click.option("--json", "as_json", is_flag=True, help="One JSON object per line.")
@click.pass_context
def articles_list(ctx: click.Context, day: date | None, as_json: bool) -> None:
    """List stored articles and the sections they fall in."""
    app = _app(ctx)
    window = editions.window_for(app, day) if day else (None, None)
    rules = app.settings.section_rules()
    off_topic = off_topic_pattern(app.settings.classification.off_topic)
    with app.transaction() as session:
        rows = list_articles(session, *window)
        records = [
            {
                "id": row.article_id,
                "title": row.title,
                "source": row.source_name,
                "url": row.url,
                "published": row.published_at.isoformat() if row.published_at else None,
                "sections": list(
                    classify(row.title, row.text, rules, row.summary, off_topic).sections
                ),
            }
            for row in rows
        ]
    if as_json:
        for record in records:
            out.print(json.dumps(record, ensure_ascii=False))
        return
    table = Table("id", "published (UTC)", "source", "title", "url", "sections")
    for r in records:
        published = r["published"][:16].replace("T", " ") if r["published"] else "undated"
        table.add_row(
            str(r["id"]),
            published,
            r["source"],
            r["title"],
            r["url"] or "",
            ", ".join(r["sections"]),
        )
    out.print(table)
    out.print(f"{len(records)} article(s)")


class _Moment(click.ParamType):
    """A date (YYYY-MM-DD) or an ISO 8601 date-time; read in the edition's timezone."""

    name = "WHEN"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        try:
            return datetime.fromisoformat(value) if "T" in value else date.fromisoformat(value)
        except ValueError:
            self.fail(f"{value!r} is not YYYY-MM-DD or an ISO 8601 date-time", param, ctx)


def _instant(value: date | datetime, timezone: str, end_of_day: bool) -> datetime:
    zone = ZoneInfo(timezone)
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=zone)
    return day_window(value, timezone)[1 if end_of_day else 0]


@cli.command("build")
@click.option("--date", "day", type=DAY, help="Edition date: YYYY-MM-DD, today, yesterday.")
@click.option("--rebuild", is_flag=True, help="Rebuild a frozen edition not yet being sent.")
@click.option("--since", type=_Moment(), help="Ad-hoc build from this date or time (not frozen).")
@click.option("--until", type=_Moment(), help="Ad-hoc build up to the end of this date or time.")
@click.option("--no-trim", is_flag=True, help="Ad-hoc build without quotas or size budget.")
@click.option("--json", "as_json", is_flag=True, help="Print the edition as JSON (see README).")
@click.pass_context
def build_cmd(
    ctx: click.Context,
    day: date | None,
    rebuild: bool,
    since: date | datetime | None,
    until: date | datetime | None,
    no_trim: bool,
    as_json: bool,
) -> None:
    """Build and freeze an edition, or analyse any window.

    With --date: selects the window's articles, sorts them into sections, folds stories told
    by several outlets, ranks, trims to the quotas and the size budget, renders and freezes
    the edition (or shows the frozen one). With --since/--until: the same over any window,
    neither frozen nor sent.
    """
    app = _app(ctx)
    if (day is None) == (since is None and until is None) or (since is None) != (until is None):
        raise click.UsageError("give --date, or both --since and --until")
    if day is not None:
        built = editions.build(app, day, rebuild)
        edition, status = built.edition, f"{built.status}, HTML {built.html_bytes / 1024:.1f} KB"
        verb = "Built" if built.created else "Already built"
        if built.skip_reason:
            status += f": {built.skip_reason}"
    else:
        assert since is not None and until is not None
        zone = app.settings.edition.timezone
        window = (_instant(since, zone, False), _instant(until, zone, True))
        edition, status, verb = editions.analyse(app, *window, trim=not no_trim), "ad hoc", "Built"
    if as_json:
        out.print(json.dumps(edition.to_dict(), ensure_ascii=False, indent=2))
        return
    out.print(
        f"{verb} {edition.name}:{edition.day or 'window'} ({status}): "
        f"{_count(edition.item_count, 'story', 'stories')} in "
        f"{_count(len(edition.sections), 'section')}, "
        f"{_count(len(edition.dropped), 'article')} left out."
    )
    for section in edition.sections:
        out.print(f"  {section.title}")
        for item in section.items:
            folded = f" +{len(item.duplicates)} more" if item.duplicates else ""
            out.print(f"    {item.score:6.1f}  {item.title}  ({item.source}{folded})")
    reasons = Counter(d.reason for d in edition.dropped)
    if reasons:
        out.print("  Left out: " + ", ".join(f"{n} {r}" for r, n in sorted(reasons.items())))


@cli.group("edition", cls=_Group)
def edition_group() -> None:
    """Pin or drop articles in an edition before it is sent."""


@edition_group.command("pin")
@date_option
@click.argument("article_id", type=int)
@click.option("--section", help="Section to place it in (default: where its rules put it).")
@click.option("--note", default="", help="Why, for the record.")
@click.pass_context
def edition_pin(
    ctx: click.Context, day: date, article_id: int, section: str | None, note: str
) -> None:
    """Keep an article in the edition, past quotas and the size budget; rebuilds it."""
    _report_decision(editions.decide(_app(ctx), day, article_id, "pin", section, note), article_id)


@edition_group.command("drop")
@date_option
@click.argument("article_id", type=int)
@click.option("--note", default="", help="Why, for the record.")
@click.pass_context
def edition_drop(ctx: click.Context, day: date, article_id: int, note: str) -> None:
    """Leave an article out of the edition; rebuilds it."""
    _report_decision(editions.decide(_app(ctx), day, article_id, "drop", None, note), article_id)


def _report_decision(built: editions.Built, article_id: int) -> None:
    edition = built.edition
    placed = next(
        (f"in {s.title}" for s in edition.sections for i in s.items if i.article_id == article_id),
        None,
    )
    left = next((d for d in edition.dropped if d.article_id == article_id), None)
    where = placed or (f"left out ({left.reason}: {left.detail})" if left else "not in the window")
    out.print(
        f"Rebuilt {edition.name}:{edition.day} ({built.status}): article {article_id} is {where}; "
        f"{_count(edition.item_count, 'story', 'stories')} in the edition."
    )


@cli.command("report")
@click.option("--json", "as_json", is_flag=True, help="One JSON object per edition and line.")
@click.pass_context
def report_cmd(ctx: click.Context, as_json: bool) -> None:
    """List editions with their status, stories and deliveries."""
    app = _app(ctx)
    with app.transaction() as session:
        records = [
            {
                "edition": f"{row.name}:{row.day}",
                "status": row.status,
                "stories": Edition.from_dict(row.content).item_count,
                "left_out": len(row.content["dropped"]),
                "deliveries": delivery_counts(session, row.edition_id),
                "skip_reason": row.skip_reason,
            }
            for row in list_editions(session)
        ]
    for r in records:
        if as_json:
            out.print(json.dumps(r))
            continue
        deliveries = ", ".join(f"{n} {s}" for s, n in sorted(r["deliveries"].items())) or "none"
        note = f" ({r['skip_reason']})" if r["skip_reason"] else ""
        out.print(
            f"{r['edition']}  {r['status']}: {r['stories']} stories, {r['left_out']} left out; "
            f"deliveries: {deliveries}{note}"
        )
    if not records:
        out.print("No editions yet.")


@cli.command("preview")
@date_option
@click.option(
    "--out",
    "out_dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("var/preview"),
    show_default=True,
    help="Folder for the preview files.",
)
@click.pass_context
def preview_cmd(ctx: click.Context, day: date, out_dir: Path) -> None:
    """Write the edition as a reader gets it (.html, .txt, .eml)."""
    files = editions.preview(_app(ctx), day, out_dir)
    out.print(f"HTML preview: {files.html}")
    out.print(f"Plain text:   {files.text}")
    out.print(f"Message:      {files.eml}")


@cli.command("check")
@date_option
@click.pass_context
def check_cmd(ctx: click.Context, day: date) -> None:
    """Run the pre-send checks on every variant of an edition.

    Size against the clip budget, required headers, leftover placeholders, link and image
    hygiene, and that the text and HTML parts carry the same stories. `digest send` runs the
    same checks and refuses to send an edition that fails them.
    """
    results = checks.check(_app(ctx), day)
    for variant in results:
        out.print(f"Variant {', '.join(variant.sections) or 'all sections'}:")
        for finding in variant.findings:
            mark = "ok  " if finding.passed else "FAIL"
            out.print(f"  {mark} {finding.check}: {finding.detail}")
    if not all(v.passed for v in results):
        ctx.exit(1)


@cli.command("send")
@date_option
@click.pass_context
def send_cmd(ctx: click.Context, day: date) -> None:
    """Deliver the edition for a date to every subscriber, once.

    Builds the edition first if needed. Running it again only retries unfinished deliveries.
    """
    app = _app(ctx)
    report = delivery.send(app, day)
    if report.skipped:
        out.print(f"Edition {report.edition_key} was skipped ({report.skipped}); nothing sent.")
        return
    counts = ", ".join(f"{n} {state}" for state, n in sorted(report.counts.items())) or "none"
    out.print(
        f"Edition {report.edition_key}: {report.queued} deliveries queued now, "
        f"{report.attempted} attempted in this run; ledger: {counts}."
    )
    if app.settings.delivery.transport == "maildir":
        out.print(f"Outbox (Maildir): {app.settings.delivery.maildir / 'new'}")
    for location in report.locations:
        out.print(f"  {location}")
    if report.counts.get("failed") or report.counts.get("deferred"):
        ctx.exit(1)


@cli.group("subscribers", cls=_Group)
def subscribers_group() -> None:
    """Manage subscribers."""


@subscribers_group.command("add")
@click.argument("email")
@click.option("--name", default="", help="Name used in the greeting.")
@click.option(
    "--section", "sections", multiple=True, help="Section key to receive (repeatable; default all)."
)
@click.pass_context
def subscribers_add(ctx: click.Context, email: str, name: str, sections: tuple[str, ...]) -> None:
    """Add an active subscriber (an address already known is left unchanged)."""
    added = subscribers.subscribe(_app(ctx), email, name, list(sections) or None)
    state = "Added" if added.created else "Already subscribed, unchanged:"
    out.print(f"{state} {added.email} (id {added.subscriber_id})")


@subscribers_group.command("list")
@click.pass_context
def subscribers_list(ctx: click.Context) -> None:
    """List subscribers with their status and sections."""
    app = _app(ctx)
    table = Table("id", "email", "name", "status", "sections")
    with app.transaction() as session:
        for s in list_subscribers(session):
            sections = ", ".join(s.sections) if s.sections else "all"
            table.add_row(str(s.subscriber_id), s.email, s.name, s.status, sections)
    out.print(table)


def main() -> None:
    cli(prog_name="digest")


if __name__ == "__main__":
    sys.exit(main())
