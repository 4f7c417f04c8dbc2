"""PostgreSQL: ``elicense_settle_json`` locks the log's head first.

It used to take its locks in the order of its statements: the code's replay row, the
grant's row, then the head. With one settlement per transaction that order could never
form a cycle. A group commit (several settlements in one transaction, the service's
``Settler``) holds the head from its first settlement on while its later ones take
replay and grant rows: a settlement elsewhere that had taken one of those rows (the same
code shown at two desks, two scans under one grant) and now waited for the head closed
the cycle, and PostgreSQL broke it after ``deadlock_timeout`` (1 s, every scan of every
worker waiting meanwhile) by failing one side. Taking the head first gives every
settlement the same order. It costs nothing measurable: every settlement waits for the
head anyway, and holds it for the rest of its transaction.

The function is otherwise 0004's, statement for statement, with the same signature, so a
service of the previous version keeps working during the upgrade. ``elicense_settle``
(0003), kept only for a service two versions back, keeps its order: it never settles
two scans in one transaction, and a cycle with a new service's batch during a rolling
upgrade fails one side closed.

Revision ID: 0005
Revises: 0004
"""

from __future__ import annotations

from alembic import op

from elicense.storage.migrations.versions.v0004_settle_json import SETTLE_JSON

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

_HEAD = """
    -- The record, chained after the locked head (access_log.append).
    SELECT h.seq + 1, h.hash INTO o_seq, o_prev_hash
    FROM access_head h WHERE h.id = 1 FOR UPDATE;
"""
_FIRST = """BEGIN
    -- The log's head first: every settlement takes its locks in one order (see above).
    SELECT h.seq + 1, h.hash INTO o_seq, o_prev_hash
    FROM access_head h WHERE h.id = 1 FOR UPDATE;
"""


def head_first(sql: str) -> str:
    """0004's function with its head lock moved to the front, as ``CREATE OR REPLACE``."""
    if sql.count(_HEAD) != 1 or sql.count("\nBEGIN\n") != 1:
        raise RuntimeError("0004's function is not the one this migration reorders")
    moved = sql.replace(_HEAD, "\n").replace("\nBEGIN\n", "\n" + _FIRST, 1)
    return moved.replace("CREATE FUNCTION", "CREATE OR REPLACE FUNCTION", 1)


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(head_first(SETTLE_JSON))


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(SETTLE_JSON.replace("CREATE FUNCTION", "CREATE OR REPLACE FUNCTION", 1))
