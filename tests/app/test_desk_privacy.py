"""No claim value (or scanned credential) ends up in a log, a file, a cookie or a session.

Real cards from issuer.Issuer go through a real HTTP server (werkzeug, as `serve` runs it): the
desk page (scanner text, photo upload), the JSON API (text, image), a QR text sent in a query
string and a garbage request line.  Then every file under the desk's instance, trust and temp
folders and every captured log line are searched for the claim values.
"""

from __future__ import annotations

import json
import logging
import shutil
import socket
import tempfile
import threading

import pytest
import requests

from deskkit import PEOPLE


def needles(issued_city) -> dict[str, bytes]:
    values = {}
    for who, person in PEOPLE.items():
        card = issued_city.cards[who]
        for name in ("given_name", "family_name", "birthdate"):
            values[f"{who}.{name}"] = person[name]
        values[f"{who}.card_number"] = card.card_number
        for face, text in card.faces.items():
            values[f"{who}.qr.{face}"] = text[5:60]  # any piece of the scanned credential
    found: dict[str, bytes] = {}
    for label, value in values.items():
        found[label] = value.encode("utf-8")
        escaped = json.dumps(value)[1:-1].encode("ascii")  # as \\u escapes in JSON
        if escaped != found[label]:
            found[label + ".json"] = escaped
    return found


@pytest.fixture
def private_desk(issued_city, tmp_path, monkeypatch):
    from werkzeug.serving import make_server

    from verifier_sdk.app import create_app

    root = tmp_path / "desk"
    (root / "tmp").mkdir(parents=True)
    shutil.copytree(issued_city.publication, root / "trust")
    shutil.copyfile(issued_city.publication / "root-key.pem", root / "pinned-root.pem")
    monkeypatch.setattr(tempfile, "tempdir", str(root / "tmp"))  # spooled uploads land here, if anywhere
    monkeypatch.setenv("TMPDIR", str(root / "tmp"))
    log_file = root / "logs" / "desk.log"
    log_file.parent.mkdir()
    handler = logging.FileHandler(log_file, encoding="utf-8")
    handler.setLevel(logging.DEBUG)
    logging.getLogger().addHandler(handler)
    apps = {}
    servers = []
    for purpose in ("bank", "museum"):
        app = create_app({"SECRET_KEY": "a-real-secret-key-for-this-test-0123456789", "TRUST_DIR": str(root / "trust"),
                          "ROOT_KEY": str(root / "pinned-root.pem"), "PURPOSE": purpose},
                         instance_path=str(root / f"instance-{purpose}"))
        server = make_server("127.0.0.1", 0, app, threaded=True)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
        apps[purpose] = f"http://127.0.0.1:{server.server_port}"
    yield root, apps
    for server in servers:
        server.shutdown()
    logging.getLogger().removeHandler(handler)
    handler.close()


def test_no_claim_value_is_written_anywhere(issued_city, private_desk, caplog):
    caplog.set_level(logging.DEBUG)
    root, apps = private_desk
    with requests.Session() as http:
        for who in PEOPLE:
            folder = issued_city.folders[who]
            for purpose, base in apps.items():
                for face in ("id", "culture"):
                    text = (folder / f"{face}.txt").read_text()
                    page = http.post(f"{base}/verify", data={"qr": text + "\n"})
                    api = http.post(f"{base}/api/verify", json={"qr": text})
                    assert page.status_code == api.status_code == 200
                    http.get(f"{base}/verify", params={"qr": text})  # 405, and a query string in the access log
                photo = (folder / "front.png").read_bytes()
                assert http.post(f"{base}/verify", files={"image": ("card.png", photo, "image/png")}).status_code == 200
                assert http.post(f"{base}/api/verify", files={"image": ("card.png", photo, "image/png")}).status_code == 200
            # Sanity: the values really went through the app (so the search below means something).
            valid = http.post(f"{apps['bank']}/api/verify", json={"qr": (issued_city.folders["valid"] / "id.txt").read_text()}).json()
            assert valid["claims"]["family_name"] == PEOPLE["valid"]["family_name"]
        assert not http.cookies, "the app must not set cookies"
    for base in apps.values():  # a request line the server cannot parse, carrying a name
        with socket.create_connection(("127.0.0.1", int(base.rsplit(":", 1)[1]))) as raw:
            raw.sendall(f"GARBAGE /{PEOPLE['valid']['family_name']} \x01\r\n\r\n".encode("utf-8"))
            raw.recv(4096)

    for handler in logging.getLogger().handlers:
        handler.flush()
    haystacks = {"captured log": caplog.text.encode("utf-8")}
    files = [p for p in root.rglob("*") if p.is_file()]
    assert any(p.name == "desk.log" for p in files) and (root / "logs" / "desk.log").stat().st_size > 0
    haystacks.update({str(path.relative_to(root)): path.read_bytes() for path in files})
    leaks = [(label, where) for label, needle in needles(issued_city).items() for where, data in haystacks.items() if needle in data]
    assert leaks == []
    assert "POST /verify" in caplog.text and "?<redacted>" in caplog.text  # the logs exist, minus the query strings
