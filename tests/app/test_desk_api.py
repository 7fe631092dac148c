"""POST /api/verify and POST /verify: results per purpose, in plain words, never a 500."""

from __future__ import annotations

import os

import pytest

from deskkit import qr_png

ID_CLAIMS = {"given_name", "family_name", "birthdate", "card_number"}


def test_bank_sees_the_id_face(client, cards):
    response = client.post("/api/verify", json={"qr": cards["id"]})
    assert response.status_code == 200
    body = response.get_json()
    assert body["valid"] is True and body["code"] is None
    assert set(body["claims"]) == ID_CLAIMS
    assert body["claims"]["family_name"] == "Okonkwo-Reyes"


def test_museum_never_sees_a_name(make_app, cards):
    client = make_app("museum").test_client()
    body = client.post("/api/verify", json={"qr": cards["culture"]}).get_json()
    assert body["valid"] is True
    assert body["claims"] == {"museum_tier": "gold", "age_over_18": True, "age_over_21": True, "age_over_65": False}
    page = client.post("/verify", data={"qr": cards["culture"]}).get_data(as_text=True)
    assert "Membership tier" in page and "gold" in page and "Okonkwo" not in page
    refused = client.post("/api/verify", json={"qr": cards["id"]}).get_json()
    assert refused == {**refused, "valid": False, "code": "purpose_not_satisfied", "claims": {}}


def test_pharmacy_sees_only_its_claim(make_app, cards):
    body = make_app("pharmacy").test_client().post("/api/verify", json={"qr": cards["rx"]}).get_json()
    assert body["claims"] == {"rx_eligible": True, "rx_bin": "610591", "rx_pcn": "CITYRX", "rx_group": "MUNIRX01"}


@pytest.mark.parametrize(("card", "code", "purpose"), [
    ("revoked", "revoked", "museum"),
    ("suspended", "suspended", "bank"),
    ("expired", "expired", "museum"),
    ("culture", "purpose_not_satisfied", "bank"),
])
def test_invalid_cards_say_why_and_what_to_do(make_app, cards, card, code, purpose):
    client = make_app(purpose).test_client()
    response = client.post("/api/verify", json={"qr": cards[card]})
    body = response.get_json()
    assert response.status_code == 200
    assert body["valid"] is False and body["code"] == code and body["claims"] == {}
    assert body["message"] and body["advice"]
    page = client.post("/verify", data={"qr": cards[card]})
    assert b'data-valid="false"' in page.data and f'data-code="{code}"'.encode() in page.data


def test_scanner_whitespace_is_stripped(client, cards):
    assert client.post("/api/verify", json={"qr": f"  {cards['id']}\r\n"}).get_json()["valid"] is True
    assert b'data-valid="true"' in client.post("/verify", data={"qr": f"\t{cards['id']}\n"}).data


def test_tampered_card_is_refused(client, cards):
    text = cards["id"]
    tampered = text[:-8] + ("A" if text[-8] != "A" else "B") + text[-7:]
    body = client.post("/api/verify", json={"qr": tampered}).get_json()
    assert body["valid"] is False and body["code"] in {"bad_signature", "malformed"}


def test_photo_upload_api_and_page(client, cards):
    response = client.post("/api/verify", data={"image": (__import__("io").BytesIO(qr_png(cards["id"])), "card.png")})
    assert response.status_code == 200 and response.get_json()["valid"] is True
    page = client.post("/verify", data={"image": (__import__("io").BytesIO(qr_png(cards["id"])), "card.png")},
                       content_type="multipart/form-data")
    assert b'data-valid="true"' in page.data


@pytest.mark.parametrize("payload", [
    {"json": {"qr": "garbage"}},
    {"json": {"qr": "CID1:" + "A" * 5000}},
    {"json": {"qr": "x" * 70_000}},
    {"json": {"qr": 12}},
    {"json": {"qr": None}},
    {"json": ["qr"]},
    {"json": {}},
    {"json": {"qr": ""}},
    {"json": {"qr": "\u202e\u0000\ud7ff"}},
    {"data": b"\xff\xfe\x00{", "content_type": "application/json"},
    {"data": b'{"qr": "a", "qr": "b"', "content_type": "application/json"},
    {"data": os.urandom(4096), "content_type": "application/octet-stream"},
    {"data": "qr=hello", "content_type": "application/x-www-form-urlencoded"},
    {"data": {"image": (__import__("io").BytesIO(b"\x89PNG\r\n\x1a\nnot really"), "x.png")}},
    {"data": {"image": (__import__("io").BytesIO(b""), "empty.png")}},
    {"data": {"image": (__import__("io").BytesIO(os.urandom(20_000)), "noise.jpg")}},
    {"data": {"other": "field"}, "content_type": "multipart/form-data"},
])
def test_garbage_is_a_400_never_a_500(client, payload):
    response = client.post("/api/verify", **payload)
    assert response.status_code == 400, response.data[:200]
    body = response.get_json()
    assert body["valid"] is False and body["code"] == "malformed" and body["claims"] == {}


def test_photo_without_a_code_is_a_400(client):
    from PIL import Image
    import io

    buffer = io.BytesIO()
    Image.new("RGB", (300, 200), "white").save(buffer, "PNG")
    body = client.post("/api/verify", data={"image": (io.BytesIO(buffer.getvalue()), "blank.png")}).get_json()
    assert body["code"] == "malformed" and "QR" in body["message"]


def test_desk_page_garbage_never_500(client):
    for data in ({"qr": "\x00" * 100}, {"qr": "CID1:%%%"}, {}, {"qr": "é" * 10_000}):
        response = client.post("/verify", data=data)
        assert response.status_code == 400 and b'data-valid="false"' in response.data


def test_unknown_routes_and_methods(client):
    assert client.get("/api/verify").status_code == 405
    assert client.get("/api/verify").get_json()["valid"] is False
    assert client.get("/nope").status_code == 404
    assert client.get("/verify").status_code == 405


def test_unexpected_exception_becomes_a_generic_invalid_result(app, client, cards, monkeypatch, caplog):
    def explode(*args, **kwargs):
        raise RuntimeError("boom with " + cards["id"])

    monkeypatch.setattr("verifier_sdk.verifier.Verifier.verify", explode)
    response = client.post("/api/verify", json={"qr": cards["id"]})
    assert response.status_code == 400
    assert response.get_json() == {**response.get_json(), "valid": False, "code": "invalid", "claims": {}}
    assert cards["id"] not in caplog.text and "RuntimeError" in caplog.text


def test_trust_status_endpoint(client):
    body = client.get("/api/status").get_json()
    assert body["purpose"] == "bank" and body["trust_version"] == 1 and body["freshness"] == "fresh"


def test_missing_trust_data_is_a_clear_503(make_app, tmp_path, cards):
    client = make_app("bank", TRUST_DIR=str(tmp_path / "empty")).test_client()
    response = client.post("/api/verify", json={"qr": cards["id"]})
    assert response.status_code == 503 and response.get_json()["code"] == "trust_unavailable"
    assert b"No trust data" in client.get("/").data


def test_broken_trust_folder_keeps_the_last_good_copy(client, desk, cards, caplog):
    assert client.post("/api/verify", json={"qr": cards["id"]}).get_json()["valid"] is True
    (desk.trust_dir / "trust-bundle.jwt").write_text("half-copied garbage")
    assert client.post("/api/verify", json={"qr": cards["id"]}).get_json()["valid"] is True
    assert "keeping the previous copy" in caplog.text


def test_desk_page_explains_a_missing_root_key(make_app, tmp_path):
    page = make_app("bank", ROOT_KEY=str(tmp_path / "nope.pem")).test_client().get("/").get_data(as_text=True)
    assert "No trust data" in page and "root key" in page.lower()
