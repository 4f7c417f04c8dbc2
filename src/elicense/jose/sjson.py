"""Strict JSON for tokens (checklist items 4 and 5).

Strict UTF-8 without BOM; duplicate member names, NaN/Infinity, lone surrogates, huge
numbers and deep nesting are refused; the top level must be an object. Parsing happens
after the length cap, so the cost of every check here is bounded.
"""

from __future__ import annotations

import json
import re
from typing import Any

from elicense.errors import ElicenseError

MAX_DEPTH = 16
_MAX_NUMBER_CHARS = 24
_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F]")


class _Refused(ValueError):
    def __init__(self, code: str) -> None:
        super().__init__(code)
        self.code = code


def _pairs(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    obj = dict(pairs)
    if len(obj) != len(pairs):
        raise _Refused("token.duplicate_member")
    return obj


def _constant(_: str) -> Any:
    raise _Refused("token.bad_json")


def _float(text: str) -> float:
    value = float(text)
    if len(text) > _MAX_NUMBER_CHARS or value in (float("inf"), float("-inf")):
        raise _Refused("token.bad_json")
    return value


_DECODER = json.JSONDecoder(object_pairs_hook=_pairs, parse_constant=_constant, parse_float=_float)
# Integers need no hook: the length cap bounds them, CPython refuses over 4300 digits, and
# every claim elicense interprets is range-checked where it is read.


def _depth_ok(value: Any, budget: int) -> bool:
    if budget < 0:
        return False
    if isinstance(value, dict):
        return all(_depth_ok(v, budget - 1) for v in value.values())
    if isinstance(value, list):
        return all(_depth_ok(v, budget - 1) for v in value)
    return True


def _strings_ok(value: Any) -> bool:
    """No lone surrogates anywhere (they cannot be encoded as UTF-8)."""
    try:
        if isinstance(value, str):
            value.encode("utf-8")
        elif isinstance(value, dict):
            return all(_strings_ok(k) and _strings_ok(v) for k, v in value.items())
        elif isinstance(value, list):
            return all(_strings_ok(v) for v in value)
    except UnicodeEncodeError:
        return False
    return True


def decode_text(data: bytes) -> str:
    if data.startswith(b"\xef\xbb\xbf"):
        raise ElicenseError("token.bad_utf8")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        raise ElicenseError("token.bad_utf8") from None


def loads_value(text: str) -> Any:
    """Parse any strict JSON value (disclosures are arrays)."""
    try:
        value = _DECODER.decode(text)
    except _Refused as exc:
        raise ElicenseError(exc.code) from None
    except (ValueError, RecursionError):
        raise ElicenseError("token.bad_json") from None
    # Nesting needs brackets: with few of them the walk is skipped on the hot path.
    if (text.count("{") + text.count("[")) > MAX_DEPTH and not _depth_ok(value, MAX_DEPTH):
        raise ElicenseError("token.too_deep")
    if _SURROGATE_ESCAPE.search(text) and not _strings_ok(value):
        raise ElicenseError("token.bad_utf8")
    return value


def loads_object(data: bytes) -> dict[str, Any]:
    """Strict UTF-8 bytes → a JSON object."""
    value = loads_value(decode_text(data))
    if not isinstance(value, dict):
        raise ElicenseError("token.bad_json")
    return value


_ENCODER = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), allow_nan=False)


def dumps(value: Any) -> bytes:
    """Compact UTF-8 JSON as elicense signs it (one shared encoder: building one per call
    costs more than encoding a small token)."""
    return _ENCODER.encode(value).encode("utf-8")
