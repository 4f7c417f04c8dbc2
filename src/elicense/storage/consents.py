"""Consents (用证授权): a holder's grant to a relying party, with an optional use budget.

``use`` is one conditional ``UPDATE … SET uses = uses + 1 WHERE … uses < max_uses``: the
check and the increment are the same statement, so no interleaving of workers can spend a
use twice. On PostgreSQL a concurrent update of the same row makes the second statement
wait and then re-evaluate its WHERE clause against the committed row (READ COMMITTED
semantics for UPDATE); on SQLite writers are serialised by ``BEGIN IMMEDIATE``.

``put`` never overwrites: re-putting a consent would reset its counter, which is exactly
the overspend the budget exists to prevent (``storage.conflict``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import Row, or_, select, update

from elicense.records import ConsentRecord
from elicense.storage.db import Database
from elicense.storage.schema import consents


def _consent(row: Row[Any]) -> ConsentRecord:
    return ConsentRecord(
        id=row.id,
        holder_pseudonym=row.holder_pseudonym,
        rp_id=row.rp_id,
        scenario_id=row.scenario_id,
        fields=tuple(row.fields),
        purpose=row.purpose,
        created_at=row.created_at,
        valid_until=row.valid_until,
        max_uses=row.max_uses,
        uses=row.uses,
        revoked_at=row.revoked_at,
    )


USE = (
    "UPDATE consents SET uses = uses + 1 WHERE id = :id AND revoked_at IS NULL "
    "AND valid_until > :now AND (max_uses IS NULL OR uses < max_uses)"
)
"""Spending one use: ``_live`` and the increment in one statement (run by the driver
directly, see ``Database.driver``; ``AccessLog.settle`` runs it inside a scan's
transaction)."""


def _live(now: int) -> Any:
    """A consent can still be used at ``now``: not revoked, not expired, budget left."""
    return (
        consents.c.revoked_at.is_(None),
        consents.c.valid_until > now,
        or_(consents.c.max_uses.is_(None), consents.c.uses < consents.c.max_uses),
    )


class SqlConsents:
    def __init__(self, db: Database) -> None:
        self._db = db
        self._use = db.sql(USE)

    def put(self, consent: ConsentRecord) -> None:
        with self._db.write(single=True) as conn:
            conn.execute(
                consents.insert().values(
                    id=consent.id,
                    holder_pseudonym=consent.holder_pseudonym,
                    rp_id=consent.rp_id,
                    scenario_id=consent.scenario_id,
                    fields=list(consent.fields),
                    purpose=consent.purpose,
                    created_at=consent.created_at,
                    valid_until=consent.valid_until,
                    max_uses=consent.max_uses,
                    uses=consent.uses,
                    revoked_at=consent.revoked_at,
                )
            )

    def get(self, consent_id: str) -> ConsentRecord | None:
        with self._db.read() as conn:
            row = conn.execute(select(consents).where(consents.c.id == consent_id)).first()
        return None if row is None else _consent(row)

    def for_holder(self, pseudonym: str) -> Sequence[ConsentRecord]:
        stmt = (
            select(consents)
            .where(consents.c.holder_pseudonym == pseudonym)
            .order_by(consents.c.created_at, consents.c.id)
        )
        with self._db.read() as conn:
            return [_consent(r) for r in conn.execute(stmt)]

    def find_live(
        self, pseudonym: str, rp_id: str, scenario_id: str, now: int
    ) -> Sequence[ConsentRecord]:
        stmt = (
            select(consents)
            .where(
                consents.c.holder_pseudonym == pseudonym,
                consents.c.rp_id == rp_id,
                consents.c.scenario_id == scenario_id,
                *_live(now),
            )
            .order_by(consents.c.created_at, consents.c.id)
        )
        with self._db.read() as conn:
            return [_consent(r) for r in conn.execute(stmt)]

    def revoke(self, consent_id: str, at: int) -> bool:
        """True when this call revoked it; False when unknown or already revoked."""
        stmt = (
            update(consents)
            .where(consents.c.id == consent_id, consents.c.revoked_at.is_(None))
            .values(revoked_at=at)
        )
        with self._db.write(single=True) as conn:
            return conn.execute(stmt).rowcount == 1

    def use(self, consent_id: str, now: int) -> bool:
        with self._db.driver(write=True, single=True) as conn:
            return conn.execute(self._use, {"id": consent_id, "now": now}).rowcount == 1
