"""Compact JWS: split, sign and verify with an algorithm taken from a trusted key.

Signatures go through PyJWT's algorithm objects; the algorithm is always the one
recorded for the trusted key, and the token header must merely agree with it.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any, Mapping

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature
from jwt.algorithms import get_default_algorithms
from jwt.exceptions import InvalidKeyError

from ..errors import BadSignatureError, MalformedError, UnsupportedError
from .strict import b64url_decode, b64url_encode, json_dumps, json_object

_ALGORITHMS = get_default_algorithms()

#: Asymmetric algorithms we verify, with the key type each requires.  Never HMAC, never "none".
KEY_TYPE_FOR_ALG: dict[str, tuple[type, str | None]] = {
    "ES256": (ec.EllipticCurvePublicKey, "secp256r1"),
    "ES384": (ec.EllipticCurvePublicKey, "secp384r1"),
    "ES512": (ec.EllipticCurvePublicKey, "secp521r1"),
    "EdDSA": (ed25519.Ed25519PublicKey, None),
    "RS256": (rsa.RSAPublicKey, None),
    "RS384": (rsa.RSAPublicKey, None),
    "RS512": (rsa.RSAPublicKey, None),
    "PS256": (rsa.RSAPublicKey, None),
    "PS384": (rsa.RSAPublicKey, None),
    "PS512": (rsa.RSAPublicKey, None),
}

# ECDSA checked with cryptography directly (the verify hot path): size of r and s in bytes, scheme.
_ECDSA: dict[str, tuple[int, ec.ECDSA]] = {
    "ES256": (32, ec.ECDSA(hashes.SHA256())),
    "ES384": (48, ec.ECDSA(hashes.SHA384())),
    "ES512": (66, ec.ECDSA(hashes.SHA512())),
}

#: Header parameters that would make a verifier fetch or trust keys named by the token itself.
FORBIDDEN_HEADERS = frozenset({"jku", "x5u", "jwk", "x5c", "x5t", "x5t#S256", "crit"})


@dataclass(frozen=True)
class CompactJWS:
    """The three parts of an unverified compact JWS, kept as received."""

    header_b64: str
    payload_b64: str
    signature_b64: str

    @classmethod
    def split(cls, text: str, what: str = "JWT") -> "CompactJWS":
        if not isinstance(text, str) or not text.isascii():
            raise MalformedError(f"{what}: not a compact JWS (non-ASCII characters)")
        parts = text.split(".")
        if len(parts) != 3 or not all(parts[:2]):
            raise MalformedError(f"{what}: not a compact JWS (header.payload.signature)")
        return cls(*parts)

    @property
    def signing_input(self) -> bytes:
        return f"{self.header_b64}.{self.payload_b64}".encode("ascii")

    def unverified_header(self, what: str = "JWT") -> dict[str, Any]:
        return json_object(b64url_decode(self.header_b64, f"{what} header"), f"{what} header")

    def unverified_payload(self, what: str = "JWT") -> dict[str, Any]:
        return json_object(b64url_decode(self.payload_b64, f"{what} payload"), f"{what} payload")

    def signature(self, what: str = "JWT") -> bytes:
        return b64url_decode(self.signature_b64, f"{what} signature")

    def __str__(self) -> str:
        return f"{self.header_b64}.{self.payload_b64}.{self.signature_b64}"


def check_header(header: Mapping[str, Any], expected_alg: str, typ: str | tuple[str, ...] | None, what: str) -> None:
    """Refuse headers whose alg disagrees with the trusted key or that name keys themselves."""
    alg = header.get("alg")
    if not isinstance(alg, str) or alg not in KEY_TYPE_FOR_ALG:  # a list or object here raised TypeError
        raise UnsupportedError(f"{what}: signature algorithm {str(alg)[:20]!r} is not accepted")
    if alg != expected_alg:
        raise BadSignatureError(f"{what}: signed with {alg}, but the trusted key is {expected_alg}")
    forbidden = FORBIDDEN_HEADERS.intersection(header)
    if forbidden:
        raise UnsupportedError(f"{what}: header parameter {sorted(forbidden)[0]!r} is not accepted")
    if typ is not None:
        allowed = (typ,) if isinstance(typ, str) else typ
        if header.get("typ") not in allowed:
            raise UnsupportedError(f"{what}: type must be {allowed[0]!r}")


def verify_signature(jws: CompactJWS, alg: str, public_key: Any, what: str = "JWT") -> None:
    """Check the signature with the trusted key's algorithm; raise BadSignatureError."""
    if not key_matches_alg(public_key, alg):
        raise UnsupportedError(f"{what}: trusted key does not fit algorithm {alg}")
    _check_signature(jws.signing_input, jws.signature(what), alg, public_key, what)


def verify_raw_signature(signing_input: bytes, signature: bytes, alg: str, public_key: Any, what: str = "JWT") -> None:
    """:func:`verify_signature` for a signature already decoded (the QR packing carries it raw)."""
    if _FITTING.get((id(public_key), alg)) is not public_key:
        if not key_matches_alg(public_key, alg):
            raise UnsupportedError(f"{what}: trusted key does not fit algorithm {alg}")
        if len(_FITTING) < 64:
            _FITTING[(id(public_key), alg)] = public_key  # the reference keeps the id from being reused
    _check_signature(signing_input, signature, alg, public_key, what)


# Trusted keys already found to fit an algorithm (asking a key for its curve costs more than a dict lookup).
_FITTING: dict[tuple[int, str], Any] = {}


def _check_signature(signing_input: bytes, signature: bytes, alg: str, public_key: Any, what: str) -> None:
    ecdsa = _ECDSA.get(alg)
    if ecdsa is None:
        valid = _ALGORITHMS[alg].verify(signing_input, public_key, signature)
    else:  # what PyJWT's ECAlgorithm.verify does, without its per-call Python overhead
        size, scheme = ecdsa
        valid = len(signature) == 2 * size
        if valid:
            der = encode_dss_signature(int.from_bytes(signature[:size], "big"), int.from_bytes(signature[size:], "big"))
            try:
                public_key.verify(der, signing_input, scheme)
            except InvalidSignature:
                valid = False
    if not valid:
        raise BadSignatureError(f"{what}: signature does not match")


def sign(header: Mapping[str, Any], payload: Mapping[str, Any] | bytes, private_key: Any, alg: str) -> str:
    """Make a compact JWS.  JSON is compact UTF-8 and keeps the given key order."""
    if alg not in KEY_TYPE_FOR_ALG:
        raise UnsupportedError(f"cannot sign with {alg}")
    header_b64 = b64url_encode(json_dumps({"alg": alg, **header}))
    payload_bytes = payload if isinstance(payload, bytes) else json_dumps(payload)
    signing_input = f"{header_b64}.{b64url_encode(payload_bytes)}"
    signature = _ALGORITHMS[alg].sign(signing_input.encode("ascii"), private_key)
    return f"{signing_input}.{b64url_encode(signature)}"


def key_matches_alg(public_key: Any, alg: str) -> bool:
    key_type, curve = KEY_TYPE_FOR_ALG.get(alg, (None, None)) if isinstance(alg, str) else (None, None)
    if key_type is None or not isinstance(public_key, key_type):
        return False
    return curve is None or public_key.curve.name == curve


def default_alg(public_key: Any) -> str:
    """The algorithm a bare key implies (for keys published without ``alg``)."""
    if isinstance(public_key, ec.EllipticCurvePublicKey):
        return {"secp256r1": "ES256", "secp384r1": "ES384", "secp521r1": "ES512"}.get(public_key.curve.name, "")
    if isinstance(public_key, ed25519.Ed25519PublicKey):
        return "EdDSA"
    if isinstance(public_key, rsa.RSAPublicKey):
        return "RS256"
    return ""


def public_key_from_jwk(jwk: Mapping[str, Any] | str, what: str = "key") -> Any:
    """A public key object from a JWK.  Private members are refused: they do not belong in trust data."""
    obj = json_object(jwk, what) if isinstance(jwk, (str, bytes)) else dict(jwk)
    if "d" in obj:
        raise MalformedError(f"{what}: contains a private key")
    kty = obj.get("kty")
    family = {"EC": "ES256", "OKP": "EdDSA", "RSA": "RS256"}.get(kty) if isinstance(kty, str) else None  # a list raised TypeError
    if family is None:
        raise UnsupportedError(f"{what}: key type {str(kty)[:10]!r} is not accepted")
    try:
        return _ALGORITHMS[family].from_jwk(json.dumps(obj))
    except (InvalidKeyError, ValueError, TypeError, KeyError) as exc:
        raise MalformedError(f"{what}: not a valid public JWK ({exc})") from None


def public_key_to_jwk(public_key: Any) -> dict[str, Any]:
    """A public JWK (members sorted as RFC 7638 lists them)."""
    alg = default_alg(public_key)
    jwk = json.loads(_ALGORITHMS[alg].to_jwk(public_key))
    return {k: jwk[k] for k in sorted(jwk) if k in ("crv", "e", "kty", "n", "x", "y")}


def jwk_thumbprint(jwk: Mapping[str, Any]) -> str:
    """RFC 7638 SHA-256 thumbprint of a public JWK."""
    required = {"EC": ("crv", "kty", "x", "y"), "OKP": ("crv", "kty", "x"), "RSA": ("e", "kty", "n")}[jwk["kty"]]
    canonical = json.dumps({k: jwk[k] for k in required}, separators=(",", ":"), sort_keys=True)
    return b64url_encode(hashlib.sha256(canonical.encode("ascii")).digest())


def load_public_key(source: Any, what: str = "key") -> Any:
    """A public key from PEM text/bytes, a JWK (dict or JSON text), or a key object."""
    if isinstance(source, (ec.EllipticCurvePublicKey, ed25519.Ed25519PublicKey, rsa.RSAPublicKey)):
        return source
    if isinstance(source, Mapping):
        return public_key_from_jwk(source, what)
    if isinstance(source, bytes):
        source = source.decode("utf-8", "replace")
    if isinstance(source, str):
        text = source.strip()
        if text.startswith("{"):
            return public_key_from_jwk(text, what)
        if text.startswith("-----BEGIN"):
            try:
                key = serialization.load_pem_public_key(text.encode("ascii"))
            except (ValueError, UnicodeEncodeError) as exc:
                raise MalformedError(f"{what}: not a PEM public key ({exc})") from None
            if not default_alg(key):
                raise UnsupportedError(f"{what}: key type is not accepted")
            return key
    raise MalformedError(f"{what}: expected a PEM public key or a JWK")
