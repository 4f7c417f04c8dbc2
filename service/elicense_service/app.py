"""The app factory: settings → platform → FastAPI, with limits, logs and metrics."""

from __future__ import annotations

import gc
import json
import logging
import secrets
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.middleware.cors import CORSMiddleware
from fastapi.routing import APIRoute
from starlette.datastructures import MutableHeaders
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from elicense.errors import ElicenseError
from elicense_service import problems
from elicense_service.ops import ops_router
from elicense_service.routes import router, verify_direct
from elicense_service.runtime import RateLimiter, Runtime
from elicense_service.settings import Settings

access_log = logging.getLogger("elicense.access")


class JsonFormatter(logging.Formatter):
    """One JSON object per line; only the fields we put there (no messages from inputs)."""

    def format(self, record: logging.LogRecord) -> str:
        data = {"ts": round(record.created, 3), "level": record.levelname, "event": record.msg}
        data.update(getattr(record, "fields", {}))
        for key in ("error_type", "path", "route"):
            if hasattr(record, key):
                data[key] = getattr(record, key)
        return json.dumps(data, ensure_ascii=False)


def configure_logging(level: str = "INFO") -> None:
    """The ``elicense`` loggers write JSON lines to standard error, and only there.
    Done when a worker starts serving (the app's lifespan), not when an app is built."""
    handler = logging.StreamHandler()
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger("elicense")
    root.handlers = [handler]
    root.setLevel(level)
    root.propagate = False


class Envelope:
    """Around every request: request id, body cap, security headers, metrics, one log
    line, and a problem response for anything that escaped (never a 500).

    A plain ASGI middleware, not Starlette's ``BaseHTTPMiddleware``: that one runs the
    app in a separate task and streams the response through a memory channel, which
    costs more than a whole verify's Python overhead under load. Here the response
    passes straight through; only its start message is amended."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        max_body: int,
        runtime: Runtime,
        direct: dict[tuple[str, str], tuple[ASGIApp, object]] | None = None,
    ) -> None:
        self.app = app
        self.max_body = max_body
        self.runtime = runtime
        self.direct = direct or {}
        """(method, path) → (ASGI app, its route): endpoints served without the app's
        routing and middleware layers (``routes.verify_direct``)."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        request = Request(scope)
        rid = request.headers.get("x-request-id", "")
        request_id = rid if rid.isascii() and 0 < len(rid) <= 64 else secrets.token_hex(8)
        request.state.request_id = request_id
        status = 500
        started = False

        async def send_wrapped(message: Message) -> None:
            nonlocal status, started
            if message["type"] == "http.response.start":
                started = True
                status = message["status"]
                headers = MutableHeaders(scope=message)
                headers["X-Request-Id"] = request_id
                headers["X-Content-Type-Options"] = "nosniff"
                headers.setdefault("Cache-Control", "no-store")
            await send(message)

        length = request.headers.get("content-length")
        if length is not None and (
            not (length.isascii() and length.isdigit())
            or len(length) > 18  # int() of thousands of digits refuses, and it is too large
            or int(length) > self.max_body
        ):
            await problems.from_error(ElicenseError("request.too_large"))(
                scope, receive, send_wrapped
            )
        else:
            app = self.app
            direct = self.direct.get((scope["method"], scope["path"])) if self.direct else None
            if direct is not None:
                app, scope["route"] = direct
            if length is None:  # chunked (or no body): counted as it arrives
                receive = _capped(receive, self.max_body)
            try:
                await app(scope, receive, send_wrapped)
            except _TooLarge:
                if started:
                    raise
                await problems.from_error(ElicenseError("request.too_large"))(
                    scope, receive, send_wrapped
                )
            except Exception as exc:  # the last line of defence: never a 500
                if started:  # too late for a problem response: the client sees a cut
                    raise
                await (await problems.unexpected(request, exc))(scope, receive, send_wrapped)
        route = getattr(scope.get("route"), "path", "unmatched")
        elapsed = time.perf_counter() - start
        rt = self.runtime
        rt.metrics.requests.labels(route, scope["method"], str(status)).inc()
        rt.metrics.latency.labels(route).observe(elapsed)
        if access_log.isEnabledFor(logging.INFO):
            access_log.info(
                "request",
                extra={
                    "fields": {
                        "request_id": request_id,
                        "method": scope["method"],
                        "route": route,
                        "status": status,
                        "ms": round(elapsed * 1000, 2),
                    }
                },
            )


class _TooLarge(StarletteHTTPException):
    """A body without Content-Length grew past the limit. An HTTP 413 exception: FastAPI
    passes those on from its body reading (anything else it reports as a parse error) to
    the app's handler, which answers ``request.too_large``; on the paths FastAPI does not
    wrap, ``Envelope`` answers it."""

    def __init__(self) -> None:
        super().__init__(status_code=413)


def _capped(receive: Receive, limit: int) -> Receive:
    """``receive``, refusing a body once more than ``limit`` bytes of it have arrived: a
    chunked upload cannot get past the limit by not announcing its length."""
    received = 0

    async def capped() -> Message:
        nonlocal received
        message = await receive()
        if message["type"] == "http.request":
            received += len(message.get("body", b""))
            if received > limit:
                raise _TooLarge
        return message

    return capped


class _Service(FastAPI):
    """The app, with ``Envelope``'s direct endpoints (``POST /v1/verify``) taken at the
    door: before FastAPI's own outer layers (its telemetry and body-limit middlewares,
    the server-error middleware, Starlette's dispatch), which a scan does not use —
    ``Envelope`` caps the body, answers every failure with a problem response and logs
    the request itself. Every other request goes through the whole app as before."""

    front: Envelope | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        front = self.front
        if (
            front is not None
            and scope["type"] == "http"
            and (scope["method"], scope["path"]) in front.direct
        ):
            scope["app"] = self  # what Starlette sets, and ``Request.app`` reads
            await front(scope, receive, send)
            return
        await super().__call__(scope, receive, send)


def create_app(settings: Settings | None = None, *, runtime: Runtime | None = None) -> FastAPI:
    """Build the service. Tests pass a ``runtime`` (with their clock); ``serve`` builds one
    from the platform home named by the settings."""
    settings = settings or Settings()
    if runtime is None:
        from elicense_service.bootstrap import runtime_from_settings  # noqa: PLC0415

        runtime = runtime_from_settings(settings)
    runtime.limiter = RateLimiter(settings.rate_limit_per_minute)
    runtime.checkpoint_every = settings.checkpoint_every
    runtime.credentials.ttl = settings.lookup_cache_seconds
    runtime.platform.relying_party_cache.ttl = settings.lookup_cache_seconds
    runtime.verify_threads = settings.verify_threads

    @asynccontextmanager
    async def serving(_app: FastAPI) -> AsyncIterator[None]:
        # Started by the server, not by building the app (tests and the OpenAPI export
        # build apps that never serve): SQLite's checkpoints leave the scans' commits.
        runtime.platform.storage.checkpoint_in_background()
        configure_logging(settings.log_level)
        # What the worker built to serve (the app, the catalog, the libraries' modules:
        # some 130,000 objects) lives as long as it does: out of the collector's sight,
        # a full collection while serving takes 0.5 ms instead of 66 ms, a pause every
        # request queued behind it would wait out.
        gc.collect()
        gc.freeze()
        try:
            yield
        finally:
            gc.unfreeze()

    app = _Service(
        lifespan=serving,
        # FastAPI's own OpenTelemetry spans, metrics and logs stay off: its logs record
        # exception messages and stack traces, which may quote request data; the
        # service keeps its own metrics (/metrics) and JSON logs without personal data.
        telemetry={"tracing": False, "metrics": False, "logs": False},
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
    direct: dict[tuple[str, str], tuple[ASGIApp, object]] = {}
    if settings.cors_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=settings.cors_origins,
            allow_methods=["GET", "POST", "DELETE"],
            allow_headers=["Authorization", "Content-Type", "X-Api-Key"],
        )
    else:  # with CORS on, every request goes through CORSMiddleware
        verify_route = next(
            r for r in router.routes if isinstance(r, APIRoute) and r.path == "/v1/verify"
        )
        direct[("POST", "/v1/verify")] = (verify_direct, verify_route)
    # Inside the app for every routed request; the direct ones are taken at the door.
    app.add_middleware(Envelope, max_body=settings.max_body_bytes, runtime=runtime)
    if direct:
        app.front = Envelope(app, max_body=settings.max_body_bytes, runtime=runtime, direct=direct)
    return app
