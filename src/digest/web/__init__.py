"""The web application: the subscriber pages (`digest serve`), and with them the editor's
preview studio (`digest preview --serve`).

Pages are Jinja templates and one stylesheet shipped in this package; nothing is fetched from
elsewhere, so the studio works offline.
"""

from urllib.parse import urlsplit

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.routing import BaseRoute, Mount
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp
from uvicorn.middleware.proxy_headers import ProxyHeadersMiddleware

from digest.config import WebSettings
from digest.errors import ConfigError
from digest.service.app import App
from digest.web.pages import public_routes
from digest.web.security import (
    LOOPBACK_NAMES,
    ClientRateLimit,
    HostGuard,
    StudioSessions,
    host_name,
    is_loopback,
)
from digest.web.site import Site
from digest.web.studio import StudioAccess, studio_routes
from digest.web.views import STATIC, Views

__all__ = ["create_app"]

# Characters in a studio token off loopback: out of reach of guessing at 10 tries a minute.
MIN_STUDIO_TOKEN = 16


def create_app(app: App, *, studio: bool = False, bind_host: str = "127.0.0.1") -> ASGIApp:
    """The application over `app`'s store and settings, as served on `bind_host`. With
    `studio`, the editor's routes too; off loopback they need `[web] studio_token`.

    The handlers are module-level functions; what they share (the services, the templates,
    the limits, the studio's sessions) they find on `request.app.state`, set here."""
    settings = app.settings
    routes: list[BaseRoute] = list(public_routes())
    access: StudioAccess | None = None
    if studio:
        token = None if is_loopback(bind_host) else _studio_token(settings.web, bind_host)
        access = StudioAccess(StudioSessions(token))
        routes += studio_routes()
    routes.append(Mount("/static", StaticFiles(directory=STATIC), name="static"))
    # The client a request is from (for the login and subscribe limits, and the record) is the
    # peer, or the address a trusted proxy says it forwarded for: the right-most in
    # X-Forwarded-For that is not itself a trusted proxy. Anyone else's header is ignored.
    proxies = [str(network) for network in settings.web.trusted_proxies]
    web = Starlette(
        routes=routes, middleware=[Middleware(ProxyHeadersMiddleware, trusted_hosts=proxies)]
    )
    web.state.site = Site(
        app, Views(settings), ClientRateLimit(settings.web.subscribe_per_hour, 3600)
    )
    if access is not None:
        web.state.studio = access
    allowed = {*LOOPBACK_NAMES, host_name(urlsplit(str(settings.web.base_url)).netloc), bind_host}
    return HostGuard(web, allowed=allowed)


def _studio_token(web: WebSettings, bind_host: str) -> str:
    """The studio's password when it listens beyond loopback: there, it is all that stands
    between the network and the editor's actions, and the login allows 10 tries a minute."""
    token = web.studio_token.get_secret_value()
    if not token:
        raise ConfigError(
            f"web.studio_token: required when the studio listens on {bind_host}, "
            "not loopback; set DIGEST_WEB__STUDIO_TOKEN"
        )
    if len(token.strip()) < MIN_STUDIO_TOKEN:
        raise ConfigError(
            f"web.studio_token: at least {MIN_STUDIO_TOKEN} characters when the studio listens "
            f"on {bind_host}, not loopback; set a longer DIGEST_WEB__STUDIO_TOKEN"
        )
    return token
