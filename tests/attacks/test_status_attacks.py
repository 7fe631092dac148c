"""Revocation data an attacker controls or replays: status lists that are wrong, old, forged or bombs.

A status list that fails its checks does not stop TrustStore.load; it is recorded, and every card
that needs it fails with ``status_unavailable`` (README, "Trust data").
"""

from __future__ import annotations

import zlib

import pytest

from factory import STATUS_URI, new_key
from verifier_sdk import StatusList
from verifier_sdk.format.strict import b64url_encode

#: 64 MiB of zeros deflates to about 65 KB: the classic bomb.
BOMB_BYTES = 64 << 20


@pytest.fixture(scope="module")
def bomb_lst() -> str:
    return b64url_encode(zlib.compress(bytes(BOMB_BYTES), 9))


def test_revoked_and_suspended_cards(desk):
    """The baseline the other tests lean on: a genuine list is read and obeyed."""
    desk.city.status[7] = StatusList.INVALID
    desk.publish()
    desk.refused(desk.qr(), "revoked")
    desk.city.status[7] = StatusList.SUSPENDED
    desk.publish()
    desk.refused(desk.qr(), "suspended")
    desk.city.status[7] = 3
    desk.publish()
    desk.refused(desk.qr(), "status_unavailable")


@pytest.mark.parametrize("idx", [1024 * 4, 10**6, 2**31, 2**63, 10**30, -1, -(2**63)], ids=repr)
def test_status_index_out_of_range(desk, idx):
    desk.refused(desk.qr(idx=idx), "status_unavailable")


@pytest.mark.parametrize("idx", ["7", 7.0, True, None, [7]], ids=repr)
def test_status_index_not_an_integer(desk, idx):
    payload = desk.payload(age_over_65=False, museum_tier="gold")
    payload["status"]["status_list"]["idx"] = idx
    from verifier_sdk.format.strict import json_dumps

    desk.refused(desk.signed({"alg": "ES256", "typ": "dc+sd-jwt", "kid": "k1"}, json_dumps(payload)), "malformed")


def test_status_missing_where_the_purpose_requires_it(desk):
    desk.refused(desk.qr(idx=None), "status_unavailable")


def test_status_list_for_another_sub(desk):
    desk.publish(status_token=desk.status_token(sub="https://id.example.gov/status/2"))
    desk.refused(desk.qr(), "status_unavailable")
    # The card names a list the trust data does not have at all.
    desk.publish()
    from verifier_sdk.format.strict import json_dumps

    payload = desk.payload(age_over_65=False, museum_tier="gold")
    payload["status"]["status_list"]["uri"] = "https://id.example.gov/status/2"
    desk.refused(desk.signed({"alg": "ES256", "typ": "dc+sd-jwt", "kid": "k1"}, json_dumps(payload)), "status_unavailable")


def test_status_list_signed_by_an_untrusted_key(desk):
    # The city's kid on an attacker's signature, an unknown kid, and the trust bundle's own root key.
    desk.publish(status_token=desk.status_token(signing_key=new_key()))
    desk.refused(desk.qr(), "status_unavailable")
    desk.city.keys["k9"] = new_key()
    rogue = desk.status_token(kid="k9")
    del desk.city.keys["k9"]
    desk.publish(status_token=rogue)
    desk.refused(desk.qr(), "status_unavailable")
    desk.publish(status_token=desk.status_token(signing_key=desk.city.root))
    desk.refused(desk.qr(), "status_unavailable")


def test_status_list_signed_by_a_withdrawn_key(desk):
    desk.city.keys["k2"] = new_key()
    desk.publish(status_token=desk.status_token(kid="k1"), withdrawn=("k1",))
    desk.refused(desk.qr(kid="k2"), "status_unavailable")


def test_status_list_expired(desk):
    desk.publish(status_token=desk.status_token(exp=desk.now - 1))
    desk.refused(desk.qr(), "status_stale")


def test_status_list_stale_beyond_the_purposes_limit(desk):
    # bank allows 2 days, museum 7 (README purposes table).
    desk.publish(status_token=desk.status_token(age=3 * 86400))
    desk.refused(desk.qr("id"), "status_stale", "bank")
    assert desk.verify(desk.qr()).status == "valid"  # 3 days is fine for a museum
    desk.publish(status_token=desk.status_token(age=8 * 86400))
    desk.refused(desk.qr(), "status_stale", "museum")
    desk.refused(desk.qr(), "status_stale", "pharmacy")


def test_status_list_decompression_bomb(desk, bomb_lst, expect):
    # Swap in the bomb as a signed claim: the city's key signs it, so only the size cap stands in the way.
    from verifier_sdk.format import jws

    claims = {"sub": STATUS_URI, "iss": desk.city.issuer, "iat": desk.now - 60, "status_list": {"bits": 2, "lst": bomb_lst}}
    token = jws.sign({"typ": "statuslist+jwt", "kid": "s1"}, claims, desk.city.keys["s1"], "ES256")
    desk.publish(status_token=token)
    desk.refused(desk.qr(), "status_unavailable", seconds=5, mib=48)
    expect("malformed", lambda: StatusList.from_claim({"bits": 2, "lst": bomb_lst}), seconds=5, mib=24)


@pytest.mark.parametrize(
    "claim",
    [
        {"bits": 2, "lst": b64url_encode(zlib.compress(b"\0" * 10)[:-3])},  # truncated
        {"bits": 2, "lst": b64url_encode(zlib.compress(b"\0" * 10) + b"\0")},  # trailing data
        {"bits": 2, "lst": b64url_encode(zlib.compress(b"\0" * 10)[2:])},  # raw deflate, no zlib header
        {"bits": 2, "lst": b64url_encode(zlib.compress(b""))},  # empty list
        {"bits": 3, "lst": b64url_encode(zlib.compress(b"\0"))},
        {"bits": True, "lst": b64url_encode(zlib.compress(b"\0"))},
        {"bits": 2, "lst": b64url_encode(zlib.compress(b"\0")) + "="},
        {"bits": 2, "lst": "eNo76fITAAPfAgc "},
        {"bits": 2},
        {"lst": "eNo76fITAAPfAgc"},
        {"bits": 2, "lst": 5},
        [2, "eNo76fITAAPfAgc"],
        "eNo76fITAAPfAgc",
        None,
    ],
    ids=lambda c: repr(c)[:40],
)
def test_status_list_claim_malformed(claim, expect):
    expect("malformed", lambda: StatusList.from_claim(claim))


@pytest.mark.parametrize("value", [b"1e400", b"1" + b"0" * 400, b"-1", b'"yesterday"'], ids=["inf", "huge-int", "negative", "string"])
def test_status_list_token_iat_not_a_date(desk, value):
    # A huge iat used to raise OverflowError (math.isfinite) out of TrustStore.load.
    from verifier_sdk.format import jws
    from verifier_sdk.format.strict import json_dumps

    claims = json_dumps({"sub": STATUS_URI, "iat": 1, "status_list": desk.city.status.to_claim()}).replace(b'"iat":1', b'"iat":' + value)
    token = desk.signed({"alg": "ES256", "typ": "statuslist+jwt", "kid": "s1"}, claims, key=desk.city.keys["s1"])[:-1]
    desk.publish(status_token=token)
    desk.refused(desk.qr(), "status_unavailable")
    assert desk.trust().problems[STATUS_URI].code == "malformed"


@pytest.mark.parametrize(
    "header",
    [{"alg": "none", "typ": "statuslist+jwt", "kid": "s1"}, {"alg": "ES256", "typ": "statuslist+jwt", "kid": "s1", "jku": "https://evil.example/jwks"},
     {"alg": "ES256", "typ": "statuslist+jwt", "kid": "../k1"}, {"alg": "ES256", "typ": "JWT", "kid": "s1"},
     {"alg": ["ES256"], "typ": "statuslist+jwt", "kid": "s1"}, {"alg": "ES256", "typ": "statuslist+jwt", "kid": ["s1"]}],
    ids=["alg-none", "jku", "kid-path", "typ-jwt", "alg-list", "kid-list"],
)
def test_status_list_token_with_a_hostile_header(desk, header, no_network):
    from verifier_sdk.format.strict import json_dumps

    claims = {"sub": STATUS_URI, "iat": desk.now - 60, "status_list": desk.city.status.to_claim()}
    token = desk.signed(header, json_dumps(claims), alg="none" if header["alg"] == "none" else "ES256")[:-1]
    desk.publish(status_token=token)
    desk.refused(desk.qr(), "status_unavailable")


def test_status_list_signed_by_a_retired_key(desk):
    """A retired key (window over) whose private half leaks later must not vouch for fresh revocation data."""
    desk.city.keys["k2"] = new_key()
    desk.publish(status_token=desk.status_token(kid="k1"), windows={"k1": (desk.now - 400 * 86400, desk.now - 30 * 86400)})
    desk.refused(desk.qr(kid="k2"), "status_unavailable")


def test_status_list_token_with_non_ascii_text_is_unusable(desk):
    """A non-ASCII character in a status list token handed to from_jwks is a typed problem, not a crash."""
    from factory import STATUS_URI

    from verifier_sdk import TrustStore

    token = desk.city.status_token()
    header, payload, signature = token.split(".")
    trust = TrustStore.from_jwks(desk.city.jwks(), issuer=desk.city.issuer, status_lists={STATUS_URI: f"{header}.{payload}é.{signature}"})
    assert trust.problems[STATUS_URI].code == "malformed"
