"""Rendering an edition: Jinja then MJML once per variant, then cheap per-subscriber filling.

A variant is the set of sections a subscriber receives. Per-subscriber values (name, address,
links) are written as reserved slots that survive MJML untouched; each rendered variant is
split at its slots once, so personalising a message is one join of escaped values.

Article text is data: headlines, summaries and outlets reach the templates as `ArticleText`
and are printed between marks (`digest.core.marks`), so that neither the check for leftover
template syntax, nor the slots, nor the pre-send gate reads an article's words as the
template's.
"""

import html
import re
import textwrap
import traceback
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from datetime import date, time
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import jinja2
from markupsafe import Markup, escape
from mjml import mjml2html

from digest.config import Settings, subject_environment
from digest.core import marks
from digest.core.edition import Edition, EditionItem
from digest.core.text import one_line
from digest.errors import RenderError
from digest.resources import resource_path

SLOTS = ("name", "email", "unsubscribe_url", "preferences_url", "web_url")
_SLOT = re.compile(r"\{\{\{digest:([a-z_]+)\}\}\}")
_MJML_TAG = re.compile(r"<(mj-[a-z-]+)")
_LEFTOVER = re.compile(r"\{\{\{[^}]*\}\}\}|\{\{.*?\}\}|\{%.*?%\}|\{\{|\}\}|\{%|%\}")
HTML_TEMPLATE = "digest.mjml.j2"
TEXT_TEMPLATE = "digest.txt.j2"
PREHEADER_MIN, PREHEADER_MAX = 30, 140
# Outlets linked under a story; a story covered more widely says "and N more".
MAX_ALSO_COVERED = 5


class ArticleText(str):
    """Words of an article (a headline, a summary, an outlet's name): printed as they are,
    between marks, whether directly or through the `wrap` filter. Text a template makes of
    them otherwise (`~`, `upper`, `truncate`) is the template's own."""


@jinja2.pass_eval_context
def _finalize(eval_ctx: jinja2.nodes.EvalContext, value: Any) -> Any:
    """Every value a template prints passes here: article text is put between marks (escaped
    first in HTML, so the marks stay the only markup around it)."""
    if not isinstance(value, ArticleText) or not value:
        return value
    if eval_ctx.autoescape:
        return Markup(marks.HTML.around(str(escape(value))))
    return marks.TEXT.around(value)


def slot(name: str) -> str:
    """The marker a template writes where a per-subscriber value goes."""
    if name not in SLOTS:
        raise RenderError(f"unknown slot {name!r}; known slots: {', '.join(SLOTS)}")
    return "{{{digest:" + name + "}}}"


def _split(document: str, form: marks.Marks) -> tuple[str, ...]:
    """Literal text and slot names, alternating: ("<p>Hi ", "name", "</p>"); slot names sit
    at the odd positions. A slot marker inside article text is the article's words."""
    parts, start = [], 0
    for found in _SLOT.finditer(document):
        at = found.start()
        if document.rfind(form.open, 0, at) > document.rfind(form.close, 0, at):
            continue
        parts += [document[start:at], found.group(1)]
        start = found.end()
    return (*parts, document[start:])


def _unmarked(parts: tuple[str, ...], form: marks.Marks) -> tuple[str, ...]:
    return tuple(part if index % 2 else form.unmarked(part) for index, part in enumerate(parts))


def _fill(parts: tuple[str, ...], values: Mapping[str, str]) -> str:
    return "".join(values[part] if index % 2 else part for index, part in enumerate(parts))


def slot_values(values: Mapping[str, str]) -> tuple[dict[str, str], dict[str, str]]:
    """Values for every slot, kept to one line without control characters: as plain text,
    and HTML-escaped."""
    missing = set(SLOTS) - values.keys()
    if missing:
        raise RenderError(f"no value for slot(s) {', '.join(sorted(missing))}")
    plain = {name: one_line(values[name]) for name in SLOTS}
    return plain, {name: html.escape(value, quote=True) for name, value in plain.items()}


@dataclass(frozen=True, slots=True)
class Rendered:
    """One variant of an edition, with slots still open and article text between marks: the
    form that is stored. `html_parts` and `text_parts` are what readers get, split at slots."""

    subject: str
    html: str
    text: str
    html_parts: tuple[str, ...] = field(init=False, repr=False, compare=False)
    text_parts: tuple[str, ...] = field(init=False, repr=False, compare=False)
    _marked: tuple[tuple[str, ...], tuple[str, ...]] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        html, text = _split(self.html, marks.HTML), _split(self.text, marks.TEXT)
        object.__setattr__(self, "_marked", (html, text))
        object.__setattr__(self, "html_parts", _unmarked(html, marks.HTML))
        object.__setattr__(self, "text_parts", _unmarked(text, marks.TEXT))

    @property
    def html_bytes(self) -> int:
        """The size of the HTML as sent, slots still open."""
        return len(marks.HTML.unmarked(self.html).encode())

    def personalise(self, values: Mapping[str, str]) -> tuple[str, str]:
        """HTML and text with every slot filled (see `slot_values`)."""
        plain, escaped = slot_values(values)
        return _fill(self.html_parts, escaped), _fill(self.text_parts, plain)

    def marked(self, values: Mapping[str, str]) -> tuple[str, str]:
        """As `personalise`, with article text still between marks: what the gate reads."""
        plain, escaped = slot_values(values)
        html, text = self._marked
        return _fill(html, escaped), _fill(text, plain)


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
            finalize=_finalize,
        )
        self._env.globals["slot"] = slot
        self._env.filters["wrap"] = _wrap
        self._subject = subject_environment().from_string(settings.edition.subject)
        self._settings = settings

    def render(self, edition: Edition, sections: Collection[str] | None = None) -> Rendered:
        """The variant of `edition` holding `sections` (all of them when None)."""
        context = self._context(edition, sections)
        compiled = self._compile(self._checked(HTML_TEMPLATE, context, marks.HTML))
        text = self._checked(TEXT_TEMPLATE, context, marks.TEXT)
        subject = one_line(self._subject.render(context["subject"]))
        return Rendered(subject=subject, html=compiled, text=text)

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

    def _checked(self, name: str, context: dict[str, Any], form: marks.Marks) -> str:
        """The template's output, refused if template syntax survived it (a `{% raw %}` block,
        a hand-written slot marker with a typo): no reader should ever see a placeholder.
        Article text may say anything."""
        output = self._render(name, context)
        for leftover in _LEFTOVER.finditer(form.masked(output)):
            token = leftover.group(0)
            marker = _SLOT.fullmatch(token)
            if marker and marker.group(1) in SLOTS:
                continue
            path = self._env.get_template(name).filename or name
            raise RenderError(f"{path}{_source_line(path, token)}: placeholder {token!r} left over")
        return output

    def _compile(self, mjml_source: str) -> str:
        path = self._env.get_template(HTML_TEMPLATE).filename or HTML_TEMPLATE
        try:
            compiled = mjml2html(mjml_source)
        except ValueError as exc:
            raise RenderError(f"{path}: MJML could not compile the output: {exc}") from None
        # MJML passes tags it does not know through untouched, where no mail client shows them.
        if unknown := _MJML_TAG.search(compiled):
            tag = unknown.group(1)
            raise RenderError(f"{path}{_source_line(path, '<' + tag)}: unknown MJML tag <{tag}>")
        return compiled

    def _context(self, edition: Edition, keys: Collection[str] | None) -> dict[str, Any]:
        zone = ZoneInfo(edition.timezone)
        sections: list[dict[str, Any]] = [
            {
                "key": s.key,
                "title": s.title,
                "stories": [_story(i, edition.section_titles, zone) for i in s.items],
            }
            for s in edition.sections
            if keys is None or s.key in keys
        ]
        headlines = [story["title"] for section in sections for story in section["stories"]]
        day = _day(edition)
        date_long = f"{day:%A, %B} {day.day}, {day.year}"
        title = self._settings.edition.title
        return {
            "title": title,
            "date_long": date_long,
            "preheader": _preheader(headlines, date_long),
            "sections": sections,
            "item_count": len(headlines),
            "count_line": _count_line(len(headlines)),
            "postal_address": self._settings.sender.postal_address,
            "subject": {
                "title": title,
                "date": day,
                "date_long": date_long,
                "top_headline": headlines[0] if headlines else "a quiet day",
                "story_count": len(headlines),
            },
        }


def _story(item: EditionItem, titles: Mapping[str, str], zone: ZoneInfo) -> dict[str, Any]:
    return {
        "title": ArticleText(item.title),
        "url": _link(item.url),
        "source": ArticleText(item.source),
        "summary": ArticleText(item.summary),
        "also_in": [titles.get(k, k) for k in item.also],
        "local_time": _local_time(item, zone),
        **_also_covered_by(item),
    }


def _local_time(item: EditionItem, zone: ZoneInfo) -> str:
    """ "14:05 CEST"; empty for an article known only by its date (stored as local midnight)."""
    local = item.published_at.astimezone(zone)
    return "" if local.time() == time.min else local.strftime("%H:%M %Z")


def _also_covered_by(item: EditionItem) -> dict[str, Any]:
    """One link per other outlet that covered the story, the earliest first."""
    outlets: dict[str, str | None] = {}
    for duplicate in item.duplicates:
        if duplicate.source != item.source:
            outlets.setdefault(duplicate.source, duplicate.url)
    shown = list(outlets.items())[:MAX_ALSO_COVERED]
    return {
        "also_covered_by": [
            {"source": ArticleText(source), "url": _link(url)} for source, url in shown
        ],
        "also_covered_more": len(outlets) - len(shown),
    }


def _link(url: str | None) -> str | None:
    """An article's URL with its braces percent-encoded, as browsers send them (RFC 3986 does
    not allow them), so that a link can be neither template syntax nor a slot marker."""
    return url.replace("{", "%7B").replace("}", "%7D") if url else url


def _preheader(headlines: list[str], date_long: str) -> str:
    """The line inbox previews show: the top headlines, 30 to 140 characters."""
    text = " · ".join(headlines) or "A quiet day: no story made today's sections"
    if len(text) > PREHEADER_MAX:
        text = text[: PREHEADER_MAX - 1].rsplit(" ", 1)[0].rstrip(" ·,;:") + "…"
    if len(text) < PREHEADER_MIN:
        text = f"{text} · {date_long}"
    return ArticleText(text) if headlines else text


def _day(edition: Edition) -> date:
    """The edition's date; an ad-hoc edition over a window is dated by the window's end."""
    return edition.day or edition.window_end.astimezone(ZoneInfo(edition.timezone)).date()


def _count_line(stories: int) -> str:
    if stories == 0:
        return "it was a quiet day: no story made today's sections"
    if stories == 1:
        return "here is today's story"
    return f"here are today's {stories} stories"


def _wrap(text: str, width: int = 76, indent: str = "", first: str = "") -> str:
    """`text` wrapped at `width` columns, lines after the first indented by `indent` and the
    first by `first` (a number, say); article text stays article text."""
    wrapped = "\n".join(
        textwrap.wrap(
            str(text),
            width=width,
            initial_indent=first,
            subsequent_indent=indent,
            break_long_words=False,
            break_on_hyphens=False,
        )
    )
    return ArticleText(wrapped) if isinstance(text, ArticleText) else wrapped


def _template_line(exc: BaseException, filename: str | None) -> str:
    """': line N' of the innermost traceback frame inside the template, if there is one."""
    line = ""
    for frame, lineno in traceback.walk_tb(exc.__traceback__):
        if frame.f_code.co_filename == filename:
            line = f": line {lineno}"
    return line


def _source_line(path: str, needle: str) -> str:
    """': line N' where `needle` first appears in the template source."""
    try:
        lines = Path(path).read_text("utf-8").splitlines()
    except OSError:
        return ""
    found = next((n for n, line in enumerate(lines, 1) if needle in line), None)
    return f": line {found}" if found else ""
