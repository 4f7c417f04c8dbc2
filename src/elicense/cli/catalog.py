"""``elicense catalog``: list, show and validate license catalogs."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from elicense.catalog import Catalog, builtin_catalog, load_catalog
from elicense.cli._common import JsonOption, console, handles_errors, print_json

app = typer.Typer(help="证照目录 License catalog.", no_args_is_help=True)

CatalogOption = typer.Option(
    "--catalog", help="A catalog file (JSON or YAML) instead of the built-in one."
)


def validity_zh(months: int | None) -> str:
    if months is None:
        return "长期"
    return f"{months // 12}年" if months % 12 == 0 else f"{months}个月"


def _catalog(path: Path | None) -> Catalog:
    return load_catalog(path) if path is not None else builtin_catalog()


@app.command("list")
@handles_errors
def list_types(
    catalog: Annotated[Path | None, CatalogOption] = None,
    search: Annotated[str | None, typer.Option(help="Filter by code or name.")] = None,
    as_json: bool = JsonOption,
) -> None:
    """List license types."""
    cat = _catalog(catalog)
    types = cat.find(search) if search else list(cat)
    if as_json:
        print_json([t.to_dict() for t in types])
        return
    table = Table("名称", "持证主体", "有效期", "照面项")
    table.add_column("类型代码 type code", no_wrap=True, min_width=21)
    for t in types:
        table.add_row(
            t.name_zh, t.holder_kind.value, validity_zh(t.validity_months), str(len(t.fields)),
            t.code,
        )  # fmt: skip
    console.print(table)
    console.print(f"{len(types)} types")


@app.command("show")
@handles_errors
def show(
    code: Annotated[str, typer.Argument(help="Type code (21 characters) or a unique name.")],
    catalog: Annotated[Path | None, CatalogOption] = None,
    as_json: bool = JsonOption,
) -> None:
    """Show one license type and its face fields."""
    cat = _catalog(catalog)
    if code not in cat:
        matches = [t for t in cat if code in (t.name_zh, t.name_en)]
        code = matches[0].code if len(matches) == 1 else code
    t = cat.get(code)
    if as_json:
        print_json(t.to_dict())
        return
    console.print(f"[bold]{t.name_zh}[/bold] {t.name_en}  {t.code}")
    console.print(
        f"  持证主体 {t.holder_kind.value} · 制定机关 {t.authority} · "
        f"有效期 {validity_zh(t.validity_months)}"
    )
    table = Table("照面项", "type", "required", "sensitivity", "display")
    table.add_column("key", no_wrap=True)
    for f in t.fields:
        display = f.display.value + (f" ({f.mask.value})" if f.mask else "")
        kind = f.value_type.value + (f":{f.scheme.value}" if f.scheme else "")
        table.add_row(f.label, kind, "yes" if f.required else "", f.sensitivity.value, display,
                      f.key)  # fmt: skip
    console.print(table)


@app.command("validate")
@handles_errors
def validate(
    file: Annotated[Path, typer.Argument(help="Catalog file, JSON or YAML.")],
    as_json: bool = JsonOption,
) -> None:
    """Check a catalog file; report every broken entry at once (exit 1 if any)."""
    cat = load_catalog(file)
    if as_json:
        print_json({"ok": True, "types": len(cat)})
    else:
        console.print(f"[green]✓[/green] {len(cat)} license types, no problems")
