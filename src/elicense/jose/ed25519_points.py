"""Edwards25519 point checks that OpenSSL does not make when it loads a public key.

A trust list must never install a small-order or non-canonically encoded Ed25519 key:
with such a key, signatures can verify for many messages (checklist item 10).
"""

from __future__ import annotations

_P = 2**255 - 19
_D = (-121665 * pow(121666, -1, _P)) % _P
_SQRT_M1 = pow(2, (_P - 1) // 4, _P)


def _decode(data: bytes) -> tuple[int, int] | None:
    """Decode per RFC 8032 §5.1.3, refusing non-canonical encodings; None if invalid."""
    if len(data) != 32:
        return None
    n = int.from_bytes(data, "little")
    sign = n >> 255
    y = n & ((1 << 255) - 1)
    if y >= _P:
        return None
    u = (y * y - 1) % _P
    v = (_D * y * y + 1) % _P
    x = (u * pow(v, 3, _P) * pow(u * pow(v, 7, _P), (_P - 5) // 8, _P)) % _P
    if (v * x * x - u) % _P != 0:
        if (v * x * x + u) % _P != 0:
            return None
        x = (x * _SQRT_M1) % _P
    if x == 0 and sign:
        return None
    if x & 1 != sign:
        x = _P - x
    return x, y


def _add(p: tuple[int, int], q: tuple[int, int]) -> tuple[int, int]:
    (x1, y1), (x2, y2) = p, q
    t = _D * x1 * x2 * y1 * y2 % _P
    x3 = (x1 * y2 + x2 * y1) * pow(1 + t, -1, _P) % _P
    y3 = (y1 * y2 + x1 * x2) * pow(1 - t, -1, _P) % _P
    return x3, y3


def is_acceptable_ed25519_key(data: bytes) -> bool:
    """Canonical, on the curve, and not of small order ([8]P is not the identity)."""
    point = _decode(data)
    if point is None:
        return False
    q = point
    for _ in range(3):
        q = _add(q, q)
    return q != (0, 1)
