"""Operations endpoints and the front-desk page: health, readiness, metrics, /desk."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.responses import HTMLResponse, PlainTextResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from elicense.errors import ElicenseError
from elicense_service import problems
from elicense_service.runtime import Runtime

STATIC = Path(__file__).parent / "static"
ops_router = APIRouter()


@ops_router.get("/healthz", tags=["ops"])
def healthz() -> dict[str, str]:
    return {"status": "ok"}


@ops_router.get("/readyz", tags=["ops"], responses={503: problems.PROBLEM_RESPONSE})
def readyz(request: Request) -> dict[str, Any]:
    """Database reachable, keys loaded, our trust list fresh."""
    rt: Runtime = request.app.state.runtime
    p = rt.platform
    p.storage.ping()
    tl = p.trust.trust_list(p.region)
    if rt.clock() > tl.next_update:
        raise ElicenseError("trust.stale")
    return {
        "status": "ready",
        "region": p.region,
        "trust_list_version": tl.version,
        "issuer_keys": len(p.issuer_signers),
    }


@ops_router.get("/metrics", tags=["ops"], response_class=PlainTextResponse)
def metrics(request: Request) -> Response:
    rt: Runtime = request.app.state.runtime
    return Response(generate_latest(rt.metrics.registry), media_type=CONTENT_TYPE_LATEST)


@ops_router.get("/desk", response_class=HTMLResponse, include_in_schema=False)
def desk() -> HTMLResponse:
    return HTMLResponse(
        (STATIC / "desk.html").read_text(encoding="utf-8"),
        headers={
            "Cache-Control": "no-store",
            "Content-Security-Policy": "default-src 'self'; "
            "img-src 'self' data:; style-src 'self'; script-src 'self'",
        },
    )


@ops_router.get("/desk/{name}", include_in_schema=False)
def desk_asset(name: str) -> Response:
    types = {"desk.js": "text/javascript", "desk.css": "text/css"}
    if name not in types:
        raise ElicenseError("request.not_found")
    return Response(
        (STATIC / name).read_text(encoding="utf-8"),
        media_type=types[name],
        headers={"Cache-Control": "no-cache"},
    )
