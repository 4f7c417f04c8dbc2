"""The disclosure decision: exactly which fields a scenario may see, shown as it says.

One pure function used by every path that releases data (online verify, offline
presentations): given the scenario and the holder's licenses (full values, held by the
platform), it returns only the scenario's fields, masked or derived as configured, in the
scenario's order. Fields the scenario omits never leave this function.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from elicense.errors import ElicenseError
from elicense.masking import mask
from elicense.scenarios import VALID_FIELD, Scenario, Show

if TYPE_CHECKING:
    from elicense.licenses import VerifiedLicense


@dataclass(frozen=True, slots=True)
class LicenseView:
    """What the platform knows about one license of the holder."""

    license_id: str
    type_code: str
    fields: Mapping[str, Any]
    valid: bool = True
    """Verified, in validity and not revoked or suspended (decided before this call)."""
    status_uri: str | None = None
    status_idx: int | None = None
    valid_until: int | None = None

    @classmethod
    def of(cls, v: VerifiedLicense) -> LicenseView:
        """The view of a license that has just verified (so valid)."""
        status = v.status
        return cls(
            v.license_id, v.type_code, v.fields, True,
            status.uri if status else None, status.idx if status else None, v.valid_until,
        )  # fmt: skip


@dataclass(frozen=True, slots=True)
class DisclosedLicense:
    license_id: str
    type_code: str
    fields: dict[str, str]
    valid: bool | None = None
    """Set when the scenario asks for the derived ``license_valid``."""
    masked: frozenset[str] = field(default_factory=frozenset)


def _shown(value: Any) -> str:
    return value if isinstance(value, str) else str(value)


def disclose(scenario: Scenario, licenses: Sequence[LicenseView]) -> list[DisclosedLicense]:
    """Apply the scenario's display rules. A required license type the holder lacks is
    ``consent.missing``-neutral: the caller decides the refusal code; here it is
    ``license.missing`` so the caller can map it to a response that reveals nothing."""
    by_type: dict[str, LicenseView] = {}
    for view in licenses:
        by_type.setdefault(view.type_code, view)
    out: list[DisclosedLicense] = []
    for sl in scenario.licenses:
        lv = by_type.get(sl.type_code)
        if lv is None:
            if sl.required:
                raise ElicenseError("license.missing")
            continue
        fields: dict[str, str] = {}
        masked: set[str] = set()
        valid: bool | None = None
        for f in sl.fields:
            if f.show is Show.OMITTED:
                continue
            if f.key == VALID_FIELD:
                valid = lv.valid
                continue
            value = lv.fields.get(f.key)
            if value is None or value == "":
                continue
            if f.show is Show.MASKED and f.mask is not None:
                fields[f.key] = mask(f.mask, _shown(value))
                masked.add(f.key)
            else:
                fields[f.key] = _shown(value)
        out.append(DisclosedLicense(lv.license_id, lv.type_code, fields, valid, frozenset(masked)))
    return out
