"""Read the QR text from a photo or scan of a card (PNG or JPEG), with zxing-cpp.

Optional extra: ``pip install cityid[image]``.
"""

from __future__ import annotations

import io
import warnings

from .errors import MalformedError

#: A phone photo is ~12 MP; anything far larger is refused before decoding.
MAX_PIXELS = 40_000_000
MAX_BYTES = 20 * 1024 * 1024
IMAGE_FORMATS = ("PNG", "JPEG")
#: Photos up to this size get a second, 2x enlarged, attempt when nothing is found (webcam frames are ~2 MP).
UPSCALE_MAX_PIXELS = 4_000_000


def decode_image(data: bytes) -> str:
    """The text of the card's QR code in an image.  MalformedError when there is none."""
    try:
        import zxingcpp
        from PIL import Image
    except ImportError as exc:  # pragma: no cover - depends on the install
        raise RuntimeError("image decoding needs the 'image' extra: in the cityid source folder, run pip install '.[image]'") from exc
    if not isinstance(data, (bytes, bytearray)) or not data:
        raise MalformedError("no image received")
    if len(data) > MAX_BYTES:
        raise MalformedError("the image file is too large")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data), formats=IMAGE_FORMATS) as image:
                if image.width * image.height > MAX_PIXELS:
                    raise MalformedError("the image has too many pixels")
                gray = image.convert("L")
    except MalformedError:
        raise
    except (OSError, ValueError, SyntaxError, Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise MalformedError("the file is not a readable PNG or JPEG image") from None
    texts = _read_qr_texts(zxingcpp, gray)
    if not texts and gray.width * gray.height <= UPSCALE_MAX_PIXELS:
        # A webcam at arm's length sees ~3 pixels per module, blurred: zxing often reads it once enlarged.
        texts = _read_qr_texts(zxingcpp, gray.resize((gray.width * 2, gray.height * 2), Image.BILINEAR))
    if not texts:
        raise MalformedError("no QR code found in the image; retake the photo closer, flat and in focus")
    # A photo of a whole card may show both faces; prefer a city credential.
    return next((text for text in texts if text.startswith("CID")), texts[0])


def _read_qr_texts(zxingcpp, gray) -> list[str]:  # type: ignore[no-untyped-def]
    found = zxingcpp.read_barcodes(gray, formats=zxingcpp.BarcodeFormat.QRCode)
    return [barcode.text for barcode in found if barcode.valid and barcode.text]
