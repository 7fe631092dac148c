"""Strict decoders for untrusted input: canonical base64url and duplicate-free JSON.

The standard library is lenient where a verifier must not be: ``urlsafe_b64decode``
skips foreign characters and ``json.loads`` keeps the last of duplicate keys.
"""

from __future__ import annotations

import base64
import binascii
import json
import math
import re
from typing import Any

from ..errors import MalformedError

_B64URL = re.compile(r"[A-Za-z0-9_-]*")
# Characters whose last sextet must have zero low bits (canonical encoding).
_LAST_CHAR_MASK = {2: 0x0F, 3: 0x03}
_B64_VALUE = {c: i for i, c in enumerate("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")}


def b64url_encode(data: bytes) -> str:
    """Unpadded base64url, as JOSE and SD-JWT use it."""
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def b64url_decode(text: str, what: str = "data", error: type[Exception] = MalformedError) -> bytes:
    """Decode unpadded base64url, refusing anything but its one canonical form."""
    if not isinstance(text, str) or _B64URL.fullmatch(text) is None:
        raise error(f"{what}: not base64url (padding, whitespace or foreign characters)")
    rest = len(text) % 4
    if rest == 1:
        raise error(f"{what}: truncated base64url")
    if rest and _B64_VALUE[text[-1]] & _LAST_CHAR_MASK[rest]:
        raise error(f"{what}: non-canonical base64url")
    try:
        return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (binascii.Error, ValueError) as exc:  # unreachable after the checks above
        raise error(f"{what}: not base64url") from exc


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    obj = dict(pairs)
    if len(obj) != len(pairs):
        raise ValueError("duplicate key")
    return obj


# Built once: json.loads with keyword arguments builds a new decoder on every call (the verify hot path).
_DECODER = json.JSONDecoder(object_pairs_hook=_unique_keys, parse_constant=_reject_constant)
_SCAN = _DECODER.scan_once


def json_loads(data: bytes | str, what: str = "data", error: type[Exception] = MalformedError) -> Any:
    """Parse UTF-8 JSON, rejecting duplicate keys, NaN/Infinity and bad encodings."""
    try:
        if isinstance(data, bytes):
            data = data.decode("utf-8")
        if type(data) is not str:  # bytearray and the like: json.loads's own handling
            return json.loads(data, object_pairs_hook=_unique_keys, parse_constant=_reject_constant)
        try:  # the common case in one C call: a value that starts at 0 and fills the text
            value, end = _SCAN(data, 0)
            if end == len(data):
                return value
        except StopIteration:
            pass
        # Everything else (whitespace, errors, a BOM, trailing data) as json.loads handles it.
        if data.startswith("\ufeff"):
            raise ValueError("Unexpected UTF-8 BOM")
        return _DECODER.decode(data)
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        reason = "duplicate key" if "duplicate key" in str(exc) else "not valid UTF-8 JSON"
        raise error(f"{what}: {reason}") from None


def json_object(data: bytes | str, what: str = "data", error: type[Exception] = MalformedError) -> dict[str, Any]:
    """Parse strict JSON that must be an object."""
    value = json_loads(data, what, error)
    if not isinstance(value, dict):
        raise error(f"{what}: expected a JSON object")
    return value


def json_dumps(value: Any) -> bytes:
    """Compact UTF-8 JSON, the form the city signs (no spaces, non-ASCII kept as UTF-8)."""
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False, allow_nan=False).encode("utf-8")


def is_numeric_date(value: Any) -> bool:
    """A JWT NumericDate: an int or float, not a bool."""
    if isinstance(value, bool):
        return False
    # 1e400 parses as inf: a card that never expires is not a date.  (isfinite overflows on huge ints.)
    return isinstance(value, int) or (isinstance(value, float) and math.isfinite(value))
