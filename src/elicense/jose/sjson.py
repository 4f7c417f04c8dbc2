"""Strict JSON for tokens (checklist items 4 and 5).

Strict UTF-8 without BOM; duplicate member names, NaN/Infinity, lone surrogates, huge
numbers and deep nesting are refused; the top level must be an object. Parsing happens
after the length cap, so the cost of every check here is bounded.
"""

from __future__ import annotations

import json
import re
from types import ModuleType
from typing import Any, Final

from elicense.errors import ElicenseError

_orjson: ModuleType | None
try:  # an optional accelerator: everything below is exact without it
    import orjson

    _orjson = orjson
except ImportError:  # pragma: no cover - depends on the environment
    _orjson = None

# Read once: a module attribute costs a lookup per call, and the canonical fast path runs
# six times per verified presentation. ``_orjson`` stays the switch (tests set it to None
# to run the exact stdlib path); these are only used when it is set.
_OJ_LOADS: Final[Any] = _orjson.loads if _orjson is not None else None
_OJ_DUMPS: Final[Any] = _orjson.dumps if _orjson is not None else None
_OJ_STRICT_INTEGER: Final[int] = _orjson.OPT_STRICT_INTEGER if _orjson is not None else 0

MAX_DEPTH: Final = 16
_MAX_NUMBER_CHARS: Final = 24
_SURROGATE_ESCAPE: Final = re.compile(r"\\u[dD][89a-fA-F]")


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


#: I-JSON (RFC 7493 §2.2): integers beyond what an IEEE double holds exactly are refused,
#: so that every implementation reads the same number.
MAX_SAFE_INTEGER: Final = 2**53 - 1


def _int(text: str) -> int:
    # Digits only (the scanner matched the integer grammar): the length test first keeps
    # CPython from converting thousands of digits.
    if len(text.lstrip("-")) > 16:
        raise _Refused("token.bad_json")
    value = int(text)
    if -MAX_SAFE_INTEGER <= value <= MAX_SAFE_INTEGER:
        return value
    raise _Refused("token.bad_json")


def _float(text: str) -> float:
    value = float(text)
    if len(text) > _MAX_NUMBER_CHARS or value in (float("inf"), float("-inf")):
        raise _Refused("token.bad_json")
    return value


_DECODER: Final = json.JSONDecoder(
    object_pairs_hook=_pairs, parse_constant=_constant, parse_float=_float, parse_int=_int
)

# The C scanner behind ``_DECODER.decode``, called directly: ``decode`` spends two regex
# calls on surrounding whitespace that token JSON rarely has. Same checks (see ``_decode``).
_scan_once: Any = _DECODER.scan_once  # type: ignore[attr-defined]
_JSON_WS: Final = " \t\n\r"


def _decode(text: str) -> Any:
    """``_DECODER.decode(text)``: one JSON value, optionally surrounded by JSON whitespace."""
    start = len(text) - len(text.lstrip(_JSON_WS))
    try:
        value, end = _scan_once(text, start)
    except StopIteration:
        raise ValueError("no JSON value") from None
    if end != len(text) and text[end:].strip(_JSON_WS):
        raise ValueError("extra data")
    return value


def is_container(value: Any) -> bool:
    """A JSON object or array. Two isinstance calls on purpose: compiled, each is a
    type-flag test, where ``isinstance(value, (dict, list))`` is a generic call."""
    return isinstance(value, dict) or isinstance(value, list)  # noqa: SIM101


def _depth_ok(value: Any, budget: int) -> bool:
    """No more than ``budget`` levels below ``value``, every member (scalars too) one
    level. Only containers are walked into: a call per scalar cost more than the rest of
    the walk."""
    if budget < 0:
        return False
    if isinstance(value, dict):
        members: Any = value.values()
    elif isinstance(value, list):
        members = value
    else:
        return True
    if budget == 0 and value:  # a member, even a scalar, is one level too deep
        return False
    # mypyc compiles all() over a generator into a plain loop.
    return all(_depth_ok(v, budget - 1) for v in members if is_container(v))


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
        value = _decode(text)
    except _Refused as exc:
        raise ElicenseError(exc.code) from None
    except RecursionError:
        # Only nesting makes the scanner recurse: this is JSON nested hundreds deep.
        raise ElicenseError("token.too_deep") from None
    except ValueError:
        raise ElicenseError("token.bad_json") from None
    # Nesting needs brackets: with few of them the walk is skipped on the hot path.
    if (text.count("{") + text.count("[")) > MAX_DEPTH and not _depth_ok(value, MAX_DEPTH):
        raise ElicenseError("token.too_deep")
    # Lone surrogates can only come from \\u escapes (strict UTF-8 decoding refuses them).
    if "\\" in text and _SURROGATE_ESCAPE.search(text) and not _strings_ok(value):
        raise ElicenseError("token.bad_utf8")
    return value


def loads_string_array(text: str) -> list[str] | None:
    """``loads_value(text)`` when that is a flat array of strings without escapes (every
    disclosure of a text value, as issuers write them); otherwise None, and the caller
    goes to ``loads_value`` for the full checks and the exact verdict.

    For such an array the other checks have nothing to look at: there are no objects (so
    no duplicate members), no numbers or constants, the depth is 1, and a lone surrogate
    would need a backslash escape.
    """
    if text[:1] != "[" or "\\" in text:
        return None
    body = text.rstrip(_JSON_WS)
    try:
        value, end = _scan_once(body, 0)
    except (StopIteration, ValueError, RecursionError):  # _Refused is a ValueError
        return None
    if end != len(body) or type(value) is not list:
        return None
    for item in value:
        if type(item) is not str:
            return None
    return value


_TRAILING_WS: Final = b" \t\n\r"


def loads_canonical(data: bytes) -> Any:
    """A fast path for JSON written the canonical way (compact, minimal escapes: what
    elicense and most issuers write): the value, exactly as the strict parser would give
    it; or None (unparsable, not canonical, no accelerator, or JSON ``null``), and the
    caller goes to the strict parser for the full checks and the exact verdict.

    orjson parses, then re-encodes: only if that reproduces ``data`` byte for byte (up to
    trailing whitespace) is the value used. Then ``data`` is in orjson's output form, so
    none of the strict parser's refusals can apply but depth: orjson's output has no
    duplicate member (a dict has none), no NaN/Infinity, no lone surrogate, no BOM, and
    numbers that read back identically (integers within MAX_SAFE_INTEGER: orjson's
    strict-integer option refuses to re-encode others; floats in their shortest form,
    at most 24 characters); orjson itself refuses invalid UTF-8, and its
    string escaping is the same as the strict parser reads. Depth is checked here as in
    ``loads_value``.
    """
    if _orjson is None:
        return None
    try:
        value = _OJ_LOADS(data)
        # OPT_STRICT_INTEGER: an integer beyond MAX_SAFE_INTEGER does not re-encode.
        if _OJ_DUMPS(value, option=_OJ_STRICT_INTEGER) != data.rstrip(_TRAILING_WS):
            return None
    except (ValueError, TypeError):  # orjson's decode / encode errors
        return None
    # The walk visits each container once, which for token JSON (a few dozen members)
    # costs less than counting brackets in the text first.
    if not _depth_ok(value, MAX_DEPTH):
        raise ElicenseError("token.too_deep")
    return value


def loads_object(data: bytes) -> dict[str, Any]:
    """Strict UTF-8 bytes → a JSON object."""
    value = loads_canonical(data)
    if type(value) is dict:
        return value
    value = loads_value(decode_text(data))
    if not isinstance(value, dict):
        raise ElicenseError("token.bad_json")
    return value


_ENCODER: Final = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), allow_nan=False)


def _ints_safe(value: Any) -> bool:
    kind = type(value)
    if kind is int:
        return bool(-MAX_SAFE_INTEGER <= value <= MAX_SAFE_INTEGER)
    if kind is dict:
        return all(map(_ints_safe, value.values()))
    if kind is list or kind is tuple:
        return all(map(_ints_safe, value))
    return True


def dumps(value: Any) -> bytes:
    """Compact UTF-8 JSON as elicense signs it (one shared encoder: building one per call
    costs more than encoding a small token). Integers beyond MAX_SAFE_INTEGER are
    refused, as the parser refuses them: elicense never signs what it would not read."""
    if not _ints_safe(value):
        raise ElicenseError("token.bad_json", details={"reason": "integer beyond 2^53 - 1"})
    return _ENCODER.encode(value).encode("utf-8")


def dumps_simple(value: Any) -> bytes:
    """``dumps(value)``, byte for byte, for a value the caller has checked is made only of
    dicts with string keys, lists, and exact ``str``/``int``/``bool``/``None``.

    For such values orjson writes what the stdlib encoder writes (same separators, same
    string escaping, same integers) many times faster. Whatever orjson refuses (an
    integer beyond MAX_SAFE_INTEGER, a lone surrogate) goes to ``dumps``, which then
    encodes or raises exactly as it always does.
    """
    if _orjson is not None:
        try:
            encoded: bytes = _OJ_DUMPS(value, option=_OJ_STRICT_INTEGER)
            return encoded
        except TypeError:  # orjson.JSONEncodeError
            pass
    return dumps(value)
