"""Identifier rules (GB 11643, GB 32100, GB/T 36904) against the reference values and
properties of their check schemes."""

from __future__ import annotations

import datetime as dt
import string

import pytest
from hypothesis import given
from hypothesis import strategies as st

from elicense import ElicenseError
from elicense.identifiers import (
    IdentifierKind,
    build_license_id,
    check_identifier,
    convert_legacy_resident_id,
    mod37_36_check_char,
    parse_license_id,
    parse_resident_id,
    parse_uscc,
    resident_check_char,
    uscc_check_char,
    validate_type_code,
)
from elicense.identifiers.license_id import NONSTANDARD_VARIANTS
from elicense.identifiers.regions import PROVINCES
from elicense.identifiers.uscc import ALPHABET as USCC_ALPHABET

from testdata import TODAY, load_data

REF = load_data("identifiers.json")
ALNUM = string.digits + string.ascii_uppercase


def _code(fn: object, *args: object, **kwargs: object) -> str:
    with pytest.raises(ElicenseError) as info:
        fn(*args, **kwargs)  # type: ignore[operator]
    return info.value.code


# --- reference values --------------------------------------------------------------------


@pytest.mark.parametrize("case", REF["resident_id"]["valid"], ids=lambda c: c["value"])
def test_reference_resident_ids_validate_with_their_birth_date_and_sex(case: dict) -> None:
    r = parse_resident_id(case["value"], today=TODAY)
    assert r.birth_date.isoformat() == case["birth_date"]
    assert r.sex.value == case["sex"]


@pytest.mark.parametrize("case", REF["resident_id"]["invalid"], ids=lambda c: c["value"])
def test_reference_invalid_resident_ids_fail_with_their_code(case: dict) -> None:
    assert _code(parse_resident_id, case["value"], today=TODAY) == case["code"]


def test_legacy_15_digit_number_converts_to_its_18_digit_form() -> None:
    for case in REF["resident_id"]["legacy"]:
        assert convert_legacy_resident_id(case["value"], today=TODAY) == case["converted"]
        parsed = parse_resident_id(case["value"], today=TODAY)
        assert parsed.number == case["converted"]
        assert parsed.legacy_input


def test_lower_case_x_is_accepted_and_normalised() -> None:
    assert parse_resident_id("11010519491231002x", today=TODAY).number == "11010519491231002X"


def test_birth_date_after_today_is_refused() -> None:
    number = "11010520261123002"
    number += resident_check_char(number)
    assert _code(parse_resident_id, number, today=TODAY) == "resident_id.future_date"
    assert parse_resident_id(number, today=TODAY + dt.timedelta(days=1)).birth_date


@pytest.mark.parametrize(
    ("value", "code"),
    [
        ("1101051949123100", "resident_id.bad_length"),
        ("1101051949123100２X", "resident_id.bad_character"),  # full-width digit
        ("11010519491231002Y", "resident_id.bad_character"),
        ("1101051949123X002X", "resident_id.bad_character"),
        ("99010519491231002X", "resident_id.bad_region"),
        ("110105194902300021", "resident_id.bad_date"),
    ],
)
def test_each_resident_id_failure_has_its_own_code(value: str, code: str) -> None:
    assert _code(parse_resident_id, value, today=TODAY) == code


def test_hong_kong_macao_taiwan_residence_permits_use_the_same_algorithm() -> None:
    number = "81000019900101001"
    r = parse_resident_id(number + resident_check_char(number), today=TODAY)
    assert r.province.startswith("香港")


@pytest.mark.parametrize("value", REF["uscc"]["valid"])
def test_reference_credit_codes_validate(value: str) -> None:
    assert parse_uscc(value).code == value


@pytest.mark.parametrize("case", REF["uscc"]["invalid"], ids=lambda c: c["value"])
def test_reference_invalid_credit_codes_fail_with_their_code(case: dict) -> None:
    assert _code(parse_uscc, case["value"]) == case["code"]


def test_credit_code_parts_are_parsed() -> None:
    c = parse_uscc("91110000600037341L")
    assert (c.registration_authority, c.authority_name, c.organisation_kind_name) == (
        "9",
        "工商",
        "企业",
    )
    assert c.division_code == "110000"
    assert c.organisation_code == "600037341"


def test_letters_in_position_one_are_valid_credit_codes() -> None:
    assert parse_uscc("N2110000MA00000014").authority_name == "农业"
    assert parse_uscc("Y1110000MA0000001Y").authority_name == "其他"


def test_failed_inner_organisation_code_check_is_a_warning_not_an_error() -> None:
    c = parse_uscc("N2110000MA00000014")
    assert "uscc.organisation_code_check" in c.warnings


@pytest.mark.parametrize("value", REF["license_id"]["valid"])
def test_reference_license_identifiers_validate_and_rebuild(value: str) -> None:
    ident = parse_license_id(value)
    assert str(ident) == value
    rebuilt = build_license_id(ident.type_code, ident.issuer, ident.serial, ident.version)
    assert str(rebuilt) == value


@pytest.mark.parametrize(
    ("value", "code"),
    [
        (
            "1.2.156.3005.2.11100000000013338W011.11430000006122244L.20230000403.001.V",
            "license_id.bad_check",
        ),
        (
            "1.2.156.3005.3.11100000000013338W011.11430000006122244L.20230000403.001.U",
            "license_id.bad_root",
        ),
        (
            "1.2.156.3005.2.11100000000013338X011.11430000006122244L.20230000403.001.U",
            "license_id.bad_type_code",
        ),
        (
            "1.2.156.3005.2.11100000000013338W011.11430000006122244M.20230000403.001.U",
            "license_id.bad_issuer",
        ),
        (
            "1.2.156.3005.2.11100000000013338W011.11430000006122244L.2023-0403.001.U",
            "license_id.bad_serial",
        ),
        (
            "1.2.156.3005.2.11100000000013338W011.11430000006122244L.20230000403.01.U",
            "license_id.bad_version",
        ),
        ("1.2.156.3005.2.11100000000013338W011.11430000006122244L", "license_id.bad_format"),
    ],
)
def test_each_license_identifier_failure_has_its_own_code(value: str, code: str) -> None:
    assert _code(parse_license_id, value) == code


@pytest.mark.parametrize("variant", sorted(NONSTANDARD_VARIANTS))
def test_provincial_check_character_is_reported_distinctly_with_the_standard_form(
    variant: str,
) -> None:
    # Pick a serial where the variant's character differs from the standard one.
    for n in range(1000):
        ident = build_license_id("11100000000013338W011", "11430000006122244L", f"2023{n:07d}")
        other = NONSTANDARD_VARIANTS[variant](ident.payload)
        if other != ident.check:
            break
    provincial = str(ident)[:-1] + other
    with pytest.raises(ElicenseError) as info:
        parse_license_id(provincial)
    assert info.value.code == "license_id.nonstandard_check"
    assert info.value.details["variant"] == variant
    assert info.value.details["standard_identifier"] == str(ident)


def test_type_code_is_authority_credit_code_plus_three_digits() -> None:
    assert validate_type_code("11100000000013338W032") == "11100000000013338W032"
    for bad in ("11100000000013338W32", "11100000000013338WA32", "11100000000013338X032"):
        assert _code(validate_type_code, bad) == "license_id.bad_type_code"


# --- detection -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "kind", "valid"),
    [
        ("11010519491231002X", IdentifierKind.RESIDENT_ID, True),
        ("110105491231002", IdentifierKind.RESIDENT_ID, True),
        ("110105194912310021", IdentifierKind.RESIDENT_ID, False),
        ("91110000600037341L", IdentifierKind.USCC, True),
        ("113700000045046442", IdentifierKind.USCC, True),
        ("91110000600037341M", IdentifierKind.USCC, False),
        (REF["license_id"]["valid"][0], IdentifierKind.LICENSE_ID, True),
    ],
)
def test_check_detects_the_kind(value: str, kind: IdentifierKind, valid: bool) -> None:
    verdict = check_identifier(value, today=TODAY)
    assert (verdict.kind, verdict.valid) == (kind, valid)


def test_unrecognisable_value_gets_its_own_code() -> None:
    verdict = check_identifier("hello", today=TODAY)
    assert verdict.error is not None
    assert verdict.error.code == "id.unrecognised"


def test_error_details_never_echo_the_checked_value() -> None:
    for value in ("110105194912310021", "91110000600037341M", "11010519491231002Y"):
        verdict = check_identifier(value, today=TODAY)
        assert verdict.error is not None
        assert value not in str(verdict.error.to_dict())


# --- properties ------------------------------------------------------------------------

DIGITS = "0123456789"


@st.composite
def resident_ids(draw: st.DrawFn) -> str:
    province = draw(st.sampled_from(sorted(PROVINCES)))
    county = draw(st.text(DIGITS, min_size=4, max_size=4))
    born = draw(st.dates(min_value=dt.date(1800, 1, 1), max_value=TODAY))
    seq = draw(st.text(DIGITS, min_size=3, max_size=3))
    first17 = f"{province}{county}{born:%Y%m%d}{seq}"
    return first17 + resident_check_char(first17)


@st.composite
def credit_codes(draw: st.DrawFn) -> str:
    first = draw(st.sampled_from("123456789ANY"))
    second = draw(st.sampled_from("123459"))
    division = draw(st.text(DIGITS, min_size=6, max_size=6))
    org = draw(st.text(USCC_ALPHABET, min_size=9, max_size=9))
    first17 = first + second + division + org
    return first17 + uscc_check_char(first17)


@st.composite
def license_ids(draw: st.DrawFn) -> str:
    type_code = draw(credit_codes()) + draw(st.text(DIGITS, min_size=3, max_size=3))
    issuer = draw(credit_codes())
    serial = draw(st.text(ALNUM, min_size=1, max_size=20))
    version = draw(st.integers(1, 999))
    return str(build_license_id(type_code, issuer, serial, version))


@given(resident_ids())
def test_every_generated_resident_id_validates(number: str) -> None:
    r = parse_resident_id(number, today=TODAY)
    assert r.number == number
    assert r.sex.value == ("male" if int(number[16]) % 2 else "female")


@given(resident_ids(), st.data())
def test_every_single_substitution_in_a_resident_id_is_caught(
    number: str, data: st.DataObject
) -> None:
    i = data.draw(st.integers(0, 17))
    alphabet = DIGITS + ("X" if i == 17 else "")
    ch = data.draw(st.sampled_from([c for c in alphabet if c != number[i]]))
    with pytest.raises(ElicenseError):
        parse_resident_id(number[:i] + ch + number[i + 1 :], today=TODAY)


@given(resident_ids(), st.integers(0, 16))
def test_every_adjacent_transposition_in_a_resident_id_is_caught(number: str, i: int) -> None:
    if number[i] == number[i + 1]:
        return
    swapped = number[:i] + number[i + 1] + number[i] + number[i + 2 :]
    with pytest.raises(ElicenseError):
        parse_resident_id(swapped, today=dt.date(9999, 12, 31))


@given(credit_codes())
def test_every_generated_credit_code_validates(code: str) -> None:
    assert parse_uscc(code).code == code


@given(credit_codes(), st.data())
def test_every_single_substitution_in_a_credit_code_is_caught(
    code: str, data: st.DataObject
) -> None:
    i = data.draw(st.integers(0, 17))
    ch = data.draw(st.sampled_from([c for c in USCC_ALPHABET if c != code[i]]))
    with pytest.raises(ElicenseError):
        parse_uscc(code[:i] + ch + code[i + 1 :])


@given(credit_codes(), st.integers(0, 16))
def test_every_adjacent_transposition_in_a_credit_code_is_caught(code: str, i: int) -> None:
    if code[i] == code[i + 1]:
        return
    with pytest.raises(ElicenseError):
        parse_uscc(code[:i] + code[i + 1] + code[i] + code[i + 2 :])


@given(license_ids())
def test_every_generated_license_identifier_validates(value: str) -> None:
    assert str(parse_license_id(value)) == value


@given(license_ids(), st.data())
def test_every_single_substitution_in_a_license_identifier_is_caught(
    value: str, data: st.DataObject
) -> None:
    positions = [i for i, c in enumerate(value) if c != "." and i >= len("1.2.156.3005.2.")]
    i = data.draw(st.sampled_from(positions))
    ch = data.draw(st.sampled_from([c for c in ALNUM if c != value[i]]))
    with pytest.raises(ElicenseError):
        parse_license_id(value[:i] + ch + value[i + 1 :])


@given(st.text(ALNUM, min_size=2, max_size=60), st.data())
def test_mod37_36_catches_adjacent_transpositions_except_values_one_apart(
    payload: str, data: st.DataObject
) -> None:
    # A hybrid MOD 37,36 system guarantees every single substitution but not transpositions
    # of two values that differ by 1 (mod 36): those are the only ones it may miss.
    full = payload + mod37_36_check_char(payload)
    i = data.draw(st.integers(0, len(full) - 2))
    a, b = ALNUM.index(full[i]) if full[i] in ALNUM else -1, ALNUM.index(full[i + 1])
    if a < 0 or a == b or (a - b) % 36 in (1, 35):
        return
    swapped = full[:i] + full[i + 1] + full[i] + full[i + 2 :]
    assert mod37_36_check_char(swapped[:-1]) != swapped[-1]
