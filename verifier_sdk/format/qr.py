"""The text printed in a card's QR code: a lossless compact packing of an SD-JWT.

``decode_qr(encode_qr(sd_jwt)) == sd_jwt`` for every compact SD-JWT whose
base64url parts are canonical.  Format version 1 (the README documents it):

    text    = "CID1:" base45(packing)          (QR alphanumeric mode only)
    packing = flags                            1 byte; bit 0 = KB-JWT present, other bits 0
              varint len, issuer signature     raw bytes
              [varint len, KB-JWT signature]   only when bit 0 is set
              raw DEFLATE (level 9, preset dictionary, no zlib header) of the records:
                  varint len + bytes, for: issuer header, issuer payload,
                  each disclosure, [KB-JWT header, KB-JWT payload]

Varints are unsigned LEB128, minimal.  The records hold the base64url-decoded
bytes, so any bytes round-trip; signatures are incompressible and stay outside
the DEFLATE stream.
"""

from __future__ import annotations

import base64
import re
import zlib
from typing import NamedTuple

from ..errors import CANNOT_CHECK, MalformedError, UnsupportedError, VerificationError
from .base45 import b45decode, b45encode
from .qr_dictionary import DICTIONARY
from .strict import b64url_decode, b64url_encode

PREFIX = "CID1:"
#: The most characters a QR code (version 40, error correction L, alphanumeric mode) holds.
MAX_TEXT = 4296
#: Decompressed records may not exceed this: a bomb fails as soon as the cap is reached.
MAX_RECORDS = 16 * 1024
_KB_PRESENT = 0x01
_OTHER_VERSION = re.compile(r"CID[0-9A-Z]{1,8}:")


def encode_qr(sd_jwt: str) -> str:
    """The QR text for a compact SD-JWT (``<JWT>~<disclosures>~<KB-JWT or empty>``)."""
    if not isinstance(sd_jwt, str) or not sd_jwt.isascii() or "~" not in sd_jwt:
        raise MalformedError("not a compact SD-JWT (expected <JWT>~<disclosures>~)")
    parts = sd_jwt.split("~")
    header, payload, signature = _split_jws(parts[0], "SD-JWT")
    records = [header, payload]
    records += [b64url_decode(d, "disclosure") for d in parts[1:-1]]
    flags = 0
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
    deflate = zlib.compressobj(9, zlib.DEFLATED, -15, 9, zlib.Z_DEFAULT_STRATEGY, DICTIONARY)
    packing += deflate.compress(stream) + deflate.flush()
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

    @property
    def signing_input(self) -> bytes:
        """``<header>.<payload>`` in base64url: what the issuer signed."""
        return base64.urlsafe_b64encode(self.header).rstrip(b"=") + b"." + base64.urlsafe_b64encode(self.payload).rstrip(b"=")

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
    if not text.startswith(PREFIX):
        if _OTHER_VERSION.match(text):
            raise UnsupportedError("QR data: unknown format version", state=CANNOT_CHECK)  # newer cards: the desk's fault
        raise MalformedError("QR data: not a city ID code")
    try:
        return _unpack(b45decode(text[len(PREFIX) :]))
    except VerificationError:
        raise
    except Exception:  # defence in depth: the contract is "only VerificationError"
        raise MalformedError("QR data: could not be decoded") from None


def _unpack(packing: bytes) -> QRParts:
    if not packing:
        raise MalformedError("QR data: empty")
    flags = packing[0]
    if flags & ~_KB_PRESENT:
        raise MalformedError("QR data: unknown flags")
    signature, pos = _read_record(packing, 1)
    kb_signature = None
    if flags & _KB_PRESENT:
        kb_signature, pos = _read_record(packing, pos)
    records = _split_records(_inflate(packing[pos:]))
    needed = 4 if kb_signature is not None else 2
    if len(records) < needed:
        raise MalformedError("QR data: parts missing")
    if kb_signature is None:
        return QRParts(records[0], records[1], signature, tuple(map(b64url_encode, records[2:])), None)
    kb_jwt = f"{b64url_encode(records[-2])}.{b64url_encode(records[-1])}.{b64url_encode(kb_signature)}"
    return QRParts(records[0], records[1], signature, tuple(map(b64url_encode, records[2:-2])), kb_jwt)


def _inflate(data: bytes) -> bytes:
    inflate = zlib.decompressobj(-15, zdict=DICTIONARY)
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
    return out


def _split_records(stream: bytes) -> list[bytes]:
    records = []
    pos = 0
    while pos < len(stream):
        record, pos = _read_record(stream, pos)
        records.append(record)
    return records


def _read_record(data: bytes, pos: int) -> tuple[bytes, int]:
    """A varint length, then that many bytes."""
    length = shift = 0
    while True:
        if pos >= len(data):
            raise MalformedError("QR data: truncated")
        byte = data[pos]
        pos += 1
        length |= (byte & 0x7F) << shift
        if not byte & 0x80:
            break
        shift += 7
        if shift > 14:
            raise MalformedError("QR data: length too large")
    if byte == 0 and shift:
        raise MalformedError("QR data: non-minimal length")
    if pos + length > len(data):
        raise MalformedError("QR data: a length overruns the data")
    return data[pos : pos + length], pos + length


def _varint(n: int) -> bytes:
    out = bytearray()
    while n > 0x7F:
        out.append(n & 0x7F | 0x80)
        n >>= 7
    out.append(n)
    return bytes(out)


def _split_jws(text: str, what: str) -> tuple[bytes, bytes, bytes]:
    parts = text.split(".")
    if len(parts) != 3:
        raise MalformedError(f"{what}: not a compact JWS (header.payload.signature)")
    header, payload, signature = (b64url_decode(p, f"{what} part") for p in parts)
    return header, payload, signature
