"""Benchmarks of the book: each module ``benchmarks/<name>.py`` defines ``run(profile) -> list[dict]``.

Run them with ``python -m benchmarks [NAME ...] [--profile P] [--json]``.
"""

from __future__ import annotations

import operator

_COMPARE = {"<=": operator.le, ">=": operator.ge}


def target_met(value: float, target: str) -> bool:
    """Whether ``value`` meets ``target``, a string ``"<= x"`` or ``">= x"`` (an issue's target).

    >>> target_met(0.015, "<= 0.02"), target_met(19, ">= 20")
    (True, False)
    """
    parts = target.split()
    if len(parts) != 2 or parts[0] not in _COMPARE:
        raise ValueError(f"a target reads '<= x' or '>= x', got {target!r}")
    return _COMPARE[parts[0]](value, float(parts[1]))


def with_targets(rows: list[dict], targets: dict[tuple[str, str, str, str], str]) -> list[dict]:
    """Add ``target`` (and whether it is ``met``) to each row whose (model, dataset, metric, unit)
    has one; ``"*"`` as the model matches every model on that data set, metric and unit.
    """
    for row in rows:
        for model in (row["model"], "*"):
            target = targets.get((model, row["dataset"], row["metric"], row["unit"]))
            if target is not None:
                row["target"], row["met"] = target, target_met(row["value"], target)
                break
    return rows
