"""Figure 7: the desk page's camera decoder (zxing-wasm in Chromium) beside the server's zxing-cpp, on the same frames.

Each sample is one webcam frame (1920x1080, JPEG as webcams deliver MJPEG) of a real issued
card (``scenes``), degraded beyond arm's length on purpose: 2-5 px per QR module, in-plane
rotation and tilt up to 20°, blur, sensor noise, JPEG quality 40-90, uneven light and low
contrast, drawn together per frame.  The browser side loads the real desk page from a real
app server in Debian's Chromium and calls the page's own ``cityidCamera.decodeFrame`` (the
function the live camera loop calls) on each frame; the server side is
``verifier_sdk.imaging.decode_image``.  A sample succeeds when the exact QR text comes back.
"""

from __future__ import annotations

import base64
import io
import os
import random
import shutil
import tempfile
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING

from .report import Family, Row
from .timing import Stats

if TYPE_CHECKING:
    from .scenes import Capture, PrintedFace

GOAL_POINTS = 3.0  # the page within 3 points of the server
FRAME = (1920, 1080)  # a 1080p webcam
CHROMIUM = os.environ.get("CITYID_CHROMIUM", "/usr/bin/chromium")
COUNTS = {"smoke": (4, 1), "quick": (60, 3), "full": (200, 5)}  # frames, cards

# Every variant decodes the same frame: (label, width the frame is drawn at or None for full, scale).
_DECODE_ALL = """async ([b64, oldWidth]) => {
  const bytes = Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
  const frame = await createImageBitmap(new Blob([bytes], { type: "image/jpeg" }));
  const camera = window.cityidCamera, out = {};
  const run = async (name, width, height, scale) => {
    const started = performance.now();
    out[name] = await camera.decodeFrame(frame, width, height, scale);
    out[name + "_ms"] = performance.now() - started;
  };
  await run("full", frame.width, frame.height, 1);
  await run("enlarged", frame.width, frame.height, 2);
  await run("shrunk", oldWidth, Math.round(frame.height * oldWidth / frame.width), 1);
  return out;
}"""


def degraded(rng: random.Random) -> "Capture":
    """One frame drawn from the issue's degraded envelope (wider than arm's length in every direction)."""
    from .scenes import Capture

    return Capture(px_per_module=rng.uniform(2.0, 5.0), tilt=rng.uniform(0, 20), rotation=rng.uniform(-20, 20),
                   light=rng.uniform(0.5, 1.0), contrast=rng.uniform(0.4, 1.0), blur=rng.uniform(0, 1.2),
                   noise=rng.uniform(0, 12), jpeg=rng.randrange(40, 91))


def webcam_frame(face: "PrintedFace", shot: "Capture", rng: random.Random, size: tuple[int, int] = FRAME) -> bytes:
    """The card scene centred in a full webcam frame (cropped if it is larger), as the camera's JPEG."""
    from PIL import Image

    from .scenes import TABLE, render

    scene = render(face, shot, rng)
    frame = Image.new("L", size, TABLE)
    frame.paste(scene, ((size[0] - scene.width) // 2, (size[1] - scene.height) // 2))
    out = io.BytesIO()
    frame.save(out, "JPEG", quality=shot.jpeg or 90)
    return out.getvalue()


def _desk_server(publication: Path, base: Path):  # type: ignore[no-untyped-def]
    """The real desk app on 127.0.0.1 (werkzeug's server in a thread), trusting ``publication``."""
    from werkzeug.serving import make_server

    from verifier_sdk.app import create_app

    trust = base / "trust"
    shutil.copytree(publication, trust)
    app = create_app({"TESTING": True, "TRUST_DIR": str(trust), "ROOT_KEY": str(publication / "root-key.pem"),
                      "PURPOSE": "bank"}, instance_path=str(base / "instance"))
    server = make_server("127.0.0.1", 0, app, threaded=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def run(mode: str) -> Family:
    frames, cards = COUNTS[mode]
    family = Family("camera", "Camera: the desk page's zxing-wasm decoder in Chromium beside the server's zxing-cpp, same frames")
    try:
        import zxingcpp  # noqa: F401
        from playwright.sync_api import sync_playwright

        from .scenes import sample_cards
    except ImportError as exc:
        family.notes.append(f"needs the issuer, zxing-cpp, Pillow and Playwright ({exc})")
        return family
    if not Path(CHROMIUM).exists():
        family.notes.append(f"needs Chromium at {CHROMIUM} (apt-get install chromium)")
        return family
    from verifier_sdk.imaging import decode_image

    faces, publication, tmp = sample_cards(cards)
    rng = random.Random(12)
    samples = []
    for i in range(frames):
        face, shot = faces[i % len(faces)], degraded(rng)
        samples.append((face, shot, webcam_frame(face, shot, rng)))
    hits: dict[str, list[bool]] = {"server": [], "full": [], "enlarged": [], "shrunk": [], "page": []}
    times: dict[str, list[float]] = {"server": [], "full": [], "enlarged": [], "shrunk": []}
    with tmp, tempfile.TemporaryDirectory() as base, sync_playwright() as playwright:
        server = _desk_server(publication, Path(base))
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True,
                                             args=["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"])
        try:
            page = browser.new_page()
            page.goto(f"http://127.0.0.1:{server.server_port}/")
            page.wait_for_load_state()  # (deferred scripts have run: the page's decoder is there)
            page.evaluate(_DECODE_ALL, [base64.b64encode(samples[0][2]).decode(), 960])  # warm: fetch and compile the wasm
            for face, shot, jpeg in samples:  # interleaved: server, then the page, frame by frame
                started = time.perf_counter()
                try:
                    text = decode_image(jpeg)
                except Exception:  # MalformedError: nothing found
                    text = None
                times["server"].append(1e3 * (time.perf_counter() - started))
                hits["server"].append(text == face.text)
                out = page.evaluate(_DECODE_ALL, [base64.b64encode(jpeg).decode(), 960])
                for name in ("full", "enlarged", "shrunk"):
                    hits[name].append(out[name] == face.text)
                    times[name].append(out[name + "_ms"])
                hits["page"].append(hits["full"][-1] or hits["enlarged"][-1])
        finally:
            browser.close()
            server.shutdown()
    rate = {name: 100 * sum(v) / len(v) for name, v in hits.items()}
    gap = rate["server"] - rate["page"]
    family.rows.append(Row(f"server: zxing-cpp, verifier_sdk.imaging ({frames} frames)", round(rate["server"], 1), "%",
                           note="full frame, then 2x enlarged if nothing found", headline=True))
    family.rows.append(Row("desk page: zxing-wasm, full frame and every 4th frame 2x (as the live loop)", round(rate["page"], 1), "%",
                           goal=f"within {GOAL_POINTS:g} points of the server", met=gap <= GOAL_POINTS,
                           note=f"{abs(gap):.1f} points {'behind' if gap > 0 else 'ahead of'} the server" if gap else "same as the server",
                           headline=True))
    family.rows.append(Row("desk page: one full-resolution frame only", round(rate["full"], 1), "%"))
    family.rows.append(Row("desk page: frame shrunk to 960 px wide (the old desk.js)", round(rate["shrunk"], 1), "%"))
    noisy = [i for i, (_, shot, _) in enumerate(samples) if shot.noise >= 8]
    if noisy:
        family.rows.append(Row(f"noise σ >= 8 ({len(noisy)} frames): page / server",
                               f"{100 * sum(hits['page'][i] for i in noisy) / len(noisy):.0f}% / "
                               f"{100 * sum(hits['server'][i] for i in noisy) / len(noisy):.0f}%"))
    for name, label in (("full", "page, full 1080p frame"), ("enlarged", "page, 2x enlarged frame"),
                        ("shrunk", "page, 960 px frame"), ("server", "server, decode_image")):
        family.rows.append(Row(f"decode time per frame: {label}", Stats.of(times[name]), "ms"))
    family.details["failures"] = {name: [samples[i][1].describe() for i, ok in enumerate(v) if not ok][:20]
                                  for name, v in hits.items()}
    family.notes.append("frames: 1920x1080 JPEG q40-90, 2-5 px/module, rotation ±20°, tilt <= 20°, blur σ <= 1.2 px, "
                        "noise σ <= 12, light down to 50%, contrast down to 40%; real issued cards, id and culture faces")
    return family
