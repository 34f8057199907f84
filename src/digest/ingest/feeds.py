"""RSS 2.0 and Atom feeds, through feedparser, with every entry's HTML sanitised."""

import calendar
import io
import re
from datetime import UTC, datetime
from html.entities import html5
from typing import Any
from xml.sax import SAXParseException

import dateparser
import feedparser
from feedparser.namespaces import mediarss

from digest.core.articles import MAX_ARTICLE_NAME, ParsedArticle
from digest.core.identity import safe_url
from digest.core.text import one_line, shorten, squash_spaces
from digest.errors import IngestError
from digest.ingest.model import Batch, Rejection
from digest.ingest.sanitize import bounded_html, html_to_text, is_link_list, sanitize_html


# feedparser files <media:description> (a photo caption on news feeds) as the item's summary
# or content, whichever is still free, so a caption replaces the teaser or the story
# (kurtmckee/feedparser#53). Kept under its own key instead, it stands in only for an item
# with no text of its own, such as a video feed's entry.
def _start_media_description(parser: Any, attrs: dict[str, str]) -> None:
    parser.push("media_description", 1)


def _end_media_description(parser: Any) -> None:
    parser.pop("media_description")


mediarss.Namespace._start_media_description = _start_media_description
mediarss.Namespace._end_media_description = _end_media_description

_READ_MORE = re.compile(r"^(?:continue reading|read more|read the full story)\W*$", re.IGNORECASE)
# A general entity declared in a DTD (a parameter entity's name starts with "%"), and a
# reference to one by its name (feedparser's fallback parser may drop the ";" in HTML).
_ENTITY_DECLARATION = re.compile(r"<!ENTITY\s+([^\s%\"'<>&;]+)\s")
_ENTITY_REFERENCE = re.compile(r"&([^\W\d][\w.:-]*)")


def parse_feed(data: bytes, origin: str, max_depth: int, max_chars: int) -> Batch:
    """Parse feed bytes, handed over as a stream: feedparser opens a str or bytes as a path."""
    parsed = feedparser.parse(io.BytesIO(data), sanitize_html=False, resolve_relative_uris=True)
    if parsed.get("bozo") and not parsed.entries:
        raise IngestError(f"{origin}: not a usable feed: {_describe(parsed.get('bozo_exception'))}")
    if not parsed.get("version") and not parsed.entries:
        raise IngestError(f"{origin}: not an RSS or Atom feed")
    source = shorten(one_line(parsed.feed.get("title", "")) or origin, MAX_ARTICLE_NAME)
    batch = Batch(origin=origin, kind="feed", title=source)
    language = str(parsed.feed.get("language", ""))
    declared = _declared_entities(data)
    for number, entry in enumerate(parsed.entries, start=1):
        where = f"{origin}: entry {number}"
        try:
            article = _entry(entry, source, language, max_depth, max_chars)
            _refuse_unexpanded(article, declared)
            batch.articles.append(article)
        except IngestError as exc:
            batch.rejected.append(Rejection(where, str(exc)))
    return batch


def _declared_entities(data: bytes) -> frozenset[str]:
    """The entities a feed's DTD declares, but for those HTML has. expat expands them within
    its limits; past those (a billion laughs: "&lol9;" stands for 10^9 "lol"s) the strict
    parse fails, and feedparser's fallback parser leaves their references in the text. NULs
    are dropped so that a UTF-16 feed's declarations read as ASCII too."""
    data = data.replace(b"\0", b"")
    if b"<!ENTITY" not in data:
        return frozenset()
    names = set(_ENTITY_DECLARATION.findall(data.decode("utf-8", "replace")))
    return frozenset(name for name in names if f"{name};" not in html5)


def _refuse_unexpanded(article: ParsedArticle, declared: frozenset[str]) -> None:
    """Refuse an entry a reference to one of the feed's own entities was left in: "Kyiv
    &lol9;" is not a headline to send. Text that only looks like a reference ("R&D;") names
    no declared entity, so it stays."""
    if not declared:
        return
    fields = {
        "title": article.title,
        "text": article.text,
        "summary": article.summary,
        "author": article.author or "",
        "source": article.source_name,
    }
    for field, value in fields.items():
        for name in _ENTITY_REFERENCE.findall(value):
            if name in declared:
                raise IngestError(f"{field} has the unexpanded entity reference &{name};")


def _describe(exc: Exception | None) -> str:
    if isinstance(exc, SAXParseException):
        return f"malformed XML at line {exc.getLineNumber()}: {exc.getMessage()}"
    return str(exc) or type(exc).__name__


_DATE_SETTINGS = {"RETURN_AS_TIMEZONE_AWARE": True, "TIMEZONE": "UTC"}


def _localised_date(raw: str, language: str) -> datetime | None:
    """A date in the feed's language, tried first: guessing among all languages is slow."""
    hint = [language[:2].lower()] if language[:2].isalpha() else None
    found = dateparser.parse(raw, languages=hint, settings=_DATE_SETTINGS) if hint else None
    return found or dateparser.parse(raw, settings=_DATE_SETTINGS)


def _published(entry: Any, language: str) -> datetime | None:
    """The entry's date; dates feedparser cannot read (e.g. 'Seg, 24 Set 2018') go to dateparser."""
    # Only ask for keys the entry has: feedparser warns when "updated" falls back to "published".
    for key in ("published_parsed", "updated_parsed"):
        if key in entry and (stamp := entry[key]):
            return datetime.fromtimestamp(calendar.timegm(stamp), UTC)
    for key in ("published", "updated"):
        if key in entry and entry[key] and (found := _localised_date(entry[key], language)):
            return found.astimezone(UTC)
    return None


def _body_html(entry: Any) -> str:
    contents = [c.get("value", "") for c in entry.get("content", []) if c.get("value")]
    if contents:
        return max(contents, key=len)
    return entry.get("summary", "") or entry.get("media_description", "")


def _without_read_more(text: str) -> str:
    return "\n\n".join(p for p in text.split("\n\n") if not _READ_MORE.match(p))


def _outlet(entry: Any, feed: str, title: str, max_depth: int) -> tuple[str, str]:
    """The outlet an aggregator's item comes from, named by its <source> (Google News, say),
    and the headline without the " - Outlet" such feeds append to it."""
    named = entry.get("source", {}).get("title", "")
    outlet = one_line(html_to_text(sanitize_html(named, max_depth)))
    if not outlet:
        return feed, title
    for separator in (" - ", " – ", " | "):
        suffix = separator + outlet
        if title.endswith(suffix) and len(title) > len(suffix):
            title = title[: -len(suffix)].rstrip()
            break
    return shorten(outlet, MAX_ARTICLE_NAME), title


def _own_words(safe: str, text: str, title: str, outlet: str) -> str:
    """A description's text, or nothing if it only lists links or repeats the headline (with
    the outlet's name, as aggregators do)."""
    text = _without_read_more(text)
    if is_link_list(safe) or squash_spaces(text.removesuffix(outlet)) == title:
        return ""
    return text


def _entry(entry: Any, source: str, language: str, max_depth: int, max_chars: int) -> ParsedArticle:
    title = one_line(html_to_text(sanitize_html(entry.get("title", ""), max_depth)))
    if not title:
        raise IngestError("entry has no title")
    source, title = _outlet(entry, source, title, max_depth)
    body = _body_html(entry)
    safe, text = bounded_html(body, max_depth, max_chars)
    text = _own_words(safe, text, title, source)
    if not text:
        safe = ""
    summary_html = entry.get("summary", "")
    summary = text
    if summary_html and summary_html != body:
        safe_summary = sanitize_html(summary_html, max_depth)
        summary = _own_words(safe_summary, html_to_text(safe_summary), title, source)
    return ParsedArticle(
        title=title,
        text=text,
        html=safe,
        original=body,
        source_name=source,
        url=safe_url(entry.get("link")),
        guid=one_line(entry.get("id", "")) or None,
        author=one_line(entry.get("author", "")) or None,
        summary=summary,
        published_at=_published(entry, language),
    )
