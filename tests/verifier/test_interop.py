"""Interoperability with another RFC 9901 implementation: the `sd-jwt` package (OpenWallet Foundation).

Our cards, decoded from their QR, verify with it; SD-JWTs it makes (with disclosures,
with key binding) verify with us given the issuer's key.  Where it departs from RFC 9901
(it does not check exp/nbf/iat, nor typ) we follow the RFC; see the README.
"""

import json

import pytest

pytest.importorskip("sd_jwt")
from jwcrypto.jwk import JWK  # noqa: E402  (sd-jwt's key type)
from sd_jwt.common import SDObj  # noqa: E402
from sd_jwt.holder import SDJWTHolder  # noqa: E402
from sd_jwt.issuer import SDJWTIssuer  # noqa: E402
from sd_jwt.verifier import SDJWTVerifier  # noqa: E402

from factory import NOW, CULTURE, PERSON, RX, YEAR, Disclosable  # noqa: E402
from verifier_sdk import Purpose, TrustStore, Verifier, decode_qr, encode_qr  # noqa: E402
from verifier_sdk.errors import BadSignatureError, DisclosureInvalidError, KeyBindingInvalidError  # noqa: E402
from verifier_sdk.format import jws  # noqa: E402

ISSUER = "https://issuer.example.org"
NONCE, AUD = "1234567890", "https://verifier.example.org"
CLAIMS = {
    "iss": ISSUER,
    "vct": "https://credentials.example.org/identity",
    "exp": NOW + 10 * YEAR,
    "iat": NOW - 60,
    SDObj("given_name"): "Nguyễn Thị",
    SDObj("family_name"): "Mỹ Linh",
    SDObj("birthdate"): "1985-03-09",
    "address": {SDObj("locality"): "Springfield", "country": "US"},
    "nationalities": [SDObj("VN"), "US"],
}
EVERYTHING = Purpose("interop", vct=CLAIMS["vct"], claims={"given_name", "family_name", "birthdate", "address", "nationalities", "iss"})


def their_issuer_key():
    return JWK.generate(kty="EC", crv="P-256", kid="issuer-key-1")


def our_trust(issuer_key):
    public = json.loads(issuer_key.export_public())
    return TrustStore.from_jwks({"keys": [public]}, issuer=ISSUER)


def issue_with_them(issuer_key, holder_key=None, decoys=False):
    return SDJWTIssuer(
        CLAIMS, issuer_key, holder_key, add_decoy_claims=decoys,
        extra_header_parameters={"typ": "dc+sd-jwt", "kid": "issuer-key-1"},
    ).sd_jwt_issuance


@pytest.mark.parametrize("decoys", [False, True])
def test_their_sd_jwt_verifies_with_us(decoys, no_network):
    key = their_issuer_key()
    cred = Verifier(our_trust(key), purpose=EVERYTHING).verify(issue_with_them(key, decoys=decoys), now=NOW)
    assert cred.claims["given_name"] == "Nguyễn Thị" and cred.claims["address"] == {"locality": "Springfield", "country": "US"}
    assert cred.claims["nationalities"] == ["VN", "US"]


def test_their_presentation_with_selected_disclosures_and_key_binding(no_network):
    key, holder = their_issuer_key(), JWK.generate(kty="EC", crv="P-256")
    wallet = SDJWTHolder(issue_with_them(key, holder_key=holder))
    wallet.create_presentation({"given_name": True, "nationalities": [True, True]}, nonce=NONCE, aud=AUD, holder_key=holder)
    presentation = wallet.sd_jwt_presentation
    purpose = Purpose("wallet", vct=CLAIMS["vct"], claims=EVERYTHING.claims, require_key_binding=True)
    # Their KB-JWT carries the real clock's iat, so this check runs on the real clock too.
    cred = Verifier(our_trust(key), purpose=purpose).verify(presentation, nonce=NONCE, aud=AUD)
    assert cred.key_bound and cred.claims["given_name"] == "Nguyễn Thị" and "family_name" not in cred.claims
    # Their presentation also survives our QR transport exactly.
    assert decode_qr(encode_qr(presentation)) == presentation
    with pytest.raises(KeyBindingInvalidError):
        Verifier(our_trust(key), purpose=purpose).verify(presentation, nonce="other", aud=AUD)


def test_their_sd_jwt_tampered_disclosure_rejected():
    key = their_issuer_key()
    issued = issue_with_them(key)
    parts = issued.split("~")
    parts[1] = parts[1][:-2] + ("AA" if parts[1][-2:] != "AA" else "BB")
    with pytest.raises((DisclosureInvalidError, BadSignatureError)):
        Verifier(our_trust(key), purpose=EVERYTHING).verify("~".join(parts), now=NOW)


@pytest.mark.parametrize("face", ["culture", "rx", "id"])
def test_our_cards_verify_with_them(city, face):
    card = city.card(face)
    text = encode_qr(card)
    assert text.startswith("CID2:")
    decoded = decode_qr(text)
    public = JWK.from_json(json.dumps(jws.public_key_to_jwk(city.keys["k1"].public_key())))
    payload = SDJWTVerifier(decoded, lambda iss, header: public).get_verified_payload()
    assert payload["iss"] == city.issuer
    expected = {"culture": CULTURE, "rx": RX, "id": PERSON}[face]
    assert {k: payload[k] for k in expected} == expected


@pytest.fixture(scope="module")
def issued_faces(tmp_path_factory):
    """Faces as the real issuer prints them: a single name, a Cyrillic name, thresholds carried as dates."""
    issuer = pytest.importorskip("issuer")
    from dataclasses import replace

    from issuer.config import default_config

    config = replace(default_config("https://id.example.gov", insecure_demo=True),
                     rx_bin="610591", rx_pcn="CITYRX", rx_group="MUNIRX01")
    now = 1_780_000_000
    with issuer.Issuer.init(tmp_path_factory.mktemp("interop") / "city", insecure_demo=True, now=now, config=config) as city:
        people = [{"given_name": "Aroha", "birthdate": "2009-01-15", "museum_tier": "gold", "rx_eligible": True},
                  {"given_name": "Светлана Геннадьевна", "family_name": "Крутиховская-Белова", "birthdate": "1962-08-30"}]
        cards = [city.issue_card(person, now=now) for person in people]
        public = JWK.from_json(json.dumps(jws.public_key_to_jwk(city.keys.issuing_key("k1").public_key())))
    return cards, public


def test_issued_v2_faces_verify_with_them(issued_faces):
    cards, public = issued_faces
    for card in cards:
        for name, text in card.faces.items():
            assert text.startswith("CID2:")
            payload = SDJWTVerifier(decode_qr(text), lambda iss, header: public).get_verified_payload()
            assert payload["vct"] == f"urn:cityid:{name}:1"
    single = SDJWTVerifier(decode_qr(cards[0].faces["id"]), lambda iss, header: public).get_verified_payload()
    assert single["given_name"] == "Aroha" and "family_name" not in single
    culture = SDJWTVerifier(decode_qr(cards[0].faces["culture"]), lambda iss, header: public).get_verified_payload()
    assert culture["age_over_18_from"] == "2027-02-01" and culture["age_over_21_from"] == "2030-02-01"
    rx = SDJWTVerifier(decode_qr(cards[0].faces["rx"]), lambda iss, header: public).get_verified_payload()
    assert rx["rx_bin"] == "610591" and rx["rx_eligible"] is True
    cyrillic = SDJWTVerifier(decode_qr(cards[1].faces["id"]), lambda iss, header: public).get_verified_payload()
    assert cyrillic["family_name"] == "Крутиховская-Белова"


def test_our_selectively_disclosable_card_verifies_with_them(city):
    card = city.card("id", {k: Disclosable(v) for k, v in PERSON.items()})
    public = JWK.from_json(json.dumps(jws.public_key_to_jwk(city.keys["k1"].public_key())))
    payload = SDJWTVerifier(decode_qr(encode_qr(card)), lambda iss, header: public).get_verified_payload()
    assert {k: payload[k] for k in PERSON} == PERSON


def test_they_do_not_check_expiry_but_we_do(city):
    """A documented departure: sd-jwt 0.10.4 accepts an expired credential; we refuse it."""
    from verifier_sdk.errors import ExpiredError

    card = city.card(exp=NOW - 1)
    public = JWK.from_json(json.dumps(jws.public_key_to_jwk(city.keys["k1"].public_key())))
    SDJWTVerifier(card, lambda iss, header: public).get_verified_payload()  # no complaint from them
    with pytest.raises(ExpiredError):
        Verifier(city.trust(), purpose="museum").verify(card, now=NOW)
