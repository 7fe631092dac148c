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
encoder (C++, best of the 8 masks by the ISO penalty rules, or the city's fixed ``qr_mask``)
when it is installed, else from segno.

The artwork is grey (the photo too, as on laser-engraved ID cards): a palette image of
16 evenly spaced greys, so that blending two pixel indexes blends their greys (text is
antialiased) and the PNG is 4 bits a pixel with no row filter.  :mod:`issuer.png` then
compresses only the bands of rows where a card differs from its template.
"""

from __future__ import annotations

import base64
import io
import unicodedata
from dataclasses import dataclass
from datetime import date
from functools import lru_cache
from typing import Sequence
from xml.sax.saxutils import escape

import segno
from PIL import Image, ImageChops, ImageDraw

from . import fonts
from .fonts import Typeface
from .png import PngTemplate, padding_columns

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
#: Grey levels of the artwork: 16 make a 4-bit PNG (half the pixel data of 8 bits to compress per card), with
#: antialiased text; the photo is ordered-dithered to them (a 4x4 pattern at 300 dpi: a fine texture, as a
#: card printer's own dithering).  The SVG carries the photo in full greys.
LEVELS = 16
_BAYER = (0, 8, 2, 10, 12, 4, 14, 6, 3, 11, 1, 9, 15, 7, 13, 5)  # the 4x4 ordered-dither thresholds
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
    if _ZXING_WRITES:
        fixed = {} if mask is None else {"data_mask": mask}  # a fixed mask skips the 8-mask evaluation: 7x faster
        barcode = zxingcpp.create_barcode(qr_text, zxingcpp.BarcodeFormat.QRCode, ec_level="Q", **fixed)
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


@lru_cache(maxsize=8192)
def _advance(text: str, path: str, size: int, index: int) -> float:
    return fonts.font(path, size, index).getlength(text)


def _measure(text: str, faces: Sequence[Typeface], size: int, bold: bool) -> _Line:
    runs = fonts.runs(text, faces, bold)
    width = sum(_advance(r.text, r.path, size, r.index) for r in runs)
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
def _palette(levels: int) -> bytes:
    """``levels`` evenly spaced greys: pixel index i is grey i * 255 / (levels - 1), so blending indexes blends greys."""
    return bytes(v for i in range(levels) for v in (i * 255 // (levels - 1),) * 3)


@lru_cache(maxsize=4)
def _to_level(levels: int, step: int) -> tuple[int, ...]:
    return tuple(min(levels - 1, v // step) for v in range(256))


@lru_cache(maxsize=4)
def _dither_pattern(size: tuple[int, int], step: int) -> Image.Image:
    """The 4x4 threshold pattern tiled to ``size``: added to a grey, it rounds up to the next level as often as
    the grey is close to it."""
    tile = Image.frombytes("L", (4, 4), bytes(t * step // 16 for t in _BAYER))
    pattern = Image.new("L", size)
    for y in range(0, size[1], 4):
        for x in range(0, size[0], 4):
            pattern.paste(tile, (x, y))
    return pattern


@lru_cache(maxsize=2048)
def _stamp(text: str, path: str, size: int, index: int = 0) -> tuple[Image.Image, int, int, float]:
    """``text`` rendered once as an antialiased mask: (mask, offset from the baseline start, advance width).

    Labels and digits repeat on every card, and so do common names (Maria, Nguyễn, Kim...) in a city's batch.
    """
    font = fonts.font(path, size, index)
    left, top, right, bottom = font.getbbox(text, anchor="ls")
    mask = Image.new("L", (max(1, right - left), max(1, bottom - top)), 0)
    ImageDraw.Draw(mask).text((-left, -top), text, font=font, fill=255, anchor="ls")
    return mask, left, top, font.getlength(text)


class _Canvas:
    """Draws the same elements into a grey image (Pillow, palette of ``levels`` greys) and an SVG document."""

    def __init__(self, levels: int, image: Image.Image | None = None, svg: Sequence[str] | None = None,
                 encoder: PngTemplate | None = None) -> None:
        self.levels = levels
        self.encoder = encoder  # the template's PNG encoder: its unchanged rows are compressed already
        if image is None:  # (with the PNG encoder's padding columns right of the card, see issuer.png)
            image = Image.new("P", (WIDTH + padding_columns(levels), HEIGHT), self.ink(PAPER))
            image.putpalette(_palette(levels))
            image.paste(0, (WIDTH, 0, image.width, HEIGHT))
        self.image = image
        self.draw = ImageDraw.Draw(self.image)
        self.draw.fontmode = "L"  # antialiased: blending two indexes gives the grey between them
        self.svg: list[str] = list(svg) if svg is not None else [
            f'<svg xmlns="http://www.w3.org/2000/svg" width="85.6mm" height="53.98mm" viewBox="0 0 {WIDTH} {HEIGHT}">',
            f'<rect width="{WIDTH}" height="{HEIGHT}" fill="#fff"/>']

    def copy(self) -> "_Canvas":
        """A canvas to draw one card on, starting from this one (a cached template)."""
        return _Canvas(self.levels, self.image.copy(), self.svg, self.encoder)

    def freeze(self) -> "_Canvas":
        """Make this canvas a template: compress its rows once for every card drawn from it."""
        self.encoder = PngTemplate(self.image, DPI)
        return self

    def ink(self, grey: int) -> int:
        return round(grey * (self.levels - 1) / 255)

    def band(self, height: int) -> None:
        self.draw.rectangle((0, 0, WIDTH - 1, height), fill=self.ink(BAND_INK))
        self.svg.append(f'<rect width="{WIDTH}" height="{height}" fill="#282828"/>')

    def label(self, x: int, baseline: int, text: str, size: int, fill: int = MUTED, bold: bool = False,
              anchor: str = "ls") -> None:
        """The card's own words (titles, labels, captions, dates, numbers): Noto Sans, whatever fonts the city adds.

        Drawn from cached stamps (digit by digit for numbers and dates, which have no kerning in Noto Sans)."""
        font = fonts.label_font(size, bold)
        # Numbers and dates are stamped character by character (their stamps are always cached); words whole.
        stamps = [_stamp(piece, font.path, size) for piece in
                  (text if text.replace("-", "").replace(" ", "").isdigit() else [text])]
        cx = x - sum(stamp[3] for stamp in stamps) / 2 if anchor[0] == "m" else x
        for mask, left, rise, advance in stamps:
            self.image.paste(self.ink(fill), (round(cx) + left, baseline + rise), mask)
            cx += advance
        self._svg_text(x, baseline, text, size, fill, bold, "middle" if anchor[0] == "m" else "start")

    def lines(self, x: int, top: int, size: int, lines: Sequence[_Line], fill: int = INK) -> None:
        """Shaped lines of a resident's text (names, gender), each run in its own font, from ``top`` down."""
        for n, line in enumerate(lines):
            baseline = top + int(size * 0.95) + n * _line_height(size)
            cx = float(x)
            for run in line.runs:
                mask, left, rise, advance = _stamp(run.text, run.path, size, run.index)
                self.image.paste(self.ink(fill), (round(cx) + left, baseline + rise), mask)
                cx += advance
            self._svg_text(x, baseline, line.text, size, fill, True, "start")

    def _svg_text(self, x: float, baseline: int, text: str, size: int, fill: int, bold: bool, anchor: str) -> None:
        weight = ' font-weight="bold"' if bold else ""
        middle = ' text-anchor="middle"' if anchor == "middle" else ""
        self.svg.append(f'<text x="{x:.0f}" y="{baseline}" font-family="{_SVG_FONTS}" font-size="{size}"{weight}'
                        f'{middle} fill="#{fill:02x}{fill:02x}{fill:02x}">{escape(text)}</text>')

    def symbol(self, symbol: FaceSymbol, x: int, y: int, scale: int) -> None:
        """The QR itself; its caption is drawn by the template (see ``_caption``)."""
        self.image.paste(_qr_image(symbol, scale, self.levels), (x, y))
        self.svg.append(f'<g transform="translate({x} {y}) scale({scale})">{symbol.svg}</g>')

    def photo(self, photo: Image.Image, x: int, y: int) -> None:
        """A grey photo, ordered-dithered to the canvas's grey levels."""
        step = 256 // self.levels + 1  # 17 for 16 levels: grey v lies between levels v // 17 and v // 17 + 1
        dithered = ImageChops.add(photo, _dither_pattern(photo.size, step)).point(_to_level(self.levels, step))
        self.image.paste(Image.frombytes("P", photo.size, dithered.tobytes()), (x, y))
        jpeg = io.BytesIO()
        photo.save(jpeg, "JPEG", quality=85)
        self.svg.append(f'<image x="{x}" y="{y}" width="{photo.width}" height="{photo.height}" '
                        f'href="data:image/jpeg;base64,{base64.b64encode(jpeg.getvalue()).decode("ascii")}"/>')

    def placeholder(self, x: int, y: int, width: int, height: int) -> None:
        """Where the photo would be: a thin frame, so the card's layout is the same with and without one."""
        self.draw.rectangle((x, y, x + width - 1, y + height - 1), outline=self.ink(MUTED), width=2)
        self.svg.append(f'<rect x="{x}" y="{y}" width="{width}" height="{height}" fill="none" stroke="#5a5a5a" '
                        f'stroke-width="2"/>')
        self.label(x + width // 2, y + height // 2, "no photo", 20, anchor="ms")

    def finish(self) -> tuple[bytes, bytes]:
        png = (self.encoder or PngTemplate(self.image, DPI)).encode(self.image)
        return png, ("\n".join(self.svg) + "\n</svg>\n").encode("utf-8")


def _qr_image(symbol: FaceSymbol, scale: int, levels: int) -> Image.Image:
    """The QR with its quiet zone at ``scale`` pixels per module, built from bytes (no resampling).

    Each module byte (1 = dark) becomes ``scale`` pixels by whole-matrix replacements, each row ``scale`` rows.
    """
    n, side = symbol.size, (symbol.size + 2 * QUIET) * scale
    light = bytes([levels - 1])
    wide = (b"".join(symbol.modules).replace(b"\x00", b"\x02" * scale).replace(b"\x01", b"\x03" * scale)
            .translate(_PIXELS[levels]))
    margin, blank, step = light * (QUIET * scale), [light * side] * (QUIET * scale), n * scale
    rows = blank[:]
    for i in range(0, len(wide), step):
        rows += [margin + wide[i : i + step] + margin] * scale
    return Image.frombytes("P", (side, side), b"".join(rows + blank))


#: Module bytes, once widened (2 = light, 3 = dark), to palette indexes: white is the last level, black 0.
_PIXELS = {levels: bytes(range(2)) + bytes([levels - 1, 0]) + bytes(range(4, 256)) for levels in (16, 256)}


def _qr_svg(modules: Sequence[bytes]) -> str:
    """The QR as one stroked SVG path on a white quiet zone: per module a 1-unit line ("h1") or a move ("m1 0"),
    and after each row a move back to the next row's start.

    Built by three C-level replacements over the whole matrix, not a Python loop per run (a card has ~1000).
    """
    n, side = len(modules), len(modules) + 2 * QUIET
    path = (b"\x02".join(modules).replace(b"\x00", b"m1 0").replace(b"\x01", b"h1")
            .replace(b"\x02", f"m-{n} 1".encode("ascii")).decode("ascii"))
    return (f'<svg xmlns="http://www.w3.org/2000/svg" width="{side}" height="{side}" shape-rendering="crispEdges">'
            f'<rect width="{side}" height="{side}" fill="#fff"/>'
            f'<path fill="none" stroke="#000" stroke-width="1" stroke-linecap="butt" d="M{QUIET} {QUIET}.5{path}"/></svg>')


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


_NAME_LABELS = ("Family name", "Given name")
_NAMES_BOTTOM = PHOTO_BOX[1] + PHOTO_BOX[3]
_LABEL_ROOM, _NAME_GAP = _LABEL_SIZE + 4, 16


@lru_cache(maxsize=32)
def _front_template(layout: _FrontLayout) -> _Canvas:
    """What every front with this layout shares: band, title, labels, issue and expiry dates, QR caption."""
    front = _Canvas(LEVELS)
    front.band(BAND)
    front.label(MARGIN, 58, layout.title, 42, PAPER, bold=True)
    if not layout.has_photo:
        front.placeholder(*PHOTO_BOX)
    if layout.single_name:
        front.label(_NAMES_X, _NAME_TOP + _LABEL_SIZE - 4, "NAME", _LABEL_SIZE)
    fields = [_BORN, _EXPIRES, _NUMBER] + ([_ISSUED] if layout.issued_on else []) + ([_GENDER] if layout.has_gender else [])
    for label, x, y, _ in fields:
        front.label(x, y, label.upper(), _LABEL_SIZE)
    if layout.issued_on:
        _value(front, _ISSUED, layout.issued_on.isoformat())
    _value(front, _EXPIRES, layout.expires_on.isoformat())
    _captions(front, layout.places)
    return front.freeze()


def _value(canvas: _Canvas, field: tuple[str, int, int, int], text: str) -> None:
    _, x, y, _ = field
    canvas.label(x, y + 8 + _VALUE_SIZE, text, _VALUE_SIZE, INK, bold=True)


@lru_cache(maxsize=32)
def _back_template(title: str, issuer_host: str, places: tuple[_Place, ...]) -> _Canvas:
    """What every back with this layout shares: band, title line, QR captions and footer."""
    back = _Canvas(LEVELS)
    back.band(BAND // 2)
    back.label(MARGIN, 31, f"{title} - {issuer_host}", 26, PAPER)
    _captions(back, places)
    back.label(MARGIN, HEIGHT - 16, "Scan to verify offline. If found, return to the city's card office.", 20)
    return back.freeze()


def _names(front: _Canvas, names: Sequence[str], faces: Sequence[Typeface], width: int) -> None:
    """The names column beside the photo: one name fills it; of two, the family name may use up to half,
    and the given name then the rest (so a long given name wraps onto more lines)."""
    if len(names) == 1:
        size, lines = _fit_field("name", names[0], faces, (width, _NAMES_BOTTOM - _NAME_TOP - _LABEL_ROOM), 46, 20, 6)
        front.lines(_NAMES_X, _NAME_TOP + _LABEL_ROOM, size, lines)
        return
    top = _NAME_TOP
    for n, (label, value) in enumerate(zip(_NAME_LABELS, names)):
        room = (_NAMES_BOTTOM - _NAME_TOP) // 2 if n == 0 else _NAMES_BOTTOM - top
        size, lines = _fit_field(label, value, faces, (width, room - _LABEL_ROOM - _NAME_GAP), 46, 20, 6)
        front.label(_NAMES_X, top + _LABEL_SIZE - 4, label.upper(), _LABEL_SIZE)
        front.lines(_NAMES_X, top + _LABEL_ROOM, size, lines)
        top += _LABEL_ROOM + len(lines) * _line_height(size) + _NAME_GAP


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
    _names(front, names, faces, _names_width(layout))
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
