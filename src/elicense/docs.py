"""Generators for the docs that are derived from code (errors, built-in catalog).

``python -m elicense.docs [DIR]`` rewrites them; a test fails when the committed copies
drift from what the code says, so the docs can never silently go stale.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path

from elicense.catalog import Catalog, builtin_catalog, format_validity
from elicense.errors import render_errors_markdown


def render_catalog_markdown(catalog: Catalog | None = None) -> str:
    cat = catalog or builtin_catalog()
    out = [
        "# Built-in license catalog (证照目录)",
        "",
        "Generated from `src/elicense/data/catalog.yaml` by `python -m elicense.docs`; do not",
        "edit by hand. Type codes are GB/T 36904 type codes: the defining authority's unified",
        "social credit code plus a 3-digit number. The authority codes here are valid GB 32100",
        "codes computed for illustration, not official registry codes; a city loads its own",
        "catalog with the official codes (`elicense catalog validate FILE`, then",
        "`--catalog FILE`).",
        "",
        f"{len(cat)} types.",
        "",
        "| type code | 名称 | name | holder | authority | validity | fields |",
        "|---|---|---|---|---|---|---|",
    ]
    for t in cat:
        out.append(
            f"| `{t.code}` | {t.name_zh} | {t.name_en} | {t.holder_kind.value} | {t.authority} "
            f"| {format_validity(t.validity_months)} | {len(t.fields)} |"
        )
    for t in cat:
        out += [
            "",
            f"## {t.name_zh} — {t.name_en}",
            "",
            f"`{t.code}` · {t.holder_kind.value} · {t.authority} · "
            f"{format_validity(t.validity_months)}",
            "",
            "| key | 照面项 | type | required | sensitivity | display |",
            "|---|---|---|---|---|---|",
        ]
        for f in t.fields:
            kind = f.value_type.value + (f" ({f.scheme.value})" if f.scheme else "")
            if f.options:
                kind += ": " + " / ".join(f.options)
            display = f.display.value + (f" ({f.mask.value})" if f.mask else "")
            out.append(
                f"| `{f.key}` | {f.label} | {kind} | {'yes' if f.required else ''} "
                f"| {f.sensitivity.value} | {display} |"
            )
    return "\n".join(out) + "\n"


def render_cli_markdown() -> str:
    from elicense.cli import app  # noqa: PLC0415 - the CLI layer, only for this document
    from elicense.cli.reference import render  # noqa: PLC0415

    return render(app)


GENERATED: dict[str, Callable[[], str]] = {
    "errors.md": render_errors_markdown,
    "catalog.md": render_catalog_markdown,
    "cli.md": render_cli_markdown,
}


def write_all(directory: Path) -> list[Path]:
    written = []
    for name, render in GENERATED.items():
        path = directory / name
        path.write_text(render(), encoding="utf-8")
        written.append(path)
    return written


if __name__ == "__main__":
    target = Path(sys.argv[1]) if len(sys.argv) > 1 else Path("docs")
    for p in write_all(target):
        sys.stdout.write(f"wrote {p}\n")
