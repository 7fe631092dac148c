"""Issue #10: trust data that survives attack and neglect, each fault through a public door.

The review found: a future-dated status list blocking every later sync; bundles that never
expire and a CLI that keeps no installed version (an old folder plus a fresh list signed by a
withdrawn key verified a forged card); a sync that reported success on unusable data, followed
redirects anywhere, accepted http, waited forever on a slow server and hung on a FIFO; a
freshness display that disagreed with verify; and no key roles.  Each test below failed on the
code before the fix.
"""

from __future__ import annotations

import http.server
import os
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from factory import new_key
from verifier_sdk import TrustStore, Verifier
from verifier_sdk.errors import VerificationError
from verifier_sdk.freshness import freshness
from verifier_sdk.sync import SyncError, sync_trust

DAY = 86400
EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def files(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def stick(desk, tmp_path: Path, name: str = "stick", **kwargs) -> Path:
    """A publication folder as the city (or an attacker) hands it over, e.g. on a USB stick."""
    token = kwargs.pop("status_token", None) or desk.status_token()
    windows = {kid: (desk.now - 365 * DAY, desk.now + 5 * 365 * DAY) for kid in desk.city.keys}
    kwargs.setdefault("windows", windows)
    return desk.city.publish(tmp_path / name, status_token=token, **kwargs)


# -- time sanity -----------------------------------------------------------------------------


def test_future_dated_status_list_is_refused_at_load_and_never_blocks_a_newer_bundle(desk, tmp_path, expect):
    future = desk.status_token(age=-3 * 365 * DAY)  # iat three years ahead, signed with the status key
    desk.publish(status_token=future)
    assert desk.trust().problems["https://id.example.gov/status/1"].code == "trust_not_yet_valid"
    assert "clock" in desk.refused(desk.qr(), "trust_not_yet_valid").message
    # The city withdraws the leaked status key and publishes a newer bundle: it installs at once.
    desk.city.keys["s2"] = new_key()
    good = stick(desk, tmp_path, version=2, withdrawn=("s1",), status_token=desk.status_token(kid="s2"))
    result = sync_trust(desk.folder, root_key=str(desk.root_file), source=str(good), now=desk.now)
    assert result.changed and result.version == 2
    assert desk.verify(desk.qr()).status == "valid"


def test_future_dated_status_list_is_refused_at_sync(desk, tmp_path, expect):
    before = files(desk.folder)
    bad = stick(desk, tmp_path, version=2, status_token=desk.status_token(age=-30 * DAY))
    expect("trust_not_yet_valid", lambda: sync_trust(desk.folder, root_key=str(desk.root_file), source=str(bad), now=desk.now))
    assert files(desk.folder) == before


def test_future_dated_bundle_is_refused_and_says_to_check_the_clock(desk, tmp_path, expect):
    desk.publish(iat=desk.now + 30 * DAY, version=2)
    err = expect("trust_not_yet_valid", lambda: desk.trust())
    assert "clock" in err.message
    status, printed, stderr = desk.cli(desk.qr())
    assert status == 2 and "(trust_not_yet_valid)" in stderr and "clock" in stderr


def test_desk_clock_earlier_than_the_bundle_says_its_clock_is_wrong(desk, expect):
    desk.publish(iat=desk.now - 3600)
    trust = desk.trust()
    wrong_clock = desk.now - 40 * DAY  # e.g. a dead CMOS battery
    err = expect("trust_not_yet_valid", lambda: Verifier(trust, purpose="museum").verify(desk.qr(), now=wrong_clock))
    assert "clock" in err.message
    err = expect("trust_not_yet_valid", lambda: desk.trust(now=wrong_clock))
    assert "clock" in err.message
    report = freshness(trust, Verifier(trust, "museum").purpose, now=wrong_clock)
    assert (report.level, report.reason, report.can_check) == ("stale", "trust_not_yet_valid", False)


# -- bundles expire ------------------------------------------------------------------------------


def test_expired_bundle_fails_every_card_with_trust_expired(desk):
    desk.publish(iat=desk.now - 400 * DAY, exp=desk.now - 60)
    err = desk.refused(desk.qr(), "trust_expired")
    assert "expired" in err.message
    status, printed, _ = desk.cli(desk.qr())
    assert printed["code"] == "trust_expired"


def test_expiry_is_seen_coming_in_the_banner_and_api_status(desk):
    desk.publish(iat=desk.now - 380 * DAY, exp=desk.now + 20 * DAY)
    assert desk.verify(desk.qr()).status == "valid"  # still fine today
    client = desk._client("museum")
    status = client.get("/api/status").get_json()
    assert (status["freshness"], status["freshness_reason"]) == ("ageing", "trust_expiring")
    assert status["trust_bundle_expires_at"].startswith(time.strftime("%Y-%m-%d", time.gmtime(desk.now + 20 * DAY)))
    assert "expires on" in client.get("/").get_data(as_text=True)


# -- the installed version is remembered everywhere ------------------------------------------------


def test_old_bundle_folder_with_a_list_signed_by_a_withdrawn_key_is_a_rollback(desk, tmp_path, expect):
    """The review's forged card: v1 folder (k1 trusted) + fresh status list, after v2 withdrew k1."""
    old_folder = stick(desk, tmp_path, "old", version=1)
    desk.city.keys["k2"] = new_key()
    desk.publish(version=2, withdrawn=("k1",))
    forged = desk.qr()  # signed with the withdrawn k1
    desk.refused(forged, "unknown_key")  # the desk has seen v2 (SDK, CLI and app all remember it)
    shutil.rmtree(desk.folder)
    shutil.copytree(old_folder, desk.folder)
    expect("trust_rollback", lambda: desk.trust())
    status, printed, stderr = desk.cli(forged)
    assert status == 2 and "(trust_rollback)" in stderr and not printed
    # Another folder for the same city (same root key) is no way around it.
    expect("trust_rollback", lambda: TrustStore.load(old_folder, root_key=str(desk.root_file)))
    example = subprocess.run([sys.executable, str(EXAMPLES / "museum_desk.py"), "--trust", str(old_folder),
                              "--root-key", str(desk.root_file), forged], capture_output=True, text=True, timeout=60,
                             env={**os.environ, "PYTHONPATH": str(EXAMPLES.parent)})
    assert example.returncode == 1 and "trust_rollback" in example.stdout, example.stdout + example.stderr


# -- key roles ----------------------------------------------------------------------------------------


def test_a_card_key_cannot_sign_status_lists(desk, tmp_path, expect):
    desk.publish(status_token=desk.status_token(kid="k1"))  # a leaked card key forging "nothing revoked"
    assert desk.trust().problems["https://id.example.gov/status/1"].code == "unknown_key"
    desk.refused(desk.qr(), "status_unavailable")
    bad = stick(desk, tmp_path, version=2, status_token=desk.status_token(kid="k1"))
    expect("unknown_key", lambda: sync_trust(desk.folder, root_key=str(desk.root_file), source=str(bad), now=desk.now))


def test_a_status_key_cannot_sign_cards(desk):
    err = desk.refused(desk.qr(kid="s1"), "unknown_key")
    assert "status" in err.message


def test_a_card_key_cannot_sign_bundles(desk, expect):
    desk.publish(root=desk.city.keys["k1"])
    expect("bad_signature", lambda: desk.trust())


def test_the_root_key_listed_as_an_issuing_key_is_refused(desk, expect):
    claims = desk.city.bundle_claims()
    from verifier_sdk.format import jws

    claims["issuer_keys"].append({**claims["issuer_keys"][0], "kid": "k9", "jwk": jws.public_key_to_jwk(desk.city.root.public_key())})
    desk.publish(claims=claims)
    expect("malformed", lambda: desk.trust())


# -- sync fails loudly --------------------------------------------------------------------------------


class _Publication(http.server.SimpleHTTPRequestHandler):
    mode = "plain"
    target = ""

    def log_message(self, *args):
        pass

    def do_GET(self):
        if self.mode == "304":
            self.send_response(304)
            self.end_headers()
            return
        if self.mode == "redirect":
            self.send_response(302)
            self.send_header("Location", self.target + self.path.lstrip("/"))
            self.end_headers()
            return
        if self.mode == "drip":
            self.send_response(200)
            self.send_header("Content-Length", "100000")
            self.end_headers()
            try:
                for _ in range(100000):
                    self.wfile.write(b"e")
                    self.wfile.flush()
                    time.sleep(0.2)
            except OSError:
                pass
            return
        super().do_GET()


@pytest.fixture
def serve():
    servers = []

    def start(folder: Path, mode: str = "plain", target: str = "") -> str:
        handler = type("Handler", (_Publication,), {"mode": mode, "target": target})
        httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), lambda *a: handler(*a, directory=str(folder)))
        httpd.daemon_threads = True
        threading.Thread(target=httpd.serve_forever, daemon=True).start()
        servers.append(httpd)
        return f"http://127.0.0.1:{httpd.server_address[1]}/"

    yield start
    for httpd in servers:
        httpd.shutdown()
        httpd.server_close()


def test_sync_of_an_expired_publication_fails_loudly(desk, tmp_path):
    before = files(desk.folder)
    expired = stick(desk, tmp_path, version=2, status_token=desk.status_token(age=5 * DAY, exp=desk.now - DAY))
    with pytest.raises(SyncError, match="status_stale"):
        sync_trust(tmp_path / "new-desk", root_key=str(desk.root_file), source=str(expired), now=desk.now)
    assert not (tmp_path / "new-desk").exists()
    with pytest.raises(VerificationError):  # older than the installed list as well: refused either way
        sync_trust(desk.folder, root_key=str(desk.root_file), source=str(expired), now=desk.now)
    assert files(desk.folder) == before
    old_bundle = stick(desk, tmp_path, "old", version=3, iat=desk.now - 500 * DAY, exp=desk.now - DAY)
    with pytest.raises(SyncError, match="trust_expired"):
        sync_trust(desk.folder, root_key=str(desk.root_file), source=str(old_bundle), now=desk.now)
    assert files(desk.folder) == before


def test_sync_cli_exits_non_zero_when_the_installed_data_cannot_vouch(desk, tmp_path, capsys):
    from verifier_sdk.cli import main

    source = stick(desk, tmp_path, version=1, status_token=desk.status_token(age=3 * DAY))  # same as installed
    shutil.rmtree(desk.folder)
    shutil.copytree(source, desk.folder)
    assert main(["sync", "--trust", str(desk.folder), "--root-key", str(desk.root_file), "--source", str(source), "--purpose", "bank"]) == 1
    err = capsys.readouterr().err
    assert "status_stale" in err and "unchanged" in err


def test_a_server_that_answers_304_to_everything_is_not_up_to_date(desk, tmp_path, serve):
    url = serve(tmp_path, "304")
    with pytest.raises(SyncError, match="not modified"):
        sync_trust(tmp_path / "fresh-desk", root_key=str(desk.root_file), source=url, now=desk.now)
    # With validators from an earlier sync, 304 keeps the installed copy, which must still vouch for cards.
    stale = stick(desk, tmp_path, "stale", version=1, status_token=desk.status_token(age=4 * DAY, exp=desk.now - 60))
    good = serve(stale)
    target = tmp_path / "desk2"
    with pytest.raises(SyncError, match="status_stale"):
        sync_trust(target, root_key=str(desk.root_file), source=good, now=desk.now)


def test_redirects_only_within_the_same_origin(desk, tmp_path, serve):
    elsewhere = serve(desk.folder)
    url = serve(tmp_path, "redirect", target=elsewhere.replace("127.0.0.1", "localhost"))
    with pytest.raises(SyncError, match="another site"):
        sync_trust(tmp_path / "d1", root_key=str(desk.root_file), source=url, now=desk.now)
    downgrade = serve(tmp_path, "redirect", target="http://127.0.0.1:1/")
    with pytest.raises(SyncError, match="another site"):
        sync_trust(tmp_path / "d2", root_key=str(desk.root_file), source=downgrade, now=desk.now)
    same = serve(tmp_path, "redirect", target=elsewhere)  # a different port is a different origin too
    with pytest.raises(SyncError, match="another site"):
        sync_trust(tmp_path / "d3", root_key=str(desk.root_file), source=same, now=desk.now)


def test_https_to_http_redirect_is_refused():
    from verifier_sdk.sync import _HttpFetcher

    fetcher = _HttpFetcher("https://id.example.gov/trust/", 5, 10, None, {})
    with pytest.raises(SyncError, match="another site"):
        fetcher._redirect("https://id.example.gov/trust/trust-bundle.jwt", "http://id.example.gov/trust/trust-bundle.jwt", "trust-bundle.jwt")
    assert fetcher._redirect("https://id.example.gov/trust/a", "/trust/b", "a") == "https://id.example.gov/trust/b"


def test_plain_http_urls_are_refused_beyond_loopback(desk, tmp_path, no_network):
    with pytest.raises(SyncError, match="https"):
        sync_trust(tmp_path / "d", root_key=str(desk.root_file), source="http://id.example.gov/trust/", now=desk.now)


def test_a_slow_drip_server_meets_the_whole_download_deadline(desk, tmp_path, serve):
    url = serve(tmp_path, "drip")
    started = time.monotonic()
    with pytest.raises(SyncError, match="did not finish within 1.5 seconds"):
        sync_trust(tmp_path / "d", root_key=str(desk.root_file), source=url, now=desk.now, deadline=1.5, timeout=(1, 1))
    assert time.monotonic() - started < 5


@pytest.mark.parametrize("where", ["status/1.jwt", "trust-bundle.jwt"])
def test_a_fifo_in_the_folder_never_hangs_load_cli_or_sync(desk, tmp_path, where, expect):
    source = stick(desk, tmp_path, version=2)
    for folder in (desk.folder, source):
        (folder / where).unlink()
        os.mkfifo(folder / where)
    if where == "trust-bundle.jwt":
        expect("malformed", lambda: desk.trust())
        status, _, stderr = desk.cli(desk.qr())
        assert status == 2 and "regular file" in stderr
    else:
        assert desk.trust().problems["https://id.example.gov/status/1"].code == "malformed"
        desk.refused(desk.qr(), "status_unavailable", channels=("sdk", "cli"))
    fresh = tmp_path / "fresh"
    with pytest.raises(SyncError, match="regular file"):
        within = time.monotonic()
        sync_trust(fresh, root_key=str(desk.root_file), source=str(source), now=desk.now)
    assert time.monotonic() - within < 5


def test_a_symlink_leading_out_of_the_folder_is_not_read(desk, tmp_path, expect):
    outside = tmp_path / "outside.jwt"
    outside.write_text(desk.status_token())
    (desk.folder / "status" / "1.jwt").unlink()
    (desk.folder / "status" / "1.jwt").symlink_to(outside)
    assert "outside" in desk.trust().problems["https://id.example.gov/status/1"].message


# -- one rule for freshness ---------------------------------------------------------------------------


def test_api_status_and_banner_agree_with_verify_73_hours_after_publishing(desk):
    published = desk.now - 73 * 3600
    desk.publish(status_token=desk.city.status_token(iat=published, exp=published + 72 * 3600))
    desk.refused(desk.qr(), "status_stale")
    client = desk._client("museum")
    status = client.get("/api/status").get_json()
    assert (status["freshness"], status["freshness_reason"]) == ("stale", "status_stale")
    assert "Too old" in client.get("/").get_data(as_text=True)


def test_api_status_names_why_the_trust_data_was_refused(desk):
    desk.publish(iat=desk.now + 30 * DAY, version=2)  # the desk's clock is a month behind, or the bundle is forged
    client = desk._client("museum")
    status = client.get("/api/status").get_json()
    assert (status["freshness"], status["freshness_reason"]) == ("missing", "trust_not_yet_valid")
    assert "clock" in status["freshness_message"]
    code, body = desk.http(desk.qr())
    assert code == 503 and body["code"] == "trust_unavailable"  # CANNOT CHECK, never NOT VALID
