"""One card's print folder: ``OUT/<card number>/`` with front/back PNG and SVG and each face's QR text.

The folder is built under a temporary name and renamed into place, so a folder
that exists is always complete (a resumed batch relies on that).
"""

from __future__ import annotations

import os
import shutil
from datetime import date, timedelta
from pathlib import Path
from urllib.parse import urlsplit

from .cards import PHOTO_BOX, CardArtwork, CardLayoutError, PrintedFields, make_symbol, render_card
from .config import CityConfig
from .faces import CardParams
from .files import write_file
from .fonts import chain, missing_characters
from .photo import PhotoError, card_photo
from .records import PersonRecord, RowError

TMP_PREFIX = ".tmp-"


def card_folder(out_dir: Path, card_number: str) -> Path:
    return Path(out_dir) / card_number


def expires_on(expires_at: int) -> date:
    """The printed expiry date: the card is valid through the end of that (UTC) day."""
    return date(1970, 1, 1) + timedelta(days=expires_at // 86400)


def check_printable(config: CityConfig, record: PersonRecord) -> None:
    """RowError unless the card can be printed as the city wants: a photo if required, real glyphs for every name."""
    if config.require_photo and record.photo is None:
        raise RowError("photo is missing (city.json requires a photo on every card)")
    if config.allow_missing_glyphs:
        return
    faces = chain(config.card_fonts)
    for field in ("family_name", "given_name", "gender"):
        if missing_characters(getattr(record, field, None) or "", faces):
            raise RowError(f"{field} has characters no card font can print: add a font that has them to "
                           "card_fonts in city.json (or set allow_missing_glyphs)")


def artwork(config: CityConfig, record: PersonRecord, params: CardParams, faces: dict[str, str]) -> CardArtwork:
    """The card's artwork; a photo or a name that cannot be printed is the row's error (RowError)."""
    symbols = [make_symbol(faces[face.name], face.label or face.name, config.qr_mask) for face in config.faces]
    try:
        photo = card_photo(record.photo, PHOTO_BOX[2:]) if record.photo is not None else None
        fields = PrintedFields(record.given_name or "", record.family_name or "", params.card_number,
                               expires_on(params.expires_at), record.birthdate, params.issued_on,
                               getattr(record, "gender", None), photo)
        return render_card(fields, symbols, title=config.card_title, issuer_host=urlsplit(config.issuer).hostname or "",
                           city_fonts=config.card_fonts)
    except (PhotoError, CardLayoutError) as exc:
        raise RowError(str(exc)) from None


def write_card_folder(out_dir: Path, card_number: str, art: CardArtwork, faces: dict[str, str]) -> Path:
    """Write the folder atomically; if a complete one already exists (an earlier, interrupted run), keep it."""
    final = card_folder(out_dir, card_number)
    if final.exists():
        return final
    tmp = Path(out_dir) / f"{TMP_PREFIX}{card_number}-{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(mode=0o700)
    for name, data in (("front.png", art.front_png), ("back.png", art.back_png),
                       ("front.svg", art.front_svg), ("back.svg", art.back_svg)):
        write_file(tmp / name, data)
    for face, text in faces.items():
        # Exactly the QR text, no newline: read_text() gives what the code holds.
        write_file(tmp / f"{face}.txt", text.encode("ascii"))
    try:
        os.rename(tmp, final)
    except OSError:  # another process (an orphaned worker of a killed run) finished the same card first
        shutil.rmtree(tmp, ignore_errors=True)
        if not final.exists():
            raise
    return final


def remove_stale_temporaries(out_dir: Path) -> None:
    for path in Path(out_dir).glob(TMP_PREFIX + "*"):
        shutil.rmtree(path, ignore_errors=True)
