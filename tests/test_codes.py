"""Resident and enterprise codes, offline presentations: format, refusals, replay, privacy."""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import os
import threading

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from elicense import ElicenseError
from elicense.codes import (
    MAX_TEXT,
    Kind,
    issue_code,
    open_text,
    pseudonym,
    verify_code,
)
from elicense.compact import from_digits, to_digits
from elicense.disclosure import LicenseView
from elicense.presentations import issue_presentation, verify_presentation
from elicense.replay import MemoryReplayStore
from elicense.scenarios import builtin_scenarios
from elicense.trust import TrustStore

from support import HOLDER, NOW, Region, police_of, zibo

SECRET = b"platform-pseudonym-key-0123456789"
HOTEL = "91370303MA3C00001X"
COMPANY = "91110000600037341L"


@pytest.fixture(scope="module")
def region() -> Region:
    return zibo()


@pytest.fixture(scope="module")
def store(region: Region) -> TrustStore:
    return region.store()


def code(region: Region, kind: Kind = Kind.RESIDENT_CODE, **kw: object) -> str:
    args: dict[str, object] = {
        "kind": kind,
        "signer": region.platform_signer,
        "region": region.code,
        "sub": pseudonym(SECRET, "111", HOLDER),
        "scenarios": [1, 3],
        "now": NOW,
        "rand": os.urandom,
    }
    args.update(kw)
    return issue_code(**args)  # type: ignore[arg-type]


def refused(fn: object, *args: object, **kw: object) -> str:
    with pytest.raises(ElicenseError) as info:
        fn(*args, **kw)  # type: ignore[operator]
    return info.value.code


def test_code_verifies_once_and_says_only_pseudonym_scenarios_and_times(
    region: Region, store: TrustStore
) -> None:
    text = code(region)
    v = verify_code(text, store, now=NOW + 10, replay=MemoryReplayStore())
    assert v.kind is Kind.RESIDENT_CODE
    assert v.pseudonym == pseudonym(SECRET, "111", HOLDER)
    assert v.scenarios == (1, 3)
    assert v.expires_at - v.issued_at == 120
    assert len(v.jti) == 16


def test_code_used_twice_is_refused_the_second_time(region: Region, store: TrustStore) -> None:
    text, replay = code(region), MemoryReplayStore()
    verify_code(text, store, now=NOW, replay=replay)
    assert refused(verify_code, text, store, now=NOW + 1, replay=replay) == "code.replayed"


def test_code_racing_from_two_threads_succeeds_exactly_once(
    region: Region, store: TrustStore
) -> None:
    text, replay = code(region), MemoryReplayStore()
    outcomes: list[str] = []
    barrier = threading.Barrier(2)

    def attempt() -> None:
        barrier.wait()
        for _ in range(25):
            try:
                verify_code(text, store, now=NOW, replay=replay)
                outcomes.append("ok")
            except ElicenseError as exc:
                outcomes.append(exc.code)

    threads = [threading.Thread(target=attempt) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert outcomes.count("ok") == 1
    assert outcomes.count("code.replayed") == 49


def test_expired_code_is_refused(region: Region, store: TrustStore) -> None:
    text = code(region, lifetime=60)
    assert refused(verify_code, text, store, now=NOW + 200, replay=MemoryReplayStore()) == (
        "code.expired"
    )


def test_code_from_the_future_is_refused(region: Region, store: TrustStore) -> None:
    text = code(region, now=NOW + 3600)
    assert refused(verify_code, text, store, now=NOW, replay=MemoryReplayStore()) == (
        "code.not_yet_valid"
    )


def test_code_of_the_wrong_kind_is_refused(region: Region, store: TrustStore) -> None:
    text = code(region, kind=Kind.ENTERPRISE_CODE)
    assert (
        refused(
            verify_code, text, store, now=NOW, replay=MemoryReplayStore(), expect=Kind.RESIDENT_CODE
        )
        == "code.wrong_kind"
    )
    # The prefix is not signed, the kind byte is: swapping the prefix is caught too.
    swapped = "RC1:" + text[4:]
    assert refused(verify_code, swapped, store, now=NOW, replay=MemoryReplayStore()) == (
        "code.wrong_kind"
    )


def test_code_for_another_relying_party_is_refused(region: Region, store: TrustStore) -> None:
    text = code(region, audience=HOTEL)
    assert (
        refused(
            verify_code,
            text,
            store,
            now=NOW,
            replay=MemoryReplayStore(),
            audience="91370303MA3C00002W",
        )
        == "code.wrong_audience"
    )
    assert verify_code(text, store, now=NOW, replay=MemoryReplayStore(), audience=HOTEL)


def test_lifetime_over_300_seconds_cannot_be_issued(region: Region) -> None:
    assert refused(code, region, lifetime=301) == "code.bad_lifetime"


def test_tampered_signature_is_refused(region: Region, store: TrustStore) -> None:
    _, body, sig = open_text(code(region))
    forged = "RC1:" + to_digits(body + bytes([sig[0] ^ 1]) + sig[1:])
    assert refused(verify_code, forged, store, now=NOW, replay=MemoryReplayStore()) == (
        "code.bad_signature"
    )


def test_code_signed_by_an_unknown_platform_key_is_refused(store: TrustStore) -> None:
    other = Region("370300", "淄博市")  # same region, a key the trust list does not hold
    assert refused(verify_code, code(other), store, now=NOW, replay=MemoryReplayStore()) == (
        "code.unknown_key"
    )


def test_region_not_recognised_is_refused(store: TrustStore) -> None:
    text = code(Region("440300", "深圳市"))
    assert refused(verify_code, text, store, now=NOW, replay=MemoryReplayStore()) == (
        "trust.unknown_region"
    )


@pytest.mark.parametrize("noise", ["\r\n", "\n", "\r", "  ", " \r\n", "\t"])
def test_keyboard_wedge_noise_around_the_code_is_ignored(
    region: Region, store: TrustStore, noise: str
) -> None:
    assert verify_code(noise + code(region) + noise, store, now=NOW, replay=MemoryReplayStore())


@pytest.mark.parametrize(
    ("mangle", "expected"),
    [
        (lambda t: "XX1:" + t[4:], "code.malformed"),
        (lambda t: t[:4] + "0" + t[4:], "code.malformed"),
        (lambda t: t[:50] + "A" + t[51:], "code.malformed"),
        (lambda t: t[:50] + " " + t[50:], "code.malformed"),
        (lambda t: t[:-40], "code.malformed"),
        (lambda t: t[:4], "code.malformed"),
        (lambda t: t + "0" * (MAX_TEXT), "code.too_large"),
        (lambda t: t[:4] + "１" + t[5:], "code.malformed"),
    ],
)
def test_malformed_text_is_refused_before_any_cryptography(
    region: Region, mangle: object, expected: str
) -> None:
    # An empty trust store: had any key lookup or signature check run, it would have
    # failed with a trust code instead.
    empty = TrustStore({})
    text = mangle(code(region))  # type: ignore[operator]
    assert refused(verify_code, text, empty, now=NOW, replay=MemoryReplayStore()) == expected


def test_trailing_bytes_inside_the_framing_are_refused(region: Region, store: TrustStore) -> None:
    _, body, sig = open_text(code(region))
    text = "RC1:" + to_digits(body + b"\x00" + sig)
    assert refused(verify_code, text, store, now=NOW, replay=MemoryReplayStore()) == (
        "code.malformed"
    )


@settings(
    max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(st.data())
def test_any_mutation_of_a_code_only_ever_raises_elicense_errors(
    region: Region, store: TrustStore, data: st.DataObject
) -> None:
    text = code(region)
    i = data.draw(st.integers(0, len(text) - 1))
    ch = data.draw(st.characters())
    mutated = text[:i] + ch + text[i + 1 :]
    with contextlib.suppress(ElicenseError):
        verify_code(mutated, store, now=NOW, replay=MemoryReplayStore())


def test_numeric_transport_round_trips_leading_zero_bytes() -> None:
    for data in (b"", b"\x00", b"\x00\x00\x01", os.urandom(200)):
        assert from_digits(to_digits(data), "code.malformed") == data


# --- presentations ----------------------------------------------------------------------


def _presentation(region: Region, audience: str = HOTEL, **kw: object) -> tuple[str, LicenseView]:
    lic = region.issue_id_card(police_of(region))
    view = LicenseView(
        lic.license_id,
        lic.type_code,
        dict(lic.fields),
        True,
        "https://370300.example/status/1",
        7,
        None,
    )
    args: dict[str, object] = {
        "signer": region.platform_signer,
        "region": region.code,
        "sub": pseudonym(SECRET, "111", HOLDER),
        "scenario": builtin_scenarios().get("hotel_checkin"),
        "audience": audience,
        "licenses": [view],
        "now": NOW,
        "rand": os.urandom,
    }
    args.update(kw)
    return issue_presentation(**args), view  # type: ignore[arg-type]


def test_hotel_presentation_carries_only_the_scenario_fields_masked(
    region: Region, store: TrustStore
) -> None:
    text, view = _presentation(region)
    v = verify_presentation(text, store, now=NOW + 5, audience=HOTEL, replay=MemoryReplayStore())
    (lic,) = v.licenses
    assert lic.fields == {
        "name": "张三丰",
        "id_number": "3604**********0071",
        "sex": "男",
        "ethnicity": "汉",
    }
    assert lic.license_id == view.license_id
    assert (lic.status_uri, lic.status_idx) == ("https://370300.example/status/1", 7)
    assert lic.valid is True


def test_presentation_is_single_use_and_bound_to_its_audience(
    region: Region, store: TrustStore
) -> None:
    text, _ = _presentation(region)
    replay = MemoryReplayStore()
    assert (
        refused(verify_presentation, text, store, now=NOW, audience="someone-else", replay=replay)
        == "code.wrong_audience"
    )
    verify_presentation(text, store, now=NOW, audience=HOTEL, replay=replay)
    assert (
        refused(verify_presentation, text, store, now=NOW, audience=HOTEL, replay=replay)
        == "code.replayed"
    )


def test_presentation_is_not_accepted_as_a_code_nor_a_code_as_a_presentation(
    region: Region, store: TrustStore
) -> None:
    text, _ = _presentation(region)
    assert refused(verify_code, text, store, now=NOW, replay=MemoryReplayStore()) == (
        "code.wrong_kind"
    )
    assert (
        refused(
            verify_presentation,
            code(region),
            store,
            now=NOW,
            audience=HOTEL,
            replay=MemoryReplayStore(),
        )
        == "code.wrong_kind"
    )


def test_expired_presentation_is_refused(region: Region, store: TrustStore) -> None:
    text, _ = _presentation(region, lifetime=120)
    assert (
        refused(
            verify_presentation,
            text,
            store,
            now=NOW + 500,
            audience=HOTEL,
            replay=MemoryReplayStore(),
        )
        == "code.expired"
    )


def _all_encodings(text: str) -> bytes:
    _, body, sig = open_text(text)
    return text.encode() + body + sig


def test_no_token_carries_an_unmasked_id_number_or_credit_code(region: Region) -> None:
    tokens = [
        code(region),
        code(region, kind=Kind.ENTERPRISE_CODE, audience=HOTEL),
        _presentation(region)[0],
    ]
    for token in tokens:
        blob = _all_encodings(token)
        for secret in (HOLDER, COMPANY, HOLDER[6:14]):
            assert secret.encode() not in blob
            assert secret.encode("utf-16-be") not in blob
        # Not even as a number somewhere in the digits of the transport.
        assert HOLDER[:17] not in token


def test_pseudonym_is_hmac_sha256_of_type_and_code_truncated_to_128_bits() -> None:
    # Stored pseudonyms must stay the same across releases: RFC 2104 HMAC-SHA256 over
    # "type:code", first 16 bytes (computed here with the stdlib's generic HMAC).
    expected = hmac.new(SECRET, f"111:{HOLDER}".encode(), hashlib.sha256).digest()[:16]
    assert pseudonym(SECRET, "111", HOLDER) == expected
    assert pseudonym(SECRET, "112", HOLDER) != expected


@given(key=st.binary(min_size=0, max_size=200), code=st.text(max_size=40))
def test_the_pseudonym_matches_hmac_digest_for_keys_of_every_length_and_every_call(
    key: bytes, code: str
) -> None:
    """Keys shorter than a SHA-256 block, one block, longer (hashed first), and a second
    call alike: the guard for any faster HMAC (a keyed one kept and copied was tried)."""
    expected = hmac.digest(key, f"111:{code}".encode(), "sha256")[:16]
    assert pseudonym(key, "111", code) == expected
    assert pseudonym(key, "111", code) == expected  # a second call: nothing kept changes it
