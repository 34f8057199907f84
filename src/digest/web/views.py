"""Rendering the web pages: one Jinja environment over the templates shipped in this package."""

from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import jinja2
from starlette.requests import Request
from starlette.responses import HTMLResponse

from digest.config import Settings

HERE = Path(__file__).parent
TEMPLATES = HERE / "templates"
STATIC = HERE / "static"


class Views:
    def __init__(self, settings: Settings) -> None:
        self.env = jinja2.Environment(
            loader=jinja2.FileSystemLoader(TEMPLATES),
            autoescape=True,
            undefined=jinja2.StrictUndefined,
            trim_blocks=True,
            lstrip_blocks=True,
        )
        self.site_title = settings.edition.title
        # Where our own pages live besides the Host a request names: the public address.
        self.origins = (urlsplit(str(settings.web.base_url)).netloc,)

    def page(
        self, request: Request, name: str, status_code: int = 200, **context: Any
    ) -> HTMLResponse:
        context.setdefault("title", "")
        text = self.env.get_template(name).render(site_title=self.site_title, **context)
        return HTMLResponse(text, status_code=status_code)

    def not_found(self, request: Request) -> HTMLResponse:
        return self.page(request, "notice.html", 404, title="Not found", paragraphs=[])

    def forbidden(self, request: Request, why: str = "") -> HTMLResponse:
        paragraphs = [
            why or "This form was not sent from this site's own page. Reload it and try again."
        ]
        return self.page(request, "notice.html", 403, title="Not allowed", paragraphs=paragraphs)
