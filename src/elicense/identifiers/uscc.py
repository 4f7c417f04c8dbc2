"""统一社会信用代码 (GB 32100-2015): validation and parsing.

The GB 11714 inner check of positions 9-17 is only a warning: codes issued before the
standard settled fail it and are nevertheless legally valid.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Final

from elicense.errors import ElicenseError

ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"
_VALUE: Final = {c: i for i, c in enumerate(ALPHABET)}
_WEIGHTS: Final = tuple(pow(3, i, 31) for i in range(17))
_ORG_WEIGHTS: Final = (3, 7, 9, 10, 5, 8, 4, 2)
_ORG_VALUE: Final = {c: i for i, c in enumerate("0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ")}

#: GB 32100 position 1 (登记管理部门) and, per department, position 2 (机构类别).
REGISTRATION_AUTHORITIES: Mapping[str, tuple[str, Mapping[str, str]]] = MappingProxyType(
    {
        "1": ("机构编制", {"1": "机关", "2": "事业单位",
                       "3": "中央编办直接管理机构编制的群众团体", "9": "其他"}),
        "2": ("外交", {"1": "外国常住新闻机构", "9": "其他"}),
        "3": ("司法行政", {"1": "律师执业机构", "2": "公证处", "3": "基层法律服务所",
                       "4": "司法鉴定机构", "5": "仲裁委员会", "9": "其他"}),
        "4": ("文化", {"1": "外国在华文化中心", "9": "其他"}),
        "5": ("民政", {"1": "社会团体", "2": "民办非企业单位", "3": "基金会", "9": "其他"}),
        "6": ("旅游", {"1": "外国旅游部门常驻代表机构",
                     "2": "港澳台地区旅游部门常驻内地（大陆）代表机构", "9": "其他"}),
        "7": ("宗教", {"1": "宗教活动场所", "2": "宗教院校", "9": "其他"}),
        "8": ("工会", {"1": "基层工会", "9": "其他"}),
        "9": ("工商", {"1": "企业", "2": "个体工商户", "3": "农民专业合作社"}),
        "A": ("中央军委改革和编制办公室", {"1": "军队事业单位", "9": "其他"}),
        "N": ("农业", {"1": "组级集体经济组织", "2": "村级集体经济组织",
                     "3": "乡镇级集体经济组织", "9": "其他"}),
        "Y": ("其他", {"1": "其他"}),
    }
)  # fmt: skip


@dataclass(frozen=True, slots=True)
class CreditCode:
    """A validated unified social credit code and the facts it encodes."""

    code: str
    registration_authority: str
    """Position 1 (登记管理部门), e.g. ``9`` for market regulation (工商)."""
    authority_name: str | None
    organisation_kind: str
    organisation_kind_name: str | None
    division_code: str
    organisation_code: str
    warnings: tuple[str, ...]


def uscc_check_char(first17: str) -> str:
    total = sum(_VALUE[c] * w for c, w in zip(first17, _WEIGHTS, strict=True))
    return ALPHABET[(31 - total % 31) % 31]


def organisation_code_check_ok(org9: str) -> bool:
    """GB 11714 check of the embedded organisation code (positions 9-17)."""
    try:
        total = sum(_ORG_VALUE[c] * w for c, w in zip(org9[:8], _ORG_WEIGHTS, strict=True))
    except KeyError:
        return False
    c = 11 - total % 11
    expected = "X" if c == 10 else "0" if c == 11 else str(c)
    return org9[8] == expected


def parse_uscc(value: str) -> CreditCode:
    stripped = value.strip()
    if len(stripped) != 18:
        raise ElicenseError("uscc.bad_length")
    for i, c in enumerate(stripped):
        if c.upper() not in _VALUE:
            raise ElicenseError("uscc.bad_character", details={"position": i + 1})
    raw = stripped.upper()
    if not raw[2:8].isdigit():
        raise ElicenseError("uscc.bad_division")
    if uscc_check_char(raw[:17]) != raw[17]:
        raise ElicenseError("uscc.bad_check", details={"position": 18})
    authority = REGISTRATION_AUTHORITIES.get(raw[0])
    kinds = authority[1] if authority else {}
    warnings: list[str] = []
    if authority is None:
        warnings.append("uscc.unknown_authority")
    elif raw[1] not in kinds:
        warnings.append("uscc.unknown_kind")
    if not organisation_code_check_ok(raw[8:17]):
        warnings.append("uscc.organisation_code_check")
    return CreditCode(
        code=raw,
        registration_authority=raw[0],
        authority_name=authority[0] if authority else None,
        organisation_kind=raw[1],
        organisation_kind_name=kinds.get(raw[1]),
        division_code=raw[2:8],
        organisation_code=raw[8:17],
        warnings=tuple(warnings),
    )


def is_valid_uscc(value: str) -> bool:
    try:
        parse_uscc(value)
    except ElicenseError:
        return False
    return True
