"""Photos of real cards, simulated with Pillow: the issuer's print PNGs as a phone or webcam sees them.

A :class:`Capture` describes one shot: resolution (pixels per QR module), tilt, in-plane
rotation, uneven light, low contrast, blur, sensor noise and JPEG compression, applied in that order
(optics and geometry first, then the sensor, then the encoder).
"""

from __future__ import annotations

import io
import math
import random
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from PIL import Image, ImageChops, ImageFilter

TABLE = 120  # grey of the desk around the card
MARGIN = 0.2  # desk visible around the card, as a share of its width


@dataclass(frozen=True)
class Capture:
    px_per_module: float = 4.0  # capture resolution at the QR code
    tilt: float = 0.0  # degrees out of plane (the card not parallel to the lens)
    rotation: float = 0.0  # degrees in plane
    light: float = 1.0  # brightness at the darker edge (1.0 = even light)
    contrast: float = 1.0  # share of the print's contrast left (glare, a faded print, a grey sensor)
    blur: float = 0.0  # Gaussian sigma in captured pixels (focus, hand shake)
    noise: float = 0.0  # sensor noise sigma in grey levels
    jpeg: int | None = None  # JPEG quality, None = lossless

    def describe(self) -> str:
        parts = [f"{self.px_per_module:.1f} px/module"]
        if self.tilt:
            parts.append(f"tilt {self.tilt:.0f}°")
        if self.rotation:
            parts.append(f"rotated {self.rotation:.0f}°")
        if self.light < 1:
            parts.append(f"light down to {self.light:.0%}")
        if self.contrast < 1:
            parts.append(f"contrast {self.contrast:.0%}")
        if self.blur:
            parts.append(f"blur σ {self.blur:.1f} px")
        if self.noise:
            parts.append(f"noise σ {self.noise:.0f}")
        if self.jpeg:
            parts.append(f"JPEG q{self.jpeg}")
        return ", ".join(parts)


@dataclass(frozen=True)
class PrintedFace:
    """One side of a printed card, the QR text it carries and its module size in the print PNG."""

    image: Image.Image
    text: str
    module_px: float
    purpose: str
    #: Every code printed on this side (the back carries culture and rx), text -> the desk that reads it.
    purposes: dict[str, str] = field(default_factory=dict)

    def desk_for(self, text: str) -> str | None:
        """The purpose that reads ``text`` if this side carries it."""
        return (self.purposes or {self.text: self.purpose}).get(text)


def photograph(face: PrintedFace, shot: Capture, rng: random.Random) -> bytes:
    """The file a camera would deliver for this shot: JPEG at the shot's quality, else PNG."""
    out = io.BytesIO()
    image = render(face, shot, rng)
    if shot.jpeg:
        image.save(out, "JPEG", quality=shot.jpeg)
    else:
        image.save(out, "PNG", compress_level=1)
    return out.getvalue()


def render(face: PrintedFace, shot: Capture, rng: random.Random) -> Image.Image:
    """The image (mode L) before the camera encodes it."""
    card = face.image
    scale = shot.px_per_module / face.module_px
    card = card.resize((max(1, round(card.width * scale)), max(1, round(card.height * scale))), Image.BOX)
    pad = round(card.width * MARGIN)
    scene = Image.new("L", (card.width + 2 * pad, card.height + 2 * pad), TABLE)
    scene.paste(card, (pad, pad))
    if shot.tilt:
        scene = _tilt(scene, shot.tilt, horizontal=rng.random() < 0.5, flip=rng.random() < 0.5)
    if shot.rotation:
        scene = scene.rotate(shot.rotation, Image.BILINEAR, expand=True, fillcolor=TABLE)
    if shot.light < 1:
        scene = _uneven_light(scene, shot.light, rng.uniform(0, 360))
    if shot.contrast < 1:
        scene = scene.point(lambda p: round(128 + (p - 128) * shot.contrast))
    if shot.blur:
        scene = scene.filter(ImageFilter.GaussianBlur(shot.blur))
    if shot.noise:
        noise = Image.effect_noise(scene.size, shot.noise)  # Gaussian around 128
        scene = ImageChops.add(scene, noise, 1.0, -128)
    return scene


def _tilt(image: Image.Image, degrees: float, horizontal: bool, flip: bool) -> Image.Image:
    """Pinhole view of the image plane turned by ``degrees`` about its vertical (or horizontal) axis."""
    w, h = image.size
    distance = 2.5 * max(w, h)  # the lens about 2.5 card-widths away
    theta = math.radians(degrees) * (-1 if flip else 1)

    def project(x: float, y: float) -> tuple[float, float]:
        u, v = (x - w / 2, y - h / 2) if not horizontal else (y - h / 2, x - w / 2)
        z = distance + u * math.sin(theta)
        pu, pv = distance * u * math.cos(theta) / z, distance * v / z
        px, py = (pu, pv) if not horizontal else (pv, pu)
        return px + w / 2, py + h / 2

    corners = [(0, 0), (w, 0), (w, h), (0, h)]
    projected = [project(x, y) for x, y in corners]
    # Image.transform maps output pixels to input pixels: solve for projected -> original.
    return image.transform((w, h), Image.PERSPECTIVE, _perspective_coefficients(projected, corners),
                           Image.BILINEAR, fillcolor=TABLE)


def _perspective_coefficients(source: list[tuple[float, float]], target: list[tuple[float, float]]) -> list[float]:
    """The 8 coefficients mapping each ``source`` point to its ``target`` point (Gaussian elimination)."""
    rows = []
    for (x, y), (u, v) in zip(source, target):
        rows.append([x, y, 1, 0, 0, 0, -u * x, -u * y, u])
        rows.append([0, 0, 0, x, y, 1, -v * x, -v * y, v])
    n = 8
    for col in range(n):
        pivot = max(range(col, n), key=lambda r: abs(rows[r][col]))
        rows[col], rows[pivot] = rows[pivot], rows[col]
        for r in range(n):
            if r != col:
                factor = rows[r][col] / rows[col][col]
                rows[r] = [a - factor * b for a, b in zip(rows[r], rows[col])]
    return [rows[i][n] / rows[i][i] for i in range(n)]


def _uneven_light(image: Image.Image, darkest: float, direction: float) -> Image.Image:
    """Brightness falling linearly from 100% to ``darkest`` across the image, in any direction."""
    gradient = Image.linear_gradient("L").rotate(direction, Image.BILINEAR, expand=False, fillcolor=128)
    gradient = gradient.resize(image.size, Image.BILINEAR)
    low = round(255 * darkest)
    gradient = gradient.point(lambda p: low + (255 - low) * p // 255)
    return ImageChops.multiply(image, gradient)


# -- real cards ---------------------------------------------------------------------------------------


def issued_cards(count: int, tmp: Path) -> tuple[list[PrintedFace], Path]:
    """Cards from a real demo city (issuer.Issuer): their front and back PNGs, and its trust publication."""
    from issuer import Issuer

    rng = random.Random(11)
    faces = []
    with Issuer.init(tmp / "city", insecure_demo=True) as city:
        for i in range(count):
            person = {"given_name": rng.choice(["Ana María", "Дмитрий", "فاطمة", "Nguyễn Thị Thu Hằng", "Zoë"]),
                      "family_name": rng.choice(["Pérez Quispe", "Коваленко", "Hernandez Lopez", "Ó Súilleabháin"]),
                      "birthdate": f"19{rng.randrange(30, 99)}-0{rng.randrange(1, 10)}-1{rng.randrange(0, 10)}",
                      "museum_tier": "gold", "rx_eligible": True}
            card = city.issue_card(person, out_dir=tmp / "cards")
            sides = {"front": {card.faces["id"]: "bank"},
                     "back": {card.faces["culture"]: "museum", card.faces["rx"]: "pharmacy"}}
            for (side, codes), face in zip(sides.items(), ("id", "culture")):
                image = Image.open(card.folder / f"{side}.png").convert("L")
                faces.append(PrintedFace(image, card.faces[face], _module_px(image, card.faces[face]),
                                         codes[card.faces[face]], codes))
        publication = city.publish(tmp / "publication")
    return faces, Path(publication)


def _module_px(image: Image.Image, text: str) -> float:
    """Pixels per QR module in the print PNG, measured on the decoded symbol."""
    import segno
    import zxingcpp

    for barcode in zxingcpp.read_barcodes(image, formats=zxingcpp.BarcodeFormat.QRCode):
        if barcode.text == text:
            p = barcode.position
            side = math.dist((p.top_left.x, p.top_left.y), (p.top_right.x, p.top_right.y))
            modules = segno.make(text, error="q", micro=False, boost_error=False).symbol_size(border=0)[0]
            return (side + 1) / modules
    raise RuntimeError("the issuer's card PNG does not decode")


def sample_cards(count: int) -> tuple[list[PrintedFace], Path, tempfile.TemporaryDirectory]:
    """Real issued cards (kept in a temporary folder the caller cleans up)."""
    tmp = tempfile.TemporaryDirectory()
    faces, publication = issued_cards(count, Path(tmp.name))
    return faces, publication, tmp


