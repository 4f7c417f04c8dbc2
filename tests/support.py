"""Test support: a real demo region (anchor, platform, issuers, keys, signed trust list).

Everything is generated and signed for real; nothing here is a stub. Times are fixed so
tests never read the clock.
"""

from __future__ import annotations

import datetime as dt
import os
from dataclasses import dataclass, field

from elicense import builtin_catalog
from elicense.catalog import HolderKind, LicenseType
from elicense.jose.keyfile import generate_signer
from elicense.jose.keys import Alg, Signer
from elicense.licenses import IssuedLicense, StatusRef, issue_license
from elicense.trust import IssuerEntry, KeyState, TrustedKey, TrustList, TrustStore, make_issuer

#: 2026-11-22 10:00:00 China time, as epoch seconds.
NOW = int(dt.datetime(2026, 11, 22, 10, 0, tzinfo=dt.timezone(dt.timedelta(hours=8))).timestamp())
DAY = 86400
YEAR = 365 * DAY


def rand(n: int) -> bytes:
    return os.urandom(n)


def resident_type() -> LicenseType:
    return next(t for t in builtin_catalog() if t.name_zh == "居民身份证")


def business_type() -> LicenseType:
    return next(t for t in builtin_catalog() if t.name_zh == "营业执照")


ID_CARD_FIELDS = {
    "name": "张三丰",
    "sex": "男",
    "ethnicity": "汉",
    "birth_date": "1991-01-01",
    "address": "山东省淄博市张店区华光路100号",
    "id_number": "360426199101010071",
    "issuing_authority": "淄博市公安局张店分局",
    "valid_from": "2020-01-01",
    "valid_until": "2040-01-01",
}
HOLDER = "360426199101010071"


@dataclass
class Region:
    """One region's platform: its anchor, platform key, issuers and a signed trust list."""

    code: str
    name: str
    anchor: Signer = field(default_factory=lambda: generate_signer(Alg.ES256))
    platform_signer: Signer = field(default_factory=lambda: generate_signer(Alg.ES256))
    signers: dict[str, Signer] = field(default_factory=dict)
    issuers: dict[str, IssuerEntry] = field(default_factory=dict)
    version: int = 1

    def platform_id(self) -> str:
        from elicense.identifiers import uscc_check_char

        body = f"11{self.code}MB0000001"[:17]
        return body + uscc_check_char(body)

    def add_issuer(
        self,
        uscc: str,
        name: str,
        types: list[str],
        alg: Alg = Alg.ES256,
        *,
        state: KeyState = KeyState.ACTIVE,
        retired_at: int | None = None,
        not_after: int | None = None,
        division: str | None = None,
    ) -> Signer:
        signer = generate_signer(alg)
        self.signers[uscc] = signer
        key = TrustedKey(signer.public_key(), NOW - YEAR, not_after, state, retired_at)
        self.issuers[uscc] = make_issuer(uscc, name, division or self.code, types, [key])
        return signer

    def trust_list(
        self, *, issued_at: int = NOW - DAY, next_update: int = NOW + 7 * DAY
    ) -> TrustList:
        platform_key = TrustedKey(self.platform_signer.public_key(), NOW - YEAR, None)
        return TrustList(
            region=self.code,
            region_name=self.name,
            version=self.version,
            issued_at=issued_at,
            next_update=next_update,
            platform=make_issuer(
                self.platform_id(), f"{self.name}电子证照平台", self.code, [], [platform_key]
            ),
            issuers=dict(self.issuers),
        )

    def signed_trust_list(self, **kwargs: int) -> str:
        return self.trust_list(**kwargs).sign(self.anchor)

    def store(self, *others: Region, grace: int = DAY) -> TrustStore:
        regions = (self, *others)
        store = TrustStore({r.code: [r.anchor.public_key()] for r in regions}, grace=grace)
        for r in regions:
            store.load(r.signed_trust_list(), NOW)
        return store

    def store_at(self, now: int, *others: Region) -> TrustStore:
        """A store whose lists are fresh at ``now`` (for code that reads the real clock)."""
        regions = (self, *others)
        store = TrustStore({r.code: [r.anchor.public_key()] for r in regions})
        for r in regions:
            store.load(r.signed_trust_list(issued_at=now - DAY, next_update=now + 7 * DAY), now)
        return store

    def issue_id_card(self, uscc: str, **overrides: object) -> IssuedLicense:
        t = resident_type()
        kwargs: dict[str, object] = {
            "license_type": t,
            "issuer": self.issuers[uscc],
            "signer": self.signers[uscc],
            "holder": HOLDER,
            "fields": ID_CARD_FIELDS,
            "serial": "2026000001",
            "valid_from": dt.date(2020, 1, 1),
            "valid_until": dt.date(2040, 1, 1),
            "now": NOW,
            "rand": rand,
            "status": StatusRef(f"https://{self.code}.example/status/1", 7),
        }
        kwargs.update(overrides)
        return issue_license(**kwargs)  # type: ignore[arg-type]


ZIBO_POLICE = "11370300004400001U"


def zibo() -> Region:
    """淄博 with its public-security bureau allowed to issue ID cards."""
    from elicense.identifiers import uscc_check_char

    uscc = "11370300MB00123" + "45"
    uscc = uscc[:17] + uscc_check_char(uscc[:17])
    r = Region("370300", "淄博市")
    r.add_issuer(uscc, "淄博市公安局", [resident_type().code])
    return r


def police_of(region: Region) -> str:
    return next(iter(region.issuers))


__all__ = [
    "DAY",
    "HOLDER",
    "ID_CARD_FIELDS",
    "NOW",
    "YEAR",
    "HolderKind",
    "Region",
    "police_of",
    "zibo",
]
