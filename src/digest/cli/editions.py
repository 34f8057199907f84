"""Commands for editions: build, editors' decisions, preview, checks, sending, reports."""

import json
from collections import Counter
from datetime import date, datetime

import click

from digest.cli.base import (
    DAY,
    Group,
    Moment,
    actor,
    app_of,
    cli,
    date_option,
    instant,
    out,
    plural,
)

# Markup is off by default: titles and paths come from outside and may hold [brackets].
from digest.core.states import Decision
from digest.service import checks, editions


@cli.command("build")
@click.option("--date", "day", type=DAY, help="Edition date: YYYY-MM-DD, today, yesterday.")
@click.option("--rebuild", is_flag=True, help="Rebuild a frozen edition not yet being sent.")
@click.option("--since", type=Moment(), help="Ad-hoc build from this date or time (not frozen).")
@click.option("--until", type=Moment(), help="Ad-hoc build up to the end of this date or time.")
@click.option("--no-trim", is_flag=True, help="Ad-hoc build without quotas or size budget.")
@click.option(
    "--json",
    "as_json",
    is_flag=True,
    help="Print the edition as JSON (its form: docs/architecture.md).",
)
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
    app = app_of(ctx)
    if (day is None) == (since is None and until is None) or (since is None) != (until is None):
        raise click.UsageError("give --date, or both --since and --until")
    if day is not None:
        built = editions.build(app, day, rebuild)
        edition, verb = built.edition, "Built" if built.created else "Already built"
        status = f"{built.status}, HTML {built.html_bytes / 1024:.1f} KB"
        if built.skip_reason:
            status = f"skipped: {built.skip_reason}"
    else:
        assert since is not None and until is not None
        zone = app.settings.edition.timezone
        window = (instant(since, zone, False), instant(until, zone, True))
        edition, status, verb = editions.analyse(app, *window, trim=not no_trim), "ad hoc", "Built"
    if as_json:
        out.print(json.dumps(edition.to_dict(), ensure_ascii=False, indent=2))
        return
    out.print(
        f"{verb} {edition.name}:{edition.day or 'window'} ({status}): "
        f"{plural(edition.item_count, 'story', 'stories')} in "
        f"{plural(len(edition.sections), 'section')}, "
        f"{plural(len(edition.dropped), 'article')} left out."
    )
    if day is not None and built.skip_reason:
        return  # its stories are kept for the record, but none goes out
    for section in edition.sections:
        out.print(f"  {section.title}")
        for item in section.items:
            folded = f" +{len(item.duplicates)} more" if item.duplicates else ""
            out.print(f"    {item.score:6.1f}  {item.title}  ({item.source}{folded})")
    reasons = Counter(d.reason for d in edition.dropped)
    if reasons:
        out.print("  Left out: " + ", ".join(f"{n} {r}" for r, n in sorted(reasons.items())))


@cli.group("edition", cls=Group)
def edition_group() -> None:
    """Pin, drop or move articles in an edition before it is sent; approve it."""


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
    built = editions.decide(
        app_of(ctx), day, article_id, Decision.PIN, section, note, actor=actor()
    )
    _report_decision(built, article_id)


@edition_group.command("drop")
@date_option
@click.argument("article_id", type=int)
@click.option("--note", default="", help="Why, for the record.")
@click.pass_context
def edition_drop(ctx: click.Context, day: date, article_id: int, note: str) -> None:
    """Leave an article out of the edition; rebuilds it."""
    built = editions.decide(app_of(ctx), day, article_id, Decision.DROP, None, note, actor=actor())
    _report_decision(built, article_id)


@edition_group.command("move")
@date_option
@click.argument("article_id", type=int)
@click.option("--section", required=True, help="Section to place it in.")
@click.option("--note", default="", help="Why, for the record.")
@click.pass_context
def edition_move(ctx: click.Context, day: date, article_id: int, section: str, note: str) -> None:
    """Place an article in another section, without pinning it; rebuilds the edition."""
    built = editions.decide(
        app_of(ctx), day, article_id, Decision.MOVE, section, note, actor=actor()
    )
    _report_decision(built, article_id)


@edition_group.command("approve")
@date_option
@click.pass_context
def edition_approve(ctx: click.Context, day: date) -> None:
    """Approve the edition for sending, as it is now (see [edition] require_approval).

    A later change to the edition (pin, drop, move, reorder, rebuild) withdraws the approval.
    """
    row = editions.approve(app_of(ctx), day, actor=actor())
    when = f"{row.approved_at:%Y-%m-%d %H:%M} UTC"
    out.print(f"Approved {row.name}:{day} ({row.approved_by}, {when}).")


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
        f"{plural(edition.item_count, 'story', 'stories')} in the edition."
    )


@cli.command("check")
@date_option
@click.pass_context
def check_cmd(ctx: click.Context, day: date) -> None:
    """Run the pre-send checks on every variant of an edition.

    Size against the clip budget, required headers, leftover placeholders, link and image
    hygiene, and that the text and HTML parts carry the same stories. `digest send` runs the
    same checks and refuses to send an edition that fails them.
    """
    results = checks.check(app_of(ctx), day)
    for variant in results:
        out.print(f"Variant {', '.join(variant.sections) or 'all sections'}:")
        for finding in variant.findings:
            mark = "ok  " if finding.passed else "FAIL"
            out.print(f"  {mark} {finding.check}: {finding.detail}")
    if not all(v.passed for v in results):
        ctx.exit(1)
