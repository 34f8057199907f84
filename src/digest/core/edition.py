"""An edition as built: its sections of ranked items, each with the duplicates folded into it,
and every article left out with its reason. Its JSON form is what the store freezes and
`digest build --json` prints.
"""

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import date, datetime
from typing import Any


@dataclass(frozen=True, slots=True, order=True)
class EditionKey:
    """Which edition: its name and its day. Written `name:YYYY-MM-DD`, as commands and logs
    show it."""

    name: str
    day: date

    def __str__(self) -> str:
        return f"{self.name}:{self.day.isoformat()}"

    def message_id_around(self, domain: str) -> tuple[str, str]:
        """What goes before and after the subscriber id in the Message-ID of a message of this
        edition: derived from (edition, subscriber), a retried message is recognisably the
        same one."""
        return f"<{self.name}.{self.day:%Y%m%d}.", f"@{domain}>"

    def message_id(self, subscriber_id: int, domain: str) -> str:
        prefix, suffix = self.message_id_around(domain)
        return f"{prefix}{subscriber_id}{suffix}"


@dataclass(frozen=True, slots=True)
class Duplicate:
    article_id: int
    url: str | None
    source: str
    title: str


@dataclass(frozen=True, slots=True)
class EditionItem:
    article_id: int
    title: str
    url: str | None
    source: str
    published_at: datetime
    summary: str
    score: float
    reasons: tuple[str, ...]
    also: tuple[str, ...] = ()
    duplicates: tuple[Duplicate, ...] = ()
    pinned: bool = False


@dataclass(frozen=True, slots=True)
class EditionSection:
    key: str
    title: str
    items: tuple[EditionItem, ...]


@dataclass(frozen=True, slots=True)
class Dropped:
    article_id: int
    url: str | None
    title: str
    reason: str
    detail: str


@dataclass(frozen=True, slots=True)
class Edition:
    """A built digest: what goes out, in order, and what was left out and why."""

    name: str
    day: date | None
    timezone: str
    window_start: datetime
    window_end: datetime
    sections: tuple[EditionSection, ...]
    dropped: tuple[Dropped, ...] = ()
    section_titles: Mapping[str, str] = field(default_factory=dict)

    @property
    def item_count(self) -> int:
        return sum(len(s.items) for s in self.sections)

    def to_dict(self) -> dict[str, Any]:
        """The documented JSON form (docs/architecture.md); `from_dict` reads it back unchanged."""
        return {
            "name": self.name,
            "date": self.day.isoformat() if self.day else None,
            "timezone": self.timezone,
            "window": {"start": self.window_start.isoformat(), "end": self.window_end.isoformat()},
            "section_titles": dict(self.section_titles),
            "sections": [
                {"key": s.key, "title": s.title, "items": [_item_dict(i) for i in s.items]}
                for s in self.sections
            ],
            "dropped": [
                {
                    "article_id": d.article_id,
                    "url": d.url,
                    "title": d.title,
                    "reason": d.reason,
                    "detail": d.detail,
                }
                for d in self.dropped
            ],
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "Edition":
        return cls(
            name=data["name"],
            day=date.fromisoformat(data["date"]) if data["date"] else None,
            timezone=data["timezone"],
            window_start=datetime.fromisoformat(data["window"]["start"]),
            window_end=datetime.fromisoformat(data["window"]["end"]),
            sections=tuple(
                EditionSection(s["key"], s["title"], tuple(_item_from(i) for i in s["items"]))
                for s in data["sections"]
            ),
            dropped=tuple(Dropped(**d) for d in data["dropped"]),
            section_titles=dict(data["section_titles"]),
        )

    def without(self, article_id: int, reason: str, detail: str) -> "Edition":
        """This edition minus one item; the item and its duplicates move to `dropped`."""
        sections, gone = [], []
        for section in self.sections:
            kept = tuple(i for i in section.items if i.article_id != article_id)
            gone += [i for i in section.items if i.article_id == article_id]
            if kept:
                sections.append(replace(section, items=kept))
        dropped = [d for item in gone for d in story_dropped(item, reason, detail)]
        return replace(self, sections=tuple(sections), dropped=self.dropped + tuple(dropped))


def story_dropped(item: EditionItem, reason: str, detail: str) -> list[Dropped]:
    """An item and the duplicates folded into it, as left out for `reason`."""
    return [Dropped(item.article_id, item.url, item.title, reason, detail)] + [
        Dropped(d.article_id, d.url, d.title, reason, f"{detail} (same story as {item.title!r})")
        for d in item.duplicates
    ]


def _item_dict(item: EditionItem) -> dict[str, Any]:
    return {
        "article_id": item.article_id,
        "url": item.url,
        "title": item.title,
        "source": item.source,
        "published": item.published_at.isoformat(),
        "summary": item.summary,
        "score": item.score,
        "reasons": list(item.reasons),
        "also": list(item.also),
        "duplicates": [
            {"article_id": d.article_id, "url": d.url, "source": d.source, "title": d.title}
            for d in item.duplicates
        ],
        "pinned": item.pinned,
    }


def _item_from(data: Mapping[str, Any]) -> EditionItem:
    return EditionItem(
        article_id=data["article_id"],
        title=data["title"],
        url=data["url"],
        source=data["source"],
        published_at=datetime.fromisoformat(data["published"]),
        summary=data["summary"],
        score=data["score"],
        reasons=tuple(data["reasons"]),
        also=tuple(data["also"]),
        duplicates=tuple(Duplicate(**d) for d in data["duplicates"]),
        pinned=data["pinned"],
    )
