"""A platform's home directory: configuration, encrypted keys, anchors and trust lists.

``init_home`` sets up a new region's platform in one call (what ``elicense init`` runs):
an anchor key, a platform key, issuer keys, a signed trust list, a pseudonym secret and a
``platform.yaml`` tying them together. ``load_platform`` builds the ``Platform`` the
service and the CLI use from it. Private keys are only ever written encrypted under the
passphrase; the pseudonym secret is sealed the same way.

Layout::

    platform.yaml                region, names, database URL, status base URL, issuers
    keys/anchor.pem              the region's trust-list anchor (encrypted PKCS#8)
    keys/platform.pem            signs codes, presentations, status lists, checkpoints
    keys/<issuer USCC>.pem       one per issuer the platform signs for
    keys/pseudonym.key           the holder pseudonym secret (sealed, see keyfile)
    anchors/<region>.jwk.json    anchors of every recognised region (ours included)
    trust/<region>.jwt           their signed trust lists (ours re-signed by init)
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from elicense.catalog import Catalog, builtin_catalog, load_catalog
from elicense.errors import ElicenseError
from elicense.identifiers import parse_uscc, uscc_check_char
from elicense.jose.keyfile import (
    generate_signer,
    load_private_key,
    open_secret,
    save_private_key,
    seal_secret,
)
from elicense.jose.keys import Alg, Signer, public_key_from_jwk
from elicense.platform import Platform
from elicense.ports import Storage
from elicense.scenarios import ScenarioSet, builtin_scenarios, load_scenarios
from elicense.trust import TrustedKey, TrustList, TrustStore, make_issuer

CONFIG = "platform.yaml"
YEAR = 365 * 86400


@dataclass(frozen=True, slots=True)
class IssuerSpec:
    id: str
    name: str
    types: tuple[str, ...]
    division: str | None = None


@dataclass
class HomeConfig:
    region: str
    region_name: str
    platform_id: str
    platform_name: str
    database_url: str
    status_base_url: str
    issuers: list[dict[str, Any]] = field(default_factory=list)
    catalog: str | None = None
    scenarios: str | None = None
    trust_valid_days: int = 30
    trust_version: int = 1

    @classmethod
    def read(cls, home: Path) -> HomeConfig:
        try:
            data = yaml.safe_load((home / CONFIG).read_text(encoding="utf-8"))
        except (OSError, yaml.YAMLError):
            raise ElicenseError("home.unreadable", details={"file": CONFIG}) from None
        if not isinstance(data, dict):
            raise ElicenseError("home.unreadable", details={"file": CONFIG})
        try:
            return cls(**data)
        except TypeError:
            raise ElicenseError("home.unreadable", details={"file": CONFIG}) from None

    def write(self, home: Path) -> None:
        data = {k: v for k, v in self.__dict__.items() if v is not None}
        (home / CONFIG).write_text(
            yaml.safe_dump(data, allow_unicode=True, sort_keys=False), encoding="utf-8"
        )


def platform_id_for(region: str) -> str:
    body = f"11{region}MB0000001"
    return body + uscc_check_char(body)


def _write_key(path: Path, signer: Signer, passphrase: bytes) -> None:
    path.write_bytes(save_private_key(signer, passphrase))
    path.chmod(0o600)


def _read_key(path: Path, passphrase: bytes) -> Signer:
    try:
        pem = path.read_bytes()
    except OSError:
        raise ElicenseError("home.unreadable", details={"file": path.name}) from None
    return load_private_key(pem, passphrase)


def init_home(
    home: Path,
    *,
    region: str,
    region_name: str,
    issuers: Sequence[IssuerSpec],
    passphrase: bytes,
    now: int,
    database_url: str | None = None,
    status_base_url: str | None = None,
    alg: Alg = Alg.ES256,
) -> HomeConfig:
    """Create a new platform home; refuses to overwrite an existing one."""
    if (home / CONFIG).exists():
        raise ElicenseError("home.exists")
    for spec in issuers:
        parse_uscc(spec.id)
    (home / "keys").mkdir(parents=True, exist_ok=True)
    (home / "anchors").mkdir(exist_ok=True)
    (home / "trust").mkdir(exist_ok=True)
    anchor, platform = generate_signer(alg), generate_signer(alg)
    _write_key(home / "keys" / "anchor.pem", anchor, passphrase)
    _write_key(home / "keys" / "platform.pem", platform, passphrase)
    (home / "keys" / "pseudonym.key").write_bytes(seal_secret(os.urandom(32), passphrase))
    issuer_entries = []
    for spec in issuers:
        signer = generate_signer(alg)
        _write_key(home / "keys" / f"{spec.id}.pem", signer, passphrase)
        issuer_entries.append(
            {
                "id": spec.id,
                "name": spec.name,
                "division": spec.division or region,
                "types": list(spec.types),
            }
        )
    (home / "anchors" / f"{region}.jwk.json").write_text(
        json.dumps(anchor.public_key().to_jwk(), indent=2) + "\n", encoding="utf-8"
    )
    cfg = HomeConfig(
        region=region,
        region_name=region_name,
        platform_id=platform_id_for(region),
        platform_name=f"{region_name}电子证照平台",
        database_url=database_url or f"sqlite:///{(home / 'elicense.db').resolve()}",
        status_base_url=status_base_url or "http://127.0.0.1:8000/v1/status-lists",
        issuers=issuer_entries,
    )
    cfg.write(home)
    publish_trust_list(home, cfg, passphrase, now)
    return cfg


def publish_trust_list(home: Path, cfg: HomeConfig, passphrase: bytes, now: int) -> str:
    """(Re)sign this region's trust list from the home's keys, bumping its version."""
    anchor = _read_key(home / "keys" / "anchor.pem", passphrase)
    platform = _read_key(home / "keys" / "platform.pem", passphrase)
    entries = []
    for spec in cfg.issuers:
        signer = _read_key(home / "keys" / f"{spec['id']}.pem", passphrase)
        entries.append(
            make_issuer(
                spec["id"],
                spec["name"],
                spec["division"],
                spec["types"],
                [TrustedKey(signer.public_key(), now - YEAR, None)],
            )
        )
    tl = TrustList(
        region=cfg.region,
        region_name=cfg.region_name,
        version=cfg.trust_version,
        issued_at=now,
        next_update=now + cfg.trust_valid_days * 86400,
        platform=make_issuer(
            cfg.platform_id,
            cfg.platform_name,
            cfg.region,
            [],
            [TrustedKey(platform.public_key(), now - YEAR, None)],
        ),
        issuers={e.id: e for e in entries},
    )
    token = tl.sign(anchor)
    (home / "trust" / f"{cfg.region}.jwt").write_text(token + "\n", encoding="utf-8")
    cfg.trust_version += 1
    cfg.write(home)
    return token


def trust_store_from_home(home: Path, now: int) -> TrustStore:
    anchors: dict[str, list[Any]] = {}
    for p in sorted((home / "anchors").glob("*.jwk.json")):
        region = p.name.split(".")[0]
        anchors.setdefault(region, []).append(
            public_key_from_jwk(json.loads(p.read_text(encoding="utf-8")))
        )
    store = TrustStore(anchors)
    for p in sorted((home / "trust").glob("*.jwt")):
        store.load(p.read_text(encoding="utf-8").strip(), now)
    return store


def home_catalog(home: Path, cfg: HomeConfig) -> Catalog:
    """The home's own catalog file, or the built-in catalog."""
    return load_catalog(home / cfg.catalog) if cfg.catalog else builtin_catalog()


def read_issuer_key(home: Path, issuer_id: str, passphrase: bytes) -> Signer:
    return _read_key(home / "keys" / f"{issuer_id}.pem", passphrase)


def read_pseudonym_key(home: Path, passphrase: bytes) -> bytes:
    """The platform's pseudonym secret (sealed at rest; opening it costs a key derivation,
    so callers open it once)."""
    try:
        sealed = (home / "keys" / "pseudonym.key").read_bytes()
    except OSError:
        raise ElicenseError("home.unreadable", details={"file": "keys/pseudonym.key"}) from None
    return open_secret(sealed, passphrase)


def load_platform(
    home: Path,
    *,
    passphrase: bytes,
    storage: Storage,
    now: int,
    pseudonym_key: bytes | None = None,
) -> Platform:
    """``pseudonym_key``: already opened by the caller (else read from the home)."""
    cfg = HomeConfig.read(home)
    catalog = home_catalog(home, cfg)
    scenarios: ScenarioSet = (
        load_scenarios(home / cfg.scenarios, catalog) if cfg.scenarios else builtin_scenarios()
    )
    signers = {spec["id"]: read_issuer_key(home, spec["id"], passphrase) for spec in cfg.issuers}
    return Platform(
        region=cfg.region,
        platform_id=cfg.platform_id,
        signer=_read_key(home / "keys" / "platform.pem", passphrase),
        pseudonym_key=pseudonym_key or read_pseudonym_key(home, passphrase),
        trust=trust_store_from_home(home, now),
        catalog=catalog,
        scenarios=scenarios,
        storage=storage,
        issuer_signers=signers,
    )


def status_key(pseudonym_key: bytes) -> bytes:
    """The status-index permutation key, derived from the platform secret (a separate
    use gets a separate key)."""
    return hmac.new(pseudonym_key, b"elicense status-index permutation", hashlib.sha256).digest()


def open_platform(
    home: Path,
    *,
    passphrase: bytes,
    now: int,
    database_url: str | None = None,
    finish_imports: bool = True,
) -> Platform:
    """Open the home's database (or ``database_url``) and load the platform on it
    (``finish_imports``: see ``open_storage``)."""
    from elicense.storage import open_storage  # noqa: PLC0415 - the adapter layer, on demand

    cfg = HomeConfig.read(home)
    secret = read_pseudonym_key(home, passphrase)
    storage = open_storage(
        database_url or cfg.database_url,
        status_key=status_key(secret),
        status_uri=cfg.status_base_url + "/{list_id}",
        finish_imports=finish_imports,
    )
    return load_platform(
        home, passphrase=passphrase, storage=storage, now=now, pseudonym_key=secret
    )
