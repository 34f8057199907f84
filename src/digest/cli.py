"""The `digest` command line: thin commands that parse input, call a service, print a result."""

import json
import sys
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import click
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from digest.config import load_settings
from digest.core.edition import day_window
from digest.core.sections import classify
from digest.errors import DigestError
from digest.service import delivery, editions, subscribers
from digest.service.app import App
from digest.service.ingest import ingest as ingest_inputs
from digest.store import db
from digest.store.articles import list_articles
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
@click.option("--source", help="Outlet name for articles that do not carry one (text dumps).")
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
@click.option("--date", "day", type=DAY, help="Only articles published that day.")
@click.option("--json", "as_json", is_flag=True, help="One JSON object per line.")
@click.pass_context
def articles_list(ctx: click.Context, day: date | None, as_json: bool) -> None:
    """List stored articles and the sections they fall in."""
    app = _app(ctx)
    window = day_window(day, app.settings.edition.timezone) if day else (None, None)
    rules = app.settings.section_rules()
    with app.transaction() as session:
        rows = list_articles(session, *window)
        records = [
            {
                "id": row.article_id,
                "title": row.title,
                "source": row.source_name,
                "url": row.url,
                "published": row.published_at.isoformat() if row.published_at else None,
                "sections": list(classify(row.title, row.text, rules).sections),
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


@cli.command("build")
@date_option
@click.option(
    "--rebuild", is_flag=True, help="Rebuild a frozen edition (refused once sending began)."
)
@click.pass_context
def build_cmd(ctx: click.Context, day: date, rebuild: bool) -> None:
    """Build and freeze the edition for a date.

    Selects the day's articles, sorts them into sections, folds duplicates, ranks, trims to
    the quotas and renders the email; prints what went in and how much was left out.
    """
    built = editions.build(_app(ctx), day, rebuild)
    verb = "Built" if built.created else "Already built"
    edition = built.edition
    out.print(
        f"{verb} {edition.name}:{edition.day} ({built.status}): "
        f"{_count(edition.item_count, 'story', 'stories')} in "
        f"{_count(len(edition.sections), 'section')}, "
        f"{_count(len(edition.dropped), 'article')} left out, "
        f"HTML {built.html_bytes / 1024:.1f} KB."
    )
    for section in edition.sections:
        out.print(f"  {section.title}")
        for item in section.items:
            out.print(f"    {item.score:6.1f}  {item.title}  ({item.source})")


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


@cli.command("send")
@date_option
@click.pass_context
def send_cmd(ctx: click.Context, day: date) -> None:
    """Deliver the edition for a date to every subscriber, once.

    Builds the edition first if needed. Running it again only retries unfinished deliveries.
    """
    app = _app(ctx)
    report = delivery.send(app, day)
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
