"""The card's fonts: a fallback chain of Debian's Noto fonts, so every script residents write prints as real glyphs.

A name is split into runs, each drawn with the first typeface in the chain that has
its characters (marks, joiners and spaces stay with the run they belong to).  Pillow's
raqm layout shapes each run (Arabic letters join, Indic clusters form, right-to-left
runs read right to left).  Labels are always Noto Sans: a city's extra fonts only
ever draw residents' names.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Sequence

from PIL import ImageFont, features

from .errors import IssuerError

#: Where Debian's fonts-noto-core (TrueType) and fonts-noto-cjk (OpenType collections) put their files.
NOTO_DIRS = (Path("/usr/share/fonts/truetype/noto"), Path("/usr/share/fonts/opentype/noto"))
DEBIAN_PACKAGES = "fonts-noto-core fonts-noto-cjk libfribidi0"

#: The Noto chain, in the order tried: (regular file, bold file).  Noto Sans covers Latin, Greek, Cyrillic.
NOTO_CHAIN = tuple((f"{name}-Regular.ttf", f"{name}-Bold.ttf") for name in (
    "NotoSans", "NotoSansArabic", "NotoSansHebrew", "NotoSansDevanagari", "NotoSansBengali", "NotoSansThai",
)) + (("NotoSansCJK-Regular.ttc", "NotoSansCJK-Bold.ttc"),) + tuple(
    (f"{name}-Regular.ttf", f"{name}-Bold.ttf") for name in (
        "NotoSansEthiopic", "NotoSansArmenian", "NotoSansGeorgian", "NotoSansTamil", "NotoSansTelugu",
        "NotoSansKannada", "NotoSansMalayalam", "NotoSansGujarati", "NotoSansGurmukhi", "NotoSansOriya",
        "NotoSansSinhala", "NotoSansKhmer", "NotoSansLao", "NotoSansMyanmar"))
#: Faces of Noto Sans CJK's collection: Han characters take the shapes of the language the name is written in.
CJK_JAPANESE, CJK_KOREAN, CJK_SIMPLIFIED = 0, 1, 2
#: Characters that join the run before them instead of choosing a typeface of their own.
_STICKY_CATEGORIES = {"Mn", "Mc", "Me", "Cf", "Zs", "Pd", "Po", "Pc"}
_RTL_CLASSES = {"R", "AL"}
_PROBE_SIZE = 24
_NOTDEF_PROBE = "\U0010fffd"  # a private-use code point no font maps: it renders as the "missing" box


class FontsUnavailable(IssuerError):
    """The card fonts or the text shaping library are not installed."""


@dataclass(frozen=True)
class Typeface:
    """One entry of the chain: a regular and a bold file (the same for a city's extra font)."""

    regular: str
    bold: str
    index: int = 0  # the face inside a .ttc collection
    is_cjk: bool = False


def _parse_city_font(entry: str) -> Typeface:
    """A city's extra font: ``path`` or ``path#index`` (a face of a .ttc collection)."""
    path, _, index = entry.partition("#")
    if not Path(path).is_file():
        raise FontsUnavailable(f"the card font {path} listed in city.json does not exist",
                               "fix card_fonts in city.json (TrueType or OpenType files)")
    return Typeface(path, path, int(index) if index.isdigit() else 0)


@lru_cache(maxsize=8)
def chain(city_fonts: tuple[str, ...] = ()) -> tuple[Typeface, ...]:
    """The city's extra fonts first (so a city may also prefer its own shapes for a script), then Noto."""
    if not features.check("raqm"):
        raise FontsUnavailable("Pillow cannot shape text (its raqm layout needs the FriBiDi library)",
                               f"install Debian's {DEBIAN_PACKAGES}, then run the command again")
    noto = []
    for regular, bold in NOTO_CHAIN:
        found = [next((d / name for d in NOTO_DIRS if (d / name).is_file()), None) for name in (regular, bold)]
        if None in found:
            raise FontsUnavailable(f"the card font {regular} is not installed",
                                   f"install Debian's {DEBIAN_PACKAGES}, then run the command again")
        noto.append(Typeface(str(found[0]), str(found[1]), CJK_SIMPLIFIED if regular.endswith(".ttc") else 0,
                             regular.endswith(".ttc")))
    return tuple(_parse_city_font(f) for f in city_fonts) + tuple(noto)


@lru_cache(maxsize=512)
def font(path: str, size: int, index: int = 0) -> ImageFont.FreeTypeFont:
    return ImageFont.truetype(path, size, index=index, layout_engine=ImageFont.Layout.RAQM)


def label_font(size: int, bold: bool = False) -> ImageFont.FreeTypeFont:
    """Labels and the card's own texts: always Noto Sans, whatever fonts the city adds."""
    noto = chain()[-len(NOTO_CHAIN)]
    return font(noto.bold if bold else noto.regular, size)


@lru_cache(maxsize=65536)
def has_glyph(face: Typeface, ch: str) -> bool:
    if ch.isspace() or unicodedata.category(ch) == "Cf":
        return True
    return _mask(face, ch) != _notdef(face)


def _mask(face: Typeface, ch: str) -> tuple[tuple[int, int], bytes]:
    mask = font(face.regular, _PROBE_SIZE, face.index).getmask(ch)
    return mask.size, bytes(mask)


@lru_cache(maxsize=64)
def _notdef(face: Typeface) -> tuple[tuple[int, int], bytes]:
    return _mask(face, _NOTDEF_PROBE)


def missing_characters(text: str, faces: Sequence[Typeface]) -> set[str]:
    """Characters of ``text`` that no typeface of the chain can draw (they would print as boxes)."""
    return {ch for ch in set(text) if not any(has_glyph(face, ch) for face in faces)}


def _cjk_index(text: str) -> int:
    """Han characters take Japanese shapes beside kana, Korean beside Hangul, else Simplified Chinese."""
    for ch in text:
        name = unicodedata.name(ch, "")
        if name.startswith(("HIRAGANA", "KATAKANA")):
            return CJK_JAPANESE
        if name.startswith("HANGUL"):
            return CJK_KOREAN
    return CJK_SIMPLIFIED


@dataclass(frozen=True)
class Run:
    """Part of a text drawn with one font file."""

    text: str
    path: str
    index: int


def runs(text: str, faces: Sequence[Typeface], bold: bool) -> list[Run]:
    """``text`` split by typeface, in logical order; characters no face has go to the first face (as boxes)."""
    out: list[tuple[list[str], Typeface]] = []
    for ch in text:
        current = out[-1][1] if out else None
        if current is not None and unicodedata.category(ch) in _STICKY_CATEGORIES and has_glyph(current, ch):
            out[-1][0].append(ch)
            continue
        face = next((f for f in faces if has_glyph(f, ch)), faces[0])
        if face == current:
            out[-1][0].append(ch)
        else:
            out.append(([ch], face))
    cjk = _cjk_index(text)
    return [Run("".join(chars), face.bold if bold else face.regular, cjk if face.is_cjk else face.index)
            for chars, face in out]


def is_right_to_left(text: str) -> bool:
    """The paragraph direction: that of the first strongly directional character (Unicode's rule P2)."""
    for ch in text:
        direction = unicodedata.bidirectional(ch)
        if direction in _RTL_CLASSES:
            return True
        if direction == "L":
            return False
    return False
