"""The app factory: settings → platform → FastAPI, with limits, logs and metrics."""

from __future__ import annotations

import json
import logging
import secrets
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

from fastapi import FastAPI, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.middleware.cors import CORSMiddleware
from starlette.exceptions import HTTPException as StarletteHTTPException

from elicense.errors import ElicenseError
from elicense_service import problems
from elicense_service.ops import ops_router
from elicense_service.routes import router
from elicense_service.runtime import RateLimiter, Runtime
from elicense_service.settings import Settings

STATIC = Path(__file__).parent / "static"
access_log = logging.getLogger("elicense.access")


class JsonFormatter(logging.Formatter):
    """One JSON object per line; only the fields we put there (no messages from inputs)."""

    def format(self, record: logging.LogRecord) -> str:
        data = {"ts": round(record.created, 3), "level": record.levelname, "event": record.msg}
        data.update(getattr(record, "fields", {}))
        for key in ("error_type", "path"):
            if hasattr(record, key):
                data[key] = getattr(record, key)
        return json.dumps(data, ensure_ascii=False)


def configure_logging() -> None:
    handler = logging.StreamHandler()
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger("elicense")
    root.handlers = [handler]
    root.setLevel(logging.INFO)
    root.propagate = False


def create_app(settings: Settings | None = None, *, runtime: Runtime | None = None) -> FastAPI:
    """Build the service. Tests pass a ``runtime`` (with their clock); ``serve`` builds one
    from the platform home named by the settings."""
    settings = settings or Settings()
    if runtime is None:
        from elicense_service.bootstrap import runtime_from_settings  # noqa: PLC0415

        runtime = runtime_from_settings(settings)
    runtime.limiter = RateLimiter(settings.rate_limit_per_minute)
    runtime.checkpoint_every = settings.checkpoint_every
    app = FastAPI(
        title="elicense 电子证照核验服务",
        version="1",
        description="Scan-to-verify for no-certificate cities (无证明城市): codes, presentations, "
        "licenses, consent and access records. Errors are RFC 9457 problem+json with a "
        "stable `code`.",
    )
    app.state.runtime = runtime
    app.include_router(router)
    app.include_router(ops_router)
    app.add_exception_handler(ElicenseError, problems.elicense_error)
    app.add_exception_handler(RequestValidationError, problems.validation_error)
    app.add_exception_handler(StarletteHTTPException, problems.http_error)
    app.add_exception_handler(Exception, problems.unexpected)
    if settings.cors_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=settings.cors_origins,
            allow_methods=["GET", "POST", "DELETE"],
            allow_headers=["Authorization", "Content-Type", "X-Api-Key"],
        )
    max_body = settings.max_body_bytes

    @app.middleware("http")
    async def envelope(
        request: Request, call_next: Callable[[Request], Awaitable[Response]]
    ) -> Response:
        start = time.perf_counter()
        rid = request.headers.get("x-request-id", "")
        request.state.request_id = (
            rid if rid.isascii() and 0 < len(rid) <= 64 else secrets.token_hex(8)
        )
        length = request.headers.get("content-length")
        if length is not None and (not length.isdigit() or int(length) > max_body):
            response: Response = problems.from_error(ElicenseError("request.too_large"))
        else:
            try:
                response = await call_next(request)
            except Exception as exc:  # the last line of defence: never a 500
                response = await problems.unexpected(request, exc)
        route = getattr(request.scope.get("route"), "path", "unmatched")
        elapsed = time.perf_counter() - start
        rt: Runtime = request.app.state.runtime
        rt.metrics.requests.labels(route, request.method, str(response.status_code)).inc()
        rt.metrics.latency.labels(route).observe(elapsed)
        response.headers["X-Request-Id"] = request.state.request_id
        response.headers["X-Content-Type-Options"] = "nosniff"
        response.headers.setdefault("Cache-Control", "no-store")
        access_log.info(
            "request",
            extra={
                "fields": {
                    "request_id": request.state.request_id,
                    "method": request.method,
                    "route": route,
                    "status": response.status_code,
                    "ms": round(elapsed * 1000, 2),
                }
            },
        )
        return response

    return app
