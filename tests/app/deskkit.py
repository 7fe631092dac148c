"""Helpers for the app tests (a unique module name: every test folder has its own conftest)."""

from __future__ import annotations

import io
from pathlib import Path

from PIL import Image

YEAR = 365 * 86400
REVOKED_IDX, SUSPENDED_IDX = 9, 11

#: People for the issuer-made city; their values must never show up in the app's logs or files.
PEOPLE = {
    "valid": {"given_name": "Zofia", "family_name": "Wiśniewska-Obi", "birthdate": "1951-04-17", "museum_tier": "gold", "rx_eligible": True},
    "revoked": {"given_name": "Tomasz", "family_name": "Halvorsen", "birthdate": "1984-12-02", "museum_tier": "silver"},
}


def qr_png(text: str, scale: int = 6) -> bytes:
    """A plain QR code image of ``text`` (segno), as a phone photo would show it."""
    import segno

    buffer = io.BytesIO()
    segno.make(text, error="q", micro=False).save(buffer, kind="png", scale=scale, border=4)
    return buffer.getvalue()


def write_y4m(picture: Path, out: Path, *, width: int = 800, frames: int = 10, fps: int = 10) -> Path:
    """A card photo as a short I420 video, letterboxed on grey like a card held up to a webcam."""
    card = Image.open(picture).convert("RGB")
    height = width * 3 // 4 // 2 * 2
    scale = min(width * 0.9 / card.width, height * 0.9 / card.height)
    card = card.resize((int(card.width * scale), int(card.height * scale)), Image.LANCZOS)
    frame = Image.new("RGB", (width, height), (90, 90, 90))
    frame.paste(card, ((width - card.width) // 2, (height - card.height) // 2))
    return write_y4m_frames(frame, out, frames=frames, fps=fps)


def write_y4m_frames(frame: Image.Image, out: Path, *, frames: int = 10, fps: int = 10) -> Path:
    """One camera frame, exactly as given (no scaling), repeated as an I420 video for Chromium's fake camera."""
    width, height = frame.size
    y, cb, cr = frame.convert("RGB").convert("YCbCr").split()
    half = (width // 2, height // 2)
    planes = y.tobytes() + cb.resize(half, Image.BILINEAR).tobytes() + cr.resize(half, Image.BILINEAR).tobytes()
    with open(out, "wb") as handle:
        handle.write(f"YUV4MPEG2 W{width} H{height} F{fps}:1 Ip A1:1 C420jpeg\n".encode("ascii"))
        for _ in range(frames):
            handle.write(b"FRAME\n" + planes)
    return out
