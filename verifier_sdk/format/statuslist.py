"""IETF Token Status List (draft-ietf-oauth-status-list): the list itself and its signed token.

A status list is a byte array of 1, 2, 4 or 8-bit statuses packed least-significant-bit
first, sent as base64url(zlib(bytes)).  Partners download the whole list, so the city
never learns which card was checked.  The verifier reads lists; the issuer builds them.
"""

from __future__ import annotations

import math
import zlib
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Callable, Mapping

from ..errors import MalformedError, StatusUnavailableError
from ..timeutil import epoch
from . import jws
from .strict import b64url_decode, b64url_encode, is_numeric_date

#: Largest decompressed list accepted: 16,777,216 entries at 2 bits, 4,194,304 at 8 bits.
#: About 20 times the city's card count at 2 bits, while a decompression bomb costs at most 4 MiB.
MAX_BYTES = 4 << 20
#: zlib never grows data by more than a few bytes per 16 KiB block; anything larger is not a list.
_MAX_COMPRESSED = MAX_BYTES + (MAX_BYTES >> 10) + 64
_MAX_LST_CHARS = (_MAX_COMPRESSED * 4 + 2) // 3
_CHUNK = 256 << 10
#: Largest status list token text accepted, checked before any parsing.
MAX_TOKEN_CHARS = 2 << 20

#: zlib level for new lists, chosen by measurement (benchmarks/status_list_zlib.py): level 6 builds a
#: 4M-entry list with 10% revoked in 214 ms against 2385 ms at level 9, for a token 5% larger.
ZLIB_LEVEL = 6

STATUS_LIST_TYP = "statuslist+jwt"
_ALLOWED_BITS = (1, 2, 4, 8)
_WHAT = "status list"

KeyLookup = Callable[[Any], tuple[str, Any]]


class StatusIndexError(StatusUnavailableError, IndexError):
    """The card's status index is outside the revocation list."""


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


class StatusList:
    """Statuses of many cards, ``bits`` bits each.  ``sl[idx]`` reads one; the issuer also writes.

    Values: :attr:`VALID` 0, :attr:`INVALID` 1 (revoked), :attr:`SUSPENDED` 2, 3 application-specific.
    An index outside ``0 <= idx < len(sl)`` raises :class:`StatusIndexError`; negative
    indexes never wrap around.
    """

    VALID = 0
    INVALID = 1
    SUSPENDED = 2

    __slots__ = ("_bits", "_data", "_size", "_byte_shift", "_slot_mask", "_value_mask")
    __hash__ = None  # type: ignore[assignment]  # mutable (issuer side)

    def __init__(self, data: bytes | bytearray, bits: int) -> None:
        if not _is_int(bits) or bits not in _ALLOWED_BITS:
            raise ValueError("bits must be 1, 2, 4 or 8")
        self._bits = bits
        self._data = bytearray(data)
        self._size = len(self._data) * 8 // bits
        per_byte = 8 // bits
        self._byte_shift = per_byte.bit_length() - 1  # idx >> this = byte offset
        self._slot_mask = per_byte - 1  # idx & this = slot within the byte
        self._value_mask = (1 << bits) - 1

    # -- verifier side ------------------------------------------------------------------

    @classmethod
    def from_claim(cls, claim: Any) -> "StatusList":
        """Decode a ``status_list`` claim ``{"bits": ..., "lst": ...}``; MalformedError if it is not one.

        Other members (such as ``aggregation_uri``) are ignored.
        """
        if not isinstance(claim, Mapping):
            raise MalformedError("status list: expected a JSON object")
        bits, lst = claim.get("bits"), claim.get("lst")
        if not _is_int(bits) or bits not in _ALLOWED_BITS:
            raise MalformedError("status list: bits must be 1, 2, 4 or 8")
        if not isinstance(lst, str):
            raise MalformedError("status list: lst must be a base64url string")
        if len(lst) > _MAX_LST_CHARS:
            raise MalformedError("status list: lst is too large")
        sl = cls(b"", bits)
        sl._data = _inflate(b64url_decode(lst, "status list lst"))  # adopt the buffer: no second copy
        sl._size = len(sl._data) * 8 // bits
        return sl

    @property
    def bits(self) -> int:
        return self._bits

    def __len__(self) -> int:
        return self._size

    def __getitem__(self, idx: int) -> int:
        # type() first: the hot path is a plain int; bools and other types fall through to the checks.
        if (type(idx) is not int and not _is_int(idx)) or not 0 <= idx < self._size:
            raise StatusIndexError("the card's status index is outside the revocation list")
        return (self._data[idx >> self._byte_shift] >> ((idx & self._slot_mask) * self._bits)) & self._value_mask

    # -- issuer side --------------------------------------------------------------------

    @classmethod
    def empty(cls, size: int, bits: int = 2) -> "StatusList":
        """An all-VALID list with room for at least ``size`` entries (rounded up to whole bytes)."""
        if not _is_int(size) or size < 1:
            raise ValueError("size must be a positive integer")
        if not _is_int(bits) or bits not in _ALLOWED_BITS:
            raise ValueError("bits must be 1, 2, 4 or 8")
        if -(-size * bits // 8) > MAX_BYTES:
            raise ValueError(f"a status list holds at most {MAX_BYTES * 8 // bits} entries at {bits} bits")
        return cls(bytes(-(-size * bits // 8)), bits)

    def __setitem__(self, idx: int, value: int) -> None:
        if not _is_int(idx) or not 0 <= idx < self._size:
            raise StatusIndexError("status index is outside the list")
        if not _is_int(value) or not 0 <= value <= self._value_mask:
            raise ValueError(f"a {self._bits}-bit status must be between 0 and {self._value_mask}")
        pos, shift = idx >> self._byte_shift, (idx & self._slot_mask) * self._bits
        self._data[pos] = (self._data[pos] & ~(self._value_mask << shift) & 0xFF) | (value << shift)

    def to_bytes(self) -> bytes:
        """The uncompressed byte array."""
        return bytes(self._data)

    def to_claim(self, level: int = ZLIB_LEVEL) -> dict[str, Any]:
        """The ``status_list`` claim: ``{"bits": ..., "lst": base64url(zlib)}``."""
        return {"bits": self._bits, "lst": b64url_encode(zlib.compress(bytes(self._data), level))}

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, StatusList):
            return NotImplemented
        return self._bits == other._bits and self._data == other._data

    def __repr__(self) -> str:
        return f"StatusList(bits={self._bits}, entries={self._size})"


def max_entries(bits: int = 2) -> int:
    """The most entries a list may have so that its token fits :data:`MAX_TOKEN_CHARS` whatever its statuses.

    Worst case: statuses that do not compress at all.  ``lst`` is base64url inside a JWS
    payload that is base64url again, so a token is about 16/9 of the compressed list.
    """

    def worst_token(size: int) -> int:
        compressed = size + (size >> 12) + (size >> 14) + 13  # zlib's compressBound
        lst = -(-compressed * 4 // 3)
        return -(-(lst + 1024) * 4 // 3) + 1024  # other claims, header and signature: well under 1 KiB each

    low, high = 1, MAX_BYTES
    while low < high:
        mid = (low + high + 1) // 2
        low, high = (mid, high) if worst_token(mid) <= MAX_TOKEN_CHARS else (low, mid - 1)
    return low * 8 // bits // 8 * 8


def _inflate(data: bytes) -> bytearray:
    """zlib-decompress one complete stream.  Peak memory: MAX_BYTES, bytearray slack (1/8), one chunk."""
    inflater = zlib.decompressobj()  # zlib header required: raw deflate and gzip fail here
    out = bytearray()
    pending = data
    try:
        # Small steps into one buffer: a single decompress(data, cap) call would hold the cap twice.
        while not inflater.eof:
            piece = inflater.decompress(pending, min(_CHUNK, MAX_BYTES + 1 - len(out)))
            out += piece
            if len(out) > MAX_BYTES:
                raise MalformedError(f"status list: decompresses to more than {MAX_BYTES} bytes")
            pending = inflater.unconsumed_tail
            if not piece and not pending:
                break  # input used up before the stream ended
    except zlib.error:
        raise MalformedError("status list: lst is not zlib data") from None
    if not inflater.eof or inflater.unused_data:
        raise MalformedError("status list: lst is truncated or has trailing data")
    if not out:
        raise MalformedError("status list: the list is empty")
    return out


# -- status list tokens (JWT) -----------------------------------------------------------


@dataclass(frozen=True)
class StatusListToken:
    """A verified status list token: the list plus when it was issued and how long it holds."""

    sub: str
    iss: str | None
    iat: int
    exp: int | None
    ttl: int | None
    status_list: StatusList

    def expired(self, now: datetime | float | int | None = None) -> bool:
        """True once ``now`` reaches the token's ``exp`` (never, without one)."""
        return self.exp is not None and epoch(now) >= self.exp

    @property
    def refresh_at(self) -> int | None:
        """When a fresh copy should be fetched (``iat + ttl``), if the token says."""
        return None if self.ttl is None else self.iat + self.ttl


def verify_status_list_token(token: str, key_lookup: KeyLookup, expected_sub: str | None = None) -> StatusListToken:
    """Verify a ``statuslist+jwt`` and decode its list.

    ``key_lookup(kid) -> (alg, public_key)`` names the trusted key (and raises UnknownKeyError).
    The signature is checked before the list is decompressed.
    """
    if not isinstance(token, str):
        raise MalformedError("status list token must be text")
    if len(token) > MAX_TOKEN_CHARS:
        raise MalformedError("status list token is too large")
    compact = jws.CompactJWS.split(token.strip(" \t\r\n"), "status list token")
    header = compact.unverified_header(_WHAT)
    kid = header.get("kid")
    if kid is not None and not isinstance(kid, str):
        raise MalformedError("status list: header kid must be a string")
    alg, public_key = key_lookup(kid)
    jws.check_header(header, alg, STATUS_LIST_TYP, _WHAT)
    jws.verify_signature(compact, alg, public_key, _WHAT)

    claims = compact.unverified_payload(_WHAT)
    sub, iss = claims.get("sub"), claims.get("iss")
    if not isinstance(sub, str):
        raise MalformedError("status list: sub must be a string")
    if iss is not None and not isinstance(iss, str):
        raise MalformedError("status list: iss must be a string")
    iat = _date(claims, "iat", required=True)
    exp = _date(claims, "exp", required=False)
    ttl = claims.get("ttl")
    if ttl is not None and (not _is_int(ttl) or ttl <= 0):
        raise MalformedError("status list: ttl must be a positive integer")
    if "status_list" not in claims:
        raise MalformedError("status list: token has no status_list claim")
    if expected_sub is not None and sub != expected_sub:
        raise StatusUnavailableError("status list is for another credential list")
    return StatusListToken(sub, iss, iat, exp, ttl, StatusList.from_claim(claims["status_list"]))  # type: ignore[arg-type]


def _date(claims: Mapping[str, Any], name: str, *, required: bool) -> int | None:
    value = claims.get(name)
    if value is None and not required:
        return None
    # Range first: math.isfinite raises OverflowError on ints beyond float range.
    if not is_numeric_date(value) or not 0 <= value < 2**53 or not math.isfinite(value):
        raise MalformedError(f"status list: {name} must be a date (seconds since 1970)")
    return math.floor(value)


def make_status_list_token(
    status_list: StatusList,
    *,
    sub: str,
    iss: str | None,
    kid: str,
    private_key: Any,
    alg: str = "ES256",
    iat: int,
    ttl: int | None = 86400,
    exp: int | None = None,
) -> str:
    """Sign a ``statuslist+jwt`` (issuer side).  Claims in the contract's order; None members are left out."""
    claims: dict[str, Any] = {"sub": sub}
    if iss is not None:
        claims["iss"] = iss
    claims["iat"] = int(iat)
    if exp is not None:
        claims["exp"] = int(exp)
    if ttl is not None:
        claims["ttl"] = int(ttl)
    claims["status_list"] = status_list.to_claim()
    return jws.sign({"typ": STATUS_LIST_TYP, "kid": kid}, claims, private_key, alg)
