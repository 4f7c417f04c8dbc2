"""``elicense code`` and ``elicense present``: what a holder shows, as text or a QR image.

These are platform-side commands: they sign with the platform key. The holder pseudonym
secret comes from ``ELICENSE_PSEUDONYM_KEY`` (hex), never from argv.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Annotated

import typer

from elicense import qr
from elicense.catalog import builtin_catalog
from elicense.claims import local_date
from elicense.cli._common import (
    EXIT_USAGE,
    PASSPHRASE_ENV,
    JsonOption,
    err_console,
    holder_key,
    now_epoch,
    passphrase,
    print_json,
    read_text,
)
from elicense.cli.licenses import AnchorOption, TrustOption, trust_store
from elicense.cli.platform_cmds import DEFAULT_HOME, HomeOption, open_platform
from elicense.codes import DEFAULT_CODE_LIFETIME, Kind, issue_code, pseudonym
from elicense.disclosure import LicenseView
from elicense.errors import ElicenseError
from elicense.faces import validate_holder
from elicense.identifiers import ROOT_OID, HolderCodeType
from elicense.jose.keyfile import load_private_key
from elicense.licenses import verify_license
from elicense.presentations import issue_presentation
from elicense.scenarios import builtin_scenarios

PSEUDONYM_ENV = "ELICENSE_PSEUDONYM_KEY"


def pseudonym_key() -> bytes:
    value = os.environ.get(PSEUDONYM_ENV, "")
    try:
        key = bytes.fromhex(value)
    except ValueError:
        key = b""
    if len(key) < 16:
        err_console.print(f"[red]set {PSEUDONYM_ENV} to the platform's pseudonym key (hex)[/red]")
        raise typer.Exit(EXIT_USAGE)
    return key


def emit(text: str, qr_out: str | None, as_json: bool, extra: dict[str, object]) -> None:
    """Print the text, and write the QR where asked (``-`` prints it in the terminal)."""
    if qr_out == "-":
        sys.stdout.write(qr.terminal(text))
    elif qr_out is not None:
        path = Path(qr_out)
        data = qr.svg(text) if path.suffix.lower() == ".svg" else qr.png(text)
        path.write_bytes(data)
    info = qr.info(text)
    if as_json:
        print_json({"text": text, "qr_version": info.version, "qr_modules": info.modules, **extra})
    elif qr_out != "-":
        typer.echo(text)


def code(
    holder: Annotated[str, typer.Option("--holder", help="ID number or credit code.")],
    key: Annotated[
        Path | None, typer.Option("--key", help="Platform key file (without --home).")
    ] = None,
    region: Annotated[str | None, typer.Option("--region", help="Region (with --key).")] = None,
    home: Annotated[Path | None, HomeOption] = None,
    scenario: Annotated[
        list[str], typer.Option("--scenario", help="Scenario id the holder agrees to (repeatable).")
    ] = [],  # noqa: B006 - read, never mutated
    audience: Annotated[
        str | None, typer.Option(help="Only this relying party may use it.")
    ] = None,
    lifetime: Annotated[int, typer.Option(help="Seconds, at most 300.")] = DEFAULT_CODE_LIFETIME,
    qr_out: Annotated[
        str | None, typer.Option("--qr", help="FILE.png, FILE.svg or - (terminal).")
    ] = None,
    passphrase_env: Annotated[str, typer.Option("--passphrase-env")] = PASSPHRASE_ENV,
    as_json: bool = JsonOption,
) -> None:
    """Sign a resident code (居民码) or enterprise code (企业码) for a holder."""
    now = now_epoch()
    holder_type, code_value = holder_key(holder, now)
    resident = holder_type == HolderCodeType.RESIDENT_ID
    if key is None:
        p = open_platform(home or DEFAULT_HOME)
        pid = p.holder(holder_type, code_value, now)
        text = p.code_for(
            pid, scenarios=scenario, now=now, rand=os.urandom, audience=audience, lifetime=lifetime
        )
        emit(text, qr_out, as_json, {"kind": "resident" if resident else "enterprise"})
        return
    if region is None:
        raise typer.BadParameter("--key needs --region", param_hint="--region")
    numbers = [builtin_scenarios().get(s).number for s in scenario]
    text = issue_code(
        kind=Kind.RESIDENT_CODE if resident else Kind.ENTERPRISE_CODE,
        signer=load_private_key(key.read_bytes(), passphrase(passphrase_env)),
        region=region,
        sub=pseudonym(pseudonym_key(), holder_type, code_value),
        scenarios=numbers,
        now=now,
        rand=os.urandom,
        audience=audience,
        lifetime=lifetime,
    )
    emit(text, qr_out, as_json, {"kind": "resident" if resident else "enterprise"})


def present(
    license_ref: Annotated[
        str, typer.Option("--license", help="License identifier (with --home) or SD-JWT file.")
    ],
    scenario: Annotated[str, typer.Option("--scenario", help="Scenario id.")],
    audience: Annotated[str, typer.Option("--audience", help="The relying party it is for.")],
    home: Annotated[Path | None, HomeOption] = None,
    key: Annotated[Path | None, typer.Option("--key", help="Platform key (file mode).")] = None,
    region: Annotated[str | None, typer.Option("--region", help="Region (file mode).")] = None,
    anchor: Annotated[list[str], AnchorOption] = [],  # noqa: B006 - read, never mutated
    trust: Annotated[list[Path], TrustOption] = [],  # noqa: B006
    qr_out: Annotated[str | None, typer.Option("--qr", help="FILE.png, FILE.svg or -.")] = None,
    passphrase_env: Annotated[str, typer.Option("--passphrase-env")] = PASSPHRASE_ENV,
    as_json: bool = JsonOption,
) -> None:
    """Sign an offline presentation (亮证) of one scenario for one relying party."""
    now = now_epoch()
    if license_ref.startswith(ROOT_OID):
        p = open_platform(home or DEFAULT_HOME)
        rec = p.storage.licenses.get(license_ref)
        if rec is None:
            raise ElicenseError("storage.not_found")
        text = p.presentation_for(
            rec.holder_pseudonym, scenario_id=scenario, audience=audience, now=now, rand=os.urandom
        )
        emit(text, qr_out, as_json, {"kind": "presentation", "scenario": scenario})
        return
    if key is None or region is None:
        raise typer.BadParameter("a license file needs --key, --region, --anchor and --trust")
    store = trust_store(anchor, trust, now)
    v = verify_license(read_text(license_ref), store, now=now)
    sc = builtin_scenarios().get(scenario)
    t = builtin_catalog().get(v.type_code)
    holder_type, holder_code = validate_holder(t, v.holder_id or "", today=local_date(now))
    view = LicenseView.of(v)
    text = issue_presentation(
        signer=load_private_key(key.read_bytes(), passphrase(passphrase_env)),
        region=region,
        sub=pseudonym(pseudonym_key(), holder_type, holder_code),
        scenario=sc,
        audience=audience,
        licenses=[view],
        now=now,
        rand=os.urandom,
    )
    emit(text, qr_out, as_json, {"kind": "presentation", "scenario": sc.id})
