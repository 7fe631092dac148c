"""The trust store: the city's issuing keys and status lists, vouched for by its pinned root key.

A partner pins the city's root key once.  Everything else (issuing keys, key
windows, status lists) arrives in a trust bundle signed by that root key, so it
can travel over any channel: HTTP, a USB stick, an e-mail attachment.
"""

from __future__ import annotations

import os
import re
import stat
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, Iterable, Mapping, Union

from .errors import (
    BadSignatureError,
    MalformedError,
    StatusUnavailableError,
    TrustNotYetValidError,
    TrustRollbackError,
    UnknownKeyError,
    VerificationError,
)
from .format import jws
from .format.statuslist import MAX_TOKEN_CHARS, StatusList, StatusListToken, verify_status_list_token
from .format.strict import is_numeric_date, json_object
from .installed import highest_version, remember_version
from .timeutil import epoch, to_datetime

BUNDLE_FILE = "trust-bundle.jwt"
BUNDLE_TYP = "cityid-trust+jwt"
ROOT_KEY_FILE = "root-key.pem"
_STATUS_PATH = re.compile(r"status/[A-Za-z0-9_-]{1,64}\.jwt")
_MAX_BUNDLE_BYTES = 1 << 20
#: Key roles listed in the bundle: card keys sign only cards, status keys only status lists (the root only bundles).
ROLE_CARD, ROLE_STATUS = "card", "status"
ROLES = (ROLE_CARD, ROLE_STATUS)
#: How far a clock may be ahead before something dated "later" is not believed.
DEFAULT_CLOCK_SKEW = timedelta(minutes=5)

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
    #: "card" or "status" (from the bundle); None only for keys trusted directly with from_jwks.
    role: str | None = None


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
        bundle_expires_at: float | None = None,
    ) -> None:
        self.issuer = issuer
        self.keys: dict[str | None, IssuingKey] = {key.kid: key for key in keys}
        self.status_lists: dict[str, StatusList | StatusListToken] = dict(status_lists or {})
        self.version = version
        #: The bundle's iat and exp in epoch seconds (None for stores built with from_jwks).
        self.bundle_iat = bundle_issued_at
        self.bundle_exp = bundle_expires_at
        self.bundle_issued_at = to_datetime(bundle_issued_at) if bundle_issued_at is not None else None
        self.bundle_expires_at = to_datetime(bundle_expires_at) if bundle_expires_at is not None else None
        #: Status lists that could not be used, by URI, with the reason (shown when a card needs them).
        self.problems: dict[str, VerificationError] = dict(problems or {})
        #: Status list URI -> file path inside the folder, for stores loaded from a publication folder.
        self.status_paths: dict[str, str] = {}

    # -- construction -----------------------------------------------------------------

    @classmethod
    def load(
        cls,
        path: str | Path,
        *,
        root_key: KeySource,
        min_version: int | None = None,
        now: datetime | float | None = None,
        clock_skew: timedelta = DEFAULT_CLOCK_SKEW,
        remember: bool = True,
    ) -> "TrustStore":
        """Read a publication folder (or a bundle file) and check it against the pinned root key.

        ``root_key``: PEM text or bytes, a JWK (dict or JSON text), a key object, or a file path.
        ``min_version``: the installed bundle's version; an older bundle is refused (``trust_rollback``).
        ``remember``: also refuse a bundle older than the highest version this computer has
        accepted for this root key (see :mod:`verifier_sdk.installed`), and remember this one.
        A bundle or status list dated after ``now`` plus ``clock_skew`` is refused
        (``trust_not_yet_valid``: the message says to check the clock).  An expired bundle
        loads, and every card then fails ``trust_expired`` (see :mod:`verifier_sdk.freshness`).
        """
        path = Path(path)
        bundle_path = path / BUNDLE_FILE if path.is_dir() else path
        if path.is_dir() and not bundle_path.exists():
            raise MalformedError(_not_a_publication(path))
        root = load_root_key(root_key)
        now_ts, skew = epoch(now), clock_skew.total_seconds()
        inside = path if path.is_dir() else None  # a folder's bundle must not be a link leading out of it
        claims = verify_trust_bundle(read_regular_file(bundle_path, _MAX_BUNDLE_BYTES, "trust bundle", inside=inside), root)
        bundle = parse_bundle(claims, root)
        if bundle["iat"] > now_ts + skew:
            raise TrustNotYetValidError(
                f"the trust bundle is dated {to_datetime(bundle['iat']):%Y-%m-%d %H:%M} UTC, later than this computer's clock; "
                "check this computer's date and time"
            )
        fingerprint = root_key_fingerprint(root)
        floor = max(min_version or 0, (highest_version(fingerprint) or 0) if remember else 0)
        if bundle["version"] < floor:
            raise TrustRollbackError(
                f"trust bundle version {bundle['version']} is older than the installed version {floor}"
            )
        store = cls(bundle["iss"], bundle["keys"], version=bundle["version"], bundle_issued_at=bundle["iat"],
                    bundle_expires_at=bundle["exp"])
        folder = bundle_path.parent
        store.status_paths = dict(bundle["status_lists"])
        for uri, relative in bundle["status_lists"]:
            try:
                token = read_regular_file(folder / relative, MAX_TOKEN_CHARS, "status list", StatusUnavailableError, inside=folder)
                verified = store.verify_status_token(token, uri)
                if verified.iat > now_ts + skew:
                    raise TrustNotYetValidError("the revocation list is dated in the future; check this computer's clock (date and time)")
                store.status_lists[uri] = verified
            except VerificationError as exc:
                store.problems[uri] = exc
        if remember:
            remember_version(fingerprint, bundle["version"])
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
            role = entry.get("role")
            if role is not None and role not in ROLES:
                raise MalformedError(f"JWKS: key {entry.get('kid')!r} has an unknown role")
            keys.append(IssuingKey(entry.get("kid"), alg, public_key, role=role))
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
        key = self._named_key(kid, ROLE_CARD)
        if key is None:
            raise UnknownKeyError("the card was signed with a key this verifier does not know; sync the trust data")
        if key.role not in (None, ROLE_CARD):
            raise UnknownKeyError("the card was signed with a key the city uses only for status lists, never for cards (forged card)")
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
            key = self._named_key(kid, ROLE_STATUS)
            if key is None or key.withdrawn:
                raise UnknownKeyError("status list signed by a key that is not trusted")
            if key.role not in (None, ROLE_STATUS):
                raise UnknownKeyError("status list signed by a card key; only the city's status key signs status lists")
            signers.append(key)
            return key.alg, key.public_key

        verified = verify_status_list_token(token, lookup, expected_sub=uri)
        key = signers[0]
        # A retired key whose private half leaks later must not vouch for fresh revocation data.
        if (key.not_before is not None and verified.iat < key.not_before) or (key.not_after is not None and verified.iat > key.not_after):
            raise UnknownKeyError("status list signed by a key outside its validity window")
        return verified

    def _named_key(self, kid: Any, role: str) -> IssuingKey | None:
        """The key a token's ``kid`` names; a token without kid may use the only key there is for its role."""
        if isinstance(kid, str):
            return self.keys.get(kid)
        candidates = [key for key in self.keys.values() if key.role in (None, role)]
        return candidates[0] if kid is None and len(candidates) == 1 else None

    def status_list(self, uri: str) -> StatusList | StatusListToken:
        """The verified status list for ``uri``; StatusUnavailableError when missing or unusable.

        A list dated in the future raises TrustNotYetValidError: the advice is to check the clock.
        """
        entry = self.status_lists.get(uri)
        if entry is not None:
            return entry
        problem = self.problems.get(uri)
        if isinstance(problem, TrustNotYetValidError):
            raise TrustNotYetValidError(problem.message)
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
        source = read_regular_file(Path(source), 64 << 10, "root key")
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


def parse_bundle(claims: Mapping[str, Any], root_key: Any = None) -> dict[str, Any]:
    """Validate a signed bundle's claims: issuer, version, iat and exp, keys with roles, status list paths."""
    def fail(reason: str) -> MalformedError:
        return MalformedError(f"trust bundle: {reason}")

    iss, version = claims.get("iss"), claims.get("version")
    if not isinstance(iss, str) or not iss:
        raise fail("missing issuer (iss)")
    if not isinstance(version, int) or isinstance(version, bool) or version < 1:
        raise fail("version must be a positive integer")
    iat, exp = claims.get("iat"), claims.get("exp")
    if not is_numeric_date(iat):
        raise fail("iat (when it was signed) must be a date")
    if not is_numeric_date(exp) or exp <= iat:
        raise fail("exp (when it expires) must be a date after iat")
    root_thumbprint = jws.jwk_thumbprint(jws.public_key_to_jwk(root_key)) if root_key is not None else None
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
        if entry.get("role") not in ROLES:
            raise fail(f"key {entry['kid']!r}: role must be 'card' or 'status'")
        if root_thumbprint is not None and jws.jwk_thumbprint(jws.public_key_to_jwk(public_key)) == root_thumbprint:
            raise fail(f"key {entry['kid']!r} is the root key, which signs only trust bundles")
        keys.append(IssuingKey(entry["kid"], alg, public_key, *window, entry.get("withdrawn", False), entry["role"]))
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
    return {"iss": iss, "version": version, "iat": iat, "exp": exp, "keys": keys, "status_lists": status_lists}


def _not_a_publication(folder: Path) -> str:
    """Which folder was expected, e.g. when given a city folder instead of its publication."""
    inside = [child for child in sorted(folder.iterdir()) if (child / BUNDLE_FILE).is_file()] if folder.is_dir() else []
    hint = f": {inside[0]}" if inside else ""
    return (f"{folder} holds no {BUNDLE_FILE}, so it is not trust data. Give the city's publication folder "
            f"(the folder that holds {BUNDLE_FILE}){hint}")


def read_regular_file(
    path: Path, limit: int, what: str, missing: type[VerificationError] = MalformedError, *, inside: Path | None = None
) -> str:
    """ASCII text of a regular file (never a FIFO, device or directory; with ``inside``, never a link out of it)."""
    if inside is not None:
        folder = os.path.realpath(inside)
        if os.path.commonpath([folder, os.path.realpath(path)]) != folder:
            raise MalformedError(f"{what} file {path.name} leads outside the trust folder")
    try:
        # O_NONBLOCK: opening a FIFO must not wait for a writer; fstat then refuses it.
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_NOCTTY", 0))
    except FileNotFoundError:
        raise missing(f"{what} file is missing: {path.name}") from None
    except OSError as exc:
        raise MalformedError(f"{what} could not be read ({exc.strerror})") from None
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        raise MalformedError(f"{what} {path.name} is not a regular file")
    with os.fdopen(fd, "rb") as handle:
        try:
            data = handle.read(limit + 1)
        except OSError as exc:
            raise MalformedError(f"{what} could not be read ({exc.strerror})") from None
    if len(data) > limit:
        raise MalformedError(f"{what} is too large")
    try:
        return data.decode("ascii")
    except UnicodeDecodeError:
        raise MalformedError(f"{what} is not a token (non-ASCII bytes)") from None
