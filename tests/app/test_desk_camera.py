"""The live camera in Chromium: degraded webcam frames of a real issued card, through the fake camera, read VALID.

Each frame is a real card (issuer.Issuer's front PNG) photographed badly on purpose by
``benchmarks.scenes`` (few pixels per module, rotation, tilt, blur, sensor noise, uneven
light, low contrast, JPEG), placed in a full webcam frame and played as a .y4m video by
Chromium's fake camera.  The page decodes it with the vendored zxing-wasm.
"""

from __future__ import annotations

import io
import random

import pytest
from PIL import Image

from deskkit import write_y4m_frames
from test_desk_browser import CHROMIUM, FAKE_CAMERA, launch, live_desk, playwright  # noqa: F401 - fixtures

from benchmarks.scenes import TABLE, Capture, PrintedFace, _module_px, render

pytestmark = pytest.mark.browser

DEGRADED = {
    "3px-tilted-noisy-jpeg60": (Capture(px_per_module=3.0, tilt=15, rotation=12, light=0.6, contrast=0.6, blur=0.8, noise=8, jpeg=60), (1920, 1080)),
    "2.5px-rotated-jpeg45": (Capture(px_per_module=2.5, rotation=-18, noise=12, jpeg=45), (1920, 1080)),
    "4px-tilt20-low-contrast-720p": (Capture(px_per_module=4.0, tilt=20, rotation=5, blur=1.2, light=0.5, contrast=0.45, jpeg=70), (1280, 720)),
}


def webcam_frame(front, text: str, shot: Capture, size: tuple[int, int]) -> Image.Image:
    """The degraded card in a full webcam frame, through the camera's JPEG and back, as the sensor's picture."""
    card = Image.open(front).convert("L")
    scene = render(PrintedFace(card, text, _module_px(card, text), "bank"), shot, random.Random(7))
    frame = Image.new("L", size, TABLE)
    frame.paste(scene, ((size[0] - scene.width) // 2, (size[1] - scene.height) // 2))
    jpeg = io.BytesIO()
    frame.save(jpeg, "JPEG", quality=shot.jpeg or 90)
    return Image.open(io.BytesIO(jpeg.getvalue())).convert("RGB")


@pytest.mark.parametrize("name", sorted(DEGRADED))
def test_degraded_frames_through_the_fake_camera_read_valid(playwright, live_desk, issued_city, tmp_path, name):  # noqa: F811
    shot, size = DEGRADED[name]
    folder = issued_city.folders["valid"]
    frame = webcam_frame(folder / "front.png", (folder / "id.txt").read_text(), shot, size)
    video = write_y4m_frames(frame, tmp_path / "camera.y4m", frames=5)
    browser = launch(playwright, FAKE_CAMERA + [f"--use-file-for-fake-video-capture={video}"])
    try:
        context = browser.new_context(viewport={"width": 1280, "height": 800})
        context.grant_permissions(["camera"], origin=live_desk.rstrip("/"))
        page = context.new_page()
        errors: list[str] = []
        page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
        page.goto(live_desk)
        page.click("#camera-start")
        width = 0
        for _ in range(100):  # (wait_for_function would eval a string, which the page's CSP forbids)
            width = page.evaluate("() => { const v = document.getElementById('camera-video'); return v ? v.videoWidth : -1; }")
            if width:
                break
            page.wait_for_timeout(50)
        assert width in (size[0], -1)  # the page asked for full resolution and got it (-1: already on the result)
        page.locator("#result").wait_for(timeout=30_000)
        assert page.locator("#result").get_attribute("data-valid") == "true"
        assert "Wiśniewska-Obi" in page.locator("#result").inner_text()
        assert errors == []  # no CSP refusal of the wasm, no failed fetch
    finally:
        browser.close()


def test_the_decoder_loads_only_from_this_app(playwright, live_desk):  # noqa: F811
    """The .wasm comes from /static (no CDN) as application/wasm, compiled under the page's CSP."""
    browser = launch(playwright)
    try:
        page = browser.new_page()
        requested: list[tuple[str, str | None]] = []
        page.on("response", lambda r: requested.append((r.url, r.headers.get("content-type"))))
        page.goto(live_desk)
        text = page.evaluate("""async () => {
            const canvas = document.createElement("canvas");
            canvas.width = 64; canvas.height = 64;
            return await window.cityidCamera.decodeFrame(canvas, 64, 64, 1); }""")
        assert text is None  # a blank frame: nothing found, and no error
        wasm = [(url, kind) for url, kind in requested if url.endswith(".wasm")]
        assert wasm == [(live_desk + "static/vendor/zxing-wasm/zxing_reader.wasm", "application/wasm")]
        assert all(url.startswith(live_desk) for url, _ in requested)
    finally:
        browser.close()
