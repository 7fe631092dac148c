"""Figure 6: the partner app's server-side time for ``POST /api/verify`` (Flask test client).

A real trust folder (signed bundle, fresh status list) and an app per desk, built by
``verifier_sdk.app.create_app`` as in production (not TESTING).  The text request carries
the QR text as JSON; the photo request a 1600x1200 JPEG (quality 85) of a printed card,
as a phone upload would, decoded by zxing-cpp on the server.  Times cover Flask routing,
parsing, decoding and verification: everything but the network.
"""

from __future__ import annotations

import io
import secrets
import tempfile
import time
from pathlib import Path

from .fixtures import BenchCity
from .report import Family, Row
from .timing import Stats, interleaved


def card_photo(text: str) -> bytes:
    """A phone-style photo: the QR printed at 0.33 mm/module on a card, 1600x1200 px, JPEG q85."""
    import segno
    from PIL import Image

    qr = segno.make(text, error="q", micro=False, boost_error=False)
    out = io.BytesIO()
    qr.save(out, kind="png", scale=8, border=4)
    symbol = Image.open(io.BytesIO(out.getvalue())).convert("L")
    photo = Image.new("L", (1600, 1200), 120)
    card = Image.new("L", (1100, 700), 250)
    card.paste(symbol, (card.width - symbol.width - 40, (card.height - symbol.height) // 2))
    photo.paste(card.rotate(7, Image.BILINEAR, expand=True, fillcolor=120), (180, 160))
    jpeg = io.BytesIO()
    photo.save(jpeg, "JPEG", quality=85)
    return jpeg.getvalue()


COUNTS = {"smoke": (1, 1), "quick": (10, 5), "full": (30, 9)}  # requests per run, runs


def run(mode: str) -> Family:
    number, repeat = COUNTS[mode]
    family = Family("app", "Partner app: server-side time of POST /api/verify (Flask test client)")
    try:
        from verifier_sdk.app import create_app
    except ImportError as exc:
        family.notes.append(f"the app is not available ({exc})")
        return family
    now = int(time.time())
    city = BenchCity(status_size=1 << 20)
    with tempfile.TemporaryDirectory() as tmp:
        trust_dir = city.publish(Path(tmp) / "trust", status_token=city.status_token(iat=now - 60))
        root_key = Path(tmp) / "root-key.pem"
        root_key.write_bytes((trust_dir / "root-key.pem").read_bytes())
        app = create_app({"PURPOSE": "museum", "TRUST_DIR": str(trust_dir), "ROOT_KEY": str(root_key),
                          "SECRET_KEY": secrets.token_hex(32)}, instance_path=str(Path(tmp) / "instance"))
        client = app.test_client()
        text = city.qr(city.culture_at(now))
        photo = card_photo(text)

        def post_text() -> None:
            response = client.post("/api/verify", json={"qr": text})
            assert response.status_code == 200, response.get_data(as_text=True)[:200]

        def post_photo() -> None:
            response = client.post("/api/verify", data={"image": (io.BytesIO(photo), "card.jpg")},
                                   content_type="multipart/form-data")
            assert response.status_code == 200, response.get_data(as_text=True)[:200]

        post_text()
        post_photo()  # warm (trust data is loaded on the first request) and check both succeed
        runs = interleaved({"text": post_text, "photo": post_photo}, number=number, repeat=repeat)
    family.rows.append(Row("POST /api/verify, QR text (JSON)", Stats.of(runs["text"]).scaled(1e3), "ms", headline=True))
    family.rows.append(Row(f"POST /api/verify, card photo ({len(photo) // 1024} KiB JPEG, 1600x1200)",
                           Stats.of(runs["photo"]).scaled(1e3), "ms", headline=True))
    family.notes.append("museum desk; the photo is decoded by verifier_sdk.imaging (zxing-cpp) on the server")
    return family
