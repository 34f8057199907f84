"""The editor's preview studio: the edition list, the exact email at phone and desktop width,
dark, text and headers, the editor's panel (pin, drop, move, reorder, rebuild), the checks,
test copies and approval. Mounted only by `digest preview --serve`, never by `digest serve`.

Every page needs a studio session (a signed cookie: issued on sight on loopback, after the
token from the settings elsewhere); every action is a POST that must carry the session's CSRF
token and come from our own origin.
"""

import functools
import html
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import date
from urllib.parse import urlencode

from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import Route

from digest.core.states import Decision, EditionStatus
from digest.errors import DigestError, EditionError
from digest.service import editions, review
from digest.service.app import App
from digest.service.checks import check_row
from digest.web.security import (
    EMAIL_POLICY,
    SESSION_COOKIE,
    ClientRateLimit,
    StudioSessions,
    same_origin,
)
from digest.web.site import site_of

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
# Off loopback the token is all that keeps the network out of the studio.
LOGIN_TRIES, LOGIN_WINDOW = 10, 60


@dataclass(frozen=True, slots=True)
class StudioAccess:
    """Who may use the studio: the sessions it issued, and how often a client may try its
    token. Made once by `create_app`, beside the `Site`."""

    sessions: StudioSessions
    logins: ClientRateLimit = field(
        default_factory=lambda: ClientRateLimit(LOGIN_TRIES, LOGIN_WINDOW)
    )


def access_of(request: Request) -> StudioAccess:
    access: StudioAccess = request.app.state.studio
    return access


@dataclass(frozen=True, slots=True)
class Studio:
    """What a studio request carries: its CSRF token, who it is (for the record), and the form
    it posted (empty for a GET)."""

    csrf: str
    actor: str
    form: FormData


Handler = Callable[[Request, Studio], Response]
# What an action does to the edition of a day; a DigestError is shown on the edition's page.
Action = Callable[[App, date, Studio], object]


def studio_routes() -> list[Route]:
    """The editor's routes, added to the public ones by `digest preview --serve`."""
    return [
        Route("/studio/login", login, methods=["GET", "POST"]),
        Route("/studio/", index, methods=["GET"]),
        Route("/studio/build", build, methods=["POST"]),
        Route("/studio/{day}", edition, methods=["GET"]),
        Route("/studio/{day}/message.html", message, methods=["GET"]),
        Route("/studio/{day}/decide", decide, methods=["POST"]),
        Route("/studio/{day}/reorder", reorder, methods=["POST"]),
        Route("/studio/{day}/rebuild", rebuild, methods=["POST"]),
        Route("/studio/{day}/approve", approve, methods=["POST"]),
        Route("/studio/{day}/test", send_test, methods=["POST"]),
    ]


def guarded(handler: Handler) -> Callable[[Request], Awaitable[Response]]:
    """`handler` behind the studio session: a POST needs the session, our own Origin and the
    session's CSRF token; a GET without a session gets one on loopback, else the login.

    The checks and the form are read in the event loop; `handler`, which reads the database,
    builds an edition or waits on the mail server, runs in the thread pool, so that the pages
    asked for meanwhile are answered."""

    @functools.wraps(handler)
    async def endpoint(request: Request) -> Response:
        sessions, views = access_of(request).sessions, site_of(request).views
        nonce, issued, form = sessions.nonce(request), None, FormData()
        if request.method == "POST":
            if nonce is None:
                return views.forbidden(request, "Your studio session has ended. Reload.")
            if not same_origin(request, views.origins):
                return views.forbidden(request)
            form = await request.form()
            if not sessions.csrf_ok(nonce, form.get("csrf")):
                return views.forbidden(request)
        elif nonce is None:
            if sessions.token is not None:
                return RedirectResponse(
                    "/studio/login?" + urlencode({"next": request.url.path}), 303
                )
            issued = sessions.issue()
            nonce = issued.partition(".")[0]
        client = request.client.host if request.client else "local"
        studio = Studio(sessions.csrf_token(nonce), f"studio {client}", form)
        response = await run_in_threadpool(handler, request, studio)
        if issued is not None:
            _set_cookie(request, response, issued)
        return response

    return endpoint


async def login(request: Request) -> Response:
    access, views = access_of(request), site_of(request).views
    target = str(request.query_params.get("next") or "/studio/")
    if not target.startswith("/studio/") or "//" in target:
        target = "/studio/"
    if request.method == "GET" or access.sessions.token is None:
        return views.page(request, "studio/login.html", error=None, next=target)
    if not same_origin(request, views.origins):
        return views.forbidden(request)
    client = request.client.host if request.client else "local"
    if not access.logins.allow(client):
        return views.page(request, "studio/login.html", 429, error="Too many tries.", next=target)
    if not access.sessions.token_ok((await request.form()).get("token")):
        return views.page(request, "studio/login.html", 403, error="Wrong token.", next=target)
    response = RedirectResponse(target, 303)
    _set_cookie(request, response, access.sessions.issue())
    return response


@guarded
def index(request: Request, studio: Studio) -> Response:
    site = site_of(request)
    return site.views.page(
        request,
        "studio/index.html",
        states=review.overview(site.app),
        studio=studio,
        edition_name=site.app.settings.edition.name,
        require_approval=site.app.settings.edition.require_approval,
    )


@guarded
def edition(request: Request, studio: Studio) -> Response:
    day = _day(request)
    if day is None:
        return site_of(request).views.not_found(request)
    return _edition_page(request, day, dict(request.query_params), studio)


@guarded
def message(request: Request, studio: Studio) -> Response:
    """The HTML part of the message, alone, for the preview frames. The dark view forces
    the template's own dark-mode rules on, whatever the editor's system prefers."""
    day = _day(request)
    if day is None:
        return HTMLResponse("", 404)
    params = request.query_params
    try:
        proof = review.proof(
            site_of(request).app, day, _variant(params.get("variant")), params.get("as")
        )
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


@guarded
def build(request: Request, studio: Studio) -> Response:
    try:
        day = date.fromisoformat(str(studio.form.get("day") or ""))
    except ValueError:
        views = site_of(request).views
        return views.page(request, "notice.html", 400, title="Not a date", paragraphs=[])
    return _act(request, day, "build", lambda app, day, _: editions.build(app, day), studio)


@guarded
def decide(request: Request, studio: Studio) -> Response:
    # One route takes every decision; the message names the one taken.
    return _act_on_path_day(request, str(studio.form.get("action")), _decide, studio)


@guarded
def reorder(request: Request, studio: Studio) -> Response:
    return _act_on_path_day(request, "reorder", _reorder, studio)


@guarded
def rebuild(request: Request, studio: Studio) -> Response:
    return _act_on_path_day(
        request, "rebuild", lambda app, day, s: editions.rebuild(app, day, actor=s.actor), studio
    )


@guarded
def approve(request: Request, studio: Studio) -> Response:
    return _act_on_path_day(
        request, "approve", lambda app, day, s: editions.approve(app, day, actor=s.actor), studio
    )


@guarded
def send_test(request: Request, studio: Studio) -> Response:
    return _act_on_path_day(request, "test", _send_test, studio)


def _act_on_path_day(request: Request, code: str, action: Action, studio: Studio) -> Response:
    day = _day(request)
    if day is None:
        return site_of(request).views.not_found(request)
    return _act(request, day, code, action, studio)


def _act(request: Request, day: date, code: str, action: Action, studio: Studio) -> Response:
    """`action`, then back to the edition with the message for `code`, on the view the editor
    was on; or the edition's page with the reason it was refused."""
    try:
        action(site_of(request).app, day, studio)
    except DigestError as exc:
        return _edition_page(request, day, studio.form, studio, str(exc), 409)
    query = _state_query(studio.form)
    return RedirectResponse(f"/studio/{day}?{query}{'&' if query else ''}done={code}", 303)


def _edition_page(
    request: Request,
    day: date,
    source: FormData | dict[str, str],
    studio: Studio,
    error: str | None = None,
    status: int = 200,
) -> Response:
    app = site_of(request).app
    view = str(source.get("view") or "email")
    view = view if view in VIEWS else "email"
    variant, as_subscriber = _variant(source.get("variant")), str(source.get("as") or "")
    state = review.edition_state(app, day)
    context: dict[str, object] = {
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
            + _state_query({"view": key, "variant": ",".join(variant or []), "as": as_subscriber})
            for key in VIEWS
        },
        "addresses": review.picker_addresses(app),
        "clip": review.GMAIL_CLIP_BYTES,
        "frame_query": _state_query({"variant": ",".join(variant or []), "as": as_subscriber}),
    }
    if state is not None and state.stored.status != EditionStatus.SKIPPED:
        try:
            proof = review.proof(app, day, variant, as_subscriber or None)
        except DigestError as exc:
            context["error"], status = str(exc), 400 if status == 200 else status
        else:
            context["proof"] = proof
            if view == "checks":
                context["checks"] = check_row(app, state.stored)
                context["spam"] = review.spam_check(proof.raw)
    return site_of(request).views.page(request, "studio/edition.html", status, **context)


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


def _decide(app: App, day: date, studio: Studio) -> object:
    form = studio.form
    verb, article_id = str(form.get("action") or ""), _article(form)
    if verb == "undo":
        return editions.forget(app, day, article_id, actor=studio.actor)
    section = str(form.get("section") or "") or None
    if verb == Decision.MOVE:
        # Moving a pinned story keeps it pinned.
        state = review.edition_state(app, day)
        if state and state.decisions.get(article_id) == Decision.PIN:
            verb = Decision.PIN
    return editions.decide(app, day, article_id, verb, section, "", actor=studio.actor)


def _reorder(app: App, day: date, studio: Studio) -> object:
    offset = {"up": -1, "down": 1}.get(str(studio.form.get("direction")))
    if offset is None:
        raise EditionError("move a story up or down")
    return editions.reorder(app, day, _article(studio.form), offset, actor=studio.actor)


def _send_test(app: App, day: date, studio: Studio) -> object:
    address = str(studio.form.get("address") or "").strip()
    if not address:
        raise EditionError("give the address to send the test copy to")
    variant = _variant(studio.form.get("variant"))
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
