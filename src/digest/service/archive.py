"""The public archive: the editions that went out, as anyone may read them (the web version
and the Atom feed), without the stored row or anyone's personal links."""

from dataclasses import dataclass
from datetime import date, datetime

from digest.core.edition import EditionKey
from digest.core.states import PUBLISHED_EDITIONS
from digest.service.app import App
from digest.store import editions as stored
from digest.store.editions import StoredEdition


@dataclass(frozen=True, slots=True)
class SentEdition:
    """An edition as it went out, its personal slots still unfilled."""

    name: str
    day: date
    subject: str
    html: str
    text: str
    built_at: datetime
    headlines: tuple[str, ...]


def sent_edition(app: App, name: str, day: date) -> SentEdition | None:
    """The edition `name` of `day`, if it went out; one built and never sent is not public."""
    with app.transaction() as session:
        found = stored.find_edition(session, EditionKey(name, day))
        # An edition still being sent is public already: its first readers have it.
        return _sent(found) if found is not None and found.status in PUBLISHED_EDITIONS else None


def sent_editions(app: App, limit: int) -> list[SentEdition]:
    """The last `limit` editions that went out, newest first."""
    with app.transaction() as session:
        return [_sent(found) for found in stored.sent_editions(session, limit)]


def _sent(found: StoredEdition) -> SentEdition:
    headlines = tuple(i["title"] for s in found.content["sections"] for i in s["items"])
    return SentEdition(
        found.name, found.day, found.subject, found.html, found.text, found.built_at, headlines
    )
