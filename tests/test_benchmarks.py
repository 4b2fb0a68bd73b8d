"""The benchmark runner: discovery, row validation, table and JSON output (no heavy benchmark run)."""

import json
import sys
import types

import pytest

from benchmarks import __main__ as runner

ROW = {"benchmark": "fake", "model": "m", "dataset": "d", "metric": "nll", "value": 1.23456,
       "unit": "nats", "wall_s": 0.5, "profile": "quick", "device": "cpu", "se": 0.01}


@pytest.fixture
def fake_benchmark(monkeypatch):
    module = types.ModuleType("benchmarks.fake")
    module.run = lambda profile: [dict(ROW, profile=profile)]
    monkeypatch.setitem(sys.modules, "benchmarks.fake", module)
    monkeypatch.setattr(runner, "available", lambda: ["fake"])
    return module


def test_json_lines_carry_the_required_keys(fake_benchmark, capsys):
    assert runner.main(["fake", "--profile", "quick", "--json"]) == 0
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert rows and all(set(runner.KEYS) <= set(r) for r in rows)
    assert rows[0]["profile"] == "quick"


def test_table_shows_value_and_standard_error(fake_benchmark, capsys):
    runner.main(["fake"])
    out = capsys.readouterr().out
    assert "1.235 ± 0.01" in out and out.splitlines()[0].startswith("benchmark")


def test_rows_missing_keys_are_rejected(fake_benchmark):
    fake_benchmark.run = lambda profile: [{"benchmark": "fake"}]
    with pytest.raises(ValueError, match="without"):
        runner.main(["fake"])


def test_unknown_benchmark_is_an_error(fake_benchmark):
    with pytest.raises(SystemExit):
        runner.main(["nope"])


def test_real_benchmarks_are_discovered():
    assert "notebooks" in runner.available()


def test_targets_are_marked_met_or_missed(fake_benchmark, capsys):
    from benchmarks import target_met, with_targets
    fake_benchmark.run = lambda profile: with_targets(
        [dict(ROW, model="a", value=0.5), dict(ROW, model="b", value=2.0), dict(ROW, metric="x")],
        {("*", "d", "nll", "nats"): "<= 1"})
    runner.main(["fake"])
    lines = capsys.readouterr().out.splitlines()
    assert "<= 1 met" in lines[2] and "<= 1 MISSED" in lines[3] and "<= 1" not in lines[4]
    assert target_met(20, ">= 20") and not target_met(0.7, ">= 0.71")
    with pytest.raises(ValueError, match="<= x"):
        target_met(1.0, "< 2")


def test_benchmark_page_marks_missed_targets():
    import importlib.util
    from pathlib import Path
    path = Path(__file__).resolve().parents[1] / "scripts" / "benchmark_page.py"
    spec = importlib.util.spec_from_file_location("benchmark_page", path)
    page = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(page)
    rows = [dict(ROW, value=0.5, target="<= 1"), dict(ROW, value=2.0, target="<= 1"), dict(ROW)]
    text = page.render(rows, "a test machine")
    targets = text.split("## Targets")[1].split("## ")[0]
    assert targets.count("≤ 1 met") == 1 and targets.count("≤ 1 **missed**") == 1
    assert "a test machine" in text and text.count("| m | d | nll |") == 5
