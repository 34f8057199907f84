"""Feeds fetched over HTTP from a real local server: content, and the limits on hostile hosts."""

import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from conftest import DATA, digest, wait_for
from digest.cli import cli
from digest.config import IngestSettings
from digest.errors import IngestError
from digest.ingest.fetch import Deadline
from digest.ingest.inputs import IngestOptions, load
from slow_feeds import SlowFeeds, slow_feeds
from test_delivery import STORY

NYT = (DATA / "feeds" / "nyt_world_2024-08-08.xml").read_bytes()


class _Handler(BaseHTTPRequestHandler):
    def log_message(self, *args: object) -> None:
        pass

    def _reply(self, status: int, body: bytes, content_type: str, **headers: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for name, value in headers.items():
            self.send_header(name.replace("_", "-"), value)
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self) -> None:
        if self.path == "/feed":
            self._reply(200, NYT, "application/rss+xml; charset=utf-8")
        elif self.path == "/etag":
            if self.headers.get("If-None-Match") == '"v1"':
                self.send_response(304)
                self.end_headers()
            else:
                self._reply(200, NYT, "application/rss+xml", ETag='"v1"')
        elif self.path == "/huge-validators":
            long = {"ETag": '"' + "v" * 600 + '"', "Last_Modified": "Thu, " + "x" * 150}
            self._reply(200, NYT, "application/rss+xml", **long)
        elif self.path == "/moved":
            self._reply(301, b"", "text/plain", Location="/feed")
        elif self.path == "/loop":
            self._reply(302, b"", "text/plain", Location="/loop")
        elif self.path == "/big":
            self._reply(200, b"<rss>" + b" " * 3_000_000, "application/rss+xml")
        elif self.path == "/slow":
            time.sleep(2)
            self._reply(200, NYT, "application/rss+xml")
        elif self.path == "/page":
            self._reply(200, b"<html><body>hi</body></html>", "text/html")
        else:
            self._reply(404, b"not here", "text/plain")


@pytest.fixture(scope="module")
def server() -> Iterator[str]:
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()


OPTIONS = IngestOptions(IngestSettings(timeout=0.5, max_bytes=1_000_000, max_redirects=3), "UTC")


def test_a_feed_url_is_fetched_and_parsed(server: str) -> None:
    batch = load(f"{server}/moved", OPTIONS)
    assert batch.title == "NYT > World News"
    assert len(batch.articles) == NYT.count(b"<item>")


@pytest.mark.parametrize(
    ("path", "message"),
    [
        ("/loop", "more than 3 redirects"),
        ("/big", "over the cap of 1,000,000"),
        ("/slow", "no answer within 0.5 seconds"),
        ("/missing", "server answered HTTP 404"),
        ("/page", "an HTML page, not a feed"),
    ],
)
def test_hostile_or_broken_hosts_are_refused_with_a_reason(
    server: str, path: str, message: str
) -> None:
    with pytest.raises(IngestError, match=message):
        load(f"{server}{path}", OPTIONS)


def test_cli_ingests_urls_and_files_together(server: str, tmp_path: Path) -> None:
    runner = CliRunner()
    runner.invoke(cli, ["db", "upgrade"])
    result = runner.invoke(
        cli,
        [
            "ingest",
            f"{server}/feed",
            f"{server}/missing",
            str(DATA / "feeds" / "heise_developer_2016-02-01.atom"),
        ],
    )
    assert result.exit_code == 1
    assert "Total: 75 new" in result.output
    assert "1 of 3 inputs failed" in result.output


def test_a_feed_is_fetched_conditionally_the_second_time(server: str, tmp_path: Path) -> None:
    runner = CliRunner()
    runner.invoke(cli, ["db", "upgrade"])
    first = runner.invoke(cli, ["ingest", f"{server}/etag"])
    assert "60 new" in first.output
    second = runner.invoke(cli, ["ingest", f"{server}/etag"])
    assert second.exit_code == 0
    assert "not modified since the last fetch" in second.output
    assert "Total: 0 new" in second.output


@pytest.mark.usefixtures("store_backend")
def test_validators_too_long_to_keep_do_not_fail_the_fetch(server: str) -> None:
    runner = CliRunner()
    runner.invoke(cli, ["db", "upgrade"])
    for expected in ("60 new", "60 unchanged"):  # fetched in full both times
        result = runner.invoke(cli, ["ingest", f"{server}/huge-validators"])
        assert result.exit_code == 0, result.output
        assert expected in result.output


@pytest.fixture
def slow() -> Iterator[SlowFeeds]:
    with slow_feeds(interval=0.05) as feeds:
        yield feeds


def _feeds(result: Result) -> dict[str, dict[str, Any]]:
    return {f["source"]: f for f in json.loads(result.output)["feeds"]}


@pytest.mark.usefixtures("store_backend")
def test_a_feed_that_fails_keeps_its_name_and_when_it_last_worked(
    slow: SlowFeeds, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DIGEST_INGEST__TIMEOUT", "0.5")
    assert digest("db", "upgrade").exit_code == 0
    url = slow.url("/news.rss")
    assert digest("ingest", url).exit_code == 0
    (worked,) = _feeds(digest("status", "--json")).values()
    slow.silence("/news.rss")
    assert digest("ingest", url).exit_code == 1
    (failed,) = _feeds(digest("status", "--json")).values()
    assert failed["title"] == "Loopback news"
    assert failed["last_fetched_at"] == worked["last_fetched_at"]
    assert failed["failed_at"] > worked["last_fetched_at"]
    assert failed["last_error"] == f"{url}: no answer within 0.5 seconds"
    shown = digest("status").output
    assert (
        f"feed Loopback news: last fetched {worked['last_fetched_at']}, "
        f"failed {failed['failed_at']}: {url}: no answer within 0.5 seconds"
    ) in shown
    slow.silence()
    assert digest("ingest", url).exit_code == 0
    (recovered,) = _feeds(digest("status", "--json")).values()
    assert recovered["failed_at"] is None and recovered["last_error"] is None


# Slow and hostile hosts: no single read waits long, so only a deadline on the whole fetch,
# connect to last byte, cuts them; the other inputs of the run go in regardless.


@pytest.mark.parametrize(
    ("path", "progress"),
    [
        ("/trickle", "bytes of the body in"),
        ("/trickled-headers", "before the headers of the reply were in"),
        ("/silent", "0 bytes of the body in"),
    ],
)
def test_a_fetch_that_takes_too_long_in_all_is_cut_at_its_deadline(
    slow: SlowFeeds, path: str, progress: str
) -> None:
    limits = IngestSettings(timeout=10, deadline=1)
    url = slow.url(path)
    with pytest.raises(
        IngestError, match=f"^{re.escape(url)}: cut at its 1 s deadline, .*{progress}$"
    ):
        load(url, IngestOptions(limits, "UTC"))


@pytest.mark.usefixtures("store_backend")
def test_a_trickling_feed_fails_and_the_other_inputs_go_in(
    slow: SlowFeeds, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DIGEST_INGEST__DEADLINE", "1")
    assert digest("db", "upgrade").exit_code == 0
    feed = DATA / "feeds" / "heise_developer_2016-02-01.atom"
    result = digest("ingest", slow.url("/trickle"), slow.url("/news.rss"), str(feed))
    assert result.exit_code == 1
    assert f"failed  {slow.url('/trickle')}: cut at its 1 s deadline" in result.stderr
    assert "Total: 16 new" in result.output
    assert "1 of 3 inputs failed" in result.output
    feeds = _feeds(digest("status", "--json"))
    trickling, fine = feeds[slow.url("/trickle")], feeds[slow.url("/news.rss")]
    assert trickling["failed_at"] is not None and trickling["last_fetched_at"] is None
    assert trickling["last_error"].startswith(f"{slow.url('/trickle')}: cut at its 1 s deadline")
    assert fine["failed_at"] is None and fine["last_error"] is None
    shown = digest("status").output
    assert f"feed {slow.url('/trickle')}: last fetched never, failed 20" in shown
    assert "feed Loopback news: last fetched 20" in shown


def _digest_process(cwd: Path, *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "digest", *args],
        cwd=cwd,
        env={**os.environ},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _stopped_mid_fetch(
    process: subprocess.Popen[str], slow: SlowFeeds, signum: int
) -> tuple[str, str]:
    """Signal the process once its fetch of `/endless` is under way; what it printed."""
    try:
        wait_for(lambda: "/endless" in slow.requested)
        process.send_signal(signum)
        return process.communicate(timeout=10)  # the fetch alone would take a minute
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_a_signal_stops_ingest_mid_fetch_cleanly(
    slow: SlowFeeds, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, signum: int
) -> None:
    # No headline model: loading it for the file's articles would take longer than the test.
    monkeypatch.setenv("DIGEST_CLUSTERING__MODEL", "")
    assert digest("db", "upgrade").exit_code == 0
    feed = DATA / "feeds" / "heise_developer_2016-02-01.atom"
    process = _digest_process(tmp_path, "ingest", str(feed), slow.url("/endless"))
    output, errors = _stopped_mid_fetch(process, slow, signum)
    assert process.returncode == 1, errors
    assert "Traceback" not in errors
    assert f"stopped {slow.url('/endless')}: not read" in errors
    assert "Total: 15 new" in output
    assert "Stopped on request before every input was read." in output
    # Not the feed's fault: it is not recorded as failing.
    assert list(_feeds(digest("status", "--json"))) == [str(feed)]


def test_a_fetch_is_not_started_once_the_time_for_it_has_run_out(slow: SlowFeeds) -> None:
    options = IngestOptions(IngestSettings(), "UTC", until=Deadline(0, "the end of the budget"))
    with pytest.raises(IngestError, match=r"/news.rss: not fetched before the end of the budget$"):
        load(slow.url("/news.rss"), options)
    assert slow.requested == []


@pytest.mark.usefixtures("store_backend")
def test_send_builds_from_what_is_stored_once_the_refresh_runs_out_of_time(
    slow: SlowFeeds, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """The feeds listed first trickle: the refresh gives up on them at its budget, the feed
    listed after them was fetched alongside, and the edition goes out."""
    feeds = [slow.url("/trickle"), slow.url("/trickled-headers"), slow.url("/news.rss")]
    monkeypatch.setenv("DIGEST_FEEDS__SOURCES", json.dumps(feeds))
    monkeypatch.setenv("DIGEST_FEEDS__REFRESH_BUDGET", "1")
    (tmp_path / "story.jsonl").write_text(json.dumps(STORY) + "\n")
    assert digest("db", "upgrade").exit_code == 0
    assert digest("ingest", str(tmp_path / "story.jsonl")).exit_code == 0
    assert digest("subscribers", "add", "reader@example.com").exit_code == 0
    result = digest("send", "--date", "2024-06-24")
    assert result.exit_code == 0, result.output
    assert "Feeds refreshed: 1 new articles, 2 failed." in result.output
    assert "this run: 1 sent" in result.output
    status = _feeds(digest("status", "--json"))
    for url in feeds[:2]:
        assert status[url]["last_error"].startswith(
            f"{url}: cut at the end of the 1 s refresh budget, "
        )
    assert status[feeds[2]]["failed_at"] is None


def test_a_signal_stops_send_during_the_feed_refresh(
    slow: SlowFeeds, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DIGEST_FEEDS__SOURCES", json.dumps([slow.url("/endless")]))
    (tmp_path / "story.jsonl").write_text(json.dumps(STORY) + "\n")
    assert digest("db", "upgrade").exit_code == 0
    assert digest("ingest", str(tmp_path / "story.jsonl")).exit_code == 0
    assert digest("subscribers", "add", "reader@example.com").exit_code == 0
    process = _digest_process(tmp_path, "send", "--date", "2024-06-24")
    output, errors = _stopped_mid_fetch(process, slow, signal.SIGTERM)
    assert process.returncode == 0, errors
    assert "Stopped on request; the rest is left for the next 'digest send'." in output
    assert json.loads(digest("status", "--json").output)["editions"] == []
