"""The fast card renderer: QR symbols (zxing-cpp or segno), the hand-written PNG, the SVG path."""

from __future__ import annotations

import io
import re
from datetime import date

import pytest
import segno
from PIL import Image

from issuer import cards
from verifier_sdk.format.qr import encode_qr

zxingcpp = pytest.importorskip("zxingcpp")

# Faces of the sizes cards carry: a short culture-like text and a long id-like one.
TEXTS = [encode_qr("eyJhbGciOiJFUzI1NiJ9." + "eyJpc3MiOiJodHRwczovL2lkLmV4YW1wbGUuZ292In0" * k + ".c2ln~") for k in (1, 4)]


def decoded(image: Image.Image) -> list:
    return zxingcpp.read_barcodes(image, formats=zxingcpp.BarcodeFormat.QRCode)


@pytest.mark.parametrize("text", TEXTS)
@pytest.mark.parametrize("mask", [None, 0, 5])
def test_symbol_is_the_smallest_q_code_and_decodes(text, mask):
    symbol = cards.make_symbol(text, "id", mask)
    expected = segno.make(text, error="q", micro=False, boost_error=False)
    assert symbol.size == expected.symbol_size(border=0)[0]  # same version as segno picks
    if mask is not None:
        assert symbol.modules == tuple(bytes(r) for r in segno.make(text, error="q", micro=False, boost_error=False, mask=mask).matrix)
    found = decoded(cards._qr_image(symbol, 4))
    assert [b.text for b in found] == [text] and found[0].ec_level == "Q"


def _modules_from_svg(svg: str, size: int) -> tuple[bytes, ...]:
    """Rasterise our path dialect (M x y, then m dx 0 h n v1 h-n z per run) back to modules."""
    grid = [bytearray(size) for _ in range(size)]
    path = re.search(r'<path fill="#000" d="([^"]*)"', svg).group(1)
    for row in re.finditer(r"M(\d+) (\d+)((?:m\d+ 0h\d+v1h-\d+z)*)", path):
        x, y = int(row.group(1)) - cards.QUIET, int(row.group(2)) - cards.QUIET
        for dx, n in re.findall(r"m(\d+) 0h(\d+)v1h-\d+z", row.group(3)):
            x += int(dx)
            grid[y][x : x + int(n)] = b"\x01" * int(n)
    return tuple(bytes(r) for r in grid)


@pytest.mark.parametrize("text", TEXTS)
def test_svg_path_draws_exactly_the_modules(text):
    symbol = cards.make_symbol(text, "culture")
    assert _modules_from_svg(symbol.svg, symbol.size) == symbol.modules


def test_png_holds_the_canvas_pixels_at_300_dpi():
    canvas = cards._Canvas("")
    canvas.band(cards.BAND)
    canvas.text(cards.MARGIN, 18, "Municipal ID", 44, 600, cards.PAPER)
    canvas.symbol(cards.make_symbol(TEXTS[0], "id"), 500, 150, 5)
    png, svg = canvas.finish()
    image = Image.open(io.BytesIO(png))
    assert image.format == "PNG" and image.size == (cards.WIDTH, cards.HEIGHT)
    assert round(image.info["dpi"][0]) == cards.DPI
    assert image.convert("L").tobytes() == canvas.image.convert("L").tobytes()
    assert {grey for _, grey in image.convert("L").getcolors()} <= {cards.INK, cards.BAND_INK, cards.MUTED, cards.PAPER}
    assert svg.startswith(b"<svg") and svg.rstrip().endswith(b"</svg>")


def test_cards_share_templates_but_not_content():
    symbols = [cards.make_symbol(t, label) for t, label in zip(TEXTS, ("id", "culture"))]
    art = [cards.render_card(cards.PrintedFields(g, "Pérez", "100000000008", date(2031, 1, 1)), symbols,
                             title="Municipal ID", issuer_host="id.example.gov") for g in ("Ana", "Zoë")]
    assert art[0].front_png != art[1].front_png and art[0].back_png == art[1].back_png
    for side in ("front_png", "back_png"):
        found = decoded(Image.open(io.BytesIO(getattr(art[0], side))))
        assert [b.text for b in found] == [TEXTS[0] if side == "front_png" else TEXTS[1]]
