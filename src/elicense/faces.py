"""Validating and normalising a license's face values (照面信息) against its catalog type.

Values are normalised to what gets signed: dates as ISO strings, numbers as JSON numbers,
identifiers in their canonical form (upper-case X, 18-digit resident IDs). Errors name the
field and the reason, never the value.
"""

from __future__ import annotations

import datetime as dt
import math
import re
from collections.abc import Callable, Mapping
from typing import Any

from elicense.catalog import FaceField, HolderKind, IdentifierScheme, LicenseType, ValueType
from elicense.errors import ElicenseError
from elicense.identifiers import (
    HolderCodeType,
    parse_license_id,
    parse_resident_id,
    parse_uscc,
)

MAX_TEXT = 2000
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")
MAX_IMAGE_REF = 512

FaceValue = str | int | float


def _bad(f: FaceField, reason: str) -> ElicenseError:
    return ElicenseError("field.bad_value", details={"field": f.key, "reason": reason})


def _identifier(f: FaceField, text: str, today: dt.date) -> str:
    try:
        if f.scheme is IdentifierScheme.RESIDENT_ID:
            return parse_resident_id(text, today=today).number
        if f.scheme is IdentifierScheme.USCC:
            return parse_uscc(text).code
        return str(parse_license_id(text))
    except ElicenseError as exc:
        raise _bad(f, exc.code) from None


def normalise_value(f: FaceField, value: Any, today: dt.date) -> FaceValue:
    if f.value_type is ValueType.NUMBER:
        if isinstance(value, bool):
            raise _bad(f, "not a number")
        if isinstance(value, str):
            try:
                value = float(value) if any(c in value for c in ".eE") else int(value)
            except ValueError:
                raise _bad(f, "not a number") from None
        if not isinstance(value, int | float) or (
            isinstance(value, float) and not math.isfinite(value)
        ):
            raise _bad(f, "not a finite number")
        if abs(value) > 2**53:
            raise _bad(f, "out of range")
        return value
    if isinstance(value, dt.date) and f.value_type is ValueType.DATE:
        return value.isoformat()
    if not isinstance(value, str):
        raise _bad(f, "must be text")
    text = value.strip()
    if not text:
        raise _bad(f, "empty")
    if f.value_type is ValueType.DATE:
        try:
            return dt.date.fromisoformat(text).isoformat()
        except ValueError:
            raise _bad(f, "not a YYYY-MM-DD date") from None
    if f.value_type is ValueType.ENUM:
        if text not in f.options:
            raise _bad(f, "not one of the options")
        return text
    if f.value_type is ValueType.IDENTIFIER:
        return _identifier(f, text, today)
    if f.value_type is ValueType.IMAGE:
        if len(text) > MAX_IMAGE_REF or any(c.isspace() for c in text):
            raise _bad(f, "not an image reference")
        return text
    if len(text) > MAX_TEXT or _CONTROL.search(text):
        raise _bad(f, "too long or has control characters")
    return text


Normaliser = Callable[[Any], FaceValue]


def _compile(f: FaceField, today: dt.date) -> Normaliser:
    """A specialised normaliser for one field: issuing many licenses of one type pays
    the dispatch on value type once, not per value."""
    if f.value_type is ValueType.TEXT:

        def text(value: Any) -> FaceValue:
            if type(value) is not str:
                raise _bad(f, "must be text")
            t = value.strip()
            if not t:
                raise _bad(f, "empty")
            if len(t) > MAX_TEXT or _CONTROL.search(t):
                raise _bad(f, "too long or has control characters")
            return t

        return text
    if f.value_type is ValueType.ENUM:
        options = frozenset(f.options)

        def enum(value: Any) -> FaceValue:
            t = value.strip() if type(value) is str else value
            if t not in options:
                raise _bad(f, "not one of the options")
            return t

        return enum
    return lambda value: normalise_value(f, value, today)


_COMPILED: dict[tuple[int, dt.date], tuple[LicenseType, dict[str, Normaliser]]] = {}


def _normalisers(license_type: LicenseType, today: dt.date) -> dict[str, Normaliser]:
    key = (id(license_type), today)
    hit = _COMPILED.get(key)
    if hit is not None and hit[0] is license_type:
        return hit[1]
    if len(_COMPILED) > 4096:
        _COMPILED.clear()
    compiled = {f.key: _compile(f, today) for f in license_type.fields}
    _COMPILED[key] = (license_type, compiled)
    return compiled


def validate_face_values(
    license_type: LicenseType, values: Mapping[str, Any], *, today: dt.date
) -> dict[str, FaceValue]:
    """Every required field present, no unknown field, every value of its type."""
    normalisers = _normalisers(license_type, today)
    out: dict[str, FaceValue] = {}
    for key, value in values.items():
        norm = normalisers.get(key)
        if norm is None:
            raise ElicenseError("field.unknown", details={"field": key})
        if value is None or value == "":
            continue
        out[key] = norm(value)
    if len(out) != len(license_type.fields):
        for f in license_type.fields:
            if f.required and f.key not in out:
                raise ElicenseError("field.missing", details={"field": f.key})
        return {f.key: out[f.key] for f in license_type.fields if f.key in out}
    return out


def validate_holder(license_type: LicenseType, holder: str, *, today: dt.date) -> tuple[str, str]:
    """(holder code type, canonical holder code) for the type's holder kind.

    A valid code of the other kind (a credit code for a resident license) is reported as a
    kind mismatch rather than as whatever check it happens to fail.
    """
    resident = license_type.holder_kind is HolderKind.RESIDENT

    def own() -> tuple[str, str]:
        if resident:
            return HolderCodeType.RESIDENT_ID.value, parse_resident_id(holder, today=today).number
        return HolderCodeType.USCC.value, parse_uscc(holder).code

    try:
        return own()
    except ElicenseError as exc:
        try:
            parse_uscc(holder) if resident else parse_resident_id(holder, today=today)
        except ElicenseError:
            raise exc from None
        raise ElicenseError("holder.kind_mismatch") from None
