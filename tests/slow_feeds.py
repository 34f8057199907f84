"""A real loopback HTTP server of feeds, some served as slow or hostile hosts serve them.

`/news.rss` is a feed with one item published a minute ago, whole and at once. `/trickle` is
the same feed a byte every `interval` seconds (it ends, slowly: over a minute at 0.2 s), and
`/trickled-headers` likewise from the status line on; `/silent` sends the headers, then
nothing; `/endless` the headers and the feed's opening, then a space every `interval` for as
long as the server runs. `silence` makes any path answer as `/silent` does. No single read
waits long, so only a deadline on the whole fetch cuts them.
"""

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


def rss(title: str, headline: str, link: str) -> bytes:
    published = format_datetime(datetime.now(UTC) - timedelta(minutes=1))
    return (
        f'<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel>'
        f"<title>{title}</title><link>https://example.com/</link><item>"
        f"<title>{headline}</title><link>{link}</link><pubDate>{published}</pubDate>"
        f"<description>Officials in Kyiv said the talks would resume.</description>"
        f"</item></channel></rss>"
    ).encode()


class _Handler(BaseHTTPRequestHandler):
    server: "_Server"
    protocol_version = "HTTP/1.1"

    def log_message(self, *args: object) -> None:
        pass

    def _feed(self) -> bytes:
        name = self.path.strip("/").split(".")[0]
        return rss(f"Loopback {name}", f"Talks on Kyiv resume, says {name}", self.link())

    def link(self) -> str:
        return f"https://example.com/{self.path.strip('/')}/story"

    def _head(self, length: int | None) -> bytes:
        lines = ["HTTP/1.1 200 OK", "Content-Type: application/rss+xml"]
        lines.append(f"Content-Length: {length}" if length is not None else "Connection: close")
        return ("\r\n".join(lines) + "\r\n\r\n").encode()

    def _trickle(self, data: bytes) -> None:
        for n in range(len(data)):
            if self.server.closing.wait(self.server.interval):
                return
            self.wfile.write(data[n : n + 1])

    def do_GET(self) -> None:
        self.server.requested.append(self.path)
        feed = self._feed()
        try:
            if self.path == "/trickle":
                self.wfile.write(self._head(len(feed)))
                self._trickle(feed)
            elif self.path == "/trickled-headers":
                self._trickle(self._head(len(feed)) + feed)
            elif self.path == "/silent" or self.path in self.server.silenced:
                self.wfile.write(self._head(len(feed)))
                self.server.closing.wait()
            elif self.path == "/endless":
                self.wfile.write(self._head(None) + feed[: feed.index(b"<item>")])
                while not self.server.closing.wait(self.server.interval):
                    self.wfile.write(b" ")
            else:
                self.wfile.write(self._head(len(feed)) + feed)
        except OSError:  # the client gave up
            return


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, interval: float) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.interval = interval
        self.closing = threading.Event()
        self.requested: list[str] = []
        self.silenced: set[str] = set()


class SlowFeeds:
    """The running server: addresses of its paths, and the paths asked for so far."""

    def __init__(self, server: _Server) -> None:
        self._server = server

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}{path}"

    def silence(self, *paths: str) -> None:
        """From now on these paths answer as `/silent` does (none: all answer as they should)."""
        self._server.silenced = set(paths)

    @property
    def requested(self) -> list[str]:
        return self._server.requested


@contextmanager
def slow_feeds(interval: float = 0.2) -> Iterator[SlowFeeds]:
    server = _Server(interval)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield SlowFeeds(server)
    finally:
        server.closing.set()
        server.shutdown()
        server.server_close()
