"""elicense: e-license verification for no-certificate cities (无证明城市).

This module is the curated public API; ``tests/test_public_api.py`` pins it, so adding a
name is a deliberate act and removing one is a breaking change.
"""

from elicense.catalog import (
    Catalog,
    Display,
    FaceField,
    HolderKind,
    IdentifierScheme,
    LicenseType,
    Sensitivity,
    ValueType,
    builtin_catalog,
    load_catalog,
    parse_catalog_text,
)
from elicense.errors import ERROR_CODES, ElicenseError, ErrorSpec
from elicense.identifiers import (
    CreditCode,
    HolderCodeType,
    IdentifierKind,
    IdentifierVerdict,
    LicenseIdentifier,
    ResidentId,
    Sex,
    build_license_id,
    check_identifier,
    convert_legacy_resident_id,
    parse_license_id,
    parse_resident_id,
    parse_uscc,
)
from elicense.masking import MaskRule, mask

__version__ = "0.1.0"

__all__ = [
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
]
