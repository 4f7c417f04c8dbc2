"""The storage contract suite runs every test on SQLite and on PostgreSQL.

``database`` yields ``(url, schema)``: a fresh SQLite file per test, or a fresh PostgreSQL
schema per test (from ``postgres_schema``: skipped when ELICENSE_TEST_POSTGRES_URL is
unset, failing when it is set but unreachable). ``storage`` is that database migrated to
head and opened; ``pg_storage`` the same on PostgreSQL only.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from elicense.storage import SqlStorage, upgrade

from .storage_support import Database, open_for

DATABASES = ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]


@pytest.fixture(params=DATABASES)
def database(request: pytest.FixtureRequest, tmp_path: Path) -> Database:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'elicense.db'}", None
    url, schema = request.getfixturevalue("postgres_schema")
    return url, schema


@pytest.fixture
def open_store(database: Database) -> Iterator[Callable[..., SqlStorage]]:
    """Opens (and closes at teardown) storages on the migrated test database."""
    url, schema = database
    upgrade(url, schema=schema)
    opened: list[SqlStorage] = []

    def make(**kwargs: Any) -> SqlStorage:
        store = open_for(url, schema, **kwargs)
        opened.append(store)
        return store

    yield make
    for store in opened:
        store.close()


@pytest.fixture
def storage(open_store: Callable[..., SqlStorage]) -> SqlStorage:
    return open_store()


@pytest.fixture
def pg_storage(postgres_schema: tuple[str, str]) -> Iterator[SqlStorage]:
    """PostgreSQL only: a fresh schema migrated to head and opened (a test that also
    needs the URL asks for ``postgres_schema`` too: the same schema)."""
    url, schema = postgres_schema
    upgrade(url, schema=schema)
    store = open_for(url, schema)
    try:
        yield store
    finally:
        store.close()
