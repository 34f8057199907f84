"""Measuring the editorial engine against the hand labels in `tests/data/labels.jsonl`.

Used by `tests/test_quality.py` (which holds the quality bars) and `bench/quality.py` (which
prints the figures quoted in the README).
"""

import json
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from itertools import combinations
from pathlib import Path

from digest.config import Settings, load_settings
from digest.core.articles import Article
from digest.core.clustering import Doc, cluster
from digest.core.sections import classify, terms_pattern
from digest.ingest.feeds import parse_feed
from digest.ingest.textdump import parse_text_dump

DATA = Path(__file__).parent / "data"
SECTIONS = ("ukraine", "congress", "middle_east", "none")
# Feeds captured on the same day are clustered together, as one edition would be.
DAY_GROUPS = {
    "nyt_world_2024-08-08.xml": "2024-08-08",
    "bbc_news_frontpage_2024-08-08.xml": "2024-08-08",
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
    path = DATA / feed if feed.endswith(".txt") else DATA / "feeds" / feed
    if feed.endswith(".txt"):
        found = [parse_text_dump(path.read_text(), feed, "UTC", feed)]
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


def classification_report(
    settings: Settings | None = None,
) -> tuple[float, dict[str, float], list[str]]:
    settings = settings or load_settings()
    items = labelled_items()
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


def clustering_report(settings: Settings | None = None) -> PairScores:
    """Pairwise precision and recall of "same story" within each day's articles.

    Two reports of one story are a labelled pair. Two articles of one thread (the same ongoing
    event) that are not one story are related: folding them or keeping them apart are both
    defensible, so `precision` leaves them out and `strict_precision` counts them as wrong.
    """
    settings = settings or load_settings()
    rules = settings.editorial_rules().clustering
    groups: dict[str, list[Labelled]] = defaultdict(list)
    for item in labelled_items():
        groups[DAY_GROUPS.get(item.feed, item.feed)].append(item)
    predicted: set[tuple[int, int]] = set()
    expected: set[tuple[int, int]] = set()
    related: set[tuple[int, int]] = set()
    titles: dict[int, str] = {}
    for items in groups.values():
        docs = [
            Doc(i.article.title, i.article.summary or i.article.text, i.article.published_at)
            for i in items
        ]
        for members in cluster(docs, rules):
            ids = sorted(items[m].article.article_id for m in members)
            predicted.update(combinations(ids, 2))
        for item in items:
            titles[item.article.article_id] = item.article.title
        for a, b in combinations(items, 2):
            pair = (
                min(a.article.article_id, b.article.article_id),
                max(a.article.article_id, b.article.article_id),
            )
            if a.story and a.story == b.story:
                expected.add(pair)
            elif a.thread and a.thread == b.thread:
                related.add(pair)
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
