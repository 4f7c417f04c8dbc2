"""Service settings, from the environment (``ELICENSE_*``) or passed in by tests."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="ELICENSE_", extra="ignore")

    home: Path = Path("var/platform")
    """The platform home (``elicense init``): config, encrypted keys, trust lists."""
    database_url: str | None = None
    """Overrides the home's database URL (e.g. PostgreSQL for several workers)."""
    key_passphrase: SecretStr = SecretStr("")
    max_body_bytes: int = 64 * 1024
    rate_limit_per_minute: int = 1200
    """Per relying party, per worker."""
    cors_origins: list[str] = []
    """CORS is off unless origins are listed."""
    checkpoint_every: int = 1000
    """Seal the access log with a signed checkpoint every N records (bounded window)."""
    lookup_cache_seconds: int = Field(default=5, ge=0, le=300)
    """How long a worker may reuse an API credential or a relying party it has read (0:
    read on every request). Revoking a key or deactivating a relying party takes effect
    within this time; a wrong secret is refused at once (the hash is compared on every
    request)."""
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    """The service's JSON log lines on standard error: at INFO one line per request
    (request id, method, route, status, milliseconds), at WARNING and ERROR only
    what went wrong. No line carries personal data or request content."""
    verify_threads: int = Field(default=0, ge=0, le=64)
    """Threads per worker that run ``POST /v1/verify`` (each holds one database connection
    while it runs). 0 (the default) runs it on the event loop itself: no thread hop and
    no contention for the interpreter lock, but the worker reads no other request while
    a scan waits on the database. That is the cheaper trade on both databases
    (bench/http.py, 2 workers, 2026-11-22): on SQLite, where a scan is local CPU work,
    67-72 % of the bare endpoint against 38-54 % with one thread; on PostgreSQL too,
    where the thread hops and the lock cost more CPU than the round trips they overlap
    (all processes' CPU per scan: 1.22 ms on the loop, 1.99 ms with 3 threads; 1,330
    against 911 scans/s). Scale CPU with ``--workers``."""
