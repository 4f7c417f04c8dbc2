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
from typing import Any, Final, NamedTuple

from elicense.catalog import FaceField, HolderKind, IdentifierScheme, LicenseType, ValueType
from elicense.errors import ElicenseError
from elicense.identifiers import (
    HolderCodeType,
    parse_license_id,
    parse_resident_id,
    parse_uscc,
)
from elicense.identifiers.resident import canonical_resident_id

MAX_TEXT = 2000
_CONTROL: Final = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")
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
    the dispatch on value type once, not per value. Each gives exactly what
    ``normalise_value`` gives (or raises what it raises)."""
    if f.value_type is ValueType.TEXT:

        def text(value: Any) -> FaceValue:
            if type(value) is not str:
                return normalise_value(f, value, today)
            t = value.strip()
            if not t:
                raise _bad(f, "empty")
            # isprintable() is a fast C scan; every character the regex looks for is a
            # control character, which it rejects: the regex only runs when it may match.
            if len(t) > MAX_TEXT or (not t.isprintable() and _CONTROL.search(t)):
                raise _bad(f, "too long or has control characters")
            return t

        return text
    if f.value_type is ValueType.ENUM:
        options = frozenset(f.options)

        def enum(value: Any) -> FaceValue:
            if type(value) is not str:
                return normalise_value(f, value, today)
            t = value.strip()
            if t not in options:
                return normalise_value(f, value, today)  # the exact error
            return t

        return enum
    if f.value_type is ValueType.DATE:

        def date(value: Any) -> FaceValue:
            if type(value) is not str:
                return normalise_value(f, value, today)  # date objects, or the error
            t = value.strip()
            try:
                d = dt.date.fromisoformat(t)
            except ValueError:
                return normalise_value(f, value, today)  # the exact error
            # A 10-character text with dashes at 4 and 7 that parses can only be
            # YYYY-MM-DD (the other ISO forms 3.11 accepts differ there): already the
            # normal form, so the slow isoformat (a printf) is skipped.
            if len(t) == 10 and t[4] == "-" and t[7] == "-":
                return t
            return d.isoformat()

        return date
    if f.value_type is ValueType.IDENTIFIER and f.scheme is IdentifierScheme.RESIDENT_ID:

        def resident_id(value: Any) -> FaceValue:
            if type(value) is not str or not value.strip():
                return normalise_value(f, value, today)
            try:
                return canonical_resident_id(value.strip(), today=today)
            except ElicenseError as exc:
                raise _bad(f, exc.code) from None

        return resident_id
    return lambda value: normalise_value(f, value, today)


class _Compiled(NamedTuple):
    """What validating values of one license type needs, computed once per type and day."""

    normalisers: dict[str, Normaliser]
    required: tuple[str, ...]
    """Required keys in field order (the first one missing is the one reported)."""
    position: dict[str, int]
    schemes: dict[str, IdentifierScheme]
    """Identifier fields with a scheme → that scheme."""
    field_count: int


_COMPILED: dict[tuple[int, dt.date], tuple[LicenseType, _Compiled]] = {}


def _compiled(license_type: LicenseType, today: dt.date) -> _Compiled:
    key = (id(license_type), today)
    hit = _COMPILED.get(key)
    if hit is not None and hit[0] is license_type:
        return hit[1]
    if len(_COMPILED) > 4096:
        _COMPILED.clear()
    fields = license_type.fields
    compiled = _Compiled(
        {f.key: _compile(f, today) for f in fields},
        tuple(f.key for f in fields if f.required),
        {f.key: i for i, f in reversed(list(enumerate(fields)))},  # first index wins
        {
            f.key: f.scheme
            for f in fields
            if f.value_type is ValueType.IDENTIFIER and f.scheme is not None
        },
        len(fields),
    )
    _COMPILED[key] = (license_type, compiled)
    return compiled


def validate_face_values(
    license_type: LicenseType,
    values: Mapping[str, Any],
    *,
    today: dt.date,
    known: Mapping[tuple[IdentifierScheme, str], str] | None = None,
) -> dict[str, FaceValue]:
    """Every required field present, no unknown field, every value of its type.

    ``known`` maps (scheme, stripped text) → canonical form for identifiers the caller has
    already validated with the same ``today`` (the holder code, which usually reappears
    as the ``id_number`` field): such values are not parsed twice.
    """
    c = _compiled(license_type, today)
    normalisers = c.normalisers
    schemes = c.schemes if known else None
    out: dict[str, FaceValue] = {}
    for key, value in values.items():
        norm = normalisers.get(key)
        if norm is None:
            raise ElicenseError("field.unknown", details={"field": key})
        if value is None or value == "":
            continue
        if schemes is not None and key in schemes and type(value) is str:
            hit = known.get((schemes[key], value.strip()))  # type: ignore[union-attr]
            if hit is not None:
                out[key] = hit
                continue
        out[key] = norm(value)
    if len(out) != c.field_count:
        for key in c.required:
            if key not in out:
                raise ElicenseError("field.missing", details={"field": key})
        # In field order, as the catalog lists them; values usually arrive in that order.
        order = list(map(c.position.__getitem__, out))
        if order != sorted(order):
            position = c.position
            return dict(sorted(out.items(), key=lambda item: position[item[0]]))
    return out


# Enum ``.value`` is a slow property lookup: read once.
_RESIDENT_ID_CODE: str = HolderCodeType.RESIDENT_ID.value
_USCC_CODE: str = HolderCodeType.USCC.value


def validate_holder(license_type: LicenseType, holder: str, *, today: dt.date) -> tuple[str, str]:
    """(holder code type, canonical holder code) for the type's holder kind.

    A valid code of the other kind (a credit code for a resident license) is reported as a
    kind mismatch rather than as whatever check it happens to fail.
    """
    resident = license_type.holder_kind is HolderKind.RESIDENT
    try:
        if resident:
            return _RESIDENT_ID_CODE, canonical_resident_id(holder, today=today)
        return _USCC_CODE, parse_uscc(holder).code
    except ElicenseError as exc:
        try:
            parse_uscc(holder) if resident else parse_resident_id(holder, today=today)
        except ElicenseError:
            raise exc from None
        raise ElicenseError("holder.kind_mismatch") from None
