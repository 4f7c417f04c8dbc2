"""The relational schema, as SQLAlchemy Core tables (the head of the migrations).

This module describes what the newest migration produces; the migrations themselves spell
every revision out on their own (a migration must keep meaning what it meant when it was
written, so it never imports this file). A test compares the two after ``upgrade head``.

Design notes that the table definitions cannot say:

* Personal data lives in ``holders.holder_code`` only; every other table refers to the
  holder by pseudonym, so a dump of any other table names nobody.
* Private keys are stored only as passphrase-encrypted PEM (``keys.encrypted_private``);
  the adapter refuses anything else before it reaches SQL.
* ``status_lists.is_open`` is 1 for an owner's list that still has free entries and NULL
  otherwise; ``UNIQUE(owner_id, is_open)`` therefore allows at most one open list per
  owner (NULLs never collide), which is what makes concurrent first issuances for a new
  owner safe on PostgreSQL without advisory locks.
* ``access_head`` holds exactly one row: the chain's head. Appending locks it, which
  serialises appends across workers without locking the (large) records table.
* Times are integer epoch seconds (``BigInteger``): no time zones, no driver conversions.
"""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    SmallInteger,
    String,
    Table,
    Text,
    UniqueConstraint,
)

#: Constraint names are explicit so that migrations, error details and operators agree.
NAMING = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s",
    "pk": "pk_%(table_name)s",
}

metadata = MetaData(naming_convention=NAMING)

PSEUDONYM = 64
"""Hex of a 128-bit pseudonym is 32 characters; room for a longer keyed hash later."""

LICENSE_ID = String(128).with_variant(String(128, collation="C"), "postgresql")
"""License identifiers sort bytewise on both databases (PostgreSQL's default collation
follows the server locale), so keyset pages come out in the same order everywhere."""

holders = Table(
    "holders",
    metadata,
    Column("pseudonym", String(PSEUDONYM), primary_key=True),
    Column("holder_type", String(8), nullable=False),
    Column("holder_code", String(64), nullable=False, unique=True),
    Column("created_at", BigInteger, nullable=False),
)

issuers = Table(
    "issuers",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("name", Text, nullable=False),
    Column("division", String(16), nullable=False),
    Column("region", String(16), nullable=False),
)

keys = Table(
    "keys",
    metadata,
    Column("kid", String(128), primary_key=True),
    Column("owner_id", String(64), nullable=False, index=True),
    Column("alg", String(16), nullable=False),
    Column("public_jwk", JSON, nullable=False),
    Column("state", String(16), nullable=False),
    Column("not_before", BigInteger, nullable=False),
    Column("not_after", BigInteger),
    Column("retired_at", BigInteger),
    Column("encrypted_private", LargeBinary),
)

status_lists = Table(
    "status_lists",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("owner_id", String(64), nullable=False),
    Column("uri", Text, nullable=False),
    Column("bits", SmallInteger, nullable=False),
    Column("size", Integer, nullable=False),
    Column("data", LargeBinary, nullable=False),
    Column("next_counter", Integer, nullable=False),
    Column("version", BigInteger, nullable=False),
    Column("token", Text),
    Column("is_open", SmallInteger),
    UniqueConstraint("owner_id", "is_open"),
)

licenses = Table(
    "licenses",
    metadata,
    Column("license_id", LICENSE_ID, primary_key=True),
    Column("type_code", String(32), nullable=False),
    Column("issuer_id", String(64), nullable=False),
    Column("serial", String(64), nullable=False),
    Column("version", String(8), nullable=False),
    Column(
        "holder_pseudonym",
        String(PSEUDONYM),
        ForeignKey("holders.pseudonym"),
        nullable=False,
        index=True,
    ),
    Column("status_list_id", Integer, ForeignKey("status_lists.id"), nullable=False),
    Column("status_idx", Integer, nullable=False),
    Column("issued_at", BigInteger, nullable=False, index=True),
    Column("valid_from", BigInteger, nullable=False),
    Column("valid_until", BigInteger),
    Column("sd_jwt", Text, nullable=False),
    Column("state", SmallInteger, nullable=False),
    Column("alias", String(128)),
    UniqueConstraint("issuer_id", "type_code", "serial"),
    UniqueConstraint("status_list_id", "status_idx"),
    Index("ix_licenses_issuer_id_license_id", "issuer_id", "license_id"),
    Index("ix_licenses_alias", "alias", unique=True),
)

status_events = Table(
    "status_events",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("license_id", LICENSE_ID, ForeignKey("licenses.license_id"), nullable=False),
    Column("action", String(16), nullable=False),
    Column("reason", Text, nullable=False),
    Column("actor", String(64), nullable=False),
    Column("at", BigInteger, nullable=False),
    Column("from_state", SmallInteger, nullable=False),
    Column("to_state", SmallInteger, nullable=False),
    Index("ix_status_events_license_id_id", "license_id", "id"),
)

relying_parties = Table(
    "relying_parties",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("uscc", String(18), nullable=False, index=True),
    Column("name", Text, nullable=False),
    Column("kind", String(32), nullable=False),
    Column("scenarios", JSON, nullable=False),
    Column("created_at", BigInteger, nullable=False),
    Column("active", Boolean, nullable=False),
)

credentials = Table(
    "credentials",
    metadata,
    Column("key_id", String(64), primary_key=True),
    Column("owner_id", String(64), nullable=False, index=True),
    Column("owner_kind", String(16), nullable=False),
    Column("secret_hash", LargeBinary, nullable=False),
    Column("created_at", BigInteger, nullable=False),
    Column("revoked_at", BigInteger),
)

consents = Table(
    "consents",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("holder_pseudonym", String(PSEUDONYM), nullable=False),
    Column("rp_id", String(64), nullable=False),
    Column("scenario_id", String(64), nullable=False),
    Column("fields", JSON, nullable=False),
    Column("purpose", Text, nullable=False),
    Column("created_at", BigInteger, nullable=False),
    Column("valid_until", BigInteger, nullable=False),
    Column("max_uses", Integer),
    Column("uses", Integer, nullable=False),
    Column("revoked_at", BigInteger),
    Index(
        "ix_consents_holder_pseudonym_rp_id_scenario_id", "holder_pseudonym", "rp_id", "scenario_id"
    ),
    Index("ix_consents_rp_id_scenario_id", "rp_id", "scenario_id"),
)

replay = Table(
    "replay",
    metadata,
    Column("namespace", String(32), primary_key=True),
    Column("value", String(128), primary_key=True),
    Column("expires_at", BigInteger, nullable=False, index=True),
)

STAGED_HOLDERS = "holders_staged"
"""SQLite, during a large import only (``SqlLicenses.bulk_load``): the holders it meets,
appended to a table without keys and merged into ``holders`` in pseudonym order when the
import ends (or when the next import starts, after a killed one). Not in ``metadata``:
it exists only while an import runs."""
STAGED_EXISTS = f"SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = '{STAGED_HOLDERS}'"  # noqa: S608 - a constant

access_records = Table(
    "access_records",
    metadata,
    Column("seq", BigInteger, primary_key=True, autoincrement=False),
    Column("id", String(64), nullable=False, unique=True),
    Column("at", BigInteger, nullable=False, index=True),
    Column("rp_id", String(64), nullable=False),
    Column("scenario_id", String(64), nullable=False),
    Column("holder_pseudonym", String(PSEUDONYM)),
    Column("license_ids", JSON, nullable=False),
    Column("field_names", JSON, nullable=False),
    Column("type_code", String(32), nullable=False),
    Column("decision", String(16), nullable=False),
    Column("code", String(64)),
    Column("consent_id", String(64)),
    Column("request_id", String(128), nullable=False),
    Column("prev_hash", LargeBinary, nullable=False),
    Column("hash", LargeBinary, nullable=False),
    Index("ix_access_records_holder_pseudonym_seq", "holder_pseudonym", "seq"),
    Index("ix_access_records_rp_id_seq", "rp_id", "seq"),
)

access_head = Table(
    "access_head",
    metadata,
    Column("id", SmallInteger, primary_key=True, autoincrement=False),
    Column("seq", BigInteger, nullable=False),
    Column("hash", LargeBinary, nullable=False),
)

checkpoints = Table(
    "checkpoints",
    metadata,
    Column("seq", BigInteger, primary_key=True, autoincrement=False),
    Column("head_hash", LargeBinary, nullable=False),
    Column("at", BigInteger, nullable=False),
    Column("token", Text, nullable=False),
)
