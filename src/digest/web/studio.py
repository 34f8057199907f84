"""The editor's preview studio: the edition list, the exact email at phone and desktop width,
dark, text and headers, the editor's panel (pin, drop, move, reorder, rebuild), the checks,
test copies and approval. Mounted only by `digest preview --serve`, never by `digest serve`.

Every page needs a studio session (a signed cookie: issued on sight on loopback, after the
token from the settings elsewhere); every action is a POST that must carry the session's CSRF
token and come from our own origin.
"""

import html
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import date
from urllib.parse import urlencode

from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import Route

from digest.errors import DigestError, EditionError
from digest.service import editions, review
from digest.service.app import App
from digest.service.checks import check_row
from digest.web.security import (
    EMAIL_POLICY,
    SESSION_COOKIE,
    RateLimit,
    StudioSessions,
    same_origin,
)
from digest.web.views import Views

VIEWS = ("email", "dark", "text", "headers", "checks")
# Messages shown after an action, by the code the redirect carries (never text from a URL).
DONE = {
    "pin": "Pinned: the story stays, past quotas and the size budget.",
    "drop": "Dropped from the edition.",
    "move": "Moved to the chosen section.",
    "undo": "The editor's decision was undone.",
    "reorder": "Reordered.",
    "build": "Built and frozen.",
    "rebuild": "Rebuilt from the stored articles and the editors' decisions.",
    "approve": "Approved for sending.",
    "test": "Test copy sent.",
}
_DARK_QUERY = "(prefers-color-scheme: dark)"
Handler = Callable[[Request, "Studio"], Awaitable[Response]]


@dataclass(frozen=True, slots=True)
class Studio:
    """What a studio request carries: its CSRF token and who it is, for the record."""

    csrf: str
    actor: str


def _day(request: Request) -> date | None:
    try:
        return date.fromisoformat(request.path_params["day"])
    except ValueError:
        return None


def _variant(value: object) -> list[str] | None:
    keys = [k for k in str(value or "").split(",") if k]
    return keys or None


def _state_query(source: FormData | dict[str, str]) -> str:
    """The view the editor was on (tab, variant, subscriber), for the redirect after an action."""
    kept = {k: str(source.get(k) or "") for k in ("view", "variant", "as")}
    return urlencode({k: v for k, v in kept.items() if v})


def studio_routes(app: App, views: Views, sessions: StudioSessions) -> list[Route]:
    logins = RateLimit(10, 60)

    def guarded(handler: Handler) -> Callable[[Request], Awaitable[Response]]:
        async def endpoint(request: Request) -> Response:
            nonce, issued = sessions.nonce(request), None
            if request.method == "POST":
                if nonce is None:
                    return views.forbidden(request, "Your studio session has ended. Reload.")
                if not same_origin(request, views.origins):
                    return views.forbidden(request)
                if not sessions.csrf_ok(nonce, (await request.form()).get("csrf")):
                    return views.forbidden(request)
            elif nonce is None:
                if sessions.token is not None:
                    return RedirectResponse(
                        "/studio/login?" + urlencode({"next": request.url.path}), 303
                    )
                issued = sessions.issue()
                nonce = issued.partition(".")[0]
            client = request.client.host if request.client else "local"
            response = await handler(
                request, Studio(sessions.csrf_token(nonce), f"studio {client}")
            )
            if issued is not None:
                _set_cookie(request, response, issued)
            return response

        return endpoint

    async def login(request: Request) -> Response:
        target = str(request.query_params.get("next") or "/studio/")
        if not target.startswith("/studio/") or "//" in target:
            target = "/studio/"
        if request.method == "GET" or sessions.token is None:
            return views.page(request, "studio/login.html", error=None, next=target)
        if not same_origin(request, views.origins):
            return views.forbidden(request)
        client = request.client.host if request.client else "local"
        if not logins.allow(client):
            return views.page(
                request, "studio/login.html", 429, error="Too many tries.", next=target
            )
        if not sessions.token_ok((await request.form()).get("token")):
            return views.page(request, "studio/login.html", 403, error="Wrong token.", next=target)
        response = RedirectResponse(target, 303)
        _set_cookie(request, response, sessions.issue())
        return response

    async def index(request: Request, studio: Studio) -> Response:
        return views.page(
            request,
            "studio/index.html",
            states=review.overview(app),
            studio=studio,
            edition_name=app.settings.edition.name,
            require_approval=app.settings.edition.require_approval,
        )

    async def build_day(request: Request, studio: Studio) -> Response:
        try:
            day = date.fromisoformat(str((await request.form()).get("day") or ""))
        except ValueError:
            return views.page(request, "notice.html", 400, title="Not a date", paragraphs=[])
        return await _act(request, day, "build", lambda: editions.build(app, day), studio)

    async def _act(
        request: Request, day: date, code: str, action: Callable[[], object], studio: Studio
    ) -> Response:
        form = await request.form()
        try:
            action()
        except DigestError as exc:
            return await _edition_page(request, day, form, studio, str(exc), 409)
        query = _state_query(form)
        return RedirectResponse(f"/studio/{day}?{query}{'&' if query else ''}done={code}", 303)

    async def _edition_page(
        request: Request,
        day: date,
        source: FormData | dict[str, str],
        studio: Studio,
        error: str | None = None,
        status: int = 200,
    ) -> Response:
        view = str(source.get("view") or "email")
        view = view if view in VIEWS else "email"
        variant, as_subscriber = _variant(source.get("variant")), str(source.get("as") or "")
        state = review.edition_state(app, day)
        context = {
            "day": day,
            "state": state,
            "studio": studio,
            "view": view,
            "variant": ",".join(variant or []),
            "as_subscriber": as_subscriber,
            "error": error,
            "done": DONE.get(str(request.query_params.get("done"))),
            "sections": app.settings.sections,
            "proof": None,
            "checks": None,
            "spam": None,
            "history": editions.history(app, day),
            "variant_options": _variant_options(review.variant_choices(app), variant),
            "tab_links": {
                key: "?"
                + _state_query(
                    {"view": key, "variant": ",".join(variant or []), "as": as_subscriber}
                )
                for key in VIEWS
            },
            "addresses": review.picker_addresses(app),
            "clip": review.GMAIL_CLIP_BYTES,
            "frame_query": _state_query({"variant": ",".join(variant or []), "as": as_subscriber}),
        }
        if state is not None and state.row.status != "skipped":
            try:
                proof = review.proof(app, day, variant, as_subscriber or None)
            except DigestError as exc:
                context["error"], status = str(exc), 400 if status == 200 else status
            else:
                context["proof"] = proof
                if view == "checks":
                    context["checks"] = check_row(app, state.row)
                    context["spam"] = review.spam_check(proof.raw)
        return views.page(request, "studio/edition.html", status, **context)

    async def edition(request: Request, studio: Studio) -> Response:
        day = _day(request)
        if day is None:
            return views.page(request, "notice.html", 404, title="Not found", paragraphs=[])
        return await _edition_page(request, day, dict(request.query_params), studio)

    async def message(request: Request, studio: Studio) -> Response:
        """The HTML part of the message, alone, for the preview frames. The dark view forces
        the template's own dark-mode rules on, whatever the editor's system prefers."""
        day = _day(request)
        if day is None:
            return HTMLResponse("", 404)
        params = request.query_params
        try:
            proof = review.proof(app, day, _variant(params.get("variant")), params.get("as"))
        except DigestError as exc:
            return HTMLResponse(f"<p>{html.escape(str(exc))}</p>", 404)
        page = proof.html
        if params.get("scheme") == "dark":
            page = page.replace(f"@media {_DARK_QUERY}", "@media all")
        framed_here = {
            "Content-Security-Policy": f"{EMAIL_POLICY}; frame-ancestors 'self'",
            "X-Frame-Options": "SAMEORIGIN",
        }
        return HTMLResponse(page, headers=framed_here)

    def action(code: str, run: Callable[[App, date, FormData, Studio], object]) -> Route:
        async def endpoint(request: Request, studio: Studio) -> Response:
            day = _day(request)
            if day is None:
                return views.page(request, "notice.html", 404, title="Not found", paragraphs=[])
            form = await request.form()
            # One route takes every decision; the message names the one taken.
            done = str(form.get("action")) if code == "decide" else code
            return await _act(request, day, done, lambda: run(app, day, form, studio), studio)

        return Route(f"/studio/{{day}}/{code}", guarded(endpoint), methods=["POST"])

    return [
        Route("/studio/login", login, methods=["GET", "POST"]),
        Route("/studio/", guarded(index), methods=["GET"]),
        Route("/studio/build", guarded(build_day), methods=["POST"]),
        Route("/studio/{day}", guarded(edition), methods=["GET"]),
        Route("/studio/{day}/message.html", guarded(message), methods=["GET"]),
        action("decide", _decide),
        action("reorder", _reorder),
        action("rebuild", lambda a, d, f, s: editions.rebuild(a, d, actor=s.actor)),
        action("approve", lambda a, d, f, s: editions.approve(a, d, actor=s.actor)),
        action("test", _test_send),
    ]


def _variant_options(
    choices: list[tuple[str, ...] | None], current: list[str] | None
) -> list[tuple[str, str]]:
    """(value, label) for the variant picker: all sections, each set subscribers chose, and
    the one on screen even if nobody chose it."""
    options = [(",".join(c or ()), " + ".join(c) if c else "All sections") for c in choices]
    shown = ",".join(current or ())
    if shown not in {value for value, _ in options}:
        options.append((shown, " + ".join(current or ())))
    return options


def _article(form: FormData) -> int:
    value = str(form.get("article_id") or "")
    if not (value.isascii() and value.isdigit()):  # int() would also take "١"
        raise EditionError("no article chosen")
    return int(value)


def _decide(app: App, day: date, form: FormData, studio: Studio) -> object:
    verb, article_id = str(form.get("action") or ""), _article(form)
    if verb == "undo":
        return editions.forget(app, day, article_id, actor=studio.actor)
    section = str(form.get("section") or "") or None
    if verb == "move":
        # Moving a pinned story keeps it pinned.
        state = review.edition_state(app, day)
        verb = "pin" if state and state.decisions.get(article_id) == "pin" else "move"
    return editions.decide(app, day, article_id, verb, section, "", actor=studio.actor)


def _reorder(app: App, day: date, form: FormData, studio: Studio) -> object:
    offset = {"up": -1, "down": 1}.get(str(form.get("direction")))
    if offset is None:
        raise EditionError("move a story up or down")
    return editions.reorder(app, day, _article(form), offset, actor=studio.actor)


def _test_send(app: App, day: date, form: FormData, studio: Studio) -> object:
    address = str(form.get("address") or "").strip()
    if not address:
        raise EditionError("give the address to send the test copy to")
    variant = _variant(form.get("variant"))
    return review.send_test(app, day, address, variant, actor=studio.actor)


def _set_cookie(request: Request, response: Response, value: str) -> None:
    response.set_cookie(
        SESSION_COOKIE,
        value,
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
        path="/",
    )
