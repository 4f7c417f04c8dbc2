"""Strict base64url (RFC 7515 §2): no padding, URL alphabet only, canonical trailing bits.

Lenient decoders accept several spellings of the same bytes; a verifier that accepts them
lets an attacker make "different" tokens with one signature (checklist items 3 and 15).
"""

from __future__ import annotations

import binascii
from typing import Final

import pybase64

from elicense.errors import ElicenseError

_PAD: Final = ("", "", "==", "=")
# Low bits of the last character that must be zero for a canonical encoding, by length % 4.
_TRAILING_MASK: Final = (0, 0, 0x0F, 0x03)
_VALUE: Final = {
    c: i for i, c in enumerate("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")
}
# pybase64 (vectorised, the URL alphabet built in) at every size, its arguments passed
# by position: parsing them as keywords cost more than decoding a signature, which is
# what once made binascii (plus a byte translation) look faster below 256 bytes.


def b64e(data: bytes) -> str:
    return b64e_ascii(data).decode("ascii")


def b64e_ascii(data: bytes) -> bytes:
    """``b64e`` as ASCII bytes, for text that is signed or hashed next (no decode and
    re-encode of a kilobyte-long payload)."""
    return pybase64.b64encode(data, b"-_").rstrip(b"=")


def b64d(text: str, code: str = "token.bad_base64") -> bytes:
    """Decode, refusing padding, foreign characters and non-canonical trailing bits."""
    # pybase64 with altchars would also take '+' and '/': refuse them (and '=') first;
    # validate=True then refuses every other character outside the alphabet.
    rem = len(text) & 3
    if rem == 1 or "+" in text or "/" in text or "=" in text or not text.isascii():
        raise ElicenseError(code)
    try:
        data = pybase64.b64decode(text + _PAD[rem], b"-_", True)  # altchars, validate
    except (binascii.Error, ValueError):
        raise ElicenseError(code) from None
    if rem and _VALUE[text[-1]] & _TRAILING_MASK[rem]:
        raise ElicenseError(code)
    return data
