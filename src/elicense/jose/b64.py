"""Strict base64url (RFC 7515 §2): no padding, URL alphabet only, canonical trailing bits.

Lenient decoders accept several spellings of the same bytes; a verifier that accepts them
lets an attacker make "different" tokens with one signature (checklist items 3 and 15).
"""

from __future__ import annotations

import binascii

import pybase64

from elicense.errors import ElicenseError

_PAD = ("", "", "==", "=")
# Low bits of the last character that must be zero for a canonical encoding, by length % 4.
_TRAILING_MASK = (0, 0, 0x0F, 0x03)
_VALUE = {
    c: i for i, c in enumerate("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")
}


def b64e(data: bytes) -> str:
    return pybase64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def b64d(text: str, code: str = "token.bad_base64") -> bytes:
    """Decode, refusing padding, foreign characters and non-canonical trailing bits."""
    # pybase64 with the URL alphabet also takes '+' and '/': refuse them (and '=') first;
    # validate=True then refuses every other character outside the alphabet.
    rem = len(text) & 3
    if rem == 1 or "+" in text or "/" in text or "=" in text or not text.isascii():
        raise ElicenseError(code)
    try:
        data = pybase64.b64decode(text + _PAD[rem], altchars=b"-_", validate=True)
    except (binascii.Error, ValueError):
        raise ElicenseError(code) from None
    if rem and _VALUE[text[-1]] & _TRAILING_MASK[rem]:
        raise ElicenseError(code)
    return data
