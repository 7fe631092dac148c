"""Print-ready card artwork: CR80 front and back (1011x638 px at 300 dpi) as PNG and SVG.

This module only draws: the QR texts come from :mod:`issuer.faces`.  The first
face's QR goes on the front beside the printed fields, the others on the back.
Each QR is encoded once (segno, error correction Q) and pasted as a 1-bit image
scaled by whole pixels per module, so every module stays sharp.
"""

from __future__ import annotations

import io
from pathlib import Path
from dataclasses import dataclass
from datetime import date
from functools import lru_cache
from typing import Sequence
from xml.sax.saxutils import escape

import segno
from PIL import Image, ImageDraw, ImageFont

WIDTH, HEIGHT, DPI = 1011, 638, 300
MARGIN = 36
BAND = 96
QUIET = 4  # modules of white around each QR (the QR standard's quiet zone)
INK, PAPER, BAND_INK, MUTED = 0, 255, 40, 90
_TO_PIXELS = bytes([PAPER, INK]) + bytes(254)  # segno matrix byte 1 = dark module


@dataclass(frozen=True)
class PrintedFields:
    """What is printed as text on the card (the QR codes carry the signed data)."""

    given_name: str
    family_name: str
    card_number: str
    expires_on: date


@dataclass(frozen=True)
class FaceSymbol:
    label: str
    qr: segno.QRCode


@dataclass(frozen=True)
class CardArtwork:
    front_png: bytes
    back_png: bytes
    front_svg: bytes
    back_svg: bytes


def make_symbol(qr_text: str, label: str, mask: int | None = None) -> FaceSymbol:
    return FaceSymbol(label, segno.make(qr_text, error="q", micro=False, boost_error=False, mask=mask))


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
        modules = symbol.qr.symbol_size(border=QUIET)[0]
        scale = max(1, min(slot, bottom - top - label_room) // modules)
        size = modules * scale
        x = left + i * (slot + MARGIN) + (slot - size) // 2
        places.append((x, top + (bottom - top - label_room - size) // 2, scale))
    return places


def _qr_image(symbol: FaceSymbol, scale: int) -> Image.Image:
    matrix = symbol.qr.matrix
    n = len(matrix)
    small = Image.frombytes("L", (n, n), b"".join(bytes(row) for row in matrix).translate(_TO_PIXELS))
    framed = Image.new("L", (n + 2 * QUIET, n + 2 * QUIET), PAPER)
    framed.paste(small, (QUIET, QUIET))
    return framed.resize((framed.width * scale, framed.height * scale), Image.NEAREST)


class _Canvas:
    """Draws the same elements into a PNG (Pillow) and an SVG document."""

    def __init__(self, font_path: str) -> None:
        self.image = Image.new("L", (WIDTH, HEIGHT), PAPER)
        self.draw = ImageDraw.Draw(self.image)
        self.svg: list[str] = [
            f'<svg xmlns="http://www.w3.org/2000/svg" width="85.6mm" height="53.98mm" viewBox="0 0 {WIDTH} {HEIGHT}">',
            f'<rect width="{WIDTH}" height="{HEIGHT}" fill="#fff"/>']
        self.font_path = font_path

    def band(self, height: int) -> None:
        self.draw.rectangle((0, 0, WIDTH, height), fill=BAND_INK)
        self.svg.append(f'<rect width="{WIDTH}" height="{height}" fill="#282828"/>')

    def text(self, x: int, y: int, text: str, size: int, width: int, fill: int = INK, bold: bool = False) -> None:
        font, shown = _fitting_font(text, size, width, self.font_path)
        self.draw.text((x, y), shown, font=font, fill=fill)
        grey = f"#{fill:02x}{fill:02x}{fill:02x}"
        weight = ' font-weight="bold"' if bold else ""
        self.svg.append(f'<text x="{x}" y="{y + font.size * 0.8:.0f}" font-family="sans-serif" '
                        f'font-size="{font.size}"{weight} fill="{grey}">{escape(shown)}</text>')

    def symbol(self, symbol: FaceSymbol, x: int, y: int, scale: int) -> None:
        image = _qr_image(symbol, scale)
        self.image.paste(image, (x, y))
        svg = symbol.qr.svg_inline(scale=scale, border=QUIET, omitsize=False)
        self.svg.append(f'<g transform="translate({x} {y})">{svg}</g>')
        self.text(x, y + image.height + 2, symbol.label, 22, image.width, MUTED)

    def finish(self) -> tuple[bytes, bytes]:
        out = io.BytesIO()
        self.image.save(out, "PNG", dpi=(DPI, DPI), compress_level=1)
        return out.getvalue(), ("\n".join(self.svg) + "\n</svg>\n").encode("utf-8")


def render_card(fields: PrintedFields, symbols: Sequence[FaceSymbol], *, title: str, issuer_host: str,
                font_path: str = "") -> CardArtwork:
    """Front: printed fields and the first face's QR.  Back: the other faces' QRs."""
    front = _Canvas(font_path)
    front.band(BAND)
    front.text(MARGIN, 18, title, 44, WIDTH - 2 * MARGIN, PAPER, bold=True)
    front_places = _layout(symbols[:1], WIDTH - 470, BAND + 20, WIDTH - MARGIN, HEIGHT - MARGIN // 2)
    text_width = front_places[0][0] - 2 * MARGIN if symbols else WIDTH - 2 * MARGIN
    y = BAND + 28
    for label, value, size in (("Family name", fields.family_name, 48), ("Given name", fields.given_name, 42),
                               ("Card number", format_card_number(fields.card_number), 36),
                               ("Expires", fields.expires_on.isoformat(), 32)):
        front.text(MARGIN, y, label.upper(), 20, text_width, MUTED)
        front.text(MARGIN, y + 24, value, size, text_width, bold=True)
        y += 24 + size + 30
    for symbol, (x, qy, scale) in zip(symbols[:1], front_places):
        front.symbol(symbol, x, qy, scale)

    back = _Canvas(font_path)
    back.band(BAND // 2)
    back.text(MARGIN, 8, f"{title} - {issuer_host}", 28, WIDTH - 2 * MARGIN, PAPER)
    rest = list(symbols[1:])
    if rest:
        for symbol, (x, qy, scale) in zip(rest, _layout(rest, MARGIN, BAND // 2 + 12, WIDTH - MARGIN, HEIGHT - 36)):
            back.symbol(symbol, x, qy, scale)
    back.text(MARGIN, HEIGHT - 30, "Scan to verify offline. If found, return to the city's card office.", 20,
              WIDTH - 2 * MARGIN, MUTED)
    front_png, front_svg = front.finish()
    back_png, back_svg = back.finish()
    return CardArtwork(front_png, back_png, front_svg, back_svg)
