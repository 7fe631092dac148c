"""Figure 3: issuance throughput, input file to print-ready files, with every core.

Each run is a fresh demo city (``Issuer.init(..., insecure_demo=True)``) issuing a JSON Lines
file of fictional residents with ``issue_batch(workers=os.cpu_count())``: registry
reservations, signing both faces, QR codes, front/back PNG and SVG, QR text files.
Every resident has a photo (one of ten fictional 600x800 JPEG portraits, as an
enrolment camera exports them), decoded and drawn on each card.
A cProfile of a one-worker batch then says where a card's time goes.
"""

from __future__ import annotations

import cProfile
import json
import os
import pstats
import random
import resource
import statistics
import tempfile
import time
from pathlib import Path

from .report import Family, Row
from .timing import Stats

GOAL = 250  # cards per second: 850,000 cards in under an hour
# Where the cards are written: the system's temporary folder unless CITYID_BENCH_DIR names another disk.
OUTPUT_BASE = tempfile.gettempdir()
# Names in the eleven scripts the card must print (Latin, Cyrillic, Arabic, Greek, Hebrew, Devanagari, Bengali,
# Chinese, Japanese, Korean, Thai), mostly Latin as in a real city's batches.
GIVEN = ["Ana María", "Дмитрий", "فاطمة الزهراء", "Thị Lan", "Αικατερίνη", "Zoë", "Maria Guadalupe", "Kwame", "Yael",
         "José Luis", "अनन्या", "সুমাইয়া", "美咲", "민준", "สมชาย", "明"]
FAMILY = ["Pérez Quispe", "Коваленко", "الحسيني", "Nguyễn", "Παπαδοπούλου", "Ó Súilleabháin", "Hernandez Lopez", "Mensah",
          "בן־דוד", "García-Márquez", "शर्मा", "রহমান", "佐藤", "김", "ใจดี", "王"]

# Where a card's time goes: (label, "folder/file.py:function" whose cumulative time counts).
CATEGORIES = [
    ("QR symbols: encode + SVG path (issuer.cards.make_symbol)", ("issuer/cards.py:make_symbol",)),
    ("  SVG path of the QR (issuer.cards._qr_svg)", ("issuer/cards.py:_qr_svg",)),
    ("  segno (only without zxing-cpp)", ("segno/__init__.py:make",)),
    ("card render: templates, text, QR paste, PNG, SVG (issuer.cards.render_card)", ("issuer/cards.py:render_card",)),
    ("  PNG writing, template bands reused (issuer.png.PngTemplate.encode)", ("issuer/png.py:encode",)),
    ("  text drawing (Pillow/FreeType)", ("PIL/ImageDraw.py:text",)),
    ("signing + QR text (issuer.faces.card_faces)", ("issuer/faces.py:card_faces",)),
    ("writing the card folder (issuer.output.write_card_folder)", ("issuer/output.py:write_card_folder",)),
    ("photo: decode and crop (issuer.photo.card_photo)", ("issuer/photo.py:card_photo",)),
    ("planning: registry, card numbers (issuer.batch._Batch.plan)", ("issuer/batch.py:plan",)),
]


PHOTOS = 10


def people(count: int, rng: random.Random, photo_dir: Path) -> str:
    from issuer.demo import sample_portrait

    photo_dir.mkdir(exist_ok=True)
    photos = [str(sample_portrait(photo_dir / f"{i}.jpg", i)) for i in range(PHOTOS)]
    rows = []
    for _ in range(count):
        rows.append({"given_name": rng.choice(GIVEN), "family_name": rng.choice(FAMILY), "photo": rng.choice(photos),
                     "birthdate": f"{rng.randrange(1930, 2008)}-{rng.randrange(1, 13):02d}-{rng.randrange(1, 29):02d}",
                     "museum_tier": rng.choice(["gold", "silver", "standard"]), "rx_eligible": rng.choice(["yes", "no"])})
    return "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows)


def _cpu_seconds() -> tuple[float, float]:
    """User and system CPU of this process and its finished children (the batch workers)."""
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + children.ru_utime, own.ru_stime + children.ru_stime


def batch_seconds(tmp: Path, count: int, workers: int, rng: random.Random,
                  profile: cProfile.Profile | None = None) -> tuple[float, tuple[float, float], Path]:
    """Wall seconds, (user, system) CPU seconds to issue ``count`` cards in a fresh city (city creation not counted)."""
    from issuer import Issuer

    tmp.mkdir(parents=True, exist_ok=True)
    city_dir, out_dir, source = tmp / "city", tmp / "cards", tmp / "people.jsonl"
    source.write_text(people(count, rng, tmp / "photos"), encoding="utf-8")
    with Issuer.init(city_dir, insecure_demo=True) as city:
        if profile is not None:
            profile.enable()
        (user, system), start = _cpu_seconds(), time.perf_counter()
        report = city.issue_batch(source, out_dir, workers=workers, progress=False)
        elapsed, (user_after, system_after) = time.perf_counter() - start, _cpu_seconds()
        cpu = (user_after - user, system_after - system)
        if profile is not None:
            profile.disable()
    if report.issued != count:
        raise RuntimeError(f"issued {report.issued} of {count} cards: {report.failed[:3]}")
    return elapsed, cpu, out_dir


def folder_cost_ms(base: Path, folders: int = 100) -> float:
    """Kernel + user ms to write one card folder's worth of small files (mkdir, 6 files, rename) here."""
    data = bytes(8000)
    before = resource.getrusage(resource.RUSAGE_SELF)
    for i in range(folders):
        tmp = base / f".probe-{i}"
        tmp.mkdir()
        for name in ("front.png", "back.png", "front.svg", "back.svg", "id.txt", "culture.txt", "rx.txt"):
            (tmp / name).write_bytes(data)
        tmp.rename(base / f"probe-{i}")
    after = resource.getrusage(resource.RUSAGE_SELF)
    return (after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime) * 1e3 / folders


def check_output(out_dir: Path) -> str:
    """Every card folder is complete; one front PNG decodes with zxing-cpp (print-ready, scannable)."""
    folders = [p for p in out_dir.iterdir() if p.is_dir()]
    expected = {"front.png", "back.png", "front.svg", "back.svg", "id.txt", "culture.txt", "rx.txt"}
    incomplete = [f for f in folders if not expected <= {p.name for p in f.iterdir()}]
    if incomplete:
        raise RuntimeError(f"{len(incomplete)} card folders are incomplete")
    try:
        import zxingcpp
        from PIL import Image
    except ImportError:
        return "not checked (zxing-cpp missing)"
    sample = folders[0]
    found = {b.text for b in zxingcpp.read_barcodes(Image.open(sample / "front.png"))} | {
        b.text for b in zxingcpp.read_barcodes(Image.open(sample / "back.png"))}
    texts = {(sample / f"{face}.txt").read_text().strip() for face in ("id", "culture", "rx")}
    return "all three faces decode from the PNGs" if texts <= found else "QR codes in the PNGs do NOT decode to the faces"


def where_time_goes(tmp: Path, count: int, rng: random.Random) -> tuple[float, list[tuple[str, float]]]:
    """Per-card milliseconds under cProfile (one worker) and the share of each category."""
    profile = cProfile.Profile()
    elapsed, _, _ = batch_seconds(tmp, count, 1, rng, profile)
    stats = pstats.Stats(profile).stats  # type: ignore[attr-defined]
    total = sum(tt for (_, _, _), (_, _, tt, _, _) in stats.items())
    shares = []
    for label, keys in CATEGORIES:
        cumulative = 0.0
        for (filename, _, function), (_, _, _, ct, _) in stats.items():
            where = f"{'/'.join(Path(filename).parts[-2:])}:{function}"
            if any(where == key for key in keys):
                cumulative += ct
        shares.append((label, cumulative / total if total else 0.0))
    return elapsed / count * 1e3, shares


COUNTS = {"smoke": (1, 2, 2), "quick": (3, 150, 20), "full": (5, 600, 60)}  # runs, cards per run, cards profiled


def run(mode: str) -> Family:
    runs, count, profiled = COUNTS[mode]
    workers = os.cpu_count() or 1
    family = Family("issuance", f"Issuance: input file to print-ready files ({count} cards per run, {workers} workers)")
    try:
        import issuer  # noqa: F401
    except ImportError as exc:
        family.notes.append(f"issuer is not installed ({exc}): pip install 'cityid[issuer]'")
        return family
    rng = random.Random(5)
    rates, cpu_ms, system_ms = [], [], []
    # Outputs are deleted only after the last run: deleting thousands of files makes the kernel
    # busy for seconds, which would be charged to the next run.  A first, smaller batch warms up.
    base = Path(os.environ.get("CITYID_BENCH_DIR", OUTPUT_BASE))
    base.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=base) as tmp:
        (Path(tmp) / "probe").mkdir()
        folder_ms = folder_cost_ms(Path(tmp) / "probe")
        batch_seconds(Path(tmp) / "warm-up", max(2, count // 4), workers, rng)
        for i in range(runs):
            seconds, cpu, out_dir = batch_seconds(Path(tmp) / f"run-{i}", count, workers, rng)
            rates.append(count / seconds)
            cpu_ms.append(sum(cpu) * 1e3 / count)
            system_ms.append(cpu[1] * 1e3 / count)
        checked = check_output(out_dir)
    ram_disk = Path("/dev/shm")
    ram_rates = []
    if ram_disk.is_dir() and os.access(ram_disk, os.W_OK):  # the same batches without the disk's file-system cost
        with tempfile.TemporaryDirectory(dir=ram_disk) as tmp:
            for i in range(max(1, runs // 2)):
                seconds, _, _ = batch_seconds(Path(tmp) / f"run-{i}", count, workers, rng)
                ram_rates.append(count / seconds)
    stats = Stats.of(rates)
    family.rows.append(Row(f"issue_batch, {workers} workers (wall clock)", stats, "cards/s", goal=f">= {GOAL}", met=stats.median >= GOAL,
                           note=f"{checked}; 850,000 cards would take {850_000 / stats.median / 3600:.1f} h"))
    cpu = Stats.of(cpu_ms)
    family.rows.append(Row("CPU per card (workers + parent, user + system)", cpu, "ms", headline=True,
                           note=f"of which system (kernel: files, page faults) {statistics.median(system_ms):.2f} ms"))
    family.rows.append(Row(f"what that CPU time allows on {workers} idle cores", round(workers * 1e3 / cpu.median), "cards/s", headline=True,
                           note="the wall-clock row is lower when other processes share the cores"))
    family.rows.append(Row(f"file system: one card folder (mkdir, 7 small files, rename) in {base}",
                           round(folder_ms, 2), "ms CPU", headline=True,
                           note="the same work costs 0.2-0.4 ms when this VM's ext4 is quiet and 2-5 ms after mass deletions"))
    if ram_rates:
        family.rows.append(Row(f"issue_batch, {workers} workers, output on a RAM disk ({ram_disk})", Stats.of(ram_rates), "cards/s",
                               headline=True, note="the same batches without the disk's file-system cost"))
    with tempfile.TemporaryDirectory() as tmp:
        per_card, shares = where_time_goes(Path(tmp), profiled, rng)
    family.rows.append(Row("one card under cProfile (1 worker)", per_card, "ms"))
    for label, share in shares:
        family.rows.append(Row(f"share: {label}", round(100 * share, 1), "%"))
    family.details["profile_shares"] = {label: round(share, 4) for label, share in shares}
    family.notes.append("shares: cumulative cProfile time of a one-worker batch; indented rows are part of the row above")
    return family
