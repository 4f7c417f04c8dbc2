"""Storage adapters for ``elicense.ports.Storage``: SQLite (embedded) and PostgreSQL.

One database URL chooses the adapter; both run the same SQLAlchemy Core code and the same
Alembic migrations, and one contract test suite pins their behaviour. Typical use::

    from elicense.storage import open_storage, upgrade

    upgrade("sqlite:///elicense.db")                 # or: elicense db upgrade
    store = open_storage("sqlite:///elicense.db", status_key=secret)

``open_storage`` refuses (``storage.schema_outdated``) a database whose schema is not the
one this version expects, so a service never starts on a half-migrated database. An
in-memory SQLite database (``sqlite:///:memory:``) is created on the spot by running the
same migrations, for tests and demos.
"""

from __future__ import annotations

from contextlib import suppress
from typing import TYPE_CHECKING

from elicense.errors import ElicenseError
from elicense.ports import (
    AccessLog,
    Consents,
    Credentials,
    Holders,
    Issuers,
    Keys,
    Licenses,
    RelyingParties,
    StatusLists,
)
from elicense.replay import ReplayStore
from elicense.statuslist import DEFAULT_BITS, DEFAULT_SIZE
from elicense.storage.access import SqlAccessLog
from elicense.storage.consents import SqlConsents
from elicense.storage.db import Database, make_engine, parse_url
from elicense.storage.licensing import ListSettings, SqlLicenses, SqlStatusLists
from elicense.storage.migrate import (
    check,
    current_revision,
    head_revision,
    upgrade,
    upgrade_connection,
)
from elicense.storage.registry import (
    SqlCredentials,
    SqlHolders,
    SqlIssuers,
    SqlKeys,
    SqlRelyingParties,
)
from elicense.storage.replay import SqlReplayStore

__all__ = [
    "DEFAULT_STATUS_URI",
    "SqlStorage",
    "current_revision",
    "head_revision",
    "open_storage",
    "upgrade",
]

DEFAULT_STATUS_URI = "https://status.invalid/{owner}/{list_id}"


class SqlStorage:
    """Every port on one database (implements ``elicense.ports.Storage``).

    The attributes are typed as the ports, not as the adapter classes: the ``Storage``
    protocol declares them as plain (settable) attributes, which mypy checks invariantly.
    """

    def __init__(self, db: Database, settings: ListSettings) -> None:
        self.db = db
        self.holders: Holders = SqlHolders(db)
        self.issuers: Issuers = SqlIssuers(db)
        self.keys: Keys = SqlKeys(db)
        self._licenses = SqlLicenses(db, settings)
        self.licenses: Licenses = self._licenses
        self.status_lists: StatusLists = SqlStatusLists(db)
        self.relying_parties: RelyingParties = SqlRelyingParties(db)
        self.credentials: Credentials = SqlCredentials(db)
        self.consents: Consents = SqlConsents(db)
        self._replay = SqlReplayStore(db)
        self.replay: ReplayStore = self._replay
        self.access_log: AccessLog = SqlAccessLog(db, self._replay)

    def finish_killed_import(self) -> None:
        """Put back what a killed SQLite import left (``SqlLicenses.finish_killed_import``)."""
        self._licenses.finish_killed_import()

    def purge_replay(self, now: int) -> int:
        """Delete replay entries that can no longer replay (``consume`` also does this
        now and then); for a maintenance job. Returns how many were deleted."""
        return self._replay.purge(now)

    @property
    def kind(self) -> str:
        """``sqlite`` or ``postgresql``."""
        return self.db.kind

    def ping(self) -> None:
        self.db.ping()

    def checkpoint_in_background(self) -> None:
        self.db.checkpoint_in_background()

    def close(self) -> None:
        self.db.close()

    def __enter__(self) -> SqlStorage:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()


def open_storage(
    url: str,
    *,
    status_key: bytes,
    status_uri: str = DEFAULT_STATUS_URI,
    list_size: int = DEFAULT_SIZE,
    bits: int = DEFAULT_BITS,
    check_schema: bool = True,
    schema: str | None = None,
    pool_size: int = 5,
    max_overflow: int = 10,
    finish_imports: bool = True,
) -> SqlStorage:
    """Open the database at ``url``.

    ``status_key`` keys the permutation of status-list indexes (keep it secret and
    stable: it decides which index each future license gets). ``status_uri`` is formatted
    with ``owner`` and ``list_id`` for every new list. ``schema`` (PostgreSQL only, also
    ``?schema=`` in the URL) selects a schema through ``search_path``. ``pool_size`` and
    ``max_overflow`` bound the connections this process holds (see docs/storage.md for
    sizing several workers on one PostgreSQL). With ``check_schema`` and
    ``finish_imports`` (the defaults) a SQLite database also gets back what a killed
    import left (its staged holders, the holder index:
    ``SqlLicenses.finish_killed_import``), as far as it can: if that fails, opening
    goes on and the leftovers stay (slow, never wrong) for the next import, which
    meets the failure itself. An import opens with ``finish_imports=False``: it puts
    them back itself, a small one at its start and a large one at its end, without
    rebuilding the index it would drop again. Without ``check_schema`` opening
    touches nothing.
    """
    if not status_key:
        raise ValueError("status_key must not be empty")
    settings = ListSettings(status_key, status_uri, list_size, bits)
    target = parse_url(url, schema)
    db = Database(target, make_engine(target, pool_size=pool_size, max_overflow=max_overflow))
    try:
        if target.memory:
            with db.write() as conn:
                upgrade_connection(conn, None)
        elif check_schema:
            with db.read() as conn:
                check(conn, target.schema)
        storage = SqlStorage(db, settings)
        if check_schema and finish_imports:
            with suppress(ElicenseError):  # best effort: see above
                storage.finish_killed_import()
    except BaseException:
        db.close()
        raise
    return storage


if TYPE_CHECKING:
    from elicense.ports import Storage

    def _implements_the_port(storage: SqlStorage) -> Storage:
        return storage  # mypy fails here if SqlStorage stops matching the protocol
