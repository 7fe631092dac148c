"""Batch input: bad rows reported by line and reason (never by value), the rest issued, resumable after SIGKILL."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

from issuer_samples import NOW, PEOPLE, write_jsonl

from issuer import Issuer
from verifier_sdk import TrustStore, Verifier
from verifier_sdk.format.qr import decode_qr

REPO = Path(__file__).resolve().parents[2]

CSV = (
    "given_name,family_name,birthdate,card_number,museum_tier,rx_eligible\n"   # line 1
    "Ana,Pérez,1988-03-14,,gold,yes\n"                                          # 2 ok
    ",,1988-03-14,,,\n"                                                          # 3 no name at all
    "Ana,Pérez,1988-13-14,,,\n"                                                  # 4 not a real date
    "Ana,Pérez,14/03/1988,,,\n"                                                  # 5 wrong format
    "Ana,Pérez,2999-01-01,,,\n"                                                  # 6 future
    f"{'A' * 101},Pérez,1988-03-14,,,\n"                                         # 7 too long
    "Ana,Pérez,1988-03-14,123456789012,,\n"                                      # 8 bad check digit
    "Ana,Pérez,1988-03-14,,,maybe\n"                                             # 9 bad boolean
    "Ana,Pé\u202erez,1988-03-14,,,\n"                                             # 10 bidi override
    "Ana,Pérez,1988-03-14\n"                                                     # 11 wrong column count
    "\n"                                                                         # 12 blank: skipped
    "Дмитрий,Коваленко,1956-11-02,100000000008,silver,no\n"                      # 13 ok with its own number
    "Other,Person,1970-01-01,100000000008,,\n"                                   # 14 repeats that number
)


def test_bad_rows_are_reported_and_the_rest_issued(demo_city, tmp_path):
    path = tmp_path / "people.csv"
    path.write_bytes(CSV.encode("utf-8").replace(b"Ana,P\xc3\xa9rez,1988-03-14,,,maybe", b"Ana,P\xe9rez,1988-03-14,,,maybe")
                     + "Ana,Pérez,1988-03-14,,,maybe\n".encode())  # line 9 becomes Latin-1, line 15 a bad boolean
    report = demo_city.issue_batch(path, tmp_path / "out", now=NOW, workers=1, progress=False)
    assert report.issued == 2 and not report.ok
    assert dict(report.failed) == {
        3: "name is missing (given_name or family_name; a resident with one name fills either)", 4: "birthdate is not a real date", 5: "birthdate must be written YYYY-MM-DD",
        6: "birthdate is in the future", 7: "given_name is longer than 100 characters",
        8: "card_number must be 12 digits with a valid check digit", 9: "not valid UTF-8 (save the file as CSV UTF-8)",
        10: "family_name contains a control or invisible character", 11: "has 3 columns, the header has 6",
        14: "card_number is already issued (earlier batch or earlier line)", 15: "rx_eligible must be true or false"}
    assert (tmp_path / "out" / "100000000008").is_dir()
    again = demo_city.issue_batch(path, tmp_path / "out", now=NOW, workers=1, progress=False)
    assert again.issued == 0 and again.already_issued == 2


def test_jsonl_shapes(demo_city, tmp_path):
    path = tmp_path / "p.jsonl"
    path.write_text('{"given_name": "A", "family_name": "B", "birthdate": "2000-01-01"}\n'
                    '[1, 2]\n{"given_name": "A", "given_name": "C", "family_name": "B", "birthdate": "2000-01-01"}\n'
                    '{"given_name": 7, "family_name": "B", "birthdate": "2000-01-01"}\nnot json\n', "utf-8")
    report = demo_city.issue_batch(path, tmp_path / "out", now=NOW, workers=1, progress=False)
    assert report.issued == 1
    assert [line for line, _ in report.failed] == [2, 3, 4, 5]


def _registry_rows(city_dir: Path):
    db = sqlite3.connect(city_dir / "registry.sqlite")
    try:
        return db.execute("SELECT card_hash, face, list_no, idx FROM card_faces").fetchall(), \
            db.execute("SELECT resident, done FROM batch_cards").fetchall()
    finally:
        db.close()


def test_kill_9_midway_then_rerun_loses_and_duplicates_nothing(tmp_path):
    rows = [{**PEOPLE[i % len(PEOPLE)], "given_name": f"{PEOPLE[i % len(PEOPLE)]['given_name']} {i}"} for i in range(300)]
    people = write_jsonl(tmp_path / "people.jsonl", rows)
    city_dir, out = tmp_path / "city", tmp_path / "out"
    Issuer.init(city_dir, insecure_demo=True).close()
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    cmd = [sys.executable, "-m", "issuer.cli", "issue", str(city_dir), "--input", str(people), "--out", str(out),
           "--workers", "2"]
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:  # wait until some, not all, cards are out
        done = len([p for p in out.glob("*") if not p.name.startswith(".")]) if out.exists() else 0
        if done >= 40:
            break
        time.sleep(0.01)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    cards_before, journal_before = _registry_rows(city_dir)
    assert 0 < len(cards_before) < 900 or any(not done for _, done in journal_before), "kill came too late"
    rerun = subprocess.run(cmd, env=env, capture_output=True, timeout=120)
    assert rerun.returncode == 0, rerun.stderr
    cards, journal = _registry_rows(city_dir)
    assert len(cards) == 900 and journal == []  # three faces a card; complete: the journal is erased
    assert len({(list_no, idx) for _, _, list_no, idx in cards}) == 900
    before = {(h, f): (n, i) for h, f, n, i in cards_before}
    assert all(before[h, f] == (n, i) for h, f, n, i in cards if (h, f) in before)  # reserved faces kept their index
    folders = sorted(p for p in out.iterdir())
    assert len(folders) == 300 and not any(p.name.startswith(".") for p in folders)
    with Issuer.open(city_dir) as city:
        pub = city.publish(tmp_path / "pub")
    store = TrustStore.load(pub, root_key=pub / "root-key.pem")
    names = set()
    for folder in folders:
        cred = Verifier(store, purpose="bank").verify((folder / "id.txt").read_text())
        assert cred.claims["card_number"] == folder.name
        assert decode_qr((folder / "culture.txt").read_text())
        names.add(cred.claims["given_name"])
    assert names == {r["given_name"].strip() for r in rows}  # every row exactly once
