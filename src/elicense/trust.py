"""Trust lists (信任列表) and the verifier's trust store (电子证照互认).

Each region's platform publishes a trust list signed by the region's anchor key: the
issuers it vouches for, which license types each may issue, and their keys with validity
windows and states. A verifier recognises a region by configuring its anchor; the store
then holds that region's newest list and is the only place verification keys come from.

Refusals: a list older than the installed one (rollback), a list past its next update
plus a grace period (freeze: an attacker replaying an old but validly signed list), bad
keys, and an issuer outside the region that signed it (region A cannot vouch for region
B's authorities).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from types import MappingProxyType
from typing import Any, Final

from elicense.errors import ElicenseError
from elicense.identifiers import parse_uscc
from elicense.jose.b64 import b64d
from elicense.jose.jws import ParsedJws, parse_compact, sign_compact, verify_with
from elicense.jose.keys import PublicKey, Signer, public_key_from_jwk

TRUST_LIST_TYP = "trustlist+jwt"
DEFAULT_GRACE = 24 * 3600
MAX_TRUST_LIST = 4 * 1024 * 1024


class KeyState(StrEnum):
    ACTIVE = "active"
    RETIRED = "retired"
    """No longer signs; still verifies what it signed before ``retired_at``."""
    COMPROMISED = "compromised"
    """Verifies nothing: its owner can no longer vouch for any ``iat``."""


@dataclass(frozen=True, slots=True)
class TrustedKey:
    key: PublicKey
    not_before: int
    not_after: int | None
    state: KeyState = KeyState.ACTIVE
    retired_at: int | None = None

    @property
    def kid(self) -> str:
        return self.key.kid

    def check_signed_at(self, iat: int) -> None:
        """May this key have signed a token issued at ``iat``?"""
        if self.state is KeyState.COMPROMISED:
            raise ElicenseError("trust.key_compromised")
        if iat < self.not_before or (self.not_after is not None and iat > self.not_after):
            raise ElicenseError("trust.key_not_valid")
        if self.state is KeyState.RETIRED and (self.retired_at is None or iat >= self.retired_at):
            raise ElicenseError("trust.key_retired")

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "jwk": self.key.to_jwk(),
            "nbf": self.not_before,
            "state": self.state.value,
        }
        if self.not_after is not None:
            out["exp"] = self.not_after
        if self.retired_at is not None:
            out["retired_at"] = self.retired_at
        return out


@dataclass(frozen=True, slots=True)
class IssuerEntry:
    """An authority (or the platform itself) as a trust list describes it."""

    id: str
    name: str
    division: str
    types: frozenset[str]
    keys: Mapping[str, TrustedKey]

    def key(self, kid: str) -> TrustedKey:
        try:
            return self.keys[kid]
        except KeyError:
            raise ElicenseError("trust.unknown_key") from None

    def allows(self, type_code: str) -> bool:
        return type_code in self.types

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "name": self.name,
            "division": self.division,
            "types": sorted(self.types),
            "keys": [k.to_dict() for k in self.keys.values()],
        }


def make_issuer(
    id: str,
    name: str,
    division: str,
    types: Iterable[str],
    keys: Iterable[TrustedKey],
) -> IssuerEntry:
    return IssuerEntry(
        id, name, division, frozenset(types), MappingProxyType({k.kid: k for k in keys})
    )


@dataclass(frozen=True, slots=True)
class TrustList:
    region: str
    """GB/T 2260 division code of the region (e.g. ``370300``)."""
    region_name: str
    version: int
    issued_at: int
    next_update: int
    platform: IssuerEntry
    issuers: Mapping[str, IssuerEntry]
    anchor_kid: str = field(default="", compare=False)

    def payload(self) -> dict[str, Any]:
        return {
            "iss": self.region,
            "region_name": self.region_name,
            "ver": self.version,
            "iat": self.issued_at,
            "next_update": self.next_update,
            "platform": self.platform.to_dict(),
            "issuers": [i.to_dict() for i in self.issuers.values()],
        }

    def sign(self, anchor: Signer) -> str:
        return sign_compact({"typ": TRUST_LIST_TYP}, self.payload(), anchor)


def region_prefix(region: str) -> str:
    """``370300`` → ``3703``: the division codes a region covers share this prefix."""
    prefix = region
    while prefix.endswith("00") and len(prefix) > 2:
        prefix = prefix[:-2]
    return prefix


def _bad(reason: str) -> ElicenseError:
    return ElicenseError("trust.bad_list", details={"reason": reason})


def _int(obj: Mapping[str, Any], name: str, *, required: bool = True) -> int | None:
    value = obj.get(name)
    if value is None and not required:
        return None
    if type(value) is not int or value < 0:
        raise _bad(f"{name} must be a non-negative integer")
    return value


def _str(obj: Mapping[str, Any], name: str) -> str:
    value = obj.get(name)
    if not isinstance(value, str) or not value:
        raise _bad(f"{name} must be a non-empty string")
    return value


def _parse_key(raw: Any) -> TrustedKey:
    if not isinstance(raw, dict) or not isinstance(raw.get("jwk"), dict):
        raise _bad("key entries need a jwk")
    jwk = raw["jwk"]
    try:
        key = public_key_from_jwk(jwk, jwk.get("alg"))
    except ElicenseError as exc:
        raise ElicenseError("trust.bad_key", details={"reason": exc.code}) from None
    if "alg" not in jwk:
        raise ElicenseError("trust.bad_key", details={"reason": "alg must be pinned"})
    try:
        state = KeyState(raw.get("state", "active"))
    except ValueError:
        raise _bad("unknown key state") from None
    nbf = _int(raw, "nbf") or 0
    return TrustedKey(key, nbf, _int(raw, "exp", required=False), state,
                      _int(raw, "retired_at", required=False))  # fmt: skip


def _parse_issuer(raw: Any, prefix: str, *, platform: bool) -> IssuerEntry:
    if not isinstance(raw, dict):
        raise _bad("issuer entries must be objects")
    issuer_id = _str(raw, "id")
    try:
        parse_uscc(issuer_id)
    except ElicenseError:
        raise _bad("issuer id must be a valid credit code") from None
    division = _str(raw, "division")
    if not division.isdigit() or len(division) != 6:
        raise _bad("division must be a 6-digit GB/T 2260 code")
    if not division.startswith(prefix):
        raise _bad("issuer lies outside the region")
    types = raw.get("types", [])
    if not isinstance(types, list) or not all(isinstance(t, str) for t in types):
        raise _bad("types must be a list of type codes")
    if platform and types:
        raise _bad("the platform entry issues no license types")
    keys_raw = raw.get("keys")
    if not isinstance(keys_raw, list) or not keys_raw:
        raise _bad("every issuer needs at least one key")
    keys = [_parse_key(k) for k in keys_raw]
    if len({k.kid for k in keys}) != len(keys):
        raise _bad("a key is listed twice")
    return make_issuer(issuer_id, _str(raw, "name"), division, types, keys)


def trust_list_from_payload(payload: Mapping[str, Any], anchor_kid: str = "") -> TrustList:
    region = _str(payload, "iss")
    if not region.isdigit() or len(region) != 6:
        raise _bad("iss must be the region's 6-digit division code")
    prefix = region_prefix(region)
    issuers_raw = payload.get("issuers")
    if not isinstance(issuers_raw, list):
        raise _bad("issuers must be a list")
    issuers: dict[str, IssuerEntry] = {}
    for raw in issuers_raw:
        entry = _parse_issuer(raw, prefix, platform=False)
        if entry.id in issuers:
            raise _bad("an issuer is listed twice")
        issuers[entry.id] = entry
    issued_at, next_update = _int(payload, "iat") or 0, _int(payload, "next_update") or 0
    if next_update <= issued_at:
        raise _bad("next_update must lie after iat")
    return TrustList(
        region=region,
        region_name=_str(payload, "region_name"),
        version=_int(payload, "ver") or 0,
        issued_at=issued_at,
        next_update=next_update,
        platform=_parse_issuer(payload.get("platform"), prefix, platform=True),
        issuers=MappingProxyType(issuers),
        anchor_kid=anchor_kid,
    )


def parse_trust_list_token(token: str) -> ParsedJws:
    return parse_compact(token, typ=TRUST_LIST_TYP, max_length=MAX_TRUST_LIST)


def verify_trust_list(token: str, anchors: Sequence[PublicKey]) -> TrustList:
    """Signature against one of the region's anchors, then content; no freshness check."""
    parsed = parse_trust_list_token(token)
    anchor = next((a for a in anchors if a.kid == parsed.kid), None)
    if anchor is None:
        raise ElicenseError("trust.bad_signature", details={"reason": "unknown anchor kid"})
    verify_with(parsed, anchor, "trust.bad_signature")
    return trust_list_from_payload(parsed.payload, anchor.kid)


class KeyLookup:
    """What a verifier learns from the trust store about a token's signer. Read-only; a
    compiled class (a NamedTuple's constructor is interpreted Python)."""

    __slots__ = ("issuer", "key", "trust_list")

    def __init__(self, trust_list: TrustList, issuer: IssuerEntry, key: TrustedKey) -> None:
        self.trust_list: Final = trust_list
        self.issuer: Final = issuer
        self.key: Final = key


class TrustStore:
    """The regions a verifier recognises, each with its newest verified trust list."""

    def __init__(
        self, anchors: Mapping[str, Sequence[PublicKey]], *, grace: int = DEFAULT_GRACE
    ) -> None:
        self._anchors = {region: tuple(keys) for region, keys in anchors.items()}
        self._grace = grace
        self._lists: dict[str, TrustList] = {}
        self._tokens: dict[str, str] = {}
        self._issuers: dict[str, str] = {}  # issuer id → region
        self._platforms: dict[str, str] = {}  # platform id → region
        self._kids: dict[str, str] = {}  # kid → owner id (to tell "wrong issuer" apart)
        self._platform_refs: dict[str, list[tuple[bytes, TrustedKey]]] = {}

    @property
    def regions(self) -> tuple[str, ...]:
        return tuple(self._anchors)

    def recognises(self, region: str) -> bool:
        return region in self._anchors

    def trust_list(self, region: str) -> TrustList:
        try:
            return self._lists[region]
        except KeyError:
            raise ElicenseError("trust.unknown_region") from None

    def token(self, region: str) -> str:
        self.trust_list(region)
        return self._tokens[region]

    def load(self, token: str, now: int) -> TrustList:
        """Verify and install a region's list, refusing rollback, freeze and conflicts."""
        region = _peek_region(token)
        anchors = self._anchors.get(region)
        if not anchors:
            raise ElicenseError("trust.unknown_region")
        tl = verify_trust_list(token, anchors)
        if now > tl.next_update + self._grace:
            raise ElicenseError("trust.stale")
        current = self._lists.get(region)
        if current is not None:
            if tl.version < current.version:
                raise ElicenseError("trust.rollback")
            if tl.version == current.version:
                if tl.payload() != current.payload():
                    raise ElicenseError("trust.rollback", details={"reason": "same version"})
                return current
        for entry in (*tl.issuers.values(), tl.platform):
            owner = self._issuers.get(entry.id) or self._platforms.get(entry.id)
            if owner is not None and owner != region:
                raise ElicenseError("trust.conflict")
        self._install(region, tl, token)
        return tl

    def _install(self, region: str, tl: TrustList, token: str) -> None:
        for index in (self._issuers, self._platforms):
            for k in [k for k, r in index.items() if r == region]:
                del index[k]
        old = self._lists.get(region)
        if old is not None:
            for entry in (*old.issuers.values(), old.platform):
                for kid in entry.keys:
                    self._kids.pop(kid, None)
        self._lists[region] = tl
        self._tokens[region] = token
        for entry in tl.issuers.values():
            self._issuers[entry.id] = region
            for kid in entry.keys:
                self._kids[kid] = entry.id
        self._platforms[tl.platform.id] = region
        for kid in tl.platform.keys:
            self._kids[kid] = tl.platform.id
        self._platform_refs[region] = [(b64d(kid)[:4], k) for kid, k in tl.platform.keys.items()]

    def _fresh(self, region: str, now: int) -> TrustList:
        tl = self._lists[region]
        if now > tl.next_update + self._grace:
            raise ElicenseError("trust.stale")
        return tl

    def _lookup(self, owner_id: str, kid: str, now: int, *, platform: bool) -> KeyLookup:
        index = self._platforms if platform else self._issuers
        region = index.get(owner_id)
        if region is None:
            raise ElicenseError("trust.unknown_issuer")
        tl = self._fresh(region, now)
        entry = tl.platform if platform else tl.issuers[owner_id]
        key = entry.keys.get(kid)
        if key is None:
            other = self._kids.get(kid)
            raise ElicenseError("trust.wrong_issuer" if other else "trust.unknown_key")
        return KeyLookup(tl, entry, key)

    def issuer_key(self, issuer: str, kid: str, now: int) -> KeyLookup:
        """The key of ``issuer`` named ``kid``; the caller then checks alg, type and iat."""
        return self._lookup(issuer, kid, now, platform=False)

    def platform_key(self, platform: str, kid: str, now: int) -> KeyLookup:
        return self._lookup(platform, kid, now, platform=True)

    def region_of_issuer(self, issuer: str) -> str | None:
        return self._issuers.get(issuer)

    def platform_key_by_ref(self, region: str, ref: bytes, now: int) -> KeyLookup:
        """The region's platform key whose thumbprint starts with ``ref`` (compact codes
        carry 4 bytes instead of a 43-character kid); ambiguity is refused."""
        if region not in self._lists:
            raise ElicenseError("trust.unknown_region")
        tl = self._fresh(region, now)
        matches = [k for r, k in self._platform_refs[region] if r == ref]
        if not matches:
            raise ElicenseError("code.unknown_key")
        if len(matches) > 1:
            raise ElicenseError("code.ambiguous_key")
        return KeyLookup(tl, tl.platform, matches[0])


def _peek_region(token: str) -> str:
    """The region a list claims to be from, to choose its anchor (verified right after)."""
    parsed = parse_trust_list_token(token)
    region = parsed.payload.get("iss")
    if not isinstance(region, str):
        raise _bad("iss must be a string")
    return region
