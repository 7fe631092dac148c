"""The registry, the CLI's output and the keys folder hold no personal data; keys are encrypted at rest."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from issuer_samples import NOW, PASSPHRASE, PEOPLE, write_jsonl

from issuer import Issuer, IssuerError
from issuer.config import ConfigError, Face, check_claim_name, default_config, validate

REPO = Path(__file__).resolve().parents[2]


def personal_strings(people):
    values = set()
    for p in people:
        names = [p[k] for k in ("given_name", "family_name") if p.get(k)]
        values.update({*names, p["birthdate"], p["birthdate"].replace("-", "")})
        values.update(part for part in " ".join(names).split() if len(part) >= 3)
    return values


def assert_absent(blob: bytes, values, where: str):
    for value in values:
        if len(value.encode("utf-8")) < 4:  # "X", "Ng": too short to tell from random bytes
            continue
        for encoding in ("utf-8", "utf-16-le", "utf-16-be"):
            assert value.encode(encoding) not in blob, f"a personal value appears in {where} ({encoding})"


def city_bytes(city_dir: Path) -> bytes:
    return b"".join(p.read_bytes() for p in sorted(city_dir.rglob("*")) if p.is_file())


REGISTRY_TABLES = ("cards", "card_faces", "batch_cards", "batch_outputs", "batches")


def postgres_bytes(server) -> bytes:
    """Every byte the PostgreSQL server keeps: tables, indexes and write-ahead log."""
    import psycopg

    with psycopg.connect(server.url(), autocommit=True) as db:
        db.execute("CHECKPOINT")
    return b"".join(p.read_bytes() for p in sorted(server.data.rglob("*")) if p.is_file())


def registry_columns(registry) -> set[str]:
    if getattr(registry, "shared", False):
        query = "SELECT column_name FROM information_schema.columns WHERE table_name = ANY(%s)"
        return {row[0] for row in registry.db.execute(query, (list(REGISTRY_TABLES),))}
    return {row[1] for table in REGISTRY_TABLES for row in registry.db.execute(f"PRAGMA table_info({table})")}


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_registry_and_city_folder_hold_no_personal_data(backend, tmp_path, monkeypatch, request):
    monkeypatch.setenv("CITYID_PASSPHRASE", PASSPHRASE)
    server = request.getfixturevalue("postgres_server") if backend == "postgresql" else None
    url = server.new_database() if server else ""
    city = Issuer.init(tmp_path / "city", issuer="https://id.example.gov", now=NOW, registry=url,
                       root_key_out=tmp_path / "usb" / "root.pem")
    report = city.issue_batch(write_jsonl(tmp_path / "people.jsonl", PEOPLE), tmp_path / "out",
                              now=NOW, workers=2, progress=False)
    assert report.issued == len(PEOPLE)
    numbers = [p.name for p in (tmp_path / "out").iterdir()]
    city.revoke(numbers[0])
    city_dir = city.dir
    secret = personal_strings(PEOPLE) | set(numbers)
    if server is None:
        assert (city_dir / "registry.sqlite-wal").exists()  # read while the WAL still holds the latest pages
    else:
        assert_absent(postgres_bytes(server), secret, "the PostgreSQL server's files (tables, indexes, WAL)")
    assert_absent(city_bytes(city_dir), secret, "the city folder (registry, WAL, keys, config)")
    city.close()
    assert_absent(city_bytes(city_dir), secret, "the city folder after close")
    with Issuer.open(city_dir, PASSPHRASE) as reopened:
        assert reopened.registry.card_count() == len(PEOPLE)
        columns = registry_columns(reopened.registry)
    assert {"card_hash", "list_no", "idx"} <= columns
    assert not columns & {"given_name", "family_name", "birthdate", "name", "card_number"}


def test_keys_are_encrypted_and_need_the_passphrase(secure_city, monkeypatch):
    keys = secure_city.dir / "keys"
    root = secure_city.dir.parent / "usb" / "root.pem"  # named by the operator, outside the city folder
    for sealed in [*(p for p in keys.iterdir() if p.name != "root-key.pub"), root]:
        assert b'"kdf": "scrypt"' in sealed.read_bytes() and b"PRIVATE KEY" not in sealed.read_bytes()
        assert sealed.stat().st_mode & 0o077 == 0
    # The city folder holds no root private key: only its public half.
    assert not (keys / "root.pem").exists() and root.read_bytes() not in b"".join(
        p.read_bytes() for p in secure_city.dir.rglob("*") if p.is_file())
    assert (keys / "root-key.pub").read_bytes().startswith(b"-----BEGIN PUBLIC KEY-----")
    secure_city.close()
    monkeypatch.delenv("CITYID_PASSPHRASE")
    with pytest.raises(IssuerError, match="passphrase"):
        Issuer.open(secure_city.dir)
    with pytest.raises(IssuerError, match="wrong passphrase"):
        Issuer.open(secure_city.dir, passphrase="not the passphrase at all")
    Issuer.open(secure_city.dir, passphrase=PASSPHRASE).close()


def test_short_or_missing_passphrase_refused(tmp_path, monkeypatch):
    monkeypatch.delenv("CITYID_PASSPHRASE", raising=False)
    with pytest.raises(IssuerError, match="passphrase"):
        Issuer.init(tmp_path / "a")
    with pytest.raises(IssuerError, match="shorter"):
        Issuer.init(tmp_path / "b", passphrase="short")


def test_corrupted_registry_is_refused_not_rewritten(demo_city):
    demo_city.issue_card(PEOPLE[0], now=NOW)
    demo_city.close()
    path = demo_city.dir / "registry.sqlite"
    for suffix in ("-wal", "-shm"):
        Path(str(path) + suffix).unlink(missing_ok=True)
    data = bytearray(path.read_bytes())
    for page in range(1, len(data) // 4096):  # damage every b-tree page header after the first page
        data[page * 4096:page * 4096 + 12] = b"\x0d\xff\xff\x00\x07" + b"\xee" * 7
    path.write_bytes(bytes(data))
    with pytest.raises(IssuerError, match="corrupted"):
        Issuer.open(demo_city.dir)
    assert path.read_bytes() == bytes(data)


@pytest.mark.parametrize("claim", ["address", "street_address", "email", "phone_number", "place_of_birth",
                                   "nationality", "immigration_status", "country_of_origin", "visa_type"])
def test_forbidden_claims_refused_in_config(claim):
    config = default_config("https://id.example.gov")
    bad = Face("extra", "urn:cityid:extra:1", ("card_number", claim))
    with pytest.raises(ConfigError, match="not allowed"):
        validate(type(config)(**{**config.__dict__, "faces": config.faces + (bad,)}))
    with pytest.raises(ConfigError):
        check_claim_name(claim)


def test_cli_output_holds_no_personal_data(tmp_path):
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    city = tmp_path / "city"
    rows = PEOPLE[:4] + [{"given_name": "Hildegard", "family_name": "Secretsson", "birthdate": "1990-02-30"},
                         {"given_name": "Bad\u0007Name", "family_name": "Secretsson", "birthdate": "1990-02-03"}]
    people = write_jsonl(tmp_path / "people.jsonl", rows)
    runs = [
        [sys.executable, "-m", "issuer.cli", "init", str(city), "--insecure-demo"],
        [sys.executable, "-m", "issuer.cli", "issue", str(city), "--input", str(people), "--out", str(tmp_path / "out"),
         "--workers", "2"],
        [sys.executable, "-m", "issuer.cli", "publish", str(city), str(tmp_path / "pub")],
    ]
    output = b""
    codes = []
    for cmd in runs:
        done = subprocess.run(cmd, capture_output=True, env=env, timeout=60)
        output += done.stdout + done.stderr
        codes.append(done.returncode)
    assert codes == [0, 1, 0]
    numbers = [p.name for p in (tmp_path / "out").iterdir()]
    revoke = subprocess.run([sys.executable, "-m", "issuer.cli", "revoke", str(city), numbers[0]],
                            capture_output=True, env=env, timeout=60)
    assert revoke.returncode == 0
    output += revoke.stdout + revoke.stderr
    assert b"line 5: birthdate is not a real date" in output
    assert b"line 6: given_name contains a control or invisible character" in output
    assert b"Traceback" not in output
    assert_absent(output, personal_strings(rows) | {"Secretsson"} | set(numbers), "the CLI output")


def test_cli_usage_and_errors(tmp_path):
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    bad = subprocess.run([sys.executable, "-m", "issuer.cli", "frobnicate"], capture_output=True, env=env, timeout=60)
    assert bad.returncode == 2
    missing = subprocess.run([sys.executable, "-m", "issuer.cli", "publish", str(tmp_path / "nope"), str(tmp_path / "o")],
                             capture_output=True, env=env, timeout=60)
    assert missing.returncode == 1
    assert missing.stderr.count(b"\n") == 1 and b"error" in missing.stderr and b"Traceback" not in missing.stderr
