"""Building, freezing, rendering and previewing editions."""

from dataclasses import dataclass
from datetime import date
from pathlib import Path

from sqlalchemy.orm import Session

from digest.core.edition import Edition, build_edition, day_window
from digest.errors import EditionError
from digest.render import Rendered, Renderer
from digest.service.app import App
from digest.service.messages import PREVIEW_RECIPIENT, compose
from digest.store.articles import articles_between
from digest.store.editions import find_edition, has_deliveries
from digest.store.tables import EditionRow


@dataclass(frozen=True, slots=True)
class Built:
    edition: Edition
    status: str
    created: bool
    html_bytes: int


def _compose(app: App, session: Session, day: date) -> Edition:
    settings = app.settings
    start, end = day_window(day, settings.edition.timezone)
    edition = build_edition(
        articles_between(session, start, end),
        settings.section_rules(),
        name=settings.edition.name,
        day=day,
        timezone=settings.edition.timezone,
        max_items_per_section=settings.edition.max_items_per_section,
        summary_chars=settings.edition.summary_chars,
    )
    if edition.item_count == 0:
        raise EditionError(
            f"no stored article published on {day} ({settings.edition.timezone}) matches a "
            "section: nothing to build (ingest that day's articles first)"
        )
    return edition


def build(app: App, day: date, rebuild: bool = False) -> Built:
    """Freeze the edition for `day`, or return the frozen one. A rebuild is refused once sending
    has started, so what subscribers receive never changes under them."""
    renderer = Renderer(app.settings)
    with app.transaction() as session:
        row = find_edition(session, app.settings.edition.name, day)
        if row is not None and not rebuild:
            return Built(Edition.from_dict(row.content), row.status, False, len(row.html))
        if row is not None and has_deliveries(session, row.edition_id):
            raise EditionError(
                f"edition {row.name}:{day} has started sending; it cannot be rebuilt"
            )
        edition = _compose(app, session, day)
        rendered = renderer.render(edition)
        if row is None:
            row = EditionRow(name=edition.name, day=day)
            session.add(row)
        row.status, row.content, row.built_at = "frozen", edition.to_dict(), app.now()
        row.subject, row.html, row.text = rendered.subject, rendered.html, rendered.text
        return Built(edition, row.status, True, len(rendered.html.encode()))


def frozen_edition(session: Session, app: App, day: date) -> EditionRow:
    row = find_edition(session, app.settings.edition.name, day)
    if row is None:
        raise EditionError(
            f"no edition {app.settings.edition.name}:{day} yet: run 'digest build --date {day}'"
        )
    return row


@dataclass(frozen=True, slots=True)
class PreviewFiles:
    html: Path
    text: Path
    eml: Path


def preview(app: App, day: date, out: Path) -> PreviewFiles:
    """Write the frozen edition as a reader would get it: HTML, text and a complete .eml."""
    built = build(app, day)
    with app.transaction() as session:
        row = frozen_edition(session, app, day)
        rendered = Rendered(row.subject, row.html, row.text)
        message, html, text = compose(app, row, rendered, PREVIEW_RECIPIENT)
    out.mkdir(parents=True, exist_ok=True)
    stem = f"{built.edition.name}-{day}"
    files = PreviewFiles(out / f"{stem}.html", out / f"{stem}.txt", out / f"{stem}.eml")
    files.html.write_text(html, "utf-8")
    files.text.write_text(text, "utf-8")
    files.eml.write_bytes(message.as_bytes())
    return files
