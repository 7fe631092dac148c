"""The records vault in an HSM city: period keys in a real SoftHSM2 token, a seizure drill with the PIN in hand,
replacement verified with the SDK, destroy-all timed, and a token of the vault's own."""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import subprocess
import sys
import time
from dataclasses import replace
from datetime import date, datetime, timezone
from pathlib import Path

import pytest
from issuer_samples import NOW, PEOPLE, write_jsonl
from servers import HSM_SO_PIN
from test_privacy import personal_strings
from test_roundtrip import code_of, trust
from test_vault import (PHOTO, REPO, SCAN, assert_nothing_personal, assert_records_gone, assert_shredded_everywhere,
                        cli, folder_bytes, try_every_secret, vault_config, vault_key_material)

from issuer import Issuer, IssuerError
from issuer.config import ConfigError, from_json, to_json, validate
from issuer.hsm import TokenKeyStore, parse_uri
from issuer.reissue import attach_scans, enrolment_of, reissue
from issuer.vault import RecordShreddedError, Vault, vault_path
from issuer.vault_cli import destroy_all
from issuer.vault_token import _MESSAGE, PERIOD_KEY_PREFIX, TokenPeriodKeys
from verifier_sdk import Verifier

MODULE = "/usr/lib/softhsm/libsofthsm2.so"


@pytest.fixture
def hsm_vault_city(tmp_path, hsm_token):
    with Issuer.init(tmp_path / "city", now=NOW, config=vault_config(), key_store=hsm_token) as city:
        yield city


def period_key_labels(token) -> list[str]:
    return sorted(label for label in token.secret_key_labels() if label.startswith(PERIOD_KEY_PREFIX))


def vault_periods(*folders: Path) -> set[str]:
    found: set[str] = set()
    for folder in folders:
        if vault_path(folder).exists():
            db = sqlite3.connect(f"file:{vault_path(folder)}?mode=ro", uri=True)
            found |= {period for (period,) in db.execute("SELECT DISTINCT period FROM records")}
            db.close()
    return found


def everything_the_token_yields(token, periods: set[str]) -> list[bytes]:
    """With the PIN: every data object's value, and the HMAC every secret key in the token computes for each period."""
    from pkcs11 import Attribute, Mechanism, ObjectClass

    found = [bytes(obj[Attribute.VALUE]) for obj in token.session.get_objects({Attribute.CLASS: ObjectClass.DATA})]
    for obj in list(token.session.get_objects({Attribute.CLASS: ObjectClass.SECRET_KEY})):
        found += [bytes(obj.sign(_MESSAGE + p.encode(), mechanism=Mechanism.SHA256_HMAC)) for p in periods]
    return found


def test_hsm_seizure_drill(hsm_vault_city, tmp_path, softhsm, capsys):
    """Issue in an HSM city with the vault on, back up the city folder, shred: with the PIN, nothing is readable."""
    city = hsm_vault_city
    photo_path = tmp_path / "photo.jpg"
    photo_path.write_bytes(PHOTO)
    rows = [{**PEOPLE[0], "photo": "photo.jpg"}, *PEOPLE[1:]]
    people_file = write_jsonl(tmp_path / "people.jsonl", rows)
    report = city.issue_batch(people_file, tmp_path / "out", now=NOW, workers=2, progress=False)
    assert report.ok and report.issued == len(PEOPLE)
    with_photo = {"given_name": "Esperanza", "family_name": "Villanueva", "birthdate": "1977-05-05",
                  "photo": str(photo_path)}
    single = city.issue_card(with_photo, now=NOW, out_dir=tmp_path / "out")
    attach_scans(city, single.card_number, {"passport.pdf": SCAN})
    numbers = sorted(p.name for p in (tmp_path / "out").iterdir())
    texts = personal_strings(PEOPLE + [with_photo]) | set(numbers)
    raw = [PHOTO[100:400], SCAN[:200], *(line for line in people_file.read_bytes().split(b"\n") if line)]
    city_dir, token = city.dir, city.keys.token
    assert isinstance(city.vault.keys, TokenPeriodKeys) and city.vault.keys.uri == city.keys.uri
    assert period_key_labels(token) == ["cityid-vault-period-2026-03"]
    assert not any(p.name.endswith(".vault-keys") for p in tmp_path.iterdir())  # no key file anywhere

    # Before shredding: every record reads with the token, and only with it.
    assert enrolment_of(city, single.card_number).photo == PHOTO
    assert enrolment_of(city, single.card_number).scans == {"passport.pdf": SCAN}
    backup = tmp_path / "backup"
    shutil.copytree(city_dir, backup)  # while open: the WAL and -shm are copied too
    assert (backup / "vault" / "records.sqlite-wal").exists() and not (backup / "keys").exists()
    assert_nothing_personal(folder_bytes(backup), texts, raw, "the backup before shredding")
    assert_nothing_personal(folder_bytes(softhsm.root), texts, raw, "the token's own files")
    periods = vault_periods(backup)
    assert periods == {"2026-03"}
    assert try_every_secret(backup, [token.secret("cityid-registry-secret")]) == 0  # the one secret readable in clear
    backup_vault = Vault.open(backup, TokenPeriodKeys(token), "month")
    record = backup_vault.get(single.card_number, NOW.date())
    assert record.fields["given_name"] == "Esperanza" and record.photo == PHOTO
    assert try_every_secret(backup, everything_the_token_yields(token, periods)) == len(numbers)

    material = vault_key_material(city.vault.keys, "2026-03")
    assert city.shred(date(2026, 3, 2)) == ["2026-03"]
    assert period_key_labels(token) == [] and city.vault.keys.periods() == []

    # After: the live folder and the backup yield nothing, with the PIN and the token in hand.
    captured = capsys.readouterr()
    assert_shredded_everywhere({"the live city folder": city_dir, "the backup": backup, "the token's files": softhsm.root},
                               texts, raw, material, everything_the_token_yields(token, periods),
                               captured.out + captured.err)
    assert_records_gone(city, backup_vault, numbers, city_dir, texts, raw)
    with Issuer.open(backup) as restored:  # a restored backup opens with the PIN, and holds nothing readable
        assert restored.vault.count() == 0
        with pytest.raises(RecordShreddedError):
            reissue(restored, numbers[0], tmp_path / "new")


def test_hsm_city_cli_replace_verifies_and_destroy_all_is_timed(tmp_path, hsm_token, softhsm):
    """The office's commands in an HSM city; destroy-all of five years of monthly keys, timed, needs the PIN."""
    city = tmp_path / "city"
    init = cli("init", city, "--vault", "--key-store", hsm_token)
    assert init.returncode == 0, init.stderr
    assert json.loads((city / "city.json").read_text())["vault"] == {"enabled": True, "retention_days": None,
                                                                    "period": "month", "key_store": ""}
    photo = tmp_path / "photo.jpg"
    photo.write_bytes(PHOTO)
    people = write_jsonl(tmp_path / "people.jsonl", [{**PEOPLE[0], "photo": "photo.jpg"}, *PEOPLE[1:3]])
    runs = [cli("issue", city, "--input", people, "--out", tmp_path / "out", "--workers", "1")]
    old = sorted((tmp_path / "out").iterdir())[0]
    runs += [cli("replace", city, old.name, "--out", tmp_path / "new"), cli("publish", city, tmp_path / "pub"),
             cli("vault-status", city)]
    assert [r.returncode for r in runs] == [0, 0, 0, 0], [r.stderr for r in runs]
    (new,) = (tmp_path / "new").iterdir()
    store = trust(tmp_path / "pub")
    assert code_of(store, (old / "id.txt").read_text(), now=None) == "revoked"
    card = Verifier(store, purpose="bank").verify((new / "id.txt").read_text())
    assert card.status == "valid" and card.claims["card_number"] == new.name != old.name
    status = runs[-1].stdout.decode()
    assert "the token 'city-" in status and hsm_token.split("?")[0] in status and "3 record(s)" in status
    assert "out of the HSM's backups" in status

    with Issuer.open(city) as office:  # open in this process while another one destroys everything
        assert enrolment_of(office, new.name).card_number == new.name
        keys = TokenPeriodKeys(office.keys.token)
        for month in range(59):  # five years of monthly periods in all
            keys.key(f"{2021 + month // 12}-{month % 12 + 1:02d}", create=True)
        assert len(keys.periods()) == 60
        no_pin = cli("destroy-all", city, "--confirm", "DESTROY", env_extra={"CITYID_HSM_PIN": ""})
        wrong_pin = cli("destroy-all", city, "--confirm", "DESTROY", env_extra={"CITYID_HSM_PIN": "999999"})
        mistyped = cli("destroy-all", city, stdin="id.example.org\n")
        for refused in (no_pin, wrong_pin, mistyped):
            assert refused.returncode == 1 and b"nothing was destroyed" in refused.stderr, refused.stderr
        assert len(keys.periods()) == 60
        started = time.perf_counter()
        done = cli("destroy-all", city, stdin="id.example.gov\n")
        command_seconds = time.perf_counter() - started
        assert done.returncode == 0, done.stderr
        out = done.stdout.decode()
        reported = float(out.split(" in ")[1].split(" s ")[0])
        print(f"destroy-all, 60 period keys in SoftHSM2: {reported * 1000:.1f} ms destroying, "
              f"{command_seconds:.2f} s for the whole command")
        assert reported < 2 and command_seconds < 20
        assert "Destroyed 60 vault period key(s) and the vault file" in out
        assert "Cannot be recovered from the city folder or its backups" in out
        assert "backups or clones of that token" in out
        assert keys.periods() == [] and not vault_path(city).exists()
        with pytest.raises(RecordShreddedError):  # this process sees the destruction at once: nothing cached
            enrolment_of(office, new.name)
        assert office.keys.issuing_key("k1") and office.keys.registry_secret()  # the city's own keys stay
    after = [cli("replace", city, new.name, "--out", tmp_path / "again"), cli("publish", city, tmp_path / "pub")]
    assert after[0].returncode == 1 and b"enrols again" in after[0].stderr
    assert after[1].returncode == 0, after[1].stderr
    output = b"".join(r.stdout + r.stderr for r in [init, *runs, no_pin, wrong_pin, mistyped, done, *after])
    assert b"Traceback" not in output and softhsm.pin.encode() not in output
    assert_nothing_personal(output, personal_strings(PEOPLE[:3]) | {old.name, new.name}, [], "the commands' output")


def test_vault_in_a_token_of_its_own(tmp_path, softhsm, monkeypatch, capsys):
    """vault.key_store names a second token (e.g. an HSM partition kept out of backups): the keys go there only."""
    # SoftHSM2 lists the tokens that exist when a process first loads it: make them all first.
    city_uri, vault_uri, other_uri, second_uri = (softhsm.init_token(label)
                                                  for label in ("city", "vault", "other-city", "second-city"))
    config = vault_config(key_store=vault_uri)
    # Refused before the city's token gets any key: the same token then makes the city.
    with pytest.raises(IssuerError, match="no PIN for the vault's token"):
        Issuer.init(tmp_path / "refused", now=NOW, config=config, key_store=city_uri)
    monkeypatch.setenv("CITYID_VAULT_PIN", softhsm.pin)
    TokenKeyStore.create(other_uri, softhsm.pin).new_issuing_key("k1")
    with pytest.raises(IssuerError, match="holds a city's signing keys"):
        Issuer.init(tmp_path / "wrong", now=NOW, config=vault_config(key_store=other_uri), key_store=city_uri)
    with Issuer.init(tmp_path / "city", now=NOW, config=config, key_store=city_uri) as city:
        card = city.issue_card(PEOPLE[0], now=NOW)
        assert city.vault.keys.uri == parse_uri(vault_uri) and city.vault.keys.token is not city.keys.token
        assert period_key_labels(city.vault.keys.token) == ["cityid-vault-period-2026-03"]
        assert period_key_labels(city.keys.token) == []
        assert enrolment_of(city, card.card_number).fields["given_name"] == PEOPLE[0]["given_name"]
    # One vault token, one city: shared, each city would read (and destroy-all) the other's records.
    with pytest.raises(IssuerError, match="already holds period keys of another city"):
        Issuer.init(tmp_path / "second", now=NOW, config=config, key_store=second_uri)
    with pytest.raises(IssuerError, match="already holds a city"):
        TokenKeyStore.create(vault_uri, softhsm.pin)
    monkeypatch.delenv("CITYID_HSM_PIN")  # destroy-all logs in to the vault's token only
    assert destroy_all(tmp_path / "city", "DESTROY") == 0
    assert "Destroyed 1 vault period key(s)" in capsys.readouterr().out
    monkeypatch.setenv("CITYID_HSM_PIN", softhsm.pin)
    with Issuer.open(tmp_path / "city") as city:
        assert city.vault.keys.periods() == [] and city.vault.count() == 0
        with pytest.raises(RecordShreddedError):
            enrolment_of(city, card.card_number)
        assert city.keys.issuing_key("k1")  # the city's token was not touched


def test_where_an_hsm_city_keeps_its_period_keys_is_checked():
    uri = f"pkcs11:token=CityHall?module-path={MODULE}"
    hsm = replace(vault_config(), key_store=uri)
    assert validate(hsm).vault.key_store == ""  # the city's own token
    own = replace(vault_config(key_store=f"pkcs11:token=CityVault?module-path={MODULE}"), key_store=uri)
    assert from_json(to_json(own)) == own
    with pytest.raises(ConfigError, match="kept in a token too"):  # sealed with the passphrase an HSM city lacks
        validate(replace(vault_config(key_store="/srv/vault-keys"), key_store=uri))
    with pytest.raises(ConfigError, match="key files"):
        validate(vault_config(key_store=f"pkcs11:token=CityVault?module-path={MODULE}"))
    with pytest.raises(ConfigError, match="PIN"):
        validate(replace(vault_config(key_store=f"pkcs11:token=V?module-path={MODULE}&pin-value=1"), key_store=uri))
    with pytest.raises(ConfigError, match="absolute path"):
        validate(replace(vault_config(key_store="pkcs11:token=V?module-path=softhsm2.so"), key_store=uri))


RACER = """
import hashlib, sys, time
from datetime import date
from issuer import Issuer
from issuer.vault import VaultRecord
with Issuer.open(sys.argv[1]) as city:
    while time.time() < float(sys.argv[2]):  # both processes start at the same instant
        pass
    for day in range(1, 21):
        city.vault.put(VaultRecord(f"1000000{day:04d}{sys.argv[3]}", date(2030, 1, day), 2**31, {"n": day}))
    print(" ".join(hashlib.sha256(city.vault.keys.key(f"2030-01-{day:02d}")).hexdigest() for day in range(1, 21)))
"""


def test_centres_making_a_period_key_at_the_same_instant_share_one(tmp_path, hsm_token, softhsm, postgres_url):
    """Two centres (copies of the city folder, each its own vault file) on one token and one registry each make
    the first key of the same (daily) periods at once: one key per period, which opens both centres' records."""
    centres = [tmp_path / "centre-a", tmp_path / "centre-b"]
    Issuer.init(centres[0], now=NOW, config=vault_config(period="day"), key_store=hsm_token,
                registry=postgres_url).close()
    shutil.copytree(centres[0], centres[1])
    start = f"{time.time() + 2:.3f}"
    racers = [subprocess.Popen([sys.executable, "-c", RACER, centre, start, tag], stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, env={**os.environ, "PYTHONPATH": str(REPO)})
              for centre, tag in zip(centres, "12")]
    (first, first_err), (second, second_err) = (racer.communicate(timeout=120) for racer in racers)
    assert [r.returncode for r in racers] == [0, 0], first_err + second_err
    assert first == second and len(set(first.split())) == 20  # one key per period, the same in both centres
    with Issuer.open(centres[0]) as city:
        assert len(period_key_labels(city.keys.token)) == 20 == len(city.vault.keys.periods())
        vault_b = Vault.open(centres[1], city.vault.keys, "day")
        for day in range(1, 21):
            assert city.vault.get(f"1000000{day:04d}1", date(2030, 1, day)).fields == {"n": day}
            assert vault_b.get(f"1000000{day:04d}2", date(2030, 1, day)).fields == {"n": day}
        vault_b.close()


def test_hsm_destroy_all_destroys_a_key_whose_name_is_no_period(tmp_path, hsm_token, softhsm):
    """A secret key labelled cityid-vault-period-2026-13 (made by hand) stops neither vault-status nor destroy-all."""
    city = tmp_path / "city"
    assert cli("init", city, "--vault", "--key-store", hsm_token).returncode == 0
    people = write_jsonl(tmp_path / "people.jsonl", PEOPLE[:1])
    assert cli("issue", city, "--input", people, "--out", tmp_path / "out", "--workers", "1").returncode == 0
    import pkcs11

    store = TokenKeyStore(hsm_token, softhsm.pin)
    for odd in ("2026-13", "2026-W60"):
        store.token.session.generate_key(pkcs11.KeyType.GENERIC_SECRET, 256, label=PERIOD_KEY_PREFIX + odd, store=True)
    store.close()
    status = cli("vault-status", city)
    assert status.returncode == 0, status.stderr
    assert b"1 record(s)" in status.stdout and b"(2026-13, 2026-W60); destroy-all destroys them too" in status.stdout
    done = cli("destroy-all", city, "--confirm", "DESTROY")
    assert done.returncode == 0, done.stderr
    assert b"Destroyed 3 vault period key(s) and the vault file" in done.stdout
    assert b"Cannot be recovered from the city folder or its backups" in done.stdout
    with Issuer.open(city) as office:
        assert period_key_labels(office.keys.token) == []


def test_hsm_destroy_all_after_vault_key_store_changed_says_where_the_keys_are(tmp_path, softhsm):
    """vault.key_store now names another token: the vault refuses it, and destroy-all (which destroys what that
    token holds) says the records' keys are in the token the vault was created with, not that nothing survives."""
    city_uri, other_uri = softhsm.init_token("city"), softhsm.init_token("other")
    city = tmp_path / "city"
    assert cli("init", city, "--vault", "--key-store", city_uri).returncode == 0
    people = write_jsonl(tmp_path / "people.jsonl", PEOPLE[:1])
    assert cli("issue", city, "--input", people, "--out", tmp_path / "out", "--workers", "1").returncode == 0
    config = json.loads((city / "city.json").read_text())
    config["vault"]["key_store"] = other_uri
    (city / "city.json").write_text(json.dumps(config))
    pin = {"CITYID_VAULT_PIN": softhsm.pin}
    status = cli("vault-status", city, env_extra=pin)
    assert status.returncode == 1 and b"period keys are in the token 'city' (serial number " in status.stderr
    done = cli("destroy-all", city, "--confirm", "DESTROY", env_extra=pin)
    out = done.stdout.decode()
    assert done.returncode == 1 and "Cannot be recovered" not in out
    assert "NOT destroyed: the keys of 1 record(s), which are not in this key store: the vault recorded its keys in " \
           "the token 'city' (serial number" in out
    store = TokenKeyStore(city_uri, softhsm.pin)
    assert period_key_labels(store.token) == [PERIOD_KEY_PREFIX + datetime.now(timezone.utc).strftime("%Y-%m")]
    store.close()
    no_pin = cli("destroy-all", city, "--confirm", "DESTROY", env_extra={"CITYID_VAULT_PIN": ""})
    assert no_pin.returncode == 1 and b"nothing was destroyed" in no_pin.stderr
    assert b"security officer re-initialising the vault's token" in no_pin.stderr


def test_two_keys_of_one_period_both_open_their_records(hsm_vault_city):
    """Two keys for one period (made by processes that did not share one lock): records under either open, new
    records go under the lowest id, and neither key is destroyed behind the office's back."""
    city = hsm_vault_city
    first = city.issue_card(PEOPLE[0], now=NOW)
    token = city.keys.token
    label = PERIOD_KEY_PREFIX + "2026-03"
    import pkcs11

    # The lowest id possible: new records go under this second key, the first card's record stays under the first.
    token.session.generate_key(pkcs11.KeyType.GENERIC_SECRET, 256, id=bytes(16), label=label, store=True,
                               capabilities=pkcs11.MechanismFlag.SIGN)
    assert len(token.secret_key_ids(label)) == 2
    second = city.issue_card(PEOPLE[1], now=NOW)
    for card, person in ((first, PEOPLE[0]), (second, PEOPLE[1])):
        assert enrolment_of(city, card.card_number).fields["given_name"] == person["given_name"]
    lowest = token.hmac_sha256(label, token.secret_key_ids(label)[0], _MESSAGE + b"2026-03")
    assert city.vault.keys.key("2026-03") == lowest and city.vault.count() == 2
    assert len(token.secret_key_ids(label)) == 2
    assert city.shred(date(2026, 3, 2)) == ["2026-03"] and token.secret_key_ids(label) == []


def test_one_token_named_through_two_module_paths_is_one_token(tmp_path, hsm_token, softhsm):
    """vault.key_store names the city's token through a symlink to the same module: one token, one session."""
    link = tmp_path / "libsofthsm2-link.so"
    link.symlink_to(os.path.realpath(softhsm.module))
    label = parse_uri(hsm_token).token
    config = vault_config(key_store=f"pkcs11:token={label}?module-path={link}")
    Issuer.init(tmp_path / "city", now=NOW, config=config, key_store=hsm_token).close()
    with Issuer.open(tmp_path / "city") as city:
        city.issue_card(PEOPLE[0], now=NOW)
        assert city.vault.keys.token is city.keys.token
        assert period_key_labels(city.keys.token) == ["cityid-vault-period-2026-03"]


def test_a_failed_init_closes_the_vault_token_session(tmp_path, softhsm, monkeypatch):
    from issuer.hsm import Token

    city_uri, vault_uri = softhsm.init_token("city"), softhsm.init_token("vault")
    monkeypatch.setenv("CITYID_VAULT_PIN", softhsm.pin)
    TokenKeyStore.create(city_uri, softhsm.pin).close()  # the city's token already holds a city: init fails late
    before = Token._open
    with pytest.raises(IssuerError, match="already holds a city's keys"):
        Issuer.init(tmp_path / "city", now=NOW, config=vault_config(key_store=vault_uri), key_store=city_uri)
    assert Token._open == before


LATE_TOKEN = """
import subprocess, sys
from issuer.hsm import TokenKeyStore
first = TokenKeyStore(sys.argv[1], sys.argv[3])
first.close()
subprocess.run(sys.argv[4:], check=True, capture_output=True)  # a token made after the module listed its tokens
later = TokenKeyStore(sys.argv[2], sys.argv[3])
print(len(later.token.labels()))
"""


def test_a_token_made_after_the_module_was_loaded_is_found(tmp_path, softhsm):
    """With no session open, a token the module did not list at load is found by initialising the module again."""
    first = softhsm.init_token("first")
    make_later = ["softhsm2-util", "--init-token", "--free", "--label", "later", "--so-pin", HSM_SO_PIN,
                  "--pin", softhsm.pin]
    later = first.replace("token=first", "token=later")
    run = subprocess.run([sys.executable, "-c", LATE_TOKEN, first, later, softhsm.pin, *make_later],
                         capture_output=True, env={**os.environ, "PYTHONPATH": str(REPO)}, timeout=60)
    assert run.returncode == 0 and run.stdout == b"0\n", run.stderr
