"""Plain-text helpers shared by the editorial engine and the ingest parsers."""

import re

_SENTENCE_END = re.compile(r"[.!?…][\"'”’)\]]?(?=\s|$)")
_SPACES = re.compile(r"[ \t\f\v\u00a0\u2000-\u200b\u202f\u205f\u3000]+")


def squash_spaces(text: str) -> str:
    """Collapse runs of horizontal white space (including exotic Unicode spaces) to one space."""
    return _SPACES.sub(" ", text).strip()


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
    cut = window[:limit].rsplit(" ", 1)[0].rstrip(" ,;:-–—")
    return cut + "…"
