"""From what the user names (files, folders, URLs) to parsed batches, one input at a time."""

from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path

from chardet import detect
from chardet.enums import EncodingEra

from digest.config import IngestSettings
from digest.errors import IngestError
from digest.ingest.feeds import parse_feed
from digest.ingest.fetch import Deadline, Fetched, StopFlag, fetch_url, never, read_file
from digest.ingest.jsonl import parse_json
from digest.ingest.model import Batch
from digest.ingest.sanitize import check_length
from digest.ingest.textdump import parse_text_dump

_SUFFIXES = {
    ".txt": "text",
    ".json": "json",
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
    ".xml": "feed",
    ".rss": "feed",
    ".atom": "feed",
    ".rdf": "feed",
}
# The encodings news is written in: UTF-8 and the web's Windows and ISO code pages, Western
# (windows-1252) and the others (1250, 1251, KOI8, the CJK ones). DOS, Mac and mainframe code
# pages are left out: a Latin-1 page read as one of them fits the bytes as well and turns
# "café" into "cafķ" (Baltic DOS).
_NEWS_ENCODINGS = EncodingEra.MODERN_WEB | EncodingEra.LEGACY_ISO


@dataclass(frozen=True, slots=True)
class IngestOptions:
    limits: IngestSettings
    timezone: str
    # Outlet name for every article of the input (feeds name their own; text dumps do not).
    source_name: str | None = None
    # For URLs: when all fetching must be over (a refresh's budget), besides each fetch's own
    # deadline; and the flag a stop asked for by a signal sets, which abandons a fetch.
    until: Deadline | None = None
    should_stop: StopFlag = never


def expand(specs: list[str]) -> Iterator[str]:
    """Each URL or file as given; a folder becomes the article files inside it, sorted."""
    for spec in specs:
        path = Path(spec)
        if not is_url(spec) and path.is_dir():
            found = sorted(p for p in path.rglob("*") if p.suffix.lower() in _SUFFIXES)
            yield from (str(p) for p in found if p.is_file())
        else:
            yield spec


def is_url(spec: str) -> bool:
    return spec.lower().startswith(("http://", "https://"))


def decode(data: bytes, origin: str) -> str:
    """Text from bytes: UTF-8 (with or without BOM) when valid, else the detected encoding.
    A page labelled Latin-1 is read as windows-1252, as browsers do (curly quotes, euro)."""
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        pass
    found = detect(data, encoding_era=_NEWS_ENCODINGS, max_bytes=len(data), prefer_superset=True)
    if found["encoding"] is not None:  # None: binary, such as an image
        try:
            return data.decode(found["encoding"])
        except UnicodeDecodeError:  # a BOM, say, in front of what is not that encoding
            pass
    raise IngestError(f"{origin}: not text in any known encoding")


def _kind(spec: str, fetched: Fetched) -> str:
    if "json" in fetched.content_type:
        return "jsonl" if fetched.content_type.endswith(("jsonl", "ndjson")) else "json"
    if "xml" in fetched.content_type or "rss" in fetched.content_type:
        return "feed"
    if fetched.content_type == "text/html":
        raise IngestError(f"{spec}: an HTML page, not a feed: give the site's RSS or Atom URL")
    suffix = Path(spec.split("?")[0]).suffix.lower()
    if suffix in _SUFFIXES:
        return _SUFFIXES[suffix]
    head = fetched.data.lstrip()[:1]
    return {b"<": "feed", b"{": "jsonl", b"[": "json"}.get(head, "text")


def load(
    spec: str, options: IngestOptions, validators: tuple[str | None, str | None] = (None, None)
) -> Batch:
    """Read and parse one input; raises `IngestError` if nothing usable can come of it, and
    `StoppedError` if a stop was asked for while it was fetched. `validators` (ETag,
    Last-Modified) from the last fetch of a URL make the GET conditional."""
    limits = options.limits
    if is_url(spec):
        fetched = fetch_url(
            spec,
            timeout=limits.timeout,
            deadline=limits.deadline,
            max_bytes=limits.max_bytes,
            max_redirects=limits.max_redirects,
            user_agent=limits.user_agent,
            etag=validators[0],
            last_modified=validators[1],
            until=options.until,
            should_stop=options.should_stop,
        )
        if fetched.not_modified:
            return Batch(
                spec,
                "feed",
                "",
                etag=fetched.etag,
                last_modified=fetched.last_modified,
                not_modified=True,
            )
    else:
        fetched = read_file(Path(spec), limits.max_bytes)
    batch = _parse(spec, fetched, options)
    batch.etag, batch.last_modified = fetched.etag, fetched.last_modified
    return batch


def _parse(spec: str, fetched: Fetched, options: IngestOptions) -> Batch:
    limits = options.limits
    kind = _kind(spec, fetched)
    if kind == "feed":
        batch = parse_feed(fetched.data, spec, limits.max_html_depth, limits.max_article_chars)
        if options.source_name:
            batch.articles = [replace(a, source_name=options.source_name) for a in batch.articles]
        return batch
    text = decode(fetched.data, spec)
    if kind in ("json", "jsonl"):
        return parse_json(
            text,
            spec,
            lines=kind == "jsonl",
            timezone=options.timezone,
            max_depth=limits.max_html_depth,
            max_chars=limits.max_article_chars,
        )
    article = parse_text_dump(text, spec, options.timezone, options.source_name or Path(spec).name)
    try:
        check_length(article.text, limits.max_article_chars)
    except IngestError as exc:
        raise IngestError(f"{spec}: {exc}") from None
    return Batch(origin=spec, kind="text", title=article.source_name, articles=[article])
