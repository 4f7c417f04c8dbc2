"""One exception type, stable dotted codes, and the registry they come from.

Callers (the service, the CLI, platforms embedding the library) branch on ``code``, never
on message text, so codes are a public contract: add new ones, never rename or reuse one.
Messages are written for operators and must never contain personal data: details carry
field names, positions and reasons, not the values that failed.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any


@dataclass(frozen=True, slots=True)
class ErrorSpec:
    """What a code means, for docs, HTTP mapping and translated UI text."""

    code: str
    http_status: int
    title_zh: str
    title_en: str
    description: str


_SPECS: tuple[ErrorSpec, ...] = (
    # --- resident identity numbers (GB 11643) ---
    ErrorSpec(
        "resident_id.bad_length",
        422,
        "身份号码长度错误",
        "Resident ID has the wrong length",
        "A resident ID number must have 18 characters (or 15 for legacy numbers).",
    ),
    ErrorSpec(
        "resident_id.bad_character",
        422,
        "身份号码含非法字符",
        "Resident ID has an invalid character",
        "Only digits are allowed, and X only as the last character.",
    ),
    ErrorSpec(
        "resident_id.bad_region",
        422,
        "身份号码地址码无效",
        "Resident ID has an unknown region",
        "The first two digits are not a province-level division code of GB/T 2260.",
    ),
    ErrorSpec(
        "resident_id.bad_date",
        422,
        "身份号码出生日期无效",
        "Resident ID has an invalid birth date",
        "Digits 7-14 are not a real calendar date, or lie before 1800.",
    ),
    ErrorSpec(
        "resident_id.future_date",
        422,
        "身份号码出生日期在未来",
        "Resident ID birth date is in the future",
        "The birth date lies after the reference date passed in.",
    ),
    ErrorSpec(
        "resident_id.bad_check",
        422,
        "身份号码校验码错误",
        "Resident ID check character is wrong",
        "The ISO 7064 MOD 11-2 check character does not match the first 17 digits.",
    ),
    # --- unified social credit codes (GB 32100) ---
    ErrorSpec(
        "uscc.bad_length",
        422,
        "统一社会信用代码长度错误",
        "Credit code has the wrong length",
        "A unified social credit code has exactly 18 characters.",
    ),
    ErrorSpec(
        "uscc.bad_character",
        422,
        "统一社会信用代码含非法字符",
        "Credit code has an invalid character",
        "Only digits and the letters of GB 32100 (no I, O, Z, S, V) are allowed.",
    ),
    ErrorSpec(
        "uscc.bad_division",
        422,
        "统一社会信用代码行政区划码无效",
        "Credit code has an invalid division code",
        "Positions 3-8 must be six digits (a GB/T 2260 division code).",
    ),
    ErrorSpec(
        "uscc.bad_check",
        422,
        "统一社会信用代码校验码错误",
        "Credit code check character is wrong",
        "The GB 32100 check character does not match the first 17 characters.",
    ),
    # --- license identifiers (GB/T 36904) ---
    ErrorSpec(
        "license_id.bad_format",
        422,
        "证照标识格式错误",
        "License identifier is malformed",
        "Expected 1.2.156.3005.2.<type>.<issuer>.<serial>.<version>.<check>.",
    ),
    ErrorSpec(
        "license_id.bad_root",
        422,
        "证照标识根 OID 错误",
        "License identifier has the wrong root",
        "A license identifier starts with the root OID 1.2.156.3005.2.",
    ),
    ErrorSpec(
        "license_id.bad_type_code",
        422,
        "证照类型代码无效",
        "License type code is invalid",
        "A type code is an 18-character credit code of the defining authority plus 3 digits.",
    ),
    ErrorSpec(
        "license_id.bad_issuer",
        422,
        "颁证单位代码无效",
        "Issuer credit code is invalid",
        "The issuer part of the identifier is not a valid unified social credit code.",
    ),
    ErrorSpec(
        "license_id.bad_serial",
        422,
        "证照流水号无效",
        "License serial is invalid",
        "The serial is 1 to 64 characters of 0-9 and A-Z.",
    ),
    ErrorSpec(
        "license_id.bad_version",
        422,
        "证照版本号无效",
        "License version is invalid",
        "The version is exactly 3 digits.",
    ),
    ErrorSpec(
        "license_id.bad_check",
        422,
        "证照标识校验位错误",
        "License identifier check character is wrong",
        "The ISO/IEC 7064 MOD 37,36 check character does not match.",
    ),
    ErrorSpec(
        "license_id.nonstandard_check",
        422,
        "证照标识使用非标准校验位",
        "License identifier carries a non-standard check character",
        "The check character matches a known non-standard provincial variant, not GB/T 36904; "
        "re-issue the identifier with the standard character and keep the old one as an alias.",
    ),
    # --- holder codes and detection ---
    ErrorSpec(
        "holder.bad_code_type",
        422,
        "持证主体代码类型无效",
        "Unknown holder code type",
        "The holder code type is not one of the GB/T 36903 / GA/T 517 codes elicense knows.",
    ),
    ErrorSpec(
        "holder.kind_mismatch",
        422,
        "持证主体类型不符",
        "Holder kind does not match",
        "The holder code is of a kind (resident or enterprise) the license type does not accept.",
    ),
    ErrorSpec(
        "id.unrecognised",
        422,
        "无法识别的代码",
        "Unrecognised identifier",
        "The value looks like none of: resident ID, credit code, license identifier.",
    ),
    # --- catalog ---
    ErrorSpec(
        "catalog.invalid",
        422,
        "证照目录无效",
        "License catalog is invalid",
        "One or more catalog entries are broken; details list every problem with the entry, "
        "the field and the reason. Nothing was loaded.",
    ),
    ErrorSpec(
        "catalog.unreadable",
        422,
        "证照目录无法读取",
        "License catalog cannot be read",
        "The file is not valid UTF-8 JSON or YAML, or its top level has the wrong shape.",
    ),
    ErrorSpec(
        "catalog.unknown_type",
        404,
        "证照类型不存在",
        "Unknown license type",
        "No license type with this type code is in the catalog.",
    ),
    ErrorSpec(
        "catalog.duplicate_type",
        422,
        "证照类型重复",
        "Duplicate license type",
        "Two catalog entries share one type code.",
    ),
    # --- face fields ---
    ErrorSpec(
        "field.unknown",
        422,
        "照面项不存在",
        "Unknown face field",
        "The license type has no face field with this key.",
    ),
    ErrorSpec(
        "field.missing",
        422,
        "缺少必填照面项",
        "Required face field missing",
        "A required face field of the license type has no value.",
    ),
    ErrorSpec(
        "field.bad_value",
        422,
        "照面项取值无效",
        "Face field value is invalid",
        "The value does not match the field's value type (date, number, enum, identifier...).",
    ),
    # --- masking ---
    ErrorSpec(
        "mask.unknown_rule",
        422,
        "未知的脱敏规则",
        "Unknown masking rule",
        "The masking rule is not one elicense defines.",
    ),
)


def _build_registry(specs: tuple[ErrorSpec, ...]) -> Mapping[str, ErrorSpec]:
    registry: dict[str, ErrorSpec] = {}
    for spec in specs:
        if spec.code in registry:
            raise RuntimeError(f"error code registered twice: {spec.code}")
        registry[spec.code] = spec
    return MappingProxyType(registry)


ERROR_CODES: Mapping[str, ErrorSpec] = _build_registry(_SPECS)


class ElicenseError(Exception):
    """The only exception elicense lets out of its public API.

    Unregistered codes are refused at construction so that a typo in a code can never
    reach a client as an undocumented contract.
    """

    __slots__ = ("code", "details", "message")

    def __init__(
        self, code: str, message: str | None = None, details: Mapping[str, Any] | None = None
    ) -> None:
        spec = ERROR_CODES.get(code)
        if spec is None:
            raise ValueError(f"unregistered error code: {code!r}")
        self.code = code
        self.message = message if message is not None else spec.title_en
        self.details: dict[str, Any] = dict(details) if details else {}
        super().__init__(f"{code}: {self.message}")

    @property
    def spec(self) -> ErrorSpec:
        return ERROR_CODES[self.code]

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready view for CLIs and HTTP problem bodies."""
        out: dict[str, Any] = {"code": self.code, "message": self.message}
        if self.details:
            out["details"] = self.details
        return out


def render_errors_markdown() -> str:
    """The text of docs/errors.md; a test keeps the committed file equal to it."""
    lines = [
        "# Error codes",
        "",
        "Generated from `elicense.errors` by `python -m elicense.docs`; do not edit by hand.",
        "Codes are stable: they are added, never renamed or reused. The HTTP status is what",
        "the service answers with (RFC 9457 problem+json, `code` member).",
        "",
        "| code | HTTP | 中文 | English | when |",
        "|---|---|---|---|---|",
    ]
    for spec in sorted(ERROR_CODES.values(), key=lambda s: s.code):
        lines.append(
            f"| `{spec.code}` | {spec.http_status} | {spec.title_zh} | {spec.title_en} "
            f"| {spec.description} |"
        )
    return "\n".join(lines) + "\n"
