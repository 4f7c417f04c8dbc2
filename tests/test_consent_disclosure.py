"""Scenarios, consent and the disclosure decision (issue 7), on the pure core."""

from __future__ import annotations

import datetime as dt
import os
import random

import pytest

from elicense import ElicenseError, builtin_catalog, mask
from elicense.catalog import HolderKind
from elicense.consent import check_relying_party, decide_basis, grant, live_state, receipt
from elicense.credentials import check_api_key, new_api_key, parse_api_key
from elicense.disclosure import LicenseView, disclose
from elicense.jose.jws import parse_compact, verify_with
from elicense.jose.keyfile import generate_signer
from elicense.records import RelyingPartyRecord
from elicense.scenarios import VALID_FIELD, Basis, RpKind, Show, builtin_scenarios
from elicense.synthetic import credit_code, face_values, resident_id

from support import NOW

SCENARIOS = builtin_scenarios()
CATALOG = builtin_catalog()
TODAY = dt.date(2026, 11, 22)


def views_for(scenario_id: str, seed: int = 7) -> list[LicenseView]:
    rng = random.Random(seed)  # noqa: S311 - synthetic data, nothing secret
    s = SCENARIOS.get(scenario_id)
    holder = resident_id(rng) if s.holder_kind is HolderKind.RESIDENT else credit_code(rng)
    out = []
    for sl in s.licenses:
        t = CATALOG.get(sl.type_code)
        out.append(
            LicenseView(
                f"1.2.156.3005.2.{t.code}.X.{seed}.001.0",
                t.code,
                face_values(t, rng, holder=holder, today=TODAY),
            )
        )
    return out


def test_there_are_at_least_ten_built_in_scenarios_with_the_required_kinds() -> None:
    assert len(SCENARIOS) >= 10
    kinds = {k for s in SCENARIOS for k in s.rp_kinds}
    assert {
        RpKind.HOTEL,
        RpKind.UTILITY,
        RpKind.BANK,
        RpKind.TRADING_CENTER,
        RpKind.MARKET_REGULATOR,
        RpKind.GOVERNMENT_HALL,
        RpKind.INTERNET_CAFE,
    } <= kinds
    assert sum(RpKind.GOVERNMENT_HALL in s.rp_kinds for s in SCENARIOS) >= 3
    assert {Basis.CONSENT, Basis.STATUTE} == {s.basis for s in SCENARIOS}


@pytest.mark.parametrize("scenario_id", [s.id for s in SCENARIOS])
def test_each_scenario_shows_exactly_its_fields_masked_as_configured(scenario_id: str) -> None:
    scenario = SCENARIOS.get(scenario_id)
    views = views_for(scenario_id)
    disclosed = disclose(scenario, views)
    by_type = {v.type_code: v for v in views}
    assert [d.type_code for d in disclosed] == [sl.type_code for sl in scenario.licenses]
    for d, sl in zip(disclosed, scenario.licenses, strict=True):
        full = by_type[sl.type_code].fields
        expected_keys = {f.key for f in sl.fields if f.show in (Show.FULL, Show.MASKED)}
        assert set(d.fields) == {k for k in expected_keys if k in full}
        for f in sl.fields:
            if f.show is Show.FULL:
                assert d.fields[f.key] == str(full[f.key])
            elif f.show is Show.MASKED:
                assert f.mask is not None
                assert d.fields[f.key] == mask(f.mask, str(full[f.key]))
                assert d.fields[f.key] != str(full[f.key])
        assert (d.valid is True) == any(f.key == VALID_FIELD for f in sl.fields)
        # Nothing outside the scenario leaks: every other face value is absent.
        for key, value in full.items():
            if key not in expected_keys:
                assert str(value) not in d.fields.values() or key in d.fields


def test_a_required_license_the_holder_lacks_is_refused() -> None:
    scenario = SCENARIOS.get("power_account_opening")
    views = [
        v
        for v in views_for("power_account_opening")
        if v.type_code != scenario.licenses[1].type_code
    ]
    with pytest.raises(ElicenseError) as info:
        disclose(scenario, views)
    assert info.value.code == "license.missing"


def rp(kind: str = "hotel", scenarios: tuple[str, ...] = ("hotel_checkin",)) -> RelyingPartyRecord:
    return RelyingPartyRecord("rp-1", "91370303MA3C00001X", "齐都大酒店", kind, scenarios, NOW)


def test_relying_party_outside_its_scenarios_or_kind_is_refused() -> None:
    hotel = SCENARIOS.get("hotel_checkin")
    check_relying_party(rp(), hotel)
    for other in (rp(scenarios=("power_account_opening",)), rp(kind="bank")):
        with pytest.raises(ElicenseError) as info:
            check_relying_party(other, hotel)
        assert info.value.code == "scenario.not_allowed"
    with pytest.raises(ElicenseError) as info:
        check_relying_party(None, hotel)
    assert info.value.code == "auth.invalid"


def _grant(**kw: object) -> object:
    args: dict[str, object] = {
        "holder": "ab" * 16,
        "rp": rp("utility", ("power_account_opening",)),
        "scenario": SCENARIOS.get("power_account_opening"),
        "fields": ["name", "location"],
        "purpose": "办理用电过户",
        "valid_until": NOW + 30 * 86400,
        "max_uses": 3,
        "now": NOW,
        "rand": os.urandom,
    }
    args.update(kw)
    return grant(**args)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("change", "code"),
    [
        ({"fields": ["name", "photo"]}, "consent.bad_fields"),
        ({"purpose": "长" * 201}, "consent.bad_purpose"),
        ({"purpose": "  "}, "consent.bad_purpose"),
        ({"valid_until": NOW + 91 * 86400}, "consent.bad_validity"),
        ({"max_uses": 0}, "consent.bad_validity"),
        ({"scenario": SCENARIOS.get("hotel_checkin")}, "scenario.not_allowed"),
    ],
)
def test_grants_outside_the_rules_are_refused(change: dict, code: str) -> None:
    with pytest.raises(ElicenseError) as info:
        _grant(**change)
    assert info.value.code == code


def test_basis_statute_code_or_live_grant_in_that_order() -> None:
    hotel, power = SCENARIOS.get("hotel_checkin"), SCENARIOS.get("power_account_opening")
    assert decide_basis(hotel, code_scenarios=(), grants=[], now=NOW).kind == "statute"
    assert decide_basis(power, code_scenarios=(power.number,), grants=[], now=NOW).kind == "code"
    g = _grant()
    chosen = decide_basis(power, code_scenarios=(), grants=[g], now=NOW)  # type: ignore[list-item]
    assert (chosen.kind, chosen.consent_id) == ("grant", g.id)  # type: ignore[attr-defined]
    assert chosen.fields == {"name", "location", VALID_FIELD}


@pytest.mark.parametrize(
    ("state", "code"),
    [
        ({"revoked_at": NOW}, "consent.revoked"),
        ({"uses": 3}, "consent.exhausted"),
        ({"valid_until": NOW}, "consent.expired"),
        (None, "consent.missing"),
    ],
)
def test_unusable_or_missing_consent_is_refused_with_its_code(
    state: dict | None, code: str
) -> None:
    import dataclasses

    power = SCENARIOS.get("power_account_opening")
    grants = [] if state is None else [dataclasses.replace(_grant(), **state)]  # type: ignore[type-var]
    with pytest.raises(ElicenseError) as info:
        decide_basis(power, code_scenarios=(1,), grants=grants, now=NOW)
    assert info.value.code == code
    if state is not None:
        assert live_state(grants[0], NOW) == code


def test_holder_gets_a_signed_receipt_of_the_grant() -> None:
    signer = generate_signer()
    g = _grant()
    token = receipt(g, signer=signer, platform="11370300MB0000001L")  # type: ignore[arg-type]
    parsed = parse_compact(token, typ="consent-receipt+jwt")
    verify_with(parsed, signer.public_key())
    assert parsed.payload["fields"] == ["name", "location"]
    assert parsed.payload["purpose"] == "办理用电过户"
    assert parsed.payload["max_uses"] == 3


def test_api_keys_are_stored_as_hashes_and_checked_in_constant_time() -> None:
    key = new_api_key("rp-1", "rp", now=NOW, rand=os.urandom)
    _, secret = parse_api_key(key.token)
    assert secret.encode() not in key.record.secret_hash
    assert check_api_key(key.record, secret, owner_kind="rp") == "rp-1"
    for record, s, kind in [
        (key.record, secret[:-1] + "x", "rp"),
        (key.record, secret, "issuer"),
        (None, secret, "rp"),
    ]:
        with pytest.raises(ElicenseError) as info:
            check_api_key(record, s, owner_kind=kind)
        assert info.value.code == "auth.invalid"
    import dataclasses

    revoked = dataclasses.replace(key.record, revoked_at=NOW)
    with pytest.raises(ElicenseError):
        check_api_key(revoked, secret, owner_kind="rp")
    with pytest.raises(ElicenseError):
        parse_api_key("elk_short")
