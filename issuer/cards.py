"""Print-ready card artwork: CR80 front and back (1011x638 px at 300 dpi) as PNG and SVG.

This module only draws: the QR texts come from :mod:`issuer.faces`, the fonts from
:mod:`issuer.fonts`, the photo from :mod:`issuer.photo`.  The front carries the photo,
the names, birth date, gender (when the resident gave one), issue and expiry dates,
card number and the first face's QR; the back carries every other face's QR.  Each
caption sits centred under its own code.

Batch issuance draws hundreds of cards a second, so what every card of a layout shares
(band, titles, labels, issue and expiry dates, captions, footer) is drawn once and
copied; per card only the names, birth date, gender, card number, photo and QR codes
are stamped.  Each QR is encoded once (error correction Q) and pasted scaled by whole
pixels per module, so every module stays sharp.  The QR matrix comes from zxing-cpp's
encoder (C++, best of the 8 masks by the ISO penalty rules) when it is installed, else
from segno; a fixed ``mask`` always uses segno.

The artwork is grey (the photo too, as on laser-engraved ID cards) and saved as an
8-bit PNG whose palette is the 256 greys: the pixels are the grey levels, and Pillow
then skips the per-row filter search it does for grey images, which would cost more
than everything else on the card.
"""

from __future__ import annotations

import base64
import io
import re
import unicodedata
import zlib
from dataclasses import dataclass
from datetime import date
from functools import lru_cache
from typing import Sequence
from xml.sax.saxutils import escape

import segno
from PIL import Image, ImageDraw, ImageFont

from . import fonts
from .fonts import Typeface

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
BAND = 84
QUIET = 4  # modules of white around each QR (the QR standard's quiet zone)
INK, PAPER, BAND_INK, MUTED = 0, 255, 40, 90
#: Photo box: 19.3 x 24.7 mm, the 35:45 shape of a passport photo.
PHOTO_BOX = (MARGIN, BAND + 24, 228, 292)
#: The front QR's box (x, y, width, height); the caption goes under it.
FRONT_QR_BOX = (WIDTH - MARGIN - 330, BAND + 12, 330, HEIGHT - BAND - 60)
CAPTION_SIZE = 22
_GREYS = bytes(v for grey in range(256) for v in (grey, grey, grey))
_TO_GREY = bytes([PAPER, INK]) + bytes(254)  # matrix byte 1 = dark module
_DARK_RUN = re.compile(rb"\x01+")
_SVG_FONTS = "Noto Sans, Noto Sans Arabic, Noto Sans Hebrew, Noto Sans CJK SC, sans-serif"


class CardLayoutError(ValueError):
    """A printed field cannot be laid out on the card (the message names the field, never its value)."""


@dataclass(frozen=True)
class PrintedFields:
    """What is printed as text on the card (the QR codes carry the signed data).

    A resident with one name has it in ``given_name`` or ``family_name`` and the other empty.
    """

    given_name: str
    family_name: str
    card_number: str
    expires_on: date
    birthdate: date | None = None
    issued_on: date | None = None
    gender: str | None = None
    photo: Image.Image | None = None  # grey, PHOTO_BOX's size (see issuer.photo.card_photo)


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


_FROM_ZXING = bytes([1]) + bytes(254) + bytes([0])  # zxing-cpp image: 0 = dark, 255 = light


def format_card_number(number: str) -> str:
    return " ".join(number[i:i + 4] for i in range(0, len(number), 4))


# -- text: the font chain, shrinking, wrapping -----------------------------------------------------
@dataclass(frozen=True)
class _Line:
    runs: tuple[fonts.Run, ...]  # in visual order, left to right
    width: float
    text: str


def _measure(text: str, faces: Sequence[Typeface], size: int, bold: bool) -> _Line:
    runs = fonts.runs(text, faces, bold)
    width = sum(fonts.font(r.path, size, r.index).getlength(r.text) for r in runs)
    if fonts.is_right_to_left(text):
        runs.reverse()
    return _Line(tuple(runs), width, text)


def _may_break_before(text: str, i: int) -> bool:
    """Never split a grapheme cluster or an Indic conjunct (a mark, a joiner, or after a virama)."""
    ch, before = text[i], text[i - 1]
    return not (unicodedata.category(ch).startswith("M") or ch in "\u200c\u200d" or before in "\u200c\u200d"
                or unicodedata.combining(before) == 9)


def _is_spaceless_script(ch: str) -> bool:
    return unicodedata.name(ch, "").startswith(("CJK", "HIRAGANA", "KATAKANA", "HANGUL"))


def _wrap(text: str, faces: Sequence[Typeface], size: int, bold: bool, width: int, max_lines: int) -> list[_Line] | None:
    """Greedy wrapping at spaces; a word longer than a line is split (marked with a hyphen, except in CJK)."""
    lines: list[_Line] = []
    rest = text
    while rest:
        if len(lines) == max_lines:
            return None
        whole = _measure(rest, faces, size, bold)
        if whole.width <= width:
            lines.append(whole)
            break
        cut = _longest_prefix(rest, faces, size, bold, width)
        if cut is None:
            return None
        lines.append(cut[0])
        rest = rest[cut[1]:].lstrip(" ")
    return lines


def _longest_prefix(text: str, faces: Sequence[Typeface], size: int, bold: bool, width: int) -> tuple[_Line, int] | None:
    """The longest first line: up to the last space that fits, else inside the word with a hyphen."""
    spaces = [i for i, ch in enumerate(text) if ch == " " and i > 0]
    for i in reversed(spaces):
        line = _measure(text[:i], faces, size, bold)
        if line.width <= width:
            return line, i
    for i in range(len(text) - 1, 0, -1):
        if not _may_break_before(text, i):
            continue
        head = text[:i] if _is_spaceless_script(text[i - 1]) else text[:i] + "\u2010"
        line = _measure(head, faces, size, bold)
        if line.width <= width:
            return line, i
    return None


def fit_text(text: str, faces: Sequence[Typeface], box: tuple[int, int], size: int, min_size: int,
             bold: bool = True, max_lines: int = 3) -> tuple[int, list[_Line]]:
    """The largest size at which ``text`` fits ``box`` (width, height): on one line, then shrinking, then wrapped.

    Raises CardLayoutError if even ``min_size`` on ``max_lines`` lines is too small: text is never cut.
    """
    width, height = box
    one = _measure(text, faces, size, bold)
    if one.width <= width:
        return size, [one]
    # Width grows with size almost linearly: start from the estimate, then step down.
    for s in range(min(size - 2, int(size * width / one.width) // 2 * 2 + 2), min_size - 1, -2):
        line = _measure(text, faces, s, bold)
        if line.width <= width:
            return s, [line]
    for lines in range(2, max_lines + 1):
        for s in range(size, min_size - 1, -2):
            if lines * _line_height(s) > height:
                continue
            wrapped = _wrap(text, faces, s, bold, width, lines)
            if wrapped is not None:
                return s, wrapped
    raise CardLayoutError("too long to print on the card, even in small letters on several lines")


def _line_height(size: int) -> int:
    return int(size * 1.25)


# -- drawing ---------------------------------------------------------------------------------------
class _Canvas:
    """Draws the same elements into a grey image (Pillow) and an SVG document."""

    def __init__(self, image: Image.Image | None = None, svg: Sequence[str] | None = None) -> None:
        self.image = image if image is not None else Image.new("L", (WIDTH, HEIGHT), PAPER)
        self.draw = ImageDraw.Draw(self.image)
        self.svg: list[str] = list(svg) if svg is not None else [
            f'<svg xmlns="http://www.w3.org/2000/svg" width="85.6mm" height="53.98mm" viewBox="0 0 {WIDTH} {HEIGHT}">',
            f'<rect width="{WIDTH}" height="{HEIGHT}" fill="#fff"/>']

    def copy(self) -> "_Canvas":
        """A canvas to draw one card on, starting from this one (a cached template)."""
        return _Canvas(self.image.copy(), self.svg)

    def band(self, height: int) -> None:
        self.draw.rectangle((0, 0, WIDTH, height), fill=BAND_INK)
        self.svg.append(f'<rect width="{WIDTH}" height="{height}" fill="#282828"/>')

    def label(self, x: int, baseline: int, text: str, size: int, fill: int = MUTED, bold: bool = False,
              anchor: str = "ls") -> None:
        """The card's own words (titles, labels, captions): Noto Sans, whatever fonts the city adds."""
        font = fonts.label_font(size, bold)
        self.draw.text((x, baseline), text, font=font, fill=fill, anchor=anchor)
        self._svg_text(x, baseline, text, size, fill, bold, "middle" if anchor[0] == "m" else "start")

    def lines(self, x: int, top: int, size: int, lines: Sequence[_Line], fill: int = INK) -> None:
        """Shaped lines of a resident's text (names, gender), each run in its own font, from ``top`` down."""
        for n, line in enumerate(lines):
            baseline = top + int(size * 0.95) + n * _line_height(size)
            cx = float(x)
            for run in line.runs:
                font = fonts.font(run.path, size, run.index)
                self.draw.text((cx, baseline), run.text, font=font, fill=fill, anchor="ls")
                cx += font.getlength(run.text)
            self._svg_text(x, baseline, line.text, size, fill, True, "start")

    def _svg_text(self, x: float, baseline: int, text: str, size: int, fill: int, bold: bool, anchor: str) -> None:
        weight = ' font-weight="bold"' if bold else ""
        middle = ' text-anchor="middle"' if anchor == "middle" else ""
        self.svg.append(f'<text x="{x:.0f}" y="{baseline}" font-family="{_SVG_FONTS}" font-size="{size}"{weight}'
                        f'{middle} fill="#{fill:02x}{fill:02x}{fill:02x}">{escape(text)}</text>')

    def symbol(self, symbol: FaceSymbol, x: int, y: int, scale: int) -> None:
        """The QR itself; its caption is drawn by the template (see ``_caption``)."""
        self.image.paste(_qr_image(symbol, scale), (x, y))
        self.svg.append(f'<g transform="translate({x} {y}) scale({scale})">{symbol.svg}</g>')

    def photo(self, photo: Image.Image, x: int, y: int) -> None:
        self.image.paste(photo, (x, y))
        jpeg = io.BytesIO()
        photo.save(jpeg, "JPEG", quality=88)
        self.svg.append(f'<image x="{x}" y="{y}" width="{photo.width}" height="{photo.height}" '
                        f'href="data:image/jpeg;base64,{base64.b64encode(jpeg.getvalue()).decode("ascii")}"/>')

    def placeholder(self, x: int, y: int, width: int, height: int) -> None:
        """Where the photo would be: a thin frame, so the card's layout is the same with and without one."""
        self.draw.rectangle((x, y, x + width - 1, y + height - 1), outline=MUTED, width=2)
        self.svg.append(f'<rect x="{x}" y="{y}" width="{width}" height="{height}" fill="none" stroke="#5a5a5a" '
                        f'stroke-width="2"/>')
        self.label(x + width // 2, y + height // 2, "no photo", 20, anchor="ms")

    def finish(self) -> tuple[bytes, bytes]:
        return _png(self.image), ("\n".join(self.svg) + "\n</svg>\n").encode("utf-8")


def _png(image: Image.Image) -> bytes:
    """The PNG at DPI, as 8-bit "palette" pixels whose palette is the greys (see the module's docstring)."""
    indexed = Image.frombytes("P", image.size, image.tobytes())
    indexed.putpalette(_GREYS)
    out = io.BytesIO()
    # Run-length zlib: the card is mostly flat areas, and it is several times faster than the default strategy.
    indexed.save(out, "PNG", dpi=(DPI, DPI), compress_level=1, compress_type=zlib.Z_RLE)
    return out.getvalue()


def _qr_image(symbol: FaceSymbol, scale: int) -> Image.Image:
    n, side = symbol.size, symbol.size + 2 * QUIET
    framed = Image.new("L", (side, side), PAPER)
    framed.paste(Image.frombytes("L", (n, n), b"".join(symbol.modules).translate(_TO_GREY)), (QUIET, QUIET))
    return framed.resize((side * scale, side * scale), Image.Resampling.NEAREST)


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


# -- layout ----------------------------------------------------------------------------------------
@dataclass(frozen=True)
class _Place:
    """Where one QR goes: top-left corner (with its quiet zone), pixels per module, and its caption."""

    x: int
    y: int
    scale: int
    side: int  # pixels, quiet zone included
    label: str


def _layout(symbols: Sequence[FaceSymbol], box: tuple[int, int, int, int]) -> tuple[_Place, ...]:
    """Each QR side by side in ``box`` (x, y, width, height), as large as whole pixels allow, caption room below."""
    left, top, width, height = box
    count = len(symbols)
    if not count:
        return ()
    slot = (width - MARGIN * (count - 1)) // count
    places = []
    for i, symbol in enumerate(symbols):
        modules = symbol.size + 2 * QUIET
        scale = max(1, min(slot, height - CAPTION_SIZE - 8) // modules)
        side = modules * scale
        x = left + i * (slot + MARGIN) + (slot - side) // 2
        places.append(_Place(x, top + (height - CAPTION_SIZE - 8 - side) // 2, scale, side, symbol.label))
    return tuple(places)


def _captions(canvas: _Canvas, places: Sequence[_Place]) -> None:
    """Each caption centred right under its own code (below the quiet zone, which must stay white)."""
    for place in places:
        canvas.label(place.x + place.side // 2, place.y + place.side + CAPTION_SIZE, place.label, CAPTION_SIZE,
                     anchor="ms")


@dataclass(frozen=True)
class _FrontLayout:
    """What decides a front's template: a batch's cards share it."""

    title: str
    places: tuple[_Place, ...]
    single_name: bool
    has_photo: bool
    has_gender: bool
    issued_on: date | None
    expires_on: date


#: The fields under the photo and names: (label, x, y, width).
_BORN, _ISSUED, _EXPIRES = ("Born", MARGIN, 432, 180), ("Issued", MARGIN + 200, 432, 180), ("Expires", MARGIN + 400, 432, 180)
_NUMBER, _GENDER = ("Card number", MARGIN, 516, 380), ("Gender", MARGIN + 400, 516, 190)
_LABEL_SIZE, _VALUE_SIZE = 19, 30
_NAME_TOP = PHOTO_BOX[1]


_NAMES_X = PHOTO_BOX[0] + PHOTO_BOX[2] + 28  # the names column, right of the photo (or of its empty frame)


def _names_width(layout: _FrontLayout) -> int:
    right = layout.places[0].x - 8 if layout.places else WIDTH - MARGIN
    return right - _NAMES_X


def _name_fields(single_name: bool) -> tuple[tuple[str, int, int], ...]:
    """(label, top, value height) of the name fields in the column beside the photo."""
    column = PHOTO_BOX[3]
    if single_name:
        return (("Name", _NAME_TOP, column - 28),)
    half = column // 2
    return (("Family name", _NAME_TOP, half - 28), ("Given name", _NAME_TOP + half, half - 28))


@lru_cache(maxsize=32)
def _front_template(layout: _FrontLayout) -> _Canvas:
    """What every front with this layout shares: band, title, labels, issue and expiry dates, QR caption."""
    front = _Canvas()
    front.band(BAND)
    front.label(MARGIN, 58, layout.title, 42, PAPER, bold=True)
    if not layout.has_photo:
        front.placeholder(*PHOTO_BOX)
    for label, top, _ in _name_fields(layout.single_name):
        front.label(_NAMES_X, top + _LABEL_SIZE - 4, label.upper(), _LABEL_SIZE)
    fields = [_BORN, _EXPIRES, _NUMBER] + ([_ISSUED] if layout.issued_on else []) + ([_GENDER] if layout.has_gender else [])
    for label, x, y, _ in fields:
        front.label(x, y, label.upper(), _LABEL_SIZE)
    if layout.issued_on:
        _value(front, _ISSUED, layout.issued_on.isoformat())
    _value(front, _EXPIRES, layout.expires_on.isoformat())
    _captions(front, layout.places)
    return front


def _value(canvas: _Canvas, field: tuple[str, int, int, int], text: str) -> None:
    _, x, y, _ = field
    canvas.label(x, y + 8 + _VALUE_SIZE, text, _VALUE_SIZE, INK, bold=True)


@lru_cache(maxsize=32)
def _back_template(title: str, issuer_host: str, places: tuple[_Place, ...]) -> _Canvas:
    """What every back with this layout shares: band, title line, QR captions and footer."""
    back = _Canvas()
    back.band(BAND // 2)
    back.label(MARGIN, 31, f"{title} - {issuer_host}", 26, PAPER)
    _captions(back, places)
    back.label(MARGIN, HEIGHT - 16, "Scan to verify offline. If found, return to the city's card office.", 20)
    return back


def _fit_field(label: str, text: str, faces: Sequence[Typeface], box: tuple[int, int], size: int, min_size: int,
               max_lines: int) -> tuple[int, list[_Line]]:
    try:
        return fit_text(text, faces, box, size, min_size, max_lines=max_lines)
    except CardLayoutError as exc:
        raise CardLayoutError(f"{label.lower()} is {exc}") from None


def render_card(fields: PrintedFields, symbols: Sequence[FaceSymbol], *, title: str, issuer_host: str,
                city_fonts: tuple[str, ...] = ()) -> CardArtwork:
    """Front: photo, printed fields and the first face's QR.  Back: the other faces' QRs (any number)."""
    faces = fonts.chain(city_fonts)
    names = [n for n in (fields.family_name, fields.given_name) if n]
    front_places = _layout(symbols[:1], FRONT_QR_BOX)
    layout = _FrontLayout(title, front_places, len(names) == 1, fields.photo is not None, bool(fields.gender),
                          fields.issued_on, fields.expires_on)
    front = _front_template(layout).copy()
    if fields.photo is not None:
        front.photo(fields.photo, PHOTO_BOX[0], PHOTO_BOX[1])
    width = _names_width(layout)
    for (label, top, height), value in zip(_name_fields(layout.single_name), names):
        size, lines = _fit_field(label, value, faces, (width, height), 46, 22, 4 if layout.single_name else 3)
        front.lines(_NAMES_X, top + _LABEL_SIZE + 4, size, lines)
    if fields.birthdate is not None:
        _value(front, _BORN, fields.birthdate.isoformat())
    _value(front, _NUMBER, format_card_number(fields.card_number))
    if fields.gender:
        label, gx, gy, gwidth = _GENDER
        size, lines = _fit_field(label, fields.gender, faces, (gwidth, 70), _VALUE_SIZE, 16, 2)
        front.lines(gx, gy + 10, size, lines)
    for symbol, place in zip(symbols[:1], front_places):
        front.symbol(symbol, place.x, place.y, place.scale)

    rest = list(symbols[1:])
    back_places = _layout(rest, (MARGIN, BAND // 2 + 12, WIDTH - 2 * MARGIN, HEIGHT - BAND // 2 - 48))
    back = _back_template(title, issuer_host, back_places).copy()
    for symbol, place in zip(rest, back_places):
        back.symbol(symbol, place.x, place.y, place.scale)
    front_png, front_svg = front.finish()
    back_png, back_svg = back.finish()
    return CardArtwork(front_png, back_png, front_svg, back_svg)
