"""What keeps the web pages safe to expose: Host and Origin checks, the studio's login and
CSRF tokens, security headers, and a modest per-address rate limit.

The Host check defeats DNS rebinding (a hostile page whose name resolves to 127.0.0.1 would
otherwise be same-origin with a local studio); the Origin check and the CSRF token make sure
an action comes from a page this server produced. Both apply on loopback too.
"""

import hashlib
import hmac
import secrets
import threading
import time
from collections import deque
from collections.abc import Iterable
from urllib.parse import urlsplit

from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

LOOPBACK_NAMES = frozenset({"localhost", "127.0.0.1", "::1"})
SESSION_COOKIE = "digest_studio"
# Pages other sites may not frame, script or style; the email frames loosen this (see below).
PAGE_POLICY = (
    "default-src 'self'; img-src 'self' data:; frame-src 'self'; form-action 'self'; "
    "base-uri 'none'; frame-ancestors 'none'"
)
# An email's HTML: its own inline styles, no scripts, no fetches, framed only by the studio.
EMAIL_POLICY = "default-src 'none'; style-src 'unsafe-inline'; img-src data:; base-uri 'none'"


def is_loopback(host: str) -> bool:
    return host.strip("[]").lower() in LOOPBACK_NAMES or host.startswith("127.")


def host_name(netloc: str) -> str:
    """The host of a `Host` header or URL authority, without port or IPv6 brackets."""
    parsed = urlsplit(f"//{netloc}")
    try:
        return (parsed.hostname or "").lower()
    except ValueError:  # a malformed IPv6 literal
        return ""


class HostGuard:
    """Answers 400 to a request whose Host header names none of `allowed`, and adds the
    security headers to every response. It wraps the whole application, Starlette's handler
    of uncaught errors included, so that a 500 carries them too."""

    def __init__(self, app: ASGIApp, allowed: Iterable[str]) -> None:
        self.app = app
        self.allowed = {name.strip("[]").lower() for name in allowed}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = _secured(message.get("headers", []))
            await send(message)

        host = Request(scope).headers.get("host", "")
        if host_name(host) not in self.allowed:
            await PlainTextResponse("Bad Host header", status_code=400)(
                scope, receive, with_headers
            )
            return
        await self.app(scope, receive, with_headers)


def _secured(headers: list[tuple[bytes, bytes]]) -> list[tuple[bytes, bytes]]:
    """A response's headers with those every answer needs. A page may set its own policy and
    framing (the studio's message frame, framed by the studio); no other site may frame any:
    a policy without `frame-ancestors` gets `'none'`."""
    present = {name.lower() for name, _ in headers}
    secured = [
        (name, value + b"; frame-ancestors 'none'")
        if name.lower() == b"content-security-policy" and b"frame-ancestors" not in value
        else (name, value)
        for name, value in headers
    ]
    for name, value in (
        (b"x-content-type-options", b"nosniff"),
        # Signed links sit in the path: no other site may see them in a Referer.
        # ("no-referrer" would also make browsers send "Origin: null" on our own
        # forms, which the Origin check must refuse.)
        (b"referrer-policy", b"same-origin"),
        (b"content-security-policy", PAGE_POLICY.encode()),
        # For browsers that predate frame-ancestors.
        (b"x-frame-options", b"DENY"),
    ):
        if name not in present:
            secured.append((name, value))
    return secured


def same_origin(request: Request, extra: Iterable[str] = ()) -> bool:
    """Whether a state-changing request comes from one of our own pages: its Origin (or, when
    a client sends none, its Referer) names this host or one of `extra`. A request with
    neither, as sent by scripts and mail clients, passes; the CSRF token still guards it."""
    source = request.headers.get("origin") or request.headers.get("referer")
    if source is None:
        return True
    if source == "null":
        return False
    expected = {request.headers.get("host", "").lower(), *(e.lower() for e in extra)}
    return urlsplit(source).netloc.lower() in expected


class StudioSessions:
    """Signed session cookies and the CSRF token bound to each session.

    The key lives as long as the process, so a restart logs everyone out. With a `token`,
    a session is only issued for the right token; without one (loopback), to anyone who
    passes the Host check.
    """

    def __init__(self, token: str | None) -> None:
        self._key = secrets.token_bytes(32)
        self.token = token

    def _mac(self, purpose: str, nonce: str) -> str:
        return hmac.new(self._key, f"{purpose}:{nonce}".encode(), hashlib.sha256).hexdigest()

    def issue(self) -> str:
        nonce = secrets.token_urlsafe(18)
        return f"{nonce}.{self._mac('session', nonce)}"

    def nonce(self, request: Request) -> str | None:
        """The session of a request with a genuine cookie, else None."""
        nonce, _, mac = request.cookies.get(SESSION_COOKIE, "").partition(".")
        if nonce and _equal(self._mac("session", nonce), mac):
            return nonce
        return None

    def csrf_token(self, nonce: str) -> str:
        return self._mac("csrf", nonce)

    def csrf_ok(self, nonce: str, sent: object) -> bool:
        return isinstance(sent, str) and _equal(self.csrf_token(nonce), sent)

    def token_ok(self, sent: object) -> bool:
        return self.token is not None and isinstance(sent, str) and _equal(self.token, sent)


def _equal(expected: str, sent: str) -> bool:
    """A comparison in constant time that any text may be given: `hmac.compare_digest` raises
    on a str with other than ASCII in it, as a forged cookie or form field may have."""
    return hmac.compare_digest(expected.encode(), sent.encode())


class ClientRateLimit:
    """At most `limit` events per `window` seconds for each key (a client address)."""

    def __init__(self, limit: int, window: float) -> None:
        self.limit, self.window = limit, window
        self._seen: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    def allow(self, key: str) -> bool:
        now = time.monotonic()
        with self._lock:
            seen = self._seen.setdefault(key, deque())
            while seen and seen[0] <= now - self.window:
                seen.popleft()
            if len(seen) >= self.limit:
                return False
            seen.append(now)
            # Forget idle clients so the table cannot grow without bound.
            if len(self._seen) > 10_000:
                self._seen = {
                    k: v for k, v in self._seen.items() if v and v[-1] > now - self.window
                }
            return True
