"""The storage contract: every port method, on SQLite and on PostgreSQL alike."""

from __future__ import annotations

import contextlib
import select
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from sqlalchemy import text, update

from elicense import audit
from elicense.errors import ElicenseError
from elicense.ports import Storage
from elicense.records import (
    AccessRecord,
    Checkpoint,
    CredentialRecord,
    IssuerRecord,
    KeyRecord,
    LicenseRecord,
    RelyingPartyRecord,
    Settlement,
    StatusEvent,
)
from elicense.statuslist import IndexPermutation, StatusList
from elicense.storage import SqlStorage, open_storage, upgrade
from elicense.storage.db import as_bytes, as_text
from elicense.storage.replay import SqlReplayStore
from elicense.storage.schema import access_records

from .storage_support import (
    DAY,
    HOLDER_CODE,
    ISSUER,
    NOW,
    OTHER_ISSUER,
    STATUS_KEY,
    TYPE_CODE,
    access,
    consent,
    holder,
    license_id,
    new_license,
    open_for,
)

Opener = Callable[..., SqlStorage]


def test_sql_storage_satisfies_the_storage_port(storage: SqlStorage) -> None:
    port: Storage = storage  # mypy checks the structure; this pins it at runtime too
    for name in Storage.__annotations__:
        assert hasattr(port, name)
    storage.ping()


# --- holders ---------------------------------------------------------------------------


def test_holder_round_trips_and_unknown_pseudonym_is_none(storage: SqlStorage) -> None:
    h = holder(1, HOLDER_CODE)
    storage.holders.upsert(h)
    assert storage.holders.get(h.pseudonym) == h
    assert storage.holders.get("f" * 32) is None


def test_holder_upsert_keeps_first_sighting_time(storage: SqlStorage) -> None:
    h = holder(1)
    storage.holders.upsert(h)
    storage.holders.upsert(replace(h, created_at=NOW + 99))
    assert storage.holders.get(h.pseudonym) == h


def test_one_holder_code_under_two_pseudonyms_is_a_conflict_without_the_code(
    storage: SqlStorage,
) -> None:
    storage.holders.upsert(holder(1, HOLDER_CODE))
    with pytest.raises(ElicenseError) as exc:
        storage.holders.upsert(holder(2, HOLDER_CODE))
    assert exc.value.code == "storage.conflict"
    assert HOLDER_CODE not in str(exc.value.to_dict())


# --- issuers, keys, relying parties, credentials ----------------------------------------


def test_issuer_upsert_replaces_and_list_is_sorted(storage: SqlStorage) -> None:
    storage.issuers.upsert(IssuerRecord(OTHER_ISSUER, "乙", "110000", "11"))
    storage.issuers.upsert(IssuerRecord(ISSUER, "甲", "430000", "43"))
    storage.issuers.upsert(IssuerRecord(ISSUER, "甲局", "430000", "43"))
    assert storage.issuers.get(ISSUER) == IssuerRecord(ISSUER, "甲局", "430000", "43")
    assert [i.id for i in storage.issuers.list()] == sorted([ISSUER, OTHER_ISSUER])
    assert storage.issuers.get("nobody") is None


def _encrypted_pem() -> bytes:
    key = ec.generate_private_key(ec.SECP256R1())
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.BestAvailableEncryption(b"correct horse"),
    )


def _plain_pem() -> bytes:
    key = ec.generate_private_key(ec.SECP256R1())
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def _key(kid: str, **kw: object) -> KeyRecord:
    values: dict[str, object] = {
        "kid": kid,
        "owner_id": ISSUER,
        "alg": "ES256",
        "public_jwk": {"kty": "EC", "crv": "P-256", "x": "x", "y": "y"},
        "state": "active",
        "not_before": NOW,
    }
    values.update(kw)
    return KeyRecord(**values)  # type: ignore[arg-type]


def test_keys_round_trip_with_encrypted_private_half(storage: SqlStorage) -> None:
    pem = _encrypted_pem()
    k1 = _key("kid-1", encrypted_private=pem)
    k2 = _key("kid-2", not_before=NOW - 10, not_after=NOW + 10)
    storage.keys.put(k1)
    storage.keys.put(k2)
    assert storage.keys.get("kid-1") == k1
    assert [k.kid for k in storage.keys.for_owner(ISSUER)] == ["kid-2", "kid-1"]
    retired = replace(k1, state="retired", retired_at=NOW + 5)
    storage.keys.put(retired)
    assert storage.keys.get("kid-1") == retired
    assert storage.keys.get("nope") is None


@pytest.mark.parametrize(
    "private",
    [
        _plain_pem(),
        b"-----BEGIN EC PRIVATE KEY-----\nMHcCAQEE\n-----END EC PRIVATE KEY-----\n",
        b"\x30\x81\x87raw-der-bytes",
    ],
    ids=["pkcs8-plain", "sec1-plain", "der"],
)
def test_an_unencrypted_private_key_never_reaches_the_database(
    storage: SqlStorage, private: bytes
) -> None:
    with pytest.raises(ElicenseError) as exc:
        storage.keys.put(_key("kid-plain", encrypted_private=private))
    assert exc.value.code == "storage.conflict"
    assert storage.keys.get("kid-plain") is None


def test_relying_party_put_updates_but_keeps_creation_time(storage: SqlStorage) -> None:
    rp = RelyingPartyRecord("rp-1", OTHER_ISSUER, "某酒店", "hotel", ("hotel.checkin",), NOW)
    storage.relying_parties.put(rp)
    changed = replace(rp, scenarios=("hotel.checkin", "x"), active=False, created_at=NOW + 1)
    storage.relying_parties.put(changed)
    assert storage.relying_parties.get("rp-1") == replace(changed, created_at=NOW)
    assert [r.id for r in storage.relying_parties.list()] == ["rp-1"]
    assert storage.relying_parties.get("rp-2") is None


def test_credentials_are_insert_only_and_revocation_is_idempotent(storage: SqlStorage) -> None:
    cred = CredentialRecord("key-1", "rp-1", "rp", b"\x01" * 32, NOW)
    storage.credentials.put(cred)
    storage.credentials.put(CredentialRecord("key-0", "rp-1", "rp", b"\x02" * 32, NOW - 1))
    with pytest.raises(ElicenseError) as exc:
        storage.credentials.put(replace(cred, secret_hash=b"\x03" * 32))
    assert exc.value.code == "storage.conflict"
    assert storage.credentials.get("key-1") == cred
    storage.credentials.revoke("key-1", NOW + 5)
    storage.credentials.revoke("key-1", NOW + 9)
    assert storage.credentials.get("key-1") == replace(cred, revoked_at=NOW + 5)
    assert [c.key_id for c in storage.credentials.for_owner("rp-1")] == ["key-0", "key-1"]
    with pytest.raises(ElicenseError) as missing:
        storage.credentials.revoke("key-404", NOW)
    assert missing.value.code == "storage.not_found"


# --- licenses and status lists --------------------------------------------------------


@pytest.fixture
def pseudonym(storage: SqlStorage) -> str:
    h = holder(1, HOLDER_CODE)
    storage.holders.upsert(h)
    return h.pseudonym


def test_issue_allocates_the_keyed_permutation_index_of_the_next_counter(
    storage: SqlStorage, pseudonym: str
) -> None:
    recs = [storage.licenses.issue(ISSUER, new_license(f"S{i}", pseudonym)) for i in range(5)]
    (lst,) = storage.status_lists.for_owner(ISSUER)
    perm = IndexPermutation(STATUS_KEY, lst.size)
    assert [r.status_idx for r in recs] == [perm.index(c, lst.id) for c in range(5)]
    assert {r.status_list_id for r in recs} == {lst.id}
    assert lst.next_counter == 5
    assert lst.uri == f"https://status.invalid/{ISSUER}/{lst.id}"
    assert storage.licenses.get(recs[0].license_id) == recs[0]


def test_issue_many_opens_a_new_list_when_the_open_one_is_full(
    open_store: Opener, pseudonym: str
) -> None:
    store = open_store(list_size=8, status_uri="https://s.example/{owner}/{list_id}.jwt")
    recs = store.licenses.issue_many(ISSUER, [new_license(f"S{i}", pseudonym) for i in range(20)])
    lists = store.status_lists.for_owner(ISSUER)
    assert [lst.next_counter for lst in lists] == [8, 8, 4]
    assert len({(r.status_list_id, r.status_idx) for r in recs}) == 20
    for lst in lists:
        mine = sorted(r.status_idx for r in recs if r.status_list_id == lst.id)
        assert mine == sorted(
            IndexPermutation(STATUS_KEY, 8).index(c, lst.id) for c in range(lst.next_counter)
        )
        assert lst.uri == f"https://s.example/{ISSUER}/{lst.id}.jwt"
    more = store.licenses.issue(ISSUER, new_license("S99", pseudonym))
    assert more.status_list_id == lists[-1].id


def test_owners_have_separate_lists(storage: SqlStorage, pseudonym: str) -> None:
    a = storage.licenses.issue(ISSUER, new_license("A1", pseudonym))
    b = storage.licenses.issue(OTHER_ISSUER, new_license("B1", pseudonym, issuer=OTHER_ISSUER))
    assert a.status_list_id != b.status_list_id
    assert [lst.owner_id for lst in storage.status_lists.for_owner(OTHER_ISSUER)] == [OTHER_ISSUER]


def test_a_duplicate_license_number_writes_nothing_of_the_batch(
    storage: SqlStorage, pseudonym: str
) -> None:
    storage.licenses.issue(ISSUER, new_license("S1", pseudonym))
    before = storage.status_lists.for_owner(ISSUER)
    batch = [new_license("S2", pseudonym), new_license("S3", pseudonym)]
    with pytest.raises(ElicenseError) as exc:
        storage.licenses.issue_many(ISSUER, [*batch, new_license("S1", pseudonym)])
    assert exc.value.code == "storage.conflict"
    assert storage.licenses.count() == 1
    assert storage.licenses.get(license_id("S2")) is None
    assert storage.status_lists.for_owner(ISSUER) == before


def test_an_unknown_holder_is_refused_by_the_foreign_key(storage: SqlStorage) -> None:
    with pytest.raises(ElicenseError) as exc:
        storage.licenses.issue(ISSUER, new_license("S1", "e" * 32))
    assert exc.value.code == "storage.conflict"
    assert storage.licenses.count() == 0


def test_a_license_built_for_another_entry_is_refused(storage: SqlStorage, pseudonym: str) -> None:
    def liar(status_list_id: int, status_idx: int) -> LicenseRecord:
        return new_license("S1", pseudonym)(status_list_id, status_idx + 1)

    with pytest.raises(ElicenseError) as exc:
        storage.licenses.issue(ISSUER, liar)
    assert exc.value.code == "storage.conflict"
    assert storage.licenses.count() == 0


def _build_reads_its_list(store: SqlStorage) -> None:
    h = holder(1)
    store.holders.upsert(h)
    seen: list[str] = []

    def build(status_list_id: int, status_idx: int) -> LicenseRecord:
        lst = store.status_lists.get(status_list_id)  # as the platform does, for the URI
        assert lst is not None
        seen.append(lst.uri)
        return new_license("S1", h.pseudonym)(status_list_id, status_idx)

    rec = store.licenses.issue(ISSUER, build)
    assert seen == [f"https://status.invalid/{ISSUER}/{rec.status_list_id}"]


def test_a_build_callback_reads_its_new_status_list_inside_the_transaction(
    storage: SqlStorage,
) -> None:
    _build_reads_its_list(storage)


def test_a_build_callback_reading_storage_does_not_deadlock_an_in_memory_database() -> None:
    with open_storage("sqlite:///:memory:", status_key=STATUS_KEY) as store:
        _build_reads_its_list(store)


def test_issue_many_of_nothing_is_nothing(storage: SqlStorage) -> None:
    assert storage.licenses.issue_many(ISSUER, []) == []
    assert storage.status_lists.for_owner(ISSUER) == []


def test_a_license_issued_in_a_non_valid_state_is_mirrored_in_its_list(
    storage: SqlStorage, pseudonym: str
) -> None:
    rec = storage.licenses.issue(ISSUER, new_license("S1", pseudonym, state=2))
    lst = storage.status_lists.get(rec.status_list_id)
    assert lst is not None
    assert StatusList(lst.size, lst.bits, lst.data)[rec.status_idx] == 2


def test_lookups_by_identifier_alias_number_and_holder(storage: SqlStorage, pseudonym: str) -> None:
    other = holder(2)
    storage.holders.upsert(other)
    old_id = license_id("S1")[:-1] + "Z"
    a = storage.licenses.issue(ISSUER, new_license("S1", pseudonym, alias=old_id, issued_at=NOW))
    b = storage.licenses.issue(ISSUER, new_license("S2", pseudonym, issued_at=NOW - 5))
    storage.licenses.issue(ISSUER, new_license("S3", other.pseudonym))
    assert storage.licenses.get(a.license_id) == a
    assert storage.licenses.get(old_id) == a
    assert storage.licenses.get(license_id("S404")) is None
    assert storage.licenses.get_by_number(ISSUER, TYPE_CODE, "S2") == b
    assert storage.licenses.get_by_number(OTHER_ISSUER, TYPE_CODE, "S2") is None
    assert storage.licenses.for_holder(pseudonym) == [b, a]
    assert storage.licenses.for_holder("0" * 32) == []
    assert storage.licenses.count() == 3


def test_a_holders_licenses_read_ahead_are_those_read_at_once(
    storage: SqlStorage, pseudonym: str
) -> None:
    def open_ended(serial: str, issued_at: int) -> Callable[[int, int], LicenseRecord]:
        build = new_license(serial, pseudonym, issued_at=issued_at)
        return lambda list_id, idx: replace(build(list_id, idx), valid_until=None)

    a = storage.licenses.issue(ISSUER, new_license("S1", pseudonym, alias="旧编号-1", state=2))
    b = storage.licenses.issue(ISSUER, open_ended("S2", NOW - 5))
    assert b.valid_until is None
    assert a.alias == "旧编号-1"
    ahead = storage.licenses.for_holder_soon(pseudonym)
    assert ahead.result() == [b, a] == storage.licenses.for_holder(pseudonym)
    assert storage.licenses.for_holder_soon("0" * 32).result() == []


def test_a_holders_licenses_of_some_types_are_those_alone(
    storage: SqlStorage, pseudonym: str
) -> None:
    other_type = "11100000000013338W099"
    id_card = storage.licenses.issue(ISSUER, new_license("S1", pseudonym))
    build = new_license("S2", pseudonym)
    other = storage.licenses.issue(
        ISSUER, lambda list_id, idx: replace(build(list_id, idx), type_code=other_type)
    )
    assert storage.licenses.for_holder(pseudonym) == [id_card, other]
    assert storage.licenses.for_holder(pseudonym, {TYPE_CODE}) == [id_card]
    assert storage.licenses.for_holder(pseudonym, [other_type, TYPE_CODE]) == [id_card, other]
    assert storage.licenses.for_holder(pseudonym, set()) == []
    assert storage.licenses.for_holder_soon(pseudonym, {other_type}).result() == [other]
    assert storage.licenses.for_holder_soon(pseudonym, set()).result() == []


def test_a_read_ahead_discarded_or_forgotten_leaves_the_next_statements_right(
    storage: SqlStorage, pseudonym: str
) -> None:
    a = storage.licenses.issue(ISSUER, new_license("S1", pseudonym))
    storage.licenses.for_holder_soon(pseudonym).discard()
    assert storage.licenses.for_holder(pseudonym) == [a]
    forgotten = storage.licenses.for_holder_soon("0" * 32)
    assert storage.licenses.for_holder(pseudonym) == [a]  # drains the forgotten read first
    if storage.kind == "postgresql":  # its rows were dropped; SQLite reads only now
        with pytest.raises(ElicenseError) as exc:
            forgotten.result()
        assert exc.value.code == "storage.unavailable"
    else:
        assert forgotten.result() == []


def test_a_read_ahead_is_parsed_and_planned_once_per_connection(
    storage: SqlStorage, pseudonym: str
) -> None:
    a = storage.licenses.issue(ISSUER, new_license("S1", pseudonym))
    for _ in range(3):
        assert storage.licenses.for_holder_soon(pseudonym, {TYPE_CODE}).result() == [a]
    assert storage.licenses.for_holder_soon(pseudonym).result() == [a]
    if storage.kind != "postgresql":
        return  # SQLite's driver keeps its own statement cache
    with storage.db.driver() as conn:  # the same connection the reads went out on
        names = [
            r[0]
            for r in conn.execute(
                "SELECT name FROM pg_prepared_statements WHERE name LIKE 'elicense_read_%%'"
            ).fetchall()
        ]
    assert sorted(names) == ["elicense_read_0", "elicense_read_1"]  # one per statement text


def test_a_read_ahead_whose_column_is_not_its_kind_fails_closed(storage: SqlStorage) -> None:
    sent = storage.db.send_read("SELECT CAST(:v AS text)", {"v": "不是数字"}, [int])
    if storage.kind == "postgresql":  # converted from the text format, as the kinds say
        with pytest.raises(ElicenseError) as exc:
            sent.rows()
        assert exc.value.code == "storage.unavailable"
        assert "不是数字" not in str(exc.value.details)
    else:  # SQLite's driver gives typed values: nothing to convert
        assert sent.rows() == [("不是数字",)]


def test_a_called_statement_returns_its_values_typed_on_both_databases(
    storage: SqlStorage,
) -> None:
    rows = storage.db.call(
        "SELECT CAST(:n AS bigint), CAST(:t AS text), CAST(:z AS text)",
        {"n": 2**40, "t": "住宿登记", "z": None},
        (int, as_text, as_text),
    )
    assert rows == [(2**40, "住宿登记", None)]
    if storage.kind == "postgresql":  # bytea arrives in its hex text format
        rows = storage.db.call("SELECT decode(:h, 'hex')", {"h": "00ff10"}, (as_bytes,))
        assert rows == [(b"\x00\xff\x10",)]


def test_a_called_write_is_committed_when_it_returns(storage: SqlStorage) -> None:
    rows = storage.db.call(
        "INSERT INTO replay (namespace, value, expires_at) VALUES ('code', :v, :e) RETURNING value",
        {"v": "j-called", "e": NOW + 300},
        (as_text,),
    )
    assert rows == [("j-called",)]
    # Another connection sees it: the code counts as spent.
    assert storage.replay.consume("code", "j-called", expires_at=NOW + 300, now=NOW) is False


def _call_refused(storage: SqlStorage, text: str, value: str) -> ElicenseError:
    """The refusal of ``text`` run with ``:v`` = ``value``, asked as a settle asks."""
    with pytest.raises(ElicenseError) as exc:
        storage.db.call(text, {"v": value}, (as_text,), unavailable="audit.unavailable")
    assert value not in str(exc.value.details)
    return exc.value


def test_a_called_statement_that_fails_names_the_failure_not_the_value(
    storage: SqlStorage,
) -> None:
    insert = "INSERT INTO replay (namespace, value, expires_at) VALUES ('code', :v, 1)"
    storage.db.call(insert, {"v": "dup-唯一"}, ())
    assert _call_refused(storage, insert, "dup-唯一").code == "storage.conflict"
    if storage.kind == "postgresql":  # SQLite casts any text to a number without a word
        refused = _call_refused(storage, "SELECT CAST(CAST(:v AS integer) AS text)", "不是数字")
        assert (refused.code, refused.details.get("sqlstate")) == ("audit.unavailable", "22P02")
        # libpq would cut the text at the NUL (psycopg refuses it): refused before sending
        assert _call_refused(storage, "SELECT :v", "前\x00后").code == "audit.unavailable"
    assert storage.db.call("SELECT 1", {}, (int,)) == [(1,)]  # the connection is fine after


def test_two_licenses_cannot_share_an_alias(storage: SqlStorage, pseudonym: str) -> None:
    storage.licenses.issue(ISSUER, new_license("S1", pseudonym, alias="old-1"))
    with pytest.raises(ElicenseError) as exc:
        storage.licenses.issue(ISSUER, new_license("S2", pseudonym, alias="old-1"))
    assert exc.value.code == "storage.conflict"


def test_page_walks_every_license_once_in_identifier_order(
    storage: SqlStorage, pseudonym: str
) -> None:
    mine = storage.licenses.issue_many(
        ISSUER, [new_license(f"S{i:02d}", pseudonym) for i in range(23)]
    )
    storage.licenses.issue(OTHER_ISSUER, new_license("X1", pseudonym, issuer=OTHER_ISSUER))
    seen: list[str] = []
    after: str | None = None
    pages = 0
    while True:
        page = storage.licenses.page(issuer_id=ISSUER, after=after, limit=10)
        seen += [r.license_id for r in page.items]
        pages += 1
        if page.after is None:
            break
        after = page.after
    assert pages == 3
    assert seen == sorted(r.license_id for r in mine)
    everything = storage.licenses.page(issuer_id=None, after=None, limit=100)
    assert len(everything.items) == 24
    assert everything.after is None


def test_an_exactly_full_page_says_there_is_no_next_page(
    storage: SqlStorage, pseudonym: str
) -> None:
    storage.licenses.issue_many(ISSUER, [new_license(f"S{i}", pseudonym) for i in range(4)])
    page = storage.licenses.page(issuer_id=ISSUER, after=None, limit=4)
    assert len(page.items) == 4
    assert page.after is None


def _revoke(current: int) -> int:
    if current == 1:
        raise ElicenseError("status.bad_transition")
    return 1


def test_change_status_writes_license_list_entry_version_and_event_together(
    storage: SqlStorage, pseudonym: str
) -> None:
    rec = storage.licenses.issue(ISSUER, new_license("S1", pseudonym))
    lst = storage.status_lists.get(rec.status_list_id)
    assert lst is not None
    storage.status_lists.set_token(lst.id, lst.version, "token-v1")
    event = StatusEvent(rec.license_id, "revoke", "注销", ISSUER, NOW + 1, 0, -1)
    updated = storage.licenses.change_status(event, _revoke)
    assert updated == replace(rec, state=1)
    assert storage.licenses.get(rec.license_id) == updated
    after = storage.status_lists.get(lst.id)
    assert after is not None
    assert after.version == lst.version + 1
    assert after.token is None  # the stored token no longer matches the data
    assert StatusList(after.size, after.bits, after.data)[rec.status_idx] == 1
    assert storage.licenses.events(rec.license_id) == [replace(event, to_state=1)]


def test_a_refused_status_change_changes_nothing(storage: SqlStorage, pseudonym: str) -> None:
    rec = storage.licenses.issue(ISSUER, new_license("S1", pseudonym))
    event = StatusEvent(rec.license_id, "revoke", "r", ISSUER, NOW, 0, 1)
    storage.licenses.change_status(event, _revoke)
    lst = storage.status_lists.get(rec.status_list_id)
    with pytest.raises(ElicenseError) as exc:
        storage.licenses.change_status(event, _revoke)
    assert exc.value.code == "status.bad_transition"
    assert storage.status_lists.get(rec.status_list_id) == lst
    assert len(storage.licenses.events(rec.license_id)) == 1


def test_change_status_finds_a_license_by_alias_and_refuses_unknown_ones(
    storage: SqlStorage, pseudonym: str
) -> None:
    rec = storage.licenses.issue(ISSUER, new_license("S1", pseudonym, alias="old-S1"))
    storage.licenses.change_status(
        StatusEvent("old-S1", "suspend", "r", ISSUER, NOW, 0, 2), lambda _: 2
    )
    assert storage.licenses.events(rec.license_id)[0].to_state == 2
    with pytest.raises(ElicenseError) as exc:
        storage.licenses.change_status(
            StatusEvent("missing", "revoke", "r", ISSUER, NOW, 0, 1), _revoke
        )
    assert exc.value.code == "storage.not_found"


def test_set_token_is_ignored_for_a_version_the_list_has_moved_past(
    storage: SqlStorage, pseudonym: str
) -> None:
    rec = storage.licenses.issue(ISSUER, new_license("S1", pseudonym))
    v1 = storage.status_lists.get(rec.status_list_id)
    assert v1 is not None
    storage.licenses.change_status(
        StatusEvent(rec.license_id, "revoke", "r", ISSUER, NOW, 0, 1), _revoke
    )
    storage.status_lists.set_token(v1.id, v1.version, "stale")
    assert storage.status_lists.get(v1.id).token is None  # type: ignore[union-attr]
    storage.status_lists.set_token(v1.id, v1.version + 1, "fresh")
    assert storage.status_lists.get(v1.id).token == "fresh"  # type: ignore[union-attr]
    assert storage.status_lists.get(9999) is None


# --- consents ------------------------------------------------------------------------


def test_consent_round_trips_and_put_never_overwrites(storage: SqlStorage) -> None:
    c = consent("c1", "ab" * 16, max_uses=3)
    storage.consents.put(c)
    assert storage.consents.get("c1") == c
    with pytest.raises(ElicenseError) as exc:
        storage.consents.put(c)
    assert exc.value.code == "storage.conflict"
    assert storage.consents.get("c404") is None


def test_consent_use_stops_at_max_uses(storage: SqlStorage) -> None:
    storage.consents.put(consent("c1", "ab" * 16, max_uses=2))
    assert [storage.consents.use("c1", NOW) for _ in range(4)] == [True, True, False, False]
    assert storage.consents.get("c1").uses == 2  # type: ignore[union-attr]
    storage.consents.put(consent("c2", "ab" * 16))
    assert all(storage.consents.use("c2", NOW) for _ in range(5))
    assert storage.consents.use("c404", NOW) is False


def test_an_expired_or_revoked_consent_is_neither_live_nor_usable(storage: SqlStorage) -> None:
    p = "ab" * 16
    storage.consents.put(consent("live", p, created_at=NOW - 2))
    storage.consents.put(consent("expired", p, valid_until=NOW))
    storage.consents.put(consent("spent", p, max_uses=1, uses=1))
    storage.consents.put(consent("revoked", p))
    storage.consents.put(consent("other-rp", p, rp_id="rp-bank"))
    assert storage.consents.revoke("revoked", NOW - 1) is True
    assert storage.consents.revoke("revoked", NOW) is False
    assert storage.consents.revoke("c404", NOW) is False
    live = storage.consents.find_live(p, "rp-hotel", "hotel.checkin", NOW)
    assert [c.id for c in live] == ["live"]
    for cid in ("expired", "spent", "revoked"):
        assert storage.consents.use(cid, NOW) is False
    assert storage.consents.get("revoked").revoked_at == NOW - 1  # type: ignore[union-attr]
    assert {c.id for c in storage.consents.for_holder(p)} == {
        "live",
        "expired",
        "spent",
        "revoked",
        "other-rp",
    }


# --- replay --------------------------------------------------------------------------


def test_a_value_is_consumed_once_per_namespace(storage: SqlStorage) -> None:
    r = storage.replay
    assert r.consume("code", "j1", expires_at=NOW + 300, now=NOW) is True
    assert r.consume("code", "j1", expires_at=NOW + 300, now=NOW + 1) is False
    assert r.consume("kb", "j1", expires_at=NOW + 300, now=NOW) is True
    assert r.consume("code", "j2", expires_at=NOW + 300, now=NOW) is True


def test_a_value_stays_consumed_until_its_token_expires(storage: SqlStorage) -> None:
    r = storage.replay
    assert r.consume("code", "j1", expires_at=NOW + 300, now=NOW) is True
    assert r.consume("code", "j1", expires_at=NOW + 300, now=NOW + 300) is False
    # Past its expiry the token itself no longer verifies: the row may be reused.
    assert r.consume("code", "j1", expires_at=NOW + 900, now=NOW + 301) is True
    assert r.consume("code", "j1", expires_at=NOW + 900, now=NOW + 302) is False


def test_purge_drops_only_expired_values(storage: SqlStorage) -> None:
    r = storage.replay
    r.consume("code", "old", expires_at=NOW - 1, now=NOW - 100)
    r.consume("code", "new", expires_at=NOW + 300, now=NOW)
    assert storage.purge_replay(NOW) == 1
    assert r.consume("code", "new", expires_at=NOW + 300, now=NOW) is False


def test_consume_purges_expired_values_now_and_then(storage: SqlStorage) -> None:
    r = SqlReplayStore(storage.db, purge_every=10)
    r.consume("code", "old", expires_at=NOW - 1, now=NOW - 100)
    for i in range(9):
        r.consume("bulk", f"v{i}", expires_at=NOW + 300, now=NOW)
    with storage.db.read() as conn:
        left = conn.execute(text("SELECT value FROM replay ORDER BY value")).scalars().all()
    assert left == [f"v{i}" for i in range(9)]


# --- access log ----------------------------------------------------------------------


def test_append_chains_records_into_a_verifiable_log(storage: SqlStorage) -> None:
    assert storage.access_log.head() == (0, audit.GENESIS)
    stored = [storage.access_log.append(access(f"a{i}", "ab" * 16)) for i in range(5)]
    assert [r.seq for r in stored] == [1, 2, 3, 4, 5]
    assert stored[0].prev_hash == audit.GENESIS
    assert stored[1].prev_hash == stored[0].hash
    records = storage.access_log.records()
    assert list(records) == stored
    assert audit.verify_chain(records) == []
    assert storage.access_log.head() == (5, stored[-1].hash)
    assert [r.seq for r in storage.access_log.records(after_seq=3, limit=1)] == [4]


def test_a_record_refused_by_the_database_leaves_the_chain_head_alone(
    storage: SqlStorage,
) -> None:
    first = storage.access_log.append(access("a1", None))
    with pytest.raises(ElicenseError) as exc:
        storage.access_log.append(access("a1", None))
    assert exc.value.code == "storage.conflict"
    assert storage.access_log.head() == (1, first.hash)
    assert storage.access_log.append(access("a2", None)).seq == 2


def _settlement(
    rid: str, value: str, consent_id: str | None = None, rp_id: str = "rp-hotel"
) -> Settlement:
    accepted = access(rid, "ab" * 16, consent_id=consent_id, rp_id=rp_id)
    refused = replace(accepted, license_ids=(), field_names=(), decision="refused", consent_id=None)
    return Settlement(
        "code",
        value,
        NOW + 300,
        consent_id,
        accepted,
        replace(refused, code="code.replayed"),
        replace(refused, code="consent.exhausted"),
    )


def test_settle_consumes_the_value_spends_the_grant_and_chains_the_record(
    storage: SqlStorage,
) -> None:
    storage.consents.put(consent("c1", "ab" * 16, max_uses=2))
    before = storage.access_log.append(access("a0", None))
    stored = storage.access_log.settle(_settlement("a1", "j1", "c1"), NOW)
    assert (stored.seq, stored.decision, stored.consent_id) == (2, "accepted", "c1")
    assert stored.prev_hash == before.hash
    assert stored.hash == audit.record_hash(before.hash, stored)
    assert list(storage.access_log.records()) == [before, stored]
    assert storage.access_log.head() == (2, stored.hash)
    assert storage.consents.get("c1").uses == 1  # type: ignore[union-attr]
    assert storage.replay.consume("code", "j1", expires_at=NOW + 300, now=NOW) is False
    # A record with non-ASCII names and no grant chains the same way.
    assert storage.access_log.settle(_settlement("a2", "j2", rp_id="旅馆"), NOW).rp_id == "旅馆"
    assert audit.verify_chain(storage.access_log.records()) == []


def test_settle_of_a_consumed_value_appends_the_replayed_record_and_spends_nothing(
    storage: SqlStorage,
) -> None:
    storage.consents.put(consent("c1", "ab" * 16, max_uses=2))
    assert storage.replay.consume("code", "j1", expires_at=NOW + 300, now=NOW) is True
    stored = storage.access_log.settle(_settlement("a1", "j1", "c1"), NOW)
    assert (stored.decision, stored.code, stored.license_ids, stored.consent_id) == (
        "refused", "code.replayed", (), None,
    )  # fmt: skip
    assert storage.consents.get("c1").uses == 0  # type: ignore[union-attr]
    assert list(storage.access_log.records()) == [stored]
    assert audit.verify_chain([stored]) == []


def test_settle_with_a_spent_grant_appends_the_exhausted_record_and_keeps_the_code_spent(
    storage: SqlStorage,
) -> None:
    storage.consents.put(consent("c1", "ab" * 16, max_uses=1, uses=1))
    stored = storage.access_log.settle(_settlement("a1", "j1", "c1"), NOW)
    assert (stored.decision, stored.code) == ("refused", "consent.exhausted")
    assert storage.replay.consume("code", "j1", expires_at=NOW + 300, now=NOW) is False
    assert audit.verify_chain(storage.access_log.records()) == []


def test_a_settlement_that_cannot_be_written_leaves_nothing_behind(storage: SqlStorage) -> None:
    storage.consents.put(consent("c1", "ab" * 16, max_uses=2))
    first = storage.access_log.append(access("a1", None))
    with pytest.raises(ElicenseError) as exc:  # the record's id is taken
        storage.access_log.settle(_settlement("a1", "j1", "c1"), NOW)
    assert exc.value.code == "storage.conflict"
    assert storage.access_log.head() == (1, first.hash)
    assert storage.consents.get("c1").uses == 0  # type: ignore[union-attr]
    assert storage.replay.consume("code", "j1", expires_at=NOW + 300, now=NOW) is True


def _settled_soon(storage: SqlStorage, settlements: list[Settlement]) -> list[AccessRecord]:
    sent = storage.access_log.settle_soon([(s, NOW) for s in settlements])
    if storage.db.kind == "sqlite":
        assert sent is None  # a local transaction: nothing to send ahead, settle it is
        return [storage.access_log.settle(s, NOW) for s in settlements]
    assert sent is not None
    return sent.result()


def test_settlements_sent_together_settle_in_order_in_one_transaction(
    storage: SqlStorage,
) -> None:
    storage.consents.put(consent("c1", "ab" * 16, max_uses=1))
    before = storage.access_log.append(access("a0", None))
    batch = [
        _settlement("a1", "j1", "c1"),
        _settlement("a2", "j2"),
        _settlement("a3", "j1"),  # j1 again: spent by the first of the batch
        _settlement("a4", "j4", "c1"),  # c1's one use went to the first
    ]
    stored = _settled_soon(storage, batch)
    assert [(r.id, r.seq, r.decision, r.code) for r in stored] == [
        ("a1", 2, "accepted", None),
        ("a2", 3, "accepted", None),
        ("a3", 4, "refused", "code.replayed"),
        ("a4", 5, "refused", "consent.exhausted"),
    ]
    assert list(storage.access_log.records()) == [before, *stored]
    assert audit.verify_chain(storage.access_log.records()) == []
    assert storage.access_log.head() == (5, stored[-1].hash)
    if storage.db.kind == "postgresql":  # one transaction wrote them all
        with storage.db.read() as conn:
            xids = conn.execute(
                text("SELECT DISTINCT xmin::text FROM access_records WHERE seq > 1")
            )
            assert len(xids.all()) == 1


def test_settlements_sent_together_that_cannot_all_be_written_leave_nothing_behind(
    storage: SqlStorage,
) -> None:
    if storage.db.kind == "sqlite":
        pytest.skip("SQLite settles one at a time (settle_soon is None): see test above")
    storage.consents.put(consent("c1", "ab" * 16, max_uses=2))
    first = storage.access_log.append(access("a1", None))
    sent = storage.access_log.settle_soon(
        [(_settlement("a2", "j2", "c1"), NOW), (_settlement("a1", "j1", "c1"), NOW)]
    )  # the second record's id is taken: the first must not commit either
    assert sent is not None
    with pytest.raises(ElicenseError) as exc:
        sent.result()
    assert exc.value.code == "storage.conflict"
    assert storage.access_log.head() == (1, first.hash)
    assert storage.consents.get("c1").uses == 0  # type: ignore[union-attr]
    for value in ("j1", "j2"):
        assert storage.replay.consume("code", value, expires_at=NOW + 300, now=NOW) is True
    # The call connection is ready for the next batch.
    stored = _settled_soon(storage, [_settlement("a3", "j3", "c1")])
    assert [(r.seq, r.decision) for r in stored] == [(2, "accepted")]


def test_settlements_purge_expired_replay_values_now_and_then_sent_together_too(
    storage: SqlStorage,
) -> None:
    from elicense.storage.access import SqlAccessLog

    log = SqlAccessLog(storage.db, SqlReplayStore(storage.db, purge_every=3))
    storage.replay.consume("code", "old", expires_at=NOW - 1, now=NOW - 100)
    batch = [(_settlement(f"a{i}", f"j{i}"), NOW) for i in range(3)]
    sent = log.settle_soon(batch)
    if sent is None:  # SQLite
        for s, now in batch:
            log.settle(s, now)
    else:
        sent.result()
    with storage.db.read() as conn:
        left = conn.execute(text("SELECT value FROM replay ORDER BY value")).scalars().all()
    assert left == ["j0", "j1", "j2"]


@pytest.mark.postgres
@pytest.mark.parametrize("shared", ["code", "grant"])
def test_a_batch_and_a_settlement_elsewhere_sharing_a_code_or_grant_never_deadlock(
    pg_storage: SqlStorage, postgres_schema: tuple[str, str], shared: str
) -> None:
    """Every settlement locks the log's head first (migration 0005). A batch holds the
    head from its first settlement on; a settlement elsewhere that locked the batch's
    later code or grant first, then waited for the head, closed a cycle: PostgreSQL
    failed one side after its deadlock timeout (1 s)."""
    import threading

    import psycopg

    store = pg_storage
    url, schema = postgres_schema
    store.consents.put(consent("c1", "ab" * 16))
    store.consents.put(consent("c2", "ab" * 16))
    with psycopg.connect(url, options=f"-c search_path={schema}") as holder:
        # A third session holds the head, so both queue behind it in a known order.
        holder.execute("SELECT * FROM access_head WHERE id = 1 FOR UPDATE")
        batch = store.access_log.settle_soon(
            [(_settlement("a1", "j1", "c1"), NOW), (_settlement("a2", "j2", "c2"), NOW)]
        )
        assert batch is not None
        time.sleep(0.2)  # the batch waits for the head
        elsewhere = _settlement("b1", "j2") if shared == "code" else _settlement("b1", "j3", "c2")
        out: dict[str, object] = {}

        def settle_elsewhere() -> None:  # another worker (its own connections)
            try:
                out["b"] = store.access_log.settle(elsewhere, NOW)
            except ElicenseError as exc:
                out["b"] = exc

        thread = threading.Thread(target=settle_elsewhere)
        thread.start()
        time.sleep(0.3)  # it waits too: for the head (before 0005, for j2 or c2 first)
        started = time.monotonic()
    # The holder's session commits and ends: the head is free.
    first, second = batch.result()
    thread.join()
    assert time.monotonic() - started < 0.9  # no deadlock timeout was waited out
    assert isinstance(out["b"], AccessRecord)
    assert (first.decision, second.decision) == ("accepted", "accepted")
    assert (out["b"].decision, out["b"].code) == (
        ("refused", "code.replayed") if shared == "code" else ("accepted", None)
    )
    assert audit.verify_chain(store.access_log.records()) == []


def test_an_edited_stored_record_is_found_by_verify_chain(storage: SqlStorage) -> None:
    for i in range(3):
        storage.access_log.append(access(f"a{i}", "ab" * 16))
    with storage.db.write() as conn:
        conn.execute(
            update(access_records).where(access_records.c.seq == 2).values(decision="refused")
        )
    findings = audit.verify_chain(storage.access_log.records())
    assert [(f.seq, f.kind) for f in findings] == [(2, "edited")]


def test_holder_and_rp_listings_page_newest_first(storage: SqlStorage) -> None:
    me, other = "ab" * 16, "cd" * 16
    for i in range(7):
        storage.access_log.append(access(f"m{i}", me, rp_id="rp-a" if i % 2 else "rp-b"))
    storage.access_log.append(access("o1", other, rp_id="rp-a"))
    first = storage.access_log.for_holder(me, after=None, limit=3)
    assert [r.id for r in first.items] == ["m6", "m5", "m4"]
    second = storage.access_log.for_holder(me, after=first.after, limit=3)
    third = storage.access_log.for_holder(me, after=second.after, limit=3)
    assert [r.id for r in second.items + third.items] == ["m3", "m2", "m1", "m0"]
    assert third.after is None
    rp = storage.access_log.for_rp("rp-a", after=None, limit=10)
    assert [r.id for r in rp.items] == ["o1", "m5", "m3", "m1"]
    assert rp.after is None
    with pytest.raises(ElicenseError):
        storage.access_log.for_rp("rp-a", after="not-a-cursor", limit=10)


@pytest.mark.parametrize(
    "cursor",
    ["not-a-cursor", "", "-1", "²", "٣", "9223372036854775808", "9" * 30, "1" * 5000],
)
def test_a_cursor_that_is_no_position_in_the_log_is_refused_as_such(
    storage: SqlStorage, cursor: str
) -> None:
    """Not a database failure (a number past 64 bits overflows the driver; "²" is a digit
    to ``isdigit`` but not to ``int``): the same refusal as any bad cursor."""
    storage.access_log.append(access("m0", "ab" * 16))
    with pytest.raises(ElicenseError) as exc:
        storage.access_log.for_holder("ab" * 16, after=cursor, limit=10)
    assert exc.value.code == "storage.not_found"
    largest = storage.access_log.for_holder("ab" * 16, after="9223372036854775807", limit=10)
    assert [r.id for r in largest.items] == ["m0"]


def test_counts_group_by_scenario_license_type_and_relying_party(storage: SqlStorage) -> None:
    p = "ab" * 16
    storage.access_log.append(access("a1", p, at=NOW - DAY))
    storage.access_log.append(access("a2", p))
    storage.access_log.append(access("a3", p, rp_id="rp-bank", scenario_id="bank.open"))
    storage.access_log.append(access("a4", None, license_ids=(), decision="refused"))
    assert storage.access_log.counts() == [
        ("bank.open", TYPE_CODE, "rp-bank", 1),
        ("hotel.checkin", "", "rp-hotel", 1),
        ("hotel.checkin", TYPE_CODE, "rp-hotel", 2),
    ]
    assert ("hotel.checkin", TYPE_CODE, "rp-hotel", 1) in storage.access_log.counts(since=NOW)


def test_checkpoints_are_kept_in_chain_order(storage: SqlStorage) -> None:
    storage.access_log.add_checkpoint(Checkpoint(9, b"\x09" * 32, NOW + 9, "tok9"))
    storage.access_log.add_checkpoint(Checkpoint(3, b"\x03" * 32, NOW + 3, "tok3"))
    assert [c.seq for c in storage.access_log.checkpoints()] == [3, 9]
    assert storage.access_log.checkpoints()[0] == Checkpoint(3, b"\x03" * 32, NOW + 3, "tok3")


def test_a_position_sealed_twice_keeps_its_first_checkpoint(storage: SqlStorage) -> None:
    # Two workers crossing the sealing interval together both seal the same head.
    storage.access_log.add_checkpoint(Checkpoint(3, b"\x03" * 32, NOW, "first"))
    storage.access_log.add_checkpoint(Checkpoint(3, b"\x03" * 32, NOW + 1, "second"))
    assert storage.access_log.checkpoints() == [Checkpoint(3, b"\x03" * 32, NOW, "first")]


# --- failure ---------------------------------------------------------------------------


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def dead_url(request: pytest.FixtureRequest) -> str:
    if request.param == "sqlite":
        return "sqlite:////nonexistent-dir/for/elicense.db"
    request.getfixturevalue("postgres_url")
    return "postgresql://postgres@127.0.0.1:1/postgres"


def test_an_unreachable_database_fails_closed_with_stable_codes(dead_url: str) -> None:
    store = open_storage(dead_url, status_key=STATUS_KEY, check_schema=False)
    try:
        with pytest.raises(ElicenseError) as ping:
            store.ping()
        assert ping.value.code == "storage.unavailable"
        with pytest.raises(ElicenseError) as replayed:
            store.replay.consume("code", "j", expires_at=NOW + 1, now=NOW)
        assert replayed.value.code == "replay.unavailable"
        with pytest.raises(ElicenseError) as appended:
            store.access_log.append(access("a1", None))
        assert appended.value.code == "storage.unavailable"
    finally:
        store.close()
    with pytest.raises(ElicenseError) as opened:
        open_storage(dead_url, status_key=STATUS_KEY)
    assert opened.value.code == "storage.unavailable"


def test_memory_database_is_migrated_on_open_and_shared_by_threads() -> None:
    import threading

    store = open_storage("sqlite:///:memory:", status_key=STATUS_KEY)
    try:
        wins: list[bool] = []

        def go() -> None:
            for _ in range(10):
                wins.append(store.replay.consume("code", "j", expires_at=NOW + 1, now=NOW))

        threads = [threading.Thread(target=go) for _ in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert wins.count(True) == 1
        assert len(wins) == 40
    finally:
        store.close()


@pytest.mark.postgres
def test_a_scan_connection_killed_by_the_server_fails_closed_once_then_is_replaced(
    postgres_schema: tuple[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each thread's own autocommit connection (``Database.driver``) dies with its server
    backend: the statement that meets the dead connection fails with the caller's code,
    and the next one gets a fresh connection; after an idle second the ping finds the
    dead one first, and nothing fails."""
    import psycopg

    from elicense.storage import db as db_module

    url, schema = postgres_schema
    upgrade(url, schema=schema)
    store = open_for(url, schema)

    def kill_this_threads_connection() -> None:
        with store.db.driver() as conn:
            (pid,) = conn.execute("SELECT pg_backend_pid()").fetchone()
        with psycopg.connect(url, autocommit=True) as admin:
            admin.execute("SELECT pg_terminate_backend(%s)", (pid,))

    try:
        assert store.licenses.for_holder("p" * 64) == []
        kill_this_threads_connection()
        with pytest.raises(ElicenseError) as failed:
            store.replay.consume("code", "j1", expires_at=NOW + 1, now=NOW)
        assert failed.value.code == "replay.unavailable"
        store.replay.consume("code", "j1", expires_at=NOW + 1, now=NOW)  # nothing was stored
        # The same for a statement sent in libpq's interface (a scan's settle, its
        # read-ahead): refused with the caller's code, then a fresh connection.
        assert store.db.call("SELECT 1", {}, (int,)) == [(1,)]
        kill_this_threads_connection()
        with pytest.raises(ElicenseError) as failed:
            store.db.call("SELECT 2", {}, (int,), unavailable="audit.unavailable")
        assert failed.value.code == "audit.unavailable"
        assert store.db.call("SELECT 3", {}, (int,)) == [(3,)]
        kill_this_threads_connection()
        with pytest.raises(ElicenseError) as failed:
            store.db.send_read("SELECT 4", {}, (int,)).rows()
        assert failed.value.code == "storage.unavailable"
        assert store.db.send_read("SELECT 5", {}, (int,)).rows() == [(5,)]
        kill_this_threads_connection()
        monkeypatch.setattr(db_module, "PING_AFTER_IDLE_S", 0.0)
        assert store.licenses.for_holder("p" * 64) == []
    finally:
        store.close()


@pytest.mark.postgres
def test_calls_sent_together_are_awaited_without_blocking_while_the_thread_reads_on(
    pg_storage: SqlStorage,
) -> None:
    """``send_calls`` goes out on the thread's call connection: ``ready`` answers at once
    while the server works, and the thread's reads run meanwhile on its other one."""
    store = pg_storage
    slow = "SELECT CAST(:n AS int) * 10 FROM pg_sleep(CAST(:s AS float))"
    sent = store.db.send_calls(slow, [{"n": 1, "s": "0.4"}, {"n": 2, "s": "0"}], (int,))
    assert sent is not None
    t0 = time.monotonic()
    assert sent.ready() is False
    assert time.monotonic() - t0 < 0.2  # it did not wait for the server
    assert store.db.send_read("SELECT 7", {}, (int,)).rows() == [(7,)]
    assert store.db.call("SELECT 8", {}, (int,)) == [(8,)]
    assert sent.ready() is False  # the reads did not wait for the calls either
    poller = select.poll()
    poller.register(sent.fileno(), select.POLLIN)
    while not sent.ready():
        poller.poll(1000)
    assert sent.rows_each() == [[(10,)], [(20,)]]
    # Inside a transaction on this thread nothing is sent ahead: it would not see it.
    with store.db.write():
        assert store.db.send_calls("SELECT 1", [{}], (int,)) is None


@pytest.mark.postgres
def test_calls_sent_together_on_a_cut_connection_fail_all_and_the_next_ones_reconnect(
    pg_storage: SqlStorage,
    postgres_schema: tuple[str, str],
) -> None:
    import psycopg

    store = pg_storage
    url = postgres_schema[0]
    sent = store.db.send_calls("SELECT pg_backend_pid()", [{}], (int,))
    assert sent is not None
    ((pid,),) = sent.rows_each()[0]
    sent = store.db.send_calls(
        "SELECT CAST(:n AS int) FROM pg_sleep(1)", [{"n": 1}, {"n": 2}], (int,)
    )
    assert sent is not None
    with psycopg.connect(url, autocommit=True) as admin:
        admin.execute("SELECT pg_terminate_backend(%s)", (pid,))
    with pytest.raises(ElicenseError) as failed:
        sent.rows_each()
    assert failed.value.code == "storage.unavailable"
    again = store.db.send_calls("SELECT CAST(:n AS int)", [{"n": 3}, {"n": 4}], (int,))
    assert again is not None
    assert again.rows_each() == [[(3,)], [(4,)]]


@pytest.mark.postgres
def test_statements_in_libpq_text_format_ignore_a_roles_bytea_and_encoding_defaults(
    postgres_schema: tuple[str, str],
) -> None:
    """``send_read``/``call`` convert libpq's text format themselves: a role whose
    sessions default to the escape format for bytea and another client encoding still
    gets hex bytea and UTF-8 text on the scan's connection."""
    import uuid

    import psycopg
    from sqlalchemy.engine import make_url

    url, schema = postgres_schema
    role = f"elicense_t_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(url, autocommit=True) as admin:
        admin.execute(f"CREATE ROLE {role} LOGIN SUPERUSER")
        admin.execute(f"ALTER ROLE {role} SET bytea_output = 'escape'")
        admin.execute(f"ALTER ROLE {role} SET client_encoding = 'LATIN1'")
    try:
        as_role = make_url(url).set(username=role).render_as_string(hide_password=False)
        upgrade(as_role, schema=schema)
        store = open_for(as_role, schema)
        try:
            rows = store.db.call(
                "SELECT decode(:h, 'hex'), CAST(:t AS text)",
                {"h": "00ff5c78", "t": "住宿登记"},
                (as_bytes, as_text),
            )
            assert rows == [(b"\x00\xff\\x", "住宿登记")]
        finally:
            store.close()
    finally:
        with psycopg.connect(url, autocommit=True) as admin:
            admin.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
            admin.execute(f'CREATE SCHEMA "{schema}"')  # the fixture drops it again
            admin.execute(f"DROP OWNED BY {role}")
            admin.execute(f"DROP ROLE {role}")


def _url_with(url: str, **query: str) -> str:
    """``url`` with these query parameters (libpq's connection options) set."""
    from sqlalchemy.engine import make_url

    return make_url(url).update_query_dict(query).render_as_string(hide_password=False)


@pytest.mark.postgres
def test_connections_give_up_on_a_silent_server_within_a_minute_unless_the_url_says(
    pg_storage: SqlStorage, postgres_schema: tuple[str, str]
) -> None:
    def tcp_settings(store: SqlStorage) -> dict[str, str]:
        pooled = store.db.engine.raw_connection()
        try:
            info = pooled.driver_connection.pgconn.info  # type: ignore[union-attr]
            return {
                o.keyword.decode(): (o.val or b"").decode()
                for o in info
                if o.keyword.startswith(b"keepalives") or o.keyword == b"tcp_user_timeout"
            }
        finally:
            pooled.close()

    assert tcp_settings(pg_storage) == {
        "keepalives": "1",
        "keepalives_idle": "30",
        "keepalives_interval": "10",
        "keepalives_count": "3",
        "tcp_user_timeout": "60000",
    }
    url, schema = postgres_schema
    store = open_for(_url_with(url, keepalives_idle="5"), schema)
    try:
        assert tcp_settings(store)["keepalives_idle"] == "5"
    finally:
        store.close()


@pytest.mark.postgres
def test_options_in_the_database_url_are_kept_beside_the_storages_own(
    postgres_schema: tuple[str, str],
) -> None:
    url, schema = postgres_schema
    with_options = _url_with(url, options="-cstatement_timeout=4321")
    upgrade(with_options, schema=schema)
    store = open_for(with_options, schema)
    try:
        shown = store.db.call(
            "SELECT current_setting('statement_timeout'), current_setting('bytea_output'), "
            "current_schema()",
            {},
            (as_text, as_text, as_text),
        )
        assert shown == [("4321ms", "hex", schema)]
    finally:
        store.close()


def test_a_servers_checkpoints_copy_commits_into_the_database_file_outside_any_commit(
    tmp_path: Path,
) -> None:
    """``checkpoint_in_background``: a thread copies the WAL into the database file, so a
    commit no longer does it (holding the write gate) once the WAL passes 1,000 pages.
    Read with ``immutable=1``, the database file alone shows what has been copied."""
    import sqlite3
    import threading
    import time

    def threads() -> int:
        return sum(t.name == "elicense-checkpoint" for t in threading.enumerate())

    path = tmp_path / "served.db"
    url = f"sqlite:///{path}"
    upgrade(url)
    store = open_for(url, None)
    before = threads()
    try:
        store.checkpoint_in_background()
        for i in range(40):  # a few pages: far below any commit's own checkpoint
            store.access_log.append(access(f"a{i}", None))
        deadline, copied = time.monotonic() + 5, 0
        while copied < 40 and time.monotonic() < deadline:
            time.sleep(0.05)
            with contextlib.closing(
                sqlite3.connect(f"file:{path}?immutable=1", uri=True)
            ) as file_only:
                copied = file_only.execute("SELECT count(*) FROM access_records").fetchone()[0]
        assert copied == 40
        assert threads() == before + 1
    finally:
        store.close()
    assert threads() == before


@pytest.mark.postgres
def test_a_threads_own_connection_is_closed_when_the_thread_ends_or_the_store_closes(
    postgres_schema: tuple[str, str],
) -> None:
    """Thread pools retire idle threads (anyio's after 10 s) and start new ones: each
    scanning thread's connection must go with its thread, or a server leaks one per
    thread it ever had."""
    import gc
    import threading

    url, schema = postgres_schema
    upgrade(url, schema=schema)
    store = open_for(url, schema)
    seen: list[Any] = []

    def scan() -> None:
        with store.db.driver() as conn:
            conn.execute("SELECT 1")
            seen.append(conn)

    try:
        for _ in range(3):
            worker = threading.Thread(target=scan)
            worker.start()
            worker.join()
        gc.collect()
        assert len(seen) == 3
        assert all(conn.closed for conn in seen)
        scan()  # this thread's own: open until the store closes
        assert not seen[-1].closed
    finally:
        store.close()
    assert seen[-1].closed
