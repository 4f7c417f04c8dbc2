"""Request and response bodies (they are the OpenAPI contract schemathesis checks)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

Strict = ConfigDict(extra="forbid")


class VerifyRequest(BaseModel):
    model_config = Strict
    text: str = Field(
        max_length=4096, description="What the scanner read (keyboard wedge or camera)."
    )
    scenario: str = Field(max_length=64, description="The scenario id, e.g. hotel_checkin.")


class DisclosedLicenseOut(BaseModel):
    license_id: str
    type: str
    type_name: str
    valid: bool | None
    fields: dict[str, str]
    masked: list[str]


class VerifyResponse(BaseModel):
    verdict: str = "accepted"
    record_id: str
    scenario: str
    basis: str
    consent_id: str | None
    licenses: list[DisclosedLicenseOut]


class CodeRequest(BaseModel):
    model_config = Strict
    scenarios: list[str] = Field(default_factory=list, max_length=16)
    audience: str | None = Field(default=None, max_length=64)
    lifetime: int = Field(default=120, ge=10, le=300)


class PresentationRequest(BaseModel):
    model_config = Strict
    scenario: str = Field(max_length=64)
    audience: str = Field(max_length=64)


class QrOut(BaseModel):
    text: str
    qr_version: int
    qr_modules: int
    png_base64: str
    svg: str


class LicenseRequest(BaseModel):
    model_config = Strict
    type: str = Field(max_length=21, min_length=21)
    holder: str = Field(max_length=18, min_length=15)
    fields: dict[str, str | int | float] = Field(max_length=64)
    serial: str = Field(max_length=64, min_length=1)
    valid_from: str | None = Field(default=None, max_length=10)
    valid_until: str | None = Field(default=None, max_length=10)


class LicenseOut(BaseModel):
    license_id: str
    type: str
    issuer: str
    state: str
    issued_at: int
    valid_from: int
    valid_until: int | None
    status_list: int
    status_idx: int


class IssuedOut(LicenseOut):
    sd_jwt: str


class StatusChange(BaseModel):
    model_config = Strict
    reason: str = Field(min_length=1, max_length=200)


class ConsentRequest(BaseModel):
    model_config = Strict
    rp_id: str = Field(max_length=64)
    scenario: str = Field(max_length=64)
    fields: list[str] = Field(default_factory=list, max_length=64)
    purpose: str = Field(min_length=1, max_length=200)
    valid_days: int = Field(ge=1, le=90)
    max_uses: int | None = Field(default=None, ge=1, le=100000)


class ConsentOut(BaseModel):
    id: str
    rp_id: str
    scenario: str
    fields: list[str]
    purpose: str
    created_at: int
    valid_until: int
    max_uses: int | None
    uses: int
    revoked_at: int | None


class GrantOut(BaseModel):
    consent: ConsentOut
    receipt: str


class AccessRecordOut(BaseModel):
    id: str
    at: int
    rp_id: str
    scenario: str
    licenses: list[str]
    fields: list[str]
    decision: str
    code: str | None


class AccessLogOut(BaseModel):
    items: list[AccessRecordOut]
    after: str | None
