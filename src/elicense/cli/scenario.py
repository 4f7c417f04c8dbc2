"""``elicense scenario``: list, show and validate scenarios (场景/事项)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from elicense.catalog import builtin_catalog, load_catalog
from elicense.cli._common import JsonOption, console, handles_errors, print_json
from elicense.scenarios import ScenarioSet, builtin_scenarios, load_scenarios

app = typer.Typer(help="场景/事项 Scenarios.", no_args_is_help=True)

FileOption = typer.Option("--scenarios", help="A scenario file instead of the built-in set.")
CatalogOption = typer.Option("--catalog", help="The catalog the scenarios refer to.")


def _load(path: Path | None, catalog: Path | None) -> ScenarioSet:
    cat = load_catalog(catalog) if catalog else builtin_catalog()
    return load_scenarios(path, cat) if path else builtin_scenarios()


@app.command("list")
@handles_errors
def list_scenarios(
    scenarios: Annotated[Path | None, FileOption] = None,
    catalog: Annotated[Path | None, CatalogOption] = None,
    as_json: bool = JsonOption,
) -> None:
    """List scenarios with their legal basis and relying-party kinds."""
    items = list(_load(scenarios, catalog))
    if as_json:
        print_json([s.to_dict() for s in items])
        return
    table = Table("no.", "事项", "basis", "relying parties")
    table.add_column("id", no_wrap=True)
    for s in items:
        table.add_row(
            str(s.number),
            s.name_zh,
            s.basis.value,
            ", ".join(sorted(k.value for k in s.rp_kinds)),
            s.id,
        )
    console.print(table)


@app.command("show")
@handles_errors
def show(
    scenario_id: Annotated[str, typer.Argument(help="Scenario id, e.g. hotel_checkin.")],
    scenarios: Annotated[Path | None, FileOption] = None,
    catalog: Annotated[Path | None, CatalogOption] = None,
    as_json: bool = JsonOption,
) -> None:
    """Show which fields a scenario shows, and how."""
    cat = load_catalog(catalog) if catalog else builtin_catalog()
    s = _load(scenarios, catalog).get(scenario_id)
    if as_json:
        print_json(s.to_dict())
        return
    console.print(f"[bold]{s.name_zh}[/bold] {s.name_en} ({s.id}, no. {s.number})")
    console.print(f"  依据 {s.basis.value}: {s.legal_basis}")
    console.print(
        f"  保存期限 {s.retention_days} 天 · 用证单位 "
        f"{', '.join(sorted(k.value for k in s.rp_kinds))}"
    )
    for sl in s.licenses:
        t = cat.get(sl.type_code)
        console.print(f"  [bold]{t.name_zh}[/bold]{'' if sl.required else '（可选）'}")
        for f in sl.fields:
            label = t.face_field(f.key).label if t.has_field(f.key) else "证照有效"
            how = f.show.value + (f" ({f.mask.value})" if f.mask else "")
            console.print(f"    {label:<10} {how}")


@app.command("validate")
@handles_errors
def validate(
    file: Annotated[Path, typer.Argument(help="Scenario file (JSON or YAML).")],
    catalog: Annotated[Path | None, CatalogOption] = None,
    as_json: bool = JsonOption,
) -> None:
    """Check a scenario file against the catalog; report every problem (exit 1 if any)."""
    n = len(_load(file, catalog))
    if as_json:
        print_json({"ok": True, "scenarios": n})
    else:
        console.print(f"[green]✓[/green] {n} scenarios, no problems")
