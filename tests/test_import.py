"""Bulk import of historical licenses (``elicense import``) into a real demo platform home.

Every import here runs the real pipeline: a spawned worker pool signing with the home's
encrypted issuer keys, SQLite (or PostgreSQL) storage through ``issue_bulk``, the reject
file. The kill test runs the installed CLI in a subprocess and kills it with SIGKILL.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import os
import random
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from elicense import bulk, demo
from elicense.catalog import HolderKind, LicenseType, builtin_catalog
from elicense.claims import local_date
from elicense.errors import ElicenseError
from elicense.faces import validate_holder
from elicense.home import HomeConfig, init_home, open_platform
from elicense.identifiers.license_id import (
    NONSTANDARD_VARIANTS,
    build_license_id,
    compose_license_id,
)
from elicense.licenses import StatusRef, verify_license
from elicense.platform import Platform
from elicense.records import HolderRecord
from elicense.storage import upgrade
from elicense.synthetic import credit_code, face_values, resident_id

PASS = b"import-test-passphrase"
NOW = int(time.time())
TODAY = local_date(NOW)
CATALOG = builtin_catalog()
ID_CARD = CATALOG.get(demo.TYPES["居民身份证"])
BUSINESS = CATALOG.get(demo.TYPES["营业执照"])
PAIRS: list[tuple[str, LicenseType]] = [
    (spec.id, CATALOG.get(code)) for spec in demo.demo_issuers() for code in spec.types
]
FACE_KEYS = sorted({f.key for _, t in PAIRS for f in t.fields} - set(bulk.RESERVED))
HEADER = list(bulk.RESERVED[:6]) + FACE_KEYS


# --- a fresh demo home per test (copied from one made per module) ------------------------


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    home = tmp_path_factory.mktemp("template") / "platform"
    cfg = init_home(
        home,
        region=demo.REGION,
        region_name=demo.REGION_NAME,
        issuers=demo.demo_issuers(),
        passphrase=PASS,
        now=NOW,
    )
    upgrade(cfg.database_url)
    return home


@pytest.fixture
def home(template: Path, tmp_path: Path) -> Path:
    target = tmp_path / "platform"
    shutil.copytree(template, target)
    cfg = HomeConfig.read(target)
    cfg.database_url = f"sqlite:///{(target / 'elicense.db').resolve()}"
    cfg.write(target)
    return target


@pytest.fixture
def opened(home: Path) -> Iterator[Platform]:
    platform = open_platform(home, passphrase=PASS, now=NOW)
    yield platform
    platform.storage.close()


# --- rows ---------------------------------------------------------------------------------


def seeded(seed: int) -> random.Random:
    return random.Random(seed)  # noqa: S311 - reproducible generated data, nothing secret


def make_row(
    rng: random.Random, n: int, pair: tuple[str, LicenseType] | None = None
) -> dict[str, Any]:
    """A valid row of realistic (generated) data; the type by code or by Chinese name."""
    issuer, t = pair or PAIRS[n % len(PAIRS)]
    holder = resident_id(rng) if t.holder_kind is HolderKind.RESIDENT else credit_code(rng)
    values = face_values(t, rng, holder=holder, today=TODAY)
    valid_from = values.get("valid_from") or (TODAY - dt.timedelta(days=400)).isoformat()
    return {
        "type": t.name_zh if n % 2 else t.code,
        "issuer": issuer,
        "holder": holder,
        "serial": f"H{n:08d}",
        "valid_from": valid_from,
        "valid_until": values.get("valid_until", ""),
        **values,
    }


def write_csv(path: Path, rows: list[dict[str, Any]], header: list[str] = HEADER) -> Path:
    with path.open("w", encoding="utf-8-sig", newline="") as f:  # with a BOM, as Excel writes
        w = csv.writer(f)
        w.writerow(header)
        w.writerows([[row.get(c, "") for c in header] for row in rows])
    return path


def read_rejects(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8-sig", newline="") as f:
        return list(csv.DictReader(f))


def run_import(home: Path, source: Path, **options: Any) -> bulk.ImportSummary:
    return bulk.import_file(
        home,
        source,
        passphrase=PASS,
        now=NOW,
        rejects=source.with_name(source.name + ".rejects.csv"),
        options=bulk.ImportOptions(workers=options.pop("workers", 2), **options),
    )


def stored_numbers(platform: Platform) -> list[tuple[str, str, str]]:
    out, after = [], None
    while True:
        page = platform.storage.licenses.page(issuer_id=None, after=after, limit=1000)
        out += [(r.issuer_id, r.type_code, r.serial) for r in page.items]
        if page.after is None:
            return out
        after = page.after


# --- behaviour ----------------------------------------------------------------------------


def test_csv_import_stores_every_row_and_a_sample_verifies_with_its_fields(
    home: Path, tmp_path: Path
) -> None:
    rng = seeded(1)
    rows = [make_row(rng, n) for n in range(240)]
    summary = run_import(home, write_csv(tmp_path / "in.csv", rows), chunk_size=50)
    assert (summary.rows, summary.imported, summary.rejected) == (240, 240, 0)
    assert summary.already_present == summary.aliased == 0
    platform = open_platform(home, passphrase=PASS, now=NOW)
    try:
        assert platform.storage.licenses.count() == 240
        for row in rng.sample(rows, 24):
            t = CATALOG.get(demo.TYPES.get(row["type"], row["type"]))
            rec = platform.storage.licenses.get_by_number(row["issuer"], t.code, row["serial"])
            assert rec is not None
            v = verify_license(rec.sd_jwt, platform.trust, now=NOW)
            assert (
                v.license_id
                == rec.license_id
                == compose_license_id(t.code, row["issuer"], row["serial"], 1)
            )
            assert v.holder_id == row["holder"]
            assert v.fields == {f.key: row[f.key] for f in t.fields if f.key in row}
            lst = platform.storage.status_lists.get(rec.status_list_id)
            assert lst is not None
            assert v.status == StatusRef(lst.uri, rec.status_idx)
            assert rec.holder_pseudonym == platform.holder(v.holder_type, row["holder"], NOW)
    finally:
        platform.storage.close()


def test_batches_signed_ahead_of_each_commit_store_every_row_once_on_its_own_entry(
    home: Path, tmp_path: Path
) -> None:
    """Small batches of a few blocks: each batch's transaction allocates the next one's
    first entries (``BulkWriter.carry``), which the next writes."""
    rng = seeded(11)
    rows = [make_row(rng, n) for n in range(600)]
    summary = run_import(home, write_csv(tmp_path / "in.csv", rows), chunk_size=20, batch_size=100)
    assert (summary.rows, summary.imported, summary.rejected) == (600, 600, 0)
    platform = open_platform(home, passphrase=PASS, now=NOW)
    try:
        stored = platform.storage.licenses.page(issuer_id=None, after=None, limit=1000).items
        assert len(stored) == 600
        assert len({(r.status_list_id, r.status_idx) for r in stored}) == 600
        issuers = {r.issuer_id for r in stored}
        handed = sum(
            lst.next_counter for i in issuers for lst in platform.storage.status_lists.for_owner(i)
        )
        assert handed == 600  # every entry allocated ahead was written, none twice
        for rec in rng.sample(stored, 30):
            assert verify_license(rec.sd_jwt, platform.trust, now=NOW).license_id == rec.license_id
    finally:
        platform.storage.close()


def test_jsonl_import_reads_top_level_and_nested_fields(home: Path, tmp_path: Path) -> None:
    rng = seeded(2)
    lines = []
    for n in range(30):
        row = make_row(rng, n, (demo.MARKET, BUSINESS))
        keys = {"type", "issuer", "holder", "serial", "valid_from", "valid_until", "name"}
        nested = {k: v for k, v in row.items() if k not in keys}
        lines.append(
            json.dumps({**{k: row[k] for k in keys}, "fields": nested}, ensure_ascii=False)
        )
    lines.insert(10, "")  # blank lines are skipped
    source = tmp_path / "in.jsonl"
    source.write_text("\n".join(lines) + "\n", encoding="utf-8")
    summary = run_import(home, source, workers=1)
    assert (summary.rows, summary.imported, summary.rejected) == (30, 30, 0)


def test_lines_that_cannot_be_read_as_rows_are_rejected_alone(
    home: Path, tmp_path: Path, opened: Platform
) -> None:
    rng = seeded(11)
    good = [make_row(rng, n, (demo.MARKET, BUSINESS)) for n in range(4)]
    jsonl = tmp_path / "in.jsonl"
    lines = [json.dumps(good[0], ensure_ascii=False).encode(), b"{not json",
             json.dumps([1, 2]).encode(), json.dumps({**good[1], "colour": "red"}).encode(),
             json.dumps({**good[2], "name": "\udc80"}).encode(),
             json.dumps(good[3], ensure_ascii=False).encode()]  # fmt: skip
    jsonl.write_bytes(b"\n".join(lines) + b"\n")
    summary = run_import(home, jsonl, workers=1)
    assert (summary.imported, summary.rejected) == (2, 4)
    rejects = read_rejects(Path(summary.reject_file or ""))
    assert [(r["row"], r["field"], r["code"]) for r in rejects] == [
        ("2", "", "request.invalid"), ("3", "", "request.invalid"),
        ("4", "colour", "field.unknown"), ("5", "name", "request.invalid"),
    ]  # fmt: skip
    rows = [make_row(rng, n, (demo.MARKET, BUSINESS)) for n in range(10, 13)]
    rows[1]["name"] = "MARKER"
    csv_path = write_csv(tmp_path / "in.csv", rows)
    raw = csv_path.read_bytes().splitlines(keepends=True)
    raw[2] = raw[2].replace(b"MARKER", "淄博".encode("gbk"))  # GBK bytes in a UTF-8 file
    raw[3] = raw[3].rstrip(b"\r\n") + b",extra\r\n"
    csv_path.write_bytes(b"".join(raw))
    summary = run_import(home, csv_path, workers=1)
    assert summary.imported == 1
    assert [(r["row"], r["code"]) for r in read_rejects(Path(summary.reject_file or ""))] == [
        ("2", "request.invalid"),
        ("3", "request.invalid"),
    ]
    assert opened.storage.licenses.count() == 3


def test_a_header_mapping_reads_a_registry_export_with_its_own_column_names(
    home: Path, tmp_path: Path, opened: Platform
) -> None:
    rng = seeded(3)
    rows = [make_row(rng, n, (demo.POLICE, ID_CARD)) for n in range(20)]
    foreign = {"证照类型": "type", "发证机构代码": "issuer", "持证人证件号码": "holder",
               "证照编号": "serial", "有效期起": "valid_from", "有效期至": "valid_until",
               "姓名": "name", "备注": None}  # fmt: skip
    header = list(foreign) + [f.key for f in ID_CARD.fields if f.key not in foreign.values()]
    back = {v: k for k, v in foreign.items() if v}
    data = [{**{back.get(k, k): v for k, v in row.items()}, "备注": "纸质档案"} for row in rows]
    source = write_csv(tmp_path / "export.csv", data, header)
    mapping = tmp_path / "map.yaml"
    mapping.write_text(
        "\n".join(f"{k}: {v if v else 'null'}" for k, v in foreign.items()) + "\n",
        encoding="utf-8",
    )
    summary = run_import(home, source, workers=1, mapping=bulk.load_mapping(mapping))
    assert summary.imported == 20
    rec = opened.storage.licenses.get_by_number(demo.POLICE, ID_CARD.code, rows[0]["serial"])
    assert rec is not None
    assert verify_license(rec.sd_jwt, opened.trust, now=NOW).fields["name"] == rows[0]["name"]


def test_an_unknown_column_refuses_the_file_before_anything_is_imported(
    home: Path, tmp_path: Path, opened: Platform
) -> None:
    rows = [make_row(seeded(4), 0)]
    source = write_csv(tmp_path / "in.csv", rows, [*HEADER, "nmae"])
    with pytest.raises(ElicenseError) as exc:
        run_import(home, source, workers=1)
    assert exc.value.code == "request.invalid"
    assert exc.value.details == {"column": "nmae"}
    assert opened.storage.licenses.count() == 0


def _bad_rows(rng: random.Random) -> tuple[list[dict[str, Any]], list[tuple[str, str]], list[str]]:
    """Rows that must be refused: (rows, their expected (field, code) in order, values that
    must never appear in the reject file)."""
    base = [make_row(rng, 1000 + n, (demo.POLICE, ID_CARD)) for n in range(11)]
    secret_id = _other_check(base[2]["holder"])
    bad_face_id = _other_check(base[3]["id_number"])
    ident = build_license_id(ID_CARD.code, demo.POLICE, base[6]["serial"])
    known = {ident.check, *(variant(ident.payload) for variant in NONSTANDARD_VARIANTS.values())}
    wrong_check = str(ident)[:-1] + next(c for c in "ABCDEFGH" if c not in known)
    edits: list[tuple[dict[str, Any], tuple[str, str]]] = [
        ({"type": "不存在的证照"}, ("type", "catalog.unknown_type")),
        ({"name": ""}, ("name", "field.missing")),
        ({"holder": secret_id}, ("holder", "resident_id.bad_check")),
        ({"id_number": bad_face_id}, ("id_number", "resident_id.bad_check")),
        ({"valid_from": "2020-13-01"}, ("valid_from", "field.bad_value")),
        ({"sex": "未知"}, ("sex", "field.bad_value")),
        ({"license_id": wrong_check}, ("license_id", "license_id.bad_check")),
        ({"issuer": "91370300MA3C00009X"}, ("issuer", "trust.unknown_issuer")),
        ({"issuer": demo.MARKET}, ("type", "trust.type_not_allowed")),
        ({"serial": "NO-123"}, ("serial", "license_id.bad_serial")),
        ({"holder": ""}, ("holder", "field.missing")),
    ]
    rows = [{**row, **edit} for row, (edit, _) in zip(base, edits, strict=True)]
    return rows, [e for _, e in edits], [secret_id, bad_face_id, "未知", "NO-123"]


def _other_check(resident: str) -> str:
    return resident[:17] + ("0" if resident[17] != "0" else "1")


def test_every_bad_row_is_in_the_reject_file_with_its_row_field_and_code_but_no_value(
    home: Path, tmp_path: Path, opened: Platform
) -> None:
    rng = seeded(5)
    good = [make_row(rng, n) for n in range(40)]
    bad, expected, secrets = _bad_rows(rng)
    rows = good[:20] + bad + good[20:]
    source = write_csv(tmp_path / "in.csv", rows, [*HEADER, "license_id"])
    summary = run_import(home, source, chunk_size=7)
    assert (summary.rows, summary.imported, summary.rejected) == (51, 40, len(expected))
    rejects = read_rejects(Path(summary.reject_file or ""))
    assert [(r["field"], r["code"]) for r in rejects] == expected
    assert [int(r["row"]) for r in rejects] == list(range(21, 21 + len(expected)))
    assert all(r["message"] for r in rejects)
    text = Path(summary.reject_file or "").read_text(encoding="utf-8")
    assert not [s for s in secrets if s in text]
    assert opened.storage.licenses.count() == 40


def test_the_first_row_with_a_number_wins_and_later_ones_count_as_already_present(
    home: Path, tmp_path: Path, opened: Platform
) -> None:
    rng = seeded(10)
    rows = [make_row(rng, n, (demo.MARKET, BUSINESS)) for n in range(12)]
    broken_first = {**rows[4], "serial": "DUP2", "name": ""}  # refused: its twin is imported
    rows[9:9] = [{**rows[2], "name": "另一家公司"}, broken_first, {**rows[5], "serial": "DUP2"}]
    source = write_csv(tmp_path / "in.csv", rows)
    summary = run_import(home, source, workers=1, chunk_size=4)
    assert (summary.rows, summary.imported, summary.already_present) == (15, 13, 1)
    assert [(r["row"], r["code"]) for r in read_rejects(Path(summary.reject_file or ""))] == [
        ("11", "field.missing")
    ]
    rec = opened.storage.licenses.get_by_number(demo.MARKET, BUSINESS.code, rows[2]["serial"])
    assert rec is not None
    assert verify_license(rec.sd_jwt, opened.trust, now=NOW).fields["name"] == rows[2]["name"]


def test_a_non_standard_check_character_gets_a_standard_identifier_and_keeps_the_old_as_alias(
    home: Path, tmp_path: Path, opened: Platform
) -> None:
    rng = seeded(6)
    rows, historical = [], []
    for n, variant in enumerate([*sorted(NONSTANDARD_VARIANTS), "standard"]):
        row = make_row(rng, n, (demo.MARKET, BUSINESS))
        ident = build_license_id(BUSINESS.code, demo.MARKET, row["serial"])
        if variant != "standard":
            odd = NONSTANDARD_VARIANTS[variant](ident.payload)
            row["license_id"] = str(ident)[:-1] + odd
        else:
            row["license_id"] = str(ident)
        del row["serial"]  # the number comes from the historical identifier
        rows.append(row)
        historical.append((row["license_id"], str(ident)))
    source = write_csv(tmp_path / "in.csv", rows, [*HEADER, "license_id"])
    summary = run_import(home, source, workers=1)
    assert (summary.imported, summary.aliased, summary.rejected) == (3, 2, 0)
    for old, standard in historical:
        rec = opened.storage.licenses.get(old)  # found by the old identifier too
        assert rec is not None
        assert rec.license_id == standard
        assert rec.alias == (None if old == standard else old)
        assert verify_license(rec.sd_jwt, opened.trust, now=NOW).license_id == standard


def test_running_the_same_file_twice_imports_nothing_new_and_rejects_the_same_rows(
    home: Path, tmp_path: Path, opened: Platform
) -> None:
    rng = seeded(7)
    bad, expected, _ = _bad_rows(rng)
    rows = [make_row(rng, n) for n in range(60)] + bad
    source = write_csv(tmp_path / "in.csv", rows, [*HEADER, "license_id"])
    first = run_import(home, source, workers=1)
    second = run_import(home, source, workers=1)
    assert (first.imported, first.already_present) == (60, 0)
    assert (second.imported, second.already_present) == (0, 60)
    assert first.rejected == second.rejected == len(expected)
    numbers = stored_numbers(opened)
    assert len(numbers) == len(set(numbers)) == 60


def _cli(*args: str) -> list[str]:
    exe = shutil.which("elicense") or str(Path(sys.executable).parent / "elicense")
    return [exe, "import", *args]


def _count(db: Path) -> int:
    try:
        with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=1) as conn:
            return int(conn.execute("SELECT count(*) FROM licenses").fetchone()[0])
    except sqlite3.Error:
        return 0


def test_killing_the_import_half_way_and_running_it_again_stores_each_license_once(
    home: Path, tmp_path: Path, opened: Platform
) -> None:
    rng = seeded(8)
    rows = [make_row(rng, n) for n in range(3000)]
    bad, expected, _ = _bad_rows(rng)
    rows[1500:1500] = bad
    source = write_csv(tmp_path / "in.csv", rows, [*HEADER, "license_id"])
    env = {**os.environ, "ELICENSE_KEY_PASSPHRASE": PASS.decode()}
    args = [str(source), "--home", str(home), "--batch-size", "150", "--workers", "1", "--json"]
    proc = subprocess.Popen(  # its own session: the kill takes its workers along
        _cli(*args), env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True
    )
    db = home / "elicense.db"
    deadline = time.monotonic() + 120
    try:
        while _count(db) < 600 and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.02)
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
    killed_at = _count(db)
    assert 0 < killed_at < 3000, "the import was not caught half-way"
    rerun = subprocess.run(_cli(*args), env=env, capture_output=True, check=False, timeout=300)
    assert rerun.returncode == 0, rerun.stderr.decode()
    summary = json.loads(rerun.stdout)
    assert summary["already_present"] == killed_at
    assert summary["imported"] + summary["already_present"] == 3000
    assert summary["rejected"] == len(expected)
    numbers = stored_numbers(opened)
    assert len(numbers) == len(set(numbers)) == 3000
    good = rows[:1500] + rows[1500 + len(bad) :]
    assert set(numbers) == {
        (r["issuer"], CATALOG.get(demo.TYPES.get(r["type"], r["type"])).code, r["serial"])
        for r in good
    }
    rejects = read_rejects(Path(summary["reject_file"]))
    assert [(r["field"], r["code"]) for r in rejects] == expected
    now = int(time.time())  # the CLI signed with the wall clock, later than NOW
    for rec in opened.storage.licenses.page(issuer_id=None, after=None, limit=50).items:
        verify_license(rec.sd_jwt, opened.trust, now=now)


@pytest.mark.postgres
def test_import_into_postgresql(
    home: Path, tmp_path: Path, postgres_schema: tuple[str, str]
) -> None:
    url, schema = postgres_schema
    upgrade(url, schema=schema)
    rng = seeded(9)
    rows = [make_row(rng, n) for n in range(300)]
    source = write_csv(tmp_path / "in.csv", rows)
    database_url = f"{url}{'&' if '?' in url else '?'}schema={schema}"

    def run() -> bulk.ImportSummary:
        return bulk.import_file(
            home, source, passphrase=PASS, now=NOW, rejects=tmp_path / "rejects.csv",
            options=bulk.ImportOptions(chunk_size=40, batch_size=120),
            database_url=database_url,
        )  # fmt: skip

    assert run().imported == 300
    assert (run().imported, run().already_present) == (0, 300)
    platform = open_platform(home, passphrase=PASS, now=NOW, database_url=database_url)
    try:
        assert platform.storage.licenses.count() == 300
        rec = platform.storage.licenses.get_by_number(
            rows[5]["issuer"], CATALOG.get(demo.TYPES.get(rows[5]["type"], rows[5]["type"])).code,
            rows[5]["serial"],
        )  # fmt: skip
        assert rec is not None
        assert verify_license(rec.sd_jwt, platform.trust, now=NOW).holder_id == rows[5]["holder"]
    finally:
        platform.storage.close()


def test_the_standard_identifier_shortcut_agrees_with_the_full_parse() -> None:
    """``_historical`` recomposes a standard identifier of the row's type and issuer
    instead of parsing it; every other text takes the full parse. Both must agree."""
    t = builtin_catalog().get(demo.demo_issuers()[0].types[0])
    issuer = demo.demo_issuers()[0].id
    other_issuer = demo.demo_issuers()[1].id
    standard = str(build_license_id(t.code, issuer, "2026000123", 7))
    assert bulk._historical(1, standard, t.code, issuer, "") == ("2026000123", 7, None)
    assert bulk._historical(1, standard, t.code, issuer, "2026000123") == ("2026000123", 7, None)
    assert bulk._historical(1, standard, t.code, issuer, "999") == bulk.Reject(
        1, "license_id", "license_id.bad_serial", "names another number"
    )
    assert bulk._standard_serial(standard, t.code, other_issuer) is None
    found = bulk._historical(1, standard, t.code, other_issuer, "")
    assert isinstance(found, bulk.Reject)
    assert found.code == "license_id.bad_issuer"
    wrong = standard[:-1] + ("0" if standard[-1] != "0" else "1")
    assert bulk._standard_serial(wrong, t.code, issuer) is None
    assert isinstance(bulk._historical(1, wrong, t.code, issuer, ""), bulk.Reject)
    for text in (standard + ".", "x" + standard, standard.replace(".007.", ".7.")):
        assert bulk._standard_serial(text, t.code, issuer) is None


def test_quoted_cells_spanning_lines_are_never_cut_and_keep_their_row_numbers(
    home: Path, tmp_path: Path, opened: Platform
) -> None:
    rng = seeded(12)
    rows = [make_row(rng, n, (demo.MARKET, BUSINESS)) for n in range(12)]
    for n in (1, 4, 5, 9):  # line breaks (\r\n and \n) in a cell: read whole, then refused
        rows[n]["business_scope"] = f'批发,零售\r\n"第{n}项"\n食品'
    rows[3]["business_scope"] = '批发,"零售",食品'  # commas and quotes on one line
    rows[7]["name"] = ""
    source = write_csv(tmp_path / "in.csv", rows)
    summary = run_import(home, source, workers=2, chunk_size=2)
    assert (summary.rows, summary.imported, summary.rejected) == (12, 7, 5)
    # A row's number is its first line's, less the header's: each cell above it that
    # spans three lines moves it by two, wherever the file was cut into blocks.
    assert [(r["row"], r["field"]) for r in read_rejects(Path(summary.reject_file or ""))] == [
        ("2", "business_scope"), ("7", "business_scope"), ("10", "business_scope"),
        ("14", "name"), ("16", "business_scope"),
    ]  # fmt: skip
    rec = opened.storage.licenses.get_by_number(demo.MARKET, BUSINESS.code, rows[3]["serial"])
    assert rec is not None
    fields = verify_license(rec.sd_jwt, opened.trust, now=NOW).fields
    assert fields["business_scope"] == rows[3]["business_scope"]


@pytest.mark.parametrize("seed", range(40))
def test_blocks_end_where_the_csv_module_ends_a_row(seed: int) -> None:
    """Cutting a file into blocks at ``_cut_csv`` and reading each block alone gives the
    rows ``csv.reader`` reads from the whole file, whatever quotes and line ends hold."""
    rng = seeded(seed)
    pieces = ["a", "", ",", '"', '""', "\n", "\r\n", "\r", "x y", "证照"]
    text = "".join(rng.choice(pieces) for _ in range(rng.randrange(0, 80)))
    data = text.encode()
    whole = list(csv.reader(io.StringIO(text, newline="")))
    read, pos = [], 0
    while pos < len(data):
        end = bulk._cut_csv(data, pos, rng.randrange(1, 4))
        if end == pos:  # nothing whole left: the rest is the last (unterminated) row
            end = len(data)
        block = data[pos:end].decode()
        read += list(csv.reader(io.StringIO(block, newline="")))
        pos = end
    assert read == whole


def test_an_import_under_another_pseudonym_key_is_refused_before_anything_is_stored(
    home: Path, tmp_path: Path, opened: Platform
) -> None:
    # A holder stored under a pseudonym this platform's key does not give its code: the
    # key changed since, and every imported holder would get a second pseudonym.
    code = resident_id(seeded(3))
    opened.storage.holders.upsert(HolderRecord("ab" * 16, "111", code, NOW))
    source = write_csv(tmp_path / "in.csv", [make_row(seeded(4), n) for n in range(5)])
    with pytest.raises(ElicenseError) as caught:
        run_import(home, source)
    assert caught.value.code == "storage.conflict"
    assert code not in str(caught.value)
    assert opened.storage.licenses.count() == 0


def test_a_license_issued_to_a_holder_an_import_has_staged_refers_to_a_stored_holder(
    home: Path, opened: Platform
) -> None:
    rng = seeded(5)
    issuer, t = PAIRS[0]
    row = make_row(rng, 0, (issuer, t))
    pid = opened.holder(*validate_holder(t, row["holder"], today=TODAY), NOW)  # now staged:
    with sqlite3.connect(home / "elicense.db") as db:
        db.execute("CREATE TABLE holders_staged (pseudonym, holder_type, holder_code, created_at)")
        db.execute("INSERT INTO holders_staged SELECT * FROM holders WHERE pseudonym = ?", (pid,))
        db.execute("PRAGMA foreign_keys = OFF")
        db.execute("DELETE FROM holders WHERE pseudonym = ?", (pid,))
    assert opened.storage.holders.get(pid) is not None  # found while staged
    fields = {k: v for k, v in row.items() if k not in bulk.RESERVED or t.has_field(k)}
    until = row["valid_until"]
    rec = opened.issue(
        issuer_id=issuer,
        license_type=t,
        holder=row["holder"],
        fields=fields,
        serial="S1",
        valid_from=dt.date.fromisoformat(row["valid_from"]),
        valid_until=dt.date.fromisoformat(until) if until and until != "长期" else None,
        now=NOW,
        rand=os.urandom,
    )
    assert rec.holder_pseudonym == pid
    with sqlite3.connect(home / "elicense.db") as db:
        stored = db.execute("SELECT count(*) FROM holders WHERE pseudonym = ?", (pid,))
        assert stored.fetchone() == (1,)
        assert db.execute("PRAGMA foreign_key_check").fetchall() == []
