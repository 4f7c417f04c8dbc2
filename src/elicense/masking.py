"""Display masking (数据脱敏) by Unicode code point.

Masks never reveal the length of what they hide where the length itself is telling (an
address tail, a bank card's middle): a fixed run of ``*`` stands in for it.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from enum import StrEnum
from types import MappingProxyType

from elicense.errors import ElicenseError

STAR = "*"


class MaskRule(StrEnum):
    NAME = "name"
    RESIDENT_ID = "resident_id"
    PHONE = "phone"
    ADDRESS = "address"
    BANK_CARD = "bank_card"
    PARTIAL = "partial"


def _keep(value: str, head: int, tail: int) -> str:
    """Keep head and tail code points, star the middle; short values are fully starred."""
    if len(value) <= head + tail:
        return STAR * len(value)
    return value[:head] + STAR * (len(value) - head - tail) + (value[-tail:] if tail else "")


def mask_name(value: str) -> str:
    """张三 → 张*, 欧阳娜娜 → 欧**娜: surname kept, and the last character from four up."""
    v = value.strip()
    if len(v) <= 1:
        return STAR * len(v)
    if len(v) >= 4:
        return v[0] + STAR * (len(v) - 2) + v[-1]
    return v[0] + STAR * (len(v) - 1)


def mask_resident_id(value: str) -> str:
    """First 4 (province and city) and last 4 kept: the birth date is hidden."""
    return _keep(value.strip(), 4, 4)


def mask_phone(value: str) -> str:
    return _keep(value.strip(), 3, 4)


# A division name never holds these; excluding them keeps a level from swallowing the
# street part of an address when a later "市" appears in it (…市场1号).
_NAME = r"[^省市区县旗盟路街道巷号镇乡村\d]{1,10}?"
_ADDRESS_LEVELS = re.compile(
    rf"^(?:{_NAME}(?:特别行政区|自治区|省|市))?"
    rf"(?:{_NAME}(?:自治州|地区|盟|市))?"
    rf"(?:{_NAME}(?:自治县|自治旗|林区|特区|区|县|市|旗))?"
)


def mask_address(value: str) -> str:
    """Keep the address up to county level, then a fixed ``****``.

    An address with no recognisable division keeps only its first two code points.
    """
    v = value.strip()
    m = _ADDRESS_LEVELS.match(v)
    kept = m.group(0) if m else ""
    if not kept:
        kept = v[: min(2, len(v) // 3)]
    return kept + STAR * 4


def mask_bank_card(value: str) -> str:
    digits = "".join(c for c in value if not c.isspace())
    if len(digits) <= 8:
        return STAR * 4
    return f"{digits[:4]} **** **** {digits[-4:]}"


def mask_partial(value: str) -> str:
    """Generic: a third kept at each end, at least the first and last code point."""
    v = value.strip()
    keep = max(1, len(v) // 4)
    return _keep(v, keep, keep)


MASKERS: Mapping[MaskRule, Callable[[str], str]] = MappingProxyType(
    {
        MaskRule.NAME: mask_name,
        MaskRule.RESIDENT_ID: mask_resident_id,
        MaskRule.PHONE: mask_phone,
        MaskRule.ADDRESS: mask_address,
        MaskRule.BANK_CARD: mask_bank_card,
        MaskRule.PARTIAL: mask_partial,
    }
)


def mask(rule: MaskRule | str, value: str) -> str:
    try:
        key = MaskRule(rule)
    except ValueError:
        raise ElicenseError("mask.unknown_rule", details={"rule": str(rule)}) from None
    return MASKERS[key](value)
