"""Atomicity across real processes: what several service workers on one database see.

Each worker is a separate interpreter ("spawn") with its own engine and pool, running 8
threads released together, so the races are between processes and between connections,
not just between Python threads sharing a lock.
"""

from __future__ import annotations

import multiprocessing
import os
import signal
import time
from collections.abc import Callable

import pytest
from sqlalchemy import func, select, text

from elicense import audit
from elicense.statuslist import IndexPermutation, StatusList
from elicense.storage import SqlStorage
from elicense.storage.schema import licenses, status_lists

from .storage_support import (
    ISSUER,
    NOW,
    SD_JWT,
    STATUS_KEY,
    TYPE_CODE,
    Database,
    consent,
    holder,
    issue_forever,
    new_license,
    open_for,
    race_worker,
)

PROCESSES = 2
THREADS = 8
Opener = Callable[..., SqlStorage]


def race(database: Database, what: str, attempts: int) -> list[int]:
    """Successes per process when ``PROCESSES`` × ``THREADS`` make ``attempts`` calls."""
    url, schema = database
    ctx = multiprocessing.get_context("spawn")
    start = ctx.Barrier(PROCESSES)
    results = ctx.Queue()
    share = attempts // PROCESSES
    procs = [
        ctx.Process(target=race_worker, args=(url, schema, what, THREADS, share, start, results))
        for _ in range(PROCESSES)
    ]
    for p in procs:
        p.start()
    try:
        wins = [results.get(timeout=60) for _ in procs]
    finally:
        for p in procs:
            p.join(timeout=30)
    assert all(p.exitcode == 0 for p in procs)
    return wins


def test_one_code_presented_100_times_by_2_processes_x_8_threads_succeeds_once(
    database: Database, storage: SqlStorage
) -> None:
    wins = race(database, "replay", 100)
    assert sum(wins) == 1
    assert storage.replay.consume("code", "jti-race", expires_at=NOW + 300, now=NOW) is False


def test_a_consent_with_three_uses_is_used_exactly_three_times_under_the_same_race(
    database: Database, storage: SqlStorage
) -> None:
    storage.consents.put(consent("consent-race", "ab" * 16, max_uses=3))
    wins = race(database, "consent", 100)
    assert sum(wins) == 3
    assert storage.consents.get("consent-race").uses == 3  # type: ignore[union-attr]


def test_concurrent_appends_from_two_processes_form_one_gapless_chain(
    database: Database, storage: SqlStorage
) -> None:
    wins = race(database, "append", 64)
    assert sum(wins) == 64
    records = storage.access_log.records()
    assert [r.seq for r in records] == list(range(1, 65))
    assert audit.verify_chain(records) == []


def test_one_code_settled_by_2_processes_x_8_threads_is_accepted_once_in_one_chain(
    database: Database, storage: SqlStorage
) -> None:
    storage.consents.put(consent("consent-race", "ab" * 16, max_uses=5))
    wins = race(database, "settle", 64)
    assert sum(wins) == 1
    records = storage.access_log.records()
    assert [r.seq for r in records] == list(range(1, 65))
    assert audit.verify_chain(records) == []
    assert [r.code for r in records].count("code.replayed") == 63
    assert storage.consents.get("consent-race").uses == 1  # type: ignore[union-attr]


def test_concurrent_issuance_for_one_new_owner_never_reuses_a_status_index(
    database: Database, storage: SqlStorage
) -> None:
    storage.holders.upsert(holder(1))
    wins = race(database, "issue", 48)
    assert sum(wins) == 48
    (lst,) = storage.status_lists.for_owner("owner-race")  # one list, though both raced to open it
    assert lst.next_counter == 48
    with storage.db.read() as conn:
        idx = conn.execute(select(licenses.c.status_idx)).scalars().all()
    perm = IndexPermutation(STATUS_KEY, lst.size)
    assert sorted(idx) == sorted(perm.index(c, lst.id) for c in range(48))


# --- kill -9 in the middle of a batch ---------------------------------------------------

BATCH = 20_000


def _wait(condition: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting for {what}")
        time.sleep(0.01)


def test_kill_9_during_a_batch_insert_leaves_only_whole_batches(
    database: Database, storage: SqlStorage
) -> None:
    url, schema = database
    storage.holders.upsert(holder(1))
    ctx = multiprocessing.get_context("spawn")
    started, done, seconds = ctx.Value("i", 0), ctx.Value("i", 0), ctx.Value("d", 0.0)
    proc = ctx.Process(target=issue_forever, args=(url, schema, BATCH, started, done, seconds))
    proc.start()
    try:
        _wait(lambda: done.value >= 1 and started.value >= 2, 60, "the first committed batch")
        time.sleep(seconds.value / 2)  # well inside the second (or a later) batch
        in_flight = started.value
        committed_before = done.value
        os.kill(proc.pid, signal.SIGKILL)  # type: ignore[arg-type]
    finally:
        proc.join(timeout=30)
    assert proc.exitcode == -signal.SIGKILL
    assert committed_before < in_flight  # the kill landed while a batch was in flight

    count = storage.licenses.count()
    assert count % BATCH == 0
    assert committed_before * BATCH <= count <= in_flight * BATCH
    assert count >= BATCH
    _assert_licenses_consistent(storage, count)
    # The database is usable afterwards: no stale lock, no half-open list.
    fresh = open_for(url, schema, list_size=16_384)
    try:
        fresh.licenses.issue("owner-kill", new_license("AFTERKILL", holder(1).pseudonym))
        assert fresh.licenses.count() == count + 1
    finally:
        fresh.close()


def _assert_licenses_consistent(storage: SqlStorage, count: int) -> None:
    with storage.db.read() as conn:
        if storage.kind == "sqlite":
            assert conn.execute(text("PRAGMA integrity_check")).scalar() == "ok"
        intact = conn.execute(
            select(func.count())
            .select_from(licenses)
            .where(
                licenses.c.sd_jwt == SD_JWT,
                licenses.c.holder_pseudonym == holder(1).pseudonym,
                licenses.c.type_code == TYPE_CODE,
                licenses.c.issuer_id == ISSUER,
                licenses.c.valid_until > licenses.c.valid_from,
            )
        ).scalar()
        assert intact == count
        lists = conn.execute(
            select(status_lists).where(status_lists.c.owner_id == "owner-kill")
        ).all()
        assert sum(lst.next_counter for lst in lists) == count
        assert sum(1 for lst in lists if lst.is_open == 1) <= 1
        for lst in lists:
            rows = conn.execute(
                select(licenses.c.status_idx, licenses.c.state).where(
                    licenses.c.status_list_id == lst.id
                )
            ).all()
            assert len(rows) == lst.next_counter
            perm = IndexPermutation(STATUS_KEY, lst.size)
            assert sorted(r.status_idx for r in rows) == sorted(
                perm.index(c, lst.id) for c in range(lst.next_counter)
            )
            entries = StatusList(lst.size, lst.bits, bytes(lst.data))
            assert all(entries[r.status_idx] == r.state for r in rows)
