"""Unsigned LEB128 varints, minimal form only: the lengths and numbers of the QR packing (internal)."""

from __future__ import annotations

from ..errors import MalformedError


def encode(n: int) -> bytes:
    out = bytearray()
    while n > 0x7F:
        out.append(n & 0x7F | 0x80)
        n >>= 7
    out.append(n)
    return bytes(out)


def read(data: bytes, pos: int, max_bytes: int, what: str) -> tuple[int, int]:
    """``(value, position after it)``; MalformedError when truncated, longer than ``max_bytes`` or not minimal."""
    if pos < len(data) and data[pos] < 0x80:  # one byte: most lengths
        return data[pos], pos + 1
    value = shift = 0
    while True:
        if pos >= len(data):
            raise MalformedError(f"QR data: {what} truncated")
        byte = data[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        if not byte & 0x80:
            break
        shift += 7
        if shift >= 7 * max_bytes:
            raise MalformedError(f"QR data: {what} too large")
    if byte == 0 and shift:
        raise MalformedError(f"QR data: non-minimal {what}")
    return value, pos
