"""Contract of the bulk issuance path (``issue_bulk``, ``numbers_present``,
``issuer_types_present``) that imports use, on SQLite and PostgreSQL: one transaction per
call, entries allocated a run at a time as the batch is built, chunks written as they
arrive, stored numbers skipped, gaps allowed but never a reused entry."""

from __future__ import annotations

import multiprocessing
from collections.abc import Callable
from dataclasses import astuple

import pytest

from elicense import ports
from elicense.errors import ElicenseError
from elicense.ports import BulkWriter, HolderRow, LicenseRow, StatusEntries
from elicense.records import HolderRecord, LicenseRecord
from elicense.statuslist import IndexPermutation, StatusList
from elicense.storage import SqlStorage
from elicense.storage.licensing import SqlLicenses

from .storage_support import (
    ISSUER,
    NOW,
    OTHER_ISSUER,
    STATUS_KEY,
    die_mid_import,
    holder,
    new_license,
)

Opener = Callable[..., SqlStorage]


def _row(rec: LicenseRecord) -> LicenseRow:
    return astuple(rec)


def _hrow(h: HolderRecord) -> HolderRow:
    return (h.pseudonym, h.holder_type, h.holder_code, h.created_at)


def _entries(writer: BulkWriter, owner: str, n: int) -> list[tuple[int, int]]:
    return [(e.list_id, idx) for e in writer.allocate([(owner, n)]) for idx in e.indexes]


def _rows(writer: BulkWriter, serials: list[str], owner: str, h: HolderRecord) -> list[LicenseRow]:
    entries = _entries(writer, owner, len(serials))
    return [
        _row(new_license(s, h.pseudonym, issuer=owner)(list_id, idx))
        for s, (list_id, idx) in zip(serials, entries, strict=True)
    ]


def test_issue_bulk_registers_holders_and_stores_every_chunk(storage: SqlStorage) -> None:
    h1, h2 = holder(1), holder(2)

    def build(writer: BulkWriter) -> int:
        skipped = writer.write([_hrow(h1)], _rows(writer, ["A1", "A2"], ISSUER, h1))
        # h1 again: no conflict
        skipped += writer.write([_hrow(h1), _hrow(h2)], _rows(writer, ["B1"], OTHER_ISSUER, h2))
        return len(skipped)

    assert storage.licenses.issue_bulk([OTHER_ISSUER, ISSUER], build) == 0
    assert storage.holders.get(h2.pseudonym) == h2
    assert storage.licenses.count() == 3
    assert [lst.next_counter for lst in storage.status_lists.for_owner(ISSUER)] == [2]
    rec = storage.licenses.get_by_number(OTHER_ISSUER, "11100000000013338W011", "B1")
    assert rec is not None
    assert rec.holder_pseudonym == h2.pseudonym


def test_issue_bulk_hands_out_the_permutation_indexes_with_the_list_uri(
    storage: SqlStorage,
) -> None:
    seen = []

    def build(writer: BulkWriter) -> None:
        seen.extend(writer.allocate([(ISSUER, 3)]))
        seen.extend(writer.allocate([(ISSUER, 2), (ISSUER, 0)]))

    storage.licenses.issue_bulk([ISSUER], build)
    (lst,) = storage.status_lists.for_owner(ISSUER)
    perm = IndexPermutation(STATUS_KEY, lst.size)
    assert [i for e in seen for i in e.indexes] == [perm.index(c, lst.id) for c in range(5)]
    assert {(e.list_id, e.uri) for e in seen} == {(lst.id, lst.uri)}


def test_unused_entries_stay_gaps_and_are_never_handed_out_again(storage: SqlStorage) -> None:
    h = holder(1)
    storage.holders.upsert(h)
    first: list[tuple[int, int]] = []

    def build(writer: BulkWriter) -> list[int]:
        first.extend(_entries(writer, ISSUER, 5))
        return writer.write([], [_row(new_license("S0", h.pseudonym)(*first[0]))])

    assert storage.licenses.issue_bulk([ISSUER], build) == []
    later = storage.licenses.issue_many(
        ISSUER, [new_license(f"T{i}", h.pseudonym) for i in range(3)]
    )
    assert not {(r.status_list_id, r.status_idx) for r in later} & set(first)
    assert [lst.next_counter for lst in storage.status_lists.for_owner(ISSUER)] == [8]


def test_issue_bulk_opens_new_lists_when_one_fills_mid_batch(open_store: Opener) -> None:
    store = open_store(list_size=8)
    h = holder(1)

    def build(writer: BulkWriter) -> None:
        for chunk in range(4):  # 4 x 5 = 20 entries over lists of 8
            writer.write([_hrow(h)], _rows(writer, [f"S{chunk}{i}" for i in range(5)], ISSUER, h))

    store.licenses.issue_bulk([ISSUER], build)
    lists = store.status_lists.for_owner(ISSUER)
    assert [lst.next_counter for lst in lists] == [8, 8, 4]
    page = store.licenses.page(issuer_id=ISSUER, after=None, limit=100).items
    assert len({(r.status_list_id, r.status_idx) for r in page}) == 20


def test_a_failing_build_writes_nothing_even_of_chunks_already_written(
    storage: SqlStorage,
) -> None:
    h = holder(1)

    def build(writer: BulkWriter) -> None:
        writer.write([_hrow(h)], _rows(writer, ["S1", "S2"], ISSUER, h))
        raise RuntimeError("killed half-way")

    with pytest.raises(RuntimeError):
        storage.licenses.issue_bulk([ISSUER], build)
    assert storage.licenses.count() == 0
    assert storage.holders.get(h.pseudonym) is None
    assert [lst.next_counter for lst in storage.status_lists.for_owner(ISSUER)] in ([], [0])


def test_a_stored_number_is_skipped_and_the_first_of_two_equal_numbers_wins(
    storage: SqlStorage,
) -> None:
    h = holder(1)
    storage.holders.upsert(h)
    storage.licenses.issue(ISSUER, new_license("S1", h.pseudonym))

    def build(writer: BulkWriter) -> list[list[int]]:
        first = writer.write([], _rows(writer, ["S2", "S1", "S3"], ISSUER, h))
        (a, b) = _entries(writer, ISSUER, 2)
        twins = [
            _row(new_license("S4", h.pseudonym, state=1)(*a)),
            _row(new_license("S4", h.pseudonym)(*b)),
        ]
        return [first, writer.write([], twins)]

    assert storage.licenses.issue_bulk([ISSUER], build) == [[1], [1]]
    assert storage.licenses.count() == 4
    s4 = storage.licenses.get_by_number(ISSUER, "11100000000013338W011", "S4")
    assert s4 is not None
    assert s4.state == 1  # the first one
    (lst,) = storage.status_lists.for_owner(ISSUER)
    assert lst.next_counter == 6  # the skipped rows' entries stay gaps
    assert sum(StatusList(lst.size, lst.bits, lst.data)[i] for i in range(lst.size)) == 1


def test_a_conflict_other_than_a_stored_number_writes_nothing_of_the_batch(
    storage: SqlStorage,
) -> None:
    h = holder(1)
    storage.holders.upsert(h)
    taken = storage.licenses.issue(ISSUER, new_license("S1", h.pseudonym, alias="OLD-1"))

    def build(writer: BulkWriter) -> None:
        writer.write([], _rows(writer, ["S2"], ISSUER, h))
        (entry,) = _entries(writer, ISSUER, 1)
        writer.write([], [_row(new_license("S3", h.pseudonym, alias=taken.alias)(*entry))])

    with pytest.raises(ElicenseError) as exc:
        storage.licenses.issue_bulk([ISSUER], build)
    assert exc.value.code == "storage.conflict"
    assert storage.licenses.count() == 1
    assert [lst.next_counter for lst in storage.status_lists.for_owner(ISSUER)] == [1]


def test_a_license_with_an_entry_not_handed_out_or_used_twice_is_refused(
    storage: SqlStorage,
) -> None:
    h = holder(1)
    storage.holders.upsert(h)

    def twice(writer: BulkWriter) -> None:
        (e,) = _entries(writer, ISSUER, 1)
        writer.write([], [_row(new_license(s, h.pseudonym)(*e)) for s in ("S1", "S2")])

    def invented(writer: BulkWriter) -> None:
        (e,) = _entries(writer, ISSUER, 1)
        writer.write([], [_row(new_license("S1", h.pseudonym)(e[0], e[1] + 1))])

    def foreign(writer: BulkWriter) -> None:
        (e,) = _entries(writer, ISSUER, 1)  # an entry of ISSUER's list on another's license
        writer.write([], [_row(new_license("S1", h.pseudonym, issuer=OTHER_ISSUER)(*e))])

    for build in (twice, invented, foreign):
        with pytest.raises(ElicenseError) as exc:
            storage.licenses.issue_bulk([ISSUER, OTHER_ISSUER], build)
        assert exc.value.code == "storage.conflict"
    assert storage.licenses.count() == 0


def test_allocating_for_an_undeclared_owner_is_a_programming_error(storage: SqlStorage) -> None:
    def build(writer: BulkWriter) -> None:
        writer.allocate([(OTHER_ISSUER, 1)])

    with pytest.raises(ValueError, match="not declared"):
        storage.licenses.issue_bulk([ISSUER], build)


def test_a_non_valid_state_of_a_bulk_license_is_mirrored_in_its_list(storage: SqlStorage) -> None:
    h = holder(1)

    def build(writer: BulkWriter) -> None:
        (e,) = _entries(writer, ISSUER, 1)
        writer.write([_hrow(h)], [_row(new_license("S1", h.pseudonym, state=1)(*e))])

    storage.licenses.issue_bulk([ISSUER], build)
    assert _listed_state(storage, "S1") == 1


def _listed_state(store: SqlStorage, serial: str) -> int:
    """The state the status list holds at the entry of ``ISSUER``'s license ``serial``."""
    rec = store.licenses.get_by_number(ISSUER, "11100000000013338W011", serial)
    assert rec is not None
    lst = store.status_lists.get(rec.status_list_id)
    assert lst is not None
    return StatusList(lst.size, lst.bits, lst.data)[rec.status_idx]


def test_entries_carried_over_are_written_by_the_next_transaction_even_once_their_list_closed(
    open_store: Opener,
) -> None:
    """What lets an import sign the next batch while the last one commits."""
    store = open_store(list_size=8)
    h = holder(1)
    carried: list[tuple[int, int]] = []

    def first(writer: BulkWriter) -> ports.CarriedEntries:
        writer.write([_hrow(h)], _rows(writer, ["A0", "A1"], ISSUER, h))
        entries = writer.allocate([(ISSUER, 9)])  # 6 on the first list (it fills), 3 on a new one
        carried.extend((e.list_id, i) for e in entries for i in e.indexes)
        return writer.carry(entries)

    handed = store.licenses.issue_bulk([ISSUER], first)
    assert sorted(handed) == sorted(carried)
    assert [lst.next_counter for lst in store.status_lists.for_owner(ISSUER)] == [8, 3]

    def second(writer: BulkWriter) -> None:
        rows = [
            _row(new_license(f"B{n}", h.pseudonym, state=1 if n in (0, 8) else 0)(*entry))
            for n, entry in enumerate(carried)
        ]
        writer.write([], rows)

    store.licenses.issue_bulk([ISSUER], second, handed)
    lists = store.status_lists.for_owner(ISSUER)
    assert [lst.next_counter for lst in lists] == [8, 3]  # nothing handed out twice
    assert store.licenses.count() == 11
    for n in (0, 8):  # the state of a carried entry lands in its list, open or closed
        assert _listed_state(store, f"B{n}") == 1


def test_only_entries_handed_out_and_unused_can_be_carried_and_only_to_the_next_transaction(
    storage: SqlStorage,
) -> None:
    h = holder(1)
    storage.holders.upsert(h)

    def used(writer: BulkWriter) -> None:
        entries = writer.allocate([(ISSUER, 1)])
        writer.write(
            [], [_row(new_license("S1", h.pseudonym)(entries[0].list_id, entries[0].indexes[0]))]
        )
        writer.carry(entries)

    def invented(writer: BulkWriter) -> None:
        (e,) = writer.allocate([(ISSUER, 1)])
        writer.carry([StatusEntries(e.list_id, e.uri, [e.indexes[0] + 1])])

    for build in (used, invented):
        with pytest.raises(ElicenseError) as exc:
            storage.licenses.issue_bulk([ISSUER], build)
        assert exc.value.code == "storage.conflict"
    handed = storage.licenses.issue_bulk([ISSUER], lambda w: w.carry(w.allocate([(ISSUER, 1)])))
    ((entry, _),) = handed.items()

    def write(serial: str) -> Callable[[BulkWriter], None]:
        return lambda w: w.write([], [_row(new_license(serial, h.pseudonym)(*entry))])

    storage.licenses.issue_bulk([ISSUER], write("S2"), handed)
    with pytest.raises(ElicenseError) as dropped:  # not carried: the next one refuses it
        storage.licenses.issue_bulk([ISSUER], write("S3"))
    assert dropped.value.code == "storage.conflict"
    with pytest.raises(ElicenseError) as again:  # carried twice: the entry is taken
        storage.licenses.issue_bulk([ISSUER], write("S3"), handed)
    assert again.value.code == "storage.conflict"
    assert storage.licenses.count() == 1


def test_issuer_types_present_names_the_pairs_with_a_stored_license(storage: SqlStorage) -> None:
    h = holder(1)
    storage.holders.upsert(h)
    storage.licenses.issue(ISSUER, new_license("S1", h.pseudonym))
    type_code = "11100000000013338W011"
    asked = [(ISSUER, type_code), (OTHER_ISSUER, type_code), (ISSUER, "11100000000013338W012")]
    assert storage.licenses.issuer_types_present(asked) == {(ISSUER, type_code)}
    assert storage.licenses.issuer_types_present([]) == set()


def test_numbers_present_names_exactly_the_stored_numbers(storage: SqlStorage) -> None:
    h = holder(1)
    storage.holders.upsert(h)
    storage.licenses.issue_many(ISSUER, [new_license(f"S{i}", h.pseudonym) for i in range(600)])
    storage.licenses.issue(OTHER_ISSUER, new_license("S1", h.pseudonym, issuer=OTHER_ISSUER))
    type_code = "11100000000013338W011"
    asked = [(ISSUER, type_code, f"S{i}") for i in range(0, 1200, 2)]
    asked += [(OTHER_ISSUER, type_code, "S1"), (OTHER_ISSUER, type_code, "S2")]
    asked += [(ISSUER, "11100000000013338W012", "S0")]
    assert storage.licenses.numbers_present(asked) == {
        *((ISSUER, type_code, f"S{i}") for i in range(0, 600, 2)),
        (OTHER_ISSUER, type_code, "S1"),
    }
    assert storage.licenses.numbers_present([]) == set()


def _has_holder_index(store: SqlStorage) -> bool:
    with store.db.read() as conn:
        if store.db.kind == "sqlite":
            sql = "SELECT count(*) FROM sqlite_master WHERE name = 'ix_licenses_holder_pseudonym'"
        else:
            sql = "SELECT count(*) FROM pg_indexes WHERE indexname = 'ix_licenses_holder_pseudonym'"
        return bool(conn.exec_driver_sql(sql).scalar_one())


def test_a_large_bulk_load_on_sqlite_suspends_the_holder_index_and_rebuilds_it(
    storage: SqlStorage,
) -> None:
    licenses = storage.licenses
    assert isinstance(licenses, SqlLicenses)
    h = holder(1)
    storage.holders.upsert(h)
    with licenses.bulk_load(1_000_000) as suspended:
        assert suspended == (storage.db.kind == "sqlite")  # never on PostgreSQL
        assert _has_holder_index(storage) is not suspended
        storage.licenses.issue(ISSUER, new_license("S1", h.pseudonym))
        assert [r.serial for r in licenses.for_holder(h.pseudonym)] == ["S1"]  # slower, right
    assert _has_holder_index(storage)
    assert [r.serial for r in licenses.for_holder(h.pseudonym)] == ["S1"]
    with licenses.bulk_load(1_000) as small:  # the rebuild would cost more than it saves
        assert not small
        assert _has_holder_index(storage)


def _die_mid_import(storage: SqlStorage, first: int = 1, count: int = 3) -> None:
    """A large import in another process that stores a batch and is killed."""
    ctx = multiprocessing.get_context("spawn")
    url = str(storage.db.target.url)
    proc = ctx.Process(target=die_mid_import, args=(url, first, count))
    proc.start()
    proc.join(60)
    assert proc.exitcode == 0


def test_an_import_killed_with_the_holder_index_suspended_gets_it_back_on_the_re_run(
    storage: SqlStorage,
) -> None:
    licenses = _sqlite_licenses(storage)
    _die_mid_import(storage)
    assert not _has_holder_index(storage)

    def re_run_that_fails() -> None:
        with licenses.bulk_load(1_000_000):
            assert not _has_holder_index(storage)
            raise RuntimeError("the batch failed")

    with pytest.raises(RuntimeError, match="the batch failed"):
        re_run_that_fails()
    assert _has_holder_index(storage)  # an error rebuilds it too


def _sqlite_licenses(storage: SqlStorage) -> SqlLicenses:
    """The licenses adapter, for behaviours of SQLite only (PostgreSQL imports write
    holders and the holder index in their batches)."""
    if storage.db.kind != "sqlite":
        pytest.skip("SQLite only")
    licenses = storage.licenses
    assert isinstance(licenses, SqlLicenses)
    return licenses


def _stored_holders(store: SqlStorage) -> int:
    """How many holders ``holders`` has, once every license is checked to refer to one."""
    with store.db.read() as conn:
        assert conn.exec_driver_sql("PRAGMA foreign_key_check").all() == []
        return int(conn.exec_driver_sql("SELECT count(*) FROM holders").scalar_one())


def _staged_table(store: SqlStorage) -> bool:
    with store.db.read() as conn:
        sql = "SELECT count(*) FROM sqlite_master WHERE name = 'holders_staged'"
        return bool(conn.exec_driver_sql(sql).scalar_one())


def _foreign_keys_on(store: SqlStorage) -> bool:
    with store.db.read() as conn:
        return bool(conn.exec_driver_sql("PRAGMA foreign_keys").scalar_one())


def _bulk_of(writer: BulkWriter, hs: list[HolderRecord], first: int) -> int:
    rows = [r for i, h in enumerate(hs) for r in _rows(writer, [f"H{first + i}"], ISSUER, h)]
    return len(writer.write([_hrow(h) for h in hs], rows))


def test_a_large_bulk_load_on_sqlite_stages_its_holders_and_merges_them_at_the_end(
    storage: SqlStorage,
) -> None:
    licenses = _sqlite_licenses(storage)
    before = holder(1)
    storage.holders.upsert(before)
    again = HolderRecord(before.pseudonym, before.holder_type, before.holder_code, NOW + 99)
    fresh = [holder(n) for n in range(2, 6)]
    with licenses.bulk_load(1_000_000) as staged:
        assert staged
        assert _staged_table(storage)
        # A batch's licenses refer to holders that are only staged: accepted, and the
        # holders are found (in the staging table) before they are merged.
        assert licenses.issue_bulk([ISSUER], lambda w: _bulk_of(w, [again, *fresh[:2]], 0)) == 0
        assert licenses.issue_bulk([ISSUER], lambda w: _bulk_of(w, fresh[1:], 10)) == 0
        assert storage.holders.get(fresh[3].pseudonym) == fresh[3]
        assert storage.holders.get(holder(99).pseudonym) is None
        assert _foreign_keys_on(storage)  # only the batches ran without the checks
    assert not _staged_table(storage)
    assert storage.holders.get(before.pseudonym) == before  # kept its row, as in a batch
    assert [storage.holders.get(h.pseudonym) for h in fresh] == fresh
    assert licenses.count() == 6
    assert sorted(r.serial for r in licenses.for_holder(fresh[1].pseudonym)) == ["H10", "H2"]
    assert _stored_holders(storage) == 5


def test_outside_a_large_bulk_load_a_license_of_an_unknown_holder_is_still_refused(
    storage: SqlStorage,
) -> None:
    licenses = storage.licenses
    assert isinstance(licenses, SqlLicenses)
    with licenses.bulk_load(1_000_000):
        pass
    ghost = holder(7)

    def build(writer: BulkWriter) -> int:
        return len(writer.write([], _rows(writer, ["G1"], ISSUER, ghost)))

    with pytest.raises(ElicenseError) as caught:
        licenses.issue_bulk([ISSUER], build)
    assert caught.value.code == "storage.conflict"
    assert licenses.count() == 0


def test_holders_staged_by_a_killed_import_are_merged_by_the_next_one_even_a_small_one(
    storage: SqlStorage,
) -> None:
    licenses = _sqlite_licenses(storage)
    _die_mid_import(storage, first=1, count=3)
    assert _staged_table(storage)
    assert storage.holders.get(holder(3).pseudonym) == holder(3)  # found while staged
    with licenses.bulk_load(10) as large:  # a small import: merges first, then writes
        assert not large
        assert not _staged_table(storage)
        assert _has_holder_index(storage)
        assert licenses.issue_bulk([ISSUER], lambda w: _bulk_of(w, [holder(4)], 3)) == 0
    assert _stored_holders(storage) == 4


def test_imports_at_the_same_time_leave_the_merge_to_the_last_one_running(
    open_store: Opener,
) -> None:
    first, second, small = open_store(), open_store(), open_store()
    one, two = _sqlite_licenses(first), _sqlite_licenses(second)
    with one.bulk_load(1_000_000):
        with two.bulk_load(1_000_000):
            assert two.issue_bulk([ISSUER], lambda w: _bulk_of(w, [holder(1)], 0)) == 0
        # The second ended while the first runs: it left the staging and the index.
        assert _staged_table(first)
        assert not _has_holder_index(first)
        with small.licenses.bulk_load(10) as large:  # a small one leaves them too
            assert not large
        assert _staged_table(first)
        assert one.issue_bulk([ISSUER], lambda w: _bulk_of(w, [holder(2)], 1)) == 0
    assert not _staged_table(first)
    assert _has_holder_index(first)
    assert [first.holders.get(holder(n).pseudonym) for n in (1, 2)] == [holder(1), holder(2)]


def test_a_holder_code_staged_under_a_second_pseudonym_is_refused_by_the_merge(
    storage: SqlStorage, open_store: Opener
) -> None:
    licenses = _sqlite_licenses(storage)
    old = holder(1)
    storage.holders.upsert(old)
    changed_key = holder(2, code=old.holder_code)  # same person, another pseudonym

    def load() -> None:
        with licenses.bulk_load(1_000_000):
            licenses.issue_bulk([ISSUER], lambda w: _bulk_of(w, [changed_key], 0))

    with pytest.raises(ElicenseError) as caught:
        load()
    assert caught.value.code == "storage.conflict"
    assert _staged_table(storage)  # kept: nothing is lost, the next run says it again
    assert _has_holder_index(storage)
    assert storage.holders.get(changed_key.pseudonym) == changed_key

    def load_that_fails() -> None:
        with licenses.bulk_load(1_000_000):
            raise RuntimeError("the batch failed")

    with pytest.raises(RuntimeError, match="the batch failed"):  # not masked by the merge's
        load_that_fails()
    reopened = open_store()  # opening still works; the leftovers wait for an import
    assert _staged_table(reopened)


def test_opening_the_database_puts_back_what_a_killed_import_left(
    storage: SqlStorage, open_store: Opener
) -> None:
    _sqlite_licenses(storage)
    _die_mid_import(storage, first=1, count=3)
    assert _staged_table(storage)
    assert not _has_holder_index(storage)
    reopened = open_store()  # a service worker starting, any command
    assert not _staged_table(reopened)
    assert _has_holder_index(reopened)
    assert [reopened.holders.get(holder(n).pseudonym) for n in (1, 2, 3)] == [
        holder(n) for n in (1, 2, 3)
    ]
    assert _stored_holders(reopened) == 3


def test_opening_the_database_while_an_import_runs_leaves_its_staging_alone(
    storage: SqlStorage, open_store: Opener
) -> None:
    licenses = _sqlite_licenses(storage)
    with licenses.bulk_load(1_000_000):
        assert licenses.issue_bulk([ISSUER], lambda w: _bulk_of(w, [holder(1)], 0)) == 0
        open_store()
        assert _staged_table(storage)
        assert not _has_holder_index(storage)
    assert not _staged_table(storage)
    assert storage.holders.get(holder(1).pseudonym) == holder(1)
