"""What is stored where: holder codes only in ``holders``, private keys only encrypted."""

from __future__ import annotations

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519
from sqlalchemy import select

from elicense.records import Checkpoint, KeyRecord, StatusEvent
from elicense.storage import SqlStorage
from elicense.storage.schema import metadata

from .storage_support import (
    HOLDER_CODE,
    ISSUER,
    NOW,
    access,
    consent,
    holder,
    license_id,
    new_license,
)


def _dump(storage: SqlStorage) -> dict[str, str]:
    """Every table's every row, as text (bytes decoded leniently), keyed by table."""
    out: dict[str, str] = {}
    with storage.db.read() as conn:
        for table in metadata.sorted_tables:
            cells: list[str] = []
            for row in conn.execute(select(table)):
                for value in row:
                    if isinstance(value, bytes | memoryview):
                        cells.append(bytes(value).decode("latin-1"))
                    else:
                        cells.append(repr(value))
            out[table.name] = "\n".join(cells)
    return out


def test_the_holder_code_is_stored_in_the_holders_table_and_nowhere_else(
    storage: SqlStorage,
) -> None:
    h = holder(1, HOLDER_CODE)
    storage.holders.upsert(h)
    lic = storage.licenses.issue(ISSUER, new_license("S1", h.pseudonym))
    storage.licenses.change_status(
        StatusEvent(lic.license_id, "suspend", "核查", ISSUER, NOW, 0, 2), lambda _: 2
    )
    storage.consents.put(consent("c1", h.pseudonym, max_uses=2))
    storage.consents.use("c1", NOW)
    rec = storage.access_log.append(access("a1", h.pseudonym, consent_id="c1"))
    storage.access_log.add_checkpoint(Checkpoint(rec.seq, rec.hash, NOW, "header.payload.sig"))
    storage.replay.consume("code", "jti-1", expires_at=NOW + 60, now=NOW)

    dump = _dump(storage)
    assert HOLDER_CODE in dump["holders"]
    leaks = [name for name, text in dump.items() if name != "holders" and HOLDER_CODE in text]
    assert leaks == []
    # Everything else refers to the holder by pseudonym.
    for name in ("licenses", "consents", "access_records"):
        assert h.pseudonym in dump[name]
    assert license_id("S1") in dump["access_records"]


def test_a_stored_private_key_is_never_readable_without_the_passphrase(
    storage: SqlStorage,
) -> None:
    key = ed25519.Ed25519PrivateKey.generate()
    raw = key.private_bytes(
        serialization.Encoding.Raw, serialization.PrivateFormat.Raw, serialization.NoEncryption()
    )
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.BestAvailableEncryption(b"a long passphrase"),
    )
    storage.keys.put(
        KeyRecord("kid-ed", ISSUER, "EdDSA", {"kty": "OKP"}, "active", NOW, encrypted_private=pem)
    )
    stored = storage.keys.get("kid-ed")
    assert stored is not None
    assert stored.encrypted_private is not None
    loaded = serialization.load_pem_private_key(stored.encrypted_private, b"a long passphrase")
    assert isinstance(loaded, ed25519.Ed25519PrivateKey)
    plain = serialization.NoEncryption()
    encoding, fmt = serialization.Encoding.Raw, serialization.PrivateFormat.Raw
    assert loaded.private_bytes(encoding, fmt, plain) == raw
    assert raw.decode("latin-1") not in _dump(storage)["keys"]
