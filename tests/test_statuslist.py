"""Status lists: the draft's vectors, a model-based property, signed tokens, the cache."""

from __future__ import annotations

import hashlib
import itertools
import os
import re
import threading
import zlib
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import ClassVar

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from elicense import ElicenseError
from elicense.fetch import StatusFetcher
from elicense.jose.b64 import b64e
from elicense.jose.keyfile import generate_signer
from elicense.statuslist import (
    Action,
    IndexPermutation,
    Status,
    StatusCache,
    StatusList,
    check_entry,
    status_list_token,
    transition,
    verify_status_list_token,
)

from support import DAY, NOW, Region, police_of, zibo

VECTORS = Path(__file__).parent / "vectors" / "status-list"
URI = "https://370300.example/status/1"


def _lst_from_md(name: str) -> tuple[int, str]:
    text = (VECTORS / name).read_text(encoding="utf-8")
    bits = int(re.search(r'"bits":\s*(\d+)', text).group(1))  # type: ignore[union-attr]
    lst = re.search(r'"lst":\s*"([^"]+)"', text, re.S).group(1)  # type: ignore[union-attr]
    return bits, re.sub(r"\s+", "", lst)


def _expected(section: str) -> dict[int, int]:
    text = (VECTORS / "test-vectors-section.md").read_text(encoding="utf-8")
    block = text.split(f"## {section}")[1].split("JSON encoding")[0]
    return {int(i): int(v, 2) for i, v in re.findall(r"status\[(\d+)\]\s*=\s*0b([01]+)", block)}


def test_spec_one_bit_vector_decodes_to_its_statuses() -> None:
    sl = StatusList.decode("eNrbuRgAAhcBXQ", 1)
    assert [sl[i] for i in range(16)] == [1, 0, 0, 1, 1, 1, 0, 1, 1, 1, 0, 0, 0, 1, 0, 1]
    assert StatusList.from_values([sl[i] for i in range(16)], 1).encode() == "eNrbuRgAAhcBXQ"


def test_spec_two_bit_vector_decodes_to_its_bytes() -> None:
    sl = StatusList.decode("eNo76fITAAPfAgc", 2)
    assert bytes(sl.data) == bytes([0xC9, 0x44, 0xF9])
    assert [sl[i] for i in range(12)] == [1, 2, 0, 3, 0, 1, 0, 1, 1, 2, 3, 3]


@pytest.mark.parametrize(
    ("file", "section"),
    [
        ("status_list_encoding1_long_json.md", "1-bit Status List"),
        ("status_list_encoding2_long_json.md", "2-bit Status List"),
        ("status_list_encoding4_json.md", "4-bit Status List"),
        ("status_list_encoding8_json.md", "8-bit Status List"),
    ],
)
def test_spec_long_vectors_hold_exactly_the_named_statuses(file: str, section: str) -> None:
    bits, lst = _lst_from_md(file)
    sl = StatusList.decode(lst, bits)
    assert len(sl) == 1 << 20
    expected = _expected(section)
    for idx, value in expected.items():
        assert sl[idx] == value, idx
    nonzero = sum(n for v, n in sl.counts().items() if v)
    assert nonzero == sum(1 for v in expected.values() if v)


@settings(max_examples=150, deadline=None)
@given(st.sampled_from([1, 2, 4, 8]), st.data())
def test_encode_decode_agrees_with_a_plain_list_model(bits: int, data: st.DataObject) -> None:
    size = data.draw(st.integers(1, 3000))
    model = data.draw(st.lists(st.integers(0, (1 << bits) - 1), min_size=size, max_size=size))
    sl = StatusList.from_values(model, bits)
    back = StatusList.decode(sl.encode(), bits)
    assert [back[i] for i in range(size)] == model
    i = data.draw(st.integers(0, size - 1))
    v = data.draw(st.integers(0, (1 << bits) - 1))
    sl[i] = v
    model[i] = v
    assert [sl[j] for j in range(size)] == model
    counts = sl.counts()
    assert all(counts.get(x, 0) == model.count(x) for x in set(model))


def test_index_past_the_end_has_its_own_code() -> None:
    sl = StatusList(131072)
    with pytest.raises(ElicenseError) as info:
        check_entry(sl, 131072)
    assert info.value.code == "status.index_out_of_range"


@pytest.mark.parametrize(
    ("value", "code"),
    [(1, "license.revoked"), (2, "license.suspended"), (3, "license.invalid_status")],
)
def test_only_zero_is_valid(value: int, code: str) -> None:
    sl = StatusList(8)
    check_entry(sl, 5)
    sl[5] = value
    with pytest.raises(ElicenseError) as info:
        check_entry(sl, 5)
    assert info.value.code == code


def test_decompression_bomb_fails_fast_in_bounded_memory() -> None:
    bomb = b64e(zlib.compress(b"\0" * (64 * 1024 * 1024), 9))
    with pytest.raises(ElicenseError) as info:
        StatusList.decode(bomb, 2, max_entries=1 << 20)
    assert info.value.code == "status.too_large"


def test_transitions_follow_the_rules() -> None:
    assert transition(Status.VALID, Action.SUSPEND) is Status.SUSPENDED
    assert transition(Status.SUSPENDED, Action.REINSTATE) is Status.VALID
    assert transition(Status.SUSPENDED, Action.REVOKE) is Status.REVOKED
    for current, action in [
        (Status.REVOKED, Action.REINSTATE),
        (Status.REVOKED, Action.SUSPEND),
        (Status.VALID, Action.REINSTATE),
        (Status.REVOKED, Action.REVOKE),
    ]:
        with pytest.raises(ElicenseError) as info:
            transition(current, action)
        assert info.value.code == "status.bad_transition"


def test_index_allocation_is_a_keyed_permutation_without_reuse() -> None:
    perm = IndexPermutation(os.urandom(32), 131072)
    first = [perm.index(c) for c in range(131072)]
    assert sorted(first) == list(range(131072))
    other = IndexPermutation(os.urandom(32), 131072)
    assert [other.index(c) for c in range(64)] != first[:64]
    # Consecutive counters land far apart: order is not visible in the index.
    gaps = [abs(a - b) for a, b in itertools.pairwise(first)][:1000]
    assert sum(gaps) / len(gaps) > 131072 / 10


def _reference_index(key: bytes, size: int, counter: int, list_no: int) -> int:
    """The permutation as first written (one keyed BLAKE2b per round): stored indexes
    were allocated with it, so every faster form must give exactly its outputs."""
    bits = max((size - 1).bit_length(), 2)
    bits += bits & 1
    half, mask = bits // 2, (1 << (bits // 2)) - 1
    salt = list_no.to_bytes(8, "big")

    def encrypt(x: int) -> int:
        left, right = x >> half, x & mask
        for r in range(4):
            h = hashlib.blake2b(right.to_bytes(8, "big") + bytes([r]) + salt, key=key,
                                digest_size=8)  # fmt: skip
            left, right = right, left ^ (int.from_bytes(h.digest(), "big") & mask)
        return (left << half) | right

    x = encrypt(counter)
    while x >= size:
        x = encrypt(x)
    return x


@pytest.mark.parametrize("size", [4, 5, 1000, 131072, 1 << 20, 1_000_003])
def test_index_permutation_keeps_its_outputs(size: int) -> None:
    key = bytes(range(32))
    perm = IndexPermutation(key, size)
    counters = sorted({*range(min(size, 200)), size // 2, size - 1})
    for list_no in (0, 1, 4242):
        expected = [_reference_index(key, size, c, list_no) for c in counters]
        assert [perm.index(c, list_no) for c in counters] == expected
        assert perm.indexes(0, 4, list_no) == expected[:4]
    # Known answers of the first implementation: a change is a format change.
    assert IndexPermutation(key, 131072).indexes(0, 6, 7) == [
        65465,
        62815,
        115923,
        50107,
        62610,
        73598,
    ]
    assert IndexPermutation(key, 1 << 24).indexes(0, 3, 1) == [423609, 9528296, 14123460]


def test_index_permutation_batches_match_single_and_bound_the_counter() -> None:
    perm = IndexPermutation(os.urandom(32), 131072)
    assert perm.indexes(1000, 300, 9) == [perm.index(c, 9) for c in range(1000, 1300)]
    assert perm.indexes(131072, 0, 9) == []
    for first, count in ((-1, 1), (131072, 1), (131000, 73)):
        with pytest.raises(ValueError, match="counter outside the list"):
            perm.indexes(first, count, 9)
    with pytest.raises(ValueError, match="counter outside the list"):
        perm.index(131072)


# --- signed tokens ------------------------------------------------------------------------


@pytest.fixture(scope="module")
def region() -> Region:
    return zibo()


def _token(region: Region, sl: StatusList, **kw: object) -> str:
    uscc = police_of(region)
    args: dict[str, object] = {
        "uri": URI,
        "issuer": uscc,
        "signer": region.signers[uscc],
        "now": NOW,
        "ttl": 300,
        "lifetime": DAY,
    }
    args.update(kw)
    return status_list_token(sl, **args)  # type: ignore[arg-type]


def test_list_signed_by_the_issuer_or_its_platform_verifies(region: Region) -> None:
    store = region.store()
    sl = StatusList(131072)
    sl[42] = Status.REVOKED
    v = verify_status_list_token(
        _token(region, sl), store, now=NOW, uri=URI, license_issuer=police_of(region)
    )
    assert v.statuses[42] == Status.REVOKED
    by_platform = _token(region, sl, issuer=region.platform_id(), signer=region.platform_signer)
    assert (
        verify_status_list_token(
            by_platform, store, now=NOW, uri=URI, license_issuer=police_of(region)
        ).statuses[42]
        == 1
    )


def refused(fn: object, *a: object, **kw: object) -> str:
    with pytest.raises(ElicenseError) as info:
        fn(*a, **kw)  # type: ignore[operator]
    return info.value.code


def test_list_signed_by_another_issuer_is_refused(region: Region) -> None:
    other = Region("370300", "淄博市")
    other_uscc = "11370300MB0099999"
    from elicense.identifiers import uscc_check_char

    other_uscc += uscc_check_char(other_uscc)
    region.add_issuer(other_uscc, "淄博市民政局", [])
    store = region.store()
    token = _token(region, StatusList(8), issuer=other_uscc, signer=region.signers[other_uscc])
    assert (
        refused(
            verify_status_list_token,
            token,
            store,
            now=NOW,
            uri=URI,
            license_issuer=police_of(region),
        )
        == "status.wrong_issuer"
    )
    del other


def test_wrong_sub_expired_and_forged_lists_are_refused(region: Region) -> None:
    store = region.store()
    issuer = police_of(region)
    token = _token(region, StatusList(8))
    assert (
        refused(
            verify_status_list_token, token, store, now=NOW, uri=URI + "x", license_issuer=issuer
        )
        == "status.wrong_sub"
    )
    assert (
        refused(
            verify_status_list_token, token, store, now=NOW + DAY, uri=URI, license_issuer=issuer
        )
        == "status.expired"
    )
    forged = _token(region, StatusList(8), signer=generate_signer())
    assert refused(
        verify_status_list_token, forged, store, now=NOW, uri=URI, license_issuer=issuer
    ) in ("trust.unknown_key", "trust.wrong_issuer")


# --- cache and fetch ----------------------------------------------------------------------


def test_cache_refreshes_after_ttl_and_fails_closed_past_exp(region: Region) -> None:
    store = region.store()
    issuer = police_of(region)
    sl = StatusList(16)
    served = {"token": _token(region, sl, ttl=60, lifetime=600), "down": ""}
    calls: list[str] = []

    def fetch(uri: str) -> str:
        calls.append(uri)
        if served["down"]:
            raise ElicenseError("status.fetch_failed")
        return served["token"]

    cache = StatusCache(store, fetch)
    cache.check(URI, 3, issuer, NOW)
    sl[3] = Status.REVOKED
    served["token"] = _token(region, sl, ttl=60, lifetime=600, now=NOW + 30)
    cache.check(URI, 3, issuer, NOW + 30)  # still cached: within ttl
    with pytest.raises(ElicenseError) as info:
        cache.check(URI, 3, issuer, NOW + 61)  # refreshed after ttl: revoked now
    assert info.value.code == "license.revoked"
    assert len(calls) == 2

    served["down"] = "yes"  # the verifier loses the network
    with pytest.raises(ElicenseError) as info2:
        cache.check(URI, 3, issuer, NOW + 200)  # cached list still inside exp: used
    assert info2.value.code == "license.revoked"
    with pytest.raises(ElicenseError) as info3:
        cache.check(URI, 3, issuer, NOW + 2000)  # past exp: fail closed, its own code
    assert info3.value.code == "status.expired"


class _Handler(BaseHTTPRequestHandler):
    routes: ClassVar[dict[str, tuple[int, dict[str, str], bytes]]] = {}

    def do_GET(self) -> None:
        status, headers, body = self.routes.get(self.path, (404, {}, b""))
        self.send_response(status)
        for k, v in headers.items():
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def server() -> Iterator[str]:
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()


def test_fetch_is_allow_listed_size_capped_and_redirect_bounded(server: str) -> None:
    _Handler.routes = {
        "/ok": (200, {"Content-Type": "application/statuslist+jwt"}, b"abc.def.ghi\n"),
        "/big": (200, {}, b"x" * 5000),
        "/hop1": (302, {"Location": "/hop2"}, b""),
        "/hop2": (302, {"Location": "/hop3"}, b""),
        "/hop3": (302, {"Location": "/ok"}, b""),
        "/away": (302, {"Location": "http://192.0.2.1/evil"}, b""),
    }
    fetch = StatusFetcher([server + "/"], max_bytes=1000, timeout=2, max_redirects=2)
    assert fetch(server + "/ok") == "abc.def.ghi"
    assert refused(fetch, server + "/big") == "status.too_large"
    assert refused(fetch, server + "/hop1") == "status.fetch_failed"
    assert StatusFetcher([server + "/"], max_redirects=3)(server + "/hop1") == "abc.def.ghi"
    assert refused(fetch, server + "/away") == "status.location_not_allowed"
    assert refused(fetch, "https://elsewhere.example/ok") == "status.location_not_allowed"
    assert refused(fetch, server + "/missing") == "status.fetch_failed"
    fetch.close()
