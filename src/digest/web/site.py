"""What every handler reaches through its request: the application's services and the web
side's own state, made once by `create_app` and kept on the Starlette application."""

from dataclasses import dataclass

from starlette.requests import Request

from digest.service.app import App
from digest.web.security import ClientRateLimit
from digest.web.views import Views


@dataclass(frozen=True, slots=True)
class Site:
    app: App
    views: Views
    # Per client: the public form mails whatever address it is given.
    subscriptions: ClientRateLimit


def site_of(request: Request) -> Site:
    site: Site = request.app.state.site
    return site
