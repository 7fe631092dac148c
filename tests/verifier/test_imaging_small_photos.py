"""decode_image retries small, soft photos enlarged: a webcam sees a card QR at ~2-3 pixels per module."""

from __future__ import annotations

import io

import pytest

zxingcpp = pytest.importorskip("zxingcpp")
segno = pytest.importorskip("segno")
from PIL import Image  # noqa: E402

from verifier_sdk import encode_qr  # noqa: E402
from verifier_sdk.imaging import decode_image  # noqa: E402

# A fixed, culture-sized QR text (decode_image only reads; it does not verify).
TEXT = encode_qr("eyJhbGciOiJFUzI1NiJ9." + "eyJpc3MiOiJodHRwczovL2lkLmV4YW1wbGUuZ292In0" * 4 + ".c2lnbmF0dXJl~")


def photo(pixels_per_module: float) -> tuple[bytes, Image.Image]:
    buf = io.BytesIO()
    segno.make(TEXT, error="q", micro=False, mask=0).save(buf, kind="png", scale=10, border=4)
    big = Image.open(io.BytesIO(buf.getvalue())).convert("L")
    small = big.resize((round(big.width * pixels_per_module / 10),) * 2, Image.BOX)
    out = io.BytesIO()
    small.save(out, "PNG")
    return out.getvalue(), small


def test_a_tiny_qr_that_one_pass_misses_reads_on_the_enlarged_retry():
    misses = [ppm for ppm in (1.5, 1.6, 1.7, 1.8) if not zxingcpp.read_barcodes(photo(ppm)[1], formats=zxingcpp.BarcodeFormat.QRCode)]
    assert misses, "zxing-cpp now reads these in one pass: pick smaller scales for this test"
    for ppm in misses:
        assert decode_image(photo(ppm)[0]) == TEXT
