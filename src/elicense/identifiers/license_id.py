"""电子证照标识 (GB/T 36904-2018): build, parse and validate license identifiers.

``1.2.156.3005.2.<type code>.<issuer USCC>.<serial>.<version>.<check>``

Imported historical data sometimes carries a check character computed by a non-standard
helper that several provincial platforms copied. Such identifiers are told apart from
plain typos (``license_id.nonstandard_check`` vs ``license_id.bad_check``) so that an
importer can re-issue them with a standard identifier instead of rejecting the row. The
variants recognised are listed in ``NONSTANDARD_VARIANTS``; a platform that meets another
one adds it there rather than loosening the standard check.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Final

from elicense.errors import ElicenseError
from elicense.identifiers.uscc import parse_uscc

ROOT_OID = "1.2.156.3005.2"
_ALNUM: Final = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"
_VALUE: Final = {c: i for i, c in enumerate(_ALNUM)}
_MAX_SERIAL: Final = 64


def _mod37_36_state(payload: str, p: int = 36) -> int:
    for c in payload:
        p = (p + _VALUE[c]) % 36 or 36
        p = (p * 2) % 37
    return p


# The same recurrence as a table, _STEP[p][c] = next state (p ranges over 1..36): one
# lookup per character where identifiers are built in bulk.
_STEP: Final = [{c: (((p + v) % 36 or 36) * 2) % 37 for c, v in _VALUE.items()} for p in range(37)]
_SERIAL: Final = re.compile(r"[0-9A-Z]{1,64}")
_VERSIONS: Final = tuple(f"{v:03d}" for v in range(1000))  # formatting one is a printf


def mod37_36_check_char(payload: str) -> str:
    """ISO/IEC 7064 MOD 37,36 (hybrid system) over 0-9A-Z."""
    return _ALNUM[(37 - _mod37_36_state(payload)) % 36]


@functools.lru_cache(maxsize=4096)
def _prefix_state(prefix: str) -> int:
    """The running state after type code + issuer, constant for one issuer and type."""
    return _mod37_36_state(prefix)


def _mod37_2_check_char(payload: str) -> str:
    """ISO/IEC 7064 MOD 37-2 (pure system), a common mix-up with MOD 37,36."""
    alphabet = _ALNUM + "*"
    total = 0
    for c in payload:
        total = ((total + _VALUE[c]) * 2) % 37
    return alphabet[(38 - total) % 37]


def _with_root_digits(payload: str) -> str:
    """MOD 37,36 computed with the root OID's digits included (dots dropped)."""
    return mod37_36_check_char(ROOT_OID.replace(".", "") + payload)


#: Known non-standard check schemes found in provincial data, by name.
NONSTANDARD_VARIANTS: Mapping[str, Callable[[str], str]] = MappingProxyType(
    {"mod37-2": _mod37_2_check_char, "root-included": _with_root_digits}
)


@dataclass(frozen=True, slots=True)
class LicenseIdentifier:
    type_code: str
    issuer: str
    serial: str
    version: str
    check: str

    def __str__(self) -> str:
        return ".".join(
            (ROOT_OID, self.type_code, self.issuer, self.serial, self.version, self.check)
        )

    @property
    def payload(self) -> str:
        return self.type_code + self.issuer + self.serial + self.version


def validate_type_code(type_code: str) -> str:
    """A type code is the defining authority's credit code plus a 3-digit number."""
    if len(type_code) != 21 or not type_code[18:].isdigit() or not type_code[18:].isascii():
        raise ElicenseError("license_id.bad_type_code")
    try:
        parse_uscc(type_code[:18])
    except ElicenseError as exc:
        raise ElicenseError("license_id.bad_type_code", details={"reason": exc.code}) from None
    if type_code != type_code.upper():
        raise ElicenseError("license_id.bad_type_code")
    return type_code


def _validate_parts(type_code: str, issuer: str, serial: str, version: str) -> None:
    validate_type_code(type_code)
    try:
        parse_uscc(issuer)
    except ElicenseError as exc:
        raise ElicenseError("license_id.bad_issuer", details={"reason": exc.code}) from None
    if issuer != issuer.upper():
        raise ElicenseError("license_id.bad_issuer")
    if not (1 <= len(serial) <= _MAX_SERIAL) or any(c not in _VALUE for c in serial):
        raise ElicenseError("license_id.bad_serial")
    if len(version) != 3 or any(c not in "0123456789" for c in version):
        raise ElicenseError("license_id.bad_version")


def build_license_id(
    type_code: str, issuer: str, serial: str, version: str | int = 1
) -> LicenseIdentifier:
    """Compose an identifier with its standard check character."""
    ver = f"{version:03d}" if isinstance(version, int) else version
    _validate_parts(type_code, issuer, serial, ver)
    payload = type_code + issuer + serial + ver
    return LicenseIdentifier(type_code, issuer, serial, ver, mod37_36_check_char(payload))


def compose_license_id(type_code: str, issuer: str, serial: str, version: int) -> str:
    """Like ``build_license_id`` for a type code and issuer validated already (from a
    loaded catalog and a verified trust list): only serial and version are checked."""
    if not _SERIAL.fullmatch(serial):  # 1-64 characters of 0-9A-Z, as _validate_parts
        raise ElicenseError("license_id.bad_serial")
    if not 0 <= version <= 999:  # three digits (a negative one used to escape as KeyError)
        raise ElicenseError("license_id.bad_version")
    ver = _VERSIONS[version]
    state = _prefix_state(type_code + issuer)
    for c in serial + ver:
        state = _STEP[state][c]
    return f"{ROOT_OID}.{type_code}.{issuer}.{serial}.{ver}.{_ALNUM[(37 - state) % 36]}"


def parse_license_id(value: str) -> LicenseIdentifier:
    """Parse and validate; a wrong check character raises, distinguishing known variants."""
    raw = value.strip()
    if len(raw) > len(ROOT_OID) + 1 + 21 + 1 + 18 + 1 + _MAX_SERIAL + 1 + 3 + 2:
        raise ElicenseError("license_id.bad_format")
    if not raw.startswith(ROOT_OID + "."):
        if raw.count(".") >= 5:
            raise ElicenseError("license_id.bad_root")
        raise ElicenseError("license_id.bad_format")
    parts = raw[len(ROOT_OID) + 1 :].split(".")
    if len(parts) != 5:
        raise ElicenseError("license_id.bad_format")
    type_code, issuer, serial, version, check = parts
    _validate_parts(type_code, issuer, serial, version)
    if len(check) != 1 or (check not in _VALUE and check != "*"):
        raise ElicenseError("license_id.bad_format")
    ident = LicenseIdentifier(type_code, issuer, serial, version, check)
    expected = mod37_36_check_char(ident.payload)
    if check != expected:
        for name, variant in NONSTANDARD_VARIANTS.items():
            if variant(ident.payload) == check:
                raise ElicenseError(
                    "license_id.nonstandard_check",
                    details={
                        "variant": name,
                        "standard_identifier": str(_with_check(ident, expected)),
                    },
                )
        raise ElicenseError("license_id.bad_check")
    return ident


def _with_check(ident: LicenseIdentifier, check: str) -> LicenseIdentifier:
    return LicenseIdentifier(ident.type_code, ident.issuer, ident.serial, ident.version, check)


def is_valid_license_id(value: str) -> bool:
    try:
        parse_license_id(value)
    except ElicenseError:
        return False
    return True
