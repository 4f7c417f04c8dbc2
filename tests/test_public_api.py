"""Pins the curated public API: a change here is a deliberate API decision."""

from __future__ import annotations

import elicense

EXPECTED = {
    "ERROR_CODES",
    "Catalog",
    "CreditCode",
    "Display",
    "ElicenseError",
    "ErrorSpec",
    "FaceField",
    "HolderCodeType",
    "HolderKind",
    "IdentifierKind",
    "IdentifierScheme",
    "IdentifierVerdict",
    "LicenseIdentifier",
    "LicenseType",
    "MaskRule",
    "ResidentId",
    "Sensitivity",
    "Sex",
    "ValueType",
    "__version__",
    "build_license_id",
    "builtin_catalog",
    "check_identifier",
    "convert_legacy_resident_id",
    "load_catalog",
    "mask",
    "parse_catalog_text",
    "parse_license_id",
    "parse_resident_id",
    "parse_uscc",
}


def test_public_api_is_exactly_the_curated_set() -> None:
    assert set(elicense.__all__) == EXPECTED
    for name in EXPECTED:
        assert hasattr(elicense, name), name


def test_package_is_typed() -> None:
    from importlib import resources

    assert resources.files("elicense").joinpath("py.typed").is_file()
