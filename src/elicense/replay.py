"""The replay store port (checklist 15) and its in-process adapter.

One-time values (code ``jti``s, key-binding nonces) are consumed atomically once per
(namespace, value) across every worker that shares the store. The storage layer provides
database adapters; ``MemoryReplayStore`` serves a single process, such as an offline
verifier's own replay cache. Callers never key replay on token text: signatures and
encodings are malleable, identifiers are not.
"""

from __future__ import annotations

import heapq
import threading
from typing import Protocol


class ReplayStore(Protocol):
    def consume(self, namespace: str, value: str, *, expires_at: int, now: int) -> bool:
        """True the first time (namespace, value) is seen before ``expires_at``; False on
        every later call. Raises ``ElicenseError('replay.unavailable')`` when the store
        cannot answer, so that callers fail closed."""
        ...


class MemoryReplayStore:
    """Thread-safe, bounded by expiry: entries are dropped once they can no longer replay."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._seen: dict[tuple[str, str], int] = {}
        self._expiry: list[tuple[int, str, str]] = []

    def consume(self, namespace: str, value: str, *, expires_at: int, now: int) -> bool:
        key = (namespace, value)
        with self._lock:
            while self._expiry and self._expiry[0][0] < now:
                _, ns, v = heapq.heappop(self._expiry)
                if self._seen.get((ns, v), now) < now:
                    del self._seen[(ns, v)]
            if key in self._seen:
                return False
            self._seen[key] = expires_at
            heapq.heappush(self._expiry, (expires_at, namespace, value))
            return True

    def __len__(self) -> int:
        return len(self._seen)
