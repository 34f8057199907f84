"""Measuring the editorial engine against the hand labels in `tests/data/labels.jsonl`
(sections and stories of the fixture feeds and of two Yahoo News days) and
`tests/data/stories.jsonl` (stories of two Google News captures, many outlets per story).

Used by `tests/test_quality.py` (which holds the quality bars) and `bench/quality.py` (which
prints the figures quoted in the README).
"""

import calendar
import json
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from html.parser import HTMLParser
from itertools import combinations
from pathlib import Path
from typing import Any

import feedparser

from digest.config import Settings, load_settings
from digest.core.articles import Article
from digest.core.clustering import Doc, cluster
from digest.core.sections import classify, terms_pattern
from digest.ingest.feeds import parse_feed
from digest.ingest.jsonl import parse_json
from digest.ingest.textdump import parse_text_dump
from digest.semantic import encoder

DATA = Path(__file__).parent / "data"
SECTIONS = ("ukraine", "congress", "middle_east", "none")
# Feeds captured on the same day are clustered together, as one edition would be.
DAY_GROUPS = {
    "nyt_world_2024-08-08.xml": "2024-08-08",
    "bbc_news_frontpage_2024-08-08.xml": "2024-08-08",
    "thehill_2024-01-18.jsonl": "2024-01-18",
    "aljazeera_2024-01-18.jsonl": "2024-01-18",
    "nbc_world_2024-01-18.jsonl": "2024-01-18",
    "skynews_world_2024-01-18.jsonl": "2024-01-18",
    "nyt_world_2024-01-18.jsonl": "2024-01-18",
    "wsj_world_2024-01-18.jsonl": "2024-01-18",
    "wapo_world_2024-01-18.jsonl": "2024-01-18",
    "politico_politics_2024-01-18.jsonl": "2024-01-18",
}


@dataclass(frozen=True, slots=True)
class Labelled:
    feed: str
    article: Article
    section: str
    story: str | None
    thread: str | None


def labelled_items() -> list[Labelled]:
    labels = [json.loads(line) for line in (DATA / "labels.jsonl").read_text().splitlines()]
    parsed: dict[str, dict[str, Article]] = {}
    items = []
    for number, label in enumerate(labels, start=1):
        feed = label["feed"]
        if feed not in parsed:
            parsed[feed] = _articles(feed, start_id=number * 1000)
        key = label["url"] or label["guid"] or feed
        items.append(
            Labelled(feed, parsed[feed][key], label["section"], label["story"], label["thread"])
        )
    return items


def _articles(feed: str, start_id: int) -> dict[str, Article]:
    path = DATA / feed if feed.endswith((".txt", ".jsonl")) else DATA / "feeds" / feed
    if feed.endswith(".txt"):
        found = [parse_text_dump(path.read_text(), feed, "UTC", feed)]
    elif feed.endswith(".jsonl"):
        found = parse_json(
            path.read_text(), feed, lines=True, timezone="UTC", max_depth=200, max_chars=200_000
        ).articles
    else:
        found = parse_feed(path.read_bytes(), feed, 200, 200_000).articles
    articles: dict[str, Article] = {}
    for offset, p in enumerate(found):
        key = p.url or p.guid or feed
        articles.setdefault(
            key,
            Article(
                start_id + offset,
                p.title,
                p.text,
                p.source_name,
                p.url,
                p.published_at or datetime(2000, 1, 1, tzinfo=UTC),
                p.summary,
            ),
        )
    return articles


def predicted_section(item: Labelled, settings: Settings) -> str:
    a = item.article
    off_topic = terms_pattern(settings.classification.off_topic)
    verdict = classify(a.title, a.text, settings.section_rules(), a.summary, off_topic)
    return verdict.primary or "none"


def macro_f1(pairs: Iterable[tuple[str, str]]) -> tuple[float, dict[str, float]]:
    """Macro-averaged F1 over SECTIONS for (expected, predicted) pairs, and F1 per class."""
    pairs = list(pairs)
    per_class = {}
    for cls in SECTIONS:
        tp = sum(1 for e, p in pairs if e == cls and p == cls)
        fp = sum(1 for e, p in pairs if e != cls and p == cls)
        fn = sum(1 for e, p in pairs if e == cls and p != cls)
        precision = tp / (tp + fp) if tp + fp else 1.0
        recall = tp / (tp + fn) if tp + fn else 1.0
        per_class[cls] = (
            2 * precision * recall / (precision + recall) if precision + recall else 0.0
        )
    return sum(per_class.values()) / len(per_class), per_class


# The labelled items written against (the test feeds) and labelled after the rules were.
LATER = (
    "yahoo_news_2019-11-12.jsonl",
    "yahoo_news_2019-11-17.jsonl",
    "bbc_news_home_2022-03-12.xml",
    "bbc_world_2025-06-23.xml",
    "thehill_2024-01-18.jsonl",
    "aljazeera_2024-01-18.jsonl",
    "nbc_world_2024-01-18.jsonl",
    "skynews_world_2024-01-18.jsonl",
    "nyt_world_2024-01-18.jsonl",
    "wsj_world_2024-01-18.jsonl",
    "wapo_world_2024-01-18.jsonl",
    "politico_politics_2024-01-18.jsonl",
)


def classification_report(
    settings: Settings | None = None, feeds: Callable[[str], bool] = lambda feed: True
) -> tuple[float, dict[str, float], list[str]]:
    """Macro-F1 of the primary section, F1 per class, and the misses, on the labelled items
    of the `feeds` chosen."""
    settings = settings or load_settings()
    items = [item for item in labelled_items() if feeds(item.feed)]
    pairs = [(i.section, predicted_section(i, settings)) for i in items]
    score, per_class = macro_f1(pairs)
    errors = [
        f"{i.feed}: {i.article.title!r}: expected {e}, got {p}"
        for i, (e, p) in zip(items, pairs, strict=True)
        if e != p
    ]
    return score, per_class, errors


@dataclass(frozen=True, slots=True)
class PairScores:
    precision: float
    recall: float
    strict_precision: float
    predicted: int
    expected: int
    related_folded: int
    false_pairs: list[tuple[str, str]]
    missed_pairs: list[tuple[str, str]]


@dataclass(frozen=True, slots=True)
class StoryItem:
    doc: Doc
    story: str | None
    thread: str | None
    # The Google News item whose coverage list holds the headline: Google's own grouping.
    google_item: int | None = None


class _OutletList(HTMLParser):
    """The headlines and outlets of a Google News item's <ol> of coverage."""

    def __init__(self) -> None:
        super().__init__()
        self.found: list[tuple[str, str]] = []
        self._open: str | None = None
        self._text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in ("a", "font"):
            self._open, self._text = tag, []

    def handle_data(self, data: str) -> None:
        if self._open:
            self._text.append(data)

    def handle_endtag(self, tag: str) -> None:
        if tag != self._open:
            return
        text = "".join(self._text).strip()
        if tag == "a":
            self.found.append((text, ""))
        elif self.found:
            self.found[-1] = (self.found[-1][0], text)
        self._open = None


def _fixture_days() -> list[list[StoryItem]]:
    """The labelled feed items, one group per day as one edition would see them."""
    days: dict[str, list[StoryItem]] = defaultdict(list)
    for item in labelled_items():
        a = item.article
        doc = Doc(a.title, a.summary or a.text, a.published_at, url=a.url or "")
        days[DAY_GROUPS.get(item.feed, item.feed)].append(StoryItem(doc, item.story, item.thread))
    return list(days.values())


def _story_labels(feed: str) -> list[dict[str, Any]]:
    rows = [json.loads(line) for line in (DATA / "stories.jsonl").read_text().splitlines()]
    return [row for row in rows if row["feed"] == feed]


def _google_news_coverage(feed: str) -> list[list[StoryItem]]:
    """Every outlet's headline in a Google News top-stories feed, dated by its item."""
    parsed = feedparser.parse((DATA / "feeds" / feed).read_bytes())
    headlines = []
    for number, entry in enumerate(parsed.entries):
        listing = _OutletList()
        listing.feed(entry.summary)
        published = datetime.fromtimestamp(calendar.timegm(entry.published_parsed), UTC)
        # The list ends in a "View full coverage" link, which names no outlet.
        headlines += [(title, published, number) for title, outlet in listing.found if outlet]
    labels = _story_labels(feed)
    assert [t for t, _, _ in headlines] == [row["title"] for row in labels], f"{feed} changed"
    return [
        [
            StoryItem(Doc(title, "", published), row["story"], row["thread"], number)
            for (title, published, number), row in zip(headlines, labels, strict=True)
        ]
    ]


def _feed_entries(feed: str) -> list[list[StoryItem]]:
    """A feed's entries as the product ingests them."""
    found = parse_feed((DATA / "feeds" / feed).read_bytes(), feed, 200, 200_000).articles
    labels = _story_labels(feed)
    assert [a.title for a in found] == [row["title"] for row in labels], f"{feed} changed"
    docs = [Doc(a.title, a.summary or a.text, a.published_at) for a in found]
    return [
        [StoryItem(doc, row["story"], row["thread"]) for doc, row in zip(docs, labels, strict=True)]
    ]


GOOGLE_TOP_STORIES = "Google News top stories 2019 (headlines only)"
# The same-story sets, each a list of days clustered on their own.
STORY_SETS: dict[str, Callable[[], list[list[StoryItem]]]] = {
    "labelled feeds (teasers of twelve outlets)": _fixture_days,
    GOOGLE_TOP_STORIES: lambda: _google_news_coverage("gnews_us_top_2019-11-14.xml"),
    "Google News search 2026 (one company's news)": lambda: _feed_entries(
        "gnews_tcs_search_2026-09-06.xml"
    ),
}


def _clustered(day: list[StoryItem], settings: Settings) -> list[list[int]]:
    """The day's stories as the product folds them."""
    docs = [item.doc for item in day]
    model = settings.clustering.model
    if model:  # as ingest would have embedded them
        vectors = encoder(model).articles([(doc.title, doc.lead) for doc in docs])
        docs = [
            replace(doc, vector=v, lead_vector=lead)
            for doc, (v, lead) in zip(docs, vectors, strict=True)
        ]
    return cluster(docs, settings.editorial_rules().clustering)


def _googles_grouping(day: list[StoryItem], settings: Settings) -> list[list[int]]:
    """The day's headlines as Google News grouped them, one group per coverage list."""
    groups: dict[int | None, list[int]] = defaultdict(list)
    for index, item in enumerate(day):
        groups[item.google_item].append(index)
    return list(groups.values())


def clustering_report(
    name: str, settings: Settings | None = None, by_google: bool = False
) -> PairScores:
    """Pairwise precision and recall of "same story" on one labelled set: of the product's
    folding or, `by_google`, of Google News's own grouping of the same headlines.

    Two reports of one story are a labelled pair. Two articles of one thread (the same ongoing
    event) that are not one story are related: folding them or keeping them apart are both
    defensible, so `precision` leaves them out and `strict_precision` counts them as wrong.
    """
    settings = settings or load_settings()
    grouping = _googles_grouping if by_google else _clustered
    predicted: set[tuple[int, int]] = set()
    expected: set[tuple[int, int]] = set()
    related: set[tuple[int, int]] = set()
    titles: list[str] = []
    for day in STORY_SETS[name]():
        first = len(titles)
        titles += [item.doc.title for item in day]
        for members in grouping(day, settings):
            predicted.update(combinations([first + m for m in members], 2))
        for (i, a), (j, b) in combinations(enumerate(day, start=first), 2):
            if a.story and a.story == b.story:
                expected.add((i, j))
            elif a.thread and a.thread == b.thread:
                related.add((i, j))
    hits = len(predicted & expected)
    judged = predicted - related
    return PairScores(
        precision=hits / len(judged) if judged else 1.0,
        recall=hits / len(expected) if expected else 1.0,
        strict_precision=hits / len(predicted) if predicted else 1.0,
        predicted=len(predicted),
        expected=len(expected),
        related_folded=len(predicted & related),
        false_pairs=[(titles[a], titles[b]) for a, b in sorted(judged - expected)],
        missed_pairs=[(titles[a], titles[b]) for a, b in sorted(expected - predicted)],
    )
