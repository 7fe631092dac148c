"""The city's side of issue #10: an offline root, a separate signing step, and publications desks accept."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import timedelta

import pytest
from issuer_samples import NOW, PEOPLE

from issuer import Issuer
from issuer.city import demo_root_key_path
from issuer.config import CONFIG_FILE, MAX_STATUS_LIST_ENTRIES
from issuer.errors import IssuerError
from issuer.keys import new_signing_key, save_private_key
from verifier_sdk import TrustStore
from verifier_sdk.format.statuslist import MAX_TOKEN_CHARS, StatusList, make_status_list_token

DAY = 86400


def cli(*args, env=None):
    return subprocess.run([sys.executable, "-m", "issuer.cli", *map(str, args)], capture_output=True, text=True,
                          timeout=120, env=env)


def test_init_writes_the_root_key_only_where_the_operator_says(tmp_path, monkeypatch):
    import os

    env = {**os.environ, "CITYID_PASSPHRASE": "a long enough passphrase"}
    refused = cli("init", tmp_path / "a", env=env)
    assert refused.returncode == 1 and "--root-key" in refused.stderr and not (tmp_path / "a").exists()
    inside = cli("init", tmp_path / "b", "--root-key", tmp_path / "b" / "root.pem", env=env)
    assert inside.returncode == 1 and "outside the city folder" in inside.stderr and not (tmp_path / "b").exists()
    made = cli("init", tmp_path / "c", "--root-key", tmp_path / "usb" / "root.pem", env=env)
    assert made.returncode == 0 and str(tmp_path / "usb" / "root.pem") in made.stdout
    assert b"\"kdf\": \"scrypt\"" in (tmp_path / "usb" / "root.pem").read_bytes()  # sealed like every key
    assert not any(b"PRIVATE KEY" in p.read_bytes() and "issuing-" not in p.name
                   for p in (tmp_path / "c").rglob("*") if p.is_file())
    again = cli("init", tmp_path / "d", "--root-key", tmp_path / "usb" / "root.pem", env=env)
    assert again.returncode == 1 and "never overwritten" in again.stderr


def test_sign_bundle_needs_the_city_root_key_and_publish_never_does(demo_city, tmp_path):
    root = demo_root_key_path(demo_city.dir)
    stranger = tmp_path / "other-root.pem"
    save_private_key(stranger, new_signing_key(), None)
    with pytest.raises(IssuerError, match="not this city's root key"):
        demo_city.sign_bundle(stranger, now=NOW)
    root.rename(tmp_path / "safe.pem")  # the drive is back in the safe
    demo_city.issue_card(PEOPLE[0], now=NOW)
    trust = TrustStore.load(demo_city.publish(tmp_path / "pub", now=NOW), root_key=tmp_path / "pub" / "root-key.pem", now=NOW)
    assert trust.version == 1 and not trust.problems
    assert demo_city.sign_bundle(tmp_path / "safe.pem", now=NOW)["exp"] == int(NOW.timestamp()) + 400 * DAY


def test_publish_refuses_an_expired_bundle_and_warns_before(demo_city, tmp_path):
    later = NOW + timedelta(days=380)
    notices = []
    demo_city.publish(tmp_path / "pub", now=later, notices=notices)
    assert any("expires on" in n for n in notices)
    before = (tmp_path / "pub" / "trust-bundle.jwt").read_bytes()
    with pytest.raises(IssuerError, match="expired"):
        demo_city.publish(tmp_path / "pub", now=NOW + timedelta(days=401))
    assert (tmp_path / "pub" / "trust-bundle.jwt").read_bytes() == before
    demo_city.sign_bundle(demo_root_key_path(demo_city.dir), now=NOW + timedelta(days=401))  # the ceremony
    demo_city.publish(tmp_path / "pub", now=NOW + timedelta(days=401))


def test_publish_checks_its_output_with_the_sdk_before_swapping(demo_city, tmp_path):
    demo_city.publish(tmp_path / "pub", now=NOW)
    before = {p.name: p.read_bytes() for p in (tmp_path / "pub").rglob("*") if p.is_file()}
    # The status key file no longer matches the key the root signed: desks would refuse its lists.
    save_private_key(demo_city.dir / "keys" / "issuing-s1.pem", new_signing_key(), None)
    demo_city.keys._issuing.clear()
    with pytest.raises(IssuerError, match="refused by"):
        demo_city.publish(tmp_path / "pub", now=NOW)
    assert {p.name: p.read_bytes() for p in (tmp_path / "pub").rglob("*") if p.is_file()} == before


def test_capacity_and_the_verifier_caps_agree(tmp_path):
    # The largest capacity the city may configure, every status random (incompressible): still under the cap.
    worst = StatusList.empty(MAX_STATUS_LIST_ENTRIES, 2)
    data = bytearray(__import__("os").urandom(len(worst.to_bytes())))
    token = make_status_list_token(StatusList(data, 2), sub="https://id.example.gov/status/1", iss="https://id.example.gov",
                                   kid="s1", private_key=new_signing_key(), iat=0, exp=1, ttl=1)
    assert len(token) <= MAX_TOKEN_CHARS
    with Issuer.init(tmp_path / "city", insecure_demo=True, now=NOW):
        pass
    config = json.loads((tmp_path / "city" / CONFIG_FILE).read_text())
    config["status_list_capacity"] = 2**24  # the old maximum: a 10%-revoked list outgrew the verifier's cap
    (tmp_path / "city" / CONFIG_FILE).write_text(json.dumps(config))
    with pytest.raises(IssuerError, match="status_list_capacity"):
        Issuer.open(tmp_path / "city")


def test_the_emergency_withdrawal_through_the_cli(tmp_path):
    city, root, pub = tmp_path / "city", tmp_path / "usb" / "root.pem", tmp_path / "pub"
    assert cli("init", city, "--insecure-demo", "--root-key", root).returncode == 0
    assert cli("rotate-key", city, "--kid", "k9", "--compromised").returncode == 1  # no such key: nothing changes
    withdrawn = cli("rotate-key", city, "--kid", "s1", "--compromised")
    assert withdrawn.returncode == 0 and "s2" in withdrawn.stdout and "sign-bundle" in withdrawn.stdout
    waiting = cli("publish", city, pub)
    assert waiting.returncode == 0 and "waiting for the root signature" in waiting.stderr
    signed = cli("sign-bundle", city, "--root-key", root)
    assert signed.returncode == 0 and "WITHDRAWN" in signed.stdout and "version 2" in signed.stdout
    assert cli("publish", city, pub).returncode == 0
    trust = TrustStore.load(pub, root_key=pub / "root-key.pem")
    assert trust.version == 2 and trust.keys["s1"].withdrawn and not trust.problems
    listed = cli("keys", city)
    assert "s1  status  WITHDRAWN" in listed.stdout and "s2  status  in use" in listed.stdout
