"""Platform commands over a platform home: init, serve, status changes, relying parties,
consents and the access log."""

from __future__ import annotations

import datetime as dt
import json
import os
import time
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from elicense import home as home_mod
from elicense.audit import verify_chain, verify_checkpoints
from elicense.cli._common import (
    EXIT_INVALID,
    PASSPHRASE_ENV,
    JsonOption,
    console,
    handles_errors,
    holder_key,
    passphrase,
    print_json,
    read_text,
)
from elicense.codes import pseudonym
from elicense.credentials import new_api_key
from elicense.errors import ElicenseError
from elicense.home import init_home
from elicense.platform import Platform
from elicense.records import AccessRecord, RelyingPartyRecord
from elicense.statuslist import Action, describe, verify_status_list_token

HOME_ENV = "ELICENSE_HOME"
HomeOption = typer.Option("--home", envvar=HOME_ENV, help="Platform home directory.")
DEFAULT_HOME = Path("var/platform")


def open_platform(home: Path, *, database_url: str | None = None) -> Platform:
    return home_mod.open_platform(
        home, passphrase=passphrase(PASSPHRASE_ENV), now=int(time.time()), database_url=database_url
    )


# --- init and serve ----------------------------------------------------------------------


@handles_errors
def init(
    home: Annotated[Path, HomeOption] = DEFAULT_HOME,
    region: Annotated[str, typer.Option(help="GB/T 2260 division code of the region.")] = "370300",
    region_name: Annotated[str, typer.Option(help="Region name.")] = "淄博市",
    demo: Annotated[
        bool, typer.Option("--demo", help="Add demo issuers, holders, licenses.")
    ] = False,
    database_url: Annotated[str | None, typer.Option(help="Default: SQLite in the home.")] = None,
    as_json: bool = JsonOption,
) -> None:
    """Set up a new platform: keys, trust list, database, catalog and scenarios."""
    from elicense import demo as demo_mod  # noqa: PLC0415
    from elicense.storage import upgrade  # noqa: PLC0415

    pw = passphrase(PASSPHRASE_ENV)
    now = int(time.time())
    issuers = demo_mod.demo_issuers() if demo else []
    cfg = init_home(
        home,
        region=region,
        region_name=region_name,
        issuers=issuers,
        passphrase=pw,
        now=now,
        database_url=database_url,
    )
    upgrade(cfg.database_url)
    summary: dict[str, Any] = {"home": str(home), "region": region, "database": cfg.database_url}
    if demo:
        platform = open_platform(home)
        result = demo_mod.populate(platform, now=now)
        demo_mod.write_keys(home / "demo-keys.txt", result)
        summary |= {
            "relying_party_keys": result.rp_keys,
            "licenses": len(result.licenses),
            "holder_session": result.holder_session,
        }
        platform.storage.close()
    if as_json:
        print_json(summary)
    else:
        console.print(f"[green]✓[/green] platform for {region_name} ({region}) in {home}")
        if demo:
            console.print(f"  demo keys written to {home / 'demo-keys.txt'}")


DEMO_PASSPHRASE = "elicense-demo-only-not-for-production"  # noqa: S105 - documented demo


def serve(
    home: Annotated[Path, HomeOption] = DEFAULT_HOME,
    host: Annotated[str, typer.Option(help="Bind address.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port.")] = 8000,
    workers: Annotated[int, typer.Option(help="Worker processes (use PostgreSQL for >1).")] = 1,
    demo: Annotated[
        bool, typer.Option("--demo", help="Create a demo platform in HOME first if none is there.")
    ] = False,
) -> None:
    """Run the scan-to-verify service (FastAPI under uvicorn)."""
    import uvicorn  # noqa: PLC0415

    if demo:
        if not os.environ.get(PASSPHRASE_ENV):
            os.environ[PASSPHRASE_ENV] = DEMO_PASSPHRASE
        if not (home / "platform.yaml").exists():
            init(
                home=home,
                region="370300",
                region_name="淄博市",
                demo=True,
                database_url=None,
                as_json=False,
            )
        _demo_banner(home, host, port)
    os.environ[HOME_ENV] = str(home)
    passphrase(PASSPHRASE_ENV)  # fail early with a clear message
    uvicorn.run(
        "elicense_service.app:create_app",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        log_level="warning",
        access_log=False,
    )


def _demo_banner(home: Path, host: str, port: int) -> None:
    """What a person trying the demo needs: keys, the desk URL, a fresh code to scan."""
    from elicense import qr  # noqa: PLC0415

    p = open_platform(home)
    now = int(time.time())
    holder = json.loads((home / "demo.json").read_text(encoding="utf-8"))["residents"][0]
    code = p.code_for(holder, scenarios=["hotel_checkin"], now=now, rand=os.urandom, lifetime=300)
    typer.echo((home / "demo-keys.txt").read_text(encoding="utf-8"))
    console.print(
        f"[bold]前台核验页 desk:[/bold] http://{host}:{port}/desk   "
        f"(API docs: http://{host}:{port}/docs)"
    )
    console.print("居民码 (resident code, valid 5 minutes, scan it on /desk with the hotel key):")
    typer.echo(qr.terminal(code))
    typer.echo(code)
    p.storage.close()


# --- status ------------------------------------------------------------------------------


def _change(
    action: Action, license_id: str, reason: str, home: Path, actor: str | None, as_json: bool
) -> None:
    p = open_platform(home)
    rec = p.storage.licenses.get(license_id)
    if rec is None:
        raise ElicenseError("storage.not_found")
    updated = p.change_status(
        license_id, action, reason=reason, actor=actor or rec.issuer_id, now=int(time.time())
    )
    state = ("valid", "revoked", "suspended")[updated.state]
    if as_json:
        print_json({"license_id": license_id, "state": state})
    else:
        console.print(f"[green]✓[/green] {license_id} → {state}")


Reason = typer.Option("--reason", help="Why (recorded with the change).")


@handles_errors
def revoke(
    license_id: str,
    reason: Annotated[str, Reason],
    home: Annotated[Path, HomeOption] = DEFAULT_HOME,
    actor: Annotated[
        str | None, typer.Option(help="Acting issuer (default: the license's).")
    ] = None,
    as_json: bool = JsonOption,
) -> None:
    """Revoke a license (注销/吊销): final."""
    _change(Action.REVOKE, license_id, reason, home, actor, as_json)


@handles_errors
def suspend(
    license_id: str,
    reason: Annotated[str, Reason] = "suspended",
    home: Annotated[Path, HomeOption] = DEFAULT_HOME,
    actor: Annotated[str | None, typer.Option(help="Acting issuer.")] = None,
    as_json: bool = JsonOption,
) -> None:
    """Suspend a license (暂停): reversible with reinstate."""
    _change(Action.SUSPEND, license_id, reason, home, actor, as_json)


@handles_errors
def reinstate(
    license_id: str,
    reason: Annotated[str, Reason] = "reinstated",
    home: Annotated[Path, HomeOption] = DEFAULT_HOME,
    actor: Annotated[str | None, typer.Option(help="Acting issuer.")] = None,
    as_json: bool = JsonOption,
) -> None:
    """Reinstate a suspended license."""
    _change(Action.REINSTATE, license_id, reason, home, actor, as_json)


status_app = typer.Typer(help="状态列表 Status lists.", no_args_is_help=True)


@status_app.command("show")
@handles_errors
def status_show(
    source: Annotated[
        str, typer.Argument(help="A status list id (from the home's database) or a token file.")
    ],
    index: Annotated[int | None, typer.Option("--index", help="Show one entry.")] = None,
    home: Annotated[Path, HomeOption] = DEFAULT_HOME,
    as_json: bool = JsonOption,
) -> None:
    """Counts per state (and one entry with --index), from a verified list."""
    p = open_platform(home)
    now = int(time.time())
    token = p.status_token(int(source), now) if source.isdigit() else read_text(source)
    from elicense.jose.jws import parse_compact  # noqa: PLC0415

    claims = parse_compact(token, typ="statuslist+jwt", max_length=8 * 1024 * 1024).payload
    iss = claims.get("iss")
    owner = (
        iss if isinstance(iss, str) and iss != p.platform_id else next(iter(p.issuer_signers), iss)
    )
    vsl = verify_status_list_token(
        token, p.trust, now=now, uri=str(claims.get("sub")), license_issuer=str(owner)
    )
    info = describe(vsl)
    if index is not None:
        value = vsl.statuses[index]
        info["index"] = index
        info["state"] = {0: "valid", 1: "revoked", 2: "suspended"}.get(value, f"value {value}")
    if as_json:
        print_json(info)
    else:
        for k, v in info.items():
            console.print(f"  {k}: {v}")


# --- relying parties -----------------------------------------------------------------------

rp_app = typer.Typer(help="用证单位 Relying parties.", no_args_is_help=True)


@rp_app.command("add")
@handles_errors
def rp_add(
    rp_id: Annotated[str, typer.Argument(help="A short id, e.g. hotel-qidu.")],
    uscc: Annotated[str, typer.Option(help="统一社会信用代码.")],
    name: Annotated[str, typer.Option(help="名称.")],
    kind: Annotated[str, typer.Option(help="hotel, utility, bank, government_hall, …")],
    scenario: Annotated[
        list[str], typer.Option("--scenario", help="Allowed scenario (repeatable).")
    ],
    home: Annotated[Path, HomeOption] = DEFAULT_HOME,
    as_json: bool = JsonOption,
) -> None:
    """Register a relying party and print its API key (shown once)."""
    from elicense.identifiers import parse_uscc  # noqa: PLC0415

    p = open_platform(home)
    now = int(time.time())
    p.register_rp(
        RelyingPartyRecord(rp_id, parse_uscc(uscc).code, name, kind, tuple(scenario), now)
    )
    key = new_api_key(rp_id, "rp", now=now, rand=os.urandom)
    p.storage.credentials.put(key.record)
    if as_json:
        print_json({"rp_id": rp_id, "api_key": key.token})
    else:
        console.print(f"[green]✓[/green] {name} ({rp_id}); API key (shown once):\n{key.token}")


@rp_app.command("list")
@handles_errors
def rp_list(home: Annotated[Path, HomeOption] = DEFAULT_HOME, as_json: bool = JsonOption) -> None:
    """Registered relying parties."""
    rps = open_platform(home).storage.relying_parties.list()
    if as_json:
        print_json(
            [
                {
                    "id": r.id,
                    "uscc": r.uscc,
                    "name": r.name,
                    "kind": r.kind,
                    "scenarios": list(r.scenarios),
                    "active": r.active,
                }
                for r in rps
            ]
        )
        return
    table = Table("id", "名称", "kind", "scenarios")
    for r in rps:
        table.add_row(r.id, r.name, r.kind, ", ".join(r.scenarios))
    console.print(table)


@rp_app.command("rotate-key")
@handles_errors
def rp_rotate(
    rp_id: str, home: Annotated[Path, HomeOption] = DEFAULT_HOME, as_json: bool = JsonOption
) -> None:
    """Issue a new API key and revoke every older one of this relying party."""
    p = open_platform(home)
    if p.storage.relying_parties.get(rp_id) is None:
        raise ElicenseError("storage.not_found")
    now = int(time.time())
    old = [c for c in p.storage.credentials.for_owner(rp_id) if c.revoked_at is None]
    key = new_api_key(rp_id, "rp", now=now, rand=os.urandom)
    p.storage.credentials.put(key.record)
    for c in old:
        p.storage.credentials.revoke(c.key_id, now)
    if as_json:
        print_json({"rp_id": rp_id, "api_key": key.token, "revoked": len(old)})
    else:
        console.print(
            f"[green]✓[/green] new key (shown once):\n{key.token}\n  {len(old)} old key(s) revoked"
        )


# --- consents ------------------------------------------------------------------------------

consent_app = typer.Typer(help="用证授权 Consents.", no_args_is_help=True)


def _holder_pseudonym(p: Platform, holder: str, *, register: bool = False) -> str:
    """The holder's pseudonym; only a command that creates something for the holder
    (``register``) stores the holder, a lookup never writes."""
    now = int(time.time())
    key = holder_key(holder, now)
    return p.holder(*key, now) if register else pseudonym(p.pseudonym_key, *key).hex()


@consent_app.command("grant")
@handles_errors
def consent_grant(
    holder: Annotated[str, typer.Option(help="Holder ID number or credit code.")],
    rp_id: Annotated[str, typer.Option("--rp", help="Relying party id.")],
    scenario: Annotated[str, typer.Option(help="Scenario id.")],
    purpose: Annotated[str, typer.Option(help="Purpose (≤ 200 characters).")],
    days: Annotated[int, typer.Option(help="Valid for N days (≤ 90).")] = 30,
    max_uses: Annotated[int | None, typer.Option(help="Maximum uses.")] = None,
    field: Annotated[
        list[str], typer.Option("--field", help="Field (default: all of the scenario's).")
    ] = [],  # noqa: B006
    home: Annotated[Path, HomeOption] = DEFAULT_HOME,
    as_json: bool = JsonOption,
) -> None:
    """Record a standing grant on the holder's behalf (e.g. at a counter) and print the receipt."""
    p = open_platform(home)
    now = int(time.time())
    c, receipt = p.grant(
        holder=_holder_pseudonym(p, holder, register=True),
        rp_id=rp_id,
        scenario_id=scenario,
        fields=field,
        purpose=purpose,
        valid_until=now + days * 86400,
        max_uses=max_uses,
        now=now,
        rand=os.urandom,
    )
    if as_json:
        print_json({"consent_id": c.id, "receipt": receipt})
    else:
        console.print(f"[green]✓[/green] consent {c.id}\n  receipt: {receipt}")


@consent_app.command("list")
@handles_errors
def consent_list(
    holder: Annotated[str, typer.Option(help="Holder ID number or credit code.")],
    home: Annotated[Path, HomeOption] = DEFAULT_HOME,
    as_json: bool = JsonOption,
) -> None:
    """A holder's grants."""
    p = open_platform(home)
    items = [
        {
            "id": c.id,
            "rp": c.rp_id,
            "scenario": c.scenario_id,
            "fields": list(c.fields),
            "valid_until": c.valid_until,
            "uses": c.uses,
            "max_uses": c.max_uses,
            "revoked": c.revoked_at is not None,
        }
        for c in p.storage.consents.for_holder(_holder_pseudonym(p, holder))
    ]
    if as_json:
        print_json(items)
    else:
        for i in items:
            console.print(json.dumps(i, ensure_ascii=False))


@consent_app.command("revoke")
@handles_errors
def consent_revoke(
    consent_id: str,
    holder: Annotated[str, typer.Option(help="Holder ID.")],
    home: Annotated[Path, HomeOption] = DEFAULT_HOME,
    as_json: bool = JsonOption,
) -> None:
    """Revoke a grant; effective for the next request."""
    p = open_platform(home)
    p.revoke_consent(_holder_pseudonym(p, holder), consent_id, int(time.time()))
    if as_json:
        print_json({"consent_id": consent_id, "revoked": True})
    else:
        console.print(f"[green]✓[/green] consent {consent_id} revoked")


# --- audit ---------------------------------------------------------------------------------

audit_app = typer.Typer(help="用证记录 Access log.", no_args_is_help=True)


@audit_app.command("verify")
@handles_errors
def audit_verify(
    home: Annotated[Path, HomeOption] = DEFAULT_HOME,
    database_url: Annotated[str | None, typer.Option(help="Override the home's URL.")] = None,
    as_json: bool = JsonOption,
) -> None:
    """Check the hash chain and every signed checkpoint; say which record is wrong and how."""
    p = open_platform(home, database_url=database_url)
    log = p.storage.access_log
    records: list[AccessRecord] = []
    after = 0
    while True:
        batch = log.records(after_seq=after, limit=5000)
        if not batch:
            break
        records.extend(batch)
        after = batch[-1].seq
    keys = [k.key for k in p.trust.trust_list(p.region).platform.keys.values()]
    findings = verify_chain(records) + verify_checkpoints(log.checkpoints(), records, keys)
    out = {
        "records": len(records),
        "checkpoints": len(log.checkpoints()),
        "ok": not findings,
        "findings": [{"seq": f.seq, "kind": f.kind, "detail": f.detail} for f in findings],
    }
    if as_json:
        print_json(out)
    elif findings:
        for f in findings:
            console.print(f"[red]✗[/red] record {f.seq}: {f.kind} — {f.detail}")
    else:
        console.print(
            f"[green]✓[/green] {len(records)} records, {out['checkpoints']} checkpoints: intact"
        )
    if findings:
        raise typer.Exit(EXIT_INVALID)


@audit_app.command("log")
@handles_errors
def audit_log(
    holder: Annotated[str, typer.Option(help="Holder ID number or credit code.")],
    home: Annotated[Path, HomeOption] = DEFAULT_HOME,
    limit: Annotated[int, typer.Option(help="At most N records.")] = 50,
    as_json: bool = JsonOption,
) -> None:
    """A holder's access history (what the holder sees in the app)."""
    p = open_platform(home)
    page = p.storage.access_log.for_holder(_holder_pseudonym(p, holder), after=None, limit=limit)
    items = [
        {
            "at": dt.datetime.fromtimestamp(r.at).isoformat(timespec="seconds"),
            "rp": r.rp_id,
            "scenario": r.scenario_id,
            "fields": list(r.field_names),
            "decision": r.decision,
            "code": r.code,
        }
        for r in page.items
    ]
    if as_json:
        print_json(items)
    else:
        for i in items:
            console.print(json.dumps(i, ensure_ascii=False))


@audit_app.command("stats")
@handles_errors
def audit_stats(
    home: Annotated[Path, HomeOption] = DEFAULT_HOME,
    since_days: Annotated[int | None, typer.Option(help="Only the last N days.")] = None,
    as_json: bool = JsonOption,
) -> None:
    """服务次数: counts per scenario, license type and relying party."""
    p = open_platform(home)
    since = int(time.time()) - since_days * 86400 if since_days else None
    counts = list(p.storage.access_log.counts(since=since))
    if as_json:
        print_json(
            [
                {"scenario": s, "license_type": t, "relying_party": r, "count": n}
                for s, t, r, n in counts
            ]
        )
        return
    table = Table("scenario", "license type", "relying party", "count")
    for s, t, r, n in counts:
        table.add_row(s, t or "-", r, str(n))
    console.print(table)
