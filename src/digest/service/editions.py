"""Building, freezing, adjusting, analysing and previewing editions."""

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path

from sqlalchemy.orm import Session

from digest.core.building import Override, build_edition, edition_window, trim_to_budget
from digest.core.edition import Edition
from digest.core.sections import classify, terms_pattern
from digest.core.states import Decision, EditionStatus
from digest.errors import EditionError, NotApprovedError
from digest.render import Rendered, Renderer
from digest.service.app import App
from digest.service.messages import (
    PREVIEW_RECIPIENT,
    compose,
    dkim_key,
    message_template,
    slot_values_for,
)
from digest.service.vectors import embed
from digest.store.articles import articles_between, articles_by_id, list_articles
from digest.store.editions import (
    StoredEdition,
    approve_edition,
    clear_override,
    events_for,
    find_edition,
    overrides_for,
    record_event,
    save_edition,
    set_override,
    set_position,
)
from digest.store.ledger_status import has_deliveries
from digest.store.tables import EditionEvent


@dataclass(frozen=True, slots=True)
class Built:
    edition: Edition
    status: EditionStatus
    created: bool
    html_bytes: int
    skip_reason: str | None = None


def window_for(app: App, day: date) -> tuple[datetime, datetime]:
    edition = app.settings.edition
    return edition_window(day, edition.timezone, edition.send_time, edition.window_hours)


def _compose(
    app: App,
    session: Session,
    window: tuple[datetime, datetime],
    day: date | None,
    overrides: list[Override],
    trim: bool,
) -> Edition:
    settings = app.settings
    model = settings.clustering.model
    articles = articles_between(session, *window, model)
    # A pinned article from outside the window is still the editor's choice.
    missing = {o.article_id for o in overrides if o.action == Decision.PIN} - {
        a.article_id for a in articles
    }
    articles += articles_by_id(session, missing, model)
    return build_edition(
        articles,
        settings.editorial_rules(),
        name=settings.edition.name,
        day=day,
        timezone=settings.edition.timezone,
        window=window,
        overrides=overrides,
        trim=trim,
    )


# Room kept in the HTML budget for what personalising adds (name, address, signed links).
PERSONAL_RESERVE = 2048


def _fit(app: App, renderer: Renderer, edition: Edition) -> tuple[Edition, Rendered]:
    """Drop the lowest-ranked stories until the HTML fits the budget; render the result."""
    budget = int(app.settings.edition.html_budget_kb * 1024) - PERSONAL_RESERVE
    edition = trim_to_budget(edition, lambda e: renderer.render(e).html_bytes, budget)
    return edition, renderer.render(edition)


def build(app: App, day: date, rebuild: bool = False) -> Built:
    """Freeze the edition for `day`, or return the frozen one. A rebuild is refused once sending
    has started, so what subscribers receive never changes under them."""
    settings = app.settings
    renderer = Renderer(settings)
    key = settings.edition.key(day)
    with app.transaction() as session:
        stored = find_edition(session, key)
    if stored is not None and not rebuild:
        return _built(stored, created=False)
    # Articles stored before the model was in use get their headline vectors first, outside
    # the build's transaction: embedding takes seconds.
    embed(app, window=window_for(app, day))
    with app.transaction() as session:
        stored = find_edition(session, key)
        if stored is not None and not rebuild:  # built meanwhile by another process
            return _built(stored, created=False)
        _refuse_once_sending(session, stored)
        overrides = [
            Override(o.article_id, o.action, o.section, o.note, o.position)
            for o in overrides_for(session, settings.edition.name, day)
        ]
        edition = _compose(app, session, window_for(app, day), day, overrides, trim=True)
        reason = _stale(edition, settings.edition.stale_hours)
        if edition.item_count == 0 and settings.edition.empty_policy == "skip":
            reason = f"no story for any section among {len(edition.dropped)} articles in the window"
        if reason is not None:
            skipped = EditionStatus.SKIPPED
            stored = save_edition(
                session, key, skipped, edition.to_dict(), app.now(), skip_reason=reason
            )
            return _built(stored, created=True)
        edition, rendered = _fit(app, renderer, edition)
        stored = save_edition(
            session,
            key,
            EditionStatus.FROZEN,
            edition.to_dict(),
            app.now(),
            subject=rendered.subject,
            html=rendered.html,
            text=rendered.text,
        )
        return _built(stored, created=True)


def _stale(edition: Edition, stale_hours: float) -> str | None:
    """Why an edition would be old news: even its newest story is older than the limit."""
    published = [i.published_at for s in edition.sections for i in s.items]
    if not published:
        return None
    age = edition.window_end - max(published)
    if age <= timedelta(hours=stale_hours):
        return None
    hours = age.total_seconds() / 3600
    return (
        f"stale: the newest story is {hours:.0f} hours older than the edition "
        f"(limit {stale_hours:g})"
    )


def skip(app: App, day: date, reason: str) -> Built:
    """Record that the edition for `day` is skipped (too late to be news), unless it exists."""
    settings = app.settings
    key = settings.edition.key(day)
    with app.transaction() as session:
        stored = find_edition(session, key)
        if stored is not None:
            return _built(stored, created=False)
        window = window_for(app, day)
        empty = Edition(key.name, day, settings.edition.timezone, *window, ())
        stored = save_edition(
            session, key, EditionStatus.SKIPPED, empty.to_dict(), app.now(), skip_reason=reason
        )
        return _built(stored, created=True)


def _built(stored: StoredEdition, created: bool) -> Built:
    html_bytes = Rendered(stored.subject, stored.html, stored.text).html_bytes
    return Built(stored.edition(), stored.status, created, html_bytes, stored.skip_reason)


@dataclass(frozen=True, slots=True)
class StoredArticle:
    """A stored article and the sections its words put it in."""

    article_id: int
    title: str
    source: str
    url: str | None
    published_at: datetime | None
    sections: tuple[str, ...]


def stored_articles(app: App, day: date | None = None) -> list[StoredArticle]:
    """Every stored article, newest first, or those in the window of `day`'s edition."""
    start, end = window_for(app, day) if day else (None, None)
    rules = app.settings.section_rules()
    off_topic = terms_pattern(app.settings.classification.off_topic)
    with app.transaction() as session:
        return [
            StoredArticle(
                row.article_id,
                row.title,
                row.source_name,
                row.url,
                row.published_at,
                classify(row.title, row.text, rules, row.summary, off_topic).sections,
            )
            for row in list_articles(session, start, end)
        ]


def analyse(app: App, since: datetime, until: datetime, trim: bool) -> Edition:
    """An edition over any window, for analysis: not frozen, nothing sent."""
    embed(app, window=(since, until))
    with app.transaction() as session:
        edition = _compose(app, session, (since, until), None, [], trim)
    if trim and edition.item_count:
        edition, _ = _fit(app, Renderer(app.settings), edition)
    return edition


def _refuse_once_sending(session: Session, stored: StoredEdition | None) -> None:
    if stored is not None and has_deliveries(session, stored.edition_id):
        raise EditionError(f"edition {stored.key} is being sent; it can no longer change")


def decide(
    app: App,
    day: date,
    article_id: int,
    action: str,
    section: str | None,
    note: str,
    *,
    actor: str,
) -> Built:
    """Record an editor's pin, drop or move of an article, then rebuild the edition with it."""
    settings = app.settings
    if action not in tuple(Decision):
        raise EditionError(f"unknown decision {action!r}; expected {', '.join(Decision)}")
    decision = Decision(action)
    if section is not None and section not in {s.key for s in settings.sections}:
        raise EditionError(f"unknown section {section!r}")
    if decision == Decision.MOVE and section is None:
        raise EditionError("a move needs the section to move the article to")
    with app.transaction() as session:
        if not articles_by_id(session, [article_id]):
            raise EditionError(f"no stored article with id {article_id}")
        _refuse_once_sending(session, find_edition(session, settings.edition.key(day)))
        name = settings.edition.name
        set_override(session, name, day, article_id, decision, section, note, app.now())
        detail = _joined(f"to {section}" if section else "", note)
        record_event(session, name, day, app.now(), actor, action, detail, article_id)
    return build(app, day, rebuild=True)


def forget(app: App, day: date, article_id: int, *, actor: str) -> Built:
    """Undo every editor's decision on an article (pin, drop, move, place), then rebuild."""
    name = app.settings.edition.name
    with app.transaction() as session:
        _refuse_once_sending(session, find_edition(session, app.settings.edition.key(day)))
        if not clear_override(session, name, day, article_id):
            raise EditionError(f"no editor's decision on article {article_id} to undo")
        record_event(session, name, day, app.now(), actor, "undo", "", article_id)
    return build(app, day, rebuild=True)


def reorder(app: App, day: date, article_id: int, offset: int, *, actor: str) -> Built:
    """Move an item `offset` places up (negative) or down its section, then rebuild. Every item
    of the section keeps the place it now has, so later rebuilds show the editor's order."""
    name = app.settings.edition.name
    with app.transaction() as session:
        stored = frozen_edition(session, app, day)
        _refuse_once_sending(session, stored)
        edition = stored.edition()
        section = next(
            (s for s in edition.sections if any(i.article_id == article_id for i in s.items)),
            None,
        )
        if section is None:
            raise EditionError(f"article {article_id} is not in edition {stored.key}")
        order = [i.article_id for i in section.items]
        start = order.index(article_id)
        end = min(max(start + offset, 0), len(order) - 1)
        order.insert(end, order.pop(start))
        for position, item_id in enumerate(order):
            set_position(session, name, day, item_id, position, app.now())
        detail = f"in {section.key} from place {start + 1} to {end + 1}"
        record_event(session, name, day, app.now(), actor, "reorder", detail, article_id)
    return build(app, day, rebuild=True)


def rebuild(app: App, day: date, *, actor: str) -> Built:
    """Rebuild the edition from the stored articles and editors' decisions, and record it."""
    built = build(app, day, rebuild=True)
    with app.transaction() as session:
        record_event(session, app.settings.edition.name, day, app.now(), actor, "rebuild", "")
    return built


def approve(app: App, day: date, *, actor: str) -> StoredEdition:
    """Approve the frozen edition for sending, as it is now."""
    with app.transaction() as session:
        stored = sendable_edition(session, app, day)
        approved = approve_edition(session, stored.edition_id, actor, app.now())
        if approved is None:
            return stored
        record_event(session, stored.name, day, app.now(), actor, "approve", "")
        return approved


def require_approval(app: App, stored: StoredEdition) -> None:
    """Refuse to start sending an edition nobody approved, when the settings ask for approval."""
    if app.settings.edition.require_approval and stored.approved_at is None:
        day = stored.day
        raise NotApprovedError(
            f"edition {stored.key} is not approved: approve it with "
            f"'digest edition approve --date {day}' or in the studio "
            f"('digest preview --date {day} --serve')"
        )


def history(app: App, day: date) -> list[EditionEvent]:
    """What editors did to the edition, newest first."""
    with app.transaction() as session:
        return list(events_for(session, app.settings.edition.name, day))


def _joined(*parts: str) -> str:
    return "; ".join(p for p in parts if p)


def sendable(app: App, day: date) -> Built:
    """The edition of `day`, built if need be; refused if it was skipped."""
    built = build(app, day)
    if built.status == EditionStatus.SKIPPED:
        key = app.settings.edition.key(day)
        raise EditionError(f"edition {key} was skipped: {built.skip_reason}")
    return built


def sendable_edition(session: Session, app: App, day: date) -> StoredEdition:
    """The frozen edition of `day`; refused if there is none yet, or it was skipped."""
    stored = frozen_edition(session, app, day)
    if stored.status == EditionStatus.SKIPPED:
        raise EditionError(f"edition {stored.key} was skipped: {stored.skip_reason}")
    return stored


def frozen_edition(session: Session, app: App, day: date) -> StoredEdition:
    key = app.settings.edition.key(day)
    stored = find_edition(session, key)
    if stored is None:
        raise EditionError(f"no edition {key} yet: run 'digest build --date {day}'")
    return stored


@dataclass(frozen=True, slots=True)
class PreviewFiles:
    html: Path
    text: Path
    eml: Path


def preview(app: App, day: date, out: Path) -> PreviewFiles:
    """Write the frozen edition as a reader would get it: HTML, text and a complete .eml."""
    built = sendable(app, day)
    with app.transaction() as session:
        stored = frozen_edition(session, app, day)
        rendered = Rendered(stored.subject, stored.html, stored.text)
        template = message_template(app, stored.key, rendered)
        composed = compose(app, stored.key, template, PREVIEW_RECIPIENT, dkim_key(app.settings))
        html, text = rendered.personalise(slot_values_for(app, stored.key, PREVIEW_RECIPIENT))
    out.mkdir(parents=True, exist_ok=True)
    stem = f"{built.edition.name}-{day}"
    files = PreviewFiles(out / f"{stem}.html", out / f"{stem}.txt", out / f"{stem}.eml")
    files.html.write_text(html, "utf-8")
    files.text.write_text(text, "utf-8")
    files.eml.write_bytes(composed.raw)
    return files
