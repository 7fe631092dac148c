"""Compact text for QR format version 2: non-Latin names in one byte a letter (internal).

UTF-8 spends two bytes on every Cyrillic or Arabic letter, and DEFLATE's fixed codes
spend nine bits on each of those bytes, so a 40-letter name costs 90 bytes.  This
transform (a small relative of Unicode's SCSU) writes ASCII as itself and every other
character as one byte ``0x80 + offset`` into a 128-character *window*, switched by
``0x00, varint(window / 128)`` just before the first character that needs it::

    "Ана" -> 00 08  90 bd b0          (window U+0400; А = U+0410, н = U+043D, а = U+0430)

It is a bijection between its canonical form and text: :func:`pack` is the only way to
produce a packed record, and :func:`unpack` refuses any other byte string (a switch to
the current window, a switch not followed by a character, window 0, surrogates, code
points past U+10FFFF, a result no shorter than UTF-8), so one text has one packing.
"""

from __future__ import annotations

import re

from ..errors import MalformedError

_SWITCH = 0x00
_NON_ASCII = re.compile("[^\x00-\x7f]+")
_WINDOW_TABLES: dict[int, dict[int, int]] = {}


def pack(data: bytes) -> bytes | None:
    """The packed form of UTF-8 text, or None when packing would not make it shorter (or it is not text)."""
    if data.isascii() or b"\x00" in data:
        return None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        return None
    out = bytearray()
    window = -1
    pos = 0
    for run in _NON_ASCII.finditer(text):
        out += text[pos : run.start()].encode("ascii")
        for ch in run.group():
            code = ord(ch)
            if not window <= code < window + 128:
                window = code & ~0x7F
                out.append(_SWITCH)
                out += _varint(window >> 7)
            out.append(0x80 + code - window)
        pos = run.end()
    out += text[pos:].encode("ascii")
    return bytes(out) if len(out) < len(data) else None


def unpack(packed: bytes) -> bytes:
    """The UTF-8 text a packed record holds; MalformedError for anything :func:`pack` would not write."""
    segments = packed.split(b"\x00")
    if not segments[0].isascii():
        raise MalformedError("QR data: packed text uses a window before choosing one")
    pieces = [segments[0].decode("ascii")]
    window = -1
    for segment in segments[1:]:
        if not segment:
            raise MalformedError("QR data: packed text ends inside a window switch")
        if segment[0] < 0x80:
            number, start = segment[0], 1
        elif len(segment) > 1 and 0 < segment[1] < 0x80:
            number, start = (segment[0] & 0x7F) | segment[1] << 7, 2
        else:
            raise MalformedError("QR data: packed text has a bad window switch")
        new_window = number << 7
        if new_window == window or not 0x80 <= new_window <= 0x10FF80 or 0xD800 <= new_window < 0xE000:
            raise MalformedError("QR data: packed text has a needless or impossible window switch")
        if len(segment) <= start or segment[start] < 0x80:
            raise MalformedError("QR data: packed text switches window without using it")
        window = new_window
        pieces.append(segment[start:].decode("latin-1").translate(_table(window)))
    text = "".join(pieces)
    data = text.encode("utf-8")
    if len(packed) >= len(data):
        raise MalformedError("QR data: packed text is not shorter than the text itself")
    return data


def _table(window: int) -> dict[int, int]:
    """str.translate table: bytes 0x80-0xFF (read as Latin-1) -> the window's characters."""
    table = _WINDOW_TABLES.get(window)
    if table is None:
        table = {0x80 + k: window + k for k in range(128)}
        if len(_WINDOW_TABLES) < 256:
            _WINDOW_TABLES[window] = table
    return table


def _varint(n: int) -> bytes:
    return bytes([n]) if n < 0x80 else bytes([n & 0x7F | 0x80, n >> 7])
