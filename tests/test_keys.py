"""Keys: the three algorithms, encrypted key files, JWK import, thumbprints, 国密 vectors."""

from __future__ import annotations

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from jwcrypto.jwk import JWK

from elicense import ElicenseError
from elicense.jose import sm2
from elicense.jose.b64 import b64e
from elicense.jose.keyfile import (
    generate_signer,
    load_private_key,
    open_secret,
    save_private_key,
    seal_secret,
)
from elicense.jose.keys import Alg, P256Signer, Sm2PublicKey, public_key_from_jwk, thumbprint

from testdata import load_data

GM = load_data("guomi.json")
PASS = b"a long enough passphrase"


def test_sm2_reproduces_the_gmt_0003_5_signature_example() -> None:
    v = GM["sm2"]
    point = bytes.fromhex(v["public"])
    sig = sm2.sign(bytes.fromhex(v["d"]), point, v["message"].encode(), nonce=int(v["k"], 16))
    assert sig.hex().upper() == v["r"] + v["s"]
    assert Sm2PublicKey(point).verify(sig, v["message"].encode())
    assert not Sm2PublicKey(point).verify(sig, b"message digesT")


def test_sm3_matches_the_standard_value() -> None:
    digest = hashes.Hash(hashes.SM3())
    digest.update(b"abc")
    assert digest.finalize().hex() == GM["sm3_abc"]


@pytest.mark.parametrize("alg", list(Alg))
def test_every_algorithm_signs_verifies_and_round_trips_through_an_encrypted_file(alg: Alg) -> None:
    signer = generate_signer(alg)
    pem = save_private_key(signer, PASS)
    assert b"ENCRYPTED" in pem
    again = load_private_key(pem, PASS)
    assert again.kid == signer.kid
    assert again.alg is alg
    msg = b"\xe7\x94\xb5\xe5\xad\x90\xe8\xaf\x81\xe7\x85\xa7"
    assert signer.public_key().verify(again.sign(msg), msg)
    imported = public_key_from_jwk(signer.public_key().to_jwk())
    assert imported.alg is alg
    assert imported.kid == signer.kid


def test_wrong_passphrase_and_unencrypted_files_are_refused() -> None:
    from cryptography.hazmat.primitives import serialization

    signer = generate_signer()
    pem = save_private_key(signer, PASS)
    with pytest.raises(ElicenseError) as info:
        load_private_key(pem, b"another passphrase")
    assert info.value.code == "key.bad_passphrase"
    assert isinstance(signer, P256Signer)
    plain = signer.private_key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    with pytest.raises(ElicenseError) as info:
        load_private_key(plain, PASS)
    assert info.value.code == "key.unencrypted"
    with pytest.raises(ElicenseError) as info:
        save_private_key(signer, b"short")
    assert info.value.code == "key.weak_passphrase"


def test_sealed_secrets_open_only_with_their_passphrase() -> None:
    sealed = seal_secret(b"\x01" * 32, PASS)
    assert b"\x01" * 8 not in sealed
    assert open_secret(sealed, PASS) == b"\x01" * 32
    with pytest.raises(ElicenseError):
        open_secret(sealed, b"not the passphrase at all")


@pytest.mark.parametrize("alg", [Alg.ES256, Alg.EDDSA])
def test_kid_is_the_rfc_7638_thumbprint_as_jwcrypto_computes_it(alg: Alg) -> None:
    jwk = generate_signer(alg).public_key().to_jwk()
    members = {k: v for k, v in jwk.items() if k not in ("kid", "alg")}
    assert thumbprint(members) == JWK(**members).thumbprint() == jwk["kid"]


def test_rfc_8037_ed25519_thumbprint_example() -> None:
    # RFC 8037 appendix A.3: the thumbprint of the example public key.
    jwk = {"kty": "OKP", "crv": "Ed25519", "x": "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"}
    assert thumbprint(jwk) == "kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k"


@pytest.mark.parametrize(
    ("jwk", "code"),
    [
        (
            {"kty": "EC", "crv": "P-256", "x": b64e(b"\1" * 31), "y": b64e(b"\1" * 32)},
            "key.bad_jwk",
        ),
        (
            {"kty": "EC", "crv": "P-256", "x": b64e(b"\1" * 32), "y": b64e(b"\1" * 32)},
            "key.bad_jwk",
        ),
        ({"kty": "OKP", "crv": "Ed25519", "x": b64e(b"\1" + b"\0" * 31)}, "key.weak"),
        ({"kty": "OKP", "crv": "Ed25519", "x": b64e(b"\0" * 32)}, "key.weak"),
        ({"kty": "OKP", "crv": "Ed25519", "x": b64e(b"\xff" * 31 + b"\x7f")}, "key.weak"),
        ({"kty": "RSA", "n": "AQAB", "e": "AQAB"}, "key.unsupported"),
        ({"kty": "oct", "k": "c2VjcmV0"}, "key.private_material"),
    ],
)
def test_bad_public_keys_are_refused_with_their_code(jwk: dict, code: str) -> None:
    with pytest.raises(ElicenseError) as info:
        public_key_from_jwk(jwk)
    assert info.value.code == code


def test_a_key_carrying_its_private_part_is_refused() -> None:
    signer = generate_signer()
    jwk = JWK.from_pem(save_private_key(signer, PASS), password=PASS).export(
        as_dict=True, private_key=True
    )
    with pytest.raises(ElicenseError) as info:
        public_key_from_jwk(jwk)
    assert info.value.code == "key.private_material"


def test_a_key_is_pinned_to_its_algorithm() -> None:
    jwk = generate_signer(Alg.ES256).public_key().to_jwk()
    with pytest.raises(ElicenseError) as info:
        public_key_from_jwk({**jwk, "alg": "EdDSA"})
    assert info.value.code == "key.alg_mismatch"
    with pytest.raises(ElicenseError) as info:
        public_key_from_jwk(jwk, "ES384")
    assert info.value.code == "key.alg_mismatch"


def test_es256_signatures_in_der_form_do_not_verify() -> None:
    signer = generate_signer()
    assert isinstance(signer, P256Signer)
    msg = b"abc"
    der = signer.private_key.sign(msg, ec.ECDSA(hashes.SHA256()))
    assert signer.public_key().verify(signer.sign(msg), msg)
    assert not signer.public_key().verify(der, msg)
