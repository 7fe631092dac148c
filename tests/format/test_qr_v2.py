"""QR format version 2: compact text for non-Latin names, and one text per card (canonical decoding)."""

from __future__ import annotations

import zlib

import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from hypothesis import given, settings
from hypothesis import strategies as st

from verifier_sdk.errors import MalformedError
from verifier_sdk.format import compact_text, face_layout
from verifier_sdk.format.base45 import b45decode, b45encode
from verifier_sdk.format.jws import sign
from verifier_sdk.format.qr import PREFIX_V1, PREFIX_V2, decode_qr, encode_qr
from verifier_sdk.format.qr_dictionary_v2 import DICTIONARY
from verifier_sdk.format.strict import b64url_encode, json_dumps

KEY = ec.generate_private_key(ec.SECP256R1())
CYRILLIC = {"iss": "https://id.example.gov", "vct": "urn:cityid:id:1", "exp": 1893455999,
            "status": {"status_list": {"idx": 412345, "uri": "https://id.example.gov/status/1"}},
            "given_name": "Светлана Геннадьевна", "family_name": "Крутиховская-Белова", "birthdate": "1962-08-30",
            "card_number": "100000000008"}


def card(payload: dict) -> str:
    return sign({"typ": "dc+sd-jwt", "kid": "k1"}, payload, KEY, "ES256") + "~"


def deflate(data: bytes) -> bytes:
    compressor = zlib.compressobj(9, zlib.DEFLATED, -15, 9, zlib.Z_DEFAULT_STRATEGY, DICTIONARY)
    return compressor.compress(data) + compressor.flush()


def repack(text: str, change) -> str:  # noqa: ANN001 - a function of the packing bytes
    return PREFIX_V2 + b45encode(change(b45decode(text[len(PREFIX_V2):])))


def test_encode_writes_v2_and_compacts_a_cyrillic_payload():
    sd_jwt = card(CYRILLIC)
    text = encode_qr(sd_jwt)
    assert text.startswith(PREFIX_V2) and decode_qr(text) == sd_jwt
    assert b45decode(text[5:])[0] == 0x06  # flags: payload in face layout and compact text


@settings(max_examples=300)
@given(st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=60))
def test_compact_text_round_trips_and_is_the_only_form(text):
    data = text.encode("utf-8")
    packed = compact_text.pack(data)
    if packed is None:
        assert data.isascii() or "\0" in text or len(data) <= len(data)  # not shorter: stays UTF-8
        return
    assert len(packed) < len(data) and compact_text.unpack(packed) == data


@pytest.mark.parametrize("packed", [
    b"ab\xb0",                 # a window character before any window was chosen
    b"\x00\x08\xb0\x00\x08\xb1",  # a switch to the window already in use
    b"\x00\x08a\xb0",          # a switch not followed by a character of the window
    b"\x00\x00\x80",           # window 0 (that is ASCII)
    b"\x00\xb0\x03\x80\x81\x82",  # window U+D800: surrogates
    b"\x00\x80\x00\x80",       # a non-minimal window number
    b"\x00\x08",               # a switch and nothing after it
    b"\x00\x08\xb0",           # one Cyrillic letter: no shorter than its UTF-8
])
def test_compact_text_refuses_every_other_form(packed):
    with pytest.raises(MalformedError):
        compact_text.unpack(packed)


def forged(flags: int, payload_record: bytes) -> str:
    """A v2 text with a real header record and this payload record, as an attacker could pack it."""
    header = json_dumps({"alg": "ES256", "typ": "dc+sd-jwt", "kid": "k1"})
    stream = bytes([len(header)]) + header + bytes([len(payload_record) & 0x7F | 0x80, len(payload_record) >> 7]) \
        + payload_record
    return PREFIX_V2 + b45encode(bytes([flags, 64]) + bytes(64) + deflate(stream))


@pytest.mark.parametrize("flags", [0x00, 0x02, 0x04, 0x06])
def test_only_the_canonical_payload_record_is_accepted(flags):
    payload = json_dumps(CYRILLIC)
    numbers, text = face_layout.pack(payload)
    canonical = forged(0x06, numbers + compact_text.pack(text))
    assert decode_qr(canonical).split(".")[1] == b64url_encode(payload)
    if flags == 0x06:
        return
    record = {0x00: payload, 0x02: compact_text.pack(payload), 0x04: numbers + text}[flags]
    with pytest.raises(MalformedError):
        decode_qr(forged(flags, record))


@pytest.mark.parametrize("change", [
    lambda p: p.replace(b'"uri":"https://id.example.gov/', b'"uri":"https://other.example/'),  # absolute uri: fine
    lambda p: p.replace(b"1893455999", b"1893456000"),  # not the end of a day: exp kept as it is
    lambda p: p[:-1] + b',"x":"\\u00e9"}',  # a backslash in the claims: fine, only the frame is strict
])
def test_face_layout_round_trips_every_frame(change):
    payload = change(json_dumps(CYRILLIC))
    numbers, text = face_layout.pack(payload)
    assert face_layout.read_frame(*face_layout.read_numbers(numbers)[:2], text).payload == payload


@pytest.mark.parametrize(("numbers", "text"), [
    (b"\x02\x07", b'https://id.example.gov"v"https://id.example.gov/s""a":1'),  # uri not written relative
    (b"\x80\x00\x07", b'i"v"\x01/s"'),   # a non-minimal number
    (b"\x01\x07", b'i"v"\x01/s"'),        # exp code 1: before 1970
    (b'\xfe\xc5\n' + b"\x07", b'i"v"\x01/s"'),  # an even exp code for the last second of a day
    (b"\x02\x07", b'"v"\x01/s"'),         # relative to an empty issuer
    (b"\x02\x07", b'i"v"u'),              # text incomplete
    (b"\x02\x07", b'i\\x"v"u"'),          # a backslash in the frame
])
def test_face_layout_refuses_every_other_form(numbers, text):
    with pytest.raises(MalformedError):
        exp_code, idx, end = face_layout.read_numbers(numbers)
        assert end == len(numbers)
        face_layout.read_frame(exp_code, idx, text)


def test_spare_bits_of_the_last_byte_must_be_zero():
    """Raw DEFLATE ends anywhere in a byte; set spare bits would make a second text for the same card."""
    sd_jwt = card({**CYRILLIC, "given_name": "Ana", "family_name": "Pérez"})
    text = encode_qr(sd_jwt)
    last = b45decode(text[5:])[-1]
    spare = [bit for bit in range(8) if last < (1 << bit)]  # bits above the highest set one
    variants = [repack(text, lambda p, b=b: p[:-1] + bytes([p[-1] | 1 << b])) for b in spare]
    refused = 0
    for variant in variants:
        try:
            assert decode_qr(variant) != sd_jwt
        except MalformedError:
            refused += 1
    assert variants and refused == len(variants)


def test_v1_texts_still_decode_with_the_v1_dictionary():
    from verifier_sdk.format.qr_dictionary import DICTIONARY as V1

    assert V1 != DICTIONARY
    body = b'{"alg":"ES256","typ":"dc+sd-jwt","kid":"k1"}'
    compressor = zlib.compressobj(9, zlib.DEFLATED, -15, 9, zlib.Z_DEFAULT_STRATEGY, V1)
    stream = compressor.compress(bytes([len(body)]) + body + b"\x02{}") + compressor.flush()
    text = PREFIX_V1 + b45encode(b"\x00\x01\x00" + stream)
    assert decode_qr(text) == "eyJhbGciOiJFUzI1NiIsInR5cCI6ImRjK3NkLWp3dCIsImtpZCI6ImsxIn0.e30.AA~"
    with pytest.raises(MalformedError, match="flags"):  # the compact-text flag exists only in v2
        decode_qr(PREFIX_V1 + b45encode(b"\x02\x01\x00" + stream))
