"""Format version 1 (``CID1:``) card texts made by the v1 code keep verifying, with every check they had.

The texts, the city's public keys, its signed trust bundle and status list are pinned in
``vectors/cid1-cards.json`` (made once by the v1 issuer, never regenerated): printed cards
live in wallets for five years, so no later change may stop them from decoding exactly or
from failing the way they should (expired, revoked, suspended, stale status, tampered).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric import ec

from verifier_sdk import Purpose, TrustStore, Verifier, decode_qr
from verifier_sdk.errors import (
    BadSignatureError,
    ExpiredError,
    KeyBindingInvalidError,
    RevokedError,
    StatusStaleError,
    SuspendedError,
    VerificationError,
)
from verifier_sdk.format import jws

VECTORS = json.loads((Path(__file__).parent / "vectors" / "cid1-cards.json").read_text("utf-8"))
NOW = VECTORS["now"]
CARDS = {card["name"]: card for card in VECTORS["cards"]}
PRINTED = [name for name, card in CARDS.items() if "nonce" not in card]
V1_ERRORS = {"revoked": RevokedError, "suspended": SuspendedError}


def trust() -> TrustStore:
    return TrustStore.from_jwks(VECTORS["jwks"], issuer=VECTORS["issuer"], status_lists=VECTORS["status_lists"])


def everything(card: dict, **kwargs) -> Purpose:
    """A purpose that sees every claim the face carries, so the test compares all of them."""
    return Purpose("pinned", vct=card["vct"], claims=set(card["claims"]), require_status=True, **kwargs)


def verify(card: dict, store: TrustStore | None = None, now: float = NOW, **kwargs):
    purpose = everything(card, require_key_binding="nonce" in card)
    binding = {"nonce": card["nonce"], "aud": card["aud"]} if "nonce" in card else {}
    return Verifier(store or trust(), purpose=purpose).verify(card["text"], now=now, **binding, **kwargs)


def test_vectors_are_v1_texts():
    assert len(PRINTED) >= 10 and {c["vct"] for c in CARDS.values()} == {"urn:cityid:id:1", "urn:cityid:perks:1"}
    assert all(card["text"].startswith("CID1:") for card in CARDS.values())


@pytest.mark.parametrize("name", CARDS)
def test_decodes_to_the_exact_sd_jwt(name):
    assert decode_qr(CARDS[name]["text"]) == CARDS[name]["sd_jwt"]


@pytest.mark.parametrize("name", CARDS)
def test_verifies_or_fails_as_its_status_says(name, no_network):
    card = CARDS[name]
    if card["status"] == "valid":
        cred = verify(card)
        assert dict(cred.claims) == card["claims"] and cred.status == "valid" and cred.vct == card["vct"]
    else:
        with pytest.raises(V1_ERRORS[card["status"]]):
            verify(card)


@pytest.mark.parametrize("name", CARDS)
def test_expired_after_exp(name):
    card = CARDS[name]
    with pytest.raises(ExpiredError):
        verify(card, now=card["exp"])


def test_status_list_goes_stale():
    card = CARDS["ana-id"]
    with pytest.raises(StatusStaleError):  # the pinned status list lives 72 hours
        verify(card, now=NOW + 4 * 86400)


@pytest.mark.parametrize("name", ["ana-id", "ana-perks", "cyrillic-id"])
def test_other_key_under_the_same_kid_is_refused(name):
    impostor = jws.public_key_to_jwk(ec.generate_private_key(ec.SECP256R1()).public_key())
    store = TrustStore.from_jwks({"keys": [{**impostor, "kid": "k1", "alg": "ES256"}]}, issuer=VECTORS["issuer"])
    with pytest.raises(BadSignatureError):
        verify(CARDS[name], store)


@pytest.mark.parametrize("name", PRINTED)
def test_tampered_text_is_refused(name):
    text = CARDS[name]["text"]
    middle = len(text) // 2
    tampered = text[:middle] + ("A" if text[middle] != "A" else "B") + text[middle + 1 :]
    with pytest.raises(VerificationError):
        verify({**CARDS[name], "text": tampered})


def test_key_binding_checked():
    card = CARDS["ana-id-key-bound"]
    assert verify(card).key_bound
    with pytest.raises(KeyBindingInvalidError):
        verify({**card, "nonce": "another-nonce"})


def test_bank_preset_still_reads_v1_id_faces():
    cred = Verifier(trust(), purpose="bank").verify(CARDS["ana-id"]["text"], now=NOW)
    assert dict(cred.claims) == CARDS["ana-id"]["claims"]
