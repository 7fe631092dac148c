"""Key binding (holder devices, not printed cards): every way a KB-JWT can be missing or wrong.

The CLI's presets never require key binding, so these go through Verifier.verify only.
"""

from __future__ import annotations

import pytest

from factory import kb_jwt, new_key
from verifier_sdk.format import jws
from verifier_sdk.format.strict import b64url_encode, json_dumps


def refused(desk, text, code, **kwargs):
    return desk.refused(text, code, desk.kb_purpose, channels=("sdk",), nonce=desk.nonce, aud=desk.aud, **kwargs)


def test_key_bound_presentation_is_accepted(desk, holder):
    cred = desk.verify(desk.bound(desk.card(holder_key=holder), holder), desk.kb_purpose, nonce=desk.nonce, aud=desk.aud)
    assert cred.key_bound and cred.claims == {"museum_tier": "gold", "age_over_65": False}


def test_kb_jwt_missing(desk, holder):
    refused(desk, desk.card(holder_key=holder), "key_binding_required")
    refused(desk, desk.qr(holder_key=holder), "key_binding_required")


def test_kb_jwt_with_wrong_nonce(desk, holder):
    refused(desk, desk.bound(desk.card(holder_key=holder), holder, nonce="replayed-nonce"), "key_binding_invalid")


def test_kb_jwt_with_wrong_aud(desk, holder):
    refused(desk, desk.bound(desk.card(holder_key=holder), holder, aud="https://other-desk.example"), "key_binding_invalid")


def test_kb_jwt_with_wrong_sd_hash(desk, holder):
    card = desk.card(holder_key=holder)
    refused(desk, desk.bound(card, holder, sd_hash=b64url_encode(b"\0" * 32)), "key_binding_invalid")
    # Bound to another presentation of the same holder (another card face).
    other = desk.bound(desk.card(holder_key=holder, claims={"rx_eligible": True}), holder)
    refused(desk, card + other.rsplit("~", 1)[1], "key_binding_invalid")


@pytest.mark.parametrize("offset", [-3600, -301, 3600, 10 * 365 * 86400], ids=["hour-old", "just-too-old", "hour-ahead", "decade-ahead"])
def test_kb_jwt_with_wrong_iat(desk, holder, offset):
    refused(desk, desk.bound(desk.card(holder_key=holder), holder, iat=desk.now + offset), "key_binding_invalid")


@pytest.mark.parametrize("iat", [None, "now", True, 1e400], ids=repr)
def test_kb_jwt_with_iat_not_a_date(desk, holder, iat):
    card = desk.card(holder_key=holder)
    from verifier_sdk.format.sdjwt import SDJWT, digest

    claims = json_dumps({"iat": 1, "aud": desk.aud, "nonce": desk.nonce, "sd_hash": digest(SDJWT.parse(card).presentation())})
    claims = claims.replace(b'"iat":1', b'"iat":' + (b"1e400" if iat == 1e400 else json_dumps(iat)))
    kb = desk.signed({"alg": "ES256", "typ": "kb+jwt"}, claims, key=holder)[:-1]
    refused(desk, card + kb, "key_binding_invalid")


def test_kb_jwt_signed_by_another_key(desk, holder):
    refused(desk, desk.bound(desk.card(holder_key=holder), new_key()), "key_binding_invalid")


def test_kb_jwt_for_a_card_without_cnf(desk, holder):
    refused(desk, desk.bound(desk.card(), holder), "key_binding_invalid")


@pytest.mark.parametrize("header", [{"alg": "none", "typ": "kb+jwt"}, {"alg": "HS256", "typ": "kb+jwt"}, {"alg": "ES256", "typ": "JWT"},
                                    {"alg": "ES256"}, {"alg": "ES256", "typ": "kb+jwt", "jwk": {}}, {"alg": ["ES256"], "typ": "kb+jwt"}],
                         ids=["none", "hs256", "typ-jwt", "typ-missing", "jwk-header", "alg-list"])
def test_kb_jwt_with_a_bad_header(desk, holder, header):
    card = desk.card(holder_key=holder)
    from verifier_sdk.format.sdjwt import SDJWT, digest

    claims = {"iat": desk.now, "aud": desk.aud, "nonce": desk.nonce, "sd_hash": digest(SDJWT.parse(card).presentation())}
    alg = header["alg"] if header["alg"] in ("none", "HS256") else "ES256"
    key = jws.public_key_to_jwk(holder.public_key())["x"].encode() if alg == "HS256" else holder
    refused(desk, card + desk.signed(header, claims, key=key, alg=alg)[:-1], "key_binding_invalid")


def test_kb_jwt_holder_key_swapped_in_cnf(desk, holder):
    # The attacker binds with their own key: the cnf is signed by the city, so the card cannot name it.
    attacker = new_key()
    refused(desk, kb_jwt(desk.card(holder_key=holder), attacker, iat=desk.now, nonce=desk.nonce, aud=desk.aud), "key_binding_invalid")
