"""A small read-through cache for records looked up on every request.

Relying parties and API credentials are read for every scan, the same rows each time. The
cache keeps records, not verdicts: callers still check what they check (a credential's
secret hash on every request), so only a change to the record itself (a revocation, a
deactivation) can take up to ``ttl`` seconds — of the caller's clock, passed in — to be
seen. Misses are not cached (a new record works at once), and the cache is bounded
(cleared when full) so that random keys cannot grow it. Thread-safe: a service worker
verifies on several threads.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Generic, TypeVar

V = TypeVar("V")


class TtlCache(Generic[V]):
    MAX_ENTRIES = 4096

    def __init__(self, ttl: int = 0) -> None:
        self.ttl = ttl
        """Seconds a record is reused (0: read every time)."""
        self._entries: dict[str, tuple[V, int]] = {}
        self._lock = threading.Lock()

    def get(self, key: str, now: int, load: Callable[[str], V | None]) -> V | None:
        if self.ttl > 0:
            with self._lock:
                hit = self._entries.get(key)
            if hit is not None and hit[1] <= now < hit[1] + self.ttl:
                return hit[0]
        value = load(key)
        if value is not None and self.ttl > 0:
            with self._lock:
                if len(self._entries) >= self.MAX_ENTRIES:
                    self._entries.clear()
                self._entries[key] = (value, now)
        return value
