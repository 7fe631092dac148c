"""Keys at rest: one memory-hard envelope for every secret, old key files still open, nothing readable by others."""

from __future__ import annotations

import json
import os
import stat

import pytest
from cryptography.hazmat.primitives import serialization
from issuer_samples import NOW, PASSPHRASE, PEOPLE, write_jsonl

from issuer import Issuer, IssuerError
from issuer.keys import SCRYPT, load_private_key, load_secret

#: The issue measured 0.29 ms per guess against a PBKDF2 PEM; scrypt at these parameters costs ~0.3 s and
#: 128 MiB (./run bench reports the time); this pins the parameters that make a guess cost >= 100 ms.
MIN_SCRYPT_MEMORY = 128 * 2**20


def test_every_secret_is_sealed_with_scrypt_at_memory_hard_parameters(secure_city):
    secure_city.rotate_key(now=NOW)
    files = sorted(p for p in (secure_city.dir / "keys").iterdir() if p.name != "root-key.pub")
    assert {p.name for p in files} >= {"issuing-k1.pem", "issuing-k2.pem", "issuing-s1.pem", "registry-secret.json"}
    for path in [*files, _root(secure_city)]:  # the root key too, on its removable drive
        envelope = json.loads(path.read_bytes())
        assert envelope["kdf"] == "scrypt" and {k: envelope[k] for k in "nrp"} == SCRYPT, path.name
        assert 128 * envelope["n"] * envelope["r"] >= MIN_SCRYPT_MEMORY
        assert b"PRIVATE KEY" not in path.read_bytes()


def _root(city):
    """Where the secure_city fixture's init wrote the root private key (outside the city folder)."""
    return city.dir.parent / "usb" / "root.pem"


def test_a_key_envelope_cannot_stand_in_for_the_registry_secret(secure_city):
    with pytest.raises(IssuerError, match="cannot decrypt"):
        load_secret(_root(secure_city), PASSPHRASE.encode())


def test_pbkdf2_pem_keys_of_an_existing_city_still_open_and_are_resealed(secure_city):
    path = _root(secure_city)
    root = secure_city.keys.root_key(path)
    secure_city.close()
    old = root.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.BestAvailableEncryption(PASSPHRASE.encode()))
    path.write_bytes(old)  # exactly what earlier versions wrote
    with Issuer.open(secure_city.dir, passphrase=PASSPHRASE) as city:
        assert city.keys.root_key(path).private_numbers() == root.private_numbers()
    assert json.loads(path.read_bytes())["kdf"] == "scrypt"
    assert load_private_key(path, PASSPHRASE.encode()).private_numbers() == root.private_numbers()
    with pytest.raises(IssuerError, match="wrong passphrase"):
        load_private_key(path, b"not the passphrase at all")


def test_a_registry_secret_with_weaker_scrypt_is_resealed(secure_city):
    path = secure_city.dir / "keys" / "registry-secret.json"
    secret = secure_city.keys.registry_secret()
    from issuer import keys as keys_module

    weak = dict(SCRYPT, n=2**14)
    original = dict(keys_module.SCRYPT)
    keys_module.SCRYPT.update(weak)
    try:
        keys_module.save_secret(path, secret, PASSPHRASE.encode())
    finally:
        keys_module.SCRYPT.update(original)
    assert json.loads(path.read_bytes())["n"] == 2**14
    assert load_secret(path, PASSPHRASE.encode()) == secret
    assert json.loads(path.read_bytes())["n"] == SCRYPT["n"]


def test_a_damaged_envelope_is_a_clear_error(secure_city):
    path = secure_city.dir / "keys" / "issuing-k1.pem"
    envelope = json.loads(path.read_bytes())
    for damaged in ({**envelope, "n": 2**40}, {**envelope, "salt": "!!"}, {"kdf": "scrypt"}):
        path.write_text(json.dumps(damaged))
        with pytest.raises(IssuerError, match="damaged"):
            load_private_key(path, PASSPHRASE.encode())


def test_every_file_the_issuer_writes_under_the_city_folder_is_private(secure_city, tmp_path):
    """0600 files, 0700 folders, whatever the umask: registry and its WAL, city.json, lock, keys."""
    old = os.umask(0o022)
    try:
        report = secure_city.issue_batch(write_jsonl(tmp_path / "people.jsonl", PEOPLE[:3]), tmp_path / "out",
                                         now=NOW, workers=1, progress=False)
        assert report.issued == 3
        secure_city.revoke((next((tmp_path / "out").iterdir())).name)
        secure_city.rotate_key(now=NOW)
        secure_city.publish(tmp_path / "pub", now=NOW)
        city = secure_city.dir
        names = {p.relative_to(city).as_posix() for p in city.rglob("*")}
        assert {"registry.sqlite", "registry.sqlite-wal", "registry.sqlite-shm", "city.json", ".lock", "keys"} <= names
        for path in [city, *city.rglob("*")]:
            mode = stat.S_IMODE(path.stat().st_mode)
            assert mode == (0o700 if path.is_dir() else 0o600), f"{path.relative_to(city.parent)} is {oct(mode)}"
    finally:
        os.umask(old)


def test_an_existing_citys_loose_modes_are_tightened_on_open(demo_city):
    city = demo_city.dir
    demo_city.close()
    for path in (city, city / "registry.sqlite", city / "city.json"):
        path.chmod(0o755 if path.is_dir() else 0o644)
    Issuer.open(city).close()
    assert stat.S_IMODE(city.stat().st_mode) == 0o700
    assert stat.S_IMODE((city / "registry.sqlite").stat().st_mode) == 0o600
    assert stat.S_IMODE((city / "city.json").stat().st_mode) == 0o600


def test_print_folders_are_refused_inside_the_city_folder(demo_city, tmp_path):
    """Card folders hold names in clear (mode 0644 for the printer): they never go under the backed-up city folder."""
    people = write_jsonl(tmp_path / "people.jsonl", PEOPLE[:1])
    before = sorted(p.name for p in demo_city.dir.rglob("*"))
    with pytest.raises(IssuerError, match="inside the city folder"):
        demo_city.issue_batch(people, demo_city.dir / "cards", now=NOW, workers=1, progress=False)
    with pytest.raises(IssuerError, match="inside the city folder"):
        demo_city.issue_card(PEOPLE[0], now=NOW, out_dir=demo_city.dir)
    assert sorted(p.name for p in demo_city.dir.rglob("*")) == before
