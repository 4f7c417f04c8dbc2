"""The ``elicense`` CLI: verdicts, JSON output and exit codes (0 ok, 1 invalid, 2 usage)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from elicense.cli import app

from testdata import DATA

runner = CliRunner()


def run(*args: str) -> tuple[int, str]:
    result = runner.invoke(app, list(args))
    return result.exit_code, result.stdout


def test_id_check_prints_kind_validity_birth_date_and_sex_as_json() -> None:
    code, out = run("id", "check", "11010519491231002X", "--json")
    assert code == 0
    data = json.loads(out)
    assert data["kind"] == "resident_id"
    assert data["valid"] is True
    assert data["parsed"]["birth_date"] == "1949-12-31"
    assert data["parsed"]["sex"] == "female"


@pytest.mark.parametrize(
    ("value", "error_code"),
    [
        ("110105194912310021", "resident_id.bad_check"),
        ("91110000600037341M", "uscc.bad_check"),
        (
            "1.2.156.3005.2.11100000000013338W011.11430000006122244L.20230000403.001.V",
            "license_id.bad_check",
        ),
    ],
)
def test_id_check_exits_1_with_the_check_character_code(value: str, error_code: str) -> None:
    code, out = run("id", "check", value, "--json")
    assert code == 1
    assert json.loads(out)["code"] == error_code
    result = runner.invoke(app, ["id", "check", value])
    assert result.exit_code == 1
    assert error_code in result.output


def test_credit_codes_and_license_ids_check_valid() -> None:
    code, out = run("id", "check", "91110000600037341L", "--json")
    assert (code, json.loads(out)["kind"]) == (0, "uscc")
    lid = "1.2.156.3005.2.11100000000013338W032.11220000013544541J.2430599.001.F"
    code, out = run("id", "check", lid, "--json")
    assert (code, json.loads(out)["parsed"]["serial"]) == (0, "2430599")


def test_catalog_list_json_lists_at_least_40_types_with_fields() -> None:
    code, out = run("catalog", "list", "--json")
    assert code == 0
    types = json.loads(out)
    assert len(types) >= 40
    assert all(len(t["code"]) == 21 and t["fields"] for t in types)


def test_catalog_show_finds_a_type_by_code_or_chinese_name() -> None:
    code, out = run("catalog", "show", "营业执照", "--json")
    assert code == 0
    data = json.loads(out)
    code2, out2 = run("catalog", "show", data["code"], "--json")
    assert (code2, json.loads(out2)) == (0, data)
    code3, out3 = run("catalog", "show", "11100000000013338W999", "--json")
    assert code3 == 1
    assert json.loads(out3)["error"]["code"] == "catalog.unknown_type"


def test_catalog_validate_reports_all_three_broken_entries_and_exits_1() -> None:
    result = runner.invoke(app, ["catalog", "validate", str(DATA / "catalog_three_broken.yaml")])
    assert result.exit_code == 1
    for entry in ("types[1]", "types[2]", "types[3]"):
        assert entry in result.output
    code, out = run("catalog", "validate", str(DATA / "catalog_three_broken.yaml"), "--json")
    assert code == 1
    assert len(json.loads(out)["error"]["details"]["problems"]) == 3


def test_usage_errors_exit_2() -> None:
    assert runner.invoke(app, ["id", "check"]).exit_code == 2
    assert runner.invoke(app, ["catalog", "list", "--no-such-option"]).exit_code == 2


def test_installed_entry_point_runs_and_keeps_utf8(tmp_path: Path) -> None:
    exe = shutil.which("elicense") or str(Path(sys.executable).parent / "elicense")
    env = {**os.environ, "LC_ALL": "C", "PYTHONIOENCODING": ""}
    proc = subprocess.run(
        [exe, "catalog", "show", "居民身份证", "--json"],
        capture_output=True,
        env=env,
        check=False,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout.decode("utf-8"))["name_zh"] == "居民身份证"


def test_every_command_has_an_example_in_the_cli_reference() -> None:
    from elicense.cli.reference import EXAMPLES, leaf_commands

    paths = {path for path, _ in leaf_commands(app)}
    assert paths - set(EXAMPLES) == set(), "commands without an example"
    assert set(EXAMPLES) - paths == set(), "examples of commands that do not exist"
