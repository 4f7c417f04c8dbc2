"""Migrations from empty and from the previous revision, the schema check at start-up,
database URLs, and ``elicense db upgrade`` / ``elicense db current``."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import insert, inspect, text
from typer.testing import CliRunner

from elicense.cli import app
from elicense.errors import ElicenseError
from elicense.storage import current_revision, head_revision, open_storage, upgrade
from elicense.storage.db import DEFAULT_PAGE_SIZE, parse_url
from elicense.storage.schema import holders, metadata, status_lists

from .storage_support import (
    DAY,
    HOLDER_CODE,
    ISSUER,
    NOW,
    SD_JWT,
    STATUS_KEY,
    TYPE_CODE,
    Database,
    holder,
    license_id,
    new_license,
    open_for,
)

runner = CliRunner()


HEAD = "0005"


def test_head_is_the_third_revision() -> None:
    assert head_revision() == HEAD


def test_upgrade_from_empty_builds_exactly_the_declared_schema(database: Database) -> None:
    url, schema = database
    assert current_revision(url, schema=schema) is None
    assert upgrade(url, schema=schema) == HEAD
    store = open_for(url, schema, check_schema=False)
    try:
        with store.db.read() as conn:
            ctx = MigrationContext.configure(conn)
            assert compare_metadata(ctx, metadata) == []
            tables = set(inspect(conn).get_table_names())
        assert tables == {*metadata.tables, "alembic_version"}
    finally:
        store.close()
    assert current_revision(url, schema=schema) == HEAD


def test_upgrade_again_is_a_no_op(database: Database) -> None:
    url, schema = database
    upgrade(url, schema=schema)
    assert upgrade(url, schema=schema) == HEAD


def test_upgrade_from_the_previous_revision_keeps_the_data(database: Database) -> None:
    url, schema = database
    assert upgrade(url, schema=schema, revision="0001") == "0001"
    h = holder(1, HOLDER_CODE)
    lid = license_id("S1")
    old = open_for(url, schema, check_schema=False)
    try:
        with old.db.write() as conn:  # rows as revision 0001 knew them: no alias column
            conn.execute(insert(holders).values(**_holder_row(h)))
            conn.execute(
                insert(status_lists).values(
                    id=1,
                    owner_id=ISSUER,
                    uri="https://s/1",
                    bits=2,
                    size=16,
                    data=bytes(4),
                    next_counter=1,
                    version=1,
                    is_open=1,
                )
            )
            conn.execute(
                text(
                    "INSERT INTO licenses (license_id, type_code, issuer_id, serial, version, "
                    "holder_pseudonym, status_list_id, status_idx, issued_at, valid_from, "
                    "valid_until, sd_jwt, state) VALUES (:lid, :t, :i, 'S1', '001', :p, 1, 7, "
                    ":now, :now, :until, :jwt, 0)"
                ),
                {
                    "lid": lid,
                    "t": TYPE_CODE,
                    "i": ISSUER,
                    "p": h.pseudonym,
                    "now": NOW,
                    "until": NOW + DAY,
                    "jwt": SD_JWT,
                },
            )
    finally:
        old.close()
    with pytest.raises(ElicenseError) as refused:
        open_for(url, schema)
    assert refused.value.code == "storage.schema_outdated"

    assert upgrade(url, schema=schema) == HEAD
    store = open_for(url, schema, list_size=16)
    try:
        kept = store.licenses.get(lid)
        assert kept is not None
        assert (kept.status_list_id, kept.status_idx, kept.alias) == (1, 7, None)
        assert kept.sd_jwt == SD_JWT
        assert store.holders.get(h.pseudonym) == h
        new = store.licenses.issue(ISSUER, new_license("S2", h.pseudonym, alias="old-S2"))
        assert new.status_list_id == 1
        assert store.licenses.get("old-S2") == new
    finally:
        store.close()


def _holder_row(h: object) -> dict[str, object]:
    return {k: getattr(h, k) for k in ("pseudonym", "holder_type", "holder_code", "created_at")}


def test_the_service_refuses_an_unmigrated_database_and_names_the_command(
    database: Database,
) -> None:
    url, schema = database
    if schema is None:
        Path(url.removeprefix("sqlite:///")).touch()
    with pytest.raises(ElicenseError) as exc:
        open_storage(url, status_key=STATUS_KEY, schema=schema)
    assert exc.value.code == "storage.schema_outdated"
    assert "elicense db upgrade" in exc.value.message
    assert exc.value.details == {"current": None, "expected": HEAD}


def test_a_database_migrated_by_a_newer_release_is_refused_too(database: Database) -> None:
    url, schema = database
    upgrade(url, schema=schema)
    store = open_for(url, schema, check_schema=False)
    try:
        with store.db.write() as conn:
            conn.execute(text("UPDATE alembic_version SET version_num = 'f00d'"))
    finally:
        store.close()
    with pytest.raises(ElicenseError) as exc:
        open_for(url, schema)
    assert exc.value.code == "storage.schema_outdated"
    assert "upgrade elicense" in exc.value.message


@pytest.mark.parametrize(
    "url",
    [
        "mysql://root@localhost/elicense",
        "postgresql+asyncpg://u@h/db",
        "sqlite://host/x.db",
        "sqlite:///x.db?mode=ro",
        "sqlite:///x.db?page_size=1000",
        "sqlite:///x.db?page_size=4096&page_size=16384",
        "postgresql://u@h/db?schema=bad-name",
        "elicense.db",
        "",
    ],
)
def test_unsupported_urls_are_bad_urls(url: str) -> None:
    with pytest.raises(ElicenseError) as exc:
        open_storage(url, status_key=STATUS_KEY)
    assert exc.value.code == "storage.bad_url"


@pytest.mark.parametrize(
    ("url", "kind", "schema"),
    [
        ("sqlite:///:memory:", "sqlite", None),
        ("sqlite://", "sqlite", None),
        ("sqlite:///rel/path.db", "sqlite", None),
        ("sqlite:////abs/path.db", "sqlite", None),
        ("postgresql://u:pw@h:5432/db", "postgresql", None),
        ("postgres://u@h/db?schema=tenant_1", "postgresql", "tenant_1"),
        ("postgresql+psycopg://u@h/db", "postgresql", None),
    ],
)
def test_supported_urls_choose_the_adapter(url: str, kind: str, schema: str | None) -> None:
    target = parse_url(url)
    assert (target.kind, target.schema) == (kind, schema)
    if kind == "postgresql":
        assert target.url.drivername == "postgresql+psycopg"
        assert "schema" not in target.url.query


# --- the CLI ---------------------------------------------------------------------------


def _cli_url(database: Database) -> str:
    url, schema = database
    return url if schema is None else f"{url}?schema={schema}"


def test_db_upgrade_creates_then_reports_up_to_date(database: Database) -> None:
    url = _cli_url(database)
    first = runner.invoke(app, ["db", "upgrade", "--url", url, "--json"])
    assert first.exit_code == 0, first.output
    assert json.loads(first.stdout) | {"url": ""} == {
        "ok": True,
        "url": "",
        "from": None,
        "to": HEAD,
    }
    again = runner.invoke(app, ["db", "upgrade", "--url", url])
    assert again.exit_code == 0
    assert "up to date" in again.stdout
    current = runner.invoke(app, ["db", "current", "--url", url, "--json"])
    assert json.loads(current.stdout)["current"] == HEAD
    assert json.loads(current.stdout)["up_to_date"] is True


def test_db_upgrade_migrates_from_the_previous_revision(database: Database) -> None:
    url, schema = database
    upgrade(url, schema=schema, revision="0001")
    before = runner.invoke(app, ["db", "current", "--url", _cli_url(database)])
    assert "needs `elicense db upgrade`" in before.stdout
    result = runner.invoke(app, ["db", "upgrade", "--url", _cli_url(database)])
    assert result.exit_code == 0
    assert f"from 0001 to {HEAD}" in result.stdout


def test_db_commands_read_the_url_from_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ELICENSE_DATABASE_URL", f"sqlite:///{tmp_path / 'env.db'}")
    result = runner.invoke(app, ["db", "upgrade"])
    assert result.exit_code == 0
    assert (tmp_path / "env.db").exists()


def test_db_current_does_not_create_a_missing_sqlite_file(tmp_path: Path) -> None:
    result = runner.invoke(
        app, ["db", "current", "--url", f"sqlite:///{tmp_path / 'typo.db'}", "--json"]
    )
    assert result.exit_code == 0
    assert json.loads(result.stdout)["current"] is None
    assert not (tmp_path / "typo.db").exists()


def test_db_upgrade_with_a_bad_url_exits_1_with_the_code() -> None:
    result = runner.invoke(app, ["db", "upgrade", "--url", "mysql://x/y", "--json"])
    assert result.exit_code == 1
    assert json.loads(result.stdout)["error"]["code"] == "storage.bad_url"


def test_a_new_sqlite_database_gets_the_urls_page_size_and_an_old_one_keeps_its_own(
    tmp_path: Path,
) -> None:
    new, big = tmp_path / "new.db", tmp_path / "big.db"
    upgrade(f"sqlite:///{new}")
    upgrade(f"sqlite:///{big}?page_size=16384")
    old = tmp_path / "old.db"
    with sqlite3.connect(old) as conn:  # a database made with other pages keeps them
        conn.execute("PRAGMA page_size = 8192")
        conn.execute("CREATE TABLE before_elicense (x)")
    upgrade(f"sqlite:///{old}?page_size=16384")
    sizes = {}
    for path in (new, big, old):
        with sqlite3.connect(path) as conn:
            sizes[path.name] = conn.execute("PRAGMA page_size").fetchone()[0]
    assert sizes == {"new.db": DEFAULT_PAGE_SIZE, "big.db": 16384, "old.db": 8192}
    assert DEFAULT_PAGE_SIZE == 4096
    storage = open_storage(f"sqlite:///{old}", status_key=STATUS_KEY)
    try:
        assert storage.licenses.count() == 0  # the old database still serves
    finally:
        storage.close()
