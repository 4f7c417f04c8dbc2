"""docs/cli.md, generated from the CLI itself so that it cannot drift: every command, its
options and a worked example. A test fails when a command has no example or the file is
stale (``make docs`` rewrites it)."""

from __future__ import annotations

from typing import Any

import typer

EXAMPLES: dict[str, str] = {
    "id check": "elicense id check 11010519491231002X --json",
    "catalog list": "elicense catalog list --search 许可证",
    "catalog show": "elicense catalog show 营业执照 --json",
    "catalog validate": "elicense catalog validate city-catalog.yaml",
    "scenario list": "elicense scenario list --json",
    "scenario show": "elicense scenario show hotel_checkin",
    "scenario validate": "elicense scenario validate city-scenarios.yaml",
    "keys generate": "elicense keys generate --alg ES256 --out police.pem --public-out police.jwk.json",
    "keys show": "elicense keys show police.pem --json",
    "trust build": "elicense trust build --config region.yaml --anchor-key anchor.pem --out trust.jwt",
    "trust show": "elicense trust show trust.jwt",
    "trust verify": "elicense trust verify trust.jwt --anchor anchor.jwk.json",
    "db upgrade": "elicense db upgrade --url postgresql://elicense@db/elicense",
    "db current": "elicense db current --json",
    "issue": "elicense issue --type <CODE> --holder 11010519491231002X --key police.pem "
    "--trust trust.jwt --issuer <USCC> --serial 2026000001 --field name=张三 --field sex=男",
    "import": "elicense import licenses.csv --home var/platform --map registry.yaml --json",
    "verify": "elicense verify --image code.png --anchor 370300=anchor.jwk.json --trust trust.jwt --json",
    "code": "elicense code --holder 11010519491231002X --key platform.pem --region 370300 "
    "--scenario hotel_checkin --qr -",
    "present": "elicense present --license license.txt --scenario hotel_checkin --audience hotel-qidu "
    "--key platform.pem --region 370300 --anchor 370300=anchor.jwk.json --trust trust.jwt --qr p.png",
    "init": "elicense init --home var/platform --region 370300 --region-name 淄博市",
    "serve": "elicense serve --home var/platform --workers 2",
    "revoke": "elicense revoke <LICENSE ID> --reason 证件挂失",
    "suspend": "elicense suspend <LICENSE ID> --reason 涉嫌违法经营调查中",
    "reinstate": "elicense reinstate <LICENSE ID> --reason 调查结束",
    "status show": "elicense status show 1 --index 4711 --json",
    "rp add": "elicense rp add hotel-qidu --uscc 91370303MA3C00001X --name 齐都大酒店 "
    "--kind hotel --scenario hotel_checkin",
    "rp list": "elicense rp list --json",
    "rp rotate-key": "elicense rp rotate-key hotel-qidu",
    "consent grant": "elicense consent grant --holder 11010519491231002X --rp power-zibo "
    "--scenario power_account_opening --purpose 办理用电过户 --days 30 --max-uses 3",
    "consent list": "elicense consent list --holder 11010519491231002X --json",
    "consent revoke": "elicense consent revoke <CONSENT ID> --holder 11010519491231002X",
    "audit verify": "elicense audit verify --json",
    "audit log": "elicense audit log --holder 11010519491231002X",
    "audit stats": "elicense audit stats --since-days 30",
}


def leaf_commands(app: typer.Typer) -> list[tuple[str, Any]]:
    root = typer.main.get_command(app)
    out: list[tuple[str, Any]] = []

    def walk(cmd: Any, path: str) -> None:
        # Duck-typed: typer may ship its own copy of click's classes.
        children = getattr(cmd, "commands", None)
        if children:
            for name in sorted(children):
                walk(children[name], f"{path} {name}".strip())
        else:
            out.append((path, cmd))

    walk(root, "")
    return out


def render(app: typer.Typer) -> str:
    lines = [
        "# The `elicense` command line",
        "",
        "Generated from the CLI by `python -m elicense.docs`; do not edit by hand.",
        "",
        "Every command answers `--help`; commands that output data take `--json`. Exit codes:",
        "**0** success, **1** invalid input or a refusal (the error code is printed, as JSON",
        "with `--json`), **2** usage error (unknown option, missing argument). Key",
        "passphrases come from `ELICENSE_KEY_PASSPHRASE`, never from the command line; the",
        "platform home from `--home` or `ELICENSE_HOME`. Shell completion:",
        "`elicense --install-completion`.",
        "",
    ]
    for path, cmd in leaf_commands(app):
        lines += [f"## `elicense {path}`", "", (cmd.help or "").strip().split("\n\n")[0], ""]
        params = list(cmd.params)
        if params:
            lines += ["| parameter | meaning |", "|---|---|"]
            for p in params:
                if getattr(p, "param_type_name", "") == "argument":
                    lines.append(
                        f"| `{(p.name or '').upper()}` | {getattr(p, 'help', '') or 'argument'} |"
                    )
                else:
                    help_text = (getattr(p, "help", "") or "").replace("|", "\\|")
                    lines.append(f"| `{' / '.join(p.opts)}` | {help_text} |")
            lines.append("")
        lines += ["```sh", EXAMPLES.get(path, "(no example)"), "```", ""]
    return "\n".join(lines)
