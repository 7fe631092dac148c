"""TrustStore.load: the trust bundle, the pinned root key, key windows, rollback, status files."""

import json

import pytest

from factory import NOW, YEAR, new_key, pem
from verifier_sdk import TrustStore, Verifier
from verifier_sdk.errors import (
    BadSignatureError,
    MalformedError,
    StatusUnavailableError,
    TrustRollbackError,
    UnknownKeyError,
    UnsupportedError,
)
from verifier_sdk.format import jws


def root_sources(city, tmp_path):
    public = city.root.public_key()
    (tmp_path / "root.pem").write_text(pem(public))
    jwk = jws.public_key_to_jwk(public)
    return [pem(public), pem(public).encode(), jwk, json.dumps(jwk), str(tmp_path / "root.pem"), tmp_path / "root.pem"]


def test_load_publication_folder_with_every_root_key_form(city, tmp_path):
    folder = city.publish(tmp_path / "pub", version=3)
    for root in root_sources(city, tmp_path):
        trust = TrustStore.load(folder, root_key=root)
        assert trust.issuer == city.issuer and trust.version == 3 and not trust.problems
        Verifier(trust, purpose="museum").verify(city.card(), now=NOW)
    # The bundle file itself works too; status files are found beside it.
    trust = TrustStore.load(folder / "trust-bundle.jwt", root_key=pem(city.root.public_key()))
    assert trust.status_issued_at is not None and trust.bundle_issued_at is not None


def test_bundle_signed_by_another_root(city, tmp_path):
    folder = city.publish(tmp_path / "pub", root=new_key())
    with pytest.raises(BadSignatureError):
        TrustStore.load(folder, root_key=pem(city.root.public_key()))


def test_tampered_bundle(city, tmp_path):
    folder = city.publish(tmp_path / "pub")
    header, payload, sig = (folder / "trust-bundle.jwt").read_text().split(".")
    claims = json.loads(jws.b64url_decode(payload))
    claims["issuer_keys"][0]["jwk"] = jws.public_key_to_jwk(new_key().public_key())
    (folder / "trust-bundle.jwt").write_text(".".join([header, jws.b64url_encode(json.dumps(claims).encode()), sig]))
    with pytest.raises(BadSignatureError):
        TrustStore.load(folder, root_key=pem(city.root.public_key()))


def test_rollback_refused(city, tmp_path):
    folder = city.publish(tmp_path / "pub", version=4)
    root = pem(city.root.public_key())
    assert TrustStore.load(folder, root_key=root, min_version=4).version == 4
    with pytest.raises(TrustRollbackError):
        TrustStore.load(folder, root_key=root, min_version=5)


def test_withdrawn_key_fails_every_card_it_signed(city, tmp_path):
    city.keys["k2"] = new_key()
    folder = city.publish(tmp_path / "pub", withdrawn=("k1",))
    trust = TrustStore.load(folder, root_key=pem(city.root.public_key()))
    with pytest.raises(UnknownKeyError, match="withdrawn"):
        Verifier(trust, purpose="museum").verify(city.card(kid="k1"), now=NOW)
    # The status list is signed by the status key s1: withdrawing a card key leaves revocation data usable.
    assert not trust.problems
    Verifier(trust, purpose="museum").verify(city.card(kid="k2"), now=NOW)
    # Withdrawing the status key makes its lists unusable (cards then fail status_unavailable).
    folder = city.publish(tmp_path / "pub", withdrawn=("s1",), version=2)
    trust = TrustStore.load(folder, root_key=pem(city.root.public_key()))
    assert "withdrawn" not in str(trust.problems) and trust.problems


def test_key_window(city, tmp_path):
    city.keys["k2"] = new_key()
    folder = city.publish(tmp_path / "pub", windows={"k1": (NOW - YEAR, NOW - 1)})
    trust = TrustStore.load(folder, root_key=pem(city.root.public_key()))
    with pytest.raises(UnknownKeyError):
        Verifier(trust, purpose="museum").verify(city.card(kid="k1"), now=NOW)


def test_missing_status_file_reported_at_verification(city, tmp_path):
    folder = city.publish(tmp_path / "pub")
    (folder / "status" / "1.jwt").unlink()
    trust = TrustStore.load(folder, root_key=pem(city.root.public_key()))
    with pytest.raises(StatusUnavailableError):
        Verifier(trust, purpose="museum").verify(city.card(), now=NOW)


@pytest.mark.parametrize(
    "mutate",
    [
        lambda c: c.update(version=0),
        lambda c: c.update(version="2"),
        lambda c: c.update(issuer_keys=[]),
        lambda c: c["issuer_keys"][0].update(alg="HS256"),
        lambda c: c["issuer_keys"][0].update(alg="ES384"),
        lambda c: c["issuer_keys"][0].update(withdrawn="no"),
        lambda c: c["issuer_keys"][0]["jwk"].update(d="AAAA"),
        lambda c: c.update(status_lists=[{"uri": "x", "path": "../../etc/passwd"}]),
        lambda c: c.update(status_lists=[{"uri": "x", "path": "/etc/passwd"}]),
        lambda c: c.pop("iss"),
    ],
)
def test_malformed_bundle_claims(city, tmp_path, mutate):
    claims = city.bundle_claims()
    mutate(claims)
    folder = city.publish(tmp_path / "pub", claims=claims)
    with pytest.raises((MalformedError, UnsupportedError)):
        TrustStore.load(folder, root_key=pem(city.root.public_key()))


@pytest.mark.parametrize("content", [b"", b"not a token", b"\xff\xfe" * 10, b"a.b.c", b"x" * (2 << 20)])
def test_garbage_bundle_file(city, tmp_path, content):
    folder = city.publish(tmp_path / "pub")
    (folder / "trust-bundle.jwt").write_bytes(content)
    with pytest.raises(MalformedError):
        TrustStore.load(folder, root_key=pem(city.root.public_key()))


@pytest.mark.parametrize("root", ["", "{}", "-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----", {"kty": "oct", "k": "AAAA"}, "/no/such/file.pem"])
def test_bad_root_key(city, tmp_path, root):
    folder = city.publish(tmp_path / "pub")
    with pytest.raises((MalformedError, UnsupportedError)):
        TrustStore.load(folder, root_key=root)


def test_missing_bundle(tmp_path, city):
    with pytest.raises(MalformedError):
        TrustStore.load(tmp_path, root_key=pem(city.root.public_key()))


def test_from_jwks_forms(city):
    for jwks in (city.jwks(), json.dumps(city.jwks()), city.jwks()["keys"]):
        trust = TrustStore.from_jwks(jwks, issuer=city.issuer)
        assert set(trust.keys) == {"k1", "s1"}
    with pytest.raises(MalformedError):
        TrustStore.from_jwks({"keys": []}, issuer=city.issuer)
