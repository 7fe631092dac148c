"""RFC 9901 SD-JWT: the compact form, disclosures, digests and their resolution.

Issuance helpers (``Disclosable``, ``build_payload``) live beside the checks so
that the issuer and the verifier share one definition of the format.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from typing import Any, Callable, Iterable

from ..errors import DisclosureInvalidError, MalformedError, UnsupportedError
from .jws import CompactJWS
from .strict import b64url_decode, b64url_encode, json_dumps, json_loads

SD = "_sd"
SD_ALG = "_sd_alg"
ARRAY_DIGEST = "..."
#: Digest algorithms we understand (IANA "Named Information Hash Algorithm" names).
DIGEST_ALGS: dict[str, Callable[[bytes], Any]] = {
    "sha-256": hashlib.sha256,
    "sha-384": hashlib.sha384,
    "sha-512": hashlib.sha512,
}
#: SD-JWT VC claims that must never be selectively disclosable.
NEVER_DISCLOSABLE = frozenset({"iss", "nbf", "exp", "cnf", "vct", "vct#integrity", "status"})
#: Deeper nesting than this is refused: no credential of ours comes close.
MAX_DEPTH = 32
# JSON leaves: resolve copies them without a call (walk would return them unchanged).
_LEAF_TYPES = frozenset({str, int, float, bool, type(None)})


def digest(encoded_disclosure: str, sd_alg: str = "sha-256") -> str:
    """base64url(hash(ASCII disclosure string)), as RFC 9901 section 4.2.3 defines it."""
    try:
        hash_fn = DIGEST_ALGS[sd_alg]
    except (KeyError, TypeError):
        raise UnsupportedError(f"digest algorithm {str(sd_alg)[:20]!r} is not accepted") from None
    return b64url_encode(hash_fn(encoded_disclosure.encode("ascii")).digest())


@dataclass(frozen=True)
class Disclosure:
    """One disclosure: ``[salt, name, value]`` (object property) or ``[salt, value]`` (array element)."""

    encoded: str
    salt: str
    name: str | None
    value: Any

    @classmethod
    def make(cls, name: str | None, value: Any, salt: str | None = None) -> "Disclosure":
        """A new disclosure with a fresh 128-bit salt; ``name=None`` for an array element."""
        salt = salt or b64url_encode(secrets.token_bytes(16))
        array = [salt, value] if name is None else [salt, name, value]
        return cls(b64url_encode(json_dumps(array)), salt, name, value)

    @classmethod
    def parse(cls, encoded: str) -> "Disclosure":
        """Decode and check the shape of one disclosure (RFC 9901 section 7.1, steps 3.3-3.4)."""
        raw = b64url_decode(encoded, "disclosure", DisclosureInvalidError)
        array = json_loads(raw, "disclosure", DisclosureInvalidError)
        if not isinstance(array, list) or len(array) not in (2, 3):
            raise DisclosureInvalidError("disclosure: must be a JSON array of 2 or 3 elements")
        if not isinstance(array[0], str):
            raise DisclosureInvalidError("disclosure: salt must be a string")
        if len(array) == 2:
            return cls(encoded, array[0], None, array[1])
        name = array[1]
        if not isinstance(name, str):
            raise DisclosureInvalidError("disclosure: claim name must be a string")
        if name in (SD, ARRAY_DIGEST):
            raise DisclosureInvalidError(f"disclosure: {name!r} is not allowed as a claim name")
        return cls(encoded, array[0], name, array[2])


@dataclass(frozen=True)
class SDJWT:
    """An unverified SD-JWT as received: issuer JWT, disclosures, optional KB-JWT."""

    jws: CompactJWS
    disclosures: tuple[str, ...]
    kb_jwt: str | None

    @classmethod
    def parse(cls, text: str) -> "SDJWT":
        """Split ``<JWT>~<disclosure>~...~<KB-JWT or empty>``; nothing is verified yet."""
        if not isinstance(text, str) or "~" not in text:
            raise MalformedError("not an SD-JWT (expected <JWT>~<disclosures>~)")
        parts = text.split("~")
        if not text.isascii():
            raise MalformedError("SD-JWT: non-ASCII characters")
        disclosures = tuple(parts[1:-1])
        if any(not d for d in disclosures):
            raise MalformedError("SD-JWT: empty disclosure")
        return cls(CompactJWS.split(parts[0], "SD-JWT"), disclosures, parts[-1] or None)

    def presentation(self) -> str:
        """``<JWT>~<disclosures>~`` without the KB-JWT: the string ``sd_hash`` covers."""
        return "".join([str(self.jws), "~", *(d + "~" for d in self.disclosures)])

    def serialize(self) -> str:
        return self.presentation() + (self.kb_jwt or "")

    __str__ = serialize


class Disclosable:
    """Issuer-side marker: put this value behind a disclosure instead of in plain text."""

    __slots__ = ("value",)

    def __init__(self, value: Any) -> None:
        self.value = value


def build_payload(claims: dict[str, Any], decoys: int = 0, sd_alg: str = "sha-256") -> tuple[dict[str, Any], list[Disclosure]]:
    """Issuer side: turn claims (with ``Disclosable`` markers) into an SD-JWT payload and its disclosures."""
    disclosures: list[Disclosure] = []

    def convert(value: Any, depth: int) -> Any:
        if depth > MAX_DEPTH:
            raise ValueError("claims nested too deeply")
        if isinstance(value, dict):
            out: dict[str, Any] = {}
            digests = []
            for name, item in value.items():
                if isinstance(item, Disclosable):
                    if depth == 0 and name in NEVER_DISCLOSABLE:
                        raise ValueError(f"{name} must not be selectively disclosable")
                    disclosure = Disclosure.make(name, convert(item.value, depth + 1))
                    disclosures.append(disclosure)
                    digests.append(digest(disclosure.encoded, sd_alg))
                else:
                    out[name] = convert(item, depth + 1)
            if depth == 0:
                digests += [digest(b64url_encode(secrets.token_bytes(16)), sd_alg) for _ in range(decoys)]
            if digests:
                out[SD] = sorted(digests)  # sorted, so the order says nothing about the claims
            return out
        if isinstance(value, list):
            items = []
            for item in value:
                if isinstance(item, Disclosable):
                    disclosure = Disclosure.make(None, convert(item.value, depth + 1))
                    disclosures.append(disclosure)
                    items.append({ARRAY_DIGEST: digest(disclosure.encoded, sd_alg)})
                else:
                    items.append(convert(item, depth + 1))
            return items
        return value

    payload = convert(claims, 0)
    if disclosures or decoys:
        payload[SD_ALG] = sd_alg
    return payload, disclosures


def resolve(payload: dict[str, Any], encoded_disclosures: Iterable[str]) -> dict[str, Any]:
    """Verifier side: replace digests by disclosed values (RFC 9901 section 7.1 step 3).

    Refuses duplicate digests, disclosures no digest references, disclosures that
    overwrite a claim, misplaced disclosure kinds, and SD-JWT VC claims that must
    stay in plain text.  Undisclosed digests and decoys are dropped.
    """
    sd_alg = payload.get(SD_ALG, "sha-256")
    if not isinstance(sd_alg, str) or sd_alg not in DIGEST_ALGS:
        raise UnsupportedError(f"digest algorithm {str(sd_alg)[:20]!r} is not accepted")
    if isinstance(encoded_disclosures, (tuple, list)) and not encoded_disclosures:
        plain = _plain_copy(payload, 0)  # every printed card: no disclosures, no digests
        if plain is not _NOT_PLAIN:
            return plain
    by_digest: dict[str, Disclosure] = {}
    for encoded in encoded_disclosures:
        key = digest(encoded, sd_alg)
        if key in by_digest:
            raise DisclosureInvalidError("the same disclosure is presented twice")
        by_digest[key] = Disclosure.parse(encoded)
    seen: set[str] = set()

    def take(key: Any) -> Disclosure | None:
        if not isinstance(key, str):
            raise DisclosureInvalidError("a digest is not a string")
        if key in seen:
            raise DisclosureInvalidError("a digest appears more than once")
        seen.add(key)
        return by_digest.get(key)

    def walk(value: Any, depth: int) -> Any:
        if depth > MAX_DEPTH:
            raise MalformedError("credential nested too deeply")
        if isinstance(value, dict):
            if depth and SD_ALG in value:
                raise DisclosureInvalidError("_sd_alg is only allowed at the top level")
            digests = value.get(SD, [])
            if not isinstance(digests, list):
                raise DisclosureInvalidError("_sd must be an array of digests")
            leaf_ok = depth < MAX_DEPTH  # below the limit a leaf is its own value; at it, walk raises
            out = {
                name: item if leaf_ok and type(item) in _LEAF_TYPES else walk(item, depth + 1)
                for name, item in value.items()
                if name not in (SD, SD_ALG)
            }
            for key in digests:
                disclosure = take(key)
                if disclosure is None:
                    continue  # undisclosed claim or decoy
                if disclosure.name is None:
                    raise DisclosureInvalidError("an array-element disclosure is referenced from an object")
                if disclosure.name in out:
                    raise DisclosureInvalidError("a disclosure repeats a claim that already exists")
                if depth == 0 and disclosure.name in NEVER_DISCLOSABLE:
                    raise DisclosureInvalidError(f"{disclosure.name} must not be selectively disclosed")
                out[disclosure.name] = walk(disclosure.value, depth + 1)
            return out
        if isinstance(value, list):
            out_list = []
            for item in value:
                if isinstance(item, dict) and len(item) == 1 and ARRAY_DIGEST in item:
                    disclosure = take(item[ARRAY_DIGEST])
                    if disclosure is None:
                        continue
                    if disclosure.name is not None:
                        raise DisclosureInvalidError("an object-property disclosure is referenced from an array")
                    out_list.append(walk(disclosure.value, depth + 1))
                elif depth < MAX_DEPTH and type(item) in _LEAF_TYPES:
                    out_list.append(item)
                else:
                    out_list.append(walk(item, depth + 1))
            return out_list
        return value

    claims = walk(payload, 0)
    if not seen.issuperset(by_digest):
        raise DisclosureInvalidError("a disclosure is not referenced by the signed credential")
    return claims


_NOT_PLAIN = object()


def needs_no_resolving(obj: dict[str, Any]) -> bool:
    """Whether ``resolve`` would return this object's members unchanged: plain values only, no ``_sd`` or ``_sd_alg``."""
    return SD not in obj and SD_ALG not in obj and _LEAF_TYPES.issuperset(map(type, obj.values()))


def _plain_copy(value: Any, depth: int) -> Any:
    """What ``resolve`` returns for ``value`` without disclosures, when it holds no ``_sd``,
    ``_sd_alg`` or ``{"...": digest}`` at all and is within MAX_DEPTH; else ``_NOT_PLAIN``
    (and the full resolution runs).  tests/format/test_resolve_fast_path.py proves the equivalence.
    """
    kind = type(value)
    if kind is dict:
        if depth >= MAX_DEPTH:
            return _NOT_PLAIN
        if needs_no_resolving(value):
            return dict(value)
        if SD in value or SD_ALG in value:
            return _NOT_PLAIN
        out = {}
        for name, item in value.items():
            if type(item) not in _LEAF_TYPES:
                item = _plain_copy(item, depth + 1)
                if item is _NOT_PLAIN:
                    return _NOT_PLAIN
            out[name] = item
        return out
    if kind is list:
        if depth >= MAX_DEPTH:
            return _NOT_PLAIN
        out_list = []
        for item in value:
            if type(item) not in _LEAF_TYPES:
                if type(item) is dict and len(item) == 1 and ARRAY_DIGEST in item:
                    return _NOT_PLAIN
                item = _plain_copy(item, depth + 1)
                if item is _NOT_PLAIN:
                    return _NOT_PLAIN
            out_list.append(item)
        return out_list
    return value if kind in _LEAF_TYPES else _NOT_PLAIN
