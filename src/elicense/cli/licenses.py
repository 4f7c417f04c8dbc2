"""``elicense issue`` and ``elicense verify``: sign a license, check one offline."""

from __future__ import annotations

import datetime as dt
import json
import os
from pathlib import Path
from typing import Annotated

import typer

from elicense.catalog import builtin_catalog, load_catalog
from elicense.claims import local_date
from elicense.cli._common import (
    PASSPHRASE_ENV,
    JsonOption,
    console,
    now_epoch,
    passphrase,
    print_json,
    read_text,
)
from elicense.codes import normalise_scan, verify_code
from elicense.errors import ElicenseError
from elicense.fetch import StatusFetcher
from elicense.identifiers import parse_license_id
from elicense.jose.keyfile import load_private_key
from elicense.jose.keys import public_key_from_jwk
from elicense.licenses import (
    StatusCheck,
    VerifiedLicense,
    VerifierPolicy,
    issue_license,
    verify_license,
)
from elicense.presentations import verify_presentation
from elicense.replay import MemoryReplayStore
from elicense.statuslist import StatusCache
from elicense.trust import TrustStore, parse_trust_list_token, trust_list_from_payload

AnchorOption = typer.Option(
    "--anchor", help="REGION=FILE: a recognised region and its anchor public JWK (repeatable)."
)
TrustOption = typer.Option("--trust", help="Signed trust list file (repeatable).")


def trust_store(anchors: list[str], lists: list[Path], now: int) -> TrustStore:
    """A trust store of the recognised regions, loaded with their lists."""
    by_region: dict[str, list[object]] = {}
    for spec in anchors:
        region, sep, path = spec.partition("=")
        if not sep:
            raise typer.BadParameter("use REGION=FILE", param_hint="--anchor")
        jwk = json.loads(Path(path).read_text(encoding="utf-8"))
        by_region.setdefault(region, []).append(public_key_from_jwk(jwk))
    store = TrustStore(by_region)  # type: ignore[arg-type]
    for p in lists:
        store.load(p.read_text(encoding="utf-8").strip(), now)
    return store


def issue(
    license_type: Annotated[str, typer.Option("--type", help="License type code.")],
    holder: Annotated[str, typer.Option("--holder", help="Holder's ID number or credit code.")],
    key: Annotated[Path, typer.Option("--key", help="Issuer's encrypted key file.")],
    trust: Annotated[Path, typer.Option("--trust", help="The issuer region's trust list.")],
    issuer: Annotated[str, typer.Option("--issuer", help="Issuer's credit code.")],
    serial: Annotated[str, typer.Option("--serial", help="License serial (0-9, A-Z).")],
    field: Annotated[
        list[str], typer.Option("--field", help="key=value face field (repeatable).")
    ] = [],  # noqa: B006 - typer reads the default, never mutates it
    valid_from: Annotated[str | None, typer.Option(help="YYYY-MM-DD (default today).")] = None,
    valid_until: Annotated[str | None, typer.Option(help="YYYY-MM-DD (default: catalog).")] = None,
    catalog: Annotated[Path | None, typer.Option(help="Catalog file.")] = None,
    holder_jwk: Annotated[Path | None, typer.Option(help="Holder public JWK (cnf).")] = None,
    passphrase_env: Annotated[str, typer.Option("--passphrase-env")] = PASSPHRASE_ENV,
    as_json: bool = JsonOption,
) -> None:
    """Sign a license (prints the SD-JWT). The trust list is read, not verified: it is the
    issuer's own region's list, used to check what the issuer may sign."""
    now = now_epoch()
    cat = load_catalog(catalog) if catalog else builtin_catalog()
    t = cat.get(license_type)
    tl_payload = parse_trust_list_token(trust.read_text(encoding="utf-8").strip()).payload
    entry = trust_list_from_payload(tl_payload).issuers.get(issuer)
    if entry is None:
        raise ElicenseError("trust.unknown_issuer")
    fields = {}
    for item in field:
        k, sep, v = item.partition("=")
        if not sep:
            raise typer.BadParameter("use key=value", param_hint="--field")
        fields[k] = v
    start = dt.date.fromisoformat(valid_from) if valid_from else local_date(now)
    end = dt.date.fromisoformat(valid_until) if valid_until else None
    if end is None and t.validity_months is not None:
        months = start.month - 1 + t.validity_months
        end = start.replace(year=start.year + months // 12, month=months % 12 + 1, day=1)
    hk = None
    if holder_jwk is not None:
        hk = public_key_from_jwk(json.loads(holder_jwk.read_text(encoding="utf-8")))
    lic = issue_license(
        license_type=t,
        issuer=entry,
        signer=load_private_key(key.read_bytes(), passphrase(passphrase_env)),
        holder=holder,
        fields=fields,
        serial=serial,
        valid_from=start,
        valid_until=end,
        now=now,
        rand=os.urandom,
        holder_jwk=hk,
    )
    if as_json:
        print_json({"license_id": lic.license_id, "type": lic.type_code, "sd_jwt": lic.sd_jwt})
    else:
        typer.echo(lic.sd_jwt)


def _verdict(v: VerifiedLicense) -> dict[str, object]:
    return {
        "valid": True,
        "kind": "license",
        "type": v.type_code,
        "issuer": v.issuer,
        "issuer_name": v.issuer_name,
        "region": v.region,
        "license_id": v.license_id,
        "valid_from": v.valid_from,
        "valid_until": v.valid_until,
        "key_bound": v.key_bound,
        "holder_id": v.holder_id,
        "fields": v.fields,
    }


def _read_image(path: Path) -> str:
    """Decode the one QR code in an image with a real decoder (zxing-cpp)."""
    import zxingcpp  # noqa: PLC0415 - only the image path needs the decoder
    from PIL import Image, UnidentifiedImageError  # noqa: PLC0415

    try:
        # QR only: in about one image in 300 the decoder also "finds" a Codabar in the
        # modules' pattern, which would make one code look like two.
        results = zxingcpp.read_barcodes(
            Image.open(path), formats=zxingcpp.barcode_formats_from_str("QRCode")
        )
    except (OSError, UnidentifiedImageError):
        raise ElicenseError("code.malformed", details={"reason": "not a readable image"}) from None
    if len(results) != 1:
        raise ElicenseError("code.malformed", details={"reason": f"{len(results)} QR codes found"})
    return str(results[0].text)


def _verify_text(
    text: str,
    store: TrustStore,
    now: int,
    audience: str | None,
    policy: VerifierPolicy,
    status: StatusCheck | None = None,
) -> dict[str, object]:
    """Dispatch on what was scanned: a code, a presentation, or an SD-JWT license."""
    replay = MemoryReplayStore()
    head = normalise_scan(text)[:4]
    if head in ("RC1:", "EC1:"):
        c = verify_code(text, store, now=now, replay=replay, audience=audience)
        return {"valid": True, "kind": c.kind.name.lower(), "region": c.region,
                "platform": c.platform, "scenarios": list(c.scenarios), "audience": c.audience,
                "issued_at": c.issued_at, "expires_at": c.expires_at}  # fmt: skip
    if head == "LP1:":
        if audience is None:
            raise typer.BadParameter("a presentation is verified for an --audience")
        p = verify_presentation(text, store, now=now, audience=audience, replay=replay)
        if status is not None:
            for lic in p.licenses:
                if lic.status_uri is None or lic.status_idx is None:
                    raise ElicenseError("token.bad_claim", details={"claim": "status"})
                issuer = parse_license_id(lic.license_id).issuer
                status.check(lic.status_uri, lic.status_idx, issuer, now)
        return {"valid": True, "kind": "presentation", "region": p.region, "scenario": p.scenario,
                "audience": p.audience, "expires_at": p.expires_at,
                "licenses": [{"license_id": lic.license_id, "type": lic.type_code,
                              "fields": lic.fields, "status": lic.status_uri and
                              {"uri": lic.status_uri, "idx": lic.status_idx}}
                             for lic in p.licenses]}  # fmt: skip
    return _verdict(verify_license(text, store, now=now, policy=policy, status=status))


def verify(
    file: Annotated[
        str | None, typer.Argument(help="Scanned text or SD-JWT file, or - for stdin.")
    ] = None,
    anchor: Annotated[list[str], AnchorOption] = [],  # noqa: B006 - read, never mutated
    trust: Annotated[list[Path], TrustOption] = [],  # noqa: B006
    image: Annotated[Path | None, typer.Option("--image", help="A QR image to decode.")] = None,
    audience: Annotated[str | None, typer.Option(help="This verifier / relying party.")] = None,
    nonce: Annotated[str | None, typer.Option(help="The nonce this verifier issued.")] = None,
    require_key_binding: Annotated[bool, typer.Option("--require-key-binding")] = False,
    status_from: Annotated[
        list[str],
        typer.Option(
            "--status-from",
            help="Also check revocation: fetch status lists, only from URLs starting with "
            "this prefix (repeatable).",
        ),
    ] = [],  # noqa: B006 - read, never mutated
    as_json: bool = JsonOption,
) -> None:
    """Verify offline: a license (SD-JWT), a code or a presentation, from text or a QR image.

    Status lists are fetched only with ``--status-from``, and only from the prefixes given
    there (never from wherever a token points)."""
    now = now_epoch()
    if (file is None) == (image is None):
        raise typer.BadParameter("give either FILE or --image")
    try:
        text = _read_image(image) if image is not None else read_text(file or "-")
        store = trust_store(anchor, trust, now)
        policy = VerifierPolicy(
            audience=audience, nonce=nonce, require_key_binding=require_key_binding
        )
        status = StatusCache(store, StatusFetcher(status_from)) if status_from else None
        verdict = _verify_text(text, store, now, audience, policy, status)
    except ElicenseError as exc:
        if as_json:
            print_json({"valid": False, "code": exc.code, "message": exc.message})
        else:
            console.print(f"[red]✗ 无效 invalid[/red] {exc.code}: {exc.message}")
        raise typer.Exit(1) from None
    if as_json:
        print_json(verdict)
        return
    console.print(f"[green]✓ 有效 valid[/green] {verdict.get('kind', verdict.get('type'))}")
    for k, val in verdict.items():
        if k != "valid":
            console.print(f"  {k}: {val}")
