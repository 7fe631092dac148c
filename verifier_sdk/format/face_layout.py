"""Face layout for QR format version 2: the payload frame every card face shares, written once (internal).

Every face payload the issuer signs begins the same way::

    {"iss":ISS,"vct":VCT,"exp":EXP,"status":{"status_list":{"idx":IDX,"uri":URI}},CLAIMS}

so version 2 packs such a payload as its values alone::

    numbers = varint(exp code) varint(idx)     exp code: 2 * day + 1 when exp is the last second of
                                               UTC day ``day - 1`` (how cards expire), else 2 * exp
    text    = ISS '"' VCT '"' URI' '"' CLAIMS  URI' = 0x01 + the rest when URI starts with ISS

Strings must hold no quote, backslash or control character, numbers must be plain
decimals; anything else is not packed.  Like :mod:`.compact_text` it is a bijection:
:func:`frame` refuses every form :func:`pack` would not write, so a card has one text.
"""

from __future__ import annotations

import re

from ..errors import MalformedError
from . import varint

_STRING = rb'([^"\\\x00-\x1f]*)'
_NUMBER = rb"(0|[1-9][0-9]{0,17})"
_FRAME = re.compile(rb'\{"iss":"' + _STRING + rb'","vct":"' + _STRING + rb'","exp":' + _NUMBER
                    + rb',"status":\{"status_list":\{"idx":' + _NUMBER + rb',"uri":"' + _STRING
                    + rb'"\}\}(?:,(.+))?\}', re.S)
_BAD_STRING = re.compile(rb'[\\\x00-\x1f]')
_RELATIVE = b"\x01"
_DAY = 86400
_MAX_NUMBER = 10**18


def pack(payload: bytes) -> tuple[bytes, bytes] | None:
    """``(numbers, text)`` for a face payload in the frame, or None when it is not in it."""
    match = _FRAME.fullmatch(payload)
    if match is None:
        return None
    iss, vct, exp, idx, uri, claims = match.groups()
    end_of_day = (int(exp) + 1) % _DAY == 0
    exp_code = 2 * ((int(exp) + 1) // _DAY) + 1 if end_of_day else 2 * int(exp)
    if iss and uri.startswith(iss):
        uri = _RELATIVE + uri[len(iss) :]
    return varint.encode(exp_code) + varint.encode(int(idx)), b'"'.join((iss, vct, uri, claims or b""))


def read_numbers(record: bytes) -> tuple[int, int, int]:
    """``(exp code, idx, where the text starts)`` of a packed payload record."""
    exp_code, pos = _read_varint(record, 0)
    idx, pos = _read_varint(record, pos)
    return exp_code, idx, pos


def frame(exp_code: int, idx: int, text: bytes) -> bytes:
    """The exact payload; MalformedError for any form :func:`pack` would not write."""
    first = text.find(b'"')
    second = text.find(b'"', first + 1)
    third = text.find(b'"', second + 1)
    if third < 0 or first < 0 or second < 0:
        raise MalformedError("QR data: face layout text incomplete")
    iss, vct, uri = text[:first], text[first + 1 : second], text[second + 1 : third]
    relative = uri.startswith(_RELATIVE)
    if _BAD_STRING.search(text, 0, second + 1) or _BAD_STRING.search(text, second + 1 + relative, third):
        raise MalformedError("QR data: face layout string holds a character it may not")
    if relative:
        if not iss:
            raise MalformedError("QR data: face layout refers to an empty issuer")
        uri = iss + uri[1:]
    elif iss and uri.startswith(iss):
        raise MalformedError("QR data: face layout not in its canonical form")
    if exp_code & 1:
        if exp_code < 3:
            raise MalformedError("QR data: face layout expiry out of range")
        exp = (exp_code >> 1) * _DAY - 1
    else:
        exp = exp_code >> 1
        if (exp + 1) % _DAY == 0:
            raise MalformedError("QR data: face layout expiry not in its canonical form")
    if exp >= _MAX_NUMBER or idx >= _MAX_NUMBER:
        raise MalformedError("QR data: face layout number out of range")
    claims = text[third + 1 :]
    return (b'{"iss":"%s","vct":"%s","exp":%d,"status":{"status_list":{"idx":%d,"uri":"%s"}}%s}'
            % (iss, vct, exp, idx, uri, b"," + claims if claims else b""))


def _read_varint(data: bytes, pos: int) -> tuple[int, int]:
    if pos + 2 < len(data) and data[pos + 2] < 0x80 and data[pos] & data[pos + 1] & 0x80 and data[pos + 2]:
        return (data[pos] & 0x7F) | (data[pos + 1] & 0x7F) << 7 | data[pos + 2] << 14, pos + 3  # most numbers
    return varint.read(data, pos, 9, "face layout number")
