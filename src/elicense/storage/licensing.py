"""Licenses and their status lists: issuance, lookups, status changes.

Issuing is one transaction per call (one license or a whole batch): lock the owner's open
status list, take the next counters, map each through the keyed permutation to an index,
let the caller build (and sign) each license for its entry, insert all rows with one
``executemany``, advance the list. Either the list's counter and every license of the
batch are committed, or none of them are — a killed process or a duplicate license
number leaves nothing half-written, and an index is never handed out twice.

Locking: PostgreSQL takes ``SELECT … FOR NO KEY UPDATE`` on the list row (workers issuing
for the same owner queue there; other owners are unaffected); SQLite's write transactions
start with ``BEGIN IMMEDIATE`` and so are serialised by the database lock. Only one list
per owner is open at a time (``UNIQUE(owner_id, is_open)``): if two PostgreSQL workers
both try to open an owner's first list, one insert fails and that transaction is retried.
"""

from __future__ import annotations

import fcntl
import os
from collections.abc import Callable, Collection, Iterable, Iterator, Sequence
from contextlib import contextmanager, suppress
from dataclasses import fields, replace
from itertools import repeat
from operator import attrgetter, itemgetter
from typing import Any, TypeVar

from sqlalchemy import Connection, Index, Row, Table, func, select, text, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.schema import CreateIndex, DropIndex

from elicense.errors import ElicenseError
from elicense.ports import (
    BulkWriter,
    CarriedEntries,
    HolderRow,
    LicenseRow,
    NewLicense,
    Pending,
    StatusEntries,
)
from elicense.records import HolderRecord, LicenseRecord, Page, StatusEvent, StatusListRecord
from elicense.statuslist import IndexPermutation, StatusList
from elicense.storage.db import Database, SentRead, as_text
from elicense.storage.schema import (
    STAGED_EXISTS,
    STAGED_HOLDERS,
    holders,
    licenses,
    status_events,
    status_lists,
)

_RETRIES = 3
_T = TypeVar("_T")


class _OpenListRace(Exception):
    """Another worker opened the owner's list first: retry the whole transaction."""


class ListSettings:
    """How new status lists are shaped, and the permutation key for their indexes."""

    def __init__(self, key: bytes, uri: str, size: int, bits: int) -> None:
        # Validates size and bits up front; its bytes are every new list's initial state.
        self.empty = bytes(StatusList(size, bits).data)
        if size < 4:
            raise ValueError("status lists need at least 4 entries")
        self.uri = uri
        self.size = size
        self.bits = bits
        self._key = key
        self._perms: dict[int, IndexPermutation] = {}

    def permutation(self, size: int) -> IndexPermutation:
        """Lists keep the size they were created with, even if the setting changes."""
        perm = self._perms.get(size)
        if perm is None:
            perm = self._perms[size] = IndexPermutation(self._key, size)
        return perm


_LICENSE_COLUMNS = tuple(f.name for f in fields(LicenseRecord))
"""The licenses table's columns, in ``LicenseRecord``'s field order."""
_license_tuple = attrgetter(*_LICENSE_COLUMNS)


def license_row(rec: LicenseRecord) -> dict[str, Any]:
    return dict(zip(_LICENSE_COLUMNS, _license_tuple(rec), strict=True))


def _license(row: Row[Any]) -> LicenseRecord:
    values = row._mapping
    return LicenseRecord(*(values[column] for column in _LICENSE_COLUMNS))


def _find(conn: Connection, license_id: str, *, lock: bool = False) -> Row[Any] | None:
    """A license row by identifier, else by historical alias (two indexed lookups)."""
    for column in (licenses.c.license_id, licenses.c.alias):
        stmt = select(licenses).where(column == license_id)
        row = conn.execute(stmt.with_for_update(key_share=True) if lock else stmt).first()
        if row is not None:
            return row
    return None


def _status_list(row: Row[Any]) -> StatusListRecord:
    return StatusListRecord(
        id=row.id,
        owner_id=row.owner_id,
        uri=row.uri,
        bits=row.bits,
        size=row.size,
        data=bytes(row.data),
        next_counter=row.next_counter,
        version=row.version,
        token=row.token,
    )


class _OpenList:
    """The list being filled inside one issuing transaction."""

    def __init__(self, row: Row[Any]) -> None:
        self.id: int = row.id
        self.uri: str = row.uri
        self.size: int = row.size
        self.counter: int = row.next_counter
        self.data = StatusList(row.size, row.bits, bytes(row.data))
        self.dirty = False

    @property
    def full(self) -> bool:
        return self.counter >= self.size


_FOR_HOLDER = (
    f"SELECT {', '.join(_LICENSE_COLUMNS)} FROM licenses WHERE holder_pseudonym = :holder "  # noqa: S608 - column names from LicenseRecord, no input
    "{types}ORDER BY issued_at, license_id"
)
_FOR_HOLDER_TYPES: dict[int, str] = {}


def _for_holder(pseudonym: str, types: Collection[str] | None) -> tuple[str, dict[str, str]]:
    """``_FOR_HOLDER`` (``:name`` placeholders) for all the holder's licenses or only
    those of ``types``, and its parameters; one text per number of types."""
    params = {"holder": pseudonym}
    if types is None:
        count = -1
    else:
        count = len(types)
        params.update((f"t{i}", t) for i, t in enumerate(sorted(types)))
    text = _FOR_HOLDER_TYPES.get(count)
    if text is None:
        marks = ", ".join(f":t{i}" for i in range(count))
        where = "" if count < 0 else f"AND type_code IN ({marks}) " if count else "AND 1 = 0 "
        text = _FOR_HOLDER_TYPES[count] = _FOR_HOLDER.format(types=where)
    return text, params


_KINDS = tuple(int if f.type in ("int", "int | None") else as_text for f in fields(LicenseRecord))
"""How each column of ``_FOR_HOLDER`` is read from PostgreSQL's text format."""


class _PendingLicenses:
    __slots__ = ("_sent",)

    def __init__(self, sent: SentRead) -> None:
        self._sent = sent

    def result(self) -> Sequence[LicenseRecord]:
        return [LicenseRecord(*row) for row in self._sent.rows()]

    def discard(self) -> None:
        self._sent.discard()


class SqlLicenses:
    def __init__(self, db: Database, settings: ListSettings) -> None:
        self._db = db
        self._settings = settings
        self._staging = False
        """Inside a large SQLite ``bulk_load``: bulk holders go to ``STAGED_HOLDERS``."""

    # --- issuing ---------------------------------------------------------------------

    def issue(self, owner_id: str, build: NewLicense) -> LicenseRecord:
        return self.issue_many(owner_id, [build])[0]

    def issue_many(self, owner_id: str, builds: Sequence[NewLicense]) -> list[LicenseRecord]:
        if not builds:
            return []
        for _ in range(_RETRIES):
            try:
                with self._db.write() as conn:
                    return self._issue(conn, owner_id, builds)
            except _OpenListRace:
                continue
        raise ElicenseError(
            "storage.unavailable", details={"reason": "status list contention, retries exhausted"}
        )

    def _issue(
        self, conn: Connection, owner_id: str, builds: Sequence[NewLicense]
    ) -> list[LicenseRecord]:
        current = self._lock_open_list(conn, owner_id)
        records: list[LicenseRecord] = []
        for build in builds:
            if current.full:
                self._save(conn, current, close=True)
                current = self._new_list(conn, owner_id)
            idx = self._settings.permutation(current.size).index(current.counter, current.id)
            current.counter += 1
            rec = build(current.id, idx)
            if (rec.status_list_id, rec.status_idx) != (current.id, idx):
                raise ElicenseError(
                    "storage.conflict",
                    "the license does not carry the status entry allocated to it",
                    details={"license_id": rec.license_id},
                )
            if rec.state:
                current.data[idx] = rec.state
                current.dirty = True
            records.append(rec)
        self._save(conn, current, close=current.full)
        conn.execute(licenses.insert(), [license_row(r) for r in records])
        return records

    def issue_bulk(
        self,
        owners: Collection[str],
        build: Callable[[BulkWriter], _T],
        carried: CarriedEntries | None = None,
    ) -> _T:
        """See ``ports.Licenses.issue_bulk``. Retried (like ``issue_many``) only when the
        race on opening a first list happens while locking, before ``build`` has run:
        ``build`` usually consumes a stream and cannot be replayed."""
        for _ in range(_RETRIES):
            bulk: _Bulk | None = None
            try:
                # Staged holders are not in ``holders`` yet: the batch's references to
                # them are unchecked (``_Bulk.write`` writes every license's holder with it).
                with self._db.write(foreign_keys=not self._staging) as conn:
                    bulk = _Bulk(self, conn, carried or {})
                    bulk.lock(sorted(set(owners)))
                    result = build(bulk)
                    bulk.finish()
                    return result
            except _OpenListRace:
                if bulk is not None and bulk.started:
                    raise ElicenseError(
                        "storage.unavailable", details={"reason": "status list race mid-batch"}
                    ) from None
                continue
        raise ElicenseError(
            "storage.unavailable", details={"reason": "status list contention, retries exhausted"}
        )

    def issuer_types_present(self, pairs: Iterable[tuple[str, str]]) -> set[tuple[str, str]]:
        """One index probe of UNIQUE(issuer_id, type_code, serial) per pair."""
        found: set[tuple[str, str]] = set()
        with self._db.read() as conn:
            for issuer_id, type_code in set(pairs):
                stmt = (
                    select(licenses.c.serial)
                    .where(licenses.c.issuer_id == issuer_id, licenses.c.type_code == type_code)
                    .limit(1)
                )
                if conn.execute(stmt).first() is not None:
                    found.add((issuer_id, type_code))
        return found

    @contextmanager
    def bulk_load(self, expected_rows: int) -> Iterator[bool]:
        """Around an import on SQLite: for a large import the two random-order writes of
        every row are taken out of the batches — the licenses' holder index is dropped
        for the duration and rebuilt at the end in one statement, and the holders are
        staged and merged at the end. Yields whether it did so.

        **Checkpoints** are left as they are: each batch's commit copies the batch from
        the WAL into the database (SQLite's automatic checkpoint: 0.5–1.5 s for 50,000
        licenses), in the main process. That keeps the WAL one batch long — it
        restarts from its beginning only once everything in it is copied — and the
        signing processes do not wait for it: they sign the next batch's first blocks,
        whose entries the batch allocated before it committed (``BulkWriter.carry``). A
        thread checkpointing in the background changed nothing measurable (20,000-row
        batches of a 400,000-row import: 11,248 and 11,839 licenses/s without it, 11,912
        and 10,967 with it, alternated).

        **The holder index.** Of the licenses table's seven indexes only this one takes
        its keys in random order (pseudonyms are keyed hashes), so once it outgrows the
        page cache nearly every insert reads and rewrites one of its pages: on a
        400,000-row import it is a fifth of the insert's CPU and more of its I/O, while
        building it afresh from sorted keys costs about 5 µs a row. The other indexes
        stay — the unique ones (a stored number is skipped by (issuer, type, number);
        the status entries' never to be reused) cannot be dropped anyway.

        **The holders.** Their two keys (pseudonym, holder code) are both random: a
        batch of 20,000 new holders dirties most pages of both, and every dirty page is
        written to the WAL and copied back at each commit. With 5 million holders stored
        that is 46 µs of CPU a holder (57 µs wall), and the cost grows with the table: a
        5.78-million-row import averaged 87 µs a row in the main process against 55 for
        a 1-million-row one. So the batches append them to ``STAGED_HOLDERS`` (2 µs a
        row), without keys and with the batch's foreign keys unchecked (``_Bulk.write``
        writes every license's holder in the same transaction), and the end merges them
        in pseudonym order (7 µs a row for 5 million): each page of the pseudonym key is
        then written once. Until then a staged holder is found by ``Holders.get`` in the
        staging table (slower, never wrong). A holder code under two pseudonyms (the
        pseudonym key changed) is refused by the merge, as the batch would have refused
        it: ``storage.conflict``, and the staged holders stay. An import checks the key
        before it starts (``Platform.check_pseudonym_key``), so that is a last line.

        Only when the import is at least as large as the table already is (the rebuild
        reads the whole table), and never on PostgreSQL. Dropping, rebuilding and
        merging are their own committed transactions and idempotent: an import killed
        half-way leaves the index missing and holders staged — lookups by holder are
        then slow, never wrong — and both are put back when the database is next opened
        (``finish_killed_import``: any command, a service worker starting) or by the
        next import (a small one at its start, a large one at its end).

        **Imports at the same time** (other processes): each large one holds a shared
        lock on ``<database>.import-lock`` while it stages, and the index and the holders
        are put back only under the exclusive lock, taken without waiting: by whichever
        import finds no other one running (the last to end; a small one at its start,
        which then also finds a killed import's leftovers, the kernel having released
        the dead process's lock). An import that finds another running leaves both as
        they are for it."""
        if self._db.kind != "sqlite" or self._db.target.memory:
            yield False
            return
        large = expected_rows >= _BULK_INDEX_MIN_ROWS and expected_rows >= self.count()
        if not large:
            self.finish_killed_import()  # before this import writes holders
            yield False
            return
        try:
            with _import_lock(self._lock_path(), exclusive=False):
                with self._db.write() as conn:
                    conn.execute(DropIndex(_HOLDER_INDEX, if_exists=True))
                    conn.exec_driver_sql(_CREATE_STAGED)
                self._staging = True
                try:
                    yield True
                finally:
                    self._staging = False
        except BaseException:
            # The import's own failure is what its caller must see; putting back is
            # tried anyway, and a failure of it is met again by the next import.
            with suppress(Exception):
                self._put_back()
            raise
        self._put_back()

    def finish_killed_import(self) -> None:
        """SQLite: if an import left its holders staged or the holder index dropped and
        no import is running (``bulk_load``), put both back now. Called when a storage
        is opened, so a killed import's leftovers do not wait for the next import (a
        staged holder costs every lookup of a holder not yet in ``holders`` a scan), and
        by a small import before it writes. Nothing is written when nothing was left."""
        if self._db.kind != "sqlite" or self._db.target.memory:
            return
        with self._db.read() as conn:
            names = set(conn.exec_driver_sql(_LEFTOVERS).scalars())
        if "licenses" not in names:  # not migrated yet: nothing was imported
            return
        if names != {"licenses", _HOLDER_INDEX.name}:  # the index missing, or holders staged
            self._put_back()

    def _lock_path(self) -> str:
        return str(self._db.target.url.database) + ".import-lock"

    def _put_back(self) -> None:
        """Merge the staged holders into ``holders`` in one transaction, in pseudonym
        order (a holder stored before keeps its row, as in a batch), and rebuild the
        holder index — unless another import is running (``bulk_load``)."""
        with _import_lock(self._lock_path(), exclusive=True) as alone:
            if not alone:
                return
            try:
                with self._db.write() as conn:
                    if conn.exec_driver_sql(STAGED_EXISTS).first() is not None:
                        # The batches' page cache (``_Bulk.lock``): the holder-code key
                        # still takes the merge's rows in random order.
                        conn.exec_driver_sql(f"PRAGMA cache_size = -{_BULK_CACHE_KIB}")
                        conn.exec_driver_sql(_MERGE_STAGED)
                        conn.exec_driver_sql(f"DROP TABLE {STAGED_HOLDERS}")
            finally:
                with self._db.write() as conn:
                    conn.execute(CreateIndex(_HOLDER_INDEX, if_not_exists=True))

    def numbers_present(self, numbers: Iterable[tuple[str, str, str]]) -> set[tuple[str, str, str]]:
        """Grouped by (issuer, type): each lookup is a range of the
        UNIQUE(issuer_id, type_code, serial) index; serials in slices that stay under
        every driver's parameter limit.

        PostgreSQL gets one LATERAL lookup per serial instead of an IN list: without
        fresh statistics (a table filling up during an import) it plans ``serial IN (…)``
        as a filter over every license of the (issuer, type) — each check then costs a
        scan of everything imported so far, and a large import turns quadratic. An
        equality on the whole key is an index lookup whatever the statistics say."""
        groups: dict[tuple[str, str], list[str]] = {}
        for issuer_id, type_code, serial in numbers:
            groups.setdefault((issuer_id, type_code), []).append(serial)
        found: set[tuple[str, str, str]] = set()
        with self._db.read() as conn:
            for (issuer_id, type_code), serials in groups.items():
                for i in range(0, len(serials), _IN_SLICE):
                    part = serials[i : i + _IN_SLICE]
                    if self._db.kind == "postgresql":
                        rows = conn.execute(
                            _PG_PRESENT, {"serials": part, "issuer": issuer_id, "type": type_code}
                        ).scalars()
                    else:  # plain SQL: an expanding IN of 500 costs more to render than run
                        marks = ", ".join("?" * len(part))
                        rows = conn.exec_driver_sql(
                            _SQLITE_PRESENT.format(marks=marks), (issuer_id, type_code, *part)
                        ).scalars()
                    found.update((issuer_id, type_code, s) for s in rows)
        return found

    def _lock_open_list(self, conn: Connection, owner_id: str) -> _OpenList:
        stmt = (
            select(status_lists)
            .where(status_lists.c.owner_id == owner_id, status_lists.c.is_open == 1)
            .with_for_update(key_share=True)
        )
        row = conn.execute(stmt).first()
        if row is None:
            return self._new_list(conn, owner_id)
        return _OpenList(row)

    def _new_list(self, conn: Connection, owner_id: str) -> _OpenList:
        s = self._settings
        try:
            with conn.begin_nested():
                result = conn.execute(
                    status_lists.insert().values(
                        owner_id=owner_id,
                        uri="",
                        bits=s.bits,
                        size=s.size,
                        data=s.empty,
                        next_counter=0,
                        version=1,
                        token=None,
                        is_open=1,
                    )
                )
        except IntegrityError:
            raise _OpenListRace from None
        pk = result.inserted_primary_key
        if pk is None:  # pragma: no cover - both dialects return the key
            raise ElicenseError("storage.unavailable", details={"reason": "no list id"})
        list_id = int(pk[0])
        conn.execute(
            update(status_lists)
            .where(status_lists.c.id == list_id)
            .values(uri=s.uri.format(owner=owner_id, list_id=list_id))
        )
        row = conn.execute(select(status_lists).where(status_lists.c.id == list_id)).one()
        return _OpenList(row)

    def _save(self, conn: Connection, lst: _OpenList, *, close: bool) -> None:
        values: dict[str, Any] = {"next_counter": lst.counter}
        if close:
            values["is_open"] = None
        if lst.dirty:
            values["data"] = bytes(lst.data.data)
            values["version"] = status_lists.c.version + 1
            values["token"] = None
        conn.execute(update(status_lists).where(status_lists.c.id == lst.id).values(**values))

    # --- lookups ---------------------------------------------------------------------

    def get(self, license_id: str) -> LicenseRecord | None:
        """By identifier, falling back to a historical alias (two indexed lookups)."""
        with self._db.read() as conn:
            row = _find(conn, license_id)
        return None if row is None else _license(row)

    def get_by_number(self, issuer_id: str, type_code: str, serial: str) -> LicenseRecord | None:
        stmt = select(licenses).where(
            licenses.c.issuer_id == issuer_id,
            licenses.c.type_code == type_code,
            licenses.c.serial == serial,
        )
        with self._db.read() as conn:
            row = conn.execute(stmt).first()
        return None if row is None else _license(row)

    def for_holder(
        self, pseudonym: str, types: Collection[str] | None = None
    ) -> Sequence[LicenseRecord]:
        """Every scan reads this: one statement, built once per number of types, run by
        the driver directly (``Database.driver``); the columns come in
        ``LicenseRecord``'s field order."""
        text, params = _for_holder(pseudonym, types)
        with self._db.driver() as conn:
            rows = conn.execute(self._db.sql(text), params).fetchall()
        return [LicenseRecord(*row) for row in rows]

    def for_holder_soon(
        self, pseudonym: str, types: Collection[str] | None = None
    ) -> Pending[Sequence[LicenseRecord]]:
        """``for_holder``, sent now and collected later (``Database.send_read``)."""
        text, params = _for_holder(pseudonym, types)
        return _PendingLicenses(self._db.send_read(text, params, _KINDS))

    def page(self, *, issuer_id: str | None, after: str | None, limit: int) -> Page:
        """Keyset pagination by license identifier: page N costs what page 1 costs."""
        if limit < 1:
            raise ValueError("limit must be positive")
        stmt = select(licenses).order_by(licenses.c.license_id).limit(limit + 1)
        if issuer_id is not None:
            stmt = stmt.where(licenses.c.issuer_id == issuer_id)
        if after is not None:
            stmt = stmt.where(licenses.c.license_id > after)
        with self._db.read() as conn:
            rows = conn.execute(stmt).all()
        items = tuple(_license(r) for r in rows[:limit])
        more = len(rows) > limit
        return Page(items, items[-1].license_id if more else None)

    def count(self) -> int:
        with self._db.read() as conn:
            return int(conn.execute(select(func.count()).select_from(licenses)).scalar_one())

    # --- status ----------------------------------------------------------------------

    def change_status(self, event: StatusEvent, apply: Callable[[int], int]) -> LicenseRecord:
        """Lock order is license row, then its list row — the same order for every
        change, so two concurrent changes never deadlock. The stored event records the
        states actually read and written, whatever the caller put in ``from``/``to``."""
        with self._db.write() as conn:
            row = _find(conn, event.license_id, lock=True)
            if row is None:
                raise ElicenseError("storage.not_found", details={"license_id": event.license_id})
            current = int(row.state)
            new = int(apply(current))
            lst = conn.execute(
                select(status_lists)
                .where(status_lists.c.id == row.status_list_id)
                .with_for_update(key_share=True)
            ).one()
            entries = StatusList(lst.size, lst.bits, bytes(lst.data))
            entries[row.status_idx] = new
            conn.execute(
                update(status_lists)
                .where(status_lists.c.id == lst.id)
                .values(data=bytes(entries.data), version=lst.version + 1, token=None)
            )
            conn.execute(
                update(licenses).where(licenses.c.license_id == row.license_id).values(state=new)
            )
            conn.execute(
                status_events.insert().values(
                    license_id=row.license_id,
                    action=event.action,
                    reason=event.reason,
                    actor=event.actor,
                    at=event.at,
                    from_state=current,
                    to_state=new,
                )
            )
        return replace(_license(row), state=new)

    def events(self, license_id: str) -> Sequence[StatusEvent]:
        stmt = (
            select(status_events)
            .where(status_events.c.license_id == license_id)
            .order_by(status_events.c.id)
        )
        with self._db.read() as conn:
            return [
                StatusEvent(
                    r.license_id, r.action, r.reason, r.actor, r.at, r.from_state, r.to_state
                )
                for r in conn.execute(stmt)
            ]


_IN_SLICE = 500
_PG_PRESENT = text(
    "SELECT l.serial FROM unnest(CAST(:serials AS varchar[])) AS v(serial) "
    "CROSS JOIN LATERAL (SELECT licenses.serial FROM licenses "
    "WHERE licenses.issuer_id = :issuer AND licenses.type_code = :type "
    "AND licenses.serial = v.serial LIMIT 1) AS l"
)
_BULK_INDEX_MIN_ROWS = 100_000
"""Below this, suspending the holder index saves less than rebuilding it costs."""


@contextmanager
def _import_lock(path: str, *, exclusive: bool) -> Iterator[bool]:
    """``flock`` on ``path`` for the block: shared (waits for an exclusive holder), or
    exclusive without waiting (yields whether it got it). The kernel releases it when the
    process ends, however it ends."""
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    except OSError:
        raise ElicenseError("storage.unavailable", details={"reason": "import lock"}) from None
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB if exclusive else fcntl.LOCK_SH)
        except BlockingIOError:
            yield False
            return
        yield True
    finally:
        os.close(fd)


def _holder_index() -> Index:
    """The licenses table's (non-unique) index on the holder pseudonym, from the schema."""
    for index in licenses.indexes:
        if [c.name for c in index.columns] == ["holder_pseudonym"] and not index.unique:
            return index
    raise LookupError("the licenses table has no holder index")  # pragma: no cover


_HOLDER_INDEX = _holder_index()


_SQLITE_PRESENT = (
    "SELECT serial FROM licenses WHERE issuer_id = ? AND type_code = ? AND serial IN ({marks})"
)
_BULK_CACHE_KIB = 64 * 1024


class _Bulk:
    """One ``issue_bulk`` transaction (the ``BulkWriter``): the owners' lists, the entries
    handed out and not yet used, and the writes of each chunk as it arrives."""

    def __init__(self, licensing: SqlLicenses, conn: Connection, carried: CarriedEntries) -> None:
        self.licensing = licensing
        self.conn = conn
        self.started = False
        self.current: dict[str, _OpenList] = {}
        self.lists: dict[int, _OpenList] = {}
        self.handed: dict[tuple[int, int], str] = dict(carried)
        db = licensing._db
        # Plain SQL with positional rows: the rows go to the driver's executemany as they
        # are, without a compiled statement turning every row into a parameter dict and
        # back. Errors still leave through ``Database`` as ``storage.conflict`` /
        # ``unavailable``; only a stored number is skipped (ON CONFLICT on its unique
        # key), any other conflict (an entry, an identifier, an alias) stays an error.
        mark = "?" if db.kind == "sqlite" else "%s"
        self.holder_sql = (
            _STAGE_HOLDERS
            if licensing._staging
            else _insert_sql(holders, _HOLDER_COLUMNS, mark) + _HOLDER_CONFLICT
        )
        self.license_sql = _insert_sql(licenses, _LICENSE_COLUMNS, mark) + _NUMBER_CONFLICT
        self.mark = mark

    def lock(self, owners: list[str]) -> None:
        if self.licensing._db.kind == "sqlite":
            # The licenses table has seven indexes; with SQLite's default 2 MB page cache
            # most inserts of a large import miss it. 64 MiB halves the insert cost. The
            # setting stays with this pooled connection (only importers use this path).
            self.conn.exec_driver_sql(f"PRAGMA cache_size = -{_BULK_CACHE_KIB}")
        for owner in owners:  # sorted: every bulk transaction locks in one order
            self._track(owner, self.licensing._lock_open_list(self.conn, owner))
        self.started = True

    def finish(self) -> None:
        for lst in self.lists.values():
            self.licensing._save(self.conn, lst, close=lst.full)

    def _track(self, owner: str, lst: _OpenList) -> None:
        self.current[owner] = self.lists[lst.id] = lst

    def allocate(self, runs: Sequence[tuple[str, int]]) -> list[StatusEntries]:
        out: list[StatusEntries] = []
        settings = self.licensing._settings
        handed = self.handed
        for owner, count in runs:
            need = count
            while need > 0:
                current = self.current.get(owner)
                if current is None:
                    raise ValueError("allocate: owner not declared to issue_bulk")
                if current.full:
                    self.licensing._save(self.conn, current, close=True)
                    current = self.licensing._new_list(self.conn, owner)
                    self._track(owner, current)
                take = min(need, current.size - current.counter)
                list_id = current.id
                indexes = settings.permutation(current.size).indexes(current.counter, take, list_id)
                handed.update(zip(zip(repeat(list_id), indexes), repeat(owner)))
                out.append(StatusEntries(list_id, current.uri, indexes))
                current.counter += take
                need -= take
        return out

    def write(self, new_holders: Sequence[HolderRow], rows: Sequence[LicenseRow]) -> list[int]:
        # Every entry handed out here, to this license's issuer, at most once: checked a
        # chunk at a time in C (map over the rows), not a Python step per row.
        entries = list(zip(map(_LIST_ID, rows), map(_IDX, rows), strict=True))
        try:
            owners = list(map(self.handed.pop, entries))
        except KeyError:
            owners = []
        if len(owners) != len(rows) or owners != list(map(_ISSUER, rows)):
            raise ElicenseError(
                "storage.conflict",
                "a license does not carry a status entry allocated to its issuer",
                details={"licenses": len(rows)},
            )
        conn = self.conn
        if new_holders:
            conn.exec_driver_sql(self.holder_sql, list(new_holders))
        if not rows:
            return []
        stored = conn.exec_driver_sql(self.license_sql, list(rows)).rowcount
        skipped: list[int] = []
        if stored != len(rows):  # a number already stored: which rows were left out
            # Rare (a re-run checks stored numbers before signing): the stored rows are
            # the ones whose fresh entries are now taken.
            kept: set[tuple[int, int]] = set()
            for list_id in {e[0] for e in entries}:
                idxs = [e[1] for e in entries if e[0] == list_id]
                for i in range(0, len(idxs), _IN_SLICE):
                    part = idxs[i : i + _IN_SLICE]
                    marks = ", ".join([self.mark] * len(part))
                    sql = _ENTRIES_TAKEN.format(mark=self.mark, marks=marks)
                    taken = conn.exec_driver_sql(sql, (list_id, *part)).scalars()
                    kept.update((list_id, idx) for idx in taken)
            skipped = [i for i, e in enumerate(entries) if e not in kept]
        if any(map(_STATE, rows)):
            gone = set(skipped)
            for i, r in enumerate(rows):
                if r[_STATE_AT] and i not in gone:
                    self._set_state(r[_LIST_AT], r[_IDX_AT], r[_STATE_AT])
        return skipped

    def carry(self, entries: Sequence[StatusEntries]) -> CarriedEntries:
        handed = self.handed
        try:
            return {
                key: handed.pop(key) for e in entries for key in zip(repeat(e.list_id), e.indexes)
            }
        except KeyError:
            raise ElicenseError(
                "storage.conflict", "only entries handed out and unused can be carried over"
            ) from None

    def _set_state(self, list_id: int, idx: int, state: int) -> None:
        lst = self.lists.get(list_id)
        if lst is None:  # a carried entry of a list that filled up and closed since
            row = self.conn.execute(
                select(status_lists).where(status_lists.c.id == list_id).with_for_update()
            ).one()
            lst = self.lists[list_id] = _OpenList(row)
        lst.data[idx] = state
        lst.dirty = True


_HOLDER_COLUMNS = tuple(f.name for f in fields(HolderRecord))
_HOLDER_CONFLICT = " ON CONFLICT (pseudonym) DO NOTHING"
_STAGED_COLUMNS = ", ".join(_HOLDER_COLUMNS)
_CREATE_STAGED = f"CREATE TABLE IF NOT EXISTS {STAGED_HOLDERS} ({_STAGED_COLUMNS})"
# ``WHERE true``: SQLite's parser needs it between an INSERT's SELECT and its ON CONFLICT.
_MERGE_STAGED = (
    f"INSERT INTO holders ({_STAGED_COLUMNS}) SELECT {_STAGED_COLUMNS} FROM {STAGED_HOLDERS} "  # noqa: S608 - constants
    "WHERE true ORDER BY pseudonym, created_at, rowid" + _HOLDER_CONFLICT
)
_NUMBER_CONFLICT = " ON CONFLICT (issuer_id, type_code, serial) DO NOTHING"
_LEFTOVERS = (
    "SELECT name FROM sqlite_master WHERE name IN "  # noqa: S608 - constants
    f"('licenses', '{STAGED_HOLDERS}', '{_HOLDER_INDEX.name}')"
)
_STAGE_HOLDERS = f"INSERT INTO {STAGED_HOLDERS} ({_STAGED_COLUMNS}) VALUES (?, ?, ?, ?)"  # noqa: S608 - constants
_ENTRIES_TAKEN = (
    "SELECT status_idx FROM licenses WHERE status_list_id = {mark} AND status_idx IN ({marks})"
)
_LIST_AT = _LICENSE_COLUMNS.index("status_list_id")
_IDX_AT = _LICENSE_COLUMNS.index("status_idx")
_STATE_AT = _LICENSE_COLUMNS.index("state")
_LIST_ID, _IDX = itemgetter(_LIST_AT), itemgetter(_IDX_AT)
_ISSUER, _STATE = itemgetter(_LICENSE_COLUMNS.index("issuer_id")), itemgetter(_STATE_AT)


def _insert_sql(table: Table, columns: Sequence[str], mark: str) -> str:
    """A positional INSERT; names come from the schema (``table.c[name]`` fails on a
    field the table lacks), never from data."""
    names = ", ".join(table.c[name].name for name in columns)
    marks = ", ".join([mark] * len(columns))
    return f"INSERT INTO {table.name} ({names}) VALUES ({marks})"  # noqa: S608


class SqlStatusLists:
    def __init__(self, db: Database) -> None:
        self._db = db

    def get(self, list_id: int) -> StatusListRecord | None:
        with self._db.read() as conn:
            row = conn.execute(select(status_lists).where(status_lists.c.id == list_id)).first()
        return None if row is None else _status_list(row)

    def for_owner(self, owner_id: str) -> Sequence[StatusListRecord]:
        stmt = select(status_lists).where(status_lists.c.owner_id == owner_id).order_by("id")
        with self._db.read() as conn:
            return [_status_list(r) for r in conn.execute(stmt)]

    def set_token(self, list_id: int, version: int, token: str) -> None:
        """Compare-and-set on ``version``: a token signed over data that has changed since
        is dropped rather than published as current."""
        with self._db.write(single=True) as conn:
            conn.execute(
                update(status_lists)
                .where(status_lists.c.id == list_id, status_lists.c.version == version)
                .values(token=token)
            )
