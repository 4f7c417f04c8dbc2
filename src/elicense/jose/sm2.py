"""SM2 with SM3 (国密) signatures through gmalg, the optional ``gm`` extra.

gmalg is pure Python and slow (~10 ms sign, ~20 ms verify), so SM2 is for deployments that
must use 国密, not the default. Never ``gmssl``: its nonce is not from a CSPRNG.
Signatures are raw 64-byte r‖s; the signer id is GM/T 0009-2012's default, explicitly.
"""

from __future__ import annotations

from typing import Any

from elicense.errors import ElicenseError

SM2_USER_ID = b"1234567812345678"


def _gmalg() -> Any:
    try:
        import gmalg  # noqa: PLC0415 - optional extra, imported on first use
    except ImportError:  # pragma: no cover - depends on the installed extras
        raise ElicenseError("key.unsupported", "SM2 needs the 'gm' extra (gmalg)") from None
    return gmalg


def is_valid_point(point: bytes) -> bool:
    if len(point) != 65 or point[0] != 4:
        return False
    return bool(_gmalg().SM2().verify_pk(point))


def verify(point: bytes, signature: bytes, message: bytes) -> bool:
    gm = _gmalg()
    try:
        return bool(
            gm.SM2(uid=SM2_USER_ID, pk=point).verify(message, signature[:32], signature[32:])
        )
    except Exception:
        return False


def sign(secret: bytes, point: bytes, message: bytes, nonce: int | None = None) -> bytes:
    """Sign; ``nonce`` exists only to reproduce the GM/T 0003.5 example in tests."""
    gm = _gmalg()
    kwargs: dict[str, Any] = {"rnd_fn": (lambda _n: nonce)} if nonce is not None else {}
    r, s = gm.SM2(sk=secret, uid=SM2_USER_ID, pk=point, **kwargs).sign(message)
    return bytes(r).rjust(32, b"\0") + bytes(s).rjust(32, b"\0")


def generate() -> tuple[bytes, bytes]:
    """A fresh (secret, public point) pair from gmalg's CSPRNG (``secrets``)."""
    secret, point = _gmalg().SM2().generate_keypair()
    return bytes(secret), bytes(point)


def public_point(secret: bytes) -> bytes:
    return bytes(_gmalg().SM2().generate_pk(secret))
