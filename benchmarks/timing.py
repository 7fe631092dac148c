"""Timing helpers: every figure is the median of several runs in one process, with min and max.

A run times a batch of calls and divides; batches of different functions are interleaved
(ABCABC...) so that a busy machine slows them alike and their ratio stays meaningful.
The garbage collector is off while a batch runs, as in ``timeit``.
"""

from __future__ import annotations

import gc
import os
import platform
import statistics
import sys
import time
from dataclasses import asdict, dataclass
from importlib import metadata
from typing import Any, Callable, Mapping


@dataclass(frozen=True)
class Stats:
    """Median, min and max over ``runs`` runs, in the unit of the values given."""

    median: float
    min: float
    max: float
    runs: int

    @classmethod
    def of(cls, values: list[float]) -> "Stats":
        return cls(statistics.median(values), min(values), max(values), len(values))

    def scaled(self, factor: float) -> "Stats":
        return Stats(self.median * factor, self.min * factor, self.max * factor, self.runs)

    def as_dict(self) -> dict[str, float]:
        return asdict(self)


def _batch(fn: Callable[[], Any], number: int) -> float:
    """Seconds per call over one batch of ``number`` calls."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        start = time.perf_counter()
        for _ in range(number):
            fn()
        return (time.perf_counter() - start) / number
    finally:
        if enabled:
            gc.enable()


def interleaved(fns: Mapping[str, Callable[[], Any]], *, number: int, repeat: int, warmup: int = 1) -> dict[str, list[float]]:
    """Seconds per call of each function, one value per run; runs of different functions alternate."""
    for _ in range(warmup):  # first calls fill caches and lazy imports; they are not counted
        for fn in fns.values():
            _batch(fn, max(1, number // 4))
    runs: dict[str, list[float]] = {name: [] for name in fns}
    for _ in range(repeat):
        for name, fn in fns.items():
            runs[name].append(_batch(fn, number))
    return runs


def measure(fn: Callable[[], Any], *, number: int = 1, repeat: int = 5, warmup: int = 1) -> Stats:
    """Seconds per call: median, min, max over ``repeat`` runs of ``number`` calls."""
    return Stats.of(interleaved({"fn": fn}, number=number, repeat=repeat, warmup=warmup)["fn"])


def ratios(numerator: list[float], denominator: list[float]) -> Stats:
    """Per-run ratios of two interleaved measurements (run i of one against run i of the other)."""
    return Stats.of([a / b for a, b in zip(numerator, denominator)])


def machine() -> dict[str, Any]:
    """The machine the figures were taken on."""
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as handle:
            for line in handle:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    versions = {}
    for dist in ("cityid", "cryptography", "PyJWT", "segno", "zxing-cpp", "pillow", "sd-jwt", "jwcrypto", "Flask"):
        try:
            versions[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            versions[dist] = None
    try:
        load = os.getloadavg()
    except OSError:
        load = None
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "usable_cores": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count(),
        "load_average_at_start": [round(x, 2) for x in load] if load else None,
        "python": sys.version.split()[0],
        "implementation": platform.python_implementation(),
        "os": platform.platform(),
        "libraries": versions,
    }
