"""The platform's use cases: what the service and the CLI call, over the storage ports.

A ``Platform`` is one region's license library: its signing keys, the trust store of
recognised regions, the catalog and scenarios, and a ``Storage``. Every method takes
``now`` (and randomness where needed) from its caller, so the service, the CLI and the
tests drive the same code with their own clocks.

The online verify (``verify_scan``) is the heart: code → relying party → legal basis →
licenses → disclosure → access record → data. The access record is committed before any
personal data is returned; if it cannot be written, nothing is returned. Refusals are
recorded too, with their code, and every refusal before the licenses are read looks the
same whether or not the holder has them.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from elicense import consent as consent_mod
from elicense.audit import sign_checkpoint
from elicense.catalog import Catalog, LicenseType
from elicense.claims import day_start, local_date
from elicense.codes import (
    Kind,
    VerifiedCode,
    check_code,
    claimed_holder,
    issue_code,
    pseudonym,
    replay_key,
)
from elicense.disclosure import DisclosedLicense, LicenseView, disclose
from elicense.errors import ElicenseError
from elicense.faces import validate_holder
from elicense.identifiers import HolderCodeType
from elicense.jose.b64 import b64d
from elicense.jose.keys import Signer
from elicense.licenses import StatusRef, VerifiedLicense, issue_license, verify_license
from elicense.ports import Pending, Storage
from elicense.presentations import issue_presentation
from elicense.records import (
    AccessRecord,
    ConsentRecord,
    HolderRecord,
    LicenseRecord,
    RelyingPartyRecord,
    Settlement,
    StatusEvent,
)
from elicense.scenarios import Scenario, ScenarioSet
from elicense.sdjwt import Rand
from elicense.statuslist import (
    Action,
    Status,
    StatusList,
    status_list_token,
    transition,
)
from elicense.trust import IssuerEntry, TrustStore
from elicense.ttlcache import TtlCache

STATUS_TTL = 300
STATUS_LIFETIME = 24 * 3600


@dataclass(frozen=True, slots=True)
class VerifyOutcome:
    """What a relying party gets back from a scan (all of it already recorded)."""

    record_id: str
    scenario: str
    licenses: tuple[DisclosedLicense, ...]
    basis: str
    consent_id: str | None
    seq: int = 0
    """The access record's position in the log (for sealing checkpoints)."""


@dataclass
class Platform:
    region: str
    platform_id: str
    signer: Signer
    pseudonym_key: bytes
    trust: TrustStore
    catalog: Catalog
    scenarios: ScenarioSet
    storage: Storage
    issuer_signers: Mapping[str, Signer] = field(default_factory=dict)
    relying_party_cache: TtlCache[RelyingPartyRecord] = field(default_factory=TtlCache, repr=False)
    """Relying parties read by ``verify_scan`` (ttl 0: read every time). A change to a
    relying party takes effect within the cache's ttl; the service documents its setting."""
    _verified: dict[bytes, VerifiedLicense] = field(default_factory=dict, repr=False)

    # --- holders and issuing ---------------------------------------------------------

    def holder(self, holder_type: str, holder_code: str, now: int) -> str:
        """Register (idempotently) and return the holder's pseudonym (hex).

        Always written, not only when ``holders.get`` finds nothing: a holder a large
        SQLite import has staged is found by ``get`` before it is in ``holders``, and a
        license stored now must refer to a row of ``holders`` (the upsert keeps the
        first sighting's time)."""
        pid = pseudonym(self.pseudonym_key, holder_type, holder_code).hex()
        self.storage.holders.upsert(HolderRecord(pid, holder_type, holder_code, now))
        return pid

    def check_pseudonym_key(self) -> None:
        """Refuse (``storage.conflict``) when the stored holders' pseudonyms were not made
        with this platform's key: every holder would then get a second pseudonym. One
        stored holder tells, since a key changes every pseudonym. A bulk import checks
        this before it starts, rather than find it in its last step (the merge of the
        holders it staged, ``SqlLicenses.bulk_load``) with its licenses stored."""
        h = self.storage.holders.one()
        if (
            h is not None
            and pseudonym(self.pseudonym_key, h.holder_type, h.holder_code).hex() != h.pseudonym
        ):
            raise ElicenseError(
                "storage.conflict",
                "the stored holders' pseudonyms were made with another pseudonym key",
            )

    def issuer_entry(self, issuer_id: str) -> IssuerEntry:
        entry = self.trust.trust_list(self.region).issuers.get(issuer_id)
        if entry is None:
            raise ElicenseError("trust.unknown_issuer")
        return entry

    def issue(
        self,
        *,
        issuer_id: str,
        license_type: LicenseType,
        holder: str,
        fields: Mapping[str, Any],
        serial: str,
        valid_from: dt.date,
        valid_until: dt.date | None,
        now: int,
        rand: Rand,
        alias: str | None = None,
    ) -> LicenseRecord:
        """Sign and store a license; its status index is allocated in the same transaction."""
        signer = self.issuer_signers.get(issuer_id)
        if signer is None:
            raise ElicenseError("trust.unknown_key")
        entry = self.issuer_entry(issuer_id)
        holder_type, holder_code = validate_holder(license_type, holder, today=local_date(now))
        pid = self.holder(holder_type, holder_code, now)

        def build(status_list_id: int, status_idx: int) -> LicenseRecord:
            uri = self._status_uri(status_list_id)
            lic = issue_license(
                license_type=license_type,
                issuer=entry,
                signer=signer,
                holder=holder_code,
                fields=fields,
                serial=serial,
                valid_from=valid_from,
                valid_until=valid_until,
                now=now,
                rand=rand,
                status=StatusRef(uri, status_idx),
            )
            return LicenseRecord(
                license_id=lic.license_id,
                type_code=license_type.code,
                issuer_id=issuer_id,
                serial=serial,
                version="001",
                holder_pseudonym=pid,
                status_list_id=status_list_id,
                status_idx=status_idx,
                issued_at=now,
                valid_from=day_start(valid_from),
                valid_until=day_start(valid_until + dt.timedelta(days=1)) if valid_until else None,
                sd_jwt=lic.sd_jwt,
                alias=alias,
            )

        return self.storage.licenses.issue(issuer_id, build)

    def _status_uri(self, list_id: int) -> str:
        lst = self.storage.status_lists.get(list_id)
        if lst is None:
            raise ElicenseError("storage.not_found")
        return lst.uri

    # --- status ----------------------------------------------------------------------

    def change_status(
        self, license_id: str, action: Action, *, reason: str, actor: str, now: int
    ) -> LicenseRecord:
        """Revoke / suspend / reinstate; only the license's issuer or the platform."""
        lic = self.storage.licenses.get(license_id)
        if lic is None:
            raise ElicenseError("storage.not_found")
        if actor not in (lic.issuer_id, self.platform_id):
            raise ElicenseError("status.not_owner")
        event = StatusEvent(license_id, action.value, reason, actor, now, lic.state, -1)
        updated = self.storage.licenses.change_status(
            event, lambda current: int(transition(Status(current), action))
        )
        self.publish_status_list(updated.status_list_id, now)
        return updated

    def publish_status_list(self, list_id: int, now: int) -> str:
        """Re-sign the list's current version (the platform signs every list it keeps)."""
        rec = self.storage.status_lists.get(list_id)
        if rec is None:
            raise ElicenseError("storage.not_found")
        sl = StatusList(rec.size, rec.bits, rec.data)
        token = status_list_token(
            sl,
            uri=rec.uri,
            issuer=self.platform_id,
            signer=self.signer,
            now=now,
            ttl=STATUS_TTL,
            lifetime=STATUS_LIFETIME,
        )
        self.storage.status_lists.set_token(list_id, rec.version, token)
        return token

    def status_token(self, list_id: int, now: int) -> str:
        """The current signed list, re-signed when stale or behind its data."""
        rec = self.storage.status_lists.get(list_id)
        if rec is None:
            raise ElicenseError("storage.not_found")
        if rec.token is None or now - _token_iat(rec.token) > STATUS_TTL // 2:
            return self.publish_status_list(list_id, now)
        return rec.token

    # --- what a holder shows ---------------------------------------------------------

    def code_for(
        self,
        holder_pseudonym: str,
        *,
        scenarios: Sequence[str],
        now: int,
        rand: Rand,
        audience: str | None = None,
        lifetime: int = 120,
    ) -> str:
        h = self.storage.holders.get(holder_pseudonym)
        if h is None:
            raise ElicenseError("storage.not_found")
        resident = h.holder_type == HolderCodeType.RESIDENT_ID
        kind = Kind.RESIDENT_CODE if resident else Kind.ENTERPRISE_CODE
        numbers = [self.scenarios.get(s).number for s in scenarios]
        return issue_code(
            kind=kind,
            signer=self.signer,
            region=self.region,
            sub=bytes.fromhex(holder_pseudonym),
            scenarios=numbers,
            now=now,
            rand=rand,
            audience=audience,
            lifetime=lifetime,
        )

    def presentation_for(
        self, holder_pseudonym: str, *, scenario_id: str, audience: str, now: int, rand: Rand
    ) -> str:
        scenario = self.scenarios.get(scenario_id)
        views = self._views(holder_pseudonym, scenario, now)
        return issue_presentation(
            signer=self.signer,
            region=self.region,
            sub=bytes.fromhex(holder_pseudonym),
            scenario=scenario,
            audience=audience,
            licenses=views,
            now=now,
            rand=rand,
        )

    # --- the online verify -----------------------------------------------------------

    def verify_scan(
        self, text: str, *, rp_id: str, scenario_id: str, now: int, request_id: str, rand: Rand
    ) -> VerifyOutcome:
        """Verify a scanned code for a relying party's scenario; record, then return.

        ``begin_verify``, the settlement committed (``AccessLog.settle``), then
        ``end_verify``: the one blocking call for callers that have nothing else to do
        while the settlement commits. A caller that has (the service's event loop) makes
        the same three steps with the commit in between sent and awaited
        (``AccessLog.settle_soon``)."""
        scan = self.begin_verify(
            text, rp_id=rp_id, scenario_id=scenario_id, now=now, request_id=request_id,
            rand=rand,
        )  # fmt: skip
        return self.end_verify(scan, self.settle_now(scan))

    def settle_now(self, scan: ScanToSettle) -> AccessRecord | None:
        """The scan's settlement committed (``AccessLog.settle``): its stored record, or
        None if it could not be (for ``end_verify``, which then fails closed)."""
        try:
            return self.storage.access_log.settle(scan.settlement, scan.now)
        except Exception:  # an ElicenseError from storage too: the audit is what failed
            return None

    def begin_verify(
        self, text: str, *, rp_id: str, scenario_id: str, now: int, request_id: str, rand: Rand
    ) -> ScanToSettle:
        """Everything of a scan that only reads: the relying party, the code's signature,
        the legal basis and the holder's licenses; then what one write must settle
        (``ScanToSettle.settlement``): the code's single use, a grant's use and the access
        record commit together, so a scan costs one write transaction and a code is never
        spent without its record. Refusals found before the code is authentic are
        recorded and raised here; the rest wait for the settlement, because a replayed
        code is refused as replayed whatever else is wrong with it, then the basis, then
        the grant's budget, then the licenses. No personal data leaves before
        ``end_verify``, which needs the committed record."""
        record_id = rand(16).hex()
        ahead: Pending[Sequence[LicenseRecord]] | None = None
        try:
            rp = self.relying_party_cache.get(rp_id, now, self.storage.relying_parties.get)
            scenario = self.scenarios.get(scenario_id)
            consent_mod.check_relying_party(rp, scenario)
            claimed = claimed_holder(text)
            if claimed is not None:  # read while the signature is checked (not yet used)
                ahead = self._read_ahead(claimed.hex(), scenario)
            code = check_code(text, self.trust, now=now, audience=rp_id)
        except ElicenseError as exc:
            if ahead is not None:
                ahead.discard()
            stored = self._record(
                record_id, now, rp_id, scenario_id, None, (), (), "refused", exc.code, None,
                request_id,
            )  # fmt: skip
            _on_record(exc, stored)
            raise
        holder = code.pseudonym.hex()  # authentic from here: refusals are the holder's to see
        pending: ElicenseError | None = None
        basis: consent_mod.AccessBasis | None = None
        disclosed: list[DisclosedLicense] = []
        try:
            if ahead is not None and claimed != code.pseudonym:  # pragma: no cover - same bytes
                ahead.discard()
                ahead = None
            records = ahead.result() if ahead is not None else None
            basis = self._basis(holder, rp_id, scenario, code.scenarios, now)
            disclosed = disclose(scenario, self._views(holder, scenario, now, records))
            if basis.fields is not None:
                disclosed = [_narrow(d, basis.fields) for d in disclosed]
        except ElicenseError as exc:
            pending = exc  # named only after the code is spent (a replay outranks it)
        scan = _Scan(record_id, now, rp_id, scenario_id, holder, request_id, basis, disclosed)
        return ScanToSettle(scan, scenario.id, pending, self._settlement(scan, code, pending))

    def end_verify(self, scan: ScanToSettle, stored: AccessRecord | None) -> VerifyOutcome:
        """The scan's outcome once its settlement is committed: ``stored`` is the record
        ``AccessLog.settle`` returned for ``scan.settlement``, or None if it failed. Then
        nothing is recorded, the code is not spent, and nothing leaves
        (``audit.unavailable``: fail closed). Otherwise returns the accepted scan's
        data, or raises the refusal, which is on the record too.

        Refusals keep their order: a replayed code outranks everything; then a pending
        refusal without a basis (no grant is touched); then a grant without a use left;
        then a pending license refusal (the grant's use is spent with it)."""
        own = scan.scan
        if stored is None or (stored.id, stored.request_id) != (own.record_id, own.rid):
            raise ElicenseError("audit.unavailable")  # no record of this scan: fail closed
        pending = scan.pending
        if stored.decision != "accepted":
            assert stored.code is not None  # noqa: S101 - every refusal record has its code
            if pending is not None and stored.code == pending.code:
                refusal = pending
            else:
                refusal = ElicenseError(stored.code)
            _on_record(refusal, stored)
            raise refusal
        basis = own.basis
        assert basis is not None  # noqa: S101 - an accepted settlement had its basis
        return VerifyOutcome(
            own.record_id,
            scan.scenario,
            tuple(own.disclosed),
            basis.kind,
            basis.consent_id,
            stored.seq,
        )

    def _read_ahead(
        self, holder: str, scenario: Scenario
    ) -> Pending[Sequence[LicenseRecord]] | None:
        """Start reading the holder's licenses of the scenario, or None if it cannot be
        started: a storage failure then meets the scan where it always did, when the
        licenses are read after the code's checks (and the scan is refused as before)."""
        try:
            return self.storage.licenses.for_holder_soon(holder, scenario.types)
        except ElicenseError:
            return None

    def _settlement(
        self, scan: _Scan, code: VerifiedCode, pending: ElicenseError | None
    ) -> Settlement:
        """The one write that settles a scan (``AccessLog.settle``): spend the code (and a
        grant's use) and write the record for the outcome the write finds."""
        namespace, value, until = replay_key(code.platform, code.jti, code.expires_at)
        basis = scan.basis
        if pending is not None:
            final = self._refusal(scan, pending.code)
        else:
            assert basis is not None  # noqa: S101 - no basis means a pending refusal
            final = AccessRecord(
                *scan.head,
                tuple(d.license_id for d in scan.disclosed),
                tuple(sorted({k for d in scan.disclosed for k in d.fields})),
                "accepted",
                None,
                basis.consent_id,
                scan.rid,
            )
        return Settlement(
            namespace,
            value,
            until,
            basis.consent_id if basis is not None else None,
            final,
            self._refusal(scan, "code.replayed"),
            self._refusal(scan, "consent.exhausted"),
        )

    @staticmethod
    def _refusal(scan: _Scan, code: str) -> AccessRecord:
        return AccessRecord(*scan.head, (), (), "refused", code, None, scan.rid)

    def _basis(
        self,
        holder: str,
        rp_id: str,
        scenario: Scenario,
        code_scenarios: Sequence[int],
        now: int,
    ) -> consent_mod.AccessBasis:
        """The legal basis; the holder's grants are read only when neither the statute nor
        the code itself covers the scenario."""
        try:
            return consent_mod.decide_basis(
                scenario, code_scenarios=code_scenarios, grants=(), now=now
            )
        except ElicenseError:
            pass  # needs a standing grant: read them
        grants = list(self.storage.consents.find_live(holder, rp_id, scenario.id, now))
        if not grants:  # nothing live: look at the rest only to name the refusal exactly
            grants = [
                c
                for c in self.storage.consents.for_holder(holder)
                if c.rp_id == rp_id and c.scenario_id == scenario.id
            ]
        return consent_mod.decide_basis(
            scenario, code_scenarios=code_scenarios, grants=grants, now=now
        )

    def _record(
        self,
        record_id: str,
        now: int,
        rp_id: str,
        scenario_id: str,
        holder: str | None,
        license_ids: tuple[str, ...],
        field_names: tuple[str, ...],
        decision: str,
        code: str | None,
        consent_id: str | None,
        request_id: str,
    ) -> AccessRecord:
        record = AccessRecord(
            record_id,
            now,
            rp_id,
            scenario_id,
            holder,
            license_ids,
            field_names,
            decision,
            code,
            consent_id,
            request_id,
        )
        try:
            return self.storage.access_log.append(record)
        except Exception:  # an ElicenseError from storage too: the audit is what failed
            raise ElicenseError("audit.unavailable") from None

    def _views(
        self,
        holder: str,
        scenario: Scenario,
        now: int,
        records: Sequence[LicenseRecord] | None = None,
    ) -> list[LicenseView]:
        """The holder's licenses of the scenario's types, verified, with their validity
        (``records``: the holder's licenses of those types, if already read)."""
        views: list[LicenseView] = []
        if records is None:
            records = self.storage.licenses.for_holder(holder, scenario.types)
        for rec in records:  # of the scenario's types only (``Licenses.for_holder``)
            try:
                v = self._verify_stored(rec, now)
            except ElicenseError:
                continue  # expired, revoked or no longer trusted: not shown as valid
            views.append(LicenseView.of(v))
        return views

    def _verify_stored(self, rec: LicenseRecord, now: int) -> VerifiedLicense:
        """Full verification of a stored license, the signature check cached per exact
        SD-JWT text and trust-list version; time and status are checked every time."""
        if rec.state != Status.VALID:
            raise ElicenseError(
                "license.revoked" if rec.state == Status.REVOKED else "license.suspended"
            )
        key = hashlib.sha256(
            rec.sd_jwt.encode() + str(self.trust.trust_list(self.region).version).encode()
        ).digest()
        v = self._verified.get(key)
        if v is None or (v.valid_until is not None and now >= v.valid_until):
            v = verify_license(rec.sd_jwt, self.trust, now=now)
            if len(self._verified) > 100_000:
                self._verified.clear()
            self._verified[key] = v
        if v.valid_from is not None and v.valid_from > now + 60:
            raise ElicenseError("license.not_yet_valid")
        return v

    # --- consent ---------------------------------------------------------------------

    def grant(
        self,
        *,
        holder: str,
        rp_id: str,
        scenario_id: str,
        fields: Sequence[str],
        purpose: str,
        valid_until: int,
        max_uses: int | None,
        now: int,
        rand: Rand,
    ) -> tuple[ConsentRecord, str]:
        rp = self.storage.relying_parties.get(rp_id)
        if rp is None:
            raise ElicenseError("storage.not_found")
        c = consent_mod.grant(
            holder=holder,
            rp=rp,
            scenario=self.scenarios.get(scenario_id),
            fields=fields,
            purpose=purpose,
            valid_until=valid_until,
            max_uses=max_uses,
            now=now,
            rand=rand,
        )
        self.storage.consents.put(c)
        return c, consent_mod.receipt(c, signer=self.signer, platform=self.platform_id)

    def revoke_consent(self, holder: str, consent_id: str, now: int) -> None:
        c = self.storage.consents.get(consent_id)
        if c is None or c.holder_pseudonym != holder:
            raise ElicenseError("storage.not_found")
        self.storage.consents.revoke(consent_id, now)

    def register_rp(self, rp: RelyingPartyRecord) -> None:
        for s in rp.scenarios:
            self.scenarios.get(s)
        self.storage.relying_parties.put(rp)

    # --- audit -----------------------------------------------------------------------

    def checkpoint(self, now: int) -> None:
        seq, head = self.storage.access_log.head()
        if seq:
            self.storage.access_log.add_checkpoint(
                sign_checkpoint(seq, head, now, self.signer, self.platform_id)
            )


@dataclass(frozen=True, slots=True)
class _Scan:
    """What ``verify_scan`` read and decided, for the write that settles it."""

    record_id: str
    now: int
    rp_id: str
    scenario_id: str
    holder: str
    rid: str
    """The request id."""
    basis: consent_mod.AccessBasis | None
    disclosed: list[DisclosedLicense]

    @property
    def head(self) -> tuple[str, int, str, str, str]:
        """The first fields of this scan's access record."""
        return (self.record_id, self.now, self.rp_id, self.scenario_id, self.holder)


@dataclass(frozen=True, slots=True)
class ScanToSettle:
    """A scan read and decided (``Platform.begin_verify``), waiting for its settlement to
    commit (``Platform.end_verify``). Holds the disclosed data: nothing of it leaves
    before the record is committed."""

    scan: _Scan
    scenario: str
    pending: ElicenseError | None
    """A refusal found before the settlement, named only once the code is spent."""
    settlement: Settlement

    @property
    def now(self) -> int:
        """The scan's time, which the settlement is committed at."""
        return self.scan.now


def _narrow(d: DisclosedLicense, allowed: frozenset[str]) -> DisclosedLicense:
    return DisclosedLicense(
        d.license_id,
        d.type_code,
        {k: v for k, v in d.fields.items() if k in allowed},
        d.valid,
        d.masked & allowed,
    )


def _token_iat(token: str) -> int:
    """``iat`` of a token this platform signed (read back from storage, no trust needed)."""
    try:
        iat = json.loads(b64d(token.split(".")[1])).get("iat")
    except (ValueError, IndexError, ElicenseError):
        return 0
    return iat if isinstance(iat, int) else 0


def _on_record(refusal: ElicenseError, stored: AccessRecord) -> None:
    """A refusal names its record (``record_id``, for the client) and carries its place in
    the log (``record_seq``, for the service's sealing; removed before it answers)."""
    refusal.details["record_id"] = stored.id
    refusal.details["record_seq"] = stored.seq
