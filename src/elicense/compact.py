"""Compact binary framing for what goes into a QR code, and its numeric transport.

A QR code stores decimal digits at 3.33 bits each (numeric mode), far denser than the
8 bits per character of byte mode, and base64 would add a third on top. Measured with the
qrcode library at ECC M: a 116-byte token is version 7 as digits but version 9 as
base64url text. So codes and presentations are compact binary structures, signed as
bytes, and travel as ``PREFIX`` + the decimal digits of the big-endian integer
``0x01 ‖ bytes`` (the leading 0x01 keeps leading zero bytes and makes the encoding
canonical: a valid text never starts with ``0``).

Readers are strict: every length is bounded, every structure must be consumed exactly,
text must be strict UTF-8, and any violation is an ``ElicenseError`` with a stable code.
"""

from __future__ import annotations

from typing import Final

from elicense.errors import ElicenseError

_ALNUM: Final = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ."
_ALNUM_VALUE: Final = {c: i for i, c in enumerate(_ALNUM)}


def to_digits(data: bytes) -> str:
    return str(int.from_bytes(b"\x01" + data, "big"))


def from_digits(text: str, code: str) -> bytes:
    # isdigit() alone would take full-width and other Unicode digits, which int() accepts.
    if not (text.isascii() and text.isdigit()) or text[0] == "0":
        raise ElicenseError(code, details={"reason": "not canonical decimal digits"})
    n = int(text)
    raw = n.to_bytes((n.bit_length() + 7) // 8, "big")
    if raw[:1] != b"\x01":
        raise ElicenseError(code, details={"reason": "bad framing"})
    return raw[1:]


def pack_alnum(text: str) -> bytes:
    """Upper-case alphanumerics and dots (license identifiers) at ~5.2 bits a character."""
    n = 1
    for c in text:
        try:
            n = n * 37 + _ALNUM_VALUE[c]
        except KeyError:
            raise ValueError("not packable") from None
    return n.to_bytes((n.bit_length() + 7) // 8, "big")


def unpack_alnum(data: bytes, code: str) -> str:
    n = int.from_bytes(data, "big")
    out: list[str] = []
    while n > 1:
        n, r = divmod(n, 37)
        out.append(_ALNUM[r])
    if n != 1:
        raise ElicenseError(code, details={"reason": "bad packed text"})
    return "".join(reversed(out))


class Writer:
    __slots__ = ("_parts",)

    def __init__(self) -> None:
        self._parts: list[bytes] = []

    def u8(self, v: int) -> Writer:
        self._parts.append(v.to_bytes(1, "big"))
        return self

    def u16(self, v: int) -> Writer:
        self._parts.append(v.to_bytes(2, "big"))
        return self

    def u24(self, v: int) -> Writer:
        self._parts.append(v.to_bytes(3, "big"))
        return self

    def u32(self, v: int) -> Writer:
        self._parts.append(v.to_bytes(4, "big"))
        return self

    def raw(self, b: bytes) -> Writer:
        self._parts.append(b)
        return self

    def blob(self, b: bytes) -> Writer:
        """Length-prefixed (u8) bytes."""
        if len(b) > 255:
            raise ValueError("blob too long")
        self._parts.append(len(b).to_bytes(1, "big") + b)
        return self

    def text(self, s: str) -> Writer:
        return self.blob(s.encode("utf-8"))

    def bytes(self) -> bytes:
        return b"".join(self._parts)


class Reader:
    """Bounds-checked reads; ``code`` is the error every malformed input raises."""

    __slots__ = ("_code", "_data", "_pos")

    def __init__(self, data: bytes, code: str) -> None:
        self._data = data
        self._pos = 0
        self._code = code

    def _take(self, n: int) -> bytes:
        end = self._pos + n
        if end > len(self._data):
            raise ElicenseError(self._code, details={"reason": "truncated"})
        out = self._data[self._pos : end]
        self._pos = end
        return out

    def u8(self) -> int:
        return self._take(1)[0]

    def u16(self) -> int:
        return int.from_bytes(self._take(2), "big")

    def u24(self) -> int:
        return int.from_bytes(self._take(3), "big")

    def u32(self) -> int:
        return int.from_bytes(self._take(4), "big")

    def raw(self, n: int) -> bytes:
        return self._take(n)

    def blob(self) -> bytes:
        return self._take(self.u8())

    def text(self) -> str:
        b = self.blob()
        try:
            return b.decode("utf-8")
        except UnicodeDecodeError:
            raise ElicenseError(self._code, details={"reason": "bad UTF-8"}) from None

    @property
    def position(self) -> int:
        return self._pos

    def end(self) -> None:
        if self._pos != len(self._data):
            raise ElicenseError(self._code, details={"reason": "trailing bytes"})
