"""`elicense audit verify` catches tampering done directly in the database, on SQLite and
PostgreSQL: one edited record, one deleted, one inserted, two swapped."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from sqlalchemy import Connection, text
from typer.testing import CliRunner

from elicense.cli import app

from service_support import PASS, Service, build_service

runner = CliRunner(env={"ELICENSE_KEY_PASSPHRASE": PASS.decode()})


def _scan_a_few(svc: Service, n: int = 8) -> None:
    for i in range(n):
        scenario = "hotel_checkin" if i % 3 else "power_account_opening"
        svc.client.post(
            "/v1/verify",
            json={"text": svc.code(), "scenario": scenario},
            headers=svc.rp("hotel-qidu"),
        )
    svc.platform.checkpoint(svc.clock())


def _edit(conn: Connection) -> None:
    conn.execute(text("UPDATE access_records SET field_names = '[\"name\"]' WHERE seq = 3"))


def _delete(conn: Connection) -> None:
    conn.execute(text("DELETE FROM access_records WHERE seq = 4"))


def _insert(conn: Connection) -> None:
    conn.execute(
        text(
            "INSERT INTO access_records (seq, id, at, rp_id, scenario_id, holder_pseudonym, "
            "license_ids, field_names, type_code, decision, code, consent_id, request_id, "
            "prev_hash, hash) "
            "SELECT 9001, 'forged', at, rp_id, scenario_id, holder_pseudonym, license_ids, "
            "field_names, type_code, decision, code, consent_id, request_id, prev_hash, hash "
            "FROM access_records WHERE seq = 2"
        )
    )


def _swap(conn: Connection) -> None:
    conn.execute(text("UPDATE access_records SET seq = -5 WHERE seq = 5"))
    conn.execute(text("UPDATE access_records SET seq = 5 WHERE seq = 6"))
    conn.execute(text("UPDATE access_records SET seq = 6 WHERE seq = -5"))


TAMPERING: dict[str, tuple[Callable[[Connection], None], set[tuple[int, str]]]] = {
    "edited": (_edit, {(3, "edited")}),
    "deleted": (_delete, {(4, "deleted")}),
    "inserted": (_insert, {(9001, "inserted")}),
    "swapped": (_swap, {(5, "reordered"), (6, "reordered")}),
}


def _verify(svc: Service, url: str | None = None) -> dict:
    args = ["audit", "verify", "--home", str(svc.home), "--json"]
    if url:
        args += ["--database-url", url]
    result = runner.invoke(app, args)
    return {"exit": result.exit_code, **json.loads(result.stdout)}


@pytest.mark.parametrize("kind", sorted(TAMPERING))
def test_audit_verify_names_the_tampered_record_on_sqlite(tmp_path: Path, kind: str) -> None:
    svc = build_service(tmp_path)
    _scan_a_few(svc)
    clean = _verify(svc)
    assert (clean["exit"], clean["ok"]) == (0, True)
    tamper, expected = TAMPERING[kind]
    with svc.platform.storage.db.write() as conn:  # type: ignore[attr-defined]
        tamper(conn)
    found = _verify(svc)
    assert found["exit"] == 1
    assert expected <= {(f["seq"], f["kind"]) for f in found["findings"]}
    svc.platform.storage.close()


@pytest.fixture
def pg_service(tmp_path: Path, postgres_schema: tuple[str, str]) -> Iterator[tuple[Service, str]]:
    url, schema = postgres_schema
    db_url = f"{url}?schema={schema}"
    svc = build_service(tmp_path, database_url=db_url)
    yield svc, db_url
    svc.platform.storage.close()


@pytest.mark.postgres
@pytest.mark.parametrize("kind", sorted(TAMPERING))
def test_audit_verify_names_the_tampered_record_on_postgresql(
    pg_service: tuple[Service, str], kind: str
) -> None:
    svc, db_url = pg_service
    _scan_a_few(svc)
    assert _verify(svc, db_url)["ok"] is True
    tamper, expected = TAMPERING[kind]
    with svc.platform.storage.db.write() as conn:  # type: ignore[attr-defined]
        tamper(conn)
    found = _verify(svc, db_url)
    assert found["exit"] == 1
    assert expected <= {(f["seq"], f["kind"]) for f in found["findings"]}
