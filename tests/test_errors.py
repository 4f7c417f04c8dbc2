"""The error registry is the contract: codes are dotted, documented and current."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from elicense import ERROR_CODES, ElicenseError
from elicense.docs import GENERATED
from elicense.errors import WARNING_CODES

FILE_SUFFIXES = {"md", "py", "yaml", "yml", "json", "jwt", "pem", "db", "txt"}
DOCS = Path(__file__).resolve().parent.parent / "docs"


def test_every_code_is_dotted_lower_case_and_titled_in_both_languages() -> None:
    for code, spec in ERROR_CODES.items():
        assert re.fullmatch(r"[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)+", code), code
        assert spec.title_zh, code
        assert spec.title_en, code
        assert spec.description, code
        assert 400 <= spec.http_status < 500 or spec.http_status == 503


def test_unregistered_code_cannot_be_raised() -> None:
    with pytest.raises(ValueError, match="unregistered"):
        ElicenseError("no.such_code")


def test_error_carries_code_message_and_details() -> None:
    exc = ElicenseError("uscc.bad_check", details={"position": 18})
    assert exc.to_dict() == {
        "code": "uscc.bad_check",
        "message": ERROR_CODES["uscc.bad_check"].title_en,
        "details": {"position": 18},
    }


@pytest.mark.parametrize("name", sorted(GENERATED))
def test_generated_docs_are_current(name: str) -> None:
    committed = (DOCS / name).read_text(encoding="utf-8")
    assert committed == GENERATED[name](), f"docs/{name} is stale: run `make docs`"


def test_every_code_like_literal_in_the_source_is_registered() -> None:
    """A code passed around as a string (``_fail("…")``, ``b64d(text, "…")``, a refusal
    variable) cannot reach a client unregistered: every literal shaped like one of our
    codes must be in the registry."""
    import ast

    prefixes = {code.split(".")[0] for code in ERROR_CODES}
    src = Path(__file__).resolve().parent.parent / "src" / "elicense"
    missing = set()
    for path in src.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Constant) and isinstance(node.value, str):
                m = re.fullmatch(r"([a-z_]+)\.([a-z][a-z0-9_]*)", node.value)
                known = node.value in ERROR_CODES or node.value in WARNING_CODES
                if m and m.group(1) in prefixes and m.group(2) not in FILE_SUFFIXES and not known:
                    missing.add(f"{path.name}: {node.value}")
    assert not missing, sorted(missing)
