"""`cityid-verify serve` set-up: root key pinning, start-up checks, a real server process; the examples."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from verifier_sdk.app.commands import SetupError, main, pin_root_key

REPO = Path(__file__).resolve().parents[2]


def test_demo_pins_the_root_key_beside_the_trust_data_once(desk, capsys):
    pinned = pin_root_key(desk.instance, desk.publication)
    assert pinned.read_bytes() == desk.root_key.read_bytes()
    assert "fingerprint" in capsys.readouterr().err
    (desk.publication / "root-key.pem").write_text("not a key")  # later runs never read it again
    assert pin_root_key(desk.instance, desk.publication) == pinned


def test_explicit_root_key_is_pinned_and_a_different_one_refused(desk, tmp_path):
    from factory import new_key, pem

    pinned = pin_root_key(desk.instance, desk.trust_dir, desk.root_key)
    assert pin_root_key(desk.instance, desk.trust_dir, desk.root_key) == pinned
    other = tmp_path / "other.pem"
    other.write_text(pem(new_key().public_key()))
    with pytest.raises(SetupError, match="already pinned"):
        pin_root_key(desk.instance, desk.trust_dir, other)
    with pytest.raises(SetupError, match="no root key"):
        pin_root_key(tmp_path / "new-instance", tmp_path / "no-trust")


def test_serve_refuses_trust_data_from_another_root(desk, tmp_path, city, capsys):
    from factory import TestCity

    pin_root_key(desk.instance, desk.trust_dir, desk.root_key)
    other_city = TestCity().publish(tmp_path / "other-city")
    code = main(["serve", "--trust", str(other_city), "--purpose", "bank", "--instance", str(desk.instance)])
    assert code == 2 and "not signed by the pinned root key" in capsys.readouterr().err


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_cityid_verify_serve_runs_a_desk(issued_city, tmp_path):
    port = free_port()
    command = [sys.executable, "-m", "verifier_sdk.cli", "serve", "--trust", str(issued_city.publication), "--purpose", "museum",
               "--port", str(port), "--instance", str(tmp_path / "instance")]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env={**os.environ, "PYTHONPATH": str(REPO)})
    try:
        base = f"http://127.0.0.1:{port}"
        for _ in range(100):
            try:
                status = json.load(urllib.request.urlopen(f"{base}/api/status", timeout=2))
                break
            except OSError:
                time.sleep(0.1)
        else:
            pytest.fail("the server did not start: " + process.stderr.read1().decode(errors="replace"))
        assert status["purpose"] == "museum" and status["freshness"] == "fresh"
        text = (issued_city.folders["valid"] / "culture.txt").read_text()
        request = urllib.request.Request(f"{base}/api/verify", data=json.dumps({"qr": text}).encode(), headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=5) as response:
            body = json.load(response)
            assert response.headers["Server"] == "cityid"  # waitress (ident="cityid"), not the development server
        assert body["valid"] is True and set(body["claims"]) <= {"museum_tier", "age_over_18", "age_over_21", "age_over_65"}
        assert (tmp_path / "instance" / "root-key.pem").is_file()
    finally:
        process.terminate()
        process.wait(timeout=10)


@pytest.mark.parametrize(("script", "face", "expected", "hidden"), [
    ("bank_teller.py", "id", "Wiśniewska-Obi", ()),
    ("museum_desk.py", "culture", "Membership tier: gold", ("Zofia", "Wiśniewska")),
    ("pharmacy.py", "rx", "Prescription discount: APPLIES", ("Zofia", "gold")),
])
def test_examples(issued_city, script, face, expected, hidden):
    publication = issued_city.publication
    text = (issued_city.folders["valid"] / f"{face}.txt").read_text()
    run = subprocess.run([sys.executable, str(REPO / "examples" / script), "--trust", str(publication), "--root-key",
                          str(publication / "root-key.pem"), text], capture_output=True, text=True, timeout=60)
    assert run.returncode == 0, run.stderr
    assert expected in run.stdout and not any(value in run.stdout for value in hidden)
    refused = subprocess.run([sys.executable, str(REPO / "examples" / script), "--trust", str(publication), "--root-key",
                              str(publication / "root-key.pem"), (issued_city.folders["revoked"] / f"{face}.txt").read_text()],
                             capture_output=True, text=True, timeout=60)
    assert refused.returncode == 1 and "revoked" in refused.stdout


def test_example_reads_a_photo(issued_city):
    publication = issued_city.publication
    run = subprocess.run([sys.executable, str(REPO / "examples" / "bank_teller.py"), "--trust", str(publication), "--root-key",
                          str(publication / "root-key.pem"), str(issued_city.folders["valid"] / "front.png")],
                         capture_output=True, text=True, timeout=60)
    assert run.returncode == 0 and "Zofia" in run.stdout


def test_demo_prints_commands_that_work_as_shown(tmp_path):
    """Measured: the printed 'cityid-verify ...' failed until the virtual environment was activated."""
    bare_path = {**os.environ, "PATH": "/usr/bin:/bin", "PYTHONPATH": str(REPO)}
    bare_path.pop("VIRTUAL_ENV", None)
    # A relative folder, as `./run demo` passes it: the photo paths in the demo's input must still resolve.
    demo_dir = os.path.relpath(tmp_path / "demo-city", REPO)
    demo = subprocess.run([sys.executable, "-m", "issuer.cli", "demo", demo_dir], cwd=REPO, env=bare_path,
                          capture_output=True, text=True, timeout=300)
    assert demo.returncode == 0, demo.stderr
    lines = [line.strip() for line in demo.stdout.splitlines()]
    commands = [line.split(": ", 1)[1] if line.startswith("# or") else line for line in lines if "cityid-verify" in line and "--trust" in line]
    assert len(commands) == 6  # bank, museum, pharmacy, revoked, expired, the picture
    outcomes = []
    for command in commands:
        run = subprocess.run(["bash", "-c", command], cwd=REPO, env=bare_path, capture_output=True, text=True, timeout=120)
        assert "command not found" not in run.stderr and "No such file" not in run.stderr, (command, run.stderr)
        outcomes.append((run.returncode, run.stdout.split("  ")[0], run.stdout.split("  ")[1][:9]))
    assert outcomes == [(0, "VALID", "This city"), (0, "VALID", "This city"), (0, "VALID", "This city"),
                        (1, "NOT VALID", "(revoked)"), (1, "NOT VALID", "(expired)"), (0, "VALID", "This city")]


def test_examples_word_results_alike_and_read_caps_lock_scans(desk, city):
    import time

    from verifier_sdk import encode_qr

    exp = int(time.time()) + 86400
    no_tier = encode_qr(city.card("culture", {"age_over_65": True}, exp=exp))
    args = ["--trust", str(desk.publication), "--root-key", str(desk.root_key)]
    museum = subprocess.run([sys.executable, str(REPO / "examples" / "museum_desk.py"), *args, no_tier.lower()], capture_output=True, text=True, timeout=60)
    assert museum.returncode == 0, museum.stderr
    assert museum.stdout.splitlines()[0] == "VALID: This city ID card is valid."
    assert "This card has no museum membership: standard admission applies." in museum.stdout and "Senior discount (65+): yes" in museum.stdout
    bank = subprocess.run([sys.executable, str(REPO / "examples" / "bank_teller.py"), *args, no_tier], capture_output=True, text=True, timeout=60)
    assert bank.returncode == 1 and bank.stdout.startswith("CANNOT CHECK (purpose_not_satisfied)")
