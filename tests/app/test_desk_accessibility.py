"""Accessibility and layout of the desk page in a real Chromium: axe-core on every state, screen readers, 320/800 px.

axe-core is vendored for these tests only (tests/app/vendor/); the app never serves it. Screenshots of each
state and width go to test-artifacts/.
"""

from __future__ import annotations

import os
import shutil
import threading
from pathlib import Path

import pytest

CHROMIUM = os.environ.get("CITYID_CHROMIUM", "/usr/bin/chromium")
AXE = Path(__file__).parent / "vendor" / "axe.min.js"
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"

pytestmark = pytest.mark.browser

if not os.environ.get("CI") and not Path(CHROMIUM).exists():
    pytest.skip("Debian's chromium is not installed (apt-get install chromium); CI never skips this", allow_module_level=True)


def _serve(app):
    from werkzeug.serving import make_server

    server = make_server("127.0.0.1", 0, app, threaded=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


@pytest.fixture(scope="module")
def desks(issued_city, tmp_path_factory):
    """Two bank desks on real servers: one with the city's trust data, one that has never synced."""
    from verifier_sdk.app import create_app

    base = tmp_path_factory.mktemp("a11y-desk")
    shutil.copytree(issued_city.publication, base / "trust")
    root_key = str(issued_city.publication / "root-key.pem")
    servers = {name: _serve(create_app({"TESTING": True, "TRUST_DIR": str(trust), "ROOT_KEY": root_key, "PURPOSE": "bank",
                                        "RESULT_SECONDS": 600}, instance_path=str(base / f"instance-{name}")))
               for name, trust in (("synced", base / "trust"), ("empty", base / "never-synced"))}
    yield {name: f"http://127.0.0.1:{server.server_port}/" for name, server in servers.items()}
    for server in servers.values():
        server.shutdown()


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=["--headless", "--no-sandbox", "--disable-gpu"], headless=True)
        yield browser
        browser.close()


def text_of(issued_city, who: str, face: str) -> str:
    return (issued_city.folders[who] / f"{face}.txt").read_text()


STATES = {
    # state: (desk, who, face)
    "idle": ("synced", None, None),
    "valid": ("synced", "valid", "id"),
    "not_valid": ("synced", "revoked", "id"),
    "cannot_check": ("synced", "valid", "culture"),  # the wrong face at a bank
    "cannot_check_no_trust": ("empty", "valid", "id"),
}


def open_state(browser, desks, issued_city, state: str, language: str, width: int = 1280, height: int = 800):
    desk, who, face = STATES[state]
    # bypass_csp lets the test inject axe-core; the page's own policy is tested elsewhere.
    context = browser.new_context(viewport={"width": width, "height": height}, locale=language, bypass_csp=True)
    page = context.new_page()
    page.goto(desks[desk])
    if who:
        page.fill("#qr", text_of(issued_city, who, face))
        page.press("#qr", "Enter")
        page.locator("#result").wait_for()
    # Measure the page as shown: its stylesheet applied and its fonts (Cyrillic, Arabic...) in place.
    page.wait_for_load_state("load")
    page.evaluate("document.fonts.ready.then(() => true)")
    return context, page


@pytest.mark.parametrize("language", ["en", "ar", "zh-CN"])
@pytest.mark.parametrize("state", list(STATES))
def test_axe_finds_no_serious_or_critical_violation(browser, desks, issued_city, state, language):
    context, page = open_state(browser, desks, issued_city, state, language)
    try:
        expected = {"idle": None, "valid": "valid", "not_valid": "not_valid"}.get(state, "cannot_check")
        if expected:
            assert page.locator("#result").get_attribute("data-state") == expected
        rtl = language in ("ar", "ur")
        assert page.evaluate("document.documentElement.dir") == ("rtl" if rtl else "ltr")
        page.add_script_tag(path=str(AXE))
        results = page.evaluate("axe.run(document, {resultTypes: ['violations']})")
        bad = [(v["id"], v["impact"], [n["target"] for n in v["nodes"]][:3]) for v in results["violations"] if v["impact"] in ("serious", "critical")]
        assert bad == []
        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / f"desk-{state}-{language}.png"), full_page=True)
    finally:
        context.close()


def test_results_are_announced_to_screen_readers(browser, desks, issued_city):
    for state, words in (("valid", "VALID"), ("not_valid", "NOT VALID"), ("cannot_check_no_trust", "CANNOT CHECK")):
        context, page = open_state(browser, desks, issued_city, state, "en")
        try:
            region = page.locator("#announce")
            assert region.get_attribute("aria-live") == "assertive"
            page.wait_for_function("document.getElementById('announce').textContent.length > 0")
            spoken = region.inner_text()
            assert spoken.startswith(words + ".") and "What to do" not in spoken
            assert (state == "valid") or "." in spoken.split(". ", 1)[1]  # the reason and the advice follow
            assert page.title().startswith(words)
            assert page.evaluate("document.activeElement.id") == "qr"  # the scanner can type the next card at once
        finally:
            context.close()


def unbroken_values(page) -> list[dict]:
    """Each claim value: how many lines it takes and whether it overflows its box."""
    return page.evaluate("""[...document.querySelectorAll('.claim dd')].map(el => {
        const range = document.createRange(); range.selectNodeContents(el);
        const lines = new Set([...range.getClientRects()].map(r => Math.round(r.top))).size;
        return {label: el.previousElementSibling.textContent, unbroken: el.classList.contains('unbroken'),
                lines, overflows: el.scrollWidth > el.clientWidth + 1}; })""")


@pytest.mark.parametrize("language", ["en", "ar", "ru"])
@pytest.mark.parametrize(("width", "height"), [(320, 640), (800, 1280)])
def test_values_never_break_at_phone_and_tablet_widths(browser, desks, issued_city, width, height, language):
    """Measured: on an 800 px portrait tablet the birth date and card number wrapped mid-value; 320 px scrolled sideways."""
    context, page = open_state(browser, desks, issued_city, "valid", language, width, height)
    try:
        values = unbroken_values(page)
        assert len(values) == 4
        for value in values:
            assert not value["overflows"], value
            if value["unbroken"]:
                assert value["lines"] == 1, value
        assert sum(v["unbroken"] for v in values) == 2  # date of birth and card number
        assert page.evaluate("document.documentElement.scrollWidth") <= width  # no sideways scrolling
        for selector in ("#verdict", "#next-customer", "#qr"):
            box = page.locator(selector).bounding_box()
            assert box["x"] >= 0 and box["x"] + box["width"] <= width, selector
        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / f"desk-valid-{language}-{width}px.png"), full_page=True)
    finally:
        context.close()


@pytest.mark.parametrize("state", ["not_valid", "cannot_check", "cannot_check_no_trust"])
def test_refusals_fit_a_phone(browser, desks, issued_city, state):
    context, page = open_state(browser, desks, issued_city, state, "ru", 320, 640)
    try:
        wide = page.evaluate("[...document.querySelectorAll('*')].filter(e => e.getBoundingClientRect().right > 321).map(e => e.tagName + '#' + e.id + '.' + e.className + ' ' + Math.round(e.getBoundingClientRect().right) + ' ' + e.textContent.slice(0, 40))")
        assert page.evaluate("document.documentElement.scrollWidth") <= 320, wide
        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / f"desk-{state}-ru-320px.png"), full_page=True)
    finally:
        context.close()
