"""Service settings, from the environment (``ELICENSE_*``) or passed in by tests."""

from __future__ import annotations

from pathlib import Path

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
    verify_threads: int | None = Field(default=None, ge=0, le=64)
    """Threads per worker that run ``POST /v1/verify`` (each holds one database connection
    while it runs); 0 runs it on the event loop itself: no thread hop and no contention
    for the interpreter lock, but the worker reads no other request while a scan waits
    on the database. Unset: 0 on SQLite, where a scan is local CPU work (bench/http.py,
    2 workers, A/B in alternation: 67-72 % of the bare endpoint and paced p99 46-52 ms,
    against 38-54 % and 144-329 ms with one thread); 3 on PostgreSQL, where a scan waits
    on a network round trip that another scan's thread can use (266 -> 368 scans/s over
    one thread). Scale CPU with ``--workers``."""
