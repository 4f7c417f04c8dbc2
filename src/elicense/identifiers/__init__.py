"""Chinese identifiers every license carries: GB 11643, GB 32100, GB/T 36904."""

from elicense.identifiers.detect import (
    HolderCodeType,
    IdentifierKind,
    IdentifierVerdict,
    check_identifier,
    guess_kind,
    holder_code_type,
)
from elicense.identifiers.license_id import (
    ROOT_OID,
    LicenseIdentifier,
    build_license_id,
    mod37_36_check_char,
    parse_license_id,
    validate_type_code,
)
from elicense.identifiers.resident import (
    ResidentId,
    Sex,
    convert_legacy_resident_id,
    parse_resident_id,
    resident_check_char,
)
from elicense.identifiers.uscc import CreditCode, parse_uscc, uscc_check_char

__all__ = [
    "ROOT_OID",
    "CreditCode",
    "HolderCodeType",
    "IdentifierKind",
    "IdentifierVerdict",
    "LicenseIdentifier",
    "ResidentId",
    "Sex",
    "build_license_id",
    "check_identifier",
    "convert_legacy_resident_id",
    "guess_kind",
    "holder_code_type",
    "mod37_36_check_char",
    "parse_license_id",
    "parse_resident_id",
    "parse_uscc",
    "resident_check_char",
    "uscc_check_char",
    "validate_type_code",
]
