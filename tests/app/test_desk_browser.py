"""The desk page in a real Chromium (Debian's, driven by Playwright): scanner, photo upload and live camera.

Skipped only outside CI when /usr/bin/chromium is missing; in CI (``CI`` set) a missing browser fails.
Screenshots of a valid and an invalid result go to test-artifacts/.
"""

from __future__ import annotations

import os
import shutil
import threading
from pathlib import Path
from urllib.parse import quote_plus

import pytest

from deskkit import write_y4m

CHROMIUM = os.environ.get("CITYID_CHROMIUM", "/usr/bin/chromium")
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
         "--disable-sync", "--no-first-run", "--disable-quic"]
FAKE_CAMERA = ["--use-fake-device-for-media-stream", "--use-fake-ui-for-media-stream"]
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"

pytestmark = pytest.mark.browser

if not os.environ.get("CI") and not Path(CHROMIUM).exists():
    pytest.skip("Debian's chromium is not installed (apt-get install chromium); CI never skips this", allow_module_level=True)


@pytest.fixture(scope="module")
def live_desk(issued_city, tmp_path_factory):
    """The bank desk app on a real server on 127.0.0.1, trusting the issued city."""
    from werkzeug.serving import make_server

    from verifier_sdk.app import create_app

    base = tmp_path_factory.mktemp("browser-desk")
    trust = base / "trust"
    shutil.copytree(issued_city.publication, trust)
    app = create_app({"TESTING": True, "TRUST_DIR": str(trust), "ROOT_KEY": str(issued_city.publication / "root-key.pem"),
                      "PURPOSE": "bank", "RESULT_SECONDS": 4}, instance_path=str(base / "instance"))
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}/"
    server.shutdown()


@pytest.fixture(scope="module")
def playwright():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        yield p


def launch(playwright, extra=(), user_data_dir=None):
    return playwright.chromium.launch(executable_path=CHROMIUM, args=FLAGS + list(extra), headless=True)


@pytest.fixture
def page(playwright):
    browser = launch(playwright)
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    page = context.new_page()
    page.csp_errors = []
    page.on("console", lambda msg: page.csp_errors.append(msg.text) if "Content Security Policy" in msg.text else None)
    yield page
    browser.close()


def card_text(issued_city, who: str, face: str = "id") -> str:
    return (issued_city.folders[who] / f"{face}.txt").read_text().strip()


def test_hand_held_scanner_flow(page, live_desk, issued_city):
    ARTIFACTS.mkdir(exist_ok=True)
    page.goto(live_desk)
    assert page.evaluate("document.activeElement.id") == "qr"  # the scanner types straight in
    page.keyboard.type(card_text(issued_city, "valid"))
    page.keyboard.press("Enter")
    result = page.locator("#result")
    result.wait_for()
    assert result.get_attribute("data-valid") == "true"
    text = result.inner_text()
    assert "VALID" in text and "Wiśniewska-Obi" in text and "1951-04-17" in text
    assert page.evaluate("document.activeElement.id") == "qr"  # ready for the next customer's scan
    page.screenshot(path=str(ARTIFACTS / "result-valid.png"))

    page.keyboard.press("Escape")  # next customer
    page.locator("#result").wait_for(state="detached")  # (the result page already shows the desk's address)
    assert page.locator("#result").count() == 0
    assert page.evaluate("document.activeElement.id") == "qr"

    page.keyboard.type("  " + card_text(issued_city, "revoked") + "  ")
    page.keyboard.press("Enter")
    result.wait_for()
    assert result.get_attribute("data-valid") == "false" and result.get_attribute("data-code") == "revoked"
    assert "NOT VALID" in result.inner_text() and "What to do" in result.inner_text()
    assert "Halvorsen" not in page.content()
    page.screenshot(path=str(ARTIFACTS / "result-invalid.png"))

    # The result clears itself for the next customer (RESULT_SECONDS=4 here).
    page.locator("#result").wait_for(state="detached", timeout=10_000)
    assert page.csp_errors == []


def test_wrong_face_at_a_bank_is_refused(page, live_desk, issued_city):
    page.goto(live_desk)
    page.keyboard.type(card_text(issued_city, "valid", "culture"))
    page.keyboard.press("Enter")
    page.locator("#result").wait_for()
    assert page.locator("#result").get_attribute("data-code") == "purpose_not_satisfied"


def test_photo_upload_flow(page, live_desk, issued_city):
    page.goto(live_desk)
    page.set_input_files("#image", str(issued_city.folders["valid"] / "front.png"))  # submits on choosing
    page.locator("#result").wait_for()
    assert page.locator("#result").get_attribute("data-valid") == "true"
    assert "Zofia" in page.locator("#result").inner_text()
    assert page.csp_errors == []


def test_tablet_portrait_and_keyboard_only(playwright, live_desk, issued_city):
    browser = launch(playwright)
    page = browser.new_page(viewport={"width": 800, "height": 1280}, device_scale_factor=1)
    try:
        page.goto(live_desk)
        page.keyboard.type(card_text(issued_city, "valid"))
        page.keyboard.press("Enter")
        page.locator("#result").wait_for()
        width = page.evaluate("document.documentElement.scrollWidth")
        assert width <= 800  # no sideways scrolling on a tablet in portrait
        box = page.locator("#result .mark").bounding_box()
        assert box["height"] >= 80  # the tick is visible from across the desk
        page.keyboard.press("Escape")
        page.locator("#result").wait_for(state="detached")  # (the result page already shows the desk's address)
        order = []
        for _ in range(4):  # every control is reachable with Tab alone, in reading order
            page.keyboard.press("Tab")
            order.append(page.evaluate("document.activeElement.id || document.activeElement.textContent.trim()"))
        assert order == ["Check", "camera-start", "image", "Check photo"]
    finally:
        browser.close()


def test_live_camera_flow(playwright, live_desk, issued_city, tmp_path):
    video = write_y4m(issued_city.folders["valid"] / "front.png", tmp_path / "card.y4m")
    browser = launch(playwright, FAKE_CAMERA + [f"--use-file-for-fake-video-capture={video}"])
    try:
        context = browser.new_context(viewport={"width": 1280, "height": 800})
        context.grant_permissions(["camera"], origin=live_desk.rstrip("/"))
        page = context.new_page()
        page.goto(live_desk)
        page.click("#camera-start")
        page.locator("#result").wait_for(timeout=30_000)
        assert page.locator("#result").get_attribute("data-valid") == "true"
        assert "Wiśniewska-Obi" in page.locator("#result").inner_text()
        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "result-valid-camera.png"))
    finally:
        browser.close()


def test_browser_profile_keeps_no_claim_values(playwright, live_desk, issued_city, tmp_path):
    """no-store, autocomplete=off, history replaced on reset: the desk browser's profile holds no claim value."""
    from deskkit import PEOPLE

    profile = tmp_path / "profile"
    context = playwright.chromium.launch_persistent_context(str(profile), executable_path=CHROMIUM, args=FLAGS, headless=True)
    try:
        page = context.new_page()
        page.goto(live_desk)
        page.keyboard.type(card_text(issued_city, "valid"))
        page.keyboard.press("Enter")
        page.locator("#result").wait_for()
        page.wait_for_timeout(3000)  # Chromium saves its session (each page's POST body, for reload) every few seconds
        # Chromium's session keeps the *path* of an uploaded file (to re-POST on reload), never its bytes; the
        # issuer names card folders by card number, a clerk's photo is not, so upload it under a plain name.
        photo = tmp_path / "card-photo.png"
        shutil.copyfile(issued_city.folders["valid"] / "front.png", photo)
        page.set_input_files("#image", str(photo))
        page.locator("#result[data-valid='true']").wait_for()
        page.keyboard.press("Escape")
        page.locator("#result").wait_for(state="detached")  # (the result page already shows the desk's address)
    finally:
        context.close()
    person = PEOPLE["valid"]
    values = [person["given_name"], person["family_name"], person["birthdate"], issued_city.cards["valid"].card_number]
    needles = [v.encode(enc) for v in values for enc in ("utf-8", "utf-16-le")]
    scanned = card_text(issued_city, "valid")  # the credential itself, as typed and as the form posted it
    needles += [scanned[5:45].encode(), quote_plus(scanned)[8:48].encode()]
    leaks = [(str(p.relative_to(profile)), n) for p in profile.rglob("*") if p.is_file() for n in needles if n in p.read_bytes()]
    assert leaks == []
