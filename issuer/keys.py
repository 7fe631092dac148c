"""The city's secrets at rest: issuing keys (card keys k1, k2, ...; status keys s1, ...) and the registry's hashing key.

The root key is not here: ``init`` writes its private half only to a path the
operator names outside the city folder (a removable drive), and ``keys/`` keeps
only its public half.  The root signs trust bundles (``sign-bundle``) and nothing else.

Private keys are ES256 (P-256), stored as PKCS#8 PEM encrypted with the city's
passphrase.  The registry key (an HMAC secret) is sealed with AES-GCM under a
scrypt-derived key from the same passphrase.  Plaintext only in an
``--insecure-demo`` city, which its config records.
"""

from __future__ import annotations

import json
import os
import secrets
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.scrypt import Scrypt

from verifier_sdk.format.strict import b64url_decode, b64url_encode

from .errors import KeyStoreError
from .files import write_atomic

KEYS_DIR = "keys"
ROOT_KEY = "root.pem"  # cities made before the offline root kept the private root key here
ROOT_PUBLIC_KEY = "root-public.pem"
REGISTRY_SECRET = "registry-secret.json"
PASSPHRASE_ENV = "CITYID_PASSPHRASE"
MIN_PASSPHRASE = 12
_SCRYPT = {"n": 2**15, "r": 8, "p": 1}


def passphrase_from_env() -> str | None:
    return os.environ.get(PASSPHRASE_ENV) or None


def check_new_passphrase(passphrase: str | None) -> bytes:
    if not passphrase:
        raise KeyStoreError("no passphrase for the city's keys",
                            f"set {PASSPHRASE_ENV}, or use --insecure-demo for a throwaway demo city")
    if len(passphrase) < MIN_PASSPHRASE:
        raise KeyStoreError(f"the passphrase is shorter than {MIN_PASSPHRASE} characters", "choose a longer passphrase")
    return passphrase.encode("utf-8")


def new_signing_key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def issuing_key_file(kid: str) -> str:
    return f"issuing-{kid}.pem"


def save_private_key(path: Path, key: ec.EllipticCurvePrivateKey, passphrase: bytes | None) -> None:
    encryption = (serialization.BestAvailableEncryption(passphrase) if passphrase
                  else serialization.NoEncryption())
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, encryption)
    write_atomic(path, pem, mode=0o600)


def load_private_key(path: Path, passphrase: bytes | None) -> ec.EllipticCurvePrivateKey:
    try:
        pem = Path(path).read_bytes()
    except FileNotFoundError:
        raise KeyStoreError(f"key file {Path(path).name} is missing", "restore the city's keys folder from backup") from None
    encrypted = b"ENCRYPTED" in pem.split(b"\n", 1)[0]
    if encrypted and not passphrase:
        raise KeyStoreError("the city's keys are encrypted and no passphrase was given", f"set {PASSPHRASE_ENV}")
    try:
        key = serialization.load_pem_private_key(pem, passphrase if encrypted else None)
    except (ValueError, TypeError):
        raise KeyStoreError(f"cannot decrypt {Path(path).name}: wrong passphrase or damaged file",
                            f"check {PASSPHRASE_ENV}") from None
    if not isinstance(key, ec.EllipticCurvePrivateKey) or key.curve.name != "secp256r1":
        raise KeyStoreError(f"{Path(path).name} is not a P-256 key", "restore the city's keys folder from backup")
    return key


def private_key_der(key: ec.EllipticCurvePrivateKey) -> bytes:
    """Unencrypted DER, only for handing the key to this run's worker processes in memory."""
    return key.private_bytes(serialization.Encoding.DER, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


def key_from_der(der: bytes) -> ec.EllipticCurvePrivateKey:
    key = serialization.load_der_private_key(der, None)
    assert isinstance(key, ec.EllipticCurvePrivateKey)
    return key


def save_secret(path: Path, secret: bytes, passphrase: bytes | None) -> None:
    if passphrase is None:
        sealed: dict[str, Any] = {"kdf": "none", "secret": b64url_encode(secret)}
    else:
        salt, nonce = secrets.token_bytes(16), secrets.token_bytes(12)
        box = AESGCM(Scrypt(salt=salt, length=32, **_SCRYPT).derive(passphrase))
        sealed = {"kdf": "scrypt", **_SCRYPT, "salt": b64url_encode(salt), "nonce": b64url_encode(nonce),
                  "sealed": b64url_encode(box.encrypt(nonce, secret, b"cityid registry secret"))}
    write_atomic(path, json.dumps(sealed).encode("ascii"), mode=0o600)


def load_secret(path: Path, passphrase: bytes | None) -> bytes:
    try:
        sealed = json.loads(Path(path).read_text("ascii"))
        if sealed["kdf"] == "none":
            return b64url_decode(sealed["secret"], "secret", ValueError)
        if not passphrase:
            raise KeyStoreError("the registry key is encrypted and no passphrase was given", f"set {PASSPHRASE_ENV}")
        kdf = Scrypt(salt=b64url_decode(sealed["salt"], "salt", ValueError), length=32,
                     n=sealed["n"], r=sealed["r"], p=sealed["p"])
        box = AESGCM(kdf.derive(passphrase))
        return box.decrypt(b64url_decode(sealed["nonce"], "nonce", ValueError),
                           b64url_decode(sealed["sealed"], "sealed", ValueError), b"cityid registry secret")
    except FileNotFoundError:
        raise KeyStoreError("the registry key file is missing", "restore the city's keys folder from backup") from None
    except InvalidTag:
        raise KeyStoreError("cannot decrypt the registry key: wrong passphrase or damaged file",
                            f"check {PASSPHRASE_ENV}") from None
    except (ValueError, KeyError, TypeError):
        raise KeyStoreError("the registry key file is damaged", "restore the city's keys folder from backup") from None


def check_root_key_path(city_dir: Path, out: Path) -> Path:
    """Where a new root private key may go: outside the city folder, and never over an existing file."""
    out = Path(out).absolute()
    city = Path(city_dir).absolute().resolve()
    if out.resolve() == city or city in out.resolve().parents:
        raise KeyStoreError("the root key must be kept outside the city folder",
                            "name a path on a removable drive, e.g. --root-key /media/usb/city-root.pem")
    if out.exists():
        raise KeyStoreError(f"{out} already exists; a root key is never overwritten", "name a new file")
    return out


class KeyStore:
    """The city's ``keys/`` folder, unlocked with one passphrase (None in a demo city)."""

    def __init__(self, city_dir: Path, passphrase: bytes | None) -> None:
        self.dir = Path(city_dir) / KEYS_DIR
        self.passphrase = passphrase
        self._issuing: dict[str, ec.EllipticCurvePrivateKey] = {}
        #: Where create_root_key wrote the root private key (this run only; never recorded in the city).
        self.root_written_to: Path | None = None

    @classmethod
    def create(cls, city_dir: Path, passphrase: bytes | None) -> "KeyStore":
        store = cls(city_dir, passphrase)
        store.dir.mkdir(mode=0o700, parents=True, exist_ok=False)
        save_secret(store.dir / REGISTRY_SECRET, secrets.token_bytes(32), passphrase)
        return store

    def create_root_key(self, out: Path) -> ec.EllipticCurvePrivateKey:
        """A new root key: the private half only at ``out`` (outside the city folder), the public half in keys/."""
        out = check_root_key_path(self.dir.parent, out)
        out.parent.mkdir(parents=True, exist_ok=True)
        key = new_signing_key()
        save_private_key(out, key, self.passphrase)
        self.root_written_to = out
        pem = key.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        write_atomic(self.dir / ROOT_PUBLIC_KEY, pem, mode=0o644)
        return key

    def root_public_key(self) -> ec.EllipticCurvePublicKey:
        """The root's public half (what partners pin); read from keys/, never needing the private key."""
        try:
            key = serialization.load_pem_public_key((self.dir / ROOT_PUBLIC_KEY).read_bytes())
        except FileNotFoundError:
            if (self.dir / ROOT_KEY).exists():  # a city from before the offline root
                return load_private_key(self.dir / ROOT_KEY, self.passphrase).public_key()
            raise KeyStoreError("the root public key is missing from the keys folder", "restore the city's keys folder from backup") from None
        except ValueError:
            raise KeyStoreError("the root public key file is damaged", "restore the city's keys folder from backup") from None
        assert isinstance(key, ec.EllipticCurvePublicKey)
        return key

    def root_key(self, path: Path) -> ec.EllipticCurvePrivateKey:
        """The offline root key from ``path`` (e.g. a removable drive), checked against the city's root public key."""
        key = load_private_key(Path(path), self.passphrase)
        fmt = (serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
        if key.public_key().public_bytes(*fmt) != self.root_public_key().public_bytes(*fmt):
            raise KeyStoreError(f"{Path(path).name} is not this city's root key", "use the root key written by `cityid-issuer init`")
        return key

    def registry_secret(self) -> bytes:
        return load_secret(self.dir / REGISTRY_SECRET, self.passphrase)

    def new_issuing_key(self, kid: str, replace_unregistered: bool = False) -> ec.EllipticCurvePrivateKey:
        """A new key file; ``replace_unregistered`` overwrites a leftover of a rotation that crashed before the registry knew it."""
        path = self.dir / issuing_key_file(kid)
        if path.exists() and not replace_unregistered:
            raise KeyStoreError(f"issuing key {kid} already exists", "the registry and keys folder disagree; restore both from the same backup")
        key = new_signing_key()
        save_private_key(path, key, self.passphrase)
        self._issuing[kid] = key
        return key

    def issuing_key(self, kid: str) -> ec.EllipticCurvePrivateKey:
        if kid not in self._issuing:
            self._issuing[kid] = load_private_key(self.dir / issuing_key_file(kid), self.passphrase)
        return self._issuing[kid]
