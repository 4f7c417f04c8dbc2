"""PostgreSQL: ``elicense_settle_json``, ``elicense_settle`` with its three candidate
records in one JSON argument instead of seven arrays.

psycopg dumps a Python list as a PostgreSQL array in Python, element by element (a regular
expression per element to escape it): seven arrays of three cost a scan more client CPU
than the rest of its two statements together. One JSON text is dumped as it is. Each
candidate is ``[license_ids, field_names, type_code, decision, code, consent_id,
canonical]``: the two JSON columns' texts, four texts or nulls, and the record's canonical
bytes up to its position in base64 (bytes that hash exactly, whatever they contain).
Otherwise the function is ``elicense_settle``'s, statement for statement; that one stays
for a service of the previous version still running during an upgrade.

Revision ID: 0004
Revises: 0003
"""

from __future__ import annotations

from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

SIGNATURE = (
    "elicense_settle_json(bigint, text, text, bigint, text, text, bigint, text, text, text, "
    "text, json)"
)

SETTLE_JSON = r"""
CREATE FUNCTION elicense_settle_json(
    p_now bigint,
    p_namespace text, p_value text, p_expires_at bigint,
    p_consent_id text,
    p_id text, p_at bigint, p_rp_id text, p_scenario_id text, p_holder text,
    p_request_id text,
    p_variants json,
    OUT o_outcome integer, OUT o_seq bigint, OUT o_prev_hash bytea, OUT o_hash bytea
) LANGUAGE plpgsql AS $$
DECLARE
    n integer;
    v json;
BEGIN
    -- The code's single use (replay.consume).
    INSERT INTO replay AS r (namespace, value, expires_at)
    VALUES (p_namespace, p_value, p_expires_at)
    ON CONFLICT (namespace, value) DO UPDATE SET expires_at = excluded.expires_at
    WHERE r.expires_at < p_now;
    GET DIAGNOSTICS n = ROW_COUNT;
    o_outcome := 0;
    IF n <> 1 THEN
        o_outcome := 1;  -- replayed: nothing is spent
    ELSIF p_consent_id IS NOT NULL THEN
        -- A grant's use (consents.use).
        UPDATE consents SET uses = uses + 1
        WHERE id = p_consent_id AND revoked_at IS NULL AND valid_until > p_now
          AND (max_uses IS NULL OR uses < max_uses);
        GET DIAGNOSTICS n = ROW_COUNT;
        IF n <> 1 THEN
            o_outcome := 2;  -- no use left
        END IF;
    END IF;
    v := p_variants -> o_outcome;
    -- The record, chained after the locked head (access_log.append).
    SELECT h.seq + 1, h.hash INTO o_seq, o_prev_hash
    FROM access_head h WHERE h.id = 1 FOR UPDATE;
    o_hash := sha256(
        o_prev_hash || decode(v ->> 6, 'base64') || convert_to(o_seq::text || '}', 'UTF8')
    );
    INSERT INTO access_records (
        seq, id, at, rp_id, scenario_id, holder_pseudonym, license_ids, field_names,
        type_code, decision, code, consent_id, request_id, prev_hash, hash
    ) VALUES (
        o_seq, p_id, p_at, p_rp_id, p_scenario_id, p_holder, CAST(v ->> 0 AS json),
        CAST(v ->> 1 AS json), v ->> 2, v ->> 3, v ->> 4, v ->> 5, p_request_id,
        o_prev_hash, o_hash
    );
    UPDATE access_head SET seq = o_seq, hash = o_hash WHERE id = 1;
END
$$
"""


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(SETTLE_JSON)


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(f"DROP FUNCTION IF EXISTS {SIGNATURE}")
