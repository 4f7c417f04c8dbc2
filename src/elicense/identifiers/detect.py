"""Holder code types and detection of what kind of identifier a value is.

Detection exists for people typing or scanning a value with no context (the CLI, a desk
page); code that knows what it expects calls the specific parser instead.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from elicense.errors import ElicenseError
from elicense.identifiers.license_id import ROOT_OID, parse_license_id
from elicense.identifiers.resident import parse_resident_id
from elicense.identifiers.uscc import parse_uscc


class HolderCodeType(StrEnum):
    """持证主体代码类型 (GB/T 36903 metadata; person documents per GA/T 517)."""

    RESIDENT_ID = "111"
    """公民身份号码"""
    USCC = "001"
    """统一社会信用代码"""
    PASSPORT = "414"
    HK_MACAO_PERMIT = "516"
    """港澳居民来往内地通行证"""
    TAIWAN_PERMIT = "511"
    """台湾居民来往大陆通行证"""

    @property
    def label_zh(self) -> str:
        return _LABELS[self]


_LABELS = {
    HolderCodeType.RESIDENT_ID: "公民身份号码",
    HolderCodeType.USCC: "统一社会信用代码",
    HolderCodeType.PASSPORT: "护照号码",
    HolderCodeType.HK_MACAO_PERMIT: "港澳居民来往内地通行证",
    HolderCodeType.TAIWAN_PERMIT: "台湾居民来往大陆通行证",
}


def holder_code_type(value: str) -> HolderCodeType:
    try:
        return HolderCodeType(value)
    except ValueError:
        raise ElicenseError("holder.bad_code_type") from None


class IdentifierKind(StrEnum):
    RESIDENT_ID = "resident_id"
    USCC = "uscc"
    LICENSE_ID = "license_id"


@dataclass(frozen=True, slots=True)
class IdentifierVerdict:
    """The outcome of checking a value of any kind, ready to print."""

    kind: IdentifierKind | None
    valid: bool
    error: ElicenseError | None
    parsed: dict[str, Any]
    warnings: tuple[str, ...]

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind.value if self.kind else None,
            "valid": self.valid,
            "code": self.error.code if self.error else None,
            "message": self.error.message if self.error else None,
            "details": self.error.details if self.error else {},
            "parsed": self.parsed,
            "warnings": list(self.warnings),
        }


def guess_kind(value: str) -> IdentifierKind | None:
    v = value.strip()
    if v.startswith(ROOT_OID[:4]) or v.count(".") >= 3:
        return IdentifierKind.LICENSE_ID
    if len(v) == 15 and v.isdigit():
        return IdentifierKind.RESIDENT_ID
    if len(v) == 18:
        body = v[:17]
        if body.isdigit() and (v[17].isdigit() or v[17] in "xX"):
            # All-digit credit codes exist (e.g. 113700000045046442); a value that is not a
            # valid resident ID but is a valid credit code is taken as the latter.
            return IdentifierKind.RESIDENT_ID
        return IdentifierKind.USCC
    return None


def check_identifier(
    value: str, *, today: dt.date, kind: IdentifierKind | None = None
) -> IdentifierVerdict:
    """Detect (unless ``kind`` is given), validate and parse, never raising for bad input."""
    k = kind or guess_kind(value)
    if k is None:
        return IdentifierVerdict(None, False, ElicenseError("id.unrecognised"), {}, ())
    try:
        return _check(value, k, today)
    except ElicenseError as exc:
        if kind is None and k is IdentifierKind.RESIDENT_ID and len(value.strip()) == 18:
            try:
                return _check(value, IdentifierKind.USCC, today)
            except ElicenseError:
                pass
        return IdentifierVerdict(k, False, exc, {}, ())


def _check(value: str, kind: IdentifierKind, today: dt.date) -> IdentifierVerdict:
    if kind is IdentifierKind.RESIDENT_ID:
        r = parse_resident_id(value, today=today)
        parsed: dict[str, Any] = {
            "number": r.number,
            "region_code": r.region_code,
            "province": r.province,
            "birth_date": r.birth_date.isoformat(),
            "sex": r.sex.value,
            "sex_zh": r.sex.label_zh,
            "legacy_input": r.legacy_input,
            "holder_code_type": HolderCodeType.RESIDENT_ID.value,
        }
        return IdentifierVerdict(kind, True, None, parsed, ())
    if kind is IdentifierKind.USCC:
        c = parse_uscc(value)
        parsed = {
            "code": c.code,
            "registration_authority": c.registration_authority,
            "authority_name": c.authority_name,
            "organisation_kind": c.organisation_kind,
            "organisation_kind_name": c.organisation_kind_name,
            "division_code": c.division_code,
            "organisation_code": c.organisation_code,
            "holder_code_type": HolderCodeType.USCC.value,
        }
        return IdentifierVerdict(kind, True, None, parsed, c.warnings)
    ident = parse_license_id(value)
    parsed = {
        "identifier": str(ident),
        "type_code": ident.type_code,
        "issuer": ident.issuer,
        "serial": ident.serial,
        "version": ident.version,
        "check": ident.check,
    }
    return IdentifierVerdict(kind, True, None, parsed, ())
