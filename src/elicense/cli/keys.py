"""``elicense keys``: generate signing keys and show their public half."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from elicense.cli._common import (
    PASSPHRASE_ENV,
    JsonOption,
    console,
    handles_errors,
    passphrase,
    print_json,
)
from elicense.jose.keyfile import generate_signer, load_private_key, save_private_key
from elicense.jose.keys import Alg

app = typer.Typer(help="签名密钥 Signing keys.", no_args_is_help=True)

PassEnv = typer.Option("--passphrase-env", help="Environment variable holding the passphrase.")


@app.command("generate")
@handles_errors
def generate(
    out: Annotated[Path, typer.Option("--out", help="Encrypted private key file (PEM).")],
    alg: Annotated[Alg, typer.Option("--alg", help="Algorithm pinned to the key.")] = Alg.ES256,
    public_out: Annotated[
        Path | None, typer.Option("--public-out", help="Also write the public JWK here.")
    ] = None,
    passphrase_env: Annotated[str, PassEnv] = PASSPHRASE_ENV,
    as_json: bool = JsonOption,
) -> None:
    """Generate a key; the private half is written passphrase-encrypted, never plain."""
    if out.exists():
        console.print(f"[red]{out} exists; refusing to overwrite a key[/red]")
        raise typer.Exit(2)
    signer = generate_signer(alg)
    pem = save_private_key(signer, passphrase(passphrase_env))
    out.write_bytes(pem)
    out.chmod(0o600)
    jwk = signer.public_key().to_jwk()
    if public_out is not None:
        public_out.write_text(json.dumps(jwk, indent=2) + "\n", encoding="utf-8")
    if as_json:
        print_json({"kid": signer.kid, "alg": signer.alg.value, "jwk": jwk, "file": str(out)})
    else:
        console.print(f"[green]✓[/green] {signer.alg.value} key written to {out}")
        console.print(f"  kid {signer.kid}")


@app.command("show")
@handles_errors
def show(
    key: Annotated[Path, typer.Argument(help="Encrypted private key file.")],
    passphrase_env: Annotated[str, PassEnv] = PASSPHRASE_ENV,
    as_json: bool = JsonOption,
) -> None:
    """Print the public JWK (with kid and pinned alg) of a key file."""
    signer = load_private_key(key.read_bytes(), passphrase(passphrase_env))
    jwk = signer.public_key().to_jwk()
    if as_json:
        print_json(jwk)
    else:
        console.print(json.dumps(jwk, indent=2))
