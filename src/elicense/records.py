"""Records the storage layer keeps, as plain immutable data (no database types here).

Personal data appears in exactly one place: ``HolderRecord.holder_code``. Everything else
refers to the holder by pseudonym (hex of the 128-bit keyed hash, see ``codes.pseudonym``).
Times are integer epoch seconds.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True, slots=True)
class HolderRecord:
    pseudonym: str
    holder_type: str
    """``111`` resident ID, ``001`` credit code."""
    holder_code: str
    created_at: int


@dataclass(frozen=True, slots=True)
class IssuerRecord:
    id: str
    name: str
    division: str
    region: str


@dataclass(frozen=True, slots=True)
class KeyRecord:
    kid: str
    owner_id: str
    alg: str
    public_jwk: dict[str, Any]
    state: str
    not_before: int
    not_after: int | None = None
    retired_at: int | None = None
    encrypted_private: bytes | None = None
    """Passphrase-encrypted PEM, never a plain private key."""


@dataclass(frozen=True, slots=True)
class LicenseRecord:
    license_id: str
    type_code: str
    issuer_id: str
    serial: str
    version: str
    holder_pseudonym: str
    status_list_id: int
    status_idx: int
    issued_at: int
    valid_from: int
    valid_until: int | None
    sd_jwt: str
    state: int = 0
    """Mirror of the status list entry: 0 valid, 1 revoked, 2 suspended."""
    alias: str | None = None
    """A historical identifier with a non-standard check character, kept for lookups."""


@dataclass(frozen=True, slots=True)
class StatusListRecord:
    id: int
    owner_id: str
    uri: str
    bits: int
    size: int
    data: bytes
    next_counter: int
    version: int
    token: str | None = None


@dataclass(frozen=True, slots=True)
class StatusEvent:
    license_id: str
    action: str
    reason: str
    actor: str
    at: int
    from_state: int
    to_state: int


@dataclass(frozen=True, slots=True)
class RelyingPartyRecord:
    id: str
    uscc: str
    name: str
    kind: str
    scenarios: tuple[str, ...]
    created_at: int
    active: bool = True


@dataclass(frozen=True, slots=True)
class CredentialRecord:
    key_id: str
    owner_id: str
    """A relying party's id, or an issuer's credit code."""
    owner_kind: str
    """``rp`` or ``issuer``."""
    secret_hash: bytes
    created_at: int
    revoked_at: int | None = None


@dataclass(frozen=True, slots=True)
class ConsentRecord:
    id: str
    holder_pseudonym: str
    rp_id: str
    scenario_id: str
    fields: tuple[str, ...]
    purpose: str
    created_at: int
    valid_until: int
    max_uses: int | None
    uses: int = 0
    revoked_at: int | None = None


@dataclass(frozen=True, slots=True)
class AccessRecord:
    """用证记录: one per verification attempt, accepted or not. Field names, never values."""

    id: str
    at: int
    rp_id: str
    scenario_id: str
    holder_pseudonym: str | None
    license_ids: tuple[str, ...]
    field_names: tuple[str, ...]
    decision: str
    """``accepted`` or ``refused``."""
    code: str | None
    consent_id: str | None
    request_id: str
    seq: int = 0
    """Position in the hash chain, assigned by the store."""
    prev_hash: bytes = b""
    hash: bytes = b""


@dataclass(frozen=True, slots=True)
class Settlement:
    """The writes that settle one scan (``AccessLog.settle``): a one-time value to
    consume, perhaps one use of a standing grant to spend, and the record to append for
    each way that can turn out. Everything is decided before the write; the store only
    picks the record its outcome names, so a scan costs one short transaction."""

    replay_namespace: str
    replay_value: str
    replay_expires_at: int
    """The value's expiry: until then it cannot be consumed again (see ``replay``)."""
    consent_id: str | None
    """A grant whose use the scan spends; None when the basis is not a grant."""
    record: AccessRecord
    """Appended when the value was fresh (and the grant had a use left)."""
    replayed: AccessRecord
    """Appended instead when the value was already consumed (nothing is spent)."""
    exhausted: AccessRecord
    """Appended instead when the grant had no use left (the value stays consumed)."""


@dataclass(frozen=True, slots=True)
class Checkpoint:
    """A signed statement of the chain's head: (seq, hash) at a time."""

    seq: int
    head_hash: bytes
    at: int
    token: str


@dataclass(frozen=True, slots=True)
class Page:
    """A keyset page: ``after`` is the cursor of the last row, ``None`` at the end."""

    items: tuple[Any, ...]
    after: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)
