"""The fast paths of issuing and verifying give exactly what the straightforward code gives.

Each optimised construction is checked against a reference: the plain implementation it
replaced (kept here, verbatim in behaviour) or the library call it stands in for. Random
inputs come from hypothesis and include the hostile cases (bad base64, duplicate members,
NaN, lone surrogates, huge numbers, deep nesting, digest tricks). The JSON accelerator
(orjson) is optional: every JSON test runs with it and without it.
"""

from __future__ import annotations

import base64
import binascii
import copy
import dataclasses
import datetime as dt
import hashlib
import json
import math
import os
import pickle
import re
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.utils import (
    decode_dss_signature,
    encode_dss_signature,
)
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from elicense import ElicenseError, audit, builtin_catalog, native
from elicense.catalog import IdentifierScheme, ValueType
from elicense.claims import CHINA_TZ, local_date
from elicense.faces import _compiled, normalise_value, validate_face_values
from elicense.identifiers import build_license_id, parse_resident_id, resident_check_char
from elicense.identifiers.license_id import compose_license_id
from elicense.identifiers.resident import canonical_resident_id
from elicense.jose import sjson
from elicense.jose.b64 import b64d, b64e, b64e_ascii
from elicense.jose.keyfile import generate_signer
from elicense.jose.keys import Alg, der_to_raw, raw_to_der
from elicense.jose.sjson import dumps, dumps_simple, loads_canonical, loads_object, loads_value
from elicense.licenses import StatusRef, _plain_claims_json
from elicense.records import AccessRecord
from elicense.sdjwt import (
    SplitPresentation,
    _by_digest,
    _decode_batch,
    _digests_b64,
    _with_digests,
    issue,
    resolve,
    split,
)
from elicense.storage.access import _candidate, _json, type_code_of

FAST = settings(max_examples=300, deadline=None, suppress_health_check=list(HealthCheck))


@pytest.fixture(params=["orjson", "stdlib"])
def accelerator(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Run a test with the JSON accelerator and with the stdlib alone."""
    if request.param == "orjson":
        if sjson._orjson is None:
            pytest.skip("orjson is not installed")
    else:
        monkeypatch.setattr(sjson, "_orjson", None)
    return str(request.param)


def _outcome(fn: Any, *args: Any) -> tuple[str, Any]:
    try:
        return "ok", fn(*args)
    except ElicenseError as exc:
        return "refused", exc.code
    except (UnicodeEncodeError, ValueError, TypeError, KeyError) as exc:
        return "raised", type(exc).__name__


# --- base64url -------------------------------------------------------------------------

_B64URL = re.compile(r"[A-Za-z0-9_-]*")


def _reference_b64d(text: str) -> bytes:
    if len(text) % 4 == 1 or not _B64URL.fullmatch(text) or not text.isascii():
        raise ElicenseError("token.bad_base64")
    data = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    if base64.urlsafe_b64encode(data).rstrip(b"=").decode() != text:
        raise ElicenseError("token.bad_base64")  # non-canonical trailing bits
    return data


_B64_TEXT = st.text(st.sampled_from("ABCDEFGHQRSTYZaghwxyz0189-_+/= .~\n\x00é张"), max_size=400)


@FAST
@given(st.one_of(_B64_TEXT, st.binary(max_size=600).map(b64e), st.text()))
@example("")
@example("AB")  # non-canonical trailing bits
@example("AA==")
def test_b64d_is_the_strict_decoder(text: str) -> None:
    assert _outcome(b64d, text) == _outcome(_reference_b64d, text)


@FAST
@given(st.binary(max_size=700))
def test_b64e_is_unpadded_base64url(data: bytes) -> None:
    expected = base64.urlsafe_b64encode(data).rstrip(b"=").decode()
    assert b64e(data) == expected
    assert b64e_ascii(data) == expected.encode()
    assert b64d(expected) == data


@FAST
@given(st.lists(st.binary(min_size=32, max_size=32), max_size=20))
def test_digests_encoded_together_equal_one_by_one(digests: list[bytes]) -> None:
    assert _digests_b64(digests) == [b64e(d) for d in digests]


# --- ES256 signature encodings ---------------------------------------------------------

_EDGE_BYTES = st.sampled_from([0x00, 0x01, 0x7F, 0x80, 0xFF])
_SIG64 = st.one_of(
    st.binary(min_size=64, max_size=64),
    st.lists(st.one_of(_EDGE_BYTES, st.integers(0, 255)), min_size=64, max_size=64).map(bytes),
)


@FAST
@given(_SIG64)
@example(bytes(64))
@example(b"\x00" * 31 + b"\x01" + b"\x80" + b"\x00" * 31)
def test_raw_to_der_equals_encode_dss_signature(sig: bytes) -> None:
    r, s = int.from_bytes(sig[:32], "big"), int.from_bytes(sig[32:], "big")
    der = encode_dss_signature(r, s)
    assert raw_to_der(sig) == der
    assert der_to_raw(der) == sig
    assert decode_dss_signature(der) == (r, s)


def test_der_to_raw_on_real_signatures() -> None:
    signer = generate_signer(Alg.ES256)
    key = signer.private_key  # type: ignore[attr-defined]
    from elicense.jose.keys import _ECDSA_SHA256

    for i in range(300):
        der = key.sign(i.to_bytes(2, "big"), _ECDSA_SHA256)
        r, s = decode_dss_signature(der)
        assert der_to_raw(der) == r.to_bytes(32, "big") + s.to_bytes(32, "big")
        assert signer.public_key().verify(signer.sign(b"m%d" % i), b"m%d" % i)


# --- strict JSON -----------------------------------------------------------------------


class _Refused(ValueError):
    def __init__(self, code: str) -> None:
        super().__init__(code)
        self.code = code


def _pairs(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    obj = dict(pairs)
    if len(obj) != len(pairs):
        raise _Refused("token.duplicate_member")
    return obj


def _constant(_: str) -> Any:
    raise _Refused("token.bad_json")


def _float(text: str) -> float:
    value = float(text)
    if len(text) > 24 or value in (float("inf"), float("-inf")):
        raise _Refused("token.bad_json")
    return value


def _safe_int(text: str) -> int:
    value = int(text)
    if abs(value) > 2**53 - 1:  # I-JSON (RFC 7493 §2.2)
        raise _Refused("token.bad_json")
    return value


_REFERENCE_DECODER = json.JSONDecoder(
    object_pairs_hook=_pairs, parse_constant=_constant, parse_float=_float, parse_int=_safe_int
)


def _depth_ok(value: Any, budget: int) -> bool:
    if budget < 0:
        return False
    if isinstance(value, dict):
        return all(_depth_ok(v, budget - 1) for v in value.values())
    if isinstance(value, list):
        return all(_depth_ok(v, budget - 1) for v in value)
    return True


def _strings_ok(value: Any) -> bool:
    try:
        if isinstance(value, str):
            value.encode("utf-8")
        elif isinstance(value, dict):
            return all(_strings_ok(k) and _strings_ok(v) for k, v in value.items())
        elif isinstance(value, list):
            return all(_strings_ok(v) for v in value)
    except UnicodeEncodeError:
        return False
    return True


def _reference_loads_value(text: str) -> Any:
    """sjson.loads_value as it was before the fast paths."""
    try:
        value = _REFERENCE_DECODER.decode(text)
    except _Refused as exc:
        raise ElicenseError(exc.code) from None
    except (ValueError, RecursionError):
        raise ElicenseError("token.bad_json") from None
    if (text.count("{") + text.count("[")) > 16 and not _depth_ok(value, 16):
        raise ElicenseError("token.too_deep")
    if re.search(r"\\u[dD][89a-fA-F]", text) and not _strings_ok(value):
        raise ElicenseError("token.bad_utf8")
    return value


def _reference_loads_object(data: bytes) -> dict[str, Any]:
    if data.startswith(b"\xef\xbb\xbf"):
        raise ElicenseError("token.bad_utf8")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise ElicenseError("token.bad_utf8") from None
    value = _reference_loads_value(text)
    if not isinstance(value, dict):
        raise ElicenseError("token.bad_json")
    return value


_PIECES = [
    "{", "}", "[", "]", '"a"', '"b"', '"_sd"', ":", ",", "0", "1", "-0", "1.5", "-0.0", "1e5",
    "1e400", "1E-7", "0." + "1" * 30, "9" * 19, "9" * 25, "18446744073709551616", "NaN",
    "Infinity", "-Infinity", "true", "false", "null", " ", "\n", "\t", "\r", "\x0c", '"\\ud800"',
    '"\\udc00"', '"\\ud83d\\ude00"', '"\\u00e9"', '"\\/"', '"\\""', '"é张"', '"\x01"', '"\x7f"',
    "\ufeff", "x",
]  # fmt: skip
_JSONISH = st.lists(st.sampled_from(_PIECES), max_size=16).map("".join)


def _json_values(keys: st.SearchStrategy[str] | None = None) -> st.SearchStrategy[Any]:
    scalars = st.one_of(
        st.none(),
        st.booleans(),
        st.integers(min_value=-(2**70), max_value=2**70),
        st.floats(allow_nan=False, allow_infinity=False),
        st.text(max_size=8),
    )
    return st.recursive(
        scalars,
        lambda inner: st.one_of(
            st.lists(inner, max_size=4),
            st.dictionaries(st.text(max_size=4) if keys is None else keys, inner, max_size=4),
        ),
        max_leaves=12,
    )


def _encodings(value: Any) -> list[bytes]:
    out = []
    for ensure_ascii in (False, True):
        for seps in ((",", ":"), (", ", ": ")):
            try:
                text = json.dumps(value, ensure_ascii=ensure_ascii, separators=seps)
                out.append(text.encode("utf-8"))
            except (ValueError, UnicodeEncodeError):
                pass
    return out


@settings(max_examples=300, deadline=None, suppress_health_check=list(HealthCheck))
@given(text=st.one_of(_JSONISH, st.text(max_size=40)))
@example(text='{"a":1,"a":2}')
@example(text='{"a":NaN}')
@example(text='{"a":"\\ud800"}')
@example(text='{"a":' + "9" * 30 + "}")
@example(text='{"a":1.0000000000000000000000001}')
def test_loads_value_and_loads_object_are_the_strict_parser(text: str, accelerator: str) -> None:
    assert _outcome(loads_value, text) == _outcome(_reference_loads_value, text)
    try:
        data = text.encode("utf-8")
    except UnicodeEncodeError:
        return
    for raw in (data, b"\xef\xbb\xbf" + data, data + b"  "):
        assert _outcome(loads_object, raw) == _outcome(_reference_loads_object, raw)


@settings(max_examples=400, deadline=None, suppress_health_check=list(HealthCheck))
@given(value=_json_values())
def test_the_canonical_fast_path_agrees_with_the_strict_parser(value: Any) -> None:
    simple = _simple(value) and _finite(value)  # (unsafe integers: dumps_simple refuses)
    for data in [*_encodings(value), dumps_simple(value) if simple else b"null"]:
        fast = loads_canonical(data)
        if fast is None:
            continue  # the strict parser decides
        strict = _outcome(_reference_loads_value, data.decode())
        assert strict == ("ok", fast)
        assert json.dumps(strict[1]) == json.dumps(fast)  # same types (int vs float) too


def _nest(depth: int) -> str:
    return '{"a":' * depth + "1" + "}" * depth


@pytest.mark.parametrize(
    ("data", "code"),
    [
        (b'{"a":1,"a":2}', "token.duplicate_member"),
        (b'{"a":{"b":1,"b":1}}', "token.duplicate_member"),
        (b'{"a":[{"x":1,"y":2,"x":3}]}', "token.duplicate_member"),
        (b'{"a":NaN}', "token.bad_json"),
        (b'{"a":Infinity}', "token.bad_json"),
        (b'{"a":-Infinity}', "token.bad_json"),
        (b'{"a":1e400}', "token.bad_json"),
        (b'{"a":1.00000000000000000000000001}', "token.bad_json"),
        (b'{"a":"\\ud800"}', "token.bad_utf8"),
        (b'{"\\udc00":1}', "token.bad_utf8"),
        (b'{"a":"\xed\xa0\x80"}', "token.bad_utf8"),  # a surrogate encoded in UTF-8
        (b"\xef\xbb\xbf{}", "token.bad_utf8"),
        (b"[1]", "token.bad_json"),
        (b"null", "token.bad_json"),
        (_nest(17).encode(), "token.too_deep"),
    ],
)
def test_refusals_keep_their_codes(data: bytes, code: str, accelerator: str) -> None:
    with pytest.raises(ElicenseError) as info:
        loads_object(data)
    assert info.value.code == code
    assert _outcome(_reference_loads_object, data) == ("refused", code)


def test_integers_are_bounded_to_the_safe_range_on_both_paths(accelerator: str) -> None:
    safe = 2**53 - 1
    assert loads_object(b'{"a":9007199254740991}') == {"a": safe}
    assert loads_object(b'{"a":-9007199254740991}') == {"a": -safe}
    too_big = [b'{"a":9007199254740992}', b'{"a":18446744073709551616}']
    too_big.append(b'{"a":-' + b"9" * 17 + b"}")
    for text in too_big:
        with pytest.raises(ElicenseError) as info:
            loads_object(text)
        assert info.value.code == "token.bad_json"


def _simple(value: Any) -> bool:
    if type(value) in (str, int, bool) or value is None:
        return type(value) is not int or -(2**63) <= value < 2**64
    if type(value) is list:
        return all(_simple(v) for v in value)
    if type(value) is dict:
        return all(type(k) is str and _simple(v) for k, v in value.items())
    return False


@FAST
@given(value=_json_values())
@example(value=["\ud800"])
@example(value={"a": 2**64})
def test_dumps_simple_is_dumps(value: Any, accelerator: str) -> None:
    if not _simple(value):
        return
    assert _outcome(dumps_simple, value) == _outcome(dumps, value)


def test_dumps_simple_raises_what_dumps_raises(accelerator: str) -> None:
    for bad in (["\ud800"], {"k": "\udfff"}):
        with pytest.raises(UnicodeEncodeError):
            dumps(bad)
        with pytest.raises(UnicodeEncodeError):
            dumps_simple(bad)


# --- SD-JWT ----------------------------------------------------------------------------


class _ReferenceResolver:
    """sdjwt._Resolver as it was before the fast paths."""

    def __init__(self, by_digest: dict[str, tuple[str, str | None, Any]]) -> None:
        self.by_digest = by_digest
        self.seen: set[str] = set()
        self.top: set[str] = set()

    def take(self, digest: Any) -> tuple[str, str | None, Any] | None:
        if type(digest) is not str:
            raise ElicenseError("sd.bad_structure")
        if digest in self.seen:
            raise ElicenseError("sd.duplicate_digest")
        self.seen.add(digest)
        return self.by_digest.get(digest)

    def obj(self, node: dict[str, Any], *, top: bool) -> dict[str, Any]:
        if not top and "_sd_alg" in node:
            raise ElicenseError("sd.bad_alg")
        out: dict[str, Any] = {}
        for k, v in node.items():
            if k in ("_sd", "_sd_alg"):
                continue
            out[k] = self.value(v)
        digests = node.get("_sd", ())
        if type(digests) is not list and digests != ():
            raise ElicenseError("sd.bad_structure")
        for digest in digests:
            found = self.take(digest)
            if found is None:
                continue
            _, name, value = found
            if name is None:
                raise ElicenseError("sd.bad_disclosure", details={"reason": "array shape"})
            if name in out:
                raise ElicenseError("sd.claim_override")
            out[name] = self.value(value)
            if top:
                self.top.add(name)
        return out

    def arr(self, node: list[Any]) -> list[Any]:
        out = []
        for item in node:
            if isinstance(item, dict) and "..." in item:
                if len(item) != 1:
                    raise ElicenseError("sd.bad_structure")
                found = self.take(item["..."])
                if found is None:
                    continue
                if found[1] is not None:
                    raise ElicenseError("sd.bad_disclosure", details={"reason": "object shape"})
                item = found[2]  # noqa: PLW2901
            out.append(self.value(item))
        return out

    def value(self, v: Any) -> Any:
        if isinstance(v, dict):
            return self.obj(v, top=False)
        if isinstance(v, list):
            return self.arr(v)
        return v


def _reference_decode(d: str) -> tuple[str, str | None, Any]:
    data = _reference_b64d(d)
    if data.startswith(b"\xef\xbb\xbf"):
        raise ElicenseError("token.bad_utf8")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise ElicenseError("token.bad_utf8") from None
    value = _reference_loads_value(text)
    if not isinstance(value, list) or len(value) not in (2, 3) or not isinstance(value[0], str):
        raise ElicenseError("sd.bad_disclosure")
    if len(value) == 2:
        return value[0], None, value[1]
    if not isinstance(value[1], str):
        raise ElicenseError("sd.bad_disclosure")
    if value[1] in ("_sd", "..."):
        raise ElicenseError("sd.reserved_name")
    if value[1] == "_sd_alg":
        raise ElicenseError("sd.claim_override")
    return value[0], value[1], value[2]


def _reference_resolve(payload: dict[str, Any], disclosures: list[str]) -> Any:
    if payload.get("_sd_alg", "sha-256") != "sha-256":
        raise ElicenseError("sd.bad_alg")
    by_digest: dict[str, tuple[str, str | None, Any]] = {}
    for d in disclosures:
        data = _reference_b64d(d)  # (the old code hashed first: non-ASCII crashed)
        digest = b64e(hashlib.sha256(d.encode("ascii")).digest())
        if digest in by_digest:
            raise ElicenseError("sd.duplicate_digest")
        del data
        by_digest[digest] = _reference_decode(d)
    resolver = _ReferenceResolver(by_digest)
    claims = resolver.obj(dict(payload), top=True)
    if not by_digest.keys() <= resolver.seen:
        raise ElicenseError("sd.unreferenced_disclosure")
    return claims, frozenset(resolver.top)


def _disclose(value: Any, salt: str, name: str | None, pad: int) -> tuple[str, str]:
    """A disclosure, compact (as issuers write them) unless ``pad`` is 2."""
    shape = [salt, value] if name is None else [salt, name, value]
    seps = (", ", ": ") if pad == 2 else (",", ":")
    d = b64e(json.dumps(shape, ensure_ascii=False, separators=seps).encode() + b" " * pad)
    return d, b64e(hashlib.sha256(d.encode()).digest())


@st.composite
def _sd_cases(draw: st.DrawFn) -> tuple[dict[str, Any], list[str]]:
    """An SD-JWT payload and disclosures, built recursively, then possibly damaged."""
    disclosures: list[str] = []
    counter = iter(range(10**6))
    names = st.sampled_from(["a", "b", "c", "_sd", "...", "_sd_alg", "iss", "x"])

    def build(depth: int) -> Any:
        kind = draw(st.sampled_from(["scalar", "obj", "arr"] if depth < 3 else ["scalar"]))
        if kind == "scalar":
            return draw(st.one_of(st.integers(-5, 5), st.text(max_size=3), st.none()))
        if kind == "arr":
            out: list[Any] = []
            for _ in range(draw(st.integers(0, 3))):
                item = build(depth + 1)
                if draw(st.booleans()):
                    d, digest = _disclose(item, f"s{next(counter)}", None, draw(st.integers(0, 2)))
                    disclosures.append(d)
                    out.append({"...": digest})
                else:
                    out.append(item)
            return out
        node: dict[str, Any] = {}
        sd: list[Any] = []
        for _ in range(draw(st.integers(0, 3))):
            name = draw(names)
            value = build(depth + 1)
            if draw(st.booleans()):
                d, digest = _disclose(value, f"s{next(counter)}", name, draw(st.integers(0, 2)))
                disclosures.append(d)
                sd.append(digest)
            else:
                node[name] = value
        if sd or draw(st.booleans()):
            node["_sd"] = sd
        return node

    payload = build(0)
    if not isinstance(payload, dict):
        payload = {"v": payload}
    damage = draw(st.sampled_from(["none", "drop", "dup", "extra", "decoy", "badtype", "alg"]))
    if damage == "drop" and disclosures:
        disclosures.pop(draw(st.integers(0, len(disclosures) - 1)))
    elif damage == "dup" and disclosures:
        disclosures.append(disclosures[0])
    elif damage == "extra":
        disclosures.append(_disclose("v", "extra", "nick", 0)[0])
    elif damage == "decoy":
        sd = payload.setdefault("_sd", [])
        if isinstance(sd, list):  # (a plain member may be named "_sd" too)
            sd.append(b64e(os.urandom(32)))
    elif damage == "badtype":
        payload["_sd"] = draw(st.sampled_from([None, "x", {"a": 1}, [1], [[]]]))
    elif damage == "alg":
        payload["_sd_alg"] = draw(st.sampled_from(["sha-256", "sha-512", 1]))
    return payload, disclosures


@settings(max_examples=400, deadline=None, suppress_health_check=list(HealthCheck))
@given(case=_sd_cases())
def test_resolve_is_the_reference_resolver(
    case: tuple[dict[str, Any], list[str]], accelerator: str
) -> None:
    payload, disclosures = case
    expected = _outcome(lambda: _reference_resolve(payload, disclosures))
    got = _outcome(lambda: tuple(resolve(payload, disclosures)))
    assert got == expected
    if got[0] == "ok":  # member order too
        assert json.dumps(got[1][0]) == json.dumps(expected[1][0])


def _reference_by_digest(disclosures: list[str]) -> dict[str, Any]:
    by_digest: dict[str, Any] = {}
    for d in disclosures:
        _reference_b64d(d)
        digest = b64e(hashlib.sha256(d.encode("ascii")).digest())
        if digest in by_digest:
            raise ElicenseError("sd.duplicate_digest")
        by_digest[digest] = _reference_decode(d)
    return by_digest


_DISCLOSURE_TEXT = st.one_of(
    _B64_TEXT,
    st.binary(max_size=40).map(b64e),
    st.tuples(st.text(max_size=3), st.text(max_size=5), st.integers(0, 2)).map(
        lambda t: _disclose(t[1], t[0], "n", t[2])[0]
    ),
)


@FAST
@given(disclosures=st.lists(_DISCLOSURE_TEXT, max_size=5))
def test_batch_decoding_equals_one_by_one(disclosures: list[str], accelerator: str) -> None:
    batch = _decode_batch(disclosures)
    if batch is not None:
        assert [_outcome(b64d, d) for d in disclosures] == [("ok", b) for b in batch]
    got = _outcome(_by_digest, disclosures)
    assert got == _outcome(_reference_by_digest, disclosures)


@pytest.mark.parametrize("ch", ["é", "\u00a0", "张", "\U0001f600", "\ufeff"])
def test_non_ascii_in_a_disclosure_is_bad_base64(ch: str) -> None:
    d, digest = _disclose("v", "salt", "name", 0)
    with pytest.raises(ElicenseError) as info:
        resolve({"_sd": [digest]}, [d[:5] + ch + d[5:]])
    assert info.value.code == "token.bad_base64"


def _reference_split(text: str, max_length: int, max_disclosures: int) -> tuple[Any, ...]:
    if len(text) > max_length:
        raise ElicenseError("token.too_large")
    if "~" not in text:
        raise ElicenseError("token.bad_serialization")
    if text.count("~") > max_disclosures + 1:
        raise ElicenseError("token.too_many_disclosures")
    last = text.rindex("~")
    parts = text[:last].split("~")
    disclosures = tuple(parts[1:])
    if "" in disclosures:
        raise ElicenseError("token.bad_serialization")
    kb = text[last + 1 :]
    if kb and not re.fullmatch(r"[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+", kb):
        if kb.count(".") == 2 and "" not in kb.split("."):
            raise ElicenseError("token.bad_base64")
        raise ElicenseError("token.bad_serialization")
    return parts[0], disclosures, kb or None, text[: last + 1]


def _parts(p: SplitPresentation) -> tuple[Any, ...]:
    return p.jwt, p.disclosures, p.kb_jwt, p.sd_jwt


@FAST
@given(st.text(st.sampled_from("a.~b"), max_size=20), st.integers(0, 30), st.integers(0, 4))
def test_split_is_the_reference_split(text: str, max_length: int, max_disclosures: int) -> None:
    expected = _outcome(_reference_split, text, max_length, max_disclosures)
    got = _outcome(
        lambda: _parts(split(text, max_length=max_length, max_disclosures=max_disclosures))
    )
    assert got == expected


@FAST
@given(
    st.dictionaries(
        st.text(max_size=5),
        st.one_of(st.text(max_size=5), st.integers(-(2**53 - 1), 2**53 - 1)),
        max_size=4,
    ),
    st.lists(st.binary(min_size=32, max_size=32).map(b64e), max_size=5),
)
def test_digests_appended_as_text_equal_the_encoder(
    plain: dict[str, Any], digests: list[str]
) -> None:
    if "_sd" in plain or "_sd_alg" in plain:
        return
    expected = dumps({**plain, "_sd": digests, "_sd_alg": "sha-256"})
    assert _with_digests(dumps(plain), digests) == expected


_PLAIN_KEYS = st.text("abcé张", min_size=1, max_size=4)


@settings(max_examples=100, deadline=None, suppress_health_check=list(HealthCheck))
@given(st.dictionaries(_PLAIN_KEYS, _json_values(_PLAIN_KEYS), max_size=5))
def test_issued_disclosures_are_exactly_the_compact_json(disclosable: dict[str, Any]) -> None:
    disclosable = {k: v for k, v in disclosable.items() if _finite(v)}
    issued = issue(
        header={"typ": "example+sd-jwt"},
        plain={"iss": "me"},
        disclosable=disclosable,
        signer=_SIGNER,
        rand=os.urandom,
    )
    assert list(issued.disclosures) == list(disclosable)
    for name, d in issued.disclosures.items():
        raw = b64d(d)
        assert len(raw) % 3 == 0
        salt, got_name, value = json.loads(raw)
        assert (got_name, raw.rstrip(b" ")) == (name, dumps([salt, name, disclosable[name]]))
        assert value == disclosable[name]
    payload = loads_object(b64d(issued.jwt.split(".")[1]))
    claims, disclosed = resolve(payload, list(issued.disclosures.values()))
    assert disclosed == set(disclosable)
    assert json.dumps(claims, sort_keys=True) == json.dumps(
        {"iss": "me", **disclosable}, sort_keys=True
    )


def _finite(value: Any) -> bool:
    if isinstance(value, float):
        return math.isfinite(value)
    if type(value) is int:
        return abs(value) <= 2**53 - 1
    if isinstance(value, list):
        return all(_finite(v) for v in value)
    if isinstance(value, dict):
        return all(_finite(v) for v in value.values())
    return True


_SIGNER = generate_signer(Alg.ES256)


def test_issuing_an_integer_beyond_the_safe_range_is_refused() -> None:
    for value in (2**53, [1, -(2**60)], {"n": 10**30}):
        with pytest.raises(ElicenseError) as info:
            issue(
                header={"typ": "example+sd-jwt"}, plain={"iss": "me"},
                disclosable={"n": value}, signer=_SIGNER, rand=os.urandom,
            )  # fmt: skip
        assert info.value.code == "token.bad_json"


# --- issuing: claims, faces, identifiers, dates ----------------------------------------

_TEXT = st.text(max_size=12) | st.sampled_from(['a"b', "a\\b", "\x00", "\u2028", "张三", "\ud800"])


@FAST
@given(
    _TEXT, st.integers(0, 2**40), _TEXT, _TEXT,
    st.one_of(st.none(), st.integers(0, 2**40)),
    st.one_of(st.none(), st.builds(StatusRef, _TEXT, st.integers(0, 2**31))),
    st.one_of(st.none(), st.dictionaries(_TEXT, _TEXT, max_size=6)),
)  # fmt: skip
def test_plain_claims_json_is_dumps(
    iss: str, iat: int, vct: str, lid: str, exp: int | None, status: StatusRef | None,
    jwk: dict[str, str] | None,
) -> None:  # fmt: skip
    plain: dict[str, Any] = {
        "iss": iss, "iat": iat, "nbf": iat, "vct": vct, "license_id": lid, "holder_type": "111",
    }  # fmt: skip
    if exp is not None:
        plain["exp"] = exp
    if status is not None:
        plain["status"] = status.claim()
    if jwk is not None:
        plain["cnf"] = {"jwk": jwk}
    args = (iss, iat, iat, vct, lid, "111", exp, status, jwk)
    assert _outcome(lambda: _plain_claims_json(*args)) == _outcome(lambda: dumps(plain))


class _Text(str):
    """A str subclass: within the declared types, but not what the fast encoder takes."""


def test_plain_claims_json_with_unusual_types_goes_through_dumps() -> None:
    jwk = {"kty": "EC", "n": _Text("AQAB")}
    out = _plain_claims_json("i", 1, 2, "v", "l", "111", None, StatusRef("u", 3), jwk)
    assert out == dumps(
        {"iss": "i", "iat": 1, "nbf": 2, "vct": "v", "license_id": "l", "holder_type": "111",
         "status": {"status_list": {"idx": 3, "uri": "u"}}, "cnf": {"jwk": jwk}}
    )  # fmt: skip


_TODAY = dt.date(2026, 11, 22)


def _resident_ids() -> st.SearchStrategy[str]:
    valid = st.builds(
        lambda region, day, seq: _with_check(f"{region}{day:%Y%m%d}{seq:03d}"),
        st.sampled_from(["110101", "360426", "370303", "990000", "000000"]),
        st.dates(dt.date(1790, 1, 1), dt.date(2030, 1, 1)),
        st.integers(0, 999),
    )
    return st.one_of(
        valid,
        valid.map(lambda s: s[:17] + "0123456789X"[(int(s[-1], 36) + 1) % 11]),
        valid.map(lambda s: f"  {s.lower()} "),
        st.text(st.sampled_from("0123456789Xx "), max_size=20),
        st.sampled_from(["11010119900307231", "110101900307231", "110101199002307231"]),
    )


def _with_check(first17: str) -> str:
    return first17 + resident_check_char(first17)


@settings(max_examples=500, deadline=None, suppress_health_check=list(HealthCheck))
@given(_resident_ids())
def test_canonical_resident_id_is_the_parsed_number(value: str) -> None:
    assert _outcome(lambda: canonical_resident_id(value, today=_TODAY)) == _outcome(
        lambda: parse_resident_id(value, today=_TODAY).number
    )


def test_birth_dates_read_as_before() -> None:
    for text in ("19000229", "20000229", "20240230", "00000101", "17991231", "18000101",
                 "20261122", "20261123", "19911301", "19910100", "99991231"):  # fmt: skip
        number = _with_check(f"110101{text}123")
        try:
            born: Any = dt.date(int(text[:4]), int(text[4:6]), int(text[6:]))
            expected = "ok" if born.year >= 1800 and born <= _TODAY else "refused"
        except ValueError:
            expected = "refused"
        assert _outcome(lambda n=number: parse_resident_id(n, today=_TODAY))[0] == expected


_LICENSE_TYPES = list(builtin_catalog())


@settings(max_examples=300, deadline=None, suppress_health_check=list(HealthCheck))
@given(
    st.sampled_from([(t, f) for t in _LICENSE_TYPES for f in t.fields]),
    st.one_of(
        _TEXT, _resident_ids(), st.dates().map(str), st.dates(), st.integers(), st.floats(),
        st.booleans(), st.none(), st.sampled_from(["男", " 女 ", "C1", "2024-02-30", "20240101"]),
    ),
)  # fmt: skip
def test_compiled_normalisers_are_normalise_value(case: Any, value: Any) -> None:
    license_type, f = case
    norm = _compiled(license_type, _TODAY).normalisers[f.key]
    got, expected = _outcome(norm, value), _outcome(normalise_value, f, value, _TODAY)
    if got[0] == "refused":
        assert expected[0] == "refused"
        return
    assert got == expected or (
        f.value_type is ValueType.NUMBER and math.isnan(got[1]) and math.isnan(expected[1])
    )


def test_refusals_of_compiled_normalisers_name_the_same_reason() -> None:
    for license_type in _LICENSE_TYPES:
        for f in license_type.fields:
            norm = _compiled(license_type, _TODAY).normalisers[f.key]
            for value in ("", "  ", 5, None, "x" * 3000, "a\x01b", "2024-13-01", "bad"):
                assert _refusal(norm, value) == _refusal(normalise_value, f, value, _TODAY)


def _refusal(fn: Any, *args: Any) -> tuple[str, Any] | None:
    try:
        fn(*args)
    except ElicenseError as exc:
        return exc.code, exc.details
    return None


@settings(max_examples=300, deadline=None, suppress_health_check=list(HealthCheck))
@given(st.data())
def test_known_identifiers_change_nothing(data: st.DataObject) -> None:
    license_type = data.draw(st.sampled_from(_LICENSE_TYPES))
    keys = [f.key for f in license_type.fields]
    chosen = data.draw(st.lists(st.sampled_from(keys), unique=True))
    values = {k: data.draw(st.one_of(_resident_ids(), st.just("x"), st.just(""))) for k in chosen}
    holder = data.draw(_resident_ids())
    try:
        code = canonical_resident_id(holder, today=_TODAY)
    except ElicenseError:
        return
    known = {(IdentifierScheme.RESIDENT_ID, holder.strip()): code}
    plain = _outcome(lambda: validate_face_values(license_type, values, today=_TODAY))
    fast = _outcome(lambda: validate_face_values(license_type, values, today=_TODAY, known=known))
    assert fast == plain
    if plain[0] == "ok":
        assert list(fast[1]) == list(plain[1])  # same order


@FAST
@given(st.integers(0, 253402300799 - 8 * 3600))
@example(0)
@example(28799)
@example(28800)
def test_local_date_is_the_calendar_date_in_china(epoch: int) -> None:
    assert local_date(epoch) == dt.datetime.fromtimestamp(epoch, CHINA_TZ).date()


_ALNUM = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"


@FAST
@given(
    st.text(st.sampled_from(_ALNUM + "az-é."), max_size=70),
    st.integers(-1, 1000),
)
def test_compose_license_id_is_build_license_id(serial: str, version: int) -> None:
    type_code, issuer = "1110000000010001X0004", "11370300MB0012345C"
    composed = _outcome(lambda: compose_license_id(type_code, issuer, serial, version))
    built = _outcome(lambda: str(build_license_id(type_code, issuer, serial, version)))
    assert composed == built


def test_the_base64_table_is_binascii() -> None:
    # short inputs: the URL alphabet over binascii's standard one
    data = bytes(range(255))
    assert b64e_ascii(data) == (binascii.b2a_base64(data, newline=False).rstrip(b"=")
                                .replace(b"+", b"-").replace(b"/", b"_"))  # fmt: skip


# --- end to end ------------------------------------------------------------------------


@pytest.mark.parametrize("shown", [[], ["name"], ["name", "address", "id_number"]])
def test_verified_license_carries_every_value(shown: list[str], accelerator: str) -> None:
    from elicense.claims import day_start
    from elicense.licenses import VerifierPolicy, verify_license
    from elicense.sdjwt import present

    from support import HOLDER, ID_CARD_FIELDS, NOW, police_of, zibo

    region = zibo()
    uscc = police_of(region)
    holder = generate_signer(Alg.ES256)
    lic = region.issue_id_card(uscc, holder_jwk=holder.public_key())
    text = present(lic.sd_jwt, [*shown, "holder_id"], holder=holder, audience="v", nonce="n",
                   now=NOW)  # fmt: skip
    policy = VerifierPolicy(audience="v", nonce="n", require_key_binding=True)
    got = verify_license(text, region.store(), now=NOW, policy=policy)
    assert (got.type_code, got.issuer, got.issuer_name, got.region) == (
        lic.type_code, uscc, "淄博市公安局", "370300",
    )  # fmt: skip
    assert (got.license_id, got.holder_type, got.holder_id) == (lic.license_id, "111", HOLDER)
    assert (got.issued_at, got.valid_from) == (NOW, day_start(dt.date(2020, 1, 1)))
    assert got.valid_until == day_start(dt.date(2040, 1, 2))
    assert got.fields == {k: ID_CARD_FIELDS[k] for k in ID_CARD_FIELDS if k in shown}
    assert got.status == StatusRef("https://370300.example/status/1", 7)
    assert got.key_bound is True
    assert got.kid == region.signers[uscc].kid
    assert got.disclosed == {*shown, "holder_id"}
    assert pickle.loads(pickle.dumps(got)) == got  # noqa: S301 - a value, our own bytes


def test_status_refs_are_values_equal_and_hashed_by_uri_and_index() -> None:
    a, b = StatusRef("https://x.example/s/1", 7), StatusRef("https://x.example/s/1", 7)
    assert a == b
    assert hash(a) == hash(b)
    assert len({a, b}) == 1
    assert a != StatusRef("https://x.example/s/1", 8)
    assert a != StatusRef("https://y/s/1", 7)
    assert a != ("https://x.example/s/1", 7)
    assert repr(a) == "StatusRef(uri='https://x.example/s/1', idx=7)"
    assert pickle.loads(pickle.dumps(a)) == a  # noqa: S301 - our own bytes
    assert copy.deepcopy(a) == a
    if _COMPILED_LICENSES:  # Final attributes are read-only at runtime once compiled
        with pytest.raises(AttributeError):
            a.idx = 9  # type: ignore[misc]


def test_an_issued_license_is_read_only_and_prints_no_personal_data() -> None:
    from support import HOLDER, police_of, zibo

    region = zibo()
    lic = region.issue_id_card(police_of(region))
    text = repr(lic)
    assert lic.license_id in text
    for personal in (HOLDER, lic.sd_jwt, "张"):
        assert personal not in text
    again = pickle.loads(pickle.dumps(lic))  # noqa: S301 - our own bytes
    assert (again.sd_jwt, again.license_id) == (lic.sd_jwt, lic.license_id)
    assert again.fields == lic.fields
    if _COMPILED_LICENSES:
        with pytest.raises(AttributeError):
            lic.sd_jwt = "x"  # type: ignore[misc]


_COMPILED_LICENSES = native.compiled_modules()["elicense.licenses"]


@FAST
@given(value=_json_values(), budget=st.integers(-1, 8))
def test_the_depth_walk_visiting_only_containers_is_the_reference(value: Any, budget: int) -> None:
    # _depth_ok here is the reference parser's: the check as first written, where every
    # value, scalars too, takes a level.
    assert sjson._depth_ok(value, budget) == _depth_ok(value, budget)


# -- the access log's canonical form and the settlement's JSON --------------------------

_ANY_TEXT = st.text(st.characters(blacklist_categories=()), max_size=12)  # surrogates too
_RECORDS = st.builds(
    AccessRecord,
    id=_ANY_TEXT,
    at=st.integers(),
    rp_id=_ANY_TEXT,
    scenario_id=_ANY_TEXT,
    holder_pseudonym=st.none() | _ANY_TEXT,
    license_ids=st.lists(_ANY_TEXT, max_size=3).map(tuple),
    field_names=st.lists(_ANY_TEXT, max_size=3).map(tuple),
    decision=_ANY_TEXT,
    code=st.none() | _ANY_TEXT,
    consent_id=st.none() | _ANY_TEXT,
    request_id=_ANY_TEXT,
    seq=st.just(0),
    prev_hash=st.just(b""),
    hash=st.just(b""),
)
_PLAIN = AccessRecord(
    "r1", 1_790_000_000, "hotel-qidu", "hotel_checkin", "ab" * 16, ("1.2.156.3005.2.1",),
    ("name",), "accepted", None, None, "req", 0, b"", b"",
)  # fmt: skip


@FAST
@given(_RECORDS, st.integers())
@example(dataclasses.replace(_PLAIN, code=7), 1)  # type: ignore[arg-type]  # not text
@example(dataclasses.replace(_PLAIN, at=True), 1)  # bool is not an int to JSON
@example(dataclasses.replace(_PLAIN, license_ids=("a", None)), 1)  # type: ignore[arg-type]
@example(dataclasses.replace(_PLAIN, id='"\\\n\x00\u2028中'), 2**70)
def test_the_canonical_form_written_out_is_the_json_encoders(
    record: AccessRecord, seq: int
) -> None:
    assert _outcome(audit._canonical, record, seq) == _outcome(audit._canonical_dumped, record, seq)


@FAST
@given(_RECORDS)
@example(dataclasses.replace(_PLAIN, field_names=('"', "\\", "\x7f", "证照", "\U0001f600")))
def test_a_settlement_candidate_written_out_is_the_json_encoders(record: AccessRecord) -> None:
    def reference() -> str:
        return json.dumps(
            [
                json.dumps(list(record.license_ids)),
                json.dumps(list(record.field_names)),
                type_code_of(record.license_ids),
                record.decision,
                record.code,
                record.consent_id,
                base64.b64encode(audit.canonical_before_seq(record)).decode("ascii"),
            ]
        )

    assert _outcome(_candidate, record) == _outcome(reference)
    assert _json(record.field_names) == json.dumps(list(record.field_names))
