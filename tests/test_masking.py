"""Masking (数据脱敏) by code point, per the reference conventions."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from elicense import ElicenseError, MaskRule, mask

from testdata import load_data

CASES = load_data("masking.json")["cases"]


@pytest.mark.parametrize("case", CASES, ids=lambda c: f"{c['rule']}:{c['masked']}")
def test_reference_values_mask_as_documented(case: dict) -> None:
    assert mask(case["rule"], case["value"]) == case["masked"]


@given(st.text(st.characters(min_codepoint=0x4E00, max_codepoint=0x9FFF), min_size=2, max_size=8))
def test_chinese_names_are_masked_by_code_point_not_byte(name: str) -> None:
    masked = mask(MaskRule.NAME, name)
    assert len(masked) == len(name)
    assert masked[0] == name[0]
    assert masked.count("*") == (len(name) - 2 if len(name) >= 4 else len(name) - 1)
    masked.encode("utf-8")  # whole code points only: never a split multi-byte sequence


@given(st.text(min_size=1, max_size=40).filter(lambda v: "*" not in v))
def test_masking_never_returns_the_full_value_of_a_long_input(value: str) -> None:
    for rule in MaskRule:
        out = mask(rule, value)
        if len(value.strip()) >= 4 and rule is not MaskRule.ADDRESS:
            assert out != value.strip()


def test_address_mask_hides_the_length_of_the_street_part() -> None:
    short = mask("address", "北京市朝阳区建国路1号")
    long = mask("address", "北京市朝阳区建国路1号院2号楼3单元401室")
    assert short == long == "北京市朝阳区****"


def test_unknown_rule_is_refused_with_its_code() -> None:
    with pytest.raises(ElicenseError) as info:
        mask("zodiac", "x")
    assert info.value.code == "mask.unknown_rule"
