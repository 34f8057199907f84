"""How long a busy day takes to build: N articles ingested into SQLite, then one edition; and
how long deleting them all again takes (`digest articles prune`); clustering by meaning (the
default) and by words only.

The articles are the real items of the test feeds, recombined (headline of one, teaser of
another, spread over the window) so that no two are identical but many share a topic.

    .venv/bin/python bench/build.py [N]
"""

import json
import random
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from digest.config import Settings
from digest.ingest.feeds import parse_feed
from digest.semantic import BUNDLED
from digest.service import editions, retention
from digest.service.app import App
from digest.service.ingest import ingest
from digest.store import db

FEEDS = Path(__file__).parents[1] / "tests" / "data" / "feeds"
DAY = datetime(2024, 8, 9, tzinfo=UTC).date()


def synthetic_day(count: int, seed: int = 1) -> list[dict[str, str]]:
    items = []
    for feed in sorted(FEEDS.glob("*.*")):
        if feed.suffix in (".xml", ".rss", ".atom") and "truncated" not in feed.name:
            items += parse_feed(feed.read_bytes(), feed.name, 200, 200_000).articles
    rng = random.Random(seed)
    start = datetime(2024, 8, 8, 7, 0, tzinfo=UTC)
    records = []
    for n in range(count):
        head, body = rng.choice(items), rng.choice(items)
        records.append(
            {
                "title": head.title,
                "url": f"https://news.example.com/{n}",
                "source": rng.choice(["Wire A", "Wire B", head.source_name]),
                "published": (start + timedelta(seconds=rng.randrange(86_400))).isoformat(),
                "text": body.text or head.title,
            }
        )
    return records


def main(count: int) -> None:
    for model in (BUNDLED, ""):
        print(f"clustering by {'meaning and words' if model else 'words only'}:")
        measure(count, model)


def measure(count: int, model: str) -> None:
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "day.jsonl"
        path.write_text("\n".join(json.dumps(r) for r in synthetic_day(count)))
        settings = Settings(
            database={"url": f"sqlite:///{folder}/bench.db"},
            ingest={"max_bytes": 1_000_000_000},
            clustering={"model": model},
        )
        app = App.open(settings)
        db.upgrade(app.engine)
        started = time.perf_counter()
        report = ingest(app, [str(path)])
        ingested = time.perf_counter() - started
        if report.failed or report.rejected:
            raise SystemExit(f"ingest failed: {report.failed or report.rejected}")
        started = time.perf_counter()
        built = editions.build(app, DAY)
        building = time.perf_counter() - started
        started = time.perf_counter()
        _, pruned = retention.prune(app, DAY + timedelta(days=1))
        pruning = time.perf_counter() - started
        app.close()
    edition = built.edition
    folded = sum(len(i.duplicates) for s in edition.sections for i in s.items)
    print(f"  ingest {report.total('new')} articles from JSONL: {ingested:.2f} s")
    print(
        f"  build one edition from {count} articles: {building:.2f} s "
        f"({edition.item_count} stories, {folded} duplicates folded, "
        f"{len(edition.dropped)} left out, HTML {built.html_bytes / 1024:.1f} KB)"
    )
    print(f"  prune them all with their vectors: {pruning:.2f} s ({pruned.deleted} deleted)")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 5000)
