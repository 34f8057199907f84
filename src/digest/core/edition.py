"""Building an edition: select a day's articles, classify, fold exact duplicates, rank, trim."""

import re
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from digest.core.articles import Article
from digest.core.sections import SectionRule, classify
from digest.core.text import summarize


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
    also_in: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class EditionSection:
    key: str
    title: str
    items: tuple[EditionItem, ...]


@dataclass(frozen=True, slots=True)
class Dropped:
    article_id: int
    title: str
    reason: str


@dataclass(frozen=True, slots=True)
class Edition:
    """A frozen digest: what goes out, in order, and what was left out and why."""

    name: str
    day: date
    timezone: str
    sections: tuple[EditionSection, ...]
    dropped: tuple[Dropped, ...] = ()

    @property
    def item_count(self) -> int:
        return sum(len(s.items) for s in self.sections)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready form; `from_dict` reads it back unchanged."""
        data = asdict(self)
        data["day"] = self.day.isoformat()
        for section in data["sections"]:
            for item in section["items"]:
                item["published_at"] = item["published_at"].isoformat()
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "Edition":
        sections = tuple(
            EditionSection(
                key=s["key"],
                title=s["title"],
                items=tuple(
                    EditionItem(
                        **{
                            **i,
                            "published_at": datetime.fromisoformat(i["published_at"]),
                            "reasons": tuple(i["reasons"]),
                            "also_in": tuple(i["also_in"]),
                        }
                    )
                    for i in s["items"]
                ),
            )
            for s in data["sections"]
        )
        return cls(
            name=data["name"],
            day=date.fromisoformat(data["day"]),
            timezone=data["timezone"],
            sections=sections,
            dropped=tuple(Dropped(**d) for d in data["dropped"]),
        )


def day_window(day: date, timezone: str) -> tuple[datetime, datetime]:
    """The UTC instants bounding `day` in `timezone` (23 or 25 hours long across DST changes)."""
    zone = ZoneInfo(timezone)
    start = datetime.combine(day, time.min, zone)
    end = datetime.combine(day + timedelta(days=1), time.min, zone)
    return start.astimezone(ZoneInfo("UTC")), end.astimezone(ZoneInfo("UTC"))


def _title_key(title: str) -> str:
    return re.sub(r"\W+", " ", title.casefold()).strip()


def build_edition(
    articles: Iterable[Article],
    rules: Sequence[SectionRule],
    *,
    name: str,
    day: date,
    timezone: str,
    max_items_per_section: int,
    summary_chars: int = 320,
) -> Edition:
    """Sort the day's articles into sections, best first, keeping each story once."""
    start, end = day_window(day, timezone)
    titles = {rule.key: rule.title for rule in rules}
    chosen: dict[str, list[EditionItem]] = {rule.key: [] for rule in rules}
    dropped: list[Dropped] = []
    seen_titles: dict[str, str] = {}
    ordered = sorted(articles, key=lambda a: (a.published_at, a.article_id))
    for article in ordered:
        if not start <= article.published_at < end:
            dropped.append(Dropped(article.article_id, article.title, "published outside the day"))
            continue
        title_key = _title_key(article.title)
        if title_key in seen_titles:
            reason = f"same headline as an earlier article from {seen_titles[title_key]}"
            dropped.append(Dropped(article.article_id, article.title, reason))
            continue
        verdict = classify(article.title, article.text, rules)
        if verdict.primary is None:
            dropped.append(Dropped(article.article_id, article.title, "matches no section"))
            continue
        seen_titles[title_key] = article.source
        chosen[verdict.primary].append(
            EditionItem(
                article_id=article.article_id,
                title=article.title,
                url=article.url,
                source=article.source,
                published_at=article.published_at,
                summary=summarize(article.summary or article.text, summary_chars),
                score=round(verdict.scores[verdict.primary], 3),
                reasons=verdict.reasons[verdict.primary],
                also_in=tuple(titles[k] for k in verdict.secondary),
            )
        )
    sections = []
    for rule in rules:
        ranked = sorted(chosen[rule.key], key=lambda i: (-i.score, -i.published_at.timestamp()))
        kept = ranked[:max_items_per_section]
        dropped.extend(
            Dropped(
                i.article_id, i.title, f"over the {rule.title} quota of {max_items_per_section}"
            )
            for i in ranked[max_items_per_section:]
        )
        if kept:
            sections.append(EditionSection(rule.key, rule.title, tuple(kept)))
    return Edition(name, day, timezone, tuple(sections), tuple(dropped))
