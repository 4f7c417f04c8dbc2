"""``elicense trust``: build, show and verify a region's signed trust list."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Annotated, Any

import typer
import yaml

from elicense.claims import day_start
from elicense.cli._common import (
    PASSPHRASE_ENV,
    JsonOption,
    console,
    handles_errors,
    now_epoch,
    passphrase,
    print_json,
    read_text,
)
from elicense.errors import ElicenseError
from elicense.jose.keyfile import load_private_key
from elicense.jose.keys import public_key_from_jwk
from elicense.trust import (
    TrustStore,
    parse_trust_list_token,
    trust_list_from_payload,
    verify_trust_list,
)

app = typer.Typer(help="信任列表 Trust lists (电子证照互认).", no_args_is_help=True)


def _time(value: Any) -> int | None:
    if value is None:
        return None
    if isinstance(value, dt.datetime):
        return int(value.timestamp())
    if isinstance(value, dt.date):
        return day_start(value)
    if isinstance(value, int):
        return value
    raise ElicenseError("trust.bad_list", details={"reason": "times are dates or epoch seconds"})


def _jwk(ref: Any, base: Path) -> dict[str, Any]:
    if isinstance(ref, dict):
        return ref
    if isinstance(ref, str):
        try:
            data = json.loads((base / ref).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            raise ElicenseError(
                "trust.bad_list", details={"reason": f"cannot read {ref}"}
            ) from None
        if isinstance(data, dict):
            return data
    raise ElicenseError("trust.bad_list", details={"reason": "jwk must be a mapping or a file"})


def _entry(raw: Any, base: Path) -> dict[str, Any]:
    if not isinstance(raw, dict):
        raise ElicenseError("trust.bad_list", details={"reason": "entries must be mappings"})
    keys = []
    for k in raw.get("keys") or []:
        jwk = _jwk(k.get("jwk"), base)
        key = public_key_from_jwk(jwk)
        item: dict[str, Any] = {
            "jwk": key.to_jwk(),
            "nbf": _time(k.get("nbf")) or 0,
            "state": k.get("state", "active"),
        }
        for name in ("exp", "retired_at"):
            if k.get(name) is not None:
                item[name] = _time(k[name])
        keys.append(item)
    return {
        **{k: v for k, v in raw.items() if k != "keys"},
        "division": str(raw.get("division")),
        "keys": keys,
    }


def payload_from_config(config: dict[str, Any], base: Path, now: int) -> dict[str, Any]:
    """A trust list payload from a YAML description (see docs/trust.md)."""
    valid_days = int(config.get("valid_days", 7))
    return {
        "iss": str(config.get("region")),
        "region_name": config.get("region_name"),
        "ver": config.get("version"),
        "iat": now,
        "next_update": now + valid_days * 86400,
        "platform": _entry(config.get("platform"), base),
        "issuers": [_entry(i, base) for i in config.get("issuers") or []],
    }


@app.command("build")
@handles_errors
def build(
    config: Annotated[Path, typer.Option("--config", help="Region description (YAML).")],
    anchor_key: Annotated[Path, typer.Option("--anchor-key", help="The region's anchor key.")],
    out: Annotated[Path, typer.Option("--out", help="Where to write the signed list.")],
    passphrase_env: Annotated[str, typer.Option("--passphrase-env")] = PASSPHRASE_ENV,
    as_json: bool = JsonOption,
) -> None:
    """Sign a trust list with the region's anchor key."""
    data = yaml.safe_load(config.read_text(encoding="utf-8"))
    if not isinstance(data, dict):
        raise ElicenseError("trust.bad_list", details={"reason": "config must be a mapping"})
    anchor = load_private_key(anchor_key.read_bytes(), passphrase(passphrase_env))
    tl = trust_list_from_payload(payload_from_config(data, config.parent, now_epoch()))
    token = tl.sign(anchor)
    out.write_text(token + "\n", encoding="utf-8")
    summary = {
        "region": tl.region,
        "version": tl.version,
        "issuers": len(tl.issuers),
        "next_update": tl.next_update,
        "anchor_kid": anchor.kid,
        "file": str(out),
    }
    if as_json:
        print_json(summary)
    else:
        console.print(
            f"[green]✓[/green] trust list v{tl.version} of {tl.region} "
            f"({len(tl.issuers)} issuers) written to {out}"
        )


@app.command("show")
@handles_errors
def show(
    file: Annotated[str, typer.Argument(help="Signed trust list, or - for stdin.")],
    as_json: bool = JsonOption,
) -> None:
    """Print a trust list's content WITHOUT verifying it (use `trust verify` for that)."""
    parsed = parse_trust_list_token(read_text(file))
    tl = trust_list_from_payload(parsed.payload)
    if as_json:
        print_json({"verified": False, **tl.payload()})
        return
    console.print(f"[yellow]unverified[/yellow] {tl.region_name} ({tl.region}) v{tl.version}")
    console.print(f"  platform {tl.platform.name} {tl.platform.id}")
    for i in tl.issuers.values():
        console.print(f"  {i.name} {i.id} · {len(i.types)} types · {len(i.keys)} keys")


def _anchor_keys(anchor: list[Path]) -> list[Any]:
    return [public_key_from_jwk(json.loads(p.read_text(encoding="utf-8"))) for p in anchor]


@app.command("verify")
@handles_errors
def verify(
    file: Annotated[str, typer.Argument(help="Signed trust list, or - for stdin.")],
    anchor: Annotated[list[Path], typer.Option("--anchor", help="Anchor public JWK file(s).")],
    as_json: bool = JsonOption,
) -> None:
    """Verify signature, content and freshness (exit 1 if anything is wrong)."""
    token = read_text(file)
    keys = _anchor_keys(anchor)
    tl = verify_trust_list(token, keys)
    TrustStore({tl.region: keys}).load(token, now_epoch())
    if as_json:
        print_json(
            {
                "verified": True,
                "region": tl.region,
                "version": tl.version,
                "next_update": tl.next_update,
                "issuers": len(tl.issuers),
            }
        )
    else:
        console.print(f"[green]✓ verified[/green] {tl.region_name} ({tl.region}) v{tl.version}")
