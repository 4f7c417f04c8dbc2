"""The access log's hash chain and checkpoints catch edits, deletions, insertions, swaps."""

from __future__ import annotations

import dataclasses

from elicense.audit import GENESIS, chain, sign_checkpoint, verify_chain, verify_checkpoints
from elicense.jose.keyfile import generate_signer
from elicense.records import AccessRecord


def log(n: int = 6) -> list[AccessRecord]:
    out, prev = [], GENESIS
    for i in range(1, n + 1):
        r = AccessRecord(
            f"id{i}",
            1_800_000_000 + i,
            "rp-1",
            "hotel_checkin",
            "ab" * 16,
            ("1.2.156.3005.2.X",),
            ("name", "sex"),
            "accepted",
            None,
            None,
            f"req{i}",
        )
        r = chain(r, i, prev)
        prev = r.hash
        out.append(r)
    return out


def kinds(records: list[AccessRecord]) -> list[tuple[int, str]]:
    return [(f.seq, f.kind) for f in verify_chain(records)]


def test_an_untouched_log_verifies() -> None:
    assert verify_chain(log()) == []


def test_an_edited_record_is_found() -> None:
    records = log()
    records[2] = dataclasses.replace(records[2], field_names=("name", "sex", "id_number"))
    assert kinds(records) == [(3, "edited")]


def test_a_deleted_record_is_found() -> None:
    records = log()
    del records[3]
    assert kinds(records) == [(4, "deleted")]


def test_an_inserted_record_is_found() -> None:
    records = log()
    # A forged record, self-consistent but chained to nothing, appended at the end...
    forged = chain(dataclasses.replace(records[1], id="forged"), 7, b"\x01" * 32)
    assert kinds([*records, forged]) == [(7, "inserted")]
    # ...a copy of an existing record under a new position...
    copy = dataclasses.replace(records[1], seq=7)
    assert kinds([*records, copy]) == [(7, "inserted")]
    # ...or a second record at an existing position.
    twin = chain(dataclasses.replace(records[2], id="twin"), 3, records[1].hash)
    assert (3, "inserted") in kinds([*records, twin])


def test_two_swapped_records_are_found() -> None:
    records = log()
    # Exchange the positions of records 2 and 3, as an UPDATE of their seq would.
    records[1], records[2] = (
        dataclasses.replace(records[1], seq=3),
        dataclasses.replace(records[2], seq=2),
    )
    assert kinds(records) == [(2, "reordered"), (3, "reordered")]


def test_physical_row_order_alone_is_not_tampering() -> None:
    records = log()
    records.reverse()
    assert kinds(records) == []


def test_a_rewritten_tail_is_caught_by_the_signed_checkpoint() -> None:
    signer = generate_signer()
    records = log()
    cp = sign_checkpoint(6, records[-1].hash, 1_800_000_100, signer, "platform")
    assert verify_checkpoints([cp], records, [signer.public_key()]) == []
    # An administrator edits record 5 and recomputes every hash after it: the chain is
    # consistent again, but the signed head no longer matches.
    rewritten = records[:4]
    prev = rewritten[-1].hash
    for r in records[4:]:
        changed = r if r.seq != 5 else dataclasses.replace(r, decision="refused")
        placed = chain(changed, r.seq, prev)
        rewritten.append(placed)
        prev = placed.hash
    assert verify_chain(rewritten) == []
    assert [f.kind for f in verify_checkpoints([cp], rewritten, [signer.public_key()])] == [
        "checkpoint"
    ]
    # Deleting the tail after a checkpoint: the log is shorter than the signed head says.
    assert [f.kind for f in verify_checkpoints([cp], records[:4], [signer.public_key()])] == [
        "truncated"
    ]
    # A checkpoint not signed by the platform is not trusted.
    forged = sign_checkpoint(6, records[-1].hash, 1, generate_signer(), "platform")
    assert [f.kind for f in verify_checkpoints([forged], records, [signer.public_key()])] == [
        "checkpoint"
    ]
