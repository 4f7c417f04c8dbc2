"""Time claims (checklist item 12): integers in range, bounded leeway, maximum lifetimes.

Times are integer seconds since the epoch, passed in as ``now``; the core never reads a
clock. Error codes are chosen by the caller so that each token kind reports its own
(``license.expired`` vs ``code.expired``).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

from elicense.errors import ElicenseError

MAX_LEEWAY = 60
_MAX_TIME: Final = 2**40  # far beyond any real date, small enough for every database

#: China Standard Time (no daylight saving): license dates are local calendar dates.
CHINA_TZ = dt.timezone(dt.timedelta(hours=8))


@dataclass(frozen=True, slots=True)
class TimeCodes:
    expired: str
    not_yet_valid: str


def int_claim(payload: Mapping[str, Any], name: str, *, required: bool) -> int | None:
    value = payload.get(name)
    if type(value) is int and 0 <= value < _MAX_TIME:  # the usual case, first
        return value
    if value is None:
        if required or name in payload:
            raise ElicenseError("token.bad_claim", details={"claim": name})
        return None
    if type(value) is not int or not 0 <= value < _MAX_TIME:
        raise ElicenseError("token.bad_claim", details={"claim": name})
    return value


def check_times(
    payload: Mapping[str, Any],
    now: int,
    *,
    codes: TimeCodes,
    leeway: int,
    require_exp: bool,
    max_lifetime: int | None = None,
) -> tuple[int, int | None, int | None]:
    """Validate iat/nbf/exp; returns them. ``leeway`` is capped at 60 s."""
    leeway = min(max(leeway, 0), MAX_LEEWAY)
    iat = int_claim(payload, "iat", required=True) or 0
    nbf = int_claim(payload, "nbf", required=False)
    exp = int_claim(payload, "exp", required=require_exp)
    if iat > now + leeway:
        raise ElicenseError("token.issued_in_future")
    if nbf is not None and nbf > now + leeway:
        raise ElicenseError(codes.not_yet_valid)
    if exp is not None:
        if exp <= iat:
            raise ElicenseError("token.bad_claim", details={"claim": "exp"})
        if now - leeway >= exp:
            raise ElicenseError(codes.expired)
        if max_lifetime is not None and exp - iat > max_lifetime:
            raise ElicenseError("token.lifetime_exceeded")
    elif max_lifetime is not None:
        raise ElicenseError("token.bad_claim", details={"claim": "exp"})
    return iat, nbf, exp


_EPOCH_ORDINAL: Final = dt.date(1970, 1, 1).toordinal()


def day_start(day: dt.date) -> int:
    """Epoch seconds at 00:00 China time (UTC+8, no daylight saving) on ``day``."""
    return (day.toordinal() - _EPOCH_ORDINAL) * 86400 - 8 * 3600


# The last second of year 9999 in China time: beyond it dates do not exist.
_LAST_LOCAL_SECOND: Final = (dt.date.max.toordinal() - _EPOCH_ORDINAL + 1) * 86400 - 8 * 3600 - 1


def local_date(epoch: int) -> dt.date:
    # UTC+8 has no daylight saving, so the local day is plain arithmetic on the epoch;
    # that skips building a timezone-aware datetime. Anything unusual takes the library.
    if type(epoch) is int and 0 <= epoch <= _LAST_LOCAL_SECOND:
        return dt.date.fromordinal(_EPOCH_ORDINAL + (epoch + 8 * 3600) // 86400)
    return dt.datetime.fromtimestamp(epoch, CHINA_TZ).date()
