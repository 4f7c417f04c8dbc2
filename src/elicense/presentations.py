"""亮证: offline presentations for one scenario, signed by the platform.

A presentation carries only the scenario's fields, already masked as the scenario says
(decided by ``disclosure.disclose``), the license identifiers and their status references,
and the relying party it is for. A verifier with cached trust and status lists checks it
with no network; its own replay store refuses a second use.

Wire format, after the common envelope (see ``codes``)::

    scenario u16 | audience text | n u8 | license × n | signature 64
    license = identifier (packed) | status uri text | status idx u32 |
              valid until u32 (0: long-term) | flags u8 (bit0: valid asserted) |
              m u8 | (key text, value text) × m
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from elicense.codes import (
    JTI_BYTES,
    MAX_PRESENTATION_LIFETIME,
    Envelope,
    Kind,
    consume_once,
    key_ref,
    open_text,
    read_envelope,
    seal,
    verify_envelope,
)
from elicense.compact import Reader, Writer, pack_alnum, unpack_alnum
from elicense.disclosure import DisclosedLicense, LicenseView, disclose
from elicense.errors import ElicenseError
from elicense.identifiers import ROOT_OID
from elicense.jose.keys import Signer
from elicense.replay import ReplayStore
from elicense.scenarios import Scenario
from elicense.sdjwt import Rand
from elicense.trust import TrustStore

DEFAULT_PRESENTATION_LIFETIME = 300
_ROOT = ROOT_OID + "."


@dataclass(frozen=True, slots=True)
class PresentedLicense:
    license_id: str
    type_code: str
    status_uri: str | None
    status_idx: int | None
    valid_until: int | None
    valid: bool | None
    fields: dict[str, str]


@dataclass(frozen=True, slots=True)
class VerifiedPresentation:
    region: str
    platform: str
    pseudonym: bytes
    scenario: int
    audience: str
    issued_at: int
    expires_at: int
    licenses: tuple[PresentedLicense, ...]


def issue_presentation(
    *,
    signer: Signer,
    region: str,
    sub: bytes,
    scenario: Scenario,
    audience: str,
    licenses: Sequence[LicenseView],
    now: int,
    rand: Rand,
    lifetime: int = DEFAULT_PRESENTATION_LIFETIME,
) -> str:
    if not 0 < lifetime <= MAX_PRESENTATION_LIFETIME:
        raise ElicenseError("code.bad_lifetime")
    views = {lv.license_id: lv for lv in licenses}
    disclosed: list[DisclosedLicense] = disclose(scenario, licenses)
    env = Envelope(Kind.PRESENTATION, region, key_ref(signer.kid), now, lifetime,
                   rand(JTI_BYTES), sub)  # fmt: skip
    w = env.write(Writer()).u16(scenario.number).text(audience).u8(len(disclosed))
    for d in disclosed:
        lv = views[d.license_id]
        if not d.license_id.startswith(_ROOT):
            raise ValueError("not a GB/T 36904 identifier")
        w.blob(pack_alnum(d.license_id[len(_ROOT) :]))
        w.text(lv.status_uri or "").u32(lv.status_idx or 0).u32(lv.valid_until or 0)
        w.u8(1 if d.valid else 0).u8(len(d.fields))
        for key, value in d.fields.items():
            w.text(key).text(value)
    return seal(Kind.PRESENTATION, w.bytes(), signer)


def verify_presentation(
    text: str,
    trust: TrustStore,
    *,
    now: int,
    audience: str,
    replay: ReplayStore,
) -> VerifiedPresentation:
    """Offline check: platform signature from the cached trust list, time, audience, one use.

    Status (revocation) is checked by the caller against its cached status lists, from the
    references returned here."""
    kind, body, sig = open_text(text)
    if kind is not Kind.PRESENTATION:
        raise ElicenseError("code.wrong_kind")
    r = Reader(body, "code.malformed")
    env = read_envelope(r)
    scenario = r.u16()
    aud = r.text()
    licenses: list[PresentedLicense] = []
    for _ in range(r.u8()):
        lid = _ROOT + unpack_alnum(r.blob(), "code.malformed")
        uri = r.text() or None
        idx = r.u32()
        until = r.u32() or None
        flags = r.u8()
        fields = {}
        for _ in range(r.u8()):
            key = r.text()
            if key in fields:
                raise ElicenseError("code.malformed", details={"reason": "duplicate field"})
            fields[key] = r.text()
        parts = lid.split(".")
        type_code = parts[5] if len(parts) == 10 else ""
        licenses.append(PresentedLicense(lid, type_code, uri, idx if uri else None, until,
                                         bool(flags & 1), fields))  # fmt: skip
    r.end()
    lookup = verify_envelope(env, body, sig, trust, now, max_lifetime=MAX_PRESENTATION_LIFETIME)
    if aud != audience:
        raise ElicenseError("code.wrong_audience")
    consume_once(replay, lookup.issuer.id, env.jti, env.exp, now)
    return VerifiedPresentation(env.region, lookup.issuer.id, env.sub, scenario, aud, env.iat,
                                env.exp, tuple(licenses))  # fmt: skip
