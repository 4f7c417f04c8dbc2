"""API keys for relying parties and issuers: shown once, stored only as hashes.

A key is ``elk_<key id>_<secret>``: the key id finds the record, the 256-bit secret is
compared by hash in constant time. Secrets are random and long, so a plain SHA-256 is
enough (there is nothing to brute-force); rotation issues a new key and revokes the old.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from dataclasses import dataclass

from elicense.errors import ElicenseError
from elicense.jose.b64 import b64e
from elicense.records import CredentialRecord
from elicense.sdjwt import Rand

_FORMAT = re.compile(r"elk_([A-Za-z0-9]{16})_([A-Za-z0-9_-]{43})")


@dataclass(frozen=True, slots=True)
class NewKey:
    token: str
    """The full key, to show the owner once."""
    record: CredentialRecord


def _hash(secret: str) -> bytes:
    return hashlib.sha256(secret.encode("ascii")).digest()


def new_api_key(owner_id: str, owner_kind: str, *, now: int, rand: Rand) -> NewKey:
    key_id = rand(8).hex()
    secret = b64e(rand(32))
    record = CredentialRecord(key_id, owner_id, owner_kind, _hash(secret), now)
    return NewKey(f"elk_{key_id}_{secret}", record)


def parse_api_key(token: str) -> tuple[str, str]:
    m = _FORMAT.fullmatch(token.strip())
    if m is None:
        raise ElicenseError("auth.invalid")
    return m.group(1), m.group(2)


def check_api_key(record: CredentialRecord | None, secret: str, *, owner_kind: str) -> str:
    """The owner id when the secret matches a live key of the right kind; otherwise one
    refusal, whichever check failed, so responses say nothing about which keys exist."""
    ok = (
        record is not None
        and record.revoked_at is None
        and record.owner_kind == owner_kind
        and hmac.compare_digest(record.secret_hash, _hash(secret))
    )
    if not ok or record is None:
        raise ElicenseError("auth.invalid")
    return record.owner_id
