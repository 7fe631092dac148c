"""Forged and tampered card credentials: signatures, headers, validity, encodings, disclosures.

Each attack is correctly built except for its one defect, goes through Verifier.verify and
the cityid-verify CLI, and must fail with exactly the code the README documents.
"""

from __future__ import annotations

import pytest
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from factory import CULTURE, new_key, pem
from verifier_sdk import Purpose, Verifier
from verifier_sdk.format import jws
from verifier_sdk.format.sdjwt import Disclosable, Disclosure, digest
from verifier_sdk.format.strict import b64url_decode, b64url_encode, json_dumps

HEADER = {"alg": "ES256", "typ": "dc+sd-jwt", "kid": "k1"}


def disclosure(name, value, salt="c2FsdHNhbHRzYWx0"):
    return Disclosure.make(name, value, salt=salt).encoded


def replace_part(card: str, index: int, new: str) -> str:
    """Swap one part of the issuer JWT (0 header, 1 payload, 2 signature), keeping the rest."""
    jwt_part, rest = card.split("~", 1)
    parts = jwt_part.split(".")
    parts[index] = new
    return ".".join(parts) + "~" + rest


# -- algorithms -----------------------------------------------------------------------------------


def test_valid_card_is_accepted_through_every_channel(desk):
    """The baseline: without this, every refusal below could be a broken setup."""
    assert desk.verify(desk.card()).claims == CULTURE
    assert desk.verify(desk.qr()).claims["museum_tier"] == "gold"
    assert desk.cli(desk.qr())[0] == 0


def test_alg_none(desk, no_network):
    card = desk.signed({**HEADER, "alg": "none"}, desk.payload(**CULTURE), alg="none")
    desk.refused(card, "unsupported")
    desk.refused(card.replace(".~", ".c2ln~"), "unsupported")  # some junk as the "signature"
    for spelling in ("None", "NONE", "nOnE"):
        desk.refused(desk.signed({**HEADER, "alg": spelling}, desk.payload(**CULTURE), alg="none"), "unsupported")


@pytest.mark.parametrize("alg", ["HS256", "HS384", "HS512"])
@pytest.mark.parametrize("secret_form", ["pem", "jwk-json", "der-point"])
def test_hs256_with_public_key_as_secret(desk, alg, secret_form):
    public = desk.city.keys["k1"].public_key()
    secret = {
        "pem": pem(public).encode(),
        "jwk-json": json_dumps(jws.public_key_to_jwk(public)),
        "der-point": public.public_bytes(Encoding.X962, PublicFormat.UncompressedPoint),
    }[secret_form]
    desk.refused(desk.signed({**HEADER, "alg": alg}, desk.payload(**CULTURE), key=secret, alg=alg), "unsupported")


@pytest.mark.parametrize(
    "alg,key",
    [
        ("ES384", lambda: ec.generate_private_key(ec.SECP384R1())),
        ("ES512", lambda: ec.generate_private_key(ec.SECP521R1())),
        ("EdDSA", ed25519.Ed25519PrivateKey.generate),
        ("RS256", lambda: rsa.generate_private_key(65537, 2048)),
        ("PS256", lambda: rsa.generate_private_key(65537, 2048)),
    ],
    ids=["ES384", "ES512", "EdDSA", "RS256", "PS256"],
)
def test_alg_other_than_the_trusted_keys(desk, alg, key):
    # README: "the header's algorithm differs from the trusted key's" -> bad_signature.
    desk.refused(desk.signed({**HEADER, "alg": alg}, desk.payload(**CULTURE), key=key(), alg=alg), "bad_signature")


@pytest.mark.parametrize("alg", [["ES256"], {"alg": "ES256"}, 256, None, True, "es256", "ES256 ", ""], ids=repr)
def test_alg_of_the_wrong_json_type_or_spelling(desk, alg):
    # A list here used to raise TypeError (unhashable) before any signature check.
    desk.refused(desk.signed({**HEADER, "alg": alg}, desk.payload(**CULTURE)), "unsupported")


# -- keys ----------------------------------------------------------------------------------------------


def test_unknown_kid(desk):
    desk.refused(desk.signed({**HEADER, "kid": "k9"}, desk.payload(**CULTURE)), "unknown_key")
    desk.refused(desk.signed({**HEADER, "kid": "k9"}, desk.payload(**CULTURE), key=new_key()), "unknown_key")


@pytest.mark.parametrize(
    "kid",
    ["../k1", "k1/../k1", "../../etc/passwd", "/etc/passwd", "file:///etc/passwd", "https://evil.example/jwks.json#k1",
     "k1?", "k1#", "k1\x00", "k1\\..\\k1", "status/1.jwt", "trust-bundle.jwt", " k1", "K1"],
)
def test_kid_with_path_or_url_characters(desk, kid, no_network):
    desk.refused(desk.signed({**HEADER, "kid": kid}, desk.payload(**CULTURE)), "unknown_key")


@pytest.mark.parametrize("kid", [["k1"], {"k": "k1"}, 1, True], ids=repr)
def test_kid_of_the_wrong_json_type(desk, kid):
    desk.refused(desk.signed({**HEADER, "kid": kid}, desk.payload(**CULTURE)), "unknown_key")


@pytest.mark.parametrize(
    "name,value",
    [
        ("jku", "https://evil.example/jwks.json"),
        ("x5u", "https://evil.example/cert.pem"),
        ("jwk", None),  # filled with the attacker's own public key below
        ("x5c", ["MIIBszCCAVmgAwIBAgIU"]),
        ("x5t", "dGh1bWI"),
        ("crit", ["exp"]),
    ],
)
def test_jku_x5u_jwk_crit_headers(desk, name, value, no_network):
    attacker = new_key()
    if name == "jwk":
        value = jws.public_key_to_jwk(attacker.public_key())
    # Signed by the city's key: the header alone must be refused.
    desk.refused(desk.signed({**HEADER, name: value}, desk.payload(**CULTURE)), "unsupported")
    # Signed by the attacker's key the header names: still refused, never fetched or trusted.
    desk.refused(desk.signed({**HEADER, name: value}, desk.payload(**CULTURE), key=attacker), "unsupported")


def test_signed_by_another_key_with_the_citys_kid(desk):
    desk.refused(desk.card(signing_key=new_key()), "bad_signature")


def test_signed_by_the_root_key(desk):
    """The root key vouches for issuing keys; it is not one, whatever kid the card names."""
    root_kid = jws.jwk_thumbprint(jws.public_key_to_jwk(desk.city.root.public_key()))
    desk.refused(desk.card(signing_key=desk.city.root), "bad_signature")
    desk.refused(desk.signed({**HEADER, "kid": root_kid}, desk.payload(**CULTURE), key=desk.city.root), "unknown_key")


def test_withdrawn_issuing_key(desk):
    desk.publish(withdrawn=("k1",))
    desk.refused(desk.qr(), "unknown_key")


def test_card_signed_outside_the_keys_window(desk):
    desk.publish(windows={"k1": (desk.now - 400 * 86400, desk.now - 86400)})
    desk.refused(desk.qr(), "unknown_key")
    desk.publish(windows={"k1": (desk.now + 86400, desk.now + 400 * 86400)})
    desk.refused(desk.qr(), "unknown_key")


def test_another_issuer(desk):
    desk.refused(desk.signed(HEADER, desk.payload(**CULTURE, iss="https://id.evil.example")), "untrusted_issuer")
    desk.refused(desk.signed(HEADER, {k: v for k, v in desk.payload(**CULTURE).items() if k != "iss"}), "untrusted_issuer")
    desk.refused(desk.signed(HEADER, desk.payload(**CULTURE, iss=["https://id.example.gov"])), "untrusted_issuer")


@pytest.mark.parametrize("typ", ["JWT", "kb+jwt", "statuslist+jwt", "cityid-trust+jwt", None, ["dc+sd-jwt"]], ids=repr)
def test_wrong_typ(desk, typ):
    desk.refused(desk.signed({**HEADER, "typ": typ}, desk.payload(**CULTURE)), "unsupported")


# -- validity --------------------------------------------------------------------------------------------


def test_expired(desk):
    desk.refused(desk.qr(exp=desk.now - 1), "expired")
    desk.refused(desk.qr(exp=0), "expired")
    desk.refused(desk.signed(HEADER, desk.payload(**CULTURE, exp=-(10**30))), "expired")


def test_nbf_in_the_future(desk):
    desk.refused(desk.qr(payload_extra={"nbf": desk.now + 3600}), "not_yet_valid")


def test_iat_far_in_the_future(desk):
    desk.refused(desk.qr(payload_extra={"iat": desk.now + 10 * 365 * 86400}), "not_yet_valid")
    desk.refused(desk.qr(payload_extra={"iat": 10**30}), "not_yet_valid")


@pytest.mark.parametrize("bad", [b"null", b'"2099-01-01"', b'"1893456000"', b"true", b"[1893456000]", b'{"t":1}', b"1e400", b"-1e400"])
def test_exp_not_a_date(desk, bad):
    # 1e400 parses as float infinity: a card that would never expire.
    body = json_dumps(desk.payload(**CULTURE, exp=1234567890123)).replace(b"1234567890123", bad)
    desk.refused(desk.signed(HEADER, body), "malformed")


def test_exp_missing(desk):
    payload = desk.payload(**CULTURE)
    del payload["exp"]
    desk.refused(desk.signed(HEADER, payload), "malformed")


@pytest.mark.parametrize("name", ["nbf", "iat"])
def test_nbf_or_iat_not_a_date(desk, name):
    desk.refused(desk.signed(HEADER, desk.payload(**CULTURE, **{name: "yesterday"})), "malformed")


def test_wrong_vct_for_the_purpose(desk):
    desk.refused(desk.qr("id"), "purpose_not_satisfied", "museum")
    desk.refused(desk.qr("id"), "purpose_not_satisfied", "pharmacy")
    desk.refused(desk.qr("culture"), "purpose_not_satisfied", "bank")
    desk.refused(desk.signed(HEADER, desk.payload(**CULTURE, vct="urn:cityid:culture:2")), "purpose_not_satisfied")


@pytest.mark.parametrize("vct", [None, "", 1, ["urn:cityid:culture:1"]], ids=repr)
def test_vct_missing_or_not_a_string(desk, vct):
    payload = desk.payload(**CULTURE, vct=vct)
    if vct is None:
        del payload["vct"]
    desk.refused(desk.signed(HEADER, payload), "malformed")


# -- flipped bits: never accepted, always a typed error --------------------------------------------------


def _flip_each_bit(part_b64: str):
    raw = bytearray(b64url_decode(part_b64))
    for bit in range(len(raw) * 8):
        raw[bit // 8] ^= 1 << (bit % 8)
        yield bit, b64url_encode(bytes(raw))
        raw[bit // 8] ^= 1 << (bit % 8)


def test_flipped_bit_in_the_header(desk, expect):
    card = desk.card()
    verifier = Verifier(desk.trust(), "museum")
    for bit, flipped in _flip_each_bit(card.split(".")[0]):
        expect({"malformed", "unsupported", "unknown_key", "bad_signature"}, lambda: verifier.verify(replace_part(card, 0, flipped), now=desk.now))


def test_flipped_bit_in_the_payload(desk, expect):
    card = desk.card()
    verifier = Verifier(desk.trust(), "museum")
    for bit, flipped in _flip_each_bit(card.split(".")[1]):
        # Before the signature check only iss may fail ("untrusted_issuer"); everything else is the signature.
        expect({"malformed", "untrusted_issuer", "bad_signature"}, lambda: verifier.verify(replace_part(card, 1, flipped), now=desk.now))


def test_flipped_bit_in_the_signature(desk, expect):
    card = desk.card()
    verifier = Verifier(desk.trust(), "museum")
    for bit, flipped in _flip_each_bit(card.split("~")[0].split(".")[2]):
        expect("bad_signature", lambda: verifier.verify(replace_part(card, 2, flipped), now=desk.now))


def test_flipped_bit_in_each_disclosure(desk, expect):
    claims = {"museum_tier": Disclosable("gold"), "age_over_65": Disclosable(False), "tags": [Disclosable("a"), "b"]}
    card = desk.card(claims=claims)
    verifier = Verifier(desk.trust(), Purpose("any", vct="urn:cityid:culture:1", claims={"museum_tier", "age_over_65", "tags"}))
    assert verifier.verify(card, now=desk.now).claims == {"museum_tier": "gold", "age_over_65": False, "tags": ["a", "b"]}
    parts = card.split("~")
    for position in range(1, len(parts) - 1):
        for bit, flipped in _flip_each_bit(parts[position]):
            tampered = "~".join(parts[:position] + [flipped] + parts[position + 1 :])
            expect("disclosure_invalid", lambda: verifier.verify(tampered, now=desk.now))


def test_flipped_bit_in_the_kb_jwt(desk, holder, expect):
    bound = desk.bound(desk.card(holder_key=holder), holder)
    verifier = Verifier(desk.trust(), desk.kb_purpose)
    assert verifier.verify(bound, now=desk.now, nonce=desk.nonce, aud=desk.aud).key_bound
    head, kb = bound.rsplit("~", 1)
    kb_parts = kb.split(".")
    for index in range(3):
        for bit, flipped in _flip_each_bit(kb_parts[index]):
            tampered = head + "~" + ".".join(kb_parts[:index] + [flipped] + kb_parts[index + 1 :])
            expect("key_binding_invalid", lambda: verifier.verify(tampered, now=desk.now, nonce=desk.nonce, aud=desk.aud))


# -- encodings -------------------------------------------------------------------------------------------


@pytest.mark.parametrize("part", [0, 1, 2], ids=["header", "payload", "signature"])
@pytest.mark.parametrize(
    "mangle",
    [
        lambda p: p + "=",
        lambda p: p + "==",
        lambda p: p[:5] + "=" + p[5:],
        lambda p: p[:5] + " " + p[5:],
        lambda p: p[:5] + "\n" + p[5:],
        lambda p: p[:5] + "\t" + p[5:],
        lambda p: p[:5] + "+" + p[6:],
        lambda p: p[:5] + "/" + p[6:],
        lambda p: p[:5] + "." + p[5:],
        lambda p: p[:5] + "é" + p[5:],
        lambda p: p[:5] + "\u00a0" + p[5:],
        lambda p: p[:5] + "\x00" + p[5:],
    ],
    ids=["pad1", "pad2", "inner-pad", "space", "newline", "tab", "plus", "slash", "dot", "latin", "nbsp", "nul"],
)
def test_non_canonical_base64(desk, part, mangle):
    card = desk.card()
    original = card.split("~")[0].split(".")[part]
    desk.refused(replace_part(card, part, mangle(original)), "malformed")


@pytest.mark.parametrize("part", [0, 1, 2], ids=["header", "payload", "signature"])
def test_non_canonical_base64_trailing_bits(desk, part):
    # Grow the header or payload until the part under test has spare bits (the signature, 64 bytes, always has).
    for pad in range(4):
        card = desk.card(header={"x": "p" * pad}, payload_extra={"x": "p" * pad})
        original = card.split("~")[0].split(".")[part]
        if len(original) % 4:
            break
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
    last = alphabet.index(original[-1])
    spare = {2: 0x0F, 3: 0x03}[len(original) % 4]
    mangled = original[:-1] + alphabet[last | spare]
    assert b64url_decode(original) == __import__("base64").urlsafe_b64decode(mangled + "==")  # same bytes, other text
    desk.refused(replace_part(card, part, mangled), "malformed")


@pytest.mark.parametrize("mangle", [lambda d: d + "=", lambda d: d[:4] + " " + d[4:], lambda d: d[:4] + "+" + d[5:]], ids=["pad", "space", "plus"])
def test_non_canonical_base64_in_a_disclosure(desk, mangle):
    card = desk.card(claims={"museum_tier": Disclosable("gold"), "age_over_65": False})
    jwt_part, d, end = card.split("~")
    desk.refused(f"{jwt_part}~{mangle(d)}~{end}", "disclosure_invalid")


def test_whitespace_or_junk_after_the_credential(desk):
    card = desk.card()
    # The CLI strips what a scanner appends; the SDK takes exactly what it is given.
    for junk in ("\n", " ", "\r\n", "garbage", "~"):
        desk.refused(card + junk, "malformed", channels=("sdk",))
    desk.refused(card + "garbage", "malformed")
    desk.refused(desk.qr() + "\n", "malformed", channels=("sdk",))


def test_duplicate_json_keys_in_the_header(desk):
    header = b'{"alg":"ES256","typ":"dc+sd-jwt","kid":"k9","kid":"k1"}'
    desk.refused(desk.signed(header, desk.payload(**CULTURE)), "malformed")
    header = b'{"alg":"none","alg":"ES256","typ":"dc+sd-jwt","kid":"k1"}'
    desk.refused(desk.signed(header, desk.payload(**CULTURE)), "malformed")


def test_duplicate_json_keys_in_the_payload(desk):
    body = json_dumps(desk.payload(**CULTURE))
    doubled = body[:-1] + b',"museum_tier":"platinum"}'
    desk.refused(desk.signed(HEADER, doubled), "malformed")
    nested = body.replace(b'"status":{"status_list":{', b'"status":{"status_list":{"idx":1,')
    desk.refused(desk.signed(HEADER, nested), "malformed")


def test_duplicate_json_keys_in_a_disclosure_value(desk):
    d = b64url_encode(b'["c2FsdA","museum_tier",{"tier":"bronze","tier":"gold"}]')
    payload = desk.payload(age_over_65=False, _sd=[digest(d)])
    desk.refused(desk.signed(HEADER, payload, [d]), "disclosure_invalid")


@pytest.mark.parametrize("value", [b"NaN", b"Infinity", b"-Infinity"])
def test_non_json_numbers(desk, value):
    body = json_dumps(desk.payload(**CULTURE)).replace(b'"age_over_65":false', b'"age_over_65":' + value)
    desk.refused(desk.signed(HEADER, body), "malformed")


def test_json_nested_deeper_than_any_card(desk):
    deep = json_dumps(desk.payload(**CULTURE))[:-1] + b',"x":' + b"[" * 100_000 + b"]" * 100_000 + b"}"
    # Too long for the 64 KiB input cap as text; a shallower one that fits must fail on depth.
    desk.refused(desk.signed(HEADER, deep), "malformed")
    shallow = json_dumps(desk.payload(**CULTURE))[:-1] + b',"x":' + b"[" * 5000 + b"]" * 5000 + b"}"
    desk.refused(desk.signed(HEADER, shallow), "malformed")


# -- disclosures -------------------------------------------------------------------------------------------


def test_disclosure_not_referenced(desk):
    d, stray = disclosure("museum_tier", "gold"), disclosure("age_over_65", True)
    desk.refused(desk.signed(HEADER, desk.payload(_sd=[digest(d)]), [d, stray]), "disclosure_invalid")
    # Appending a disclosure to a genuine card that has none.
    desk.refused(desk.card() + stray + "~", "disclosure_invalid")


def test_duplicate_digest(desk):
    d = disclosure("museum_tier", "gold")
    desk.refused(desk.signed(HEADER, desk.payload(_sd=[digest(d), digest(d)]), [d]), "disclosure_invalid")
    e = disclosure(None, "x")
    desk.refused(desk.signed(HEADER, desk.payload(_sd=[digest(e)], tags=[{"...": digest(e)}]), [e]), "disclosure_invalid")
    desk.refused(desk.signed(HEADER, desk.payload(_sd=[digest(d)]), [d, d]), "disclosure_invalid")
    decoy = digest("decoy")
    desk.refused(desk.signed(HEADER, desk.payload(_sd=[decoy], nested={"_sd": [decoy]})), "disclosure_invalid")


@pytest.mark.parametrize("name", ["_sd", "..."])
def test_sd_and_ellipsis_as_claim_names(desk, name):
    d = b64url_encode(json_dumps(["c2FsdA", name, ["x"]]))
    desk.refused(desk.signed(HEADER, desk.payload(**CULTURE, _sd=[digest(d)]), [d]), "disclosure_invalid")


def test_disclosure_overriding_a_plain_claim(desk):
    d = disclosure("museum_tier", "platinum")
    desk.refused(desk.signed(HEADER, desk.payload(**CULTURE, _sd=[digest(d)]), [d]), "disclosure_invalid")


@pytest.mark.parametrize("name", ["iss", "exp", "vct", "status", "cnf", "nbf"])
def test_disclosure_of_a_never_disclosable_claim(desk, name):
    value = {"iss": "https://id.evil.example", "exp": 4102444800, "vct": "urn:cityid:culture:1", "nbf": 0,
             "status": {"status_list": {"idx": 8, "uri": "https://id.example.gov/status/1"}}, "cnf": {"jwk": {}}}[name]
    d = disclosure(name, value)
    desk.refused(desk.signed(HEADER, desk.payload(**CULTURE, _sd=[digest(d)]), [d]), "disclosure_invalid")


@pytest.mark.parametrize("array", [[], ["s"], ["s", "n", 1, 2], ["s", 1, 2], [1, "n", 2], {"s": 1}, "s", None], ids=repr)
def test_disclosure_of_the_wrong_shape(desk, array):
    d = b64url_encode(json_dumps(array))
    desk.refused(desk.signed(HEADER, desk.payload(**CULTURE, _sd=[digest(d)]), [d]), "disclosure_invalid")


@pytest.mark.parametrize("sd_alg", ["sha-1", "md5", "SHA-256", "none", 256, ["sha-256"]], ids=repr)
def test_unsupported_sd_alg(desk, sd_alg):
    d = disclosure("museum_tier", "gold")
    desk.refused(desk.signed(HEADER, desk.payload(age_over_65=False, _sd=[digest(d)], _sd_alg=sd_alg), [d]), "unsupported")


def test_empty_disclosure(desk):
    desk.refused(desk.card() + "~", "malformed")
    desk.refused(desk.card().replace("~", "~~"), "malformed")


def test_thousands_of_disclosures(desk):
    """As many distinct disclosures as fit in the input cap: bounded work, then refused as unreferenced."""
    card = desk.card()
    many = "".join(disclosure("a", i, salt=f"s{i}") + "~" for i in range(1200))
    assert len(card + many) < 64 * 1024
    desk.refused(card + many, "disclosure_invalid", seconds=2, mib=32)
    desk.refused(card + "~" * 60_000, "malformed", seconds=2, mib=32)
    desk.refused(card.split("~")[0] + "." * 60_000 + "~", "malformed", seconds=2, mib=32)
