"""The CLI's key, trust-list, issue and verify commands, end to end on real files."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from elicense.cli import app
from elicense.identifiers import uscc_check_char

from support import ID_CARD_FIELDS, resident_type

runner = CliRunner(env={"ELICENSE_KEY_PASSPHRASE": "correct horse battery"})
POLICE = "11370300MB0012345"
POLICE += uscc_check_char(POLICE)
PLATFORM = "11370300MB0000001"
PLATFORM += uscc_check_char(PLATFORM)


def ok(*args: str) -> str:
    result = runner.invoke(app, list(args))
    assert result.exit_code == 0, result.output
    return result.stdout


@pytest.fixture
def region(tmp_path: Path) -> Path:
    for name in ("anchor", "platform", "police"):
        ok(
            "keys",
            "generate",
            "--out",
            str(tmp_path / f"{name}.pem"),
            "--public-out",
            str(tmp_path / f"{name}.jwk.json"),
        )
    config = {
        "region": "370300",
        "region_name": "淄博市",
        "version": 1,
        "valid_days": 7,
        "platform": {
            "id": PLATFORM,
            "name": "淄博市大数据局",
            "division": "370300",
            "keys": [{"jwk": "platform.jwk.json"}],
        },
        "issuers": [
            {
                "id": POLICE,
                "name": "淄博市公安局",
                "division": "370300",
                "types": [resident_type().code],
                "keys": [{"jwk": "police.jwk.json"}],
            }
        ],
    }
    (tmp_path / "region.yaml").write_text(yaml.safe_dump(config, allow_unicode=True), "utf-8")
    ok(
        "trust",
        "build",
        "--config",
        str(tmp_path / "region.yaml"),
        "--anchor-key",
        str(tmp_path / "anchor.pem"),
        "--out",
        str(tmp_path / "trust.jwt"),
    )
    return tmp_path


def test_keys_are_written_encrypted_and_show_their_public_jwk(tmp_path: Path) -> None:
    out = ok("keys", "generate", "--alg", "EdDSA", "--out", str(tmp_path / "k.pem"), "--json")
    info = json.loads(out)
    assert b"ENCRYPTED PRIVATE KEY" in (tmp_path / "k.pem").read_bytes()
    shown = json.loads(ok("keys", "show", str(tmp_path / "k.pem"), "--json"))
    assert shown["kid"] == info["kid"]
    assert shown["alg"] == "EdDSA"
    assert "d" not in shown


def test_wrong_passphrase_is_refused_with_its_code(tmp_path: Path) -> None:
    ok("keys", "generate", "--out", str(tmp_path / "k.pem"))
    result = CliRunner(env={"ELICENSE_KEY_PASSPHRASE": "not the one"}).invoke(
        app, ["keys", "show", str(tmp_path / "k.pem"), "--json"]
    )
    assert result.exit_code == 1
    assert json.loads(result.stdout)["error"]["code"] == "key.bad_passphrase"


def test_trust_list_verifies_with_its_anchor_only(region: Path) -> None:
    out = ok(
        "trust",
        "verify",
        str(region / "trust.jwt"),
        "--anchor",
        str(region / "anchor.jwk.json"),
        "--json",
    )
    assert json.loads(out)["verified"] is True
    bad = runner.invoke(
        app,
        [
            "trust",
            "verify",
            str(region / "trust.jwt"),
            "--anchor",
            str(region / "police.jwk.json"),
            "--json",
        ],
    )
    assert bad.exit_code == 1
    assert json.loads(bad.stdout)["error"]["code"] == "trust.bad_signature"


def test_issue_then_verify_offline_prints_the_disclosed_fields(region: Path) -> None:
    fields = [f"--field={k}={v}" for k, v in ID_CARD_FIELDS.items()]
    out = ok(
        "issue",
        "--type",
        resident_type().code,
        "--holder",
        ID_CARD_FIELDS["id_number"],
        "--key",
        str(region / "police.pem"),
        "--trust",
        str(region / "trust.jwt"),
        "--issuer",
        POLICE,
        "--serial",
        "2026000001",
        *fields,
        "--json",
    )
    sd_jwt = json.loads(out)["sd_jwt"]
    (region / "license.txt").write_text(sd_jwt + "\r\n", encoding="utf-8")
    anchor = f"370300={region / 'anchor.jwk.json'}"
    verdict = json.loads(
        ok(
            "verify",
            str(region / "license.txt"),
            "--anchor",
            anchor,
            "--trust",
            str(region / "trust.jwt"),
            "--json",
        )
    )
    assert verdict["valid"] is True
    assert verdict["fields"]["name"] == ID_CARD_FIELDS["name"]
    forged = sd_jwt.replace(sd_jwt.split(".")[1][:10], "A" * 10, 1)
    (region / "forged.txt").write_text(forged, encoding="utf-8")
    result = runner.invoke(
        app,
        [
            "verify",
            str(region / "forged.txt"),
            "--anchor",
            anchor,
            "--trust",
            str(region / "trust.jwt"),
            "--json",
        ],
    )
    assert result.exit_code == 1
    assert json.loads(result.stdout)["valid"] is False


def test_issue_refuses_a_type_the_trust_list_does_not_allow(region: Path) -> None:
    business = next(t for t in __import__("elicense").builtin_catalog() if t.name_zh == "营业执照")
    result = runner.invoke(
        app,
        [
            "issue",
            "--type",
            business.code,
            "--holder",
            "91110000600037341L",
            "--key",
            str(region / "police.pem"),
            "--trust",
            str(region / "trust.jwt"),
            "--issuer",
            POLICE,
            "--serial",
            "1",
            "--json",
        ],
    )
    assert result.exit_code == 1
    assert json.loads(result.stdout)["error"]["code"] == "trust.type_not_allowed"


# --- codes and presentations ------------------------------------------------------------

CODE_ENV = {
    "ELICENSE_KEY_PASSPHRASE": "correct horse battery",
    "ELICENSE_PSEUDONYM_KEY": "00112233445566778899aabbccddeeff",
}


def test_code_as_png_is_decoded_and_verified_by_verify_image(region: Path) -> None:
    r = CliRunner(env=CODE_ENV)
    png = region / "code.png"
    result = r.invoke(
        app,
        [
            "code",
            "--holder",
            ID_CARD_FIELDS["id_number"],
            "--key",
            str(region / "platform.pem"),
            "--region",
            "370300",
            "--scenario",
            "hotel_checkin",
            "--qr",
            str(png),
            "--json",
        ],
    )
    assert result.exit_code == 0, result.output
    issued = json.loads(result.stdout)
    assert issued["qr_version"] <= 10
    anchor = f"370300={region / 'anchor.jwk.json'}"
    verdict = json.loads(
        ok(
            "verify",
            "--image",
            str(png),
            "--anchor",
            anchor,
            "--trust",
            str(region / "trust.jwt"),
            "--json",
        )
    )
    assert verdict["kind"] == "resident_code"
    assert verdict["scenarios"] == [1]
    assert ID_CARD_FIELDS["id_number"] not in issued["text"]


def test_presentation_svg_and_text_verify_for_their_audience_only(region: Path) -> None:
    fields = [f"--field={k}={v}" for k, v in ID_CARD_FIELDS.items()]
    lic = json.loads(
        ok(
            "issue",
            "--type",
            resident_type().code,
            "--holder",
            ID_CARD_FIELDS["id_number"],
            "--key",
            str(region / "police.pem"),
            "--trust",
            str(region / "trust.jwt"),
            "--issuer",
            POLICE,
            "--serial",
            "2026000002",
            *fields,
            "--json",
        )
    )
    (region / "lic.txt").write_text(lic["sd_jwt"], encoding="utf-8")
    anchor = f"370300={region / 'anchor.jwk.json'}"
    r = CliRunner(env=CODE_ENV)
    result = r.invoke(
        app,
        [
            "present",
            "--license",
            str(region / "lic.txt"),
            "--scenario",
            "hotel_checkin",
            "--audience",
            "hotel-1",
            "--key",
            str(region / "platform.pem"),
            "--region",
            "370300",
            "--anchor",
            anchor,
            "--trust",
            str(region / "trust.jwt"),
            "--qr",
            str(region / "p.svg"),
            "--json",
        ],
    )
    assert result.exit_code == 0, result.output
    out = json.loads(result.stdout)
    assert out["qr_version"] <= 15
    assert (region / "p.svg").read_bytes().startswith(b"<?xml")
    (region / "p.txt").write_text(out["text"] + "\r\n", encoding="utf-8")
    verdict = json.loads(
        ok(
            "verify",
            str(region / "p.txt"),
            "--anchor",
            anchor,
            "--trust",
            str(region / "trust.jwt"),
            "--audience",
            "hotel-1",
            "--json",
        )
    )
    assert verdict["licenses"][0]["fields"]["id_number"] == "3604**********0071"
    other = runner.invoke(
        app,
        [
            "verify",
            str(region / "p.txt"),
            "--anchor",
            anchor,
            "--trust",
            str(region / "trust.jwt"),
            "--audience",
            "hotel-2",
            "--json",
        ],
    )
    assert other.exit_code == 1
    assert json.loads(other.stdout)["code"] == "code.wrong_audience"


def test_terminal_qr_is_printed_with_half_blocks(region: Path) -> None:
    result = CliRunner(env=CODE_ENV).invoke(
        app,
        [
            "code",
            "--holder",
            "91110000600037341L",
            "--key",
            str(region / "platform.pem"),
            "--region",
            "370300",
            "--qr",
            "-",
        ],
    )
    assert result.exit_code == 0, result.output
    assert set(result.stdout) <= {"█", "▀", "▄", " ", "\n"}
