"""Figure 5: scan robustness of real printed cards, photographed badly on purpose.

Real cards come from a demo city (``issuer.Issuer``): the front PNG (id face) and the
back PNG (culture face; the rx face beside it) at print resolution.  Each sample is a simulated photo (``scenes``),
delivered as the camera's JPEG (or PNG); it succeeds when ``verifier_sdk.imaging.decode_image``
(zxing-cpp) reads the face's QR and ``Verifier.verify`` accepts it.

ARM'S LENGTH, defined: the envelope below is what a phone (12 MP still or 1080p preview)
or a 1080p webcam delivers with the card 15-30 cm from the lens, the distance at which a
desk clerk or holder naturally presents a card: the QR then spans 3-5 captured pixels per
module (see ``px_per_module_at``), focus and hand shake blur by up to ~1 px, the card is
held at any angle and tilted up to 20°, lamp light falls off by up to half across the card,
indoor sensor noise is up to σ 8 grey levels, and webcam MJPEG / phone JPEG quality is 60+.
The goal (>= 99%) applies to shots drawn uniformly from that whole envelope at once.
"""

from __future__ import annotations

import math
import random
from dataclasses import replace

from typing import TYPE_CHECKING

from .report import Family, Row
from .timing import Stats

if TYPE_CHECKING:
    from .scenes import Capture

GOAL = 0.99
MODULE_MM = 25.4 / 300 * 5  # the issuer prints the id face at 5 px/module at 300 dpi (0.42 mm)


def px_per_module_at(distance_cm: float, frame_px: int, fov_degrees: float, module_mm: float = MODULE_MM) -> float:
    """Captured pixels per printed QR module for a camera ``distance_cm`` away (pinhole model)."""
    field_mm = 2 * distance_cm * 10 * math.tan(math.radians(fov_degrees) / 2)
    return frame_px / field_mm * module_mm


CAMERAS = [  # (what, frame width px, horizontal field of view, distance cm)
    ("phone 12 MP still, 30 cm", 4032, 70, 30),
    ("phone 1080p scanner preview, 15 cm", 1920, 70, 15),
    ("webcam 1080p, 15 cm", 1920, 78, 15),
    ("webcam 1080p, 25 cm", 1920, 78, 25),
    ("webcam 720p, 15 cm", 1280, 78, 15),
]


def arms_length(rng: random.Random) -> "Capture":
    """One shot drawn uniformly from the whole arm's-length envelope."""
    from .scenes import Capture

    return Capture(px_per_module=rng.uniform(3.0, 5.0), tilt=rng.uniform(0, 20), rotation=rng.uniform(0, 360),
                   light=rng.uniform(0.5, 1.0), blur=rng.uniform(0, 1.0), noise=rng.uniform(0, 8),
                   jpeg=rng.randrange(60, 91))


# One degradation at a time, from a clean 4 px/module shot; the arm's-length bound of each is marked.
SWEEPS = {
    "resolution (px/module)": ("px_per_module", [1.5, 2.0, 2.5, 3.0, 4.0, 6.0], 3.0, "min"),
    "blur σ (px)": ("blur", [0.5, 1.0, 1.5, 2.0, 3.0], 1.0, "max"),
    "in-plane rotation (°)": ("rotation", [10, 30, 45, 90, 135], None, None),
    "tilt (°)": ("tilt", [10, 20, 30, 40, 50], 20, "max"),
    "JPEG quality": ("jpeg", [90, 60, 30, 15, 8], 60, "min"),
    "noise σ (grey levels)": ("noise", [4, 8, 16, 32, 48], 8, "max"),
    "uneven light (darkest edge)": ("light", [0.8, 0.5, 0.3, 0.2, 0.1], 0.5, "min"),
}


def wilson_lower(rate: float, n: int, z: float = 1.96) -> float:
    """Lower bound of the Wilson score interval: what ``n`` shots can vouch for."""
    centre = rate + z * z / (2 * n)
    spread = z * math.sqrt(rate * (1 - rate) / n + z * z / (4 * n * n))
    return (centre - spread) / (1 + z * z / n)


def scan(face, shot, verifiers, rng: random.Random) -> bool:
    """The product's path: the camera's file -> verifier_sdk.imaging.decode_image -> Verifier.verify."""
    from verifier_sdk import VerificationError
    from verifier_sdk.imaging import decode_image

    from .scenes import photograph

    try:
        text = decode_image(photograph(face, shot, rng))
        desk = face.desk_for(text)  # a photo of the back may show either of its two codes
        if desk is None:
            return False
        verifiers[desk].verify(text)
    except VerificationError:
        return False
    return True


COUNTS = {"smoke": (2, 1, 1), "quick": (60, 6, 2), "full": (400, 30, 4)}  # arm's-length shots, shots per level, cards


def run(mode: str) -> Family:
    combined_n, sweep_n, cards = COUNTS[mode]
    family = Family("robustness", "Scan robustness: real issued cards, simulated photos, zxing-cpp + Verifier")
    try:
        import zxingcpp  # noqa: F401

        from .scenes import Capture, sample_cards
    except ImportError as exc:
        family.notes.append(f"needs the issuer, zxing-cpp and Pillow ({exc})")
        return family
    from verifier_sdk import TrustStore, Verifier

    faces, publication, tmp = sample_cards(cards)
    with tmp:
        trust = TrustStore.load(publication, root_key=publication / "root-key.pem")
        verifiers = {name: Verifier(trust, name) for name in ("bank", "museum", "pharmacy")}
        rng = random.Random(99)

        def rate(make_shot, n: int) -> tuple[float, list[str]]:
            failures = []
            for i in range(n):
                face = faces[i % len(faces)]
                shot = make_shot()
                if not scan(face, shot, verifiers, rng):
                    failures.append(shot.describe())
            return 1 - len(failures) / n, failures

        success, failures = rate(lambda: arms_length(rng), combined_n)
        low = wilson_lower(success, combined_n)
        family.rows.append(Row(f"arm's length, all degradations at once ({combined_n} shots)", round(100 * success, 1), "%",
                               goal=f">= {GOAL:.0%}", met=success >= GOAL,
                               note=f"95% confidence: >= {100 * low:.1f}%; " + (f"failures: {'; '.join(failures[:3])}" if failures else "no failures")))
        family.details["arms_length_failures"] = failures
        family.rows.append(Row(f"clean photo, 4 px/module ({sweep_n} shots)", round(100 * rate(lambda: Capture(), sweep_n)[0], 1), "%"))
        sweeps = {}
        for label, (field, levels, bound, side) in SWEEPS.items():
            results = {}
            for level in levels:
                if field == "rotation":
                    make = lambda level=level: Capture(rotation=level + rng.uniform(-2, 2))
                else:
                    make = lambda level=level: replace(Capture(), **{field: level})
                results[level] = rate(make, sweep_n)[0]
            sweeps[label] = results
            inside = [lvl for lvl in levels if bound is None or (lvl >= bound if side == "min" else lvl <= bound)]
            worst_inside = min(results[lvl] for lvl in inside) if inside else None
            cells = ", ".join(f"{lvl:g}: {100 * r:.0f}%" for lvl, r in results.items())
            family.rows.append(Row(f"{label} ({sweep_n} shots per level)", Stats.of([100 * r for r in results.values()]), "% min-max",
                                   goal="arm's length >= 99%" if worst_inside is not None else None,
                                   met=(worst_inside >= GOAL) if worst_inside is not None else None,
                                   note=f"{cells}; arm's length: {side} {bound}" if bound is not None else cells))
        family.details["sweeps"] = {k: {str(lvl): r for lvl, r in v.items()} for k, v in sweeps.items()}
    family.details["cameras_px_per_module"] = {what: round(px_per_module_at(d, px, fov), 2) for what, px, fov, d in CAMERAS}
    family.notes.append("arm's length: 3-5 px/module, tilt <= 20°, any rotation, light down to 50%, blur σ <= 1 px, "
                        "noise σ <= 8, JPEG q >= 60, drawn together per shot (module 0.42 mm as printed)")
    family.notes.append("captured px/module by camera: " + "; ".join(
        f"{what}: {px_per_module_at(d, px, fov):.1f}" for what, px, fov, d in CAMERAS))
    family.notes.append("sweep rows: median/min/max over the levels; the note lists each level's success rate")
    return family
