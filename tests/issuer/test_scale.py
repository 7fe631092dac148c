"""City scale: keys in a SoftHSM2 token and one PostgreSQL registry shared by several centres and processes.

Real SoftHSM2, a real PostgreSQL server (killed for real), real processes, every card verified by the SDK.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import replace
from datetime import timedelta
from pathlib import Path

import psycopg
import pytest
from issuer_samples import NOW, PEOPLE, write_jsonl

from issuer import Issuer, IssuerError
from issuer.config import VaultConfig, default_config
from issuer.registry_pg import MIGRATIONS, PgRegistry
from verifier_sdk import TrustStore, VerificationError, Verifier

REPO = Path(__file__).resolve().parents[2]
LATER = NOW + timedelta(days=1)
FACES = len(default_config("https://id.example.gov").faces)  # each face has its own status index


def rows(n: int, tag: str = "") -> list[dict]:
    return [{**PEOPLE[i % len(PEOPLE)], "given_name": f"{PEOPLE[i % len(PEOPLE)]['given_name']} {tag}{i}".strip()}
            for i in range(n)]  # (a resident with a single name has an empty given_name)


def cli(*args: str, **kwargs) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    return subprocess.run([sys.executable, "-m", "issuer.cli", *args], env=env, capture_output=True, timeout=300,
                          **kwargs)


def verify_all(pub: Path, folders: list[Path]) -> set[str]:
    store = TrustStore.load(pub, root_key=pub / "root-key.pem")
    names = set()
    for folder in folders:
        card = Verifier(store, purpose="bank").verify((folder / "id.txt").read_text(), now=LATER)
        assert card.claims["card_number"] == folder.name and card.status == "valid"
        names.add(card.claims["given_name"])
    return names


def code_of(pub: Path, text: str) -> str:
    try:
        Verifier(TrustStore.load(pub, root_key=pub / "root-key.pem"), purpose="bank").verify(text, now=LATER)
    except VerificationError as exc:
        return exc.code
    return "valid"


def test_migrations_apply_on_open_and_one_database_holds_one_city(postgres_url):
    registry = PgRegistry.create(postgres_url, b"s" * 32, 1024)
    with registry.transaction():
        registry.add_issuing_key("k1", 0, 2**31)
        registry.reserve_card(b"h" * 32, ("id",), ("urn:cityid:id:1",), "2026-12-02", 2**31, "k1", 0.5)
    with pytest.raises(IssuerError, match="same resident"), registry.transaction():  # a race, as two processes see it
        registry.reserve_card(b"h" * 32, ("id",), ("urn:cityid:id:1",), "2026-12-02", 2**31, "k1", 0.5)
    assert registry.card_count() == 1
    registry.close()
    with psycopg.connect(postgres_url) as db:
        assert [r[0] for r in db.execute("SELECT version FROM cityid_migrations")] == [v for v, _ in MIGRATIONS]
        db.execute("DROP TABLE cityid_migrations")  # as if made by a version before migrations were tracked
        db.execute("CREATE TABLE cityid_migrations (version INTEGER PRIMARY KEY, applied_at TIMESTAMPTZ)")
        db.execute("INSERT INTO cityid_migrations VALUES (99, now())")
    with pytest.raises(IssuerError, match="newer version"):
        PgRegistry.open(postgres_url, b"s" * 32)
    with pytest.raises(IssuerError, match="already holds a cityid registry"):
        PgRegistry.create(postgres_url, b"s" * 32, 1024)


def test_an_hsm_city_refuses_what_would_put_secrets_on_disk(tmp_path, hsm_token):
    with pytest.raises(IssuerError, match="insecure demo"):
        Issuer.init(tmp_path / "a", insecure_demo=True, key_store=hsm_token)
    config = replace(default_config("https://id.example.gov"), vault=VaultConfig(enabled=True, key_store="/srv/keys"))
    with pytest.raises(IssuerError, match="vault's period keys are kept in a token too"):  # not sealed files
        Issuer.init(tmp_path / "b", key_store=hsm_token, config=config)
    with pytest.raises(IssuerError, match="PIN"):
        Issuer.init(tmp_path / "c", key_store=hsm_token + "&pin-value=246810")


def test_registry_url_is_checked(tmp_path, postgres_server, hsm_token):
    with pytest.raises(IssuerError, match="password"):
        Issuer.init(tmp_path / "a", insecure_demo=True, registry="postgresql://u:secret@127.0.0.1/db")
    with pytest.raises(IssuerError, match="no cityid registry"):
        PgRegistry.open(postgres_server.new_database(), b"s" * 32)
    # An unreachable or taken registry is refused before the token gets any key: the same token then works.
    with pytest.raises(IssuerError, match="cannot connect"):
        Issuer.init(tmp_path / "b", key_store=hsm_token, registry="postgresql://cityid@127.0.0.1:1/nothing")
    taken = postgres_server.new_database()
    Issuer.init(tmp_path / "c", insecure_demo=True, registry=taken).close()
    with pytest.raises(IssuerError, match="already holds a cityid registry"):
        Issuer.init(tmp_path / "d", key_store=hsm_token, registry=taken)
    Issuer.init(tmp_path / "e", key_store=hsm_token, registry=postgres_server.new_database()).close()


def test_city_in_a_token_and_postgres_rotates_withdraws_and_holds_the_root_ceremony(tmp_path, softhsm, monkeypatch,
                                                                                    postgres_url):
    """Card and status keys in the city's token, the root in an offline root token; every card verifies."""
    city_uri, root_uri = softhsm.init_token("city"), softhsm.init_token("root")
    monkeypatch.setenv("CITYID_ROOT_PIN", softhsm.pin)
    city_dir = tmp_path / "city"
    with Issuer.init(city_dir, key_store=city_uri, root_key_out=root_uri, registry=postgres_url, now=NOW) as city:
        first = city.issue_batch(write_jsonl(tmp_path / "a.jsonl", rows(6, "a")), tmp_path / "out-a", now=NOW,
                                 workers=2, progress=False)  # workers open their own token sessions
        assert first.ok and first.issued == 6, first.failed
        assert city.rotate_key(now=NOW) == "k2"
        with pytest.raises(IssuerError, match="not in the root-signed trust bundle"):
            city.issue_batch(write_jsonl(tmp_path / "b.jsonl", rows(3, "b")), tmp_path / "out-b", now=NOW,
                             workers=1, progress=False)
        city.sign_bundle(root_uri, now=NOW)  # the ceremony: the root token is plugged in
        second = city.issue_batch(tmp_path / "b.jsonl", tmp_path / "out-b", now=NOW, workers=1, progress=False)
        assert second.ok and second.issued == 3
        pub = city.publish(tmp_path / "pub", now=NOW)
    folders_a, folders_b = sorted((tmp_path / "out-a").iterdir()), sorted((tmp_path / "out-b").iterdir())
    assert len(verify_all(pub, folders_a + folders_b)) == 9
    # No private key anywhere outside the tokens, and the root's private key not even in the city's token.
    assert not (city_dir / "keys").exists()
    for path in [*city_dir.rglob("*"), *tmp_path.rglob("*.txt"), *pub.rglob("*")]:
        if path.is_file():
            assert b"PRIVATE KEY" not in path.read_bytes()
    with Issuer.open(city_dir) as city:
        assert not city.keys.token.has_key("cityid-root")
        # Withdrawal: a compromised k2 fails every card it signed, k1's cards stay valid.
        assert city.rotate_key(compromised=True, now=NOW) == "k3"
        city.sign_bundle(root_uri, now=NOW)
        pub = city.publish(tmp_path / "pub", now=NOW)
    assert code_of(pub, (folders_b[0] / "id.txt").read_text()) != "valid"
    assert code_of(pub, (folders_a[0] / "id.txt").read_text()) == "valid"


ISSUE_MANY = """
import json, sys
sys.path.insert(0, ".")
from issuer import Issuer
with Issuer.open(sys.argv[1]) as city:
    cards = [city.issue_card({"given_name": "Test", "family_name": "Person", "birthdate": "1990-01-31"}) for _ in range(int(sys.argv[2]))]
print(json.dumps([[c.card_number, c.status] for c in cards]))
"""


@pytest.mark.slow
def test_centres_and_processes_issue_into_one_registry_at_once(tmp_path, hsm_token, postgres_url):
    """Two centres (copies of the city folder), several processes each: no shared number or index, nothing lost."""
    centre_a = tmp_path / "centre-a"
    Issuer.init(centre_a, key_store=hsm_token, registry=postgres_url, now=NOW).close()
    centre_b = tmp_path / "centre-b"
    shutil.copytree(centre_a, centre_b)
    batches = []
    for i, centre in enumerate([centre_a, centre_a, centre_b, centre_b]):
        people = write_jsonl(tmp_path / f"batch-{i}.jsonl", rows(40, f"p{i}-"))
        batches.append(subprocess.Popen(
            [sys.executable, "-m", "issuer.cli", "issue", str(centre), "--input", str(people),
             "--out", str(tmp_path / f"out-{i}"), "--workers", "1"],
            env={**os.environ, "PYTHONPATH": str(REPO)}, stdout=subprocess.PIPE, stderr=subprocess.PIPE))
    singles = [subprocess.Popen([sys.executable, "-c", ISSUE_MANY, str(c), "15"], cwd=REPO, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE) for c in (centre_a, centre_b)]
    single_cards = []
    for proc in batches + singles:
        out, err = proc.communicate(timeout=300)
        assert proc.returncode == 0, err.decode()[-2000:]
        if proc in singles:
            single_cards += json.loads(out)
    folders = [p for i in range(4) for p in (tmp_path / f"out-{i}").iterdir()]
    assert len(folders) == 160 and len(single_cards) == 30
    numbers = {p.name for p in folders} | {number for number, _ in single_cards}
    assert len(numbers) == 190, "two cards share a card number"
    with psycopg.connect(postgres_url) as db:
        assert db.execute("SELECT count(*) FROM cards").fetchone()[0] == 160 + 30
        faces = db.execute("SELECT list_no, idx FROM card_faces").fetchall()
        assert len(faces) == (160 + 30) * FACES
        assert len(set(faces)) == len(faces), "two card faces share a status index"
        assert db.execute("SELECT count(*) FROM batch_cards WHERE NOT done").fetchone()[0] == 0
    with Issuer.open(centre_b) as city:
        pub = city.publish(tmp_path / "pub", now=NOW)
    assert len(verify_all(pub, folders)) == 160


@pytest.mark.slow
def test_server_killed_mid_batch_then_rerun_loses_and_duplicates_nothing(tmp_path, hsm_token, own_postgres_server):
    server = own_postgres_server
    url = server.new_database()
    city_dir, out = tmp_path / "city", tmp_path / "out"
    Issuer.init(city_dir, key_store=hsm_token, registry=url, now=NOW).close()
    people = write_jsonl(tmp_path / "people.jsonl", rows(240))
    cmd = [sys.executable, "-m", "issuer.cli", "issue", str(city_dir), "--input", str(people), "--out", str(out),
           "--workers", "2"]
    proc = subprocess.Popen(cmd, env={**os.environ, "PYTHONPATH": str(REPO)}, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:  # some, not all, cards are out
        if out.exists() and len([p for p in out.iterdir() if not p.name.startswith(".")]) >= 30:
            break
        time.sleep(0.01)
    server.kill()
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 1
    message = err.decode()
    assert "Traceback" not in message and message.count("\n") == 1, message
    assert "lost the connection to the registry database" in message, message
    made = len([p for p in out.iterdir() if not p.name.startswith(".")])
    assert made < 240, "the kill came too late to prove anything"

    refused = cli("issue", str(city_dir), "--input", str(people), "--out", str(out))
    assert refused.returncode == 1 and refused.stderr.count(b"\n") == 1 and b"cannot connect" in refused.stderr

    server.start()
    rerun = cli("issue", str(city_dir), "--input", str(people), "--out", str(out), "--workers", "2")
    assert rerun.returncode == 0, rerun.stderr
    with psycopg.connect(url) as db:
        cards = db.execute("SELECT count(*) FROM cards").fetchone()[0]
        faces = db.execute("SELECT list_no, idx FROM card_faces").fetchall()
        journal = db.execute("SELECT count(*) FROM batch_cards").fetchone()[0]
    assert cards == 240 and len(faces) == len(set(faces)) == 240 * FACES
    assert journal == 0, "the completed batch's journal was not erased"
    assert b"Batch complete" in rerun.stdout
    folders = sorted(out.iterdir())
    assert len(folders) == 240 and not any(p.name.startswith(".") for p in folders)
    with Issuer.open(city_dir) as city:
        pub = city.publish(tmp_path / "pub", now=NOW)
    assert verify_all(pub, folders) == {r["given_name"] for r in rows(240)}  # every row exactly once


RESERVE_MANY = """
import os, sys
sys.path.insert(0, ".")
from issuer.registry_pg import PgRegistry
registry = PgRegistry.open(sys.argv[1], b"s" * 32)
registry.add_issuing_key("k1", 0, 2**31) if sys.argv[3] == "0" else None
sys.stdin.readline()
for chunk in range(int(sys.argv[2]) // 8):
    with registry.transaction():
        for i in range(8):
            registry.reserve_card(os.urandom(32), ("id", "perks"), ("urn:cityid:id:1",), "2026-12-02", 2**31, "k1", 0.9)
"""


def test_reservations_from_many_processes_never_collide(postgres_url):
    """A tiny status list (64 slots, 57 usable) makes concurrent processes collide on indexes and roll lists over."""
    PgRegistry.create(postgres_url, b"s" * 32, 64).close()
    first = subprocess.run([sys.executable, "-c", RESERVE_MANY, postgres_url, "0", "0"], cwd=REPO, input=b"\n",
                           capture_output=True, timeout=60)
    assert first.returncode == 0, first.stderr.decode()[-2000:]
    procs = [subprocess.Popen([sys.executable, "-c", RESERVE_MANY, postgres_url, "120", str(n + 1)], cwd=REPO,
                              stdin=subprocess.PIPE, stderr=subprocess.PIPE) for n in range(4)]
    time.sleep(1.0)  # all connected, then all start together
    for proc in procs:
        proc.stdin.write(b"go\n")
        proc.stdin.flush()
    for proc in procs:
        _, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err.decode()[-2000:]
    with psycopg.connect(postgres_url) as db:
        cards = db.execute("SELECT list_no, idx FROM card_faces").fetchall()
        lists = dict(db.execute("SELECT list_no, used FROM status_lists").fetchall())
        counts = dict(db.execute("SELECT list_no, count(*) FROM card_faces GROUP BY list_no").fetchall())
    assert len(cards) == 960 and len(set(cards)) == 960  # 480 cards, two faces each
    assert all(0 <= idx < 64 for _, idx in cards)
    assert lists == {n: counts.get(n, 0) for n in lists}, "a list's fill counter disagrees with its cards"
    assert len(lists) >= 960 // 64 and max(counts.values()) <= 64
