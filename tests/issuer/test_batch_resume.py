"""Batches resume by content: an edited rerun issues exactly the residents not issued yet, never a second card.

Reproduces the measured fault: after a batch with bad rows the tool advised fixing them and running again,
and doing so gave 21 residents a second valid card, because the batch was keyed by the file's bytes.
"""

from __future__ import annotations

import csv
import io
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
from issuer_samples import NOW, PASSPHRASE

from issuer import Issuer, IssuerError
from verifier_sdk import TrustStore, Verifier

REPO = Path(__file__).resolve().parents[2]
COLUMNS = ["given_name", "family_name", "birthdate", "museum_tier"]


def residents(n: int, start: int = 0) -> list[dict]:
    """Fictional residents with distinct names and birth dates (none is a real person)."""
    return [{"given_name": f"Amara{chr(97 + i % 26)}{i}", "family_name": f"Okonkwo-Díaz {i // 26}",
             "birthdate": f"19{50 + i % 50}-0{1 + i % 9}-1{i % 10}", "museum_tier": "gold" if i % 3 else ""}
            for i in range(start, start + n)]


def write_csv(path: Path, rows: list[dict], delimiter: str = ",") -> Path:
    out = io.StringIO()
    writer = csv.DictWriter(out, COLUMNS, delimiter=delimiter, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    path.write_text(out.getvalue(), "utf-8")
    return path


def cards_by_resident(*folders: Path, store: TrustStore) -> dict[tuple, list[str]]:
    """(names, birth date) -> card numbers, read back from every card folder's verified id face."""
    found: dict[tuple, list[str]] = {}
    for folder in folders:
        for card in sorted(p for p in folder.iterdir() if p.is_dir() and not p.name.startswith(".")):
            claims = Verifier(store, purpose="bank").verify((card / "id.txt").read_text(), now=NOW).claims
            key = (claims["given_name"], claims["family_name"], claims["birthdate"])
            found.setdefault(key, []).append(card.name)
    return found


def journal(city_dir: Path) -> list[tuple]:
    db = sqlite3.connect(city_dir / "registry.sqlite")
    try:
        return db.execute("SELECT resident, card_hash, done FROM batch_cards").fetchall() + \
            db.execute("SELECT batch, 0, 0 FROM batches").fetchall()
    finally:
        db.close()


def test_fixing_bad_rows_editing_reordering_and_another_out_never_issue_a_second_card(demo_city, tmp_path):
    people = residents(40)
    bad = {3: {"birthdate": "1988-13-01"}, 9: {"given_name": "", "family_name": ""}, 17: {"birthdate": "01/02/1990"},
           25: {"museum_tier": "Gold Plus!"}}
    first_input = [{**p, **bad.get(i, {})} for i, p in enumerate(people)]
    path = write_csv(tmp_path / "people.csv", first_input)
    first = demo_city.issue_batch(path, tmp_path / "out1", now=NOW, workers=2, progress=False)
    assert (first.issued, len(first.failed)) == (36, 4)
    assert "out1" in first.summary() and "stays open" in first.next_step()

    # The office fixes the bad rows, but also: re-saves with another dialect and reorders, fixes a tier,
    # changes case and spacing, swaps a family name into given_name, and adds new residents.
    edited = [dict(p) for p in people]
    edited[5]["museum_tier"] = "silver"
    edited[6]["given_name"] = "  " + edited[6]["given_name"].upper() + "  "
    edited[7]["given_name"], edited[7]["family_name"] = edited[7]["family_name"], edited[7]["given_name"]
    edited[8]["family_name"] = edited[8]["family_name"].replace("Díaz", "Diaz")
    rows = list(reversed(edited)) + residents(5, start=100)
    second = demo_city.issue_batch(write_csv(tmp_path / "fixed.csv", rows, ";"), tmp_path / "out2", now=NOW,
                                   workers=2, progress=False)
    assert second.ok, second.failed
    assert (second.issued, second.already_issued) == (4 + 5, 36)
    assert f"36 in {tmp_path / 'out1'}" in second.summary()
    assert second.closed and "Batch complete" in second.next_step()

    store = TrustStore.load(demo_city.publish(tmp_path / "pub", now=NOW), root_key=tmp_path / "pub" / "root-key.pem")
    found = cards_by_resident(tmp_path / "out1", tmp_path / "out2", store=store)
    assert len(found) == 45 and all(len(numbers) == 1 for numbers in found.values())
    assert demo_city.registry.card_count() == 45


def test_the_same_resident_twice_in_one_input_gets_one_card(demo_city, tmp_path):
    people = residents(3)
    path = write_csv(tmp_path / "p.csv", people + [dict(people[1], museum_tier="silver")])
    report = demo_city.issue_batch(path, tmp_path / "out", now=NOW, workers=1, progress=False)
    assert report.issued == 3 and report.failed == [(5, report.failed[0][1])]
    assert "same names and birth date as line 3" in report.failed[0][1]


def test_the_journal_lives_only_while_the_batch_is_open_and_leaves_no_trace(secure_city, tmp_path):
    people = residents(30)
    path = write_csv(tmp_path / "p.csv", [dict(people[0], birthdate="bad")] + people[1:])
    secure_city.issue_batch(path, tmp_path / "out", now=NOW, workers=1, progress=False)
    city_dir = secure_city.dir
    traces = [value for row in journal(city_dir) for value in row if isinstance(value, bytes)]
    assert len(traces) == 29 * 2 + 1  # resident hashes and card hashes, and the batch id
    secrets_of_batch = [value for row in journal(city_dir) for value in (row[0],)]  # residents and the batch id
    report = secure_city.issue_batch(write_csv(tmp_path / "p.csv", people), tmp_path / "out", now=NOW, workers=1,
                                     progress=False)
    assert report.closed and report.issued == 1 and report.already_issued == 29
    assert journal(city_dir) == []
    files = [city_dir / name for name in ("registry.sqlite", "registry.sqlite-wal", "registry.sqlite-shm")]
    blob = b"".join(p.read_bytes() for p in files if p.exists())
    assert not [v for v in secrets_of_batch if v in blob], "a resident hash or the batch id survived in the registry"
    assert not [v for v in secrets_of_batch if v[:8] in blob]
    # Without the batch id nothing derives a card number from a resident any more.
    secure_city.close()
    with Issuer.open(city_dir, PASSPHRASE) as city:
        assert city.registry.db.execute("PRAGMA freelist_count").fetchone()[0] == 0


def test_close_batch_erases_an_unfinished_batch_and_a_closed_batchs_folder_is_not_reused(demo_city, tmp_path):
    people = residents(10)
    path = write_csv(tmp_path / "p.csv", [dict(people[0], birthdate="bad")] + people[1:])
    report = demo_city.issue_batch(path, tmp_path / "out", now=NOW, workers=1, progress=False)
    assert not report.closed and journal(demo_city.dir)
    assert demo_city.close_batch() == (9, {str(tmp_path / "out"): 9}, 0)
    assert journal(demo_city.dir) == []
    with pytest.raises(IssuerError, match="already holds cards of an earlier, closed batch"):
        demo_city.issue_batch(path, tmp_path / "out", now=NOW, workers=1, progress=False)


def cli(*args: str, **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "issuer.cli", *args], cwd=REPO, capture_output=True, text=True,
                          env={**os.environ, "PYTHONPATH": str(REPO)}, timeout=180, **kwargs)


def test_cli_messages_say_what_happened_and_where_the_cards_are(tmp_path):
    city = tmp_path / "city"
    assert cli("init", str(city), "--insecure-demo").returncode == 0
    people = residents(6)
    path = write_csv(tmp_path / "p.csv", [dict(people[0], birthdate="1990-02-30")] + people[1:])
    first = cli("issue", str(city), "--input", str(path), "--out", str(tmp_path / "a"))
    assert first.returncode == 1
    assert "line 2: birthdate is not a real date" in first.stderr
    assert f"5 cards issued into {tmp_path / 'a'}" in first.stdout and "stays open" in first.stderr
    write_csv(path, people)
    second = cli("issue", str(city), "--input", str(path), "--out", str(tmp_path / "b"))
    assert second.returncode == 0, second.stderr
    assert f"1 cards issued into {tmp_path / 'b'}, 5 already issued earlier in this batch (5 in {tmp_path / 'a'})" \
        in second.stdout
    assert "Batch complete" in second.stdout and "erased" in second.stdout
    closed = cli("close-batch", str(city))
    assert closed.returncode == 0 and "No batch was open" in closed.stdout


def test_reprint_renders_the_same_cards_again(demo_city, tmp_path):
    people = residents(8)
    path = write_csv(tmp_path / "p.csv", [dict(people[0], birthdate="bad")] + people[1:])
    demo_city.issue_batch(path, tmp_path / "out", now=NOW, workers=1, progress=False)
    before = {p.name: (p / "id.txt").read_text() for p in (tmp_path / "out").iterdir()}
    revoked = sorted(before)[0]
    demo_city.revoke(revoked)
    for folder in (tmp_path / "out").iterdir():
        (folder / "front.png").write_bytes(b"old artwork")
    report = demo_city.reprint(path, now=NOW, workers=2, progress=False)
    assert sum(report.reprinted.values()) == 6, report.skipped
    reasons = dict(report.skipped)
    assert reasons[2].startswith("birthdate") and "revoked" in " ".join(reasons.values())
    store = TrustStore.load(demo_city.publish(tmp_path / "pub", now=NOW), root_key=tmp_path / "pub" / "root-key.pem")
    after = {p.name for p in (tmp_path / "out").iterdir()}
    assert after == set(before)  # same card numbers, no new folder
    for number in after - {revoked}:
        folder = tmp_path / "out" / number
        assert (folder / "front.png").read_bytes() != b"old artwork"
        new, old = (Verifier(store, purpose="bank").verify(t, now=NOW) for t in ((folder / "id.txt").read_text(),
                                                                                  before[number]))
        assert new.claims == old.claims and new.expires_at == old.expires_at
        assert (folder / "id.txt").read_text() != before[number]  # re-signed
    assert (tmp_path / "out" / revoked / "front.png").read_bytes() == b"old artwork"
    assert not [p for p in (tmp_path / "out").iterdir() if p.name.startswith(".")]
    other = demo_city.reprint(path, tmp_path / "elsewhere", now=NOW, workers=1, progress=False)
    assert other.reprinted == {str(tmp_path / "elsewhere"): 6}
    assert demo_city.registry.card_count() == 7


def test_reprint_needs_an_open_batch(demo_city, tmp_path):
    path = write_csv(tmp_path / "p.csv", residents(2))
    assert demo_city.issue_batch(path, tmp_path / "out", now=NOW, workers=1, progress=False).closed
    with pytest.raises(IssuerError, match="no batch is open"):
        demo_city.reprint(path, now=NOW, progress=False)


def test_a_compromised_key_lists_the_open_batchs_cards(tmp_path):
    city = tmp_path / "city"
    assert cli("init", str(city), "--insecure-demo").returncode == 0
    people = residents(4)
    path = write_csv(tmp_path / "p.csv", [dict(people[0], birthdate="bad")] + people[1:])
    cli("issue", str(city), "--input", str(path), "--out", str(tmp_path / "out"))
    numbers = sorted(p.name for p in (tmp_path / "out").iterdir())
    done = cli("rotate-key", str(city), "--compromised")
    assert done.returncode == 0, done.stderr
    for number in numbers:
        assert f"{number}  {tmp_path / 'out'}" in done.stdout
    assert "3 of them are in the open batch" in done.stdout
    assert cli("reprint", str(city), "--input", str(path)).returncode == 0
    with Issuer.open(city) as opened:
        assert opened.open_batch_cards_signed_by("k1") == ([], 0)


def test_progress_counts_data_rows_not_the_header(demo_city, tmp_path, capsys):
    path = write_csv(tmp_path / "p.csv", residents(7))
    demo_city.issue_batch(path, tmp_path / "out", now=NOW, workers=1, progress=True)
    assert capsys.readouterr().err.rstrip().split("\r")[-1].startswith("[" + "#" * 30 + "] 7/7 rows")


def test_ctrl_c_stops_cleanly_and_a_rerun_resumes(tmp_path):
    city, out = tmp_path / "city", tmp_path / "out"
    assert cli("init", str(city), "--insecure-demo").returncode == 0
    path = write_csv(tmp_path / "p.csv", residents(600))  # seconds of work: Ctrl-C lands mid-batch even on a busy machine
    cmd = [sys.executable, "-m", "issuer.cli", "issue", str(city), "--input", str(path), "--out", str(out),
           "--workers", "2"]
    proc = subprocess.Popen(cmd, cwd=REPO, env={**os.environ, "PYTHONPATH": str(REPO)}, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, start_new_session=True)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and (not out.exists() or len(list(out.iterdir())) < 10):
        time.sleep(0.01)
    os.killpg(proc.pid, signal.SIGINT)  # what a terminal's Ctrl-C does: the whole process group
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 1
    assert "Traceback" not in err and "KeyboardInterrupt" not in err, err
    assert err.strip().splitlines() == [err.strip().splitlines()[-1]]
    assert err.strip().startswith("cityid-issuer: interrupted") and "run the same command again" in err
    rerun = cli("issue", str(city), "--input", str(path), "--out", str(out))
    assert rerun.returncode == 0, rerun.stderr
    assert "Batch complete" in rerun.stdout
    assert len([p for p in out.iterdir() if not p.name.startswith(".")]) == 600
    with Issuer.open(city) as opened:
        assert opened.registry.card_count() == 600


def test_close_batch_refuses_unprinted_reservations_unless_told_to_revoke_them(demo_city, tmp_path):
    people = residents(4)
    path = write_csv(tmp_path / "p.csv", [dict(people[0], birthdate="bad")] + people[1:])
    demo_city.issue_batch(path, tmp_path / "out", now=NOW, workers=1, progress=False)
    db = demo_city.registry.db
    (unprinted,) = db.execute("SELECT card_hash FROM batch_cards LIMIT 1").fetchone()
    db.execute("UPDATE batch_cards SET done = 0 WHERE card_hash = ?", (unprinted,))  # as a killed run leaves it
    with pytest.raises(IssuerError, match="reserved but never written"):
        demo_city.close_batch()
    assert demo_city.close_batch(abandon_unfinished=True) == (2, {str(tmp_path / "out"): 2}, 1)
    assert demo_city.registry.card(unprinted).status == 1  # revoked: it can never be valid
    assert journal(demo_city.dir) == []
