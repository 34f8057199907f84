"""Golden files: a fixed edition must render to exactly the stored HTML, text and message
(tests/golden/digest.html, digest.txt, digest.eml).

After an intended change to the templates or the message, regenerate the files and review the
diff before committing:

    UPDATE_GOLDEN=1 .venv/bin/pytest tests/test_golden.py
"""

import os
from datetime import UTC, date, datetime, time
from pathlib import Path

import pytest

from conftest import make_settings
from digest.core.articles import Article
from digest.core.building import build_edition, edition_window
from digest.core.edition import EditionKey
from digest.render import Renderer
from digest.service.app import App
from digest.service.messages import Recipient, compose, message_template, slot_values_for
from digest.store.db import make_engine

GOLDEN = Path(__file__).parent / "golden"
DAY = date(2024, 6, 24)
NOW = datetime(2024, 6, 24, 7, 0, tzinfo=UTC)
ARTICLES = [
    Article(
        1,
        "Ukraine and allies weigh terms for peace talks",
        "U.S. and European officials have begun quiet talks with Kyiv about the outline of "
        "negotiations with Russia. Ukraine says the decision is its own.",
        "Wire A",
        "https://example.com/ukraine-talks",
        datetime(2024, 6, 23, 18, 5, tzinfo=UTC),
    ),
    Article(
        2,
        "Ukraine and allies weigh terms for peace talks, officials say",
        "U.S. and European officials have begun quiet talks with Kyiv about the outline of "
        "negotiations with Russia, officials said.",
        "Wire B",
        "https://example.org/talks",
        datetime(2024, 6, 23, 19, 30, tzinfo=UTC),
    ),
    Article(
        3,
        "House passes aid package for Israel & Ukraine",
        "The House voted 311 to 112 to approve aid for Israel and Ukraine after months of "
        "delay. The Senate takes it up next week.",
        "Desk",
        "https://example.com/house-aid?a=1&b=2",
        datetime(2024, 6, 23, 21, 0, tzinfo=UTC),
    ),
    Article(
        4,
        "Strikes near Gaza school kill 16, officials say",
        "Israeli strikes hit buildings near a school in Gaza, Palestinian officials said.",
        "Desk",
        "https://example.com/gaza",
        datetime(2024, 6, 24, 3, 45, tzinfo=UTC),
    ),
]


def _render() -> dict[str, bytes]:
    settings = make_settings(Path("."), web={"base_url": "https://news.example.org/"})
    window = edition_window(DAY, "Europe/London", time(7, 0), 24)
    edition = build_edition(
        ARTICLES,
        settings.editorial_rules(),
        name="daily",
        day=DAY,
        timezone="Europe/London",
        window=window,
    )
    rendered = Renderer(settings).render(edition)
    app = App(settings, make_engine("sqlite://"), now=lambda: NOW)
    key = EditionKey("daily", DAY)
    ada = Recipient(7, "ada@example.com", "Ada", "s3cret")
    composed = compose(app, key, message_template(app, key, rendered), ada)
    html, text = rendered.personalise(slot_values_for(app, key, ada))
    # The clock is fixed and the MIME boundary derives from the Message-ID, so even the whole
    # message is reproducible byte for byte.
    return {"digest.html": html.encode(), "digest.txt": text.encode(), "digest.eml": composed.raw}


def test_rendering_matches_the_golden_files() -> None:
    produced = _render()
    if os.environ.get("UPDATE_GOLDEN") == "1":
        GOLDEN.mkdir(exist_ok=True)
        for name, content in produced.items():
            (GOLDEN / name).write_bytes(content)
        pytest.skip("golden files rewritten; review the diff")
    for name, content in produced.items():
        assert content == (GOLDEN / name).read_bytes(), (
            f"{name} differs from tests/golden/{name}; if the change is intended, regenerate "
            "with UPDATE_GOLDEN=1 .venv/bin/pytest tests/test_golden.py"
        )


def test_rendering_is_byte_identical_across_runs() -> None:
    assert _render() == _render()
