"""Service settings, from the environment (``ELICENSE_*``) or passed in by tests."""

from __future__ import annotations

from pathlib import Path

from pydantic import SecretStr
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
