"""The city's secrets at rest: issuing keys (card keys k1, k2, ...; status keys s1, ...) and the registry's hashing key.

The root key is not here: ``init`` writes its private half only to a path the
operator names outside the city folder (a removable drive), and ``keys/`` keeps
only its public half.  The root signs trust bundles (``sign-bundle``) and nothing else.

Every secret is sealed in one envelope: AES-256-GCM under a key derived from the
city's passphrase with scrypt (memory-hard; parameters in ``SCRYPT``, about 0.3 s
and 128 MiB per guess).  Private keys are sealed as PKCS#8 DER.  Key files written
by earlier versions (PKCS#8 PEM with PBKDF2, or a registry secret with weaker
scrypt parameters) still open, and are resealed in place when first opened.
Plaintext only in an ``--insecure-demo`` city, which its config records.
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
ROOT_PUBLIC_KEY = "root-key.pub"
REGISTRY_SECRET = "registry-secret.json"
PASSPHRASE_ENV = "CITYID_PASSPHRASE"
MIN_PASSPHRASE = 12
#: scrypt cost: 128 * r * n bytes of memory (128 MiB) and ~0.3 s of CPU per passphrase guess on our machines.
SCRYPT = {"n": 2**17, "r": 8, "p": 1}
_SCRYPT_MAX = 2**22  # refuse absurd parameters in a damaged file instead of allocating gigabytes
_KEY_LABEL, _SECRET_LABEL = "private key", "registry secret"
#: Derived keys of this process by (passphrase, salt, n, r, p): files sealed together share a salt, so
#: opening a city derives once, while a guess against any one file still costs a full scrypt.
_derived: dict[tuple[bytes, bytes, int, int, int], bytes] = {}


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


def _derive(passphrase: bytes, salt: bytes, n: int, r: int, p: int) -> bytes:
    cache_key = (passphrase, salt, n, r, p)
    if cache_key not in _derived:
        _derived[cache_key] = Scrypt(salt=salt, length=32, n=n, r=r, p=p).derive(passphrase)
    return _derived[cache_key]


def seal(secret: bytes, passphrase: bytes, label: str) -> bytes:
    """The envelope (JSON) holding ``secret`` under ``passphrase``; ``label`` binds it to what it is."""
    params = (SCRYPT["n"], SCRYPT["r"], SCRYPT["p"])
    salt = next((k[1] for k in _derived if k[0] == passphrase and k[2:] == params), None) or secrets.token_bytes(16)
    nonce = secrets.token_bytes(12)
    box = AESGCM(_derive(passphrase, salt, *params))
    envelope = {"kdf": "scrypt", **SCRYPT, "salt": b64url_encode(salt), "nonce": b64url_encode(nonce),
                "sealed": b64url_encode(box.encrypt(nonce, secret, b"cityid " + label.encode("ascii")))}
    return json.dumps(envelope).encode("ascii")


def unseal(envelope: bytes, passphrase: bytes, label: str, name: str) -> tuple[bytes, bool]:
    """The secret in an envelope, and whether it was sealed with weaker parameters than today's (reseal it)."""
    try:
        sealed = json.loads(envelope.decode("ascii"))
        n, r, p = (int(sealed[k]) for k in ("n", "r", "p"))
        if sealed["kdf"] != "scrypt" or not (2 <= n <= _SCRYPT_MAX and 1 <= r <= 32 and 1 <= p <= 16):
            raise ValueError("unknown parameters")
        box = AESGCM(_derive(passphrase, b64url_decode(sealed["salt"], "salt", ValueError), n, r, p))
        secret = box.decrypt(b64url_decode(sealed["nonce"], "nonce", ValueError),
                             b64url_decode(sealed["sealed"], "sealed", ValueError), b"cityid " + label.encode("ascii"))
    except InvalidTag:
        raise KeyStoreError(f"cannot decrypt {name}: wrong passphrase or damaged file", f"check {PASSPHRASE_ENV}") from None
    except (ValueError, KeyError, TypeError, UnicodeDecodeError):
        raise KeyStoreError(f"{name} is damaged", "restore the city's keys folder from backup") from None
    return secret, n * r < SCRYPT["n"] * SCRYPT["r"]


def _reseal(path: Path, secret: bytes, passphrase: bytes, label: str) -> None:
    """Upgrade a file sealed by an earlier version; if the folder is read-only the old file keeps working."""
    try:
        write_atomic(path, seal(secret, passphrase, label), mode=0o600)
    except OSError:
        pass


def save_private_key(path: Path, key: ec.EllipticCurvePrivateKey, passphrase: bytes | None) -> None:
    if passphrase:
        data = seal(private_key_der(key), passphrase, _KEY_LABEL)
    else:
        data = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                 serialization.NoEncryption())
    write_atomic(path, data, mode=0o600)


def load_private_key(path: Path, passphrase: bytes | None) -> ec.EllipticCurvePrivateKey:
    name = Path(path).name
    try:
        data = Path(path).read_bytes()
    except FileNotFoundError:
        raise KeyStoreError(f"key file {name} is missing", "restore the city's keys folder from backup") from None
    sealed = data.lstrip().startswith(b"{")
    legacy = not sealed and b"ENCRYPTED" in data.split(b"\n", 1)[0]  # PKCS#8 PEM with PBKDF2 (earlier versions)
    if (sealed or legacy) and not passphrase:
        raise KeyStoreError("the city's keys are encrypted and no passphrase was given", f"set {PASSPHRASE_ENV}")
    try:
        if sealed:
            der, weak = unseal(data, passphrase or b"", _KEY_LABEL, name)
            key = serialization.load_der_private_key(der, None)
        else:
            key = serialization.load_pem_private_key(data, passphrase if legacy else None)
    except (ValueError, TypeError):
        raise KeyStoreError(f"cannot decrypt {name}: wrong passphrase or damaged file", f"check {PASSPHRASE_ENV}") from None
    if not isinstance(key, ec.EllipticCurvePrivateKey) or key.curve.name != "secp256r1":
        raise KeyStoreError(f"{name} is not a P-256 key", "restore the city's keys folder from backup")
    if legacy or (sealed and weak):
        _reseal(Path(path), private_key_der(key), passphrase or b"", _KEY_LABEL)
    return key


def private_key_der(key: ec.EllipticCurvePrivateKey) -> bytes:
    """Unencrypted DER: sealed before it is stored, or handed to this run's worker processes in memory."""
    return key.private_bytes(serialization.Encoding.DER, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


def key_from_der(der: bytes) -> ec.EllipticCurvePrivateKey:
    key = serialization.load_der_private_key(der, None)
    assert isinstance(key, ec.EllipticCurvePrivateKey)
    return key


def save_secret(path: Path, secret: bytes, passphrase: bytes | None, label: str = _SECRET_LABEL) -> None:
    if passphrase is None:
        data = json.dumps({"kdf": "none", "secret": b64url_encode(secret)}).encode("ascii")
    else:
        data = seal(secret, passphrase, label)
    write_atomic(path, data, mode=0o600)


def load_secret(path: Path, passphrase: bytes | None, label: str = _SECRET_LABEL,
                name: str = "the registry key") -> bytes:
    try:
        data = Path(path).read_bytes()
    except FileNotFoundError:
        raise KeyStoreError(f"{name} file is missing", "restore the city's keys folder from backup") from None
    try:
        plain: Any = json.loads(data)
        if plain.get("kdf") == "none":
            return b64url_decode(plain["secret"], "secret", ValueError)
    except (ValueError, KeyError, TypeError, AttributeError):
        raise KeyStoreError(f"{name} file is damaged", "restore the city's keys folder from backup") from None
    if not passphrase:
        raise KeyStoreError(f"{name} is encrypted and no passphrase was given", f"set {PASSPHRASE_ENV}")
    secret, weak = unseal(data, passphrase, label, name)
    if weak:
        _reseal(Path(path), secret, passphrase, label)
    return secret


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
        write_atomic(self.dir / ROOT_PUBLIC_KEY, pem, mode=0o600)
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
