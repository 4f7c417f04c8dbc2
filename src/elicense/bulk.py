"""Bulk import of historical licenses (历史证照电子化): read, validate, sign, store.

A city's license library holds millions of paper-era records. ``import_file`` streams a
registry export (CSV with a header, or JSON Lines) through signing processes (one per
core) and the database, so that the main process does almost nothing per row:

1. **Main process — cut the file into blocks.** It reads raw bytes and cuts them into
   blocks of whole rows (a CSV cell may span lines inside quotes: a block that holds a
   quote is cut where the CSV grammar ends a row, never inside a cell) and sends each
   block to the signing process with the least work queued.
2. **Signing process — read and check.** It parses the block (CSV or JSON), resolves each
   row's type (code or catalog name), issuer (one this platform signs for, allowed that
   type by the trust list), license number and historical identifier, and keeps the rows
   that pass. Whatever fails here is rejected before it costs a status entry. It answers
   with runs of (issuer, count): all the main process needs to allocate entries.
3. **Main process — allocate.** Inside the batch's transaction, ``Licenses.issue_bulk``
   hands out status entries a run at a time (one range of counters per run).
4. **Signing process — validate and sign.** The same process (it kept the rows) validates
   the holder and every face field against the catalog and signs each SD-JWT license with
   its entry; it answers with rows ready for the database.
5. **Main process — store.** Chunks are written in file order as plain rows. A row whose
   (issuer, type, number) is stored already is skipped by the database's unique key: that
   is what makes a re-run idempotent and an interrupted run resumable (nothing duplicated,
   nothing skipped), and in a file that repeats a number, the first valid row wins. On a
   re-run (licenses of that issuer and type were stored before the import started) the
   stored numbers of each chunk are also looked up before signing, so a resumed import
   does not sign again what it stored before.

A transaction covers a batch of rows: a killed import leaves whole batches or nothing. A
row refused while it is signed, or found stored only when written, leaves its allocated
entry unused (a gap in the list; never reused). While a batch drains and commits, the
signing processes already sign the next batch's first blocks: once every block of a
batch has its entries, the next batch's first blocks get theirs inside the same
transaction (``BulkWriter.carry``), so the commit never leaves the processes idle. A
kill after that commit leaves those entries unused, like a refused row's.

Rows that fail go to a reject file (CSV: row, field, code, message) — never the value,
which may be personal data. A historical identifier carrying a known non-standard check
character (``license_id.nonstandard_check``) is not a failure: the license is issued under
the standard identifier and the old one is kept as its alias, counted as ``aliased``.

Memory stays flat: the file is read a block at a time, and a bounded number of blocks is
in flight.
"""

from __future__ import annotations

import codecs
import csv
import datetime as dt
import gc
import io
import json
import multiprocessing
import os
import queue
import re
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, fields
from functools import partial
from itertools import compress
from multiprocessing.process import BaseProcess
from pathlib import Path
from typing import Any, Literal, NamedTuple

import yaml

from elicense.catalog import Catalog, LicenseType
from elicense.claims import day_start, local_date
from elicense.codes import pseudonym
from elicense.errors import ERROR_CODES, ElicenseError
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
from elicense.ports import BulkWriter, CarriedEntries, HolderRow, LicenseRow, StatusEntries
from elicense.records import LicenseRecord
from elicense.trust import IssuerEntry

Format = Literal["csv", "jsonl"]

#: Columns every row has besides its face fields (``serial`` may come from ``license_id``).
RESERVED = ("type", "issuer", "holder", "serial", "valid_from", "valid_until", "license_id")
REQUIRED = ("type", "issuer", "holder")
#: What historical exports write for "no end date" (长期有效).
LONG_TERM = frozenset({"", "长期", "长期有效", "永久", "long-term"})
_SERIAL_CHARS = frozenset("0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ")
REJECT_HEADER = ("row", "field", "code", "message")

DEFAULT_BATCH = 20_000
"""Rows per transaction; a kill loses at most one batch, which a re-run redoes. Each
commit copies its batch into the database file (see ``SqlLicenses.bulk_load``) while
the signing processes sign the next batch's first blocks: a batch whose commit takes no
longer than they have to sign keeps every core busy. A 400,000-row import ran at
11,552–11,721/s with 20,000-row batches, 11,587–11,676/s with 25,000 and
11,075–11,453/s with 50,000 (alternated)."""
DEFAULT_CHUNK = 500
"""Rows per block sent to a signing process."""
_MAX_ROW_BYTES = 1024
"""A row count no larger than the file's (rows of exports are shorter than this), for
``Licenses.bulk_load`` to judge whether the import is a large one."""
_READ = 1 << 20
"""Bytes read from the file at a time (blocks are cut from them)."""
_IN_FLIGHT_PER_WORKER = 4
"""Blocks read and not yet stored, per signing process: enough that none waits for the
main process while it writes a chunk, few enough that memory stays flat."""
_AHEAD_PER_WORKER = 16
"""The same while the next batch is read ahead of a commit: a batch's commit keeps the
main process busy for a second or two, and the signing processes should have that long
of the next batch's rows to sign (with 500-row blocks, about 1.5 s at 10,000 rows/s)."""


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


class Block(NamedTuple):
    """Whole rows of the file, as bytes, for one signing process."""

    seq: int
    lines_before: int
    """Lines of the file before the block (for row numbers)."""
    data: bytes
    end: int
    """File offset after the block (for progress)."""
    lines: int
    """Line ends in the block: its row count, unless cells span lines or lines are blank."""


# One CSV row as the csv module's default dialect reads it (not strict): a quoted cell runs
# to its closing quote (doubled quotes inside), and may span lines; after it, or in a cell
# that does not start with a quote, quotes are plain text up to the next comma or line end.
# A row ends at \r\n, \n, or a lone \r (never cut between \r and \n: a lone \r needs the
# next byte in hand). Possessive loops: the grammar is unambiguous, so no backtracking.
_CELL = rb'(?:"(?:[^"]|"")*+"[^,\r\n]*+|[^,"\r\n][^,\r\n]*+|)'
_ROW = re.compile(_CELL + rb"(?:," + _CELL + rb")*+(?:\r?\n|\r(?=[^\n]))")


def _cut_csv(buf: bytes, start: int, rows: int) -> int:
    """Where up to ``rows`` whole CSV rows from ``start`` (a row start) end.

    A line without a quote is a whole row by itself, found with one ``find``; only a line
    holding a quote is matched against the grammar (the cell may go on for lines)."""
    pos, n = start, 0
    quote = buf.find(b'"', pos)
    while n < rows:
        nl = buf.find(b"\n", pos)
        if quote < 0 or 0 <= nl < quote:
            if nl < 0:
                break
            pos = nl + 1
        else:
            m = _ROW.match(buf, pos)
            if m is None:
                break  # the row goes on past what has been read
            pos = m.end()
            quote = buf.find(b'"', pos)
        n += 1
    return pos


def _cut_lines(buf: bytes, start: int, rows: int) -> int:
    """Where up to ``rows`` whole lines from ``start`` end (JSON Lines: no value spans
    lines, a raw line break cannot occur inside a JSON string)."""
    pos = start
    for _ in range(rows):
        nl = buf.find(b"\n", pos)
        if nl < 0:
            break
        pos = nl + 1
    return pos


def _csv_lines(data: bytes) -> int:
    """Lines as the csv module counts them (\\r\\n, \\n and a lone \\r each end one)."""
    return data.count(b"\n") + data.count(b"\r") - data.count(b"\r\n")


def _map_column(name: str, mapping: Mapping[str, str | None], known: frozenset[str]) -> str | None:
    """Our key for a column (``None``: ignored); unknown columns refuse the file."""
    key = name.strip()
    if key in mapping:
        key_or_none = mapping[key]
        if key_or_none is not None and key_or_none not in known:
            raise ElicenseError(
                "request.invalid",
                "the mapping names a field no catalog type has",
                {"column": key, "field": key_or_none},
            )
        return key_or_none
    if key not in known:
        raise ElicenseError(
            "request.invalid",
            "unknown column: map it with --map (to a field key, or to null to ignore it)",
            {"column": key},
        )
    return key


class Source:
    """A CSV or JSON Lines file, read as blocks of whole rows (never parsed here)."""

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
        self.columns: list[str] = []
        """CSV: our key of each column (``_IGNORED`` for a column mapped to null)."""
        self._start = 0
        self._lines_before = 0

    def check_header(self) -> None:
        """Read a CSV's header and refuse one with unknown or missing columns, before any
        work (JSON Lines have no header: each line names its own keys)."""
        if self.fmt != "csv":
            return
        with self.path.open("rb") as raw:
            buf = raw.read(_READ)
            start = len(codecs.BOM_UTF8) if buf.startswith(codecs.BOM_UTF8) else 0
            while (end := _cut_csv(buf, start, 1)) == start:
                more = raw.read(_READ)
                if not more:
                    end = len(buf)
                    break
                buf += more
        text = buf[start:end].decode("utf-8", "surrogateescape")
        header = next(csv.reader(io.StringIO(text, newline="")), None)
        if header is None:
            self._start, self._lines_before = end, _csv_lines(buf[:end])
            return
        mapped = [_map_column(h, self.mapping, self.known) for h in header]
        _check_columns([c for c in mapped if c is not None])
        self.columns = [_IGNORED if c is None else c for c in mapped]
        self._start, self._lines_before = end, _csv_lines(buf[start:end])

    def blocks(self, rows: int) -> Iterator[Block]:
        """Blocks of up to ``rows`` rows, in file order."""
        cut = _cut_csv if self.fmt == "csv" else _cut_lines
        count = _csv_lines if self.fmt == "csv" else _count_lf
        with self.path.open("rb") as raw:
            raw.seek(self._start)
            buf, offset, pos, eof = b"", self._start, 0, False
            lines, seq = self._lines_before, 0
            while True:
                end = cut(buf, pos, rows)
                if end == pos:
                    if eof:
                        if pos == len(buf):
                            return
                        end = len(buf)  # the last row, without a line end
                    else:
                        more = raw.read(_READ)
                        eof = not more
                        buf, offset, pos = buf[pos:] + more, offset + pos, 0
                        continue
                data = buf[pos:end]
                yield Block(seq, lines, data, offset + end, data.count(b"\n"))
                lines += count(data)
                seq += 1
                pos = end


def _count_lf(data: bytes) -> int:
    return data.count(b"\n")


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


# --- checks (in the signing processes) --------------------------------------------------


class Work(NamedTuple):
    """One row that passed the checks, kept by its signing process until it is signed."""

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
    """The per-row checks before a status entry is spent, with the catalog and trust entries
    at hand."""

    def __init__(self, catalog: Catalog, entries: Mapping[str, IssuerEntry]) -> None:
        self.types: dict[str, LicenseType] = {}
        for t in catalog:
            self.types[t.name_zh] = t
        for t in catalog:
            self.types[t.code] = t
        self.entries = dict(entries)
        """The issuers this platform holds a key for and the trust list names."""

    def check(self, row: int, v: Mapping[str, Any]) -> Work | Reject:
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


# --- signing processes --------------------------------------------------------------------


_LICENSE_FIELDS = (
    "license_id", "type_code", "issuer_id", "serial", "version", "holder_pseudonym",
    "status_list_id", "status_idx", "issued_at", "valid_from", "valid_until", "sd_jwt",
    "state", "alias",
)  # fmt: skip
"""The order in which ``_sign_one`` writes a license row: ``LicenseRecord``'s own."""
if tuple(f.name for f in fields(LicenseRecord)) != _LICENSE_FIELDS:  # pragma: no cover
    raise RuntimeError("bulk license rows no longer follow LicenseRecord's fields")
_ALIAS_AT = _LICENSE_FIELDS.index("alias")


class _Setup(NamedTuple):
    """What every signing process is started with (keys are decrypted there, never sent
    decrypted). A named tuple: it is pickled to each process, and a compiled frozen
    dataclass cannot be unpickled."""

    home: str
    passphrase: bytes
    now: int
    fmt: Format
    columns: list[str]
    mapping: dict[str, str | None]
    known: frozenset[str]
    stored_before: frozenset[tuple[str, str]]
    """(issuer, type) pairs with licenses stored before the import: rows of these are
    looked up before they are signed (a re-run skips them without signing again)."""


_PARSE, _SIGN, _PARSED, _SIGNED, _FAILED = range(5)


class Parsed(NamedTuple):
    """A signing process's answer to a block: the rows it read, runs of (issuer, count)
    of the rows it keeps, refusals, and the numbers to look up (``stored_before``)."""

    rows: int
    runs: list[tuple[str, int]]
    rejects: list[Reject]
    lookup: list[tuple[int, str, str, str]]
    """(position among the kept rows, issuer, type, serial)."""


class Signed(NamedTuple):
    """A signing process's answer to a sign request: rows for the database, refusals."""

    holders: list[HolderRow]
    licenses: list[LicenseRow]
    rejects: list[Reject]


class _Signer:
    """One signing process: its keys, the checks, and the rows it keeps between the two
    requests of each block."""

    def __init__(self, setup: _Setup) -> None:
        path = Path(setup.home)
        cfg = HomeConfig.read(path)
        self.catalog = home_catalog(path, cfg)
        trust = trust_store_from_home(path, setup.now)
        issuers = trust.trust_list(cfg.region).issuers
        self.signers: dict[str, Signer] = {}
        self.entries: dict[str, IssuerEntry] = {}
        for spec in cfg.issuers:
            issuer_id = spec["id"]
            if issuer_id in issuers:
                self.signers[issuer_id] = read_issuer_key(path, issuer_id, setup.passphrase)
                self.entries[issuer_id] = issuers[issuer_id]
        self.pseudonym_key = read_pseudonym_key(path, setup.passphrase)
        self.setup = setup
        self.now = setup.now
        self.today = local_date(setup.now)
        self.types = {t.code: t for t in self.catalog}
        self.checker = _Checker(self.catalog, self.entries)
        self.kept: dict[int, list[Work]] = {}
        self.checked_keys: set[str] = set()

    def handle(self, message: tuple[Any, ...]) -> tuple[Any, ...]:
        if message[0] == _PARSE:
            _, seq, lines_before, data = message
            return (_PARSED, seq, self.parse(seq, lines_before, data))
        _, seq, skip, entries = message
        return (_SIGNED, seq, self.sign(seq, skip, entries))

    # --- reading and checking -----------------------------------------------------------

    def parse(self, seq: int, lines_before: int, data: bytes) -> Parsed:
        rows = 0
        kept: list[Work] = []
        rejects: list[Reject] = []
        items = (
            self._csv(lines_before, data)
            if self.setup.fmt == "csv"
            else self._jsonl(lines_before, data)
        )
        check = self.checker.check
        for row, values in items:
            rows += 1
            checked = check(row, values) if isinstance(values, dict) else values
            if isinstance(checked, Reject):
                rejects.append(checked)
            else:
                kept.append(checked)
        self.kept[seq] = kept
        runs: list[tuple[str, int]] = []
        for w in kept:
            if runs and runs[-1][0] == w.issuer:
                runs[-1] = (w.issuer, runs[-1][1] + 1)
            else:
                runs.append((w.issuer, 1))
        stored_before = self.setup.stored_before
        lookup = (
            [
                (i, w.issuer, w.type_code, w.serial)
                for i, w in enumerate(kept)
                if (w.issuer, w.type_code) in stored_before
            ]
            if stored_before
            else []
        )
        return Parsed(rows, runs, rejects, lookup)

    def _csv(self, lines_before: int, data: bytes) -> Iterator[tuple[int, dict[str, Any] | Reject]]:
        # surrogateescape: a row with bytes that are not UTF-8 is rejected alone instead
        # of aborting the whole file.
        reader = csv.reader(io.StringIO(data.decode("utf-8", "surrogateescape"), newline=""))
        columns = self.setup.columns
        width = len(columns)
        last_line = 0
        for cells in reader:
            first_line, last_line = last_line + 1, reader.line_num
            if not cells:
                continue
            row = lines_before + first_line - 1  # data rows count from 1, after the header
            if len(cells) > width:
                yield row, Reject(row, "", "request.invalid", "more cells than header columns")
                continue
            # Only non-empty cells, built in C (a wide export is mostly empty cells).
            values = dict(compress(zip(columns, cells, strict=False), cells))
            values.pop(_IGNORED, None)
            try:
                "".join(cells).encode("utf-8")  # one C call; fails on escaped bytes only
            except UnicodeEncodeError:
                yield row, Reject(row, _undecodable(values), "request.invalid", "not UTF-8 text")
                continue
            yield row, values

    def _jsonl(
        self, lines_before: int, data: bytes
    ) -> Iterator[tuple[int, dict[str, Any] | Reject]]:
        lines = data.split(b"\n")
        if data.endswith(b"\n"):
            lines.pop()
        mapping, known, checked = self.setup.mapping, self.setup.known, self.checked_keys
        for number, line in enumerate(lines, start=lines_before + 1):
            if not line.strip():
                continue
            try:
                obj = json.loads(line)
            except (ValueError, UnicodeDecodeError):
                yield number, Reject(number, "", "request.invalid", "not a JSON object")
                continue
            if not isinstance(obj, dict):
                yield number, Reject(number, "", "request.invalid", "not a JSON object")
                continue
            nested = obj.pop("fields", None)
            if nested is not None and not isinstance(nested, dict):
                yield (
                    number,
                    Reject(number, "fields", "request.invalid", "fields must be an object"),
                )
                continue
            values: dict[str, Any] = {}
            try:
                for part in (obj, nested or {}):
                    for name, value in part.items():
                        if name not in checked:
                            _map_column(name, mapping, known)
                            checked.add(name)
                        key = mapping.get(name, name) if mapping else name
                        if key is not None and value is not None and value != "":
                            values[key] = value
            except ElicenseError as exc:
                yield (
                    number,
                    Reject(number, exc.details.get("column", ""), "field.unknown", exc.message),
                )
                continue
            if b"\\u" in line:  # JSON escapes can spell lone surrogates, which no UTF-8 has
                bad = _undecodable({k: v for k, v in values.items() if isinstance(v, str)})
                if bad:
                    yield number, Reject(number, bad, "request.invalid", "not Unicode text")
                    continue
            yield number, values

    # --- validating and signing ---------------------------------------------------------

    def sign(self, seq: int, skip: Sequence[int], entries: Sequence[StatusEntries]) -> Signed:
        kept = self.kept.pop(seq)
        if skip:
            gone = set(skip)
            kept = [w for i, w in enumerate(kept) if i not in gone]
        out = Signed([], [], [])
        seen_holders: set[str] = set()
        rows = iter(kept)
        for entry in entries:
            for idx in entry.indexes:
                work = next(rows)
                try:
                    lic_row, holder_row = self._sign_one(work, entry.list_id, idx, entry.uri)
                except ElicenseError as exc:
                    out.rejects.append(_reject(work.row, exc))
                    continue
                out.licenses.append(lic_row)
                if holder_row[0] not in seen_holders:
                    seen_holders.add(holder_row[0])
                    out.holders.append(holder_row)
        if next(rows, None) is not None:
            raise RuntimeError("fewer status entries than rows to sign")
        return out

    def _sign_one(self, w: Work, list_id: int, idx: int, uri: str) -> tuple[LicenseRow, HolderRow]:
        lt = self.types[w.type_code]
        today, now = self.today, self.now
        valid_from = _date("valid_from", w.valid_from) or today
        valid_until = None if w.valid_until in LONG_TERM else _date("valid_until", w.valid_until)
        lic = issue_license(
            license_type=lt,
            issuer=self.entries[w.issuer],
            signer=self.signers[w.issuer],
            holder=w.holder,
            fields=w.fields,
            serial=w.serial,
            valid_from=valid_from,
            valid_until=valid_until,
            now=now,
            rand=os.urandom,
            version=w.version,
            status=StatusRef(uri, idx),
        )
        # issue_license validated the holder: its code as signed is the pseudonym's input
        holder_type, holder_code = lic.holder_type, lic.holder_code
        pid = pseudonym(self.pseudonym_key, holder_type, holder_code).hex()
        until = day_start(valid_until + dt.timedelta(days=1)) if valid_until is not None else None
        lic_row = (
            lic.license_id, w.type_code, w.issuer, w.serial, f"{w.version:03d}", pid, list_id,
            idx, now, day_start(valid_from), until, lic.sd_jwt, 0, w.alias,
        )  # fmt: skip
        return lic_row, (pid, holder_type, holder_code, now)


def _serve(setup: _Setup, inbox: Any, outbox: Any) -> None:
    """A signing process's loop. It ends on ``None``, on its first failure (reported), or
    when the main process is gone (a killed import leaves no process behind)."""
    try:
        signer = _Signer(setup)
    except BaseException as exc:  # reported to the main process, which raises it
        outbox.put((_FAILED, -1, _portable(exc)))
        return
    # What setup loaded (modules, catalog, keys) lives as long as the process: out of the
    # collector's sight, its collections only walk the rows in flight (about 1 µs a row
    # less, in-process).
    gc.freeze()
    parent = multiprocessing.parent_process()
    while True:
        try:
            message = inbox.get(timeout=1.0)
        except queue.Empty:
            if parent is not None and not parent.is_alive():
                return
            continue
        if message is None:
            return
        try:
            outbox.put(signer.handle(message))
        except BaseException as exc:  # reported, as above
            outbox.put((_FAILED, message[1], _portable(exc)))
            return


def _portable(exc: BaseException) -> BaseException:
    """The exception itself when it crosses a process boundary intact, else its text."""
    if isinstance(exc, ElicenseError):
        return exc
    return RuntimeError(f"signing process failed: {type(exc).__name__}: {exc}")


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
    """Rows per block sent to a signing process."""
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
    # An import puts back a killed import's leftovers itself (``bulk_load``).
    platform = open_platform(
        home, passphrase=passphrase, now=now, database_url=database_url, finish_imports=False
    )
    try:
        face_keys = frozenset(f.key for t in platform.catalog for f in t.fields)
        reader = Source(
            source,
            fmt=options.fmt or detect_format(source),
            mapping=options.mapping,
            face_keys=face_keys,
        )
        reader.check_header()
        platform.check_pseudonym_key()
        owners = _owners(platform)
        store = platform.storage.licenses
        pairs = [(o, t.code) for o, entry in owners.items() for t in platform.catalog
                 if entry.allows(t.code)]  # fmt: skip
        setup = _Setup(
            str(home), passphrase, now, reader.fmt, reader.columns, reader.mapping,
            reader.known, frozenset(store.issuer_types_present(pairs)),
        )  # fmt: skip
        with (
            store.bulk_load(reader.total_bytes // _MAX_ROW_BYTES),
            rejects.open("w", encoding="utf-8", newline="") as out,
            _Pool(setup, options.workers or os.cpu_count() or 1) as pool,
        ):
            out.write("\ufeff")  # spreadsheet programs then read the file as UTF-8
            writer = csv.writer(out)
            writer.writerow(REJECT_HEADER)
            run = _Run(platform, sorted(owners), reader, pool, options, writer, on_progress)
            summary = run.run()
            out.flush()
    finally:
        platform.storage.close()
    summary.seconds = time.perf_counter() - started
    summary.reject_file = str(rejects)
    return summary


def _owners(platform: Platform) -> dict[str, IssuerEntry]:
    """The issuers this platform holds a key for and the trust list names."""
    entries: dict[str, IssuerEntry] = {}
    for issuer_id in platform.issuer_signers:
        try:
            entries[issuer_id] = platform.issuer_entry(issuer_id)
        except ElicenseError:
            continue  # a key without a trust-list entry: its rows are refused
    return entries


class _Pool:
    """The signing processes, each with its own queue of requests (a block's second
    request must go to the process that kept its rows) and one queue of answers."""

    def __init__(self, setup: _Setup, workers: int) -> None:
        # spawn: processes start clean (no copy of the parent's database connections)
        # and are the parent's own children, so their resource use is the parent's to see.
        ctx = multiprocessing.get_context("spawn")
        self.answers: Any = ctx.Queue()
        self.inboxes: list[Any] = [ctx.Queue() for _ in range(workers)]
        self.pending = [0] * workers
        """Requests sent to each process and not answered yet."""
        self.processes: list[BaseProcess] = [
            ctx.Process(target=_serve, args=(setup, inbox, self.answers), daemon=True)
            for inbox in self.inboxes
        ]
        self.size = workers

    def __enter__(self) -> _Pool:
        for p in self.processes:
            p.start()
        return self

    def __exit__(self, exc_type: object, *_: object) -> None:
        if exc_type is None:
            for inbox in self.inboxes:
                inbox.put(None)
            for p in self.processes:
                p.join(timeout=30)
        for p in self.processes:
            if p.is_alive():
                p.terminate()
                p.join()
        for q in (*self.inboxes, self.answers):
            q.close()
            q.cancel_join_thread()

    def least_busy(self) -> int:
        return self.pending.index(min(self.pending))

    def send(self, worker: int, message: tuple[Any, ...]) -> None:
        self.pending[worker] += 1
        self.inboxes[worker].put(message)

    def receive(self) -> tuple[Any, ...]:
        while True:
            try:
                answer: tuple[Any, ...] = self.answers.get(timeout=1.0)
            except queue.Empty:
                dead = [p for p in self.processes if p.exitcode is not None]
                if dead:
                    raise RuntimeError(
                        f"a signing process ended unexpectedly (exit code {dead[0].exitcode})"
                    ) from None
                continue
            if answer[0] == _FAILED:
                raise answer[2]
            return answer


@dataclass(slots=True)
class _Chunk:
    """A block on its way: sent to ``worker``, parsed, signed, written (in file order)."""

    block: Block
    worker: int
    batch: int
    parsed: Parsed | None = None
    signed: Signed | None = None
    sent_to_sign: bool = False
    present: int = 0
    entries: list[StatusEntries] = field(default_factory=list)


class _Run:
    """One import: the blocks in flight, the batches, the counters committed batch by
    batch."""

    def __init__(
        self,
        platform: Platform,
        owners: list[str],
        reader: Source,
        pool: _Pool,
        options: ImportOptions,
        writer: Any,
        on_progress: Callable[[Progress], None] | None,
    ) -> None:
        self.store = platform.storage.licenses
        self.owners = owners
        self.reader = reader
        self.blocks = reader.blocks(options.chunk_size)
        self.pool = pool
        self.options = options
        self.writer = writer
        self.on_progress = on_progress
        self.summary = ImportSummary()
        self.batch = ImportSummary()
        self.batch_rejects: list[Reject] = []
        self.chunks: dict[int, _Chunk] = {}
        self.next_seq = 0
        self.write_seq = 0
        self.eof = False
        self.read_batch = 0
        self.read_batch_lines = 0
        self.in_flight_max = pool.size * _IN_FLIGHT_PER_WORKER
        self.ahead_max = pool.size * _AHEAD_PER_WORKER
        self.done_bytes = 0
        self.current = 0
        """The batch being written."""
        self.carried: CarriedEntries = {}
        """Entries the previous batch's transaction allocated for this one's first blocks."""

    def run(self) -> ImportSummary:
        while True:
            self._read()
            if not self._pending(self.current):
                return self.summary
            self.batch = ImportSummary()
            self.batch_rejects = []
            if self.owners:
                build = partial(self._run_batch, self.current)
                self.store.issue_bulk(self.owners, build, self.carried)
            else:  # no issuer to sign for: every row is refused, nothing is written
                self._run_batch(self.current, _NoWriter())
            self._commit()
            self.current += 1

    def _pending(self, batch: int) -> bool:
        """Whether batch ``batch`` still has a block to write (reading as needed)."""
        chunk = self.chunks.get(self.write_seq)
        if chunk is not None:
            return chunk.batch == batch
        return not self.eof and self.read_batch == batch

    def _read(self) -> None:
        """Send blocks to the signing processes while fewer than the limit are in flight."""
        while not self.eof and self.next_seq - self.write_seq < (
            self.ahead_max if self.read_batch > self.current else self.in_flight_max
        ):
            block = next(self.blocks, None)
            if block is None:
                self.eof = True
                return
            worker = self.pool.least_busy()
            self.chunks[block.seq] = _Chunk(block, worker, self.read_batch)
            self.next_seq = block.seq + 1
            self.read_batch_lines += block.lines
            if self.read_batch_lines >= self.options.batch_size:
                self.read_batch += 1
                self.read_batch_lines = 0
            self.pool.send(worker, (_PARSE, block.seq, block.lines_before, block.data))

    def _run_batch(self, batch: int, writer: BulkWriter) -> None:
        # Blocks of this batch read (and parsed) while the previous one committed.
        self._sign_parsed(batch, writer)
        # Once every block of this batch has its entries, the next batch's blocks get
        # theirs in this transaction too.
        ahead = False
        while True:
            while (chunk := self.chunks.get(self.write_seq)) is not None and (
                chunk.batch == batch and chunk.signed is not None
            ):
                self._write(chunk, writer)
            if not self._pending(batch):
                carried = [c for c in self.chunks.values() if c.batch == batch + 1]
                self.carried = writer.carry([e for c in carried for e in c.entries])
                return
            if not ahead and self.read_batch > batch:
                ahead = all(c.sent_to_sign for c in self.chunks.values() if c.batch == batch)
                if ahead:
                    self._sign_parsed(batch + 1, writer)
            self._read()
            kind, seq, answer = self.pool.receive()
            got = self.chunks[seq]
            self.pool.pending[got.worker] -= 1
            if kind == _PARSED:
                got.parsed = answer
                if got.batch == batch or (ahead and got.batch == batch + 1):
                    self._sign(got, writer)
            else:
                got.signed = answer

    def _sign_parsed(self, batch: int, writer: BulkWriter) -> None:
        """Sign the blocks of ``batch`` parsed and waiting for their entries."""
        for chunk in list(self.chunks.values()):
            if chunk.batch == batch and chunk.parsed is not None and not chunk.sent_to_sign:
                self._sign(chunk, writer)

    def _sign(self, chunk: _Chunk, writer: BulkWriter) -> None:
        """Allocate entries for the rows a block kept and ask its process to sign them."""
        parsed = chunk.parsed
        assert parsed is not None  # noqa: S101 - only parsed chunks get here
        chunk.sent_to_sign = True
        runs, skip = parsed.runs, []
        if parsed.lookup:  # a re-run: numbers stored before are not signed again
            stored = self.store.numbers_present(
                (issuer, type_code, serial) for _, issuer, type_code, serial in parsed.lookup
            )
            skip = [i for i, *key in parsed.lookup if tuple(key) in stored]
            if skip:
                chunk.present = len(skip)
                runs = _without(runs, skip)
        entries = chunk.entries = writer.allocate(runs) if runs else []
        self.pool.send(chunk.worker, (_SIGN, chunk.block.seq, skip, entries))

    def _write(self, chunk: _Chunk, writer: BulkWriter) -> None:
        parsed, signed = chunk.parsed, chunk.signed
        assert parsed is not None  # noqa: S101 - written once signed
        assert signed is not None  # noqa: S101
        skipped = writer.write(signed.holders, signed.licenses) if signed.licenses else []
        licenses = signed.licenses
        aliased = len(licenses) - [r[_ALIAS_AT] for r in licenses].count(None)
        aliased -= sum(licenses[i][_ALIAS_AT] is not None for i in skipped)
        b = self.batch
        b.rows += parsed.rows
        b.imported += len(licenses) - len(skipped)
        b.already_present += chunk.present + len(skipped)
        b.aliased += aliased
        self.batch_rejects += parsed.rejects
        self.batch_rejects += signed.rejects
        self.done_bytes = chunk.block.end
        del self.chunks[self.write_seq]
        self.write_seq += 1
        self._report()

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
                    self.done_bytes,
                    self.reader.total_bytes,
                )
            )


def _without(runs: list[tuple[str, int]], skip: Sequence[int]) -> list[tuple[str, int]]:
    """``runs`` of (owner, count) over rows 0, 1, … less the rows at positions ``skip``."""
    owners = [owner for owner, count in runs for _ in range(count)]
    gone = set(skip)
    out: list[tuple[str, int]] = []
    for i, owner in enumerate(owners):
        if i in gone:
            continue
        if out and out[-1][0] == owner:
            out[-1] = (owner, out[-1][1] + 1)
        else:
            out.append((owner, 1))
    return out


class _NoWriter:
    """The writer of an import with no issuer to sign for: no row ever gets this far."""

    def allocate(self, runs: Sequence[tuple[str, int]]) -> list[StatusEntries]:
        raise ElicenseError("trust.unknown_issuer")

    def write(self, holders: Sequence[HolderRow], licenses: Sequence[LicenseRow]) -> list[int]:
        raise ElicenseError("trust.unknown_issuer")

    def carry(self, entries: Sequence[StatusEntries]) -> CarriedEntries:
        return {}
