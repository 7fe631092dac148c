"""Trust sync against a real HTTP server on 127.0.0.1 and from a folder: checks before swap, old copy kept on failure."""

from __future__ import annotations

import hashlib
import http.server
import shutil
import threading
import time
from email.utils import formatdate
from pathlib import Path

import pytest

from verifier_sdk.errors import BadSignatureError, TrustRollbackError, VerificationError
from verifier_sdk.sync import STATE_FILE, SyncError, last_synced_at, sync_trust
from verifier_sdk.trust import TrustStore

from deskkit import REVOKED_IDX


class PublicationHandler(http.server.SimpleHTTPRequestHandler):
    """Serves a publication folder with ETag / Last-Modified and answers conditional requests with 304."""

    log = []  # (path, status) per request, replaced per server

    def log_message(self, *args):  # keep test output quiet
        pass

    def do_GET(self):
        path = Path(self.translate_path(self.path))
        if not path.is_file():
            self.log.append((self.path, 404))
            self.send_error(404)
            return
        data = path.read_bytes()
        etag = '"' + hashlib.sha256(data).hexdigest()[:16] + '"'
        if self.headers.get("If-None-Match") == etag:
            self.log.append((self.path, 304))
            self.send_response(304)
            self.send_header("ETag", etag)
            self.end_headers()
            return
        self.log.append((self.path, 200))
        self.send_response(200)
        self.send_header("Content-Type", "application/jwt")
        self.send_header("ETag", etag)
        self.send_header("Last-Modified", formatdate(path.stat().st_mtime, usegmt=True))
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


@pytest.fixture
def server(desk):
    handler = type("Handler", (PublicationHandler,), {"log": []})
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), lambda *a: handler(*a, directory=str(desk.publication)))
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    httpd.url = f"http://127.0.0.1:{httpd.server_address[1]}/"
    httpd.requests = handler.log
    yield httpd
    httpd.shutdown()
    httpd.server_close()


def snapshot(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def republish(city, desk, **kwargs):
    """The city publishes again (new status list issued a little later)."""
    token = city.status_token(iat=int(time.time()) - kwargs.pop("age", 10), ttl=86400)
    city.publish(desk.publication, status_token=token, **kwargs)


def test_first_sync_then_conditional_requests(city, desk, server, tmp_path):
    target = tmp_path / "fresh" / "trust"
    target.parent.mkdir()
    result = sync_trust(target, desk.root_key, server.url)
    assert result.changed and result.version == 1
    assert TrustStore.load(target, root_key=desk.root_key).version == 1
    assert last_synced_at(target) is not None
    assert (target / STATE_FILE).is_file() and not (target / "root-key.pem").exists()  # the root key never comes from the source
    server.requests.clear()
    again = sync_trust(target, desk.root_key, server.url)
    assert not again.changed
    assert server.requests and all(status == 304 for _, status in server.requests)


def test_sync_installs_newer_data_and_the_app_reloads(city, desk, server, make_app, cards):
    client = make_app("museum").test_client()
    assert client.post("/api/verify", json={"qr": cards["culture"]}).get_json()["valid"] is True
    city.status[7] = 1  # the city revokes the card the desk just accepted
    republish(city, desk, version=2)
    result = sync_trust(desk.trust_dir, desk.root_key, server.url)
    assert result.changed and result.version == 2
    assert (desk.trust_dir / "root-key.pem").is_file()  # the informative copy is kept
    body = client.post("/api/verify", json={"qr": cards["culture"]}).get_json()
    assert body["code"] == "revoked"
    assert client.get("/api/status").get_json()["trust_version"] == 2


def test_status_lists_alone_can_change(city, desk, server):
    sync_trust(desk.trust_dir, desk.root_key, server.url)
    (desk.publication / "status" / "1.jwt").write_text(city.status_token(iat=int(time.time()) - 5))
    server.requests.clear()
    assert sync_trust(desk.trust_dir, desk.root_key, server.url).changed
    statuses = dict(server.requests)
    assert statuses["/trust-bundle.jwt"] == 304 and statuses["/status/1.jwt"] == 200


def test_bundle_signed_by_another_root_is_refused(city, desk, server):
    from factory import new_key

    before = snapshot(desk.trust_dir)
    city.publish(desk.publication, root=new_key(), version=5)
    with pytest.raises(BadSignatureError):
        sync_trust(desk.trust_dir, desk.root_key, server.url)
    assert snapshot(desk.trust_dir) == before


def test_rollback_to_an_older_bundle_is_refused(city, desk, server):
    republish(city, desk, version=3)
    sync_trust(desk.trust_dir, desk.root_key, server.url)
    before = snapshot(desk.trust_dir)
    republish(city, desk, version=2)
    with pytest.raises(TrustRollbackError):
        sync_trust(desk.trust_dir, desk.root_key, server.url)
    assert snapshot(desk.trust_dir) == before


def test_replayed_older_status_list_is_refused(city, desk, server):
    before = snapshot(desk.trust_dir)
    city.publish(desk.publication, status_token=city.status_token(iat=int(time.time()) - 3 * 86400))
    with pytest.raises(TrustRollbackError):
        sync_trust(desk.trust_dir, desk.root_key, server.url)
    assert snapshot(desk.trust_dir) == before


def test_forged_status_list_is_refused(city, desk, server):
    from factory import new_key

    before = snapshot(desk.trust_dir)
    city.status[REVOKED_IDX] = 0  # an attacker un-revokes a card with a key the city never listed
    city.publish(desk.publication, status_token=city.status_token(iat=int(time.time()), signing_key=new_key()), version=2)
    with pytest.raises(VerificationError):
        sync_trust(desk.trust_dir, desk.root_key, server.url)
    assert snapshot(desk.trust_dir) == before


def test_disallowed_status_path_is_refused(city, desk, server):
    claims = city.bundle_claims(version=2)
    claims["status_lists"][0]["path"] = "status/../../etc/passwd.jwt"
    city.publish(desk.publication, claims=claims)
    before = snapshot(desk.trust_dir)
    with pytest.raises(SyncError):
        sync_trust(desk.trust_dir, desk.root_key, server.url)
    assert snapshot(desk.trust_dir) == before


def test_network_failures_keep_the_old_copy(desk, server):
    before = snapshot(desk.trust_dir)
    with pytest.raises(SyncError, match="404"):
        sync_trust(desk.trust_dir, desk.root_key, server.url + "missing/")
    port = server.server_address[1]
    server.shutdown()
    server.server_close()
    with pytest.raises(SyncError, match="could not download"):
        sync_trust(desk.trust_dir, desk.root_key, f"http://127.0.0.1:{port}/", timeout=2)
    assert snapshot(desk.trust_dir) == before


def test_a_silent_server_times_out(desk):
    import socket

    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)  # accepts the connection, never answers
    try:
        with pytest.raises(SyncError, match="ReadTimeout|Timeout|could not download"):
            sync_trust(desk.trust_dir, desk.root_key, f"http://127.0.0.1:{listener.getsockname()[1]}/", timeout=(1, 0.5))
    finally:
        listener.close()


def test_oversized_file_is_refused(desk, server):
    (desk.publication / "trust-bundle.jwt").write_bytes(b"A" * (2 << 20))
    before = snapshot(desk.trust_dir)
    with pytest.raises(SyncError, match="too large"):
        sync_trust(desk.trust_dir, desk.root_key, server.url)
    assert snapshot(desk.trust_dir) == before


def test_sync_from_a_usb_folder(city, desk, tmp_path):
    stick = tmp_path / "usb" / "cityid"
    city.status[7] = 1
    city.publish(stick, status_token=city.status_token(iat=int(time.time()) - 5), version=4)
    result = sync_trust(desk.trust_dir, desk.root_key, str(stick))
    assert result.changed and TrustStore.load(desk.trust_dir, root_key=desk.root_key).version == 4
    assert not sync_trust(desk.trust_dir, desk.root_key, str(stick)).changed
    with pytest.raises(SyncError):
        sync_trust(desk.trust_dir, desk.root_key, str(tmp_path / "nothing-here"))


def test_interrupted_swap_is_recovered(desk, server):
    backup = desk.trust_dir.with_name(f".{desk.trust_dir.name}.previous")
    shutil.move(desk.trust_dir, backup)  # as if the machine died between the two renames
    sync_trust(desk.trust_dir, desk.root_key, server.url)
    assert (desk.trust_dir / "trust-bundle.jwt").is_file() and not backup.exists()


def test_flask_sync_trust_command(city, desk, server, make_app):
    app = make_app("museum", PUBLICATION_URL=server.url)
    republish(city, desk, version=2)
    result = app.test_cli_runner().invoke(args=["sync-trust"])
    assert result.exit_code == 0, result.output
    assert "version 2" in result.output
    (desk.publication / "trust-bundle.jwt").write_text("garbage")
    failed = app.test_cli_runner().invoke(args=["sync-trust"])
    assert failed.exit_code != 0 and "unchanged" in failed.output


def test_cityid_verify_sync_subcommand(city, desk, server, capsys):
    from verifier_sdk.app.commands import main

    republish(city, desk, version=2)
    assert main(["sync", "--trust", str(desk.trust_dir), "--root-key", str(desk.root_key), "--source", server.url]) == 0
    assert "version 2" in capsys.readouterr().out
    assert main(["sync", "--trust", str(desk.trust_dir), "--instance", str(desk.instance), "--source", server.url]) == 2
    (desk.publication / "trust-bundle.jwt").write_text("garbage")
    assert main(["sync", "--trust", str(desk.trust_dir), "--root-key", str(desk.root_key), "--source", server.url]) == 1
    assert "unchanged" in capsys.readouterr().err
