"""SD-JWT (RFC 9901): issue, present and verify selective disclosures (checklist 17-20).

The verifier processes disclosures exactly as the RFC says, including nested objects and
array elements, so that SD-JWTs from other implementations verify too; it is strict
where the RFC allows a choice: only ``sha-256``, exact disclosure shapes, no digest seen
twice, no unreferenced disclosure, no overriding of plain claims.
"""

from __future__ import annotations

import functools
import hashlib
import json
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, NamedTuple

from elicense.errors import ElicenseError
from elicense.jose.b64 import b64d, b64e
from elicense.jose.jws import HEADER_NO_KID, parse_compact, sign_compact, verify_with
from elicense.jose.keys import PublicKey, Signer, public_key_from_jwk
from elicense.jose.sjson import decode_text, dumps, loads_value

SD_ALG = "sha-256"
KB_TYP = "kb+jwt"
SALT_BYTES = 18

#: Randomness is passed in (a pure core): ``rand(n)`` returns n random bytes.
Rand = Callable[[int], bytes]


def _digest(disclosure_b64: str) -> str:
    return b64e(hashlib.sha256(disclosure_b64.encode("ascii")).digest())


_SAFE_NAME = re.compile(r"[A-Za-z0-9_]{1,64}")
_json_string = json.encoder.encode_basestring  # the ensure_ascii=False encoder, in C


def _disclosure_json(salt: str, name: str, value: Any) -> bytes:
    """``[salt, name, value]`` as compact UTF-8 JSON; the common case (a plain claim name
    and a string value) is encoded directly, anything else through ``json``."""
    if type(value) is str and _SAFE_NAME.fullmatch(name):
        return f'["{salt}","{name}",{_json_string(value)}]'.encode()
    return dumps([salt, name, value])


def make_disclosure(salt: str, name: str, value: Any) -> str:
    """base64url of ``[salt, name, value]`` (compact JSON)."""
    return b64e(_disclosure_json(salt, name, value))


def _encode_all(texts: list[bytes]) -> list[str]:
    """base64url of each text, in one encoder call.

    Each JSON text is padded with insignificant whitespace (RFC 8259 §2) to a multiple of
    3 bytes, so the base64 of the concatenation is the concatenation of the parts' base64.
    """
    padded = [t + b"  "[: -len(t) % 3] for t in texts]
    whole = b64e(b"".join(padded))
    out, pos = [], 0
    for t in padded:
        end = pos + len(t) // 3 * 4
        out.append(whole[pos:end])
        pos = end
    return out


@dataclass(frozen=True, slots=True)
class Issued:
    """An issued SD-JWT: the combined form and its parts, for storage and presentation."""

    combined: str
    jwt: str
    disclosures: Mapping[str, str]
    """Claim name → disclosure (base64url) for every selectively disclosable claim."""


def issue(
    *,
    header: Mapping[str, Any],
    plain: Mapping[str, Any],
    disclosable: Mapping[str, Any],
    signer: Signer,
    rand: Rand,
    decoys: int = 0,
) -> Issued:
    """Sign ``plain`` claims with every ``disclosable`` claim hidden behind a digest."""
    names = list(disclosable)
    # 18-byte salts (144 bits) encode to exactly 24 characters: one base64 call for all.
    salts = b64e(rand(SALT_BYTES * len(names)))
    encoded = _encode_all(
        [_disclosure_json(salts[i * 24 : i * 24 + 24], name, disclosable[name])
         for i, name in enumerate(names)]
    )  # fmt: skip
    disclosures = dict(zip(names, encoded, strict=True))
    digests = [_digest(d) for d in encoded]
    if decoys:
        noise = rand(32 * decoys)
        digests.extend(b64e(hashlib.sha256(noise[i * 32 : (i + 1) * 32]).digest())
                       for i in range(decoys))  # fmt: skip
    digests.sort()  # the order of digests must not reveal the order of claims
    payload = {**plain, "_sd": digests, "_sd_alg": SD_ALG}
    jwt = sign_compact(header, payload, signer)
    return Issued(jwt + "~" + "".join(d + "~" for d in disclosures.values()), jwt, disclosures)


def present(
    combined: str,
    keep: Iterable[str],
    *,
    holder: Signer | None = None,
    audience: str | None = None,
    nonce: str | None = None,
    now: int | None = None,
) -> str:
    """Holder side: keep only the disclosures of the chosen top-level claims, then
    optionally append a key-binding JWT (audience, nonce, iat, sd_hash)."""
    parts = combined.split("~")
    jwt, disclosures = parts[0], [d for d in parts[1:] if d]
    wanted = set(keep)
    kept = []
    for d in disclosures:
        decoded = json.loads(b64d(d))
        if len(decoded) == 3 and decoded[1] in wanted:
            kept.append(d)
    sd_jwt = jwt + "~" + "".join(d + "~" for d in kept)
    if holder is None:
        return sd_jwt
    if audience is None or nonce is None or now is None:
        raise ValueError("key binding needs audience, nonce and now")
    sd_hash = b64e(hashlib.sha256(sd_jwt.encode("ascii")).digest())
    kb = sign_compact(
        {"typ": KB_TYP}, {"iat": now, "aud": audience, "nonce": nonce, "sd_hash": sd_hash},
        holder, kid=False,
    )  # fmt: skip
    return sd_jwt + kb


class SplitPresentation(NamedTuple):
    jwt: str
    disclosures: tuple[str, ...]
    kb_jwt: str | None
    sd_jwt: str
    """Everything up to and including the last ``~``: what ``sd_hash`` covers."""


def split(text: str, *, max_length: int, max_disclosures: int) -> SplitPresentation:
    if len(text) > max_length:
        raise ElicenseError("token.too_large")
    if "~" not in text:
        raise ElicenseError("token.bad_serialization", details={"reason": "not an SD-JWT"})
    if text.count("~") > max_disclosures + 1:
        raise ElicenseError("token.too_many_disclosures")
    last = text.rindex("~")
    parts = text[:last].split("~")
    kb = text[last + 1 :] or None
    disclosures = tuple(parts[1:])
    if "" in disclosures:
        raise ElicenseError("token.bad_serialization", details={"reason": "empty disclosure"})
    return SplitPresentation(parts[0], disclosures, kb, text[: last + 1])


class _Disclosure(NamedTuple):
    salt: str
    name: str | None
    value: Any


# The shape every issuer produces for a string member: ["salt","name","value"]. Such a
# disclosure is decoded without the general parser; anything else takes the strict path.
_SIMPLE = re.compile(
    r'[ \t\r\n]*\[[ \t\r\n]*"([A-Za-z0-9_-]{1,64})"[ \t\r\n]*,[ \t\r\n]*"([A-Za-z0-9_]{1,64})"'
    r'[ \t\r\n]*,[ \t\r\n]*("(?:[^"\\\x00-\x1f]|\\["\\/bfnrt])*")[ \t\r\n]*\][ \t\r\n]*'
)
_scanstring: Any = json.decoder.scanstring  # type: ignore[attr-defined]


def _decode_disclosure(d: str) -> _Disclosure:
    text = decode_text(b64d(d))
    m = _SIMPLE.fullmatch(text)
    if m is not None:
        name = m.group(2)
        if name == "_sd":
            raise ElicenseError("sd.reserved_name")
        return _Disclosure(m.group(1), name, _scanstring(m.group(3), 1, True)[0])
    value = loads_value(text)
    if not isinstance(value, list) or len(value) not in (2, 3):
        raise ElicenseError("sd.bad_disclosure")
    if not isinstance(value[0], str):
        raise ElicenseError("sd.bad_disclosure")
    if len(value) == 2:
        return _Disclosure(value[0], None, value[1])
    if not isinstance(value[1], str):
        raise ElicenseError("sd.bad_disclosure")
    if value[1] in ("_sd", "..."):
        raise ElicenseError("sd.reserved_name")
    return _Disclosure(value[0], value[1], value[2])


_CONTAINERS = (dict, list)


class _Resolver:
    """Replaces digests by disclosed values, recursively, tracking what was used."""

    __slots__ = ("by_digest", "seen", "top_level_disclosed")

    def __init__(self, by_digest: dict[str, _Disclosure]) -> None:
        self.by_digest = by_digest
        self.seen: set[str] = set()
        self.top_level_disclosed: set[str] = set()

    def _take(self, digest: Any) -> _Disclosure | None:
        """Mark a digest as seen (each may appear once) and return its disclosure, if any."""
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
            if k == "_sd" or k == "_sd_alg":  # noqa: PLR1714 - fastest spelling on this path
                continue
            out[k] = self.value(v) if isinstance(v, _CONTAINERS) else v
        digests = node.get("_sd", ())
        if type(digests) is not list and digests != ():
            raise ElicenseError("sd.bad_structure")
        for digest in digests:
            found = self._take(digest)
            if found is None:
                continue  # a decoy, or a claim the holder chose not to disclose
            if found.name is None:
                raise ElicenseError("sd.bad_disclosure", details={"reason": "array shape"})
            if found.name in out:
                raise ElicenseError("sd.claim_override")
            v = found.value
            out[found.name] = self.value(v) if isinstance(v, _CONTAINERS) else v
            if top:
                self.top_level_disclosed.add(found.name)
        return out

    def arr(self, node: list[Any]) -> list[Any]:
        out: list[Any] = []
        for item in node:
            if isinstance(item, dict) and "..." in item:
                if len(item) != 1:
                    raise ElicenseError("sd.bad_structure")
                found = self._take(item["..."])
                if found is None:
                    continue
                if found.name is not None:
                    raise ElicenseError("sd.bad_disclosure", details={"reason": "object shape"})
                item = found.value  # noqa: PLW2901 - the disclosed element replaces the placeholder
            out.append(self.value(item) if isinstance(item, _CONTAINERS) else item)
        return out

    def value(self, v: Any) -> Any:
        if isinstance(v, dict):
            return self.obj(v, top=False)
        if isinstance(v, list):
            return self.arr(v)
        return v


class Resolved(NamedTuple):
    claims: dict[str, Any]
    disclosed: frozenset[str]
    """Top-level claim names that came from disclosures."""


def resolve(payload: Mapping[str, Any], disclosures: Iterable[str]) -> Resolved:
    """Apply disclosures to a verified payload (RFC 9901 §7.1 steps 3-5)."""
    sd_alg = payload.get("_sd_alg", SD_ALG)
    if sd_alg != SD_ALG:
        raise ElicenseError("sd.bad_alg")
    by_digest: dict[str, _Disclosure] = {}
    for d in disclosures:
        digest = _digest(d)
        if digest in by_digest:
            raise ElicenseError("sd.duplicate_digest")
        by_digest[digest] = _decode_disclosure(d)
    resolver = _Resolver(by_digest)
    claims = resolver.obj(dict(payload), top=True)
    if not by_digest.keys() <= resolver.seen:
        raise ElicenseError("sd.unreferenced_disclosure")
    return Resolved(claims, frozenset(resolver.top_level_disclosed))


def holder_key(payload: Mapping[str, Any]) -> PublicKey | None:
    cnf = payload.get("cnf")
    if cnf is None:
        return None
    if not isinstance(cnf, dict) or not isinstance(cnf.get("jwk"), dict):
        raise ElicenseError("token.bad_claim", details={"claim": "cnf"})
    jwk = cnf["jwk"]
    try:
        frozen = tuple(sorted(jwk.items()))
        hash(frozen)
    except TypeError:
        raise ElicenseError("key.bad_jwk") from None
    return _import_holder_key(frozen)


@functools.lru_cache(maxsize=4096)
def _import_holder_key(jwk: tuple[tuple[str, Any], ...]) -> PublicKey:
    """Importing validates the point and computes the thumbprint: worth caching per key.

    Failures raise, and lru_cache does not cache exceptions, so a bad key is re-checked
    (and refused) every time.
    """
    return public_key_from_jwk(dict(jwk))


def verify_key_binding(
    kb_jwt: str,
    sd_jwt: str,
    key: PublicKey,
    *,
    audience: str,
    nonce: str,
    now: int,
    leeway: int,
    max_age: int,
) -> dict[str, Any]:
    """Checklist item 20: typ, signature by cnf, iat window, aud, nonce, sd_hash."""
    parsed = parse_compact(kb_jwt, typ=KB_TYP, allowed_header=HEADER_NO_KID, max_length=4096)
    verify_with(parsed, key, "kb.bad_signature")
    claims = parsed.payload
    iat = claims.get("iat")
    if type(iat) is not int:
        raise ElicenseError("token.bad_claim", details={"claim": "iat"})
    if iat > now + leeway or iat < now - max_age:
        raise ElicenseError("kb.stale")
    aud = claims.get("aud")
    if not isinstance(aud, str) or aud != audience:
        raise ElicenseError("token.bad_audience")
    if not isinstance(claims.get("nonce"), str) or claims["nonce"] != nonce:
        raise ElicenseError("kb.bad_nonce")
    expected = b64e(hashlib.sha256(sd_jwt.encode("ascii")).digest())
    if claims.get("sd_hash") != expected:
        raise ElicenseError("kb.bad_sd_hash")
    return claims
