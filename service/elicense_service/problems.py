"""RFC 9457 problem details for every failure: our code, titles in Chinese and English.

No stack trace, no token text, no personal data ever reaches a client: only the code, its
registered titles, the registered description and the access-record id where one exists.
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from elicense.errors import ERROR_CODES, ElicenseError

MEDIA_TYPE = "application/problem+json"
PROBLEM_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["type", "title", "status", "code"],
    "properties": {
        "type": {"type": "string"},
        "title": {"type": "string", "description": "中文标题"},
        "title_en": {"type": "string"},
        "status": {"type": "integer"},
        "detail": {"type": "string"},
        "code": {"type": "string", "description": "Stable dotted error code (docs/errors.md)"},
        "record_id": {"type": "string", "description": "The access record of a refused scan"},
        "fields": {"type": "array", "items": {"type": "string"}},
    },
}
PROBLEM_RESPONSE: dict[str, Any] = {
    "description": "RFC 9457 problem details",
    "content": {MEDIA_TYPE: {"schema": PROBLEM_SCHEMA}},
}
log = logging.getLogger("elicense.service")


def from_error(exc: ElicenseError, **extra: Any) -> JSONResponse:
    spec = ERROR_CODES[exc.code]
    body = {
        "type": f"urn:elicense:error:{exc.code}",
        "title": spec.title_zh,
        "title_en": spec.title_en,
        "status": spec.http_status,
        "detail": spec.description,
        "code": exc.code,
        **extra,
    }
    return JSONResponse(body, status_code=spec.http_status, media_type=MEDIA_TYPE)


async def elicense_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, ElicenseError)  # noqa: S101 - registered for this type only
    record_id = exc.details.get("record_id")
    return from_error(exc, **({"record_id": record_id} if isinstance(record_id, str) else {}))


async def validation_error(request: Request, exc: Exception) -> JSONResponse:
    # Field locations only: pydantic's messages can echo input values.
    locs: list[str] = []
    if isinstance(exc, RequestValidationError):
        locs = [".".join(str(p) for p in e.get("loc", ())) for e in exc.errors()]
    return from_error(ElicenseError("request.invalid"), fields=locs)


_HTTP_CODES = {
    404: "request.not_found",
    405: "request.method_not_allowed",
    413: "request.too_large",
    429: "request.rate_limited",
}


async def http_error(request: Request, exc: Exception) -> JSONResponse:
    status = exc.status_code if isinstance(exc, StarletteHTTPException) else 503
    return from_error(ElicenseError(_HTTP_CODES.get(status, "request.invalid")))


async def unexpected(request: Request, exc: Exception) -> JSONResponse:
    """Never a stack trace to a client; the log gets the type, not the message (it could
    carry personal data)."""
    # The route template, not the path: a path can carry a license identifier.
    route = getattr(request.scope.get("route"), "path", "unmatched")
    log.error("unexpected error", extra={"error_type": type(exc).__name__, "route": route})
    return from_error(ElicenseError("service.unavailable"))
