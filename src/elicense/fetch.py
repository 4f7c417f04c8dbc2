"""Bounded fetching of status lists (checklist 24): the outer layer around the pure core.

Only allow-listed locations (every redirect hop is checked again), a size cap enforced
while streaming, a time-out, at most a few redirects, HTTPS unless a location is
explicitly allowed over plain HTTP (local test servers). Any failure is an
``ElicenseError`` so that the status cache can fall back to a list still inside its
``exp`` or fail closed.
"""

from __future__ import annotations

from collections.abc import Sequence
from urllib.parse import urljoin, urlsplit

import httpx

from elicense.errors import ElicenseError

MEDIA_TYPE = "application/statuslist+jwt"


class StatusFetcher:
    def __init__(
        self,
        allowed: Sequence[str],
        *,
        max_bytes: int = 2 * 1024 * 1024,
        timeout: float = 5.0,
        max_redirects: int = 3,
        client: httpx.Client | None = None,
    ) -> None:
        """``allowed``: URL prefixes such as ``https://status.zibo.gov.cn/``."""
        self._allowed = tuple(allowed)
        self._max_bytes = max_bytes
        self._max_redirects = max_redirects
        self._client = client or httpx.Client(timeout=timeout, follow_redirects=False)

    def _check(self, url: str) -> None:
        parts = urlsplit(url)
        if parts.scheme not in ("https", "http") or parts.username or parts.password:
            raise ElicenseError("status.location_not_allowed")
        if not any(url.startswith(prefix) for prefix in self._allowed):
            raise ElicenseError("status.location_not_allowed")

    def __call__(self, uri: str) -> str:
        url = uri
        for _ in range(self._max_redirects + 1):
            self._check(url)
            try:
                with self._client.stream("GET", url, headers={"Accept": MEDIA_TYPE}) as resp:
                    if resp.is_redirect:
                        location = resp.headers.get("location")
                        if not location:
                            raise ElicenseError("status.fetch_failed")
                        url = urljoin(url, location)
                        continue
                    if resp.status_code != 200:
                        raise ElicenseError("status.fetch_failed",
                                            details={"status": resp.status_code})  # fmt: skip
                    declared = resp.headers.get("content-length")
                    if (
                        declared is not None
                        and declared.isdigit()
                        and int(declared) > self._max_bytes
                    ):
                        raise ElicenseError("status.too_large")
                    body = bytearray()
                    for chunk in resp.iter_bytes():
                        body += chunk
                        if len(body) > self._max_bytes:
                            raise ElicenseError("status.too_large")
            except httpx.HTTPError:
                raise ElicenseError("status.fetch_failed") from None
            try:
                return body.decode("ascii").strip()
            except UnicodeDecodeError:
                raise ElicenseError("status.bad_list", details={"reason": "not ASCII"}) from None
        raise ElicenseError("status.fetch_failed", details={"reason": "too many redirects"})

    def close(self) -> None:
        self._client.close()
