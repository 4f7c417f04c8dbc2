"""用证授权: who may see which fields of whose licenses, and why.

Two legal bases. **Statute**: the scenario's regulation requires the data (a hotel's
police registration, a government matter); no consent is asked, the access is still
recorded and visible to the holder. **Consent**: either per code (the holder chose the
scenario when showing the code) or a standing grant (relying party × scenario × fields ×
purpose × validity ≤ 90 days × maximum uses), revocable at any time and effective
immediately. The holder receives a signed receipt for every grant.

Every refusal is decided before any license is looked at, so a refused request reveals
nothing, not even whether the holder has the license.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from elicense.errors import ElicenseError
from elicense.jose.jws import sign_compact
from elicense.jose.keys import Signer
from elicense.records import ConsentRecord, RelyingPartyRecord
from elicense.scenarios import VALID_FIELD, Basis, Scenario, Show
from elicense.sdjwt import Rand

MAX_PURPOSE = 200
MAX_DAYS = 90
RECEIPT_TYP = "consent-receipt+jwt"


def scenario_fields(scenario: Scenario) -> frozenset[str]:
    """Every field the scenario can show (across its license types)."""
    return frozenset(
        f.key for sl in scenario.licenses for f in sl.fields if f.show is not Show.OMITTED
    )


def check_relying_party(rp: RelyingPartyRecord | None, scenario: Scenario) -> RelyingPartyRecord:
    """Registered, active, allowed this scenario, and of a kind the scenario admits."""
    if rp is None or not rp.active:
        raise ElicenseError("auth.invalid")
    if scenario.id not in rp.scenarios or rp.kind not in {k.value for k in scenario.rp_kinds}:
        raise ElicenseError("scenario.not_allowed")
    return rp


def grant(
    *,
    holder: str,
    rp: RelyingPartyRecord,
    scenario: Scenario,
    fields: Sequence[str],
    purpose: str,
    valid_until: int,
    max_uses: int | None,
    now: int,
    rand: Rand,
) -> ConsentRecord:
    """A standing grant, validated: fields ⊆ the scenario's, purpose ≤ 200 characters,
    valid ≤ 90 days, the relying party allowed the scenario."""
    check_relying_party(rp, scenario)
    if scenario.basis is not Basis.CONSENT:
        raise ElicenseError("consent.not_needed")
    wanted = tuple(dict.fromkeys(fields)) or tuple(sorted(scenario_fields(scenario)))
    if not set(wanted) <= scenario_fields(scenario):
        raise ElicenseError("consent.bad_fields")
    text = purpose.strip()
    if not text or len(text) > MAX_PURPOSE:
        raise ElicenseError("consent.bad_purpose")
    if not now < valid_until <= now + MAX_DAYS * 86400:
        raise ElicenseError("consent.bad_validity")
    if max_uses is not None and max_uses < 1:
        raise ElicenseError("consent.bad_validity")
    return ConsentRecord(rand(16).hex(), holder, rp.id, scenario.id, wanted, text, now,
                         valid_until, max_uses)  # fmt: skip


def receipt(consent: ConsentRecord, *, signer: Signer, platform: str) -> str:
    """The holder's signed proof of what was granted, to whom, why and until when."""
    return sign_compact(
        {"typ": RECEIPT_TYP},
        {
            "iss": platform,
            "jti": consent.id,
            "sub": consent.holder_pseudonym,
            "rp": consent.rp_id,
            "scenario": consent.scenario_id,
            "fields": list(consent.fields),
            "purpose": consent.purpose,
            "iat": consent.created_at,
            "exp": consent.valid_until,
            "max_uses": consent.max_uses,
        },
        signer,
    )


def live_state(consent: ConsentRecord, now: int) -> str | None:
    """``None`` when usable now, else the refusal code."""
    if consent.revoked_at is not None:
        return "consent.revoked"
    if now >= consent.valid_until:
        return "consent.expired"
    if consent.max_uses is not None and consent.uses >= consent.max_uses:
        return "consent.exhausted"
    return None


@dataclass(frozen=True, slots=True)
class AccessBasis:
    """Why this access is lawful: statute, the code's consent, or a standing grant."""

    kind: str
    """``statute``, ``code`` or ``grant``."""
    consent_id: str | None
    fields: frozenset[str] | None
    """A grant may narrow the scenario's fields; ``None`` = the scenario's own set."""


def decide_basis(
    scenario: Scenario,
    *,
    code_scenarios: Sequence[int] | None,
    grants: Sequence[ConsentRecord],
    now: int,
) -> AccessBasis:
    """Statute, else the code's own consent, else the best live standing grant.

    When only unusable grants exist, the refusal names why (expired, exhausted, revoked),
    which tells the relying party nothing about licenses: grants are its own records.
    """
    if scenario.basis is Basis.STATUTE:
        return AccessBasis("statute", None, None)
    if code_scenarios is not None and scenario.number in code_scenarios:
        return AccessBasis("code", None, None)
    refusal = "consent.missing"
    for g in grants:
        if g.scenario_id != scenario.id:
            continue
        state = live_state(g, now)
        if state is None:
            return AccessBasis("grant", g.id, frozenset(g.fields) | {VALID_FIELD})
        refusal = state
    raise ElicenseError(refusal)
