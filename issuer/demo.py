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

from .city import Issuer
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


def run_demo(demo_dir: Path, now: datetime | None = None) -> int:
    demo_dir = Path(demo_dir)
    now = now or datetime.now(timezone.utc)
    _clear_earlier_demo(demo_dir)
    city_dir, cards_dir, publication = demo_dir / "city", demo_dir / "cards", demo_dir / "publication"
    config = replace(default_config("https://id.example.gov", insecure_demo=True), **DEMO_RX_ROUTING)
    with Issuer.init(city_dir, issuer="https://id.example.gov", insecure_demo=True, now=now, config=config) as city:
        people = demo_dir / "demo-people.jsonl"
        people.write_text("".join(json.dumps(p, ensure_ascii=False) + "\n" for p in SAMPLE_PEOPLE), "utf-8")
        report = city.issue_batch(people, cards_dir, now=now, workers=2, progress=False)
        numbers = sorted(p.name for p in cards_dir.iterdir() if p.is_dir())
        # An expired card: issued long ago, so its exp is in the past.
        expired = city.issue_card(EXPIRED_PERSON, now=now - timedelta(days=city.config.validity_days + 30), out_dir=cards_dir)
        revoked = numbers[0]
        city.revoke(revoked)
        city.publish(publication, now=now)
    valid = numbers[1]
    print(f"Demo city in {city_dir}: {report.issued + 1} cards in {cards_dir} (one revoked, one expired), "
          f"publication in {publication}.")
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
