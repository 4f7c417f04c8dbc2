"""Demo data for ``make run``: a region, issuers, residents, enterprises, licenses
(valid, expired, revoked), relying parties and their keys. All generated, never real
people; seeded so that a demo looks the same every time it is created.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import random
from dataclasses import dataclass, field
from pathlib import Path

from elicense.catalog import builtin_catalog
from elicense.claims import local_date
from elicense.credentials import new_api_key
from elicense.home import IssuerSpec
from elicense.identifiers import uscc_check_char
from elicense.platform import Platform
from elicense.records import RelyingPartyRecord
from elicense.sessions import holder_session
from elicense.statuslist import Action
from elicense.synthetic import credit_code, face_values, person_name, resident_id

REGION, REGION_NAME = "370300", "淄博市"


def _uscc(body: str) -> str:
    return body + uscc_check_char(body)


POLICE = _uscc("11370300MB0012345")
MARKET = _uscc("11370300MB0023456")
LAND = _uscc("11370300MB0034567")
DISABLED = _uscc("11370300MB0045678")

TYPES = {t.name_zh: t.code for t in builtin_catalog()}


def demo_issuers() -> list[IssuerSpec]:
    return [
        IssuerSpec(
            POLICE,
            "淄博市公安局",
            (TYPES["居民身份证"], TYPES["户口簿"], TYPES["居住证"], TYPES["机动车驾驶证"]),
        ),
        IssuerSpec(MARKET, "淄博市市场监督管理局", (TYPES["营业执照"], TYPES["食品经营许可证"])),
        IssuerSpec(LAND, "淄博市自然资源和规划局", (TYPES["不动产权证书"],)),
        IssuerSpec(DISABLED, "淄博市残疾人联合会", (TYPES["残疾人证"],)),
    ]


RELYING_PARTIES = [
    ("hotel-qidu", "91370303MA3C00001X", "齐都大酒店", "hotel", ("hotel_checkin",)),
    ("power-zibo", "91370300MA3C00002W", "国网淄博供电公司", "utility", ("power_account_opening",)),
    (
        "hall-zhangdian",
        "11370303MB1234567X",
        "张店区政务服务中心",
        "government_hall",
        (
            "newborn_birth_one_thing",
            "social_security_card_application",
            "real_estate_registration",
            "senior_preferential_card",
        ),
    ),
]


@dataclass
class DemoResult:
    rp_keys: dict[str, str] = field(default_factory=dict)
    residents: list[str] = field(default_factory=list)
    """Pseudonyms of demo residents; the first holds valid ID card and property."""
    holder_session: str = ""
    licenses: dict[str, str] = field(default_factory=dict)


def populate(platform: Platform, *, now: int, seed: int = 2026) -> DemoResult:
    rng = random.Random(seed)  # noqa: S311 - synthetic demo data, nothing secret
    today = local_date(now)
    out = DemoResult()
    cat = platform.catalog
    for rp_id, uscc, name, kind, scenarios in RELYING_PARTIES:
        fixed = _uscc(uscc[:17])
        platform.register_rp(RelyingPartyRecord(rp_id, fixed, name, kind, scenarios, now))
        key = new_api_key(rp_id, "rp", now=now, rand=os.urandom)
        platform.storage.credentials.put(key.record)
        out.rp_keys[rp_id] = key.token
    for spec in demo_issuers():
        key = new_api_key(spec.id, "issuer", now=now, rand=os.urandom)
        platform.storage.credentials.put(key.record)
        out.rp_keys[f"issuer:{spec.name}"] = key.token
    serial = 2026_000_001
    for i in range(6):
        female = i % 2 == 1
        holder = resident_id(rng, female=female, region="370303")
        name = person_name(rng)
        id_type = cat.get(TYPES["居民身份证"])
        values = face_values(id_type, rng, holder=holder, today=today, holder_name=name)
        until = today + dt.timedelta(days=3650) if i != 4 else today - dt.timedelta(days=30)
        values["valid_until"] = until.isoformat()
        rec = platform.issue(
            issuer_id=POLICE,
            license_type=id_type,
            holder=holder,
            fields=values,
            serial=str(serial),
            valid_from=today - dt.timedelta(days=3000),
            valid_until=until,
            now=now,
            rand=os.urandom,
        )
        serial += 1
        out.residents.append(rec.holder_pseudonym)
        out.licenses[f"居民身份证 #{i}"] = rec.license_id
        if i in (0, 1, 3):
            prop = cat.get(TYPES["不动产权证书"])
            pv = face_values(prop, rng, holder=holder, today=today, holder_name=name)
            prec = platform.issue(
                issuer_id=LAND,
                license_type=prop,
                holder=holder,
                fields=pv,
                serial=str(serial),
                valid_from=today - dt.timedelta(days=900),
                valid_until=None,
                now=now,
                rand=os.urandom,
            )
            serial += 1
            out.licenses[f"不动产权证书 #{i}"] = prec.license_id
        if i == 5:
            platform.change_status(
                rec.license_id, Action.REVOKE, reason="演示：证件挂失后注销", actor=POLICE, now=now
            )
    for _ in range(3):
        company_code = credit_code(rng)
        bl = cat.get(TYPES["营业执照"])
        bv = face_values(bl, rng, holder=company_code, today=today)
        rec = platform.issue(
            issuer_id=MARKET,
            license_type=bl,
            holder=company_code,
            fields=bv,
            serial=str(serial),
            valid_from=today - dt.timedelta(days=700),
            valid_until=None,
            now=now,
            rand=os.urandom,
        )
        serial += 1
        out.licenses[f"营业执照 {bv['name']}"] = rec.license_id
    out.holder_session = holder_session(
        platform.signer,
        platform=platform.platform_id,
        pseudonym=out.residents[0],
        now=now,
        lifetime=12 * 3600,
    )
    return out


def write_keys(path: Path, result: DemoResult) -> None:
    lines = ["# 演示用单位密钥（仅用于本机演示）", ""]
    lines += [f"{who}: {token}" for who, token in result.rp_keys.items()]
    lines += ["", f"holder session (resident #0): {result.holder_session}"]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    path.chmod(0o600)
    # Pseudonyms only (no personal data): which demo holder to show a code for.
    (path.parent / "demo.json").write_text(
        json.dumps(
            {"residents": result.residents, "licenses": result.licenses},
            ensure_ascii=False,
            indent=2,
        ),
        encoding="utf-8",
    )
