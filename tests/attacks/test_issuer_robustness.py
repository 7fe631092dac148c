"""The city's side under stress: concurrent issuing processes, a corrupted registry, a publish killed midway.

Real processes, a real SQLite file, real signals: nothing is mocked.
"""

from __future__ import annotations

import hashlib
import json
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # the issuer package, not tests/issuer/

issuer = pytest.importorskip("issuer")
from issuer import Issuer, IssuerError  # noqa: E402
from verifier_sdk import TrustStore, Verifier  # noqa: E402

REGISTRY = "registry.sqlite"
PERSON = {"given_name": "Test", "family_name": "Person", "birthdate": "1990-01-31"}
ROOT = str(Path(__file__).resolve().parents[2])


@pytest.fixture
def city_dir(tmp_path) -> Path:
    path = tmp_path / "city"
    Issuer.init(path, insecure_demo=True).close()
    return path


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def python(code: str, *args: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-c", code, *args], cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE)


ISSUE_MANY = """
import json, sys
sys.path.insert(0, ".")
from issuer import Issuer
with Issuer.open(sys.argv[1]) as city:
    cards = [city.issue_card({"given_name": "Test", "family_name": "Person", "birthdate": "1990-01-31"}) for _ in range(int(sys.argv[2]))]
print(json.dumps([[c.card_number, uri, idx] for c in cards for uri, idx in c.status.values()]))
"""


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_two_processes_issuing_into_one_registry(backend, tmp_path, request):
    """Never the same card number, never the same status index, every card recorded."""
    city_dir = tmp_path / "city"
    url = request.getfixturevalue("postgres_url") if backend == "postgresql" else ""
    Issuer.init(city_dir, insecure_demo=True, registry=url).close()
    per_process = 60
    workers = [python(ISSUE_MANY, str(city_dir), str(per_process)) for _ in range(2)]
    results = []
    for worker in workers:
        out, err = worker.communicate(timeout=120)
        assert worker.returncode == 0, err.decode()[-2000:]
        results += json.loads(out)
    faces = 3  # one status index per face
    assert len(results) == 2 * per_process * faces
    assert len({number for number, _, _ in results}) == 2 * per_process, "two cards share a card number"
    assert len({(uri, idx) for _, uri, idx in results}) == len(results), "two faces share a status index"
    with Issuer.open(city_dir) as city:
        assert city.registry.card_count() == 2 * per_process


@pytest.mark.parametrize(
    "where",
    ["header", "page-header", "last-page", "file-truncated"],
)
def test_corrupted_registry_is_refused_and_nothing_is_lost(city_dir, tmp_path, where):
    with Issuer.open(city_dir) as city:
        cards = [city.issue_card(PERSON) for _ in range(30)]
        city.revoke(cards[0].card_number)
        publication = city.publish(tmp_path / "publication")
    registry = city_dir / REGISTRY
    data = bytearray(registry.read_bytes())
    page = int.from_bytes(data[16:18], "big") or 65536
    if where == "header":
        data[0:16] = b"not a database!!"
    elif where == "page-header":
        data[page : page + 8] = b"\xff" * 8  # the b-tree page header of page 2
    elif where == "last-page":
        data[-page : -page + 12] = b"\xee" * 12
    else:
        data = data[: len(data) // 2 + 100]
    registry.write_bytes(bytes(data))
    corrupted = digest(registry)
    published = {p: digest(p) for p in publication.rglob("*") if p.is_file()}

    with pytest.raises(IssuerError) as info:
        with Issuer.open(city_dir) as city:
            city.issue_card(PERSON)  # if open did not notice, issuing must
            city.publish(tmp_path / "publication")
    message = str(info.value).lower()
    assert "corrupt" in message or "registry" in message, message
    # Refusing changed nothing: the registry (for forensics or restore) and the publication are untouched.
    assert digest(registry) == corrupted
    assert {p: digest(p) for p in publication.rglob("*") if p.is_file()} == published
    trust = TrustStore.load(publication, root_key=publication / "root-key.pem")
    verifier = Verifier(trust, "bank")
    assert verifier.verify(cards[1].faces["id"]).status == "valid"
    with pytest.raises(Exception) as revoked:
        verifier.verify(cards[0].faces["id"])
    assert getattr(revoked.value, "code", None) == "revoked"


def test_corrupted_registry_values_inside_a_row(city_dir, tmp_path):
    """Flipping bytes inside row data (not the b-tree structure) must not silently change a card's status.

    SQLite's quick_check verifies structure, not values; this pins whether the registry notices.
    """
    with Issuer.open(city_dir) as city:
        cards = [city.issue_card(PERSON) for _ in range(5)]
        city.revoke(cards[0].card_number)
        row = city.registry.card(city.registry.card_hash(cards[0].card_number))
        publication = city.publish(tmp_path / "before")
    registry = city_dir / REGISTRY
    data = bytearray(registry.read_bytes())
    # The revoked card's row holds its card hash; find it and corrupt the status that follows the row's fields.
    at = data.find(row.card_hash)
    assert at > 0, "the row is not in the main file (still in the WAL?)"
    data[at : at + 4] = bytes(b ^ 0xFF for b in data[at : at + 4])
    registry.write_bytes(bytes(data))
    try:
        with Issuer.open(city_dir) as city:
            city.publish(tmp_path / "after")
    except IssuerError:
        return  # detected: the best outcome
    trust = TrustStore.load(tmp_path / "after", root_key=publication / "root-key.pem")
    with pytest.raises(Exception) as refused:
        Verifier(trust, "bank").verify(cards[0].faces["id"])
    assert getattr(refused.value, "code", None) == "revoked", "a corrupted registry silently un-revoked a card"


PUBLISH_FOREVER = """
import sys
sys.path.insert(0, ".")
from issuer import Issuer
with Issuer.open(sys.argv[1]) as city:
    print("ready", flush=True)
    while True:
        city.publish(sys.argv[2])
"""


def test_publish_killed_midway_never_leaves_a_half_written_bundle(city_dir, tmp_path):
    with Issuer.open(city_dir) as city:
        for _ in range(5):
            city.issue_card(PERSON)
        publication = city.publish(tmp_path / "publication")
    root = (publication / "root-key.pem").read_text()
    finished = set()  # status lists of the publications swapped in (publish keeps the bundle version; iat moves)
    rng = random.Random(6)
    for i in range(12):
        worker = python(PUBLISH_FOREVER, str(city_dir), str(publication))
        assert worker.stdout.readline().strip() == b"ready"
        time.sleep(rng.uniform(0.0, 0.25) if i % 3 else 0.6)  # every third run lets a few publishes finish
        worker.send_signal(signal.SIGKILL)
        worker.wait(timeout=30)
        # Whatever instant the kill hit, the folder is one whole publication: bundle, status lists, root key.
        trust = TrustStore.load(publication, root_key=root)
        assert not trust.problems, trust.problems
        assert (publication / "root-key.fingerprint").read_text().startswith("sha256:")
        finished.add((publication / "status" / "1.jwt").read_text())
    assert len(finished) > 1, "the kills never let a publish finish: the test proved nothing"
    # The next publish after a crash still works and cleans up behind it.
    with Issuer.open(city_dir) as city:
        city.publish(publication)
    assert not TrustStore.load(publication, root_key=root).problems
    # Killed publishes leave their temporary folders beside it; the next publish sweeps them, and nothing else appears.
    leftovers = [p.name for p in publication.parent.iterdir() if p.name not in (publication.name, city_dir.name, f"{city_dir.name}-root")]
    assert leftovers == [], leftovers


PUBLISH_ON_A_FULL_DISK = """
import json, subprocess, sys
sys.path.insert(0, ".")
from issuer import Issuer, IssuerError
from verifier_sdk import TrustStore
city_dir, small = sys.argv[1], sys.argv[2]
subprocess.run(["mount", "-t", "tmpfs", "-o", "size=24k", "tmpfs", small], check=True)
with Issuer.open(city_dir) as city:
    first = city.publish(small + "/publication")  # 4 files of one page each: 16 KB of the 24
    error = None
    try:
        city.publish(small + "/publication")  # the second copy runs out of space halfway
    except Exception as exc:
        error = f"{type(exc).__name__}: {exc}"
trust = TrustStore.load(first, root_key=first / "root-key.pem")
import os
print(json.dumps({"error": error, "version": trust.version, "problems": list(trust.problems), "left": sorted(os.listdir(small))}))
"""


def test_publish_on_a_full_disk_keeps_the_previous_publication(city_dir, tmp_path):
    """A real full file system (tmpfs in a private mount namespace): the publish fails, the old one stays whole."""
    small = tmp_path / "small"
    small.mkdir()
    probe = subprocess.run(["unshare", "--mount", "--propagation", "private", "true"], capture_output=True)
    if probe.returncode != 0:
        pytest.skip("needs unshare and mount (root): a real full disk cannot be simulated here")
    done = subprocess.run(["unshare", "--mount", "--propagation", "private", sys.executable, "-c", PUBLISH_ON_A_FULL_DISK,
                           str(city_dir), str(small)], cwd=ROOT, capture_output=True, timeout=120)
    assert done.returncode == 0, done.stderr.decode()[-2000:]
    result = json.loads(done.stdout)
    assert result["error"] is not None and "No space left" in result["error"], result
    assert result["version"] == 1 and result["problems"] == []
    assert result["left"] == ["publication"], f"a failed publish left files behind: {result['left']}"
