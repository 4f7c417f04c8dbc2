"""verify_license with a status check: the offline verifier's revocation path (item 22)."""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from typer.testing import CliRunner

from elicense import ElicenseError
from elicense.cli import app
from elicense.licenses import StatusRef, verify_license
from elicense.statuslist import Status, StatusCache, StatusList, status_list_token

from support import NOW, Region, police_of, zibo

URI = "https://370300.example/status/1"  # what Region.issue_id_card references, index 7


class Served:
    """A status endpoint: the list token it serves now, and what was asked of it."""

    def __init__(self, region: Region) -> None:
        self.region = region
        self.list = StatusList(16)
        self.calls: list[str] = []

    def token(self, now: int) -> str:
        uscc = police_of(self.region)
        return status_list_token(
            self.list, uri=URI, issuer=uscc, signer=self.region.signers[uscc], now=now,
            ttl=300, lifetime=86400,
        )  # fmt: skip

    def fetch(self, uri: str) -> str:
        self.calls.append(uri)
        return self.token(NOW)


@pytest.fixture
def region() -> Region:
    return zibo()


def test_a_valid_entry_verifies_and_a_revoked_one_is_refused(region: Region) -> None:
    lic = region.issue_id_card(police_of(region))
    served = Served(region)
    store = region.store()
    verified = verify_license(lic.sd_jwt, store, now=NOW, status=StatusCache(store, served.fetch))
    assert verified.status is not None
    assert verified.status.idx == 7
    served.list[7] = Status.REVOKED
    with pytest.raises(ElicenseError) as info:
        verify_license(lic.sd_jwt, store, now=NOW, status=StatusCache(store, served.fetch))
    assert info.value.code == "license.revoked"
    served.list[7] = Status.SUSPENDED
    with pytest.raises(ElicenseError) as info:
        verify_license(lic.sd_jwt, store, now=NOW, status=StatusCache(store, served.fetch))
    assert info.value.code == "license.suspended"


def test_the_status_is_looked_up_only_after_the_license_itself_verified(region: Region) -> None:
    lic = region.issue_id_card(police_of(region))
    served = Served(region)
    served.list[7] = Status.REVOKED
    store = region.store()
    jwt, rest = lic.sd_jwt.split("~", 1)
    head, payload, sig = jwt.split(".")
    flipped = "B" if sig[5] == "A" else "A"
    forged = f"{head}.{payload}.{sig[:5]}{flipped}{sig[6:]}~{rest}"
    with pytest.raises(ElicenseError) as info:
        verify_license(forged, store, now=NOW, status=StatusCache(store, served.fetch))
    assert info.value.code == "token.bad_signature"
    assert served.calls == []  # nothing fetched for a license that is not genuine


def test_asking_for_status_of_a_license_without_one_fails_closed(region: Region) -> None:
    lic = region.issue_id_card(police_of(region), status=None)
    served = Served(region)
    store = region.store()
    assert verify_license(lic.sd_jwt, store, now=NOW).status is None
    with pytest.raises(ElicenseError) as info:
        verify_license(lic.sd_jwt, store, now=NOW, status=StatusCache(store, served.fetch))
    assert info.value.code == "token.bad_claim"
    assert info.value.details == {"claim": "status"}


def test_an_unreachable_status_list_fails_closed(region: Region) -> None:
    lic = region.issue_id_card(police_of(region))
    store = region.store()

    def down(uri: str) -> str:
        raise ElicenseError("status.fetch_failed")

    with pytest.raises(ElicenseError) as info:
        verify_license(lic.sd_jwt, store, now=NOW, status=StatusCache(store, down))
    assert info.value.code == "status.fetch_failed"


class _StatusHandler(BaseHTTPRequestHandler):
    token = b""

    def do_GET(self) -> None:
        self.send_response(200 if self.path == "/status/1" else 404)
        self.send_header("Content-Type", "application/statuslist+jwt")
        self.send_header("Content-Length", str(len(self.token)))
        self.end_headers()
        self.wfile.write(self.token)

    def log_message(self, *args: object) -> None:
        pass


def test_cli_verify_checks_status_only_from_the_allowed_prefix(
    region: Region, tmp_path: Path
) -> None:
    now = int(time.time())  # the CLI reads the real clock: everything is fresh at it
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _StatusHandler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    base = f"http://127.0.0.1:{httpd.server_address[1]}"
    uscc = police_of(region)
    lic = region.issue_id_card(uscc, now=now, status=StatusRef(f"{base}/status/1", 7))
    (tmp_path / "license.txt").write_text(lic.sd_jwt, encoding="utf-8")
    (tmp_path / "anchor.jwk.json").write_text(
        json.dumps(region.anchor.public_key().to_jwk()), encoding="utf-8"
    )
    trust = region.signed_trust_list(issued_at=now - 86400, next_update=now + 7 * 86400)
    (tmp_path / "trust.jwt").write_text(trust, encoding="utf-8")
    statuses = StatusList(16)

    def verify(*extra: str) -> tuple[int, dict[str, object]]:
        _StatusHandler.token = status_list_token(
            statuses, uri=f"{base}/status/1", issuer=uscc, signer=region.signers[uscc],
            now=now, ttl=300, lifetime=86400,
        ).encode()  # fmt: skip
        args = ["verify", str(tmp_path / "license.txt"), "--json",
                "--anchor", f"{region.code}={tmp_path / 'anchor.jwk.json'}",
                "--trust", str(tmp_path / "trust.jwt"), *extra]  # fmt: skip
        result = CliRunner().invoke(app, args)
        return result.exit_code, json.loads(result.stdout)

    try:
        assert verify(f"--status-from={base}/") == (0, verify()[1])
        statuses[7] = Status.REVOKED
        assert verify()[0] == 0  # without --status-from nothing is fetched
        code, out = verify(f"--status-from={base}/")
        assert (code, out["code"]) == (1, "license.revoked")
        code, out = verify("--status-from=https://status.elsewhere.example/")
        assert (code, out["code"]) == (1, "status.location_not_allowed")
    finally:
        httpd.shutdown()
