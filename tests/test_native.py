"""The compiled hot modules: current, and really compiled where the build promised it."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from elicense import native


def test_a_compiled_module_older_than_its_source_is_reported_stale(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The session guard in conftest.py stops the run on a stale build, so the real tree is
    # current here; the mechanism itself is checked on files of known ages.
    assert native.stale_modules() == []
    source, ext = tmp_path / "m.py", tmp_path / "m.so"
    source.write_text("", encoding="utf-8")
    ext.write_bytes(b"")
    monkeypatch.setattr(native, "NATIVE_MODULES", ("m",))
    monkeypatch.setattr(native, "source_path", lambda _m: source)
    monkeypatch.setattr(native, "compiled_path", lambda _m: ext)
    os.utime(ext, (1_000, 1_000))
    os.utime(source, (2_000, 2_000))
    assert native.stale_modules() == ["m"]
    os.utime(ext, (3_000, 3_000))
    assert native.stale_modules() == []
    monkeypatch.setattr(native, "compiled_path", lambda _m: None)  # plain Python: never stale
    assert native.stale_modules() == []


@pytest.mark.skipif(
    not os.environ.get("ELICENSE_NATIVE_REQUIRED"), reason="plain Python run (no `make native`)"
)
def test_every_hot_module_runs_compiled_when_make_built_them() -> None:
    assert native.compiled_modules() == dict.fromkeys(native.NATIVE_MODULES, True)
    assert native.describe().startswith("native: all")


def test_every_listed_module_has_its_source() -> None:
    for module in native.NATIVE_MODULES:
        assert native.source_path(module).is_file(), module
