"""Signing keys: one algorithm pinned per key, ``kid`` = RFC 7638 thumbprint.

Verification keys only ever come from a signed trust list (or, for key binding, from the
issuer-signed ``cnf``); nothing in a token's header can supply or choose one. Signing goes
through the small ``Signer`` protocol so that an HSM or a cloud KMS can stand in for a key
file: it only has to say its algorithm and kid, give its public key and sign bytes.
"""

from __future__ import annotations

import hashlib
import json
import re
from abc import ABC, abstractmethod
from collections.abc import Mapping
from enum import StrEnum
from typing import Any, Final, Protocol

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519
from cryptography.hazmat.primitives.asymmetric.utils import (
    Prehashed,
    decode_dss_signature,
    encode_dss_signature,
)

from elicense.errors import ElicenseError
from elicense.jose import sm2
from elicense.jose.b64 import b64d, b64e
from elicense.jose.ed25519_points import is_acceptable_ed25519_key

KID_PATTERN = re.compile(r"[A-Za-z0-9_-]{43}")


class Alg(StrEnum):
    ES256 = "ES256"
    EDDSA = "EdDSA"
    SM2SM3 = "SM2SM3"


_ECDSA_SHA256 = ec.ECDSA(hashes.SHA256())
_ECDSA_PREHASHED_SHA256 = ec.ECDSA(Prehashed(hashes.SHA256()))


def _der_prefixes() -> dict[int, tuple[bytes, bytes]]:
    """DER ``SEQUENCE { INTEGER r, INTEGER s }`` framing for 32-byte r and s whose first
    byte is non-zero, keyed by (high bit of r, high bit of s): a set high bit needs a
    leading 0x00 to keep the INTEGER positive."""
    out = {}
    for hr in (0, 1):
        for hs in (0, 1):
            lr, ls = 32 + hr, 32 + hs
            head = bytes((0x30, lr + ls + 4, 0x02, lr)) + b"\0" * hr
            out[hr * 2 + hs] = (head, bytes((0x02, ls)) + b"\0" * hs)
    return out


_DER_PREFIXES: Final = _der_prefixes()


def raw_to_der(signature: bytes) -> bytes:
    """JWS r‖s (64 bytes) → the DER form OpenSSL verifies; byte-identical to
    ``encode_dss_signature``. All but 2 in 256 signatures have no leading zero byte in
    r or s and take the table path, which avoids two big-int conversions."""
    r0, s0 = signature[0], signature[32]
    if r0 and s0:
        head, mid = _DER_PREFIXES[(r0 >> 7) * 2 + (s0 >> 7)]
        return head + signature[:32] + mid + signature[32:]
    return encode_dss_signature(
        int.from_bytes(signature[:32], "big"), int.from_bytes(signature[32:], "big")
    )


def der_to_raw(der: bytes) -> bytes:
    """OpenSSL's DER ECDSA signature → JWS r‖s (64 bytes); byte-identical to going through
    ``decode_dss_signature``. The framing ``30 L 02 lr r 02 ls s`` with short lengths (as
    P-256 always has) is sliced directly; anything else goes through the library's parser.
    """
    n = len(der)
    lr = der[3] if n > 5 else 0
    ls = der[5 + lr] if n > 6 + lr else 0
    if (
        0 < lr <= 33
        and 0 < ls <= 33
        and n == 6 + lr + ls
        and der[:3] == bytes((0x30, n - 2, 0x02))
        and der[4 + lr] == 0x02
        and (lr < 33 or der[4] == 0)
        and (ls < 33 or der[6 + lr] == 0)
    ):
        return der[4 : 4 + lr][-32:].rjust(32, b"\0") + der[6 + lr :][-32:].rjust(32, b"\0")
    r, s = decode_dss_signature(der)
    return r.to_bytes(32, "big") + s.to_bytes(32, "big")


def thumbprint(jwk: Mapping[str, Any]) -> str:
    """RFC 7638: SHA-256 over the required members, sorted, no whitespace."""
    members: tuple[str, ...]
    if jwk.get("kty") == "OKP":
        members = ("crv", "kty", "x")
    elif jwk.get("kty") == "EC":
        members = ("crv", "kty", "x", "y")
    else:
        raise ElicenseError("key.unsupported")
    canonical = json.dumps({m: jwk[m] for m in members}, separators=(",", ":"), sort_keys=True)
    return b64e(hashlib.sha256(canonical.encode("utf-8")).digest())


class PublicKey(ABC):
    """A verification key pinned to exactly one algorithm."""

    __slots__ = ("jwk", "kid")
    alg: Alg

    def __init__(self, jwk: dict[str, str]) -> None:
        self.jwk = jwk
        self.kid = thumbprint(jwk)

    @abstractmethod
    def verify(self, signature: bytes, message: bytes) -> bool:
        """True only for a valid signature in the JWS encoding of this algorithm."""

    def verify_sha256_digest(self, signature: bytes, digest: bytes) -> bool | None:
        """``verify`` given the SHA-256 digest of the message instead of the message, for
        an algorithm that signs exactly that digest (ES256): a caller that hashes the
        message anyway (an SD-JWT's ``sd_hash`` starts with the issuer JWT's signing
        input) then hashes it once. None: this algorithm signs something else (EdDSA
        hashes with SHA-512, SM2 with SM3 and the signer's Z value), call ``verify``."""
        return None

    def to_jwk(self) -> dict[str, str]:
        # _value_ (the documented attribute behind the slow ``value`` property): "ES256"
        return {**self.jwk, "kid": self.kid, "alg": self.alg._value_}

    def __eq__(self, other: object) -> bool:
        return isinstance(other, PublicKey) and (self.alg, self.kid) == (other.alg, other.kid)

    def __hash__(self) -> int:
        return hash((self.alg, self.kid))


class P256PublicKey(PublicKey):
    __slots__ = ("_key",)
    alg = Alg.ES256

    def __init__(self, key: ec.EllipticCurvePublicKey) -> None:
        nums = key.public_numbers()
        super().__init__(
            {
                "kty": "EC",
                "crv": "P-256",
                "x": b64e(nums.x.to_bytes(32, "big")),
                "y": b64e(nums.y.to_bytes(32, "big")),
            }
        )
        self._key = key

    def verify(self, signature: bytes, message: bytes) -> bool:
        # JWS ES256 signatures are exactly r‖s, 64 bytes; DER is refused (checklist 10).
        if len(signature) != 64:
            return False
        try:
            self._key.verify(raw_to_der(signature), message, _ECDSA_SHA256)
        except InvalidSignature:
            return False
        return True

    def verify_sha256_digest(self, signature: bytes, digest: bytes) -> bool | None:
        if len(signature) != 64 or len(digest) != 32:
            return False
        try:
            self._key.verify(raw_to_der(signature), digest, _ECDSA_PREHASHED_SHA256)
        except InvalidSignature:
            return False
        return True


class Ed25519PublicKey(PublicKey):
    __slots__ = ("_key",)
    alg = Alg.EDDSA

    def __init__(self, raw: bytes) -> None:
        super().__init__({"kty": "OKP", "crv": "Ed25519", "x": b64e(raw)})
        self._key = ed25519.Ed25519PublicKey.from_public_bytes(raw)

    def verify(self, signature: bytes, message: bytes) -> bool:
        if len(signature) != 64:
            return False
        try:
            self._key.verify(signature, message)
        except InvalidSignature:
            return False
        return True


class Sm2PublicKey(PublicKey):
    __slots__ = ("_point",)
    alg = Alg.SM2SM3

    def __init__(self, point: bytes) -> None:
        super().__init__(
            {"kty": "EC", "crv": "SM2", "x": b64e(point[1:33]), "y": b64e(point[33:65])}
        )
        self._point = point

    def verify(self, signature: bytes, message: bytes) -> bool:
        if len(signature) != 64:
            return False
        return sm2.verify(self._point, signature, message)


def _coord(jwk: Mapping[str, Any], name: str, size: int) -> bytes:
    value = jwk.get(name)
    if not isinstance(value, str):
        raise ElicenseError("key.bad_jwk", details={"member": name})
    raw = b64d(value, "key.bad_jwk")
    if len(raw) != size:
        raise ElicenseError("key.bad_jwk", details={"member": name, "reason": "length"})
    return raw


_PRIVATE_MEMBERS: Final = frozenset({"d", "p", "q", "dp", "dq", "qi", "oth", "k"})


def public_key_from_jwk(jwk: Mapping[str, Any], alg: str | None = None) -> PublicKey:
    """Import a public JWK, refusing private parts, wrong lengths and weak points.

    ``alg``, when given (from a trust list entry), must match the key type: a key is
    pinned to one algorithm and a mismatch is refused rather than guessed around.
    """
    if not isinstance(jwk, Mapping):
        raise ElicenseError("key.bad_jwk")
    if _PRIVATE_MEMBERS & set(jwk):
        raise ElicenseError("key.private_material")
    kty, crv = jwk.get("kty"), jwk.get("crv")
    key: PublicKey
    if kty == "EC" and crv == "P-256":
        x, y = _coord(jwk, "x", 32), _coord(jwk, "y", 32)
        try:
            pub = ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), b"\x04" + x + y)
        except ValueError:
            raise ElicenseError("key.bad_jwk", details={"reason": "not on curve"}) from None
        key = P256PublicKey(pub)
    elif kty == "OKP" and crv == "Ed25519":
        x = _coord(jwk, "x", 32)
        if not is_acceptable_ed25519_key(x):
            raise ElicenseError("key.weak")
        key = Ed25519PublicKey(x)
    elif kty == "EC" and crv == "SM2":
        point = b"\x04" + _coord(jwk, "x", 32) + _coord(jwk, "y", 32)
        if not sm2.is_valid_point(point):
            raise ElicenseError("key.bad_jwk", details={"reason": "not on curve"})
        key = Sm2PublicKey(point)
    else:
        raise ElicenseError("key.unsupported")
    if alg is not None and alg != key.alg:
        raise ElicenseError("key.alg_mismatch")
    declared_alg = jwk.get("alg")
    if declared_alg is not None and declared_alg != key.alg:
        raise ElicenseError("key.alg_mismatch")
    declared_kid = jwk.get("kid")
    if declared_kid is not None and declared_kid != key.kid:
        raise ElicenseError("key.kid_mismatch")
    return key


class Signer(Protocol):
    """Anything that signs for one key: a key file, an HSM, a cloud KMS."""

    @property
    def alg(self) -> Alg: ...

    @property
    def kid(self) -> str: ...

    def public_key(self) -> PublicKey: ...

    def sign(self, message: bytes) -> bytes:
        """The JWS signature bytes for this algorithm (raw r‖s for ES256 and SM2SM3)."""
        ...


class P256Signer:
    __slots__ = ("_key", "_public")
    alg = Alg.ES256

    def __init__(self, key: ec.EllipticCurvePrivateKey) -> None:
        if not isinstance(key.curve, ec.SECP256R1):
            raise ElicenseError("key.unsupported")
        self._key = key
        self._public = P256PublicKey(key.public_key())

    @property
    def kid(self) -> str:
        return self._public.kid

    def public_key(self) -> PublicKey:
        return self._public

    def sign(self, message: bytes) -> bytes:
        return der_to_raw(self._key.sign(message, _ECDSA_SHA256))

    @property
    def private_key(self) -> ec.EllipticCurvePrivateKey:
        return self._key


class Ed25519Signer:
    __slots__ = ("_key", "_public")
    alg = Alg.EDDSA

    def __init__(self, key: ed25519.Ed25519PrivateKey) -> None:
        self._key = key
        raw = key.public_key().public_bytes(
            serialization.Encoding.Raw, serialization.PublicFormat.Raw
        )
        self._public = Ed25519PublicKey(raw)

    @property
    def kid(self) -> str:
        return self._public.kid

    def public_key(self) -> PublicKey:
        return self._public

    def sign(self, message: bytes) -> bytes:
        return self._key.sign(message)

    @property
    def private_key(self) -> ed25519.Ed25519PrivateKey:
        return self._key


class Sm2Signer:
    __slots__ = ("_point", "_public", "_secret")
    alg = Alg.SM2SM3

    def __init__(self, secret: bytes, point: bytes | None = None) -> None:
        if len(secret) != 32:
            raise ElicenseError("key.bad_jwk", details={"reason": "length"})
        self._secret = secret
        self._point = point or sm2.public_point(secret)
        self._public = Sm2PublicKey(self._point)

    @property
    def kid(self) -> str:
        return self._public.kid

    def public_key(self) -> PublicKey:
        return self._public

    def sign(self, message: bytes) -> bytes:
        return sm2.sign(self._secret, self._point, message)

    @property
    def secret(self) -> bytes:
        return self._secret
