"""python -m benchmarks [--quick] [--json PATH] [--only NAME ...]: print the table, write the JSON."""

from __future__ import annotations

import argparse
import importlib
import json
import sys
import time
import traceback
from datetime import datetime, timezone
from pathlib import Path

from .report import Family, markdown, summary
from .timing import machine

FAMILIES = ("verify", "qr_size", "statuslist", "issuance", "robustness", "app", "vault", "camera", "serve", "keys", "scale")
DEFAULT_JSON = Path("benchmarks/results/latest.json")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="fewer runs and samples: under a minute")
    parser.add_argument("--json", type=Path, default=DEFAULT_JSON, metavar="PATH", help=f"where to write the JSON (default {DEFAULT_JSON})")
    parser.add_argument("--only", nargs="+", choices=FAMILIES, metavar="NAME", help=f"run only these: {', '.join(FAMILIES)}")
    args = parser.parse_args(argv)

    started = time.perf_counter()
    info = machine()
    print(f"# cityid benchmarks{' (--quick)' if args.quick else ''}: {info['cpu']}, {info['cores']} cores, "
          f"Python {info['python']}, load average at start {info['load_average_at_start']}", flush=True)
    families: list[Family] = []
    for name in args.only or FAMILIES:
        begin = time.perf_counter()
        try:
            family = importlib.import_module(f"benchmarks.{name}").run("quick" if args.quick else "full")
        except Exception as exc:  # one broken family must not hide the others
            family = Family(name, f"{name}: could not run")
            family.notes.append(f"{type(exc).__name__}: {exc}")
            family.details["traceback"] = traceback.format_exc()
        family.seconds = time.perf_counter() - begin
        families.append(family)
        print("\n" + markdown([family]) + f"\n({family.seconds:.1f} s)", flush=True)

    print("\n**Summary: goals and headline figures**\n\n" + summary(families))
    total = time.perf_counter() - started
    missed = [f"{f.key}: {r.name}" for f in families for r in f.rows if r.met is False]
    document = {
        "generated": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "command": "python -m benchmarks" + (" --quick" if args.quick else ""),
        "quick": args.quick,
        "seconds": round(total, 1),
        "machine": info,
        "families": {f.key: f.as_dict() for f in families},
        "goals_missed": missed,
    }
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(document, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    print(f"\nTotal {total:.1f} s.  Goals missed: {', '.join(missed) if missed else 'none'}.  JSON: {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
