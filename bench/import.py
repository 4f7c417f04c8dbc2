"""Benchmark: bulk import of historical licenses (``elicense import``), issue 1/3.

Generates N realistic licenses (default 1,000,000; 1 % bad rows of several kinds; 20 % with
a historical identifier, a few of those with a provincial non-standard check character)
into a temporary CSV, streamed, as a concatenation of per-registry exports (runs of one
issuer and type). Then imports it into SQLite and, when ``--pg URL`` or
ELICENSE_TEST_POSTGRES_URL is given, into PostgreSQL, through the same code as the CLI.

Printed for each database, beside its limit measured in the same run:
* licenses/s of the import, and the raw ES256 signing rate of all cores (a pool of as many
  processes signing as many 600-byte messages as there are rows) — the ratio says how many
  raw signatures' worth of CPU a stored license costs, which holds on any machine;
* CPU µs per row in the main process (cut the file into blocks, allocate, store; with its
  checkpoint thread) and in the signing processes (parse, check, validate, sign), from
  getrusage;
* peak memory: maxrss of this process and of the largest worker;
* rejected rows (the generated bad ones, each must be in the reject file) and aliased.

Run: .venv/bin/python bench/import.py [--rows N] [--pg URL] [--workers N] [--keep DIR]
     [--page-size 4096|16384] [--batch-size N]
"""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import multiprocessing
import os
import random
import resource
import shutil
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine

from elicense import bulk, demo
from elicense.catalog import HolderKind, LicenseType, builtin_catalog
from elicense.claims import local_date
from elicense.home import init_home
from elicense.identifiers.license_id import NONSTANDARD_VARIANTS, build_license_id
from elicense.jose.keyfile import generate_signer
from elicense.storage import upgrade
from elicense.storage.db import parse_url
from elicense.synthetic import credit_code, face_values, resident_id

PASS = b"bench-import-passphrase"
NOW = int(time.time())
TODAY = local_date(NOW)
RUN = 5_000
"""Rows per registry run (one issuer, one type), as exports are concatenated."""
BAD_KINDS = ("holder", "missing", "type", "date", "serial", "enum")


def pairs() -> list[tuple[str, LicenseType]]:
    cat = builtin_catalog()
    return [(spec.id, cat.get(code)) for spec in demo.demo_issuers() for code in spec.types]


def header(types: list[tuple[str, LicenseType]]) -> list[str]:
    keys = sorted({f.key for _, t in types for f in t.fields} - set(bulk.RESERVED))
    return [*bulk.RESERVED, *keys]


def rows(n: int, seed: int = 2026) -> Iterator[tuple[dict[str, Any], str | None]]:
    """(row, kind of badness or None); realistic values from ``elicense.synthetic``."""
    rng = random.Random(seed)
    types = pairs()
    variants = sorted(NONSTANDARD_VARIANTS.values(), key=lambda f: f.__name__)
    for i in range(n):
        issuer, t = types[(i // RUN) % len(types)]
        resident = t.holder_kind is HolderKind.RESIDENT
        holder = resident_id(rng) if resident else credit_code(rng)
        values = face_values(t, rng, holder=holder, today=TODAY)
        serial = f"{2026 - i % 30}{i:09d}"
        row: dict[str, Any] = {
            "type": t.code if rng.random() < 0.5 else t.name_zh,
            "issuer": issuer,
            "holder": holder,
            "serial": serial,
            "valid_from": values.get("valid_from")
            or (TODAY - dt.timedelta(days=rng.randrange(30, 3650))).isoformat(),
            "valid_until": values.get("valid_until", ""),
            **values,
        }
        if rng.random() < 0.2:  # a historical identifier; 1 in 50 of those non-standard
            ident = build_license_id(t.code, issuer, serial)
            text = str(ident)
            if rng.random() < 0.02:
                text = text[:-1] + rng.choice(variants)(ident.payload)
            row["license_id"] = text
        kind = BAD_KINDS[rng.randrange(len(BAD_KINDS))] if rng.random() < 0.01 else None
        if kind == "holder":
            row["holder"] = holder[:-1] + ("0" if holder[-1] != "0" else "1")
        elif kind == "missing":
            row[next(f.key for f in t.fields if f.required)] = ""
        elif kind == "type":
            row["type"] = "不存在的证照"
        elif kind == "date":
            row["valid_from"] = "2020-02-30"
        elif kind == "serial":
            row["serial"] = serial + "-X"
            row.pop("license_id", None)
        elif kind == "enum":
            enums = [f.key for f in t.fields if f.options]
            if enums:
                row[enums[0]] = "（不详）"
            else:
                row[next(f.key for f in t.fields if f.required)] = ""
        yield row, kind


#: The codes each kind of bad row may be rejected with.
EXPECTED = {
    # a corrupted credit code of digits only can pass as a resident ID: kind mismatch
    "holder": {"resident_id.bad_check", "uscc.bad_check", "holder.kind_mismatch"},
    "missing": {"field.missing"},
    "type": {"catalog.unknown_type"},
    "date": {"field.bad_value"},
    "serial": {"license_id.bad_serial"},
    "enum": {"field.bad_value", "field.missing"},
}


def generate(path: Path, n: int) -> tuple[dict[int, str], int]:
    """Write the CSV (streamed); returns ({row number: kind} of the bad rows, rows with a
    non-standard check character)."""
    cols = header(pairs())
    bad: dict[int, str] = {}
    odd = 0
    with path.open("w", encoding="utf-8", newline="") as f:
        w = csv.writer(f)
        w.writerow(cols)
        for number, (row, kind) in enumerate(rows(n), start=1):
            if kind is not None:
                bad[number] = kind
            lid = row.get("license_id", "")
            odd += kind is None and bool(lid) and lid != str(_standard(lid))
            w.writerow([row.get(c, "") for c in cols])
    return bad, odd


def rejects_match(path: Path, bad: dict[int, str]) -> bool:
    """Every generated bad row is in the reject file, with a code that fits its defect,
    and nothing else is."""
    with path.open(encoding="utf-8-sig", newline="") as f:
        found = {int(r["row"]): r["code"] for r in csv.DictReader(f)}
    return found.keys() == bad.keys() and all(c in EXPECTED[bad[n]] for n, c in found.items())


def _standard(text: str) -> str:
    from elicense.errors import ElicenseError  # noqa: PLC0415
    from elicense.identifiers import parse_license_id  # noqa: PLC0415

    try:
        return str(parse_license_id(text))
    except ElicenseError as exc:
        return str(exc.details.get("standard_identifier", ""))


# --- the raw limit: signatures per second on all cores, measured in the same run -----------


def _sign_many(count: int) -> tuple[float, float]:
    """(wall seconds, CPU seconds) for ``count`` signatures in this process."""
    signer = generate_signer()
    message = os.urandom(600)
    started, cpu_started = time.perf_counter(), time.process_time()
    for _ in range(count):
        signer.sign(message)
    return time.perf_counter() - started, time.process_time() - cpu_started


def raw_signing(total: int, workers: int) -> tuple[float, float]:
    """(signatures/s of ``workers`` processes signing ``total`` messages between them,
    CPU µs per signature)."""
    ctx = multiprocessing.get_context("spawn")
    each = total // workers
    with ctx.Pool(workers) as pool:
        pool.map(_sign_many, [10] * workers)  # started and warm
        started = time.perf_counter()
        results = pool.map(_sign_many, [each] * workers)
        elapsed = time.perf_counter() - started
    return each * workers / elapsed, sum(c for _, c in results) / (each * workers) * 1e6


# --- one import ----------------------------------------------------------------------------


class PeakWorkers:
    """Samples the peak RSS (VmHWM) of this process's children while an import runs.

    getrusage(RUSAGE_CHILDREN) cannot tell: a spawned child's maxrss includes the parent's
    resident set at the moment it was forked, before it exec'd the fresh interpreter."""

    def __init__(self) -> None:
        self.peaks: dict[int, float] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> PeakWorkers:
        self._thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        me = os.getpid()
        while not self._stop.wait(0.2):
            for task in Path(f"/proc/{me}/task").glob("*/children"):
                for pid in task.read_text().split():
                    try:
                        status = Path(f"/proc/{pid}/status").read_text()
                    except OSError:
                        continue
                    for line in status.splitlines():
                        if line.startswith("VmHWM:"):
                            mb = int(line.split()[1]) / 1024
                            self.peaks[int(pid)] = max(self.peaks.get(int(pid), 0.0), mb)


def cpu() -> tuple[float, float]:
    me = resource.getrusage(resource.RUSAGE_SELF)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    return me.ru_utime + me.ru_stime, kids.ru_utime + kids.ru_stime


def import_once(
    name: str,
    home: Path,
    source: Path,
    workers: int,
    database_url: str | None,
    batch_size: int = bulk.DEFAULT_BATCH,
) -> dict[str, Any]:
    main0, kids0 = cpu()
    with PeakWorkers() as peaks:
        summary = bulk.import_file(
            home,
            source,
            passphrase=PASS,
            now=NOW,
            rejects=source.with_name(f"rejects-{name}.csv"),
            options=bulk.ImportOptions(workers=workers, batch_size=batch_size),
            database_url=database_url,
        )
    main1, kids1 = cpu()
    rows = max(summary.rows, 1)
    return {
        "summary": summary,
        "main_us": (main1 - main0) / rows * 1e6,
        "workers_us": (kids1 - kids0) / rows * 1e6,
        "maxrss_main": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "worker_peaks": sorted(peaks.peaks.values(), reverse=True)[:workers],
    }


def report(
    name: str, r: dict[str, Any], raw: tuple[float, float], bad: dict[int, str], odd: int
) -> bool:
    s: bulk.ImportSummary = r["summary"]
    rate, sign_us = raw
    ok = (
        s.rejected == len(bad)
        and s.aliased == odd
        and s.imported + s.rejected == s.rows
        and rejects_match(Path(s.reject_file or ""), bad)
    )
    cores = os.cpu_count() or 1
    total_us = r["main_us"] + r["workers_us"]
    # On dedicated cores: bounded by all cores' CPU and by the main process's serial part.
    dedicated = min(cores / total_us, 1 / r["main_us"]) * 1e6
    print(f"\n[{name}]")
    print(f"  rows {s.rows:,}: imported {s.imported:,}, rejected {s.rejected:,} "
          f"(generated bad {len(bad):,}), aliased {s.aliased:,} (generated {odd:,}), "
          f"already present {s.already_present:,}")  # fmt: skip
    print(f"  {s.rate:,.0f} licenses/s ({s.seconds:,.1f} s);  raw ES256 signing, {cores} cores, "
          f"same run: {rate:,.0f}/s ({sign_us:.0f} µs CPU each) → import/raw "
          f"{s.rate / rate:.3f}")  # fmt: skip
    print(f"  CPU per row: main process {r['main_us']:.0f} µs (cut blocks, allocate, store), "
          f"workers {r['workers_us']:.0f} µs (parse, check, validate, sign) = {total_us:.0f} µs "
          f"= {total_us / sign_us:.1f} raw signatures")  # fmt: skip
    print(f"  on {cores} dedicated cores this CPU allows ≈ {dedicated:,.0f} licenses/s "
          f"(min of cores / CPU per row and 1 / main-process CPU per row)")  # fmt: skip
    workers = r["worker_peaks"] or [0.0]
    print(f"  peak memory: main {r['maxrss_main']:.0f} MB, largest worker {workers[0]:.0f} MB, "
          f"main + all workers {r['maxrss_main'] + sum(workers):.0f} MB")  # fmt: skip
    print(f"  5.78 million rows at this rate: {5_780_000 / max(s.rate, 1) / 60:.1f} min")
    print(f"  every bad row in the reject file with its reason: {'yes' if ok else 'NO'}")
    return ok


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--pg", default=os.environ.get("ELICENSE_TEST_POSTGRES_URL"))
    ap.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    ap.add_argument("--page-size", type=int, choices=(4096, 16384), default=16384)
    ap.add_argument("--batch-size", type=int, default=bulk.DEFAULT_BATCH)
    ap.add_argument("--keep", type=Path, help="Keep the work files in this directory.")
    args = ap.parse_args()
    work = args.keep or Path(tempfile.mkdtemp(prefix="elicense-import-"))
    work.mkdir(parents=True, exist_ok=True)
    print(f"bench/import.py  rows={args.rows:,} workers={args.workers} cores={os.cpu_count()} "
          f"python {sys.version.split()[0]}  work={work}")  # fmt: skip
    ok = True
    try:
        source = work / "licenses.csv"
        t0 = time.perf_counter()
        bad, odd = generate(source, args.rows)
        print(
            f"generated {source.stat().st_size / 1e6:,.0f} MB in {time.perf_counter() - t0:.0f} s"
        )
        home = work / "platform"
        # A database created for a large import first: 16 KiB pages by default (see
        # storage.db.DEFAULT_PAGE_SIZE; --page-size 4096 measures the service's default).
        db_file = (home / "elicense.db").resolve()
        cfg = init_home(
            home, region=demo.REGION, region_name=demo.REGION_NAME,
            issuers=demo.demo_issuers(), passphrase=PASS, now=NOW,
            database_url=f"sqlite:///{db_file}?page_size={args.page_size}",
        )  # fmt: skip
        print(f"sqlite database: {args.page_size // 1024} KiB pages (?page_size={args.page_size})")
        upgrade(cfg.database_url)
        raw = raw_signing(args.rows, args.workers)
        r = import_once("sqlite", home, source, args.workers, None, args.batch_size)
        ok &= report("sqlite", r, raw, bad, odd)
        if args.pg:
            schema = f"bench_{uuid.uuid4().hex[:12]}"
            engine = create_engine(parse_url(args.pg).url, isolation_level="AUTOCOMMIT")
            with engine.connect() as conn:
                conn.exec_driver_sql(f'CREATE SCHEMA "{schema}"')
            try:
                url = f"{args.pg}{'&' if '?' in args.pg else '?'}schema={schema}"
                upgrade(url)
                raw = raw_signing(args.rows, args.workers)
                r = import_once("postgresql", home, source, args.workers, url, args.batch_size)
                ok &= report("postgresql", r, raw, bad, odd)
            finally:
                with engine.connect() as conn:
                    conn.exec_driver_sql(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
                engine.dispose()
        else:
            print("\n[postgresql] skipped: give --pg URL or set ELICENSE_TEST_POSTGRES_URL")
    finally:
        if args.keep is None:
            shutil.rmtree(work, ignore_errors=True)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
