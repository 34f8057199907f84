"""Commands for the store: schema, ingest, articles and subscribers."""

import json
from datetime import date
from typing import Any

import click
from rich.markup import escape
from rich.table import Table

# Markup is off by default: titles and paths come from outside and may hold [brackets].
from digest.cli.base import DAY, Group, app_of, cli, err, out, plural, stop_on_signals
from digest.core.states import NEW_SUBSCRIBER_STATUSES, SubscriberStatus
from digest.service import confirmation, editions, retention, subscriber_import, subscribers
from digest.service.ingest import ingest as ingest_inputs


@cli.group(cls=Group)
def db_group() -> None:
    """Create or upgrade the database schema."""


cli.add_command(db_group, "db")


@db_group.command("upgrade")
@click.pass_context
def db_upgrade(ctx: click.Context) -> None:
    """Apply pending migrations (creates the database if needed)."""
    app = app_of(ctx)
    before, after = app.upgrade_schema()
    if before == after:
        out.print(f"Database already at revision {after}.")
    else:
        out.print(f"Database upgraded from {before or 'empty'} to revision {after}.")


@db_group.command("current")
@click.pass_context
def db_current(ctx: click.Context) -> None:
    """Show the database's schema revision and the one this version needs."""
    current, needed = app_of(ctx).schema_revisions()
    out.print(f"current: {current or 'empty'}")
    out.print(f"needed:  {needed}")


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
    http(s) feed URLs. Ends with a summary; exits 1 if any input could not be read. SIGTERM
    or Ctrl-C stops it cleanly: what was read is kept, the rest is left unread.
    """
    app = app_of(ctx)
    with stop_on_signals() as should_stop:
        report = ingest_inputs(app, list(inputs), source, should_stop=should_stop)
    for item in report.inputs:
        if item.error:
            err.print(f"[red]failed[/]  {escape(item.error)}", markup=True)
        elif item.stopped:
            err.print(f"[yellow]stopped[/] {escape(item.origin)}: not read", markup=True)
        elif item.not_modified:
            out.print(f"ok      {item.origin} (feed): not modified since the last fetch")
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
    if report.stopped:
        out.print("Stopped on request before every input was read.")
    if report.failed or report.stopped:
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
    found = editions.stored_articles(app_of(ctx), day)
    if as_json:
        for article in found:
            record = {
                "id": article.article_id,
                "title": article.title,
                "source": article.source,
                "url": article.url,
                "published": article.published_at.isoformat() if article.published_at else None,
                "sections": list(article.sections),
            }
            out.print(json.dumps(record, ensure_ascii=False))
        return
    table = Table("id", "published (UTC)", "source", "title", "url", "sections")
    for article in found:
        published = article.published_at
        table.add_row(
            str(article.article_id),
            f"{published:%Y-%m-%d %H:%M}" if published else "undated",
            article.source,
            article.title,
            article.url or "",
            ", ".join(article.sections),
        )
    out.print(table)
    out.print(f"{len(found)} article(s)")


@articles.command("prune")
@click.option(
    "--before",
    "day",
    type=DAY,
    help="Keep what editions of this date (YYYY-MM-DD, today, yesterday) and later can use "
    "(default: [database] keep_days before today).",
)
@click.option("--dry-run", is_flag=True, help="Count what would be deleted; delete nothing.")
@click.pass_context
def articles_prune(ctx: click.Context, day: date | None, dry_run: bool) -> None:
    """Delete articles older than any edition from a date on could carry, with their stored
    headline vectors. Frozen editions keep their content; articles an editor pinned, dropped
    or moved are kept."""
    app = app_of(ctx)
    day = day or retention.kept_from(app)
    if day is None:
        raise click.UsageError("give --before DATE, or set [database] keep_days")
    start, pruned = retention.prune(app, day, dry_run)
    verb = "Would delete" if dry_run else "Deleted"
    kept = (
        f"; kept {plural(pruned.kept, 'article')} that an editor's decision names"
        if pruned.kept
        else ""
    )
    out.print(
        f"{verb} {plural(pruned.deleted, 'article')} from before {start:%Y-%m-%d %H:%M} UTC, "
        f"where the first edition window of {day} begins{kept}."
    )


@cli.group("subscribers", cls=Group)
def subscribers_group() -> None:
    """Manage subscribers: add, import, list, update, remove."""


section_option = click.option(
    "--section", "sections", multiple=True, help="Section key to receive (repeatable; default all)."
)
timezone_option = click.option(
    "--timezone", help="IANA timezone for the send hour (default: the edition's)."
)
send_hour_option = click.option(
    "--send-hour", type=int, help="Hour of the day, 0-23, to receive it (default: the edition's)."
)


@subscribers_group.command("add")
@click.argument("email")
@click.option("--name", default="", help="Name used in the greeting.")
@section_option
@timezone_option
@send_hour_option
@click.option(
    "--status",
    type=click.Choice([s.value for s in NEW_SUBSCRIBER_STATUSES]),
    default=SubscriberStatus.ACTIVE.value,
    show_default=True,
    help="pending: waiting for confirmation, not sent to yet.",
)
@click.option(
    "--confirm",
    is_flag=True,
    help="Double opt-in: add as pending and send a message with a confirmation link.",
)
@click.pass_context
def subscribers_add(
    ctx: click.Context,
    email: str,
    name: str,
    sections: tuple[str, ...],
    timezone: str | None,
    send_hour: int | None,
    status: str,
    confirm: bool,
) -> None:
    """Add a subscriber. An address already known is left unchanged, and one that
    unsubscribed stays unsubscribed (see `update --status active`)."""
    app = app_of(ctx)
    added = subscribers.subscribe(
        app,
        email,
        name,
        list(sections) or None,
        status=SubscriberStatus.PENDING if confirm else status,
        timezone=timezone,
        send_hour=send_hour,
    )
    where = f"{added.email} (id {added.subscriber_id})"
    if added.created:
        out.print(
            f"Added {where}" + (", pending" if added.status == SubscriberStatus.PENDING else "")
        )
    elif added.status == SubscriberStatus.ACTIVE:
        out.print(f"Already subscribed, unchanged: {where}")
    elif added.status == SubscriberStatus.PENDING:
        out.print(f"Already known and pending, unchanged: {where}")
    if confirm and added.status == SubscriberStatus.PENDING:
        sent_to = confirmation.send_confirmation(app, added.email)
        out.print(f"Confirmation request sent ({sent_to})")
    elif not added.created and added.status not in NEW_SUBSCRIBER_STATUSES:
        out.print(
            f"Not resubscribed: {where} is {added.status}; left unchanged. If its owner asked "
            f"to come back: digest subscribers update {added.email} --status active"
        )


@subscribers_group.command("import")
@click.argument("file", type=click.Path(dir_okay=False))
@click.option(
    "--status",
    type=click.Choice([s.value for s in NEW_SUBSCRIBER_STATUSES]),
    default=SubscriberStatus.ACTIVE.value,
    show_default=True,
    help="Status of the new addresses (known ones keep theirs).",
)
@click.pass_context
def subscribers_import(ctx: click.Context, file: str, status: str) -> None:
    """Add or update subscribers from a CSV file with a header row.

    Columns: email (required), name, sections (keys separated by ';', '|' or spaces; empty
    means all), timezone (IANA), send_hour (0-23). Known addresses get the file's columns and
    keep their status. Each bad row is reported and skipped; exits 1 if any was.
    """
    report = subscriber_import.import_csv(app_of(ctx), file, status)
    for rejection in report.rejected:
        err.print(f"rejected {rejection}")
    out.print(
        f"{report.source}: {report.added} added, {report.updated} updated, "
        f"{report.unchanged} unchanged, {len(report.rejected)} rejected."
    )
    if report.opted_out:
        out.print(
            f"{plural(report.opted_out, 'address', 'addresses')} in the file unsubscribed or "
            "bounced earlier and stay so."
        )
    if report.rejected:
        ctx.exit(1)


def _shown(field: str, value: Any) -> str:
    """A stored choice as a reader understands it: None is the default it stands for."""
    if value is None:
        return "all" if field == "sections" else "edition"
    if isinstance(value, list):
        return ", ".join(value)
    return str(value)


@subscribers_group.command("list")
@click.option(
    "--status", type=click.Choice([s.value for s in SubscriberStatus]), help="Only this status."
)
@click.option("--json", "as_json", is_flag=True, help="One JSON object per line.")
@click.pass_context
def subscribers_list(ctx: click.Context, status: str | None, as_json: bool) -> None:
    """List subscribers with their status, sections, timezone and send hour."""
    records = [
        {
            "id": s.subscriber_id,
            "email": s.email,
            "name": s.name,
            "status": s.status,
            "sections": s.sections,
            "timezone": s.timezone,
            "send_hour": s.send_hour,
        }
        for s in subscribers.listing(app_of(ctx), status)
    ]
    if as_json:
        for record in records:
            out.print(json.dumps(record, ensure_ascii=False))
        return
    columns = ("id", "email", "name", "status", "sections", "timezone", "send_hour")
    table = Table(*columns)
    for r in records:
        table.add_row(*(_shown(column, r[column]) for column in columns))
    out.print(table)
    out.print(plural(len(records), "subscriber"))


@subscribers_group.command("update")
@click.argument("email")
@click.option("--name", help="Name used in the greeting.")
@section_option
@click.option("--all-sections", is_flag=True, help="Receive every section (the default).")
@timezone_option
@click.option("--no-timezone", is_flag=True, help="Back to the edition's timezone.")
@send_hour_option
@click.option("--no-send-hour", is_flag=True, help="Back to the edition's send time.")
@click.option(
    "--status",
    type=click.Choice([s.value for s in SubscriberStatus]),
    help="active also takes back an address that unsubscribed: only at its owner's request.",
)
@click.pass_context
def subscribers_update(
    ctx: click.Context,
    email: str,
    name: str | None,
    sections: tuple[str, ...],
    all_sections: bool,
    timezone: str | None,
    no_timezone: bool,
    send_hour: int | None,
    no_send_hour: bool,
    status: str | None,
) -> None:
    """Change a subscriber's name, sections, timezone, send hour or status."""
    changes: dict[str, Any] = {}
    for option, value, reset, key in (
        ("--section/--all-sections", sections or None, all_sections, "sections"),
        ("--timezone/--no-timezone", timezone, no_timezone, "timezone"),
        ("--send-hour/--no-send-hour", send_hour, no_send_hour, "send_hour"),
    ):
        if value is not None and reset:
            raise click.UsageError(f"give one of {option}, not both")
        if value is not None or reset:
            changes[key] = value
    changes.update({k: v for k, v in (("name", name), ("status", status)) if v is not None})
    if not changes:
        raise click.UsageError("nothing to change: give at least one option")
    updated = subscribers.update(app_of(ctx), email, **changes)
    where = f"{updated.email} (id {updated.subscriber_id})"
    if not updated.changes:
        out.print(f"Unchanged: {where} already has those values")
        return
    done = "; ".join(
        f"{c.field} {_shown(c.field, c.before)} -> {_shown(c.field, c.after)}"
        for c in updated.changes
    )
    out.print(f"Updated {where}: {done}")


@subscribers_group.command("remove")
@click.argument("email")
@click.option(
    "--purge", is_flag=True, help="Delete the row instead (refused once anything was sent to it)."
)
@click.pass_context
def subscribers_remove(ctx: click.Context, email: str, purge: bool) -> None:
    """Unsubscribe an address. The row is kept so the opt-out is remembered."""
    if purge:
        removed = subscribers.purge(app_of(ctx), email)
        out.print(f"Deleted {removed.email} (id {removed.subscriber_id})")
        return
    removed = subscribers.unsubscribe(app_of(ctx), email)
    where = f"{removed.email} (id {removed.subscriber_id})"
    if removed.previous_status == SubscriberStatus.UNSUBSCRIBED:
        out.print(f"Already unsubscribed: {where}")
    else:
        out.print(
            f"Unsubscribed {where}, {removed.previous_status} until now; "
            "the address is kept to remember the opt-out"
        )
