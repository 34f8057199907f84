"""The `digest` command line: the root group, shared options, and how errors are shown."""

import getpass
import signal
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import click
from rich.console import Console
from rich.markup import escape

from digest.config import load_settings
from digest.core.building import day_window
from digest.errors import DigestError
from digest.service.app import App

# Markup is off by default: titles and paths come from outside and may hold [brackets].
out = Console(highlight=False, soft_wrap=True, markup=False)
err = Console(stderr=True, highlight=False, soft_wrap=True, markup=False)


class Group(click.Group):
    """Prints a `DigestError` as one line and exits non-zero; a bug keeps its traceback."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except DigestError as exc:
            err.print(f"[bold red]error:[/] {escape(str(exc))}", markup=True)
            ctx.exit(exc.exit_code)


def plural(n: int, singular: str, plural: str | None = None) -> str:
    return f"{n} {singular if n == 1 else plural or singular + 's'}"


@contextmanager
def stop_on_signals() -> Iterator[Callable[[], bool]]:
    """Within the block, SIGTERM and SIGINT ask for a clean stop rather than ending the process
    where it stands: the flag this yields turns true, and the work looks at it between steps
    (and while it waits on the network). The previous handlers come back after the block."""
    requested: list[int] = []
    signals = (signal.SIGTERM, signal.SIGINT)
    previous = [signal.signal(n, lambda number, _frame: requested.append(number)) for n in signals]
    try:
        yield lambda: bool(requested)
    finally:
        for number, handler in zip(signals, previous, strict=True):
            signal.signal(number, handler)


def app_of(ctx: click.Context) -> App:
    state = ctx.find_root().ensure_object(dict)
    if "app" not in state:
        settings = load_settings(state.get("config")).for_edition(state.get("edition"))
        state["app"] = App.open(settings)
        ctx.call_on_close(state["app"].close)
    return state["app"]


def actor() -> str:
    """Who runs this command, for the record of editors' actions."""
    try:
        user = getpass.getuser()
    except (KeyError, OSError):  # no login name and no passwd entry (a bare container)
        user = "unknown"
    return f"{user} (command line)"


class _Day(click.ParamType):
    name = "DATE"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        if isinstance(value, date):
            return value
        if value in ("today", "yesterday"):
            zone = ZoneInfo(app_of(ctx).settings.edition.timezone) if ctx else None
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
    cls=Group, context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100}
)
@click.option(
    "--config",
    type=click.Path(dir_okay=False),
    help="TOML settings file (default: $DIGEST_CONFIG, else ./config.toml, else built-ins).",
)
@click.option(
    "--edition",
    metavar="NAME",
    help="Which of the [[editions]] a command works on (default: the first).",
)
@click.version_option(package_name="digest")
@click.pass_context
def cli(ctx: click.Context, config: str | None, edition: str | None) -> None:
    """Build a sectioned, deduplicated daily news digest and deliver it by email."""
    ctx.ensure_object(dict).update(config=config, edition=edition)


class Moment(click.ParamType):
    """A date (YYYY-MM-DD) or an ISO 8601 date-time; read in the edition's timezone."""

    name = "WHEN"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        try:
            return datetime.fromisoformat(value) if "T" in value else date.fromisoformat(value)
        except ValueError:
            self.fail(f"{value!r} is not YYYY-MM-DD or an ISO 8601 date-time", param, ctx)


def instant(value: date | datetime, timezone: str, end_of_day: bool) -> datetime:
    zone = ZoneInfo(timezone)
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=zone)
    return day_window(value, timezone)[1 if end_of_day else 0]
