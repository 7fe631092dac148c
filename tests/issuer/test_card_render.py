"""The card renderer: QR symbols, the banded PNG, fonts for every script, names that shrink and wrap, the front's fields."""

from __future__ import annotations

import io
import re
from datetime import date

import pytest
import segno
from PIL import Image, ImageDraw, ImageFont

from issuer import cards, fonts
from issuer.demo import sample_portrait
from issuer.photo import card_photo
from issuer.png import PngTemplate, adler32_combine
from verifier_sdk.format.qr import encode_qr

zxingcpp = pytest.importorskip("zxingcpp")

# Faces of the sizes cards carry: a short culture-like text and a long id-like one.
TEXTS = [encode_qr("eyJhbGciOiJFUzI1NiJ9." + "eyJpc3MiOiJodHRwczovL2lkLmV4YW1wbGUuZ292In0" * k + ".c2ln~") for k in (1, 4)]
#: One name per script the card must print (fictional).
SCRIPTS = {
    "Latin": "Nguyễn Thị Lan", "Cyrillic": "Дмитрий", "Greek": "Αικατερίνη", "Arabic": "فاطمة الزهراء",
    "Hebrew": "בן־דוד", "Devanagari": "अनन्या शर्मा", "Bengali": "সুমাইয়া রহমান", "Chinese": "王明",
    "Japanese": "佐藤 美咲", "Korean": "김민준", "Thai": "สมชาย ใจดี",
}


def decoded(image: Image.Image) -> list:
    return zxingcpp.read_barcodes(image, formats=zxingcpp.BarcodeFormat.QRCode)


def grey(png: bytes) -> Image.Image:
    return Image.open(io.BytesIO(png)).convert("L")


def fields(given="Ana María", family="Pérez Quispe", **extra) -> cards.PrintedFields:
    return cards.PrintedFields(given, family, "100000000008", date(2031, 2, 28), date(1988, 3, 14), date(2026, 3, 1),
                               **extra)


def render(f: cards.PrintedFields, labels=("ID - banks", "Perks - museums, pharmacies")) -> cards.CardArtwork:
    symbols = [cards.make_symbol(t, label) for t, label in zip(TEXTS[::-1] + TEXTS, labels)]
    return cards.render_card(f, symbols, title="Municipal ID", issuer_host="id.example.gov")


def ink(image: Image.Image, box: tuple[int, int, int, int]) -> int:
    """Dark pixels in a region."""
    return sum(image.crop(box).point(lambda v: 255 if v < 128 else 0).histogram()[255:])


# -- QR symbols ------------------------------------------------------------------------------------
@pytest.mark.parametrize("text", TEXTS)
@pytest.mark.parametrize("mask", [None, 0, 5])
def test_symbol_is_the_smallest_q_code_and_decodes(text, mask):
    symbol = cards.make_symbol(text, "id", mask)
    expected = segno.make(text, error="q", micro=False, boost_error=False)
    assert symbol.size == expected.symbol_size(border=0)[0]  # same version as segno picks
    if mask is not None and text == TEXTS[0]:
        # (For longer v2 texts with digit runs the encoder may split segments differently from segno: both valid.)
        assert symbol.modules == tuple(bytes(r) for r in segno.make(text, error="q", micro=False, boost_error=False, mask=mask).matrix)
    image = cards._qr_image(symbol, 4, 16)
    image.putpalette(cards._palette(16))
    found = decoded(image.convert("L"))
    assert [b.text for b in found] == [text] and found[0].ec_level == "Q"


def _modules_from_svg(svg: str, size: int) -> tuple[bytes, ...]:
    """Rasterise our path dialect ("M x y.5", then per module "h1" = dark or "m1 0" = light, "m-N 1" = next row)."""
    grid = [bytearray(size) for _ in range(size)]
    path = re.search(r'<path fill="none" stroke="#000"[^>]* d="([^"]*)"', svg).group(1)
    start = re.match(r"M(\d+) (\d+)\.5", path)
    x, y = int(start.group(1)) - cards.QUIET, int(start.group(2)) - cards.QUIET
    for step in re.findall(r"h1|m1 0|m-\d+ 1", path[start.end():]):
        if step == "h1":
            grid[y][x] = 1
            x += 1
        elif step == "m1 0":
            x += 1
        else:
            x, y = x - int(step[2:-2]), y + 1
    return tuple(bytes(r) for r in grid)


@pytest.mark.parametrize("text", TEXTS)
def test_svg_path_draws_exactly_the_modules(text):
    symbol = cards.make_symbol(text, "culture")
    assert _modules_from_svg(symbol.svg, symbol.size) == symbol.modules


# -- PNG -------------------------------------------------------------------------------------------
def test_adler32_combine_is_zlib_s():
    import os
    import zlib

    for n in (0, 1, 65520, 65521, 200_000):
        a, b = os.urandom(n % 977), os.urandom(n)
        assert adler32_combine(zlib.adler32(a), zlib.adler32(b), len(b)) == zlib.adler32(a + b)


@pytest.mark.parametrize("levels", [16, 256])
def test_banded_png_holds_exactly_the_pixels_of_every_card(levels):
    template = cards._Canvas(levels)
    template.band(cards.BAND)
    template.label(cards.MARGIN, 58, "Municipal ID", 42, cards.PAPER, bold=True)
    encoder = PngTemplate(template.image, cards.DPI)
    for change in (None, (0, 0, 5, 5), (300, 200, 700, 400), (0, 630, cards.WIDTH - 1, cards.HEIGHT - 1)):
        card = template.image.copy()
        if change:
            ImageDraw.Draw(card).rectangle(change, fill=levels // 3)
        image = Image.open(io.BytesIO(encoder.encode(card)))
        assert image.format == "PNG" and image.size == (cards.WIDTH, cards.HEIGHT)
        assert round(image.info["dpi"][0]) == cards.DPI
        card_only = card.crop((0, 0, cards.WIDTH, cards.HEIGHT))  # without the encoder's padding columns
        assert image.tobytes() == card_only.tobytes() and image.getpalette() == card.getpalette()


def test_cards_share_templates_but_not_content():
    art = [render(fields(given=g)) for g in ("Ana", "Zoë")]
    assert art[0].front_png != art[1].front_png and art[0].back_png == art[1].back_png
    for side, text in (("front_png", TEXTS[1]), ("back_png", TEXTS[0])):
        assert [b.text for b in decoded(grey(getattr(art[0], side)))] == [text]
    assert art[0].front_svg.startswith(b"<svg") and art[0].front_svg.rstrip().endswith(b"</svg>")


# -- fonts -----------------------------------------------------------------------------------------
@pytest.mark.parametrize("script", SCRIPTS)
def test_every_script_has_real_glyphs(script):
    name = SCRIPTS[script]
    assert fonts.missing_characters(name, fonts.chain()) == set()
    first = fonts.runs(name, fonts.chain(), bold=True)[0]
    assert first.path != fonts.chain()[0].bold or script in ("Latin", "Cyrillic", "Greek")  # a script font, not Noto Sans


def test_a_character_no_font_has_is_found():
    assert fonts.missing_characters("Ana \U00010000", fonts.chain()) == {"\U00010000"}  # Linear B


def test_right_to_left_runs_are_shaped_and_reversed():
    """Hebrew letters are laid out right to left; Arabic letters join (the shaped word differs from its letters)."""
    hebrew, arabic = fonts.chain()[2], fonts.chain()[1]
    raqm = fonts.font(hebrew.bold, 40)
    basic = ImageFont.truetype(hebrew.bold, 40, layout_engine=ImageFont.Layout.BASIC)
    logical = "בן־דוד"
    shown = _drawn(raqm, logical)
    # The basic layout draws characters in the order given: the shaped word looks like its reversed string.
    assert _difference(shown, _drawn(basic, logical[::-1])) * 4 < _difference(shown, _drawn(basic, logical))
    shaped = fonts.font(arabic.bold, 40)
    isolated = ImageFont.truetype(arabic.bold, 40, layout_engine=ImageFont.Layout.BASIC)
    assert shaped.getlength("سلام") < isolated.getlength("سلام")  # joined letters are narrower than isolated ones


def _drawn(font: ImageFont.FreeTypeFont, text: str) -> Image.Image:
    image = Image.new("L", (260, 60), 0)
    ImageDraw.Draw(image).text((5, 45), text, font=font, fill=255, anchor="ls")
    return image


def _difference(a: Image.Image, b: Image.Image) -> int:
    from PIL import ImageChops

    return sum(ImageChops.difference(a, b).tobytes())


def test_cjk_han_takes_the_shapes_of_its_language():
    faces = fonts.chain()
    assert fonts.runs("佐藤 みさき", faces, True)[0].index == fonts.CJK_JAPANESE
    assert fonts.runs("김 민준", faces, True)[0].index == fonts.CJK_KOREAN
    assert fonts.runs("王明", faces, True)[0].index == fonts.CJK_SIMPLIFIED


def test_a_city_font_comes_first_and_a_missing_one_is_named(tmp_path):
    noto_serif = fonts.chain()[0].regular
    assert fonts.chain((noto_serif,))[0].regular == noto_serif
    with pytest.raises(fonts.FontsUnavailable, match="card_fonts"):
        fonts.chain((str(tmp_path / "nope.ttf"),))


# -- names: shrink, then wrap, never cut ------------------------------------------------------------
def test_long_names_shrink_then_wrap_and_keep_every_letter():
    faces = fonts.chain()
    size, lines = cards.fit_text("Ana", faces, (300, 100), 46, 20)
    assert size == 46 and len(lines) == 1
    size, lines = cards.fit_text("Maria Guadalupe Hernández", faces, (330, 100), 46, 20)
    assert size < 46 and len(lines) == 1
    name = "Wolfeschlegelsteinhausenbergerdorffvoralternwarengewissenhaftschaferswessenschafe Ó Súilleabháin"
    size, lines = cards.fit_text(name, faces, (330, 160), 46, 20, max_lines=6)
    assert len(lines) > 1 and all(line.width <= 330 for line in lines)
    assert "".join(line.text.replace("\u2010", "") for line in lines).replace(" ", "") == name.replace(" ", "")
    with pytest.raises(cards.CardLayoutError):
        cards.fit_text(name * 3, faces, (330, 160), 46, 20, max_lines=6)


def test_wrapping_never_splits_a_cluster():
    faces = fonts.chain()
    size, lines = cards.fit_text("अनन्याअनन्याअनन्याअनन्याअनन्या", faces, (150, 200), 46, 20, max_lines=6)
    for line in lines[1:]:
        assert not line.text[0] in "\u094d\u093e\u0942"  # no line starts with a virama or a vowel sign


# -- the front -------------------------------------------------------------------------------------
def test_front_carries_photo_dates_gender_and_names(tmp_path):
    photo = card_photo(sample_portrait(tmp_path / "p.jpg", 1), cards.PHOTO_BOX[2:])
    with_all = grey(render(fields(gender="X", photo=photo)).front_png)
    bare = grey(render(fields()).front_png)
    x, y, w, h = cards.PHOTO_BOX
    assert len(set(with_all.crop((x + 10, y + 10, x + w - 10, y + h - 10)).tobytes())) > 4  # a photo, not a frame
    assert ink(bare, (x + 10, y + 10, x + w - 10, y + h - 10)) < 2000  # "no photo" in an empty frame
    gender_box = (cards.MARGIN + 400, 516, cards.MARGIN + 600, 570)
    assert ink(with_all, gender_box) > 100 and ink(bare, gender_box) == 0


def test_single_name_fills_the_names_column():
    one = grey(render(fields(given="Moana", family="")).front_png)
    two = grey(render(fields(given="Moana", family="Kealoha")).front_png)
    assert one.tobytes() != two.tobytes()
    column = (cards.PHOTO_BOX[0] + cards.PHOTO_BOX[2] + 28, cards.PHOTO_BOX[1] + 150, 640, 400)
    assert ink(two, column) > ink(one, column)  # the second name's label and value are not there


# -- golden images ---------------------------------------------------------------------------------
GOLDEN = __import__("pathlib").Path(__file__).with_name("golden")


def golden_cards(tmp_path):
    """Fixed inputs (QR texts, a drawn portrait, names in several scripts): the layout these images pin."""
    photo = card_photo(sample_portrait(tmp_path / "p.jpg", 2), cards.PHOTO_BOX[2:])
    three = ("ID - banks", "Culture - museums", "Rx - pharmacies")
    return {
        "latin-photo-gender": render(fields(gender="F", photo=photo)).front_png,
        "arabic": render(fields(given="فاطمة الزهراء", family="الحسيني", photo=photo)).front_png,
        "japanese-no-photo": render(fields(given="美咲", family="佐藤")).front_png,
        "single-long-name": render(fields(given="Wolfeschlegelsteinhausenbergerdorff Moana", family="")).front_png,
        "back-two-faces": cards.render_card(fields(), [cards.make_symbol(t, label) for t, label in
                                                       zip([TEXTS[1], TEXTS[0], TEXTS[0]], three)],
                                            title="Municipal ID", issuer_host="id.example.gov").back_png,
    }


def test_golden_cards(tmp_path, request):
    """Each card matches its golden image: block by block (16x16 px), the mean grey may differ by at most 32 levels.

    Not a byte hash: a newer FreeType, HarfBuzz or Noto release moves antialiasing by a level or a glyph by a
    pixel (up to ~16 levels in a block), which a hash would call a failure; a field that moves by 3 px or
    more, disappears, overlaps or changes size changes blocks by far more (a 4 px move: 42, 10 px: 96).  Set CITYID_UPDATE_GOLDEN=1 to write the images after a deliberate
    layout change (and look at them).
    """
    import os

    update = os.environ.get("CITYID_UPDATE_GOLDEN") == "1"
    for name, png in golden_cards(tmp_path).items():
        path = GOLDEN / f"{name}.png"
        if update:
            GOLDEN.mkdir(exist_ok=True)
            path.write_bytes(png)
            continue
        expected, actual = grey(path.read_bytes()), grey(png)
        assert actual.size == expected.size
        worst = max(abs(a - b) for a, b in zip(_block_means(actual), _block_means(expected)))
        assert worst <= 32, f"{name}: a 16x16 block differs by {worst} grey levels from {path.name}"


def _block_means(image: Image.Image, block: int = 16) -> bytes:
    return image.resize((-(-image.width // block), -(-image.height // block)), Image.Resampling.BOX).tobytes()
