"""``elicense db``: create and migrate the database, and say which revision it is at.

The service refuses to start on an out-of-date schema; this is the command its error
message points to. ``--url`` defaults to ``ELICENSE_DATABASE_URL``, then to
``sqlite:///elicense.db`` in the working directory.
"""

from __future__ import annotations

import os
from typing import Annotated

import typer
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from elicense.cli._common import JsonOption, console, handles_errors, print_json
from elicense.storage import current_revision, head_revision, upgrade

app = typer.Typer(help="数据库 Database schema and migrations.", no_args_is_help=True)

URL_ENV = "ELICENSE_DATABASE_URL"
DEFAULT_URL = "sqlite:///elicense.db"

UrlOption = typer.Option(
    "--url",
    help=f"Database URL (sqlite:///PATH or postgresql://…); default ${URL_ENV} or {DEFAULT_URL}.",
)


def _url(url: str | None) -> str:
    return url or os.environ.get(URL_ENV) or DEFAULT_URL


def _safe(url: str) -> str:
    """The URL without its password, for printing."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except (ArgumentError, ValueError):
        return "<unparsable URL>"


@app.command("upgrade")
@handles_errors
def upgrade_cmd(
    url: Annotated[str | None, UrlOption] = None,
    as_json: bool = JsonOption,
) -> None:
    """Create the schema or apply pending migrations (safe to run again)."""
    target = _url(url)
    before = current_revision(target)
    after = upgrade(target)
    if as_json:
        print_json({"ok": True, "url": _safe(target), "from": before, "to": after})
    elif before == after:
        console.print(
            f"[green]✓[/green] {_safe(target)} is up to date at revision {after}", soft_wrap=True
        )
    else:
        console.print(
            f"[green]✓[/green] {_safe(target)} migrated from {before or 'empty'} to {after}",
            soft_wrap=True,
        )


@app.command("current")
@handles_errors
def current_cmd(
    url: Annotated[str | None, UrlOption] = None,
    as_json: bool = JsonOption,
) -> None:
    """Show the database's schema revision and the one this version expects."""
    target = _url(url)
    rev = current_revision(target)
    head = head_revision()
    if as_json:
        print_json(
            {
                "ok": True,
                "url": _safe(target),
                "current": rev,
                "head": head,
                "up_to_date": rev == head,
            }
        )
        return
    state = "up to date" if rev == head else "needs `elicense db upgrade`"
    console.print(
        f"{_safe(target)}: revision {rev or 'none'} (expected {head}) — {state}", soft_wrap=True
    )
