"""Strict base64url (RFC 7515 §2): no padding, URL alphabet only, canonical trailing bits.

Lenient decoders accept several spellings of the same bytes; a verifier that accepts them
lets an attacker make "different" tokens with one signature (checklist items 3 and 15).
"""

from __future__ import annotations

import binascii
import re

from elicense.errors import ElicenseError

_ALPHABET = re.compile(r"[A-Za-z0-9_-]*")
_TO_STD = bytes.maketrans(b"-_", b"+/")


def b64e(data: bytes) -> str:
    return (
        binascii.b2a_base64(data, newline=False)
        .rstrip(b"=")
        .translate(bytes.maketrans(b"+/", b"-_"))
        .decode("ascii")
    )


def b64d(text: str, code: str = "token.bad_base64") -> bytes:
    """Decode, refusing padding, foreign characters and non-canonical trailing bits."""
    if not _ALPHABET.fullmatch(text) or len(text) % 4 == 1:
        raise ElicenseError(code)
    raw = text.encode("ascii").translate(_TO_STD)
    try:
        data = binascii.a2b_base64(raw + b"=" * (-len(raw) % 4), strict_mode=True)
    except binascii.Error:
        raise ElicenseError(code) from None
    rem = len(text) % 4
    if rem:
        # The unused low bits of the last character must be zero (canonical encoding).
        last = _VALUE[text[-1]]
        if last & (0x0F if rem == 2 else 0x03):
            raise ElicenseError(code)
    return data


_VALUE = {
    c: i for i, c in enumerate("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")
}
