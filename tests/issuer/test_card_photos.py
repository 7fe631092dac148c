"""Photos and printability in a batch: the photo column, its row errors, required photos, glyphs no font has."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest
from PIL import Image

from issuer import Issuer, cards
from issuer.config import default_config, from_json, to_json
from issuer.demo import sample_portrait
from issuer_samples import NOW, PEOPLE

REPO = Path(__file__).resolve().parents[2]


def city(tmp_path: Path, **settings) -> Issuer:
    config = replace(default_config("https://id.example.gov", insecure_demo=True), **settings)
    return Issuer.init(tmp_path / "city", insecure_demo=True, now=NOW, config=config)


def csv(path: Path, rows: list[dict]) -> Path:
    header = ["given_name", "family_name", "birthdate", "photo"]
    path.write_text("\n".join([",".join(header)] + [",".join(r.get(h, "") for h in header) for r in rows]) + "\n",
                    "utf-8")
    return path


def photo_pixels(folder: Path) -> Image.Image:
    x, y, w, h = cards.PHOTO_BOX
    return Image.open(folder / "front.png").convert("L").crop((x, y, x + w, y + h))


def _covered(box: Image.Image) -> float:
    """The share of the photo box that is not paper."""
    return sum(1 for v in box.tobytes() if v < 240) / (box.width * box.height)


def test_photos_are_printed_from_paths_relative_to_the_input(tmp_path):
    inputs = tmp_path / "input"
    (inputs / "photos").mkdir(parents=True)
    sample_portrait(inputs / "photos" / "ana.jpg", 1)
    Image.open(sample_portrait(tmp_path / "dmitri.jpg", 2)).save(inputs / "photos" / "dmitri.png", "PNG")
    rows = [{**PEOPLE[0], "photo": "photos/ana.jpg"}, {**PEOPLE[1], "photo": str(inputs / "photos" / "dmitri.png")},
            dict(PEOPLE[2])]  # no photo: allowed unless city.json requires one
    with city(tmp_path) as c:
        report = c.issue_batch(csv(inputs / "people.csv", rows), tmp_path / "out", now=NOW, workers=1, progress=False)
    assert report.ok and report.issued == 3
    covered = sorted(_covered(photo_pixels(f)) for f in (tmp_path / "out").iterdir())
    assert covered[0] < 0.1 and covered[1] > 0.9 and covered[2] > 0.9  # the frame of "no photo", and two photos


@pytest.mark.parametrize("make, reason", [
    (lambda p: None, "photo file does not exist"),
    (lambda p: p.write_text("not an image"), "photo is not a readable image"),
    (lambda p: p.mkdir(), "photo names a folder, not an image file"),
    (lambda p: Image.new("L", (40, 50)).save(p, "JPEG"), "photo is smaller than 100 pixels on a side"),
    (lambda p: Image.new("L", (300, 400)).save(p, "GIF"), "photo is not a JPEG, PNG, WebP or TIFF image"),
])
def test_a_named_photo_that_cannot_be_used_is_a_row_error(tmp_path, make, reason):
    path = tmp_path / "Ana Pérez Quispe.jpg"  # a path often names the resident: it must not be in the reason
    make(path)
    rows = [{**PEOPLE[0], "photo": str(path)}, dict(PEOPLE[1])]
    with city(tmp_path) as c:
        report = c.issue_batch(csv(tmp_path / "people.csv", rows), tmp_path / "out", now=NOW, workers=1, progress=False)
    assert report.issued == 1 and report.failed == [(2, reason)]


def test_a_damaged_photo_is_a_row_error_and_the_fixed_row_is_issued_once(tmp_path):
    path = sample_portrait(tmp_path / "ana.jpg", 3)
    good = path.read_bytes()
    path.write_bytes(good[: len(good) // 2])  # the header reads, the picture does not
    people = csv(tmp_path / "people.csv", [{**PEOPLE[0], "photo": str(path)}, dict(PEOPLE[1])])
    with city(tmp_path) as c:
        first = c.issue_batch(people, tmp_path / "out", now=NOW, workers=1, progress=False)
        assert first.issued == 1 and first.failed == [(2, "photo file is damaged or truncated")]
        path.write_bytes(good)
        second = c.issue_batch(people, tmp_path / "out", now=NOW, workers=1, progress=False)
    assert second.ok and second.issued == 1 and second.already_issued == 1
    assert len(list((tmp_path / "out").iterdir())) == 2


def test_a_city_may_require_photos(tmp_path):
    photo = sample_portrait(tmp_path / "ana.jpg", 1)
    rows = [{**PEOPLE[0], "photo": str(photo)}, dict(PEOPLE[1])]
    with city(tmp_path, require_photo=True) as c:
        report = c.issue_batch(csv(tmp_path / "people.csv", rows), tmp_path / "out", now=NOW, workers=1, progress=False)
        assert report.failed == [(3, "photo is missing (city.json requires a photo on every card)")]
        with pytest.raises(Exception, match="photo is missing"):
            c.issue_card(PEOPLE[1], now=NOW)


def test_a_character_no_card_font_has_is_a_row_error_unless_the_city_allows_it(tmp_path):
    rows = [{**PEOPLE[0], "family_name": "Pérez \U00010000"}]  # Linear B: no Noto font of the chain has it
    people = tmp_path / "people.jsonl"
    people.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), "utf-8")
    with city(tmp_path / "a") as c:
        report = c.issue_batch(people, tmp_path / "out-a", now=NOW, workers=1, progress=False)
    assert report.issued == 0 and report.failed[0][1].startswith("family_name has characters no card font can print")
    with city(tmp_path / "b", allow_missing_glyphs=True) as c:
        assert c.issue_batch(people, tmp_path / "out-b", now=NOW, workers=1, progress=False).issued == 1


def test_a_name_too_long_to_print_is_a_row_error(tmp_path):
    people = tmp_path / "people.jsonl"
    people.write_text(json.dumps({**PEOPLE[0], "given_name": "Maria " * 80}) + "\n", "utf-8")
    with city(tmp_path, max_name_length=500) as c:
        report = c.issue_batch(people, tmp_path / "out", now=NOW, workers=1, progress=False)
    assert report.failed == [(1, "given name is too long to print on the card, even in small letters on several lines")]


def test_the_old_card_font_setting_becomes_the_first_extra_font():
    text = json.loads(to_json(default_config("https://id.example.gov")))
    del text["card_fonts"]
    text["card_font"] = "/usr/share/fonts/truetype/noto/NotoSerif-Regular.ttf"
    assert from_json(json.dumps(text)).card_fonts == ("/usr/share/fonts/truetype/noto/NotoSerif-Regular.ttf",)


def test_the_photo_goes_only_into_the_card(tmp_path):
    """The CLI's batch (two workers) leaves the photo in the card artwork only: no copy in the city folder, no
    temporary file, nothing else in the output folder."""
    photo = sample_portrait(tmp_path / "ana.jpg", 4)
    people = csv(tmp_path / "people.csv", [{**p, "photo": str(photo)} for p in PEOPLE[:4]])
    city_dir, out, scratch = tmp_path / "city", tmp_path / "out", tmp_path / "tmp"
    scratch.mkdir()
    Issuer.init(city_dir, insecure_demo=True).close()
    env = {**os.environ, "PYTHONPATH": str(REPO), "TMPDIR": str(scratch)}
    before = {p.relative_to(city_dir) for p in city_dir.rglob("*")}
    done = subprocess.run([sys.executable, "-m", "issuer.cli", "issue", str(city_dir), "--input", str(people),
                           "--out", str(out), "--workers", "2", "--no-progress"], env=env, capture_output=True,
                          timeout=120)
    assert done.returncode == 0, done.stderr
    assert list(scratch.iterdir()) == []
    new = {p.relative_to(city_dir) for p in city_dir.rglob("*")} - before
    assert all(not str(p).lower().endswith((".jpg", ".jpeg", ".png")) for p in new)
    head = photo.read_bytes()[:64]
    for path in city_dir.rglob("*"):
        assert not path.is_file() or head not in path.read_bytes()
    for folder in out.iterdir():
        assert sorted(p.name for p in folder.iterdir()) == ["back.png", "back.svg", "culture.txt", "front.png",
                                                           "front.svg", "id.txt", "rx.txt"]
        assert _covered(photo_pixels(folder)) > 0.9


def test_reprint_draws_the_photo_again_and_names_a_missing_one(tmp_path):
    photo = sample_portrait(tmp_path / "ana.jpg", 1)
    rows = [{**PEOPLE[0], "photo": str(photo)}, dict(PEOPLE[1]), {**PEOPLE[2], "birthdate": "2999-01-01"}]
    people = csv(tmp_path / "people.csv", rows)  # the bad row keeps the batch open, so it can be reprinted
    with city(tmp_path) as c:
        assert c.issue_batch(people, tmp_path / "out", now=NOW, workers=1, progress=False).issued == 2
        reprint = c.reprint(people, tmp_path / "again", now=NOW, workers=1, progress=False)
        assert sum(reprint.reprinted.values()) == 2
        assert sorted(_covered(photo_pixels(f)) > 0.9 for f in (tmp_path / "again").iterdir()) == [False, True]
        photo.unlink()
        reprint = c.reprint(people, tmp_path / "third", now=NOW, workers=1, progress=False)
    assert reprint.skipped[0] == (2, "photo file does not exist") and len(reprint.skipped) == 2
