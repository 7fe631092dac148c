"""Trusted hosts and same-origin requests only: a foreign Host gets 400, another site's POST gets 403.

Raw HTTP against a real server (the Host and Origin a browser page cannot choose, sent by hand) and
Debian's Chromium: the desk's own forms (which post with ``Origin: null`` under ``Referrer-Policy:
no-referrer``) keep working, while a form on another site that posts to the desk is refused.
"""

from __future__ import annotations

import http.client
import json
import os
import threading
from pathlib import Path
from urllib.parse import urlencode

import pytest

from verifier_sdk.app.security import trusted_hosts


@pytest.fixture
def server(make_app):
    """The bank desk on a real werkzeug server; yields (app, port)."""
    from werkzeug.serving import make_server

    app = make_app("bank")
    httpd = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield app, httpd.server_port
    httpd.shutdown()


def raw(port: int, method: str, path: str, headers: dict[str, str], body: bytes = b"") -> tuple[int, bytes]:
    """One request with exactly these headers (http.client sends Host only as given)."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    connection.putrequest(method, path, skip_host=True, skip_accept_encoding=True)
    for name, value in {**headers, "Content-Length": str(len(body))}.items():
        connection.putheader(name, value)
    connection.endheaders(body)
    response = connection.getresponse()
    return response.status, response.read()


@pytest.mark.parametrize("host", ["evil.example", "evil.example:5000", "127.0.0.1.evil.example", "localhost.", "10.0.0.5", ""])
def test_a_foreign_host_gets_400(server, host, cards):
    _, port = server
    status, body = raw(port, "GET", "/", {"Host": host})
    assert status == 400 and b"only at its own address" in body and b"<form" not in body
    status, body = raw(port, "POST", "/api/verify", {"Host": host, "Content-Type": "application/json"},
                       json.dumps({"qr": cards["id"]}).encode())
    assert status == 400 and b'"untrusted_host"' in body and b'"claims":{}' in body


@pytest.mark.parametrize("host", ["127.0.0.1:{port}", "localhost:{port}", "LOCALHOST:{port}", "127.0.0.1", "localhost", "[::1]:{port}"])
def test_loopback_hosts_are_trusted_by_default(server, host):
    _, port = server
    assert raw(port, "GET", "/api/status", {"Host": host.format(port=port)})[0] == 200


def test_configured_hosts_with_and_without_port(make_app):
    client = make_app("bank", TRUSTED_HOSTS="desk.example, 192.168.1.20:8443").test_client()
    assert client.get("/api/status", headers={"Host": "desk.example"}).status_code == 200
    assert client.get("/api/status", headers={"Host": "desk.example:8443"}).status_code == 200
    assert client.get("/api/status", headers={"Host": "192.168.1.20:8443"}).status_code == 200
    assert client.get("/api/status", headers={"Host": "192.168.1.20:8080"}).status_code == 400
    assert client.get("/api/status", headers={"Host": "localhost"}).status_code == 400  # configured: only those
    assert trusted_hosts(None, 5000) == ["127.0.0.1:5000", "localhost:5000", "[::1]:5000"]
    assert trusted_hosts(["[::1]:80", "Desk.Example"], 5000) == ["[::1]:80", "desk.example:5000"]


CROSS_SITE = [
    {"Origin": "https://evil.example", "Sec-Fetch-Site": "cross-site"},
    {"Origin": "https://evil.example"},  # an old browser: no fetch metadata
    {"Sec-Fetch-Site": "cross-site"},
    {"Sec-Fetch-Site": "same-site", "Origin": "http://127.0.0.1:1"},  # another port on this computer
    {"Origin": "null", "Sec-Fetch-Site": "cross-site"},  # a sandboxed frame elsewhere
    {"Origin": "null"},  # null without the browser's proof that it is this page
]


@pytest.mark.parametrize("headers", CROSS_SITE)
@pytest.mark.parametrize("path", ["/verify", "/api/verify"])
def test_cross_site_posts_are_refused(server, headers, path, cards):
    _, port = server
    host = f"127.0.0.1:{port}"
    status, body = raw(port, "POST", path, {"Host": host, "Content-Type": "application/x-www-form-urlencoded", **headers},
                       urlencode({"qr": cards["id"]}).encode())
    assert status == 403 and b"only from its own page" in body and b"data-valid" not in body


@pytest.mark.parametrize("headers", [
    {"Origin": "null", "Sec-Fetch-Site": "same-origin"},  # the desk's own form (Referrer-Policy: no-referrer)
    {"Origin": "http://{host}", "Sec-Fetch-Site": "same-origin"},
    {"Origin": "http://{host}"},
    {},  # curl, a script on the desk computer: not a browser page
])
def test_same_origin_and_non_browser_posts_work(server, headers, cards):
    _, port = server
    host = f"127.0.0.1:{port}"
    headers = {k: v.format(host=host) for k, v in headers.items()}
    status, body = raw(port, "POST", "/verify", {"Host": host, "Content-Type": "application/x-www-form-urlencoded", **headers},
                       urlencode({"qr": cards["id"]}).encode())
    assert status == 200 and b'data-valid="true"' in body


def test_get_from_another_site_is_harmless_and_allowed(server):
    _, port = server
    assert raw(port, "GET", "/", {"Host": f"127.0.0.1:{port}", "Sec-Fetch-Site": "cross-site"})[0] == 200


# -- in Chromium ------------------------------------------------------------------------------------

CHROMIUM = os.environ.get("CITYID_CHROMIUM", "/usr/bin/chromium")
needs_chromium = pytest.mark.skipif(not os.environ.get("CI") and not Path(CHROMIUM).exists(), reason="no /usr/bin/chromium")


@pytest.mark.browser
@needs_chromium
def test_in_chromium_own_scan_works_and_another_sites_form_is_refused(server, cards):
    from playwright.sync_api import sync_playwright

    app, port = server
    desk = f"http://127.0.0.1:{port}/"
    seen: list[dict[str, str | None]] = []

    @app.before_request
    def record() -> None:  # what Chromium really sends (appended last: after the refusal checks have passed)
        from flask import request

        if request.method == "POST":
            seen.append({k: request.headers.get(k) for k in ("Origin", "Sec-Fetch-Site")})

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=["--headless", "--no-sandbox"])
        try:
            page = browser.new_page()
            page.goto(desk)
            page.fill("#qr", cards["id"])
            page.keyboard.press("Enter")
            page.locator("#result[data-valid='true']").wait_for()
            assert seen == [{"Origin": "null", "Sec-Fetch-Site": "same-origin"}]

            attack = (f'<form id="f" method="post" action="{desk}verify"><input name="qr" value="{cards["id"]}"></form>'
                      '<script>document.getElementById("f").submit()</script>')
            page.route("http://attacker.test/", lambda route: route.fulfill(content_type="text/html", body=attack))
            page.goto("http://attacker.test/")
            page.wait_for_url(f"{desk}verify")
            assert "only from its own page" in page.content() and 'data-valid' not in page.content()

            assert len(seen) == 1  # the other site's form never got past the refusal
        finally:
            browser.close()
