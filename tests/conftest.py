"""Shared fixtures.

PostgreSQL tests are marked ``postgres``. They skip when ``ELICENSE_TEST_POSTGRES_URL`` is
unset (a developer laptop) and fail when it is set but the server does not answer (CI must
never turn a broken database into a green run). Each test gets its own schema.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator

import pytest

from elicense.native import stale_modules


def pytest_sessionstart(session: pytest.Session) -> None:
    """A compiled module older than its source would test yesterday's code."""
    stale = stale_modules()
    if stale:
        pytest.exit(f"compiled modules older than their sources: {stale}; run `make native`", 2)


@pytest.fixture(autouse=True)
def _elicense_logging_as_it_was() -> Iterator[None]:
    """A test that runs the service's lifespan configures the ``elicense`` loggers (a
    handler on that test's captured stderr, no propagation): put them back after it, so
    no later test logs into a closed capture or misses records."""
    import logging

    root = logging.getLogger("elicense")
    saved = (list(root.handlers), root.propagate, root.level)
    yield
    root.handlers, root.propagate = saved[0], saved[1]
    root.setLevel(saved[2])


@pytest.fixture(scope="session")
def postgres_url() -> str:
    url = os.environ.get("ELICENSE_TEST_POSTGRES_URL")
    if not url:
        pytest.skip("ELICENSE_TEST_POSTGRES_URL is not set")
    import psycopg

    try:
        with psycopg.connect(url, connect_timeout=5) as conn:
            conn.execute("SELECT 1")
    except psycopg.Error as exc:
        pytest.fail(f"ELICENSE_TEST_POSTGRES_URL is set but PostgreSQL does not answer: {exc}")
    return url


@pytest.fixture
def postgres_schema(postgres_url: str) -> Iterator[tuple[str, str]]:
    """A fresh schema for one test, dropped afterwards: parallel runs never collide."""
    import psycopg

    schema = f"t_{uuid.uuid4().hex[:16]}"
    with psycopg.connect(postgres_url, autocommit=True) as conn:
        conn.execute(f'CREATE SCHEMA "{schema}"')
    try:
        yield postgres_url, schema
    finally:
        with psycopg.connect(postgres_url, autocommit=True) as conn:
            conn.execute(f'DROP SCHEMA "{schema}" CASCADE')
