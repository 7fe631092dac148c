"""Trust data an attacker controls: bundles signed by another root, tampered, rolled back, hostile files.

TrustStore.load raises the same tree as verify (README: bad_signature, malformed, trust_rollback);
the CLI refuses unusable trust data with exit status 2 and names the code.
"""

from __future__ import annotations

import json

import pytest

from factory import new_key
from verifier_sdk import TrustStore
from verifier_sdk.format import jws
from verifier_sdk.format.strict import b64url_decode, b64url_encode

BUNDLE = "trust-bundle.jwt"


def load(desk, **kwargs):
    return lambda: desk.trust(**kwargs)


def cli_refuses_trust(desk, code):
    """cityid-verify treats unusable trust data as a usage problem (exit 2) and names the code."""
    status, printed, stderr = desk.cli(desk.qr())
    assert status == 2 and f"({code})" in stderr and not printed


def rewrite_claims(desk, change):
    """Change the bundle's claims but keep the root's signature (a tampered bundle)."""
    header, payload, signature = (desk.folder / BUNDLE).read_text().split(".")
    claims = json.loads(b64url_decode(payload))
    change(claims)
    (desk.folder / BUNDLE).write_text(".".join([header, b64url_encode(json.dumps(claims).encode()), signature]))


def sign_bundle(desk, claims=None, header=None, key=None):
    root = key or desk.city.root
    head = header or {"typ": "cityid-trust+jwt", "kid": jws.jwk_thumbprint(jws.public_key_to_jwk(root.public_key()))}
    (desk.folder / BUNDLE).write_text(jws.sign(head, claims or desk.city.bundle_claims(), root, "ES256"))


def test_trust_bundle_signed_by_another_root(desk, expect):
    desk.publish(root=new_key())
    expect("bad_signature", load(desk))
    cli_refuses_trust(desk, "bad_signature")


def test_trust_bundle_signed_by_another_root_that_names_itself(desk, expect):
    # The attacker's bundle carries their key's thumbprint as kid and a jwk header: the pin decides.
    attacker = new_key()
    sign_bundle(desk, header={"typ": "cityid-trust+jwt", "kid": jws.jwk_thumbprint(jws.public_key_to_jwk(attacker.public_key()))}, key=attacker)
    expect("bad_signature", load(desk))
    sign_bundle(desk, header={"typ": "cityid-trust+jwt", "jwk": jws.public_key_to_jwk(attacker.public_key())}, key=attacker)
    expect("unsupported", load(desk))


@pytest.mark.parametrize(
    "change",
    [
        lambda c: c["issuer_keys"][0].update(jwk=jws.public_key_to_jwk(new_key().public_key())),
        lambda c: c["issuer_keys"][0].update(withdrawn=False, not_after=4102444800),
        lambda c: c.update(version=c["version"] + 100),
        lambda c: c.update(iss="https://id.evil.example"),
        lambda c: c["status_lists"].clear(),
    ],
    ids=["swap-key", "extend-window", "bump-version", "issuer", "drop-status"],
)
def test_trust_bundle_tampered(desk, change, expect):
    rewrite_claims(desk, change)
    expect("bad_signature", load(desk))
    cli_refuses_trust(desk, "bad_signature")


def test_trust_bundle_tampered_signature_and_header(desk, expect):
    header, payload, signature = (desk.folder / BUNDLE).read_text().split(".")
    raw = bytearray(b64url_decode(signature))
    raw[10] ^= 1
    (desk.folder / BUNDLE).write_text(".".join([header, payload, b64url_encode(bytes(raw))]))
    expect("bad_signature", load(desk))
    for alg in ("none", "HS256"):
        (desk.folder / BUNDLE).write_text(".".join([b64url_encode(json.dumps({"alg": alg, "typ": "cityid-trust+jwt"}).encode()), payload, ""]))
        expect("unsupported", load(desk))


def test_trust_bundle_older_than_the_installed_one(desk, expect):
    desk.publish(version=7)
    assert desk.trust(min_version=7).version == 7
    desk.publish(version=6)
    expect("trust_rollback", load(desk, min_version=7))


@pytest.mark.parametrize("path", ["../../etc/passwd", "status/../../x.jwt", "/etc/passwd", "status/1.jwt/..", "status/a b.jwt",
                                  "status\\1.jwt", "https://evil.example/status/1.jwt", "status/" + "a" * 65 + ".jwt", 7], ids=repr)
def test_trust_bundle_status_path_outside_its_folder(desk, path, expect):
    claims = desk.city.bundle_claims()
    claims["status_lists"][0]["path"] = path
    sign_bundle(desk, claims)
    expect("malformed", load(desk))


@pytest.mark.parametrize(
    "change",
    [
        lambda c: c.update(version=0),
        lambda c: c.update(version="8"),
        lambda c: c.update(version=True),
        lambda c: c.pop("iss"),
        lambda c: c.update(issuer_keys=[]),
        lambda c: c["issuer_keys"][0].update(alg="HS256"),
        lambda c: c["issuer_keys"][0].update(alg=["ES256"]),
        lambda c: c["issuer_keys"][0].update(alg="ES384"),
        lambda c: c["issuer_keys"][0].update(jwk={"kty": "oct", "k": "c2VjcmV0"}),
        lambda c: c["issuer_keys"][0]["jwk"].update(d="c2VjcmV0"),
        lambda c: c["issuer_keys"][0].update(kid=["k1"]),
        lambda c: c["issuer_keys"][0].update(withdrawn="no"),
        lambda c: c["issuer_keys"][0].update(not_after="2099-01-01"),
        lambda c: c["issuer_keys"].append(dict(c["issuer_keys"][0])),
        lambda c: c.update(status_lists={"uri": "x"}),
    ],
    ids=["version-0", "version-str", "version-bool", "no-iss", "no-keys", "hmac-key", "alg-list", "alg-mismatch", "oct-jwk",
         "private-jwk", "kid-list", "withdrawn-str", "window-str", "duplicate-kid", "status-lists-object"],
)
def test_trust_bundle_signed_but_inconsistent(desk, change, expect):
    claims = desk.city.bundle_claims()
    change(claims)
    sign_bundle(desk, claims)
    expect({"malformed", "unsupported"}, load(desk))


@pytest.mark.parametrize(
    "content",
    [b"", b"\xff\xfe\x00\x00", "caf\xe9".encode("latin-1"), "trust-bundle.jwt \u00e9".encode("utf-8"), b"a.b.c", b"\x00" * 100,
     b"eyJhbGciOiJFUzI1NiJ9." * 1000],
    ids=["empty", "utf32-bom", "latin-1", "utf8", "junk-jws", "nul", "many-dots"],
)
def test_trust_bundle_file_is_not_a_bundle(desk, content, expect):
    (desk.folder / BUNDLE).write_bytes(content)
    code = expect({"malformed", "unsupported"}, load(desk)).code
    cli_refuses_trust(desk, code)


def test_trust_bundle_file_huge(desk, expect):
    with open(desk.folder / BUNDLE, "wb") as handle:
        handle.truncate(200 << 20)  # sparse: 200 MB without using the disk
    expect("malformed", load(desk), mib=8)


def test_trust_bundle_missing_or_a_directory(desk, expect):
    (desk.folder / BUNDLE).unlink()
    expect("malformed", load(desk))
    (desk.folder / BUNDLE).mkdir()
    expect("malformed", load(desk))


def test_status_list_file_hostile(desk, limits):
    # A status list file that is latin-1, huge or a directory is recorded, not fatal; cards needing it fail.
    status_file = desk.folder / "status" / "1.jwt"

    def latin1():
        status_file.write_bytes("caf\xe9".encode("latin-1"))

    def huge():
        with open(status_file, "wb") as handle:
            handle.truncate(100 << 20)

    def directory():
        status_file.unlink()
        status_file.mkdir()

    for write in (latin1, huge, directory):
        write()
        outcome = limits(desk.trust, mib=8)
        assert outcome.error is None and "https://id.example.gov/status/1" in outcome.result.problems
        desk.refused(desk.qr(), "status_unavailable")


# -- the same attacks through trust sync (a USB stick is attacker-controlled media) ------------------------


def stick(desk, tmp_path, **kwargs):
    """A publication folder on a 'USB stick', from the same city unless told otherwise."""
    status_token = kwargs.pop("status_token", None) or desk.status_token()
    return desk.city.publish(tmp_path / "stick", status_token=status_token, **kwargs)


def installed_files(desk):
    return {p.relative_to(desk.folder): p.read_bytes() for p in desk.folder.rglob("*") if p.is_file()}


def sync_from(desk, source):
    from verifier_sdk.sync import sync_trust

    return lambda: sync_trust(desk.folder, root_key=str(desk.root_file), source=str(source), now=desk.now)


def test_trust_rollback_via_sync(desk, tmp_path, expect):
    desk.publish(version=7)
    before = installed_files(desk)
    expect("trust_rollback", sync_from(desk, stick(desk, tmp_path, version=6)))
    assert installed_files(desk) == before


def test_status_list_replay_via_sync(desk, tmp_path, expect):
    """A newer bundle with an older status list (a revocation undone by replay) is refused."""
    desk.city.status[7] = 1
    desk.publish(version=7)
    before = installed_files(desk)
    desk.city.status[7] = 0
    old_list = desk.city.status_token(iat=desk.now - 7200)  # older than the installed one (now - 60)
    expect("trust_rollback", sync_from(desk, stick(desk, tmp_path, version=8, status_token=old_list)))
    assert installed_files(desk) == before
    desk.refused(desk.qr(), "revoked")


def test_tampered_bundle_via_sync(desk, tmp_path, expect):
    source = stick(desk, tmp_path, version=8)
    header, payload, signature = (source / BUNDLE).read_text().split(".")
    claims = json.loads(b64url_decode(payload))
    claims["issuer_keys"][0]["jwk"] = jws.public_key_to_jwk(new_key().public_key())
    (source / BUNDLE).write_text(".".join([header, b64url_encode(json.dumps(claims).encode()), signature]))
    before = installed_files(desk)
    expect("bad_signature", sync_from(desk, source))
    assert installed_files(desk) == before
    other_root = stick(desk, tmp_path / "other", version=9, root=new_key())
    expect("bad_signature", sync_from(desk, other_root))
    assert installed_files(desk) == before


@pytest.mark.parametrize(
    "change",
    [{"alg": ["ES256"]}, {"alg": {"a": 1}}, {"alg": "HS256"}, {"alg": "none"}, {"kty": ["EC"]}, {"kty": "oct", "k": "c2VjcmV0"},
     {"crv": "P-384"}, {"x": 5}, {"d": "c2VjcmV0"}],
    ids=repr,
)
def test_jwks_with_hostile_members(desk, change, expect):
    """TrustStore.from_jwks (integrations): a JWKS from configuration is refused with a typed error, never a crash."""
    jwks = desk.city.jwks()
    jwks["keys"][0].update(change)
    expect({"malformed", "unsupported"}, lambda: TrustStore.from_jwks(jwks, issuer=desk.city.issuer))
