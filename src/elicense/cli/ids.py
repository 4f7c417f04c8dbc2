"""``elicense id``: check resident IDs, credit codes and license identifiers."""

from __future__ import annotations

from typing import Annotated

import typer

from elicense.cli._common import (
    EXIT_INVALID,
    JsonOption,
    console,
    err_console,
    print_json,
    today,
)
from elicense.identifiers import IdentifierKind, check_identifier

app = typer.Typer(help="证件与代码校验 Check Chinese identifiers.", no_args_is_help=True)


@app.command("check")
def check(
    value: Annotated[str, typer.Argument(help="身份号码, 统一社会信用代码 or 证照标识.")],
    kind: Annotated[
        IdentifierKind | None, typer.Option(help="Force the kind instead of detecting it.")
    ] = None,
    as_json: bool = JsonOption,
) -> None:
    """Detect the kind of VALUE, validate it and print its parts.

    Exit 0 when valid, 1 when invalid (with the error code), 2 on usage errors.
    """
    verdict = check_identifier(value, today=today(), kind=kind)
    if as_json:
        print_json(verdict.to_dict())
    elif verdict.valid:
        console.print(f"[green]✓ 有效 valid[/green] ({verdict.kind.value if verdict.kind else ''})")
        for key, val in verdict.parsed.items():
            console.print(f"  {key}: {val}")
        for w in verdict.warnings:
            console.print(f"  [yellow]warning[/yellow] {w}")
    else:
        err = verdict.error
        kind_name = verdict.kind.value if verdict.kind else "unknown"
        if err is not None:
            err_console.print(f"[red]✗ 无效 invalid[/red] ({kind_name}) {err.code}: {err.message}")
            for key, val in err.details.items():
                err_console.print(f"  {key}: {val}")
    if not verdict.valid:
        raise typer.Exit(EXIT_INVALID)
