"""Strict base64url (RFC 7515 §2): no padding, URL alphabet only, canonical trailing bits.

Lenient decoders accept several spellings of the same bytes; a verifier that accepts them
lets an attacker make "different" tokens with one signature (checklist items 3 and 15).
"""

from __future__ import annotations

import binascii

from elicense.errors import ElicenseError

_TO_URL = bytes.maketrans(b"+/", b"-_")
_TO_STD = bytes.maketrans(b"-_", b"+/")
_PAD = {0: b"", 2: b"==", 3: b"="}
# Low bits of the last character that must be zero for a canonical encoding, by length % 4.
_TRAILING_MASK = {2: 0x0F, 3: 0x03}
_VALUE = {
    c: i for i, c in enumerate("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")
}


def b64e(data: bytes) -> str:
    return binascii.b2a_base64(data, newline=False).translate(_TO_URL).rstrip(b"=").decode("ascii")


def b64d(text: str, code: str = "token.bad_base64") -> bytes:
    """Decode, refusing padding, foreign characters and non-canonical trailing bits."""
    # After translation '+' and '/' would decode silently: refuse them (and '=') first;
    # strict_mode then refuses every other character outside the alphabet.
    rem = len(text) & 3
    if rem == 1 or "+" in text or "/" in text or "=" in text or not text.isascii():
        raise ElicenseError(code)
    try:
        data = binascii.a2b_base64(text.encode("ascii").translate(_TO_STD) + _PAD[rem],
                                   strict_mode=True)  # fmt: skip
    except binascii.Error:
        raise ElicenseError(code) from None
    if rem and _VALUE[text[-1]] & _TRAILING_MASK[rem]:
        raise ElicenseError(code)
    return data
