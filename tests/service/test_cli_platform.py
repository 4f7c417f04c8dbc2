"""The platform CLI on a real demo home: status changes, status lists, relying parties,
consents and the access log."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from elicense.cli import app
from elicense.codes import pseudonym

from service_support import PASS, Service, build_service

runner = CliRunner(env={"ELICENSE_KEY_PASSPHRASE": PASS.decode()})


@pytest.fixture(scope="module")
def svc(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Service]:
    s = build_service(tmp_path_factory.mktemp("cli"))
    yield s
    s.platform.storage.close()


def cli(svc: Service, *args: str, code: int = 0) -> dict:
    result = runner.invoke(app, [*args, "--home", str(svc.home), "--json"])
    assert result.exit_code == code, result.output
    return json.loads(result.stdout) if result.stdout.strip() else {}


def test_suspend_reinstate_and_revoke_follow_the_rules(svc: Service) -> None:
    lic = svc.demo.licenses["居民身份证 #1"]
    assert cli(svc, "suspend", lic, "--reason", "调查")["state"] == "suspended"
    assert cli(svc, "reinstate", lic, "--reason", "调查结束")["state"] == "valid"
    assert cli(svc, "revoke", lic, "--reason", "挂失")["state"] == "revoked"
    refused = cli(svc, "reinstate", lic, "--reason", "x", code=1)
    assert refused["error"]["code"] == "status.bad_transition"


def test_status_show_counts_states_and_reads_one_entry(svc: Service) -> None:
    rec = svc.platform.storage.licenses.get(
        svc.demo.licenses["居民身份证 #5"]
    )  # revoked by the demo
    assert rec is not None
    info = cli(svc, "status", "show", str(rec.status_list_id), "--index", str(rec.status_idx))
    assert info["state"] == "revoked"
    assert info["revoked"] >= 1
    assert info["entries"] >= 131072


def test_relying_party_add_list_and_key_rotation(svc: Service) -> None:
    added = cli(
        svc,
        "rp",
        "add",
        "cafe-1",
        "--uscc",
        "12345",
        "--name",
        "网吧",
        "--kind",
        "internet_cafe",
        "--scenario",
        "internet_cafe_checkin",
        code=1,
    )
    assert added["error"]["code"].startswith("uscc.")
    added = cli(
        svc,
        "rp",
        "add",
        "cafe-1",
        "--uscc",
        "91110000600037341L",
        "--name",
        "网吧",
        "--kind",
        "internet_cafe",
        "--scenario",
        "internet_cafe_checkin",
    )
    assert added["api_key"].startswith("elk_")
    assert "cafe-1" in [r["id"] for r in cli(svc, "rp", "list")]
    rotated = cli(svc, "rp", "rotate-key", "cafe-1")
    assert rotated["revoked"] == 1
    old = svc.client.post(
        "/v1/verify",
        json={"text": "x", "scenario": "internet_cafe_checkin"},
        headers={"Authorization": f"Bearer {added['api_key']}"},
    )
    assert old.json()["code"] == "auth.invalid"


def test_consent_grant_list_revoke_and_audit_log(svc: Service) -> None:
    holder = svc.platform.storage.holders.get(svc.demo.residents[0])
    assert holder is not None
    granted = cli(
        svc,
        "consent",
        "grant",
        "--holder",
        holder.holder_code,
        "--rp",
        "power-zibo",
        "--scenario",
        "power_account_opening",
        "--purpose",
        "办理用电过户",
        "--max-uses",
        "2",
    )
    assert granted["receipt"].count(".") == 2
    listed = cli(svc, "consent", "list", "--holder", holder.holder_code)
    assert granted["consent_id"] in [c["id"] for c in listed]
    cli(svc, "consent", "revoke", granted["consent_id"], "--holder", holder.holder_code)
    assert any(c["revoked"] for c in cli(svc, "consent", "list", "--holder", holder.holder_code))
    svc.client.post(
        "/v1/verify",
        json={"text": svc.code(), "scenario": "hotel_checkin"},
        headers=svc.rp("hotel-qidu"),
    )
    log = cli(svc, "audit", "log", "--holder", holder.holder_code)
    assert log
    assert all(
        "name" not in json.dumps(entry, ensure_ascii=False).split('"fields"')[0] for entry in log
    )
    stats = cli(svc, "audit", "stats")
    assert any(row["scenario"] == "hotel_checkin" for row in stats)
    assert cli(svc, "audit", "verify")["ok"] is True


def test_platform_commands_without_a_home_say_what_to_do(tmp_path: Path) -> None:
    result = runner.invoke(app, ["rp", "list", "--home", str(tmp_path / "nowhere"), "--json"])
    assert result.exit_code == 1
    assert json.loads(result.stdout)["error"]["code"] == "home.unreadable"


def test_code_and_present_by_license_id_from_the_platform_home(
    svc: Service, tmp_path: Path
) -> None:
    holder = svc.platform.storage.holders.get(svc.demo.residents[0])
    assert holder is not None
    png = tmp_path / "code.png"
    code = cli(
        svc, "code", "--holder", holder.holder_code, "--scenario", "hotel_checkin", "--qr", str(png)
    )
    assert png.read_bytes().startswith(b"\x89PNG")
    ok = svc.client.post(
        "/v1/verify",
        json={"text": code["text"], "scenario": "hotel_checkin"},
        headers=svc.rp("hotel-qidu"),
    )
    assert ok.status_code == 200
    lic = svc.demo.licenses["居民身份证 #0"]
    pres = cli(
        svc, "present", "--license", lic, "--scenario", "hotel_checkin", "--audience", "hotel-qidu"
    )
    assert pres["text"].startswith("LP1:")
    assert pres["qr_version"] <= 15


def test_looking_up_a_holder_never_stores_one_and_a_non_holder_id_is_refused(
    svc: Service,
) -> None:
    stranger = "11010519491231002X"  # a valid ID number the platform has never seen
    pid = pseudonym(svc.platform.pseudonym_key, "111", stranger).hex()
    assert cli(svc, "consent", "list", "--holder", stranger) == []
    assert cli(svc, "audit", "log", "--holder", stranger) == []
    assert svc.platform.storage.holders.get(pid) is None
    license_id = next(iter(svc.demo.licenses.values()))  # valid, but not a holder code
    result = runner.invoke(
        app, ["consent", "list", "--holder", license_id, "--home", str(svc.home), "--json"]
    )
    assert result.exit_code == 1
    assert json.loads(result.stdout)["error"]["code"] == "id.unrecognised"
