"""Keys in a PKCS#11 token: made inside a real SoftHSM2 token, signing there, never extractable."""

from __future__ import annotations

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

from issuer.errors import KeyStoreError
from issuer.hsm import TokenKeyStore, TokenURI, parse_uri, pin_from_env_or_prompt
from verifier_sdk.format.jws import CompactJWS, public_key_to_jwk, sign, verify_signature


def test_uri_parsing():
    assert parse_uri("pkcs11:token=City%20Hall?module-path=/usr/lib/softhsm/libsofthsm2.so") == \
        TokenURI("City Hall", "/usr/lib/softhsm/libsofthsm2.so")
    assert parse_uri("pkcs11:token=city;manufacturer=SoftHSM?module=/lib/x.so") == TokenURI("city", "/lib/x.so")
    assert parse_uri(str(TokenURI("a b;c", "/lib/x.so"))) == TokenURI("a b;c", "/lib/x.so")
    for bad in ["pkcs11:token=city", "pkcs11:?module=/lib/x.so", "file:token=x?module=/x.so",
                "pkcs11:token=city?module=relative.so", "pkcs11:token=a;token=b?module=/x.so"]:
        with pytest.raises(KeyStoreError):
            parse_uri(bad)
    with pytest.raises(KeyStoreError, match="PIN"):
        parse_uri("pkcs11:token=city?module=/x.so&pin-value=1234")


def test_pin_never_from_anywhere_but_env_or_prompt(monkeypatch):
    monkeypatch.delenv("CITYID_HSM_PIN", raising=False)
    with pytest.raises(KeyStoreError, match="CITYID_HSM_PIN"):
        pin_from_env_or_prompt()  # stdin is not a terminal under pytest
    monkeypatch.setenv("CITYID_HSM_PIN", "1234")
    assert pin_from_env_or_prompt() == "1234"


def test_keys_are_made_in_the_token_and_sign_es256(hsm_token, softhsm):
    store = TokenKeyStore.create(hsm_token, softhsm.pin)
    store.create_root_key()  # in the city's own token
    key = store.new_issuing_key("k1")
    token = sign({"typ": "test", "kid": "k1"}, {"hello": "world"}, key, "ES256")
    public = key.public_key()
    assert isinstance(public, ec.EllipticCurvePublicKey) and public.curve.name == "secp256r1"
    assert public_key_to_jwk(public)["crv"] == "P-256"
    verify_signature(CompactJWS.split(token), "ES256", public)  # raw r||s, as JWS ES256 wants
    assert len(CompactJWS.split(token).signature()) == 64
    # The DER signature cryptography expects, checked by cryptography itself.
    der = key.sign(b"message", ec.ECDSA(hashes.SHA256()))
    public.verify(der, b"message", ec.ECDSA(hashes.SHA256()))
    # Reopened in a new session, the same keys (and the same registry secret) are found by label.
    secret = store.registry_secret()
    store.close()
    again = TokenKeyStore(hsm_token, softhsm.pin)
    assert again.issuing_key("k1").public_key().public_numbers() == public.public_numbers()
    assert again.registry_secret() == secret and len(secret) == 32
    assert again.root_key().public_key().public_numbers() != public.public_numbers()


def test_private_keys_cannot_leave_the_token(hsm_token, softhsm):
    import pkcs11
    from pkcs11 import Attribute, ObjectClass

    store = TokenKeyStore.create(hsm_token, softhsm.pin)
    store.create_root_key()
    key = store.new_issuing_key("k1")
    with pytest.raises(KeyStoreError, match="cannot be exported"):
        key.private_bytes(serialization.Encoding.DER, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    with pytest.raises(KeyStoreError, match="cannot be exported"):
        key.private_numbers()
    # Ask the token itself: every private key is sensitive and not extractable, and its value cannot be read.
    privates = list(store.token.session.get_objects({Attribute.CLASS: ObjectClass.PRIVATE_KEY}))
    assert len(privates) == 2  # root and k1
    for private in privates:
        assert private[Attribute.SENSITIVE] is True
        assert private[Attribute.EXTRACTABLE] is False
        assert private[Attribute.NEVER_EXTRACTABLE] is True
        assert private[Attribute.ALWAYS_SENSITIVE] is True
        assert private[Attribute.LOCAL] is True  # generated inside the token, not imported
        with pytest.raises(pkcs11.AttributeSensitive):
            private[Attribute.VALUE]


def test_wrong_pin_and_wrong_token_are_clear_errors(hsm_token, softhsm):
    TokenKeyStore.create(hsm_token, softhsm.pin).close()
    with pytest.raises(KeyStoreError, match="refused the PIN"):
        TokenKeyStore(hsm_token, "000000")
    with pytest.raises(KeyStoreError, match="no single token"):
        TokenKeyStore(hsm_token.replace("token=", "token=other"), softhsm.pin)
    with pytest.raises(KeyStoreError, match="PKCS#11 module"):
        TokenKeyStore("pkcs11:token=x?module-path=/nonexistent/module.so", softhsm.pin)


def test_a_token_holds_one_city(hsm_token, softhsm):
    TokenKeyStore.create(hsm_token, softhsm.pin).new_issuing_key("k1")
    with pytest.raises(KeyStoreError, match="already holds a city"):
        TokenKeyStore.create(hsm_token, softhsm.pin)


def test_rotation_leftover_is_replaced_only_when_asked(hsm_token, softhsm):
    store = TokenKeyStore.create(hsm_token, softhsm.pin)
    first = store.new_issuing_key("k2").public_key().public_numbers()
    with pytest.raises(KeyStoreError, match="already holds a key"):
        store.new_issuing_key("k2")
    second = store.new_issuing_key("k2", replace_unregistered=True).public_key().public_numbers()
    assert first != second
    assert store.issuing_key("k2").public_key().public_numbers() == second


def test_root_key_on_a_token_of_its_own(softhsm, monkeypatch):
    """The offline root: made in a second token; the city's token keeps only its public half."""
    # SoftHSM2 lists the tokens that exist when a process first loads it: make all three first.
    city_uri, root_uri, other = (softhsm.init_token(label) for label in ("city", "root", "other-root"))
    monkeypatch.setenv("CITYID_ROOT_PIN", softhsm.pin)
    store = TokenKeyStore.create(city_uri, softhsm.pin)
    root = store.create_root_key(root_uri)
    assert parse_uri(store.root_written_to) == parse_uri(root_uri)
    assert not store.token.has_key("cityid-root")  # no root private key in the city's token
    assert store.root_public_key().public_numbers() == root.public_key().public_numbers()
    store.close()
    again = TokenKeyStore(city_uri, softhsm.pin)
    signed = sign({"typ": "test"}, {"v": 1}, again.root_key(root_uri), "ES256")
    verify_signature(CompactJWS.split(signed), "ES256", again.root_public_key())
    with pytest.raises(KeyStoreError, match="no key labelled"):
        again.root_key()  # the city's own token holds no root
    TokenKeyStore.create(other, softhsm.pin).create_root_key()  # left open: a second session here still works
    with pytest.raises(KeyStoreError, match="not this city's root"):
        again.root_key(other)
    with pytest.raises(KeyStoreError, match="made in a token too"):
        again.create_root_key("/media/usb/root.pem")


def test_period_keys_are_hmac_keys_that_never_leave_the_token(hsm_token, softhsm):
    """A vault period key is made in the token, computes there, cannot be read, copied or loosened, and is destroyable."""
    import pkcs11
    from pkcs11 import Attribute, ObjectClass

    from issuer.vault_token import TokenPeriodKeys

    store = TokenKeyStore.create(hsm_token, softhsm.pin)
    keys = TokenPeriodKeys(store.token)
    assert keys.periods() == [] and keys.key("2026-12") is None
    value = keys.key("2026-12", create=True)
    assert len(value) == 32 and keys.key("2026-12") == value  # the same value each time, computed in the token
    assert keys.key("2027-01", create=True) != value and keys.periods() == ["2026-12", "2027-01"]
    (period_key,) = store.token.session.get_objects({Attribute.CLASS: ObjectClass.SECRET_KEY,
                                                     Attribute.LABEL: "cityid-vault-period-2026-12"})
    assert period_key[Attribute.KEY_TYPE] == pkcs11.KeyType.GENERIC_SECRET and period_key[Attribute.VALUE_LEN] == 32
    for attribute, expected in {Attribute.TOKEN: True, Attribute.PRIVATE: True, Attribute.SENSITIVE: True,
                                Attribute.ALWAYS_SENSITIVE: True, Attribute.EXTRACTABLE: False,
                                Attribute.NEVER_EXTRACTABLE: True, Attribute.LOCAL: True, Attribute.COPYABLE: False,
                                Attribute.MODIFIABLE: False, Attribute.SIGN: True, Attribute.VERIFY: False,
                                Attribute.DERIVE: False, Attribute.ENCRYPT: False, Attribute.DECRYPT: False,
                                Attribute.WRAP: False, Attribute.UNWRAP: False}.items():
        assert period_key[attribute] is expected, attribute
    with pytest.raises(pkcs11.AttributeSensitive):
        period_key[Attribute.VALUE]
    assert list(period_key[Attribute.ALLOWED_MECHANISMS]) == [pkcs11.Mechanism.SHA256_HMAC]
    for other in (pkcs11.Mechanism.SHA_1_HMAC, pkcs11.Mechanism.SHA512_HMAC):  # HMAC-SHA256 only, as documented
        with pytest.raises(pkcs11.PKCS11Error):
            period_key.sign(b"x", mechanism=other)
    with pytest.raises(pkcs11.PKCS11Error):  # no copy that would outlive its destruction
        period_key.copy({Attribute.LABEL: "a copy"})
    with pytest.raises(pkcs11.PKCS11Error):
        period_key[Attribute.EXTRACTABLE] = True
    store.close()
    keys = TokenPeriodKeys(TokenKeyStore(hsm_token, softhsm.pin).token)  # a new session finds the same keys
    assert keys.key("2026-12") == value
    assert keys.destroy("2026-12") is True and keys.destroy("2026-12") is False
    assert keys.periods() == ["2027-01"] and keys.key("2026-12") is None
    with pytest.raises(KeyStoreError, match="already holds a city"):  # period keys count as a city's keys
        TokenKeyStore.create(hsm_token, softhsm.pin)
    with pytest.raises(KeyStoreError, match="period name"):
        keys.key("../2026-12")
