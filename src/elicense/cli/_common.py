"""Shared CLI plumbing: the clock, JSON output, and turning ElicenseError into exit 1.

The CLI is an outer layer: it is where the wall clock is read and passed into the core.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import sys
from collections.abc import Callable
from functools import wraps
from pathlib import Path
from typing import Any, ParamSpec, TypeVar

import typer
from rich.console import Console

from elicense.errors import ElicenseError

EXIT_OK = 0
EXIT_INVALID = 1
EXIT_USAGE = 2

#: China Standard Time has no daylight saving; a fixed offset avoids a tzdata dependency.
CHINA_TZ = dt.timezone(dt.timedelta(hours=8), "CST")

console = Console(highlight=False)
err_console = Console(stderr=True, highlight=False)

JsonOption = typer.Option(False, "--json", help="Print machine-readable JSON on stdout.")


def today() -> dt.date:
    return dt.datetime.now(CHINA_TZ).date()


def print_json(data: Any) -> None:
    sys.stdout.write(json.dumps(data, ensure_ascii=False, indent=2, default=str) + "\n")


def report_error(exc: ElicenseError, as_json: bool) -> None:
    if as_json:
        print_json({"ok": False, "error": exc.to_dict()})
    else:
        err_console.print(f"[red]错误 error[/red] {exc.code}: {exc.message}")
        for problem in exc.details.get("problems", []):
            err_console.print(
                f"  - {problem['entry']} · {problem['field'] or '-'}: {problem['reason']}"
            )


P = ParamSpec("P")
R = TypeVar("R")


def handles_errors(func: Callable[P, R]) -> Callable[P, R]:
    """Exit 1 with the error code (JSON when --json) instead of a traceback."""

    @wraps(func)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return func(*args, **kwargs)
        except ElicenseError as exc:
            report_error(exc, bool(kwargs.get("as_json")))
            raise typer.Exit(EXIT_INVALID) from None

    return wrapper


PASSPHRASE_ENV = "ELICENSE_KEY_PASSPHRASE"  # noqa: S105 - a variable name, not a secret


def passphrase(env_name: str) -> bytes:
    """Key passphrases come from the environment, never from argv (visible in ps)."""
    value = os.environ.get(env_name)
    if not value:
        err_console.print(f"[red]set {env_name} to the key passphrase[/red]")
        raise typer.Exit(EXIT_USAGE)
    return value.encode("utf-8")


def now_epoch() -> int:
    return int(dt.datetime.now(dt.UTC).timestamp())


def read_text(path: str) -> str:
    """A path, or ``-`` for standard input; surrounding whitespace (scanner CR/LF) dropped."""
    if path == "-":
        return sys.stdin.read().strip()
    try:
        return Path(path).read_text(encoding="utf-8").strip()
    except OSError as exc:
        err_console.print(f"[red]cannot read {path}: {exc.strerror}[/red]")
        raise typer.Exit(EXIT_USAGE) from None


def holder_key(text: str, now: int) -> tuple[str, str]:
    """(holder code type, canonical code) for a resident ID number or a credit code typed
    on the command line; anything else (a license identifier, a typo) is refused."""
    from elicense.claims import local_date  # noqa: PLC0415 - keep CLI start-up light
    from elicense.identifiers import IdentifierKind, check_identifier  # noqa: PLC0415

    v = check_identifier(text, today=local_date(now))
    if not v.valid or v.kind not in (IdentifierKind.RESIDENT_ID, IdentifierKind.USCC):
        raise v.error or ElicenseError("id.unrecognised")
    code = v.parsed["number" if v.kind is IdentifierKind.RESIDENT_ID else "code"]
    return str(v.parsed["holder_code_type"]), str(code)
