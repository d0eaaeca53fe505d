"""`serve`: the web explorer on a local port."""

from __future__ import annotations

import ipaddress
import secrets
from typing import TYPE_CHECKING

import click

from ..errors import StoreError
from ..output import console, err_console
from . import cli

if TYPE_CHECKING:
    from ..web.session import StoreSession

DEFAULT_PORT = 8765


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


@cli.command()
@click.option(
    "--host",
    default="127.0.0.1",
    show_default=True,
    help="Address to listen on; anything but loopback exposes the graph to the network.",
)
@click.option("--port", default=DEFAULT_PORT, show_default=True, type=click.IntRange(1, 65535))
@click.option(
    "--token",
    envvar="SCENEGRAPH_TOKEN",
    default=None,
    metavar="TEXT",
    help="Require this token on every API call (env: SCENEGRAPH_TOKEN).",
)
@click.option("--new-token", is_flag=True, help="Make up a random token and require it.")
@click.pass_context
def serve(ctx: click.Context, host: str, port: int, token: str | None, new_token: bool) -> None:
    """Explore the graph in a browser: search, scene details, neighbours, a read-only Cypher
    console and export of a selection. The store is opened read-only.

    \b
    Example:
      scenegraph serve                      # then open http://127.0.0.1:8765/
      scenegraph --store ./big serve --port 9000 --new-token
    """
    import uvicorn

    from ..web.app import BUNDLE, create_app

    if new_token:
        token = secrets.token_urlsafe(24)
    loopback = is_loopback(host)
    if not loopback:
        err_console.print(
            f"Warning: listening on {host}, not loopback: anyone who can reach "
            "this address can read the whole graph"
            + ("" if token else " (add --new-token to require a token)"),
            markup=False,
            soft_wrap=True,
        )
    if not BUNDLE.exists():
        err_console.print(
            "Warning: the page is not built (run scripts/build-web.sh); the API works without it",
            markup=False,
            soft_wrap=True,
        )
    app = create_app(ctx.obj, token=token, loopback_only=loopback)
    _report_store(app.state.session)
    shown_host = f"[{host}]" if ":" in host else host
    address = f"http://{shown_host}:{port}/" + (f"#token={token}" if token else "")
    console.print(f"scenegraph explorer for {ctx.obj}: {address}", markup=False, soft_wrap=True)
    uvicorn.run(app, host=host, port=port, log_level="warning")


def _report_store(session: StoreSession) -> None:
    """Say at once whether the store opens, and whether a writer holds it."""
    try:
        status = session.status()
    except StoreError as exc:
        err_console.print(
            f"Warning: {exc} (the explorer starts anyway and retries on each request)",
            markup=False,
            soft_wrap=True,
        )
        return
    if status.message:
        err_console.print(f"Warning: {status.message}", markup=False, soft_wrap=True)
