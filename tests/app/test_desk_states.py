"""The desk's three results: VALID (green), NOT VALID (red: the card is refused), CANNOT CHECK (amber: not the card's fault)."""

from __future__ import annotations

import re

import pytest

from deskkit import qr_png


def page_state(response) -> tuple[str, str]:
    html = response.get_data(as_text=True)
    section = re.search(r'<section class="result result-([a-z-]+)"[^>]*data-state="([a-z_]+)"', html)
    return section.group(1), section.group(2)


@pytest.mark.parametrize(("purpose", "card", "state", "code"), [
    ("bank", "id", "valid", None),
    ("museum", "revoked", "not_valid", "revoked"),
    ("bank", "suspended", "not_valid", "suspended"),
    ("museum", "expired", "not_valid", "expired"),
    ("bank", "culture", "cannot_check", "purpose_not_satisfied"),  # the wrong face is not the card's fault
    ("museum", "id", "cannot_check", "purpose_not_satisfied"),
])
def test_state_in_json_and_on_the_page(make_app, cards, purpose, card, state, code):
    client = make_app(purpose).test_client()
    body = client.post("/api/verify", json={"qr": cards[card]}).get_json()
    assert (body["state"], body["code"], body["valid"]) == (state, code, state == "valid")
    css, shown = page_state(client.post("/verify", data={"qr": cards[card]}))
    assert shown == state and css == state.replace("_", "-")


def test_a_desk_without_trust_data_never_shows_red(make_app, tmp_path, cards):
    """Measured: a genuine card got the big red NOT VALID when the desk had no trust data."""
    client = make_app("bank", TRUST_DIR=str(tmp_path / "empty")).test_client()
    for text in (cards["id"], cards["culture"], "garbage"):
        response = client.post("/verify", data={"qr": text})
        html = response.get_data(as_text=True)
        assert page_state(response)[1] == "cannot_check"
        assert "NOT VALID" not in html and "result-not-valid" not in html
        assert "CANNOT CHECK" in html and "not at fault" in html
    body = client.post("/api/verify", json={"qr": cards["id"]}).get_json()
    assert body["state"] == "cannot_check" and body["code"] == "trust_unavailable"


def test_stale_trust_data_cannot_check(make_app, desk, city, cards):
    import time

    city.publish(desk.trust_dir, status_token=city.status_token(iat=time.time() - 5 * 86400, ttl=30 * 86400))
    body = make_app("bank").test_client().post("/api/verify", json={"qr": cards["id"]}).get_json()
    assert (body["state"], body["code"]) == ("cannot_check", "status_stale")


def test_unreadable_scan_and_photo_cannot_check(client, cards):
    for text in (cards["id"][:-10], "hello", "CID1:%%%"):
        assert client.post("/api/verify", json={"qr": text}).get_json()["state"] == "cannot_check"
    from PIL import Image
    import io

    blank = io.BytesIO()
    Image.new("RGB", (300, 200), "white").save(blank, "PNG")
    body = client.post("/api/verify", data={"image": (io.BytesIO(blank.getvalue()), "blank.png")}).get_json()
    assert body["state"] == "cannot_check" and body["message"] == "No QR code could be read in this photo."


def test_every_result_says_what_to_do_in_sentences(make_app, cards, tmp_path):
    clients = [make_app(p).test_client() for p in ("bank", "museum")] + [make_app("bank", TRUST_DIR=str(tmp_path / "none")).test_client()]
    for client in clients:
        for text in [*cards.values(), "garbage", ""]:
            body = client.post("/api/verify", json={"qr": text}).get_json()
            for field in ("message", "advice", "detail"):
                if body[field]:
                    assert body[field][0].isupper() and body[field].endswith("."), (field, body[field])
            if body["state"] != "valid":
                assert body["advice"], body


def test_caps_lock_scanner_is_recognised(client, cards):
    """Measured: a scanner with Caps Lock on typed cid1:... and got jargon back."""
    for typed in (cards["id"].lower(), cards["id"].swapcase(), "  " + cards["id"].lower() + "\n"):
        assert client.post("/api/verify", json={"qr": typed}).get_json()["valid"] is True
        assert page_state(client.post("/verify", data={"qr": typed}))[1] == "valid"


def test_museum_without_a_tier_says_so_in_a_sentence(make_app, city):
    import time

    from verifier_sdk import encode_qr

    card = encode_qr(city.card("culture", {"age_over_65": False}, exp=int(time.time()) + 86400))
    html = make_app("museum").test_client().post("/verify", data={"qr": card}).get_data(as_text=True)
    assert 'data-state="valid"' in html and "no museum membership: standard admission applies." in html


def test_expired_card_shows_the_date(make_app, cards):
    html = make_app("museum").test_client().post("/verify", data={"qr": cards["expired"]}).get_data(as_text=True)
    assert "Expired on" in html and re.search(r"<dd[^>]*>\d{4}-\d\d-\d\d</dd>", html)


def test_colour_is_never_the_only_signal(make_app, cards, tmp_path):
    marks = {}
    for state, (purpose, text, config) in {"valid": ("bank", cards["id"], {}), "not_valid": ("museum", cards["revoked"], {}),
                                           "cannot_check": ("bank", cards["culture"], {})}.items():
        html = make_app(purpose, **config).test_client().post("/verify", data={"qr": text}).get_data(as_text=True)
        marks[state] = re.search(r'<div class="mark" aria-hidden="true">(.*?)</div>', html).group(1)
        verdict = re.search(r'<h1 id="verdict">(.*?)</h1>', html).group(1)
        assert verdict == {"valid": "VALID", "not_valid": "NOT VALID", "cannot_check": "CANNOT CHECK"}[state]
        assert re.search(r'<p id="announce"[^>]*aria-live="assertive"[^>]*data-text="' + verdict, html)
        assert f"<title>{verdict} · " in html
    assert len(set(marks.values())) == 3  # three different shapes


def test_photo_upload_state(client, cards):
    import io

    body = client.post("/api/verify", data={"image": (io.BytesIO(qr_png(cards["id"].lower().upper())), "card.png")}).get_json()
    assert body["state"] == "valid"


def test_banner_says_why_the_desk_cannot_check(make_app, desk, city, cards):
    import time

    from verifier_sdk.app.scan import trust_warning

    city.publish(desk.trust_dir, status_token=city.status_token(iat=time.time() + 7200, ttl=86400))  # this computer's clock is behind
    app = make_app("bank")
    client = app.test_client()
    html = client.get("/").get_data(as_text=True)
    assert "The revocation data could not be used: cards cannot be checked. Sync the trust data now." in html and "Too old" not in html
    body = client.post("/api/verify", json={"qr": cards["id"]}).get_json()
    assert body["state"] == "cannot_check" and body["code"] in ("trust_not_yet_valid", "status_unavailable")
    with app.test_request_context(headers={"Accept-Language": "es"}):
        assert trust_warning("stale", "trust_not_yet_valid").startswith("Los datos de confianza tienen una fecha futura")
        assert trust_warning("ageing", "trust_expiring").startswith("Los datos de confianza de la ciudad vencen pronto")
        assert trust_warning("stale", "trust_expired") == trust_warning("stale", "status_stale")
        assert trust_warning("fresh", None) is None
    city.publish(desk.trust_dir, status_token=city.status_token(iat=time.time() - 5 * 86400, ttl=30 * 86400))
    assert "Too old: cards cannot be checked." in make_app("bank").test_client().get("/").get_data(as_text=True)
