"""The records vault: a seizure drill, replacement and renewal verified with the SDK, shredding and destroy-all."""

from __future__ import annotations

import base64
import io
import json
import os
import shutil
import sqlite3
import subprocess
import sys
from dataclasses import replace
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

import pytest
from issuer_samples import NOW, PASSPHRASE, PEOPLE, write_jsonl
from test_privacy import personal_strings
from test_roundtrip import code_of, trust

from issuer import Issuer, IssuerError
from issuer.config import ConfigError, VaultConfig, default_config, from_json, to_json, validate
from issuer.demo import sample_portrait
from issuer.keys import load_secret, unseal
from issuer.periodkeys import PERIOD_KEY_LABEL, PeriodKeys, default_key_store
from issuer.reissue import attach_scans, enrolment_of, reissue, renew_expiring
from issuer.vault import RecordShreddedError, Vault, VaultError, _associated, _derive, vault_path
from verifier_sdk import Verifier

REPO = Path(__file__).resolve().parents[2]
#: Stand-in photo bytes: a JPEG header and a pattern no ciphertext or SQLite page would hold by chance.
def _portrait() -> bytes:
    """A real JPEG (the issuer decodes the photo it prints, so a stand-in header would be refused)."""
    out = io.BytesIO()
    sample_portrait(out, 5)
    return out.getvalue()


PHOTO = _portrait()
SCAN = b"%PDF-1.7 scanned passport page of a resident " * 50


def vault_config(**vault):
    return replace(default_config("https://id.example.gov"), vault=VaultConfig(enabled=True, **vault))


@pytest.fixture
def vault_city(tmp_path, monkeypatch):
    monkeypatch.setenv("CITYID_PASSPHRASE", PASSPHRASE)
    with Issuer.init(tmp_path / "city", now=NOW, config=vault_config(), root_key_out=tmp_path / "usb" / "root.pem") as city:
        yield city


def folder_bytes(folder: Path) -> bytes:
    return b"".join(p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file())


def encodings(value: bytes) -> list[bytes]:
    """The byte value, and its base64 at each of the three alignments (inner part, so padding does not matter)."""
    forms = [value]
    for shift in range(3):
        encoded = base64.b64encode(value[shift:])
        forms += [encoded[4:-4], base64.urlsafe_b64encode(value[shift:])[4:-4]]
    return [f for f in forms if len(f) >= 8]


def assert_nothing_personal(blob: bytes, texts: set[str], raw: list[bytes], where: str) -> None:
    for value in texts:
        if len(value.encode("utf-8")) < 4:
            continue
        for encoding in ("utf-8", "utf-16-le", "utf-16-be"):
            for form in encodings(value.encode(encoding)) if len(value) >= 8 else [value.encode(encoding)]:
                assert form not in blob, f"a personal value appears in {where} ({encoding})"
    for value in raw:
        for form in encodings(value):
            assert form not in blob, f"photo or input-row bytes appear in {where}"


def vault_key_material(keys, period: str) -> list[bytes]:
    """A period's key material and the wrap and lookup keys derived from it (what must never reach a disk)."""
    material = keys.key(period)
    assert material is not None
    return [material, _derive(material, b"wrap"), _derive(material, b"lookup")]


def assert_no_key_material(blob: bytes, secrets: list[bytes], where: str) -> None:
    for secret in secrets:
        for form in [*encodings(secret), secret.hex().encode(), secret.hex().upper().encode()]:
            assert form not in blob, f"vault key material appears in {where}"


def assert_shredded_everywhere(folders: dict[str, Path], texts: set[str], raw: list[bytes], material: list[bytes],
                               secrets: list[bytes], output: str) -> None:
    """After shredding: no folder holds personal data or key material, no secret opens a row, the output is clean."""
    for where, folder in folders.items():
        assert_nothing_personal(folder_bytes(folder), texts, raw, where)
        assert_no_key_material(folder_bytes(folder), material, where)
        assert try_every_secret(folder, secrets) == 0
    assert_no_key_material(output.encode(), material, "the output")


def assert_records_gone(city: Issuer, backup_vault: Vault, numbers: list[str], city_dir: Path, texts: set[str],
                        raw: list[bytes]) -> None:
    """After shredding: neither the live city nor the backup's vault yields a record; closing leaves nothing behind."""
    for number in numbers:
        with pytest.raises(RecordShreddedError):
            backup_vault.get(number, NOW.date())
        with pytest.raises(RecordShreddedError, match="enrols again"):
            enrolment_of(city, number)
    backup_vault.close()
    city.close()
    assert_nothing_personal(folder_bytes(city_dir), texts, raw, "the live city folder after close")


def try_every_secret(city_dir: Path, secrets: list[bytes]) -> int:
    """Try each secret the passphrase opens as a period key on every vault row; count rows it opens."""
    from cryptography.exceptions import InvalidTag
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    opened = 0
    path = vault_path(city_dir)
    if not path.exists():
        return 0
    db = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    for period, rid, wrapped in db.execute("SELECT period, rid, wrapped FROM records"):
        for secret in secrets:
            try:
                AESGCM(_derive(secret, b"wrap")).decrypt(wrapped[:12], wrapped[12:], _associated(rid, period))
                opened += 1
            except InvalidTag:
                pass
    db.close()
    return opened


def unsealable_secrets(folder: Path) -> list[bytes]:
    """Every sealed secret in a city's keys/ folder or a period-key store, opened with the passphrase."""
    found = [load_secret(path, PASSPHRASE.encode()) for path in folder.glob("keys/*.json")]
    found += [unseal(path.read_bytes(), PASSPHRASE.encode(), "private key", path.name)[0]
              for path in folder.glob("keys/*.pem")]
    return found + [load_secret(path, PASSPHRASE.encode(), PERIOD_KEY_LABEL) for path in folder.glob("*.key")]


def test_seizure_drill(vault_city, tmp_path, capsys):
    """Issue with the vault on, back up the city folder, shred: no backup or live file yields a resident's data."""
    photo_path = tmp_path / "photo.jpg"
    photo_path.write_bytes(PHOTO)
    rows = [{**PEOPLE[0], "photo": "photo.jpg"}, *PEOPLE[1:]]  # the batch's photo column, relative to the input
    people_file = write_jsonl(tmp_path / "people.jsonl", rows)
    report = vault_city.issue_batch(people_file, tmp_path / "out", now=NOW, workers=2, progress=False)
    assert report.ok and report.issued == len(PEOPLE)
    batch_numbers = [p.name for p in (tmp_path / "out").iterdir()]
    photographed = [n for n in batch_numbers if enrolment_of(vault_city, n).fields["given_name"] == PEOPLE[0]["given_name"]]
    assert len(photographed) == 1 and enrolment_of(vault_city, photographed[0]).photo == PHOTO
    with_photo = {"given_name": "Esperanza", "family_name": "Villanueva", "birthdate": "1977-05-05",
                  "photo": str(photo_path)}
    single = vault_city.issue_card(with_photo, now=NOW, out_dir=tmp_path / "out")
    attach_scans(vault_city, single.card_number, {"passport.pdf": SCAN})
    numbers = sorted(p.name for p in (tmp_path / "out").iterdir())
    input_lines = [line for line in people_file.read_bytes().split(b"\n") if line]
    texts = personal_strings(PEOPLE + [with_photo]) | set(numbers)
    raw = [PHOTO[100:400], SCAN[:200], *input_lines]
    city_dir, store_dir = vault_city.dir, vault_city.vault.keys.dir
    assert store_dir == default_key_store(city_dir) and not store_dir.is_relative_to(city_dir)

    # Before shredding: every record is readable with the keys, and only with them.
    assert enrolment_of(vault_city, single.card_number).photo == PHOTO
    assert enrolment_of(vault_city, single.card_number).scans == {"passport.pdf": SCAN}
    assert vault_city.vault.count() == len(numbers)
    backup = tmp_path / "backup"
    shutil.copytree(city_dir, backup)  # while open: the WAL and -shm are copied too
    assert (backup / "vault" / "records.sqlite-wal").exists() and (backup / "registry.sqlite-wal").exists()
    assert_nothing_personal(folder_bytes(backup), texts, raw, "the backup before shredding")
    assert try_every_secret(backup, unsealable_secrets(backup)) == 0
    backup_vault = Vault.open(backup, PeriodKeys(store_dir, PASSPHRASE.encode()), "month")
    record = backup_vault.get(single.card_number, NOW.date())
    assert record.fields["given_name"] == "Esperanza" and record.photo == PHOTO
    assert try_every_secret(backup, unsealable_secrets(store_dir)) == len(numbers)

    material = vault_key_material(vault_city.vault.keys, "2026-03")
    destroyed = vault_city.shred(date(2026, 3, 2))
    assert destroyed == ["2026-03"] and not list(store_dir.iterdir())

    # After: the live folder, the backup and the key store yield nothing, with the passphrase in hand.
    secrets = unsealable_secrets(city_dir) + unsealable_secrets(backup) + unsealable_secrets(store_dir)
    assert len(secrets) >= 6  # root key, issuing key, registry secret: live and backup
    captured = capsys.readouterr()
    assert_shredded_everywhere({"the live city folder": city_dir, "the backup": backup, "the key store": store_dir},
                               texts, raw, material, secrets, captured.out + captured.err)
    assert_records_gone(vault_city, backup_vault, numbers, city_dir, texts, raw)
    shutil.rmtree(city_dir)
    shutil.copytree(backup, city_dir)  # restored where the city was: its vault opens only with its own key store
    with Issuer.open(city_dir, PASSPHRASE) as restored:  # a restored backup opens, and holds nothing readable
        assert restored.vault.count() == 0
        with pytest.raises(RecordShreddedError):
            reissue(restored, numbers[0], tmp_path / "new")


def test_replace_card_verifies_old_revoked_new_valid(vault_city, tmp_path):
    photo_path = tmp_path / "photo.jpg"
    photo_path.write_bytes(PHOTO)
    old = vault_city.issue_card({**PEOPLE[0], "photo": str(photo_path)}, now=NOW, out_dir=tmp_path / "out")
    other = vault_city.issue_card(PEOPLE[1], now=NOW)
    attach_scans(vault_city, old.card_number, {"passport.pdf": SCAN})
    new = reissue(vault_city, old.card_number, tmp_path / "new", now=NOW + timedelta(days=3))
    assert new.card_number != old.card_number and set(new.status.values()).isdisjoint(old.status.values())
    assert new.folder == tmp_path / "new" / new.card_number and (new.folder / "front.png").exists()
    store = trust(vault_city.publish(tmp_path / "pub", now=NOW + timedelta(days=3)))
    when = NOW + timedelta(days=4)
    assert code_of(store, old.faces["id"], now=when) == "revoked"
    assert code_of(store, old.faces["culture"], "museum", now=when) == "revoked"
    bank = Verifier(store, purpose="bank").verify(new.folder.joinpath("id.txt").read_text(), now=when)
    assert bank.status == "valid" and bank.claims["card_number"] == new.card_number
    assert (bank.claims["given_name"], bank.claims["birthdate"]) == (PEOPLE[0]["given_name"], PEOPLE[0]["birthdate"])
    assert Verifier(store, purpose="museum").verify(new.faces["culture"], now=when).claims["museum_tier"] == "gold"
    assert code_of(store, other.faces["id"], now=when) == "valid"
    record = enrolment_of(vault_city, new.card_number)  # the record follows the resident
    assert record.photo == PHOTO and record.scans == {"passport.pdf": SCAN}
    with pytest.raises(RecordShreddedError, match="already replaced"):  # the same lost card twice: nothing issued
        reissue(vault_city, old.card_number, tmp_path / "new")
    with pytest.raises(IssuerError, match="no card"):
        reissue(vault_city, "100000000008", tmp_path / "new")


def test_renew_cards_close_to_expiry(vault_city, tmp_path):
    days = vault_city.config.validity_days
    expiring = [vault_city.issue_card(p, now=NOW - timedelta(days=days - 20)) for p in PEOPLE[:2]]
    lost = vault_city.issue_card(PEOPLE[2], now=NOW - timedelta(days=days - 10))
    vault_city.revoke(lost.card_number)
    fresh = vault_city.issue_card(PEOPLE[3], now=NOW)
    gone = vault_city.issue_card(PEOPLE[4], now=NOW - timedelta(days=days - 25))  # its record is gone
    vault_city.vault.delete(gone.card_number, (NOW - timedelta(days=days - 25)).date())
    report = renew_expiring(vault_city, tmp_path / "renewed", within_days=30, now=NOW)
    assert len(report.renewed) == 2 and report.skipped_revoked == 1 and report.without_record == 1
    assert {c.card_number for c in report.renewed}.isdisjoint({c.card_number for c in expiring})
    assert all(c.expires_at.date() > (NOW + timedelta(days=days - 1)).date() for c in report.renewed)
    store = trust(vault_city.publish(tmp_path / "pub", now=NOW))
    assert [code_of(store, c.faces["id"]) for c in expiring] == ["revoked", "revoked"]
    assert [code_of(store, c.faces["id"]) for c in report.renewed] == ["valid", "valid"]
    assert code_of(store, fresh.faces["id"]) == "valid"
    assert renew_expiring(vault_city, tmp_path / "renewed", within_days=30, now=NOW).renewed == []


def test_retention_shreds_at_publish(tmp_path, monkeypatch):
    monkeypatch.setenv("CITYID_PASSPHRASE", PASSPHRASE)
    with Issuer.init(tmp_path / "city", now=NOW, config=vault_config(retention_days=40),
                     root_key_out=tmp_path / "usb" / "root.pem") as city:
        march = city.issue_card(PEOPLE[0], now=NOW)
        april = city.issue_card(PEOPLE[1], now=NOW + timedelta(days=31))
        city.publish(tmp_path / "pub", now=NOW + timedelta(days=40))  # 2026-04-10: March began 40 days ago, kept
        assert enrolment_of(city, march.card_number)
        city.publish(tmp_path / "pub", now=NOW + timedelta(days=41))
        with pytest.raises(RecordShreddedError):
            enrolment_of(city, march.card_number)
        assert enrolment_of(city, april.card_number).fields["given_name"] == PEOPLE[1]["given_name"]
        assert city.vault.keys.periods() == ["2026-04"]


def test_vault_refuses_tampering_and_a_key_store_inside_the_city(vault_city, tmp_path):
    card, other = vault_city.issue_card(PEOPLE[0], now=NOW), vault_city.issue_card(PEOPLE[1], now=NOW)
    db = vault_city.vault.db
    (a, rid_a), (b, rid_b) = db.execute("SELECT lookup, rid FROM records").fetchall()
    with vault_city.vault.db:  # swap two rows' lookups: each card would open the other's record
        db.execute("UPDATE records SET lookup = ? WHERE rid = ?", (b"x", rid_a))
        db.execute("UPDATE records SET lookup = ? WHERE rid = ?", (a, rid_b))
        db.execute("UPDATE records SET lookup = ? WHERE rid = ?", (b, rid_a))
    for number in (card.card_number, other.card_number):
        with pytest.raises(VaultError, match="integrity"):
            enrolment_of(vault_city, number)
    with vault_city.vault.db:
        db.execute("UPDATE records SET lookup = ? WHERE rid = ?", (b"x", rid_a))
        db.execute("UPDATE records SET lookup = ? WHERE rid = ?", (b, rid_b))
        db.execute("UPDATE records SET lookup = ? WHERE rid = ?", (a, rid_a))
    assert enrolment_of(vault_city, card.card_number).card_number == card.card_number
    sealed = bytearray(db.execute("SELECT sealed FROM records").fetchone()[0])
    sealed[40] ^= 1
    db.execute("UPDATE records SET sealed = ?", (bytes(sealed),))
    with pytest.raises(VaultError, match="integrity"):
        enrolment_of(vault_city, card.card_number)
    with pytest.raises(VaultError, match="print folder is inside the city folder"):
        vault_city.issue_card(PEOPLE[2], now=NOW, out_dir=vault_city.dir / "cards")
    inside = replace(vault_city.config, vault=VaultConfig(enabled=True, key_store="keys/vault"))
    with pytest.raises(IssuerError, match="inside the city folder"):
        Issuer(vault_city.dir, inside, vault_city.keys, vault_city.registry)


def test_a_new_city_refuses_a_vault_key_store_that_holds_keys(vault_city, tmp_path):
    """Two cities on one key store would each read (and destroy-all) the other's records."""
    vault_city.issue_card(PEOPLE[0], now=NOW)
    shared = vault_config(key_store=str(vault_city.vault.keys.dir))
    with pytest.raises(IssuerError, match="already holds period keys of another city"):
        Issuer.init(tmp_path / "second", now=NOW, config=shared, root_key_out=tmp_path / "usb-2" / "root.pem")
    assert not (tmp_path / "second").exists()  # refused before anything was made


def test_vault_config_round_trip_and_checks():
    config = vault_config(retention_days=400, period="week", key_store="/srv/vault-keys")
    assert from_json(to_json(config)) == config
    assert json.loads(to_json(config))["vault"]["retention_days"] == 400
    assert from_json(to_json(default_config("https://id.example.gov"))).vault.enabled is False
    text = json.loads(to_json(config))
    text["vault"]["path"] = "/elsewhere"
    with pytest.raises(ConfigError, match="unknown vault setting"):
        from_json(json.dumps(text))
    for bad in ({"period": "year"}, {"retention_days": -1}, {"retention_days": "90"}, {"retention_days": True}):
        with pytest.raises(ConfigError, match="vault"):
            validate(vault_config(**bad))


def test_without_the_vault_replacement_says_so(secure_city, tmp_path):
    card = secure_city.issue_card(PEOPLE[0], now=NOW)
    assert secure_city.vault is None
    with pytest.raises(VaultError, match="vault is off"):
        reissue(secure_city, card.card_number, tmp_path / "new")


def cli(*args, stdin: str = "", env_extra=None):
    env = {**os.environ, "PYTHONPATH": str(REPO), "CITYID_PASSPHRASE": PASSPHRASE, **(env_extra or {})}
    return subprocess.run([sys.executable, "-m", "issuer.cli", *map(str, args)], capture_output=True, env=env,
                          input=stdin.encode(), timeout=120)


def test_cli_vault_commands_and_destroy_all(tmp_path):
    city = tmp_path / "city"
    assert cli("init", city, "--vault", "--root-key", tmp_path / "usb" / "root.pem").returncode == 0
    people = write_jsonl(tmp_path / "people.jsonl", PEOPLE[:3])
    assert cli("issue", city, "--input", people, "--out", tmp_path / "out", "--workers", "1").returncode == 0
    numbers = sorted(p.name for p in (tmp_path / "out").iterdir())
    runs = [cli("replace", city, numbers[0], "--out", tmp_path / "new"),
            cli("renew", city, numbers[1], "--out", tmp_path / "new"),
            cli("renew", city, "--within", "20000", "--out", tmp_path / "renewed"),
            cli("publish", city, tmp_path / "pub")]
    assert [r.returncode for r in runs] == [0, 0, 0, 0], [r.stderr for r in runs]
    assert b"revoked from the next `cityid-issuer publish`" in runs[0].stdout
    assert len(list((tmp_path / "new").iterdir())) == 2 and len(list((tmp_path / "renewed").iterdir())) == 3
    new_numbers = [p.name for p in (tmp_path / "new").iterdir()] + [p.name for p in (tmp_path / "renewed").iterdir()]
    status = cli("vault-status", city)
    assert status.returncode == 0 and b"): 3 record(s)." in status.stdout and b"Retention: none set" in status.stdout
    runs.append(status)
    scan = tmp_path / "passport.pdf"
    scan.write_bytes(SCAN)
    attached = cli("attach", city, new_numbers[-1], scan)
    assert attached.returncode == 0 and b"1 scan(s) added" in attached.stdout
    refused = cli("destroy-all", city, stdin="yes\n")
    assert refused.returncode == 1 and b"nothing was destroyed" in refused.stderr
    assert list(default_key_store(city).iterdir())
    done = cli("destroy-all", city, stdin="id.example.gov\n")
    assert done.returncode == 0, done.stderr
    assert b"Destroyed 1 vault period key(s) and the vault file in" in done.stdout
    assert b"Cannot be recovered" in done.stdout and b"Still exists" in done.stdout
    assert not list(default_key_store(city).iterdir()) and not vault_path(city).exists()
    after = cli("replace", city, new_numbers[-1], "--out", tmp_path / "again")
    assert after.returncode == 1 and b"enrols again" in after.stderr
    output = b"".join(r.stdout + r.stderr for r in [*runs, attached, refused, done, after])
    assert b"Traceback" not in output
    from test_privacy import assert_absent

    assert_absent(output, personal_strings(PEOPLE[:3]) | set(numbers) | set(new_numbers), "the vault commands' output")
    assert cli("shred", city, "--before", "2026-13-01").returncode == 2


def test_destroy_all_destroys_oddly_named_keys_and_keeps_going_past_a_failure(tmp_path):
    """A key file whose name is not a real period (2026-13) neither stops vault-status nor destroy-all, and a key
    that cannot be destroyed is reported, with the count of those that were, while the others still go."""
    city = tmp_path / "city"
    assert cli("init", city, "--vault", "--root-key", tmp_path / "usb" / "root.pem").returncode == 0
    people = write_jsonl(tmp_path / "people.jsonl", PEOPLE[:2])
    assert cli("issue", city, "--input", people, "--out", tmp_path / "out", "--workers", "1").returncode == 0
    store = default_key_store(city)
    (real,) = store.iterdir()
    shutil.copy(real, store / "period-2026-13.key")  # shaped like a period, and no period
    shutil.copy(real, store / "period-2026-02-30.key")
    status = cli("vault-status", city)
    assert status.returncode == 0, status.stderr
    assert b"2 record(s)" in status.stdout and b"(2026-02-30, 2026-13); destroy-all destroys them too" in status.stdout
    (store / "period-2026-W60.key").mkdir()  # a key that cannot be overwritten: destroy-all must not stop there
    done = cli("destroy-all", city, "--confirm", "DESTROY")
    out = done.stdout.decode()
    assert done.returncode == 1 and b"Traceback" not in done.stderr
    assert "Destroyed 3 vault period key(s) and the vault file" in out
    assert "2 of them had a name that is not a real period (2026-02-30, 2026-13)" in out
    assert "NOT destroyed: 1 period key(s): 2026-W60 (Is a directory)" in out and "Cannot be recovered" not in out
    assert b"destroyed 3 vault key(s) and could not destroy 1" in done.stderr
    assert [p.name for p in store.iterdir()] == ["period-2026-W60.key"] and not vault_path(city).exists()
    (store / "period-2026-W60.key").rmdir()
    again = cli("destroy-all", city, "--confirm", "DESTROY")
    assert again.returncode == 0 and b"nothing to destroy" in again.stdout


def test_a_moved_key_folder_is_refused_and_destroy_all_says_where_the_keys_are(vault_city, tmp_path):
    """The vault records its key store: opened with another (the city folder moved, vault.key_store changed), it
    refuses, naming the store it was created with, and destroy-all does not claim that nothing can be recovered."""
    vault_city.issue_card(PEOPLE[0], now=NOW)
    store = vault_city.vault.keys.dir
    vault_city.close()
    moved = tmp_path / "moved"
    (tmp_path / "city").rename(moved)  # its default key folder is now moved.vault-keys, which is empty
    with pytest.raises(VaultError, match=f"period keys are in the folder {store}, but city.json now names"):
        Issuer.open(moved, PASSPHRASE)
    status = cli("vault-status", moved)
    assert status.returncode == 1 and str(store).encode() in status.stderr and b"Periods held" not in status.stdout
    done = cli("destroy-all", moved, "--confirm", "DESTROY")
    out = done.stdout.decode()
    assert done.returncode == 1 and "Cannot be recovered" not in out
    assert f"NOT destroyed: the keys of 1 record(s), which are not in this key store: the vault recorded its keys in " \
           f"the folder {store}" in out
    assert len(list(store.iterdir())) == 1  # still there, as said
    config = json.loads((moved / "city.json").read_text())
    config["vault"]["key_store"] = str(store)
    (moved / "city.json").write_text(json.dumps(config))
    assert cli("destroy-all", moved, "--confirm", "DESTROY").returncode == 0 and not list(store.iterdir())


def test_a_vault_made_before_the_key_store_was_recorded_records_it_at_first_open(vault_city, tmp_path):
    vault_city.issue_card(PEOPLE[0], now=NOW)
    store = vault_city.vault.keys
    vault_city.vault.db.execute("DELETE FROM meta WHERE name = 'key_store'")
    vault_city.close()
    with Issuer.open(tmp_path / "city", PASSPHRASE) as city:
        assert city.vault.count() == 1
    db = sqlite3.connect(vault_path(tmp_path / "city"))
    assert db.execute("SELECT value FROM meta WHERE name = 'key_store'").fetchone() == (store.identity(),)
    db.close()
    other = PeriodKeys(tmp_path / "elsewhere", PASSPHRASE.encode())
    with pytest.raises(VaultError, match="period keys are in the folder"):
        Vault.open(tmp_path / "city", other, "month")


def test_closing_a_vault_leaves_the_key_store_it_was_handed_open(vault_city, tmp_path):
    card = vault_city.issue_card(PEOPLE[0], now=NOW)
    keys = vault_city.vault.keys
    held = keys.key("2026-03")
    Vault.open(tmp_path / "city", keys, "month").close()
    assert keys._cache == {"2026-03": held}  # the city's vault still has its keys
    assert enrolment_of(vault_city, card.card_number).fields["given_name"] == PEOPLE[0]["given_name"]


PUBLISHER = """
import sys, time
from datetime import date
from pathlib import Path
from issuer import Issuer
with Issuer.open(sys.argv[1]) as city, city._exclusive():  # what publish and shred do: city lock, then vault
    Path(sys.argv[2]).touch()
    time.sleep(1.5)  # the issuer has started its put by now
    started = time.monotonic()
    city.vault.shred_before(date(2000, 1, 1))
    print(f"{time.monotonic() - started:.2f}")
"""

ISSUER = """
import sys, time
from datetime import date
from pathlib import Path
from issuer import Issuer
from issuer.vault import VaultRecord
with Issuer.open(sys.argv[1]) as city:
    while not Path(sys.argv[2]).exists():
        time.sleep(0.01)
    started = time.monotonic()
    city.vault.put(VaultRecord("100000000019", date(2031, 5, 1), 2**31, {"n": 1}))  # a new period: a new key
    print(f"{time.monotonic() - started:.2f}")
"""


def test_issuing_while_publish_holds_the_city_lock_waits_for_it_without_deadlock(vault_city, tmp_path):
    """put makes its period's key (under the city's lock) before taking the vault's write lock: publish and shred
    take them the other way round, and a put that held the vault first stalled 15 s, then failed."""
    vault_city.close()
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    flag = tmp_path / "locked"
    runs = [subprocess.Popen([sys.executable, "-c", code, tmp_path / "city", flag], stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, env=env) for code in (PUBLISHER, ISSUER)]
    (published, published_err), (issued, issued_err) = (run.communicate(timeout=120) for run in runs)
    assert [run.returncode for run in runs] == [0, 0], published_err + issued_err
    assert float(published) < 5 and float(issued) < 10  # the issuer waited for publish, which did not wait for it
    with Issuer.open(tmp_path / "city", PASSPHRASE) as city:
        assert city.vault.get("100000000019", date(2031, 5, 1)).fields == {"n": 1}


def test_shred_refuses_a_date_inside_the_current_period_unless_asked(tmp_path):
    city = tmp_path / "city"
    assert cli("init", city, "--vault", "--root-key", tmp_path / "usb" / "root.pem").returncode == 0
    people = write_jsonl(tmp_path / "people.jsonl", PEOPLE[:1])
    assert cli("issue", city, "--input", people, "--out", tmp_path / "out", "--workers", "1").returncode == 0
    tomorrow = (datetime.now(timezone.utc).date() + timedelta(days=1)).isoformat()  # the CLI's day is UTC's
    refused = cli("shred", city, "--before", tomorrow)
    assert refused.returncode == 1 and b"current vault period" in refused.stderr
    assert b"--include-current" in refused.stderr
    assert len(list(default_key_store(city).iterdir())) == 1
    done = cli("shred", city, "--before", tomorrow, "--include-current")
    assert done.returncode == 0 and b"Destroyed the vault keys of 1 period(s)" in done.stdout
    assert not list(default_key_store(city).iterdir())
