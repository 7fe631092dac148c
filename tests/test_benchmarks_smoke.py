"""The benchmark harness runs end to end with tiny counts (no timing is asserted: speed is never a test)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))  # benchmarks/ is a top-level folder, not an installed package

from benchmarks import report, timing  # noqa: E402


def test_timing_helpers():
    runs = timing.interleaved({"a": lambda: None, "b": lambda: sum(range(10))}, number=3, repeat=4)
    assert set(runs) == {"a", "b"} and all(len(v) == 4 and min(v) >= 0 for v in runs.values())
    stats = timing.Stats.of([3.0, 1.0, 2.0])
    assert (stats.median, stats.min, stats.max, stats.runs) == (2.0, 1.0, 3.0, 3)
    assert timing.ratios([2.0, 4.0], [1.0, 2.0]).median == 2.0
    info = timing.machine()
    assert info["cores"] and info["python"] and "cryptography" in info["libraries"]


@pytest.mark.parametrize("name", ["verify", "qr_size", "statuslist", "app", "keys"])
def test_cheap_families_run(name):
    import importlib

    family = importlib.import_module(f"benchmarks.{name}").run("smoke")
    assert family.rows, family.notes
    assert report.markdown([family]).count("|") > 8
    json.dumps(family.as_dict())  # JSON-ready


def test_verify_rows_name_the_floor_and_the_peer():
    from benchmarks import verify

    names = [row.name for row in verify.run("smoke").rows]
    assert any("floor" in n for n in names) and any("ours / floor" in n for n in names)
    assert any("sd-jwt" in n for n in names)


@pytest.mark.parametrize("name", ["issuance", "robustness", "scale"])
def test_issuer_families_run(name):
    pytest.importorskip("issuer")
    pytest.importorskip("zxingcpp")
    import importlib

    family = importlib.import_module(f"benchmarks.{name}").run("smoke")
    assert family.rows, family.notes


def test_scene_photograph_decodes():
    pytest.importorskip("zxingcpp")
    pytest.importorskip("issuer")
    import random

    from benchmarks.scenes import Capture, photograph, sample_cards
    from verifier_sdk.imaging import decode_image

    faces, _, tmp = sample_cards(1)
    with tmp:
        face = faces[0]
        assert decode_image(photograph(face, Capture(rotation=30, tilt=10, light=0.6, blur=0.5, noise=4, jpeg=80), random.Random(1))) == face.text


def test_main_writes_json(tmp_path, monkeypatch):
    from benchmarks import __main__ as cli
    from benchmarks import qr_size  # noqa: F401  (imported before its counts are patched)

    monkeypatch.setattr(cli, "FAMILIES", ("qr_size",))
    monkeypatch.setitem(sys.modules["benchmarks.qr_size"].COUNTS, "quick", 1)
    out = tmp_path / "bench.json"
    assert cli.main(["--quick", "--json", str(out)]) == 0
    document = json.loads(out.read_text())
    assert document["machine"]["cpu"] and "qr_size" in document["families"]


@pytest.mark.parametrize("name", ["camera", "serve"])
def test_desk_families_run(name):
    """The camera family drives the desk page's decoder in Chromium; serve starts real servers."""
    from benchmarks import camera, serve

    family = {"camera": camera, "serve": serve}[name].run("smoke")
    assert family.rows, family.notes
    if name == "camera":
        page = next(row for row in family.rows if row.name.startswith("desk page: zxing-wasm"))
        assert 0 <= page.value <= 100 and page.met is not None
    json.dumps(family.as_dict())
