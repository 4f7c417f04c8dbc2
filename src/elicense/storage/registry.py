"""The small registries: holders, issuers, keys, relying parties, API credentials.

``upsert``/``put`` replace the row for records that are descriptions of something that
changes over time (an issuer's name, a key's state, a relying party's scenarios).
Credentials are insert-only: a new secret gets a new key id, so an existing credential's
hash can never be swapped underneath a client (``storage.conflict``).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from sqlalchemy import Row, select, true, update

from elicense.errors import ElicenseError
from elicense.records import (
    CredentialRecord,
    HolderRecord,
    IssuerRecord,
    KeyRecord,
    RelyingPartyRecord,
)
from elicense.storage.db import Database
from elicense.storage.schema import (
    STAGED_EXISTS,
    STAGED_HOLDERS,
    credentials,
    holders,
    issuers,
    keys,
    relying_parties,
)

_PEM_BEGIN = re.compile(rb"-----BEGIN ([A-Z0-9 ]+)-----")


def is_encrypted_pem(data: bytes) -> bool:
    """True for PKCS#8 ``ENCRYPTED PRIVATE KEY``, elicense's SM2 ``… ENCRYPTED …`` armour
    and legacy OpenSSL PEM with ``Proc-Type: 4,ENCRYPTED``; false for anything a reader
    could load without a passphrase."""
    match = _PEM_BEGIN.search(data)
    if match is None:
        return False
    return b"ENCRYPTED" in match.group(1) or b"Proc-Type: 4,ENCRYPTED" in data


class SqlHolders:
    """The one table with personal data: holder codes, keyed by pseudonym."""

    def __init__(self, db: Database) -> None:
        self._db = db

    def upsert(self, holder: HolderRecord) -> None:
        stmt = self._db.insert(holders).values(
            pseudonym=holder.pseudonym,
            holder_type=holder.holder_type,
            holder_code=holder.holder_code,
            created_at=holder.created_at,
        )
        # A stored holder keeps its row (its first sighting), unwritten: one pseudonym
        # is one (type, code), the keyed hash of them. A code under another pseudonym
        # (the pseudonym key changed) is refused by UNIQUE(holder_code).
        stmt = stmt.on_conflict_do_nothing(index_elements=[holders.c.pseudonym])
        with self._db.write(single=True) as conn:
            conn.execute(stmt)

    def get(self, pseudonym: str) -> HolderRecord | None:
        return self._first(holders.c.pseudonym == pseudonym, _STAGED_HOLDER, (pseudonym,))

    def one(self) -> HolderRecord | None:
        return self._first(true(), _ANY_STAGED, ())

    def _first(self, where: Any, staged: str, params: tuple[str, ...]) -> HolderRecord | None:
        """The first holder ``where`` picks in ``holders`` or, on SQLite, else among those
        a large import has met but not merged yet (``STAGED_HOLDERS``, ``staged``): a
        scan of the staging table, only when ``holders`` has none and one is staged."""
        with self._db.read() as conn:
            row = conn.execute(select(holders).where(where).limit(1)).first()
            if (
                row is None
                and self._db.kind == "sqlite"
                and conn.exec_driver_sql(STAGED_EXISTS).first() is not None
            ):
                row = conn.exec_driver_sql(staged, params).first()
        if row is None:
            return None
        return HolderRecord(row.pseudonym, row.holder_type, row.holder_code, row.created_at)


_STAGED_SELECT = f"SELECT pseudonym, holder_type, holder_code, created_at FROM {STAGED_HOLDERS}"  # noqa: S608 - a constant
_ANY_STAGED = _STAGED_SELECT + " LIMIT 1"
_STAGED_HOLDER = _STAGED_SELECT + " WHERE pseudonym = ? LIMIT 1"


class SqlIssuers:
    def __init__(self, db: Database) -> None:
        self._db = db

    def upsert(self, issuer: IssuerRecord) -> None:
        values = {
            "id": issuer.id,
            "name": issuer.name,
            "division": issuer.division,
            "region": issuer.region,
        }
        stmt = self._db.insert(issuers).values(**values)
        stmt = stmt.on_conflict_do_update(
            index_elements=[issuers.c.id], set_={k: v for k, v in values.items() if k != "id"}
        )
        with self._db.write(single=True) as conn:
            conn.execute(stmt)

    def get(self, issuer_id: str) -> IssuerRecord | None:
        with self._db.read() as conn:
            row = conn.execute(select(issuers).where(issuers.c.id == issuer_id)).first()
        return None if row is None else IssuerRecord(row.id, row.name, row.division, row.region)

    def list(self) -> Sequence[IssuerRecord]:
        with self._db.read() as conn:
            rows = conn.execute(select(issuers).order_by(issuers.c.id)).all()
        return [IssuerRecord(r.id, r.name, r.division, r.region) for r in rows]


def _key(row: Row[Any]) -> KeyRecord:
    return KeyRecord(
        kid=row.kid,
        owner_id=row.owner_id,
        alg=row.alg,
        public_jwk=dict(row.public_jwk),
        state=row.state,
        not_before=row.not_before,
        not_after=row.not_after,
        retired_at=row.retired_at,
        encrypted_private=bytes(row.encrypted_private)
        if row.encrypted_private is not None
        else None,
    )


class SqlKeys:
    """Key metadata and, optionally, the passphrase-encrypted private half."""

    def __init__(self, db: Database) -> None:
        self._db = db

    def put(self, key: KeyRecord) -> None:
        if key.encrypted_private is not None and not is_encrypted_pem(key.encrypted_private):
            raise ElicenseError(
                "storage.conflict",
                "refusing to store a private key that is not passphrase-encrypted PEM",
                details={"kid": key.kid, "reason": "unencrypted private key"},
            )
        values = {
            "kid": key.kid,
            "owner_id": key.owner_id,
            "alg": key.alg,
            "public_jwk": key.public_jwk,
            "state": key.state,
            "not_before": key.not_before,
            "not_after": key.not_after,
            "retired_at": key.retired_at,
            "encrypted_private": key.encrypted_private,
        }
        stmt = self._db.insert(keys).values(**values)
        stmt = stmt.on_conflict_do_update(
            index_elements=[keys.c.kid], set_={k: v for k, v in values.items() if k != "kid"}
        )
        with self._db.write(single=True) as conn:
            conn.execute(stmt)

    def get(self, kid: str) -> KeyRecord | None:
        with self._db.read() as conn:
            row = conn.execute(select(keys).where(keys.c.kid == kid)).first()
        return None if row is None else _key(row)

    def for_owner(self, owner_id: str) -> Sequence[KeyRecord]:
        stmt = (
            select(keys).where(keys.c.owner_id == owner_id).order_by(keys.c.not_before, keys.c.kid)
        )
        with self._db.read() as conn:
            return [_key(r) for r in conn.execute(stmt)]


def _rp(row: Row[Any]) -> RelyingPartyRecord:
    return RelyingPartyRecord(
        id=row.id,
        uscc=row.uscc,
        name=row.name,
        kind=row.kind,
        scenarios=tuple(row.scenarios),
        created_at=row.created_at,
        active=bool(row.active),
    )


class SqlRelyingParties:
    def __init__(self, db: Database) -> None:
        self._db = db

    def put(self, rp: RelyingPartyRecord) -> None:
        values = {
            "id": rp.id,
            "uscc": rp.uscc,
            "name": rp.name,
            "kind": rp.kind,
            "scenarios": list(rp.scenarios),
            "created_at": rp.created_at,
            "active": rp.active,
        }
        stmt = self._db.insert(relying_parties).values(**values)
        stmt = stmt.on_conflict_do_update(
            index_elements=[relying_parties.c.id],
            set_={k: v for k, v in values.items() if k not in ("id", "created_at")},
        )
        with self._db.write(single=True) as conn:
            conn.execute(stmt)

    def get(self, rp_id: str) -> RelyingPartyRecord | None:
        with self._db.read() as conn:
            row = conn.execute(select(relying_parties).where(relying_parties.c.id == rp_id)).first()
        return None if row is None else _rp(row)

    def list(self) -> Sequence[RelyingPartyRecord]:
        with self._db.read() as conn:
            return [_rp(r) for r in conn.execute(select(relying_parties).order_by("id"))]


def _cred(row: Row[Any]) -> CredentialRecord:
    return CredentialRecord(
        key_id=row.key_id,
        owner_id=row.owner_id,
        owner_kind=row.owner_kind,
        secret_hash=bytes(row.secret_hash),
        created_at=row.created_at,
        revoked_at=row.revoked_at,
    )


class SqlCredentials:
    """API credentials of relying parties and issuers: only a hash of the secret."""

    def __init__(self, db: Database) -> None:
        self._db = db

    def put(self, cred: CredentialRecord) -> None:
        with self._db.write(single=True) as conn:
            conn.execute(
                credentials.insert().values(
                    key_id=cred.key_id,
                    owner_id=cred.owner_id,
                    owner_kind=cred.owner_kind,
                    secret_hash=cred.secret_hash,
                    created_at=cred.created_at,
                    revoked_at=cred.revoked_at,
                )
            )

    def get(self, key_id: str) -> CredentialRecord | None:
        with self._db.read() as conn:
            row = conn.execute(select(credentials).where(credentials.c.key_id == key_id)).first()
        return None if row is None else _cred(row)

    def revoke(self, key_id: str, at: int) -> None:
        """Idempotent: revoking twice keeps the first time; an unknown key is
        ``storage.not_found`` (a typo must not look like a successful revocation)."""
        with self._db.write() as conn:
            exists = conn.execute(
                select(credentials.c.revoked_at).where(credentials.c.key_id == key_id)
            ).first()
            if exists is None:
                raise ElicenseError("storage.not_found", details={"key_id": key_id})
            conn.execute(
                update(credentials)
                .where(credentials.c.key_id == key_id, credentials.c.revoked_at.is_(None))
                .values(revoked_at=at)
            )

    def for_owner(self, owner_id: str) -> Sequence[CredentialRecord]:
        stmt = (
            select(credentials)
            .where(credentials.c.owner_id == owner_id)
            .order_by(credentials.c.created_at, credentials.c.key_id)
        )
        with self._db.read() as conn:
            return [_cred(r) for r in conn.execute(stmt)]
