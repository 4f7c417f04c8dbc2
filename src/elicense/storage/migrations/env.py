"""Alembic environment: always runs on a connection handed in by ``elicense.storage``.

The caller opens the connection (with elicense's SQLite pragmas or PostgreSQL
``search_path``) and the surrounding transaction, so that a migration and the version
stamp commit together or not at all, and ``:memory:`` databases can be migrated in place.
"""

from __future__ import annotations

from alembic import context

from elicense.storage.schema import metadata

config = context.config
connection = config.attributes.get("connection")
if connection is None or context.is_offline_mode():
    raise RuntimeError("elicense migrations run through elicense.storage.upgrade()")

context.configure(
    connection=connection,
    target_metadata=metadata,
    version_table_schema=config.attributes.get("schema"),
    render_as_batch=connection.dialect.name == "sqlite",
)
with context.begin_transaction():
    context.run_migrations()
