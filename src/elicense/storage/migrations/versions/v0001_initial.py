"""Initial schema: holders, issuers, keys, status lists, licenses, status events, relying
parties, credentials, consents, replay cache, access records with their chain head, and
checkpoints.

Revision ID: 0001
Revises:
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

GENESIS = b"\0" * 32
#: Bytewise order on PostgreSQL too, whatever the server locale (keyset pagination).
LICENSE_ID = sa.String(128).with_variant(sa.String(128, collation="C"), "postgresql")


def upgrade() -> None:
    op.create_table(
        "holders",
        sa.Column("pseudonym", sa.String(64), nullable=False),
        sa.Column("holder_type", sa.String(8), nullable=False),
        sa.Column("holder_code", sa.String(64), nullable=False),
        sa.Column("created_at", sa.BigInteger, nullable=False),
        sa.PrimaryKeyConstraint("pseudonym", name="pk_holders"),
        sa.UniqueConstraint("holder_code", name="uq_holders_holder_code"),
    )
    op.create_table(
        "issuers",
        sa.Column("id", sa.String(64), nullable=False),
        sa.Column("name", sa.Text, nullable=False),
        sa.Column("division", sa.String(16), nullable=False),
        sa.Column("region", sa.String(16), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_issuers"),
    )
    op.create_table(
        "keys",
        sa.Column("kid", sa.String(128), nullable=False),
        sa.Column("owner_id", sa.String(64), nullable=False),
        sa.Column("alg", sa.String(16), nullable=False),
        sa.Column("public_jwk", sa.JSON, nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("not_before", sa.BigInteger, nullable=False),
        sa.Column("not_after", sa.BigInteger),
        sa.Column("retired_at", sa.BigInteger),
        sa.Column("encrypted_private", sa.LargeBinary),
        sa.PrimaryKeyConstraint("kid", name="pk_keys"),
    )
    op.create_index("ix_keys_owner_id", "keys", ["owner_id"])
    op.create_table(
        "status_lists",
        sa.Column("id", sa.Integer, autoincrement=True, nullable=False),
        sa.Column("owner_id", sa.String(64), nullable=False),
        sa.Column("uri", sa.Text, nullable=False),
        sa.Column("bits", sa.SmallInteger, nullable=False),
        sa.Column("size", sa.Integer, nullable=False),
        sa.Column("data", sa.LargeBinary, nullable=False),
        sa.Column("next_counter", sa.Integer, nullable=False),
        sa.Column("version", sa.BigInteger, nullable=False),
        sa.Column("token", sa.Text),
        sa.Column("is_open", sa.SmallInteger),
        sa.PrimaryKeyConstraint("id", name="pk_status_lists"),
        sa.UniqueConstraint("owner_id", "is_open", name="uq_status_lists_owner_id_is_open"),
    )
    op.create_table(
        "licenses",
        sa.Column("license_id", LICENSE_ID, nullable=False),
        sa.Column("type_code", sa.String(32), nullable=False),
        sa.Column("issuer_id", sa.String(64), nullable=False),
        sa.Column("serial", sa.String(64), nullable=False),
        sa.Column("version", sa.String(8), nullable=False),
        sa.Column("holder_pseudonym", sa.String(64), nullable=False),
        sa.Column("status_list_id", sa.Integer, nullable=False),
        sa.Column("status_idx", sa.Integer, nullable=False),
        sa.Column("issued_at", sa.BigInteger, nullable=False),
        sa.Column("valid_from", sa.BigInteger, nullable=False),
        sa.Column("valid_until", sa.BigInteger),
        sa.Column("sd_jwt", sa.Text, nullable=False),
        sa.Column("state", sa.SmallInteger, nullable=False),
        sa.PrimaryKeyConstraint("license_id", name="pk_licenses"),
        sa.ForeignKeyConstraint(
            ["holder_pseudonym"], ["holders.pseudonym"], name="fk_licenses_holder_pseudonym"
        ),
        sa.ForeignKeyConstraint(
            ["status_list_id"], ["status_lists.id"], name="fk_licenses_status_list_id"
        ),
        sa.UniqueConstraint(
            "issuer_id", "type_code", "serial", name="uq_licenses_issuer_id_type_code_serial"
        ),
        sa.UniqueConstraint(
            "status_list_id", "status_idx", name="uq_licenses_status_list_id_status_idx"
        ),
    )
    op.create_index("ix_licenses_holder_pseudonym", "licenses", ["holder_pseudonym"])
    op.create_index("ix_licenses_issued_at", "licenses", ["issued_at"])
    op.create_index("ix_licenses_issuer_id_license_id", "licenses", ["issuer_id", "license_id"])
    op.create_table(
        "status_events",
        sa.Column("id", sa.Integer, autoincrement=True, nullable=False),
        sa.Column("license_id", LICENSE_ID, nullable=False),
        sa.Column("action", sa.String(16), nullable=False),
        sa.Column("reason", sa.Text, nullable=False),
        sa.Column("actor", sa.String(64), nullable=False),
        sa.Column("at", sa.BigInteger, nullable=False),
        sa.Column("from_state", sa.SmallInteger, nullable=False),
        sa.Column("to_state", sa.SmallInteger, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_status_events"),
        sa.ForeignKeyConstraint(
            ["license_id"], ["licenses.license_id"], name="fk_status_events_license_id"
        ),
    )
    op.create_index("ix_status_events_license_id_id", "status_events", ["license_id", "id"])
    op.create_table(
        "relying_parties",
        sa.Column("id", sa.String(64), nullable=False),
        sa.Column("uscc", sa.String(18), nullable=False),
        sa.Column("name", sa.Text, nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("scenarios", sa.JSON, nullable=False),
        sa.Column("created_at", sa.BigInteger, nullable=False),
        sa.Column("active", sa.Boolean, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_relying_parties"),
    )
    op.create_index("ix_relying_parties_uscc", "relying_parties", ["uscc"])
    op.create_table(
        "credentials",
        sa.Column("key_id", sa.String(64), nullable=False),
        sa.Column("owner_id", sa.String(64), nullable=False),
        sa.Column("owner_kind", sa.String(16), nullable=False),
        sa.Column("secret_hash", sa.LargeBinary, nullable=False),
        sa.Column("created_at", sa.BigInteger, nullable=False),
        sa.Column("revoked_at", sa.BigInteger),
        sa.PrimaryKeyConstraint("key_id", name="pk_credentials"),
    )
    op.create_index("ix_credentials_owner_id", "credentials", ["owner_id"])
    op.create_table(
        "consents",
        sa.Column("id", sa.String(64), nullable=False),
        sa.Column("holder_pseudonym", sa.String(64), nullable=False),
        sa.Column("rp_id", sa.String(64), nullable=False),
        sa.Column("scenario_id", sa.String(64), nullable=False),
        sa.Column("fields", sa.JSON, nullable=False),
        sa.Column("purpose", sa.Text, nullable=False),
        sa.Column("created_at", sa.BigInteger, nullable=False),
        sa.Column("valid_until", sa.BigInteger, nullable=False),
        sa.Column("max_uses", sa.Integer),
        sa.Column("uses", sa.Integer, nullable=False),
        sa.Column("revoked_at", sa.BigInteger),
        sa.PrimaryKeyConstraint("id", name="pk_consents"),
    )
    op.create_index(
        "ix_consents_holder_pseudonym_rp_id_scenario_id",
        "consents",
        ["holder_pseudonym", "rp_id", "scenario_id"],
    )
    op.create_index("ix_consents_rp_id_scenario_id", "consents", ["rp_id", "scenario_id"])
    op.create_table(
        "replay",
        sa.Column("namespace", sa.String(32), nullable=False),
        sa.Column("value", sa.String(128), nullable=False),
        sa.Column("expires_at", sa.BigInteger, nullable=False),
        sa.PrimaryKeyConstraint("namespace", "value", name="pk_replay"),
    )
    op.create_index("ix_replay_expires_at", "replay", ["expires_at"])
    op.create_table(
        "access_records",
        sa.Column("seq", sa.BigInteger, autoincrement=False, nullable=False),
        sa.Column("id", sa.String(64), nullable=False),
        sa.Column("at", sa.BigInteger, nullable=False),
        sa.Column("rp_id", sa.String(64), nullable=False),
        sa.Column("scenario_id", sa.String(64), nullable=False),
        sa.Column("holder_pseudonym", sa.String(64)),
        sa.Column("license_ids", sa.JSON, nullable=False),
        sa.Column("field_names", sa.JSON, nullable=False),
        sa.Column("type_code", sa.String(32), nullable=False),
        sa.Column("decision", sa.String(16), nullable=False),
        sa.Column("code", sa.String(64)),
        sa.Column("consent_id", sa.String(64)),
        sa.Column("request_id", sa.String(128), nullable=False),
        sa.Column("prev_hash", sa.LargeBinary, nullable=False),
        sa.Column("hash", sa.LargeBinary, nullable=False),
        sa.PrimaryKeyConstraint("seq", name="pk_access_records"),
        sa.UniqueConstraint("id", name="uq_access_records_id"),
    )
    op.create_index("ix_access_records_at", "access_records", ["at"])
    op.create_index(
        "ix_access_records_holder_pseudonym_seq", "access_records", ["holder_pseudonym", "seq"]
    )
    op.create_index("ix_access_records_rp_id_seq", "access_records", ["rp_id", "seq"])
    head = op.create_table(
        "access_head",
        sa.Column("id", sa.SmallInteger, autoincrement=False, nullable=False),
        sa.Column("seq", sa.BigInteger, nullable=False),
        sa.Column("hash", sa.LargeBinary, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_access_head"),
    )
    op.bulk_insert(head, [{"id": 1, "seq": 0, "hash": GENESIS}])
    op.create_table(
        "checkpoints",
        sa.Column("seq", sa.BigInteger, autoincrement=False, nullable=False),
        sa.Column("head_hash", sa.LargeBinary, nullable=False),
        sa.Column("at", sa.BigInteger, nullable=False),
        sa.Column("token", sa.Text, nullable=False),
        sa.PrimaryKeyConstraint("seq", name="pk_checkpoints"),
    )


def downgrade() -> None:
    for table in (
        "checkpoints",
        "access_head",
        "access_records",
        "replay",
        "consents",
        "credentials",
        "relying_parties",
        "status_events",
        "licenses",
        "status_lists",
        "keys",
        "issuers",
        "holders",
    ):
        op.drop_table(table)
