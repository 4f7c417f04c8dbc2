"""Benchmark: the storage layer (issue 8) on SQLite and PostgreSQL.

(a) Insert throughput: 100,000 licenses issued through the batched path
    (``licenses.issue_many``, 10,000 per transaction: status-index allocation, the
    caller's build callback, one executemany) into a fresh database.
(b) Verify-path lookup latency, p50/p99 over many calls: license by identifier, holder by
    pseudonym, replay consume (a write), live consents of (holder, relying party,
    scenario) — with 1,000 licenses stored, then with 1,000,000 in the same database. The
    limit is that cost does not grow with the data: p50(1M) / p50(1k) ≤ 1.5 for each.

Every license row carries a realistic ~2 KB ``sd_jwt`` (incompressible base64url, as a
signed license is). Holders (one per two licenses) and consents (one per ten licenses)
grow with the licenses so that their lookups are measured at scale too.

PostgreSQL runs when ``--pg URL`` or ELICENSE_TEST_POSTGRES_URL is given (a scratch
schema, dropped afterwards); otherwise it is reported as skipped.
Run: .venv/bin/python bench/storage.py [--pg URL] [--large N] [--samples N]
"""

from __future__ import annotations

import argparse
import base64
import os
import random
import shutil
import sqlite3
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine

from elicense.identifiers.license_id import compose_license_id
from elicense.ports import NewLicense
from elicense.records import LicenseRecord
from elicense.storage import SqlStorage, open_storage, upgrade
from elicense.storage.db import parse_url
from elicense.storage.schema import consents, holders

TYPE_CODE = "11100000000013338W011"
ISSUER = "11430000006122244L"
NOW = 1_795_000_000
BATCH = 10_000
KEY = b"bench-status-permutation-key-32b"
SD_JWT = "~".join(
    base64.urlsafe_b64encode(random.Random(seed).randbytes(n)).decode().rstrip("=")
    for seed, n in ((1, 96), (2, 1200), (3, 64), (4, 64), (5, 64), (6, 64), (7, 64))
)
OPS = ("get license", "get holder", "replay consume", "consent find_live")


def pseudonym(h: int) -> str:
    return f"{h:032x}"


def build(i: int) -> NewLicense:
    serial = f"B{i:010d}"

    def make(list_id: int, idx: int) -> LicenseRecord:
        return LicenseRecord(
            license_id=compose_license_id(TYPE_CODE, ISSUER, serial, 1),
            type_code=TYPE_CODE,
            issuer_id=ISSUER,
            serial=serial,
            version="001",
            holder_pseudonym=pseudonym(i // 2),
            status_list_id=list_id,
            status_idx=idx,
            issued_at=NOW,
            valid_from=NOW,
            valid_until=NOW + 3650 * 86400,
            sd_jwt=SD_JWT,
        )

    return make


def populate(store: SqlStorage, start: int, end: int) -> float:
    """Licenses ``start..end-1`` with their holders and consents; returns seconds spent
    in ``issue_many`` alone."""
    spent = 0.0
    for lo in range(start, end, BATCH):
        hi = min(end, lo + BATCH)
        new_holders = range((lo + 1) // 2, (hi + 1) // 2)
        with store.db.write() as conn:
            holder_rows = [
                {
                    "pseudonym": pseudonym(h),
                    "holder_type": "111",
                    "holder_code": f"H{h:017d}",
                    "created_at": NOW,
                }
                for h in new_holders
            ]
            if holder_rows:
                conn.execute(holders.insert(), holder_rows)
            consent_rows = [
                {
                    "id": f"c{h}",
                    "holder_pseudonym": pseudonym(h),
                    "rp_id": f"rp-{h % 97}",
                    "scenario_id": "hotel.checkin",
                    "fields": ["name", "id_number"],
                    "purpose": "入住登记",
                    "created_at": NOW,
                    "valid_until": NOW + 90 * 86400,
                    "max_uses": None,
                    "uses": 0,
                    "revoked_at": None,
                }
                for h in new_holders
                if h % 5 == 0
            ]
            if consent_rows:
                conn.execute(consents.insert(), consent_rows)
        t0 = time.perf_counter()
        store.licenses.issue_many(ISSUER, [build(i) for i in range(lo, hi)])
        spent += time.perf_counter() - t0
    return spent


class Probe:
    """The verify-path lookups against one store holding ``population`` licenses."""

    def __init__(self, store: SqlStorage, population: int, rng: random.Random) -> None:
        self.store, self.population, self.rng = store, population, rng
        self.holders = (population + 1) // 2
        self.ops: dict[str, Callable[[], object]] = dict(
            zip(OPS, (self.get_license, self.get_holder, self.consume, self.find_live), strict=True)
        )

    def get_license(self) -> object:
        i = self.rng.randrange(self.population)
        return self.store.licenses.get(compose_license_id(TYPE_CODE, ISSUER, f"B{i:010d}", 1))

    def get_holder(self) -> object:
        return self.store.holders.get(pseudonym(self.rng.randrange(self.holders)))

    def consume(self) -> object:
        return self.store.replay.consume("code", uuid.uuid4().hex, expires_at=NOW + 300, now=NOW)

    def find_live(self) -> object:
        h = min(self.rng.randrange(self.holders // 5 + 1) * 5, self.holders - 1)
        return self.store.consents.find_live(pseudonym(h), f"rp-{h % 97}", "hotel.checkin", NOW)


def latencies(probes: list[Probe], samples: int) -> list[dict[str, list[float]]]:
    """Per probe and operation, ``samples`` timings. The probes take turns call by call
    (order alternating), so drift and background noise hit the small and the large
    database alike."""
    out: list[dict[str, list[float]]] = [{op: [] for op in OPS} for _ in probes]
    for _ in range(samples // 10):  # warm caches and pools
        for probe in probes:
            for fn in probe.ops.values():
                fn()
    for n in range(samples):
        order = list(enumerate(probes)) if n % 2 == 0 else list(enumerate(probes))[::-1]
        for op in OPS:
            for k, probe in order:
                fn = probe.ops[op]
                t0 = time.perf_counter()
                fn()
                out[k][op].append(time.perf_counter() - t0)
    return out


def settle(store: SqlStorage) -> None:
    """What an operator does after a bulk load: refresh planner statistics and flush the
    write-ahead log, so the measurement is of lookups, not of background catch-up."""
    if store.kind == "postgresql":
        engine = store.db.engine.execution_options(isolation_level="AUTOCOMMIT")
        with engine.connect() as conn:
            conn.exec_driver_sql("VACUUM ANALYZE")
            conn.exec_driver_sql("CHECKPOINT")
        return
    raw = store.db.engine.raw_connection()  # autocommit: elicense's BEGIN is not emitted
    try:
        cur = raw.cursor()
        cur.execute("ANALYZE")
        cur.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        cur.close()
    finally:
        raw.close()


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


@contextmanager
def sqlite_db(workdir: Path, name: str) -> Iterator[tuple[str, str | None]]:
    path = workdir / f"{name}.db"
    yield f"sqlite:///{path}", None
    for suffix in ("", "-wal", "-shm"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)


@contextmanager
def pg_db(url: str) -> Iterator[tuple[str, str | None]]:
    schema = f"bench_{uuid.uuid4().hex[:12]}"
    try:
        yield url, schema
    finally:
        engine = create_engine(parse_url(url).url, isolation_level="AUTOCOMMIT")
        with engine.connect() as conn:
            conn.exec_driver_sql(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
        engine.dispose()


def run(kind: str, db: Callable[[str], Any], args: argparse.Namespace) -> dict[str, Any]:
    result: dict[str, Any] = {"kind": kind}
    with db("small") as small_db, db("large") as large_db:
        stores = []
        try:
            for url, schema in (small_db, large_db):
                upgrade(url, schema=schema)
                stores.append(open_storage(url, status_key=KEY, schema=schema))
            small, large = stores
            populate(small, 0, args.small)
            t0 = time.perf_counter()
            result["insert_issue"] = populate(large, 0, args.insert)
            result["insert_total"] = time.perf_counter() - t0
            assert large.licenses.count() == args.insert
            t0 = time.perf_counter()
            populate(large, args.insert, args.large)
            result["build_large"] = time.perf_counter() - t0
            assert large.licenses.count() == args.large
            for store in stores:
                settle(store)
            rng = random.Random(20261122)
            timings = latencies(
                [Probe(small, args.small, rng), Probe(large, args.large, rng)], args.samples
            )
            result["small"], result["large"] = timings
        finally:
            for store in stores:
                store.close()
    return result


def report(res: dict[str, Any], args: argparse.Namespace) -> bool:
    kind = res["kind"]
    rate = args.insert / res["insert_issue"]
    print(
        f"\n[{kind}] insert {args.insert:,} licenses (batches of {BATCH:,}, ~{len(SD_JWT):,} B "
        f"sd_jwt): {res['insert_issue']:.1f} s in issue_many = {rate:,.0f} licenses/s "
        f"({res['insert_total']:.1f} s with holders and consents)"
    )
    print(
        f"[{kind}] growing on to {args.large:,} licenses took {res['build_large']:.0f} s; "
        f"lookups interleaved between a {args.small:,} and a {args.large:,} license database"
    )
    small, large = f"{args.small:,} licenses", f"{args.large:,} licenses"
    print(f"{'lookup (µs)':<20} {small:>20} {large:>24} {'p50 ratio':>10}  ≤ 1.5")
    print(f"{'':<20} {'p50':>9} {'p99':>10} {'p50':>11} {'p99':>12}")
    ok = True
    for op in OPS:
        s, lg = res["small"][op], res["large"][op]
        ratio = statistics.median(lg) / statistics.median(s)
        good = ratio <= 1.5
        ok &= good
        print(
            f"{op:<20} {pct(s, 0.5) * 1e6:9.0f} {pct(s, 0.99) * 1e6:10.0f} "
            f"{pct(lg, 0.5) * 1e6:11.0f} {pct(lg, 0.99) * 1e6:12.0f} {ratio:10.2f}  "
            f"{'yes' if good else 'NO'}"
        )
    return ok


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--pg", default=os.environ.get("ELICENSE_TEST_POSTGRES_URL"))
    ap.add_argument("--insert", type=int, default=100_000)
    ap.add_argument("--small", type=int, default=1_000)
    ap.add_argument("--large", type=int, default=1_000_000)
    ap.add_argument("--samples", type=int, default=2_000)
    ap.add_argument("--skip-sqlite", action="store_true")
    args = ap.parse_args()
    print(
        f"bench/storage.py  python {sys.version.split()[0]}  SQLite {sqlite3.sqlite_version}  "
        f"cores {os.cpu_count()}  samples {args.samples:,} per lookup"
    )
    ok = True
    workdir = Path(tempfile.mkdtemp(prefix="elicense-bench-"))
    try:
        if not args.skip_sqlite:
            ok &= report(run("sqlite", lambda n: sqlite_db(workdir, n), args), args)
        if args.pg:
            ok &= report(run("postgresql", lambda _n: pg_db(args.pg), args), args)
        else:
            print("\n[postgresql] skipped: give --pg URL or set ELICENSE_TEST_POSTGRES_URL")
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
