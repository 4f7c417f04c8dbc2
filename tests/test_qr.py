"""QR images read back by a real decoder (zxing-cpp) and verified, also when degraded."""

from __future__ import annotations

import io
import os
import xml.etree.ElementTree as ET

import pytest
import zxingcpp
from PIL import Image, ImageDraw, ImageFilter

from elicense import qr
from elicense.codes import Kind, issue_code, pseudonym, verify_code
from elicense.disclosure import LicenseView
from elicense.presentations import issue_presentation, verify_presentation
from elicense.replay import MemoryReplayStore
from elicense.scenarios import builtin_scenarios

from support import HOLDER, NOW, police_of, zibo

REGION = zibo()
STORE = REGION.store()
SUB = pseudonym(b"k" * 32, "111", HOLDER)
HOTEL = "91370303MA3C00001X"


def _code(kind: Kind = Kind.RESIDENT_CODE) -> str:
    return issue_code(
        kind=kind,
        signer=REGION.platform_signer,
        region=REGION.code,
        sub=SUB,
        scenarios=[1],
        now=NOW,
        rand=os.urandom,
    )


def _presentation() -> str:
    lic = REGION.issue_id_card(police_of(REGION))
    view = LicenseView(
        lic.license_id,
        lic.type_code,
        dict(lic.fields),
        True,
        "https://370300.example/status/1",
        7,
        None,
    )
    return issue_presentation(
        signer=REGION.platform_signer,
        region=REGION.code,
        sub=SUB,
        scenario=builtin_scenarios().get("hotel_checkin"),
        audience=HOTEL,
        licenses=[view],
        now=NOW,
        rand=os.urandom,
    )


def decode(img: Image.Image) -> str:
    results = zxingcpp.read_barcodes(img, formats=zxingcpp.barcode_formats_from_str("QRCode"))
    assert len(results) == 1, "decoder found no QR code"
    return str(results[0].text)


def verify_any(text: str) -> None:
    if text.startswith("LP1:"):
        verify_presentation(text, STORE, now=NOW, audience=HOTEL, replay=MemoryReplayStore())
    else:
        verify_code(text, STORE, now=NOW, replay=MemoryReplayStore())


TOKENS = {
    "resident code": _code,
    "enterprise code": lambda: _code(Kind.ENTERPRISE_CODE),
    "presentation": _presentation,
}


@pytest.mark.parametrize("name", sorted(TOKENS))
def test_png_is_read_back_by_a_real_decoder_and_verifies(name: str) -> None:
    text = TOKENS[name]()
    read = decode(Image.open(io.BytesIO(qr.png(text))))
    assert read == text
    verify_any(read)


def test_resident_code_fits_version_10_and_presentation_version_15_at_ecc_m() -> None:
    assert qr.info(_code()).version <= 10
    assert qr.info(_presentation()).version <= 15


@pytest.mark.parametrize("ecc", ["L", "M", "Q", "H"])
def test_every_error_correction_level_decodes(ecc: str) -> None:
    text = _code()
    assert decode(Image.open(io.BytesIO(qr.png(text, ecc)))) == text  # type: ignore[arg-type]


def _phone_photo(png: bytes, *, scale: float, angle: float, blur: float) -> Image.Image:
    """What a scanner sees of a phone screen: smaller, slightly turned, slightly blurred."""
    img = Image.open(io.BytesIO(png)).convert("L")
    w, h = img.size
    img = img.resize((int(w * scale), int(h * scale)), Image.Resampling.BILINEAR)
    img = img.rotate(angle, resample=Image.Resampling.BILINEAR, expand=True, fillcolor=255)
    return img.filter(ImageFilter.GaussianBlur(blur))


@pytest.mark.parametrize(
    ("scale", "angle", "blur"),
    [(0.5, 4.0, 0.8), (0.4, -6.0, 0.6), (0.35, 8.0, 0.5), (0.6, 12.0, 1.0)],
)
def test_code_still_decodes_and_verifies_after_a_phone_camera_degrades_it(
    scale: float, angle: float, blur: float
) -> None:
    text = _code()
    degraded = _phone_photo(qr.png(text), scale=scale, angle=angle, blur=blur)
    read = decode(degraded)
    assert read == text
    verify_any(read)


def _render_terminal(art: str, px: int = 6) -> Image.Image:
    """Draw the half-block text as pixels: blocks are light, blanks dark (as printed)."""
    lines = art.rstrip("\n").split("\n")
    width = max(len(line) for line in lines)
    img = Image.new("L", (width * px, len(lines) * 2 * px), 0)
    draw = ImageDraw.Draw(img)
    upper = {"█": (True, True), "▀": (True, False), "▄": (False, True), " ": (False, False)}
    for y, line in enumerate(lines):
        for x, ch in enumerate(line):
            top, bottom = upper[ch]
            if top:
                draw.rectangle([x * px, 2 * y * px, (x + 1) * px - 1, (2 * y + 1) * px - 1], 255)
            if bottom:
                draw.rectangle(
                    [x * px, (2 * y + 1) * px, (x + 1) * px - 1, (2 * y + 2) * px - 1], 255
                )
    # Add a light quiet zone around it as a terminal with a light border would show.
    framed = Image.new("L", (img.width + 8 * px, img.height + 8 * px), 255)
    framed.paste(img, (4 * px, 4 * px))
    return framed


def test_terminal_half_blocks_decode_to_the_same_code() -> None:
    text = _code()
    art = qr.terminal(text)
    assert set(art) <= {"█", "▀", "▄", " ", "\n"}
    assert decode(_render_terminal(art)) == text


def test_svg_is_well_formed_and_holds_the_module_paths() -> None:
    root = ET.fromstring(qr.svg(_code()))  # noqa: S314 - our own output
    assert root.tag.endswith("svg")
    assert any(el.tag.endswith("path") for el in root.iter())
