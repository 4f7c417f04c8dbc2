"""The fast verify path keeps its promises: one transaction settles a scan, cached
credentials and relying parties expire within their TTL, the envelope still answers."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import text

from elicense import audit
from elicense.codes import claimed_holder
from elicense.compact import from_digits, to_digits
from elicense.credentials import new_api_key
from elicense.errors import ElicenseError
from elicense.platform import ScanToSettle
from elicense.records import AccessRecord, RelyingPartyRecord, Settlement
from elicense_service.settings import Settings
from elicense_service.settler import MAX_BATCH, Settler

from service_support import Service, build_service


def _verify(svc: Service, code: str, key: str) -> tuple[int, str | None]:
    r = svc.client.post(
        "/v1/verify",
        json={"text": code, "scenario": "hotel_checkin"},
        headers={"Authorization": f"Bearer {key}"},
    )
    return r.status_code, r.json().get("code")


def test_a_scan_whose_record_cannot_be_written_does_not_spend_the_code(tmp_path: Path) -> None:
    svc = build_service(tmp_path)
    try:
        key = svc.demo.rp_keys["hotel-qidu"]
        code = svc.code()
        with svc.platform.storage.db.write() as conn:  # type: ignore[attr-defined]
            conn.execute(text("ALTER TABLE access_records RENAME TO access_records_away"))
        assert _verify(svc, code, key) == (503, "audit.unavailable")
        with svc.platform.storage.db.write() as conn:  # type: ignore[attr-defined]
            conn.execute(text("ALTER TABLE access_records_away RENAME TO access_records"))
        # The code's use was rolled back with the record: the holder can show it again.
        assert _verify(svc, code, key) == (200, None)
        assert _verify(svc, code, key) == (409, "code.replayed")
    finally:
        svc.platform.storage.close()


def test_a_revoked_api_key_stops_working_within_the_cache_ttl(tmp_path: Path) -> None:
    svc = build_service(tmp_path)  # lookup_cache_seconds: the default, 5
    try:
        storage = svc.platform.storage
        fresh = new_api_key("hotel-qidu", "rp", now=svc.clock(), rand=os.urandom)
        storage.credentials.put(fresh.record)
        assert _verify(svc, svc.code(), fresh.token) == (200, None)  # now cached

        storage.credentials.revoke(fresh.record.key_id, svc.clock())
        # A wrong secret for the cached key id is refused at once: the hash is compared
        # on every request, only the record is reused.
        wrong = fresh.token[:-4] + ("AAAA" if not fresh.token.endswith("AAAA") else "BBBB")
        assert _verify(svc, svc.code(), wrong) == (401, "auth.invalid")
        # The revocation itself is seen once the cached record is older than the TTL.
        assert _verify(svc, svc.code(), fresh.token) == (200, None)
        svc.clock.now += 5
        assert _verify(svc, svc.code(), fresh.token) == (401, "auth.invalid")
    finally:
        svc.platform.storage.close()


def test_a_deactivated_relying_party_is_refused_within_the_cache_ttl(tmp_path: Path) -> None:
    svc = build_service(tmp_path)
    try:
        key = svc.demo.rp_keys["hotel-qidu"]
        assert _verify(svc, svc.code(), key) == (200, None)
        rp = svc.platform.storage.relying_parties.get("hotel-qidu")
        assert rp is not None
        svc.platform.storage.relying_parties.put(
            RelyingPartyRecord(rp.id, rp.uscc, rp.name, rp.kind, rp.scenarios, rp.created_at, False)
        )
        svc.clock.now += 5
        status, code = _verify(svc, svc.code(), key)
        assert status in (401, 403)
        assert code is not None
    finally:
        svc.platform.storage.close()


def test_the_envelope_sets_its_headers_on_every_answer(service: Service) -> None:
    ok = service.client.get("/healthz", headers={"X-Request-Id": "abc-123"})
    assert ok.headers["X-Request-Id"] == "abc-123"
    assert ok.headers["X-Content-Type-Options"] == "nosniff"
    assert ok.headers["Cache-Control"] == "no-store"
    public = service.client.get("/v1/catalog")
    assert public.headers["Cache-Control"] == "public, max-age=3600"  # kept, not replaced
    refused = service.client.post(
        "/v1/verify",
        content=b"x" * (70 * 1024),
        headers={**service.rp("hotel-qidu"), "Content-Type": "application/json"},
    )
    assert refused.status_code == 413
    assert refused.json()["code"] == "request.too_large"
    assert len(refused.headers["X-Request-Id"]) == 16


def test_verify_authenticates_before_it_looks_at_the_body(tmp_path: Path) -> None:
    svc = build_service(tmp_path)
    try:
        key = svc.demo.rp_keys["hotel-qidu"]
        garbage = {"content": b"{not json", "headers": {"Content-Type": "application/json"}}
        r = svc.client.post("/v1/verify", **garbage)  # type: ignore[arg-type]
        assert (r.status_code, r.json()["code"]) == (401, "auth.invalid")
        wrong = {"Authorization": f"Bearer {key[:-4]}AAAA", "Content-Type": "application/json"}
        r = svc.client.post("/v1/verify", content=b"{not json", headers=wrong)
        assert (r.status_code, r.json()["code"]) == (401, "auth.invalid")
        # Authenticated: now the body is checked, and the problem names the fields.
        r = svc.client.post("/v1/verify", json={"text": 7}, headers={"X-Api-Key": key})
        assert (r.status_code, r.json()["code"]) == (422, "request.invalid")
        assert r.json()["fields"] == ["body.text", "body.scenario"]
        as_text = {"X-Api-Key": key, "Content-Type": "text/plain"}
        r = svc.client.post("/v1/verify", content=b"{}", headers=as_text)
        assert (r.status_code, r.json()["fields"]) == (422, ["body"])
    finally:
        svc.platform.storage.close()


def test_verify_on_the_event_loop_answers_as_on_a_thread(tmp_path: Path) -> None:
    svc = build_service(tmp_path)
    try:
        key = svc.demo.rp_keys["hotel-qidu"]
        svc.client.app.state.runtime.verify_threads = 1  # type: ignore[attr-defined]
        on_thread = svc.client.post(
            "/v1/verify",
            json={"text": svc.code(), "scenario": "hotel_checkin"},
            headers={"X-Api-Key": key},
        ).json()
        svc.client.app.state.runtime.verify_threads = 0  # type: ignore[attr-defined]
        inline = svc.client.post(
            "/v1/verify",
            json={"text": svc.code(), "scenario": "hotel_checkin"},
            headers={"X-Api-Key": key},
        ).json()
        assert on_thread.pop("record_id") != inline.pop("record_id")
        assert inline == on_thread
        assert inline["licenses"]
    finally:
        svc.platform.storage.close()


def test_verify_runs_on_the_event_loop_unless_a_setting_asks_for_threads(tmp_path: Path) -> None:
    svc = build_service(tmp_path / "default")
    runtime = svc.client.app.state.runtime  # type: ignore[attr-defined]
    svc.platform.storage.close()
    assert runtime.verify_threads == 0
    home = tmp_path / "set" / "platform"
    svc = build_service(tmp_path / "set", settings=Settings(home=home, verify_threads=2))
    svc.platform.storage.close()
    assert svc.client.app.state.runtime.verify_threads == 2  # type: ignore[attr-defined]


def _chunks(total: int, size: int = 8192) -> Iterator[bytes]:
    """A body sent chunked: no Content-Length announces its size."""
    yield b'{"code": "'
    sent = 0
    while sent < total:
        yield b"x" * size
        sent += size
    yield b'", "scenario": "hotel_checkin"}'


def test_a_chunked_body_past_the_limit_is_refused_413_on_every_path(service: Service) -> None:
    direct = service.client.post(
        "/v1/verify",
        content=_chunks(200 * 1024),
        headers={**service.rp("hotel-qidu"), "Content-Type": "application/json"},
    )
    routed = service.client.post(
        "/v1/consents",
        content=_chunks(200 * 1024),
        headers={**service.holder(), "Content-Type": "application/json"},
    )
    for refused in (direct, routed):
        assert refused.status_code == 413
        assert refused.headers["content-type"].startswith("application/problem+json")
        assert refused.json()["code"] == "request.too_large"
    small = service.client.post(  # chunked but within the limit: read and judged as usual
        "/v1/verify",
        content=_chunks(1024),
        headers={**service.rp("hotel-qidu"), "Content-Type": "application/json"},
    )
    assert small.status_code != 413
    assert small.json()["code"] != "request.too_large"


def _forged(text: str) -> str:
    """The same code with one bit of its signature flipped: it still names its holder."""
    raw = bytearray(from_digits(text[4:], "code.malformed"))
    raw[-1] ^= 1
    return text[:4] + to_digits(bytes(raw))


def _scans_read_ahead_and_drop_what_a_refused_code_named(svc: Service) -> None:
    headers = svc.rp("hotel-qidu")
    genuine = svc.code()
    assert claimed_holder(_forged(genuine)) == claimed_holder(genuine) is not None
    for scanned, code in ((_forged(genuine), "code.bad_signature"), ("RC01123", "code.malformed")):
        refused = svc.client.post(
            "/v1/verify", json={"text": scanned, "scenario": "hotel_checkin"}, headers=headers
        )
        assert refused.json()["code"] == code
        assert "licenses" not in refused.json()
    for _ in range(2):  # the holder's licenses, read afresh on the same connection
        ok = svc.client.post(
            "/v1/verify", json={"text": svc.code(), "scenario": "hotel_checkin"}, headers=headers
        )
        assert ok.status_code == 200, ok.text
        assert [lic["type_name"] for lic in ok.json()["licenses"]] == ["居民身份证"]


def test_a_refused_code_leaves_the_next_scans_their_licenses_on_sqlite(service: Service) -> None:
    _scans_read_ahead_and_drop_what_a_refused_code_named(service)


@pytest.mark.postgres
def test_a_refused_code_leaves_the_next_scans_their_licenses_on_postgresql(
    tmp_path: Path, postgres_schema: tuple[str, str]
) -> None:
    url, schema = postgres_schema
    svc = build_service(tmp_path, database_url=f"{url}?schema={schema}")
    try:
        _scans_read_ahead_and_drop_what_a_refused_code_named(svc)
    finally:
        svc.platform.storage.close()


@pytest.mark.postgres
def test_a_scan_whose_connection_was_cut_fails_cleanly_and_the_next_one_works(
    tmp_path: Path, postgres_schema: tuple[str, str]
) -> None:
    import psycopg
    from fastapi.testclient import TestClient

    url, schema = postgres_schema
    backends = "SELECT pid FROM pg_stat_activity WHERE backend_type = 'client backend'"
    admin = psycopg.connect(url, autocommit=True)
    before = {pid for (pid,) in admin.execute(backends)}
    svc = build_service(tmp_path, database_url=f"{url}?schema={schema}")
    headers = svc.rp("hotel-qidu")
    # One event loop thread for every request, as under uvicorn: its connection lives on.
    with admin, TestClient(svc.client.app) as client:

        def scan(code: str | None = None) -> tuple[int, dict[str, object]]:
            r = client.post(
                "/v1/verify",
                json={"text": code or svc.code(), "scenario": "hotel_checkin"},
                headers=headers,
            )
            return r.status_code, r.json()

        try:
            assert scan()[0] == 200  # the loop thread's own connections are open now
            opened = {pid for (pid,) in admin.execute(backends)} - before
            assert len(opened) == 2  # one for reads, one for settlements (its call connection)
            for pid in opened:  # this service's connections only
                admin.execute("SELECT pg_terminate_backend(%s)", (pid,))
            code = svc.code()
            status, body = scan(code)  # on the cut connections, or on fresh ones
            assert (status, body.get("code")) in {
                (200, None),
                (503, "storage.unavailable"),  # the read
                (503, "audit.unavailable"),  # the settlement: the code is not spent
            }
            if status == 503:
                assert scan(code)[0] == 200
            assert scan()[0] == 200
        finally:
            svc.platform.storage.close()


def test_verify_answers_alike_at_the_door_and_through_the_app_with_cors_on(
    tmp_path: Path,
) -> None:
    """With CORS off (the default) ``POST /v1/verify`` is served before FastAPI's layers
    and no response carries a CORS header; with CORS on, every request goes through the
    app (and its CORS middleware), and verify answers the same."""
    answers = {}
    for cors in (False, True):
        home = tmp_path / str(cors) / "platform"
        settings = Settings(
            home=home, checkpoint_every=5, cors_origins=["https://desk.example"] if cors else []
        )
        svc = build_service(tmp_path / str(cors), settings=settings)
        try:
            assert (svc.client.app.front is None) is cors  # type: ignore[attr-defined]
            key = svc.demo.rp_keys["hotel-qidu"]
            headers = {"X-Api-Key": key, "Origin": "https://desk.example"}
            body = {"text": svc.code(), "scenario": "hotel_checkin"}
            ok = svc.client.post("/v1/verify", json=body, headers=headers)
            again = svc.client.post("/v1/verify", json=body, headers=headers)
            bad = svc.client.post("/v1/verify", json={"text": 7}, headers=headers)
            allowed = ok.headers.get("access-control-allow-origin")
            assert allowed == ("https://desk.example" if cors else None)
            result = ok.json()
            result.pop("record_id")
            answers[cors] = (
                ok.status_code,
                result,
                ok.headers["X-Content-Type-Options"],
                ok.headers["Cache-Control"],
                (again.status_code, again.json()["code"], again.json()["title"]),
                (bad.status_code, bad.json()["code"], bad.json()["fields"]),
            )
        finally:
            svc.platform.storage.close()
    assert answers[False] == answers[True]
    assert answers[False][0] == 200
    assert answers[False][4][:2] == (409, "code.replayed")


def test_a_serving_worker_keeps_what_it_built_out_of_the_collectors_sight(
    tmp_path: Path,
) -> None:
    import gc

    svc = build_service(tmp_path)
    try:
        assert gc.get_freeze_count() == 0
        with svc.client:  # the server's lifespan: started, then stopped
            frozen = gc.get_freeze_count()
            assert frozen > 10_000  # the app, the catalog, the modules
            ok = svc.client.post(
                "/v1/verify",
                json={"text": svc.code(), "scenario": "hotel_checkin"},
                headers={"X-Api-Key": svc.demo.rp_keys["hotel-qidu"]},
            )
            assert ok.status_code == 200
        assert gc.get_freeze_count() == 0  # given back when it stops
    finally:
        svc.platform.storage.close()


def test_a_serving_worker_logs_a_json_line_per_request_without_personal_data(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import json

    svc = build_service(tmp_path)
    try:
        with svc.client:  # the server's lifespan configures the logs
            code = svc.code()
            headers = {"X-Api-Key": svc.demo.rp_keys["hotel-qidu"], "X-Request-Id": "req-log-1"}
            body = {"text": code, "scenario": "hotel_checkin"}
            ok = svc.client.post("/v1/verify", json=body, headers=headers)
            again = svc.client.post("/v1/verify", json=body, headers=headers)
        assert (ok.status_code, again.status_code) == (200, 409)
        err = capsys.readouterr().err
        lines = [json.loads(line) for line in err.splitlines() if line.startswith("{")]
        scans = [(r["event"], r["route"], r["status"], r["request_id"]) for r in lines]
        assert scans[-2:] == [
            ("request", "/v1/verify", 200, "req-log-1"),
            ("request", "/v1/verify", 409, "req-log-1"),
        ]
        assert all(isinstance(r["ms"], float | int) for r in lines)
        personal = [code, claimed_holder(code).hex()]  # type: ignore[union-attr]
        for disclosed in ok.json()["licenses"]:
            values = [str(v) for v in disclosed["fields"].values()]
            personal += [disclosed["license_id"], *(v for v in values if len(v) >= 2)]
        assert len(personal) > 4
        for value in personal:
            assert value not in err
    finally:
        svc.platform.storage.close()


@pytest.mark.parametrize("length", [b"\xb2", b"9" * 5000, b"-1", b"1e3"])
def test_a_content_length_that_is_no_length_is_refused_not_a_server_error(
    service: Service, length: bytes
) -> None:
    """Straight to the app (an HTTP client would fix the header): "²" is a digit to
    ``isdigit`` but not to ``int``, and ``int`` refuses thousands of digits."""
    app = service.client.app
    sent: list[dict[str, object]] = []

    async def receive() -> dict[str, object]:
        return {"type": "http.request", "body": b"{}", "more_body": False}

    async def send(message: dict[str, object]) -> None:
        sent.append(message)

    for path in ("/v1/verify", "/v1/consents"):
        sent.clear()
        scope = {
            "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1",
            "method": "POST", "scheme": "http", "path": path, "raw_path": path.encode(),
            "root_path": "", "query_string": b"", "client": ("127.0.0.1", 1),
            "server": ("testserver", 80), "state": {},
            "headers": [(b"host", b"testserver"), (b"content-length", length)],
        }  # fmt: skip
        asyncio.run(app(scope, receive, send))  # type: ignore[arg-type]
        assert sent[0]["status"] == 413


@pytest.fixture
def pg_service(tmp_path: Path, postgres_schema: tuple[str, str]) -> Iterator[Service]:
    """The demo service on a PostgreSQL schema of its own."""
    url, schema = postgres_schema
    svc = build_service(tmp_path, database_url=f"{url}?schema={schema}")
    try:
        yield svc
    finally:
        svc.platform.storage.close()


def _scan_at_once(svc: Service, codes: list[str], key: str) -> list[tuple[int, str | None]]:
    """Every code posted at the same time on one event loop, as a worker meets them."""

    async def scan_all() -> list[httpx.Response]:
        transport = httpx.ASGITransport(app=svc.client.app)
        async with httpx.AsyncClient(transport=transport, base_url="http://desk") as client:
            return await asyncio.gather(
                *(
                    client.post(
                        "/v1/verify",
                        json={"text": code, "scenario": "hotel_checkin"},
                        headers={"Authorization": f"Bearer {key}"},
                    )
                    for code in codes
                )
            )

    return [(r.status_code, r.json().get("code")) for r in asyncio.run(scan_all())]


def _begun(svc: Service, n: int) -> list[ScanToSettle]:
    """``n`` hotel scans read and decided (request ids r0, r1, …), none settled yet."""
    return [
        svc.platform.begin_verify(
            svc.code(),
            rp_id="hotel-qidu",
            scenario_id="hotel_checkin",
            now=svc.clock(),
            request_id=f"r{i}",
            rand=os.urandom,
        )
        for i in range(n)
    ]


def _settled_at_once(svc: Service, settlements: list[Settlement]) -> list[Any]:
    """Every settlement handed to one ``Settler`` at once, on one event loop: each one's
    stored record, or its failure. A request left waiting fails the test after 30 s."""

    async def settle_all() -> list[Any]:
        settler = Settler(svc.platform.storage.access_log)
        return await asyncio.wait_for(
            asyncio.gather(
                *(settler.settle(s, svc.clock()) for s in settlements), return_exceptions=True
            ),
            timeout=30,
        )

    return asyncio.run(settle_all())


def _unspent(svc: Service, s: Settlement) -> bool:
    """The settlement's code was never spent (spending it now, to find out)."""
    return svc.platform.storage.replay.consume(
        s.replay_namespace, s.replay_value, expires_at=s.replay_expires_at, now=svc.clock()
    )


def _transactions_of_records(svc: Service) -> int:
    with svc.platform.storage.db.read() as conn:  # type: ignore[attr-defined]
        return len(conn.execute(text("SELECT DISTINCT xmin::text FROM access_records")).all())


@pytest.mark.postgres
def test_scans_at_once_on_one_worker_settle_in_group_commits_each_with_its_record(
    pg_service: Service,
) -> None:
    svc = pg_service
    key = svc.demo.rp_keys["hotel-qidu"]
    codes = [svc.code() for _ in range(30)]
    codes.append(codes[0])  # the same code twice at once: one of them is a replay
    before = svc.platform.storage.access_log.head()[0]
    answers = _scan_at_once(svc, codes, key)
    assert sorted(answers, key=str) == sorted(
        [(200, None)] * 30 + [(409, "code.replayed")], key=str
    )
    records = svc.platform.storage.access_log.records(after_seq=before)
    assert len(records) == 31
    assert audit.verify_chain(svc.platform.storage.access_log.records()) == []
    # Settled together: fewer transactions than records (the first went alone).
    assert _transactions_of_records(svc) < 31


@pytest.mark.postgres
def test_scans_at_once_whose_records_cannot_be_written_all_fail_closed_and_spend_nothing(
    pg_service: Service,
) -> None:
    svc = pg_service
    db = svc.platform.storage.db  # type: ignore[attr-defined]
    key = svc.demo.rp_keys["hotel-qidu"]
    codes = [svc.code() for _ in range(12)]
    with db.write() as conn:
        conn.execute(text("ALTER TABLE access_records RENAME TO access_records_away"))
    assert _scan_at_once(svc, codes, key) == [(503, "audit.unavailable")] * 12
    with db.write() as conn:
        conn.execute(text("ALTER TABLE access_records_away RENAME TO access_records"))
    # Nothing was committed: every code can be shown again, once.
    assert _scan_at_once(svc, codes, key) == [(200, None)] * 12
    assert _scan_at_once(svc, codes[:3], key) == [(409, "code.replayed")] * 3


@pytest.mark.postgres
def test_a_settlement_whose_request_is_gone_before_it_is_sent_is_never_sent(
    pg_service: Service,
) -> None:
    svc = pg_service
    platform = svc.platform
    scans = _begun(svc, 3)
    before = platform.storage.access_log.head()[0]

    async def settle_all() -> list[object]:
        settler = Settler(platform.storage.access_log)
        tasks = [asyncio.create_task(settler.settle(s.settlement, s.now)) for s in scans]
        await asyncio.sleep(0)  # all three started: the first sent, two queued
        tasks[1].cancel()  # its client went away while it waited its turn
        return await asyncio.gather(*tasks, return_exceptions=True)

    first, gone, third = asyncio.run(settle_all())
    assert isinstance(gone, asyncio.CancelledError)
    records = platform.storage.access_log.records(after_seq=before)
    assert [r.request_id for r in records] == ["r0", "r2"]
    assert [first, third] == list(records)
    assert _unspent(svc, scans[1].settlement)  # its code can still be shown


@pytest.mark.postgres
def test_settlements_queued_behind_one_in_flight_go_together_at_most_max_batch_at_a_time(
    pg_service: Service,
) -> None:
    svc = pg_service
    platform = svc.platform
    n = MAX_BATCH + 8
    scans = _begun(svc, n)
    before = platform.storage.access_log.head()[0]

    stored = _settled_at_once(svc, [s.settlement for s in scans])
    assert all(isinstance(r, AccessRecord) for r in stored)
    assert [r.request_id for r in stored] == [f"r{i}" for i in range(n)]
    assert [r.seq for r in stored] == list(range(before + 1, before + n + 1))
    with platform.storage.db.read() as conn:  # type: ignore[attr-defined]
        sizes = conn.execute(
            text(
                "SELECT count(*) FROM access_records WHERE seq > :s "
                "GROUP BY xmin::text ORDER BY min(seq)"
            ),
            {"s": before},
        ).scalars()
        # The first alone, the rest as they queued behind it, MAX_BATCH at a time.
        assert list(sizes) == [1, MAX_BATCH, 7]


@pytest.mark.postgres
def test_a_batch_that_cannot_be_sent_fails_its_own_scans_and_the_queue_behind_it_goes_on(
    pg_service: Service,
) -> None:
    svc = pg_service
    n = 1 + MAX_BATCH + 8
    scans = _begun(svc, n)
    settlements = [s.settlement for s in scans]
    # One the database driver refuses to send (a NUL in a text parameter), in the
    # first batch queued behind the one in flight: that batch cannot go out at all.
    settlements[5] = replace(settlements[5], replay_value="j\x00")

    outcomes = _settled_at_once(svc, settlements)
    assert isinstance(outcomes[0], AccessRecord)
    failed = outcomes[1 : 1 + MAX_BATCH]
    assert {o.code if isinstance(o, ElicenseError) else o for o in failed} == {"audit.unavailable"}
    behind = outcomes[1 + MAX_BATCH :]
    assert [o.request_id if isinstance(o, AccessRecord) else o for o in behind] == [
        f"r{i}" for i in range(1 + MAX_BATCH, n)
    ]
    assert _unspent(svc, settlements[1])  # the failed batch spent nothing


def test_a_scan_never_answers_with_another_scans_record(service: Service) -> None:

    platform = service.platform
    first, second = _begun(service, 2)
    stored = platform.storage.access_log.settle(first.settlement, first.now)
    with pytest.raises(ElicenseError) as refused:
        platform.end_verify(second, stored)  # not its record: as if none were written
    assert refused.value.code == "audit.unavailable"
    assert platform.end_verify(first, stored).record_id == stored.id


def test_a_settler_goes_with_its_event_loop(service: Service) -> None:
    """One settler per event loop (a test client may run each request on its own); it
    keeps no reference to its loop, so the runtime's entry for a finished loop goes."""
    import gc

    runtime = service.client.app.state.runtime  # type: ignore[attr-defined]
    key = service.demo.rp_keys["hotel-qidu"]
    for _ in range(3):
        assert _scan_at_once(service, [service.code()], key) == [(200, None)]
    gc.collect()
    assert len(runtime._settlers) == 0
