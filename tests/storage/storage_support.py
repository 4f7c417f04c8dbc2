"""Records for the storage contract tests, and the workers the process tests spawn.

Workers are top-level functions of an importable module because the "spawn" start method
re-imports them in a fresh interpreter; each opens its own storage from the URL, exactly
as a separate service worker would.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable
from dataclasses import astuple, replace
from typing import Any

from elicense.identifiers.license_id import compose_license_id
from elicense.ports import BulkWriter, NewLicense
from elicense.records import (
    AccessRecord,
    ConsentRecord,
    HolderRecord,
    LicenseRecord,
    Settlement,
)
from elicense.storage import SqlStorage, open_storage

Database = tuple[str, str | None]
"""A test database: (URL, PostgreSQL schema or None)."""

STATUS_KEY = b"storage-tests-status-permutation"
NOW = 1_795_000_000
DAY = 86_400
TYPE_CODE = "11100000000013338W011"  # 居民身份证 type code of the catalog
ISSUER = "11430000006122244L"
OTHER_ISSUER = "91110000600037341L"
HOLDER_CODE = "360426199101010071"
SD_JWT = "eyJhbGciOiJFUzI1NiJ9." + "A" * 300 + "~WyJzYWx0IiwibmFtZSIsIuW8oOS4iSJd~"


def open_for(url: str, schema: str | None, **kwargs: Any) -> SqlStorage:
    return open_storage(url, status_key=STATUS_KEY, schema=schema, **kwargs)


def holder(n: int = 1, code: str | None = None) -> HolderRecord:
    return HolderRecord(
        pseudonym=f"{n:032x}",
        holder_type="111",
        holder_code=code or f"3604261991010{n:05d}",
        created_at=NOW,
    )


def license_id(serial: str, issuer: str = ISSUER) -> str:
    return compose_license_id(TYPE_CODE, issuer, serial, 1)


def new_license(
    serial: str,
    pseudonym: str,
    *,
    issuer: str = ISSUER,
    alias: str | None = None,
    state: int = 0,
    issued_at: int = NOW,
) -> NewLicense:
    def build(status_list_id: int, status_idx: int) -> LicenseRecord:
        return LicenseRecord(
            license_id=license_id(serial, issuer),
            type_code=TYPE_CODE,
            issuer_id=issuer,
            serial=serial,
            version="001",
            holder_pseudonym=pseudonym,
            status_list_id=status_list_id,
            status_idx=status_idx,
            issued_at=issued_at,
            valid_from=issued_at,
            valid_until=issued_at + 3650 * DAY,
            sd_jwt=SD_JWT,
            state=state,
            alias=alias,
        )

    return build


def consent(cid: str, pseudonym: str, **overrides: Any) -> ConsentRecord:
    values: dict[str, Any] = {
        "id": cid,
        "holder_pseudonym": pseudonym,
        "rp_id": "rp-hotel",
        "scenario_id": "hotel.checkin",
        "fields": ("name", "id_number"),
        "purpose": "入住登记",
        "created_at": NOW,
        "valid_until": NOW + 90 * DAY,
        "max_uses": None,
    }
    values.update(overrides)
    return ConsentRecord(**values)


def access(rid: str, pseudonym: str | None, **overrides: Any) -> AccessRecord:
    values: dict[str, Any] = {
        "id": rid,
        "at": NOW,
        "rp_id": "rp-hotel",
        "scenario_id": "hotel.checkin",
        "holder_pseudonym": pseudonym,
        "license_ids": (license_id("S1"),),
        "field_names": ("name", "id_number"),
        "decision": "accepted",
        "code": None,
        "consent_id": None,
        "request_id": f"req-{rid}",
    }
    values.update(overrides)
    return AccessRecord(**values)


# --- process workers -------------------------------------------------------------------


def _threads(n: int, attempts: int, go: Callable[[int], bool]) -> int:
    """Run ``attempts`` calls of ``go`` spread over ``n`` threads released together."""
    barrier = threading.Barrier(n)
    wins = [0] * n
    shares = [attempts // n + (1 if i < attempts % n else 0) for i in range(n)]

    def run(t: int) -> None:
        barrier.wait()
        for k in range(shares[t]):
            if go(t * 1000 + k):
                wins[t] += 1

    threads = [threading.Thread(target=run, args=(t,)) for t in range(n)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    return sum(wins)


def race_worker(
    url: str,
    schema: str | None,
    what: str,
    threads: int,
    attempts: int,
    start: Any,
    results: Any,
) -> None:
    """One worker process: ``threads`` threads making ``attempts`` calls in total, all
    processes released by one cross-process barrier; puts its number of successes."""
    store = open_for(url, schema, pool_size=threads, max_overflow=0)
    try:
        if what == "replay":

            def go(_: int) -> bool:
                return store.replay.consume("code", "jti-race", expires_at=NOW + 300, now=NOW)

        elif what == "consent":

            def go(_: int) -> bool:
                return store.consents.use("consent-race", NOW)

        elif what == "append":

            def go(k: int) -> bool:
                store.access_log.append(access(f"{os.getpid()}-{k}", "ab" * 16))
                return True

        elif what == "settle":

            def go(k: int) -> bool:
                rid = f"{os.getpid()}-{k}"
                record = access(rid, "ab" * 16, consent_id="consent-race")
                refused = replace(
                    record, license_ids=(), field_names=(), decision="refused", consent_id=None
                )
                settlement = Settlement(
                    "code",
                    "jti-race",
                    NOW + 300,
                    "consent-race",
                    record,
                    replace(refused, code="code.replayed"),
                    replace(refused, code="consent.exhausted"),
                )
                return store.access_log.settle(settlement, NOW).decision == "accepted"

        elif what == "issue":

            def go(k: int) -> bool:
                serial = f"P{os.getpid()}N{k}"
                store.licenses.issue("owner-race", new_license(serial, holder(1).pseudonym))
                return True

        else:  # pragma: no cover - a typo in a test
            raise ValueError(what)
        start.wait()
        results.put(_threads(threads, attempts, go))
    finally:
        store.close()


def issue_forever(
    url: str, schema: str | None, batch: int, started: Any, done: Any, batch_seconds: Any
) -> None:
    """Issue batches of ``batch`` licenses until killed, counting batches begun and
    committed in shared memory so the parent can kill in the middle of one."""
    store = open_for(url, schema, list_size=16_384)
    pseudonym = holder(1).pseudonym
    n = 0
    while True:
        builds = [new_license(f"K{n}X{i}", pseudonym) for i in range(batch)]
        started.value = n + 1
        t0 = time.perf_counter()
        store.licenses.issue_many("owner-kill", builds)
        batch_seconds.value = time.perf_counter() - t0
        done.value = n + 1
        n += 1


def die_mid_import(url: str, first: int, count: int) -> None:
    """A process that starts a large import, stores one batch of ``count`` licenses of
    new holders and dies: ``os._exit`` runs no ``finally`` and no cleanup, as a kill."""
    store = open_for(url, None)
    loading = store.licenses.bulk_load(1_000_000)  # kept: a collected one would clean up
    assert loading.__enter__()
    hs = [holder(first + i) for i in range(count)]

    def build(writer: BulkWriter) -> None:
        entries = [(e.list_id, i) for e in writer.allocate([(ISSUER, count)]) for i in e.indexes]
        rows = [
            astuple(new_license(f"K{first + i}", h.pseudonym)(list_id, idx))
            for i, (h, (list_id, idx)) in enumerate(zip(hs, entries, strict=True))
        ]
        writer.write([(h.pseudonym, h.holder_type, h.holder_code, h.created_at) for h in hs], rows)

    store.licenses.issue_bulk([ISSUER], build)
    os._exit(0)
