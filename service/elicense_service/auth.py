"""Authentication: relying parties and issuers by API key, holders by session.

Every failure is the same ``auth.invalid``: a caller learns nothing about which keys or
holders exist. Authorisation (is this object yours?) is checked in the routes against
the authenticated owner, never against ids in the request body alone.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request, Security
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer

from elicense.credentials import check_api_key, parse_api_key
from elicense.errors import ElicenseError
from elicense.sessions import verify_holder_session
from elicense_service.runtime import Runtime


async def runtime(request: Request) -> Runtime:
    """Async on purpose: a plain attribute read must not cost a threadpool hop."""
    rt: Runtime = request.app.state.runtime
    return rt


RuntimeDep = Annotated[Runtime, Depends(runtime)]


_bearer_scheme = HTTPBearer(auto_error=False, description="API key (`elk_…`) or holder session")
_api_key_scheme = APIKeyHeader(name="X-Api-Key", auto_error=False, description="API key (`elk_…`)")
BearerDep = Annotated[HTTPAuthorizationCredentials | None, Security(_bearer_scheme)]
ApiKeyDep = Annotated[str | None, Security(_api_key_scheme)]


def token(bearer: HTTPAuthorizationCredentials | None, api_key: str | None) -> str:
    """The presented key: ``X-Api-Key`` first, else the bearer token."""
    if api_key:
        return api_key
    if bearer is not None and bearer.credentials:
        return bearer.credentials
    raise ElicenseError("auth.invalid")


def _api_key_owner(rt: Runtime, presented: str, kind: str) -> str:
    key_id, secret = parse_api_key(presented)
    record = rt.credentials.get(key_id, rt.clock(), rt.platform.storage.credentials.get)
    return check_api_key(record, secret, owner_kind=kind)


def authenticate_rp(rt: Runtime, presented: str) -> str:
    """The relying party behind an API key, within its rate limit (blocking: a database
    read unless the credential is cached)."""
    rp_id = _api_key_owner(rt, presented, "rp")
    if not rt.limiter.allow(rp_id, rt.clock()):
        raise ElicenseError("request.rate_limited")
    return rp_id


def relying_party(rt: RuntimeDep, bearer: BearerDep, api_key: ApiKeyDep) -> str:
    return authenticate_rp(rt, token(bearer, api_key))


def issuer(rt: RuntimeDep, bearer: BearerDep, api_key: ApiKeyDep) -> str:
    return _api_key_owner(rt, token(bearer, api_key), "issuer")


def holder(rt: RuntimeDep, bearer: BearerDep) -> str:
    p = rt.platform
    return verify_holder_session(
        token(bearer, None), p.trust, platform=p.platform_id, now=rt.clock()
    )


RelyingParty = Annotated[str, Depends(relying_party)]
Issuer = Annotated[str, Depends(issuer)]
Holder = Annotated[str, Depends(holder)]
