"""Verifying QR text reads the packing directly (no base64url round trip): it must behave
exactly like verifying the SD-JWT that decode_qr gives back, for good and bad cards alike."""

from __future__ import annotations

import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from factory import NOW, CULTURE, PERSON, STATUS_URI, YEAR, Disclosable, kb_jwt, new_key
from cryptography.hazmat.primitives.asymmetric import ec

from verifier_sdk import Purpose, TrustStore, Verifier, decode_qr, encode_qr
from verifier_sdk.trust import IssuingKey
from verifier_sdk.errors import VerificationError
from verifier_sdk.format import jws
from verifier_sdk.format.statuslist import StatusList
from verifier_sdk.format.strict import b64url_encode

EVERYTHING = Purpose("everything", vct=None, claims=set(CULTURE) | set(PERSON))
HOLDER = Purpose("holder", vct=None, claims=set(CULTURE), require_key_binding=True)


def outcome(verifier: Verifier, text: str, **kwargs) -> tuple:
    try:
        cred = verifier.verify(text, now=NOW, **kwargs)
    except VerificationError as exc:
        return type(exc).__name__, exc.code, exc.message
    return "ok", dict(cred.claims), cred.vct, cred.issuer, cred.expires_at, cred.status, cred.key_bound


def assert_same(verifier: Verifier, sd_jwt: str, **kwargs) -> None:
    text = encode_qr(sd_jwt)
    assert decode_qr(text) == sd_jwt
    assert outcome(verifier, text, **kwargs) == outcome(verifier, sd_jwt, **kwargs)


def signed(city, header: bytes, payload: bytes, disclosures=(), signature: bytes | None = None) -> str:
    """A compact SD-JWT with exactly these header and payload bytes."""
    h, p = b64url_encode(header), b64url_encode(payload)
    if signature is None:
        signature = jws._ALGORITHMS["ES256"].sign(f"{h}.{p}".encode(), city.keys["k1"])
    return f"{h}.{p}.{b64url_encode(signature)}~" + "".join(d + "~" for d in disclosures)


HEADER = b'{"alg":"ES256","typ":"dc+sd-jwt","kid":"k1"}'


def culture_payload(**extra) -> bytes:
    body = {"iss": "https://id.example.gov", "vct": "urn:cityid:culture:1", "exp": NOW + YEAR,
            "status": {"status_list": {"idx": 7, "uri": STATUS_URI}}, **CULTURE, **extra}
    return json.dumps(body, separators=(",", ":")).encode()


@pytest.mark.parametrize("purpose", ["museum", "bank", "pharmacy", EVERYTHING])
@pytest.mark.parametrize("face", ["culture", "id"])
def test_real_cards(city, face, purpose):
    assert_same(Verifier(city.trust(), purpose=purpose), city.card(face))


def test_cards_with_disclosures(city):
    verifier = Verifier(city.trust(), purpose=EVERYTHING)
    assert_same(verifier, city.card("id", {k: Disclosable(v) for k, v in PERSON.items()}))
    card = city.card("id", {k: Disclosable(v) for k, v in PERSON.items()})
    jwt, *disclosures, _ = card.split("~")
    assert_same(verifier, "~".join([jwt, *disclosures[1:], ""]))  # one withheld
    assert_same(verifier, "~".join([jwt, disclosures[0], *disclosures, ""]))  # one twice


BAD_HEADERS = [
    b"",
    b"[]",
    b"{",
    b'{"alg":"ES256","alg":"ES256","typ":"dc+sd-jwt","kid":"k1"}',
    b'{"alg":"none","typ":"dc+sd-jwt","kid":"k1"}',
    b'{"alg":"HS256","typ":"dc+sd-jwt","kid":"k1"}',
    b'{"alg":"ES384","typ":"dc+sd-jwt","kid":"k1"}',
    b'{"alg":"ES256","typ":"jwt","kid":"k1"}',
    b'{"alg":"ES256","typ":"dc+sd-jwt","kid":"k9"}',
    b'{"alg":"ES256","typ":"dc+sd-jwt","kid":"k1","jku":"https://x"}',
    b'\xef\xbb\xbf{"alg":"ES256","typ":"dc+sd-jwt","kid":"k1"}',
    b' {"alg":"ES256","typ":"dc+sd-jwt","kid":"k1"} ',
    b'{"alg":"ES256","typ":"dc+sd-jwt","kid":"k1"}x',
    b'{"alg":"ES256","typ":"dc+sd-jwt","kid":"k1","x":NaN}',
    b"\xff\xfe",
]


@pytest.mark.parametrize("header", BAD_HEADERS)
def test_odd_headers(city, header):
    assert_same(Verifier(city.trust(), purpose="museum"), signed(city, header, culture_payload()))


BAD_PAYLOADS = [
    b"",
    b"[]",
    b'{"iss":"https://id.example.gov","iss":"https://id.example.gov"}',
    culture_payload(exp=NOW - 1),
    culture_payload(nbf=NOW + 3600),
    culture_payload(_sd=["abc"]),
    culture_payload(_sd_alg="md5"),
    culture_payload(status={"status_list": {"idx": 10**6, "uri": STATUS_URI}}),
    culture_payload(iss="https://evil.example"),
    culture_payload()[:-1],
    culture_payload() + b" ",
    # The face layout reads the frame's values without parsing it: the members after it must still be refused
    # where the JSON would be, duplicates of a frame name included.
    culture_payload()[:-1] + b',"iss":"https://id.example.gov"}',
    culture_payload()[:-1] + b',"status":{"status_list":{"idx":7,"uri":"' + STATUS_URI.encode() + b'"}}}',
    culture_payload()[:-1] + b',"museum_tier":"student"}',
    culture_payload()[:-1] + b',"x":}',
    culture_payload()[:-1] + b',"x":"\xff"}',
    culture_payload().replace(b"urn:cityid:culture:1", b"urn:cityid:\xff"),
    culture_payload()[:-1] + b',"x":{"_sd":["abc"]}}',
]


@pytest.mark.parametrize("payload", BAD_PAYLOADS)
def test_odd_payloads(city, payload):
    assert_same(Verifier(city.trust(), purpose="museum"), signed(city, HEADER, payload))


def test_a_header_seen_before_is_checked_again_against_another_key(city):
    """Headers of cards the city signed are remembered, with the algorithm they passed with; a trust store whose
    key has another algorithm must still refuse the header, with the header's error, not the signature's."""
    card = signed(city, HEADER, culture_payload())
    Verifier(city.trust(), purpose="museum").verify(encode_qr(card), now=NOW)  # the header is now remembered
    other = jws.public_key_to_jwk(ec.generate_private_key(ec.SECP384R1()).public_key())
    trust = TrustStore.from_jwks([{**other, "kid": "k1", "alg": "ES384"}], issuer="https://id.example.gov",
                                 status_lists={STATUS_URI: StatusList.empty(64)})
    verifier = Verifier(trust, purpose="museum")
    assert outcome(verifier, encode_qr(card)) == outcome(verifier, card)
    assert outcome(verifier, encode_qr(card))[2] == "Credential: signed with ES256, but the trusted key is ES384."


@pytest.mark.parametrize("alg", [None, "ES384", "HS256"])
def test_a_key_recorded_with_an_odd_algorithm_refuses_as_before(city, alg):
    """A TrustStore built by hand may record any alg: the header checks still run, cached header or not."""
    card = signed(city, HEADER + b" ", culture_payload())  # a header of its own, so the cache starts empty for it
    trust = TrustStore("https://id.example.gov", [IssuingKey("k1", alg, city.keys["k1"].public_key())],
                       {STATUS_URI: StatusList.empty(64)})
    verifier = Verifier(trust, purpose="museum")
    with pytest.raises(VerificationError) as expected:
        jws.check_header(json.loads(HEADER), alg, ("dc+sd-jwt",), "credential")
    for _ in range(2):
        assert outcome(verifier, encode_qr(card)) == outcome(verifier, card)
        assert outcome(verifier, encode_qr(card))[2] == expected.value.message


@pytest.mark.parametrize("signature", [b"", b"\x00" * 64, b"\x01" * 63, b"\x01" * 65, b"\xff" * 64])
def test_bad_signatures(city, signature):
    assert_same(Verifier(city.trust(), purpose="museum"), signed(city, HEADER, culture_payload(), signature=signature))


def test_tampered_payload_and_empty_disclosure(city):
    verifier = Verifier(city.trust(), purpose="museum")
    good = signed(city, HEADER, culture_payload())
    jwt = good.split("~")[0]
    h, _, s = jwt.split(".")
    assert_same(verifier, f"{h}.{b64url_encode(culture_payload(museum_tier='platinum'))}.{s}~")
    assert_same(verifier, good + "~")  # an empty disclosure


def test_key_binding(city):
    holder = new_key()
    card = kb_jwt(city.card("culture", holder_key=holder), holder, nonce="n", aud="a")
    verifier = Verifier(city.trust(), purpose=HOLDER)
    assert_same(verifier, card, nonce="n", aud="a")
    assert_same(verifier, card, nonce="other", aud="a")
    assert_same(Verifier(city.trust(), purpose="museum"), card)  # present but not required
    plain = city.card("culture")
    for junk in (".e30.AAAA", "W10.e30.AAAA", "e30.W10.AAAA", "e30.e30."):  # unused KB-JWTs that are not JWTs
        for purpose in ("museum", HOLDER):
            assert_same(Verifier(city.trust(), purpose=purpose), plain + junk, nonce="n", aud="a")


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])  # the city is read-only
@given(st.dictionaries(st.sampled_from(["iss", "vct", "exp", "nbf", "iat", "status", "museum_tier", "_sd", "_sd_alg"]),
                       st.one_of(st.none(), st.booleans(), st.integers(-1, 2 * 10**9), st.text(max_size=5),
                                 st.lists(st.text(max_size=3), max_size=2),
                                 st.just({"status_list": {"idx": 7, "uri": STATUS_URI}})), max_size=9))
def test_random_signed_payloads(city, payload):
    body = {"iss": "https://id.example.gov", "vct": "urn:cityid:culture:1", "exp": NOW + YEAR, **payload}
    assert_same(Verifier(city.trust(), purpose=EVERYTHING), signed(city, HEADER, json.dumps(body).encode()))


FRAME = ('{"iss":"https://id.example.gov","vct":"urn:cityid:culture:1","exp":%d,'
         '"status":{"status_list":{"idx":7,"uri":"%s"}}' % (NOW + YEAR, STATUS_URI))
MEMBER_NAMES = ["iss", "vct", "exp", "status", "nbf", "museum_tier", "age_over_18", "age_over_18_from",
                "age_over_65_from", "_sd", "_sd_alg", "x"]
MEMBER_VALUES = st.one_of(st.none(), st.booleans(), st.integers(-1, 2 * 10**9), st.text(max_size=5),
                          st.sampled_from(["2020-01-01", "2099-01-01", "2027-02-30", "sha-256"]),
                          st.lists(st.text(max_size=3), max_size=2), st.just({"_sd": ["abc"]}))


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(members=st.dictionaries(st.sampled_from(MEMBER_NAMES), MEMBER_VALUES, max_size=6),
       spacing=st.sampled_from(["", " ", "\n", "\t "]), repeat=st.booleans(), extra=st.sampled_from(["", ",", " ,", "}", "]"]))
def test_random_face_layout_payloads(city, members, spacing, repeat, extra):
    """Payloads the issuer's compact JSON makes (the face layout, read without parsing the frame), and near misses."""
    inner = json.dumps(members, separators=(",", ":"))[1:-1]
    if repeat and inner:
        inner = f"{inner},{inner}"  # every member twice
    tail = f",{spacing}{inner}{spacing}{extra}" if inner or spacing or extra else ""
    assert_same(Verifier(city.trust(), purpose=EVERYTHING), signed(city, HEADER, (FRAME + tail + "}").encode()))


def test_caches_follow_the_purpose_and_never_bless_a_misfit_key(city):
    from cryptography.hazmat.primitives.asymmetric import ec

    from verifier_sdk.errors import UnsupportedError

    verifier = Verifier(city.trust(), purpose="museum")
    text = encode_qr(city.card("culture"))
    assert set(verifier.verify(text, now=NOW).claims) == set(CULTURE)
    verifier.purpose = Purpose("tier", vct=None, claims={"museum_tier"})  # replaced after use: the sorted-claims cache must follow
    assert set(verifier.verify(text, now=NOW).claims) == {"museum_tier"}
    other_curve = ec.generate_private_key(ec.SECP384R1()).public_key()
    for _ in range(2):  # refused every time, never remembered as fitting
        with pytest.raises(UnsupportedError):
            jws.verify_raw_signature(b"x.y", b"\0" * 64, "ES256", other_curve, "credential")
