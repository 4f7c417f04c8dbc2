"""The scan-to-verify service end to end: codes, verify, refusals, consent, status, BOLA."""

from __future__ import annotations

import base64
import io
from pathlib import Path

import pytest
import zxingcpp
from PIL import Image

from elicense import ElicenseError
from elicense.statuslist import StatusCache

from service_support import Service, build_service

PROBLEM = "application/problem+json"


def test_health_and_readiness(service: Service) -> None:
    assert service.client.get("/healthz").json() == {"status": "ok"}
    ready = service.client.get("/readyz")
    assert ready.status_code == 200, ready.text
    assert ready.json()["region"] == "370300"


def test_hotel_scans_a_code_and_sees_exactly_the_hotel_fields(service: Service) -> None:
    r = service.client.post(
        "/v1/verify",
        json={"text": service.code() + "\r\n", "scenario": "hotel_checkin"},
        headers=service.rp("hotel-qidu"),
    )
    assert r.status_code == 200, r.text
    body = r.json()
    (lic,) = body["licenses"]
    assert lic["type_name"] == "居民身份证"
    assert set(lic["fields"]) == {"name", "id_number", "sex", "ethnicity"}
    assert "*" in lic["fields"]["id_number"]
    assert lic["masked"] == ["id_number"]
    assert lic["valid"] is True
    assert body["basis"] == "statute"
    log = service.client.get("/v1/me/access-log", headers=service.holder()).json()
    assert body["record_id"] in [i["id"] for i in log["items"]]


def test_a_replayed_code_is_refused_and_the_refusal_is_recorded(service: Service) -> None:
    code = service.code()
    first = service.client.post(
        "/v1/verify",
        json={"text": code, "scenario": "hotel_checkin"},
        headers=service.rp("hotel-qidu"),
    )
    assert first.status_code == 200
    again = service.client.post(
        "/v1/verify",
        json={"text": code, "scenario": "hotel_checkin"},
        headers=service.rp("hotel-qidu"),
    )
    assert again.status_code == 409
    assert again.headers["content-type"].startswith(PROBLEM)
    problem = again.json()
    assert problem["code"] == "code.replayed"
    assert problem["title"]
    assert problem["title_en"]
    records = {
        i["id"]: i
        for i in service.client.get("/v1/me/access-log", headers=service.holder()).json()["items"]
    }
    assert records[problem["record_id"]]["decision"] == "refused"


def test_every_request_leaves_exactly_one_access_record(service: Service) -> None:
    before = service.platform.storage.access_log.head()[0]
    outcomes = []
    for text, scenario, rp in [
        (service.code(), "hotel_checkin", "hotel-qidu"),
        ("RC1:123", "hotel_checkin", "hotel-qidu"),
        (service.code(), "power_account_opening", "hotel-qidu"),
        (service.code(scenarios=()), "power_account_opening", "power-zibo"),
    ]:
        outcomes.append(
            service.client.post(
                "/v1/verify", json={"text": text, "scenario": scenario}, headers=service.rp(rp)
            ).status_code
        )
    assert outcomes == [200, 422, 403, 403]
    assert service.platform.storage.access_log.head()[0] - before == 4


def test_consent_refusal_looks_the_same_whether_or_not_the_holder_has_the_license(
    service: Service,
) -> None:
    # resident 0 holds a property certificate, resident 2 does not; neither consented.
    bodies = []
    for index in (0, 2):
        r = service.client.post(
            "/v1/verify",
            json={"text": service.code(index, scenarios=()), "scenario": "power_account_opening"},
            headers=service.rp("power-zibo"),
        )
        assert r.status_code == 403
        body = r.json()
        body.pop("record_id")
        bodies.append(body)
    assert bodies[0] == bodies[1]
    assert bodies[0]["code"] == "consent.missing"


def test_standing_consent_works_until_revoked_then_refuses_at_once(service: Service) -> None:
    grant = service.client.post(
        "/v1/consents",
        json={
            "rp_id": "power-zibo",
            "scenario": "power_account_opening",
            "purpose": "办理用电过户",
            "valid_days": 30,
            "max_uses": 5,
        },
        headers=service.holder(),
    )
    assert grant.status_code == 201, grant.text
    consent_id = grant.json()["consent"]["id"]
    assert grant.json()["receipt"].count(".") == 2
    ok = service.client.post(
        "/v1/verify",
        json={"text": service.code(scenarios=()), "scenario": "power_account_opening"},
        headers=service.rp("power-zibo"),
    )
    assert ok.status_code == 200, ok.text
    assert ok.json()["basis"] == "grant"
    assert (
        service.client.delete(f"/v1/consents/{consent_id}", headers=service.holder()).status_code
        == 204
    )
    refused = service.client.post(
        "/v1/verify",
        json={"text": service.code(scenarios=()), "scenario": "power_account_opening"},
        headers=service.rp("power-zibo"),
    )
    assert refused.json()["code"] == "consent.revoked"


def test_another_holder_cannot_touch_a_consent_or_see_an_access_log(service: Service) -> None:
    grant = service.client.post(
        "/v1/consents",
        json={
            "rp_id": "power-zibo",
            "scenario": "power_account_opening",
            "purpose": "用电",
            "valid_days": 7,
        },
        headers=service.holder(0),
    )
    consent_id = grant.json()["consent"]["id"]
    other = service.holder(1)
    assert service.client.delete(f"/v1/consents/{consent_id}", headers=other).status_code == 404
    assert consent_id not in [
        c["id"] for c in service.client.get("/v1/consents", headers=other).json()
    ]
    mine = {
        i["id"]
        for i in service.client.get("/v1/me/access-log", headers=service.holder(0)).json()["items"]
    }
    theirs = {
        i["id"] for i in service.client.get("/v1/me/access-log", headers=other).json()["items"]
    }
    assert not mine & theirs


def test_an_issuer_cannot_read_or_revoke_another_issuers_license(service: Service) -> None:
    police_license = next(v for k, v in service.demo.licenses.items() if k.startswith("居民身份证"))
    market = service.issuer("淄博市市场监督管理局")
    assert service.client.get(f"/v1/licenses/{police_license}", headers=market).status_code == 404
    r = service.client.post(
        f"/v1/licenses/{police_license}/revoke", json={"reason": "x"}, headers=market
    )
    assert r.status_code == 404
    police = service.issuer("淄博市公安局")
    assert (
        service.client.get(f"/v1/licenses/{police_license}", headers=police).json()["state"]
        == "valid"
    )


def test_a_relying_party_cannot_use_a_scenario_it_is_not_registered_for(service: Service) -> None:
    r = service.client.post(
        "/v1/verify",
        json={"text": service.code(), "scenario": "newborn_birth_one_thing"},
        headers=service.rp("hotel-qidu"),
    )
    assert (r.status_code, r.json()["code"]) == (403, "scenario.not_allowed")


def test_bad_credentials_get_one_answer(service: Service) -> None:
    for headers in (
        {},
        {"Authorization": "Bearer nonsense"},
        {"Authorization": "Bearer elk_0000000000000000_" + "A" * 43},
    ):
        r = service.client.post(
            "/v1/verify", json={"text": "x", "scenario": "hotel_checkin"}, headers=headers
        )
        assert (r.status_code, r.json()["code"]) == (401, "auth.invalid")


def test_revoked_license_stops_verifying_online_at_once_and_offline_within_one_ttl(
    tmp_path: Path,
) -> None:
    svc = build_service(tmp_path)
    police = svc.issuer("淄博市公安局")
    lic_id = svc.demo.licenses["居民身份证 #0"]
    lic = svc.client.get(f"/v1/licenses/{lic_id}", headers=police).json()
    # An offline verifier caches the list, fetching it from the service.
    fetched: list[str] = []

    def fetch(uri: str) -> str:
        fetched.append(uri)
        return svc.client.get(f"/v1/status-lists/{lic['status_list']}").text

    cache = StatusCache(svc.platform.trust, fetch)
    uri = svc.platform.storage.status_lists.get(lic["status_list"]).uri  # type: ignore[union-attr]
    cache.check(uri, lic["status_idx"], lic["issuer"], svc.clock())
    assert (
        svc.client.post(
            f"/v1/licenses/{lic_id}/revoke", json={"reason": "挂失"}, headers=police
        ).json()["state"]
        == "revoked"
    )
    r = svc.client.post(
        "/v1/verify",
        json={"text": svc.code(), "scenario": "hotel_checkin"},
        headers=svc.rp("hotel-qidu"),
    )
    assert r.status_code == 403  # online: refused at once
    cache.check(uri, lic["status_idx"], lic["issuer"], svc.clock() + 10)  # still within ttl: cached
    svc.clock.now += 301  # one ttl later the verifier refreshes and sees the revocation
    with pytest.raises(ElicenseError) as info:
        cache.check(uri, lic["status_idx"], lic["issuer"], svc.clock())
    assert info.value.code == "license.revoked"
    assert len(fetched) == 2
    svc.platform.storage.close()


def test_codes_come_as_text_png_and_svg_that_decode(service: Service) -> None:
    r = service.client.post(
        "/v1/codes", json={"scenarios": ["hotel_checkin"]}, headers=service.holder()
    )
    body = r.json()
    img = Image.open(io.BytesIO(base64.b64decode(body["png_base64"])))
    (read,) = zxingcpp.read_barcodes(img, formats=zxingcpp.barcode_formats_from_str("QRCode"))
    assert read.text == body["text"]
    assert body["qr_version"] <= 10
    assert body["svg"].startswith("<?xml")
    ok = service.client.post(
        "/v1/verify",
        json={"text": read.text, "scenario": "hotel_checkin"},
        headers=service.rp("hotel-qidu"),
    )
    assert ok.status_code == 200


def test_public_documents_have_their_media_types_and_cache_headers(service: Service) -> None:
    tl = service.client.get("/v1/trust-list")
    assert tl.headers["content-type"].startswith("application/trustlist+jwt")
    assert "max-age" in tl.headers["cache-control"]
    sl = service.client.get("/v1/status-lists/1")
    assert sl.headers["content-type"].startswith("application/statuslist+jwt")
    assert service.client.get("/v1/status-lists/999").json()["code"] == "request.not_found"
    assert len(service.client.get("/v1/catalog").json()) >= 40
    assert any(s["id"] == "hotel_checkin" for s in service.client.get("/v1/scenarios").json())


def test_metrics_carry_counts_but_no_personal_data(service: Service) -> None:
    # A scenario field carrying an ID number must not become a metrics label.
    refused = service.client.post(
        "/v1/verify",
        json={"text": service.code(), "scenario": "110101199003071234"},
        headers=service.rp("hotel-qidu"),
    )
    assert refused.status_code >= 400
    assert "record_seq" not in refused.json()  # internal bookkeeping stays internal
    text = service.client.get("/metrics").text
    assert "110101199003071234" not in text
    assert 'scenario="unknown"' in text
    assert "elicense_requests_total" in text
    assert "elicense_audit_unsealed_records" in text
    for lic_id in service.demo.licenses.values():
        assert lic_id not in text
    holder = service.platform.storage.holders.get(service.demo.residents[0])
    assert holder is not None
    assert holder.holder_code not in text


def test_oversized_and_malformed_requests_get_problems_not_500(service: Service) -> None:
    big = service.client.post(
        "/v1/verify",
        content=b"{" + b" " * 70000 + b"}",
        headers={**service.rp("hotel-qidu"), "Content-Type": "application/json"},
    )
    assert (big.status_code, big.json()["code"]) == (413, "request.too_large")
    bad = service.client.post(
        "/v1/verify",
        content=b"not json",
        headers={**service.rp("hotel-qidu"), "Content-Type": "application/json"},
    )
    assert (bad.status_code, bad.json()["code"]) == (422, "request.invalid")
    assert service.client.get("/nowhere").json()["code"] == "request.not_found"


def test_when_the_access_record_cannot_be_written_no_data_is_returned(tmp_path: Path) -> None:
    svc = build_service(tmp_path)
    from sqlalchemy import text

    code = svc.code()
    # Break the access log for real: the table the records go to disappears.
    with svc.platform.storage.db.write() as conn:  # type: ignore[attr-defined]
        conn.execute(text("DROP TABLE access_records"))
    r = svc.client.post(
        "/v1/verify", json={"text": code, "scenario": "hotel_checkin"}, headers=svc.rp("hotel-qidu")
    )
    assert r.status_code == 503
    assert r.json()["code"] == "audit.unavailable"
    assert "fields" not in r.text
    assert "licenses" not in r.text
    svc.platform.storage.close()


def test_refused_scans_count_toward_sealing_the_log(service: Service) -> None:
    """Refusals are records too: a stream of them must not leave the log unsealed."""
    for _ in range(6):  # the test service seals every 5 records
        r = service.client.post(
            "/v1/verify", json={"text": "RC1:garbage", "scenario": "hotel_checkin"},
            headers=service.rp("hotel-qidu"),
        )  # fmt: skip
        assert r.status_code >= 400
    gauge = next(
        line for line in service.client.get("/metrics").text.splitlines()
        if line.startswith("elicense_audit_unsealed_records ")
    )  # fmt: skip
    assert float(gauge.split()[1]) < 5
    assert service.platform.storage.access_log.checkpoints()


def test_a_served_sqlite_database_is_checkpointed_by_a_thread_the_server_starts(
    tmp_path: Path,
) -> None:
    """Building the app starts nothing; serving it (its lifespan) starts the thread that
    keeps WAL checkpoints out of the scans' commits (``checkpoint_in_background``)."""
    import threading

    from fastapi.testclient import TestClient

    def threads() -> int:
        return sum(t.name == "elicense-checkpoint" for t in threading.enumerate())

    before = threads()
    svc = build_service(tmp_path)
    try:
        assert threads() == before
        with TestClient(svc.client.app):
            assert threads() == before + 1
    finally:
        svc.platform.storage.close()
    assert threads() == before
