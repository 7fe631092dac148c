"""Whose fault: every refusal is NOT VALID (the card) or CANNOT CHECK (not the card's), and reads as sentences."""

from __future__ import annotations

import pytest

from factory import NOW, YEAR, new_key, pem
from verifier_sdk import TrustStore, Verifier, clean_scan, encode_qr
from verifier_sdk.errors import ALL_ERRORS, CANNOT_CHECK, NOT_VALID, VerificationError
from verifier_sdk.format.base45 import ALPHABET


def load(city, folder):
    return TrustStore.load(folder, root_key=pem(city.root.public_key()))


def refusal(trust, text, now=NOW, purpose="museum") -> VerificationError:
    with pytest.raises(VerificationError) as info:
        Verifier(trust, purpose=purpose).verify(text, now=now)
    return info.value


def test_every_error_class_speaks_in_sentences_and_has_a_state():
    for cls in (VerificationError, *ALL_ERRORS):
        texts = [cls.summary, cls.advice, *(text for pair in cls.variants.values() for text in pair)]
        for text in texts:
            assert text[0].isupper() and text.endswith("."), (cls.__name__, text)
        assert cls.state in (NOT_VALID, CANNOT_CHECK)
        assert cls().message[0].isupper() and cls().message.endswith(".")


def test_messages_raised_deep_inside_are_sentences(city):
    trust = city.trust()
    good = encode_qr(city.card())
    for text in ["garbage", "CID1:%%%", good[:-7], "CID1:", good[:40] + ("A" if good[40] != "A" else "B") + good[41:], "a.b.c~", city.card(exp=NOW - 1)]:
        err = refusal(trust, text)
        assert err.message[0].isupper() and err.message.endswith("."), err.message


@pytest.mark.parametrize(("text", "code", "state"), [
    ("garbage", "malformed", CANNOT_CHECK),  # a misread scan is not the card's fault
    ("CID9:ABC", "unsupported", CANNOT_CHECK),  # a newer format than this desk reads
])
def test_unreadable_and_newer_formats_cannot_be_checked(city, text, code, state):
    err = refusal(city.trust(), text)
    assert (err.code, err.state) == (code, state)


def test_card_faults_are_not_valid(city):
    trust = city.trust()
    assert refusal(trust, city.card(exp=NOW - 1)).state == NOT_VALID
    city.status[7] = 1
    assert refusal(city.trust(), city.card()).state == NOT_VALID
    forged = city.card(signing_key=new_key())
    assert (refusal(trust, forged).code, refusal(trust, forged).state) == ("bad_signature", NOT_VALID)
    unsigned_type = city.raw({"iss": city.issuer, "exp": NOW + YEAR})  # signed by the city, but no vct
    assert (refusal(trust, unsigned_type).code, refusal(trust, unsigned_type).state) == ("malformed", NOT_VALID)


def test_wrong_face_and_missing_trust_data_cannot_be_checked(city, tmp_path):
    err = refusal(city.trust(), city.card("id"))
    assert (err.code, err.state) == ("purpose_not_satisfied", CANNOT_CHECK)
    folder = city.publish(tmp_path / "pub")
    (folder / "status" / "1.jwt").unlink()
    err = refusal(load(city, folder), city.card())
    assert (err.code, err.state) == ("status_unavailable", CANNOT_CHECK)
    err = refusal(city.trust(iat=NOW - 30 * 86400, ttl=90 * 86400), city.card())
    assert (err.code, err.state) == ("status_stale", CANNOT_CHECK)
    err = refusal(city.trust(), city.card(payload_extra={"nbf": NOW + 86400}))
    assert (err.code, err.state) == ("not_yet_valid", CANNOT_CHECK)


def test_unknown_key_newer_than_the_trust_data_cannot_be_checked_but_after_a_sync_is_not_valid(city, tmp_path):
    trust = load(city, city.publish(tmp_path / "pub"))  # the bundle was signed at NOW - 3600
    city.keys["k2"] = new_key()
    newer_card = city.card(kid="k2", payload_extra={"iat": NOW - 60})  # issued after the desk's bundle
    err = refusal(trust, newer_card)
    assert (err.code, err.state) == ("unknown_key", CANNOT_CHECK) and "Sync" in err.advice
    older_card = city.card(kid="k2", payload_extra={"iat": NOW - 7200})  # the bundle should have listed its key
    err = refusal(trust, older_card)
    assert (err.code, err.state) == ("unknown_key", NOT_VALID)


def test_withdrawn_key_is_not_valid(city, tmp_path):
    trust = load(city, city.publish(tmp_path / "pub", withdrawn=("k1",)))
    err = refusal(trust, city.card())
    assert (err.code, err.state) == ("unknown_key", NOT_VALID)


def test_expired_card_signed_by_a_retired_key_is_expired(city, tmp_path):
    """Measured: 'unknown_key ... sync the trust data' for a card that simply expired."""
    city.keys["k2"] = new_key()
    trust = load(city, city.publish(tmp_path / "pub", windows={"k1": (NOW - 6 * YEAR, NOW - YEAR)}))
    expired = city.card(kid="k1", exp=NOW - YEAR - 86400)
    err = refusal(trust, expired)
    assert (err.code, err.state) == ("expired", NOT_VALID) and err.details == {"expired_on": err.message[-11:-1]}
    # Still unexpired but the key is retired: the city no longer accepts it (and a forgery is still a forgery).
    err = refusal(trust, city.card(kid="k1", exp=NOW + YEAR))
    assert (err.code, err.state) == ("unknown_key", NOT_VALID)
    assert refusal(trust, city.card(kid="k1", exp=NOW - YEAR - 86400, signing_key=new_key())).code == "bad_signature"
    withdrawn = load(city, city.publish(tmp_path / "pub2", withdrawn=("k1",), windows={"k1": (NOW - 6 * YEAR, NOW - YEAR)}))
    assert refusal(withdrawn, expired).code == "unknown_key"  # a withdrawn key vouches for nothing


def test_base45_has_no_lowercase_so_uppercasing_a_scan_is_lossless():
    assert ALPHABET == ALPHABET.upper() and not any(c.islower() for c in ALPHABET)


def test_clean_scan_undoes_caps_lock_but_verify_stays_strict(city):
    trust = city.trust()
    text = encode_qr(city.card())
    for typed in (text.lower(), text.swapcase(), f"  {text.lower()}\r\n", "Cid2:" + text[5:].lower()):
        assert clean_scan(typed) == text
        assert Verifier(trust, purpose="museum").verify(clean_scan(typed), now=NOW).claims["museum_tier"] == "gold"
    assert refusal(trust, text.lower()).code == "malformed"  # the SDK takes only the exact QR text
    assert refusal(trust, f" {text}").code == "malformed"
    sd_jwt = city.card()
    assert clean_scan(f" {sd_jwt}\n") == sd_jwt  # base64url is case-sensitive: never changed


def test_trust_pointed_at_a_city_folder_names_the_publication(city, tmp_path):
    city_dir = tmp_path / "city"
    city.publish(city_dir / "publication")
    with pytest.raises(VerificationError) as info:
        load(city, city_dir)
    assert "publication" in info.value.message and "trust-bundle.jwt" in info.value.message
    assert str(city_dir / "publication") in info.value.message
