"""The digest email, the editor's studio and the subscriber pages in a real headless browser.

Debian's Chromium (/usr/bin/chromium) is driven through Playwright; no browser is ever
downloaded. Without Chromium or Playwright these tests skip, except in CI, where they fail.
Screenshots are kept under var/screenshots/ for a human to look at.
"""

import json
import mailbox
import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

import pytest
from click.testing import Result

from conftest import (
    IN_CI,
    SAMPLES,
    SmtpServer,
    digest,
    free_port,
    shows,
    wait_for,
    write_busy_day,
)

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Locator, Page

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
SMALLEST, PHONE, DESKTOP = 320, 375, 800
VIEWPORT_HEIGHT = 800
SCREENSHOTS = Path(__file__).parents[1] / "var" / "screenshots"
MIN_CONTRAST = 4.5  # WCAG 2 AA for body-size text


def _unavailable(reason: str) -> NoReturn:
    if IN_CI:
        pytest.fail(f"{reason} (CI must run the browser tests)")
    pytest.skip(reason)


@pytest.fixture(scope="module")
def browser() -> Iterator["Browser"]:
    """One headless Debian Chromium for the whole module."""
    if not CHROMIUM.exists():
        _unavailable(f"{CHROMIUM} is not installed")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _unavailable("the playwright package is not installed")
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(
            executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True
        )
        try:
            yield launched
        finally:
            launched.close()


# --- Building real emails through the command line -------------------------------------------


@dataclass(frozen=True)
class Email:
    """A previewed email: its HTML file and what the edition says it must show."""

    name: str
    html: Path
    sections: list[tuple[str, str]]  # (key, title), in order
    headlines: list[str]


def _ok(*args: str) -> Result:
    result = digest(*args)
    assert result.exit_code == 0, f"digest {' '.join(args)} failed:\n{result.output}"
    return result


def _preview(name: str, day: str) -> Email:
    """Preview the edition of `day` (as a reader gets it) and read its contents from the JSON."""
    _ok("preview", "--date", day, "--out", "var/preview")
    edition = json.loads(_ok("build", "--date", day, "--json").stdout)
    sections = edition["sections"]
    return Email(
        name=name,
        html=Path("var/preview") / f"daily-{day}.html",
        sections=[(s["key"], s["title"]) for s in sections],
        headlines=[item["title"] for s in sections for item in s["items"]],
    )


def _demo_email() -> Email:
    _ok("db", "upgrade")
    _ok("ingest", str(SAMPLES / "articles"))
    return _preview("demo", "2024-06-24")


def _large_email(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Email:
    """Every labelled news item of the test feeds in one day: a 25-odd-story email."""
    monkeypatch.setenv("DIGEST_EDITION__MAX_ITEMS_PER_SECTION", "15")
    _ok("db", "upgrade")
    _ok("ingest", str(write_busy_day(tmp_path / "busy.jsonl", "2024-06-23")))
    email = _preview("large", "2024-06-24")
    assert len(email.headlines) >= 25, "the large email should hold 25-odd stories"
    return email


@pytest.fixture(params=["demo", "large"])
def email(request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Email:
    """A real email built in the test's own folder (the autouse fixture changed into it)."""
    built = _demo_email() if request.param == "demo" else _large_email(tmp_path, monkeypatch)
    assert built.sections, f"the {built.name} edition has no sections"
    return built


# --- Looking at the page -----------------------------------------------------------------------


@contextmanager
def _opened(browser: "Browser", email: Email, width: int, dark: bool = False) -> Iterator["Page"]:
    """The email's HTML at `width` CSS pixels, offline, optionally in dark mode."""
    context = browser.new_context(
        viewport={"width": width, "height": VIEWPORT_HEIGHT},
        color_scheme="dark" if dark else "light",
    )
    # An email must render without fetching anything; refuse every request but the file itself.
    context.route(
        "**/*",
        lambda route: route.continue_() if route.request.url.startswith("file:") else route.abort(),
    )
    try:
        page = context.new_page()
        if dark:
            page.emulate_media(color_scheme="dark")
        page.goto(email.html.resolve().as_uri(), wait_until="load")
        yield page
    finally:
        context.close()


def _screenshot(page: "Page", name: str, width: int) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"{name}-{width}.png"), full_page=True)


def _section_heading(page: "Page", key: str) -> "Locator":
    """The heading the table of contents links to (`#key`)."""
    return page.locator(f'[id="{key}"], a[name="{key}"]').first


def _headline(page: "Page", title: str) -> "Locator":
    """The story's headline: the element inside a `.headline` block whose whole text is the
    title (the visible preheader may repeat a headline word for word)."""
    return page.locator(".headline").get_by_text(title, exact=True).first


# The horizontal extent of an element's rendered text, and the first ancestor that clips it.
_TEXT_EXTENT_JS = """
(element) => {
  const range = document.createRange();
  range.selectNodeContents(element);
  const rects = [...range.getClientRects()].filter((r) => r.width > 0 && r.height > 0);
  if (rects.length === 0) return null;
  const left = Math.min(...rects.map((r) => r.left));
  const right = Math.max(...rects.map((r) => r.right));
  let clippedBy = null;
  for (let node = element; node && node !== document.documentElement; node = node.parentElement) {
    if (getComputedStyle(node).overflowX === "visible") continue;
    const box = node.getBoundingClientRect();
    if (left < box.left - 0.5 || right > box.right + 0.5) {
      clippedBy = `<${node.tagName.toLowerCase()} class="${node.className}">`;
      break;
    }
  }
  return { left, right, clippedBy };
}
"""


def _text_problem(locator: "Locator", width: int, what: str) -> str | None:
    """Why the text of `locator` is not wholly on screen at `width`, or None."""
    extent: dict[str, Any] | None = locator.evaluate(_TEXT_EXTENT_JS)
    if extent is None:
        return f"{what}: no rendered text"
    if extent["left"] < 0 or extent["right"] > width + 0.5:
        return (
            f"{what}: text spans x={extent['left']:.0f}..{extent['right']:.0f}, "
            f"outside the {width}px viewport"
        )
    if extent["clippedBy"]:
        return f"{what}: text clipped by {extent['clippedBy']}"
    return None


# --- Colour ------------------------------------------------------------------------------------

RGB = tuple[float, float, float]
_COLOUR = re.compile(
    r"rgba?\(\s*([\d.]+)[,\s]+([\d.]+)[,\s]+([\d.]+)(?:\s*[,/]\s*([\d.]+%?))?\s*\)"
)

# For each element: its text colour and the background colours behind it, innermost first,
# ending with the canvas colour the browser paints under the page.
_COLOURS_JS = """
(elements) => {
  const probe = document.createElement("div");
  probe.style.backgroundColor = "Canvas";
  document.documentElement.appendChild(probe);
  const canvas = getComputedStyle(probe).backgroundColor;
  probe.remove();
  return elements.map((element) => {
    const backgrounds = [];
    for (let node = element; node; node = node.parentElement) {
      backgrounds.push(getComputedStyle(node).backgroundColor);
    }
    backgrounds.push(canvas);
    const own = [...element.childNodes]
      .filter((n) => n.nodeType === Node.TEXT_NODE)
      .map((n) => n.textContent)
      .join(" ")
      .replace(/\\s+/g, " ")
      .trim();
    return { text: own || element.textContent.trim(), color: getComputedStyle(element).color,
             backgrounds };
  });
}
"""

# Every visible element that holds text of its own (not only through its children).
_TEXT_ELEMENTS_JS = """
() => [...document.body.querySelectorAll("*")].filter((element) => {
  const box = element.getBoundingClientRect();
  return box.width > 0 && box.height > 0
    && element.checkVisibility({ opacityProperty: true, visibilityProperty: true })
    && [...element.childNodes].some(
      (n) => n.nodeType === Node.TEXT_NODE && n.textContent.trim() !== "");
})
"""


@dataclass(frozen=True)
class Contrast:
    text: str
    colour: RGB
    background: RGB

    @property
    def ratio(self) -> float:
        return contrast_ratio(self.colour, self.background)

    def __str__(self) -> str:
        return (
            f"{self.text[:60]!r}: {_hex(self.colour)} on {_hex(self.background)} "
            f"is {self.ratio:.2f}:1"
        )


def _parse_colour(css: str) -> tuple[RGB, float]:
    """(r, g, b) in 0-255 and alpha in 0-1 of a computed CSS colour."""
    if css == "transparent":
        return (0.0, 0.0, 0.0), 0.0
    match = _COLOUR.fullmatch(css.strip())
    assert match, f"unexpected computed colour {css!r}"
    r, g, b, a = match.groups()
    alpha = 1.0 if a is None else float(a[:-1]) / 100 if a.endswith("%") else float(a)
    return (float(r), float(g), float(b)), alpha


def _over(top: RGB, alpha: float, bottom: RGB) -> RGB:
    return (
        top[0] * alpha + bottom[0] * (1 - alpha),
        top[1] * alpha + bottom[1] * (1 - alpha),
        top[2] * alpha + bottom[2] * (1 - alpha),
    )


def _hex(rgb: RGB) -> str:
    return "#" + "".join(f"{round(c):02x}" for c in rgb)


def relative_luminance(rgb: RGB) -> float:
    """WCAG 2 relative luminance of an sRGB colour given in 0-255."""

    def linear(channel: float) -> float:
        c = channel / 255
        return c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4

    r, g, b = (linear(c) for c in rgb)
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


def contrast_ratio(a: RGB, b: RGB) -> float:
    """WCAG 2 contrast ratio, 1 to 21."""
    light, dark = sorted((relative_luminance(a), relative_luminance(b)), reverse=True)
    return (light + 0.05) / (dark + 0.05)


def _contrasts(page: "Page", elements: Any) -> list[Contrast]:
    """The text and background colours, as painted, of each of `elements` (element handles or
    a handle on an array of elements)."""
    found: list[dict[str, Any]] = page.evaluate(_COLOURS_JS, elements)
    contrasts = []
    for element in found:
        background: RGB = (255.0, 255.0, 255.0)
        for css in reversed(element["backgrounds"]):  # paint from the canvas up
            rgb, alpha = _parse_colour(css)
            background = _over(rgb, alpha, background)
        rgb, alpha = _parse_colour(element["color"])
        contrasts.append(Contrast(element["text"], _over(rgb, alpha, background), background))
    return contrasts


def test_contrast_helper_matches_wcag_reference_values() -> None:
    assert contrast_ratio((0, 0, 0), (255, 255, 255)) == pytest.approx(21.0)
    assert contrast_ratio((255, 255, 255), (255, 255, 255)) == pytest.approx(1.0)
    assert contrast_ratio((0x76, 0x76, 0x76), (255, 255, 255)) == pytest.approx(4.54, abs=0.01)
    assert _parse_colour("rgba(17, 20, 24, 0.5)") == ((17.0, 20.0, 24.0), 0.5)
    assert _parse_colour("rgba(0, 0, 0, 0)")[1] == 0.0


# --- The tests ---------------------------------------------------------------------------------


@pytest.mark.parametrize("width", [SMALLEST, PHONE, DESKTOP], ids=["smallest", "phone", "desktop"])
def test_email_fits_the_screen_and_shows_every_section(
    browser: "Browser", email: Email, width: int
) -> None:
    with _opened(browser, email, width) as page:
        _screenshot(page, email.name, width)
        problems: list[str | None] = []

        scroll_width, inner_width = page.evaluate(
            "[document.documentElement.scrollWidth, window.innerWidth]"
        )
        if scroll_width > inner_width:
            problems.append(f"scrolls sideways: scrollWidth {scroll_width} > {inner_width}")

        for key, title in email.sections:
            heading = _section_heading(page, key)
            if heading.count() == 0 or not heading.is_visible():
                problems.append(f"section heading {title!r} (#{key}) is not visible")
                continue
            if title.casefold() not in (heading.text_content() or "").casefold():
                problems.append(f"#{key} reads {heading.text_content()!r}, not {title!r}")
            problems.append(_text_problem(heading, width, f"section heading {title!r}"))

        for title in email.headlines:
            headline = _headline(page, title)
            if headline.count() == 0 or not headline.is_visible():
                problems.append(f"headline {title!r} is not visible")
                continue
            problems.append(_text_problem(headline, width, f"headline {title!r}"))

        unsubscribe = page.get_by_role("link", name="Unsubscribe", exact=True)
        if unsubscribe.count() != 1:
            problems.append(f"{unsubscribe.count()} Unsubscribe links, expected exactly one")
        elif not unsubscribe.is_visible():
            problems.append("the Unsubscribe link is not visible")
        else:
            href = unsubscribe.get_attribute("href") or ""
            if not href.startswith("http"):
                problems.append(f"the Unsubscribe link goes to {href!r}, not an http(s) URL")
            problems.append(_text_problem(unsubscribe, width, "the Unsubscribe link"))

    found = [p for p in problems if p]
    assert not found, f"{email.name} email at {width}px:\n  " + "\n  ".join(found)


@pytest.mark.parametrize("dark", [False, True], ids=["light", "dark"])
def test_text_is_readable_in_light_and_dark_mode(
    browser: "Browser", email: Email, dark: bool
) -> None:
    scheme = "dark" if dark else "light"
    with _opened(browser, email, PHONE, dark=dark) as page:
        assert page.evaluate(f"matchMedia('(prefers-color-scheme: {scheme})').matches")
        if dark:
            _screenshot(page, f"{email.name}-dark", PHONE)
        headlines = [_headline(page, title) for title in email.headlines]
        for title, headline in zip(email.headlines, headlines, strict=True):
            assert headline.is_visible(), f"headline {title!r} is not visible in {scheme} mode"
        headline_contrasts = _contrasts(page, [h.element_handle() for h in headlines])
        text_contrasts = _contrasts(page, page.evaluate_handle(_TEXT_ELEMENTS_JS))

    assert len(text_contrasts) > len(headline_contrasts)
    unreadable = [f"headline {c}" for c in headline_contrasts if c.ratio < MIN_CONTRAST] + [
        f"text {c}" for c in text_contrasts if c.ratio < MIN_CONTRAST
    ]
    assert not unreadable, (
        f"{email.name} email in {scheme} mode at {PHONE}px, below {MIN_CONTRAST}:1:\n  "
        + "\n  ".join(unreadable)
    )


# --- The studio and the subscriber pages, served for real --------------------------------------

STUDIO_DAY = "2024-08-09"


@contextmanager
def _served(studio: bool, port: int) -> Iterator[str]:
    """The web app under uvicorn on 127.0.0.1:`port`, in a thread, for the block's duration."""
    import threading

    import uvicorn

    from digest.config import load_settings
    from digest.service.app import App
    from digest.web import create_app

    app = App.open(load_settings())
    server = uvicorn.Server(
        uvicorn.Config(
            create_app(app, studio=studio), host="127.0.0.1", port=port, log_level="warning"
        )
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        wait_for(lambda: server.started)
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join()
        app.close()


@contextmanager
def _page(browser: "Browser", base: str, width: int = 1680) -> Iterator["Page"]:
    """A page that may only talk to our server: no CDN, no font service, nothing outside."""
    context = browser.new_context(viewport={"width": width, "height": 1050})
    context.route(
        "**/*",
        lambda route: route.continue_() if route.request.url.startswith(base) else route.abort(),
    )
    try:
        yield context.new_page()
    finally:
        context.close()


@pytest.fixture
def studio(browser: "Browser") -> Iterator[str]:
    """The studio over the fuller sample edition, with one reader of Ukraine only."""
    _ok("db", "upgrade")
    _ok("ingest", str(SAMPLES))
    _ok("subscribers", "add", "ada@example.com", "--name", "Ada", "--section", "ukraine")
    _ok("build", "--date", STUDIO_DAY)
    with _served(studio=True, port=free_port()) as base:
        yield base


def _frame_text(page: "Page", frame: str) -> str:
    return page.frame_locator(f"#{frame}").locator("body").inner_text()


def test_studio_switches_between_phone_desktop_dark_text_and_headers(
    browser: "Browser", studio: str
) -> None:
    edition = json.loads(_ok("build", "--date", STUDIO_DAY, "--json").stdout)
    top = edition["sections"][0]["items"][0]["title"]
    with _page(browser, studio) as page:
        page.goto(f"{studio}/studio/{STUDIO_DAY}")
        phone, desktop = page.locator("#phone"), page.locator("#desktop")
        assert phone.bounding_box()["width"] == pytest.approx(PHONE, abs=2)  # type: ignore[index]
        assert desktop.bounding_box()["width"] == pytest.approx(DESKTOP, abs=2)  # type: ignore[index]
        # Side by side, tops aligned, the editor's panel beside them.
        assert phone.bounding_box()["y"] == desktop.bounding_box()["y"]  # type: ignore[index]
        panel = page.locator(".panel").bounding_box()
        assert panel and panel["x"] > desktop.bounding_box()["x"] + DESKTOP  # type: ignore[index]
        for frame in ("phone", "desktop"):
            assert shows(_frame_text(page, frame), top)
        width = page.frame_locator("#phone").locator("html").evaluate("e => e.scrollWidth")
        assert width <= PHONE
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(SCREENSHOTS / "studio.png"))

        page.get_by_role("link", name="Dark", exact=True).click()
        page.wait_for_url("**view=dark**")
        body = page.frame_locator("#phone").locator("body")
        background = body.evaluate("e => getComputedStyle(e).backgroundColor")
        (rgb, _) = _parse_colour(background)
        assert relative_luminance(rgb) < 0.05, f"dark view background is {background}"
        page.screenshot(path=str(SCREENSHOTS / "studio-dark.png"))

        page.get_by_role("link", name="Plain text", exact=True).click()
        assert shows(page.locator("#text").inner_text(), top)
        assert page.locator("#phone").count() == 0

        page.get_by_role("link", name="Headers", exact=True).click()
        headers = page.locator("#headers").inner_text()
        assert "List-Unsubscribe-Post: List-Unsubscribe=One-Click" in headers

        page.get_by_role("link", name="Phone + desktop", exact=True).click()
        # The variant picker is on every tab: choose only once the email view has loaded, with
        # its script, or the navigation still under way (or no listener yet) loses the choice.
        page.locator("#phone").wait_for()
        page.wait_for_load_state("load")
        page.locator("#variant").select_option("ukraine")  # submits itself (studio.js)
        page.wait_for_url("**variant=ukraine**")
        assert "Middle East" not in _frame_text(page, "desktop")


def test_studio_pin_and_drop_change_the_edition(browser: "Browser", studio: str) -> None:
    edition = json.loads(_ok("build", "--date", STUDIO_DAY, "--json").stdout)
    top = edition["sections"][0]["items"][0]
    outsider = next(d for d in edition["dropped"] if d["reason"] == "no-section")
    with _page(browser, studio) as page:
        page.goto(f"{studio}/studio/{STUDIO_DAY}")
        story = page.locator(f'#stories li[data-article="{top["article_id"]}"]')
        story.get_by_role("button", name="Drop").click()
        page.wait_for_url("**done=drop**")
        assert page.get_by_role("status").inner_text().startswith("Dropped")
        assert top["title"] not in _frame_text(page, "desktop")
        assert page.locator(f'#stories li[data-article="{top["article_id"]}"]').count() == 0
        left_out = page.locator(f'#dropped li[data-article="{top["article_id"]}"]')
        assert "editor" in left_out.inner_text()

        candidate = page.locator(f'#dropped li[data-article="{outsider["article_id"]}"]')
        candidate.locator("select").select_option("congress")
        candidate.get_by_role("button", name="Pin").click()
        page.wait_for_url("**done=pin**")
        assert outsider["title"] in _frame_text(page, "desktop")
        pinned = page.locator(f'#stories li[data-article="{outsider["article_id"]}"]')
        assert "pinned" in pinned.inner_text()
        assert "Restore" in left_out.inner_text()
        page.screenshot(path=str(SCREENSHOTS / "studio-after-pin-and-drop.png"))

    after = json.loads(_ok("build", "--date", STUDIO_DAY, "--json").stdout)
    congress = next(s for s in after["sections"] if s["key"] == "congress")
    assert congress["items"][0]["article_id"] == outsider["article_id"]
    assert all(i["article_id"] != top["article_id"] for s in after["sections"] for i in s["items"])


def test_a_subscriber_unsubscribes_from_a_delivered_message(
    browser: "Browser", smtp_server: SmtpServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    port = free_port()
    monkeypatch.setenv("DIGEST_WEB__BASE_URL", f"http://127.0.0.1:{port}/")
    monkeypatch.setenv("DIGEST_DELIVERY__TRANSPORT", "smtp")
    for key, value in smtp_server.settings().items():
        monkeypatch.setenv(f"DIGEST_SMTP__{key.upper()}", str(value))
    _ok("db", "upgrade")
    _ok("ingest", str(SAMPLES / "articles"))
    _ok("subscribers", "add", "ada@example.com", "--name", "Ada")
    _ok("send", "--date", "2024-06-24")
    (received,) = smtp_server.received
    header = str(received.message["List-Unsubscribe"])
    link = re.search(r"<(http://127\.0\.0\.1:\d+/unsubscribe/[^>]+)>", header)
    assert link, header
    assert received.message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"

    with _served(studio=False, port=port) as base, _page(browser, base, PHONE) as page:
        page.goto(link[1])
        assert "ada@example.com" in page.locator("main").inner_text()
        assert _status("ada@example.com") == "active"  # opening the link changed nothing
        page.screenshot(path=str(SCREENSHOTS / "unsubscribe-ask.png"))
        page.get_by_role("button", name="Unsubscribe").click()
        page.wait_for_load_state()
        assert "will get no more messages" in page.locator("main").inner_text()
        page.screenshot(path=str(SCREENSHOTS / "unsubscribe-done.png"))
    assert _status("ada@example.com") == "unsubscribed"


def _status(email: str) -> str:
    for line in _ok("subscribers", "list", "--json").stdout.splitlines():
        if email in line:
            return str(json.loads(line)["status"])
    raise AssertionError(email)


def test_a_subscriber_changes_preferences_and_no_other_site_can_frame_the_pages(
    browser: "Browser", monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """The preferences form posted by the browser itself passes the Origin check; a page of
    another site that frames ours gets nothing shown."""
    port = free_port()
    monkeypatch.setenv("DIGEST_WEB__BASE_URL", f"http://127.0.0.1:{port}/")
    _ok("db", "upgrade")
    _ok("ingest", str(SAMPLES / "articles"))
    _ok("subscribers", "add", "ada@example.com", "--name", "Ada")
    _ok("send", "--date", "2024-06-24")
    (message,) = mailbox.Maildir(tmp_path / "var" / "outbox", create=False)
    body = message.get_payload()[0].get_payload(decode=True).decode()
    link = re.search(r"(http://127\.0\.0\.1:\d+/preferences/\S+)", body)
    assert link, body

    with _served(studio=False, port=port) as base, _page(browser, base, PHONE) as page:
        page.goto(link[1])
        page.get_by_label("Congress").uncheck()
        page.get_by_role("button", name="Save").click()
        page.wait_for_load_state()
        assert "Saved." in page.locator("main").inner_text()
        page.screenshot(path=str(SCREENSHOTS / "preferences-saved.png"))
        assert "congress" not in _ok("subscribers", "list", "--json").stdout

        paths = ("/archive", "/editions/daily/2024-06-24", link[1][len(base) :])
        framing = "".join(f'<iframe src="{base}{path}"></iframe>' for path in paths)
        with _other_site(framing) as attacker, _page(browser, attacker) as hostile:
            hostile.context.route(f"{base}/**", lambda route: route.continue_())
            hostile.goto(attacker)
            hostile.wait_for_load_state()
            framed = [f for f in hostile.frames if f != hostile.main_frame]
            assert len(framed) == len(paths)
            for frame in framed:  # Chromium's error page instead of the archive, edition, form
                shown = frame.content()
                assert not any(mark in shown for mark in ("Daily Digest", "Ukraine", "ada@")), shown
            hostile.screenshot(path=str(SCREENSHOTS / "framing-refused.png"))


@contextmanager
def _other_site(page: str) -> Iterator[str]:
    """Another origin (its own port on loopback) serving one page."""
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = page.encode()
            self.send_response(200)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        thread.join()
        server.server_close()
