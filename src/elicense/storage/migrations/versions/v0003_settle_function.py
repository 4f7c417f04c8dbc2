"""PostgreSQL: ``elicense_settle``, a scan's settling write as one server-side call.

A scan settles with one transaction: consume the code's one-time value, perhaps spend a
grant's use, append the access record to the hash chain. Sent as separate statements that
is BEGIN, five statements and COMMIT, each a network round trip and a statement for the
server to run; as one function call it is one round trip in autocommit (the call is its
own transaction). The caller prepares the three records the outcome can ask for (fresh
code, replayed code, grant without a use left), each as its canonical bytes up to its
position (``audit.canonical_before_seq``); the function picks one, places it after the
locked head and hashes it exactly as ``audit.record_hash`` does. The statements are the
ones ``replay``, ``consents.use`` and ``access_log.append`` run on their own. SQLite
needs nothing here: its adapter runs the same statements in one local transaction.

Revision ID: 0003
Revises: 0002
"""

from __future__ import annotations

from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

SIGNATURE = (
    "elicense_settle(bigint, text, text, bigint, text, text, bigint, text, text, text, text, "
    "text[], text[], text[], text[], text[], text[], bytea[])"
)

SETTLE = r"""
CREATE FUNCTION elicense_settle(
    p_now bigint,
    p_namespace text, p_value text, p_expires_at bigint,
    p_consent_id text,
    p_id text, p_at bigint, p_rp_id text, p_scenario_id text, p_holder text,
    p_request_id text,
    p_license_ids text[], p_field_names text[], p_type_codes text[], p_decisions text[],
    p_codes text[], p_consent_ids text[], p_canonical bytea[],
    OUT o_outcome integer, OUT o_seq bigint, OUT o_prev_hash bytea, OUT o_hash bytea
) LANGUAGE plpgsql AS $$
DECLARE
    n integer;
    i integer;
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
    i := o_outcome + 1;
    -- The record, chained after the locked head (access_log.append).
    SELECT h.seq + 1, h.hash INTO o_seq, o_prev_hash
    FROM access_head h WHERE h.id = 1 FOR UPDATE;
    o_hash := sha256(o_prev_hash || p_canonical[i] || convert_to(o_seq::text || '}', 'UTF8'));
    INSERT INTO access_records (
        seq, id, at, rp_id, scenario_id, holder_pseudonym, license_ids, field_names,
        type_code, decision, code, consent_id, request_id, prev_hash, hash
    ) VALUES (
        o_seq, p_id, p_at, p_rp_id, p_scenario_id, p_holder, CAST(p_license_ids[i] AS json),
        CAST(p_field_names[i] AS json), p_type_codes[i], p_decisions[i], p_codes[i],
        p_consent_ids[i], p_request_id, o_prev_hash, o_hash
    );
    UPDATE access_head SET seq = o_seq, hash = o_hash WHERE id = 1;
END
$$
"""


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(SETTLE)


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(f"DROP FUNCTION IF EXISTS {SIGNATURE}")
