"""Signed e-licenses (电子证照) as SD-JWT VCs: issuing and strict verification.

A license is an SD-JWT VC (``typ`` ``dc+sd-jwt``) whose ``vct`` is the catalog type code
and whose ``iss`` is the issuer's credit code. Validity (``iat``/``nbf``/``exp``), the
license identifier, the holder code type, the ``status`` reference and the holder key
``cnf`` are plain signed claims; the holder code and every face field are selectively
disclosable. ``verify_license`` enforces checklist items 1-21 and returns exactly what was
disclosed; every rejection is an ``ElicenseError`` with its own code.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final, Protocol

from elicense.catalog import IdentifierScheme, LicenseType
from elicense.claims import TimeCodes, check_times, day_start, int_claim, local_date
from elicense.errors import ElicenseError
from elicense.faces import FaceValue, validate_face_values, validate_holder
from elicense.identifiers import ROOT_OID, HolderCodeType
from elicense.identifiers.license_id import compose_license_id
from elicense.jose.jws import parse_compact, verify_with, verify_with_sha256
from elicense.jose.keys import PublicKey, Signer
from elicense.jose.sjson import dumps, dumps_simple
from elicense.replay import ReplayStore
from elicense.sdjwt import (
    Rand,
    holder_key,
    issue_encoded,
    resolve_ordered,
    split,
    verify_key_binding,
)
from elicense.trust import IssuerEntry, KeyState, TrustStore

LICENSE_TYP: Final = "dc+sd-jwt"
HOLDER_CLAIM: Final = "holder_id"
#: Claims that control validity or identity: always plain, never disclosures (item 18).
PROTECTED_CLAIMS: Final = frozenset(
    {"iss", "iat", "nbf", "exp", "vct", "status", "cnf", "license_id", "holder_type", "sub",
     "aud", "jti"}
)  # fmt: skip
_HOLDER_SCHEMES: Final = {
    HolderCodeType.RESIDENT_ID.value: IdentifierScheme.RESIDENT_ID,
    HolderCodeType.USCC.value: IdentifierScheme.USCC,
}
_LICENSE_TIMES: Final = TimeCodes(expired="license.expired", not_yet_valid="license.not_yet_valid")


class StatusRef:
    """A license's entry in a status list (Token Status List ``status_list`` claim).

    A value object written as a plain class with ``Final`` attributes (see
    ``VerifiedLicense``): compiled, it is built several times faster than a frozen
    dataclass, whose ``__init__`` stays interpreted; one is built for every license issued
    or verified."""

    __slots__ = ("idx", "uri")

    def __init__(self, uri: str, idx: int) -> None:
        self.uri: Final = uri
        self.idx: Final = idx

    def claim(self) -> dict[str, Any]:
        return {"status_list": {"idx": self.idx, "uri": self.uri}}

    def __eq__(self, other: object) -> bool:
        return isinstance(other, StatusRef) and (self.uri, self.idx) == (other.uri, other.idx)

    def __hash__(self) -> int:
        return hash((self.uri, self.idx))

    def __repr__(self) -> str:
        return f"StatusRef(uri={self.uri!r}, idx={self.idx!r})"

    def __reduce__(self) -> tuple[Any, ...]:
        # A compiled class with __init__ arguments: pickle and copy rebuild it from them.
        return (StatusRef, (self.uri, self.idx))


class IssuedLicense:
    """A freshly signed license and what its issuer stores beside it; read-only (a plain
    class for the same reason as ``StatusRef``)."""

    __slots__ = (
        "disclosures",
        "fields",
        "holder_code",
        "holder_type",
        "license_id",
        "sd_jwt",
        "type_code",
    )  # fmt: skip

    def __init__(
        self,
        sd_jwt: str,
        license_id: str,
        type_code: str,
        holder_type: str,
        holder_code: str,
        fields: Mapping[str, FaceValue],
        disclosures: Mapping[str, str],
    ) -> None:
        self.sd_jwt: Final = sd_jwt
        self.license_id: Final = license_id
        self.type_code: Final = type_code
        self.holder_type: Final = holder_type
        self.holder_code: Final = holder_code
        """The holder's identifier as signed (canonical: upper-case check character)."""
        self.fields: Final = fields
        self.disclosures: Final = disclosures

    def __repr__(self) -> str:
        return f"IssuedLicense(license_id={self.license_id!r}, type_code={self.type_code!r})"

    def __reduce__(self) -> tuple[Any, ...]:
        return (
            IssuedLicense,
            (
                self.sd_jwt, self.license_id, self.type_code, self.holder_type,
                self.holder_code, self.fields, self.disclosures,
            ),
        )  # fmt: skip


def issue_license(
    *,
    license_type: LicenseType,
    issuer: IssuerEntry,
    signer: Signer,
    holder: str,
    fields: Mapping[str, Any],
    serial: str,
    valid_from: dt.date,
    valid_until: dt.date | None,
    now: int,
    rand: Rand,
    version: int = 1,
    status: StatusRef | None = None,
    holder_jwk: PublicKey | None = None,
    decoys: int = 0,
) -> IssuedLicense:
    """Validate against the catalog and the trust list, build the identifier, sign.

    ``issuer`` is the issuer's own entry in its region's trust list: an issuer may only
    sign the types that list allows it, with a key it lists as active.
    """
    if not issuer.allows(license_type.code):
        raise ElicenseError("trust.type_not_allowed")
    key = issuer.key(signer.kid)
    if key.key.alg is not signer.alg:
        raise ElicenseError("token.bad_alg")
    if key.state is not KeyState.ACTIVE:
        raise ElicenseError(
            "trust.key_compromised" if key.state is KeyState.COMPROMISED else "trust.key_retired"
        )
    key.check_signed_at(now)
    today = local_date(now)
    holder_type, holder_code = validate_holder(license_type, holder, today=today)
    # The holder code usually reappears as a face field (id_number): validated once.
    scheme = _HOLDER_SCHEMES[holder_type]
    values = validate_face_values(
        license_type, fields, today=today, known={(scheme, holder.strip()): holder_code}
    )
    if valid_until is not None and valid_until < valid_from:
        raise ElicenseError("license.bad_validity")
    lid = compose_license_id(license_type.code, issuer.id, serial, version)
    exp = day_start(valid_until + dt.timedelta(days=1)) if valid_until is not None else None
    plain_json = _plain_claims_json(
        issuer.id, now, day_start(valid_from), license_type.code, lid, holder_type, exp,
        status, holder_jwk.to_jwk() if holder_jwk is not None else None,
    )  # fmt: skip
    issued = issue_encoded(
        header={"typ": LICENSE_TYP},
        plain_json=plain_json,
        disclosable={HOLDER_CLAIM: holder_code, **values},
        signer=signer,
        rand=rand,
        decoys=decoys,
    )
    return IssuedLicense(
        issued.combined,
        lid,
        license_type.code,
        holder_type,
        holder_code,
        values,
        issued.disclosures,
    )


def _plain_claims_json(
    iss: str,
    iat: int,
    nbf: int,
    vct: str,
    license_id: str,
    holder_type: str,
    exp: int | None,
    status: StatusRef | None,
    jwk: dict[str, str] | None,
) -> bytes:
    """The plain claims, as ``dumps`` encodes them: through the fast encoder when every
    value has its usual exact type (all ``dumps_simple`` accepts), else ``dumps``."""
    plain: dict[str, Any] = {
        "iss": iss,
        "iat": iat,
        "nbf": nbf,
        "vct": vct,
        "license_id": license_id,
        "holder_type": holder_type,
    }
    if exp is not None:
        plain["exp"] = exp
    if status is not None:
        plain["status"] = status.claim()
    if jwk is not None:
        plain["cnf"] = {"jwk": jwk}
    simple = (
        type(iss) is str
        and type(vct) is str
        and type(license_id) is str
        and type(holder_type) is str
        and type(iat) is int
        and type(nbf) is int
        and (exp is None or type(exp) is int)
        and (status is None or (type(status.uri) is str and type(status.idx) is int))
        and (jwk is None or all(type(k) is str and type(v) is str for k, v in jwk.items()))
    )
    return dumps_simple(plain) if simple else dumps(plain)


class StatusCheck(Protocol):
    """Where a verifier learns a license's current status: ``statuslist.StatusCache``
    (lists fetched from allow-listed locations, checked, cached by ``ttl``), or a
    platform's own store. Raises ``ElicenseError`` (``status.revoked``, ``status.expired``,
    ...) unless the entry is valid."""

    def check(self, uri: str, idx: int, license_issuer: str, now: int) -> None: ...


@dataclass(frozen=True, slots=True)
class VerifierPolicy:
    """What this verifier requires; never inferred from the token."""

    audience: str | None = None
    """This verifier's identifier, for key binding (``aud``)."""
    require_key_binding: bool = False
    nonce: str | None = None
    """The nonce this verifier issued for this presentation."""
    leeway: int = 30
    kb_max_age: int = 300
    max_length: int = 64 * 1024
    max_disclosures: int = 128


_VERIFIED_FIELDS: Final = (
    "type_code", "issuer", "issuer_name", "region", "license_id", "holder_type", "holder_id",
    "issued_at", "valid_from", "valid_until", "fields", "status", "key_bound", "kid",
    "disclosed",
)  # fmt: skip


class VerifiedLicense:
    """What a verified license says, exactly as disclosed; read-only.

    A plain class with ``Final`` attributes rather than a frozen dataclass: compiled (see
    ``elicense.native``) its construction is ~15x cheaper, and the attributes are
    read-only at runtime (``Final`` in a compiled class), as mypy makes them everywhere.
    """

    __slots__ = _VERIFIED_FIELDS

    def __init__(
        self,
        type_code: str,
        issuer: str,
        issuer_name: str,
        region: str,
        license_id: str,
        holder_type: str,
        holder_id: str | None,
        issued_at: int,
        valid_from: int | None,
        valid_until: int | None,
        fields: dict[str, Any],
        status: StatusRef | None,
        key_bound: bool,
        kid: str,
        disclosed: frozenset[str] = frozenset(),
    ) -> None:
        self.type_code: Final = type_code
        self.issuer: Final = issuer
        self.issuer_name: Final = issuer_name
        self.region: Final = region
        self.license_id: Final = license_id
        self.holder_type: Final = holder_type
        self.holder_id: Final = holder_id
        self.issued_at: Final = issued_at
        self.valid_from: Final = valid_from
        self.valid_until: Final = valid_until
        """``None``: long-term (长期有效)."""
        self.fields: Final = fields
        self.status: Final = status
        self.key_bound: Final = key_bound
        self.kid: Final = kid
        self.disclosed: Final = disclosed

    def _values(self) -> tuple[object, ...]:
        return tuple(getattr(self, name) for name in _VERIFIED_FIELDS)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, VerifiedLicense) and self._values() == other._values()

    __hash__ = None  # type: ignore[assignment]  # holds a dict, as the dataclass did

    def __repr__(self) -> str:
        inner = ", ".join(f"{name}={getattr(self, name)!r}" for name in _VERIFIED_FIELDS)
        return f"VerifiedLicense({inner})"

    def __reduce__(self) -> tuple[Any, ...]:
        return (VerifiedLicense, self._values())


def _str_claim(payload: Mapping[str, Any], name: str) -> str:
    value = payload.get(name)
    if not isinstance(value, str) or not value:
        raise ElicenseError("token.bad_claim", details={"claim": name})
    return value


def _status(payload: Mapping[str, Any]) -> StatusRef | None:
    raw = payload.get("status")
    if raw is None:
        return None
    sl = raw.get("status_list") if isinstance(raw, dict) else None
    if (
        not isinstance(sl, dict)
        or type(sl.get("idx")) is not int
        or sl["idx"] < 0
        or not isinstance(sl.get("uri"), str)
    ):
        raise ElicenseError("token.bad_claim", details={"claim": "status"})
    return StatusRef(sl["uri"], sl["idx"])


def verify_license(
    text: str,
    trust: TrustStore,
    *,
    now: int,
    policy: VerifierPolicy = VerifierPolicy(),
    replay: ReplayStore | None = None,
    status: StatusCheck | None = None,
) -> VerifiedLicense:
    """Verify a presented license (SD-JWT with optional KB-JWT) against the trust store.

    With ``status``, the license's status entry is checked last (checklist item 22: the
    license is fully checked before its status is looked up); a license without a status
    reference is then refused, since the verifier asked for a status it cannot get.
    """
    # A policy with an audience and a nonce checks any KB-JWT (see _key_binding).
    kb_checkable = policy.audience is not None and policy.nonce is not None
    parts = split(
        text, max_length=policy.max_length, max_disclosures=policy.max_disclosures,
        kb_parsed_later=kb_checkable,
    )  # fmt: skip
    parsed = parse_compact(parts.jwt, typ=LICENSE_TYP, max_length=policy.max_length)
    payload = parsed.payload
    issuer = _str_claim(payload, "iss")
    lookup = trust.issuer_key(issuer, parsed.kid or "", now)
    sd_jwt_hash = None
    if kb_checkable and parts.kb_jwt is not None:
        sd_jwt_hash = verify_with_sha256(parsed, lookup.key.key)
    else:
        verify_with(parsed, lookup.key.key)
    iat = int_claim(payload, "iat", required=True) or 0
    lookup.key.check_signed_at(iat)
    vct = _str_claim(payload, "vct")
    if not lookup.issuer.allows(vct):
        raise ElicenseError("trust.type_not_allowed")
    _, nbf, exp = check_times(
        payload, now, codes=_LICENSE_TIMES, leeway=policy.leeway, require_exp=False
    )
    license_id = _str_claim(payload, "license_id")
    if not license_id.startswith(f"{ROOT_OID}.{vct}.{issuer}."):
        raise ElicenseError("token.bad_claim", details={"claim": "license_id"})
    holder_type = _str_claim(payload, "holder_type")
    license_status = _status(payload)
    claims, disclosed = resolve_ordered(payload, parts.disclosures)
    if not PROTECTED_CLAIMS.isdisjoint(disclosed):
        raise ElicenseError("sd.protected_claim")
    if sd_jwt_hash is not None:  # it covers the signing input: the rest of the SD-JWT
        sd_jwt_hash.update(parts.sd_jwt_from(len(parsed.signing_input)).encode("ascii"))
    key_bound = _key_binding(
        parts.kb_jwt, payload, now, policy, replay,
        sd_jwt_hash.digest() if sd_jwt_hash is not None else None,
    )  # fmt: skip
    if status is not None:
        if license_status is None:
            raise ElicenseError("token.bad_claim", details={"claim": "status"})
        status.check(license_status.uri, license_status.idx, issuer, now)
    holder_id = claims.get(HOLDER_CLAIM)
    fields = {k: claims[k] for k in disclosed if k != HOLDER_CLAIM}  # in claims order
    # Positional, in the order of _VERIFIED_FIELDS.
    return VerifiedLicense(
        vct,  # type_code
        issuer,
        lookup.issuer.name,  # issuer_name
        lookup.trust_list.region,  # region
        license_id,
        holder_type,
        holder_id if isinstance(holder_id, str) else None,  # holder_id
        iat,  # issued_at
        nbf,  # valid_from
        exp,  # valid_until
        fields,
        license_status,  # status
        key_bound,
        lookup.key.key.kid,  # kid
        frozenset(disclosed),  # disclosed
    )


def _key_binding(
    kb_jwt: str | None,
    payload: Mapping[str, Any],
    now: int,
    policy: VerifierPolicy,
    replay: ReplayStore | None,
    sd_jwt_digest: bytes | None,
) -> bool:
    """Item 19: the policy decides; a KB-JWT is checked when the policy can check it.
    ``verify_license`` continued the issuer JWT's hash over the SD-JWT exactly when it
    does (``sd_jwt_digest``), so the SD-JWT text itself is never copied out."""
    if policy.require_key_binding:
        if kb_jwt is None:
            raise ElicenseError("kb.required")
        if policy.audience is None or policy.nonce is None:
            raise ValueError("a policy requiring key binding needs audience and nonce")
    if kb_jwt is None or policy.audience is None or policy.nonce is None:
        return False
    key = holder_key(payload)
    if key is None:
        raise ElicenseError("kb.no_holder_key")
    if sd_jwt_digest is None:  # pragma: no cover - verify_license always passes it here
        raise ValueError("a checked KB-JWT needs the SD-JWT's digest")
    verify_key_binding(
        kb_jwt, None, key, audience=policy.audience, nonce=policy.nonce, now=now,
        leeway=min(policy.leeway, 60), max_age=policy.kb_max_age, sd_jwt_digest=sd_jwt_digest,
    )  # fmt: skip
    if replay is not None and not replay.consume(
        "kb-nonce", f"{policy.audience}\n{policy.nonce}", expires_at=now + policy.kb_max_age,
        now=now,
    ):  # fmt: skip
        raise ElicenseError("kb.replayed")
    return True
