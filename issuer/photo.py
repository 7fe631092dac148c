"""The resident's photo: checked when the input is read, decoded in memory when the card is drawn.

The photo is read from the path the input names and never copied anywhere: no
temporary file, no cache, nothing in the city folder.  Its only copies are the card
artwork (front.png, front.svg).  Error messages never repeat the path (it often holds
the resident's name).
"""

from __future__ import annotations

import io
from pathlib import Path

from PIL import Image, ImageOps

#: Formats an enrolment camera or a scanner writes; anything else is refused at reading time.
FORMATS = {"JPEG", "PNG", "WEBP", "TIFF"}
MAX_PIXELS = 40_000_000  # a 40 MP photo is already far more than a 20 mm card photo needs
MIN_SIDE = 100


class PhotoError(ValueError):
    """The photo cannot be used; the message names no path or value."""


#: A photo file, or its bytes (an enrolment system's API call, a reissue from the records vault).
PhotoSource = Path | bytes


def check_photo(path: PhotoSource) -> None:
    """Cheap checks from the file's header: it exists, is readable, is an image of a usable kind and size."""
    try:
        with _open(path) as image:
            if image.format not in FORMATS:
                raise PhotoError("photo is not a JPEG, PNG, WebP or TIFF image")
            width, height = image.size
    except FileNotFoundError:
        raise PhotoError("photo file does not exist") from None
    except PermissionError:
        raise PhotoError("photo file cannot be read (permissions)") from None
    except IsADirectoryError:
        raise PhotoError("photo names a folder, not an image file") from None
    except (OSError, Image.DecompressionBombError, ValueError) as exc:
        if isinstance(exc, PhotoError):
            raise
        raise PhotoError("photo is not a readable image") from None
    if width * height > MAX_PIXELS:
        raise PhotoError(f"photo is larger than {MAX_PIXELS // 1_000_000} megapixels")
    if min(width, height) < MIN_SIDE:
        raise PhotoError(f"photo is smaller than {MIN_SIDE} pixels on a side")


def card_photo(path: PhotoSource, size: tuple[int, int]) -> Image.Image:
    """The photo as a grey image of exactly ``size``, cropped to its centre (a portrait keeps its head)."""
    try:
        with _open(path) as image:
            image.draft("L", size)  # JPEG: decode at 1/2..1/8 scale (still at least ``size``), much cheaper
            grey = image.convert("L")
            ImageOps.exif_transpose(grey, in_place=True)  # a phone's portrait photo stays upright
    except FileNotFoundError:
        raise PhotoError("photo file disappeared after the input was read") from None
    except (OSError, Image.DecompressionBombError, ValueError, SyntaxError):
        raise PhotoError("photo file is damaged or truncated") from None
    # BOX (area averaging): the photo is at most 2x the box after draft(), and BOX is the cheapest good downscale.
    return ImageOps.fit(grey, size, Image.Resampling.BOX, centering=(0.5, 0.4))


def _open(path: PhotoSource) -> Image.Image:
    return Image.open(io.BytesIO(path) if isinstance(path, bytes) else path, formats=sorted(FORMATS | {"GIF", "BMP"}))  # GIF, BMP: opened to be refused by name
