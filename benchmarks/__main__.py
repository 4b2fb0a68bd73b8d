"""Run benchmarks and print a table (or JSON lines).

Usage::

    python -m benchmarks                      # every benchmark, default profile
    python -m benchmarks density notebooks --profile quick
    python -m benchmarks --json               # one JSON object per row

A benchmark is a module ``benchmarks/<name>.py`` with ``run(profile: str) -> list[dict]``; each row
has at least the keys of :data:`KEYS`, and ``target`` (``"<= x"`` or ``">= x"``) where a number has
one (:func:`benchmarks.with_targets`). The trilemma chapter reads these rows.
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import pkgutil
import sys
import time
from pathlib import Path

from benchmarks import target_met

KEYS = ("benchmark", "model", "dataset", "metric", "value", "unit", "wall_s", "profile", "device")
PROFILES = ("quick", "default", "full")


def available() -> list[str]:
    """Names of the benchmark modules beside this file."""
    here = Path(__file__).parent
    return sorted(m.name for m in pkgutil.iter_modules([str(here)]) if not m.name.startswith("_"))


def run_one(name: str, profile: str) -> list[dict]:
    module = importlib.import_module(f"benchmarks.{name}")
    start = time.perf_counter()
    rows = module.run(profile)
    for row in rows:
        missing = [k for k in KEYS if k not in row]
        if missing:
            raise ValueError(f"benchmark {name!r} returned a row without {missing}: {row}")
    print(f"# {name}: {len(rows)} rows in {time.perf_counter() - start:.1f} s", file=sys.stderr)
    return rows


def _target(row: dict) -> str:
    """The row's target and whether the value meets it ("<= 0.02 met", "<= 97 MISSED"), or ""."""
    if "target" not in row:
        return ""
    return f"{row['target']} {'met' if target_met(row['value'], row['target']) else 'MISSED'}"


def format_table(rows: list[dict]) -> str:
    """A plain-text table of the rows (value with 4 significant digits, ± se when present, and the
    target of the issue that asked for the number, with whether it was met)."""
    header = ["benchmark", "model", "dataset", "metric", "value", "unit", "wall_s", "target"]
    body = []
    for r in rows:
        value = f"{r['value']:.4g}" if isinstance(r["value"], float) else str(r["value"])
        if r.get("se") is not None:
            value += f" ± {r['se']:.2g}"
        wall = f"{r['wall_s']:.1f}" if isinstance(r["wall_s"], (int, float)) else str(r["wall_s"])
        body.append([str(r["benchmark"]), str(r["model"]), str(r["dataset"]), str(r["metric"]),
                     value, str(r["unit"]), wall, _target(r)])
    widths = [max(len(line[i]) for line in [header, *body]) for i in range(len(header))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(line, widths)) for line in [header, *body]]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    names = available()
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__.split("\n")[0])
    parser.add_argument("names", nargs="*", metavar="NAME", help=f"benchmarks to run: {names}")
    parser.add_argument("--profile", default=os.environ.get("GMTEXT_PROFILE", "default"),
                        choices=PROFILES)
    parser.add_argument("--json", action="store_true", help="print one JSON object per row")
    args = parser.parse_args(argv)
    unknown = [n for n in args.names if n not in names]
    if unknown:
        parser.error(f"unknown benchmark(s) {unknown}; available: {names}")
    os.environ["GMTEXT_PROFILE"] = args.profile     # budgets in gmtext.config follow the profile
    rows = [row for name in (args.names or names) for row in run_one(name, args.profile)]
    if args.json:
        for row in rows:
            print(json.dumps(row))
    else:
        print(format_table(rows))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
