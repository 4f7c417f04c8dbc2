"""Holder sessions: the built-in holder authenticator.

A real deployment plugs the city's single sign-on into the service; the built-in one
accepts short-lived session tokens the platform itself signs (``typ``
``holder-session+jwt``) naming the holder by pseudonym, after the holder logged in
elsewhere (an app, a counter). Like every token, they are verified strictly.
"""

from __future__ import annotations

from elicense.claims import TimeCodes, check_times
from elicense.errors import ElicenseError
from elicense.jose.jws import parse_compact, sign_compact, verify_with
from elicense.jose.keys import Signer
from elicense.trust import TrustStore

SESSION_TYP = "holder-session+jwt"
MAX_SESSION = 12 * 3600
_TIMES = TimeCodes(expired="auth.invalid", not_yet_valid="auth.invalid")


def holder_session(
    signer: Signer, *, platform: str, pseudonym: str, now: int, lifetime: int = 3600
) -> str:
    return sign_compact(
        {"typ": SESSION_TYP},
        {"iss": platform, "sub": pseudonym, "iat": now, "exp": now + min(lifetime, MAX_SESSION)},
        signer,
    )


def verify_holder_session(token: str, trust: TrustStore, *, platform: str, now: int) -> str:
    """The holder's pseudonym, or ``auth.invalid`` whatever went wrong."""
    try:
        parsed = parse_compact(token, typ=SESSION_TYP, max_length=2048)
        if parsed.payload.get("iss") != platform:
            raise ElicenseError("auth.invalid")
        lookup = trust.platform_key(platform, parsed.kid or "", now)
        verify_with(parsed, lookup.key.key)
        check_times(
            parsed.payload, now, codes=_TIMES, leeway=30, require_exp=True, max_lifetime=MAX_SESSION
        )
        sub = parsed.payload.get("sub")
        if not isinstance(sub, str) or len(sub) != 32:
            raise ElicenseError("auth.invalid")
        return sub
    except ElicenseError:
        raise ElicenseError("auth.invalid") from None
