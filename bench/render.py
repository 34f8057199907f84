"""What a message costs: MJML per variant, then per subscriber personalising and MIME, with
and without DKIM. Personalising must cost microseconds; MJML runs once per variant.

    .venv/bin/python bench/render.py
"""

import base64
import timeit
from datetime import UTC, date, datetime, time

import nacl.signing
from build import synthetic_day
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from digest.config import Settings
from digest.core.articles import Article
from digest.core.edition import build_edition, edition_window
from digest.render import Renderer
from digest.service.app import App
from digest.service.messages import Recipient, compose, message_template
from digest.signing import DkimKey
from digest.store.db import make_engine
from digest.store.tables import EditionRow

DAY = date(2024, 8, 9)


def _edition(settings: Settings):  # type: ignore[no-untyped-def]
    records = synthetic_day(2000)
    articles = [
        Article(
            n,
            r["title"],
            r["text"],
            r["source"],
            r["url"],
            datetime.fromisoformat(r["published"]).astimezone(UTC),
        )
        for n, r in enumerate(records)
    ]
    window = edition_window(DAY, "UTC", time(7, 0), 24)
    return build_edition(
        articles, settings.editorial_rules(), name="daily", day=DAY, timezone="UTC", window=window
    )


def _keys() -> dict[str, DkimKey | None]:
    pem = rsa.generate_private_key(public_exponent=65537, key_size=2048).private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.TraditionalOpenSSL,
        serialization.NoEncryption(),
    )
    seed = base64.b64encode(bytes(nacl.signing.SigningKey.generate()))
    return {
        "no DKIM": None,
        "DKIM Ed25519": DkimKey("example.com", "s", seed, "ed25519-sha256"),
        "DKIM RSA-2048": DkimKey("example.com", "s", pem, "rsa-sha256"),
    }


def _per_call(statement, number: int) -> float:  # type: ignore[no-untyped-def]
    return min(timeit.repeat(statement, number=number, repeat=5)) / number


def main() -> None:
    settings = Settings(database={"url": "sqlite://"}, edition={"max_items_per_section": 10})
    edition = _edition(settings)
    renderer = Renderer(settings)
    rendered = renderer.render(edition)
    app = App(settings, make_engine("sqlite://"))
    row = EditionRow(name="daily", day=DAY)
    values = {
        "name": "Ada",
        "email": "ada@example.com",
        "unsubscribe_url": "https://x/u/1.a",
        "preferences_url": "https://x/p/1.a",
        "web_url": "https://x/e/daily/2024-08-09",
    }
    recipient = Recipient(1, "ada@example.com", "Ada", "secret")
    template = message_template(app, row, rendered)
    size = len(rendered.html.encode()) / 1024
    print(f"edition: {edition.item_count} stories, HTML {size:.1f} KB")
    render = _per_call(lambda: renderer.render(edition), 20)
    print(f"render one variant (Jinja + MJML + text): {render * 1e3:8.2f} ms")
    fill = _per_call(lambda: rendered.personalise(values), 2000)
    print(f"personalise one message (slots only):     {fill * 1e6:8.1f} µs")
    for label, key in _keys().items():
        cost = _per_call(lambda key=key: compose(app, row, template, recipient, key), 2000)
        print(f"personalise + MIME, {label:<14}:       {cost * 1e6:8.1f} µs")


if __name__ == "__main__":
    main()
