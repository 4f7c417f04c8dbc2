"""Which modules are compiled to C with mypyc, and whether the compiled ones are current.

The verify and issue paths (SD-JWT processing, strict JOSE parsing, claims, faces,
identifiers, trust lookups) and the bulk import (its signing processes' per-row reading,
checks and row building: 9–12 % less CPU per row than interpreted, in-process) are
compiled: the same source, type-checked by mypy --strict,
runs several times faster as a C extension, and no hand-written C is involved. Every
module also runs as plain Python: where nothing was compiled (no C compiler, another
platform), elicense behaves the same, only slower. ``make`` compiles them in place (the
extension sits next to its ``.py`` and wins the import); a compiled module older than its
source would run stale code, so the test suite refuses to start on one and the benchmarks
print what they ran.

Run as a script (``python src/elicense/native.py``) it prints the source paths to
compile, for the Makefile; it imports nothing of elicense for that.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

#: Compiled together (one mypyc group: calls between them are C calls).
NATIVE_MODULES = (
    "elicense.bulk",
    "elicense.claims",
    "elicense.codes",
    "elicense.compact",
    "elicense.faces",
    "elicense.identifiers.license_id",
    "elicense.identifiers.resident",
    "elicense.identifiers.uscc",
    "elicense.jose.b64",
    "elicense.jose.jws",
    "elicense.jose.keys",
    "elicense.jose.sjson",
    "elicense.licenses",
    "elicense.sdjwt",
    "elicense.trust",
)

_SRC = Path(__file__).resolve().parent.parent


def source_path(module: str) -> Path:
    return _SRC.joinpath(*module.split(".")).with_suffix(".py")


def compiled_path(module: str) -> Path | None:
    """The extension that ``import`` would load for ``module``, if one is there."""
    spec = importlib.util.find_spec(module)
    origin = spec.origin if spec is not None else None
    if origin is None or origin.endswith(".py"):
        return None
    return Path(origin)


def compiled_modules() -> dict[str, bool]:
    """Module → whether it is loaded (or would be) from a compiled extension."""
    return {m: compiled_path(m) is not None for m in NATIVE_MODULES}


def stale_modules() -> list[str]:
    """Compiled modules whose source changed after they were compiled."""
    stale = []
    for module in NATIVE_MODULES:
        path = compiled_path(module)
        if path is not None and path.stat().st_mtime < source_path(module).stat().st_mtime:
            stale.append(module)
    return stale


def describe() -> str:
    """One line for benchmark output: what ran."""
    compiled = compiled_modules()
    done = sum(compiled.values())
    if done == len(compiled):
        return f"native: all {done} hot modules compiled with mypyc"
    if done == 0:
        return "native: none compiled (plain Python; run `make native`)"
    missing = ", ".join(m for m, c in compiled.items() if not c)
    return f"native: {done}/{len(compiled)} compiled; plain Python: {missing}"


if __name__ == "__main__":  # pragma: no cover - used by the Makefile
    root = _SRC.parent
    sys.stdout.write(" ".join(str(source_path(m).relative_to(root)) for m in NATIVE_MODULES))
    sys.stdout.write("\n")
