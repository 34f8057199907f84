"""How long a large subscriber list takes to import: N rows of CSV into a fresh SQLite
database, then the same file again (every row unchanged). Both must take seconds.

The rows mix what real lists hold: names, section choices, timezones, send hours, and a few
internationalised addresses.

    .venv/bin/python bench/import_subscribers.py [N]
"""

import csv
import random
import sys
import tempfile
import time
from pathlib import Path

from digest.config import Settings
from digest.service.app import App
from digest.service.subscriber_import import ImportReport, import_csv
from digest.store import db

SECTIONS = ["", "ukraine", "congress", "middle_east", "ukraine;congress", "congress|middle_east"]
TIMEZONES = ["", "", "Europe/Kyiv", "America/New_York", "Asia/Tokyo", "UTC"]


def write_list(path: Path, count: int, seed: int = 1) -> None:
    rng = random.Random(seed)
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["email", "name", "sections", "timezone", "send_hour"])
        for n in range(count):
            local = f"jürgen.{n}" if n % 50 == 0 else f"reader.{n}"
            domain = "exämple.de" if n % 100 == 0 else f"mail{n % 37}.example.com"
            hour = rng.choice(["", "", str(rng.randrange(24))])
            name = f"Reader {n}"
            writer.writerow(
                [f"{local}@{domain}", name, rng.choice(SECTIONS), rng.choice(TIMEZONES), hour]
            )


def timed(app: App, path: Path) -> tuple[ImportReport, float]:
    started = time.perf_counter()
    report = import_csv(app, path)
    return report, time.perf_counter() - started


def main(count: int) -> None:
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "subscribers.csv"
        write_list(path, count)
        app = App.open(Settings(database={"url": f"sqlite:///{folder}/bench.db"}))
        db.upgrade(app.engine)
        first, importing = timed(app, path)
        again, reimporting = timed(app, path)
        app.close()
    if first.rejected or first.added != count or again.unchanged != count:
        raise SystemExit(f"unexpected import result: {first} / {again}")
    print(f"import {count} subscribers from CSV into SQLite: {importing:.2f} s")
    print(f"import the same file again ({again.unchanged} unchanged): {reimporting:.2f} s")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 100_000)
