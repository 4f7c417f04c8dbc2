"""Key generation and encrypted key files (private keys never rest unencrypted).

ES256 and EdDSA keys are PKCS#8 PEM encrypted with the passphrase (cryptography's best
available scheme). cryptography cannot serialise SM2 keys, so an SM2 secret is sealed with
scrypt + AES-256-GCM under an ``ELICENSE SM2 ENCRYPTED PRIVATE KEY`` PEM armour.
"""

from __future__ import annotations

import base64
import json
import os

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.scrypt import Scrypt

from elicense.errors import ElicenseError
from elicense.jose import sm2
from elicense.jose.keys import Alg, Ed25519Signer, P256Signer, Signer, Sm2Signer

_SM2_LABEL = "ELICENSE SM2 ENCRYPTED PRIVATE KEY"
_SCRYPT_N, _SCRYPT_R, _SCRYPT_P = 2**15, 8, 1
MIN_PASSPHRASE = 8


def generate_signer(alg: Alg | str = Alg.ES256) -> Signer:
    """A fresh key from the operating system's CSPRNG."""
    a = Alg(alg)
    if a is Alg.ES256:
        return P256Signer(ec.generate_private_key(ec.SECP256R1()))
    if a is Alg.EDDSA:
        return Ed25519Signer(ed25519.Ed25519PrivateKey.generate())
    secret, point = sm2.generate()
    return Sm2Signer(secret, point)


def _check_passphrase(passphrase: bytes) -> None:
    if len(passphrase) < MIN_PASSPHRASE:
        raise ElicenseError("key.weak_passphrase")


def save_private_key(signer: Signer, passphrase: bytes) -> bytes:
    _check_passphrase(passphrase)
    if isinstance(signer, P256Signer | Ed25519Signer):
        return signer.private_key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.BestAvailableEncryption(passphrase),
        )
    if isinstance(signer, Sm2Signer):
        return _seal(_SM2_LABEL, signer.secret, passphrase)
    raise ElicenseError("key.unsupported", "only key-file signers can be saved")


def load_private_key(pem: bytes, passphrase: bytes) -> Signer:
    if pem.lstrip().startswith(f"-----BEGIN {_SM2_LABEL}-----".encode()):
        return _load_sm2(pem, passphrase)
    try:
        key = serialization.load_pem_private_key(pem, password=passphrase)
    except TypeError:
        raise ElicenseError("key.unencrypted", "refusing an unencrypted private key") from None
    except ValueError:
        raise ElicenseError("key.bad_passphrase") from None
    if isinstance(key, ec.EllipticCurvePrivateKey) and isinstance(key.curve, ec.SECP256R1):
        return P256Signer(key)
    if isinstance(key, ed25519.Ed25519PrivateKey):
        return Ed25519Signer(key)
    raise ElicenseError("key.unsupported")


def _seal(label: str, secret: bytes, passphrase: bytes) -> bytes:
    """scrypt + AES-256-GCM under a PEM armour named ``label`` (also authenticated)."""
    _check_passphrase(passphrase)
    salt, nonce = os.urandom(16), os.urandom(12)
    key = Scrypt(salt=salt, length=32, n=_SCRYPT_N, r=_SCRYPT_R, p=_SCRYPT_P).derive(passphrase)
    sealed = AESGCM(key).encrypt(nonce, secret, label.encode())
    body = json.dumps(
        {
            "kdf": {"name": "scrypt", "n": _SCRYPT_N, "r": _SCRYPT_R, "p": _SCRYPT_P,
                    "salt": salt.hex()},
            "nonce": nonce.hex(),
            "sealed": sealed.hex(),
        },
        separators=(",", ":"),
    ).encode()  # fmt: skip
    b64 = base64.encodebytes(body).decode("ascii")
    return f"-----BEGIN {label}-----\n{b64}-----END {label}-----\n".encode()


def _unseal(label: str, pem: bytes, passphrase: bytes) -> bytes:
    try:
        lines = pem.decode("ascii").strip().splitlines()
        if lines[0] != f"-----BEGIN {label}-----":
            raise ValueError(label)
        meta = json.loads(base64.b64decode("".join(lines[1:-1])))
        kdf = meta["kdf"]
        key = Scrypt(
            salt=bytes.fromhex(kdf["salt"]), length=32, n=kdf["n"], r=kdf["r"], p=kdf["p"]
        ).derive(passphrase)
        return AESGCM(key).decrypt(
            bytes.fromhex(meta["nonce"]), bytes.fromhex(meta["sealed"]), label.encode()
        )
    except InvalidTag:
        raise ElicenseError("key.bad_passphrase") from None
    except (ValueError, KeyError, TypeError, IndexError, UnicodeDecodeError):
        raise ElicenseError("key.bad_file") from None


_SECRET_LABEL = "ELICENSE SEALED SECRET"  # noqa: S105 - a PEM label


def seal_secret(secret: bytes, passphrase: bytes) -> bytes:
    """A symmetric secret (e.g. the pseudonym key) encrypted at rest like a private key."""
    return _seal(_SECRET_LABEL, secret, passphrase)


def open_secret(pem: bytes, passphrase: bytes) -> bytes:
    return _unseal(_SECRET_LABEL, pem, passphrase)


def _load_sm2(pem: bytes, passphrase: bytes) -> Signer:
    return Sm2Signer(_unseal(_SM2_LABEL, pem, passphrase))
