"""Keeping the store to what editions can still use: older articles are deleted."""

from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from digest.config.tables import EditionSettings
from digest.core.building import edition_window
from digest.errors import EditionError
from digest.service.app import App
from digest.store.articles import Pruned, prune_articles


def _today(app: App) -> date:
    """The earliest current date among the editions' timezones."""
    now = app.now()
    return min(now.astimezone(ZoneInfo(e.timezone)).date() for e in _editions(app))


def _editions(app: App) -> list[EditionSettings]:
    return [app.settings.for_edition(name).edition for name in app.settings.edition_names()]


def kept_from(app: App) -> date | None:
    """The first day whose editions keep their articles under `[database] keep_days`; None
    when every article is kept."""
    days = app.settings.database.keep_days
    return _today(app) - timedelta(days=days) if days else None


def prune(app: App, day: date, dry_run: bool = False) -> tuple[datetime, Pruned]:
    """Delete the articles from before the earliest window of any edition on `day`: only
    editions of earlier days could carry them. Returns that instant, and what was (or, with
    `dry_run`, would be) deleted and kept."""
    today = _today(app)
    if day > today:
        raise EditionError(f"{day} is after today ({today}): its editions still need its articles")
    start = min(
        edition_window(day, e.timezone, e.send_time, e.window_hours)[0] for e in _editions(app)
    )
    with app.transaction() as session:
        return start, prune_articles(session, start, dry_run)
