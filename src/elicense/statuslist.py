"""Revocation and suspension with signed status lists (IETF Token Status List draft).

A status list packs one entry per license, ``bits`` bits each, least-significant bit
first, compressed with zlib (DEFLATE); a ``statuslist+jwt`` token signed by the issuer or
its region's platform publishes it. Values: 0 valid, 1 revoked (the draft's INVALID),
2 suspended; only 0 is valid. A license points at its entry with
``status: {status_list: {idx, uri}}``.

Privacy: indexes are allocated through a keyed permutation of each list, so an index says
nothing about issue order, and lists are large (≥ 131,072 entries) so that fetching one
says little about which license is being checked.
"""

from __future__ import annotations

import functools
import hashlib
import zlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from enum import IntEnum, StrEnum
from typing import Any

from elicense.errors import ElicenseError
from elicense.jose.b64 import b64d, b64e
from elicense.jose.jws import parse_compact, sign_compact, verify_with
from elicense.jose.keys import Signer
from elicense.trust import KeyLookup, TrustStore

STATUS_LIST_TYP = "statuslist+jwt"
DEFAULT_SIZE = 1 << 17  # 131,072 entries: the herd a lookup hides in
DEFAULT_BITS = 2
MAX_ENTRIES = 1 << 24
MAX_TOKEN = 8 * 1024 * 1024
ALLOWED_BITS = (1, 2, 4, 8)


class Status(IntEnum):
    VALID = 0
    REVOKED = 1
    SUSPENDED = 2


class Action(StrEnum):
    REVOKE = "revoke"
    SUSPEND = "suspend"
    REINSTATE = "reinstate"


def transition(current: Status, action: Action) -> Status:
    """Revocation is final; suspension only from valid; reinstatement only from suspended."""
    if action is Action.REVOKE and current is not Status.REVOKED:
        return Status.REVOKED
    if action is Action.SUSPEND and current is Status.VALID:
        return Status.SUSPENDED
    if action is Action.REINSTATE and current is Status.SUSPENDED:
        return Status.VALID
    raise ElicenseError(
        "status.bad_transition", details={"from": current.name.lower(), "action": action.value}
    )


class StatusList:
    """A packed, mutable list of statuses."""

    __slots__ = ("bits", "data", "size")

    def __init__(self, size: int, bits: int = DEFAULT_BITS, data: bytes | None = None) -> None:
        if bits not in ALLOWED_BITS:
            raise ElicenseError("status.bad_bits")
        if not 0 < size <= MAX_ENTRIES:
            raise ElicenseError("status.too_large")
        nbytes = (size * bits + 7) // 8
        self.bits = bits
        self.size = size
        self.data = bytearray(data) if data is not None else bytearray(nbytes)
        if len(self.data) != nbytes:
            raise ElicenseError("status.bad_list", details={"reason": "length"})

    @classmethod
    def from_values(cls, values: Iterable[int], bits: int = DEFAULT_BITS) -> StatusList:
        vals = list(values)
        sl = cls(len(vals), bits)
        for i, v in enumerate(vals):
            if v:
                sl[i] = v
        return sl

    def __len__(self) -> int:
        return self.size

    def __getitem__(self, idx: int) -> int:
        if not 0 <= idx < self.size:
            raise ElicenseError("status.index_out_of_range")
        per = 8 // self.bits
        return (self.data[idx // per] >> ((idx % per) * self.bits)) & ((1 << self.bits) - 1)

    def __setitem__(self, idx: int, value: int) -> None:
        if not 0 <= idx < self.size:
            raise ElicenseError("status.index_out_of_range")
        if not 0 <= value < (1 << self.bits):
            raise ValueError("value does not fit")
        per = 8 // self.bits
        shift = (idx % per) * self.bits
        mask = ((1 << self.bits) - 1) << shift
        self.data[idx // per] = (self.data[idx // per] & ~mask) | (value << shift)

    def counts(self) -> dict[int, int]:
        """How many entries hold each value (for operators: never per license)."""
        out: dict[int, int] = {}
        if self.bits == 8:
            for b in self.data[: self.size]:
                out[b] = out.get(b, 0) + 1
            return out
        per = 8 // self.bits
        mask = (1 << self.bits) - 1
        histogram = [0] * 256
        for b in self.data:
            histogram[b] += 1
        for byte, n in enumerate(histogram):
            if n:
                for k in range(per):
                    v = (byte >> (k * self.bits)) & mask
                    out[v] = out.get(v, 0) + n
        # Padding entries past ``size`` in the last byte are 0: remove them.
        pad = len(self.data) * per - self.size
        if pad:
            out[0] -= pad
        return {v: n for v, n in out.items() if n}

    def encode(self) -> str:
        """``lst``: base64url of zlib (DEFLATE, highest level)."""
        return b64e(zlib.compress(bytes(self.data), 9))

    @classmethod
    def decode(cls, lst: str, bits: int, *, max_entries: int = MAX_ENTRIES) -> StatusList:
        """Decompress with a hard cap: a zip bomb fails fast, in bounded memory."""
        if bits not in ALLOWED_BITS:
            raise ElicenseError("status.bad_bits")
        cap = (max_entries * bits + 7) // 8
        compressed = b64d(lst, "status.bad_list")
        d = zlib.decompressobj()
        try:
            raw = d.decompress(compressed, cap)
            if d.unconsumed_tail or (not d.eof and d.decompress(b"", 1)):
                raise ElicenseError("status.too_large")
            if not d.eof or d.unused_data:
                raise ElicenseError("status.bad_list", details={"reason": "truncated or trailing"})
        except zlib.error:
            raise ElicenseError("status.bad_list", details={"reason": "not zlib"}) from None
        return cls(len(raw) * 8 // bits, bits, raw)


# --- index allocation ------------------------------------------------------------------


class IndexPermutation:
    """A keyed permutation of ``range(size)``: a 4-round Feistel network over the next even
    power of two, cycle-walking back into range. Allocating counter values 0, 1, 2, … in
    order yields indexes in an order only the key holder can predict, never reused.

    Round ``r`` of list ``list_no`` maps a half-block ``v`` to the first 8 bytes of
    ``BLAKE2b(key, v as 8 bytes ‖ r ‖ list_no as 8 bytes)``, masked to a half-block. A
    half-block is only ``bits / 2`` wide (9 bits for the default 131,072 entries, at most
    12 for ``MAX_ENTRIES``), so the four round functions of a list are tables of at most
    4 × 4,096 values: they are computed once per list (the keyed hash state is set up
    once and copied), and every index after that is eight table look-ups instead of
    about eight keyed hashes — the same outputs, so stored indexes stay valid.
    """

    __slots__ = ("_base", "_half", "_mask", "_round_tables", "size")

    _CACHED_LISTS = 8
    """Round tables kept (an import fills a few lists at a time)."""

    def __init__(self, key: bytes, size: int = DEFAULT_SIZE) -> None:
        if size < 4:
            raise ValueError("list too small")
        bits = max((size - 1).bit_length(), 2)
        bits += bits & 1
        self._half = bits // 2
        self._mask = (1 << self._half) - 1
        self._base = hashlib.blake2b(key=key, digest_size=8)  # keyed once, copied per value
        # lru_cache is thread-safe and bounded: the service may issue from several threads.
        self._round_tables = functools.lru_cache(maxsize=self._CACHED_LISTS)(self._build_tables)
        self.size = size

    def _build_tables(self, list_no: int) -> tuple[list[int], ...]:
        """The four round functions of a list as tables over every half-block value."""
        salt = list_no.to_bytes(8, "big")
        mask = self._mask
        base = self._base
        built: list[list[int]] = []
        for r in range(4):
            tail = bytes([r]) + salt
            table = []
            for value in range(mask + 1):
                h = base.copy()
                h.update(value.to_bytes(8, "big") + tail)
                table.append(int.from_bytes(h.digest(), "big") & mask)
            built.append(table)
        return tuple(built)

    def index(self, counter: int, list_no: int = 0) -> int:
        return self.indexes(counter, 1, list_no)[0]

    def indexes(self, first: int, count: int, list_no: int = 0) -> list[int]:
        """The indexes of counters ``first … first + count - 1`` of list ``list_no``."""
        size = self.size
        if first < 0 or count < 0 or first + count > size:
            raise ValueError("counter outside the list")
        t0, t1, t2, t3 = self._round_tables(list_no)
        half, mask = self._half, self._mask
        out: list[int] = []
        for counter in range(first, first + count):
            x = counter
            while True:  # cycle-walk: stays a permutation of range(size)
                left, right = x >> half, x & mask
                left ^= t0[right]
                right ^= t1[left]
                left ^= t2[right]
                right ^= t3[left]
                x = (left << half) | right
                if x < size:
                    break
            out.append(x)
        return out


# --- tokens ----------------------------------------------------------------------------


def status_list_token(
    lst: StatusList, *, uri: str, issuer: str, signer: Signer, now: int, ttl: int, lifetime: int
) -> str:
    """Sign a list: ``iss`` the issuer or platform id, ``sub`` the list's URI."""
    payload = {
        "iss": issuer,
        "sub": uri,
        "iat": now,
        "exp": now + lifetime,
        "ttl": ttl,
        "status_list": {"bits": lst.bits, "lst": lst.encode()},
    }
    return sign_compact({"typ": STATUS_LIST_TYP}, payload, signer)


@dataclass(frozen=True, slots=True)
class VerifiedStatusList:
    uri: str
    issuer: str
    issued_at: int
    expires_at: int
    ttl: int
    statuses: StatusList


def verify_status_list_token(
    token: str,
    trust: TrustStore,
    *,
    now: int,
    uri: str,
    license_issuer: str,
    max_entries: int = MAX_ENTRIES,
) -> VerifiedStatusList:
    """Checklist 22-23: typ, a trusted key of the license's issuer or of its region's
    platform, ``sub`` equal to the referenced URI, not expired, capped decompression."""
    parsed = parse_compact(token, typ=STATUS_LIST_TYP, max_length=MAX_TOKEN)
    p = parsed.payload
    iss = p.get("iss")
    if not isinstance(iss, str):
        raise ElicenseError("token.bad_claim", details={"claim": "iss"})
    lookup = _owner_key(trust, iss, parsed.kid or "", license_issuer, now)
    verify_with(parsed, lookup.key.key, "status.bad_signature")
    if p.get("sub") != uri:
        raise ElicenseError("status.wrong_sub")
    iat, exp, ttl = _nonneg_int(p, "iat"), _nonneg_int(p, "exp"), _nonneg_int(p, "ttl", 0)
    lookup.key.check_signed_at(iat)
    if now >= exp:
        raise ElicenseError("status.expired")
    sl = p.get("status_list")
    if not isinstance(sl, dict) or not isinstance(sl.get("lst"), str):
        raise ElicenseError("status.bad_list", details={"reason": "status_list"})
    statuses = StatusList.decode(sl["lst"], sl.get("bits"), max_entries=max_entries)  # type: ignore[arg-type]
    return VerifiedStatusList(uri, iss, iat, exp, ttl, statuses)


def _nonneg_int(payload: dict[str, Any], name: str, default: int | None = None) -> int:
    value = payload.get(name, default)
    if type(value) is not int or value < 0:
        raise ElicenseError("token.bad_claim", details={"claim": name})
    return value


def _owner_key(trust: TrustStore, iss: str, kid: str, license_issuer: str, now: int) -> KeyLookup:
    if iss == license_issuer:
        return trust.issuer_key(iss, kid, now)
    try:
        lookup = trust.platform_key(iss, kid, now)
    except ElicenseError:
        raise ElicenseError("status.wrong_issuer") from None
    issuer_lookup_region = trust.region_of_issuer(license_issuer)
    if lookup.trust_list.region != issuer_lookup_region:
        raise ElicenseError("status.wrong_issuer")
    return lookup


def check_entry(statuses: StatusList, idx: int) -> None:
    """Only 0 is valid: 1 → ``license.revoked``, 2 → ``license.suspended``, else invalid."""
    value = statuses[idx]
    if value == Status.VALID:
        return
    if value == Status.REVOKED:
        raise ElicenseError("license.revoked")
    if value == Status.SUSPENDED:
        raise ElicenseError("license.suspended")
    raise ElicenseError("license.invalid_status")


# --- verifier-side cache ---------------------------------------------------------------

Fetch = Callable[[str], str]


class StatusCache:
    """Verified lists by URI, refreshed after ``ttl`` and never used past ``exp``.

    ``fetch(uri)`` is the outer layer's bounded HTTP fetch (or a database read on the
    platform). When a refresh fails, a cached list still inside its ``exp`` is used; past
    ``exp`` the verifier fails closed (``status.expired``).
    """

    def __init__(self, trust: TrustStore, fetch: Fetch, *, max_entries: int = MAX_ENTRIES) -> None:
        self._trust = trust
        self._fetch = fetch
        self._max = max_entries
        self._lists: dict[tuple[str, str], tuple[VerifiedStatusList, int]] = {}

    def get(self, uri: str, license_issuer: str, now: int) -> VerifiedStatusList:
        key = (uri, license_issuer)
        hit = self._lists.get(key)
        if hit is not None:
            vsl, fetched = hit
            if now < fetched + vsl.ttl and now < vsl.expires_at:
                return vsl
        try:
            token = self._fetch(uri)
            vsl = verify_status_list_token(
                token,
                self._trust,
                now=now,
                uri=uri,
                license_issuer=license_issuer,
                max_entries=self._max,
            )
        except ElicenseError:
            if hit is None:
                raise
            if now < hit[0].expires_at:
                return hit[0]
            raise ElicenseError("status.expired") from None
        self._lists[key] = (vsl, now)
        return vsl

    def check(self, uri: str, idx: int, license_issuer: str, now: int) -> None:
        check_entry(self.get(uri, license_issuer, now).statuses, idx)


def describe(vsl: VerifiedStatusList) -> dict[str, Any]:
    counts = vsl.statuses.counts()
    return {
        "uri": vsl.uri,
        "issuer": vsl.issuer,
        "bits": vsl.statuses.bits,
        "entries": len(vsl.statuses),
        "valid": counts.get(0, 0),
        "revoked": counts.get(1, 0),
        "suspended": counts.get(2, 0),
        "other": sum(n for v, n in counts.items() if v > 2),
        "issued_at": vsl.issued_at,
        "expires_at": vsl.expires_at,
        "ttl": vsl.ttl,
    }
