"""The license catalog: the built-in set and loading a city's own."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from elicense import (
    Display,
    ElicenseError,
    HolderKind,
    IdentifierScheme,
    ValueType,
    builtin_catalog,
    load_catalog,
    parse_catalog_text,
)
from elicense.identifiers import parse_uscc, validate_type_code

from testdata import DATA

MUST_HAVE = {
    "居民身份证",
    "户口簿",
    "居住证",
    "结婚证",
    "出生医学证明",
    "残疾人证",
    "社会保障卡",
    "机动车驾驶证",
    "机动车行驶证",
    "不动产权证书",
    "营业执照",
    "食品经营许可证",
    "药品经营许可证",
    "事业单位法人证书",
    "社会团体法人登记证书",
    "建筑业企业资质证书",
    "公共场所卫生许可证",
    "教师资格证书",
    "医师执业证书",
    "护士执业证书",
    "退役军人优待证",
    "老年人优待证",
}


def test_builtin_catalog_has_at_least_40_valid_types() -> None:
    cat = builtin_catalog()
    assert len(cat) >= 40
    for t in cat:
        assert validate_type_code(t.code) == t.code
        assert t.fields, t.code
        assert any(f.required for f in t.fields), t.code


def test_builtin_catalog_covers_the_high_frequency_licenses() -> None:
    names = {t.name_zh for t in builtin_catalog()}
    assert names >= MUST_HAVE, MUST_HAVE - names


def test_builtin_authority_codes_are_valid_credit_codes_without_warnings() -> None:
    for t in builtin_catalog():
        assert parse_uscc(t.authority_code).warnings == (), t.code


def test_builtin_personal_identifiers_are_masked_or_omitted() -> None:
    for t in builtin_catalog():
        for f in t.fields:
            if f.scheme is IdentifierScheme.RESIDENT_ID:
                assert f.display is not Display.FULL, (t.name_zh, f.key)
            if f.value_type is ValueType.IMAGE:
                assert f.display is Display.OMITTED, (t.name_zh, f.key)


def test_builtin_catalog_has_both_holder_kinds() -> None:
    kinds = {t.holder_kind for t in builtin_catalog()}
    assert kinds == {HolderKind.RESIDENT, HolderKind.ENTERPRISE}


def test_three_broken_entries_are_all_reported_and_nothing_is_loaded() -> None:
    with pytest.raises(ElicenseError) as info:
        load_catalog(DATA / "catalog_three_broken.yaml")
    assert info.value.code == "catalog.invalid"
    problems = info.value.details["problems"]
    entries = {p["entry"].split()[0] for p in problems}
    assert entries == {"types[1]", "types[2]", "types[3]"}
    by_entry = {p["entry"].split()[0]: p for p in problems}
    assert by_entry["types[1]"]["field"] == "code"
    assert by_entry["types[2]"]["field"] == "fields.level.options"
    assert by_entry["types[3]"]["field"] == "holder_kind"


def test_json_and_yaml_load_the_same_catalog(tmp_path: Path) -> None:
    data = yaml.safe_load((DATA / "catalog_three_broken.yaml").read_text(encoding="utf-8"))
    data["types"] = [data["types"][0], data["types"][4]]
    as_json = tmp_path / "c.json"
    as_json.write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")
    as_yaml = tmp_path / "c.yaml"
    as_yaml.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    a, b = load_catalog(as_json), load_catalog(as_yaml)
    assert [t.to_dict() for t in a] == [t.to_dict() for t in b]
    assert a.get("11100000000013338W001").name_zh == "测试证甲"


def test_duplicate_type_codes_are_reported() -> None:
    text = (DATA / "catalog_three_broken.yaml").read_text(encoding="utf-8")
    data = yaml.safe_load(text)
    data["types"] = [data["types"][0], data["types"][0]]
    with pytest.raises(ElicenseError) as info:
        parse_catalog_text(json.dumps(data), fmt="json")
    assert "duplicate" in info.value.details["problems"][0]["reason"]


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        (b"types: [unclosed", "yaml"),
        (b"\xff\xfe t\x00", "utf-8"),
        (b"- just a list", "shape"),
    ],
)
def test_unreadable_files_fail_with_their_own_code(
    tmp_path: Path, content: bytes, reason: str
) -> None:
    p = tmp_path / "c.yaml"
    p.write_bytes(content)
    with pytest.raises(ElicenseError) as info:
        load_catalog(p)
    assert info.value.code == "catalog.unreadable", reason


def test_unknown_type_code_has_its_own_code() -> None:
    with pytest.raises(ElicenseError) as info:
        builtin_catalog().get("11100000000013338W999")
    assert info.value.code == "catalog.unknown_type"


def test_catalog_round_trips_through_its_dict_form() -> None:
    cat = builtin_catalog()
    again = parse_catalog_text(
        json.dumps({"version": 1, "types": [t.to_dict() for t in cat]}, ensure_ascii=False),
        fmt="json",
    )
    assert [t.to_dict() for t in again] == [t.to_dict() for t in cat]
