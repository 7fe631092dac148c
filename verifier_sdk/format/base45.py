"""RFC 9285 base45: bytes as text in the QR alphanumeric character set.

Written here because the SDK core depends only on pyjwt and cryptography.
Decoding is strict (any input that is not the one encoding of some bytes is
refused) and runs without per-character Python work: it sits on the verify path.
"""

from __future__ import annotations

from ..errors import MalformedError

#: The 45 characters of QR alphanumeric mode, in RFC 9285 value order.
ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ $%*+-./:"

_INVALID = 0xFF
# ASCII code -> digit value (0..44), or _INVALID for characters outside the alphabet.
_DIGITS = bytes(ALPHABET.index(chr(i)) if chr(i) in ALPHABET else _INVALID for i in range(256))
_LOW_LANES: dict[int, int] = {}  # triples -> mask of each lane's low byte


def b45encode(data: bytes) -> str:
    """Encode bytes: each pair as three characters, a final odd byte as two (least significant first)."""
    out = []
    for i in range(0, len(data) - 1, 2):
        rest, c = divmod(data[i] * 256 + data[i + 1], 45)
        e, d = divmod(rest, 45)
        out.append(ALPHABET[c] + ALPHABET[d] + ALPHABET[e])
    if len(data) % 2:
        e, c = divmod(data[-1], 45)
        out.append(ALPHABET[c] + ALPHABET[e])
    return "".join(out)


def b45decode(text: str, what: str = "QR data") -> bytes:
    """Decode base45, refusing foreign characters, impossible lengths and out-of-range groups."""
    if not isinstance(text, str) or not text.isascii():
        raise MalformedError(f"{what}: not base45 (characters outside the QR alphanumeric set)")
    digits = text.encode("ascii").translate(_DIGITS)
    if _INVALID in digits:
        raise MalformedError(f"{what}: not base45 (characters outside the QR alphanumeric set)")
    triples, rest = divmod(len(digits), 3)
    if rest == 1:
        raise MalformedError(f"{what}: truncated base45")
    # All triples at once: one big integer with a 3-byte lane per triple (values < 2**17, no carries).
    size = 3 * triples
    lanes = int.from_bytes(digits[:size], "big")
    low = _LOW_LANES.get(triples)
    if low is None:
        low = _LOW_LANES[triples] = int.from_bytes(b"\0\0\xff" * triples, "big")  # at most 1432 sizes
    values = ((lanes >> 16) & low) + 45 * ((lanes >> 8) & low) + 2025 * (lanes & low)
    packed = values.to_bytes(size, "big")
    if packed[0::3].count(0) != triples:
        raise MalformedError(f"{what}: base45 group out of range")
    out = bytearray(packed)
    del out[0::3]  # each lane is a zero byte, then the pair: drop the zeros
    if rest == 2:
        value = digits[-2] + 45 * digits[-1]
        if value > 255:
            raise MalformedError(f"{what}: base45 group out of range")
        out.append(value)
    return bytes(out)
