"""Schema migrations (Alembic), driven programmatically: no ``alembic.ini`` to ship.

``upgrade`` applies every pending revision in one transaction on both databases (SQLite
and PostgreSQL both have transactional DDL), so a failed upgrade leaves the previous
revision in place rather than half a schema. ``check`` is what ``open_storage`` runs: a
service must refuse to start on a schema older (or newer) than the code it runs, because
the failure would otherwise surface later as a confusing SQL error in a request.
"""

from __future__ import annotations

import functools
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, text

from elicense.errors import ElicenseError
from elicense.storage.db import Database, make_engine, parse_url

MIGRATIONS = Path(__file__).parent / "migrations"


def alembic_config(connection: Connection | None = None, schema: str | None = None) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.set_main_option("path_separator", "os")
    cfg.attributes["connection"] = connection
    cfg.attributes["schema"] = schema
    return cfg


@functools.cache
def head_revision() -> str:
    """The revision this version of elicense expects."""
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    if head is None:  # pragma: no cover - the package always ships revisions
        raise RuntimeError("no migrations shipped")
    return head


def upgrade_connection(conn: Connection, schema: str | None, revision: str = "head") -> None:
    """Run migrations on an open connection inside its current transaction."""
    command.upgrade(alembic_config(conn, schema), revision)


def revision_of(conn: Connection, schema: str | None) -> str | None:
    opts = {"version_table_schema": schema} if schema else {}
    ctx = MigrationContext.configure(conn, opts=opts)
    return ctx.get_current_revision()


def upgrade(url: str, *, schema: str | None = None, revision: str = "head") -> str | None:
    """Create or migrate the database at ``url`` to ``revision``; returns the revision now
    stamped. On PostgreSQL the schema is created when missing."""
    target = parse_url(url, schema)
    db = Database(target, make_engine(target, pool_size=1, max_overflow=0))
    try:
        with db.write() as conn:
            if target.schema is not None:
                conn.execute(text(f'CREATE SCHEMA IF NOT EXISTS "{target.schema}"'))
            upgrade_connection(conn, target.schema, revision)
            return revision_of(conn, target.schema)
    finally:
        db.close()


def current_revision(url: str, *, schema: str | None = None) -> str | None:
    """The revision stamped in the database, ``None`` when it was never migrated (or,
    for SQLite, when the file does not exist: asking must not create it)."""
    target = parse_url(url, schema)
    missing_file = not target.memory and not Path(target.url.database or "").exists()
    if target.kind == "sqlite" and missing_file:
        return None
    db = Database(target, make_engine(target, pool_size=1, max_overflow=0))
    try:
        with db.read() as conn:
            return revision_of(conn, target.schema)
    finally:
        db.close()


def check(conn: Connection, schema: str | None) -> None:
    """Refuse a schema that is not exactly the one this code was written for."""
    current = revision_of(conn, schema)
    head = head_revision()
    if current == head:
        return
    if current is None:
        message = "the database has no elicense schema yet: run `elicense db upgrade`"
    elif current in _known_revisions():
        message = (
            f"the database schema is at revision {current}, this version needs {head}: "
            "run `elicense db upgrade`"
        )
    else:
        message = (
            f"the database schema is at revision {current}, which this version of elicense "
            "does not know (a newer release migrated it): upgrade elicense"
        )
    raise ElicenseError(
        "storage.schema_outdated", message, details={"current": current, "expected": head}
    )


@functools.cache
def _known_revisions() -> frozenset[str]:
    scripts = ScriptDirectory.from_config(alembic_config())
    return frozenset(s.revision for s in scripts.walk_revisions())
