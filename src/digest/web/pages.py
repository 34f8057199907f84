"""The subscriber pages: one-click unsubscribe (RFC 8058), preferences, confirmation of a new
subscription (double opt-in), the optional subscribe form, and the archive of sent editions.

Links come from the emails and carry a token signed with the subscriber's own secret and bound
to a purpose, so a forged or altered link gets the same plain 404 as a link that never existed.
A GET never changes anything (mail scanners follow links); only a POST does.

The database and the mail server block, so a handler is a plain function, which Starlette runs
in its thread pool, and one slow answer holds up no other page. A handler that reads a form
must be a coroutine to await it; it hands what blocks to the pool itself.
"""

from datetime import UTC, date, datetime, time
from zoneinfo import available_timezones

from feedgen.feed import FeedGenerator
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import Route

from digest.core.states import CHOSEN_BY_SUBSCRIBER, SubscriberStatus
from digest.errors import DigestError, SubscriberError
from digest.render import Rendered
from digest.service.archive import SentEdition, sent_edition, sent_editions
from digest.service.confirmation import request_subscription
from digest.service.messages import subscriber_path
from digest.service.subscribers import (
    LinkedSubscriber,
    linked_subscriber,
    send_hour_from_text,
    update,
)
from digest.web.security import EMAIL_POLICY, same_origin
from digest.web.site import Site, site_of

_NOT_FOUND = "This link is not valid. It may have been mistyped or cut short."
ARCHIVE_SIZE = 100
# The choices a subscriber sees; IANA's legacy aliases ("US/Pacific", "Etc/GMT+5") only confuse.
_ZONES = sorted(z for z in available_timezones() if "/" in z and not z.startswith(("Etc/", "US/")))


def public_routes() -> list[Route]:
    """The routes `digest serve` exposes (the studio adds its own to these)."""
    return [
        Route("/unsubscribe/{token}", unsubscribe, methods=["GET", "POST"]),
        Route("/preferences/{token}", preferences, methods=["GET", "POST"]),
        Route("/confirm/{token}", confirm, methods=["GET", "POST"]),
        Route("/subscribe", subscribe, methods=["GET", "POST"]),
        Route("/editions/{name}/{day}", web_version, methods=["GET"]),
        Route("/archive", archive, methods=["GET"]),
        Route("/archive.atom", atom, methods=["GET"]),
    ]


def unsubscribe(request: Request) -> Response:
    site = site_of(request)
    found = linked_subscriber(site.app, "unsubscribe", request.path_params["token"])
    if found is None:
        return _invalid(request, site)
    if request.method == "GET":
        preferences = subscriber_path(
            site.app.settings, "preferences", found.subscriber_id, found.secret
        )
        return site.views.page(
            request, "unsubscribe.html", email=found.email, preferences_url=preferences
        )
    if found.status != SubscriberStatus.UNSUBSCRIBED:
        update(site.app, found.email, status=SubscriberStatus.UNSUBSCRIBED)
    return site.views.page(
        request,
        "notice.html",
        title="Unsubscribed",
        paragraphs=[
            f"{found.email} will get no more messages.",
            "If this was a mistake, subscribe again from any issue's preferences link.",
        ],
    )


async def preferences(request: Request) -> Response:
    site = site_of(request)
    token = request.path_params["token"]
    found = await run_in_threadpool(linked_subscriber, site.app, "preferences", token)
    if found is None:
        return _invalid(request, site)
    if request.method == "GET":
        return _preferences_page(request, site, found)
    # As for the studio's actions: a page of another site may not post this form in the
    # reader's name (a forwarded digest carries the link).
    if not same_origin(request, site.views.origins):
        return site.views.forbidden(request)
    form = await request.form()
    return await run_in_threadpool(_save_preferences, request, site, found, form)


def _save_preferences(
    request: Request, site: Site, found: LinkedSubscriber, form: FormData
) -> Response:
    sections = site.app.settings.sections
    chosen = [s.key for s in sections if form.get(f"section-{s.key}")]
    hour, zone = str(form.get("send_hour") or ""), str(form.get("timezone") or "")
    wanted = form.get("status")
    try:
        if not chosen:
            raise SubscriberError("choose at least one section, or pause the digest")
        update(
            site.app,
            found.email,
            sections=chosen if len(chosen) < len(sections) else None,
            send_hour=send_hour_from_text(hour),
            timezone=zone or None,
            **({"status": wanted} if wanted in CHOSEN_BY_SUBSCRIBER else {}),
        )
    except DigestError as exc:
        return _preferences_page(request, site, found, error=str(exc))
    saved = linked_subscriber(site.app, "preferences", request.path_params["token"])
    return _preferences_page(request, site, saved or found, saved=True)


def _preferences_page(
    request: Request,
    site: Site,
    found: LinkedSubscriber,
    *,
    error: str | None = None,
    saved: bool = False,
) -> Response:
    settings = site.app.settings
    unsubscribe_path = subscriber_path(settings, "unsubscribe", found.subscriber_id, found.secret)
    return site.views.page(
        request,
        "preferences.html",
        200 if error is None else 400,
        email=found.email,
        error=error,
        saved=saved,
        status=found.status,
        sections=settings.sections,
        chosen=set(found.sections or [s.key for s in settings.sections]),
        send_hour=found.send_hour,
        timezone=found.timezone,
        zones=_ZONES,
        default_time=f"{settings.edition.send_time:%H:%M}",
        default_timezone=settings.edition.timezone,
        unsubscribe_path=unsubscribe_path,
    )


def confirm(request: Request) -> Response:
    """Double opt-in: the GET asks (scanners follow links), the POST confirms."""
    site = site_of(request)
    found = linked_subscriber(site.app, "confirm", request.path_params["token"])
    if found is None:
        return _invalid(request, site)
    if request.method == "GET" and found.status == SubscriberStatus.PENDING:
        return site.views.page(request, "confirm.html", email=found.email)
    if request.method == "POST" and found.status == SubscriberStatus.PENDING:
        update(site.app, found.email, status=SubscriberStatus.ACTIVE)
        return site.views.page(
            request, "notice.html", title="Subscribed", paragraphs=[f"{found.email} is confirmed."]
        )
    return site.views.page(
        request,
        "notice.html",
        title="Confirm your subscription",
        paragraphs=[f"This address is {found.status}."],
    )


async def subscribe(request: Request) -> Response:
    """The public form, when enabled. The answer is the same whether or not the address is
    known, so the form cannot be used to find out who subscribes."""
    site = site_of(request)
    views = site.views
    if not site.app.settings.web.public_subscribe:
        return views.not_found(request)
    if request.method == "GET":
        return views.page(request, "subscribe.html", sent=False, error=None, email="")
    if not same_origin(request, views.origins):
        return views.forbidden(request)
    client = request.client.host if request.client else "unknown"
    if not site.subscriptions.allow(client):
        return views.page(
            request,
            "notice.html",
            429,
            title="Too many requests",
            paragraphs=["Please try again in an hour."],
        )
    email = str((await request.form()).get("email") or "")
    try:
        await run_in_threadpool(request_subscription, site.app, email)
    except DigestError as exc:
        return views.page(request, "subscribe.html", 400, sent=False, error=str(exc), email=email)
    return views.page(request, "subscribe.html", sent=True)


def web_version(request: Request) -> Response:
    """An edition as sent, without anyone's personal links."""
    site = site_of(request)
    try:
        day = date.fromisoformat(request.path_params["day"])
    except ValueError:
        return site.views.not_found(request)
    edition = sent_edition(site.app, request.path_params["name"], day)
    if edition is None:
        return site.views.not_found(request)
    base = str(site.app.settings.web.base_url)
    neutral = {
        "name": "reader",
        "email": "your address",
        "unsubscribe_url": base,
        "preferences_url": base,
        "web_url": str(request.url),
    }
    page, _ = Rendered(edition.subject, edition.html, edition.text).personalise(neutral)
    return HTMLResponse(page, headers={"Content-Security-Policy": EMAIL_POLICY})


def archive(request: Request) -> Response:
    site = site_of(request)
    return site.views.page(
        request,
        "archive.html",
        editions=sent_editions(site.app, ARCHIVE_SIZE),
        subscribe=site.app.settings.web.public_subscribe,
    )


def atom(request: Request) -> Response:
    site = site_of(request)
    settings = site.app.settings
    base = str(settings.web.base_url).rstrip("/")
    editions = sent_editions(site.app, ARCHIVE_SIZE)
    feed = FeedGenerator()
    feed.id(f"{base}/archive")
    feed.title(settings.edition.title)
    feed.author({"name": settings.sender.from_address.name})
    feed.link(href=f"{base}/archive", rel="alternate")
    feed.link(href=f"{base}/archive.atom", rel="self")
    feed.updated(max((e.built_at for e in editions), default=datetime(2000, 1, 1, tzinfo=UTC)))
    for edition in reversed(editions):  # feedgen lists the last entry added first
        url = f"{base}/editions/{edition.name}/{edition.day}"
        entry = feed.add_entry()
        entry.id(url)
        entry.title(edition.subject)
        entry.link(href=url)
        entry.published(datetime.combine(edition.day, time(), UTC))
        entry.updated(edition.built_at)
        entry.summary(_headlines(edition))
    return Response(feed.atom_str(pretty=True), media_type="application/atom+xml")


def _invalid(request: Request, site: Site) -> Response:
    return site.views.page(
        request, "notice.html", 404, title="Link not valid", paragraphs=[_NOT_FOUND]
    )


def _headlines(edition: SentEdition) -> str:
    return " · ".join(edition.headlines) or "A quiet day"
