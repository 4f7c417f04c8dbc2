"""The compiled hot modules: current, and really compiled where the build promised it."""

from __future__ import annotations

import os

import pytest

from elicense import native


def test_no_compiled_module_is_older_than_its_source() -> None:
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
