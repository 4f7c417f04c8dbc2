"""PostgreSQL is reachable in CI and keeps Chinese catalog text intact end to end.

The storage layer builds on this server; this test makes sure CI really runs the
PostgreSQL-marked tests (it fails, not skips, when the URL is set but the server is down).
"""

from __future__ import annotations

import pytest

from elicense import builtin_catalog

pytestmark = pytest.mark.postgres


def test_catalog_names_round_trip_through_postgresql_as_utf8(
    postgres_schema: tuple[str, str],
) -> None:
    import psycopg

    url, schema = postgres_schema
    rows = [(t.code, t.name_zh, t.name_en) for t in builtin_catalog()]
    with psycopg.connect(url) as conn:
        conn.execute(f'SET search_path TO "{schema}"')
        assert conn.execute("SHOW server_encoding").fetchone() == ("UTF8",)
        conn.execute(
            "CREATE TABLE license_type (code char(21) PRIMARY KEY, name_zh text, name_en text)"
        )
        with conn.cursor() as cur:
            cur.executemany("INSERT INTO license_type VALUES (%s, %s, %s)", rows)
        back = conn.execute(
            "SELECT code, name_zh, name_en FROM license_type ORDER BY code"
        ).fetchall()
    assert back == sorted(rows)
