"""The subscriber pages: one-click unsubscribe (RFC 8058), preferences, confirmation of a new
subscription (double opt-in), and the web version.

Links come from the emails and carry a token signed with the subscriber's own secret and bound
to a purpose, so a forged or altered link gets the same plain 404 as a link that never existed.
A GET never changes anything (mail scanners follow links); only a POST does.
"""

import html
from datetime import date

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import Route

from digest.core.links import verify_token
from digest.errors import DigestError
from digest.render import Rendered
from digest.service.app import App
from digest.service.subscribers import update
from digest.store.editions import find_edition
from digest.store.tables import Subscriber

_NOT_FOUND = "This link is not valid. It may have been mistyped or cut short."
_PAGE = """<!doctype html><html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1"><title>{title}</title>
<style>body{{font:17px/1.5 Georgia,serif;max-width:34rem;margin:3rem auto;padding:0 1rem;
color:#1f2328}}button{{font:inherit;padding:.5rem 1rem}}label{{display:block;margin:.3rem 0}}
</style></head><body><h1>{title}</h1>{body}</body></html>"""


def _page(title: str, body: str, status: int = 200) -> HTMLResponse:
    return HTMLResponse(_PAGE.format(title=html.escape(title), body=body), status_code=status)


def create_app(app: App) -> Starlette:
    """The web application over `app`'s store and settings."""

    def subscriber(purpose: str, token: str) -> Subscriber | None:
        subscriber_id = token.partition(".")[0]
        if not subscriber_id.isdigit():
            return None
        with app.transaction() as session:
            found = session.get(Subscriber, int(subscriber_id))
            if found is None or not verify_token(found.secret, purpose, token):
                return None
            session.expunge(found)
            return found

    async def unsubscribe(request: Request) -> Response:
        token = request.path_params["token"]
        found = subscriber("unsubscribe", token)
        if found is None:
            return _page("Link not valid", f"<p>{_NOT_FOUND}</p>", 404)
        if request.method == "GET":
            return _page(
                "Unsubscribe",
                f"<p>Stop sending {html.escape(app.settings.edition.title)} to "
                f"<strong>{html.escape(found.email)}</strong>?</p>"
                '<form method="post"><button type="submit">Unsubscribe</button></form>',
            )
        if found.status != "unsubscribed":
            update(app, found.email, status="unsubscribed")
        return _page(
            "Unsubscribed",
            f"<p>{html.escape(found.email)} will get no more messages. "
            "If this was a mistake, subscribe again from any issue's preferences link.</p>",
        )

    async def preferences(request: Request) -> Response:
        token = request.path_params["token"]
        found = subscriber("preferences", token)
        if found is None:
            return _page("Link not valid", f"<p>{_NOT_FOUND}</p>", 404)
        sections = app.settings.sections
        if request.method == "POST":
            form = await request.form()
            chosen = [s.key for s in sections if form.get(f"section-{s.key}")]
            try:
                update(
                    app,
                    found.email,
                    sections=chosen if len(chosen) < len(sections) else None,
                    status="active" if form.get("receive") else "unsubscribed",
                )
            except DigestError as exc:
                return _page("Preferences", f"<p>{html.escape(str(exc))}</p>", 400)
            found = subscriber("preferences", token) or found
        wanted = set(found.sections or [s.key for s in sections])
        boxes = "".join(
            f'<label><input type="checkbox" name="section-{s.key}"'
            f"{' checked' if s.key in wanted else ''}> {html.escape(s.title)}</label>"
            for s in sections
        )
        receiving = " checked" if found.status == "active" else ""
        return _page(
            "Preferences",
            f"<p>For <strong>{html.escape(found.email)}</strong>.</p>"
            f'<form method="post">{boxes}'
            f'<label><input type="checkbox" name="receive"{receiving}> Send me the digest</label>'
            '<button type="submit">Save</button></form>',
        )

    async def confirm(request: Request) -> Response:
        """Double opt-in: the GET asks (scanners follow links), the POST confirms."""
        found = subscriber("confirm", request.path_params["token"])
        if found is None:
            return _page("Link not valid", f"<p>{_NOT_FOUND}</p>", 404)
        if request.method == "GET" and found.status == "pending":
            return _page(
                "Confirm your subscription",
                f"<p>Send {html.escape(app.settings.edition.title)} to "
                f"<strong>{html.escape(found.email)}</strong>?</p>"
                '<form method="post"><button type="submit">Yes, subscribe</button></form>',
            )
        if request.method == "POST" and found.status == "pending":
            update(app, found.email, status="active")
            return _page("Subscribed", f"<p>{html.escape(found.email)} is confirmed.</p>")
        return _page("Confirm your subscription", f"<p>This address is {found.status}.</p>")

    async def web_version(request: Request) -> Response:
        """An edition as sent, without anyone's personal links."""
        name = request.path_params["name"]
        try:
            day = date.fromisoformat(request.path_params["day"])
        except ValueError:
            return _page("Not found", "<p>No such edition.</p>", 404)
        with app.transaction() as session:
            row = find_edition(session, name, day)
            if row is None or row.status not in ("sending", "sent"):
                return _page("Not found", "<p>No such edition.</p>", 404)
            base = str(app.settings.web.base_url)
            neutral = {
                "name": "reader",
                "email": "your address",
                "unsubscribe_url": base,
                "preferences_url": base,
                "web_url": str(request.url),
            }
            page, _ = Rendered(row.subject, row.html, row.text).personalise(neutral)
        return HTMLResponse(page)

    return Starlette(
        routes=[
            Route("/unsubscribe/{token}", unsubscribe, methods=["GET", "POST"]),
            Route("/preferences/{token}", preferences, methods=["GET", "POST"]),
            Route("/confirm/{token}", confirm, methods=["GET", "POST"]),
            Route("/editions/{name}/{day}", web_version, methods=["GET"]),
        ]
    )
