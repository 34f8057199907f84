"""Plain-text helpers shared by the ingest parsers, the editorial engine and rendering."""

import re
import unicodedata

_SENTENCE_END = re.compile(r"[.!?…][\"'”’)\]]?(?=\s|$)")
_SPACES = re.compile(r"[ \t\f\v\u00a0\u2000-\u200b\u202f\u205f\u3000]+")


def squash_spaces(text: str) -> str:
    """Collapse runs of horizontal white space (including exotic Unicode spaces) to one space."""
    return _SPACES.sub(" ", text).strip()


_CONTROL = re.compile(
    r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\u200e\u200f\u202a-\u202e\u2066-\u2069\ufeff]"
)
_LINE_BREAKS = re.compile(r"[\r\n\v\f\u0085\u2028\u2029]")


def clean_text(text: str) -> str:
    """Normalise Unicode and line ends; drop control, bidi-override and BOM characters."""
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    return _CONTROL.sub("", unicodedata.normalize("NFC", text))


def one_line(text: str) -> str:
    """Text fit for a headline or a header: no line breaks, no control characters."""
    return squash_spaces(clean_text(_LINE_BREAKS.sub(" ", text)))


# A headline's opening label: one or two words and a colon ("Ukraine war:", "Watch:", "Six
# Nations:"). It names the outlet's running topic or the piece's format, not the event, so on
# a day of one war it makes every headline alike. A quotation is not a label.
_LABEL = re.compile(r"[^\s:'‘’\"“”]+(?: [^\s:'‘’\"“”]+)?: +(?=\S)")


def without_label(headline: str) -> str:
    """`headline` without an opening label: "Ukraine war: Evacuations halted" gives
    "Evacuations halted". A speaker's name is dropped alike ("Powell: Debt is unsustainable"),
    which costs little, as the name stays among the headline's words."""
    label = _LABEL.match(headline)
    return headline[label.end() :] if label else headline


def paragraphs(text: str) -> list[str]:
    """Split text on blank lines into single-line paragraphs."""
    blocks = re.split(r"\n\s*\n", text.replace("\r\n", "\n").replace("\r", "\n"))
    return [p for p in (squash_spaces(b.replace("\n", " ")) for b in blocks) if p]


def summarize(text: str, limit: int = 320) -> str:
    """The opening of `text`, at most `limit` characters, cut at a sentence end if one is near.

    Falls back to a word boundary with an ellipsis, so a summary never ends mid-word.
    """
    flat = " ".join(paragraphs(text))
    if len(flat) <= limit:
        return flat
    window = flat[: limit + 1]
    ends = [m.end() for m in _SENTENCE_END.finditer(window) if m.end() <= limit]
    if ends and ends[-1] >= limit // 2:
        return window[: ends[-1]].strip()
    return _cut(window, limit)


def shorten(text: str, limit: int) -> str:
    """`text` if it fits in `limit` characters, else cut at a word boundary, with an ellipsis."""
    return text if len(text) <= limit else _cut(text, limit - 1)


def _cut(text: str, width: int) -> str:
    return text[:width].rsplit(" ", 1)[0].rstrip(" ,;:-–—") + "…"
