"""HTML from outside: bounded, sanitised with nh3, and reduced to readable plain text."""

import html as htmllib
from html.parser import HTMLParser

import nh3

from digest.core.text import clean_text, paragraphs
from digest.errors import IngestError

ALLOWED_TAGS = frozenset("a b blockquote br em h2 h3 h4 i li ol p strong ul".split())
ALLOWED_ATTRIBUTES = {"a": {"href", "title"}}
URL_SCHEMES = {"http", "https", "mailto"}
# Removed with everything inside: the content of these is code, or raw text that the HTML
# parser does not read as markup (a tracking <img> inside <noscript> would come out as text).
DROPPED_WITH_CONTENT = frozenset(
    "script style noscript iframe noembed noframes textarea xmp".split()
)
# Elements that never hold children, or that browsers close implicitly: they add no depth.
_FLAT_TAGS = frozenset(
    "area base br col embed hr img input link meta param"
    " source track wbr p li dt dd tr td th option".split()
)
_BLOCK_TAGS = frozenset(
    "p div br li ul ol h1 h2 h3 h4 h5"
    " h6 blockquote table tr section article figure figcaption header footer pre hr".split()
)


class _DepthProbe(HTMLParser):
    """Tracks open elements as a browser would: a stray end tag or a "/>" closes nothing."""

    def __init__(self, limit: int) -> None:
        super().__init__(convert_charrefs=False)
        self.limit = limit
        self.open: list[str] = []

    def handle_starttag(self, tag: str, attrs: object) -> None:
        if tag not in _FLAT_TAGS:
            self.open.append(tag)
            if len(self.open) > self.limit:
                raise IngestError(f"HTML nested deeper than {self.limit} levels")

    def handle_startendtag(self, tag: str, attrs: object) -> None:
        # HTML ignores "/>" on ordinary elements ("<div/>" stays open); SVG and MathML do not.
        self.handle_starttag(tag, attrs)
        if "svg" in self.open or "math" in self.open:
            self.handle_endtag(tag)

    def handle_endtag(self, tag: str) -> None:
        if tag in self.open:
            del self.open[len(self.open) - 1 - self.open[::-1].index(tag) :]


class _TextExtractor(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []

    def handle_starttag(self, tag: str, attrs: object) -> None:
        self.handle_endtag(tag)

    def handle_endtag(self, tag: str) -> None:
        if tag in _BLOCK_TAGS:
            self.parts.append("\n\n")

    def handle_data(self, data: str) -> None:
        self.parts.append(data.replace("\n", " "))


# Share of a fragment's text inside links from which it is a list of links.
_LINK_LIST = 0.6


class _LinkText(HTMLParser):
    """Counts the links of a fragment, its letters, and the letters inside links."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.depth = 0
        self.links = self.linked = self.total = 0

    def handle_starttag(self, tag: str, attrs: object) -> None:
        if tag == "a":
            self.depth += 1
            self.links += 1

    def handle_endtag(self, tag: str) -> None:
        if tag == "a" and self.depth:
            self.depth -= 1

    def handle_data(self, data: str) -> None:
        letters = sum(c.isalnum() for c in data)
        self.total += letters
        self.linked += letters if self.depth else 0


def is_link_list(safe_html: str) -> bool:
    """Whether a fragment is a list of links (most of its text in two links or more), such
    as an aggregator's coverage of a story, rather than prose that links somewhere."""
    counter = _LinkText()
    counter.feed(safe_html)
    counter.close()
    return counter.links >= 2 and counter.linked >= _LINK_LIST * counter.total > 0


def check_depth(markup: str, limit: int) -> None:
    """Refuse markup nested deeper than `limit`: the sanitiser slows sharply on such input."""
    probe = _DepthProbe(limit)
    probe.feed(markup)
    probe.close()


def sanitize_html(markup: str, max_depth: int) -> str:
    """Safe HTML: no scripts, styles, event handlers, images (tracking pixels) or odd URLs."""
    check_depth(markup, max_depth)
    return nh3.clean(
        clean_text(markup),
        tags=ALLOWED_TAGS,
        attributes=ALLOWED_ATTRIBUTES,
        url_schemes=URL_SCHEMES,
        clean_content_tags=DROPPED_WITH_CONTENT,
        link_rel="noopener noreferrer nofollow",
        strip_comments=True,
    ).strip()


# Markup may be this many times longer than the text cap before it is refused unread.
MARKUP_FACTOR = 4


def check_length(text: str, max_chars: int) -> None:
    if len(text) > max_chars:
        raise IngestError(f"text is {len(text):,} characters, over the cap of {max_chars:,}")


def bounded_html(markup: str, max_depth: int, max_chars: int) -> tuple[str, str]:
    """Sanitised HTML and its plain text, refusing markup or text beyond the caps."""
    if len(markup) > max_chars * MARKUP_FACTOR:
        cap = max_chars * MARKUP_FACTOR
        raise IngestError(f"HTML is {len(markup):,} characters, over the cap of {cap:,}")
    safe = sanitize_html(markup, max_depth)
    text = html_to_text(safe)
    check_length(text, max_chars)
    return safe, text


def html_to_text(safe_html: str) -> str:
    """Plain text with one blank line between blocks."""
    extractor = _TextExtractor()
    extractor.feed(safe_html)
    extractor.close()
    return "\n\n".join(paragraphs("".join(extractor.parts)))


def text_to_html(blocks: list[tuple[str, str]]) -> str:
    """Markup for plain-text blocks: ("h", text) becomes a heading, ("p", text) a paragraph."""
    tag = {"h": "h3", "p": "p"}
    return "\n".join(f"<{tag[kind]}>{htmllib.escape(text)}</{tag[kind]}>" for kind, text in blocks)
