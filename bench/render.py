"""What a message costs: MJML per variant, then per subscriber personalising and MIME, with
and without DKIM, side by side with the floor: writing the same bytes to a loopback socket
(what any sender pays to hand a message on). Personalising must cost microseconds; MJML runs
once per variant.

    .venv/bin/python bench/render.py
"""

import base64
import socket
import threading
import timeit
from datetime import UTC, date, datetime, time

import nacl.signing
from build import synthetic_day
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from digest.config import Settings
from digest.core.articles import Article
from digest.core.building import build_edition, edition_window
from digest.core.edition import EditionKey
from digest.render import Renderer
from digest.service.app import App
from digest.service.messages import Recipient, compose, message_template
from digest.signing import DkimKey
from digest.store.db import make_engine

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


def _socket_floor(raw: bytes) -> float:
    """Seconds to write `raw` to a loopback TCP socket whose reader drains it in a thread."""
    with socket.create_server(("127.0.0.1", 0)) as server:
        writer = socket.create_connection(server.getsockname())
        reader, _ = server.accept()

        def drain() -> None:
            while reader.recv(1 << 20):
                pass

        draining = threading.Thread(target=drain, daemon=True)
        draining.start()
        try:
            return _per_call(lambda: writer.sendall(raw), 2000)
        finally:
            writer.close()
            draining.join()
            reader.close()


def main() -> None:
    settings = Settings(database={"url": "sqlite://"}, edition={"max_items_per_section": 10})
    edition = _edition(settings)
    renderer = Renderer(settings)
    rendered = renderer.render(edition)
    app = App(settings, make_engine("sqlite://"))
    edition_key = EditionKey("daily", DAY)
    values = {
        "name": "Ada",
        "email": "ada@example.com",
        "unsubscribe_url": "https://x/u/1.a",
        "preferences_url": "https://x/p/1.a",
        "web_url": "https://x/e/daily/2024-08-09",
    }
    recipient = Recipient(1, "ada@example.com", "Ada", "secret")
    template = message_template(app, edition_key, rendered)
    raw = compose(app, edition_key, template, recipient).raw
    html, message = rendered.html_bytes / 1024, len(raw) / 1024
    print(f"edition: {edition.item_count} stories, HTML {html:.1f} KB, message {message:.0f} KB")
    floor = _socket_floor(raw)
    print(f"{'':<44}{'time':>10}{'x floor':>9}{'per s, 1 core':>15}")

    def line(label: str, seconds: float) -> None:
        print(f"{label:<44}{_shown(seconds):>10}{seconds / floor:>8.1f}x{1 / seconds:>15,.0f}")

    line("write the message to a socket (the floor)", floor)
    line(
        "render one variant (Jinja + MJML + text)", _per_call(lambda: renderer.render(edition), 20)
    )
    line(
        "personalise one message (slots only)",
        _per_call(lambda: rendered.personalise(values), 2000),
    )
    for label, key in _keys().items():
        cost = _per_call(lambda key=key: compose(app, edition_key, template, recipient, key), 2000)
        line(f"personalise + MIME, {label}", cost)


def _shown(seconds: float) -> str:
    return f"{seconds * 1e3:.2f} ms" if seconds >= 1e-3 else f"{seconds * 1e6:.1f} µs"


if __name__ == "__main__":
    main()
