"""Building an edition: classify the window's articles, fold stories, rank, trim, explain.

Every article handed in comes out exactly once: as an item, as a duplicate folded into an
item ("also covered by"), or as dropped with a reason code and a sentence an editor can read.
"""

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from typing import Literal
from zoneinfo import ZoneInfo

from digest.core.articles import Article
from digest.core.clustering import ClusterRules, Doc, cluster
from digest.core.edition import (
    Dropped,
    Duplicate,
    Edition,
    EditionItem,
    EditionSection,
    story_dropped,
)
from digest.core.ranking import RankingRules, rank_story
from digest.core.sections import Classification, SectionRule, classify, terms_pattern
from digest.core.states import Decision
from digest.core.text import summarize

UTC = ZoneInfo("UTC")
# Reason codes for articles left out.
NO_SECTION, QUOTA, SIZE_BUDGET, EDITOR, OUTSIDE = (
    "no-section",
    "quota",
    "size-budget",
    "editor",
    "outside-window",
)
Preference = Literal["source_weight", "earliest", "longest"]


@dataclass(frozen=True, slots=True)
class EditorialRules:
    """Everything that decides what goes into an edition, in the order it is applied."""

    sections: tuple[SectionRule, ...]
    off_topic: tuple[str, ...] = ()
    clustering: ClusterRules = field(default_factory=ClusterRules)
    ranking: RankingRules = field(default_factory=RankingRules)
    prefer: tuple[Preference, ...] = ("source_weight", "earliest", "longest")
    max_items_per_section: int = 5
    summary_chars: int = 320

    def quota(self, rule: SectionRule) -> int:
        return rule.quota if rule.quota is not None else self.max_items_per_section


@dataclass(frozen=True, slots=True)
class Override:
    """An editor's decision for one article in one edition: `pin` keeps it past quotas and the
    size budget, `drop` leaves it out, `move` only places it (in `section`, at `position`)."""

    article_id: int
    action: Decision
    section: str | None = None
    note: str = ""
    position: int | None = None  # 0-based place in its section, set by reordering


def edition_window(
    day: date, timezone: str, send_time: time, hours: float
) -> tuple[datetime, datetime]:
    """The UTC interval an edition covers: the `hours` before its send time on `day`."""
    end = datetime.combine(day, send_time, ZoneInfo(timezone)).astimezone(UTC)
    return end - timedelta(hours=hours), end


def day_window(day: date, timezone: str) -> tuple[datetime, datetime]:
    """The UTC instants bounding calendar `day` in `timezone` (23 or 25 hours across DST)."""
    zone = ZoneInfo(timezone)
    start = datetime.combine(day, time.min, zone)
    end = datetime.combine(day + timedelta(days=1), time.min, zone)
    return start.astimezone(UTC), end.astimezone(UTC)


@dataclass(slots=True)
class _Candidate:
    article: Article
    verdict: Classification
    section: str
    pinned: bool = False
    moved: bool = False  # placed in its section by an editor, not by the rules


def _preference_key(candidate: _Candidate, rules: EditorialRules) -> tuple[object, ...]:
    article = candidate.article
    parts: dict[str, object] = {
        "source_weight": -rules.ranking.source_weight(article.source),
        "earliest": article.published_at,
        "longest": -len(article.text),
    }
    return (not candidate.pinned, *(parts[p] for p in rules.prefer), article.article_id)


def build_edition(
    articles: Iterable[Article],
    rules: EditorialRules,
    *,
    name: str,
    day: date | None,
    timezone: str,
    window: tuple[datetime, datetime],
    overrides: Sequence[Override] = (),
    trim: bool = True,
) -> Edition:
    """Sort the window's articles into sections, one item per story, best first."""
    start, end = window
    by_key = {rule.key: rule for rule in rules.sections}
    decisions = {o.article_id: o for o in overrides}
    off_topic = terms_pattern(rules.off_topic)
    dropped: list[Dropped] = []
    candidates: list[_Candidate] = []
    for article in sorted(articles, key=lambda a: (a.published_at, a.article_id)):
        decision = decisions.get(article.article_id)
        if not start <= article.published_at < end and not (
            decision and decision.action == Decision.PIN
        ):
            dropped.append(_drop(article, OUTSIDE, "published outside the edition window"))
            continue
        if decision and decision.action == Decision.DROP:
            dropped.append(_drop(article, EDITOR, decision.note or "dropped by an editor"))
            continue
        verdict = classify(article.title, article.text, rules.sections, article.summary, off_topic)
        section = decision.section if decision and decision.section else verdict.primary
        if section is None or section not in by_key:
            dropped.append(_drop(article, NO_SECTION, _no_section_detail(verdict, by_key)))
            continue
        pinned = decision is not None and decision.action == Decision.PIN
        moved = decision is not None and decision.section not in (None, verdict.primary)
        candidates.append(_Candidate(article, verdict, section, pinned, moved))
    stories = cluster(
        [
            Doc(a.title, a.summary or a.text, a.published_at, a.vector, a.lead_vector, a.url or "")
            for a in (c.article for c in candidates)
        ],
        rules.clustering,
    )
    chosen: dict[str, list[EditionItem]] = {rule.key: [] for rule in rules.sections}
    for members in stories:
        group = [candidates[i] for i in members]
        lead = min(group, key=lambda c: _preference_key(c, rules))
        item = _item(lead, [c for c in group if c is not lead], rules, window)
        chosen[lead.section].append(item)
    sections = []
    for rule in rules.sections:
        ranked = sorted(
            chosen[rule.key],
            key=lambda i: (not i.pinned, -i.score, -i.published_at.timestamp(), i.article_id),
        )
        ordered = _placed(ranked, decisions)
        quota = rules.quota(rule)
        # Pinned stories always stay, even past the quota; the others fill what room is left.
        room = max(quota - sum(i.pinned for i in ordered), 0) if trim else len(ordered)
        kept: list[EditionItem] = []
        for item in ordered:
            if item.pinned or room > 0:
                kept.append(item)
                room -= not item.pinned
            else:
                detail = f"below the {quota} best stories of {rule.title}"
                dropped += story_dropped(item, QUOTA, detail)
        if kept:
            sections.append(EditionSection(rule.key, rule.title, tuple(kept)))
    return Edition(
        name=name,
        day=day,
        timezone=timezone,
        window_start=start,
        window_end=end,
        sections=tuple(sections),
        dropped=tuple(dropped),
        section_titles={rule.key: rule.title for rule in rules.sections},
    )


def _placed(ranked: list[EditionItem], decisions: Mapping[int, Override]) -> list[EditionItem]:
    """The ranked items with those an editor placed moved to their positions, lowest first."""
    placed = sorted(
        (decisions[i.article_id].position or 0, n, i)
        for n, i in enumerate(ranked)
        if i.article_id in decisions and decisions[i.article_id].position is not None
    )
    moved = {item.article_id for _, _, item in placed}
    ordered = [i for i in ranked if i.article_id not in moved]
    for position, _, item in placed:
        ordered.insert(min(position, len(ordered)), item)
    return ordered


def _drop(article: Article, reason: str, detail: str) -> Dropped:
    return Dropped(article.article_id, article.url, article.title, reason, detail)


def _no_section_detail(verdict: Classification, rules: Mapping[str, SectionRule]) -> str:
    if not verdict.scores:
        return "no section configured"
    best = max(verdict.scores, key=lambda k: verdict.scores[k])
    why = verdict.reasons.get(best, ())
    if why and why[0].startswith(("off-topic", "excluded", "no decisive term")):
        return why[0]
    score, minimum = verdict.scores[best], rules[best].min_score
    if score < minimum:
        return f"best section {best} scored {score:g}, below its minimum of {minimum:g}"
    return (
        f"best section {best} scored {score:g}, but not on a decisive term in the headline or lead"
    )


def _item(
    lead: _Candidate,
    others: list[_Candidate],
    rules: EditorialRules,
    window: tuple[datetime, datetime],
) -> EditionItem:
    article = lead.article
    outlets = len({article.source, *(c.article.source for c in others)})
    ranked = rank_story(
        lead.verdict.scores.get(lead.section, 0.0),
        article.source,
        article.published_at,
        window,
        outlets,
        rules.ranking,
    )
    reasons = ranked.reasons + lead.verdict.reasons.get(lead.section, ())
    if lead.moved:
        reasons = (f"placed in {lead.section} by an editor", *reasons)
    if lead.pinned:
        reasons = ("pinned by an editor", *reasons)
    also = tuple(k for k in lead.verdict.sections if k != lead.section)
    return EditionItem(
        article_id=article.article_id,
        title=article.title,
        url=article.url,
        source=article.source,
        published_at=article.published_at,
        summary=summarize(article.summary or article.text, rules.summary_chars),
        score=ranked.score,
        reasons=reasons,
        also=also,
        duplicates=tuple(
            Duplicate(c.article.article_id, c.article.url, c.article.source, c.article.title)
            for c in sorted(others, key=lambda c: (c.article.published_at, c.article.article_id))
        ),
        pinned=lead.pinned,
    )


def trim_to_budget(edition: Edition, size_of: Callable[[Edition], int], budget: int) -> Edition:
    """Drop the lowest-ranked unpinned stories until `size_of(edition)` fits `budget`."""
    while size_of(edition) > budget:
        removable = [i for s in edition.sections for i in s.items if not i.pinned]
        if not removable:
            return edition
        worst = min(removable, key=lambda i: (i.score, i.published_at.timestamp(), -i.article_id))
        edition = edition.without(
            worst.article_id, SIZE_BUDGET, f"the email would exceed {budget:,} bytes"
        )
    return edition
