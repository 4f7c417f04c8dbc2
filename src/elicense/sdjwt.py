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
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, Final, NamedTuple

from elicense.errors import ElicenseError
from elicense.jose.b64 import b64d, b64e, b64e_ascii
from elicense.jose.jws import (
    HEADER_NO_KID,
    parse_compact,
    sign_compact,
    sign_compact_json,
    verify_with,
)
from elicense.jose.keys import PublicKey, Signer, public_key_from_jwk
from elicense.jose.sjson import (
    MAX_DEPTH,
    decode_text,
    dumps,
    dumps_simple,
    is_container,
    loads_canonical,
    loads_string_array,
    loads_value,
)

SD_ALG: Final = "sha-256"
KB_TYP: Final = "kb+jwt"
SALT_BYTES: Final = 18

#: Randomness is passed in (a pure core): ``rand(n)`` returns n random bytes.
Rand = Callable[[int], bytes]


def _digest(disclosure_b64: str) -> str:
    return b64e(hashlib.sha256(disclosure_b64.encode("ascii")).digest())


def _digests_b64(digests: list[bytes]) -> list[str]:
    """base64url of many 32-byte digests in one encoder call.

    Each digest is followed by a zero byte: 33 bytes encode to exactly 44 characters, and
    the first 43 of them are the digest's own unpadded base64url (its 43rd character holds
    the digest's last 2 bits and 4 zero bits, just as the canonical encoding does).
    """
    whole = b64e(b"\0".join(digests) + b"\0")
    return [whole[i : i + 43] for i in range(0, 44 * len(digests), 44)]


_json_string = json.encoder.encode_basestring  # the ensure_ascii=False encoder, in C


def _disclosure_json(salt: str, name: str, value: Any) -> bytes:
    """``[salt, name, value]`` as compact UTF-8 JSON; the common case (string name and
    value) is written directly, byte-identical to ``dumps`` (same C string encoder)."""
    if type(value) is str and type(name) is str:
        return f'["{salt}",{_json_string(name)},{_json_string(value)}]'.encode()
    return dumps([salt, name, value])


def make_disclosure(salt: str, name: str, value: Any) -> str:
    """base64url of ``[salt, name, value]`` (compact JSON)."""
    return b64e(_disclosure_json(salt, name, value))


def _encode_all(texts: list[bytes]) -> tuple[list[str], list[bytes]]:
    """base64url of each text and the SHA-256 of that encoding.

    Each JSON text is padded with insignificant whitespace (RFC 8259 §2) to a multiple of
    3 bytes: its base64 then has no partial group, so the encoding of all of them joined
    is their encodings end to end (one encoder call, then slices), and a verifier can
    check and decode all of a presentation's disclosures in one call (``_decode_batch``).
    """
    padded = [t + _PADDING[len(t) % 3] for t in texts]
    whole = b64e_ascii(b"".join(padded))
    text = whole.decode("ascii")
    sha256 = hashlib.sha256
    encoded: list[str] = []
    digests: list[bytes] = []
    pos = 0
    for t in padded:
        end = pos + len(t) // 3 * 4
        encoded.append(text[pos:end])
        digests.append(sha256(whole[pos:end]).digest())
        pos = end
    return encoded, digests


_PADDING: Final = (b"", b"  ", b" ")  # by length % 3: what makes a multiple of 3


class Issued:
    """An issued SD-JWT: the combined form and its parts, for storage and presentation.
    Read-only; a plain class rather than a frozen dataclass so that, compiled, building
    one costs no interpreted ``__init__`` (one is built per license issued)."""

    __slots__ = ("combined", "disclosures", "jwt")

    def __init__(self, combined: str, jwt: str, disclosures: Mapping[str, str]) -> None:
        self.combined: Final = combined
        self.jwt: Final = jwt
        self.disclosures: Final = disclosures
        """Claim name → disclosure (base64url) for every selectively disclosable claim."""

    def __reduce__(self) -> tuple[Any, ...]:
        return (Issued, (self.combined, self.jwt, self.disclosures))


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
    names, encoded, digests = _disclose(disclosable, rand, decoys)
    if "_sd" in plain or "_sd_alg" in plain:
        payload = dumps({**plain, "_sd": digests, "_sd_alg": SD_ALG})
    else:
        payload = _with_digests(dumps(plain), digests)
    return _signed(header, payload, signer, names, encoded)


def issue_encoded(
    *,
    header: Mapping[str, Any],
    plain_json: bytes,
    disclosable: Mapping[str, Any],
    signer: Signer,
    rand: Rand,
    decoys: int = 0,
) -> Issued:
    """``issue`` for plain claims the caller has already encoded: ``plain_json`` must be
    ``dumps(plain)`` for a ``plain`` without ``_sd``/``_sd_alg`` members."""
    names, encoded, digests = _disclose(disclosable, rand, decoys)
    return _signed(header, _with_digests(plain_json, digests), signer, names, encoded)


def _disclose(
    disclosable: Mapping[str, Any], rand: Rand, decoys: int
) -> tuple[list[str], list[str], list[str]]:
    """(claim names, their disclosures, the sorted digests of those and of the decoys)."""
    names = list(disclosable)
    # 18-byte salts (144 bits) encode to exactly 24 characters: one base64 call for all.
    salts = b64e(rand(SALT_BYTES * len(names)))
    texts = [
        # [salt, name, value] as compact JSON; string names and values (the common case)
        # go to the fast encoder, byte-identical to ``dumps`` for them.
        dumps_simple([salts[i * 24 : i * 24 + 24], name, value])
        if type(value) is str and type(name) is str
        else _disclosure_json(salts[i * 24 : i * 24 + 24], name, value)
        for i, (name, value) in enumerate(disclosable.items())
    ]
    encoded, raw_digests = _encode_all(texts)
    if decoys:
        noise = rand(32 * decoys)
        raw_digests.extend(hashlib.sha256(noise[i * 32 : (i + 1) * 32]).digest()
                           for i in range(decoys))  # fmt: skip
    digests = _digests_b64(raw_digests)
    digests.sort()  # the order of digests must not reveal the order of claims
    return names, encoded, digests


def _with_digests(plain_json: bytes, digests: list[str]) -> bytes:
    """``dumps({**plain, "_sd": digests, "_sd_alg": SD_ALG})`` from ``dumps(plain)``, byte
    for byte (``plain`` without ``_sd``/``_sd_alg``). The digests (base64url: nothing to
    escape) are appended as text rather than run through the encoder one by one."""
    listed = '"' + '","'.join(digests) + '"' if digests else ""
    sep = "," if len(plain_json) > 2 else ""  # "{}" has no member to follow
    tail = f'{sep}"_sd":[{listed}],"_sd_alg":"{SD_ALG}"}}'
    return plain_json[:-1] + tail.encode("ascii")


def _signed(
    header: Mapping[str, Any], payload: bytes, signer: Signer, names: list[str], encoded: list[str]
) -> Issued:
    jwt = sign_compact_json(header, payload, signer)
    combined = "~".join([jwt, *encoded, ""])  # jwt~d1~...~dn~
    return Issued(combined, jwt, dict(zip(names, encoded, strict=True)))


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


_COMPACT_JWS: Final = re.compile(r"[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+")


class SplitPresentation:
    """A presentation cut at its ``~``: the issuer JWT, the disclosures, the KB-JWT.
    Read-only; a compiled class (a NamedTuple's constructor is interpreted Python), and
    ``sd_jwt`` (everything before the KB-JWT, over a kilobyte) is only copied out when
    asked for: a verifier that continues the issuer JWT's hash never needs it."""

    __slots__ = ("_end", "_text", "disclosures", "jwt", "kb_jwt")

    def __init__(
        self, jwt: str, disclosures: tuple[str, ...], kb_jwt: str | None, text: str, end: int
    ) -> None:
        self.jwt: Final = jwt
        self.disclosures: Final = disclosures
        self.kb_jwt: Final = kb_jwt
        self._text = text
        self._end = end

    @property
    def sd_jwt(self) -> str:
        """The SD-JWT the KB-JWT's ``sd_hash`` covers: ``jwt~d1~…~dn~``."""
        return self._text[: self._end]

    def sd_jwt_from(self, start: int) -> str:
        """``sd_jwt[start:]``, without copying out the part before ``start``."""
        return self._text[start : self._end]


def split(
    text: str, *, max_length: int, max_disclosures: int, kb_parsed_later: bool = False
) -> SplitPresentation:
    """Checklist item 2. ``kb_parsed_later``: the caller parses any KB-JWT strictly anyway
    (``parse_compact`` refuses everything the form check below refuses, with the same
    codes), so the form check is left to it."""
    if len(text) > max_length:
        raise ElicenseError("token.too_large")
    # The issuer JWT and the KB-JWT are located with find/rfind (memchr): only the short
    # run of disclosures between them is split.
    first = text.find("~")
    if first < 0:
        raise ElicenseError("token.bad_serialization", details={"reason": "not an SD-JWT"})
    last = text.rfind("~")
    disclosures = tuple(text[first + 1 : last].split("~")) if last > first else ()
    if len(disclosures) > max_disclosures:  # more than max_disclosures + 1 separators
        raise ElicenseError("token.too_many_disclosures")
    kb = text[last + 1 :]
    if "" in disclosures:
        raise ElicenseError("token.bad_serialization", details={"reason": "empty disclosure"})
    if kb and not kb_parsed_later and not _COMPACT_JWS.fullmatch(kb):
        # After the last "~" comes nothing or a KB-JWT, whether or not this verifier
        # checks key binding: a missing final "~" (a disclosure there) or trailing text
        # is a malformed presentation, never something to skip.
        segments = kb.split(".")
        if len(segments) == 3 and all(segments):
            raise ElicenseError("token.bad_base64")
        raise ElicenseError("token.bad_serialization", details={"reason": "not a KB-JWT"})
    return SplitPresentation(text[:first], disclosures, kb or None, text, last + 1)


# A decoded disclosure: (salt, claim name or None for an array element, value). A plain
# tuple: it is built for every disclosure and only ever unpacked.
_Disclosure = tuple[str, str | None, Any]


def _decode_disclosure(raw: bytes) -> _Disclosure:
    """Checklist item 17: exact shapes, string salt and name, reserved names refused."""
    value = loads_canonical(raw)
    if value is None:
        text = decode_text(raw)
        # The shape issuers write for a text value, ["salt","name","value"], skips the
        # general checks, which have nothing to look at in a flat array of strings.
        value = loads_string_array(text)
        if value is None:
            value = loads_value(text)
    if not isinstance(value, list) or len(value) not in (2, 3):
        raise ElicenseError("sd.bad_disclosure")
    if not isinstance(value[0], str):
        raise ElicenseError("sd.bad_disclosure")
    if len(value) == 2:
        return value[0], None, value[1]
    if not isinstance(value[1], str):
        raise ElicenseError("sd.bad_disclosure")
    if value[1] in ("_sd", "..."):
        raise ElicenseError("sd.reserved_name")
    if value[1] == "_sd_alg":
        # RFC 9901 §4.2.1: the name must not be one the object already has; ``_sd_alg``
        # is the payload's own member (read before any disclosure), so it is an override.
        raise ElicenseError("sd.claim_override")
    return value[0], value[1], value[2]


def _decode_batch(disclosures: Sequence[str]) -> list[bytes] | None:
    """Every disclosure's bytes from one strict decoder call (item 3), or None.

    When every disclosure's length is a multiple of 4 (as elicense issues them), the
    base64 of their concatenation splits on group boundaries, so decoding it checks and
    decodes them all. None when that does not apply or the call refuses: the caller then
    decodes one by one, reporting the first bad disclosure exactly.
    """
    if any(map((3).__and__, map(len, disclosures))):  # some length % 4 != 0 (all in C)
        return None
    try:
        whole = b64d("".join(disclosures))
    except ElicenseError:
        return None
    out, pos = [], 0
    for d in disclosures:
        end = pos + len(d) // 4 * 3
        out.append(whole[pos:end])
        pos = end
    return out


def _by_digest(disclosures: Sequence[str]) -> dict[str, _Disclosure]:
    """Digest → decoded disclosure; each disclosure is decoded, hashed, checked for a
    duplicate and parsed, in order, so the first fault is the one reported."""
    by_digest: dict[str, _Disclosure] = {}
    raw = _decode_batch(disclosures)
    if raw is None:
        for d in disclosures:
            data = b64d(d)
            digest = _digest(d)
            if digest in by_digest:
                raise ElicenseError("sd.duplicate_digest")
            by_digest[digest] = _decode_disclosure(data)
        return by_digest
    # All decoded, so all ASCII; their digests are base64-encoded in one call.
    sha256 = hashlib.sha256
    digests = _digests_b64([sha256(d.encode("ascii")).digest() for d in disclosures])
    for digest, data in zip(digests, raw, strict=True):
        if digest in by_digest:
            raise ElicenseError("sd.duplicate_digest")
        by_digest[digest] = _decode_disclosure(data)
    return by_digest


#: Exactly these types are never containers: an object whose members are all of them
#: needs no recursive walk (tested in C with ``issuperset(map(type, ...))``).
_SCALARS: Final = frozenset({str, int, float, bool, type(None)})


class _Resolver:
    """Replaces digests by disclosed values, recursively, tracking what was used."""

    __slots__ = ("by_digest", "seen", "top_level_disclosed")

    def __init__(self, by_digest: dict[str, _Disclosure]) -> None:
        self.by_digest = by_digest
        self.seen: set[str] = set()
        self.top_level_disclosed: list[str] = []

    def _take(self, digest: Any) -> _Disclosure | None:
        """Mark a digest as seen (each may appear once) and return its disclosure, if any."""
        if type(digest) is not str:
            raise ElicenseError("sd.bad_structure")
        if digest in self.seen:
            raise ElicenseError("sd.duplicate_digest")
        self.seen.add(digest)
        return self.by_digest.get(digest)

    def obj(self, node: Mapping[str, Any], depth: int, *, top: bool = False) -> dict[str, Any]:
        """``depth``: how many containers enclose ``node`` in the resolved claims. Each
        value was depth-checked when parsed, but disclosures nest inside one another, so
        the resolved whole is bounded here (the same cap as for any JSON)."""
        if not top and "_sd_alg" in node:
            raise ElicenseError("sd.bad_alg")
        # Copy in C, drop the SD-JWT members, then replace the nested containers in member
        # order (as a member-by-member walk would); all-scalar objects skip that walk.
        out = dict(node)
        digests = out.pop("_sd", ())
        out.pop("_sd_alg", None)
        if not _SCALARS.issuperset(map(type, out.values())):
            if depth >= MAX_DEPTH:
                raise ElicenseError("token.too_deep")
            for k in [k for k, v in out.items() if is_container(v)]:
                v = out[k]
                if (
                    type(v) is dict
                    and "_sd" not in v
                    and "_sd_alg" not in v
                    and _SCALARS.issuperset(map(type, v.values()))
                ):
                    out[k] = dict(v)  # what obj(v) gives for an all-scalar object, inlined
                else:
                    out[k] = self.value(v, depth + 1)
        if type(digests) is not list and digests != ():
            raise ElicenseError("sd.bad_structure")
        seen, by_digest = self.seen, self.by_digest
        for digest in digests:  # _take, inlined: this loop runs for every digest and decoy
            if type(digest) is not str:
                raise ElicenseError("sd.bad_structure")
            if digest in seen:
                raise ElicenseError("sd.duplicate_digest")
            seen.add(digest)
            found = by_digest.get(digest)
            if found is None:
                continue  # a decoy, or a claim the holder chose not to disclose
            _, name, v = found
            if name is None:
                raise ElicenseError("sd.bad_disclosure", details={"reason": "array shape"})
            if name in out:
                raise ElicenseError("sd.claim_override")
            out[name] = self.value(v, depth + 1) if is_container(v) else v
            if top:
                self.top_level_disclosed.append(name)
        return out

    def arr(self, node: list[Any], depth: int) -> list[Any]:
        out: list[Any] = []
        for item in node:
            if isinstance(item, dict) and "..." in item:
                if len(item) != 1:
                    raise ElicenseError("sd.bad_structure")
                found = self._take(item["..."])
                if found is None:
                    continue
                if found[1] is not None:
                    raise ElicenseError("sd.bad_disclosure", details={"reason": "object shape"})
                item = found[2]  # noqa: PLW2901 - the disclosed element replaces the placeholder
            out.append(self.value(item, depth + 1) if is_container(item) else item)
        return out

    def value(self, v: Any, depth: int) -> Any:
        if depth > MAX_DEPTH:
            raise ElicenseError("token.too_deep")
        if isinstance(v, dict):
            return self.obj(v, depth)
        if isinstance(v, list):
            return self.arr(v, depth)
        return v


class Resolved(NamedTuple):
    claims: dict[str, Any]
    disclosed: frozenset[str]
    """Top-level claim names that came from disclosures."""


def resolve(payload: Mapping[str, Any], disclosures: Iterable[str]) -> Resolved:
    """Apply disclosures to a verified payload (RFC 9901 §7.1 steps 3-5)."""
    claims, disclosed = resolve_ordered(payload, disclosures)
    return Resolved(claims, frozenset(disclosed))


def resolve_ordered(
    payload: Mapping[str, Any], disclosures: Iterable[str]
) -> tuple[dict[str, Any], list[str]]:
    """``resolve``, with the top-level disclosed names in the order they were applied
    (the order of the claims dict, where they follow the plain claims)."""
    sd_alg = payload.get("_sd_alg", SD_ALG)
    if sd_alg != SD_ALG:
        raise ElicenseError("sd.bad_alg")
    encoded = disclosures if isinstance(disclosures, tuple | list) else tuple(disclosures)
    by_digest = _by_digest(encoded) if encoded else {}
    resolver = _Resolver(by_digest)
    claims = resolver.obj(payload, 0, top=True)
    if not by_digest.keys() <= resolver.seen:
        raise ElicenseError("sd.unreferenced_disclosure")
    return claims, resolver.top_level_disclosed


def holder_key(payload: Mapping[str, Any]) -> PublicKey | None:
    cnf = payload.get("cnf")
    if cnf is None:
        return None
    if not isinstance(cnf, dict) or not isinstance(cnf.get("jwk"), dict):
        raise ElicenseError("token.bad_claim", details={"claim": "cnf"})
    jwk = cnf["jwk"]
    try:
        frozen = tuple(jwk.items())  # the cache key: exactly the members, in their order
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
    sd_jwt: str | None,
    key: PublicKey,
    *,
    audience: str,
    nonce: str,
    now: int,
    leeway: int,
    max_age: int,
    sd_jwt_digest: bytes | None = None,
) -> dict[str, Any]:
    """Checklist item 20: typ, signature by cnf, iat window, aud, nonce, sd_hash.

    ``sd_jwt_digest``: SHA-256 of the SD-JWT, when the caller has it already (see
    ``verify_with_sha256``); ``sd_jwt`` may then be None."""
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
    if sd_jwt_digest is None:
        if sd_jwt is None:
            raise ValueError("key binding needs the SD-JWT or its digest")
        sd_jwt_digest = hashlib.sha256(sd_jwt.encode("ascii")).digest()
    expected = b64e(sd_jwt_digest)
    if claims.get("sd_hash") != expected:
        raise ElicenseError("kb.bad_sd_hash")
    return claims
