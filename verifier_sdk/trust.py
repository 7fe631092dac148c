"""The trust store: the city's issuing keys and status lists, vouched for by its pinned root key.

A partner pins the city's root key once.  Everything else (issuing keys, key
windows, status lists) arrives in a trust bundle signed by that root key, so it
can travel over any channel: HTTP, a USB stick, an e-mail attachment.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Iterable, Mapping, Union

from .errors import (
    BadSignatureError,
    MalformedError,
    StatusUnavailableError,
    TrustRollbackError,
    UnknownKeyError,
    VerificationError,
)
from .format import jws
from .format.statuslist import MAX_TOKEN_CHARS, StatusList, StatusListToken, verify_status_list_token
from .format.strict import is_numeric_date, json_object
from .timeutil import to_datetime

BUNDLE_FILE = "trust-bundle.jwt"
BUNDLE_TYP = "cityid-trust+jwt"
ROOT_KEY_FILE = "root-key.pem"
_STATUS_PATH = re.compile(r"status/[A-Za-z0-9_-]{1,64}\.jwt")
_MAX_BUNDLE_BYTES = 1 << 20

KeySource = Union[str, bytes, Mapping[str, Any], Path, Any]


@dataclass(frozen=True)
class IssuingKey:
    """One of the city's issuing keys and the window in which cards it signed are accepted."""

    kid: str | None
    alg: str
    public_key: Any
    not_before: float | None = None
    not_after: float | None = None
    withdrawn: bool = False


class TrustStore:
    """Issuing keys and status lists for one issuer.  Build with :meth:`load` or :meth:`from_jwks`."""

    def __init__(
        self,
        issuer: str,
        keys: Iterable[IssuingKey],
        status_lists: Mapping[str, StatusList | StatusListToken] | None = None,
        *,
        version: int | None = None,
        bundle_issued_at: float | None = None,
        problems: Mapping[str, VerificationError] | None = None,
    ) -> None:
        self.issuer = issuer
        self.keys: dict[str | None, IssuingKey] = {key.kid: key for key in keys}
        self.status_lists: dict[str, StatusList | StatusListToken] = dict(status_lists or {})
        self.version = version
        self.bundle_issued_at = to_datetime(bundle_issued_at) if bundle_issued_at is not None else None
        #: Status lists that could not be used, by URI, with the reason (shown when a card needs them).
        self.problems: dict[str, VerificationError] = dict(problems or {})

    # -- construction -----------------------------------------------------------------

    @classmethod
    def load(cls, path: str | Path, *, root_key: KeySource, min_version: int | None = None) -> "TrustStore":
        """Read a publication folder (or a bundle file) and check it against the pinned root key.

        ``root_key``: PEM text or bytes, a JWK (dict or JSON text), a key object, or a file path.
        ``min_version``: the installed bundle's version; an older bundle is refused (rollback).
        """
        path = Path(path)
        bundle_path = path / BUNDLE_FILE if path.is_dir() else path
        if path.is_dir() and not bundle_path.exists():
            raise MalformedError(_not_a_publication(path))
        root = load_root_key(root_key)
        claims = verify_trust_bundle(_read_text(bundle_path, _MAX_BUNDLE_BYTES, "trust bundle"), root)
        bundle = _parse_bundle(claims)
        if min_version is not None and bundle["version"] < min_version:
            raise TrustRollbackError(
                f"trust bundle version {bundle['version']} is older than the installed version {min_version}"
            )
        store = cls(bundle["iss"], bundle["keys"], version=bundle["version"], bundle_issued_at=bundle["iat"])
        for uri, relative in bundle["status_lists"]:
            try:
                token = _read_text(bundle_path.parent / relative, MAX_TOKEN_CHARS, "status list", StatusUnavailableError)
                store.status_lists[uri] = store.verify_status_token(token, uri)
            except VerificationError as exc:
                store.problems[uri] = exc
        return store

    @classmethod
    def from_jwks(
        cls,
        jwks: Mapping[str, Any] | str | Iterable[Mapping[str, Any]],
        issuer: str,
        status_lists: Mapping[str, str | StatusList | StatusListToken] | None = None,
    ) -> "TrustStore":
        """Trust these keys directly (integrations, tests).  No root key, no key windows.

        ``status_lists`` maps a status list URI to a status list token (verified with
        these keys) or to an already trusted :class:`StatusList`.
        """
        if isinstance(jwks, str):
            jwks = json_object(jwks, "JWKS")
        entries = jwks.get("keys") if isinstance(jwks, Mapping) else list(jwks)
        if not isinstance(entries, list) or not entries:
            raise MalformedError("JWKS: expected a non-empty list of keys")
        keys = []
        for entry in entries:
            if not isinstance(entry, Mapping):
                raise MalformedError("JWKS: each key must be a JSON object")
            public_key = jws.load_public_key(entry, "JWKS key")
            alg = entry.get("alg") or jws.default_alg(public_key)
            if not jws.key_matches_alg(public_key, alg):
                raise MalformedError(f"JWKS: key {entry.get('kid')!r} does not fit algorithm {alg!r}")
            keys.append(IssuingKey(entry.get("kid"), alg, public_key))
        store = cls(issuer, keys)
        for uri, value in (status_lists or {}).items():
            if isinstance(value, str):
                try:
                    value = store.verify_status_token(value, uri)
                except VerificationError as exc:
                    store.problems[uri] = exc
                    continue
            store.status_lists[uri] = value
        return store

    # -- lookups used by the verifier -------------------------------------------------------

    def key_for(self, kid: Any, now: float) -> IssuingKey:
        """The issuing key named by a credential's ``kid``, if it is trusted at ``now``."""
        key = self._named_key(kid)
        if key is None:
            raise UnknownKeyError("the card was signed with a key this verifier does not know; sync the trust data")
        if key.withdrawn:
            raise UnknownKeyError("the city has withdrawn the key that signed this card (compromised key)")
        if key.not_before is not None and now < key.not_before:
            raise UnknownKeyError("the key that signed this card is not valid yet")
        if key.not_after is not None and now > key.not_after:
            raise UnknownKeyError("the key that signed this card is no longer valid")
        return key

    def verify_status_token(self, token: str, uri: str) -> StatusListToken:
        """A status list token for ``uri``, signed by a listed, non-withdrawn issuing key inside its window."""
        signers: list[IssuingKey] = []

        def lookup(kid: Any) -> tuple[str, Any]:
            key = self._named_key(kid)
            if key is None or key.withdrawn:
                raise UnknownKeyError("status list signed by a key that is not trusted")
            signers.append(key)
            return key.alg, key.public_key

        verified = verify_status_list_token(token, lookup, expected_sub=uri)
        key = signers[0]
        # A retired key whose private half leaks later must not vouch for fresh revocation data.
        if (key.not_before is not None and verified.iat < key.not_before) or (key.not_after is not None and verified.iat > key.not_after):
            raise UnknownKeyError("status list signed by a key outside its validity window")
        return verified

    def _named_key(self, kid: Any) -> IssuingKey | None:
        """The key a token's ``kid`` names; a token without kid may use the only key there is."""
        if isinstance(kid, str):
            return self.keys.get(kid)
        if kid is None and len(self.keys) == 1:
            return next(iter(self.keys.values()))
        return None

    def status_list(self, uri: str) -> StatusList | StatusListToken:
        """The verified status list for ``uri``; StatusUnavailableError when missing or unusable."""
        entry = self.status_lists.get(uri)
        if entry is not None:
            return entry
        problem = self.problems.get(uri)
        if problem is not None:
            raise StatusUnavailableError(f"the revocation list could not be used ({problem.message})")
        raise StatusUnavailableError("this verifier has no revocation list for this card; sync the trust data")

    @property
    def status_issued_at(self) -> datetime | None:
        """When the oldest status list was issued: how fresh the revocation data is."""
        stamps = [entry.iat for entry in self.status_lists.values() if isinstance(entry, StatusListToken)]
        return to_datetime(min(stamps)) if stamps else None

    def __repr__(self) -> str:
        return f"TrustStore(issuer={self.issuer!r}, version={self.version}, keys={sorted(map(str, self.keys))})"


# -- the trust bundle document ---------------------------------------------------------------


def load_root_key(source: KeySource) -> Any:
    """The pinned root key from PEM, JWK, key object or a file path."""
    if isinstance(source, Path) or (
        isinstance(source, str) and not source.lstrip().startswith(("{", "-----BEGIN")) and len(source) < 4096
    ):
        source = _read_text(Path(source), 64 << 10, "root key")
    return jws.load_public_key(source, "root key")


def root_key_fingerprint(source: KeySource) -> str:
    """``sha256:`` + the RFC 7638 thumbprint of the root key: what a partner compares with the city's."""
    return "sha256:" + jws.jwk_thumbprint(jws.public_key_to_jwk(load_root_key(source)))


def verify_trust_bundle(text: str, root_key: Any) -> dict[str, Any]:
    """Check the bundle's signature with the root key and return its claims (not yet validated)."""
    root_alg = jws.default_alg(root_key)
    token = jws.CompactJWS.split(text.strip(), "trust bundle")
    header = token.unverified_header("trust bundle")
    jws.check_header(header, root_alg, BUNDLE_TYP, "trust bundle")
    try:
        jws.verify_signature(token, root_alg, root_key, "trust bundle")
    except BadSignatureError:
        raise BadSignatureError("trust bundle is not signed by the pinned city root key") from None
    return token.unverified_payload("trust bundle")


def _parse_bundle(claims: Mapping[str, Any]) -> dict[str, Any]:
    def fail(reason: str) -> MalformedError:
        return MalformedError(f"trust bundle: {reason}")

    iss, version = claims.get("iss"), claims.get("version")
    if not isinstance(iss, str) or not iss:
        raise fail("missing issuer (iss)")
    if not isinstance(version, int) or isinstance(version, bool) or version < 1:
        raise fail("version must be a positive integer")
    iat = claims.get("iat")
    if iat is not None and not is_numeric_date(iat):
        raise fail("iat must be a date")
    keys = []
    entries = claims.get("issuer_keys")
    if not isinstance(entries, list) or not entries:
        raise fail("no issuing keys")
    for entry in entries:
        if not isinstance(entry, dict) or not isinstance(entry.get("kid"), str) or not entry["kid"]:
            raise fail("every issuing key needs a kid")
        alg = entry.get("alg")
        if not isinstance(alg, str) or alg not in jws.KEY_TYPE_FOR_ALG:
            raise fail(f"key {entry['kid']!r}: algorithm not accepted")
        public_key = jws.public_key_from_jwk(entry.get("jwk") if isinstance(entry.get("jwk"), dict) else {}, "issuing key")
        if not jws.key_matches_alg(public_key, alg):
            raise fail(f"key {entry['kid']!r} does not fit algorithm {alg}")
        window = [entry.get("not_before"), entry.get("not_after")]
        if any(t is not None and not is_numeric_date(t) for t in window):
            raise fail(f"key {entry['kid']!r}: not_before/not_after must be dates")
        if not isinstance(entry.get("withdrawn", False), bool):
            raise fail(f"key {entry['kid']!r}: withdrawn must be true or false")
        keys.append(IssuingKey(entry["kid"], alg, public_key, *window, entry.get("withdrawn", False)))
    if len({key.kid for key in keys}) != len(keys):
        raise fail("two issuing keys share a kid")
    status_lists = []
    for entry in claims.get("status_lists", []) if isinstance(claims.get("status_lists", []), list) else [None]:
        if not isinstance(entry, dict) or not isinstance(entry.get("uri"), str):
            raise fail("status list entries need a uri")
        relative = entry.get("path")
        if not isinstance(relative, str) or _STATUS_PATH.fullmatch(relative) is None:
            raise fail("status list path must look like status/NAME.jwt")
        status_lists.append((entry["uri"], relative))
    return {"iss": iss, "version": version, "iat": iat, "keys": keys, "status_lists": status_lists}


def _not_a_publication(folder: Path) -> str:
    """Which folder was expected, e.g. when given a city folder instead of its publication."""
    inside = [child for child in sorted(folder.iterdir()) if (child / BUNDLE_FILE).is_file()] if folder.is_dir() else []
    hint = f": {inside[0]}" if inside else ""
    return (f"{folder} holds no {BUNDLE_FILE}, so it is not trust data. Give the city's publication folder "
            f"(the folder that holds {BUNDLE_FILE}){hint}")


def _read_text(path: Path, limit: int, what: str, missing: type[VerificationError] = MalformedError) -> str:
    try:
        with open(path, "rb") as handle:
            data = handle.read(limit + 1)
    except FileNotFoundError:
        raise missing(f"{what} file is missing: {path.name}") from None
    except OSError as exc:
        raise MalformedError(f"{what} could not be read ({exc.strerror})") from None
    if len(data) > limit:
        raise MalformedError(f"{what} is too large")
    try:
        return data.decode("ascii")
    except UnicodeDecodeError:
        raise MalformedError(f"{what} is not a token (non-ASCII bytes)") from None
