"""Database URLs, engines and transactions: the only place that knows about dialects.

One URL chooses the database:

* ``sqlite:///path/to/file.db`` (relative to the working directory; ``sqlite:////abs``
  for an absolute path) or ``sqlite:///:memory:``;
* ``postgresql://user@host:5432/db`` (also ``postgres://`` and ``postgresql+psycopg://``),
  driven by psycopg 3 through a pooled engine. An optional ``?schema=NAME`` query
  parameter (or the ``schema`` argument) puts every table in that schema by setting
  ``search_path`` on each connection; the test suite uses it to give every test its own
  schema.

SQLite is opened in WAL mode (readers never block the writer), with foreign keys on and a
10 s busy time-out. Write transactions start with ``BEGIN IMMEDIATE`` so that concurrent
writers (threads or processes) queue on the database lock instead of failing half-way
with "database is locked" when a read transaction tries to upgrade itself.

Every database failure leaves this module as an ``ElicenseError``: ``storage.conflict``
for a unique-key violation, ``storage.unavailable`` (or the caller's code, e.g.
``replay.unavailable``) for everything else. Messages never carry row values: driver
messages can quote the offending key, and that key may be personal data.
"""

from __future__ import annotations

import fcntl
import os
import re
import select
import sqlite3
import threading
import time
import weakref
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager, contextmanager, nullcontext, suppress
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any, Literal, Protocol, cast

from sqlalchemy import Connection, Engine, Table, create_engine, event, exc
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError, DBAPIError, IntegrityError, SQLAlchemyError
from sqlalchemy.pool import StaticPool

from elicense.errors import ElicenseError

#: Execution option marking a connection whose next transaction writes.
WRITE = "elicense_write"
BUSY_TIMEOUT_S = 10.0
CHECKPOINT_EVERY_S = 0.05
"""How often a server's SQLite checkpointer thread copies the WAL into the database."""
FALLBACK_CHECKPOINT_PAGES = 8000
"""With the checkpointer running, a commit still checkpoints itself once the WAL holds
this many pages (32 MiB of 4 KiB pages): only if the thread falls behind or stops."""
PING_AFTER_IDLE_S = 1.0
"""A pooled PostgreSQL connection idle for longer than this is pinged before use."""
_SCHEMA_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,62}$")

try:  # the postgres extra: without it only SQLite is available
    import psycopg
except ImportError:  # pragma: no cover - the test environment installs it
    _DRIVER_ERRORS: tuple[type[Exception], ...] = (sqlite3.Error,)
    _DRIVER_CONFLICTS: tuple[type[Exception], ...] = (sqlite3.IntegrityError,)
else:
    _DRIVER_ERRORS = (sqlite3.Error, psycopg.Error)
    _DRIVER_CONFLICTS = (sqlite3.IntegrityError, psycopg.IntegrityError)


KEEPALIVES = {
    "keepalives": 1,
    "keepalives_idle": 30,
    "keepalives_interval": 10,
    "keepalives_count": 3,
    "tcp_user_timeout": 60_000,
}
"""libpq's TCP settings for PostgreSQL connections (``make_engine``): probes after 30 s
of silence, given up after 3 unanswered ones; sent data unacknowledged for 60 s ends the
connection. Ignored on Unix-domain sockets, where a dead server closes them."""
Slot = Literal["own", "call"]
"""A thread's own PostgreSQL connections: ``own`` for its statements, ``call`` for the
calls it sends ahead (``Database.send_calls``)."""
_PIPELINES = psycopg.Pipeline.is_supported()
"""libpq runs pipelines (``Database.send_calls``): version 14 or later."""
_FAILURES: tuple[type[BaseException], ...] = (SQLAlchemyError, OSError, *_DRIVER_ERRORS)
"""What ``read``/``write``/``driver`` turn into ``ElicenseError``."""


class DriverCursor(Protocol):
    """What the hot statements use of a DBAPI cursor (sqlite3's and psycopg's)."""

    @property
    def rowcount(self) -> int: ...

    def fetchone(self) -> Any: ...

    def fetchall(self) -> list[Any]: ...


class DriverConnection(Protocol):
    """A DBAPI connection's ``execute`` (sqlite3 and psycopg both have one): SQL in the
    driver's own parameter style (see ``Database.sql``), tuples back."""

    def execute(self, sql: str, params: Any, /) -> DriverCursor: ...


DEFAULT_PAGE_SIZE = 4096
"""Page size of new SQLite databases unless the URL says otherwise.

SQLite's own default, and the right one for a platform that serves scans: a scan's write
touches about nine pages (the code's single use, the access record and its indexes, the
chain head) and the WAL takes whole pages, so with 16 KiB pages every scan wrote ~140 KiB
to the WAL and the automatic checkpoints that copy it back stalled a commit for 14 ms
every few hundred scans (bench/http.py, SQLite: 50 % of the bare endpoint and a paced p99
of 63 ms with 16 KiB pages; 64 % and 21 ms with 4 KiB). A database created for a large
bulk import first may take ``?page_size=16384``: five license rows per page, about a
third less CPU per imported row (docs/import.md)."""
PAGE_SIZES = (4096, 16384)
"""The page sizes a SQLite URL may ask for (``?page_size=``)."""


@dataclass(frozen=True, slots=True)
class Target:
    """A parsed database URL: which kind, the SQLAlchemy URL, and the schema if any."""

    kind: str
    """``sqlite`` or ``postgresql``."""
    url: URL
    memory: bool
    schema: str | None
    synchronous: str = "NORMAL"
    """SQLite only: ``NORMAL`` (default) or ``FULL`` (``?synchronous=full`` in the URL)."""
    page_size: int = DEFAULT_PAGE_SIZE
    """SQLite only: the page size a new database is created with (``?page_size=16384``
    in the URL); an existing database keeps its own. See ``PAGE_SIZES``."""


def parse_url(url: str, schema: str | None = None) -> Target:
    """Accept only the URL forms elicense supports; anything else is ``storage.bad_url``."""
    try:
        parsed = make_url(url)
    except (ArgumentError, ValueError):
        raise ElicenseError("storage.bad_url", details={"reason": "not a database URL"}) from None
    backend, _, driver = parsed.drivername.partition("+")
    if backend == "sqlite" and driver in ("", "pysqlite"):
        query = dict(parsed.query)
        sync = str(query.pop("synchronous", "normal")).upper()
        page = str(query.pop("page_size", DEFAULT_PAGE_SIZE))
        if sync not in ("NORMAL", "FULL") or query or parsed.host or parsed.username:
            raise ElicenseError("storage.bad_url", details={"reason": "sqlite:///PATH only"})
        if page not in {str(size) for size in PAGE_SIZES}:
            sizes = " or ".join(map(str, PAGE_SIZES))
            raise ElicenseError("storage.bad_url", details={"reason": f"page_size: {sizes}"})
        if schema is not None:
            raise ElicenseError("storage.bad_url", details={"reason": "schema is PostgreSQL only"})
        database = parsed.database or ":memory:"
        memory = database == ":memory:"
        return Target(
            "sqlite",
            parsed.set(drivername="sqlite+pysqlite", query={}),
            memory,
            None,
            sync,
            int(page),
        )
    if backend in ("postgresql", "postgres") and driver in ("", "psycopg"):
        query = dict(parsed.query)
        from_url = query.pop("schema", None)
        if isinstance(from_url, tuple):
            raise ElicenseError("storage.bad_url", details={"reason": "schema given twice"})
        if schema is not None and from_url is not None and schema != from_url:
            raise ElicenseError("storage.bad_url", details={"reason": "two different schemas"})
        chosen = schema if schema is not None else from_url
        if chosen is not None and not _SCHEMA_NAME.match(chosen):
            raise ElicenseError("storage.bad_url", details={"reason": "bad schema name"})
        pg = parsed.set(drivername="postgresql+psycopg", query=query)
        return Target("postgresql", pg, False, chosen)
    raise ElicenseError(
        "storage.bad_url", details={"reason": f"unsupported scheme {parsed.drivername!r}"}
    )


def make_engine(target: Target, *, pool_size: int = 5, max_overflow: int = 10) -> Engine:
    """An engine configured for elicense's transaction rules (see the module docstring)."""
    if target.kind == "postgresql":
        # UTF-8 text and hex bytea whatever the database's or the role's defaults: what
        # ``send_read``/``call`` read and write in libpq's text format assume.
        # Options the URL itself gives (``?options=…``) come first and are kept.
        given = target.url.query.get("options")
        options = " ".join(
            [*([given] if isinstance(given, str) else given or ()), "-cbytea_output=hex"]
        )
        if target.schema is not None:
            options += f" -csearch_path={target.schema}"
        connect_args: dict[str, Any] = {
            "connect_timeout": 10,
            "client_encoding": "UTF8",
            "options": options,
            # Unless the URL says otherwise: a server gone silent (a partition, a host
            # that died without closing its sockets) fails the statement waiting on it
            # within about a minute, instead of when the kernel gives up (a quarter of an
            # hour and more). A scan then fails closed, and the connection is replaced.
            **{k: v for k, v in KEEPALIVES.items() if k not in target.url.query},
        }
        engine = create_engine(
            target.url,
            pool_size=pool_size,
            max_overflow=max_overflow,
            connect_args=connect_args,
        )
        _ping_idle_connections(engine)
        return engine
    if target.memory:
        # One in-memory database must outlive checkouts, so one connection is shared and
        # ``Database`` serialises its use with a lock.
        engine = create_engine(
            target.url,
            poolclass=StaticPool,
            connect_args={"check_same_thread": False, "timeout": BUSY_TIMEOUT_S},
        )
    else:
        engine = create_engine(
            target.url,
            pool_size=pool_size,
            max_overflow=max_overflow,
            connect_args={"timeout": BUSY_TIMEOUT_S},
        )
    _sqlite_events(
        engine, wal=not target.memory, synchronous=target.synchronous, page_size=target.page_size
    )
    return engine


def _ping_idle_connections(engine: Engine) -> None:
    """Pessimistic disconnect handling for connections that sat idle in the pool.

    SQLAlchemy's ``pool_pre_ping`` pings on every checkout: a network round trip and a
    statement on the server for every transaction, a fifth of a scan's database work. A
    connection that went back to the pool less than ``PING_AFTER_IDLE_S`` ago was
    working then, so only older ones are pinged; a dead one is replaced before use (the
    pool retries on ``DisconnectionError``). A connection that dies within that second
    (the server stays up but kills it) fails its next transaction with
    ``storage.unavailable``, or the caller's code (fail closed), and is discarded."""

    @event.listens_for(engine, "checkin")
    def _on_checkin(_dbapi: Any, record: Any) -> None:
        record.info["elicense_idle_since"] = time.monotonic()

    @event.listens_for(engine, "checkout")
    def _on_checkout(dbapi: Any, record: Any, _proxy: Any) -> None:
        since = record.info.get("elicense_idle_since")
        if since is None or time.monotonic() - since < PING_AFTER_IDLE_S:
            return  # a new connection, or one that just worked
        try:
            engine.dialect.do_ping(dbapi)
        except Exception:
            raise exc.DisconnectionError() from None


def _sqlite_events(
    engine: Engine, *, wal: bool, synchronous: str = "NORMAL", page_size: int = DEFAULT_PAGE_SIZE
) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        # Take BEGIN away from the sqlite3 module so that ``_on_begin`` decides it.
        dbapi_conn.isolation_level = None
        cur = dbapi_conn.cursor()
        try:
            cur.execute(f"PRAGMA busy_timeout = {int(BUSY_TIMEOUT_S * 1000)}")
            # A new database gets the URL's page size (an existing one keeps its own:
            # the size is fixed once the first table exists, and in WAL mode); see
            # DEFAULT_PAGE_SIZE for the trade-off between scans and bulk imports.
            cur.execute(f"PRAGMA page_size = {int(page_size)}")
            if wal:
                cur.execute("PRAGMA journal_mode = WAL")
            # WAL + NORMAL: every commit (an access record, a consumed code) is durable
            # against a crash of the process; only a power loss can take back the last
            # commits, and an fsync per commit (3 ms on this disk) would cap an embedded
            # platform at ~150 scans/s. ``?synchronous=full`` buys power-loss durability.
            cur.execute(f"PRAGMA synchronous = {synchronous}")
            cur.execute("PRAGMA foreign_keys = ON")
        finally:
            cur.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        mode = "IMMEDIATE" if conn.get_execution_options().get(WRITE) else "DEFERRED"
        conn.exec_driver_sql(f"BEGIN {mode}")


class _FileGate:
    """Serialises SQLite writers of every thread and process on one database.

    SQLite's own busy handler waits by sleeping in growing steps (1, 2, 5 … 100 ms), so
    under contention a writer sleeps long after the lock is free. A thread lock plus an
    ``flock`` on a lock file beside the database makes waiters block in the kernel and
    wake as soon as the previous writer commits.
    """

    def __init__(self, path: str) -> None:
        self._path = path
        self._thread_lock = threading.Lock()
        self._fd: int | None = None

    def __enter__(self) -> None:
        self._thread_lock.acquire()
        try:
            if self._fd is None:
                self._fd = os.open(self._path, os.O_RDWR | os.O_CREAT, 0o600)
            fcntl.flock(self._fd, fcntl.LOCK_EX)
        except BaseException:
            self._thread_lock.release()
            raise

    def __exit__(self, *_exc: object) -> None:
        try:
            if self._fd is not None:
                fcntl.flock(self._fd, fcntl.LOCK_UN)
        finally:
            self._thread_lock.release()


class Database:
    """An engine plus the transaction discipline every adapter uses."""

    def __init__(self, target: Target, engine: Engine) -> None:
        self.target = target
        self.engine = engine
        self.kind = target.kind
        self._lock: AbstractContextManager[Any] = (
            threading.Lock() if target.memory else nullcontext()
        )
        self._write_gate: AbstractContextManager[Any] = (
            _FileGate(str(target.url.database) + ".write-lock")
            if target.kind == "sqlite" and not target.memory
            else nullcontext()
        )
        self._active: ContextVar[Connection | Any | None] = ContextVar(
            f"elicense_storage_{id(self)}", default=None
        )
        self._checkpointer: _Checkpointer | None = None
        self._pinned = threading.local()
        """PostgreSQL: this thread's ``_Own`` autocommit connection (see ``driver``)."""
        self._all_pinned: weakref.WeakSet[_Own] = weakref.WeakSet()
        self._pinned_lock = threading.Lock()

    def insert(self, table: Table) -> sqlite.Insert | postgresql.Insert:
        """The dialect's INSERT, which knows ``ON CONFLICT``."""
        if self.kind == "postgresql":
            return postgresql.insert(table)
        return sqlite.insert(table)

    @contextmanager
    def read(self, unavailable: str = "storage.unavailable") -> Iterator[Connection]:
        """For lookups. On SQLite a deferred transaction (one WAL snapshot); on PostgreSQL
        autocommit, each statement its own snapshot — no adapter read needs two
        statements to agree, and it saves the BEGIN and COMMIT round trips on every
        lookup of the verify path."""
        with self._transaction(write=False, autocommit=True, unavailable=unavailable) as conn:
            yield conn

    @contextmanager
    def write(
        self,
        unavailable: str = "storage.unavailable",
        *,
        single: bool = False,
        foreign_keys: bool = True,
    ) -> Iterator[Connection]:
        """A write transaction: committed when the block ends, rolled back on any error.

        ``single=True`` promises the block runs exactly one statement, which PostgreSQL
        then runs as its own (atomic) transaction in autocommit mode. SQLite keeps
        ``BEGIN IMMEDIATE`` even then: an autocommit statement there starts as a reader
        and can fail to upgrade to a writer under contention.

        ``foreign_keys=False`` (SQLite) leaves this transaction's references unchecked,
        for a writer that guarantees them itself (a large import whose holders are
        staged, ``SqlLicenses.bulk_load``); the connection checks them again afterwards,
        or is discarded."""
        with self._transaction(
            write=True, autocommit=single, unavailable=unavailable, foreign_keys=foreign_keys
        ) as conn:
            yield conn

    @contextmanager
    def _transaction(
        self, *, write: bool, autocommit: bool, unavailable: str, foreign_keys: bool = True
    ) -> Iterator[Connection]:
        active = self._active.get()
        if active is not None:
            # Called from inside a transaction on this thread (a ``build`` callback
            # reading its new status list): join it, so the caller sees its own
            # uncommitted rows and never waits on the lock its own transaction holds.
            if not isinstance(active, Connection):
                raise RuntimeError("an SQLAlchemy statement inside a driver-level transaction")
            yield active
            return
        try:
            gate = self._write_gate if write else nullcontext()
            with gate, self._lock, self.engine.connect() as conn:
                if write:
                    conn.execution_options(**{WRITE: True})
                if autocommit and self.kind == "postgresql":
                    conn.execution_options(isolation_level="AUTOCOMMIT")
                unchecked = not foreign_keys and self.kind == "sqlite"
                with _foreign_keys_off(conn) if unchecked else nullcontext(), conn.begin():
                    token = self._active.set(conn)
                    try:
                        yield conn
                    finally:
                        self._active.reset(token)
        except _FAILURES as exc:
            raise _failure(exc, unavailable) from None

    def sql(self, text: str) -> str:
        """A hot statement in the driver's parameter style: written with ``:name``
        placeholders (sqlite3's), turned into ``%(name)s`` for psycopg. Each text is
        converted once (callers may ask on every statement)."""
        if self.kind != "postgresql":
            return text
        found = _PYFORMAT_CACHE.get(text)
        if found is None:
            found = _PYFORMAT_CACHE[text] = _NAMED.sub(r"%(\1)s", text.replace("%", "%%"))
        return found

    @contextmanager
    def driver(
        self, *, write: bool = False, single: bool = False, unavailable: str = "storage.unavailable"
    ) -> Iterator[DriverConnection]:
        """The DBAPI connection itself, for the few statements every scan runs.

        SQLAlchemy's execution layer (events, compiled-statement cache, result objects)
        and its transaction bookkeeping cost several times what these small statements
        cost on SQLite: a scan's reads and its settling write use the driver directly,
        with the same rules as ``read``/``write``. ``write=False`` is for one read
        statement: no transaction on SQLite (the statement is its own), autocommit on
        PostgreSQL (no BEGIN/COMMIT round trips). ``write=True`` is a transaction:
        ``BEGIN IMMEDIATE`` behind the write gate on SQLite, a transaction on
        PostgreSQL, which ``single=True`` (one statement, e.g. a function call) runs in
        autocommit as its own. Inside a ``read``/``write``/``driver`` block on this
        thread, it joins that transaction. Failures map to the same ``ElicenseError``
        codes; a connection that broke is discarded.

        On PostgreSQL the autocommit statements (every statement of a scan) run on a
        connection of the calling thread's own, kept in autocommit, rather than one
        checked out of the pool and switched to autocommit and back each time (the
        checkout, the two switches and the pool's reset on return were 6 % of a scan's
        client instructions: 3.29 M against 3.10 M, callgrind). It is pinged when idle
        for ``PING_AFTER_IDLE_S``, like a pooled one, and replaced when it broke."""
        active = self._active.get()
        if active is not None:
            joined = (
                active.connection.driver_connection if isinstance(active, Connection) else active
            )
            try:
                yield cast(DriverConnection, joined)
            except _DRIVER_ERRORS as exc:
                raise _failure(exc, unavailable) from None
            return
        sqlite = self.kind == "sqlite"
        if not sqlite and (single or not write):
            with self._pinned_driver(unavailable) as own:
                yield own
            return
        try:
            gate = self._write_gate if write and sqlite else nullcontext()
            with gate, self._lock:
                pooled = self.engine.raw_connection()
                raw: Any = pooled.driver_connection
                try:
                    autocommit = not sqlite and (single or not write)
                    if sqlite and write:
                        raw.execute("BEGIN IMMEDIATE")
                    elif autocommit:
                        raw.autocommit = True
                    token = self._active.set(raw)
                    try:
                        yield cast(DriverConnection, raw)
                    finally:
                        self._active.reset(token)
                    if sqlite and write:
                        raw.execute("COMMIT")
                    elif autocommit:
                        raw.autocommit = False
                    elif not sqlite:
                        raw.commit()
                except BaseException:
                    _discard_or_roll_back(pooled, raw, sqlite)
                    raise
                finally:
                    pooled.close()
        except _FAILURES as exc:
            raise _failure(exc, unavailable) from None

    @contextmanager
    def _pinned_driver(self, unavailable: str) -> Iterator[DriverConnection]:
        try:
            own = self._own_connection()
            _drain(own)
            raw = own.raw
            token = self._active.set(raw)
            try:
                yield cast(DriverConnection, raw)
            except BaseException:
                if raw.broken or raw.closed:
                    self._unpin(own)
                raise
            finally:
                self._active.reset(token)
                own.idle_since = time.monotonic()
        except _FAILURES as exc:
            raise _failure(exc, unavailable) from None

    def send_read(
        self, text: str, params: Mapping[str, str], kinds: Sequence[Callable[[bytes], Any]]
    ) -> SentRead:
        """Start one read now, collect its rows later (``SentRead.rows``): on
        PostgreSQL the statement goes out on this thread's own connection at once, and
        the caller does its own work while the server runs it instead of waiting for it.
        It is prepared on the connection the first time (as psycopg prepares a statement
        run often), so the server parses and plans it once.
        ``text`` is written with ``:name`` placeholders; ``kinds`` converts each column
        from PostgreSQL's text format (``int``, ``as_text`` or ``as_bytes``; NULL stays
        None). Elsewhere (SQLite, or inside a transaction on this thread, which the read
        must join) the statement runs when the rows are collected.

        Until its rows are collected or it is discarded, the read holds the thread's
        connection: the next statement on it drains the read first (``_pinned_driver``),
        so a caller that forgets costs a wait, never a wrong answer."""
        if self.kind != "postgresql" or self._active.get() is not None:
            return _LaterRead(self, self.sql(text), params)
        return self._send(text, (params,), kinds, "storage.unavailable")

    def call(
        self,
        text: str,
        params: Mapping[str, str | int | None],
        kinds: Sequence[Callable[[bytes], Any]],
        *,
        unavailable: str = "storage.unavailable",
    ) -> list[tuple[Any, ...]]:
        """Run one statement now as its own transaction (a function call that writes,
        say) and return its rows: the hot write of a scan, ``AccessLog.settle``.

        On PostgreSQL it goes the way of ``send_read`` (prepared once on this thread's
        own autocommit connection, libpq's interface directly), only collected at once:
        psycopg's cursor layer, its adaptation and its prepared-statement bookkeeping
        cost a scan's settle about twice the client CPU of the statement's own round
        trip (156-176 against 84-88 µs, the same call measured side by side). The rows
        are returned only once the server has said it is ready for the next query,
        which it says after the statement's transaction has committed; any error up to
        then, the commit's included, is ``unavailable`` (``storage.conflict`` for a
        constraint, as everywhere) and no row is returned.
        Elsewhere (SQLite, or inside a transaction on this thread, which it joins) it
        runs through ``driver(write=True, single=True)``, and the driver's own values
        are returned as they are."""
        if self.kind != "postgresql" or self._active.get() is not None:
            with self.driver(write=True, single=True, unavailable=unavailable) as conn:
                return [tuple(r) for r in conn.execute(self.sql(text), params).fetchall()]
        return self._send(text, (params,), kinds, unavailable).rows()

    def send_calls(
        self,
        text: str,
        params: Sequence[Mapping[str, str | int | None]],
        kinds: Sequence[Callable[[bytes], Any]],
        *,
        unavailable: str = "storage.unavailable",
    ) -> SentCalls | None:
        """``call`` once for each of ``params``, all in one transaction, sent now and
        collected later, for a caller with other work to do while they run and commit (an
        event loop; ``SentCalls``). All commit together, with one flush of the log, or
        none does: any failure, the commit's included, is ``unavailable`` for all (or
        ``storage.conflict`` for a constraint, as everywhere).

        They go out in one libpq pipeline (the statements between its sync points run as
        one implicit transaction) on a second connection of this thread's own, its *call*
        connection, so that the reads the caller runs meanwhile (``send_read``,
        ``driver``) need not wait for them. One batch at a time on it: the next one drops
        a batch never collected. None where nothing can be sent ahead (SQLite, inside a
        transaction on this thread, or a libpq too old for pipelines: before 14, where
        psycopg's binary package bundles a newer one): use ``call``."""
        if self.kind != "postgresql" or self._active.get() is not None or not _PIPELINES:
            return None
        if not params:
            raise ValueError("no calls to send")
        return self._send(text, params, kinds, unavailable, slot="call", together=True)

    def _send(
        self,
        text: str,
        params: Sequence[Mapping[str, str | int | None]],
        kinds: Sequence[Callable[[bytes], Any]],
        unavailable: str,
        slot: Slot = "own",
        together: bool = False,
    ) -> _SentRead:
        """``text`` sent, prepared, once for each of ``params``, on this thread's own
        PostgreSQL connection (``slot``: its main one, or its call connection); in one
        pipeline, as one transaction, if ``together``."""
        sql, names = _dollar(text)
        try:
            values = [[_param(p[n]) for n in names] for p in params]
        except ValueError as exc:
            raise ElicenseError(unavailable, details={"reason": str(exc)}) from None
        own: _Own | None = None
        try:
            own = self._own_connection(slot)
            _drain(own)
            pg = own.raw.pgconn
            name = own.prepared.get(sql)
            if name is None:  # parsed and planned once per connection, not on every scan
                name = f"elicense_read_{len(own.prepared)}".encode()
                res = pg.prepare(name, sql)  # libpq waits for it (once)
                if res.status != psycopg.pq.ExecStatus.COMMAND_OK:
                    raise _result_failure(res, unavailable)
                own.prepared[sql] = name
            if together:
                pg.enter_pipeline_mode()
                for v in values:
                    pg.send_query_prepared(name, v)
                pg.pipeline_sync()
            else:
                pg.send_query_prepared(name, values[0])
            while pg.flush():
                _wait(pg.socket, select.POLLOUT)
        except _FAILURES as exc:
            if own is not None and (own.cut or together):
                self._unpin(own)  # the next statement gets a new connection
            raise _failure(exc, unavailable) from None
        sent = _SentRead(self, own, tuple(kinds), unavailable, len(values) if together else 0)
        own.pending = sent
        return sent

    def _own_connection(self, slot: Slot = "own") -> _Own:
        """This thread's autocommit connection (``_detached``; ``slot``: its main one, or
        its call connection, see ``send_calls``). It lives as long as the thread (a thread
        pool retires idle threads: anyio's after 10 s) or until ``close``."""
        own: _Own | None = getattr(self._pinned, slot, None)
        if own is not None and time.monotonic() - own.idle_since >= PING_AFTER_IDLE_S:
            try:
                self.engine.dialect.do_ping(own.raw)
            except Exception:
                self._unpin(own)
                own = None
        if own is None or own.raw.closed or own.raw.broken:
            raw = _detached(self.engine)
            raw.autocommit = True
            own = _Own(raw, slot)
            setattr(self._pinned, slot, own)
            with self._pinned_lock:
                self._all_pinned.add(own)
        return own

    def _unpin(self, own: _Own) -> None:
        if getattr(self._pinned, own.slot, None) is own:
            setattr(self._pinned, own.slot, None)
        with self._pinned_lock:
            self._all_pinned.discard(own)
        own.close()

    def ping(self) -> None:
        with self.read() as conn:
            conn.exec_driver_sql("SELECT 1")

    def checkpoint_in_background(self) -> None:
        """SQLite (a file): copy committed pages from the WAL into the database in a thread
        of this process, every ``CHECKPOINT_EVERY_S``, instead of in the commit that
        crosses SQLite's 1,000-page threshold.

        Under load that commit is a scan's: it holds the write gate, and with it every
        other scan of every worker, while it copies about 4 MB. A ``PASSIVE`` checkpoint
        blocks no reader and no writer, and runs with the GIL released. A commit still
        checkpoints itself past ``FALLBACK_CHECKPOINT_PAGES``, should the thread fall
        behind or fail (it stops at its first error). Durability is unchanged: every
        commit is in the WAL."""
        if self.kind != "sqlite" or self.target.memory or self._checkpointer is not None:
            return

        @event.listens_for(self.engine, "connect")
        def _fallback(dbapi_conn: Any, _record: Any) -> None:
            dbapi_conn.execute(f"PRAGMA wal_autocheckpoint = {FALLBACK_CHECKPOINT_PAGES}")

        self.engine.dispose()  # connections pooled so far reconnect with the fallback
        self._checkpointer = _Checkpointer(self.engine, CHECKPOINT_EVERY_S)

    def close(self) -> None:
        if self._checkpointer is not None:
            self._checkpointer.stop()
            self._checkpointer = None
        with self._pinned_lock:
            pinned, self._all_pinned = list(self._all_pinned), weakref.WeakSet()
        for own in pinned:
            own.close()
        self.engine.dispose()


class SentRead(Protocol):
    """A read started by ``Database.send_read``."""

    def rows(self) -> list[tuple[Any, ...]]:
        """Wait for the rows (converted as ``kinds`` says). Failures are
        ``storage.unavailable``, as for any read."""
        ...

    def discard(self) -> None:
        """Not wanted after all: drop its rows (waiting for the server to finish)."""
        ...


class SentCalls(Protocol):
    """Calls started together by ``Database.send_calls``: their connection's socket, to
    wait on without blocking (an event loop's reader), and ``ready`` to ask, without
    blocking, whether ``rows_each`` would still wait."""

    def fileno(self) -> int: ...

    def ready(self) -> bool:
        """Read what the server has sent so far; True once ``rows_each`` will not wait
        (a failed connection is ready too: ``rows_each`` raises)."""
        ...

    def rows_each(self) -> list[list[tuple[Any, ...]]]:
        """Each call's rows, in the order sent, once all have committed (converted as
        ``kinds`` says); raises ``unavailable`` if any failed (then none committed)."""
        ...

    def discard(self) -> None:
        """Not wanted after all: drop the answers (waiting for the server to finish; the
        calls may have committed)."""
        ...


class _LaterRead:
    """``send_read`` where nothing can be sent ahead: the read runs when collected."""

    __slots__ = ("_db", "_params", "_sql")

    def __init__(self, db: Database, sql: str, params: Mapping[str, str]) -> None:
        self._db, self._sql, self._params = db, sql, params

    def rows(self) -> list[tuple[Any, ...]]:
        with self._db.driver() as conn:
            return [tuple(r) for r in conn.execute(self._sql, self._params).fetchall()]

    def discard(self) -> None:
        pass


class _SentRead:
    """Statements on their way on a thread's own PostgreSQL connection, in libpq's
    asynchronous interface (psycopg's ``pq`` module): sent with ``PQsendQueryPrepared``
    (``batch`` of them in one pipeline, or one alone: ``batch`` 0), collected with
    ``PQconsumeInput``/``PQgetResult``, the way psycopg runs its own statements, only
    split in two. The results are gathered as they arrive, so ``ready`` never blocks and
    ``rows``/``rows_each`` wait only for what has not come yet."""

    __slots__ = ("_batch", "_current", "_db", "_done", "_groups", "_kinds", "_own", "_unavailable")

    def __init__(
        self,
        db: Database,
        own: _Own,
        kinds: tuple[Callable[[bytes], Any], ...],
        unavailable: str = "storage.unavailable",
        batch: int = 0,
    ) -> None:
        self._db, self._own, self._kinds, self._unavailable = db, own, kinds, unavailable
        self._batch = batch
        self._groups: list[list[Any]] = []
        """Each statement's results, as they complete."""
        self._current: list[Any] = []
        self._done = False

    def rows(self) -> list[tuple[Any, ...]]:
        return [row for rows in self.rows_each() for row in rows]

    def rows_each(self) -> list[list[tuple[Any, ...]]]:
        groups = self._collect()
        if groups is None:
            raise ElicenseError(self._unavailable, details={"reason": "read discarded"})
        return [self._converted(results) for results in groups]

    def _converted(self, results: list[Any]) -> list[tuple[Any, ...]]:
        kinds = self._kinds
        out: list[tuple[Any, ...]] = []
        done = (psycopg.pq.ExecStatus.TUPLES_OK, psycopg.pq.ExecStatus.COMMAND_OK)
        for res in results:
            if res.status not in done:  # COMMAND_OK: a statement without rows to return
                raise _result_failure(res, self._unavailable)
            try:
                for i in range(res.ntuples):
                    values = [res.get_value(i, j) for j in range(res.nfields)]
                    out.append(
                        tuple(
                            None if v is None else k(v) for k, v in zip(kinds, values, strict=True)
                        )
                    )
            except ValueError:  # a column unlike its kind (UnicodeDecodeError too)
                raise ElicenseError(
                    self._unavailable, details={"reason": "unexpected column value"}
                ) from None
        return out

    def discard(self) -> None:
        with suppress(ElicenseError):
            self._collect()

    def fileno(self) -> int:
        return int(self._own.raw.pgconn.socket)

    def ready(self) -> bool:
        if self._own.pending is not self:
            return True
        try:
            return self._advance(block=False)
        except _FAILURES:
            return True  # rows_each() meets the failure and names it

    def _advance(self, *, block: bool) -> bool:
        """Take the results that have arrived (waiting for the rest if ``block``); True
        once all have (the pipeline's sync point, or the single statement's end)."""
        pg = self._own.raw.pgconn
        pg.consume_input()
        while not self._done:
            if pg.is_busy():
                if not block:
                    return False
                _wait(pg.socket, select.POLLIN)
                pg.consume_input()
                continue
            res = pg.get_result()
            if res is None:  # a statement's results end
                self._groups.append(self._current)
                self._current = []
                self._done = not self._batch
                if len(self._groups) > self._batch + 1:  # never: libpq out of step
                    raise psycopg.OperationalError("more results than statements")
            elif res.status == psycopg.pq.ExecStatus.PIPELINE_SYNC:
                pg.exit_pipeline_mode()
                self._done = True
            elif res.status != psycopg.pq.ExecStatus.PIPELINE_ABORTED:
                self._current.append(res)
        return True

    def _collect(self) -> list[list[Any]] | None:
        """The results, once (None if already collected); the connection is free after.
        A pipeline in which anything failed failed as a whole (its transaction rolled
        back): its first failed result stands for every statement."""
        own = self._own
        if own.pending is not self:
            return None
        try:
            self._advance(block=True)
        except _FAILURES as exc:
            if own.cut or self._batch:
                self._db._unpin(own)  # a pipeline cut short leaves libpq mid-way
            raise _failure(exc, self._unavailable) from None
        finally:
            own.pending = None
            own.idle_since = time.monotonic()
        groups = self._groups
        statements = max(self._batch, 1)
        # A commit's failure comes after the last statement's results (``_current``).
        failed = [
            r
            for results in (*groups, self._current)
            for r in results
            if r.status == psycopg.pq.ExecStatus.FATAL_ERROR
        ]
        if failed:
            return [failed[:1]] * statements
        if len(groups) < statements or any(groups[statements:]):  # never: libpq out of step
            raise ElicenseError(self._unavailable, details={"reason": "results out of step"})
        return groups[:statements]


def _drain(own: _Own) -> None:
    """Drop a read sent on ``own`` and never collected, before ``own`` runs another."""
    if own.pending is not None:
        own.pending.discard()


def as_text(value: bytes) -> str:
    """A text column in PostgreSQL's text format (``send_read``'s ``kinds``)."""
    return value.decode()


def as_bytes(value: bytes) -> bytes:
    """A ``bytea`` column in PostgreSQL's text format (hex, ``\\x…``; ``kinds``)."""
    if not value.startswith(b"\\x"):
        raise ValueError("not bytea's hex format")
    return bytes.fromhex(value[2:].decode("ascii"))


def _param(value: str | int | None) -> bytes | None:
    """A parameter in PostgreSQL's text format (NULL as None). libpq reads it as a C
    string: a NUL would silently cut it short, so it is refused (as psycopg refuses it),
    like anything that is not text or an integer (``ValueError``, naming no value)."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise ValueError("parameter type")
    text = str(value)
    if "\x00" in text:
        raise ValueError("NUL in a parameter")
    return text.encode()


def _wait(fd: int, event: int) -> None:
    """Block until ``fd`` is ready (``poll``: unlike ``select``, any descriptor number)."""
    poller = select.poll()
    poller.register(fd, event)
    poller.poll()


_DOLLAR_CACHE: dict[str, tuple[bytes, tuple[str, ...]]] = {}
_PYFORMAT_CACHE: dict[str, str] = {}


def _dollar(text: str) -> tuple[bytes, tuple[str, ...]]:
    """``:name`` placeholders as libpq's ``$1``, ``$2``…, and the names in that order."""
    found = _DOLLAR_CACHE.get(text)
    if found is None:
        names: list[str] = []

        def number(m: re.Match[str]) -> str:
            if m.group(1) not in names:
                names.append(m.group(1))
            return f"${names.index(m.group(1)) + 1}"

        found = _DOLLAR_CACHE[text] = (_NAMED.sub(number, text).encode(), tuple(names))
    return found


def _result_failure(res: Any, unavailable: str) -> ElicenseError:
    """A failed libpq result named as ``_failure`` names psycopg's exception for it (a
    constraint's refusal is ``storage.conflict``, by constraint name; never a value)."""
    return _failure(psycopg.errors.error_from_result(res), unavailable)


def _detached(engine: Engine) -> Any:
    """A driver connection made with the pool's settings (its ``connect`` events and
    options) and then taken out of it: it never counts against the pool, and closing it
    is its holder's business."""
    pooled = engine.raw_connection()
    raw = pooled.driver_connection
    pooled.detach()
    return raw


class _Own:
    """A thread's own connection (``Database.driver`` on PostgreSQL). Held only by the
    thread's ``threading.local``: when the thread ends, this goes and closes it."""

    __slots__ = ("__weakref__", "idle_since", "pending", "prepared", "raw", "slot")

    def __init__(self, raw: Any, slot: Slot = "own") -> None:
        self.raw = raw
        self.slot = slot
        self.idle_since = time.monotonic()
        self.pending: _SentRead | None = None
        """A read sent on this connection and not yet collected (``send_read``)."""
        self.prepared: dict[bytes, bytes] = {}
        """Statements ``send_read``/``call`` prepared on this connection: SQL → name."""

    @property
    def cut(self) -> bool:
        """The connection is gone (psycopg saw it, or libpq did under psycopg)."""
        raw = self.raw
        return bool(raw.broken or raw.closed or raw.pgconn.status != psycopg.pq.ConnStatus.OK)

    def close(self) -> None:
        with suppress(Exception):  # closing anyway (it may be broken already)
            self.raw.close()

    def __del__(self) -> None:
        self.close()


class _Checkpointer:
    """The thread behind ``Database.checkpoint_in_background``."""

    def __init__(self, engine: Engine, interval: float) -> None:
        self._conn = _detached(engine)  # this thread's own, never handed to a request
        self._interval = interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="elicense-checkpoint", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(self._interval):
            try:
                self._conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
            except Exception:  # the commits' own (fallback) checkpoints take over
                return

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()
        with suppress(Exception):
            self._conn.close()


_NAMED = re.compile(r"(?<![:\w]):([A-Za-z_]\w*)")


@contextmanager
def _foreign_keys_off(conn: Connection) -> Iterator[None]:
    """SQLite: references unchecked on this connection for the block (the pragma only
    takes effect outside a transaction, so it is set before BEGIN and reset after the
    commit or rollback). A connection that cannot be reset is discarded, never pooled
    with its checks off."""
    raw: Any = conn.connection.driver_connection
    raw.execute("PRAGMA foreign_keys = OFF")
    try:
        yield
    finally:
        try:
            raw.execute("PRAGMA foreign_keys = ON")
            # A no-op if a transaction were somehow still open: read it back.
            restored = raw.execute("PRAGMA foreign_keys").fetchone() == (1,)
        except BaseException:
            conn.invalidate()
            raise
        if not restored:
            conn.invalidate()


def _discard_or_roll_back(pooled: Any, raw: Any, sqlite: bool) -> None:
    """After a failure in ``Database.driver``: roll back, or throw the connection away
    when it is broken (or cannot even roll back)."""
    try:
        if sqlite:
            if raw.in_transaction:
                raw.execute("ROLLBACK")
        elif raw.broken or raw.closed:
            pooled.invalidate()
        else:
            raw.rollback()
            raw.autocommit = False
    except Exception:
        pooled.invalidate()


def _failure(exc: BaseException, unavailable: str) -> ElicenseError:
    """Any database failure as the ``ElicenseError`` callers expect (see module doc)."""
    if isinstance(exc, ElicenseError):
        return exc
    orig: BaseException | None = exc.orig if isinstance(exc, DBAPIError) else exc
    if isinstance(exc, IntegrityError) or isinstance(orig, _DRIVER_CONFLICTS):
        return ElicenseError("storage.conflict", details=_conflict_details(orig))
    if isinstance(exc, (DBAPIError, *_DRIVER_ERRORS)):
        invalidated = isinstance(exc, DBAPIError) and exc.connection_invalidated
        return ElicenseError(unavailable, details=_failure_details(orig, invalidated))
    if isinstance(exc, OSError):  # the SQLite write gate's lock file: fail closed
        return ElicenseError(unavailable, details={"reason": "lock file"})
    return ElicenseError(unavailable, details={"reason": type(exc).__name__})


def _conflict_details(orig: BaseException | None) -> dict[str, Any]:
    """Which constraint, never which value (PostgreSQL quotes the duplicate key)."""
    diag = getattr(orig, "diag", None)
    name = getattr(diag, "constraint_name", None)
    if name:
        return {"constraint": name}
    match = re.match(r"(UNIQUE|FOREIGN KEY|NOT NULL) constraint failed(: [\w., ]+)?", str(orig))
    if match:
        return {"constraint": match.group(0)}
    return {}


def _failure_details(orig: BaseException | None, invalidated: bool) -> dict[str, Any]:
    """Connection-level messages help operators and carry no row data; others are named
    by class and SQLSTATE only."""
    out: dict[str, Any] = {"reason": type(orig).__name__}
    sqlstate = getattr(orig, "sqlstate", None)
    if sqlstate:
        out["sqlstate"] = sqlstate
    if invalidated or type(orig).__name__ in ("OperationalError", "InterfaceError"):
        out["message"] = str(orig).splitlines()[0][:200] if str(orig) else ""
    return out
