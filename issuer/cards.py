"""Print-ready card artwork: CR80 front and back (1011x638 px at 300 dpi) as PNG and SVG.

This module only draws: the QR texts come from :mod:`issuer.faces`.  The first
face's QR goes on the front beside the printed fields, the others on the back.
Each QR is encoded once (error correction Q) and pasted as a 1-bit image
scaled by whole pixels per module, so every module stays sharp.

Batch issuance draws hundreds of cards a second, so: the QR matrix comes from
zxing-cpp's encoder (C++, best of the 8 masks by the ISO penalty rules) when it is
installed, else from segno (whose Python mask search costs ~10 ms a QR); a fixed
``mask`` always uses segno.  What every card shares (band, titles, labels, footer)
is drawn once per layout and copied, and the artwork uses four inks, so the PNG is a
small 2-bit indexed image (a quarter of the data to compress, no per-row filter search).
"""

from __future__ import annotations

import io
import re
from pathlib import Path
from dataclasses import dataclass
from datetime import date
from functools import lru_cache
from typing import Sequence
from xml.sax.saxutils import escape

import segno
from PIL import Image, ImageDraw, ImageFont

try:  # the fast QR encoder (zxing-cpp 3 writes barcodes); segno is the fallback
    import zxingcpp
except ImportError:  # pragma: no cover - depends on the install
    zxingcpp = None
_ZXING_WRITES = hasattr(zxingcpp, "create_barcode")

# Pillow frees image memory back to the OS after every card by default, and a batch then spends
# more kernel time on page faults than on drawing; keep freed blocks for reuse (as PILLOW_BLOCKS_MAX would).
if Image.core.get_blocks_max() < 16:
    Image.core.set_blocks_max(16)

WIDTH, HEIGHT, DPI = 1011, 638, 300
MARGIN = 36
BAND = 96
QUIET = 4  # modules of white around each QR (the QR standard's quiet zone)
INK, PAPER, BAND_INK, MUTED = 0, 255, 40, 90
#: The card is printed in these four greys (no antialiasing: card printers lay text down as 1-bit at 300 dpi),
#: so the PNG is a 2-bit indexed image: a quarter of the pixel data to compress.
_INKS = (INK, BAND_INK, MUTED, PAPER)
_INDEX = {grey: i for i, grey in enumerate(_INKS)}
_PALETTE = bytes(v for grey in _INKS for v in (grey, grey, grey))
_TO_PIXELS = bytes([_INDEX[PAPER], _INDEX[INK]]) + bytes(254)  # matrix byte 1 = dark module
_FROM_ZXING = bytes([1]) + bytes(254) + bytes([0])  # zxing-cpp image: 0 = dark, 255 = light
_DARK_RUN = re.compile(rb"\x01+")


@dataclass(frozen=True)
class PrintedFields:
    """What is printed as text on the card (the QR codes carry the signed data)."""

    given_name: str
    family_name: str
    card_number: str
    expires_on: date


@dataclass(frozen=True)
class FaceSymbol:
    """A face's QR code as rows of modules (byte 1 = dark), without the quiet zone."""

    label: str
    modules: tuple[bytes, ...]
    svg: str  # the symbol with its quiet zone, one SVG unit per module

    @property
    def size(self) -> int:
        return len(self.modules)


@dataclass(frozen=True)
class CardArtwork:
    front_png: bytes
    back_png: bytes
    front_svg: bytes
    back_svg: bytes


def make_symbol(qr_text: str, label: str, mask: int | None = None) -> FaceSymbol:
    """The smallest QR code at error correction Q for ``qr_text`` (``mask`` 0-7 fixes the mask pattern)."""
    if mask is None and _ZXING_WRITES:
        barcode = zxingcpp.create_barcode(qr_text, zxingcpp.BarcodeFormat.QRCode, ec_level="Q")
        image = barcode.to_image(scale=1, add_quiet_zones=False)
        n = image.shape[0]
        cells = bytes(memoryview(image)).translate(_FROM_ZXING)
        modules = tuple(cells[i : i + n] for i in range(0, n * n, n))
    else:
        modules = tuple(bytes(row) for row in segno.make(qr_text, error="q", micro=False, boost_error=False, mask=mask).matrix)
    return FaceSymbol(label, modules, _qr_svg(modules))  # (zxing-cpp's own to_svg is slower than this)


#: Shipped with the issuer so cards look the same on every machine (covers Latin, Greek, Cyrillic, Arabic, Hebrew...).
BUNDLED_FONT = Path(__file__).with_name("fonts") / "DejaVuSans.ttf"


@lru_cache(maxsize=64)
def _font(size: int, path: str = "") -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    path = path or (str(BUNDLED_FONT) if BUNDLED_FONT.is_file() else "")
    return ImageFont.truetype(path, size) if path else ImageFont.load_default(size=size)


@lru_cache(maxsize=4096)
def _has_glyph(ch: str, path: str) -> bool:
    font = _font(40, path)
    if not isinstance(font, ImageFont.FreeTypeFont) or ch.isspace() or ch in "\u200c\u200d":
        return True
    missing = _mask_bytes(font, "\U0010fffd")  # a private-use code point: renders as the "missing" box
    return _mask_bytes(font, ch) != missing


def _mask_bytes(font: ImageFont.FreeTypeFont, ch: str) -> tuple[tuple[int, int], bytes]:
    mask = font.getmask(ch)
    return mask.size, bytes(mask)


def missing_glyphs(text: str, font_path: str = "") -> bool:
    """True when the card font cannot draw some character of ``text`` (the PNG would show boxes)."""
    return not all(_has_glyph(ch, font_path) for ch in text)


def _fitting_font(text: str, size: int, width: int, path: str) -> tuple[object, str]:
    """The largest font (down to 60% of ``size``) that fits; longer text is cut with an ellipsis (the QR has it all)."""
    for s in range(size, int(size * 0.6) - 1, -2):
        font = _font(s, path)
        if font.getlength(text) <= width:
            return font, text
    while text and font.getlength(text + "…") > width:
        text = text[:-1]
    return font, text + "…"


def format_card_number(number: str) -> str:
    return " ".join(number[i:i + 4] for i in range(0, len(number), 4))


def _layout(symbols: Sequence[FaceSymbol], left: int, top: int, right: int, bottom: int) -> list[tuple[int, int, int]]:
    """(x, y, pixels per module) for each QR, side by side in the box, as large as whole pixels allow."""
    count = len(symbols)
    slot = (right - left - MARGIN * (count - 1)) // count
    label_room = 30
    places = []
    for i, symbol in enumerate(symbols):
        modules = symbol.size + 2 * QUIET
        scale = max(1, min(slot, bottom - top - label_room) // modules)
        size = modules * scale
        x = left + i * (slot + MARGIN) + (slot - size) // 2
        places.append((x, top + (bottom - top - label_room - size) // 2, scale))
    return places


def _qr_image(symbol: FaceSymbol, scale: int) -> Image.Image:
    n = symbol.size
    small = Image.frombytes("P", (n, n), b"".join(symbol.modules).translate(_TO_PIXELS))
    framed = Image.new("P", (n + 2 * QUIET, n + 2 * QUIET), _INDEX[PAPER])
    framed.putpalette(_PALETTE)
    framed.paste(small, (QUIET, QUIET))
    return framed.resize((framed.width * scale, framed.height * scale), Image.NEAREST)


def _qr_svg(modules: Sequence[bytes]) -> str:
    """The QR as one SVG path of dark runs (one unit per module) on a white quiet zone."""
    side = len(modules) + 2 * QUIET
    path = []
    for y, row in enumerate(modules):
        path.append(f"M{QUIET} {y + QUIET}")
        x = 0
        for run in _DARK_RUN.finditer(row):
            start, end = run.span()
            key = (start - x, end - start)  # relative moves repeat a lot: format each once
            text = _RUN_PATHS.get(key)
            if text is None:
                text = _RUN_PATHS[key] = f"m{key[0]} 0h{key[1]}v1h-{key[1]}z"
            path.append(text)
            x = start
    return (f'<svg xmlns="http://www.w3.org/2000/svg" width="{side}" height="{side}" shape-rendering="crispEdges">'
            f'<rect width="{side}" height="{side}" fill="#fff"/><path fill="#000" d="{"".join(path)}"/></svg>')


_RUN_PATHS: dict[tuple[int, int], str] = {}


class _Canvas:
    """Draws the same elements into a PNG (Pillow) and an SVG document."""

    def __init__(self, font_path: str, image: Image.Image | None = None, svg: Sequence[str] | None = None) -> None:
        if image is None:
            image = Image.new("P", (WIDTH, HEIGHT), _INDEX[PAPER])
            image.putpalette(_PALETTE)
        self.image = image
        self.draw = ImageDraw.Draw(self.image)
        self.draw.fontmode = "1"  # indexes must not be blended
        self.svg: list[str] = list(svg) if svg is not None else [
            f'<svg xmlns="http://www.w3.org/2000/svg" width="85.6mm" height="53.98mm" viewBox="0 0 {WIDTH} {HEIGHT}">',
            f'<rect width="{WIDTH}" height="{HEIGHT}" fill="#fff"/>']
        self.font_path = font_path

    def copy(self) -> "_Canvas":
        """A canvas to draw one card on, starting from this one (a cached template)."""
        return _Canvas(self.font_path, self.image.copy(), self.svg)

    def band(self, height: int) -> None:
        self.draw.rectangle((0, 0, WIDTH, height), fill=_INDEX[BAND_INK])
        self.svg.append(f'<rect width="{WIDTH}" height="{height}" fill="#282828"/>')

    def text(self, x: int, y: int, text: str, size: int, width: int, fill: int = INK, bold: bool = False) -> None:
        font, shown = _fitting_font(text, size, width, self.font_path)
        self.draw.text((x, y), shown, font=font, fill=_INDEX[fill])
        grey = f"#{fill:02x}{fill:02x}{fill:02x}"
        weight = ' font-weight="bold"' if bold else ""
        self.svg.append(f'<text x="{x}" y="{y + font.size * 0.8:.0f}" font-family="sans-serif" '
                        f'font-size="{font.size}"{weight} fill="{grey}">{escape(shown)}</text>')

    def symbol(self, symbol: FaceSymbol, x: int, y: int, scale: int) -> None:
        """The QR itself; its label is drawn by the template (see ``_labels``)."""
        self.image.paste(_qr_image(symbol, scale), (x, y))
        self.svg.append(f'<g transform="translate({x} {y}) scale({scale})">{symbol.svg}</g>')

    def labels(self, labels: Sequence[tuple[str, int, int, int]]) -> None:
        for label, x, y, width in labels:
            self.text(x, y, label, 22, width, MUTED)

    def finish(self) -> tuple[bytes, bytes]:
        return _png(self.image), ("\n".join(self.svg) + "\n</svg>\n").encode("utf-8")


def _png(image: Image.Image) -> bytes:
    """The PNG at DPI: 2-bit indexed (four inks), so Pillow skips its per-row filter search."""
    out = io.BytesIO()
    image.save(out, "PNG", dpi=(DPI, DPI), compress_level=1)
    return out.getvalue()


def _labels(symbols: Sequence[FaceSymbol], places: Sequence[tuple[int, int, int]]) -> tuple[tuple[str, int, int, int], ...]:
    """(text, x, y, width) of the label under each QR: part of the layout, so part of the template."""
    return tuple((symbol.label, x, y + (symbol.size + 2 * QUIET) * scale + 2, (symbol.size + 2 * QUIET) * scale)
                 for symbol, (x, y, scale) in zip(symbols, places))


@lru_cache(maxsize=32)
def _front_template(title: str, font_path: str, text_width: int, labels: tuple[tuple[str, int, int, int], ...]) -> _Canvas:
    """What every front with this layout shares: band, title, field labels, QR label."""
    front = _Canvas(font_path)
    front.band(BAND)
    front.text(MARGIN, 18, title, 44, WIDTH - 2 * MARGIN, PAPER, bold=True)
    y = BAND + 28
    for label, size in _FIELDS:
        front.text(MARGIN, y, label.upper(), 20, text_width, MUTED)
        y += 24 + size + 30
    front.labels(labels)
    return front


@lru_cache(maxsize=32)
def _back_template(title: str, issuer_host: str, font_path: str, labels: tuple[tuple[str, int, int, int], ...]) -> _Canvas:
    """What every back with this layout shares: band, title line, QR labels and footer."""
    back = _Canvas(font_path)
    back.band(BAND // 2)
    back.text(MARGIN, 8, f"{title} - {issuer_host}", 28, WIDTH - 2 * MARGIN, PAPER)
    back.labels(labels)
    back.text(MARGIN, HEIGHT - 30, "Scan to verify offline. If found, return to the city's card office.", 20,
              WIDTH - 2 * MARGIN, MUTED)
    return back


_FIELDS = (("Family name", 48), ("Given name", 42), ("Card number", 36), ("Expires", 32))


def render_card(fields: PrintedFields, symbols: Sequence[FaceSymbol], *, title: str, issuer_host: str,
                font_path: str = "") -> CardArtwork:
    """Front: printed fields and the first face's QR.  Back: the other faces' QRs."""
    front_places = _layout(symbols[:1], WIDTH - 470, BAND + 20, WIDTH - MARGIN, HEIGHT - MARGIN // 2)
    text_width = front_places[0][0] - 2 * MARGIN if symbols else WIDTH - 2 * MARGIN
    front = _front_template(title, font_path, text_width, _labels(symbols[:1], front_places)).copy()
    y = BAND + 28
    values = (fields.family_name, fields.given_name, format_card_number(fields.card_number), fields.expires_on.isoformat())
    for value, (_, size) in zip(values, _FIELDS):
        front.text(MARGIN, y + 24, value, size, text_width, bold=True)
        y += 24 + size + 30
    for symbol, (x, qy, scale) in zip(symbols[:1], front_places):
        front.symbol(symbol, x, qy, scale)

    rest = list(symbols[1:])
    back_places = _layout(rest, MARGIN, BAND // 2 + 12, WIDTH - MARGIN, HEIGHT - 36) if rest else []
    back = _back_template(title, issuer_host, font_path, _labels(rest, back_places)).copy()
    for symbol, (x, qy, scale) in zip(rest, back_places):
        back.symbol(symbol, x, qy, scale)
    front_png, front_svg = front.finish()
    back_png, back_svg = back.finish()
    return CardArtwork(front_png, back_png, front_svg, back_svg)
