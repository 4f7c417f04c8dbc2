"""The access log (用证记录): an append-only hash chain, durable before ``append`` returns.

Appending locks the single ``access_head`` row, takes ``seq = head + 1``, chains the
record's hash to the head's hash (``audit.chain``), inserts the record and moves the head,
all in one transaction. The head row is the only point of contention, and it is held for
two short statements, so several workers append in a strict total order without locking
the records table. Any failure raises: the service then refuses the verification rather
than answer without a record (fail closed).

Listings for a holder and for a relying party page newest first by ``seq`` (the cursor is
the last ``seq`` seen, as a decimal string); ``records`` walks the chain oldest first for
verification and export.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from sqlalchemy import Row, bindparam, func, select, update

from elicense import audit
from elicense.errors import ElicenseError
from elicense.identifiers.license_id import ROOT_OID
from elicense.records import AccessRecord, Checkpoint, Page
from elicense.storage.db import Database
from elicense.storage.schema import access_head, access_records, checkpoints


def type_code_of(license_ids: Sequence[str]) -> str:
    """The license type of a record, for counting services (服务次数): the type of its
    first license, read from the GB/T 36904 identifier structure (the type code is the
    first arc after the root), so it works for aliases and for licenses not stored here."""
    if not license_ids:
        return ""
    first = license_ids[0]
    if not first.startswith(ROOT_OID + "."):
        return ""
    return first[len(ROOT_OID) + 1 :].split(".", 1)[0][:32]


def _record(row: Row[Any]) -> AccessRecord:
    return AccessRecord(
        id=row.id,
        at=row.at,
        rp_id=row.rp_id,
        scenario_id=row.scenario_id,
        holder_pseudonym=row.holder_pseudonym,
        license_ids=tuple(row.license_ids),
        field_names=tuple(row.field_names),
        decision=row.decision,
        code=row.code,
        consent_id=row.consent_id,
        request_id=row.request_id,
        seq=row.seq,
        prev_hash=bytes(row.prev_hash),
        hash=bytes(row.hash),
    )


def _cursor(after: str | None) -> int | None:
    if after is None:
        return None
    if not after.isdigit():
        raise ElicenseError("storage.not_found", details={"reason": "bad cursor"})
    return int(after)


# The append's statements are built once: building and cache-keying a fifteen-column
# INSERT costs more than running it on SQLite, on every scan.
_LOCK_HEAD = (
    select(access_head.c.seq, access_head.c.hash).where(access_head.c.id == 1).with_for_update()
)
_INSERT_RECORD = access_records.insert()
_MOVE_HEAD = (
    update(access_head)
    .where(access_head.c.id == 1)
    .values(seq=bindparam("new_seq"), hash=bindparam("new_hash"))
)


class SqlAccessLog:
    def __init__(self, db: Database) -> None:
        self._db = db

    @contextmanager
    def atomic(self) -> Iterator[None]:
        """One write transaction that the storage's other writes in the block join (the
        replay store, consent uses, ``append``): they commit together or not at all.
        ``Platform.verify_scan`` settles a scan in one, so the code's single use and its
        access record are a single commit. A failure raises ``audit.unavailable``."""
        with self._db.write("audit.unavailable"):
            yield

    def append(self, record: AccessRecord) -> AccessRecord:
        with self._db.write() as conn:
            head = conn.execute(_LOCK_HEAD).one()
            placed = audit.chain(record, int(head.seq) + 1, bytes(head.hash))
            conn.execute(
                _INSERT_RECORD,
                {
                    "seq": placed.seq,
                    "id": placed.id,
                    "at": placed.at,
                    "rp_id": placed.rp_id,
                    "scenario_id": placed.scenario_id,
                    "holder_pseudonym": placed.holder_pseudonym,
                    "license_ids": list(placed.license_ids),
                    "field_names": list(placed.field_names),
                    "type_code": type_code_of(placed.license_ids),
                    "decision": placed.decision,
                    "code": placed.code,
                    "consent_id": placed.consent_id,
                    "request_id": placed.request_id,
                    "prev_hash": placed.prev_hash,
                    "hash": placed.hash,
                },
            )
            conn.execute(_MOVE_HEAD, {"new_seq": placed.seq, "new_hash": placed.hash})
        return placed

    def records(self, *, after_seq: int = 0, limit: int = 1000) -> Sequence[AccessRecord]:
        stmt = (
            select(access_records)
            .where(access_records.c.seq > after_seq)
            .order_by(access_records.c.seq)
            .limit(limit)
        )
        with self._db.read() as conn:
            return [_record(r) for r in conn.execute(stmt)]

    def _page(self, column: Any, value: str, after: str | None, limit: int) -> Page:
        if limit < 1:
            raise ValueError("limit must be positive")
        stmt = (
            select(access_records)
            .where(column == value)
            .order_by(access_records.c.seq.desc())
            .limit(limit + 1)
        )
        before = _cursor(after)
        if before is not None:
            stmt = stmt.where(access_records.c.seq < before)
        with self._db.read() as conn:
            rows = conn.execute(stmt).all()
        items = tuple(_record(r) for r in rows[:limit])
        return Page(items, str(items[-1].seq) if len(rows) > limit else None)

    def for_holder(self, pseudonym: str, *, after: str | None, limit: int) -> Page:
        return self._page(access_records.c.holder_pseudonym, pseudonym, after, limit)

    def for_rp(self, rp_id: str, *, after: str | None, limit: int) -> Page:
        return self._page(access_records.c.rp_id, rp_id, after, limit)

    def counts(self, *, since: int | None = None) -> Sequence[tuple[str, str, str, int]]:
        keys = (access_records.c.scenario_id, access_records.c.type_code, access_records.c.rp_id)
        stmt = select(*keys, func.count()).group_by(*keys).order_by(*keys)
        if since is not None:
            stmt = stmt.where(access_records.c.at >= since)
        with self._db.read() as conn:
            return [(r[0], r[1], r[2], int(r[3])) for r in conn.execute(stmt)]

    def head(self) -> tuple[int, bytes]:
        with self._db.read() as conn:
            row = conn.execute(
                select(access_head.c.seq, access_head.c.hash).where(access_head.c.id == 1)
            ).one()
        return int(row.seq), bytes(row.hash)

    def add_checkpoint(self, checkpoint: Checkpoint) -> None:
        with self._db.write(single=True) as conn:
            conn.execute(
                checkpoints.insert().values(
                    seq=checkpoint.seq,
                    head_hash=checkpoint.head_hash,
                    at=checkpoint.at,
                    token=checkpoint.token,
                )
            )

    def checkpoints(self) -> Sequence[Checkpoint]:
        with self._db.read() as conn:
            rows = conn.execute(select(checkpoints).order_by(checkpoints.c.seq)).all()
        return [Checkpoint(r.seq, bytes(r.head_hash), r.at, r.token) for r in rows]
