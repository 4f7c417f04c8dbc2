"""``elicense import FILE``: bulk digitisation of historical licenses into a platform home.

The work is in ``elicense.bulk``; this command adds the operator's side: the passphrase
from the environment, a progress bar (rows/s and time left, on a terminal only, so logs
and ``--json`` output stay clean), and a summary.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated

import typer
from rich.progress import (
    BarColumn,
    Progress,
    ProgressColumn,
    Task,
    TaskProgressColumn,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.text import Text

from elicense import bulk
from elicense.cli._common import (
    PASSPHRASE_ENV,
    JsonOption,
    console,
    err_console,
    handles_errors,
    passphrase,
    print_json,
)
from elicense.cli.platform_cmds import DEFAULT_HOME, HomeOption


class _RowRate(ProgressColumn):
    """Rows per second since the start (the task itself advances in bytes)."""

    def __init__(self, started: float) -> None:
        super().__init__()
        self.started = started

    def render(self, task: Task) -> Text:
        rows = int(task.fields.get("rows", 0))
        elapsed = max(time.perf_counter() - self.started, 1e-9)
        return Text(f"{rows:,} rows · {rows / elapsed:,.0f}/s", style="progress.data.speed")


@handles_errors
def import_licenses(
    file: Annotated[
        Path,
        typer.Argument(
            help="CSV (UTF-8, header row) or JSON Lines export.",
            exists=True,
            dir_okay=False,
            readable=True,
        ),
    ],
    home: Annotated[Path, HomeOption] = DEFAULT_HOME,
    fmt: Annotated[
        str | None,
        typer.Option("--format", help="csv or jsonl (default: from the file name)."),
    ] = None,
    mapping: Annotated[
        Path | None,
        typer.Option("--map", help="YAML mapping of the file's column names to field keys."),
    ] = None,
    rejects: Annotated[
        Path | None,
        typer.Option("--reject", "--rejects", help="Reject file (default: FILE.rejects.csv)."),
    ] = None,
    batch_size: Annotated[
        int, typer.Option(help="Rows per database transaction.", min=1)
    ] = bulk.DEFAULT_BATCH,
    workers: Annotated[
        int | None, typer.Option(help="Signing processes (default: one per core).", min=1)
    ] = None,
    database_url: Annotated[
        str | None, typer.Option(help="Database URL (default: the home's).")
    ] = None,
    as_json: bool = JsonOption,
) -> None:
    """Import historical licenses: validate, sign, store; rejected rows to a reject file.

    Safe to re-run on the same file: licenses already stored (same issuer, type and
    number) are skipped, so an interrupted import resumes where it stopped.
    """
    if fmt is not None and fmt not in ("csv", "jsonl"):
        raise typer.BadParameter("csv or jsonl", param_hint="--format")
    pw = passphrase(PASSPHRASE_ENV)
    options = bulk.ImportOptions(
        fmt="csv" if fmt == "csv" else "jsonl" if fmt == "jsonl" else None,
        mapping=bulk.load_mapping(mapping) if mapping is not None else {},
        batch_size=batch_size,
        workers=workers,
    )
    reject_path = rejects or file.with_name(file.name + ".rejects.csv")
    show = not as_json and err_console.is_terminal
    started = time.perf_counter()
    bar = Progress(
        TextColumn("[bold]导入 import[/bold]"),
        BarColumn(),
        TaskProgressColumn(),
        _RowRate(started),
        TimeElapsedColumn(),
        TextColumn("ETA"),
        TimeRemainingColumn(),
        console=err_console,
        disable=not show,
        transient=False,
    )
    with bar:
        task = bar.add_task("import", total=max(file.stat().st_size, 1), rows=0)

        def progress(p: bulk.Progress) -> None:
            bar.update(task, completed=p.done_bytes, rows=p.rows)

        summary = bulk.import_file(
            home,
            file,
            passphrase=pw,
            now=int(time.time()),
            rejects=reject_path,
            options=options,
            database_url=database_url,
            on_progress=progress,
        )
        bar.update(task, completed=file.stat().st_size, rows=summary.rows)
    if as_json:
        print_json({"ok": True, **summary.to_dict()})
        return
    console.print(
        f"[green]✓[/green] {summary.rows:,} rows: {summary.imported:,} imported "
        f"({summary.aliased:,} under a new standard identifier, old one kept as alias), "
        f"{summary.already_present:,} already present, {summary.rejected:,} rejected"
    )
    console.print(
        f"  {summary.seconds:,.1f} s, {summary.rate:,.0f} licenses/s"
        + (f"; rejected rows in {summary.reject_file}" if summary.rejected else "")
    )
