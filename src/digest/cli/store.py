"""Commands for the store: schema, ingest, articles and subscribers."""

import json
from datetime import date

import click
from rich.markup import escape
from rich.table import Table

# Markup is off by default: titles and paths come from outside and may hold [brackets].
from digest.cli.base import DAY, Group, app_of, cli, err, out
from digest.core.sections import classify, off_topic_pattern
from digest.service import editions, subscribers
from digest.service.ingest import ingest as ingest_inputs
from digest.store import db
from digest.store.articles import list_articles
from digest.store.subscribers import list_subscribers


@cli.group(cls=Group)
def db_group() -> None:
    """Create or upgrade the database schema."""


cli.add_command(db_group, "db")


@db_group.command("upgrade")
@click.pass_context
def db_upgrade(ctx: click.Context) -> None:
    """Apply pending migrations (creates the database if needed)."""
    app = app_of(ctx)
    before, after = db.upgrade(app.engine)
    if before == after:
        out.print(f"Database already at revision {after}.")
    else:
        out.print(f"Database upgraded from {before or 'empty'} to revision {after}.")


@db_group.command("current")
@click.pass_context
def db_current(ctx: click.Context) -> None:
    """Show the database's schema revision and the one this version needs."""
    app = app_of(ctx)
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
    report = ingest_inputs(app_of(ctx), list(inputs), source)
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


@cli.group(cls=Group)
def articles() -> None:
    """Inspect stored articles."""


@articles.command("list")
@click.option("--date", "day", type=DAY, help="Only articles in that edition's window.")
@click.option("--json", "as_json", is_flag=True, help="One JSON object per line.")
@click.pass_context
def articles_list(ctx: click.Context, day: date | None, as_json: bool) -> None:
    """List stored articles and the sections they fall in."""
    app = app_of(ctx)
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


@cli.group("subscribers", cls=Group)
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
    added = subscribers.subscribe(app_of(ctx), email, name, list(sections) or None)
    state = "Added" if added.created else "Already subscribed, unchanged:"
    out.print(f"{state} {added.email} (id {added.subscriber_id})")


@subscribers_group.command("list")
@click.pass_context
def subscribers_list(ctx: click.Context) -> None:
    """List subscribers with their status and sections."""
    app = app_of(ctx)
    table = Table("id", "email", "name", "status", "sections")
    with app.transaction() as session:
        for s in list_subscribers(session):
            sections = ", ".join(s.sections) if s.sections else "all"
            table.add_row(str(s.subscriber_id), s.email, s.name, s.status, sections)
    out.print(table)
