"""`cityid-verify serve` as a production server: waitress, https for tablets, clear start-up refusals, extras."""

from __future__ import annotations

import hashlib
import os
import socket
import ssl
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

from test_desk_commands import REPO, free_port
from verifier_sdk.app.commands import main

SERVE = [sys.executable, "-m", "verifier_sdk.cli", "serve"]


def start(args: list[str], cwd: Path) -> subprocess.Popen:
    return subprocess.Popen(SERVE + args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=cwd,
                            env={**os.environ, "PYTHONPATH": str(REPO)})


def wait_https(port: int, process: subprocess.Popen) -> bytes:
    """The server's certificate (DER), once it answers."""
    context = ssl.create_default_context()
    context.check_hostname, context.verify_mode = False, ssl.CERT_NONE  # checked by fingerprint below
    for _ in range(150):
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=2) as raw, context.wrap_socket(raw) as tls:
                return tls.getpeercert(binary_form=True)
        except OSError:
            if process.poll() is not None:
                break
            time.sleep(0.1)
    process.kill()
    pytest.fail("no https server: " + process.communicate()[1].decode(errors="replace"))


def stop(process: subprocess.Popen) -> str:
    process.terminate()
    return process.communicate(timeout=20)[1].decode(errors="replace")


@pytest.mark.filterwarnings("ignore::urllib3.exceptions.InsecureRequestWarning")
def test_self_signed_https_prints_the_fingerprint_tablets_check(issued_city, tmp_path):
    port = free_port()
    args = ["--trust", str(issued_city.publication), "--purpose", "bank", "--port", str(port), "--instance", str(tmp_path / "instance"),
            "--root-key", str(issued_city.publication / "root-key.pem")]
    process = start([*args, "--self-signed", "--host-name", "desk.local"], tmp_path)
    try:
        der = wait_https(port, process)
        status = requests.get(f"https://127.0.0.1:{port}/api/status", verify=False, timeout=10)
        assert status.status_code == 200 and status.json()["freshness"] == "fresh"
        page = requests.get(f"https://127.0.0.1:{port}/", headers={"Host": "desk.local"}, verify=False, timeout=10)
        assert page.status_code == 200 and "camera-start" in page.text  # the name tablets use is trusted
        assert requests.get(f"https://127.0.0.1:{port}/", headers={"Host": "evil.example"}, verify=False, timeout=10).status_code == 400
    finally:
        err = stop(process)
    printed = hashlib.sha256(der).hexdigest().upper()
    assert ":".join(printed[i:i + 2] for i in range(0, 64, 2)) in err
    cert, key = tmp_path / "instance" / "tls" / "desk-cert.pem", tmp_path / "instance" / "tls" / "desk-key.pem"
    assert (key.stat().st_mode & 0o077) == 0  # the private key: owner only

    # The same certificate with --tls CERT KEY (and on a restart: the tablets' trust holds).
    process = start([*args, "--tls", str(cert), str(key)], tmp_path)
    try:
        assert wait_https(port, process) == der
    finally:
        stop(process)


def test_a_port_in_use_names_the_option(desk, capsys):
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        code = main(["serve", "--trust", str(desk.trust_dir), "--purpose", "bank", "--root-key", str(desk.root_key),
                     "--instance", str(desk.instance), "--port", str(port)])
    err = capsys.readouterr().err
    assert code == 2 and "--port" in err and "Traceback" not in err


def test_a_second_desk_on_the_same_instance_is_refused(desk, capsys):
    import fcntl

    desk.instance.mkdir(parents=True)
    with open(desk.instance / "serve.lock", "a") as held:
        fcntl.flock(held, fcntl.LOCK_EX | fcntl.LOCK_NB)
        code = main(["serve", "--trust", str(desk.trust_dir), "--purpose", "bank", "--root-key", str(desk.root_key),
                     "--instance", str(desk.instance), "--port", str(free_port())])
    assert code == 2 and "already serving from" in capsys.readouterr().err


def test_without_instance_the_root_key_is_pinned_in_the_working_folder(desk, tmp_path, monkeypatch, capsys):
    """./instance, as the README says (not under the virtualenv): a second city's desk elsewhere is not refused."""
    from factory import TestCity

    with socket.socket() as busy:  # stops serve just before it would listen
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = str(busy.getsockname()[1])
        first, second = tmp_path / "bank-desk", tmp_path / "second-city-desk"
        first.mkdir()
        second.mkdir()
        monkeypatch.chdir(first)
        assert main(["serve", "--trust", str(desk.trust_dir), "--purpose", "bank", "--root-key", str(desk.root_key), "--port", port]) == 2
        assert (first / "instance" / "root-key.pem").read_bytes() == desk.root_key.read_bytes()
        other = TestCity().publish(tmp_path / "other-city")
        monkeypatch.chdir(second)
        assert main(["serve", "--trust", str(other), "--purpose", "bank", "--root-key", str(other / "root-key.pem"), "--port", port]) == 2
    err = capsys.readouterr().err
    assert "already pinned" not in err and (second / "instance" / "root-key.pem").is_file()


@pytest.fixture(scope="module")
def core_only(tmp_path_factory) -> dict[str, str]:
    """An interpreter that sees only the core install (pyjwt, cryptography and what they need), not the extras."""
    import cffi
    import cryptography
    import jwt

    site = tmp_path_factory.mktemp("core-site")
    packages = Path(cryptography.__file__).parents[1]
    for module in (cryptography, jwt, cffi):
        (site / Path(module.__file__).parent.name).symlink_to(Path(module.__file__).parent)
    for extra in packages.glob("_cffi_backend*"):
        (site / extra.name).symlink_to(extra)
    return {"PYTHONPATH": f"{REPO}{os.pathsep}{site}", "PATH": os.environ.get("PATH", "")}


def test_core_install_gets_one_line_naming_the_extra(core_only, issued_city):
    def run(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-S", "-m", "verifier_sdk.cli", *args], capture_output=True, text=True,
                              env=core_only, timeout=60)

    probe = subprocess.run([sys.executable, "-S", "-c", "import flask"], capture_output=True, env=core_only)
    assert probe.returncode != 0  # really without the extras
    photo = run("--trust", str(issued_city.publication), "--root-key", str(issued_city.publication / "root-key.pem"),
                str(issued_city.folders["valid"] / "front.png"))
    serve = run("serve", "--trust", str(issued_city.publication), "--purpose", "bank")
    for result, extra in ((photo, "image"), (serve, "app")):
        assert result.returncode == 2 and "Traceback" not in result.stderr
        assert len(result.stderr.strip().splitlines()) == 1
        assert f"'{extra}' extra" in result.stderr and f"pip install '.[{extra}]'" in result.stderr


def test_run_demo_never_replaces_a_city_a_desk_serves_from(tmp_path):
    import fcntl

    city = tmp_path / "demo-city"
    (city / "instance").mkdir(parents=True)
    (city / "marker").write_text("still here")
    with open(city / "instance" / "serve.lock", "a") as held:
        fcntl.flock(held, fcntl.LOCK_EX | fcntl.LOCK_NB)
        run = subprocess.run(["bash", str(REPO / "run"), "demo"], capture_output=True, text=True, timeout=600,
                             env={**os.environ, "DEMO_DIR": str(city)})
    assert run.returncode == 1 and "still serving" in run.stderr
    assert (city / "marker").read_text() == "still here"
