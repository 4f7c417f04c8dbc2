"""QR images of codes and presentations: PNG, SVG and terminal (Unicode half blocks).

Error correction M by default (a phone screen photographed by a scanner loses a little,
rarely a quarter), the smallest version that fits, and the text split into segments so
that the prefix goes in byte mode and the digits in numeric mode.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from typing import Literal

import qrcode
import qrcode.constants
import qrcode.image.svg

ECC = {
    "L": qrcode.constants.ERROR_CORRECT_L,
    "M": qrcode.constants.ERROR_CORRECT_M,
    "Q": qrcode.constants.ERROR_CORRECT_Q,
    "H": qrcode.constants.ERROR_CORRECT_H,
}
Ecc = Literal["L", "M", "Q", "H"]


@dataclass(frozen=True, slots=True)
class QrInfo:
    version: int
    modules: int
    """Modules per side, without the quiet zone."""
    ecc: str


def build(text: str, ecc: Ecc = "M", *, box_size: int = 8, border: int = 4) -> qrcode.QRCode:  # type: ignore[type-arg]
    qr = qrcode.QRCode(error_correction=ECC[ecc], box_size=box_size, border=border)
    qr.add_data(text, optimize=4)
    qr.make(fit=True)
    return qr


def info(text: str, ecc: Ecc = "M") -> QrInfo:
    qr = build(text, ecc)
    return QrInfo(qr.version, 17 + 4 * qr.version, ecc)


def png(text: str, ecc: Ecc = "M", *, box_size: int = 8) -> bytes:
    img = build(text, ecc, box_size=box_size).make_image(fill_color="black", back_color="white")
    buf = io.BytesIO()
    img.save(buf, format="PNG")
    return buf.getvalue()


def svg(text: str, ecc: Ecc = "M") -> bytes:
    img = build(text, ecc).make_image(image_factory=qrcode.image.svg.SvgPathImage)
    buf = io.BytesIO()
    img.save(buf)
    return buf.getvalue()


def terminal(text: str, ecc: Ecc = "M") -> str:
    """Two module rows per character line with ▀ ▄ █: dark modules print dark on a light
    terminal; pass the output through as is (the quiet zone is included)."""
    qr = build(text, ecc, border=2)
    matrix = qr.get_matrix()
    lines = []
    for y in range(0, len(matrix), 2):
        top = matrix[y]
        bottom = matrix[y + 1] if y + 1 < len(matrix) else [False] * len(top)
        chars = []
        for t, b in zip(top, bottom, strict=True):
            # Light modules are drawn (blocks), dark ones left blank: scanners read the
            # result from a dark terminal background, the common case for a shell.
            chars.append({(False, False): "█", (True, False): "▄", (False, True): "▀",
                          (True, True): " "}[(t, b)])  # fmt: skip
        lines.append("".join(chars))
    return "\n".join(lines) + "\n"
