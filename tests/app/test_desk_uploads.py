"""Uploads stay in memory: a large photo of a card is received, parsed and decoded without writing any file.

A Python audit hook records every file opened for writing (and every temporary file made) while the
upload is handled: in the app itself, in a real ``cityid-verify serve`` process (waitress, whose own
request buffers spool to disk by default), and, as a control, in a plain Flask app, where Werkzeug's
default spooling of uploads over 500 KiB is seen.  Where strace can trace, it watches the real server too.
"""

from __future__ import annotations

import io
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

REPO = Path(__file__).resolve().parents[2]
WRITE_FLAGS = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_APPEND | os.O_TRUNC | getattr(os, "O_TMPFILE", 0)

# The hook, as source: it runs in this process and, unchanged, in the server process.
HOOK = f"""
import os, sys
_WRITE_FLAGS = {WRITE_FLAGS}
_written = []
_armed = [False]

def _file_writes(event, args):
    if event == "open" and _armed[0]:
        path, mode, flags = (tuple(args) + (None, None, None))[:3]
        if (isinstance(mode, str) and any(c in mode for c in "wax+")) or (isinstance(flags, int) and flags & _WRITE_FLAGS):
            _written.append(f"open {{path!r}} mode={{mode!r}} flags={{flags!r}}")
    elif event in ("tempfile.mkstemp", "tempfile.mkdtemp", "os.rename", "os.link", "os.symlink", "shutil.copyfile") and _armed[0]:
        _written.append(f"{{event}} {{args!r}}")
"""


def install_hook() -> dict:
    namespace: dict = {}
    exec(HOOK, namespace)  # noqa: S102 - our own constant source
    sys.addaudithook(namespace["_file_writes"])  # (audit hooks cannot be removed: it stays disarmed)
    return namespace


_HOOK = None


def audit() -> dict:
    global _HOOK
    if _HOOK is None:
        _HOOK = install_hook()
    return _HOOK


def large_card_photo(front: Path) -> bytes:
    """A phone photo of a printed card: 4000x3000 JPEG q95, well over Werkzeug's 500 KiB spooling threshold."""
    from PIL import Image

    card = Image.open(front).convert("RGB")
    card = card.resize((2400, round(card.height * 2400 / card.width)), Image.LANCZOS)
    photo = Image.effect_noise((4000, 3000), 24).convert("RGB")  # a textured desk: the JPEG stays large
    photo.paste(card, (800, 600))
    out = io.BytesIO()
    photo.save(out, "JPEG", quality=95)
    data = out.getvalue()
    assert 1024 * 1024 < len(data) < 8 * 1024 * 1024
    return data


@pytest.fixture(scope="module")
def photo(issued_city) -> bytes:
    return large_card_photo(issued_city.folders["valid"] / "front.png")


@pytest.fixture
def issued_app(issued_city, tmp_path):
    from verifier_sdk.app import create_app

    trust = tmp_path / "trust"
    shutil.copytree(issued_city.publication, trust)
    return create_app({"TESTING": True, "TRUST_DIR": str(trust), "ROOT_KEY": str(issued_city.publication / "root-key.pem"),
                       "PURPOSE": "bank"}, instance_path=str(tmp_path / "instance"))


def handled_with_audit(client, path: str, photo: bytes):  # type: ignore[no-untyped-def]
    from werkzeug.datastructures import FileStorage
    from werkzeug.test import encode_multipart

    hook = audit()
    client.get("/api/status")  # trust data loads (reads only) before arming
    # Encoded before arming, in memory (the test client itself would spool a large body to a temporary file).
    boundary, body = encode_multipart({"image": FileStorage(io.BytesIO(photo), "card.jpg", content_type="image/jpeg")})
    hook["_written"].clear()
    hook["_armed"][0] = True
    try:
        response = client.post(path, data=body, content_type=f"multipart/form-data; boundary={boundary}")
    finally:
        hook["_armed"][0] = False
    return response, list(hook["_written"])


@pytest.mark.parametrize("path", ["/verify", "/api/verify"])
def test_a_large_photo_upload_writes_no_file(issued_app, photo, path):
    response, written = handled_with_audit(issued_app.test_client(), path, photo)
    assert response.status_code == 200 and (b'data-valid="true"' in response.data or response.get_json()["valid"] is True)
    assert written == []


def test_the_audit_sees_werkzeugs_default_spooling(photo):
    """The control: the same upload to a plain Flask app is spooled to a temporary file, and the hook sees it."""
    from flask import Flask, request

    plain = Flask("plain")

    @plain.post("/up")
    def up() -> str:
        return str(len(request.files["image"].read()))

    response, written = handled_with_audit(plain.test_client(), "/up", photo)
    assert response.get_data(as_text=True) == str(len(photo))
    assert written, "the audit hook missed Werkzeug's temporary file"


SERVER = HOOK + """
sys.addaudithook(_file_writes)
def _arm_after_bind(event, args):  # start-up (pinning, the lock file) is done once the server listens
    if event == "socket.bind":
        _armed[0] = True
sys.addaudithook(_arm_after_bind)
import atexit, signal
def _report():
    os.write(2, ("\\nWRITES: " + repr(_written) + "\\n").encode())
atexit.register(_report)
signal.signal(signal.SIGTERM, lambda *a: sys.exit(0))
from verifier_sdk.cli import main
sys.exit(main(sys.argv[1:]))
"""


def start_server(issued_city, tmp_path, port: int) -> subprocess.Popen:
    command = [sys.executable, "-c", SERVER, "serve", "--trust", str(issued_city.publication), "--purpose", "bank",
               "--port", str(port), "--instance", str(tmp_path / "instance"), "--root-key", str(issued_city.publication / "root-key.pem")]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=tmp_path,
                               env={**os.environ, "PYTHONPATH": str(REPO)})
    for _ in range(150):
        try:
            requests.get(f"http://127.0.0.1:{port}/api/status", timeout=2)
            return process
        except requests.ConnectionError:
            if process.poll() is not None:
                break
            time.sleep(0.1)
    process.kill()
    pytest.fail("the server did not start: " + process.communicate()[1].decode(errors="replace"))


def post_photos(port: int, photo: bytes) -> None:
    base = f"http://127.0.0.1:{port}"
    api = requests.post(f"{base}/api/verify", files={"image": ("card.jpg", photo, "image/jpeg")}, timeout=60)
    assert api.status_code == 200 and api.json()["valid"] is True
    page = requests.post(f"{base}/verify", files={"image": ("card.jpg", photo, "image/jpeg")}, timeout=60)
    assert page.status_code == 200 and 'data-valid="true"' in page.text


def test_a_real_server_keeps_a_large_photo_in_memory(issued_city, tmp_path, photo):
    from test_desk_commands import free_port

    port = free_port()
    process = start_server(issued_city, tmp_path, port)
    try:
        post_photos(port, photo)
    finally:
        process.terminate()
        _, err = process.communicate(timeout=20)
    report = err.decode(errors="replace")
    assert "WRITES: []" in report, report[-2000:]


def _strace_works() -> bool:
    if shutil.which("strace") is None:
        return False
    return subprocess.run(["strace", "-f", "-o", os.devnull, "true"], capture_output=True).returncode == 0


@pytest.mark.skipif(not _strace_works(), reason="strace is missing or cannot trace here (the audit-hook test still runs)")
def test_strace_sees_no_file_written_by_the_server(issued_city, tmp_path, photo):
    """Below Python: no open() for writing, no unnamed temporary file, in any thread, while photos are handled."""
    from test_desk_commands import free_port

    port = free_port()
    trace = tmp_path / "trace"
    process = start_server(issued_city, tmp_path, port)
    # Attached once the server listens (start-up writes the pin and the lock), to every thread of it.
    tracer = subprocess.Popen(["strace", "-f", "-qq", "-e", "trace=open,openat,creat,rename,renameat,renameat2,link,linkat",
                               "-o", str(trace), "-p", str(process.pid)], stderr=subprocess.PIPE)
    try:
        time.sleep(1.5)  # let strace attach to all threads
        post_photos(port, photo)
        assert requests.get(f"http://127.0.0.1:{port}/static/app.css", timeout=10).status_code == 200
        time.sleep(0.5)
    finally:
        tracer.terminate()
        tracer.communicate(timeout=20)
        process.terminate()
        process.communicate(timeout=20)
    during = trace.read_text(errors="replace")
    assert "app.css" in during  # the trace does see the server's file opens
    writes = [line for line in during.splitlines()
              if "rename" in line or "creat(" in line or any(flag in line for flag in ("O_WRONLY", "O_RDWR", "O_CREAT", "O_TMPFILE"))]
    assert writes == [], writes[:10]
