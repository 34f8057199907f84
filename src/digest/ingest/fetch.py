"""Reading inputs with hard limits: a size cap for files and URLs; for URLs a timeout on each
step, a deadline on the whole fetch and a redirect cap.

A host can trickle its reply a byte at a time, each byte well within the timeout, for ever;
and a blocked read waits out the timeout whatever happens meanwhile. So the GET runs in a
thread of its own while the caller watches the clock and the stop flag, and at the deadline
or on a stop the caller cuts the connection (a read blocked on it returns at once) and goes
on without waiting for the thread.
"""

import contextlib
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

import httpx

from digest.core.articles import MAX_ETAG, MAX_HTTP_DATE
from digest.errors import IngestError, StoppedError

StopFlag = Callable[[], bool]

# How often the caller looks at the clock and the stop flag while a fetch is under way.
_WATCH_SECONDS = 0.1


def never() -> bool:
    return False


@dataclass(frozen=True, slots=True)
class Deadline:
    """When fetching must be over (on the `time.monotonic()` clock), and what to call that
    moment in the error of a fetch it cuts ("its 60 s deadline")."""

    at: float
    name: str

    @classmethod
    def after(cls, seconds: float, name: str) -> "Deadline":
        return cls(time.monotonic() + seconds, name)

    def passed(self) -> bool:
        return time.monotonic() >= self.at


@dataclass(frozen=True, slots=True)
class Fetched:
    data: bytes
    content_type: str
    location: str
    # HTTP validators for the next conditional GET, and whether this answer was "304".
    etag: str | None = None
    last_modified: str | None = None
    not_modified: bool = False


def _kept(validator: str | None, limit: int) -> str | None:
    return validator if validator and len(validator) <= limit else None


def read_file(path: Path, max_bytes: int) -> Fetched:
    try:
        size = path.stat().st_size
        if size > max_bytes:
            raise IngestError(f"{path}: {size:,} bytes, over the cap of {max_bytes:,}")
        return Fetched(path.read_bytes(), "", str(path))
    except OSError as exc:
        raise IngestError(f"{path}: cannot read: {exc.strerror}") from None


class _Wire:
    """The connections of one fetch (a redirect opens more), kept so that another thread can
    cut them, and how far the reply has come."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._sockets: list[socket.socket] = []
        self._cut = False
        self.body_bytes: int | None = None  # None until the reply's headers are in

    def trace(self, event: str, info: dict[str, Any]) -> None:
        """httpcore's `trace` extension: the stream of each new connection, once connected
        and again once TLS has taken the socket over."""
        if event not in ("connection.connect_tcp.complete", "connection.start_tls.complete"):
            return
        sock = info["return_value"].get_extra_info("socket")
        with self._lock:
            self._sockets.append(sock)
            if self._cut:  # connected just as the fetch was given up
                _shut(sock)

    def cut(self) -> None:
        with self._lock:
            self._cut = True
            for sock in self._sockets:
                _shut(sock)

    def progress(self) -> str:
        if self.body_bytes is None:
            return "before the headers of the reply were in"
        return f"{self.body_bytes:,} bytes of the body in"


def _shut(sock: socket.socket) -> None:
    # Closed already, or a plain socket that TLS has taken over: nothing to cut.
    with contextlib.suppress(OSError):
        # The plain socket's shutdown even on a TLS socket: `SSLSocket.shutdown` drops the TLS
        # state under the thread that may be reading from it.
        socket.socket.shutdown(sock, socket.SHUT_RDWR)


class _Fetch(threading.Thread):
    """A GET in a thread of its own. A daemon thread: one given up on never holds the
    process at its exit."""

    def __init__(self, url: str, get: Callable[[], Fetched]) -> None:
        super().__init__(name=f"fetch {url}", daemon=True)
        self._get = get
        self.fetched: Fetched | None = None
        self.error: Exception | None = None

    def run(self) -> None:
        try:
            self.fetched = self._get()
        except Exception as exc:  # raised again in the thread waiting for it
            self.error = exc


def fetch_url(
    url: str,
    *,
    timeout: float,
    deadline: float,
    max_bytes: int,
    max_redirects: int,
    user_agent: str,
    etag: str | None = None,
    last_modified: str | None = None,
    until: Deadline | None = None,
    should_stop: StopFlag = never,
) -> Fetched:
    """GET `url`, refusing bodies over `max_bytes` while they stream in. Each step waits at
    most `timeout` seconds and the whole fetch `deadline` seconds, or until `until` if that
    comes first; a fetch still under way then is cut and fails. When `should_stop` turns true
    the fetch is abandoned within a fraction of a second (`StoppedError`). With the validators
    of the last fetch it asks conditionally, and an unchanged feed costs one 304."""
    if should_stop():
        raise StoppedError(f"{url}: stopped on request")
    if until is not None and until.passed():
        raise IngestError(f"{url}: not fetched before {until.name}")
    end = Deadline.after(deadline, f"its {deadline:g} s deadline")
    if until is not None and until.at < end.at:
        end = until
    wire = _Wire()
    get = partial(
        _get, url, wire, timeout, max_bytes, max_redirects, user_agent, etag, last_modified
    )
    fetch = _Fetch(url, get)
    fetch.start()
    while fetch.is_alive():
        if should_stop():
            wire.cut()
            raise StoppedError(f"{url}: stopped on request")
        if end.passed():
            wire.cut()
            raise IngestError(f"{url}: cut at {end.name}, {wire.progress()}")
        fetch.join(_WATCH_SECONDS)
    if fetch.error is not None:
        raise fetch.error
    assert fetch.fetched is not None
    return fetch.fetched


def _get(
    url: str,
    wire: _Wire,
    timeout: float,
    max_bytes: int,
    max_redirects: int,
    user_agent: str,
    etag: str | None,
    last_modified: str | None,
) -> Fetched:
    headers = {
        "User-Agent": user_agent,
        "Accept": "application/rss+xml, application/atom+xml, "
        "application/xml;q=0.9, application/json;q=0.9, */*;q=0.5",
    }
    if etag:
        headers["If-None-Match"] = etag
    if last_modified:
        headers["If-Modified-Since"] = last_modified
    try:
        with (
            httpx.Client(
                timeout=timeout, follow_redirects=True, max_redirects=max_redirects, headers=headers
            ) as client,
            client.stream("GET", url, extensions={"trace": wire.trace}) as response,
        ):
            wire.body_bytes = 0
            # A validator too long to keep is dropped: the next fetch is then a full one.
            validators = (
                _kept(response.headers.get("etag"), MAX_ETAG),
                _kept(response.headers.get("last-modified"), MAX_HTTP_DATE),
            )
            if response.status_code == 304:
                return Fetched(
                    b"",
                    "",
                    str(response.url),
                    etag or validators[0],
                    last_modified or validators[1],
                    not_modified=True,
                )
            if response.status_code >= 400:
                raise IngestError(f"{url}: server answered HTTP {response.status_code}")
            declared = int(response.headers.get("content-length") or 0)
            if declared > max_bytes:
                raise IngestError(f"{url}: {declared:,} bytes, over the cap of {max_bytes:,}")
            chunks, total = [], 0
            for chunk in response.iter_bytes():
                total += len(chunk)
                wire.body_bytes = total
                if total > max_bytes:
                    raise IngestError(f"{url}: more than the cap of {max_bytes:,} bytes")
                chunks.append(chunk)
            content_type = response.headers.get("content-type", "").split(";")[0].strip().lower()
            return Fetched(b"".join(chunks), content_type, str(response.url), *validators)
    except httpx.TooManyRedirects:
        raise IngestError(f"{url}: more than {max_redirects} redirects") from None
    except httpx.TimeoutException:
        raise IngestError(f"{url}: no answer within {timeout:g} seconds") from None
    except httpx.HTTPError as exc:
        raise IngestError(f"{url}: {exc}") from None
