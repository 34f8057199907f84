"""Rendering an edition: Jinja then MJML once per variant, then cheap per-subscriber filling.

A variant is the set of sections a subscriber receives. Per-subscriber values (name, address,
links) are written as reserved slots that survive MJML untouched, then replaced by escaped
values for each message, so personalising costs a few string replacements.
"""

import html
import re
import textwrap
import traceback
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from datetime import date
from typing import Any
from zoneinfo import ZoneInfo

import jinja2
from mjml import mjml2html

from digest.config import Settings
from digest.core.edition import Edition, EditionItem
from digest.errors import RenderError
from digest.resources import resource_path

SLOTS = ("name", "email", "unsubscribe_url", "preferences_url", "web_url")
_SLOT = re.compile(r"\{\{\{digest:([a-z_]+)\}\}\}")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]+")
HTML_TEMPLATE = "digest.mjml.j2"
TEXT_TEMPLATE = "digest.txt.j2"


def slot(name: str) -> str:
    """The marker a template writes where a per-subscriber value goes."""
    if name not in SLOTS:
        raise RenderError(f"unknown slot {name!r}; known slots: {', '.join(SLOTS)}")
    return "{{{digest:" + name + "}}}"


def _wrap(text: str, width: int = 76, indent: str = "", first: str = "") -> str:
    return "\n".join(
        textwrap.wrap(
            str(text),
            width=width,
            initial_indent=first,
            subsequent_indent=indent,
            break_long_words=False,
            break_on_hyphens=False,
        )
    )


@dataclass(frozen=True, slots=True)
class Rendered:
    """One variant of an edition, with slots still open."""

    subject: str
    html: str
    text: str

    def personalise(self, values: Mapping[str, str]) -> tuple[str, str]:
        """HTML and text with every slot filled; values are stripped of line breaks and controls
        and HTML-escaped for the HTML part."""
        clean = {k: _CONTROL.sub(" ", v).strip() for k, v in values.items()}
        missing = set(SLOTS) - clean.keys()
        if missing:
            raise RenderError(f"no value for slot(s) {', '.join(sorted(missing))}")

        def fill_html(match: re.Match[str]) -> str:
            return html.escape(clean[match.group(1)], quote=True)

        def fill_text(match: re.Match[str]) -> str:
            return clean[match.group(1)]

        return _SLOT.sub(fill_html, self.html), _SLOT.sub(fill_text, self.text)


class Renderer:
    """Renders editions with the configured templates (the editor's folder first, then ours)."""

    def __init__(self, settings: Settings) -> None:
        folders = [resource_path("templates")]
        if settings.templates.directory is not None:
            folders.insert(0, settings.templates.directory)
        self._env = jinja2.Environment(
            loader=jinja2.FileSystemLoader([str(f) for f in folders]),
            autoescape=jinja2.select_autoescape(enabled_extensions=("mjml.j2", "html.j2")),
            undefined=jinja2.StrictUndefined,
            keep_trailing_newline=True,
            trim_blocks=True,
        )
        self._env.globals["slot"] = slot
        self._env.filters["wrap"] = _wrap
        self._settings = settings

    def subject(self, day: date) -> str:
        edition = self._settings.edition
        return edition.subject.format(title=edition.title, date=day)

    def render(self, edition: Edition, sections: Collection[str] | None = None) -> Rendered:
        """The variant of `edition` holding `sections` (all of them when None)."""
        context = self._context(edition, sections)
        mjml_source = self._render(HTML_TEMPLATE, context)
        try:
            compiled = mjml2html(mjml_source)
        except ValueError as exc:
            raise RenderError(
                f"{HTML_TEMPLATE}: MJML could not compile the output: {exc}"
            ) from None
        text = self._render(TEXT_TEMPLATE, context)
        return Rendered(subject=self.subject(_day(edition)), html=compiled, text=text)

    def _render(self, name: str, context: dict[str, Any]) -> str:
        """Render one template; any template fault becomes a RenderError naming file and line."""
        try:
            template = self._env.get_template(name)
        except jinja2.TemplateSyntaxError as exc:
            raise RenderError(f"{exc.filename or name}: line {exc.lineno}: {exc.message}") from None
        except jinja2.TemplateNotFound:
            raise RenderError(f"template {name} not found") from None
        try:
            return template.render(context)
        except (jinja2.TemplateError, RenderError, TypeError, ValueError) as exc:
            line = _template_line(exc, template.filename)
            raise RenderError(f"{template.filename}{line}: {exc}") from None

    def _context(self, edition: Edition, keys: Collection[str] | None) -> dict[str, Any]:
        zone = ZoneInfo(edition.timezone)
        titles = edition.section_titles
        sections = [
            {
                "key": s.key,
                "title": s.title,
                "stories": [
                    {
                        "title": i.title,
                        "url": i.url,
                        "source": i.source,
                        "summary": i.summary,
                        "also_in": [titles.get(k, k) for k in i.also],
                        **_also_covered_by(i),
                        "local_time": i.published_at.astimezone(zone).strftime("%H:%M %Z"),
                    }
                    for i in s.items
                ],
            }
            for s in edition.sections
            if keys is None or s.key in keys
        ]
        headlines = [story["title"] for section in sections for story in section["stories"]]
        preheader = " · ".join(headlines) or "A quiet day: no story made today's sections."
        if len(preheader) > 140:
            preheader = preheader[:139].rsplit(" ", 1)[0] + "…"
        return {
            "title": self._settings.edition.title,
            "date_long": f"{_day(edition):%A, %B} {_day(edition).day}, {_day(edition).year}",
            "preheader": preheader,
            "sections": sections,
            "item_count": len(headlines),
            "count_line": _count_line(len(headlines)),
            "postal_address": self._settings.sender.postal_address,
        }


# Outlets linked under a story; a story covered more widely says "and N more".
MAX_ALSO_COVERED = 5


def _also_covered_by(item: EditionItem) -> dict[str, Any]:
    """One link per other outlet that covered the story, the earliest first."""
    outlets: dict[str, str | None] = {}
    for duplicate in item.duplicates:
        if duplicate.source != item.source:
            outlets.setdefault(duplicate.source, duplicate.url)
    shown = list(outlets.items())[:MAX_ALSO_COVERED]
    return {
        "also_covered_by": [{"source": source, "url": url} for source, url in shown],
        "also_covered_more": len(outlets) - len(shown),
    }


def _day(edition: Edition) -> date:
    """The edition's date; an ad-hoc edition over a window is dated by the window's end."""
    return edition.day or edition.window_end.astimezone(ZoneInfo(edition.timezone)).date()


def _count_line(stories: int) -> str:
    if stories == 0:
        return "it was a quiet day: no story made today's sections"
    if stories == 1:
        return "here is today's story"
    return f"here are today's {stories} stories"


def _template_line(exc: BaseException, filename: str | None) -> str:
    """': line N' of the innermost traceback frame inside the template, if there is one."""
    line = ""
    for frame, lineno in traceback.walk_tb(exc.__traceback__):
        if frame.f_code.co_filename == filename:
            line = f": line {lineno}"
    return line
