"""场景/事项: what a relying party does and exactly which license fields it may see.

A scenario names the license types it needs and, per field, how it is shown: in full,
masked, omitted, or only as a derived yes/no ("license valid"). It carries its legal
basis (the holder's consent, or a statute), the relying-party kinds allowed to use it and
how long they may keep the data. Scenarios load from JSON or YAML like the catalog, with
every problem reported at once and nothing half-loaded.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from importlib import resources
from pathlib import Path
from types import MappingProxyType
from typing import Any

import yaml

from elicense.catalog import Catalog, HolderKind, Problems, builtin_catalog, read_config_text
from elicense.errors import ElicenseError
from elicense.masking import MaskRule

#: The derived pseudo-field: "this license is valid" (yes/no), never a face value.
VALID_FIELD = "license_valid"


class Show(StrEnum):
    FULL = "full"
    MASKED = "masked"
    OMITTED = "omitted"
    DERIVED = "derived"


class Basis(StrEnum):
    CONSENT = "consent"
    STATUTE = "statute"


class RpKind(StrEnum):
    HOTEL = "hotel"
    INTERNET_CAFE = "internet_cafe"
    UTILITY = "utility"
    BANK = "bank"
    GOVERNMENT_HALL = "government_hall"
    TRADING_CENTER = "trading_center"
    MARKET_REGULATOR = "market_regulator"


@dataclass(frozen=True, slots=True)
class ScenarioField:
    key: str
    show: Show
    mask: MaskRule | None = None


@dataclass(frozen=True, slots=True)
class ScenarioLicense:
    type_code: str
    required: bool
    fields: tuple[ScenarioField, ...]

    def shown(self) -> tuple[ScenarioField, ...]:
        return tuple(f for f in self.fields if f.show is not Show.OMITTED)


@dataclass(frozen=True, slots=True)
class Scenario:
    id: str
    number: int
    """A small stable number (1-65535) that codes and presentations carry instead of the id."""
    name_zh: str
    name_en: str
    holder_kind: HolderKind
    basis: Basis
    legal_basis: str
    rp_kinds: frozenset[RpKind]
    retention_days: int
    licenses: tuple[ScenarioLicense, ...]

    def license(self, type_code: str) -> ScenarioLicense | None:
        return next((sl for sl in self.licenses if sl.type_code == type_code), None)

    @property
    def types(self) -> frozenset[str]:
        """The license types the scenario reads (a scan reads no other of the holder's)."""
        return frozenset(sl.type_code for sl in self.licenses)

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "number": self.number,
            "name_zh": self.name_zh,
            "name_en": self.name_en,
            "holder_kind": self.holder_kind.value,
            "basis": self.basis.value,
            "legal_basis": self.legal_basis,
            "rp_kinds": sorted(k.value for k in self.rp_kinds),
            "retention_days": self.retention_days,
            "licenses": [
                {
                    "type": sl.type_code,
                    "required": sl.required,
                    "fields": {
                        f.key: (
                            {"show": f.show.value, "mask": f.mask.value} if f.mask else f.show.value
                        )
                        for f in sl.fields
                    },
                }
                for sl in self.licenses
            ],
        }


class ScenarioSet:
    __slots__ = ("_by_id", "_by_number")

    def __init__(self, scenarios: Sequence[Scenario]) -> None:
        self._by_id: Mapping[str, Scenario] = MappingProxyType({s.id: s for s in scenarios})
        self._by_number: Mapping[int, Scenario] = MappingProxyType({s.number: s for s in scenarios})

    def get(self, scenario_id: str) -> Scenario:
        try:
            return self._by_id[scenario_id]
        except KeyError:
            raise ElicenseError("scenario.unknown") from None

    def by_number(self, number: int) -> Scenario:
        try:
            return self._by_number[number]
        except KeyError:
            raise ElicenseError("scenario.unknown") from None

    def __iter__(self) -> Iterator[Scenario]:
        return iter(self._by_id.values())

    def __len__(self) -> int:
        return len(self._by_id)

    def __contains__(self, scenario_id: object) -> bool:
        return scenario_id in self._by_id


def _enum(problems: Problems, entry: str, where: str, enum: type[StrEnum], raw: Any) -> Any:
    try:
        return enum(raw)
    except ValueError:
        problems.add(entry, where, "must be one of: " + ", ".join(e.value for e in enum))
        return None


def _parse_field(
    problems: Problems, entry: str, where: str, key: str, raw: Any, catalog_display: Any
) -> ScenarioField | None:
    spec = raw if isinstance(raw, dict) else {"show": raw}
    show = _enum(problems, entry, f"{where}.show", Show, spec.get("show"))
    if show is None:
        return None
    if (show is Show.DERIVED) != (key == VALID_FIELD):
        problems.add(entry, where, f"only {VALID_FIELD} is derived, and it is always derived")
        return None
    mask = None
    if show is Show.MASKED:
        mask_raw = spec.get("mask")
        if mask_raw is None and catalog_display is not None and catalog_display.mask is not None:
            mask = catalog_display.mask
        elif mask_raw is None:
            problems.add(entry, f"{where}.mask", "masked needs a mask rule (none in the catalog)")
            return None
        else:
            mask = _enum(problems, entry, f"{where}.mask", MaskRule, mask_raw)
    elif spec.get("mask") is not None:
        problems.add(entry, f"{where}.mask", "only allowed with show: masked")
    return ScenarioField(key, show, mask)


def _parse_licenses(
    problems: Problems, entry: str, lic_raw: Any, holder_kind: HolderKind | None, catalog: Catalog
) -> list[ScenarioLicense]:
    licenses: list[ScenarioLicense] = []
    if not isinstance(lic_raw, list) or not lic_raw:
        problems.add(entry, "licenses", "must be a non-empty list")
        lic_raw = []
    for i, lr in enumerate(lic_raw):
        where = f"licenses[{i}]"
        if not isinstance(lr, dict):
            problems.add(entry, where, "must be a mapping")
            continue
        tref = lr.get("type")
        matches = [t for t in catalog if tref in (t.code, t.name_zh)]
        if len(matches) != 1:
            problems.add(entry, f"{where}.type", "not a (unique) catalog type code or name")
            continue
        lt = matches[0]
        if holder_kind is not None and lt.holder_kind is not holder_kind:
            problems.add(entry, f"{where}.type", "holder kind differs from the scenario's")
        fields: list[ScenarioField] = []
        fraw = lr.get("fields")
        if not isinstance(fraw, dict) or not fraw:
            problems.add(entry, f"{where}.fields", "must be a non-empty mapping")
            continue
        for key, spec in fraw.items():
            fwhere = f"{where}.fields.{key}"
            if key != VALID_FIELD and not lt.has_field(key):
                problems.add(entry, fwhere, f"not a field of {lt.name_zh}")
                continue
            cat_field = lt.face_field(key) if key != VALID_FIELD else None
            f = _parse_field(problems, entry, fwhere, key, spec, cat_field)
            if f is not None:
                fields.append(f)
        licenses.append(ScenarioLicense(lt.code, bool(lr.get("required", True)), tuple(fields)))
    return licenses


def _parse_scenario(problems: Problems, index: int, raw: Any, catalog: Catalog) -> Scenario | None:
    entry = f"scenarios[{index}]"
    if not isinstance(raw, dict):
        problems.add(entry, "", "must be a mapping")
        return None
    if isinstance(raw.get("id"), str):
        entry += f" {raw['id']}"
    before = len(problems.items)
    sid = raw.get("id")
    if not isinstance(sid, str) or not sid.isidentifier() or not sid.isascii():
        problems.add(entry, "id", "must be an ASCII identifier")
    number = raw.get("number")
    if type(number) is not int or not 1 <= number <= 65535:
        problems.add(entry, "number", "must be an integer 1-65535")
    for name in ("name_zh", "name_en", "legal_basis"):
        if not isinstance(raw.get(name), str) or not raw[name].strip():
            problems.add(entry, name, "must be a non-empty string")
    holder_kind = _enum(problems, entry, "holder_kind", HolderKind, raw.get("holder_kind"))
    basis = _enum(problems, entry, "basis", Basis, raw.get("basis"))
    kinds_raw = raw.get("rp_kinds")
    kinds: list[RpKind] = []
    if not isinstance(kinds_raw, list) or not kinds_raw:
        problems.add(entry, "rp_kinds", "must be a non-empty list")
    else:
        kinds = [k for k in (_enum(problems, entry, "rp_kinds", RpKind, r) for r in kinds_raw) if k]
    retention = raw.get("retention_days")
    if type(retention) is not int or not 0 <= retention <= 3650:
        problems.add(entry, "retention_days", "must be an integer 0-3650")
    licenses = _parse_licenses(problems, entry, raw.get("licenses"), holder_kind, catalog)
    if len(problems.items) != before:
        return None
    return Scenario(
        id=sid,  # type: ignore[arg-type]
        number=number,  # type: ignore[arg-type]
        name_zh=raw["name_zh"],
        name_en=raw["name_en"],
        holder_kind=holder_kind,
        basis=basis,
        legal_basis=raw["legal_basis"],
        rp_kinds=frozenset(kinds),
        retention_days=retention,  # type: ignore[arg-type]
        licenses=tuple(licenses),
    )


def scenarios_from_data(data: Any, catalog: Catalog | None = None) -> ScenarioSet:
    cat = catalog or builtin_catalog()
    if not isinstance(data, dict) or not isinstance(data.get("scenarios"), list):
        raise ElicenseError("scenario.unreadable", "top level must have a 'scenarios' list")
    problems = Problems()
    out: list[Scenario] = []
    ids: set[str] = set()
    numbers: set[int] = set()
    for i, raw in enumerate(data["scenarios"]):
        s = _parse_scenario(problems, i, raw, cat)
        if s is None:
            continue
        if s.id in ids or s.number in numbers:
            problems.add(f"scenarios[{i}] {s.id}", "id", "duplicate id or number")
            continue
        ids.add(s.id)
        numbers.add(s.number)
        out.append(s)
    if problems.items:
        raise ElicenseError(
            "scenario.invalid",
            f"{len(problems.items)} problem(s) in the scenarios; nothing was loaded",
            details={"problems": problems.items},
        )
    return ScenarioSet(out)


def parse_scenarios_text(text: str, catalog: Catalog | None = None) -> ScenarioSet:
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError:
        raise ElicenseError("scenario.unreadable", "not valid JSON or YAML") from None
    return scenarios_from_data(data, catalog)


def load_scenarios(path: str | Path, catalog: Catalog | None = None) -> ScenarioSet:
    text = read_config_text(path, "scenario.unreadable")
    if str(path).endswith(".json"):
        try:
            return scenarios_from_data(json.loads(text), catalog)
        except ValueError:
            raise ElicenseError("scenario.unreadable", "not valid JSON") from None
    return parse_scenarios_text(text, catalog)


_BUILTIN: ScenarioSet | None = None


def builtin_scenarios() -> ScenarioSet:
    global _BUILTIN  # noqa: PLW0603 - immutable, parsed lazily once per process
    if _BUILTIN is None:
        text = resources.files("elicense").joinpath("data/scenarios.yaml").read_text("utf-8")
        _BUILTIN = parse_scenarios_text(text)
    return _BUILTIN
