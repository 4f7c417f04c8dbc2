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


def runtime(request: Request) -> Runtime:
    rt: Runtime = request.app.state.runtime
    return rt


RuntimeDep = Annotated[Runtime, Depends(runtime)]


_bearer_scheme = HTTPBearer(auto_error=False, description="API key (`elk_…`) or holder session")
_api_key_scheme = APIKeyHeader(name="X-Api-Key", auto_error=False, description="API key (`elk_…`)")
BearerDep = Annotated[HTTPAuthorizationCredentials | None, Security(_bearer_scheme)]
ApiKeyDep = Annotated[str | None, Security(_api_key_scheme)]


def _token(bearer: HTTPAuthorizationCredentials | None, api_key: str | None) -> str:
    if api_key:
        return api_key
    if bearer is not None and bearer.credentials:
        return bearer.credentials
    raise ElicenseError("auth.invalid")


def _api_key_owner(rt: Runtime, token: str, kind: str) -> str:
    key_id, secret = parse_api_key(token)
    return check_api_key(rt.platform.storage.credentials.get(key_id), secret, owner_kind=kind)


def relying_party(rt: RuntimeDep, bearer: BearerDep, api_key: ApiKeyDep) -> str:
    rp_id = _api_key_owner(rt, _token(bearer, api_key), "rp")
    if not rt.limiter.allow(rp_id, rt.clock()):
        raise ElicenseError("request.rate_limited")
    return rp_id


def issuer(rt: RuntimeDep, bearer: BearerDep, api_key: ApiKeyDep) -> str:
    return _api_key_owner(rt, _token(bearer, api_key), "issuer")


def holder(rt: RuntimeDep, bearer: BearerDep) -> str:
    p = rt.platform
    return verify_holder_session(
        _token(bearer, None), p.trust, platform=p.platform_id, now=rt.clock()
    )


RelyingParty = Annotated[str, Depends(relying_party)]
Issuer = Annotated[str, Depends(issuer)]
Holder = Annotated[str, Depends(holder)]
