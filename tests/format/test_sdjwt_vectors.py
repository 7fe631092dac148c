"""RFC 9901 test vectors and the SD-JWT building blocks."""

import pytest

from verifier_sdk.errors import DisclosureInvalidError, MalformedError, UnsupportedError
from verifier_sdk.format.sdjwt import SDJWT, Disclosable, Disclosure, build_payload, digest, resolve
from verifier_sdk.format.strict import b64url_encode

RFC_VECTORS = [
    # (salt, name or None, value, encoded, digest) from RFC 9901 sections 4.2.1 and 4.2.2
    ("_26bc4LT-ac6q2KI6cBW5es", "family_name", "Möbius",
     "WyJfMjZiYzRMVC1hYzZxMktJNmNCVzVlcyIsICJmYW1pbHlfbmFtZSIsICJNw7ZiaXVzIl0",
     "X9yH0Ajrdm1Oij4tWso9UzzKJvPoDxwmuEcO3XAdRC0"),
    ("lklxF5jMYlGTPUovMNIvCA", None, "FR",
     "WyJsa2x4RjVqTVlsR1RQVW92TU5JdkNBIiwgIkZSIl0",
     "w0I8EKcdCtUPkGCNUrfwVp2xEgNjtoIDlOxc9-PlOhs"),
]


@pytest.mark.parametrize("salt,name,value,encoded,expected", RFC_VECTORS)
def test_rfc9901_disclosure_digest(salt, name, value, encoded, expected):
    assert digest(encoded) == expected
    parsed = Disclosure.parse(encoded)
    assert (parsed.salt, parsed.name, parsed.value) == (salt, name, value)


@pytest.mark.parametrize("salt,name,value,encoded,expected", RFC_VECTORS)
def test_rfc9901_vectors_resolve(salt, name, value, encoded, expected):
    payload = {"_sd": [expected]} if name else {"nationalities": [{"...": expected}]}
    claims = resolve(payload, [encoded])
    assert claims == ({name: value} if name else {"nationalities": [value]})


def test_build_then_resolve_recursive_with_decoys():
    claims = {
        "given_name": Disclosable("Łucja"),
        "address": Disclosable({"locality": Disclosable("Springfield"), "country": "US"}),
        "nationalities": [Disclosable("PL"), "DE", Disclosable("UA")],
    }
    payload, disclosures = build_payload(claims, decoys=3)
    assert payload["_sd_alg"] == "sha-256" and len(payload["_sd"]) == 5
    resolved = resolve(payload, [d.encoded for d in disclosures])
    assert resolved == {"given_name": "Łucja", "address": {"locality": "Springfield", "country": "US"}, "nationalities": ["PL", "DE", "UA"]}
    # Withholding disclosures hides claims without breaking anything.
    partial = resolve(payload, [d.encoded for d in disclosures if d.name != "given_name"])
    assert "given_name" not in partial


def test_unknown_sd_alg_is_unsupported():
    payload, disclosures = build_payload({"a": Disclosable(1)})
    payload["_sd_alg"] = "md5"
    with pytest.raises(UnsupportedError):
        resolve(payload, [d.encoded for d in disclosures])


@pytest.mark.parametrize("text", ["", "abc", "a.b.c", "a.b~", "~", "a.b.c~~", "é.b.c~"])
def test_parse_rejects_non_sd_jwt(text):
    with pytest.raises(MalformedError):
        SDJWT.parse(text)


def test_serialize_round_trip_is_exact():
    text = "eyJh.eyJi.c2ln~WyJhIiwiYiJd~eyJr.eyJs.c2ln"
    parsed = SDJWT.parse(text)
    assert parsed.serialize() == text and parsed.kb_jwt == "eyJr.eyJs.c2ln"
    assert parsed.presentation() == "eyJh.eyJi.c2ln~WyJhIiwiYiJd~"


@pytest.mark.parametrize("array", ['["s"]', '["s","a","b","c"]', '{"a":1}', '[1,"a","b"]', '["s",2,"b"]', '["s","_sd",1]', '["s","...",1]', '"s"', '["s","a",1,]'])
def test_bad_disclosure_shapes(array):
    with pytest.raises(DisclosureInvalidError):
        Disclosure.parse(b64url_encode(array.encode()))


@pytest.mark.parametrize("encoded", ["WyJzIiwiYSIsMV0=", "WyJzIiwiYSIsMV0 ", "WyJzIiwiYSIsMV0+", "WyJzIiwiYSIsMV1"])
def test_disclosure_base64url_must_be_canonical(encoded):
    # padding, whitespace, a foreign character, and non-zero trailing bits
    with pytest.raises(DisclosureInvalidError):
        Disclosure.parse(encoded)
