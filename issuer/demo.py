"""``cityid-issuer demo DIR``: a throwaway city with fictional residents, one revoked and one expired card.

Layout: ``DIR/city`` (the city folder), ``DIR/cards`` and ``DIR/publication`` beside it, never inside:
a publication is refused inside the city folder.
"""

from __future__ import annotations

import json
import shutil
import sys
from dataclasses import replace
from datetime import datetime, timedelta, timezone
from pathlib import Path

from PIL import Image, ImageDraw, ImageFilter

from .city import Issuer, demo_root_key_path
from .config import CONFIG_FILE, default_config, load
from .errors import IssuerError

#: Fictional people, in several scripts (the card office's batches look like this).
SAMPLE_PEOPLE = [
    {"given_name": "Ana María", "family_name": "Pérez Quispe", "birthdate": "1988-03-14", "museum_tier": "gold", "rx_eligible": True},
    {"given_name": "Дмитрий", "family_name": "Коваленко", "birthdate": "1956-11-02", "museum_tier": "silver"},
    {"given_name": "فاطمة", "family_name": "الحسيني", "birthdate": "2001-07-30", "rx_eligible": True},
    {"given_name": "Thị Lan", "family_name": "Nguyễn", "birthdate": "1979-01-09", "museum_tier": "standard"},
    {"given_name": "Kwame", "family_name": "Mensah", "birthdate": "1949-05-21", "museum_tier": "gold", "rx_eligible": True},
    {"given_name": "Aroha", "birthdate": "2009-10-04", "museum_tier": "student", "gender": "X"},  # one name; 18 in 2027
]
#: A fictional programme's routing numbers (a real city puts its own in city.json).
DEMO_RX_ROUTING = {"rx_bin": "610591", "rx_pcn": "CITYRX", "rx_group": "MUNIRX01"}
EXPIRED_PERSON = {"given_name": "Yael", "family_name": "Ben-David", "birthdate": "1990-09-09"}


def sample_portrait(path: Path, seed: int = 0, size: tuple[int, int] = (600, 800)) -> Path:
    """A fictional portrait (a drawn head and shoulders on a backdrop) as a JPEG, for demos, tests and benchmarks."""
    width, height = size
    tone = 150 + 13 * (seed % 7)
    image = Image.linear_gradient("L").resize(size).point(lambda v: 200 + v // 6).convert("RGB")
    draw = ImageDraw.Draw(image)
    skin = (tone, int(tone * 0.8), int(tone * 0.65))
    draw.ellipse((width * 0.12, height * 0.72, width * 0.88, height * 1.35), fill=(40 + seed * 23 % 120, 60, 90))
    draw.rectangle((width * 0.42, height * 0.55, width * 0.58, height * 0.8), fill=skin)
    draw.ellipse((width * 0.28, height * 0.16, width * 0.72, height * 0.66), fill=skin)
    draw.chord((width * 0.26, height * 0.12, width * 0.74, height * 0.5), 180, 360, fill=(30 + seed * 37 % 80,) * 3)
    for eye in (0.41, 0.59):
        draw.ellipse((width * (eye - 0.03), height * 0.38, width * (eye + 0.03), height * 0.42), fill=(35, 30, 30))
    draw.arc((width * 0.42, height * 0.47, width * 0.58, height * 0.56), 20, 160, fill=(120, 50, 50), width=6)
    image.filter(ImageFilter.GaussianBlur(2)).save(path, "JPEG", quality=90)
    return path


def run_demo(demo_dir: Path, now: datetime | None = None) -> int:
    demo_dir = Path(demo_dir)
    now = now or datetime.now(timezone.utc)
    _clear_earlier_demo(demo_dir)
    city_dir, cards_dir, publication = demo_dir / "city", demo_dir / "cards", demo_dir / "publication"
    config = replace(default_config("https://id.example.gov", insecure_demo=True), **DEMO_RX_ROUTING)
    with Issuer.init(city_dir, issuer="https://id.example.gov", insecure_demo=True, now=now, config=config) as city:
        people = demo_dir / "demo-people.jsonl"
        photos = demo_dir / "demo-photos"  # the enrolment office's files: the batch only reads them
        photos.mkdir()
        # Photo paths are relative to the input file, as an office's export would have them.
        rows = [{**p, "photo": sample_portrait(photos / f"{i}.jpg", i).relative_to(demo_dir).as_posix()}
                for i, p in enumerate(SAMPLE_PEOPLE)]
        people.write_text("".join(json.dumps(p, ensure_ascii=False) + "\n" for p in rows), "utf-8")
        report = city.issue_batch(people, cards_dir, now=now, workers=2, progress=False)
        if not report.ok:  # the sample data is ours: a failed row is a bug, said plainly
            reasons = "; ".join(f"line {line}: {reason}" for line, reason in report.failed)
            raise IssuerError(f"the demo's sample cards could not be issued ({reasons})", "please report this")
        numbers = sorted(p.name for p in cards_dir.iterdir() if p.is_dir())
        # An expired card: issued long ago, so its exp is in the past.
        expired = city.issue_card(EXPIRED_PERSON, now=now - timedelta(days=city.config.validity_days + 30), out_dir=cards_dir)
        revoked = numbers[0]
        city.revoke(revoked)
        city.publish(publication, now=now)
    valid = numbers[1]
    print(f"Demo city in {city_dir}: {report.issued + 1} cards in {cards_dir} (one revoked, one expired), "
          f"publication in {publication}; its root key is kept apart in {demo_root_key_path(city_dir)}.")
    verify = _verify_command()
    print("Verify a card (the QR text is in each card folder; the PNGs can be scanned too):")
    for label, number, face, purpose in (("valid, bank desk", valid, "id", "bank"),
                                         ("valid, museum desk", valid, "culture", "museum"),
                                         ("valid, pharmacy", valid, "rx", "pharmacy"),
                                         ("revoked", revoked, "id", "bank"),
                                         ("expired", expired.card_number, "id", "bank")):
        print(f"  # {label}\n  {verify} --trust {publication} --root-key {publication / 'root-key.pem'} "
              f"--purpose {purpose} \"$(cat {cards_dir / number / (face + '.txt')})\"")
    print(f"  # or scan the picture: {verify} --trust {publication} --root-key {publication / 'root-key.pem'} "
          f"--purpose bank {cards_dir / valid / 'front.png'}")
    return 0 if report.ok else 1


def _verify_command() -> str:
    """``cityid-verify`` as it can be typed here: the virtualenv's script unless that one is on PATH."""
    script = Path(sys.executable).parent / "cityid-verify"  # not resolved: a venv's python is a symlink
    found = shutil.which("cityid-verify")
    if not script.exists() or (found and Path(found).resolve() == script.resolve()):
        return "cityid-verify"
    try:
        return str(script.relative_to(Path.cwd()))  # e.g. .venv/bin/cityid-verify from the checkout
    except ValueError:
        return str(script)


def _clear_earlier_demo(demo_dir: Path) -> None:
    """A demo may be run again: replace an earlier demo, but never touch anything else."""
    if not demo_dir.exists() or not any(demo_dir.iterdir()):
        return
    # DIR/city is this version's layout; a city directly in DIR is an earlier version's demo.
    city_dir = next((d for d in (demo_dir / "city", demo_dir) if (d / CONFIG_FILE).exists()), None)
    if city_dir is None or not load(city_dir).insecure_demo:
        raise IssuerError(f"{demo_dir} exists and is not a demo", "choose another folder for the demo")
    shutil.rmtree(demo_dir)
