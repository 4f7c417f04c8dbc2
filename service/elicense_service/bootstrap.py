"""Build the runtime from settings: open the database, load the platform home."""

from __future__ import annotations

import hashlib
import hmac
import time

from elicense.errors import ElicenseError
from elicense.home import HomeConfig, load_platform
from elicense.jose.keyfile import open_secret
from elicense.storage import open_storage
from elicense_service.runtime import Runtime
from elicense_service.settings import Settings


def status_key(pseudonym_key: bytes) -> bytes:
    """The status-index permutation key, derived from the platform secret (separate use,
    separate key)."""
    return hmac.new(pseudonym_key, b"elicense status-index permutation", hashlib.sha256).digest()


def runtime_from_settings(settings: Settings) -> Runtime:
    passphrase = settings.key_passphrase.get_secret_value().encode()
    if not passphrase:
        raise ElicenseError("home.unreadable", details={"reason": "ELICENSE_KEY_PASSPHRASE unset"})
    cfg = HomeConfig.read(settings.home)
    secret = open_secret((settings.home / "keys" / "pseudonym.key").read_bytes(), passphrase)
    storage = open_storage(
        settings.database_url or cfg.database_url,
        status_key=status_key(secret),
        status_uri=cfg.status_base_url + "/{list_id}",
    )
    now = int(time.time())
    platform = load_platform(settings.home, passphrase=passphrase, storage=storage, now=now)
    return Runtime(platform=platform)
