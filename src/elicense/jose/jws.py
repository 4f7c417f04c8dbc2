"""Compact JWS, strictly (checklist items 1-7, 10, 11).

Parsing never trusts the header: it only checks that the header is well-formed, carries
nothing outside the token kind's allow-list and names the expected ``typ``. Which key
verifies the signature is decided by the caller from its trust list; ``verify_with``
then refuses any ``alg`` other than that key's pinned one.
"""

from __future__ import annotations

import functools
import hashlib
from collections.abc import Mapping
from typing import Any, Final

from elicense.errors import ElicenseError
from elicense.jose.b64 import b64d, b64e_ascii
from elicense.jose.keys import KID_PATTERN, Alg, PublicKey, Signer
from elicense.jose.sjson import dumps, loads_object

#: Header members a verifier understands; everything else (jwk, jku, x5u, x5c, zip, b64,
#: cty, crit, ...) is refused.
HEADER_WITH_KID: Final = frozenset({"alg", "typ", "kid"})
HEADER_NO_KID: Final = frozenset({"alg", "typ"})
_KNOWN_ALGS: Final = frozenset({"ES256", "EdDSA", "SM2SM3"})
#: Header parameter names registered with IANA (JSON Web Signature and Encryption Header
#: Parameters, RFC 7515/7516/7797/8555/8225/9421 and others): safe to name in an error.
_REGISTERED_HEADER_NAMES: Final = frozenset(
    {
        "alg", "jku", "jwk", "kid", "x5u", "x5c", "x5t", "x5t#S256", "typ", "cty", "crit",
        "enc", "zip", "epk", "apu", "apv", "iv", "tag", "p2s", "p2c", "b64", "ppt", "url",
        "nonce", "svt", "iss", "sub", "aud", "trust_chain", "iat", "exp",
    }
)  # fmt: skip


class ParsedJws:
    """A compact JWS whose header passed the checks; its signature is not checked yet.
    Read-only. A compiled class rather than a NamedTuple, whose constructor is
    interpreted Python: every token verified builds one."""

    __slots__ = ("header", "payload", "signature", "signing_input")

    def __init__(
        self,
        header: dict[str, Any],
        payload: dict[str, Any],
        signing_input: bytes,
        signature: bytes,
    ) -> None:
        self.header: Final = header
        self.payload: Final = payload
        self.signing_input: Final = signing_input
        self.signature: Final = signature

    @property
    def kid(self) -> str | None:
        kid = self.header.get("kid")
        return kid if isinstance(kid, str) else None


@functools.lru_cache(maxsize=256)
def _encoded_header(items: tuple[tuple[str, Any], ...], alg: Alg, kid: str | None) -> bytes:
    full = {"alg": alg.value, **dict(items)}
    if kid is not None:
        full["kid"] = kid
    return b64e_ascii(dumps(full)) + b"."


def sign_compact(
    header: Mapping[str, Any], payload: Mapping[str, Any], signer: Signer, *, kid: bool = True
) -> str:
    return sign_compact_json(header, dumps(payload), signer, kid=kid)


def sign_compact_json(
    header: Mapping[str, Any], payload_json: bytes, signer: Signer, *, kid: bool = True
) -> str:
    """``sign_compact`` for a payload the caller has already encoded as compact JSON."""
    # Keyed on the Alg member itself: a StrEnum hashes as its string (``.value`` is slow).
    head = _encoded_header(tuple(header.items()), signer.alg, signer.kid if kid else None)
    # Built as ASCII bytes, decoded once at the end: the payload is over a kilobyte.
    signing_input = head + b64e_ascii(payload_json)
    return (signing_input + b"." + b64e_ascii(signer.sign(signing_input))).decode("ascii")


@functools.lru_cache(maxsize=1024)
def _header(h64: str, typ: str, allowed_header: frozenset[str]) -> dict[str, Any]:
    """Decode and check a header (items 4-7, 11) for one token kind.

    Headers repeat for every token a key signs, so the result is cached, keyed on exactly
    what it is computed from: the header text and the kind's typ and allow-list. Refusals
    are not cached (lru_cache does not store exceptions): a bad header is re-checked and
    refused every time. Callers must not mutate the dict.
    """
    header = loads_object(b64d(h64))
    if not header.keys() <= allowed_header:
        # Only names from the JOSE registry are echoed: any other name is token text
        # (an error response must not reflect what an attacker wrote).
        extra = header.keys() - allowed_header
        raise ElicenseError(
            "token.bad_header",
            details={
                "members": sorted(extra & _REGISTERED_HEADER_NAMES),
                "unregistered": len(extra - _REGISTERED_HEADER_NAMES),
            },
        )
    alg = header.get("alg")
    if not isinstance(alg, str) or alg not in _KNOWN_ALGS:
        raise ElicenseError("token.bad_alg")
    if header.get("typ") != typ:
        raise ElicenseError("token.bad_typ")
    if "kid" in allowed_header:
        kid = header.get("kid")
        if not isinstance(kid, str) or not KID_PATTERN.fullmatch(kid):
            raise ElicenseError("token.bad_kid")
    return header


def parse_compact(
    token: str,
    *,
    typ: str,
    allowed_header: frozenset[str] = HEADER_WITH_KID,
    max_length: int = 16_384,
) -> ParsedJws:
    if len(token) > max_length:
        raise ElicenseError("token.too_large")
    # Located with find (memchr) rather than split: a license JWT is over a kilobyte.
    i = token.find(".")
    j = token.find(".", i + 1) if i >= 0 else -1
    if j < 0 or token.find(".", j + 1) >= 0:
        raise ElicenseError("token.bad_serialization", details={"segments": token.count(".") + 1})
    h64, p64, s64 = token[:i], token[i + 1 : j], token[j + 1 :]
    header = _header(h64, typ, allowed_header)
    payload = loads_object(b64d(p64))
    signature = b64d(s64)
    # All three segments decoded, so the token is ASCII.
    return ParsedJws(header, payload, token[: len(h64) + 1 + len(p64)].encode("ascii"), signature)


def verify_with(parsed: ParsedJws, key: PublicKey, code: str = "token.bad_signature") -> None:
    """The header's ``alg`` must be the key's pinned algorithm, then the signature must hold."""
    _check_alg(parsed, key)
    if not key.verify(parsed.signature, parsed.signing_input):
        raise ElicenseError(code)


def _check_alg(parsed: ParsedJws, key: PublicKey) -> None:
    if parsed.header["alg"] != key.alg:  # a StrEnum: compares as its string value
        raise ElicenseError("token.bad_alg")
    if len(parsed.signature) != 64:
        raise ElicenseError("token.bad_signature_encoding")


def verify_with_sha256(
    parsed: ParsedJws, key: PublicKey, code: str = "token.bad_signature"
) -> hashlib._Hash:
    """``verify_with``, returning a SHA-256 over the signing input for the caller to
    continue: an SD-JWT's ``sd_hash`` covers the issuer JWT's signing input first, and
    ES256 signs its SHA-256, so a verifier that checks key binding hashes it only once."""
    _check_alg(parsed, key)
    state = hashlib.sha256(parsed.signing_input)
    ok = key.verify_sha256_digest(parsed.signature, state.digest())
    if ok is None:
        ok = key.verify(parsed.signature, parsed.signing_input)
    if not ok:
        raise ElicenseError(code)
    return state
