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
