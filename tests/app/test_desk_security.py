"""Headers, size limits, secret key rule, no cookies."""

from __future__ import annotations

import io

import pytest

from verifier_sdk.app import create_app


def test_security_headers_on_pages_and_api(client, cards):
    for response in (client.get("/"), client.post("/verify", data={"qr": cards["id"]}),
                     client.post("/api/verify", json={"qr": cards["id"]})):
        csp = response.headers["Content-Security-Policy"]
        for directive in ("default-src 'self'", "object-src 'none'", "frame-ancestors 'none'", "base-uri 'none'", "form-action 'self'"):
            assert directive in csp
        # Only WebAssembly compilation (the camera decoder) is allowed beyond the app's own scripts: no eval, no inline.
        assert "script-src 'self' 'wasm-unsafe-eval';" in csp
        assert "'unsafe-inline'" not in csp and "'unsafe-eval'" not in csp
        assert response.headers["X-Content-Type-Options"] == "nosniff"
        assert response.headers["Referrer-Policy"] == "no-referrer"
        assert response.headers["Cache-Control"] == "no-store"
        assert "camera=(self)" in response.headers["Permissions-Policy"]
        assert "Set-Cookie" not in response.headers


def test_no_inline_script_in_pages(client, cards):
    import re

    for page in (client.get("/").get_data(as_text=True), client.post("/verify", data={"qr": cards["id"]}).get_data(as_text=True)):
        scripts = re.findall(r"<script([^>]*)>(.*?)</script>", page, re.S)
        assert scripts and all('src="/static/' in attrs and not body.strip() for attrs, body in scripts)
        assert not re.search(r"\son[a-z]+=", page)  # no inline event handlers
        assert "style=" not in page


def test_vendored_qr_decoder_is_served_locally(client):
    script = client.get("/static/vendor/zxing-wasm/zxing_reader.js")
    assert script.status_code == 200 and b"ZXingWASM" in script.data[:200]
    wasm = client.get("/static/vendor/zxing-wasm/zxing_reader.wasm")
    # application/wasm: browsers compile it only with that type (instantiateStreaming), and nosniff forbids guessing.
    assert wasm.status_code == 200 and wasm.mimetype == "application/wasm" and wasm.data[:4] == b"\0asm"
    assert b"MIT License" in client.get("/static/vendor/zxing-wasm/LICENSE").data
    page = client.get("/").get_data(as_text=True)
    assert "/static/vendor/zxing-wasm/zxing_reader.js" in page and 'data-wasm="/static/vendor/zxing-wasm/zxing_reader.wasm"' in page
    assert client.get("/static/vendor/jsQR.js").status_code == 404  # replaced, not kept beside


@pytest.mark.parametrize("path", ["/api/verify", "/verify"])
def test_huge_upload_is_a_friendly_413(client, path):
    big = io.BytesIO(b"\0" * (100 * 1024 * 1024))
    response = client.post(path, data={"image": (big, "huge.png")}, content_type="multipart/form-data")
    assert response.status_code == 413
    if path.startswith("/api/"):
        assert response.get_json()["code"] == "too_large"
    else:
        assert b"too large" in response.data


def test_huge_json_is_a_413(client):
    response = client.post("/api/verify", data=b'{"qr": "' + b"A" * (9 * 1024 * 1024) + b'"}', content_type="application/json")
    assert response.status_code == 413 and response.get_json()["valid"] is False


def test_huge_form_field_is_refused(client):
    response = client.post("/verify", data={"qr": "A" * (1024 * 1024)})
    assert response.status_code in (400, 413) and b'data-valid="false"' in response.data


@pytest.mark.parametrize("key", ["dev", "change-me", "", "short"])
def test_placeholder_secret_key_refused_outside_testing(desk, key):
    with pytest.raises(RuntimeError, match="SECRET_KEY"):
        create_app({"SECRET_KEY": key, "TRUST_DIR": str(desk.trust_dir), "ROOT_KEY": str(desk.root_key)}, instance_path=str(desk.instance))


def test_without_secret_key_a_random_one_is_used(desk):
    app = create_app({"TRUST_DIR": str(desk.trust_dir), "ROOT_KEY": str(desk.root_key)}, instance_path=str(desk.instance))
    assert len(app.config["SECRET_KEY"]) >= 32


def test_custom_purpose_and_freshness(make_app, cards):
    from verifier_sdk import Purpose

    adult = Purpose(name="bar", vct="urn:cityid:culture:1", claims={"age_over_21"}, required_claims={"age_over_21"})
    body = make_app(adult).test_client().post("/api/verify", json={"qr": cards["culture"]}).get_json()
    assert body["claims"] == {"age_over_21": True}
    strict = make_app("museum", MAX_STATUS_AGE_HOURS=0.001).test_client()
    assert strict.post("/api/verify", json={"qr": cards["culture"]}).get_json()["code"] == "status_stale"
    assert b"Too old" in strict.get("/").data
