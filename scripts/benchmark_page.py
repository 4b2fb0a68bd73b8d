"""Render recorded benchmark rows (JSON lines) as the book's page of measured numbers.

Usage::

    python -m benchmarks NAME ... --json > benchmarks/results/default-cpu.jsonl
    python scripts/benchmark_page.py benchmarks/results/default-cpu.jsonl "MACHINE" > book/benchmarks.md

The page is a record of one run, with the machine and date it names: the numbers inside the
chapters are recomputed at every build, these are not.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from benchmarks import target_met  # noqa: E402

TITLES = {"density": "Chapter 1: density estimation", "vae": "Chapter 2: variational autoencoders",
          "gan": "Chapter 3: GANs", "flows": "Chapter 4: normalizing flows",
          "score": "Chapter 5: score matching", "diffusion": "Chapter 6: diffusion",
          "diffusion_nll": "Chapter 6.x: likelihood of discrete digits",
          "flow_matching": "Chapter 6.x: flow matching", "unified": "Chapter 7: the unified perspective",
          "autoregressive": "Chapter 1.x: autoregressive models",
          "conditional": "Chapter 8: conditional generation", "inverse": "Chapter 9: inverse problems",
          "trilemma": "Chapter 10 (in preparation): distillation"}


def _value(row: dict) -> str:
    value = row["value"]
    text = f"{value:.4g}" if isinstance(value, float) else str(value)
    return text + (f" ± {row['se']:.2g}" if row.get("se") is not None else "")


def _model(row: dict) -> str:
    return row["model"] + (f", seed {row['seed']}" if "seed" in row else "")


def _table(rows: list[dict], with_target: bool) -> list[str]:
    header = ["model", "data", "metric", "value", "unit", "wall (s)"] + (["target"] if with_target else [])
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for r in rows:
        cells = [_model(r), r["dataset"], r["metric"], _value(r), r["unit"] or "", f"{r['wall_s']:.1f}"]
        if with_target:
            verdict = "met" if target_met(r["value"], r["target"]) else "**missed**"
            cells.append(f"{r['target'].replace('<=', '≤').replace('>=', '≥')} {verdict}")
        lines.append("| " + " | ".join(str(c).replace("|", "/") for c in cells) + " |")
    return lines


def render(rows: list[dict], machine: str) -> str:
    """The markdown page: every number with a target first, then each benchmark's full table."""
    profiles = sorted({r["profile"] for r in rows})
    out = ["# Measured benchmarks", "",
           f"One run of `python -m benchmarks` in the `{'`, `'.join(profiles)}` profile on {machine}, "
           "recorded in `benchmarks/results/` and rendered by `scripts/benchmark_page.py`. Unlike the "
           "numbers inside the chapters, which every build of the book recomputes, this page is a "
           "record: rerun the command to measure your machine. Likelihoods are in nats per image "
           "on the test split ({ref}`conventions-units`); KL is KL(p‖q) in nats against the "
           "exact density.",
           "", "## Targets", ""]
    out += _table([r for r in rows if "target" in r], with_target=True)
    for name in dict.fromkeys(r["benchmark"] for r in rows):
        out += ["", f"## {TITLES.get(name, name)} (`{name}`)", ""]
        out += _table([r for r in rows if r["benchmark"] == name], with_target=False)
    return "\n".join(out) + "\n"


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print(__doc__, file=sys.stderr)
        return 2
    rows = [json.loads(line) for line in Path(argv[0]).read_text().splitlines() if line.strip()]
    sys.stdout.write(render(rows, argv[1]))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
