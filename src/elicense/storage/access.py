"""The access log (用证记录): an append-only hash chain, durable before ``append`` returns.

Appending locks the single ``access_head`` row, takes ``seq = head + 1``, chains the
record's hash to the head's hash (``audit.chain``), inserts the record and moves the head,
all in one transaction. The head row is the only point of contention, and it is held for
two short statements, so several workers append in a strict total order without locking
the records table. Any failure raises: the service then refuses the verification rather
than answer without a record (fail closed).

``settle`` is a scan's whole write: the code's single use, a grant's use and the record,
in one transaction. On SQLite that is the three adapters' statements in one local
transaction; on PostgreSQL one call of ``elicense_settle_json`` (migration 0004), one
round trip. Both run on the driver directly (``Database.driver``), as ``append`` does.
``settle_soon`` sends several such calls at once, in one transaction (a group commit),
for a caller that awaits them without blocking (the service's event loop); PostgreSQL
only.

Listings for a holder and for a relying party page newest first by ``seq`` (the cursor is
the last ``seq`` seen, as a decimal string); ``records`` walks the chain oldest first for
verification and export.
"""

from __future__ import annotations

import base64
from collections.abc import Callable, Sequence
from json.encoder import encode_basestring_ascii
from typing import Any

from sqlalchemy import Row, func, select

from elicense import audit
from elicense.errors import ElicenseError
from elicense.identifiers.license_id import ROOT_OID
from elicense.ports import SettleInFlight
from elicense.records import AccessRecord, Checkpoint, Page, Settlement
from elicense.storage import consents, replay
from elicense.storage.db import Database, DriverConnection, SentCalls, as_bytes
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
    # A cursor is a seq: ASCII digits ("²" is a digit to isdigit, not to int) within the
    # database's 64-bit integers (a longer number overflows the driver, not the query).
    if not (after.isascii() and after.isdigit()) or len(after) > 19 or int(after) > _MAX_SEQ:
        raise ElicenseError("storage.not_found", details={"reason": "bad cursor"})
    return int(after)


_MAX_SEQ = 2**63 - 1


_HEAD = "SELECT seq, hash FROM access_head WHERE id = 1"
_INSERT = (
    "INSERT INTO access_records (seq, id, at, rp_id, scenario_id, holder_pseudonym, "
    "license_ids, field_names, type_code, decision, code, consent_id, request_id, prev_hash, "
    "hash) VALUES (:seq, :id, :at, :rp_id, :scenario_id, :holder_pseudonym, :license_ids, "
    ":field_names, :type_code, :decision, :code, :consent_id, :request_id, :prev_hash, :hash)"
)
_MOVE_HEAD = "UPDATE access_head SET seq = :seq, hash = :hash WHERE id = 1"
_SETTLE_PG = (
    "SELECT o_outcome, o_seq, o_prev_hash, o_hash FROM elicense_settle_json(:now, :namespace, "
    ":value, :expires_at, :consent_id, :id, :at, :rp_id, :scenario_id, :holder, :request_id, "
    "CAST(:variants AS json))"
)
_SETTLED = (int, int, as_bytes, as_bytes)
"""How ``_SETTLE_PG``'s columns are read from PostgreSQL's text format (``Database.call``)."""


_ascii: Callable[[str], str] = encode_basestring_ascii
"""A JSON string as ``json.dumps`` writes it by default (ASCII, C-accelerated)."""


def _json(values: tuple[str, ...]) -> str:
    """A JSON column's text, as SQLAlchemy's JSON type writes it: ``json.dumps`` of the
    list, written out with the encoder's own escaping (a scan writes two, or on
    PostgreSQL offers six; with ``_candidate`` a settle's JSON argument costs 19 µs
    against 42 µs through ``json.dumps``)."""
    return "[" + ", ".join(map(_ascii, values)) + "]"


def _nullable(value: str | None) -> str:
    return "null" if value is None else _ascii(value)


def _candidate(v: AccessRecord) -> str:
    """One record ``elicense_settle_json`` may place, as ``json.dumps`` writes the list
    of its JSON columns' texts, four texts or nulls, and its canonical bytes up to its
    position in base64 (bytes that hash exactly, whatever they contain; see migration
    0004)."""
    canonical = base64.b64encode(audit.canonical_before_seq(v)).decode("ascii")
    return (
        "[" + _ascii(_json(v.license_ids))
        + ", " + _ascii(_json(v.field_names))
        + ", " + _ascii(type_code_of(v.license_ids))
        + ", " + _ascii(v.decision)
        + ", " + _nullable(v.code)
        + ", " + _nullable(v.consent_id)
        + ', "' + canonical + '"]'
    )  # fmt: skip


def _row(placed: AccessRecord) -> dict[str, Any]:
    return {
        "seq": placed.seq,
        "id": placed.id,
        "at": placed.at,
        "rp_id": placed.rp_id,
        "scenario_id": placed.scenario_id,
        "holder_pseudonym": placed.holder_pseudonym,
        "license_ids": _json(placed.license_ids),
        "field_names": _json(placed.field_names),
        "type_code": type_code_of(placed.license_ids),
        "decision": placed.decision,
        "code": placed.code,
        "consent_id": placed.consent_id,
        "request_id": placed.request_id,
        "prev_hash": placed.prev_hash,
        "hash": placed.hash,
    }


def _settle_call(
    s: Settlement, now: int
) -> tuple[dict[str, str | int | None], tuple[AccessRecord, ...]]:
    """``elicense_settle_json``'s parameters for a settlement, and its three candidates."""
    variants = (s.record, s.replayed, s.exhausted)
    head = s.record
    for v in variants:
        if (v.id, v.at, v.rp_id, v.scenario_id, v.holder_pseudonym, v.request_id) != (
            head.id, head.at, head.rp_id, head.scenario_id, head.holder_pseudonym,
            head.request_id,
        ):  # fmt: skip
            raise ValueError("a settlement's records differ only in their outcome")
    params: dict[str, str | int | None] = {
        "now": now,
        "namespace": s.replay_namespace,
        "value": s.replay_value,
        "expires_at": s.replay_expires_at,
        "consent_id": s.consent_id,
        "id": head.id,
        "at": head.at,
        "rp_id": head.rp_id,
        "scenario_id": head.scenario_id,
        "holder": head.holder_pseudonym,
        "request_id": head.request_id,
        # One JSON text: the three candidates (see migration 0004).
        "variants": "[" + ", ".join(map(_candidate, variants)) + "]",
    }
    return params, variants


def _settled(rows: list[tuple[Any, ...]], variants: tuple[AccessRecord, ...]) -> AccessRecord:
    """The record ``elicense_settle_json`` placed, from its one row."""
    if len(rows) != 1:
        raise ElicenseError("audit.unavailable", details={"reason": "no settlement"})
    outcome, seq, prev, digest = rows[0]
    return audit.placed(variants[outcome], int(seq), bytes(prev), bytes(digest))


class _SentSettle:
    """``SqlAccessLog.settle_soon``'s calls on their way."""

    __slots__ = ("_sent", "_variants")

    def __init__(self, sent: SentCalls, variants: list[tuple[AccessRecord, ...]]) -> None:
        self._sent, self._variants = sent, variants

    def fileno(self) -> int:
        return self._sent.fileno()

    def ready(self) -> bool:
        return self._sent.ready()

    def result(self) -> list[AccessRecord]:
        each = self._sent.rows_each()  # one list per call sent (or it raises)
        return [_settled(rows, v) for rows, v in zip(each, self._variants, strict=True)]

    def discard(self) -> None:
        self._sent.discard()


class SqlAccessLog:
    def __init__(self, db: Database, replay_store: replay.SqlReplayStore | None = None) -> None:
        self._db = db
        self._replay = replay_store
        pg = db.kind == "postgresql"
        self._head = db.sql(_HEAD + (" FOR UPDATE" if pg else ""))
        self._insert = db.sql(_INSERT)
        self._move_head = db.sql(_MOVE_HEAD)
        self._consume = db.sql(replay.CONSUME)
        self._use = db.sql(consents.USE)
        self._pg = pg

    def _append(self, conn: DriverConnection, record: AccessRecord) -> AccessRecord:
        seq, prev = conn.execute(self._head, ()).fetchone()
        placed = audit.chain(record, int(seq) + 1, bytes(prev))
        conn.execute(self._insert, _row(placed))
        conn.execute(self._move_head, {"seq": placed.seq, "hash": placed.hash})
        return placed

    def append(self, record: AccessRecord) -> AccessRecord:
        with self._db.driver(write=True) as conn:
            return self._append(conn, record)

    def settle(self, settlement: Settlement, now: int) -> AccessRecord:
        """See ``ports.AccessLog.settle``. Any failure is ``audit.unavailable``."""
        if self._replay is not None:
            self._replay.tick(now)  # the replay table's occasional purge
        if self._pg:
            return self._settle_in_one_call(settlement, now)
        s = settlement
        params = {
            "namespace": s.replay_namespace,
            "value": s.replay_value,
            "expires_at": s.replay_expires_at,
            "now": now,
        }
        with self._db.driver(write=True, unavailable="audit.unavailable") as conn:
            if conn.execute(self._consume, params).rowcount != 1:
                record = s.replayed
            elif (
                s.consent_id is not None
                and conn.execute(self._use, {"id": s.consent_id, "now": now}).rowcount != 1
            ):
                record = s.exhausted
            else:
                record = s.record
            return self._append(conn, record)

    def _settle_in_one_call(self, s: Settlement, now: int) -> AccessRecord:
        """PostgreSQL: ``elicense_settle_json`` picks one of the three records and places it."""
        params, variants = _settle_call(s, now)
        rows = self._db.call(_SETTLE_PG, params, _SETTLED, unavailable="audit.unavailable")
        return _settled(rows, variants)

    def settle_soon(self, settlements: Sequence[tuple[Settlement, int]]) -> SettleInFlight | None:
        """``settle`` for each (settlement, now), together in one transaction, sent now
        (``Database.send_calls``); None where it cannot be sent ahead (SQLite: a local
        transaction has no wait to overlap)."""
        if not self._pg:
            return None
        if self._replay is not None:
            for _, now in settlements:
                self._replay.tick(now)  # the replay table's occasional purge, as settle
        calls = [_settle_call(s, now) for s, now in settlements]
        sent = self._db.send_calls(
            _SETTLE_PG, [p for p, _ in calls], _SETTLED, unavailable="audit.unavailable"
        )
        return None if sent is None else _SentSettle(sent, [v for _, v in calls])

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
        """A position is sealed once: two workers that seal at the same moment sign the
        same head (the chain is linear), and the second checkpoint is dropped instead of
        failing the request that triggered it."""
        stmt = self._db.insert(checkpoints).values(
            seq=checkpoint.seq,
            head_hash=checkpoint.head_hash,
            at=checkpoint.at,
            token=checkpoint.token,
        )
        with self._db.write(single=True) as conn:
            conn.execute(stmt.on_conflict_do_nothing(index_elements=[checkpoints.c.seq]))

    def checkpoints(self) -> Sequence[Checkpoint]:
        with self._db.read() as conn:
            rows = conn.execute(select(checkpoints).order_by(checkpoints.c.seq)).all()
        return [Checkpoint(r.seq, bytes(r.head_hash), r.at, r.token) for r in rows]
