"""Marks around article text in a rendered edition, so that what a template wrote can be told
from the words of the articles it printed.

Checks read only what the template wrote: an article may say `{{ config }}`, a bare web
address or a line reading `None`, and none of it is a leftover placeholder, a link or a missing
value. Nor is a slot marker in an article a slot. A headline, summary or outlet is printed
between two private-use code points, which no news text needs and which are taken out of
article text first, so an article can neither open nor close a mark. The HTML part carries them
as character references: MJML copies those as they are, while it writes private-use characters
in attributes as Rust escapes ("\\u{e000}"). Marks live only in the stored rendering; readers
get the text without them.
"""

import re
from dataclasses import dataclass, field

_OPEN, _CLOSE = "\ue000", "\ue001"


@dataclass(frozen=True, slots=True)
class Marks:
    """How one part (plain text, or HTML) writes the marks."""

    open: str
    close: str
    span: re.Pattern[str] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        pattern = f"{re.escape(self.open)}.*?{re.escape(self.close)}"
        object.__setattr__(self, "span", re.compile(pattern, re.DOTALL))

    def around(self, article_text: str) -> str:
        """`article_text` (already escaped, for HTML) between marks."""
        article_text = article_text.replace(_OPEN, "").replace(_CLOSE, "")
        return f"{self.open}{article_text}{self.close}"

    def unmarked(self, document: str) -> str:
        """The document as readers get it."""
        return document.replace(self.open, "").replace(self.close, "")

    def masked(self, document: str) -> str:
        """What the template wrote: each piece of article text becomes one space, so that
        neither a brace on each side nor a URL before it joins up with the template's text."""
        return self.span.sub(" ", document)


TEXT = Marks(_OPEN, _CLOSE)
HTML = Marks("&#xE000;", "&#xE001;")
