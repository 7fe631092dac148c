"""Face layout for QR format version 2: the payload frame every card face shares, written once (internal).

Every face payload the issuer signs begins the same way::

    {"iss":ISS,"vct":VCT,"exp":EXP,"status":{"status_list":{"idx":IDX,"uri":URI}},CLAIMS}

so version 2 packs such a payload as its values alone::

    numbers = varint(exp code) varint(idx)     exp code: 2 * day + 1 when exp is the last second of
                                               UTC day ``day - 1`` (how cards expire), else 2 * exp
    text    = ISS '"' VCT '"' URI' '"' CLAIMS  URI' = 0x01 + the rest when URI starts with ISS

Strings must hold no quote, backslash or control character, numbers must be plain
decimals; anything else is not packed.  Like :mod:`.compact_text` it is a bijection:
:func:`read_frame` refuses every form :func:`pack` would not write, so a card has one text.
"""

from __future__ import annotations

import re
from typing import Any, NamedTuple

from ..errors import MalformedError
from . import varint
from .strict import json_object

_STRING = rb'([^"\\\x00-\x1f]*)'
_NUMBER = rb"(0|[1-9][0-9]{0,17})"
_FRAME = re.compile(rb'\{"iss":"' + _STRING + rb'","vct":"' + _STRING + rb'","exp":' + _NUMBER
                    + rb',"status":\{"status_list":\{"idx":' + _NUMBER + rb',"uri":"' + _STRING
                    + rb'"\}\}(?:,(.+))?\}', re.S)
# The text's three strings (ISS, VCT, URI with its optional relative mark) in one match.
_FRAME_STRINGS = re.compile(_STRING + rb'"' + _STRING + rb'"(\x01?)' + _STRING + rb'"')
_RELATIVE = b"\x01"
_FRAME_NAMES = frozenset({"iss", "vct", "exp", "status"})
_PAYLOAD = "credential payload"
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
    if len(record) > 6:  # most cards: both numbers take three bytes (exp codes of this century, large lists)
        a, b, c, d, e, f = record[:6]
        if 0 < c < 0x80 and 0 < f < 0x80 and a & b & d & e & 0x80:
            return (a & 0x7F) | (b & 0x7F) << 7 | c << 14, (d & 0x7F) | (e & 0x7F) << 7 | f << 14, 6
    exp_code, pos = varint.read(record, 0, 9, "face layout number")
    idx, pos = varint.read(record, pos, 9, "face layout number")
    return exp_code, idx, pos


class Frame(NamedTuple):
    """A packed payload read back: the exact bytes the city signed, and the frame's values."""

    payload: bytes
    iss: bytes
    vct: bytes
    exp: int
    idx: int
    uri: bytes
    claims: bytes  # the members after the frame, as JSON text ("" when there are none)

    def parsed(self) -> tuple[dict[str, Any], dict[str, Any]]:
        """``(payload, the members after the frame)``, exactly as ``json_object(self.payload)`` gives or refuses
        it: the frame's values need no parsing, so only the members after it are parsed, and anything unusual
        (bad UTF-8 or JSON, a frame name repeated, only whitespace after the comma) goes to the whole payload."""
        try:  # frame strings hold no quote, backslash or control character: as JSON strings they are their text
            obj: dict[str, Any] = {"iss": self.iss.decode("utf-8"), "vct": self.vct.decode("utf-8"), "exp": self.exp,
                                   "status": {"status_list": {"idx": self.idx, "uri": self.uri.decode("utf-8")}}}
            members = json_object(b"{" + self.claims + b"}", _PAYLOAD) if self.claims else {}
        except (UnicodeDecodeError, MalformedError):
            members = None
        if members is None or (self.claims and not members) or not _FRAME_NAMES.isdisjoint(members):
            whole = json_object(self.payload, _PAYLOAD)  # raises what parsing the payload raises, in the same order
            return whole, {name: value for name, value in whole.items() if name not in _FRAME_NAMES}
        obj.update(members)
        return obj, members


def read_frame(exp_code: int, idx: int, text: bytes) -> Frame:
    """The exact payload and its values; MalformedError for any form :func:`pack` would not write."""
    strings = _FRAME_STRINGS.match(text)
    if strings is None:
        if text.count(b'"') < 3:
            raise MalformedError("QR data: face layout text incomplete")
        raise MalformedError("QR data: face layout string holds a character it may not")
    iss, vct, relative, uri = strings.groups()
    if relative:
        if not iss:
            raise MalformedError("QR data: face layout refers to an empty issuer")
        uri = iss + uri
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
    claims = text[strings.end() :]
    payload = (b'{"iss":"%s","vct":"%s","exp":%d,"status":{"status_list":{"idx":%d,"uri":"%s"}}%s}'
               % (iss, vct, exp, idx, uri, b"," + claims if claims else b""))
    return Frame(payload, iss, vct, exp, idx, uri, claims)

