"""用证记录: the tamper-evident access log (hash chain + signed checkpoints).

Each record's hash covers its canonical content, its position ``seq`` and the previous
record's hash, so editing, deleting, inserting or reordering a record breaks the chain at
that point. Periodic checkpoints, signed by the platform (``typ`` ``audit-checkpoint+jwt``),
pin the head: an administrator who rewrites the tail and recomputes every hash still cannot
produce the platform's signature over the new head, and deleting records after a
checkpoint leaves the chain shorter than the checkpoint says.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace

from elicense.errors import ElicenseError
from elicense.jose.b64 import b64d, b64e
from elicense.jose.jws import parse_compact, sign_compact, verify_with
from elicense.jose.keys import PublicKey, Signer
from elicense.records import AccessRecord, Checkpoint

CHECKPOINT_TYP = "audit-checkpoint+jwt"
GENESIS = b"\0" * 32


def canonical(record: AccessRecord) -> bytes:
    """The bytes a record's hash covers: every field but the chain fields themselves."""
    body = {
        "seq": record.seq,
        "id": record.id,
        "at": record.at,
        "rp": record.rp_id,
        "scenario": record.scenario_id,
        "holder": record.holder_pseudonym,
        "licenses": list(record.license_ids),
        "fields": list(record.field_names),
        "decision": record.decision,
        "code": record.code,
        "consent": record.consent_id,
        "request": record.request_id,
    }
    return json.dumps(body, ensure_ascii=False, sort_keys=True, separators=(",", ":")).encode()


def record_hash(prev_hash: bytes, record: AccessRecord) -> bytes:
    return hashlib.sha256(prev_hash + canonical(record)).digest()


def chain(record: AccessRecord, seq: int, prev_hash: bytes) -> AccessRecord:
    """The record as stored at position ``seq`` after ``prev_hash``."""
    placed = replace(record, seq=seq, prev_hash=prev_hash, hash=b"")
    return replace(placed, hash=record_hash(prev_hash, placed))


@dataclass(frozen=True, slots=True)
class Finding:
    """One problem in the log: where, and what it looks like."""

    seq: int
    kind: str
    """``edited``, ``deleted``, ``inserted``, ``reordered``, ``truncated``, ``checkpoint``."""
    detail: str


def verify_chain(records: Iterable[AccessRecord]) -> list[Finding]:
    """Walk the log in storage order and say where and how it was tampered with.

    The diagnosis distinguishes: a record whose own hash no longer matches its content
    (edited); a gap in ``seq`` (deleted); a record whose ``prev_hash`` matches but whose
    ``seq`` repeats or whose hash fits nowhere (inserted); two records that verify with
    each other's predecessor (reordered).
    """
    findings: list[Finding] = []
    prev_hash, expect = GENESIS, 1
    items = list(records)
    i = 0
    while i < len(items):
        r = items[i]
        if r.seq != expect:
            if r.seq > expect and record_hash(r.prev_hash, r) == r.hash:
                findings.append(
                    Finding(expect, "deleted", f"records {expect}..{r.seq - 1} are missing")
                )
            elif i + 1 < len(items) and items[i + 1].seq == expect:
                findings.append(
                    Finding(expect, "reordered", f"record {r.seq} stands before record {expect}")
                )
                items[i], items[i + 1] = items[i + 1], items[i]
                continue
            else:
                findings.append(Finding(r.seq, "inserted", "a record out of sequence"))
                i += 1
                continue
        if record_hash(r.prev_hash, r) != r.hash:
            findings.append(Finding(r.seq, "edited", "content does not match its hash"))
        elif r.prev_hash != prev_hash:
            findings.append(Finding(r.seq, "inserted", "does not chain to the record before it"))
        prev_hash, expect = r.hash, r.seq + 1
        i += 1
    return findings


def sign_checkpoint(
    seq: int, head_hash: bytes, at: int, signer: Signer, platform: str
) -> Checkpoint:
    token = sign_compact(
        {"typ": CHECKPOINT_TYP},
        {"iss": platform, "iat": at, "seq": seq, "head": b64e(head_hash)},
        signer,
    )
    return Checkpoint(seq, head_hash, at, token)


def verify_checkpoints(
    checkpoints: Sequence[Checkpoint], records: Sequence[AccessRecord], keys: Sequence[PublicKey]
) -> list[Finding]:
    """Every checkpoint must be validly signed and match the chain at its ``seq``."""
    by_seq = {r.seq: r for r in records}
    last = max(by_seq, default=0)
    findings: list[Finding] = []
    for cp in checkpoints:
        try:
            parsed = parse_compact(cp.token, typ=CHECKPOINT_TYP)
            key = next((k for k in keys if k.kid == parsed.kid), None)
            if key is None:
                raise ElicenseError("token.bad_kid")
            verify_with(parsed, key)
            seq, head = parsed.payload.get("seq"), parsed.payload.get("head")
            if seq != cp.seq or not isinstance(head, str) or b64d(head) != cp.head_hash:
                raise ElicenseError("token.bad_claim", details={"claim": "seq/head"})
        except ElicenseError as exc:
            findings.append(Finding(cp.seq, "checkpoint", f"signature or content: {exc.code}"))
            continue
        if cp.seq > last:
            findings.append(
                Finding(cp.seq, "truncated", f"log ends at {last}, checkpoint says {cp.seq}")
            )
        elif by_seq.get(cp.seq) is None or by_seq[cp.seq].hash != cp.head_hash:
            findings.append(Finding(cp.seq, "checkpoint", "the chain differs from the signed head"))
    return findings
