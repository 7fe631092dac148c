"""Keys in a PKCS#11 token (an HSM, or SoftHSM2 for tests) through python-pkcs11.

The city's signing keys are generated inside the token as P-256 keys that are
sensitive and never extractable; every signature is made there (CKM_ECDSA over a
SHA-256 digest, i.e. JWS ES256).  A :class:`TokenKey` stands in for a
``cryptography`` private key, so the code that signs cards, status lists and trust
bundles is the same for both key stores.  The registry's hashing key is a private
data object in the token: readable only after login, never written to disk.

The vault's period keys are HMAC secret keys in a token (see ``vault_token``): made inside it, sensitive,
never extractable, and usable for CKM_SHA256_HMAC only.

The token is named by an RFC 7512 URI, ``pkcs11:token=LABEL?module-path=/path/to/module.so``
(``module=`` is accepted as a short form).  The PIN comes from ``CITYID_HSM_PIN`` or a
prompt, never from the URI or the command line.
"""

from __future__ import annotations

import getpass
import hashlib
import os
import secrets
import struct
import sys
import time
from dataclasses import dataclass
from typing import Any, Callable
from urllib.parse import quote, unquote

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import Prehashed, encode_dss_signature

from .errors import KeyStoreError

PIN_ENV = "CITYID_HSM_PIN"
ROOT_PIN_ENV = "CITYID_ROOT_PIN"  # the offline root token's PIN, when the root is on a token of its own
VAULT_PIN_ENV = "CITYID_VAULT_PIN"  # the vault's token's PIN, when its period keys are on a token of its own
URI_SCHEME = "pkcs11:"
LABEL_PREFIX = "cityid-"
REGISTRY_SECRET_LABEL = LABEL_PREFIX + "registry-secret"
ROOT_LABEL = LABEL_PREFIX + "root"
ROOT_PUBLIC_LABEL = LABEL_PREFIX + "root-public"  # the root's public half, in the city's token
_P256_SIZE = 32
_TOKEN_LOOKUPS = 6
_HMAC_KEY_BITS = 256


@dataclass(frozen=True)
class TokenURI:
    """Which token, through which PKCS#11 module (what ``city.json`` records as ``key_store``)."""

    token: str
    module: str

    def __str__(self) -> str:
        return f"{URI_SCHEME}token={_quote(self.token)}?module-path={_quote(self.module)}"


def _quote(value: str) -> str:
    return quote(value, safe="/-_.~ ")


def is_token_uri(text: str | None) -> bool:
    return bool(text) and str(text).startswith(URI_SCHEME)


def parse_uri(text: str) -> TokenURI:
    """Parse ``pkcs11:token=LABEL?module-path=PATH`` (RFC 7512 path and query attributes)."""
    advice = "write it as pkcs11:token=LABEL?module-path=/usr/lib/softhsm/libsofthsm2.so"
    if not is_token_uri(text):
        raise KeyStoreError("the key store is not a pkcs11: URI", advice)
    body = text[len(URI_SCHEME):]
    path, _, query = body.partition("?")
    attrs: dict[str, str] = {}
    for part, separator in ((path, ";"), (query, "&")):
        for item in filter(None, part.split(separator)):
            name, eq, value = item.partition("=")
            if not eq or name in attrs:
                raise KeyStoreError(f"the pkcs11: URI has a malformed or repeated attribute {name!r}", advice)
            attrs[name] = unquote(value)
    if "pin-value" in attrs:
        raise KeyStoreError("the pkcs11: URI contains the PIN", f"remove pin-value and set {PIN_ENV} instead")
    module = attrs.pop("module-path", None) or attrs.pop("module", None)
    token = attrs.pop("token", None)
    if not token or not module:
        raise KeyStoreError("the pkcs11: URI needs a token label and a module path", advice)
    if not os.path.isabs(module):
        raise KeyStoreError("the PKCS#11 module must be given by its absolute path", advice)
    return TokenURI(token, module)


def pin_from_env_or_prompt(env: str = PIN_ENV, what: str = "the city's HSM") -> str:
    """A token's user PIN: from ``env`` (``CITYID_HSM_PIN``), else a prompt on a terminal."""
    pin = os.environ.get(env)
    if pin:
        return pin
    if sys.stdin.isatty():
        pin = getpass.getpass(f"User PIN of {what}: ")
        if pin:
            return pin
    raise KeyStoreError(f"no PIN for {what}", f"set {env} or run the command on a terminal to be asked")


def key_label(name: str) -> str:
    """The token label of one of the city's keys (``root``, ``issuing-k1``, ...)."""
    return LABEL_PREFIX + name


def same_token(a: TokenURI, b: TokenURI) -> bool:
    """One token, even when named through two paths (e.g. a symlink) to the same PKCS#11 module."""
    return a.token == b.token and os.path.realpath(a.module) == os.path.realpath(b.module)


def _library(pkcs11: Any, module: str) -> Any:
    """The PKCS#11 module, loaded once per process by its real path (two paths to one .so would initialise it twice)."""
    real = os.path.realpath(module)
    try:
        return pkcs11.lib(real)
    except (RuntimeError, OSError) as exc:
        if not os.path.isfile(real):
            raise KeyStoreError(f"there is no PKCS#11 module at {module}", "check module-path in the pkcs11: URI "
                                "and that the HSM's software is installed") from None
        raise KeyStoreError(f"cannot load the PKCS#11 module {module} ({type(exc).__name__}: {exc})",
                            "check that it is the HSM's PKCS#11 library for this machine, and that every pkcs11: URI "
                            "in city.json names the same module") from None


def _attribute_mapper(pkcs11: Any) -> Any:
    """python-pkcs11's attribute packing, taught CKA_ALLOWED_MECHANISMS (an array of CK_ULONG), which it lacks."""
    from pkcs11.attributes import AttributeMapper

    width = struct.calcsize("L")

    def pack(mechanisms: list[Any]) -> bytes:
        return struct.pack(f"{len(mechanisms)}L", *mechanisms)

    def unpack(data: bytes) -> list[Any]:
        return [pkcs11.Mechanism(m) for m in struct.unpack(f"{len(data) // width}L", data)]

    mapper = AttributeMapper()
    mapper.register_handler(pkcs11.Attribute.ALLOWED_MECHANISMS, pack, unpack)
    return mapper


def _pkcs11() -> Any:
    try:
        import pkcs11
    except ImportError:
        raise KeyStoreError("keys in an HSM need python-pkcs11", "pip install 'cityid[scale]'") from None
    return pkcs11


class TokenKey(ec.EllipticCurvePrivateKey):
    """A P-256 private key that lives in the token: it signs there and cannot be exported."""

    def __init__(self, token: "Token", label: str, handle: Any, public: ec.EllipticCurvePublicKey) -> None:
        self._token, self.label, self._handle, self._public = token, label, handle, public

    # What JWS signing uses: sign() returns DER, like a cryptography key.
    def sign(self, data: bytes, signature_algorithm: ec.EllipticCurveSignatureAlgorithm) -> bytes:
        algorithm = getattr(signature_algorithm, "algorithm", None)
        if isinstance(algorithm, Prehashed):
            digest = data
        elif isinstance(algorithm, hashes.SHA256):
            digest = hashlib.sha256(data).digest()
        else:
            raise KeyStoreError("the HSM key signs ES256 (ECDSA with SHA-256) only", "this is a bug; please report it")
        raw = self._token.sign_digest(self._handle, digest)
        if len(raw) != 2 * _P256_SIZE:
            raise KeyStoreError("the HSM returned a malformed signature", "check the token and its PKCS#11 module")
        return encode_dss_signature(int.from_bytes(raw[:_P256_SIZE], "big"), int.from_bytes(raw[_P256_SIZE:], "big"))

    def public_key(self) -> ec.EllipticCurvePublicKey:
        return self._public

    @property
    def curve(self) -> ec.EllipticCurve:
        return ec.SECP256R1()

    @property
    def key_size(self) -> int:
        return 256

    def exchange(self, algorithm: ec.ECDH, peer_public_key: ec.EllipticCurvePublicKey) -> bytes:
        raise KeyStoreError("the HSM key is for signing only", "this is a bug; please report it")

    def _not_exportable(self, *args: Any, **kwargs: Any) -> Any:
        raise KeyStoreError(f"the key {self.label} is inside the HSM and cannot be exported",
                            "sign through the token; back keys up with the HSM's own tools")

    private_numbers = _not_exportable
    private_bytes = _not_exportable

    def __copy__(self) -> "TokenKey":
        return self

    def __deepcopy__(self, memo: Any) -> "TokenKey":
        return self

    def __reduce__(self) -> Any:  # never pickled into a worker: workers open their own session
        self._not_exportable()

    def __repr__(self) -> str:
        return f"<TokenKey {self.label}>"


class Token:
    """One logged-in session on a token."""

    #: Sessions this process has open (a PKCS#11 library is initialised once per process).
    _open = 0

    def __init__(self, uri: TokenURI, pin: str, pin_env: str = PIN_ENV) -> None:
        pkcs11 = _pkcs11()
        self.uri = uri
        self._p = pkcs11
        library = _library(pkcs11, uri.module)
        token = self._find_token(library, uri.token)
        self.serial = token.serial.decode("ascii", "replace")  # with the label, tells a re-initialised token apart
        try:
            self.session = self._open_session(token, pin)
        except (pkcs11.PinIncorrect, pkcs11.PinInvalid, pkcs11.PinLenRange):
            raise KeyStoreError(f"the HSM refused the PIN of token {uri.token!r}", f"check {pin_env}") from None
        except pkcs11.PinLocked:
            raise KeyStoreError("the HSM's user PIN is locked", "ask the security officer to unlock it") from None
        except pkcs11.PKCS11Error as exc:
            raise KeyStoreError(f"cannot open a session on the HSM ({type(exc).__name__})",
                                "check the token and its PKCS#11 module") from None
        Token._open += 1

    def _open_session(self, token: Any, pin: str) -> Any:
        for attempt in range(_TOKEN_LOOKUPS):
            try:
                return token.open(rw=True, user_pin=pin, attribute_mapper=_attribute_mapper(self._p))
            except self._p.UserAlreadyLoggedIn:  # login is per process and token: another session of ours holds it
                return token.open(rw=True, attribute_mapper=_attribute_mapper(self._p))
            except self._p.GeneralError:  # SoftHSM2 reading a token file another process is rewriting: try again
                if attempt == _TOKEN_LOOKUPS - 1:
                    raise
                time.sleep(0.05 * (attempt + 1))

    def _find_token(self, library: Any, label: str) -> Any:
        pkcs11 = self._p
        for attempt in range(_TOKEN_LOOKUPS):
            try:
                return library.get_token(token_label=label)
            except pkcs11.MultipleTokensReturned:
                break
            except (pkcs11.NoSuchToken, pkcs11.GeneralError):
                # SoftHSM2 skips (or fails to read) a token whose file another process is rewriting at that
                # instant (a login resets its counters); it rescans only when initialised again, which only a
                # process with no session open may do.
                if Token._open or attempt == _TOKEN_LOOKUPS - 1:
                    break
                time.sleep(0.05 * (attempt + 1))
                library.reinitialize()
            except pkcs11.PKCS11Error as exc:
                raise KeyStoreError(f"cannot read the HSM's tokens ({type(exc).__name__})",
                                    "check the HSM and its PKCS#11 module, then run the command again") from None
        raise KeyStoreError(f"no single token labelled {label!r} is present",
                            "check the token label in the key store URI (softhsm2-util --show-slots)")

    def close(self) -> None:
        try:
            self.session.close()
        except self._p.PKCS11Error:
            pass
        Token._open = max(0, Token._open - 1)

    def _find(self, label: str, object_class: Any) -> Any | None:
        found = list(self.session.get_objects({self._p.Attribute.LABEL: label, self._p.Attribute.CLASS: object_class}))
        if len(found) > 1:
            raise KeyStoreError(f"the HSM holds {len(found)} objects labelled {label}",
                                "remove the duplicates with the HSM's tools (keep the one the registry lists)")
        return found[0] if found else None

    def has_key(self, label: str) -> bool:
        return self._find(label, self._p.ObjectClass.PRIVATE_KEY) is not None

    def generate_key(self, label: str, replace: bool = False) -> TokenKey:
        """A new P-256 key pair made inside the token: private half sensitive, never extractable."""
        p = self._p
        if self.has_key(label):
            if not replace:
                raise KeyStoreError(f"the HSM already holds a key labelled {label}",
                                    "the registry and the HSM disagree; restore both from the same backup")
            self.destroy(label)
        from pkcs11.util.ec import encode_named_curve_parameters

        params = self.session.create_domain_parameters(
            p.KeyType.EC, {p.Attribute.EC_PARAMS: encode_named_curve_parameters("secp256r1")}, local=True)
        ident = label.encode("ascii")
        params.generate_keypair(
            store=True, label=label, id=ident,
            public_template={p.Attribute.VERIFY: True, p.Attribute.TOKEN: True},
            private_template={p.Attribute.SIGN: True, p.Attribute.SENSITIVE: True, p.Attribute.EXTRACTABLE: False,
                              p.Attribute.PRIVATE: True, p.Attribute.TOKEN: True, p.Attribute.DERIVE: False,
                              p.Attribute.DECRYPT: False, p.Attribute.UNWRAP: False})
        return self.key(label)

    def key(self, label: str) -> TokenKey:
        private = self._find(label, self._p.ObjectClass.PRIVATE_KEY)
        public = self.public_key(label)
        if private is None or public is None:
            raise KeyStoreError(f"the HSM holds no key labelled {label}",
                                "check that the key store URI names the city's token")
        return TokenKey(self, label, private, public)

    def public_key(self, label: str) -> ec.EllipticCurvePublicKey | None:
        from pkcs11.util.ec import encode_ec_public_key

        public = self._find(label, self._p.ObjectClass.PUBLIC_KEY)
        if public is None:
            return None
        key = serialization.load_der_public_key(encode_ec_public_key(public))
        if not isinstance(key, ec.EllipticCurvePublicKey) or key.curve.name != "secp256r1":
            raise KeyStoreError(f"the HSM key {label} is not a P-256 key", "generate the city's keys with cityid-issuer")
        return key

    def store_public_key(self, label: str, key: ec.EllipticCurvePublicKey) -> None:
        """Keep a copy of a public key (e.g. the offline root's) as a token object."""
        from pkcs11.util.ec import decode_ec_public_key

        p = self._p
        attrs = decode_ec_public_key(key.public_bytes(serialization.Encoding.DER,
                                                      serialization.PublicFormat.SubjectPublicKeyInfo))
        self.session.create_object({**attrs, p.Attribute.LABEL: label, p.Attribute.TOKEN: True,
                                    p.Attribute.PRIVATE: False, p.Attribute.VERIFY: True})

    def destroy(self, label: str) -> None:
        for object_class in (self._p.ObjectClass.PRIVATE_KEY, self._p.ObjectClass.PUBLIC_KEY):
            found = self._find(label, object_class)
            if found is not None:
                found.destroy()

    def sign_digest(self, handle: Any, digest: bytes) -> bytes:
        try:
            return handle.sign(digest, mechanism=self._p.Mechanism.ECDSA)
        except self._p.PKCS11Error as exc:
            raise KeyStoreError(f"the HSM could not sign ({type(exc).__name__})",
                                "check that the token is connected, then run the command again") from None

    # The registry's hashing key: a private data object (needs login to read), never on disk.
    def new_secret(self, label: str) -> bytes:
        p = self._p
        if self._find(label, p.ObjectClass.DATA) is not None:
            raise KeyStoreError(f"the HSM already holds {label}", "use a fresh token (or label) for a new city")
        value = secrets.token_bytes(32)
        self.session.create_object({p.Attribute.CLASS: p.ObjectClass.DATA, p.Attribute.LABEL: label,
                                    p.Attribute.APPLICATION: "cityid", p.Attribute.VALUE: value,
                                    p.Attribute.TOKEN: True, p.Attribute.PRIVATE: True,
                                    p.Attribute.MODIFIABLE: False})
        return value

    def secret(self, label: str) -> bytes:
        found = self._find(label, self._p.ObjectClass.DATA)
        if found is None:
            raise KeyStoreError("the HSM holds no registry key for this city",
                                "check that the key store URI names the city's token")
        return bytes(found[self._p.Attribute.VALUE])

    def labels(self) -> list[str]:
        """The label of every object in the token (keys, data objects, the vault's period keys)."""
        return self._read({}, self._p.Attribute.LABEL)

    # HMAC keys (the vault's period keys): made inside the token, and only ever used there.
    def _listing(self, read: Callable[[], Any]) -> Any:
        for _ in range(_TOKEN_LOOKUPS):
            try:
                return read()
            except self._p.ObjectHandleInvalid:  # another process destroyed an object while it was listed: again
                continue
            except self._p.PKCS11Error as exc:
                raise KeyStoreError(f"cannot read the HSM's objects ({type(exc).__name__})",
                                    "check that the token is connected, then run the command again") from None
        raise KeyStoreError("the HSM's objects kept changing while this process listed them",
                            "stop the other cityid-issuer processes, then run the command again")

    def _objects(self, template: dict[Any, Any]) -> list[Any]:
        return self._listing(lambda: list(self.session.get_objects(template)))

    def _read(self, template: dict[Any, Any], attribute: Any) -> list[Any]:
        """``attribute`` of every object matching ``template``."""
        return self._listing(lambda: [obj[attribute] for obj in self.session.get_objects(template)])

    def _secret_keys(self, label: str, ident: bytes | None = None) -> list[Any]:
        p = self._p
        template = {p.Attribute.CLASS: p.ObjectClass.SECRET_KEY, p.Attribute.LABEL: label}
        return self._objects(template if ident is None else {**template, p.Attribute.ID: ident})

    def secret_key_labels(self) -> list[str]:
        return self._read({self._p.Attribute.CLASS: self._p.ObjectClass.SECRET_KEY}, self._p.Attribute.LABEL)

    def secret_key_ids(self, label: str) -> list[bytes]:
        """The random ids of the secret keys labelled ``label``."""
        p = self._p
        return sorted(bytes(i) for i in self._read({p.Attribute.CLASS: p.ObjectClass.SECRET_KEY, p.Attribute.LABEL: label},
                                                   p.Attribute.ID))

    def new_hmac_key(self, label: str) -> bytes:
        """A new 256-bit secret made inside the token, good for HMAC-SHA256 only; returns its random id.

        Sensitive and never extractable (no one reads its value), not copyable (no copy outlives its
        destruction), not modifiable (no one loosens that later), and no derive, encrypt or wrap (no
        mechanism turns it into something readable).
        """
        p = self._p
        ident = secrets.token_bytes(16)
        try:
            self.session.generate_key(p.KeyType.GENERIC_SECRET, _HMAC_KEY_BITS, id=ident, label=label, store=True,
                                      capabilities=p.MechanismFlag.SIGN,
                                      template={p.Attribute.PRIVATE: True, p.Attribute.SENSITIVE: True,
                                                p.Attribute.EXTRACTABLE: False, p.Attribute.COPYABLE: False,
                                                p.Attribute.MODIFIABLE: False,
                                                p.Attribute.ALLOWED_MECHANISMS: [p.Mechanism.SHA256_HMAC]})
        except p.PKCS11Error as exc:
            raise KeyStoreError(f"the HSM could not make an HMAC key ({type(exc).__name__})",
                                "check that the token supports CKM_GENERIC_SECRET_KEY_GEN and CKM_SHA256_HMAC "
                                "and has room for more objects") from None
        return ident

    def hmac_sha256(self, label: str, ident: bytes, data: bytes) -> bytes | None:
        """HMAC-SHA256 of ``data`` computed inside the token under that key; None if the key is gone."""
        found = self._secret_keys(label, ident)
        if not found:
            return None
        try:
            return bytes(found[0].sign(data, mechanism=self._p.Mechanism.SHA256_HMAC))
        except self._p.ObjectHandleInvalid:  # destroyed by another process between the lookup and the use
            return None
        except self._p.PKCS11Error as exc:
            raise KeyStoreError(f"the HSM could not compute an HMAC ({type(exc).__name__})",
                                "check that the token is connected, then run the command again") from None

    def destroy_secret_keys(self, label: str, ident: bytes | None = None) -> int:
        """Destroy the secret keys labelled ``label`` (only the one with ``ident``, if given); how many went."""
        destroyed = 0
        for obj in self._secret_keys(label, ident):
            try:
                obj.destroy()
                destroyed += 1
            except self._p.ObjectHandleInvalid:  # another process destroyed it first: gone all the same
                pass
            except self._p.PKCS11Error as exc:
                raise KeyStoreError(f"the HSM refused to destroy {label} ({type(exc).__name__})",
                                    "check that the token is connected and the PIN is the user's, then run the "
                                    "command again") from None
        return destroyed


class TokenKeyStore:
    """The city's keys in a token: the same methods as the key-file ``KeyStore``, and no private key on disk."""

    passphrase = None  # nothing of the city's is sealed with a passphrase

    def __init__(self, uri: TokenURI | str, pin: str) -> None:
        self.uri = uri if isinstance(uri, TokenURI) else parse_uri(uri)
        self._pin = pin
        self.token = Token(self.uri, pin)
        self._issuing: dict[str, TokenKey] = {}
        self._other_tokens: dict[str, Token] = {}
        self.root_written_to: str | None = None

    @classmethod
    def create(cls, uri: TokenURI | str, pin: str) -> "TokenKeyStore":
        store = cls(uri, pin)
        if any(label.startswith(LABEL_PREFIX) for label in store.token.labels()):
            store.close()
            raise KeyStoreError("the HSM token already holds a city's keys",
                                "a second centre joins with a copy of the city folder instead of `init`; "
                                "a new city needs its own token")
        store.token.new_secret(REGISTRY_SECRET_LABEL)
        return store

    def close(self) -> None:
        for token in [self.token, *self._other_tokens.values()]:
            token.close()

    def _root_token(self, where: str | os.PathLike | None) -> Token:
        """The token that holds the root key: the city's own, or an offline one named by its pkcs11: URI."""
        if not where or parse_uri(str(where)) == self.uri:
            return self.token
        if str(where) not in self._other_tokens:
            pin = pin_from_env_or_prompt(ROOT_PIN_ENV, "the root token")
            self._other_tokens[str(where)] = Token(parse_uri(str(where)), pin, ROOT_PIN_ENV)
        return self._other_tokens[str(where)]

    def create_root_key(self, where: str | os.PathLike | None = None) -> TokenKey:
        """A new root key inside a token (best a separate one kept offline); its public half is kept in the city's token."""
        if where is not None and not is_token_uri(str(where)):
            raise KeyStoreError("in a city whose keys are in an HSM the root key is made in a token too",
                                "name the root token as pkcs11:token=LABEL?module-path=..., or omit it for the city's token")
        token = self._root_token(where)
        if token.has_key(ROOT_LABEL):
            raise KeyStoreError("that token already holds a root key", "use a fresh token for a new city's root")
        key = token.generate_key(ROOT_LABEL)
        self.token.store_public_key(ROOT_PUBLIC_LABEL, key.public_key())
        self.root_written_to = str(token.uri)
        return key

    def root_public_key(self) -> ec.EllipticCurvePublicKey:
        key = self.token.public_key(ROOT_PUBLIC_LABEL)
        if key is None:
            raise KeyStoreError("the city's token holds no root public key", "check that the key store URI names the city's token")
        return key

    def root_key(self, where: str | os.PathLike | None = None) -> TokenKey:
        """The root key in its token (the city's own, or the offline root token), checked against the city's root."""
        key = self._root_token(where).key(ROOT_LABEL)
        if key.public_key().public_numbers() != self.root_public_key().public_numbers():
            raise KeyStoreError("the root key in that token is not this city's root", "name the city's root token")
        return key

    def registry_secret(self) -> bytes:
        return self.token.secret(REGISTRY_SECRET_LABEL)

    def new_issuing_key(self, kid: str, replace_unregistered: bool = False) -> TokenKey:
        """A new key in the token; ``replace_unregistered`` replaces a leftover of a rotation that crashed before the registry knew it."""
        key = self.token.generate_key(key_label(f"issuing-{kid}"), replace=replace_unregistered)
        self._issuing[kid] = key
        return key

    def issuing_key(self, kid: str) -> TokenKey:
        if kid not in self._issuing:
            self._issuing[kid] = self.token.key(key_label(f"issuing-{kid}"))
        return self._issuing[kid]

    def worker_keys(self, kids: list[str]) -> "WorkerTokenKeys":
        """What a batch worker process needs to open its own session (PKCS#11 sessions do not survive fork)."""
        return WorkerTokenKeys(str(self.uri), self._pin, tuple(kids))


@dataclass(frozen=True)
class WorkerTokenKeys:
    uri: str
    pin: str
    kids: tuple[str, ...]

    def __repr__(self) -> str:  # the PIN never reaches a log or a traceback
        return f"WorkerTokenKeys({self.uri!r}, kids={self.kids!r})"

    def open(self) -> dict[str, TokenKey]:
        store = TokenKeyStore(self.uri, self.pin)
        return {kid: store.issuing_key(kid) for kid in self.kids}
