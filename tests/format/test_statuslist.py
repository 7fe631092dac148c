"""Token Status List: the draft's vectors, hostile lists, and signed status list tokens."""

from __future__ import annotations

import hashlib
import hmac
import json
import random
import tracemalloc
import zlib
from datetime import datetime, timezone
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from hypothesis import given, settings
from hypothesis import strategies as st

from verifier_sdk.errors import (
    BadSignatureError,
    MalformedError,
    StatusUnavailableError,
    UnknownKeyError,
    UnsupportedError,
    VerificationError,
)
from verifier_sdk.format import jws
from verifier_sdk.format.statuslist import (
    MAX_BYTES,
    MAX_TOKEN_CHARS,
    StatusIndexError,
    StatusList,
    StatusListToken,
    make_status_list_token,
    verify_status_list_token,
)
from verifier_sdk.format.strict import b64url_encode, json_dumps

VECTORS = json.loads((Path(__file__).parent / "vectors" / "statuslist.json").read_text())["vectors"]
SUB = "https://id.example.gov/status/1"
ISS = "https://id.example.gov"
IAT = 1_780_000_000


def claim(data: bytes, bits: int = 2, level: int = 9) -> dict:
    return {"bits": bits, "lst": b64url_encode(zlib.compress(data, level))}


# -- the draft's vectors ------------------------------------------------------------------


@pytest.mark.parametrize("vector", VECTORS, ids=[v["name"] for v in VECTORS])
def test_draft_vector_decodes(vector):
    sl = StatusList.from_claim({"bits": vector["bits"], "lst": vector["lst"]})
    assert len(sl) == vector["size"]
    assert sl.bits == vector["bits"]
    if "bytes" in vector:
        assert sl.to_bytes() == bytes.fromhex(vector["bytes"])
    expected = {int(i): v for i, v in vector["statuses"].items()}
    assert {i: v for i, v in enumerate(sl) if v} == {i: v for i, v in expected.items() if v}
    for idx, value in expected.items():
        assert sl[idx] == value


@pytest.mark.parametrize("vector", VECTORS, ids=[v["name"] for v in VECTORS])
def test_draft_vector_encodes_identically(vector):
    sl = StatusList.empty(vector["size"], vector["bits"])
    for idx, value in vector["statuses"].items():
        sl[int(idx)] = value
    # The draft's examples are zlib level 9; the default level (chosen by measurement) decodes to the same list.
    assert sl.to_claim(level=9) == {"bits": vector["bits"], "lst": vector["lst"]}
    assert StatusList.from_claim(sl.to_claim()) == sl


def test_extra_members_are_ignored():
    sl = StatusList.from_claim({"bits": 1, "lst": "eNrbuRgAAhcBXQ", "aggregation_uri": "https://id.example.gov/agg"})
    assert sl.to_bytes() == b"\xb9\xa3"


# -- indexes ---------------------------------------------------------------------------------

SPEC_1BIT = StatusList.from_claim({"bits": 1, "lst": "eNrbuRgAAhcBXQ"})


@pytest.mark.parametrize("idx", [16, 17, -1, -16, 2**64, True, False, 1.0, "0", None, slice(0, 2)])
def test_index_outside_list_is_rejected(idx):
    with pytest.raises(StatusIndexError) as err:
        SPEC_1BIT[idx]
    assert err.value.code == "status_unavailable"
    assert isinstance(err.value, StatusUnavailableError) and isinstance(err.value, IndexError)


def test_setitem_rejects_bad_index_and_value():
    sl = StatusList.empty(8, 2)
    for idx in (8, -1, True):
        with pytest.raises(StatusIndexError):
            sl[idx] = 1
    for value in (4, -1, True, 1.0):
        with pytest.raises(ValueError):
            sl[0] = value


def test_empty_rounds_up_to_whole_bytes():
    assert len(StatusList.empty(5, 2)) == 8
    assert len(StatusList.empty(1, 8)) == 1
    assert len(StatusList.empty(9, 1)) == 16
    for size, bits in ((0, 2), (-1, 2), (True, 2), (8, 3), (8, True)):
        with pytest.raises(ValueError):
            StatusList.empty(size, bits)


def test_constants():
    assert (StatusList.VALID, StatusList.INVALID, StatusList.SUSPENDED) == (0, 1, 2)


# -- hostile claims --------------------------------------------------------------------------


@pytest.mark.parametrize("bits", [0, 3, 16, True, "2", 2.0, None, -2])
def test_bad_bits_are_malformed(bits):
    with pytest.raises(MalformedError):
        StatusList.from_claim({"bits": bits, "lst": "eNrbuRgAAhcBXQ"})


@pytest.mark.parametrize(
    "value",
    [None, [], "eNrbuRgAAhcBXQ", {"bits": 1}, {"lst": "eNrbuRgAAhcBXQ"}, {"bits": 1, "lst": 5}, {"bits": 1, "lst": None}],
)
def test_not_a_status_list_claim(value):
    with pytest.raises(MalformedError):
        StatusList.from_claim(value)


@pytest.mark.parametrize(
    "lst",
    [
        "eNrbuRgAAhcBXQ==",  # padding
        "eNrbuRgAAhcBXR",  # non-canonical final character (low bits set)
        "eNrbuRgAAhcB+Q",  # standard alphabet
        "eNrbuRgAAhc BXQ",  # whitespace
        "eNrbuRgAAhcBX",  # 13 characters: not a whole number of bytes
        "e",
    ],
)
def test_non_canonical_base64url_is_malformed(lst):
    with pytest.raises(MalformedError):
        StatusList.from_claim({"bits": 1, "lst": lst})


def test_raw_deflate_is_rejected():
    raw = zlib.compressobj(9, zlib.DEFLATED, -15)
    data = raw.compress(b"\xb9\xa3") + raw.flush()
    with pytest.raises(MalformedError, match="not zlib"):
        StatusList.from_claim({"bits": 1, "lst": b64url_encode(data)})


def test_gzip_is_rejected():
    gz = zlib.compressobj(9, zlib.DEFLATED, 31)
    data = gz.compress(b"\xb9\xa3") + gz.flush()
    with pytest.raises(MalformedError):
        StatusList.from_claim({"bits": 1, "lst": b64url_encode(data)})


def test_trailing_garbage_after_zlib_stream_is_rejected():
    data = zlib.compress(b"\xb9\xa3", 9) + b"\x00"
    with pytest.raises(MalformedError, match="trailing"):
        StatusList.from_claim({"bits": 1, "lst": b64url_encode(data)})


def test_truncated_zlib_stream_is_rejected():
    data = zlib.compress(bytes(range(256)) * 4, 9)[:-5]
    with pytest.raises(MalformedError):
        StatusList.from_claim({"bits": 1, "lst": b64url_encode(data)})


def test_empty_list_is_rejected():
    with pytest.raises(MalformedError, match="empty"):
        StatusList.from_claim(claim(b""))


def test_list_exactly_at_cap_is_accepted_one_more_byte_is_not():
    assert len(StatusList.from_claim(claim(bytes(MAX_BYTES), 2))) == MAX_BYTES * 4
    with pytest.raises(MalformedError, match="more than"):
        StatusList.from_claim(claim(bytes(MAX_BYTES + 1), 2))


@pytest.mark.parametrize("zeros", [3 * MAX_BYTES, 8 * MAX_BYTES], ids=["12MiB", "32MiB"])
def test_decompression_bomb_is_capped(zeros):
    bomb = claim(bytes(zeros), 8)  # about 1 KB of lst per MiB of zeros
    assert len(bomb["lst"]) < zeros // 500
    tracemalloc.start()
    try:
        with pytest.raises(MalformedError, match="more than"):
            StatusList.from_claim(bomb)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    # The cap, the buffer's 1/8 growth slack and one 256 KiB step; never the bomb's size.
    assert peak < MAX_BYTES * 5 // 4 + (256 << 10)


@settings(max_examples=300, deadline=None)
@given(
    st.one_of(
        st.none(),
        st.text(),
        st.dictionaries(st.text(max_size=8), st.one_of(st.none(), st.booleans(), st.integers(), st.text(), st.floats())),
        st.fixed_dictionaries(
            {
                "bits": st.one_of(st.sampled_from([1, 2, 4, 8]), st.integers(), st.booleans(), st.text()),
                "lst": st.one_of(
                    st.text(),
                    st.binary().map(b64url_encode),
                    st.binary(max_size=64).map(lambda b: b64url_encode(zlib.compress(b))),
                    st.binary(max_size=64).map(lambda b: b64url_encode(zlib.compress(b)[:-1])),
                ),
            }
        ),
    )
)
def test_from_claim_raises_only_verification_errors(value):
    try:
        sl = StatusList.from_claim(value)
    except VerificationError:
        return
    assert len(sl) > 0


# -- issuer round trips --------------------------------------------------------------------------


@pytest.mark.parametrize("bits", [1, 2, 4, 8])
def test_round_trip_every_value(bits):
    size = 3 * (1 << bits) + 5
    sl = StatusList.empty(size, bits)
    expected = [i % (1 << bits) for i in range(len(sl))]
    for idx, value in enumerate(expected):
        sl[idx] = value
    assert list(sl) == expected
    again = StatusList.from_claim(sl.to_claim())
    assert again == sl and list(again) == expected
    sl[1] = 0  # overwrite clears the old bits only
    assert sl[0] == expected[0] and sl[1] == 0 and sl[2] == expected[2]


@pytest.mark.parametrize("bits", [1, 2, 4, 8])
def test_million_entries_one_percent_set(bits):
    rng = random.Random(20260528 + bits)
    sl = StatusList.empty(1_000_000, bits)
    chosen = {idx: rng.randrange(1, 1 << bits) for idx in rng.sample(range(1_000_000), 10_000)}
    for idx, value in chosen.items():
        sl[idx] = value
    again = StatusList.from_claim(sl.to_claim())
    assert len(again) == len(sl) >= 1_000_000
    assert {i: again[i] for i in chosen} == chosen
    assert sum(1 for v in again if v) == len(chosen)


# -- status list tokens ----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def key():
    return ec.generate_private_key(ec.SECP256R1())


@pytest.fixture
def status_list():
    sl = StatusList.empty(1024, 2)
    sl[7], sl[8] = StatusList.INVALID, StatusList.SUSPENDED
    return sl


def lookup_for(key, kid="k1", alg="ES256"):
    def lookup(asked):
        if asked != kid:
            raise UnknownKeyError("status list signed by a key that is not trusted")
        return alg, key.public_key()

    return lookup


def make(sl, key, **overrides):
    args = dict(sub=SUB, iss=ISS, kid="k1", private_key=key, iat=IAT, ttl=86400, exp=IAT + 7 * 86400)
    args.update(overrides)
    return make_status_list_token(sl, **args)


def signed(header, payload, key):
    return jws.sign(header, payload, key, "ES256")


def test_token_round_trip(key, status_list):
    token = make(status_list, key)
    header = jws.CompactJWS.split(token).unverified_header()
    assert header == {"alg": "ES256", "typ": "statuslist+jwt", "kid": "k1"}
    assert list(jws.CompactJWS.split(token).unverified_payload()) == ["sub", "iss", "iat", "exp", "ttl", "status_list"]
    result = verify_status_list_token(token, lookup_for(key), expected_sub=SUB)
    assert isinstance(result, StatusListToken)
    assert (result.sub, result.iss, result.iat, result.exp, result.ttl) == (SUB, ISS, IAT, IAT + 7 * 86400, 86400)
    assert result.status_list == status_list
    assert result.status_list[7] == 1 and result.status_list[8] == 2 and result.status_list[0] == 0
    assert result.refresh_at == IAT + 86400


def test_token_with_trailing_newline_is_accepted(key, status_list):
    assert verify_status_list_token(make(status_list, key) + "\n", lookup_for(key)).sub == SUB


def test_token_without_optional_claims(key, status_list):
    result = verify_status_list_token(make(status_list, key, iss=None, ttl=None, exp=None), lookup_for(key))
    assert (result.iss, result.exp, result.ttl, result.refresh_at) == (None, None, None, None)
    assert not result.expired(IAT + 10 * 365 * 86400)


def test_expired_with_explicit_now(key, status_list):
    result = verify_status_list_token(make(status_list, key), lookup_for(key))
    exp = IAT + 7 * 86400
    assert not result.expired(exp - 1)
    assert result.expired(exp)
    assert result.expired(float(exp) + 0.5)
    assert not result.expired(datetime.fromtimestamp(exp - 1, tz=timezone.utc))
    assert result.expired(datetime.fromtimestamp(exp, tz=timezone.utc))
    assert result.expired(datetime.fromtimestamp(exp, tz=timezone.utc).replace(tzinfo=None))  # naive = UTC


def test_wrong_typ(key, status_list):
    payload = jws.CompactJWS.split(make(status_list, key)).unverified_payload()
    for typ in ("JWT", "dc+sd-jwt", None):
        header = {"typ": typ, "kid": "k1"} if typ else {"kid": "k1"}
        with pytest.raises(UnsupportedError) as err:
            verify_status_list_token(signed(header, payload, key), lookup_for(key))
        assert err.value.code == "unsupported"


def test_alg_none(key, status_list):
    token = make(status_list, key)
    parts = token.split(".")
    header = b64url_encode(json_dumps({"alg": "none", "typ": "statuslist+jwt", "kid": "k1"}))
    with pytest.raises(UnsupportedError):
        verify_status_list_token(f"{header}.{parts[1]}.", lookup_for(key))
    with pytest.raises(UnsupportedError):
        verify_status_list_token(f"{header}.{parts[1]}.{parts[2]}", lookup_for(key))


def test_hs256_with_public_key_pem_as_secret(key, status_list):
    pem = key.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    payload = jws.CompactJWS.split(make(status_list, key)).payload_b64
    header = b64url_encode(json_dumps({"alg": "HS256", "typ": "statuslist+jwt", "kid": "k1"}))
    mac = hmac.new(pem, f"{header}.{payload}".encode(), hashlib.sha256).digest()
    with pytest.raises(UnsupportedError) as err:
        verify_status_list_token(f"{header}.{payload}.{b64url_encode(mac)}", lookup_for(key))
    assert err.value.code == "unsupported"


def test_header_alg_disagreeing_with_trusted_key(key, status_list):
    with pytest.raises(BadSignatureError):
        verify_status_list_token(make(status_list, key), lookup_for(key, alg="ES384"))


def test_signed_by_another_key(key, status_list):
    other = ec.generate_private_key(ec.SECP256R1())
    with pytest.raises(BadSignatureError) as err:
        verify_status_list_token(make(status_list, other), lookup_for(key))
    assert err.value.code == "bad_signature"


def test_unknown_kid(key, status_list):
    with pytest.raises(UnknownKeyError):
        verify_status_list_token(make(status_list, key, kid="k9"), lookup_for(key))


def test_tampered_payload(key, status_list):
    token = make(status_list, key)
    compact = jws.CompactJWS.split(token)
    payload = compact.unverified_payload()
    payload["status_list"] = StatusList.empty(1024, 2).to_claim()  # un-revoke card 7
    forged = f"{compact.header_b64}.{b64url_encode(json_dumps(payload))}.{compact.signature_b64}"
    with pytest.raises(BadSignatureError):
        verify_status_list_token(forged, lookup_for(key))


def test_signature_checked_before_list_is_decompressed(key):
    bomb = claim(bytes(3 * MAX_BYTES), 8)
    payload = {"sub": SUB, "iat": IAT, "status_list": bomb}
    token = signed({"typ": "statuslist+jwt", "kid": "k1"}, payload, key)
    other = ec.generate_private_key(ec.SECP256R1())
    with pytest.raises(BadSignatureError):  # unsigned bombs are never inflated
        verify_status_list_token(token, lookup_for(other))
    with pytest.raises(MalformedError, match="more than"):  # and a signed one is still capped
        verify_status_list_token(token, lookup_for(key))


def test_wrong_sub(key, status_list):
    with pytest.raises(StatusUnavailableError) as err:
        verify_status_list_token(make(status_list, key), lookup_for(key), expected_sub=SUB + "0")
    assert type(err.value) is StatusUnavailableError
    assert err.value.message == "Status list is for another credential list."


@pytest.mark.parametrize(
    "change",
    [
        {"iat": None},
        {"iat": "1780000000"},
        {"iat": True},
        {"sub": None},
        {"sub": 5},
        {"iss": 5},
        {"status_list": None},
        {"exp": "soon"},
        {"ttl": 0},
        {"ttl": -5},
        {"ttl": 1.5},
        {"ttl": True},
    ],
    ids=lambda c: ",".join(f"{k}={v!r}" for k, v in c.items()),
)
def test_bad_claims_are_malformed(key, status_list, change):
    payload = {"sub": SUB, "iss": ISS, "iat": IAT, "ttl": 86400, "status_list": status_list.to_claim()}
    payload.update(change)
    payload = {k: v for k, v in payload.items() if v is not None}
    with pytest.raises(MalformedError):
        verify_status_list_token(signed({"typ": "statuslist+jwt", "kid": "k1"}, payload, key), lookup_for(key))


def test_huge_iat_float_is_malformed_not_overflow(key, status_list):
    token = signed({"typ": "statuslist+jwt", "kid": "k1"}, json_dumps({"sub": SUB, "iat": 1, "status_list": status_list.to_claim()}).replace(b'"iat":1', b'"iat":1e400'), key)
    with pytest.raises(MalformedError):
        verify_status_list_token(token, lookup_for(key))


@pytest.mark.parametrize("text", ["", "a.b", "a.b.c.d", "..", "not a token", 42, None])
def test_not_a_token(key, text):
    with pytest.raises(MalformedError):
        verify_status_list_token(text, lookup_for(key))


def test_oversized_token_rejected_before_parsing(key):
    calls = []
    with pytest.raises(MalformedError, match="too large"):
        verify_status_list_token("A" * (MAX_TOKEN_CHARS + 1), lambda kid: calls.append(kid))
    assert calls == []
