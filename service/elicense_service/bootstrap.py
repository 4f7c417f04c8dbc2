"""Build the runtime from settings: open the database, load the platform home."""

from __future__ import annotations

import time

from elicense.errors import ElicenseError
from elicense.home import open_platform
from elicense_service.runtime import Runtime
from elicense_service.settings import Settings


def runtime_from_settings(settings: Settings) -> Runtime:
    passphrase = settings.key_passphrase.get_secret_value().encode()
    if not passphrase:
        raise ElicenseError("home.unreadable", details={"reason": "ELICENSE_KEY_PASSPHRASE unset"})
    platform = open_platform(
        settings.home,
        passphrase=passphrase,
        now=int(time.time()),
        database_url=settings.database_url,
    )
    return Runtime(platform=platform)
