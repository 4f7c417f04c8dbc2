"""Bulk import of historical licenses (历史证照电子化): read, validate, sign, store.

A city's license library holds millions of paper-era records. ``import_file`` streams a
registry export (CSV with a header, or JSON Lines) through three stages:

1. **Main process, per row — cheap checks and the key.** The row's type (code or catalog
   name), issuer (one this platform signs for, allowed that type by the trust list),
   license number and historical identifier are resolved; whatever fails here is rejected
   before it costs a status entry. Rows whose (issuer, type, number) is already stored are
   skipped with one query per chunk: that is what makes a re-run idempotent and an
   interrupted run resumable — nothing is duplicated, nothing skipped.
2. **Worker processes — validation and signing.** Chunks of rows go to a process pool
   (all cores; each worker loads the issuer keys once) that validates the holder and every
   face field against the catalog and signs the SD-JWT license with the status entry
   allocated to it. Validation is where the work is anyway (``issue_license`` validates
   what it signs), so it runs in parallel with signing.
3. **Main process — storage.** ``Licenses.issue_bulk`` keeps the existing guarantee that a
   license and its status index are written in one transaction: a transaction covers a
   batch of rows; its entries are allocated chunk by chunk as chunks are sent to the
   workers, and signed chunks are written as they come back, so reading, signing and
   writing overlap. A killed import leaves whole batches or nothing. A row refused by a
   worker leaves its allocated entry unused (a gap in the list; never reused).

Rows that fail go to a reject file (CSV: row, field, code, message) — never the value,
which may be personal data. A historical identifier carrying a known non-standard check
character (``license_id.nonstandard_check``) is not a failure: the license is issued under
the standard identifier and the old one is kept as its alias, counted as ``aliased``.

Memory stays flat: the reader streams, and at most one batch of rows is in flight.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import multiprocessing
import os
import time
from collections import deque
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from itertools import compress
from multiprocessing.pool import AsyncResult, Pool
from pathlib import Path
from typing import IO, Any, Literal, NamedTuple

import yaml

from elicense.catalog import Catalog, LicenseType
from elicense.claims import day_start, local_date
from elicense.codes import pseudonym
from elicense.errors import ERROR_CODES, ElicenseError
from elicense.faces import validate_holder
from elicense.home import (
    HomeConfig,
    home_catalog,
    open_platform,
    read_issuer_key,
    read_pseudonym_key,
    trust_store_from_home,
)
from elicense.identifiers.license_id import compose_license_id, parse_license_id
from elicense.jose.keys import Signer
from elicense.licenses import StatusRef, issue_license
from elicense.platform import Platform
from elicense.ports import Allocate, IssuedChunk, StatusEntry
from elicense.records import HolderRecord, LicenseRecord
from elicense.trust import IssuerEntry

Format = Literal["csv", "jsonl"]

#: Columns every row has besides its face fields (``serial`` may come from ``license_id``).
RESERVED = ("type", "issuer", "holder", "serial", "valid_from", "valid_until", "license_id")
REQUIRED = ("type", "issuer", "holder")
#: What historical exports write for "no end date" (长期有效).
LONG_TERM = frozenset({"", "长期", "长期有效", "永久", "long-term"})
_SERIAL_CHARS = frozenset("0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ")
REJECT_HEADER = ("row", "field", "code", "message")

DEFAULT_BATCH = 50_000
"""Rows per transaction: each batch ends with the workers idle while the last chunks are
written and committed (a WAL checkpoint), so fewer, larger batches keep both cores
busier; a kill loses at most one batch, which a re-run redoes."""
DEFAULT_CHUNK = 500
_MAX_ROW_BYTES = 1024
"""A row count no larger than the file's (rows of exports are shorter than this), for
``Licenses.bulk_load`` to judge whether the import is a large one."""


# --- results -----------------------------------------------------------------------------


@dataclass
class ImportSummary:
    """What an import did. ``aliased`` rows are also counted in ``imported``."""

    rows: int = 0
    imported: int = 0
    already_present: int = 0
    rejected: int = 0
    aliased: int = 0
    seconds: float = 0.0
    reject_file: str | None = None

    @property
    def rate(self) -> float:
        """Imported licenses per second of wall time."""
        return self.imported / self.seconds if self.seconds > 0 else 0.0

    def to_dict(self) -> dict[str, Any]:
        return {
            "rows": self.rows,
            "imported": self.imported,
            "already_present": self.already_present,
            "rejected": self.rejected,
            "aliased": self.aliased,
            "seconds": round(self.seconds, 3),
            "licenses_per_second": round(self.rate, 1),
            "reject_file": self.reject_file,
        }


@dataclass(frozen=True, slots=True)
class Progress:
    """Reported after every chunk: rows read so far and how far into the file."""

    rows: int
    imported: int
    done_bytes: int
    total_bytes: int


class Reject(NamedTuple):
    row: int
    field: str
    code: str
    message: str


# --- reading ----------------------------------------------------------------------------


def load_mapping(path: Path) -> dict[str, str | None]:
    """A YAML mapping of foreign column names to ours (``证照编号: serial``); a column
    mapped to ``null`` is ignored."""
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError, UnicodeDecodeError):
        raise ElicenseError(
            "request.invalid", "cannot read the column mapping", {"file": path.name}
        ) from None
    if data is None:
        return {}
    if not isinstance(data, dict) or not all(
        isinstance(k, str) and (v is None or isinstance(v, str)) for k, v in data.items()
    ):
        raise ElicenseError(
            "request.invalid",
            "the column mapping must map column names to field keys (or null)",
            {"file": path.name},
        )
    return {k.strip(): (v.strip() if v is not None else None) for k, v in data.items()}


def detect_format(path: Path) -> Format:
    suffix = path.suffix.lower()
    if suffix in (".jsonl", ".ndjson", ".json"):
        return "jsonl"
    return "csv"


class RawRow(NamedTuple):
    row: int
    values: dict[str, Any]


class Source:
    """A streaming reader over a CSV or JSON Lines file, tracking bytes for progress.

    Yields ``RawRow`` (keys already mapped to ours) or a ``Reject`` for a line that cannot
    be read as a row at all.
    """

    def __init__(
        self,
        path: Path,
        *,
        fmt: Format,
        mapping: Mapping[str, str | None],
        face_keys: frozenset[str],
    ) -> None:
        self.path = path
        self.fmt = fmt
        self.mapping = dict(mapping)
        self.known = face_keys | frozenset(RESERVED)
        self.total_bytes = path.stat().st_size
        self._raw: IO[bytes] | None = None

    def check_header(self) -> None:
        """Refuse a CSV whose header has unknown or missing columns, before any work."""
        if self.fmt != "csv":
            return
        with self.path.open(encoding="utf-8-sig", errors="surrogateescape", newline="") as f:
            header = next(csv.reader(f), None)
        if header is not None:
            _check_columns([c for c in map(self._column, header) if c is not None])

    @property
    def done_bytes(self) -> int:
        return self._raw.tell() if self._raw is not None and not self._raw.closed else 0

    def __iter__(self) -> Iterator[RawRow | Reject]:
        with self.path.open("rb") as raw:
            self._raw = raw
            if self.fmt == "csv":
                yield from self._csv(raw)
            else:
                yield from self._jsonl(raw)

    def _column(self, name: str) -> str | None:
        """Our key for a column (``None``: ignored); unknown columns refuse the file."""
        key = name.strip()
        if key in self.mapping:
            key_or_none = self.mapping[key]
            if key_or_none is not None and key_or_none not in self.known:
                raise ElicenseError(
                    "request.invalid",
                    "the mapping names a field no catalog type has",
                    {"column": key, "field": key_or_none},
                )
            return key_or_none
        if key not in self.known:
            raise ElicenseError(
                "request.invalid",
                "unknown column: map it with --map (to a field key, or to null to ignore it)",
                {"column": key},
            )
        return key

    def _csv(self, raw: IO[bytes]) -> Iterator[RawRow | Reject]:
        # surrogateescape: a row with bytes that are not UTF-8 is rejected alone instead
        # of aborting the whole file; utf-8-sig drops a BOM.
        text = io.TextIOWrapper(raw, encoding="utf-8-sig", errors="surrogateescape", newline="")
        reader = csv.reader(text)
        try:
            header = next(reader)
        except StopIteration:
            return
        mapped = [self._column(h) for h in header]
        _check_columns([c for c in mapped if c is not None])
        columns = [_IGNORED if c is None else c for c in mapped]
        width = len(columns)
        last_line = reader.line_num
        for cells in reader:
            first_line, last_line = last_line + 1, reader.line_num
            if not cells:
                continue
            row = first_line - 1  # data rows count from 1, after the one-line header
            if len(cells) > width:
                yield Reject(row, "", "request.invalid", "more cells than header columns")
                continue
            # Only non-empty cells, built in C (a wide export is mostly empty cells).
            values = dict(compress(zip(columns, cells, strict=False), cells))
            values.pop(_IGNORED, None)
            try:
                "".join(cells).encode("utf-8")  # one C call; fails on escaped bytes only
            except UnicodeEncodeError:
                yield Reject(row, _undecodable(values), "request.invalid", "not UTF-8 text")
                continue
            yield RawRow(row, values)

    def _jsonl(self, raw: IO[bytes]) -> Iterator[RawRow | Reject]:
        checked: set[str] = set()
        for number, line in enumerate(raw, start=1):
            if not line.strip():
                continue
            try:
                obj = json.loads(line)
            except (ValueError, UnicodeDecodeError):
                yield Reject(number, "", "request.invalid", "not a JSON object")
                continue
            if not isinstance(obj, dict):
                yield Reject(number, "", "request.invalid", "not a JSON object")
                continue
            nested = obj.pop("fields", None)
            if nested is not None and not isinstance(nested, dict):
                yield Reject(number, "fields", "request.invalid", "fields must be an object")
                continue
            values: dict[str, Any] = {}
            try:
                for part in (obj, nested or {}):
                    for name, value in part.items():
                        if name not in checked:
                            self._column(name)
                            checked.add(name)
                        key = self.mapping.get(name, name) if self.mapping else name
                        if key is not None and value is not None and value != "":
                            values[key] = value
            except ElicenseError as exc:
                yield Reject(number, exc.details.get("column", ""), "field.unknown", exc.message)
                continue
            if b"\\u" in line:  # JSON escapes can spell lone surrogates, which no UTF-8 has
                bad = _undecodable({k: v for k, v in values.items() if isinstance(v, str)})
                if bad:
                    yield Reject(number, bad, "request.invalid", "not Unicode text")
                    continue
            yield RawRow(number, values)


_IGNORED = "\x00"
"""The key of columns mapped to null (no real key can contain NUL)."""


def _check_columns(columns: Sequence[str]) -> None:
    missing = [c for c in REQUIRED if c not in columns]
    if "serial" not in columns and "license_id" not in columns:
        missing.append("serial")
    if missing:
        raise ElicenseError("request.invalid", "required columns missing", {"columns": missing})
    dup = sorted({c for c in columns if columns.count(c) > 1})
    if dup:
        raise ElicenseError("request.invalid", "columns given twice", {"columns": dup})


def _undecodable(values: Mapping[str, Any]) -> str:
    """The first column holding bytes that were not UTF-8 (escaped by the reader)."""
    for key, value in values.items():
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            return key
    return ""


# --- main-process checks ----------------------------------------------------------------


class Work(NamedTuple):
    """One row ready for a worker (everything a worker needs, nothing it must look up)."""

    row: int
    type_code: str
    issuer: str
    serial: str
    version: int
    alias: str | None
    holder: str
    valid_from: str
    valid_until: str
    fields: dict[str, Any]


class _Checker:
    """The cheap per-row checks of stage 1, with the catalog and trust entries at hand."""

    def __init__(self, platform: Platform) -> None:
        self.types: dict[str, LicenseType] = {}
        for t in platform.catalog:
            self.types[t.name_zh] = t
        for t in platform.catalog:
            self.types[t.code] = t
        self.entries: dict[str, IssuerEntry] = {}
        for issuer_id in platform.issuer_signers:
            try:
                self.entries[issuer_id] = platform.issuer_entry(issuer_id)
            except ElicenseError:
                continue  # a key without a trust-list entry: its rows are refused below

    def check(self, raw: RawRow) -> Work | Reject:
        v = raw.values
        row = raw.row
        type_text = _text(v.get("type"))
        if not type_text:
            return Reject(row, "type", "field.missing", "no license type")
        lt = self.types.get(type_text)
        if lt is None:
            return Reject(row, "type", "catalog.unknown_type", "not a type of the catalog")
        issuer = _text(v.get("issuer")).upper()
        if not issuer:
            return Reject(row, "issuer", "field.missing", "no issuer")
        entry = self.entries.get(issuer)
        if entry is None:
            return Reject(row, "issuer", "trust.unknown_issuer", "not an issuer of this platform")
        if not entry.allows(lt.code):
            return Reject(row, "type", "trust.type_not_allowed", "issuer may not issue this type")
        serial = _text(v.get("serial")).upper()
        version, alias = 1, None
        historical = _text(v.get("license_id"))
        if historical:
            found = _historical(row, historical, lt.code, issuer, serial)
            if isinstance(found, Reject):
                return found
            serial, version, alias = found
        if not serial:
            return Reject(row, "serial", "field.missing", "no license number")
        if len(serial) > 64 or not _SERIAL_CHARS.issuperset(serial):
            return Reject(row, "serial", "license_id.bad_serial", "license number not 0-9A-Z")
        holder = _text(v.get("holder"))
        if not holder:
            return Reject(row, "holder", "field.missing", "no holder")
        fields = {k: val for k, val in v.items() if k not in _RESERVED_SET}
        valid_from = _text(v.get("valid_from"))
        valid_until = _text(v.get("valid_until"))
        for key, value in (("valid_from", valid_from), ("valid_until", valid_until)):
            if value and key not in fields and lt.has_field(key) and value not in LONG_TERM:
                fields[key] = value  # the license's validity is also its face value
        return Work(
            row, lt.code, issuer, serial, version, alias, holder, valid_from, valid_until, fields
        )


_RESERVED_SET = frozenset(RESERVED)


def _text(value: Any) -> str:
    if value is None:
        return ""
    return (value if isinstance(value, str) else str(value)).strip()


def _historical(
    row: int, text: str, type_code: str, issuer: str, serial: str
) -> tuple[str, int, str | None] | Reject:
    """(serial, version, alias) from a historical identifier, which must name the row's
    type, issuer and (if given) number; a non-standard check character makes it an alias."""
    standard = _standard_serial(text, type_code, issuer)
    if standard is not None:
        if serial and standard[0] != serial:
            return Reject(row, "license_id", "license_id.bad_serial", "names another number")
        return standard[0], standard[1], None
    alias = None
    try:
        ident = parse_license_id(text)
    except ElicenseError as exc:
        if exc.code != "license_id.nonstandard_check":
            return Reject(row, "license_id", exc.code, exc.message)
        ident = parse_license_id(exc.details["standard_identifier"])
        alias = text
    if ident.type_code != type_code:
        return Reject(row, "license_id", "license_id.bad_type_code", "names another type")
    if ident.issuer != issuer:
        return Reject(row, "license_id", "license_id.bad_issuer", "names another issuer")
    if serial and ident.serial != serial:
        return Reject(row, "license_id", "license_id.bad_serial", "names another number")
    return ident.serial, int(ident.version), alias


def _standard_serial(text: str, type_code: str, issuer: str) -> tuple[str, int] | None:
    """(serial, version) of a standard identifier of this type and issuer, or ``None``
    when it is anything else (then ``parse_license_id`` says what).

    Most historical identifiers are standard ones of the row's own type and issuer, which
    the catalog and the trust list have validated already: recomposing the identifier
    (number, version and check character) and comparing it with the text checks exactly
    what the full parse would, at a fraction of the cost of re-validating both codes."""
    parts = text.split(".")
    if len(parts) < 5:
        return None
    serial, version = parts[-3], parts[-2]
    if not (len(version) == 3 and version.isascii() and version.isdigit()):
        return None
    try:
        expected = compose_license_id(type_code, issuer, serial, int(version))
    except ElicenseError:
        return None
    return (serial, int(version)) if expected == text else None


# --- workers ------------------------------------------------------------------------------


class Signed(NamedTuple):
    """A worker's answer for a chunk: license rows, their holders, and the refusals."""

    licenses: list[tuple[Any, ...]]
    holders: list[tuple[str, str, str]]
    rejects: list[Reject]


@dataclass
class _WorkerState:
    catalog: Catalog
    entries: dict[str, IssuerEntry]
    signers: dict[str, Signer]
    pseudonym_key: bytes
    now: int
    today: dt.date
    types: dict[str, LicenseType] = field(default_factory=dict)


_STATE: _WorkerState | None = None


def init_worker(home: str, passphrase: bytes, now: int) -> None:
    """Pool initializer: load the home's catalog, trust list, issuer keys and pseudonym
    secret once per worker process (keys are decrypted here, never sent decrypted)."""
    global _STATE  # noqa: PLW0603 - one state per worker process, set once
    path = Path(home)
    cfg = HomeConfig.read(path)
    catalog = home_catalog(path, cfg)
    trust = trust_store_from_home(path, now)
    issuers = trust.trust_list(cfg.region).issuers
    signers: dict[str, Signer] = {}
    entries: dict[str, IssuerEntry] = {}
    for spec in cfg.issuers:
        issuer_id = spec["id"]
        if issuer_id in issuers:
            signers[issuer_id] = read_issuer_key(path, issuer_id, passphrase)
            entries[issuer_id] = issuers[issuer_id]
    secret = read_pseudonym_key(path, passphrase)
    _STATE = _WorkerState(
        catalog, entries, signers, secret, now, local_date(now), {t.code: t for t in catalog}
    )


Task = tuple[Any, ...]
"""A ``Work`` row followed by its ``StatusEntry``, as one plain tuple: plain tuples of
builtins are what pickle moves fastest between processes."""


def sign_chunk(chunk: Sequence[Task]) -> Signed:
    """Validate and sign one chunk (runs in a worker)."""
    state = _STATE
    if state is None:  # pragma: no cover - the pool initializer always ran
        raise RuntimeError("worker not initialised")
    out = Signed([], [], [])
    seen_holders: set[str] = set()
    for task in chunk:
        try:
            lic_row, holder_row = _sign_one(state, task)
        except ElicenseError as exc:
            out.rejects.append(_reject(task[0], exc))
            continue
        out.licenses.append(lic_row)
        if holder_row[0] not in seen_holders:
            seen_holders.add(holder_row[0])
            out.holders.append(holder_row)
    return out


def _sign_one(state: _WorkerState, task: Task) -> tuple[tuple[Any, ...], tuple[str, str, str]]:
    (_, type_code, issuer, serial, version, alias, holder, valid_from_text, valid_until_text,
     fields, list_id, idx, uri) = task  # fmt: skip
    lt = state.types[type_code]
    try:
        holder_type, holder_code = validate_holder(lt, holder, today=state.today)
    except ElicenseError as exc:
        exc.details.setdefault("field", "holder")
        raise
    valid_from = _date("valid_from", valid_from_text) or state.today
    valid_until = None if valid_until_text in LONG_TERM else _date("valid_until", valid_until_text)
    lic = issue_license(
        license_type=lt,
        issuer=state.entries[issuer],
        signer=state.signers[issuer],
        holder=holder_code,
        fields=fields,
        serial=serial,
        valid_from=valid_from,
        valid_until=valid_until,
        now=state.now,
        rand=os.urandom,
        version=version,
        status=StatusRef(uri, idx),
    )
    pid = pseudonym(state.pseudonym_key, holder_type, holder_code).hex()
    until = day_start(valid_until + dt.timedelta(days=1)) if valid_until is not None else None
    # LicenseRecord's positional order; the main process rebuilds the records.
    lic_row = (
        lic.license_id, type_code, issuer, serial, f"{version:03d}", pid, list_id, idx,
        state.now, day_start(valid_from), until, lic.sd_jwt, 0, alias,
    )  # fmt: skip
    return lic_row, (pid, holder_type, holder_code)


def _date(key: str, text: str) -> dt.date | None:
    if not text:
        return None
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise ElicenseError(
            "field.bad_value", details={"field": key, "reason": "not a YYYY-MM-DD date"}
        ) from None


def _reject(row: int, exc: ElicenseError) -> Reject:
    """Field and code of a refusal: an identifier check that failed inside a face field
    is reported by its own code (``resident_id.bad_check``), not as ``field.bad_value``."""
    details = exc.details
    name = details.get("field")
    code = exc.code
    reason = details.get("reason")
    if code == "field.bad_value" and isinstance(reason, str) and reason in ERROR_CODES:
        code = reason
        message = ERROR_CODES[reason].title_en
    else:
        message = reason if isinstance(reason, str) else exc.message
    if not isinstance(name, str):
        if code == "license.bad_validity":
            name = "valid_until"
        elif code.startswith(("resident_id.", "uscc.", "holder.")):
            name = "holder"
        elif code.startswith(("trust.", "token.")):
            name = "issuer"
        else:
            name = ""
    return Reject(row, name, code, message)


# --- the import -------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ImportOptions:
    fmt: Format | None = None
    """``None``: from the file name (``.jsonl``/``.ndjson`` → JSON Lines, else CSV)."""
    mapping: Mapping[str, str | None] = field(default_factory=dict)
    batch_size: int = DEFAULT_BATCH
    """Rows per storage transaction (what a kill can lose, and re-running redoes)."""
    chunk_size: int = DEFAULT_CHUNK
    """Rows per message to a worker."""
    workers: int | None = None
    """Signing processes; ``None``: one per core."""


def import_file(
    home: Path,
    source: Path,
    *,
    passphrase: bytes,
    now: int,
    rejects: Path,
    options: ImportOptions = ImportOptions(),
    database_url: str | None = None,
    on_progress: Callable[[Progress], None] | None = None,
) -> ImportSummary:
    """Import ``source`` into the platform at ``home``; rejected rows go to ``rejects``.

    Safe to run again on the same file (after success, failure or a kill): rows already
    stored are skipped, so the library ends with each row of the file exactly once.
    """
    if options.batch_size < 1 or options.chunk_size < 1:
        raise ValueError("batch_size and chunk_size must be positive")
    started = time.perf_counter()
    platform = open_platform(home, passphrase=passphrase, now=now, database_url=database_url)
    try:
        face_keys = frozenset(f.key for t in platform.catalog for f in t.fields)
        reader = Source(
            source,
            fmt=options.fmt or detect_format(source),
            mapping=options.mapping,
            face_keys=face_keys,
        )
        reader.check_header()
        workers = options.workers or os.cpu_count() or 1
        # spawn: workers start clean (no copy of the parent's database connections) and
        # are the parent's own children, so their resource use is the parent's to see.
        ctx = multiprocessing.get_context("spawn")
        store = platform.storage.licenses
        with (
            store.bulk_load(reader.total_bytes // _MAX_ROW_BYTES),
            rejects.open("w", encoding="utf-8", newline="") as out,
            ctx.Pool(workers, init_worker, (str(home), passphrase, now)) as pool,
        ):
            run = _Run(platform, reader, pool, workers, options, csv.writer(out), on_progress, now)
            out.write("\ufeff")  # spreadsheet programs then read the file as UTF-8
            run.writer.writerow(REJECT_HEADER)
            summary = run.run()
            out.flush()
            pool.close()
            pool.join()
    finally:
        platform.storage.close()
    summary.seconds = time.perf_counter() - started
    summary.reject_file = str(rejects)
    return summary


class _Run:
    """One import: the reader, the pool, and the counters committed batch by batch."""

    def __init__(
        self,
        platform: Platform,
        reader: Source,
        pool: Pool,
        workers: int,
        options: ImportOptions,
        writer: Any,
        on_progress: Callable[[Progress], None] | None,
        now: int,
    ) -> None:
        self.now = now
        self.platform = platform
        self.reader = reader
        self.rows: Iterator[RawRow | Reject] = iter(reader)
        self.pool = pool
        # Three chunks per worker: one signing, two queued, so a worker never waits for
        # the main process while it writes a chunk or commits.
        self.in_flight_max = workers * 3
        self.options = options
        self.writer = writer
        self.on_progress = on_progress
        self.checker = _Checker(platform)
        self.owners = sorted(self.checker.entries)
        self.summary = ImportSummary()
        self.eof = False
        # Rows whose number an earlier row of the same batch claims, for the next batch.
        self.deferred: deque[Work] = deque()
        self.pending: deque[Work] = deque()
        # Counted per batch, added to the summary when the batch commits.
        self.batch = ImportSummary()
        self.batch_rejects: list[Reject] = []
        self.consumed = 0

    def run(self) -> ImportSummary:
        while not self.eof or self.deferred:
            self.batch = ImportSummary()
            self.batch_rejects = []
            self.pending, self.deferred = self.deferred, deque()
            self.consumed = 0
            if self.owners:
                self.platform.storage.licenses.issue_bulk(self.owners, self._build)
            else:  # no issuer to sign for: every row is refused, nothing is written
                for _ in self._build(_no_entries):
                    pass
            self._commit()
        return self.summary

    def _commit(self) -> None:
        s, b = self.summary, self.batch
        s.rows += b.rows
        s.imported += b.imported
        s.already_present += b.already_present
        s.rejected += len(self.batch_rejects)
        s.aliased += b.aliased
        self.batch_rejects.sort()
        self.writer.writerows(self.batch_rejects)
        self._report()

    def _report(self) -> None:
        if self.on_progress is not None:
            self.on_progress(
                Progress(
                    self.summary.rows + self.batch.rows,
                    self.summary.imported + self.batch.imported,
                    self.reader.done_bytes,
                    self.reader.total_bytes,
                )
            )

    def _take(self) -> Work | Reject | None:
        """The next row: first the ones deferred from the last batch, then the file."""
        self.consumed += 1
        if self.pending:
            return self.pending.popleft()
        item = next(self.rows, None)
        if item is None:
            self.eof = True
            return None
        self.batch.rows += 1
        return item if isinstance(item, Reject) else self.checker.check(item)

    def _next_chunk(self, seen: set[tuple[str, str, str]]) -> list[Work] | None:
        """Up to a chunk of rows that pass stage 1 and are not stored yet, from at most
        a chunk of input rows (``None``: nothing left for this batch).

        A row whose number an earlier row of this batch claims waits for the next batch:
        then, like any row, it is imported unless its number is stored by then. So the
        first valid row with a number wins, wherever batch boundaries fall.
        """
        candidates: list[Work] = []
        for _ in range(self.options.chunk_size):
            if self.consumed >= self.options.batch_size or (self.eof and not self.pending):
                break
            checked = self._take()
            if checked is None:
                break
            if isinstance(checked, Reject):
                self.batch_rejects.append(checked)
                continue
            key = (checked.issuer, checked.type_code, checked.serial)
            if key in seen:
                self.deferred.append(checked)
                continue
            seen.add(key)
            candidates.append(checked)
        else:
            if not candidates:
                return []  # a chunk of refused rows; the batch goes on
        if not candidates:
            return None
        present = self.platform.storage.licenses.numbers_present(
            (w.issuer, w.type_code, w.serial) for w in candidates
        )
        if present:
            self.batch.already_present += sum(
                (w.issuer, w.type_code, w.serial) in present for w in candidates
            )
            candidates = [w for w in candidates if (w.issuer, w.type_code, w.serial) not in present]
        return candidates

    def _build(self, allocate: Allocate) -> Iterator[IssuedChunk]:
        in_flight: deque[AsyncResult[Signed]] = deque()
        seen: set[tuple[str, str, str]] = set()
        while (chunk := self._next_chunk(seen)) is not None:
            if chunk:
                entries = allocate([w.issuer for w in chunk])
                tasks = [(*w, *e) for w, e in zip(chunk, entries, strict=True)]
                in_flight.append(self.pool.apply_async(sign_chunk, (tasks,)))
            while in_flight and (len(in_flight) >= self.in_flight_max or in_flight[0].ready()):
                yield self._finish(in_flight.popleft().get())
        while in_flight:
            yield self._finish(in_flight.popleft().get())

    def _finish(self, signed: Signed) -> IssuedChunk:
        now = self.now
        holders = [HolderRecord(p, t, c, now) for p, t, c in signed.holders]
        records = [LicenseRecord(*r) for r in signed.licenses]
        self.batch.imported += len(records)
        self.batch.aliased += sum(r.alias is not None for r in records)
        self.batch_rejects.extend(signed.rejects)
        self._report()
        return holders, records


def _no_entries(owners: Sequence[str]) -> list[StatusEntry]:
    raise ElicenseError("trust.unknown_issuer")
