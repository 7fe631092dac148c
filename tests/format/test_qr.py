"""QR transport (format version 2, and what version 1 shares): lossless round trips, strict decoding, card QR sizes."""

from __future__ import annotations

import hashlib
import os
import secrets
import tracemalloc
import zlib

import pytest
import segno
from cryptography.hazmat.primitives.asymmetric import ec
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from verifier_sdk.errors import MalformedError, UnsupportedError, VerificationError
from verifier_sdk.format.base45 import ALPHABET, b45decode, b45encode
from verifier_sdk.format.jws import public_key_to_jwk, sign
from verifier_sdk.format.qr import MAX_RECORDS, MAX_TEXT, PREFIX, decode_qr, encode_qr
from verifier_sdk.format import qr_dictionary
from verifier_sdk.format.qr_dictionary_v2 import DICTIONARY
from verifier_sdk.format.sdjwt import Disclosable, SDJWT, build_payload
from verifier_sdk.format.strict import b64url_encode, json_dumps

ISSUER = "https://id.example.gov"
HEADER = {"typ": "dc+sd-jwt", "kid": "k1"}
ISSUER_KEY = ec.generate_private_key(ec.SECP256R1())
HOLDER_KEY = ec.generate_private_key(ec.SECP256R1())


def _status() -> dict:
    return {"status_list": {"idx": 100000 + secrets.randbelow(900000), "uri": f"{ISSUER}/status/1"}}


def culture_claims() -> dict:
    return {
        "iss": ISSUER, "vct": "urn:cityid:culture:1", "exp": 1000000000 + secrets.randbelow(10**9), "status": _status(),
        "age_over_18": True, "age_over_21": True, "age_over_65": False, "museum_tier": "gold",
    }  # fmt: skip


def id_claims(given_name: str, family_name: str) -> dict:
    return {
        "iss": ISSUER, "vct": "urn:cityid:id:1", "exp": 1000000000 + secrets.randbelow(10**9), "status": _status(),
        "given_name": given_name, "family_name": family_name, "birthdate": "1987-06-24",
        "card_number": f"{secrets.randbelow(10**12):012d}",
    }  # fmt: skip


def face(claims: dict) -> str:
    """A face as the issuer prints it: the JWS and no disclosures."""
    return sign(HEADER, claims, ISSUER_KEY, "ES256") + "~"


def with_key_binding(sd_jwt: str, nonce: str = "n-0S6_WzA2Mj", aud: str = "https://bank.example") -> str:
    kb_claims = {"iat": 1764000000, "aud": aud, "nonce": nonce, "sd_hash": "x" * 43}
    return sd_jwt + sign({"typ": "kb+jwt"}, kb_claims, HOLDER_KEY, "ES256")


def packed(body: bytes) -> str:
    """QR text around hand-made bytes, for tests that need an exact layout."""
    return PREFIX + b45encode(body)


def deflate(data: bytes, zdict: bytes = DICTIONARY) -> bytes:
    compressor = zlib.compressobj(9, zlib.DEFLATED, -15, 9, zlib.Z_DEFAULT_STRATEGY, zdict)
    return compressor.compress(data) + compressor.flush()


def records(*parts: bytes) -> bytes:
    return b"".join(bytes([len(p)]) + p for p in parts)  # every part here is under 128 bytes


# ---- lossless round trips ----------------------------------------------------------------

names = st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), min_size=0, max_size=30)
claim_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**63), 2**63) | names,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(names, inner, max_size=3),
    max_leaves=6,
)


@settings(max_examples=150, suppress_health_check=[HealthCheck.too_slow])
@given(
    given_name=names,
    family_name=names,
    extra=st.dictionaries(names.filter(lambda n: n not in ("_sd", "_sd_alg")), claim_values, max_size=3),
    disclosable=st.sets(st.sampled_from(["given_name", "family_name", "birthdate", "card_number"])),
    key_binding=st.booleans(),
)
def test_round_trip_generated_credentials(given_name, family_name, extra, disclosable, key_binding) -> None:
    claims = {**id_claims(given_name, family_name), **{f"x_{k}": v for k, v in extra.items()}}
    for name in disclosable:
        claims[name] = Disclosable(claims[name])
    payload, disclosures = build_payload(claims)
    sd_jwt = sign(HEADER, payload, ISSUER_KEY, "ES256") + "~" + "".join(d.encoded + "~" for d in disclosures)
    if key_binding:
        sd_jwt = with_key_binding(sd_jwt)
    text = encode_qr(sd_jwt)
    assert text.startswith(PREFIX) and set(text) <= set(ALPHABET)
    assert decode_qr(text) == sd_jwt
    assert str(SDJWT.parse(decode_qr(text))) == sd_jwt


@pytest.mark.parametrize(
    "sd_jwt",
    [
        "e30.e30.~",  # {} header and payload, empty signature
        "..~",  # every part empty
        "e30.e30.AA~~",  # an empty disclosure
        "e30.e30.AA~..",  # a KB-JWT whose parts are empty
        "e30.e30.AA~WyJhIiwiYiJd~WyJhIiwiYiJd~",  # the same disclosure twice (refused later, by the verifier)
        f"{b64url_encode(bytes(range(256)))}.{b64url_encode(os.urandom(300))}.{b64url_encode(os.urandom(132))}~",
        f"e30.{b64url_encode(b'not json at all')}.{b64url_encode(os.urandom(64))}~{b64url_encode(os.urandom(40))}~",
        f"e30.e30.{b64url_encode(os.urandom(300))}~e30.e30.{b64url_encode(os.urandom(200))}",  # long signatures
    ],
)
def test_round_trip_odd_but_legal_strings(sd_jwt: str) -> None:
    assert decode_qr(encode_qr(sd_jwt)) == sd_jwt


def test_key_binding_is_kept_apart_from_the_last_disclosure() -> None:
    plain = face(culture_claims())
    bound = with_key_binding(plain)
    assert decode_qr(encode_qr(bound)) == bound
    assert decode_qr(encode_qr(plain)) == plain


# ---- encode refuses what it could not reproduce exactly -----------------------------------


@pytest.mark.parametrize(
    "sd_jwt",
    [
        "e30.e30.AA",  # a JWT without "~" is not an SD-JWT
        "e30.e30~",  # two parts
        "e30.e30.AA.AA~",  # four parts
        "e30=.e30.AA~",  # padding
        "e30.e30.AB~",  # non-canonical: the last character has stray low bits
        "e30.e30.AA~e30.e30~",  # KB-JWT with two parts
        "e30.e30.AA~WyJh+IiwiYiJd~",  # base64, not base64url
        "e30.e30.AA~é~",  # non-ASCII
    ],
)
def test_encode_refuses_non_canonical_or_non_sd_jwt_input(sd_jwt: str) -> None:
    with pytest.raises(MalformedError):
        encode_qr(sd_jwt)


def test_encode_refuses_what_no_qr_code_holds() -> None:
    big = f"e30.{b64url_encode(os.urandom(3000))}.AA~"
    with pytest.raises(MalformedError, match="too large"):
        encode_qr(big)
    compressible = f"e30.{b64url_encode(bytes(MAX_RECORDS))}.AA~"  # small once deflated, too large inflated
    with pytest.raises(MalformedError, match="too large"):
        encode_qr(compressible)


# ---- decode is strict ----------------------------------------------------------------------

VALID_BODY = b"\x00\x00" + deflate(records(b"{}", b"{}"))  # "e30.e30.~"


def test_hand_made_layout_decodes() -> None:
    assert decode_qr(packed(VALID_BODY)) == "e30.e30.~"
    kb = b"\x01\x01\xaa\x01\xbb" + deflate(records(b"{}", b"{}", b"[1]", b"{}", b"{}"))
    assert decode_qr(packed(kb)) == "e30.e30.qg~WzFd~e30.e30.uw"


@pytest.mark.parametrize("text", ["", "CID1", "cid1:" + b45encode(VALID_BODY), "XCID1:", "e30.e30.AA~", " CID1:"])
def test_missing_prefix(text: str) -> None:
    with pytest.raises(MalformedError) as info:
        decode_qr(text)
    assert type(info.value) is MalformedError


@pytest.mark.parametrize("prefix", ["CID3:", "CID0:", "CID10:", "CIDX:"])
def test_other_format_version_is_unsupported(prefix: str) -> None:
    with pytest.raises(UnsupportedError, match="version"):
        decode_qr(prefix + b45encode(VALID_BODY))


def test_prefix_is_in_the_qr_alphanumeric_set() -> None:
    assert set(PREFIX) <= set(ALPHABET)


def test_text_longer_than_any_qr_code_is_refused_before_decoding() -> None:
    # Without the length check this would decode: a valid packing, just too long for a QR code.
    big = os.urandom(2900)
    body = b"\x00\x00" + deflate(b"\x02{}" + bytes([0x80 | len(big) & 0x7F, len(big) >> 7]) + big)
    assert len(packed(body)) > MAX_TEXT
    with pytest.raises(MalformedError, match="longer than any QR code"):
        decode_qr(packed(body))
    with pytest.raises(MalformedError, match="longer than any QR code"):
        decode_qr("CID1:" + "0" * 1_000_000)


@pytest.mark.parametrize("text", [PREFIX + "ÄÖ0", PREFIX + "０１２", PREFIX + "\udcff" * 3])
def test_non_ascii_text(text: str) -> None:
    with pytest.raises(MalformedError):
        decode_qr(text)


@pytest.mark.parametrize("text", [PREFIX + "abc", PREFIX + "GGW", PREFIX + "A", PREFIX + b45encode(VALID_BODY) + "\n"])
def test_invalid_base45(text: str) -> None:
    with pytest.raises(MalformedError, match="base45"):
        decode_qr(text)


@pytest.mark.parametrize("value", [None, b"CID1:", 42, ["CID1:"]])
def test_not_text(value) -> None:
    with pytest.raises(MalformedError):
        decode_qr(value)


def test_empty_packing() -> None:
    with pytest.raises(MalformedError, match="empty"):
        decode_qr(PREFIX)


def test_unknown_flags() -> None:
    with pytest.raises(MalformedError, match="flags"):
        decode_qr(packed(b"\x08" + VALID_BODY[1:]))


def test_truncated_compressed_data() -> None:
    with pytest.raises(MalformedError, match="truncated"):
        decode_qr(packed(VALID_BODY[:-2]))


def test_truncated_qr_text_of_a_real_face() -> None:
    text = encode_qr(face(culture_claims()))
    for cut in range(len(PREFIX), len(text)):
        with pytest.raises(MalformedError):
            decode_qr(text[:cut])


def test_trailing_bytes_after_the_compressed_data() -> None:
    with pytest.raises(MalformedError, match="trailing"):
        decode_qr(packed(VALID_BODY + b"\x00"))


def test_signature_length_overruns() -> None:
    with pytest.raises(MalformedError, match="overruns|truncated"):
        decode_qr(packed(b"\x00\x40" + b"\xaa" * 10))


def test_record_length_overruns() -> None:
    with pytest.raises(MalformedError, match="overruns"):
        decode_qr(packed(b"\x00\x00" + deflate(b"\x02{}\x05{}")))


def test_record_length_never_ends() -> None:
    with pytest.raises(MalformedError, match="truncated"):
        decode_qr(packed(b"\x00\x00" + deflate(b"\x02{}\x80")))


def test_non_minimal_length() -> None:
    with pytest.raises(MalformedError, match="non-minimal"):
        decode_qr(packed(b"\x00\x00" + deflate(b"\x82\x00{}\x02{}")))


def test_record_length_too_large() -> None:
    with pytest.raises(MalformedError, match="too large"):
        decode_qr(packed(b"\x00\x00" + deflate(b"\x02{}\x80\x80\x80\x01")))


@pytest.mark.parametrize(
    ("flags", "stream"),
    [(b"\x00\x00", records(b"{}")), (b"\x01\x00\x00", records(b"{}", b"{}", b"{}")), (b"\x00\x00", b"")],
)
def test_parts_missing(flags: bytes, stream: bytes) -> None:
    with pytest.raises(MalformedError, match="missing"):
        decode_qr(packed(flags + deflate(stream)))


def test_corrupt_compressed_data() -> None:
    with pytest.raises(MalformedError, match="corrupt"):
        decode_qr(packed(b"\x00\x00\xff\xff\xff"))  # reserved block type 3


def test_dictionary_is_frozen() -> None:
    # Raw DEFLATE has no checksum: another dictionary silently inflates to other bytes.
    # Every printed card depends on these exact bytes; a new dictionary needs a new format version.
    assert hashlib.sha256(qr_dictionary.DICTIONARY).hexdigest() == "1121fd3a7958ec479196e161ee3164f41cca3e54ac74ab8bafbba990f31ef0aa"
    assert hashlib.sha256(DICTIONARY).hexdigest() == V2_DICTIONARY_SHA256


V2_DICTIONARY_SHA256 = "887bbdbd47c2ac9133d96d738e88842c5378aa8eff3b275ebcac9463ccf148c1"


def _bomb(size: int) -> bytes:
    compressor = zlib.compressobj(9, zlib.DEFLATED, -15)
    chunk = bytes(1 << 20)
    out = [compressor.compress(chunk) for _ in range(size >> 20)]
    return b"\x00\x00" + b"".join(out) + compressor.flush()


def test_decompression_bomb_that_fits_in_a_qr_code_stops_at_the_cap() -> None:
    body = _bomb(2 << 20)  # 2 MiB of zeros, about 2 KB deflated
    text = packed(body)
    assert len(text) <= MAX_TEXT
    tracemalloc.start()
    try:
        with pytest.raises(MalformedError, match="more than the format allows"):
            decode_qr(text)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 8 * MAX_RECORDS  # inflating it all would need 2 MiB


def test_decompression_bomb_of_64_mib() -> None:
    text = packed(_bomb(64 << 20))
    tracemalloc.start()
    try:
        with pytest.raises(MalformedError):
            decode_qr(text)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 8 * MAX_RECORDS


@settings(max_examples=300)
@given(st.text(max_size=200))
def test_any_text_raises_only_verification_errors(text: str) -> None:
    for candidate in (text, PREFIX + text):
        try:
            decode_qr(candidate)
        except VerificationError:
            pass


DAMAGEABLE = encode_qr(face(culture_claims()))


@settings(max_examples=300)
@given(st.data())
def test_damaged_codes_raise_only_verification_errors(data) -> None:
    text = list(DAMAGEABLE)
    for _ in range(data.draw(st.integers(1, 4))):
        text[data.draw(st.integers(len(PREFIX), len(text) - 1))] = data.draw(st.sampled_from(ALPHABET))
    try:
        decode_qr("".join(text))
    except VerificationError:
        pass


# ---- card QR sizes (error correction Q, alphanumeric mode) ---------------------------------


def qr_version(text: str) -> int:
    qr = segno.make(text, error="q", micro=False)
    assert qr.mode == "alphanumeric"
    return qr.version


AGE_ENCODINGS = [  # booleans, and thresholds crossed while the card is valid carried as dates
    {},
    {"age_over_65": None, "age_over_65_from": "2029-11-01"},
    {"age_over_18": None, "age_over_21": None, "age_over_18_from": "2027-06-01", "age_over_21_from": "2030-06-01"},
]


@pytest.mark.parametrize("ages", AGE_ENCODINGS)
def test_culture_face_fits_version_9(ages) -> None:
    for _ in range(7):
        claims = {k: v for k, v in (culture_claims() | ages).items() if v is not None}
        claims["exp"] = claims["exp"] // 86400 * 86400 - 1  # cards expire at the end of a day
        assert qr_version(encode_qr(face(claims))) <= 9


def test_rx_face_with_routing_numbers_fits_version_9() -> None:
    for _ in range(7):
        claims = {k: v for k, v in culture_claims().items() if not k.startswith(("age", "museum"))}
        claims |= {"vct": "urn:cityid:rx:1", "exp": claims["exp"] // 86400 * 86400 - 1, "rx_eligible": True,
                   "rx_bin": "610591", "rx_pcn": "CITYRX", "rx_group": "MUNIRX01"}
        assert qr_version(encode_qr(face(claims))) <= 9


ID_FACE_NAMES = {  # given_name + family_name, 40 characters together
    "ascii": ("Maria Guadalupe Alejandra", "Hernandez Lopez"),
    "vietnamese": ("Nguyễn Thị Thu Hằng Diệp", "Trương Quỳnh Tâm"),
    "arabic": ("عبد الرحمن مصطفى", "القحطاني الشمري الزهراني"),
    "spanish": ("María José Guadalupe", "Rodríguez de la Peña"),
    "cyrillic": ("Александра Владимировна", "Преображенская Ли"),
    "cyrillic, outside the dictionary": ("Евгения Святославовна", "Верхоглядова-Щукина"),
    "arabic, outside the dictionary": ("خديجة نور الهدى", "البرغوثي العمراني الحلبيي"),
}


@pytest.mark.parametrize("script", ID_FACE_NAMES)
def test_id_face_with_40_character_name_fits_version_12(script: str) -> None:
    given_name, family_name = ID_FACE_NAMES[script]
    assert len(given_name) + len(family_name) == 40
    for _ in range(5):
        text = encode_qr(face(id_claims(given_name, family_name)))
        assert qr_version(text) <= 12


def test_id_face_with_a_common_chinese_name_fits_version_12() -> None:
    # 40 CJK characters (120 UTF-8 bytes) do not fit 12-Q: that is version 14 (see benchmarks).
    text = encode_qr(face(id_claims("欧阳明华", "司马")))
    assert qr_version(text) <= 12


def test_printed_code_reads_back_through_a_real_scanner_library() -> None:
    zxingcpp = pytest.importorskip("zxingcpp")
    from PIL import Image  # noqa: PLC0415  (pillow comes with zxing-cpp in the image extra)
    import io  # noqa: PLC0415

    sd_jwt = face(id_claims("Nguyễn Thị Thu Hằng Diệp", "Trương Quỳnh Tâm"))
    buffer = io.BytesIO()
    segno.make(encode_qr(sd_jwt), error="q", micro=False).save(buffer, kind="png", scale=4, border=4)
    results = zxingcpp.read_barcodes(Image.open(io.BytesIO(buffer.getvalue())))
    assert [decode_qr(r.text) for r in results] == [sd_jwt]


def test_key_binding_jwk_and_disclosures_compress() -> None:
    # A device presentation (cnf + KB-JWT) still packs smaller than its plain text.
    claims = culture_claims() | {"cnf": {"jwk": public_key_to_jwk(HOLDER_KEY.public_key())}}
    claims["museum_tier"] = Disclosable("gold")
    payload, disclosures = build_payload(claims)
    sd_jwt = with_key_binding(sign(HEADER, payload, ISSUER_KEY, "ES256") + "~" + disclosures[0].encoded + "~")
    text = encode_qr(sd_jwt)
    assert decode_qr(text) == sd_jwt
    assert len(b45decode(text[len(PREFIX):])) < len(sd_jwt) * 3 // 4
    assert json_dumps  # the face JSON is the issuer's compact form
