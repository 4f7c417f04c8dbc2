"""Storage ports: what the core and the use cases need from a database, and nothing more.

The SQLite and PostgreSQL adapters implement these on one schema (``elicense.storage``);
one contract test suite runs against both. Atomicity is part of each contract, not left to
callers: a code's ``jti`` is consumed by one statement, a consent use cannot be overspent,
issuing a license and allocating its status index happen in one transaction, an access
record is durable when ``append`` returns.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from contextlib import AbstractContextManager
from typing import Any, NamedTuple, Protocol, TypeVar

from elicense.records import (
    AccessRecord,
    Checkpoint,
    ConsentRecord,
    CredentialRecord,
    HolderRecord,
    IssuerRecord,
    KeyRecord,
    LicenseRecord,
    Page,
    RelyingPartyRecord,
    Settlement,
    StatusEvent,
    StatusListRecord,
)
from elicense.replay import ReplayStore


class Holders(Protocol):
    def upsert(self, holder: HolderRecord) -> None: ...
    def get(self, pseudonym: str) -> HolderRecord | None: ...
    def one(self) -> HolderRecord | None:
        """Any one stored holder (an import's staged ones included), or None: enough to
        tell whether the stored pseudonyms were made with the platform's key."""
        ...


class Issuers(Protocol):
    def upsert(self, issuer: IssuerRecord) -> None: ...
    def get(self, issuer_id: str) -> IssuerRecord | None: ...
    def list(self) -> Sequence[IssuerRecord]: ...


class Keys(Protocol):
    def put(self, key: KeyRecord) -> None: ...
    def get(self, kid: str) -> KeyRecord | None: ...
    def for_owner(self, owner_id: str) -> Sequence[KeyRecord]: ...


class NewLicense(Protocol):
    """Builds the license once its status entry is known (inside the transaction)."""

    def __call__(self, status_list_id: int, status_idx: int) -> LicenseRecord: ...


class StatusEntries(NamedTuple):
    """Consecutive status entries of one list, allocated to a run of one owner's licenses
    of a bulk issuance (counters in order; ``indexes`` are their permuted list indexes)."""

    list_id: int
    uri: str
    """The list's URI, which the licenses' ``status`` claims name."""
    indexes: list[int]


LicenseRow = tuple[Any, ...]
"""A license as a plain tuple of ``LicenseRecord``'s fields, in their order: what a bulk
import's signing processes send back, written as it is (no record built per row)."""
HolderRow = tuple[str, str, str, int]
"""A holder as a plain tuple of ``HolderRecord``'s fields, in their order."""
CarriedEntries = Mapping[tuple[int, int], str]
"""Status entries (list id, index) allocated in one ``issue_bulk`` transaction, with
their owners, for licenses the next one writes (``BulkWriter.carry``)."""


class BulkWriter(Protocol):
    """The inside of one ``issue_bulk`` transaction."""

    def allocate(self, runs: Sequence[tuple[str, int]]) -> list[StatusEntries]:
        """The next status entries for runs of (owner, count) licenses, in order: a run
        of one owner is one range of counters (two when its list fills up)."""
        ...

    def write(self, holders: Sequence[HolderRow], licenses: Sequence[LicenseRow]) -> list[int]:
        """Store the holders (if new) and the licenses, in order. A license whose
        (issuer, type, number) is stored already — by an earlier import, another writer,
        or an earlier license of this one — is skipped, not an error: returns the
        positions of the skipped licenses (their entries stay unused gaps)."""
        ...

    def carry(self, entries: Sequence[StatusEntries]) -> CarriedEntries:
        """Hand entries allocated here, not yet used, over to the next transaction
        (``issue_bulk(carried=...)``): they are committed with this one, so never handed
        out again, and the licenses that take them are written by the next one. An import
        allocates the next batch's first entries before it commits, so its signing
        processes keep working while the commit runs."""
        ...


_T = TypeVar("_T")
_T_co = TypeVar("_T_co", covariant=True)


class Pending(Protocol[_T_co]):
    """A read already started, collected later: exactly one of ``result`` and
    ``discard`` is called, before the same thread uses the storage again."""

    def result(self) -> _T_co: ...
    def discard(self) -> None: ...


class SettleInFlight(Pending[list[AccessRecord]], Protocol):
    """Settlements on their way (``AccessLog.settle_soon``), for an event loop to wait
    on: ``fileno`` is the socket to watch, ``ready`` says without blocking whether
    ``result`` would still wait. ``result`` is the stored records, in the order sent, or
    raises as ``settle`` does: then none was stored, unless the connection was lost after
    the server committed (they may then be stored, their codes spent, and nothing is
    returned)."""

    def fileno(self) -> int: ...
    def ready(self) -> bool: ...


class Licenses(Protocol):
    def issue(self, owner_id: str, build: NewLicense) -> LicenseRecord:
        """Allocate the next status entry of the owner's open list (creating a list when
        the current one is full) and store the license, in one transaction."""
        ...

    def issue_many(self, owner_id: str, builds: Sequence[NewLicense]) -> list[LicenseRecord]:
        """The same for a batch, in one transaction: all or nothing."""
        ...

    def issue_bulk(
        self,
        owners: Collection[str],
        build: Callable[[BulkWriter], _T],
        carried: CarriedEntries | None = None,
    ) -> _T:
        """Bulk issuance for imports, in one transaction: all or nothing.

        The open lists of ``owners`` are locked up front (in a fixed order, so two bulk
        transactions never deadlock). ``build(writer)`` may allocate entries for those
        owners any number of times and writes chunks of signed licenses as they are
        ready (signed in parallel elsewhere), so writing overlaps the signing of the rest.
        Every license must carry an entry allocated here (or ``carried`` over from the
        previous transaction) to its issuer, each entry at most once. An entry no license
        takes (a row refused while it was being signed, or a number found stored) stays
        unused: a gap in the list, never a second use. Returns what ``build`` returns."""
        ...

    def issuer_types_present(self, pairs: Iterable[tuple[str, str]]) -> set[tuple[str, str]]:
        """Which of these (issuer, type code) pairs have at least one license stored."""
        ...

    def numbers_present(self, numbers: Iterable[tuple[str, str, str]]) -> set[tuple[str, str, str]]:
        """Which of these (issuer, type code, serial) license numbers are stored."""
        ...

    def bulk_load(self, expected_rows: int) -> AbstractContextManager[bool]:
        """Around an import of about ``expected_rows`` licenses: whatever makes a large
        load cheaper for this store (it may do nothing); yields whether it did anything.
        Results are the same either way, including after a crash."""
        ...

    def get(self, license_id: str) -> LicenseRecord | None: ...
    def get_by_number(
        self, issuer_id: str, type_code: str, serial: str
    ) -> LicenseRecord | None: ...
    def for_holder(
        self, pseudonym: str, types: Collection[str] | None = None
    ) -> Sequence[LicenseRecord]:
        """The holder's licenses, oldest first; only those of ``types`` when given (a
        scan reads only its scenario's types: the holder's other licenses, and the
        personal data in them, never enter the verifier's process)."""
        ...

    def for_holder_soon(
        self, pseudonym: str, types: Collection[str] | None = None
    ) -> Pending[Sequence[LicenseRecord]]:
        """``for_holder`` started now, for a caller with work to do meanwhile (a scan
        verifies the code's signature while the holder's licenses are read)."""
        ...

    def page(self, *, issuer_id: str | None, after: str | None, limit: int) -> Page: ...
    def count(self) -> int: ...

    def change_status(self, event: StatusEvent, apply: Callable[[int], int]) -> LicenseRecord:
        """Apply a state change atomically: ``apply(current) -> new`` may raise to refuse;
        the license row, the status list entry (and its version) and the event are written
        together."""
        ...

    def events(self, license_id: str) -> Sequence[StatusEvent]: ...


class StatusLists(Protocol):
    def get(self, list_id: int) -> StatusListRecord | None: ...
    def for_owner(self, owner_id: str) -> Sequence[StatusListRecord]: ...
    def set_token(self, list_id: int, version: int, token: str) -> None:
        """Store a signed token for ``version`` (ignored if the list has moved on)."""
        ...


class RelyingParties(Protocol):
    def put(self, rp: RelyingPartyRecord) -> None: ...
    def get(self, rp_id: str) -> RelyingPartyRecord | None: ...
    def list(self) -> Sequence[RelyingPartyRecord]: ...


class Credentials(Protocol):
    def put(self, cred: CredentialRecord) -> None: ...
    def get(self, key_id: str) -> CredentialRecord | None: ...
    def revoke(self, key_id: str, at: int) -> None: ...
    def for_owner(self, owner_id: str) -> Sequence[CredentialRecord]: ...


class Consents(Protocol):
    def put(self, consent: ConsentRecord) -> None: ...
    def get(self, consent_id: str) -> ConsentRecord | None: ...
    def for_holder(self, pseudonym: str) -> Sequence[ConsentRecord]: ...
    def find_live(
        self, pseudonym: str, rp_id: str, scenario_id: str, now: int
    ) -> Sequence[ConsentRecord]: ...
    def revoke(self, consent_id: str, at: int) -> bool: ...

    def use(self, consent_id: str, now: int) -> bool:
        """Count one use atomically: False if revoked, expired or ``max_uses`` reached.
        Concurrent callers can never overspend."""
        ...


class AccessLog(Protocol):
    def append(self, record: AccessRecord) -> AccessRecord:
        """Assign ``seq``, chain the hash to the previous record and commit durably before
        returning; raises if the write fails (callers fail closed)."""
        ...

    def settle(self, settlement: Settlement, now: int) -> AccessRecord:
        """One transaction: consume the settlement's one-time value (as
        ``ReplayStore.consume`` does); if it was fresh and names a grant, spend one use
        of it (as ``Consents.use`` does); append the record for that outcome
        (``record``, ``replayed`` or ``exhausted``, which differ only in what the outcome
        decides) as ``append`` does. All of it commits, or none of it (raises; callers
        fail closed). Returns the record as stored."""
        ...

    def settle_soon(self, settlements: Sequence[tuple[Settlement, int]]) -> SettleInFlight | None:
        """``settle`` for each (settlement, now), all in one transaction (all commit, with
        one flush of the database's log, or none does), sent now and collected later,
        where the storage can (a database server); None where it cannot (call
        ``settle``). One batch at a time per thread: the next one drops one never
        collected (which may still commit: its codes are then spent and their records
        written, and nothing is returned)."""
        ...

    def records(self, *, after_seq: int = 0, limit: int = 1000) -> Sequence[AccessRecord]: ...
    def for_holder(self, pseudonym: str, *, after: str | None, limit: int) -> Page: ...
    def for_rp(self, rp_id: str, *, after: str | None, limit: int) -> Page: ...
    def counts(self, *, since: int | None = None) -> Sequence[tuple[str, str, str, int]]:
        """(scenario, license type, relying party, count) — 服务次数."""
        ...

    def head(self) -> tuple[int, bytes]: ...
    def add_checkpoint(self, checkpoint: Checkpoint) -> None:
        """Keep a signed checkpoint; one of a position already sealed is dropped (the
        first one stands)."""
        ...

    def checkpoints(self) -> Sequence[Checkpoint]: ...


class Storage(Protocol):
    """Everything, from one database URL."""

    holders: Holders
    issuers: Issuers
    keys: Keys
    licenses: Licenses
    status_lists: StatusLists
    relying_parties: RelyingParties
    credentials: Credentials
    consents: Consents
    access_log: AccessLog
    replay: ReplayStore

    @property
    def kind(self) -> str:
        """The database: ``sqlite`` or ``postgresql`` (for tuning, never for behaviour)."""
        ...

    def ping(self) -> None:
        """Raise ``ElicenseError('storage.unavailable')`` when the database cannot answer."""
        ...

    def checkpoint_in_background(self) -> None:
        """For a long-running server: move whatever housekeeping the database does inside
        a commit (SQLite's WAL checkpoints) out of the request path. May do nothing."""
        ...

    def close(self) -> None: ...
