"""Adversarial tests for the verifier checklist (docs: verifier-checklist.md, items 1-21).

Every negative test starts from a real, validly signed license of the demo region and
re-signs the tampered token with the real issuer (or holder) key, so that the signature is
valid and only the property under test is wrong. Each asserts the exact error code.
``test_control_*`` tests prove that the crafting helpers produce tokens that verify when
nothing is tampered with, so a rejection below is never just a signature failure.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.utils import (
    decode_dss_signature,
    encode_dss_signature,
)
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from elicense.errors import ERROR_CODES, ElicenseError
from elicense.identifiers import uscc_check_char
from elicense.jose.b64 import b64d, b64e
from elicense.jose.jws import sign_compact
from elicense.jose.keyfile import generate_signer
from elicense.jose.keys import Alg, Signer
from elicense.jose.sjson import dumps
from elicense.licenses import VerifiedLicense, VerifierPolicy, verify_license
from elicense.replay import MemoryReplayStore
from elicense.sdjwt import make_disclosure, present
from elicense.trust import TRUST_LIST_TYP, KeyState, TrustedKey, TrustStore, make_issuer

from support import NOW, YEAR, Region, business_type, police_of, resident_type, zibo

DAY = 86400
LICENSE_TYP = "dc+sd-jwt"
KB_TYP = "kb+jwt"
AUD = "https://verifier.zibo.example/counter-7"
NONCE = "nonce-3q2+7wAAAAB_zibo"
SECRET = "秘密值-SECRET-4711"
_ALPH = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
_DROP = object()


# --------------------------------------------------------------------------- helpers


def make_uscc(division: str, seq: int) -> str:
    body = f"11{division}MB{seq:07d}"
    assert len(body) == 17
    return body + uscc_check_char(body)


def digest(disclosure: str) -> str:
    return b64e(hashlib.sha256(disclosure.encode("ascii")).digest())


def sd_hash(sd_jwt: str) -> str:
    return b64e(hashlib.sha256(sd_jwt.encode("ascii")).digest())


def raw_disclosure(value: Any) -> str:
    """A disclosure of any JSON shape (for malformed-shape tests)."""
    return b64e(dumps(value))


def seg(value: Any) -> str:
    return b64e(value if isinstance(value, bytes) else dumps(value))


def sign_segments(h64: str, p64: str, signer: Signer) -> str:
    return f"{h64}.{p64}." + b64e(signer.sign(f"{h64}.{p64}".encode("ascii")))


def sign_token(
    header: Any,
    payload: Any,
    signer: Signer,
    *,
    raw_header: bytes | None = None,
    raw_payload: bytes | None = None,
) -> str:
    """Sign exactly the given header/payload (or raw bytes) with a real key."""
    h64 = b64e(raw_header) if raw_header is not None else seg(header)
    p64 = b64e(raw_payload) if raw_payload is not None else seg(payload)
    return sign_segments(h64, p64, signer)


def lic_header(signer: Signer, **changes: Any) -> dict[str, Any]:
    header: dict[str, Any] = {"alg": signer.alg.value, "typ": LICENSE_TYP, "kid": signer.kid}
    for k, v in changes.items():
        if v is _DROP:
            header.pop(k, None)
        else:
            header[k] = v
    return header


def sd(jwt: str, disclosures: Sequence[str] = (), kb: str = "") -> str:
    return jwt + "~" + "".join(d + "~" for d in disclosures) + kb


def kb_policy(**kw: Any) -> VerifierPolicy:
    return VerifierPolicy(audience=AUD, nonce=NONCE, require_key_binding=True, **kw)


def make_kb(
    sd_jwt: str,
    holder: Signer,
    *,
    header: dict[str, Any] | None = None,
    signer: Signer | None = None,
    **claims: Any,
) -> str:
    """A KB-JWT over ``sd_jwt``; keyword claims override (``_DROP`` removes)."""
    h: dict[str, Any] = {"alg": holder.alg.value, "typ": KB_TYP}
    for k, v in (header or {}).items():
        if v is _DROP:
            h.pop(k, None)
        else:
            h[k] = v
    c: dict[str, Any] = {"iat": NOW, "aud": AUD, "nonce": NONCE, "sd_hash": sd_hash(sd_jwt)}
    for k, v in claims.items():
        if v is _DROP:
            c.pop(k, None)
        else:
            c[k] = v
    return sign_token(h, c, signer or holder)


def with_changes(payload: dict[str, Any], **changes: Any) -> dict[str, Any]:
    out = dict(payload)
    for k, v in changes.items():
        if v is _DROP:
            out.pop(k, None)
        else:
            out[k] = v
    return out


@dataclass
class Env:
    region: Region
    uscc: str
    store: TrustStore
    combined: str
    holder: Signer | None = None

    @property
    def signer(self) -> Signer:
        return self.region.signers[self.uscc]

    @property
    def jwt(self) -> str:
        return self.combined.split("~")[0]

    @property
    def disclosures(self) -> list[str]:
        return [d for d in self.combined.split("~")[1:] if d]

    def header(self) -> dict[str, Any]:
        return json.loads(b64d(self.jwt.split(".")[0]))

    def payload(self) -> dict[str, Any]:
        return json.loads(b64d(self.jwt.split(".")[1]))

    def disclosure(self, name: str) -> str:
        return next(d for d in self.disclosures if json.loads(b64d(d))[1] == name)

    def resign(
        self, payload: dict[str, Any], *, signer: Signer | None = None, **header: Any
    ) -> str:
        s = signer or self.signer
        return sign_token(lic_header(s, **header), payload, s)

    def rebuild_store(self, *others: Region) -> None:
        self.store = self.region.store(*others)


def make_env(*, bound: bool = False) -> Env:
    region = zibo()
    uscc = police_of(region)
    holder = generate_signer(Alg.ES256) if bound else None
    extra: dict[str, Any] = {"holder_jwk": holder.public_key()} if holder else {}
    issued = region.issue_id_card(uscc, **extra)
    return Env(region, uscc, region.store(), issued.sd_jwt, holder)


@pytest.fixture
def env() -> Env:
    return make_env()


@pytest.fixture
def bound() -> Env:
    return make_env(bound=True)


def verify(env: Env, text: str, **kw: Any) -> VerifiedLicense:
    return verify_license(text, env.store, now=NOW, **kw)


def refused(env: Env, text: str, code: str, **kw: Any) -> ElicenseError:
    with pytest.raises(ElicenseError) as info:
        verify_license(text, env.store, now=NOW, **kw)
    assert info.value.code == code, (info.value.code, info.value.details)
    return info.value


def kb_presentation(env: Env, keep: Sequence[str] = ("name",), **kb_claims: Any) -> str:
    assert env.holder is not None
    sd_jwt = present(env.combined, keep)
    return sd_jwt + make_kb(sd_jwt, env.holder, **kb_claims)


def issue_with_active_copy(region: Region, uscc: str, *, now: int) -> str:
    """Sign a license with ``uscc``'s real key even though its trust-list entry is
    retired/compromised/expired: the issuer side is given an active copy of the entry."""
    signer = region.signers[uscc]
    active = make_issuer(
        uscc, "copy", region.code, [resident_type().code],
        [TrustedKey(signer.public_key(), NOW - YEAR, None)],
    )  # fmt: skip
    return region.issue_id_card(uscc, issuer=active, now=now).sd_jwt


def add_disclosures(
    env: Env, payload: dict[str, Any], disclosures: Sequence[str], *, digests: Sequence[str] = ()
) -> tuple[str, list[str]]:
    """Sign ``payload`` with the given extra disclosures referenced from its top-level
    ``_sd`` (plus extra raw digests); returns (jwt, all disclosures to present)."""
    p = dict(payload)
    p["_sd"] = sorted([*p.get("_sd", []), *(digest(d) for d in disclosures), *digests])
    return env.resign(p), [*env.disclosures, *disclosures]


# --------------------------------------------------------------------------- controls


def test_control_resigned_and_crafted_tokens_verify_when_untampered(env: Env) -> None:
    verify(env, env.combined)
    verify(env, sd(env.resign(env.payload()), env.disclosures))
    extra = make_disclosure("c2FsdC0xMjM0NTY3OA", "nickname", "小张")
    jwt, ds = add_disclosures(env, env.payload(), [extra])
    got = verify(env, sd(jwt, ds))
    assert got.fields["nickname"] == "小张"


def test_control_key_binding_helpers_verify_when_untampered(bound: Env) -> None:
    got = verify(bound, kb_presentation(bound), policy=kb_policy())
    assert got.key_bound is True
    assert set(got.fields) == {"name"}


# --------------------------------------------------------------------------- item 1


def test_item_01_oversized_input_is_refused_before_decoding(env: Env) -> None:
    # Garbage that would fail base64/serialization: too_large proves the cap comes first.
    refused(env, "!" * (64 * 1024 + 1) + "~", "token.too_large")
    refused(env, env.combined + "A" * (64 * 1024), "token.too_large")


def test_item_01_policy_length_cap_is_enforced(env: Env) -> None:
    assert len(env.combined) > 1000
    refused(env, env.combined, "token.too_large", policy=VerifierPolicy(max_length=1000))


def test_item_01_too_many_disclosures_is_refused(env: Env) -> None:
    refused(env, env.combined + "AAAA~" * 200, "token.too_many_disclosures")
    assert len(env.disclosures) > 3
    policy = VerifierPolicy(max_disclosures=3)
    refused(env, env.combined, "token.too_many_disclosures", policy=policy)


def _nest(depth: int, leaf: Any = 1) -> Any:
    value = leaf
    for _ in range(depth):
        value = [value]
    return value


def test_item_01_deep_json_in_payload_is_refused(env: Env) -> None:
    jwt = env.resign(with_changes(env.payload(), deep=_nest(40)))
    refused(env, sd(jwt, env.disclosures), "token.too_deep")


def test_item_01_deep_json_in_header_is_refused(env: Env) -> None:
    jwt = env.resign(env.payload(), deep=_nest(40))
    refused(env, sd(jwt, env.disclosures), "token.too_deep")


def test_item_01_deep_json_in_disclosure_is_refused(env: Env) -> None:
    deep = make_disclosure("c2FsdA", "deep", _nest(40))
    jwt, ds = add_disclosures(env, env.payload(), [deep])
    refused(env, sd(jwt, ds), "token.too_deep")


def test_item_01_very_deep_json_reports_too_deep(env: Env) -> None:
    deep = b"[" * 3000 + b"1" + b"]" * 3000
    raw = dumps(env.payload())[:-1] + b',"deep":' + deep + b"}"
    text = sd(
        sign_token(lic_header(env.signer), None, env.signer, raw_payload=raw), env.disclosures
    )
    assert len(text) < 64 * 1024
    refused(env, text, "token.too_deep")


def test_item_01_nested_disclosure_chain_depth_is_bounded(env: Env) -> None:
    discs: list[str] = []
    nxt: str | None = None
    for i in range(100):
        inner: Any = {"_sd": [nxt]} if nxt else {"leaf": 1}
        d = make_disclosure(f"salt{i}", f"c{i}", _nest(12, inner))
        discs.append(d)
        nxt = digest(d)
    assert nxt is not None
    jwt, _ = add_disclosures(env, env.payload(), [], digests=[nxt])
    refused(env, sd(jwt, [*env.disclosures, *discs]), "token.too_deep")


def test_item_01_oversized_kb_jwt_is_refused(bound: Env) -> None:
    text = kb_presentation(bound, pad="x" * 5000)
    refused(bound, text, "token.too_large", policy=kb_policy())


# --------------------------------------------------------------------------- item 2


def test_item_02_jwe_like_five_segments_is_refused(env: Env) -> None:
    h64, p64, s64 = env.jwt.split(".")
    jwe = f"{h64}.{p64}.{s64}.AAAA.AAAA"
    refused(env, sd(jwe, env.disclosures), "token.bad_serialization")


@pytest.mark.parametrize("count", [1, 2, 4, 6])
def test_item_02_wrong_segment_count_is_refused(env: Env, count: int) -> None:
    parts = env.jwt.split(".")
    jwt = ".".join((parts * 2)[:count])
    refused(env, sd(jwt, env.disclosures), "token.bad_serialization")


def test_item_02_json_serialization_is_refused(env: Env) -> None:
    h64, p64, s64 = env.jwt.split(".")
    flat = json.dumps({"protected": h64, "payload": p64, "signature": s64})
    general = json.dumps({"payload": p64, "signatures": [{"protected": h64, "signature": s64}]})
    for text in (flat, general):
        refused(env, sd(text, env.disclosures), "token.bad_serialization")
        refused(env, text, "token.bad_serialization")


def test_item_02_plain_jwt_without_tilde_is_refused(env: Env) -> None:
    refused(env, env.jwt, "token.bad_serialization")


@pytest.mark.parametrize(
    "where",
    ["leading_space", "space_in_payload", "crlf_in_signature", "tab_before_tilde", "nl_in_disc"],
)
def test_item_02_whitespace_is_refused(env: Env, where: str) -> None:
    h64, p64, s64 = env.jwt.split(".")
    ds = env.disclosures
    text = {
        "leading_space": " " + env.combined,
        "space_in_payload": sd(f"{h64}.{p64[:10]} {p64[10:]}.{s64}", ds),
        "crlf_in_signature": sd(f"{h64}.{p64}.{s64[:40]}\r\n{s64[40:]}", ds),
        "tab_before_tilde": sd(env.jwt + "\t", ds),
        "nl_in_disc": sd(env.jwt, [ds[0][:8] + "\n" + ds[0][8:], *ds[1:]]),
    }[where]
    refused(env, text, "token.bad_base64")


@pytest.mark.parametrize("tail", ["\n", " ", "garbage", "a.b"])
def test_item_02_trailing_whitespace_or_garbage_is_refused(env: Env, tail: str) -> None:
    refused(env, env.combined + tail, "token.bad_serialization")


def test_item_02_missing_final_tilde_is_refused(env: Env) -> None:
    assert env.combined.endswith("~")
    refused(env, env.combined[:-1], "token.bad_serialization")


def test_item_02_empty_disclosure_is_refused(env: Env) -> None:
    refused(env, env.jwt + "~~" + "~".join(env.disclosures) + "~", "token.bad_serialization")


def test_item_02_kb_jwt_with_five_segments_is_refused(bound: Env) -> None:
    text = kb_presentation(bound) + ".AAAA.AAAA"
    refused(bound, text, "token.bad_serialization", policy=kb_policy())


# --------------------------------------------------------------------------- item 3


def test_item_03_padding_is_refused(env: Env) -> None:
    h64, p64, s64 = env.jwt.split(".")
    assert len(s64) % 4 == 2
    assert base64.urlsafe_b64decode(s64 + "==") == b64d(s64)  # a lenient decoder accepts it
    refused(env, sd(f"{h64}.{p64}.{s64}==", env.disclosures), "token.bad_base64")


def test_item_03_padded_disclosure_is_refused_even_when_its_digest_is_signed(env: Env) -> None:
    for i in range(64):
        d = make_disclosure(f"salt{i}", "nickname", "小张")
        if len(d) % 4:
            break
    padded = d + "=" * (-len(d) % 4)
    jwt, ds = add_disclosures(env, env.payload(), [], digests=[digest(padded)])
    refused(env, sd(jwt, [*ds, padded]), "token.bad_base64")


def _signature_with(env: Env, chars: str) -> tuple[str, str, str]:
    h64, p64, _ = env.jwt.split(".")
    for _ in range(500):
        s64 = b64e(env.signer.sign(f"{h64}.{p64}".encode("ascii")))
        if all(c in s64 for c in chars):
            return h64, p64, s64
    pytest.fail("could not get a signature containing " + chars)


def test_item_03_plus_and_slash_are_refused(env: Env) -> None:
    h64, p64, s64 = _signature_with(env, "-_")
    verify(env, sd(f"{h64}.{p64}.{s64}", env.disclosures))  # control: valid as is
    for bad in (s64.replace("-", "+"), s64.replace("_", "/")):
        assert base64.b64decode(bad.replace("-", "+").replace("_", "/") + "==") == b64d(s64)
        refused(env, sd(f"{h64}.{p64}.{bad}", env.disclosures), "token.bad_base64")


def test_item_03_std_alphabet_disclosure_is_refused_even_when_its_digest_is_signed(
    env: Env,
) -> None:
    for i in range(500):
        d = make_disclosure(f"salt-{i}", "nickname", "小张小张")
        if "-" in d:
            break
    else:
        pytest.fail("no disclosure with '-'")
    std = d.replace("-", "+")
    jwt, ds = add_disclosures(env, env.payload(), [], digests=[digest(std)])
    refused(env, sd(jwt, [*ds, std]), "token.bad_base64")


def test_item_03_non_canonical_trailing_bits_are_refused(env: Env) -> None:
    h64, p64, s64 = env.jwt.split(".")
    assert len(s64) % 4 == 2  # 64 bytes: the last character carries 4 unused bits
    last = _ALPH.index(s64[-1])
    assert last & 0x0F == 0
    bad = s64[:-1] + _ALPH[last | 0x01]
    assert base64.urlsafe_b64decode(bad + "==") == b64d(s64)  # same bytes, leniently
    refused(env, sd(f"{h64}.{p64}.{bad}", env.disclosures), "token.bad_base64")


def test_item_03_non_canonical_disclosure_is_refused_even_when_its_digest_is_signed(
    env: Env,
) -> None:
    for i in range(64):
        d = make_disclosure(f"salt{i}", "nickname", "小张")
        if len(d) % 4 in (2, 3):
            break
    mask = 0x0F if len(d) % 4 == 2 else 0x03
    bad = d[:-1] + _ALPH[_ALPH.index(d[-1]) | mask]
    assert bad != d
    jwt, ds = add_disclosures(env, env.payload(), [], digests=[digest(bad)])
    refused(env, sd(jwt, [*ds, bad]), "token.bad_base64")


def test_item_03_impossible_length_is_refused(env: Env) -> None:
    h64, p64, s64 = env.jwt.split(".")
    bad = s64 + "A" * ((1 - len(s64)) % 4)
    assert len(bad) % 4 == 1
    refused(env, sd(f"{h64}.{p64}.{bad}", env.disclosures), "token.bad_base64")


# --------------------------------------------------------------------------- item 4


def test_item_04_bom_in_header_is_refused(env: Env) -> None:
    raw = b"\xef\xbb\xbf" + dumps(lic_header(env.signer))
    jwt = sign_token(None, env.payload(), env.signer, raw_header=raw)
    refused(env, sd(jwt, env.disclosures), "token.bad_utf8")


def test_item_04_bom_in_payload_is_refused(env: Env) -> None:
    raw = b"\xef\xbb\xbf" + dumps(env.payload())
    jwt = sign_token(lic_header(env.signer), None, env.signer, raw_payload=raw)
    refused(env, sd(jwt, env.disclosures), "token.bad_utf8")


def test_item_04_bom_in_disclosure_is_refused(env: Env) -> None:
    d = b64e(b"\xef\xbb\xbf" + dumps(["c2FsdA", "nickname", "小张"]))
    jwt, ds = add_disclosures(env, env.payload(), [d])
    refused(env, sd(jwt, ds), "token.bad_utf8")


@pytest.mark.parametrize(
    "bad",
    [
        pytest.param(b"\xff", id="ff"),
        pytest.param(b"\xc0\xaf", id="overlong"),
        pytest.param(b"\xed\xa0\x80", id="encoded_surrogate"),
        pytest.param(b"\xe5\xbc", id="truncated"),
    ],
)
def test_item_04_invalid_utf8_in_payload_is_refused(env: Env, bad: bytes) -> None:
    raw = dumps(env.payload())[:-1] + b',"nickname":"' + bad + b'"}'
    jwt = sign_token(lic_header(env.signer), None, env.signer, raw_payload=raw)
    refused(env, sd(jwt, env.disclosures), "token.bad_utf8")


@pytest.mark.parametrize("encoding", ["utf-16", "utf-32"])
def test_item_04_utf16_or_utf32_header_is_refused(env: Env, encoding: str) -> None:
    raw = json.dumps(lic_header(env.signer)).encode(encoding)  # with BOM
    jwt = sign_token(None, env.payload(), env.signer, raw_header=raw)
    refused(env, sd(jwt, env.disclosures), "token.bad_utf8")


@pytest.mark.parametrize(
    "snippet",
    [
        pytest.param(b'"nickname":"\\ud800"', id="high"),
        pytest.param(b'"nickname":"\\uDC00x"', id="low"),
        pytest.param(b'"nickname":"\\udc00\\ud800"', id="reversed_pair"),
        pytest.param(b'"\\ud83d":1', id="member_name"),
    ],
)
def test_item_04_lone_surrogate_escape_in_payload_is_refused(env: Env, snippet: bytes) -> None:
    raw = dumps(env.payload())[:-1] + b"," + snippet + b"}"
    jwt = sign_token(lic_header(env.signer), None, env.signer, raw_payload=raw)
    refused(env, sd(jwt, env.disclosures), "token.bad_utf8")


def test_item_04_lone_surrogate_in_disclosure_is_refused(env: Env) -> None:
    d = b64e(b'["c2FsdA","nickname","ab\\ud800cd"]')
    jwt, ds = add_disclosures(env, env.payload(), [d])
    refused(env, sd(jwt, ds), "token.bad_utf8")


# --------------------------------------------------------------------------- item 5


def test_item_05_duplicate_member_in_payload_is_refused(env: Env) -> None:
    other = make_uscc("370300", 99)
    raw = dumps(env.payload())[:-1] + f',"iss":"{other}"}}'.encode()
    jwt = sign_token(lic_header(env.signer), None, env.signer, raw_payload=raw)
    refused(env, sd(jwt, env.disclosures), "token.duplicate_member")


def test_item_05_duplicate_member_spelled_with_escape_is_refused(env: Env) -> None:
    raw = dumps(env.payload())[:-1] + b',"\\u0069ss":"x"}'
    jwt = sign_token(lic_header(env.signer), None, env.signer, raw_payload=raw)
    refused(env, sd(jwt, env.disclosures), "token.duplicate_member")


def test_item_05_duplicate_member_in_header_is_refused(env: Env) -> None:
    raw = dumps(lic_header(env.signer))[:-1] + b',"typ":"JWT"}'
    jwt = sign_token(None, env.payload(), env.signer, raw_header=raw)
    refused(env, sd(jwt, env.disclosures), "token.duplicate_member")


def test_item_05_duplicate_member_in_disclosure_is_refused(env: Env) -> None:
    d = b64e('["c2FsdA","addr",{"city":"淄博","city":"青岛"}]'.encode())
    jwt, ds = add_disclosures(env, env.payload(), [d])
    refused(env, sd(jwt, ds), "token.duplicate_member")


@pytest.mark.parametrize(
    "number",
    [
        pytest.param(b"NaN", id="nan"),
        pytest.param(b"Infinity", id="inf"),
        pytest.param(b"-Infinity", id="neg_inf"),
        pytest.param(b"1e400", id="float_overflow"),
        pytest.param(b"-1e400", id="neg_float_overflow"),
        pytest.param(b"1" * 30, id="huge_int"),
        pytest.param(b"-" + b"9" * 4000, id="4000_digit_int"),
        pytest.param(b"0." + b"1" * 40, id="long_float"),
    ],
)
def test_item_05_nan_infinity_and_huge_numbers_are_refused(env: Env, number: bytes) -> None:
    raw = dumps(env.payload())[:-1] + b',"n":' + number + b"}"
    jwt = sign_token(lic_header(env.signer), None, env.signer, raw_payload=raw)
    refused(env, sd(jwt, env.disclosures), "token.bad_json")


def test_item_05_huge_number_in_disclosure_is_refused(env: Env) -> None:
    d = b64e(b'["c2FsdA","n",' + b"9" * 40 + b"]")
    jwt, ds = add_disclosures(env, env.payload(), [d])
    refused(env, sd(jwt, ds), "token.bad_json")


@pytest.mark.parametrize(
    "raw",
    [
        pytest.param(b"[1,2]", id="array"),
        pytest.param(b'"iss"', id="string"),
        pytest.param(b"42", id="number"),
        pytest.param(b"null", id="null"),
    ],
)
def test_item_05_top_level_not_object_is_refused(env: Env, raw: bytes) -> None:
    jwt = sign_token(lic_header(env.signer), None, env.signer, raw_payload=raw)
    refused(env, sd(jwt, env.disclosures), "token.bad_json")
    jwt = sign_token(None, env.payload(), env.signer, raw_header=raw)
    refused(env, sd(jwt, env.disclosures), "token.bad_json")


def test_item_05_trailing_data_after_object_is_refused(env: Env) -> None:
    raw = dumps(env.payload()) + b"{}"
    jwt = sign_token(lic_header(env.signer), None, env.signer, raw_payload=raw)
    refused(env, sd(jwt, env.disclosures), "token.bad_json")


# --------------------------------------------------------------------------- item 6


@pytest.mark.parametrize(
    ("member", "value"),
    [
        ("jwk", "ATTACKER_JWK"),
        ("jku", "https://attacker.example/jwks.json"),
        ("x5u", "https://attacker.example/cert.pem"),
        ("x5c", ["MIIBszCCAVmgAwIBAgIU"]),
        ("x5t", "dGh1bWJwcmludA"),
        ("x5t#S256", "dGh1bWJwcmludA"),
        ("crit", ["exp"]),
        ("crit", []),
        ("zip", "DEF"),
        ("b64", False),
        ("b64", True),
        ("cty", "JWT"),
        ("enc", "A256GCM"),
        ("iss", "11370300MB0012345C"),
    ],
)
def test_item_06_header_member_outside_allow_list_is_refused(
    env: Env, member: str, value: Any
) -> None:
    if value == "ATTACKER_JWK":
        value = generate_signer(Alg.ES256).public_key().to_jwk()
    jwt = env.resign(env.payload(), **{member: value})
    refused(env, sd(jwt, env.disclosures), "token.bad_header")


@pytest.mark.parametrize("member", ["kid", "jwk", "crit", "cty"])
def test_item_06_kb_jwt_header_outside_allow_list_is_refused(bound: Env, member: str) -> None:
    assert bound.holder is not None
    value: Any = {
        "kid": bound.holder.kid,
        "jwk": bound.holder.public_key().to_jwk(),
        "crit": ["nonce"],
        "cty": "JWT",
    }[member]
    sd_jwt = present(bound.combined, ["name"])
    text = sd_jwt + make_kb(sd_jwt, bound.holder, header={member: value})
    refused(bound, text, "token.bad_header", policy=kb_policy())


# --------------------------------------------------------------------------- item 7


def test_item_07_alg_none_is_refused(env: Env) -> None:
    h64 = seg(lic_header(env.signer, alg="none"))
    p64 = seg(env.payload())
    refused(env, sd(f"{h64}.{p64}.", env.disclosures), "token.bad_alg")
    # "none" with a valid ES256 signature over the new input
    jwt = env.resign(env.payload(), alg="none")
    refused(env, sd(jwt, env.disclosures), "token.bad_alg")


def test_item_07_hs256_header_is_refused(env: Env) -> None:
    # Classic key confusion: HMAC keyed with the issuer's public key.
    h64 = seg(lic_header(env.signer, alg="HS256"))
    p64 = seg(env.payload())
    for secret in (
        json.dumps(env.signer.public_key().to_jwk()).encode(),
        b64d(env.signer.public_key().jwk["x"]),
    ):
        mac = hmac.new(secret, f"{h64}.{p64}".encode(), hashlib.sha256).digest()
        refused(env, sd(f"{h64}.{p64}.{b64e(mac)}", env.disclosures), "token.bad_alg")


def test_item_07_eddsa_header_with_es256_key_is_refused(env: Env) -> None:
    assert env.signer.alg is Alg.ES256
    for alg in ("EdDSA", "SM2SM3"):
        jwt = env.resign(env.payload(), alg=alg)  # a genuine ES256 signature, 64 bytes
        refused(env, sd(jwt, env.disclosures), "token.bad_alg")


def test_item_07_es256_header_with_ed25519_key_is_refused() -> None:
    region = zibo()
    ed = make_uscc("370300", 7)
    region.add_issuer(ed, "淄博市公安局（EdDSA）", [resident_type().code], Alg.EDDSA)
    e = Env(region, ed, region.store(), region.issue_id_card(ed).sd_jwt)
    verify(e, e.combined)  # control
    jwt = e.resign(e.payload(), alg="ES256")
    refused(e, sd(jwt, e.disclosures), "token.bad_alg")


@pytest.mark.parametrize(
    "alg",
    [
        "es256",
        "ES256 ",
        "ES384",
        "ES512",
        "RS256",
        "PS256",
        "HS512",
        "Ed25519",
        "",
        None,
        ["ES256"],
    ],
)
def test_item_07_unknown_or_malformed_alg_is_refused(env: Env, alg: Any) -> None:
    jwt = env.resign(env.payload(), alg=alg)
    refused(env, sd(jwt, env.disclosures), "token.bad_alg")


def test_item_07_missing_alg_is_refused(env: Env) -> None:
    jwt = env.resign(env.payload(), alg=_DROP)
    refused(env, sd(jwt, env.disclosures), "token.bad_alg")


# --------------------------------------------------------------------------- item 8


@pytest.mark.parametrize(
    "kid",
    [
        pytest.param("", id="empty"),
        pytest.param("short", id="short"),
        pytest.param("CUT", id="42_chars"),
        pytest.param("LONG", id="44_chars"),
        pytest.param("PAD", id="padding"),
        pytest.param("SLASH", id="slash"),
        pytest.param("../../../../../../../../../etc/passwd/aaaaa", id="path"),
        pytest.param("ＡＢＣ" * 14 + "Ａ", id="fullwidth"),
        pytest.param(12345, id="int"),
        pytest.param(None, id="null"),
        pytest.param(["KID"], id="list"),
        pytest.param(_DROP, id="missing"),
    ],
)
def test_item_08_malformed_kid_is_refused(env: Env, kid: Any) -> None:
    real = env.signer.kid
    kid = {
        "CUT": real[:-1],
        "LONG": real + "A",
        "PAD": real[:-1] + "=",
        "SLASH": real[:-1] + "/",
    }.get(kid, kid) if isinstance(kid, str) else kid  # fmt: skip
    if kid == ["KID"]:
        kid = [real]
    jwt = env.resign(env.payload(), kid=kid)
    refused(env, sd(jwt, env.disclosures), "token.bad_kid")


def test_item_08_unknown_kid_is_refused(env: Env) -> None:
    stranger = generate_signer(Alg.ES256)
    jwt = env.resign(env.payload(), signer=stranger)
    refused(env, sd(jwt, env.disclosures), "trust.unknown_key")


def test_item_08_anchor_key_cannot_sign_licenses(env: Env) -> None:
    jwt = env.resign(env.payload(), signer=env.region.anchor)
    refused(env, sd(jwt, env.disclosures), "trust.unknown_key")


def test_item_08_kid_of_another_issuer_is_refused(env: Env) -> None:
    other = make_uscc("370300", 8)
    other_signer = env.region.add_issuer(other, "淄博市市场监管局", [resident_type().code])
    env.rebuild_store()
    jwt = env.resign(env.payload(), signer=other_signer)  # iss stays the police
    refused(env, sd(jwt, env.disclosures), "trust.wrong_issuer")


def test_item_08_platform_kid_is_refused_for_an_issuer(env: Env) -> None:
    jwt = env.resign(env.payload(), signer=env.region.platform_signer)
    refused(env, sd(jwt, env.disclosures), "trust.wrong_issuer")


def test_item_08_kid_of_another_regions_issuer_is_refused(env: Env) -> None:
    qingdao = Region("370200", "青岛市")
    q = make_uscc("370200", 1)
    q_signer = qingdao.add_issuer(q, "青岛市公安局", [resident_type().code])
    env.rebuild_store(qingdao)
    jwt = env.resign(env.payload(), signer=q_signer)
    refused(env, sd(jwt, env.disclosures), "trust.wrong_issuer")


def test_item_08_issuer_of_unrecognised_region_is_refused(env: Env) -> None:
    qingdao = Region("370200", "青岛市")
    q = make_uscc("370200", 1)
    qingdao.add_issuer(q, "青岛市公安局", [resident_type().code])
    text = qingdao.issue_id_card(q).sd_jwt
    refused(env, text, "trust.unknown_issuer")


# --------------------------------------------------------------------------- item 9


def test_item_09_issuer_may_not_issue_the_type(env: Env) -> None:
    market = make_uscc("370300", 9)
    m_signer = env.region.add_issuer(market, "淄博市市场监管局", [business_type().code])
    env.rebuild_store()
    p = with_changes(env.payload(), iss=market)
    jwt = env.resign(p, signer=m_signer)
    refused(env, sd(jwt, env.disclosures), "trust.type_not_allowed")


def test_item_09_vct_of_a_type_the_issuer_may_not_issue(env: Env) -> None:
    p = with_changes(env.payload(), vct=business_type().code)
    refused(env, sd(env.resign(p), env.disclosures), "trust.type_not_allowed")


def test_item_09_platform_is_not_a_license_issuer(env: Env) -> None:
    p = with_changes(env.payload(), iss=env.region.platform_id())
    jwt = env.resign(p, signer=env.region.platform_signer)
    refused(env, sd(jwt, env.disclosures), "trust.unknown_issuer")


def test_item_09_iat_before_key_window_is_refused(env: Env) -> None:
    p = with_changes(env.payload(), iat=NOW - 2 * YEAR)
    refused(env, sd(env.resign(p), env.disclosures), "trust.key_not_valid")


def test_item_09_iat_after_key_window_is_refused(env: Env) -> None:
    old = make_uscc("370300", 10)
    env.region.add_issuer(old, "旧钥", [resident_type().code], not_after=NOW - DAY)
    env.rebuild_store()
    control = issue_with_active_copy(env.region, old, now=NOW - 2 * DAY)
    verify(env, control)
    refused(env, issue_with_active_copy(env.region, old, now=NOW), "trust.key_not_valid")


def test_item_09_retired_key_used_after_retirement_is_refused(env: Env) -> None:
    ret = make_uscc("370300", 11)
    env.region.add_issuer(
        ret, "退役", [resident_type().code], state=KeyState.RETIRED, retired_at=NOW - DAY
    )
    env.rebuild_store()
    verify(env, issue_with_active_copy(env.region, ret, now=NOW - 2 * DAY))  # control
    refused(env, issue_with_active_copy(env.region, ret, now=NOW), "trust.key_retired")
    refused(env, issue_with_active_copy(env.region, ret, now=NOW - DAY), "trust.key_retired")


def test_item_09_retired_key_without_date_signs_nothing(env: Env) -> None:
    ret = make_uscc("370300", 12)
    env.region.add_issuer(ret, "退役", [resident_type().code], state=KeyState.RETIRED)
    env.rebuild_store()
    refused(env, issue_with_active_copy(env.region, ret, now=NOW - 2 * DAY), "trust.key_retired")


def test_item_09_compromised_key_is_refused(env: Env) -> None:
    bad = make_uscc("370300", 13)
    env.region.add_issuer(bad, "泄露", [resident_type().code], state=KeyState.COMPROMISED)
    env.rebuild_store()
    for t in (NOW, NOW - 30 * DAY):
        refused(env, issue_with_active_copy(env.region, bad, now=t), "trust.key_compromised")


# --------------------------------------------------------------------------- item 10


def test_item_10_der_encoded_es256_signature_is_refused(env: Env) -> None:
    h64, p64, s64 = env.jwt.split(".")
    raw = b64d(s64)
    der = encode_dss_signature(int.from_bytes(raw[:32], "big"), int.from_bytes(raw[32:], "big"))
    assert len(der) != 64
    assert decode_dss_signature(der) == (
        int.from_bytes(raw[:32], "big"),
        int.from_bytes(raw[32:], "big"),
    )
    refused(env, sd(f"{h64}.{p64}.{b64e(der)}", env.disclosures), "token.bad_signature_encoding")


@pytest.mark.parametrize("change", ["append_zero", "drop_last", "empty", "double"])
def test_item_10_wrong_signature_length_is_refused(env: Env, change: str) -> None:
    h64, p64, s64 = env.jwt.split(".")
    raw = b64d(s64)
    raw = {"append_zero": raw + b"\0", "drop_last": raw[:-1], "empty": b"", "double": raw * 2}[
        change
    ]
    refused(env, sd(f"{h64}.{p64}.{b64e(raw)}", env.disclosures), "token.bad_signature_encoding")


def test_item_10_der_kb_signature_is_refused(bound: Env) -> None:
    text = kb_presentation(bound)
    head, kb = text.rsplit("~", 1)
    h64, p64, s64 = kb.split(".")
    raw = b64d(s64)
    der = encode_dss_signature(int.from_bytes(raw[:32], "big"), int.from_bytes(raw[32:], "big"))
    bad = f"{head}~{h64}.{p64}.{b64e(der)}"
    refused(bound, bad, "token.bad_signature_encoding", policy=kb_policy())


_P = 2**255 - 19


@pytest.mark.parametrize(
    "raw",
    [
        pytest.param((1).to_bytes(32, "little"), id="identity"),
        pytest.param(bytes(32), id="order4_y0"),
        pytest.param((_P - 1).to_bytes(32, "little"), id="order2"),
        pytest.param(
            bytes.fromhex("c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac037a"),
            id="order8",
        ),
        pytest.param((_P + 1).to_bytes(32, "little"), id="non_canonical_y"),
        pytest.param((1 | (1 << 255)).to_bytes(32, "little"), id="negative_zero_x"),
        pytest.param(bytes(31), id="short"),
    ],
)
def test_item_10_weak_ed25519_key_in_trust_list_is_refused(env: Env, raw: bytes) -> None:
    payload = env.region.trust_list().payload()
    key = {
        "jwk": {"kty": "OKP", "crv": "Ed25519", "x": b64e(raw), "alg": "EdDSA"},
        "nbf": NOW - YEAR,
        "state": "active",
    }
    payload["issuers"][0]["keys"].append(key)
    token = sign_compact({"typ": TRUST_LIST_TYP}, payload, env.region.anchor)
    store = TrustStore({env.region.code: [env.region.anchor.public_key()]})
    with pytest.raises(ElicenseError) as info:
        store.load(token, NOW)
    assert info.value.code == "trust.bad_key"


def test_control_good_ed25519_key_in_trust_list_loads(env: Env) -> None:
    payload = env.region.trust_list().payload()
    good = generate_signer(Alg.EDDSA).public_key()
    payload["issuers"][0]["keys"].append(
        {"jwk": {**good.jwk, "alg": "EdDSA"}, "nbf": NOW - YEAR, "state": "active"}
    )
    token = sign_compact({"typ": TRUST_LIST_TYP}, payload, env.region.anchor)
    TrustStore({env.region.code: [env.region.anchor.public_key()]}).load(token, NOW)


def test_item_10_p256_key_off_curve_in_trust_list_is_refused(env: Env) -> None:
    payload = env.region.trust_list().payload()
    jwk = dict(env.signer.public_key().jwk)
    y = bytearray(b64d(jwk["y"]))
    y[-1] ^= 1
    jwk["y"] = b64e(bytes(y))
    payload["issuers"][0]["keys"] = [{"jwk": {**jwk, "alg": "ES256"}, "nbf": NOW - YEAR}]
    token = sign_compact({"typ": TRUST_LIST_TYP}, payload, env.region.anchor)
    store = TrustStore({env.region.code: [env.region.anchor.public_key()]})
    with pytest.raises(ElicenseError) as info:
        store.load(token, NOW)
    assert info.value.code == "trust.bad_key"


# --------------------------------------------------------------------------- item 11


@pytest.mark.parametrize(
    "typ",
    [
        "JWT",
        "jwt",
        "DC+SD-JWT",
        "Dc+sd-jwt",
        "vc+sd-jwt",
        "application/dc+sd-jwt",
        "dc+sd-jwt ",
        " dc+sd-jwt",
        "dc+sd-jwt\u200b",
        "ｄｃ+sd-jwt",
        "kb+jwt",
        "trustlist+jwt",
        "",
        None,
        ["dc+sd-jwt"],
        _DROP,
    ],
)
def test_item_11_wrong_missing_or_case_different_typ_is_refused(env: Env, typ: Any) -> None:
    jwt = env.resign(env.payload(), typ=typ)
    refused(env, sd(jwt, env.disclosures), "token.bad_typ")


@pytest.mark.parametrize("typ", ["JWT", "KB+JWT", "dc+sd-jwt", "kb+jwt ", _DROP])
def test_item_11_kb_jwt_with_wrong_typ_is_refused(bound: Env, typ: Any) -> None:
    assert bound.holder is not None
    sd_jwt = present(bound.combined, ["name"])
    text = sd_jwt + make_kb(sd_jwt, bound.holder, header={"typ": typ})
    refused(bound, text, "token.bad_typ", policy=kb_policy())


# --------------------------------------------------------------------------- item 12


def _exp(env: Env) -> int:
    value = env.payload()["exp"]
    assert isinstance(value, int)
    return value


@pytest.mark.parametrize(
    ("claim", "kind"),
    [
        ("exp", "string"),
        ("exp", "float"),
        ("exp", "true"),
        ("exp", "null"),
        ("exp", "negative"),
        ("exp", "huge"),
        ("exp", "list"),
        ("iat", "string"),
        ("iat", "float"),
        ("iat", "false"),
        ("iat", "null"),
        ("iat", "missing"),
        ("nbf", "string"),
        ("nbf", "float"),
        ("nbf", "true"),
        ("nbf", "negative"),
    ],
)
def test_item_12_time_claims_must_be_integers_in_range(env: Env, claim: str, kind: str) -> None:
    current = env.payload()[claim]
    value = {
        "string": str(current),
        "float": float(current),
        "true": True,
        "false": False,
        "null": None,
        "negative": -1,
        "huge": 2**41,
        "list": [current],
        "missing": _DROP,
    }[kind]
    p = with_changes(env.payload(), **{claim: value})
    refused(env, sd(env.resign(p), env.disclosures), "token.bad_claim")


def test_item_12_iat_in_the_future_is_refused(env: Env) -> None:
    p = with_changes(env.payload(), iat=NOW + 3600)
    refused(env, sd(env.resign(p), env.disclosures), "token.issued_in_future")


def test_item_12_leeway_is_bounded_for_iat(env: Env) -> None:
    p = with_changes(env.payload(), iat=NOW + 120)
    text = sd(env.resign(p), env.disclosures)
    refused(env, text, "token.issued_in_future", policy=VerifierPolicy(leeway=10**6))


def test_item_12_expired_license_is_refused(env: Env) -> None:
    p = with_changes(env.payload(), iat=NOW - 30 * DAY, exp=NOW - 3600)
    refused(env, sd(env.resign(p), env.disclosures), "license.expired")


def test_item_12_leeway_is_bounded_for_exp(env: Env) -> None:
    p = with_changes(env.payload(), iat=NOW - 30 * DAY, exp=NOW - 61)
    text = sd(env.resign(p), env.disclosures)
    refused(env, text, "license.expired", policy=VerifierPolicy(leeway=10**6))


def test_item_12_nbf_in_the_future_is_refused(env: Env) -> None:
    p = with_changes(env.payload(), nbf=NOW + DAY)
    refused(env, sd(env.resign(p), env.disclosures), "license.not_yet_valid")
    p = with_changes(env.payload(), nbf=NOW + 120)
    text = sd(env.resign(p), env.disclosures)
    refused(env, text, "license.not_yet_valid", policy=VerifierPolicy(leeway=10**6))


def test_item_12_exp_not_after_iat_is_refused(env: Env) -> None:
    p = with_changes(env.payload(), exp=env.payload()["iat"])
    refused(env, sd(env.resign(p), env.disclosures), "token.bad_claim")


# --------------------------------------------------------------------------- item 13


@pytest.mark.parametrize("variant", ["lower", "fullwidth", "trailing_space", "zwsp", "prefix"])
def test_item_13_iss_differing_by_normalisation_or_case_is_refused(env: Env, variant: str) -> None:
    iss = env.uscc
    value = {
        "lower": iss.lower(),
        "fullwidth": "".join(chr(ord(c) + 0xFEE0) for c in iss),
        "trailing_space": iss + " ",
        "zwsp": iss + "\u200b",
        "prefix": iss[:-1],
    }[variant]
    assert value != iss
    if variant == "fullwidth":
        assert unicodedata.normalize("NFKC", value) == iss
    p = with_changes(env.payload(), iss=value)
    refused(env, sd(env.resign(p), env.disclosures), "trust.unknown_issuer")


@pytest.mark.parametrize("variant", ["lower", "fullwidth", "prefix", "suffix"])
def test_item_13_vct_differing_by_normalisation_or_case_is_refused(env: Env, variant: str) -> None:
    vct = env.payload()["vct"]
    assert vct != vct.lower()
    value = {
        "lower": vct.lower(),
        "fullwidth": "".join(chr(ord(c) + 0xFEE0) for c in vct),
        "prefix": vct[:-1],
        "suffix": vct + "0",
    }[variant]
    if variant == "fullwidth":
        assert unicodedata.normalize("NFKC", value) == vct
    p = with_changes(env.payload(), vct=value)
    refused(env, sd(env.resign(p), env.disclosures), "trust.type_not_allowed")


@pytest.mark.parametrize("claim", ["iss", "vct"])
def test_item_13_list_membership_tricks_are_refused(env: Env, claim: str) -> None:
    p = env.payload()
    p[claim] = [p[claim]]
    refused(env, sd(env.resign(p), env.disclosures), "token.bad_claim")


def test_item_13_kb_aud_and_nonce_are_compared_code_point_by_code_point(bound: Env) -> None:
    aud = "https://verifier.example/淄博/Zürich"
    nfd = unicodedata.normalize("NFD", aud)
    assert nfd != aud
    policy = VerifierPolicy(audience=aud, nonce=NONCE, require_key_binding=True)
    verify(bound, kb_presentation(bound, aud=aud), policy=policy)  # control
    refused(bound, kb_presentation(bound, aud=nfd), "token.bad_audience", policy=policy)
    refused(bound, kb_presentation(bound, aud=aud.upper()), "token.bad_audience", policy=policy)
    refused(
        bound, kb_presentation(bound, aud=aud, nonce=NONCE.upper()), "kb.bad_nonce", policy=policy
    )


# --------------------------------------------------------------------------- item 14


@pytest.mark.parametrize(
    "aud",
    [
        pytest.param([AUD], id="single_list"),
        pytest.param([AUD, "https://other.example"], id="two_list"),
        pytest.param(["https://other.example", AUD], id="two_list_reversed"),
        pytest.param({"aud": AUD}, id="object"),
        pytest.param(_DROP, id="missing"),
        pytest.param(None, id="null"),
        pytest.param(AUD + "/", id="suffix"),
        pytest.param(AUD[:-1], id="prefix"),
        pytest.param("", id="empty"),
    ],
)
def test_item_14_kb_aud_must_be_the_single_string_of_this_verifier(bound: Env, aud: Any) -> None:
    refused(bound, kb_presentation(bound, aud=aud), "token.bad_audience", policy=kb_policy())


# --------------------------------------------------------------------------- item 15


def test_item_15_kb_nonce_replay_is_refused(bound: Env) -> None:
    replay = MemoryReplayStore()
    text = kb_presentation(bound)
    assert verify(bound, text, policy=kb_policy(), replay=replay).key_bound
    refused(bound, text, "kb.replayed", policy=kb_policy(), replay=replay)


def test_item_15_replay_is_keyed_on_the_nonce_not_the_token_text(bound: Env) -> None:
    replay = MemoryReplayStore()
    first = kb_presentation(bound)
    verify(bound, first, policy=kb_policy(), replay=replay)
    # A fresh KB-JWT (new signature, other disclosures, later iat) with the same nonce.
    second = kb_presentation(bound, keep=("name", "sex"), iat=NOW + 5)
    assert second != first
    refused(bound, second, "kb.replayed", policy=kb_policy(), replay=replay)


def test_item_15_malleated_kb_signature_is_still_a_replay(bound: Env) -> None:
    n = 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551
    replay = MemoryReplayStore()
    text = kb_presentation(bound)
    verify(bound, text, policy=kb_policy(), replay=replay)
    head, kb = text.rsplit("~", 1)
    h64, p64, s64 = kb.split(".")
    raw = b64d(s64)
    s = int.from_bytes(raw[32:], "big")
    twin = f"{head}~{h64}.{p64}.{b64e(raw[:32] + (n - s).to_bytes(32, 'big'))}"
    assert twin != text
    # The high-S twin is a valid ECDSA signature; whether or not it is accepted, it must
    # never pass as a fresh presentation.
    with pytest.raises(ElicenseError) as info:
        verify(bound, twin, policy=kb_policy(), replay=replay)
    assert info.value.code in {"kb.replayed", "kb.bad_signature"}


class _DownReplayStore:
    def consume(self, namespace: str, value: str, *, expires_at: int, now: int) -> bool:
        raise ElicenseError("replay.unavailable")


def test_item_15_unavailable_replay_store_fails_closed(bound: Env) -> None:
    refused(
        bound, kb_presentation(bound), "replay.unavailable",
        policy=kb_policy(), replay=_DownReplayStore(),
    )  # fmt: skip


def test_item_15_replayed_nonce_for_other_audience_is_independent(bound: Env) -> None:
    # Negative twin: a nonce used at another verifier does not burn ours, but ours burns.
    replay = MemoryReplayStore()
    other = VerifierPolicy(audience=AUD + "-b", nonce=NONCE, require_key_binding=True)
    verify(bound, kb_presentation(bound, aud=AUD + "-b"), policy=other, replay=replay)
    verify(bound, kb_presentation(bound), policy=kb_policy(), replay=replay)
    refused(bound, kb_presentation(bound), "kb.replayed", policy=kb_policy(), replay=replay)


# --------------------------------------------------------------------------- item 16


@cache
def _fuzz_subject() -> tuple[Env, str, VerifiedLicense]:
    e = make_env(bound=True)
    text = kb_presentation(e, keep=("name", "id_number"))
    base = verify(e, text, policy=kb_policy())
    return e, text, base


def _mutate(text: str, mutations: list[tuple[str, int, int, str]]) -> str:
    for op, part_index, offset, ch in mutations:
        parts = text.split("~")
        i = part_index % len(parts)
        part = parts[i]
        pos = offset % (len(part) + 1)
        if op == "insert":
            part = part[:pos] + ch + part[pos:]
        elif op == "delete":
            part = part[:pos] + part[pos + 1 :]
        else:
            part = part[:pos] + ch + part[pos + 1 :]
        parts[i] = part
        text = "~".join(parts)
    return text


def _check_only_elicense_errors(mutated: str) -> None:
    e, _, base = _fuzz_subject()
    error: ElicenseError | None = None
    try:
        got = verify(e, mutated, policy=kb_policy())
    except ElicenseError as exc:
        error = exc
    if error is not None:
        assert error.code in ERROR_CODES
        assert mutated not in str(error)
        return
    # Accepted: it must not claim more than the original presentation disclosed.
    assert got.disclosed <= base.disclosed
    assert got.fields == {k: base.fields[k] for k in got.fields}


_ASCII_CHARS = st.sampled_from(list(_ALPH + '~.=+/ \n\t{}[]"\\:,\x00\x7f'))
_OPS = st.sampled_from(["insert", "delete", "replace"])


@settings(
    max_examples=200, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow]
)
@given(
    st.lists(
        st.tuples(_OPS, st.integers(0, 20), st.integers(0, 5000), _ASCII_CHARS),
        min_size=1,
        max_size=4,
    )
)
def test_item_16_ascii_mutations_only_raise_elicense_errors(
    mutations: list[tuple[str, int, int, str]],
) -> None:
    _check_only_elicense_errors(_mutate(_fuzz_subject()[1], mutations))


@settings(
    max_examples=200, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow]
)
@given(
    st.lists(
        st.tuples(_OPS, st.integers(0, 20), st.integers(0, 5000), st.characters()),
        min_size=1,
        max_size=4,
    )
)
@example([("insert", 1, 0, "é")])
def test_item_16_unicode_mutations_only_raise_elicense_errors(
    mutations: list[tuple[str, int, int, str]],
) -> None:
    _check_only_elicense_errors(_mutate(_fuzz_subject()[1], mutations))


@pytest.mark.parametrize("ch", ["é", "\u00a0", "张", "\U0001f600", "\ufeff"])
def test_item_16_non_ascii_in_disclosure_is_a_rejection_code(env: Env, ch: str) -> None:
    ds = env.disclosures
    refused(env, sd(env.jwt, [ds[0][:5] + ch + ds[0][5:], *ds[1:]]), "token.bad_base64")


@pytest.mark.parametrize("ch", ["é", "张", "\U0001f600", "\ufeff"])
def test_item_16_non_ascii_in_jwt_or_kb_is_a_rejection_code(bound: Env, ch: str) -> None:
    text = kb_presentation(bound)
    jwt = bound.jwt
    refused(bound, ch + text, "token.bad_base64", policy=kb_policy())
    refused(bound, jwt[:20] + ch + text[20:], "token.bad_base64", policy=kb_policy())
    refused(bound, text + ch, "token.bad_base64", policy=kb_policy())


@pytest.mark.parametrize(
    "jwk",
    [
        pytest.param({"kty": "RSA", "n": "AQAB", "e": "AQAB"}, id="rsa"),
        pytest.param({"kty": "EC", "crv": "P-256", "x": 1, "y": 2}, id="ints"),
        pytest.param({"kty": "OKP", "crv": "Ed25519", "x": "AAAA"}, id="short"),
        pytest.param({"kty": "oct", "k": "c2VjcmV0"}, id="oct"),
        pytest.param("not-a-jwk", id="string"),
    ],
)
def test_item_16_malformed_cnf_is_a_rejection_code(bound: Env, jwk: Any) -> None:
    assert bound.holder is not None
    p = with_changes(bound.payload(), cnf={"jwk": jwk})
    jwt = bound.resign(p)
    sd_jwt = sd(jwt, [bound.disclosure("name")])
    text = sd_jwt + make_kb(sd_jwt, bound.holder)
    with pytest.raises(ElicenseError) as info:
        verify(bound, text, policy=kb_policy())
    assert info.value.code.startswith(("key.", "token.bad_claim"))


# --------------------------------------------------------------------------- item 17


def test_item_17_sd_alg_other_than_sha256_is_refused(env: Env) -> None:
    for alg in ("sha-512", "SHA-256", "sha256", "sha-384", "", None, ["sha-256"]):
        p = with_changes(env.payload(), _sd_alg=alg)
        refused(env, sd(env.resign(p), env.disclosures), "sd.bad_alg")


def test_item_17_sd_alg_with_sha512_digests_is_refused(env: Env) -> None:
    d = make_disclosure("c2FsdA", "nickname", "小张")
    p = with_changes(env.payload(), _sd_alg="sha-512")
    p["_sd"] = [b64e(hashlib.sha512(d.encode()).digest())]
    refused(env, sd(env.resign(p), [d]), "sd.bad_alg")


def test_item_17_nested_sd_alg_is_refused(env: Env) -> None:
    p = env.payload()
    p["status"] = {**p["status"], "_sd_alg": "sha-256"}
    refused(env, sd(env.resign(p), env.disclosures), "sd.bad_alg")
    d = make_disclosure("c2FsdA", "addr", {"city": "淄博", "_sd_alg": "sha-256"})
    jwt, ds = add_disclosures(env, env.payload(), [d])
    refused(env, sd(jwt, ds), "sd.bad_alg")


def test_item_17_two_element_disclosure_for_object_member_is_refused(env: Env) -> None:
    d = raw_disclosure(["c2FsdA", "nickname"])
    jwt, ds = add_disclosures(env, env.payload(), [d])
    refused(env, sd(jwt, ds), "sd.bad_disclosure")


def _with_array(env: Env, element: str) -> tuple[str, list[str]]:
    p = with_changes(env.payload(), aliases=["张三", {"...": digest(element)}])
    return env.resign(p), [*env.disclosures, element]


def test_control_array_element_disclosure_verifies(env: Env) -> None:
    jwt, ds = _with_array(env, raw_disclosure(["c2FsdA", "张老三"]))
    verify(env, sd(jwt, ds))


def test_item_17_three_element_disclosure_for_array_element_is_refused(env: Env) -> None:
    jwt, ds = _with_array(env, raw_disclosure(["c2FsdA", "alias", "张老三"]))
    refused(env, sd(jwt, ds), "sd.bad_disclosure")


@pytest.mark.parametrize(
    "shape",
    [
        pytest.param(["c2FsdA"], id="one"),
        pytest.param(["c2FsdA", "a", "b", "c"], id="four"),
        pytest.param([], id="empty"),
        pytest.param({"salt": "c2FsdA", "name": "a", "value": 1}, id="object"),
        pytest.param("c2FsdA", id="string"),
        pytest.param([1, "nickname", "v"], id="salt_not_string"),
        pytest.param(["c2FsdA", 7, "v"], id="name_int"),
        pytest.param(["c2FsdA", None, "v"], id="name_null"),
        pytest.param(["c2FsdA", ["n"], "v"], id="name_list"),
    ],
)
def test_item_17_malformed_disclosure_shape_is_refused(env: Env, shape: Any) -> None:
    d = raw_disclosure(shape)
    jwt, ds = add_disclosures(env, env.payload(), [d])
    refused(env, sd(jwt, ds), "sd.bad_disclosure")


@pytest.mark.parametrize("name", ["_sd", "..."])
@pytest.mark.parametrize("value", ["x", ["x"], {"_sd": []}])
def test_item_17_reserved_disclosure_names_are_refused(env: Env, name: str, value: Any) -> None:
    d = make_disclosure("c2FsdA", name, value)
    jwt, ds = add_disclosures(env, env.payload(), [d])
    refused(env, sd(jwt, ds), "sd.reserved_name")


@pytest.mark.parametrize("value", ["sha-512", "sha-256"])
def test_item_17_disclosure_named_sd_alg_is_refused(env: Env, value: str) -> None:
    d = make_disclosure("c2FsdA", "_sd_alg", value)
    jwt, ds = add_disclosures(env, env.payload(), [d])
    refused(env, sd(jwt, ds), "sd.claim_override")


def test_item_17_disclosure_overriding_a_plain_claim_is_refused(env: Env) -> None:
    p = with_changes(env.payload(), name="李四")  # plain, and "name" is also disclosed
    refused(env, sd(env.resign(p), env.disclosures), "sd.claim_override")


def test_item_17_two_disclosures_for_one_name_are_refused(env: Env) -> None:
    d = make_disclosure("b3RoZXI", "name", "李四")
    jwt, ds = add_disclosures(env, env.payload(), [d])
    refused(env, sd(jwt, ds), "sd.claim_override")


def test_item_17_digest_listed_twice_is_refused(env: Env) -> None:
    p = env.payload()
    p["_sd"] = [*p["_sd"], p["_sd"][0]]
    refused(env, sd(env.resign(p), env.disclosures), "sd.duplicate_digest")
    # ...even when its disclosure is not presented
    refused(env, sd(env.resign(p), []), "sd.duplicate_digest")


def test_item_17_digest_in_two_places_is_refused(env: Env) -> None:
    p = env.payload()
    p["status"] = {**p["status"], "_sd": [p["_sd"][0]]}
    refused(env, sd(env.resign(p), env.disclosures), "sd.duplicate_digest")
    p = with_changes(env.payload(), aliases=[{"...": env.payload()["_sd"][0]}])
    refused(env, sd(env.resign(p), []), "sd.duplicate_digest")


def test_item_17_same_disclosure_presented_twice_is_refused(env: Env) -> None:
    d = env.disclosure("name")
    refused(env, sd(env.jwt, [*env.disclosures, d]), "sd.duplicate_digest")


def test_item_17_unreferenced_disclosure_is_refused(env: Env) -> None:
    stray = make_disclosure("c2FsdA", "nickname", "小张")
    refused(env, sd(env.jwt, [*env.disclosures, stray]), "sd.unreferenced_disclosure")
    # a disclosure from another license of the same holder is unreferenced too
    other = env.region.issue_id_card(env.uscc).sd_jwt
    foreign = next(d for d in other.split("~")[1:] if d and json.loads(b64d(d))[1] == "name")
    refused(env, sd(env.jwt, [foreign]), "sd.unreferenced_disclosure")


@pytest.mark.parametrize(
    "sd_value",
    [
        pytest.param("digest", id="string"),
        pytest.param({"d": 1}, id="object"),
        pytest.param([1], id="int_entry"),
        pytest.param([None], id="null_entry"),
        pytest.param([["x"]], id="list_entry"),
    ],
)
def test_item_17_malformed_sd_array_is_refused(env: Env, sd_value: Any) -> None:
    p = with_changes(env.payload(), _sd=sd_value)
    refused(env, sd(env.resign(p), []), "sd.bad_structure")


def test_item_17_array_placeholder_with_extra_members_is_refused(env: Env) -> None:
    element = raw_disclosure(["c2FsdA", "张老三"])
    p = with_changes(env.payload(), aliases=[{"...": digest(element), "x": 1}])
    refused(env, sd(env.resign(p), [*env.disclosures, element]), "sd.bad_structure")


# --------------------------------------------------------------------------- item 18


def _hide(env: Env, claim: str, value: Any | None = None) -> str:
    p = env.payload()
    hidden = p.pop(claim) if value is None else value
    d = make_disclosure("c2FsdC1oaWRkZW4", claim, hidden)
    jwt, ds = add_disclosures(env, p, [d])
    return sd(jwt, ds)


@pytest.mark.parametrize("claim", ["exp", "status", "nbf"])
def test_item_18_validity_claim_in_disclosure_is_refused(env: Env, claim: str) -> None:
    refused(env, _hide(env, claim), "sd.protected_claim")


def test_item_18_cnf_in_disclosure_is_refused(bound: Env) -> None:
    refused(bound, _hide(bound, "cnf"), "sd.protected_claim")
    refused(bound, _hide(bound, "cnf"), "sd.protected_claim", policy=kb_policy())


@pytest.mark.parametrize("claim", ["exp", "nbf", "status", "cnf", "jti"])
def test_item_18_protected_claim_as_plain_string_disclosure_is_refused(
    env: Env, claim: str
) -> None:
    p = env.payload()
    p.pop(claim, None)
    d = make_disclosure("c2FsdA", claim, "2209046400")  # the simple-string decoding path
    jwt, ds = add_disclosures(env, p, [d])
    refused(env, sd(jwt, ds), "sd.protected_claim")


@pytest.mark.parametrize(
    ("claim", "value"),
    [("sub", "someone"), ("aud", AUD), ("jti", "abc"), ("exp", NOW + YEAR)],
)
def test_item_18_other_protected_claims_in_disclosure_are_refused(
    env: Env, claim: str, value: Any
) -> None:
    p = env.payload()
    p.pop(claim, None)
    d = make_disclosure("c2FsdC1oaWRkZW4", claim, value)
    jwt, ds = add_disclosures(env, p, [d])
    refused(env, sd(jwt, ds), "sd.protected_claim")


@pytest.mark.parametrize("claim", ["iss", "iat", "vct", "license_id", "holder_type"])
def test_item_18_identity_claims_only_in_disclosures_are_refused(env: Env, claim: str) -> None:
    # Without the plain claim the token is refused before disclosures are looked at.
    refused(env, _hide(env, claim), "token.bad_claim")


def test_item_18_iss_both_plain_and_disclosed_is_refused(env: Env) -> None:
    other = make_uscc("370300", 77)
    refused(env, _hide(env, "iss", other), "sd.claim_override")


def test_item_18_cnf_jwk_nested_in_a_disclosure_is_refused(bound: Env) -> None:
    p = bound.payload()
    jwk = p["cnf"]["jwk"]
    d = make_disclosure("c2FsdA", "jwk", jwk)
    p["cnf"] = {"_sd": [digest(d)]}
    jwt = bound.resign(p)
    assert bound.holder is not None
    sd_jwt = sd(jwt, [bound.disclosure("name"), d])
    text = sd_jwt + make_kb(sd_jwt, bound.holder)
    refused(bound, text, "token.bad_claim", policy=kb_policy())


def test_item_18_status_list_nested_in_a_disclosure_is_refused(env: Env) -> None:
    p = env.payload()
    d = make_disclosure("c2FsdA", "status_list", p["status"]["status_list"])
    p["status"] = {"_sd": [digest(d)]}
    refused(env, sd(env.resign(p), [d]), "token.bad_claim")


# --------------------------------------------------------------------------- item 19


def test_item_19_kb_required_but_absent_is_refused(bound: Env) -> None:
    refused(bound, present(bound.combined, ["name"]), "kb.required", policy=kb_policy())
    refused(bound, bound.combined, "kb.required", policy=kb_policy())


def test_item_19_kb_present_but_not_required_does_not_bind(bound: Env) -> None:
    text = kb_presentation(bound)
    got = verify(bound, text)  # policy has no audience/nonce
    assert got.key_bound is False
    got = verify(bound, text, policy=VerifierPolicy(require_key_binding=False, audience=AUD))
    assert got.key_bound is False


def test_item_19_kb_present_is_checked_when_policy_can_check_it(bound: Env) -> None:
    policy = VerifierPolicy(audience=AUD, nonce=NONCE, require_key_binding=False)
    assert verify(bound, kb_presentation(bound), policy=policy).key_bound is True
    refused(bound, kb_presentation(bound, nonce="other"), "kb.bad_nonce", policy=policy)


def test_item_19_unbound_license_cannot_satisfy_required_kb(env: Env) -> None:
    holder = generate_signer(Alg.ES256)
    sd_jwt = present(env.combined, ["name"])
    text = sd_jwt + make_kb(sd_jwt, holder)
    refused(env, text, "kb.no_holder_key", policy=kb_policy())


def test_item_19_bound_license_without_kb_is_not_key_bound(bound: Env) -> None:
    # The license carries cnf, but that does not make a presentation without KB bound.
    got = verify(bound, present(bound.combined, ["name"]))
    assert got.key_bound is False


# --------------------------------------------------------------------------- item 20


def test_item_20_kb_wrong_typ_is_refused(bound: Env) -> None:
    assert bound.holder is not None
    sd_jwt = present(bound.combined, ["name"])
    text = sd_jwt + make_kb(sd_jwt, bound.holder, header={"typ": "JWT"})
    refused(bound, text, "token.bad_typ", policy=kb_policy())


@pytest.mark.parametrize("who", ["stranger", "issuer", "stranger_ed25519"])
def test_item_20_kb_signed_by_another_key_is_refused(bound: Env, who: str) -> None:
    assert bound.holder is not None
    sd_jwt = present(bound.combined, ["name"])
    if who == "stranger_ed25519":
        # The header's alg then differs from the cnf key's pinned alg.
        text = sd_jwt + make_kb(sd_jwt, generate_signer(Alg.EDDSA))
        refused(bound, text, "token.bad_alg", policy=kb_policy())
        return
    signer = generate_signer(Alg.ES256) if who == "stranger" else bound.signer
    text = sd_jwt + make_kb(sd_jwt, bound.holder, signer=signer)
    refused(bound, text, "kb.bad_signature", policy=kb_policy())


@pytest.mark.parametrize("iat", [NOW - 301, NOW - DAY, NOW + 61, NOW + DAY, 0])
def test_item_20_kb_iat_outside_window_is_refused(bound: Env, iat: int) -> None:
    refused(bound, kb_presentation(bound, iat=iat), "kb.stale", policy=kb_policy())


def test_item_20_kb_leeway_is_bounded(bound: Env) -> None:
    policy = kb_policy(leeway=10**6)
    refused(bound, kb_presentation(bound, iat=NOW + 120), "kb.stale", policy=policy)


@pytest.mark.parametrize("iat", [str(NOW), float(NOW), True, None, _DROP])
def test_item_20_kb_iat_must_be_an_integer(bound: Env, iat: Any) -> None:
    refused(bound, kb_presentation(bound, iat=iat), "token.bad_claim", policy=kb_policy())


def test_item_20_kb_wrong_aud_is_refused(bound: Env) -> None:
    text = kb_presentation(bound, aud="https://other-verifier.example")
    refused(bound, text, "token.bad_audience", policy=kb_policy())


@pytest.mark.parametrize("nonce", ["other", NONCE + " ", "", None, [NONCE], 0, _DROP])
def test_item_20_kb_wrong_nonce_is_refused(bound: Env, nonce: Any) -> None:
    refused(bound, kb_presentation(bound, nonce=nonce), "kb.bad_nonce", policy=kb_policy())


def test_item_20_kb_sd_hash_over_a_different_disclosure_set_is_refused(bound: Env) -> None:
    assert bound.holder is not None
    policy = kb_policy()
    two = present(bound.combined, ["name", "sex"])
    kb = make_kb(two, bound.holder)
    name_only = present(bound.combined, ["name"])
    # Drop a disclosure after signing: KB still attached
    refused(bound, name_only + kb, "kb.bad_sd_hash", policy=policy)
    # Add a disclosure after signing
    three = present(bound.combined, ["name", "sex", "address"])
    refused(bound, three + kb, "kb.bad_sd_hash", policy=policy)
    # Reorder the disclosures: sd_hash covers the exact presented string
    d_name, d_sex = bound.disclosure("name"), bound.disclosure("sex")
    jwt = bound.jwt
    ordered = sd(jwt, [d_name, d_sex])
    swapped = sd(jwt, [d_sex, d_name])
    refused(bound, swapped + make_kb(ordered, bound.holder), "kb.bad_sd_hash", policy=policy)
    # sd_hash over the issued SD-JWT with all disclosures
    refused(
        bound, name_only + make_kb(bound.combined, bound.holder), "kb.bad_sd_hash", policy=policy
    )


@pytest.mark.parametrize("value", [_DROP, None, "", 1, ["x"]])
def test_item_20_kb_missing_or_malformed_sd_hash_is_refused(bound: Env, value: Any) -> None:
    text = kb_presentation(bound, sd_hash=value)
    refused(bound, text, "kb.bad_sd_hash", policy=kb_policy())


@pytest.mark.parametrize("alg", [Alg.ES256, Alg.EDDSA, Alg.SM2SM3])
def test_item_20_sd_hash_holds_whatever_the_issuer_signs_with(alg: Alg) -> None:
    # ES256 issuer signatures are checked from the SHA-256 that sd_hash continues; the
    # other algorithms hash the signing input their own way. Both paths bind sd_hash.
    region = zibo()
    uscc = make_uscc("370300", 9)
    region.add_issuer(uscc, "淄博市公安局（测试）", [resident_type().code], alg)
    holder = generate_signer(Alg.ES256)
    issued = region.issue_id_card(uscc, holder_jwk=holder.public_key())
    e = Env(region, uscc, region.store(), issued.sd_jwt, holder)
    two = present(e.combined, ["name", "sex"])
    assert verify(e, two + make_kb(two, holder), policy=kb_policy()).key_bound
    swapped = sd(e.jwt, [e.disclosure("sex"), e.disclosure("name")])
    refused(e, swapped + make_kb(two, holder), "kb.bad_sd_hash", policy=kb_policy())


# --------------------------------------------------------------------------- item 21

_PERSONAL = [
    SECRET, "张三丰", "360426199101010071", "山东省淄博市张店区华光路100号", "淄博市公安局张店分局",
]  # fmt: skip


def _leak_cases(env: Env) -> dict[str, str]:
    p = env.payload()
    secret_disc = make_disclosure("c2FsdA", "nickname", SECRET)
    cases: dict[str, str] = {}
    cases["claim_override"] = sd(env.resign(with_changes(p, name=SECRET)), env.disclosures)
    cases["unreferenced"] = sd(env.jwt, [*env.disclosures, secret_disc])
    for key, shape in {
        "four_elements": ["c2FsdA", "nickname", SECRET, SECRET],
        "name_not_string": ["c2FsdA", {SECRET: SECRET}, SECRET],
        "reserved": ["c2FsdA", "_sd", SECRET],
        "two_in_object": ["c2FsdA", SECRET],
    }.items():
        jwt, ds = add_disclosures(env, p, [raw_disclosure(shape)])
        cases[key] = sd(jwt, ds)
    dup = b64e(('["c2FsdA","x",{"' + SECRET + '":1,"' + SECRET + '":2}]').encode())
    jwt, ds = add_disclosures(env, p, [dup])
    cases["duplicate_member"] = sd(jwt, ds)
    surrogate = b64e(('["c2FsdA","x","' + SECRET + '\\ud800"]').encode())
    jwt, ds = add_disclosures(env, p, [surrogate])
    cases["surrogate"] = sd(jwt, ds)
    jwt, ds = add_disclosures(env, p, [make_disclosure("c2FsdA", "deep", _nest(40, SECRET))])
    cases["too_deep"] = sd(jwt, ds)
    jwt, ds = add_disclosures(env, p, [b64e(b'["c2FsdA","n","' + SECRET.encode() + b'\xff"]')])
    cases["bad_utf8"] = sd(jwt, ds)
    h64, _, s64 = env.jwt.split(".")
    tampered = seg(with_changes(p, holder_type=SECRET))
    cases["bad_signature"] = sd(f"{h64}.{tampered}.{s64}", env.disclosures)
    cases["expired"] = sd(env.resign(with_changes(p, exp=NOW - DAY)), env.disclosures)
    cases["bad_claim"] = sd(env.resign(with_changes(p, exp=SECRET)), env.disclosures)
    cases["protected"] = _hide(env, "exp")
    cases["bad_base64"] = sd(env.jwt + "=", env.disclosures)
    cases["too_large"] = env.combined + SECRET * 5000
    return cases


@pytest.mark.parametrize(
    "case",
    [
        "claim_override", "unreferenced", "four_elements", "name_not_string", "reserved",
        "two_in_object", "duplicate_member", "surrogate", "too_deep", "bad_utf8",
        "bad_signature", "expired", "bad_claim", "protected", "bad_base64", "too_large",
    ],
)  # fmt: skip
def test_item_21_errors_never_contain_disclosure_values_or_token_text(
    env: Env, case: str, caplog: pytest.LogCaptureFixture
) -> None:
    text = _leak_cases(env)[case]
    caplog.set_level(logging.DEBUG)
    with pytest.raises(ElicenseError) as info:
        verify(env, text)
    exc = info.value
    rendered = [
        str(exc), repr(exc), exc.message, repr(exc.args), repr(exc.details),
        json.dumps(exc.to_dict(), ensure_ascii=False), caplog.text,
        *(r.getMessage() for r in caplog.records),
    ]  # fmt: skip
    fragments = [*_PERSONAL, text, *text.split("~"), *env.jwt.split(".")]
    fragments += [json.dumps(s)[1:-1] for s in _PERSONAL]  # \\u-escaped forms
    for blob in rendered:
        for fragment in fragments:
            if len(fragment) >= 8:
                assert fragment not in blob, (case, exc.code)
    assert exc.__cause__ is None


def test_item_21_kb_errors_never_contain_token_text(bound: Env) -> None:
    assert bound.holder is not None
    for claims, code in (
        ({"nonce": SECRET}, "kb.bad_nonce"),
        ({"aud": SECRET}, "token.bad_audience"),
        ({"sd_hash": SECRET}, "kb.bad_sd_hash"),
    ):
        text = kb_presentation(bound, **claims)
        exc = refused(bound, text, code, policy=kb_policy())
        blob = str(exc) + repr(exc.details) + json.dumps(exc.to_dict(), ensure_ascii=False)
        assert SECRET not in blob
        assert text.rsplit("~", 1)[1] not in blob


def test_item_21_bad_header_details_do_not_echo_token_content(env: Env) -> None:
    jwt = env.resign(env.payload(), **{SECRET: 1, "360426199101010071": 2})
    exc = refused(env, sd(jwt, env.disclosures), "token.bad_header")
    blob = json.dumps(exc.to_dict(), ensure_ascii=False)
    assert SECRET not in blob
    assert "360426199101010071" not in blob
