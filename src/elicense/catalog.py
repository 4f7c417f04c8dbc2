"""证照目录: license types, their face fields, and loading a catalog from JSON or YAML.

A city's catalog holds hundreds of types maintained by hand, so loading validates every
entry and reports every problem at once (entry, field, reason) instead of stopping at the
first; a catalog with any problem is refused whole, never half-loaded.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from enum import Enum, StrEnum
from importlib import resources
from pathlib import Path
from types import MappingProxyType
from typing import Any

import yaml

from elicense.errors import ElicenseError
from elicense.identifiers.license_id import validate_type_code
from elicense.masking import MaskRule


class HolderKind(StrEnum):
    RESIDENT = "resident"
    ENTERPRISE = "enterprise"


class ValueType(StrEnum):
    TEXT = "text"
    DATE = "date"
    ENUM = "enum"
    NUMBER = "number"
    IDENTIFIER = "identifier"
    IMAGE = "image"
    """A reference to an image (content hash or URI), never the image bytes."""


class Sensitivity(StrEnum):
    PUBLIC = "public"
    INTERNAL = "internal"
    SENSITIVE = "sensitive"


class Display(StrEnum):
    FULL = "full"
    MASKED = "masked"
    OMITTED = "omitted"


class IdentifierScheme(StrEnum):
    RESIDENT_ID = "resident_id"
    USCC = "uscc"
    LICENSE_ID = "license_id"


@dataclass(frozen=True, slots=True)
class FaceField:
    key: str
    label: str
    value_type: ValueType
    required: bool = False
    sensitivity: Sensitivity = Sensitivity.INTERNAL
    display: Display = Display.FULL
    mask: MaskRule | None = None
    options: tuple[str, ...] = ()
    scheme: IdentifierScheme | None = None

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "key": self.key,
            "label": self.label,
            "type": self.value_type.value,
            "required": self.required,
            "sensitivity": self.sensitivity.value,
            "display": self.display.value,
        }
        if self.mask is not None:
            out["mask"] = self.mask.value
        if self.options:
            out["options"] = list(self.options)
        if self.scheme is not None:
            out["scheme"] = self.scheme.value
        return out


@dataclass(frozen=True, slots=True)
class LicenseType:
    code: str
    name_zh: str
    name_en: str
    holder_kind: HolderKind
    authority: str
    validity_months: int | None
    """Default validity; ``None`` means long-term (长期有效)."""
    fields: tuple[FaceField, ...]
    _by_key: Mapping[str, FaceField] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_by_key", MappingProxyType({f.key: f for f in self.fields}))

    @property
    def authority_code(self) -> str:
        return self.code[:18]

    def face_field(self, key: str) -> FaceField:
        try:
            return self._by_key[key]
        except KeyError:
            raise ElicenseError("field.unknown", details={"field": key}) from None

    def has_field(self, key: str) -> bool:
        return key in self._by_key

    def to_dict(self) -> dict[str, Any]:
        return {
            "code": self.code,
            "name_zh": self.name_zh,
            "name_en": self.name_en,
            "holder_kind": self.holder_kind.value,
            "authority": self.authority,
            "authority_code": self.authority_code,
            "validity": format_validity(self.validity_months),
            "fields": [f.to_dict() for f in self.fields],
        }


class Catalog:
    """An immutable set of license types keyed by type code."""

    __slots__ = ("_types",)

    def __init__(self, types: Sequence[LicenseType]) -> None:
        by_code: dict[str, LicenseType] = {}
        for t in types:
            if t.code in by_code:
                raise ElicenseError("catalog.duplicate_type", details={"entry": t.code})
            by_code[t.code] = t
        self._types: Mapping[str, LicenseType] = MappingProxyType(by_code)

    def get(self, code: str) -> LicenseType:
        try:
            return self._types[code]
        except KeyError:
            raise ElicenseError("catalog.unknown_type", details={"type_code": code}) from None

    def __contains__(self, code: object) -> bool:
        return code in self._types

    def __iter__(self) -> Iterator[LicenseType]:
        return iter(self._types.values())

    def __len__(self) -> int:
        return len(self._types)

    def find(self, text: str) -> list[LicenseType]:
        """Types whose code, Chinese or English name contains ``text`` (for CLIs and UIs)."""
        needle = text.casefold()
        return [
            t
            for t in self
            if needle in t.code.casefold()
            or needle in t.name_zh.casefold()
            or needle in t.name_en.casefold()
        ]


_VALIDITY = re.compile(r"^([1-9][0-9]{0,2})([ym])$")
_KEY = re.compile(r"^[a-z][a-z0-9_]{0,47}$")
_TYPE_KEYS = frozenset(
    {"code", "name_zh", "name_en", "holder_kind", "authority", "authority_code", "validity",
     "fields"}
)  # fmt: skip
_FIELD_KEYS = frozenset(
    {"key", "label", "type", "required", "sensitivity", "display", "mask", "options", "scheme"}
)


def parse_validity(text: str) -> int | None:
    """``10y`` / ``6m`` / ``long-term`` → months (None for long-term)."""
    if text == "long-term":
        return None
    m = _VALIDITY.match(text)
    if not m:
        raise ValueError(text)
    n = int(m.group(1))
    return n * 12 if m.group(2) == "y" else n


def format_validity(months: int | None) -> str:
    if months is None:
        return "long-term"
    return f"{months // 12}y" if months % 12 == 0 else f"{months}m"


class Problems:
    """Collects (entry, field, reason) triples so that loading reports everything at once
    (the catalog and the scenario loaders share it)."""

    def __init__(self) -> None:
        self.items: list[dict[str, str]] = []

    def add(self, entry: str, field_name: str, reason: str) -> None:
        self.items.append({"entry": entry, "field": field_name, "reason": reason})


def _enum_value(
    problems: Problems, entry: str, where: str, enum: type[Enum], raw: Any, *, default: Any
) -> Any:
    if raw is None:
        return default
    try:
        return enum(raw)
    except ValueError:
        allowed = ", ".join(str(e.value) for e in enum)
        problems.add(entry, where, f"must be one of: {allowed}")
        return default


def _nonempty_str(problems: Problems, entry: str, where: str, raw: Any) -> str:
    if not isinstance(raw, str) or not raw.strip():
        problems.add(entry, where, "must be a non-empty string")
        return ""
    return raw


def _parse_field(problems: Problems, entry: str, index: int, raw: Any) -> FaceField | None:
    where = f"fields[{index}]"
    if not isinstance(raw, dict):
        problems.add(entry, where, "must be a mapping")
        return None
    key = raw.get("key")
    if isinstance(key, str) and key:
        where = f"fields.{key}"
    for extra in sorted(set(raw) - _FIELD_KEYS, key=str):
        problems.add(entry, f"{where}.{extra}", "unknown attribute")
    if not isinstance(key, str) or not _KEY.match(key):
        problems.add(entry, f"{where}.key", "must be snake_case ASCII starting with a letter")
    label = _nonempty_str(problems, entry, f"{where}.label", raw.get("label"))
    vtype = _enum_value(problems, entry, f"{where}.type", ValueType, raw.get("type"), default=None)
    if raw.get("type") is None:
        problems.add(entry, f"{where}.type", "is required")
    required = raw.get("required", False)
    if not isinstance(required, bool):
        problems.add(entry, f"{where}.required", "must be true or false")
        required = False
    sensitivity = _enum_value(
        problems,
        entry,
        f"{where}.sensitivity",
        Sensitivity,
        raw.get("sensitivity"),
        default=Sensitivity.INTERNAL,
    )
    display = _enum_value(
        problems, entry, f"{where}.display", Display, raw.get("display"), default=Display.FULL
    )
    mask = _enum_value(problems, entry, f"{where}.mask", MaskRule, raw.get("mask"), default=None)
    if display is Display.MASKED and raw.get("mask") is None:
        problems.add(entry, f"{where}.mask", "is required when display is masked")
    if display is not Display.MASKED and raw.get("mask") is not None:
        problems.add(entry, f"{where}.mask", "only allowed when display is masked")
    options_raw = raw.get("options")
    options: tuple[str, ...] = ()
    if vtype is ValueType.ENUM:
        if (
            not isinstance(options_raw, list)
            or not options_raw
            or not all(isinstance(o, str) and o for o in options_raw)
        ):
            problems.add(entry, f"{where}.options", "an enum needs a non-empty list of strings")
        elif len(set(options_raw)) != len(options_raw):
            problems.add(entry, f"{where}.options", "options must be unique")
        else:
            options = tuple(options_raw)
    elif options_raw is not None:
        problems.add(entry, f"{where}.options", "only allowed for type enum")
    scheme = _enum_value(
        problems, entry, f"{where}.scheme", IdentifierScheme, raw.get("scheme"), default=None
    )
    if vtype is ValueType.IDENTIFIER and raw.get("scheme") is None:
        problems.add(entry, f"{where}.scheme", "an identifier needs a scheme")
    if vtype is not ValueType.IDENTIFIER and raw.get("scheme") is not None:
        problems.add(entry, f"{where}.scheme", "only allowed for type identifier")
    if vtype is None or not isinstance(key, str):
        return None
    return FaceField(
        key=key,
        label=label,
        value_type=vtype,
        required=required,
        sensitivity=sensitivity,
        display=display,
        mask=mask,
        options=options,
        scheme=scheme,
    )


def _parse_type(problems: Problems, index: int, raw: Any) -> LicenseType | None:
    entry = f"types[{index}]"
    if not isinstance(raw, dict):
        problems.add(entry, "", "must be a mapping")
        return None
    code = raw.get("code")
    if isinstance(code, str) and code:
        entry = f"types[{index}] {code}"
    before = len(problems.items)
    for extra in sorted(set(raw) - _TYPE_KEYS, key=str):
        problems.add(entry, extra, "unknown attribute")
    if not isinstance(code, str):
        problems.add(entry, "code", "must be a string (quote it in YAML)")
    else:
        try:
            validate_type_code(code)
        except ElicenseError:
            problems.add(
                entry, "code",
                "not a GB/T 36904 type code (valid 18-character credit code + 3 digits)",
            )  # fmt: skip
    authority_code = raw.get("authority_code")
    if authority_code is not None and (not isinstance(code, str) or authority_code != code[:18]):
        problems.add(entry, "authority_code", "must equal the first 18 characters of code")
    name_zh = _nonempty_str(problems, entry, "name_zh", raw.get("name_zh"))
    name_en = _nonempty_str(problems, entry, "name_en", raw.get("name_en"))
    authority = _nonempty_str(problems, entry, "authority", raw.get("authority"))
    holder_kind = _enum_value(
        problems, entry, "holder_kind", HolderKind, raw.get("holder_kind"), default=None
    )
    if raw.get("holder_kind") is None:
        problems.add(entry, "holder_kind", "is required")
    validity_raw = raw.get("validity", "long-term")
    validity: int | None = None
    try:
        validity = parse_validity(str(validity_raw))
    except ValueError:
        problems.add(entry, "validity", "must be like 10y, 6m or long-term")
    fields_raw = raw.get("fields")
    fields: list[FaceField] = []
    if not isinstance(fields_raw, list) or not fields_raw:
        problems.add(entry, "fields", "must be a non-empty list")
    else:
        seen: set[str] = set()
        for i, fr in enumerate(fields_raw):
            f = _parse_field(problems, entry, i, fr)
            if f is None:
                continue
            if f.key in seen:
                problems.add(entry, f"fields.{f.key}", "duplicate key")
            seen.add(f.key)
            fields.append(f)
    if len(problems.items) != before or holder_kind is None or not isinstance(code, str):
        return None
    return LicenseType(
        code=code,
        name_zh=name_zh,
        name_en=name_en,
        holder_kind=holder_kind,
        authority=authority,
        validity_months=validity,
        fields=tuple(fields),
    )


def catalog_from_data(data: Any) -> Catalog:
    """Build a catalog from parsed JSON/YAML (``{"version": 1, "types": [...]}``)."""
    if not isinstance(data, dict) or not isinstance(data.get("types"), list):
        raise ElicenseError("catalog.unreadable", "top level must be a mapping with a 'types' list")
    problems = Problems()
    types: list[LicenseType] = []
    codes: dict[str, int] = {}
    for i, raw in enumerate(data["types"]):
        t = _parse_type(problems, i, raw)
        code = raw.get("code") if isinstance(raw, dict) else None
        if isinstance(code, str):
            if code in codes:
                problems.add(f"types[{i}] {code}", "code", f"duplicate of types[{codes[code]}]")
            else:
                codes[code] = i
        if t is not None:
            types.append(t)
    if problems.items:
        raise ElicenseError(
            "catalog.invalid",
            f"{len(problems.items)} problem(s) in the catalog; nothing was loaded",
            details={"problems": problems.items},
        )
    return Catalog(types)


def parse_catalog_text(text: str, *, fmt: str | None = None) -> Catalog:
    """Parse JSON or YAML text (YAML is a superset of JSON, so YAML parses both)."""
    try:
        data = json.loads(text) if fmt == "json" else yaml.safe_load(text)
    except (ValueError, yaml.YAMLError) as exc:
        mark = getattr(exc, "problem_mark", None)
        details = {"line": mark.line + 1} if mark is not None else {}
        raise ElicenseError("catalog.unreadable", "not valid JSON or YAML", details) from None
    return catalog_from_data(data)


def read_config_text(path: str | Path, code: str) -> str:
    """A configuration file as text: UTF-8 (a BOM is dropped), else ``code``."""
    try:
        text = Path(path).read_bytes().decode("utf-8")
    except OSError:
        raise ElicenseError(code, "file cannot be read") from None
    except UnicodeDecodeError:
        raise ElicenseError(code, "file is not UTF-8") from None
    return text.removeprefix("\ufeff")


def load_catalog(path: str | Path) -> Catalog:
    text = read_config_text(path, "catalog.unreadable")
    return parse_catalog_text(text, fmt="json" if Path(path).suffix.lower() == ".json" else None)


_BUILTIN: Catalog | None = None


def builtin_catalog() -> Catalog:
    """The catalog shipped with elicense (≥ 40 high-frequency types), parsed once."""
    global _BUILTIN  # noqa: PLW0603 - immutable, parsed lazily once per process
    if _BUILTIN is None:
        text = resources.files("elicense").joinpath("data/catalog.yaml").read_text("utf-8")
        _BUILTIN = parse_catalog_text(text)
    return _BUILTIN
