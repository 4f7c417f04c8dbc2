"""The HTTP API (``/v1``). Routes translate HTTP to ``Platform`` calls and nothing else."""

from __future__ import annotations

import base64
import datetime as dt
from typing import Annotated, Any

import anyio.to_thread
from fastapi import APIRouter, Path, Query, Request, Response
from fastapi.exceptions import RequestValidationError
from pydantic import ValidationError
from starlette.types import Receive, Scope, Send

from elicense import qr
from elicense.claims import local_date
from elicense.errors import ElicenseError
from elicense.platform import ScanToSettle
from elicense.records import AccessRecord, ConsentRecord, LicenseRecord
from elicense.statuslist import Action, Status
from elicense_service import problems
from elicense_service.auth import (
    Holder,
    Issuer,
    RuntimeDep,
    authenticate_rp,
    token,
)
from elicense_service.models import (
    AccessLogOut,
    AccessRecordOut,
    CodeRequest,
    ConsentOut,
    ConsentRequest,
    DisclosedLicenseOut,
    GrantOut,
    IssuedOut,
    LicenseOut,
    LicenseRequest,
    PresentationRequest,
    QrOut,
    StatusChange,
    VerifyRequest,
    VerifyResponse,
)
from elicense_service.problems import PROBLEM_RESPONSE
from elicense_service.runtime import Runtime

router = APIRouter(prefix="/v1")
LicenseId = Annotated[str, Path(max_length=200)]
PROBLEM = PROBLEM_RESPONSE
ERRORS: dict[int | str, dict[str, Any]] = dict.fromkeys(
    (401, 403, 404, 409, 413, 422, 429, 503), PROBLEM
)


_VERIFY_BODY = {
    "required": True,
    "content": {"application/json": {"schema": VerifyRequest.model_json_schema()}},
}
_VERIFY_SECURITY: list[dict[str, list[str]]] = [{"HTTPBearer": []}, {"APIKeyHeader": []}]


@router.post(
    "/verify",
    response_model=VerifyResponse,
    responses=ERRORS,
    tags=["relying party"],
    openapi_extra={"requestBody": _VERIFY_BODY, "security": _VERIFY_SECURITY},
)
async def verify(request: Request) -> Response:
    """Verify a scanned code for one of the relying party's scenarios.

    The access record is committed before the response is built; refusals are recorded too
    and carry ``record_id``. The caller is authenticated before the body is even looked
    at (401 comes before 422). Authentication, the body's validation, the verify and the
    response are one blocking call, on the event loop or on one of the worker's verify
    threads (``Settings.verify_threads``), with no dependency or body machinery of
    FastAPI's on the way (the body and security are declared for the OpenAPI document
    above and checked here)."""
    rt: Runtime = request.app.state.runtime
    presented = _presented(request)
    body = await request.body()
    request_id: str = request.state.request_id
    content_type = request.headers.get("content-type")
    if rt.verify_threads == 0:  # on the event loop itself (see Settings.verify_threads)
        req, scan = _begin_verify(rt, presented, body, content_type, request_id)
        try:
            stored: AccessRecord | None = await rt.settler().settle(scan.settlement, scan.now)
        except Exception:  # an ElicenseError from storage too: the audit is what failed
            stored = None
        return _end_verify(rt, req, scan, stored)
    return await anyio.to_thread.run_sync(
        _verify, rt, presented, body, content_type, request_id, limiter=rt.verify_limiter()
    )


async def verify_direct(scope: Scope, receive: Receive, send: Send) -> None:
    """``POST /v1/verify`` as a plain ASGI app, for ``Envelope`` to call without
    FastAPI's layers in between (router, exception and body-limit middlewares, the
    endpoint wrapper): together they cost as much CPU as a scan's own checks. The same
    ``verify`` runs, and its failures get the same problem responses the app's
    exception handlers give; anything else propagates to ``Envelope`` as it would."""
    request = Request(scope, receive)
    response: Response
    try:
        response = await verify(request)
    except ElicenseError as exc:
        response = await problems.elicense_error(request, exc)
    except RequestValidationError as exc:
        response = await problems.validation_error(request, exc)
    await response(scope, receive, send)


def _presented(request: Request) -> str:
    """The API key, as ``auth.token`` takes it from the declared security schemes:
    ``X-Api-Key`` first, else an ``Authorization: Bearer`` token."""
    api_key = request.headers.get("x-api-key")
    scheme, _, credentials = request.headers.get("authorization", "").partition(" ")
    bearer = credentials.strip() if scheme.lower() == "bearer" else ""
    return token(None, api_key or bearer or None)


def _verify_request(body: bytes, content_type: str | None) -> VerifyRequest:
    """The body as FastAPI would validate it: JSON (by content type, when one is given)
    into the strict model; failures are the same ``request.invalid`` with field names."""
    if content_type is not None and not _is_json(content_type):
        raise RequestValidationError([{"type": "model_attributes_type", "loc": ("body",)}])
    try:
        return VerifyRequest.model_validate_json(body)
    except ValidationError as exc:
        errors = [{**e, "loc": ("body", *e["loc"])} for e in exc.errors(include_input=False)]
        raise RequestValidationError(errors) from None


def _is_json(content_type: str) -> bool:
    media = content_type.partition(";")[0].strip().lower()
    main, _, sub = media.partition("/")
    return main == "application" and (sub == "json" or sub.endswith("+json"))


def _verify(
    rt: Runtime, presented: str, body: bytes, content_type: str | None, request_id: str
) -> Response:
    """The scan as one blocking call (on a verify thread)."""
    req, scan = _begin_verify(rt, presented, body, content_type, request_id)
    return _end_verify(rt, req, scan, rt.platform.settle_now(scan))


def _begin_verify(
    rt: Runtime, presented: str, body: bytes, content_type: str | None, request_id: str
) -> tuple[VerifyRequest, ScanToSettle]:
    rp = authenticate_rp(rt, presented)
    req = _verify_request(body, content_type)
    try:
        scan = rt.platform.begin_verify(
            req.text,
            rp_id=rp,
            scenario_id=req.scenario,
            now=rt.clock(),
            request_id=request_id,
            rand=rt.rand,
        )
    except ElicenseError as exc:
        _count_refusal(rt, req, exc)
        raise
    return req, scan


def _end_verify(
    rt: Runtime, req: VerifyRequest, scan: ScanToSettle, stored: AccessRecord | None
) -> Response:
    p = rt.platform
    try:
        out = p.end_verify(scan, stored)
    except ElicenseError as exc:
        _count_refusal(rt, req, exc)
        raise
    rt.after_record(out.seq)
    rt.metrics.verifications.labels(out.scenario, "accepted", "").inc()
    answer = VerifyResponse(
        record_id=out.record_id,
        scenario=out.scenario,
        basis=out.basis,
        consent_id=out.consent_id,
        licenses=[
            DisclosedLicenseOut(
                license_id=d.license_id,
                type=d.type_code,
                type_name=p.catalog.get(d.type_code).name_zh,
                valid=d.valid,
                fields=d.fields,
                masked=sorted(d.masked),
            )
            for d in out.licenses
        ],
    )
    return Response(answer.model_dump_json(), media_type="application/json")


def _count_refusal(rt: Runtime, req: VerifyRequest, exc: ElicenseError) -> None:
    seq = exc.details.pop("record_seq", None)  # internal: not for the client
    if isinstance(seq, int):
        rt.after_record(seq)  # refusals are records too: they count toward sealing
    # A label is a known scenario id, never client text (bounded, no personal data).
    scenario = req.scenario if req.scenario in rt.platform.scenarios else "unknown"
    rt.metrics.verifications.labels(scenario, "refused", exc.code).inc()


def _qr(text: str) -> QrOut:
    info = qr.info(text)
    return QrOut(
        text=text,
        qr_version=info.version,
        qr_modules=info.modules,
        png_base64=base64.b64encode(qr.png(text)).decode(),
        svg=qr.svg(text).decode(),
    )


@router.post("/codes", response_model=QrOut, responses=ERRORS, tags=["holder"])
def codes(body: CodeRequest, holder: Holder, rt: RuntimeDep) -> QrOut:
    """A fresh resident or enterprise code (居民码/企业码) for the signed-in holder."""
    text = rt.platform.code_for(
        holder,
        scenarios=body.scenarios,
        now=rt.clock(),
        rand=rt.rand,
        audience=body.audience,
        lifetime=body.lifetime,
    )
    return _qr(text)


@router.post("/presentations", response_model=QrOut, responses=ERRORS, tags=["holder"])
def presentations(body: PresentationRequest, holder: Holder, rt: RuntimeDep) -> QrOut:
    """An offline presentation (亮证) of one scenario's fields, already masked."""
    text = rt.platform.presentation_for(
        holder, scenario_id=body.scenario, audience=body.audience, now=rt.clock(), rand=rt.rand
    )
    return _qr(text)


def _license_out(rec: LicenseRecord) -> dict[str, Any]:
    return {
        "license_id": rec.license_id,
        "type": rec.type_code,
        "issuer": rec.issuer_id,
        "state": Status(rec.state).name.lower(),
        "issued_at": rec.issued_at,
        "valid_from": rec.valid_from,
        "valid_until": rec.valid_until,
        "status_list": rec.status_list_id,
        "status_idx": rec.status_idx,
    }


def _date(text: str | None) -> dt.date | None:
    if text is None:
        return None
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise ElicenseError("request.invalid") from None


@router.post(
    "/licenses", response_model=IssuedOut, status_code=201, responses=ERRORS, tags=["issuer"]
)
def issue(body: LicenseRequest, issuer: Issuer, rt: RuntimeDep) -> IssuedOut:
    """Sign and store a license in the issuer's name (its key is held by the platform)."""
    p = rt.platform
    now = rt.clock()
    t = p.catalog.get(body.type)
    start = _date(body.valid_from) or local_date(now)  # China's date, not the server's
    rec = p.issue(
        issuer_id=issuer,
        license_type=t,
        holder=body.holder,
        fields=body.fields,
        serial=body.serial,
        valid_from=start,
        valid_until=_date(body.valid_until),
        now=now,
        rand=rt.rand,
    )
    return IssuedOut(**_license_out(rec), sd_jwt=rec.sd_jwt)


def _own_license(rt: RuntimeDep, license_id: str, issuer: str) -> LicenseRecord:
    rec = rt.platform.storage.licenses.get(license_id)
    if rec is None or rec.issuer_id != issuer:
        raise ElicenseError("request.not_found")  # another issuer's license: not even "exists"
    return rec


@router.get("/licenses/{license_id}", response_model=LicenseOut, responses=ERRORS, tags=["issuer"])
def get_license(license_id: LicenseId, issuer: Issuer, rt: RuntimeDep) -> LicenseOut:
    return LicenseOut(**_license_out(_own_license(rt, license_id, issuer)))


def _change(
    rt: RuntimeDep, license_id: str, issuer: str, action: Action, reason: str
) -> LicenseOut:
    _own_license(rt, license_id, issuer)
    rec = rt.platform.change_status(license_id, action, reason=reason, actor=issuer, now=rt.clock())
    return LicenseOut(**_license_out(rec))


@router.post(
    "/licenses/{license_id}/revoke", response_model=LicenseOut, responses=ERRORS, tags=["issuer"]
)
def revoke(license_id: LicenseId, body: StatusChange, issuer: Issuer, rt: RuntimeDep) -> LicenseOut:
    return _change(rt, license_id, issuer, Action.REVOKE, body.reason)


@router.post(
    "/licenses/{license_id}/suspend", response_model=LicenseOut, responses=ERRORS, tags=["issuer"]
)
def suspend(
    license_id: LicenseId, body: StatusChange, issuer: Issuer, rt: RuntimeDep
) -> LicenseOut:
    return _change(rt, license_id, issuer, Action.SUSPEND, body.reason)


@router.post(
    "/licenses/{license_id}/reinstate", response_model=LicenseOut, responses=ERRORS, tags=["issuer"]
)
def reinstate(
    license_id: LicenseId, body: StatusChange, issuer: Issuer, rt: RuntimeDep
) -> LicenseOut:
    return _change(rt, license_id, issuer, Action.REINSTATE, body.reason)


def _consent_out(c: ConsentRecord) -> ConsentOut:
    return ConsentOut(
        id=c.id,
        rp_id=c.rp_id,
        scenario=c.scenario_id,
        fields=list(c.fields),
        purpose=c.purpose,
        created_at=c.created_at,
        valid_until=c.valid_until,
        max_uses=c.max_uses,
        uses=c.uses,
        revoked_at=c.revoked_at,
    )


@router.post(
    "/consents", response_model=GrantOut, status_code=201, responses=ERRORS, tags=["holder"]
)
def grant(body: ConsentRequest, holder: Holder, rt: RuntimeDep) -> GrantOut:
    """A standing grant (用证授权) with its signed receipt."""
    now = rt.clock()
    c, receipt = rt.platform.grant(
        holder=holder,
        rp_id=body.rp_id,
        scenario_id=body.scenario,
        fields=body.fields,
        purpose=body.purpose,
        valid_until=now + body.valid_days * 86400,
        max_uses=body.max_uses,
        now=now,
        rand=rt.rand,
    )
    return GrantOut(consent=_consent_out(c), receipt=receipt)


@router.get("/consents", response_model=list[ConsentOut], responses=ERRORS, tags=["holder"])
def consents(holder: Holder, rt: RuntimeDep) -> list[ConsentOut]:
    return [_consent_out(c) for c in rt.platform.storage.consents.for_holder(holder)]


@router.delete("/consents/{consent_id}", status_code=204, responses=ERRORS, tags=["holder"])
def revoke_consent(
    consent_id: Annotated[str, Path(max_length=64)], holder: Holder, rt: RuntimeDep
) -> Response:
    """Revoke a grant; effective for the very next request."""
    try:
        rt.platform.revoke_consent(holder, consent_id, rt.clock())
    except ElicenseError as exc:
        if exc.code == "storage.not_found":
            raise ElicenseError("request.not_found") from None
        raise
    return Response(status_code=204)


@router.get("/me/access-log", response_model=AccessLogOut, responses=ERRORS, tags=["holder"])
def access_log(
    holder: Holder,
    rt: RuntimeDep,
    after: Annotated[str | None, Query(max_length=64)] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> AccessLogOut:
    """Every look at the holder's licenses (用证记录), accepted or refused."""
    page = rt.platform.storage.access_log.for_holder(holder, after=after, limit=limit)
    items = [
        AccessRecordOut(
            id=r.id,
            at=r.at,
            rp_id=r.rp_id,
            scenario=r.scenario_id,
            licenses=list(r.license_ids),
            fields=list(r.field_names),
            decision=r.decision,
            code=r.code,
        )
        for r in page.items
    ]
    return AccessLogOut(items=items, after=page.after)


# --- public, cacheable ----------------------------------------------------------------


@router.get("/catalog", tags=["public"])
def catalog(rt: RuntimeDep, response: Response) -> list[dict[str, Any]]:
    response.headers["Cache-Control"] = "public, max-age=3600"
    return [t.to_dict() for t in rt.platform.catalog]


@router.get("/scenarios", tags=["public"])
def scenarios(rt: RuntimeDep, response: Response) -> list[dict[str, Any]]:
    response.headers["Cache-Control"] = "public, max-age=3600"
    return [s.to_dict() for s in rt.platform.scenarios]


@router.get(
    "/trust-list", tags=["public"], responses={200: {"content": {"application/trustlist+jwt": {}}}}
)
def trust_list(rt: RuntimeDep) -> Response:
    p = rt.platform
    return Response(
        p.trust.token(p.region),
        media_type="application/trustlist+jwt",
        headers={"Cache-Control": "public, max-age=300"},
    )


@router.get(
    "/status-lists/{list_id}",
    tags=["public"],
    responses={200: {"content": {"application/statuslist+jwt": {}}}, 404: PROBLEM},
)
def status_list(list_id: Annotated[int, Path(ge=1, le=2**31 - 1)], rt: RuntimeDep) -> Response:
    try:
        token = rt.platform.status_token(list_id, rt.clock())
    except ElicenseError as exc:
        if exc.code == "storage.not_found":
            raise ElicenseError("request.not_found") from None
        raise
    return Response(
        token,
        media_type="application/statuslist+jwt",
        headers={"Cache-Control": "public, max-age=60"},
    )
