"""The pre-send gate: checks a finished message must pass before anyone receives it.

The checks for leftovers, links and agreeing parts read what the template wrote: given the
parts as rendered, with article text between marks (`digest.core.marks`), an article's own
words (braces, a bare web address, a line reading None) are data, shown as written.
"""

import re
from dataclasses import dataclass
from email import message_from_bytes, policy
from email.message import EmailMessage
from html.parser import HTMLParser

from digest.core import marks

REQUIRED_HEADERS = (
    "From",
    "To",
    "Subject",
    "Date",
    "Message-ID",
    "MIME-Version",
    "List-Unsubscribe",
    "List-Unsubscribe-Post",
)
# Leftovers of templating: slot markers, Jinja delimiters, Python's None, Jinja's Undefined.
_TEMPLATE_LEFTOVER = re.compile(r"\{\{\{digest:|\{\{|\}\}|\{%|%\}")
_NULL_WORD = re.compile(r"^\s*(?:None|Undefined)\s*$")
_TEXT_URL = re.compile(r"(?<![\w@])(?:https?|ftp|javascript|data|file)://\S+|(?<![\w@])www\.\S+")


@dataclass(frozen=True, slots=True)
class Finding:
    check: str
    passed: bool
    detail: str


class _Page(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.links: list[str] = []
        self.images_without_alt = 0
        self.null_values: list[str] = []
        self.texts: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = dict(attrs)
        if tag == "a" and values.get("href") is not None:
            self.links.append(values["href"] or "")
        if tag == "img" and not values.get("alt"):
            self.images_without_alt += 1
        self.null_values += [f'{tag} {k}="{v}"' for k, v in attrs if v and _NULL_WORD.match(v)]

    def handle_data(self, data: str) -> None:
        if _NULL_WORD.match(data):
            self.null_values.append(data.strip())
        self.texts.append(data)


def _parts(message: EmailMessage) -> tuple[str, str]:
    text, html = message.get_body(("plain",)), message.get_body(("html",))
    return (
        text.get_content() if text is not None else "",
        html.get_content() if html is not None else "",
    )


def check_message(
    raw: bytes, html_budget: int, marked: tuple[str, str] | None = None
) -> list[Finding]:
    """Every check, passed or not, with a sentence saying what was found. `marked` is the
    message's HTML and text as rendered, article text between marks; without it, every word
    of the message counts as the template's."""
    message = message_from_bytes(raw, policy=policy.default)
    assert isinstance(message, EmailMessage)
    sent_text, sent_html = _parts(message)
    html_size = len(sent_html.encode())
    if marked is None:
        marked = (sent_html, sent_text)
    elif (marks.HTML.unmarked(marked[0]), marks.TEXT.unmarked(marked[1])) != (
        # The parts travel with CRLF line ends (quoted-printable text); as rendered, with LF.
        sent_html.replace("\r\n", "\n"),
        sent_text.replace("\r\n", "\n"),
    ):
        raise ValueError("the marked parts given to the gate are not the message's")
    # Apart from the size, the checks read the template's words only.
    html, text = marks.HTML.masked(marked[0]), marks.TEXT.masked(marked[1])
    page = _Page()
    page.feed(html)
    page.close()
    missing = [h for h in REQUIRED_HEADERS if not message.get(h)]
    leftovers = sorted(
        {m.group(0) for part in (text, html) for m in _TEMPLATE_LEFTOVER.finditer(part)}
        | set(page.null_values)
        | {line.strip() for line in text.splitlines() if _NULL_WORD.match(line)}
    )
    bad_links = [
        href for href in page.links if not href.startswith(("https://", "http://", "mailto:", "#"))
    ]
    bad_links += [u for u in _TEXT_URL.findall(text) if not u.startswith(("https://", "http://"))]
    html_urls = {h for h in page.links if h.startswith(("https://", "http://"))}
    text_urls = {u.rstrip(".,;:)") for u in _TEXT_URL.findall(text) if u.startswith("http")}
    only_html, only_text = sorted(html_urls - text_urls), sorted(text_urls - html_urls)
    return [
        Finding(
            "size",
            html_size <= html_budget,
            f"HTML is {html_size / 1024:.1f} KB of a {html_budget / 1024:.0f} KB budget",
        ),
        Finding(
            "headers",
            not missing,
            f"missing {', '.join(missing)}" if missing else "all required headers present",
        ),
        Finding(
            "leftovers",
            not leftovers,
            f"left in the message: {', '.join(leftovers[:5])}"
            if leftovers
            else "no placeholder, None or Undefined left",
        ),
        Finding(
            "links",
            not bad_links,
            f"not absolute http(s): {', '.join(bad_links[:5])}"
            if bad_links
            else f"{len(page.links)} links, all absolute http(s), mailto or in-page",
        ),
        Finding(
            "images",
            page.images_without_alt == 0,
            f"{page.images_without_alt} image(s) without alt text"
            if page.images_without_alt
            else "every image has alt text",
        ),
        Finding(
            "parts agree",
            not only_html and not only_text,
            "text and HTML link the same stories"
            if not (only_html or only_text)
            else f"only in HTML: {only_html[:3]}; only in text: {only_text[:3]}",
        ),
    ]
