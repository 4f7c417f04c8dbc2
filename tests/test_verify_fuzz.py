"""Structure-aware fuzzing of verify_license: every input ends in an ElicenseError or a result.

The text-level mutations in test_checklist.py rarely get past the signature check. Here
the payload, the disclosures and the key-binding JWT are mutated as JSON and re-signed
with the real keys, so the mutations reach every check behind the signatures.
"""

from __future__ import annotations

import contextlib
import functools
import json
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from elicense.errors import ElicenseError
from elicense.jose.b64 import b64d, b64e
from elicense.licenses import VerifierPolicy, verify_license
from elicense.replay import MemoryReplayStore
from test_checklist import (
    AUD,
    KB_TYP,
    NONCE,
    Env,
    digest,
    lic_header,
    make_env,
    sd,
    sd_hash,
    sign_token,
)

from support import NOW

_NAMES = [
    "iss", "iat", "nbf", "exp", "vct", "status", "cnf", "license_id", "holder_type", "_sd",
    "_sd_alg", "...", "holder_id", "name", "sub", "aud", "nonce", "sd_hash", "status_list",
    "idx", "uri", "jwk", "kty", "crv", "x", "y", "alg", "typ", "kid",
]  # fmt: skip

_SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=12),
    st.sampled_from(_NAMES),
)
_VALUES = st.recursive(
    _SCALARS,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4),
        st.dictionaries(st.one_of(st.sampled_from(_NAMES), st.text(max_size=4)), inner, max_size=4),
    ),
    max_leaves=10,
)
_WHERE = st.sampled_from(["payload", "disclosure", "new_disclosure", "kb", "kb_header"])


@functools.cache
def _env() -> Env:
    """One license for every example (issuing one per example would dominate the run)."""
    return make_env(bound=True)


def _set_path(doc: Any, path: list[str | int], value: Any) -> Any:
    """``doc`` with the member at ``path`` (followed as far as it exists) replaced."""
    if not path or not isinstance(doc, dict | list) or not doc:
        return value
    out: Any = dict(doc) if isinstance(doc, dict) else list(doc)
    step = path[0]
    if isinstance(out, dict):
        key = step if isinstance(step, str) else list(out)[step % len(out)]
        out[key] = _set_path(out.get(key), path[1:], value)
    else:
        i = step % len(out) if isinstance(step, int) else 0
        out[i] = _set_path(out[i], path[1:], value)
    return out


def _presentation(env: Env, where: str, path: list[str | int], value: Any) -> str:
    payload = env.payload()
    disclosures = list(env.disclosures)
    if where == "payload":
        payload = _set_path(payload, path, value)
    elif where == "disclosure":
        i = (path[0] if isinstance(path[0], int) else 0) % len(disclosures)
        decoded = json.loads(b64d(disclosures[i]))
        raw = json.dumps(_set_path(decoded, path[1:], value), ensure_ascii=False)
        disclosures[i] = b64e(raw.encode("utf-8", "surrogatepass"))
    elif where == "new_disclosure":
        name = path[0] if isinstance(path[0], str) else value
        shape = [path[-1], value] if len(path) > 2 else ["c2FsdA", name, value]
        raw = json.dumps(shape, ensure_ascii=False).encode("utf-8", "surrogatepass")
        d = b64e(raw)
        payload = {**payload, "_sd": [*payload.get("_sd", []), digest(d)]}
        disclosures.append(d)
    jwt = sign_token(lic_header(env.signer), payload, env.signer)
    sd_jwt = sd(jwt, disclosures)
    claims: dict[str, Any] = {"iat": NOW, "aud": AUD, "nonce": NONCE, "sd_hash": sd_hash(sd_jwt)}
    header: dict[str, Any] = {"alg": "ES256", "typ": KB_TYP}
    if where == "kb":
        claims = _set_path(claims, path, value)
    elif where == "kb_header":
        header = _set_path(header, path, value)
    assert env.holder is not None
    return sd_jwt + sign_token(header, claims, env.holder)


def test_the_unmutated_presentation_verifies_with_key_binding() -> None:
    env = _env()
    text = _presentation(env, "kb", ["aud"], AUD)  # a mutation that changes nothing
    policy = VerifierPolicy(audience=AUD, nonce=NONCE, require_key_binding=True)
    assert verify_license(text, env.store, now=NOW, policy=policy).key_bound


@settings(max_examples=300, deadline=None, database=None, suppress_health_check=list(HealthCheck))
@given(
    where=_WHERE,
    path=st.lists(st.one_of(st.sampled_from(_NAMES), st.integers(0, 20)), min_size=1, max_size=4),
    value=_VALUES,
)
def test_resigned_mutations_only_raise_elicense_errors(
    where: str, path: list[str | int], value: Any
) -> None:
    env = _env()
    try:
        text = _presentation(env, where, path, value)
    except (UnicodeEncodeError, ValueError, TypeError, ElicenseError):
        return  # not encodable as JSON or refused by our own encoder: not an input
    policies = [
        VerifierPolicy(),
        VerifierPolicy(audience=AUD, nonce=NONCE, require_key_binding=True),
    ]
    for policy in policies:
        with contextlib.suppress(ElicenseError):
            verify_license(text, env.store, now=NOW, policy=policy,
                           replay=MemoryReplayStore())  # fmt: skip
