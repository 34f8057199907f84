"""Commands for the web side: the preview (as files, in the studio, or one page) and the
subscriber pages."""

import asyncio
import socket
import webbrowser
from datetime import date
from pathlib import Path

import click
import httpx
import uvicorn
from starlette.types import ASGIApp

from digest.cli.base import app_of, cli, date_option, err, out
from digest.errors import DigestError
from digest.service import editions
from digest.web import create_app


@cli.command("preview")
@date_option
@click.option(
    "--out",
    "out_dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("var/preview"),
    show_default=True,
    help="Folder for the preview files.",
)
@click.option("--serve", is_flag=True, help="Open the editor's studio on a local web server.")
@click.option("--open", "open_browser", is_flag=True, help="With --serve: open it in a browser.")
@click.option("--host", default="127.0.0.1", show_default=True, help="With --serve: address.")
@click.option("--port", default=8000, show_default=True, help="With --serve: port (0: any).")
@click.option("--get", "get_path", metavar="PATH", help="Print one studio page; open no port.")
@click.pass_context
def preview_cmd(
    ctx: click.Context,
    day: date,
    out_dir: Path,
    serve: bool,
    open_browser: bool,
    host: str,
    port: int,
    get_path: str | None,
) -> None:
    """See the edition as a reader gets it.

    By default writes the .html, .txt and .eml files. With --serve, the studio: the exact
    email at phone and desktop width, dark mode, text and headers, every story with its
    score and reasons, pin, drop, move and reorder, the checks, test copies and approval.
    With --get PATH, prints that page (e.g. /studio/2024-06-24?view=text) and exits.
    """
    app = app_of(ctx)
    if serve and get_path:
        raise click.UsageError("give --serve or --get, not both")
    if not serve and not get_path:
        files = editions.preview(app, day, out_dir)
        out.print(f"HTML preview: {files.html}")
        out.print(f"Plain text:   {files.text}")
        out.print(f"Message:      {files.eml}")
        return
    editions.build(app, day)
    if get_path:
        status, body = asyncio.run(_get(create_app(app, studio=True), get_path))
        click.echo(body, nl=False)
        if status >= 400:
            err.print(f"error: GET {get_path} answered {status}")
            ctx.exit(1)
        return
    _serve(create_app(app, studio=True, bind_host=host), host, port, f"/studio/{day}", open_browser)


@cli.command("serve")
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", default=8000, show_default=True, help="Port to listen on.")
@click.pass_context
def serve_cmd(ctx: click.Context, host: str, port: int) -> None:
    """Serve the pages the email links open (unsubscribe, preferences, confirmation, the
    archive); put it behind a reverse proxy that terminates TLS."""
    _serve(create_app(app_of(ctx), bind_host=host), host, port, "/archive", False)


async def _get(asgi: ASGIApp, path: str) -> tuple[int, str]:
    if not path.startswith("/"):
        raise DigestError(f"--get takes a path starting with '/', not {path!r}")
    transport = httpx.ASGITransport(app=asgi)
    # Redirects are followed, so `--get /studio` prints the list rather than nothing.
    async with httpx.AsyncClient(
        transport=transport, base_url="http://127.0.0.1", follow_redirects=True
    ) as client:
        response = await client.get(path)
    return response.status_code, response.text


def _serve(asgi: ASGIApp, host: str, port: int, path: str, open_browser: bool) -> None:
    """Listen first, then say where (and open the browser): the socket already queues
    connections, so the page is there as soon as the browser asks."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    listener = socket.socket(family, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        listener.bind((host, port))
    except OSError as exc:
        listener.close()
        raise DigestError(f"cannot listen on {host}:{port}: {exc.strerror}") from None
    listener.listen(128)
    bound = listener.getsockname()[1]
    shown = f"[{host}]" if family == socket.AF_INET6 else host
    url = f"http://{shown}:{bound}{path}"
    out.print(f"Serving {url} (Ctrl-C stops)")
    if open_browser:
        webbrowser.open(url)
    # The application reads X-Forwarded-For itself, from `[web] trusted_proxies` only; uvicorn
    # would otherwise believe it from 127.0.0.1 (or $FORWARDED_ALLOW_IPS) first.
    server = uvicorn.Server(uvicorn.Config(asgi, log_level="info", proxy_headers=False))
    server.run(sockets=[listener])
