"""Figure 2: QR size per card face at error correction Q (segno chooses the smallest version).

Each face is signed fresh per sample (random status index, expiry and card number), so the
rows show the spread a real batch has.  Printed size at 0.33 mm per module, without and
with the 4-module quiet zone.  Anchor: a real EU digital COVID certificate (the RKI sample
"Erika Mustermann" vaccination certificate, benchmarks/data/eu-dcc-sample.txt).
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable

import segno

from .fixtures import NAME_POOLS, NOW, BenchCity, name_of_length
from .report import Family, Row
from .timing import Stats

MM_PER_MODULE = 0.33
QUIET_ZONE = 4
GOALS = {"culture": 9, "rx": 9, "id": 12}
EU_DCC = Path(__file__).parent / "data" / "eu-dcc-sample.txt"


def modules(version: int) -> int:
    return 17 + 4 * version


def printed_mm(version: int) -> tuple[float, float]:
    """Side of the symbol in mm, without and with the quiet zone."""
    return round(modules(version) * MM_PER_MODULE, 1), round((modules(version) + 2 * QUIET_ZONE) * MM_PER_MODULE, 1)


def qr_version(text: str, mode: str | None = None) -> int:
    return segno.make(text, error="q", micro=False, mode=mode, boost_error=False).version


COUNTS = {"smoke": 1, "quick": 20, "full": 50}  # signed samples per row


def run(mode: str) -> Family:
    samples = COUNTS[mode]
    city = BenchCity(seed=7)
    family = Family("qr_size", f"QR size at error correction Q ({samples} freshly signed samples per row; 0.33 mm/module)")
    variants = iter(range(10**9))
    rows: list[tuple[str, str, Callable[[], str]]] = [
        ("culture", "culture face", lambda: city.culture_at(NOW, next(variants))),
        ("rx", "rx face (BIN, PCN, group)", city.rx)]
    rows += [("id", f"id face, 40-character {script} name",
              lambda script=script: city.id_face(*name_of_length(script, city.rng))) for script in NAME_POOLS]
    rows.append(("id", "id face, 4-character Chinese name", lambda: city.id_face("明华", "欧阳")))
    details = {}
    for face, label, make in rows:
        sd_jwts = [make() for _ in range(samples)]
        texts = [city.qr(s) for s in sd_jwts]
        versions = [qr_version(t) for t in texts]
        plain = [qr_version(s, mode="byte") for s in sd_jwts]
        worst = max(versions)
        side, with_quiet = printed_mm(worst)
        goal = GOALS[face] if "Chinese" not in label else None
        family.rows.append(Row(
            f"{label}: QR version ({min(map(len, texts))}-{max(map(len, texts))} chars)",
            Stats.of([float(v) for v in versions]), "version",
            goal=f"<= {goal}" if goal else None, met=(worst <= goal) if goal else None,
            note=f"{modules(worst)} modules, {side} mm ({with_quiet} mm with quiet zone); plain SD-JWT in byte mode: "
                 f"{min(map(len, sd_jwts))}-{max(map(len, sd_jwts))} bytes, version {min(plain)}-{max(plain)}",
        ))
        details[label] = {"chars": [min(map(len, texts)), max(map(len, texts))], "versions": [min(versions), max(versions)],
                          "modules": modules(worst), "printed_mm": side, "printed_mm_with_quiet_zone": with_quiet,
                          "plain_sd_jwt_bytes": [min(map(len, sd_jwts)), max(map(len, sd_jwts))],
                          "plain_sd_jwt_versions": [min(plain), max(plain)]}
    anchor = EU_DCC.read_text(encoding="ascii").strip()
    version = qr_version(anchor)
    side, with_quiet = printed_mm(version)
    family.rows.append(Row(f"EU digital COVID certificate (anchor, {len(anchor)} chars)", version, "version", headline=True,
                           note=f"{modules(version)} modules, {side} mm ({with_quiet} mm with quiet zone)"))
    details["eu_dcc"] = {"chars": len(anchor), "version": version, "modules": modules(version), "printed_mm": side}
    family.details = details
    family.notes.append("goal rows count the worst sample; culture samples cycle through the age encodings "
                        "(booleans, one and two thresholds carried as dates); 40-character names are drawn at random")
    family.notes.append("EU DCCs are 553-588 characters (versions 18-19); the sample here is the shortest kind (553)")
    family.notes.append("the issuer's card layout prints larger than 0.33 mm: whole pixels per module at 300 dpi "
                        "(the id face on the front, culture and rx on the back)")
    return family
