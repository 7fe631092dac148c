"""Verifier.verify end to end: purposes, validity, status, and the offline guarantee."""

from datetime import datetime, timedelta, timezone

import pytest

from factory import NOW, CULTURE, PERSON, RX, STATUS_URI, YEAR, Disclosable
from verifier_sdk import Purpose, StatusList, TrustStore, Verifier, VerifiedCredential, decode_qr, encode_qr
from verifier_sdk.errors import (
    ExpiredError,
    MalformedError,
    NotYetValidError,
    PurposeNotSatisfiedError,
    RevokedError,
    StatusStaleError,
    StatusUnavailableError,
    SuspendedError,
    UnknownKeyError,
    UntrustedIssuerError,
    VerificationError,
)

ALL_CULTURE = Purpose("test", vct="urn:cityid:culture:1", claims=set(CULTURE), require_status=True)


def test_museum_sees_only_its_claims_from_qr_text(city, no_network):
    text = encode_qr(city.card("culture"))
    cred = Verifier(city.trust(), purpose="museum").verify(text, now=NOW)
    assert isinstance(cred, VerifiedCredential)
    assert dict(cred.claims) == CULTURE
    assert cred.vct == "urn:cityid:culture:1" and cred.issuer == city.issuer and cred.status == "valid"
    assert cred.expires_at == datetime.fromtimestamp(NOW + YEAR, tz=timezone.utc)


def test_bank_sees_identity_never_culture(city, no_network):
    cred = Verifier(city.trust(), purpose="bank").verify(encode_qr(city.card("id")), now=NOW)
    assert dict(cred.claims) == PERSON


def test_pharmacy_sees_only_discount(city):
    cred = Verifier(city.trust(), purpose="pharmacy").verify(city.card("rx"), now=NOW)
    assert dict(cred.claims) == RX
    with pytest.raises(PurposeNotSatisfiedError):  # the museum's face is not the pharmacy's
        Verifier(city.trust(), purpose="pharmacy").verify(city.card("culture"), now=NOW)


def test_claims_a_purpose_may_not_see_never_reach_the_caller(city):
    # The card carries a name on its culture face: the museum still never sees it.
    card = city.card("culture", {**CULTURE, "given_name": "Amara", "family_name": Disclosable("Okonkwo")})
    cred = Verifier(city.trust(), purpose="museum").verify(card, now=NOW)
    assert "given_name" not in cred.claims and "family_name" not in cred.claims
    assert "Amara" not in repr(cred) and "Okonkwo" not in repr(cred)


def test_wrong_face_for_the_desk(city):
    with pytest.raises(PurposeNotSatisfiedError):
        Verifier(city.trust(), purpose="bank").verify(city.card("culture"), now=NOW)
    with pytest.raises(PurposeNotSatisfiedError):
        Verifier(city.trust(), purpose="museum").verify(city.card("id"), now=NOW)


def test_required_claim_missing(city):
    card = city.card("culture", {"museum_tier": "gold"})
    with pytest.raises(PurposeNotSatisfiedError):
        Verifier(city.trust(), purpose="pharmacy").verify(card, now=NOW)


def test_raw_sd_jwt_and_qr_give_the_same_result(city):
    card = city.card("culture", {k: Disclosable(v) for k, v in CULTURE.items()})
    assert decode_qr(encode_qr(card)) == card
    v = Verifier(city.trust(), purpose=ALL_CULTURE)
    assert v.verify(card, now=NOW).claims == v.verify(encode_qr(card), now=NOW).claims == CULTURE


@pytest.mark.parametrize("now,error", [(NOW + YEAR, ExpiredError), (NOW + YEAR + 1, ExpiredError)])
def test_expired(city, now, error):
    with pytest.raises(error):
        Verifier(city.trust(iat=now - 60), purpose="museum").verify(city.card(), now=now)


def test_still_valid_one_second_before_expiry(city):
    Verifier(city.trust(), purpose="museum").verify(city.card(exp=NOW + 1), now=NOW)


def test_expiry_is_required(city):
    card = city.raw({"iss": city.issuer, "vct": "urn:cityid:culture:1", **CULTURE})
    with pytest.raises(MalformedError, match="exp"):
        Verifier(city.trust(), purpose=Purpose("any", claims=CULTURE)).verify(card, now=NOW)


@pytest.mark.parametrize("claim", ["nbf", "iat"])
def test_not_yet_valid(city, claim):
    card = city.card(payload_extra={claim: NOW + 3600})
    with pytest.raises(NotYetValidError):
        Verifier(city.trust(), purpose="museum").verify(card, now=NOW)
    # Within the clock skew allowance it passes.
    Verifier(city.trust(), purpose="museum").verify(city.card(payload_extra={claim: NOW + 60}), now=NOW)


@pytest.mark.parametrize("claim", ["exp", "nbf", "iat"])
def test_dates_must_be_numbers(city, claim):
    card = city.card(payload_extra={claim: "tomorrow"})
    with pytest.raises(MalformedError):
        Verifier(city.trust(), purpose="museum").verify(card, now=NOW)


@pytest.mark.parametrize("value,error", [(1, RevokedError), (2, SuspendedError), (3, StatusUnavailableError)])
def test_status_values(city, value, error):
    city.status[7] = value
    with pytest.raises(error) as info:
        Verifier(city.trust(), purpose="museum").verify(city.card(idx=7), now=NOW)
    assert info.value.code == error.code
    # The neighbours are untouched.
    Verifier(city.trust(), purpose="museum").verify(city.card(idx=8), now=NOW)


def test_status_index_outside_the_list(city):
    with pytest.raises(StatusUnavailableError):
        Verifier(city.trust(), purpose="museum").verify(city.card(idx=len(city.status)), now=NOW)


def test_status_list_missing(city):
    trust = TrustStore.from_jwks(city.jwks(), issuer=city.issuer)
    with pytest.raises(StatusUnavailableError):
        Verifier(trust, purpose="museum").verify(city.card(), now=NOW)


def test_status_required_by_presets(city):
    with pytest.raises(StatusUnavailableError):
        Verifier(city.trust(), purpose="museum").verify(city.card(idx=None), now=NOW)
    cred = Verifier(city.trust(), purpose=Purpose("lenient", claims=CULTURE)).verify(city.card(idx=None), now=NOW)
    assert cred.status is None


def test_status_stale_beyond_the_purpose_limit(city):
    trust = city.trust(iat=NOW - 3 * 86400, ttl=86400)
    Verifier(trust, purpose="museum").verify(city.card(), now=NOW)  # 7 days allowed
    with pytest.raises(StatusStaleError):
        Verifier(trust, purpose="bank").verify(city.card("id"), now=NOW)  # 2 days allowed
    strict = Purpose("strict", vct="urn:cityid:culture:1", claims={"museum_tier"}, max_status_age=timedelta(hours=1))
    with pytest.raises(StatusStaleError):
        Verifier(trust, purpose=strict).verify(city.card(), now=NOW)


def test_status_list_expired(city):
    trust = city.trust(iat=NOW - 3600, exp=NOW - 1)
    with pytest.raises(StatusStaleError):
        Verifier(trust, purpose="museum").verify(city.card(), now=NOW)


def test_status_list_for_another_sub_is_unusable(city):
    trust = TrustStore.from_jwks(city.jwks(), issuer=city.issuer, status_lists={STATUS_URI: city.status_token(sub=STATUS_URI + "x")})
    with pytest.raises(StatusUnavailableError):
        Verifier(trust, purpose="museum").verify(city.card(), now=NOW)


def test_status_list_signed_by_untrusted_key(city):
    from factory import new_key

    bad = city.status_token(signing_key=new_key())
    trust = TrustStore.from_jwks(city.jwks(), issuer=city.issuer, status_lists={STATUS_URI: bad})
    with pytest.raises(StatusUnavailableError):
        Verifier(trust, purpose="museum").verify(city.card(), now=NOW)


def test_trusted_status_list_object(city):
    trust = TrustStore.from_jwks(city.jwks(), issuer=city.issuer, status_lists={STATUS_URI: StatusList.from_claim(city.status.to_claim())})
    Verifier(trust, purpose="museum").verify(city.card(), now=NOW)


def test_other_issuer(city):
    from factory import TestCity

    other = TestCity(issuer="https://id.elsewhere.example")
    with pytest.raises(UntrustedIssuerError):
        Verifier(city.trust(), purpose="museum").verify(other.card(), now=NOW)


def test_unknown_kid(city):
    from factory import new_key

    card = city.card(kid="k9", signing_key=new_key())
    with pytest.raises(UnknownKeyError):
        Verifier(city.trust(), purpose="museum").verify(card, now=NOW)


def test_now_accepts_datetime_and_default(city):
    v = Verifier(city.trust(), purpose="museum")
    v.verify(city.card(), now=datetime.fromtimestamp(NOW, tz=timezone.utc))
    city2_card = city.card(exp=10**10)
    # With the real clock, the status token (iat in the fixed past) is stale for a strict purpose only.
    Verifier(city.trust(iat=NOW), purpose=Purpose("x", claims=CULTURE, max_status_age=timedelta(days=36500))).verify(city2_card)


@pytest.mark.parametrize("value", [None, 42, b"bytes", ["list"]])
def test_non_string_input(city, value):
    with pytest.raises(MalformedError):
        Verifier(city.trust(), purpose="museum").verify(value, now=NOW)


def test_one_megabyte_of_text_fails_fast(city):
    for text in ("CID1:" + "A" * 1_000_000, "e" * 1_000_000):
        with pytest.raises(MalformedError):
            Verifier(city.trust(), purpose="museum").verify(text, now=NOW)


def test_every_failure_is_a_verification_error_with_a_stable_code(city):
    from verifier_sdk.errors import ALL_ERRORS, BY_CODE

    assert len(BY_CODE) == len(ALL_ERRORS)
    for cls in ALL_ERRORS:
        err = cls()
        assert isinstance(err, VerificationError) and err.code and err.message and err.advice


# -- age predicates carried as dates (format v2 culture faces) -------------------------------------


def test_age_from_date_is_a_plain_boolean_at_now(city):
    card = city.card("culture", {"age_over_18": True, "age_over_65_from": "2027-04-01", "museum_tier": "gold"})
    april = datetime(2027, 4, 1, tzinfo=timezone.utc).timestamp()
    trust = TrustStore.from_jwks(city.jwks(), issuer=city.issuer, status_lists={STATUS_URI: city.status})  # never stale
    for now, expected in ((april - 86400, False), (april - 1, False), (april, True), (april + 86400, True)):
        cred = Verifier(trust, purpose="museum").verify(card, now=now)
        assert cred.claims["age_over_65"] is expected and "age_over_65_from" not in cred.claims


@pytest.mark.parametrize("value", ["2027-4-01", "2027-02-30", 20270401, None, True, "soon", "2027-04-01T00:00"])
def test_age_from_that_is_not_a_date_is_malformed(city, value):
    card = city.card("culture", {"age_over_65_from": value, "museum_tier": "gold"})
    with pytest.raises(MalformedError):
        Verifier(city.trust(), purpose="museum").verify(card, now=NOW)


def test_age_predicate_and_its_date_together_are_malformed(city):
    card = city.card("culture", {"age_over_65": False, "age_over_65_from": "2027-04-01"})
    with pytest.raises(MalformedError, match="both"):
        Verifier(city.trust(), purpose="museum").verify(card, now=NOW)


def test_age_dates_are_checked_in_the_order_the_card_gives_them(city):
    """Two bad dates: the error names the first one on the card, whatever the names' order."""
    for first, second in (("age_over_65_from", "age_over_18_from"), ("age_over_18_from", "age_over_65_from")):
        card = city.card("culture", {first: 5, second: "x", "museum_tier": "gold"})
        with pytest.raises(MalformedError, match=first):
            Verifier(city.trust(), purpose="museum").verify(card, now=NOW)


def test_a_negative_clock_skew_is_refused(city):
    with pytest.raises(ValueError, match="clock_skew"):
        Verifier(city.trust(), clock_skew=timedelta(minutes=-5))


def test_library_sees_only_names_and_a_single_name_is_enough(city):
    cred = Verifier(city.trust(), purpose="library").verify(encode_qr(city.card("id")), now=NOW)
    assert dict(cred.claims) == {"given_name": PERSON["given_name"], "family_name": PERSON["family_name"]}
    single = city.card("id", {"given_name": "Aroha", "birthdate": "1972-05-17", "card_number": "100000000008"})
    assert dict(Verifier(city.trust(), purpose="library").verify(single, now=NOW).claims) == {"given_name": "Aroha"}
    assert Verifier(city.trust(), purpose="bank").verify(single, now=NOW).claims["given_name"] == "Aroha"
    nameless = city.card("id", {"birthdate": "1972-05-17", "card_number": "100000000008"})
    with pytest.raises(PurposeNotSatisfiedError):
        Verifier(city.trust(), purpose="library").verify(nameless, now=NOW)
