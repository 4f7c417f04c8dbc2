"""Project Wycheproof vectors for Ed25519 and ECDSA P-256 (IEEE P1363 r‖s) through our keys.

Every test group's public key goes through ``public_key_from_jwk`` (the strict import a trust
list uses) and every test case through the returned key's ``verify``. Per case:

- ``valid``: the import succeeds and ``verify`` returns True;
- ``invalid``: the import refuses the key (``ElicenseError``) or ``verify`` returns False;
- ``acceptable``: whatever we do is recorded, but only ``ElicenseError`` may escape.

Any other exception escaping from import or verify is a mismatch. Cases we knowingly
disagree with go in ``EXCEPTIONS`` with a reason; the mismatch tests require the mismatches
to be exactly that set, so the list can neither hide a new failure nor go stale.

Vectors: ``tests/vectors/wycheproof/`` (see SOURCE.md there for provenance and license).

How the key is fed to us:

- Wycheproof's JWKs carry ``"kid": "none"``, a placeholder rather than an RFC 7638
  thumbprint. Our import refuses a declared kid that is not the key's thumbprint
  (``key.kid_mismatch``, pinned below), so the member is dropped before import; the rest of
  the JWK is passed unchanged.
- A few ECDSA groups (special-case keys for the r/x reduction tests) have no
  ``publicKeyJwk``; for those the JWK is built from the group's uncompressed point.
"""

from __future__ import annotations

import base64
import hashlib
import json
from collections import Counter
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

import pytest

from elicense import ElicenseError
from elicense.jose.keys import (
    Ed25519PublicKey,
    P256PublicKey,
    PublicKey,
    public_key_from_jwk,
)

VECTORS = Path(__file__).parent / "vectors" / "wycheproof"
ED25519 = "ed25519_test.json"
P256 = "ecdsa_secp256r1_sha256_p1363_test.json"
FILES = (ED25519, P256)
KEY_TYPE: dict[str, type[PublicKey]] = {ED25519: Ed25519PublicKey, P256: P256PublicKey}

#: (file, tcId) -> why we knowingly disagree with Wycheproof's label. Keep empty if possible.
EXCEPTIONS: dict[tuple[str, int], str] = {}

#: How many mismatching cases an assertion message spells out.
SHOW = 10


def _b64u(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


@cache
def _load(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((VECTORS / name).read_text(encoding="utf-8"))
    return data


def _raw_jwk(name: str, group: dict[str, Any]) -> dict[str, str]:
    """The JWK for a group's key from its raw encoding (independent of ``publicKeyJwk``)."""
    pub = group["publicKey"]
    if name == ED25519:
        return {"kty": "OKP", "crv": "Ed25519", "x": _b64u(bytes.fromhex(pub["pk"]))}
    point = bytes.fromhex(pub["uncompressed"])
    assert len(point) == 65, pub
    assert point[0] == 4, pub
    return {"kty": "EC", "crv": "P-256", "x": _b64u(point[1:33]), "y": _b64u(point[33:])}


def _group_jwk(name: str, group: dict[str, Any]) -> dict[str, Any]:
    jwk = group.get("publicKeyJwk")
    if jwk is None:
        return _raw_jwk(name, group)
    return {k: v for k, v in jwk.items() if k != "kid"}


@dataclass
class Report:
    """What running one vector file produced."""

    tc_ids: list[int] = field(default_factory=list)
    by_result: Counter[str] = field(default_factory=Counter)
    #: (expected result, our outcome) -> count; outcome is verified / rejected / refused:<code>
    outcomes: Counter[tuple[str, str]] = field(default_factory=Counter)
    #: tcId -> one line describing the mismatch
    mismatches: dict[int, str] = field(default_factory=dict)


def _outcome(name: str, jwk: dict[str, Any], sig: bytes, msg: bytes) -> str:
    try:
        key = public_key_from_jwk(jwk)
    except ElicenseError as exc:
        return f"refused:{exc.code}"
    except Exception as exc:  # any other exception is a finding, not a crash
        return f"error:import raised {exc!r}"
    if not isinstance(key, KEY_TYPE[name]):
        return f"error:import returned {type(key).__name__}"
    try:
        ok = key.verify(sig, msg)
        # The path a presentation's issuer signature takes (SHA-256 shared with sd_hash)
        # must give the same verdict on every vector.
        by_digest = key.verify_sha256_digest(sig, hashlib.sha256(msg).digest())
    except ElicenseError as exc:
        return f"refused:{exc.code}"
    except Exception as exc:
        return f"error:verify raised {exc!r}"
    if by_digest is not None and by_digest is not ok:
        return f"error:verify_sha256_digest gave {by_digest!r}, verify {ok!r}"
    if ok is True:
        return "verified"
    if ok is False:
        return "rejected"
    return f"error:verify returned {ok!r}"


def _agrees(result: str, outcome: str) -> bool:
    if outcome.startswith("error:"):
        return False
    if result == "valid":
        return outcome == "verified"
    if result == "invalid":
        return outcome == "rejected" or outcome.startswith("refused:")
    if result == "acceptable":
        return True
    raise AssertionError(f"unknown Wycheproof result {result!r}")


@cache
def _run(name: str) -> Report:
    report = Report()
    for group in _load(name)["testGroups"]:
        jwk = _group_jwk(name, group)
        for case in group["tests"]:
            tc_id, result = case["tcId"], case["result"]
            outcome = _outcome(name, jwk, bytes.fromhex(case["sig"]), bytes.fromhex(case["msg"]))
            report.tc_ids.append(tc_id)
            report.by_result[result] += 1
            report.outcomes[result, outcome] += 1
            if not _agrees(result, outcome):
                report.mismatches[tc_id] = (
                    f"tcId {tc_id} ({result}, {case['comment']!r}, flags {case['flags']}): "
                    f"we got {outcome}"
                )
    return report


def _assert_only_documented_mismatches(name: str) -> None:
    report = _run(name)
    expected = {tc for (file, tc) in EXCEPTIONS if file == name}
    unexpected = sorted(set(report.mismatches) - expected)
    stale = sorted(expected - set(report.mismatches))
    lines = [report.mismatches[tc] for tc in unexpected[:SHOW]]
    assert not unexpected, (
        f"{name}: {len(report.tc_ids)} cases run ({dict(report.by_result)}); "
        f"{len(unexpected)} undocumented mismatch(es), first {SHOW}:\n  "
        + "\n  ".join(lines)
        + f"\noutcomes: {dict(report.outcomes)}"
    )
    assert not stale, f"{name}: EXCEPTIONS entries that no longer mismatch (remove): {stale}"


def test_wycheproof_ed25519_vectors_have_zero_mismatches() -> None:
    _assert_only_documented_mismatches(ED25519)


def test_wycheproof_p256_p1363_vectors_have_zero_mismatches() -> None:
    _assert_only_documented_mismatches(P256)


@pytest.mark.parametrize("name", FILES)
def test_wycheproof_runs_every_vector_the_file_declares(name: str) -> None:
    data = _load(name)
    report = _run(name)
    assert len(report.tc_ids) == data["numberOfTests"]
    assert len(set(report.tc_ids)) == len(report.tc_ids), "duplicate tcIds"
    assert sum(report.by_result.values()) == data["numberOfTests"]
    assert set(report.by_result) <= {"valid", "invalid", "acceptable"}
    # Both files exercise both sides; a run that saw only one label parsed something wrong.
    assert report.by_result["valid"] > 0
    assert report.by_result["invalid"] > 0


@pytest.mark.parametrize("name", FILES)
def test_wycheproof_exceptions_name_cases_that_exist(name: str) -> None:
    ids = set(_run(name).tc_ids)
    for file, tc_id in EXCEPTIONS:
        assert file in FILES, file
        if file == name:
            assert tc_id in ids, (file, tc_id)
    assert all(reason.strip() for reason in EXCEPTIONS.values())


@pytest.mark.parametrize("name", FILES)
def test_wycheproof_group_jwk_is_the_groups_raw_public_key(name: str) -> None:
    """The JWK we import is the key Wycheproof signed with, not just some key."""
    for group in _load(name)["testGroups"]:
        assert _group_jwk(name, group) == _raw_jwk(name, group)


@pytest.mark.parametrize("name", FILES)
def test_wycheproof_placeholder_kid_is_refused_by_import(name: str) -> None:
    """Why ``kid`` is dropped: a declared kid must be the RFC 7638 thumbprint."""
    groups = [g for g in _load(name)["testGroups"] if "publicKeyJwk" in g]
    assert groups
    for group in groups:
        jwk = group["publicKeyJwk"]
        assert jwk["kid"] == "none"
        with pytest.raises(ElicenseError) as info:
            public_key_from_jwk(jwk)
        assert info.value.code == "key.kid_mismatch"
