"""Benchmark: status lists (issue 5).

Compressed size of a 1,000,000-entry 2-bit list with 0.1 %, 1 % and 10 % of entries
revoked (random positions, as the keyed permutation spreads them); the time to re-sign the
list after one change (flip one entry, compress, sign) against one raw ES256 signature; and
the time to look an entry up in a cached, verified list. Figures are minima over rounds.
Run: .venv/bin/python bench/status.py
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from collections.abc import Callable

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec

from elicense.jose.b64 import b64d
from elicense.jose.keyfile import generate_signer
from elicense.jose.keys import P256Signer
from elicense.statuslist import Status, StatusList, check_entry, status_list_token

ENTRIES = 1_000_000


def per_call(fn: Callable[[], object], n: int) -> float:
    start = time.perf_counter()
    for _ in range(n):
        fn()
    return (time.perf_counter() - start) / n


def revoked_list(share: float, rng: random.Random) -> StatusList:
    sl = StatusList(ENTRIES, 2)
    for idx in rng.sample(range(ENTRIES), int(ENTRIES * share)):
        sl[idx] = Status.REVOKED
    return sl


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=5)
    args = ap.parse_args()
    rng = random.Random(20261122)
    print(f"bench/status.py  entries={ENTRIES:,} bits=2  python {sys.version.split()[0]}")
    print(f"{'revoked':>8} {'compressed':>12} {'limit':>10}")
    ok = True
    lists = {}
    for share in (0.001, 0.01, 0.10):
        sl = revoked_list(share, rng)
        lists[share] = sl
        size = len(b64d(sl.encode()))
        limit = "≤ 16 KB" if share == 0.01 else ""
        good = share != 0.01 or size <= 16 * 1024
        ok &= good
        print(f"{share:8.1%} {size / 1024:10.1f} KB {limit:>10} {'yes' if good and limit else ''}")

    signer = generate_signer()
    assert isinstance(signer, P256Signer)
    sl = lists[0.01]
    ecdsa = ec.ECDSA(hashes.SHA256())
    resign, raw, lookup = [], [], []
    idx = 123_456

    def resign_once() -> str:
        sl[idx] = Status.SUSPENDED if sl[idx] == Status.VALID else Status.VALID
        return status_list_token(
            sl,
            uri="https://370300.example/status/1",
            issuer="11370300MB0000001L",
            signer=signer,
            now=int(time.time()),
            ttl=300,
            lifetime=86400,
        )

    for _ in range(args.rounds):
        resign.append(per_call(resign_once, 5))
        raw.append(per_call(lambda: signer.private_key.sign(b"x" * 64, ecdsa), 200))
        lookup.append(per_call(lambda: check_entry(sl, 777), 20000))
    print()
    print(
        f"re-sign after one change: {min(resign) * 1e3:8.2f} ms "
        f"({min(resign) / min(raw):,.0f}× one raw ES256 signature: compression dominates)"
    )
    print(f"lookup in a cached list:  {min(lookup) * 1e6:8.2f} µs")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
