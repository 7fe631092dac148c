"""The text printed in a card's QR code: a lossless compact packing of an SD-JWT.

``decode_qr(encode_qr(sd_jwt)) == sd_jwt`` for every compact SD-JWT whose
base64url parts are canonical.  ``encode_qr`` writes format version 2; version 1
texts (cards already printed) keep decoding.  Both (the README documents them):

    text    = "CID2:" base45(packing)          (QR alphanumeric mode only; "CID1:" for v1)
    packing = flags                            1 byte; bit 0 = KB-JWT present,
                                               bit 1 = payload in compact text, bit 2 = payload in face
                                               layout (both v2 only), other bits 0
              varint len, issuer signature     raw bytes
              [varint len, KB-JWT signature]   only when bit 0 is set
              raw DEFLATE (level 9, the version's preset dictionary, no zlib header) of the records:
                  varint len + bytes, for: issuer header, issuer payload,
                  each disclosure, [KB-JWT header, KB-JWT payload]

Varints are unsigned LEB128, minimal.  The records hold the base64url-decoded
bytes, so any bytes round-trip; signatures are incompressible and stay outside
the DEFLATE stream.  Version 2 adds a dictionary tuned to the id, culture and rx
faces, writes the payload frame every face shares as its values (:mod:`.face_layout`)
and non-ASCII text in compact text (:mod:`.compact_text`) when that is shorter, and refuses a DEFLATE stream whose spare bits in its last byte are not
zero, so those bits cannot make a second text for one card.
"""

from __future__ import annotations

import re
import zlib
from typing import NamedTuple

from ..errors import CANNOT_CHECK, MalformedError, UnsupportedError, VerificationError
from .base45 import b45decode, b45encode
from . import compact_text, face_layout, varint
from .qr_dictionary import DICTIONARY as DICTIONARY_V1
from .qr_dictionary_v2 import DICTIONARY as DICTIONARY_V2
from .strict import b64url_decode, b64url_encode

PREFIX_V1 = "CID1:"
PREFIX_V2 = "CID2:"
#: What encode_qr writes.
PREFIX = PREFIX_V2
#: The most characters a QR code (version 40, error correction L, alphanumeric mode) holds.
MAX_TEXT = 4296
#: Decompressed records may not exceed this: a bomb fails as soon as the cap is reached.
MAX_RECORDS = 16 * 1024
_KB_PRESENT = 0x01
_COMPACT_PAYLOAD = 0x02
_LAYOUT_PAYLOAD = 0x04
_OTHER_VERSION = re.compile(r"CID[0-9A-Z]{1,8}:")


def encode_qr(sd_jwt: str) -> str:
    """The QR text for a compact SD-JWT (``<JWT>~<disclosures>~<KB-JWT or empty>``)."""
    if not isinstance(sd_jwt, str) or not sd_jwt.isascii() or "~" not in sd_jwt:
        raise MalformedError("not a compact SD-JWT (expected <JWT>~<disclosures>~)")
    parts = sd_jwt.split("~")
    header, payload, signature = _split_jws(parts[0], "SD-JWT")
    payload, flags = _pack_payload(payload)
    records = [header, payload]
    records += [b64url_decode(d, "disclosure") for d in parts[1:-1]]
    packing = bytearray()
    if parts[-1]:
        kb_header, kb_payload, kb_signature = _split_jws(parts[-1], "KB-JWT")
        records += [kb_header, kb_payload]
        flags |= _KB_PRESENT
    packing.append(flags)
    packing += _varint(len(signature)) + signature
    if flags & _KB_PRESENT:
        packing += _varint(len(kb_signature)) + kb_signature
    stream = b"".join(_varint(len(r)) + r for r in records)
    if len(stream) > MAX_RECORDS:
        raise MalformedError("SD-JWT too large for a QR code")
    deflate = zlib.compressobj(9, zlib.DEFLATED, -15, 9, zlib.Z_DEFAULT_STRATEGY, DICTIONARY_V2)
    packing += deflate.compress(stream) + deflate.flush()  # zlib pads the last byte with zero bits
    text = PREFIX + b45encode(bytes(packing))
    if len(text) > MAX_TEXT:
        raise MalformedError("SD-JWT too large for a QR code")
    return text


class QRParts(NamedTuple):
    """What a QR text carries, before any base64url (internal: the verifier reads it directly)."""

    header: bytes
    payload: bytes
    signature: bytes
    disclosures: tuple[str, ...]  # base64url text, as digests are computed over it
    kb_jwt: str | None
    frame: face_layout.Frame | None = None  # a v2 payload in face layout: its values, already read

    def sd_jwt(self) -> str:
        """The exact compact SD-JWT: ``<JWT>~<disclosures>~<KB-JWT or empty>``."""
        jwt = f"{b64url_encode(self.header)}.{b64url_encode(self.payload)}.{b64url_encode(self.signature)}"
        return "~".join([jwt, *self.disclosures, self.kb_jwt or ""])


def decode_qr(text: str) -> str:
    """The exact compact SD-JWT a QR text carries; raises only VerificationError subclasses."""
    return unpack(text).sd_jwt()


def unpack(text: str) -> QRParts:
    """The parts of a QR text, with the same checks as :func:`decode_qr` (internal)."""
    if not isinstance(text, str):
        raise MalformedError("QR data: expected text")
    if len(text) > MAX_TEXT:
        raise MalformedError("QR data: longer than any QR code holds")
    if text.startswith(PREFIX_V2):
        version = 2
    elif text.startswith(PREFIX_V1):
        version = 1
    elif _OTHER_VERSION.match(text):
        raise UnsupportedError("QR data: unknown format version", state=CANNOT_CHECK)  # newer cards: the desk's fault
    else:
        raise MalformedError("QR data: not a city ID code")
    try:
        return _unpack(b45decode(text[5:]), version)
    except VerificationError:
        raise
    except Exception:  # defence in depth: the contract is "only VerificationError"
        raise MalformedError("QR data: could not be decoded") from None


def _unpack(packing: bytes, version: int) -> QRParts:
    if not packing:
        raise MalformedError("QR data: empty")
    flags = packing[0]
    if flags & ~(_KB_PRESENT | (_COMPACT_PAYLOAD | _LAYOUT_PAYLOAD if version == 2 else 0)):
        raise MalformedError("QR data: unknown flags")
    signature, pos = _read_record(packing, 1)
    kb_signature = None
    if flags & _KB_PRESENT:
        kb_signature, pos = _read_record(packing, pos)
    if version == 2:
        records = _split_records(_inflate(packing[pos:], DICTIONARY_V2, canonical=True))
    else:
        records = _split_records(_inflate(packing[pos:], DICTIONARY_V1, canonical=False))
    needed = 4 if kb_signature is not None else 2
    if len(records) < needed:
        raise MalformedError("QR data: parts missing")
    frame = None
    if version == 2:
        records[1], frame = _unpack_payload(records[1], flags)
    if kb_signature is None:
        disclosures = tuple(map(b64url_encode, records[2:])) if len(records) > 2 else ()  # printed cards: none
        return QRParts(records[0], records[1], signature, disclosures, None, frame)
    kb_jwt = f"{b64url_encode(records[-2])}.{b64url_encode(records[-1])}.{b64url_encode(kb_signature)}"
    return QRParts(records[0], records[1], signature, tuple(map(b64url_encode, records[2:-2])), kb_jwt, frame)


def _pack_payload(payload: bytes) -> tuple[bytes, int]:
    """The payload record of format v2 and its flags: face layout, then compact text, where they apply."""
    flags = 0
    numbers, text = b"", payload
    framed = face_layout.pack(payload)
    if framed is not None:
        (numbers, text), flags = framed, _LAYOUT_PAYLOAD
    compact = compact_text.pack(text)
    if compact is not None:
        text, flags = compact, flags | _COMPACT_PAYLOAD
    return numbers + text, flags


def _unpack_payload(record: bytes, flags: int) -> tuple[bytes, face_layout.Frame | None]:
    """The exact payload (and its face layout values), refusing any record :func:`_pack_payload` would not write."""
    text = record
    if flags & _LAYOUT_PAYLOAD:
        exp_code, idx, start = face_layout.read_numbers(record)
        text = record[start:]
    if flags & _COMPACT_PAYLOAD:
        text = compact_text.unpack(text)
    elif compact_text.pack(text) is not None:
        raise MalformedError("QR data: payload not in its canonical form")
    if flags & _LAYOUT_PAYLOAD:
        frame = face_layout.read_frame(exp_code, idx, text)
        return frame.payload, frame
    if face_layout.pack(text) is not None:
        raise MalformedError("QR data: payload not in its canonical form")
    return text, None


def _inflate(data: bytes, dictionary: bytes, canonical: bool) -> bytes:
    inflate = zlib.decompressobj(-15, zdict=dictionary)
    try:
        out = inflate.decompress(data, MAX_RECORDS + 1)
    except zlib.error:
        raise MalformedError("QR data: corrupt compressed data") from None
    if len(out) > MAX_RECORDS:
        raise MalformedError("QR data: decompresses to more than the format allows")
    if not inflate.eof:
        raise MalformedError("QR data: truncated compressed data")
    if inflate.unused_data:
        raise MalformedError("QR data: trailing bytes after the compressed data")
    if canonical and _spare_bits_set(data, dictionary, out):
        raise MalformedError("QR data: compressed data not in its canonical form")
    return out


def _spare_bits_set(data: bytes, dictionary: bytes, out: bytes) -> bool:
    """Whether the last byte's highest set bit is padding (it changes nothing when cleared).

    DEFLATE reads bits from the low end, so spare bits are the top ones; clearing a bit the
    stream uses changes what it decodes to (or breaks it), clearing padding changes nothing.
    """
    last = data[-1]
    if not last:
        return False
    cleared = data[:-1] + bytes([last & ~(1 << (last.bit_length() - 1))])
    inflate = zlib.decompressobj(-15, zdict=dictionary)
    try:
        return inflate.decompress(cleared, MAX_RECORDS + 1) == out and inflate.eof and not inflate.unused_data
    except zlib.error:
        return False


def _split_records(stream: bytes) -> list[bytes]:
    records = []
    pos, end = 0, len(stream)
    while pos < end:
        length = stream[pos]
        if length < 0x80:  # records are short: their length takes one byte, or two
            pos += 1
        elif pos + 1 < end and 0 < stream[pos + 1] < 0x80:
            length, pos = length & 0x7F | stream[pos + 1] << 7, pos + 2
        else:
            length, pos = varint.read(stream, pos, 3, "length")
        if pos + length > end:
            raise MalformedError("QR data: a length overruns the data")
        records.append(stream[pos : pos + length])
        pos += length
    return records


def _read_record(data: bytes, pos: int) -> tuple[bytes, int]:
    """A varint length (at most 3 bytes), then that many bytes."""
    length, pos = varint.read(data, pos, 3, "length")
    if pos + length > len(data):
        raise MalformedError("QR data: a length overruns the data")
    return data[pos : pos + length], pos + length


_varint = varint.encode


def _split_jws(text: str, what: str) -> tuple[bytes, bytes, bytes]:
    parts = text.split(".")
    if len(parts) != 3:
        raise MalformedError(f"{what}: not a compact JWS (header.payload.signature)")
    header, payload, signature = (b64url_decode(p, f"{what} part") for p in parts)
    return header, payload, signature
