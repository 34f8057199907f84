"""The web application: the subscriber pages (`digest serve`), and with them the editor's
preview studio (`digest preview --serve`).

Pages are Jinja templates and one stylesheet shipped in this package; nothing is fetched from
elsewhere, so the studio works offline.
"""

from urllib.parse import urlsplit

from starlette.applications import Starlette
from starlette.routing import BaseRoute, Mount
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp

from digest.errors import ConfigError
from digest.service.app import App
from digest.web.pages import public_routes
from digest.web.security import LOOPBACK_NAMES, HostGuard, StudioSessions, host_name, is_loopback
from digest.web.studio import studio_routes
from digest.web.views import STATIC, Views

__all__ = ["create_app"]


def create_app(app: App, *, studio: bool = False, bind_host: str = "127.0.0.1") -> ASGIApp:
    """The application over `app`'s store and settings, as served on `bind_host`. With
    `studio`, the editor's routes too; off loopback they need `[web] studio_token`."""
    settings = app.settings
    views = Views(settings)
    routes: list[BaseRoute] = list(public_routes(app, views))
    if studio:
        token = settings.web.studio_token.get_secret_value() or None
        if not is_loopback(bind_host) and token is None:
            raise ConfigError(
                f"web.studio_token: required when the studio listens on {bind_host}, "
                "not loopback; set DIGEST_WEB__STUDIO_TOKEN"
            )
        sessions = StudioSessions(None if is_loopback(bind_host) else token)
        routes += studio_routes(app, views, sessions)
    routes.append(Mount("/static", StaticFiles(directory=STATIC), name="static"))
    allowed = {*LOOPBACK_NAMES, host_name(urlsplit(str(settings.web.base_url)).netloc), bind_host}
    return HostGuard(Starlette(routes=routes), allowed=allowed)
