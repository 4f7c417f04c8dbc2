"""The shared replay cache: one-time values consumed by one atomic statement.

``consume`` is a single ``INSERT … ON CONFLICT (namespace, value) DO UPDATE SET
expires_at = excluded.expires_at WHERE replay.expires_at < now``: a new value is inserted
(one row changed: True); a value seen before is left alone (no row changed: False) —
unless its stored expiry has passed. Replacing an expired row is safe because the value's
expiry is the expiry of the token that carried it: once it has passed, that token no
longer verifies anywhere, so the row protects nothing, and a value is never accepted twice
while a token carrying it could still verify.

The primary key does the deciding, so the guarantee holds across threads, processes and
service workers alike. Expired rows are purged now and then (one call in
``PURGE_EVERY``) so the table stays as small as the set of live codes. Any database error
raises ``replay.unavailable``: a verifier that cannot record a use must not accept it.
"""

from __future__ import annotations

import itertools
import threading

from sqlalchemy import delete

from elicense.storage.db import Database
from elicense.storage.schema import replay

PURGE_EVERY = 1000
UNAVAILABLE = "replay.unavailable"
CONSUME = (
    "INSERT INTO replay (namespace, value, expires_at) VALUES (:namespace, :value, :expires_at) "
    "ON CONFLICT (namespace, value) DO UPDATE SET expires_at = excluded.expires_at "
    "WHERE replay.expires_at < :now"
)
"""The consuming statement (the same on both databases; run by the driver directly, see
``Database.driver``). ``AccessLog.settle`` runs it too, inside a scan's transaction."""


class SqlReplayStore:
    def __init__(self, db: Database, purge_every: int = PURGE_EVERY) -> None:
        self._db = db
        self._purge_every = purge_every
        self._calls = itertools.count(1)
        self._lock = threading.Lock()
        self._consume = db.sql(CONSUME)

    def consume(self, namespace: str, value: str, *, expires_at: int, now: int) -> bool:
        self.tick(now)
        params = {"namespace": namespace, "value": value, "expires_at": expires_at, "now": now}
        with self._db.driver(write=True, single=True, unavailable=UNAVAILABLE) as conn:
            return conn.execute(self._consume, params).rowcount == 1

    def tick(self, now: int) -> None:
        """Count one consumption (here or in a scan's settlement); purge every
        ``purge_every``-th time, before the consuming transaction."""
        with self._lock:
            n = next(self._calls)
        if n % self._purge_every == 0:
            self.purge(now)

    def purge(self, now: int) -> int:
        """Delete entries that can no longer replay; returns how many."""
        with self._db.write(UNAVAILABLE, single=True) as conn:
            return conn.execute(delete(replay).where(replay.c.expires_at < now)).rowcount
