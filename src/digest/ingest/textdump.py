"""Plain-text article dumps: a saved news page with its chrome, headline, body and boilerplate.

The layout (see `samples/articles/`): a few chrome lines (temperature, place) and a date line,
then the headline, then paragraphs separated by blank lines. Cross-headings are kept as
headings; inline promos ("Also Read ...") and the site's trailing boilerplate are dropped.
"""

import re
from datetime import date, datetime, time
from zoneinfo import ZoneInfo

import dateparser

from digest.core.articles import ParsedArticle
from digest.core.text import clean_text, squash_spaces
from digest.errors import IngestError
from digest.ingest.sanitize import text_to_html

_MONTHS = (
    "jan(?:uary)?|feb(?:ruary)?|mar(?:ch)?|apr(?:il)?|may|june?|july?|aug(?:ust)?"
    "|sep(?:t(?:ember)?)?|oct(?:ober)?|nov(?:ember)?|dec(?:ember)?"
)
_DATE_LINE = re.compile(
    rf"^(?:(?:mon|tue|wed|thu|fri|sat|sun)[a-z]*,?\s+)?"
    rf"(?:(?:{_MONTHS})\.?\s+\d{{1,2}}(?:st|nd|rd|th)?,?\s+\d{{4}}"
    rf"|\d{{1,2}}(?:st|nd|rd|th)?\s+(?:{_MONTHS})\.?,?\s+\d{{4}}"
    rf"|\d{{4}}-\d{{2}}-\d{{2}})$",
    re.IGNORECASE,
)
# Lines a site weaves into the story to promote other pages.
_PROMO = re.compile(
    r"^(?:also read|read also|read more|related|see also|recommended|must read)\b", re.I
)
_BOILERPLATE = re.compile(
    r"latest (?:posts|news)|don'?t miss|stay in touch|special announcements|newsletter"
    r"|subscribe|follow us|all rights reserved|share this|related (?:posts|articles)",
    re.IGNORECASE,
)
_HEADING_MAX_WORDS = 12
_CHROME_LINES = 6


def _is_heading(paragraph: str) -> bool:
    """A short line that does not end like a sentence: a cross-heading or a menu label."""
    words = paragraph.split()
    return 0 < len(words) <= _HEADING_MAX_WORDS and not re.search(r"[.,;:!\"”'’)]$", paragraph)


def _is_trailing_boilerplate(paragraph: str) -> bool:
    return _is_heading(paragraph) or (len(paragraph) < 200 and bool(_BOILERPLATE.search(paragraph)))


def _date_line(lines: list[tuple[int, str]], origin: str) -> tuple[int, date]:
    """Index into `lines` and value of the date line among the first few lines."""
    for index, (_, line) in enumerate(lines[:_CHROME_LINES]):
        if _DATE_LINE.match(line):
            parsed = dateparser.parse(line, languages=["en"])
            if parsed is not None:
                return index, parsed.date()
    raise IngestError(
        f"{origin}: no date line (like 'Monday, June 24, 2024') in the first "
        f"{_CHROME_LINES} lines, so the publication date is unknown"
    )


def parse_text_dump(raw: str, origin: str, timezone: str, source_name: str) -> ParsedArticle:
    """Parse a text dump; a date without a time is taken as the start of that day in `timezone`."""
    text = clean_text(raw)
    numbered = [(n, squash_spaces(line)) for n, line in enumerate(text.split("\n"), start=1)]
    lines = [(n, line) for n, line in numbered if line]
    if not lines:
        raise IngestError(f"{origin}: file is empty")
    index, day = _date_line(lines, origin)
    if index + 1 >= len(lines):
        raise IngestError(
            f"{origin}: line {lines[index][0]}: date line is not followed by a headline"
        )
    title_line_no, title = lines[index + 1]
    body_start = title_line_no  # line numbers are 1-based, so this indexes the line after the title
    blocks = _blocks("\n".join(line for _, line in numbered[body_start:]))
    if not any(kind == "p" for kind, _ in blocks):
        raise IngestError(f"{origin}: line {title_line_no}: headline is not followed by any text")
    published = datetime.combine(day, time.min, ZoneInfo(timezone))
    return ParsedArticle(
        title=title,
        text="\n\n".join(body for _, body in blocks),
        html=text_to_html(blocks),
        original=raw,
        source_name=source_name,
        published_at=published.astimezone(ZoneInfo("UTC")),
    )


def _blocks(body: str) -> list[tuple[str, str]]:
    """The body as ("p" | "h", text) blocks, without promos and trailing boilerplate."""
    chunks = [squash_spaces(c.replace("\n", " ")) for c in re.split(r"\n\s*\n", body)]
    chunks = [c for c in chunks if c and not _PROMO.match(c)]
    while chunks and _is_trailing_boilerplate(chunks[-1]):
        chunks.pop()
    return [("h" if _is_heading(c) else "p", c) for c in chunks]
