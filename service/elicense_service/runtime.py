"""What every request needs: the platform, the clock, randomness, limits and metrics."""

from __future__ import annotations

import asyncio
import logging
import os
import threading
import time
import weakref
from collections.abc import Callable
from dataclasses import dataclass, field

import anyio
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from elicense.errors import ElicenseError
from elicense.platform import Platform
from elicense.records import CredentialRecord
from elicense.ttlcache import TtlCache
from elicense_service.settler import Settler

log = logging.getLogger("elicense.service")


class Metrics:
    """Counts and latencies by route template and outcome code: never personal data."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "elicense_requests_total",
            "HTTP requests",
            ["route", "method", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "elicense_request_seconds",
            "Request latency",
            ["route"],
            registry=self.registry,
            buckets=(0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0),
        )
        self.verifications = Counter(
            "elicense_verifications_total",
            "Scan verifications",
            ["scenario", "decision", "code"],
            registry=self.registry,
        )
        self.unsealed = Gauge(
            "elicense_audit_unsealed_records",
            "Access records after the last signed checkpoint",
            registry=self.registry,
        )


class RateLimiter:
    """A token bucket per relying party (per worker process)."""

    def __init__(self, per_minute: int) -> None:
        self.rate = per_minute / 60.0
        self.burst = max(per_minute / 6.0, 10.0)
        self._buckets: dict[str, tuple[float, float]] = {}
        self._lock = threading.Lock()

    def allow(self, key: str, now: float) -> bool:
        with self._lock:
            tokens, last = self._buckets.get(key, (self.burst, now))
            tokens = min(self.burst, tokens + (now - last) * self.rate)
            if tokens < 1.0:
                self._buckets[key] = (tokens, now)
                return False
            self._buckets[key] = (tokens - 1.0, now)
            return True


@dataclass
class Runtime:
    platform: Platform
    clock: Callable[[], int] = field(default=lambda: int(time.time()))
    rand: Callable[[int], bytes] = field(default=os.urandom)
    limiter: RateLimiter = field(default_factory=lambda: RateLimiter(1200))
    metrics: Metrics = field(default_factory=Metrics)
    checkpoint_every: int = 1000
    credentials: TtlCache[CredentialRecord] = field(default_factory=TtlCache)
    """API credential records by key id (see ``elicense.ttlcache``): the secret's hash is
    still compared on every request; a revocation is seen within the cache's ttl."""
    verify_threads: int = 0
    """Threads per worker for ``POST /v1/verify`` (see ``Settings.verify_threads``)."""
    _last_checkpoint: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _limiters: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, anyio.CapacityLimiter] = field(
        default_factory=weakref.WeakKeyDictionary
    )
    _settlers: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, Settler] = field(
        default_factory=weakref.WeakKeyDictionary
    )

    def settler(self) -> Settler:
        """The running event loop's settler (``elicense_service.settler``)."""
        loop = asyncio.get_running_loop()
        settler = self._settlers.get(loop)
        if settler is None:
            settler = self._settlers[loop] = Settler(self.platform.storage.access_log)
        return settler

    def verify_limiter(self) -> anyio.CapacityLimiter:
        """The verify threads' limiter of the running event loop (one per loop: a test
        client may run each request on its own loop)."""
        loop = asyncio.get_running_loop()
        limiter = self._limiters.get(loop)
        if limiter is None:
            limiter = self._limiters[loop] = anyio.CapacityLimiter(self.verify_threads)
        return limiter

    def after_record(self, seq: int) -> None:
        """Seal the log every ``checkpoint_every`` records so the unsealed window stays
        bounded (and is exported as a gauge for monitoring). The scan's own record is
        already committed: a checkpoint that cannot be written is logged and tried again
        with the next record, and never turns the scan's answer into an error."""
        self.metrics.unsealed.set(max(seq - self._last_checkpoint, 0))
        if seq - self._last_checkpoint < self.checkpoint_every:
            return
        with self._lock:
            if seq - self._last_checkpoint >= self.checkpoint_every:
                try:
                    self.platform.checkpoint(self.clock())
                except ElicenseError as exc:
                    log.warning("checkpoint failed", extra={"fields": {"code": exc.code}})
                    return
                self._last_checkpoint = seq
                self.metrics.unsealed.set(0)
