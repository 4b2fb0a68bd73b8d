"""The model store: keys follow what makes the weights; corrupt entries are retrained; concurrent writers."""

import json
import os
import subprocess
import sys
import types
from pathlib import Path

import pytest
import torch

from gmtext import store

ROOT = Path(__file__).resolve().parents[1]


def _build(seed: int = 0):
    def build():
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            return torch.nn.Linear(3, 2)
    return build


def _train(value: float):
    def train(module):
        with torch.no_grad():
            module.weight.fill_(value)
        return {"value": value}
    return train


def _module(name: str, source: str) -> types.ModuleType:
    """A module whose source is a real file (what code_version hashes)."""
    path = Path(os.environ["PROBE_DIR"]) / f"{name}.py"
    path.write_text(source)
    module = types.ModuleType(name)
    module.__file__ = str(path)
    return module


def test_key_changes_with_args_profile_and_code(tmp_path, monkeypatch):
    monkeypatch.setenv("PROBE_DIR", str(tmp_path))
    code = _module("probe_a", "x = 1\n")
    base, parts = store.entry_key("m", {"steps": 10}, [code], "default")
    assert store.entry_key("m", {"steps": 10}, [code], "default")[0] == base      # deterministic
    assert parts["torch"] == torch.__version__ and parts["profile"] == "default"
    assert store.entry_key("m", {"steps": 11}, [code], "default")[0] != base
    assert store.entry_key("m", {"steps": 10}, [code], "quick")[0] != base
    assert store.entry_key("n", {"steps": 10}, [code], "default")[0] != base
    Path(code.__file__).write_text("x = 2\n")                                     # the code changes
    assert store.entry_key("m", {"steps": 10}, [code], "default")[0] != base


def test_a_changed_network_class_is_a_new_entry(tmp_path):
    first = store.cached("net", _build(), _train(1.0), args={}, folder=tmp_path)[1]
    assert store.cached("net", _build(), _train(2.0), args={}, folder=tmp_path)[1].loaded

    class Other(torch.nn.Linear):                     # another class, defined in this test module
        pass

    def build_other():
        return Other(3, 2)
    other = store.cached("net", build_other, _train(3.0), args={}, folder=tmp_path)[1]
    # same name and args, but the network's defining module now enters the key
    assert other.key != first.key and not other.loaded


def test_stale_entries_are_never_used(tmp_path, monkeypatch):
    monkeypatch.setenv("PROBE_DIR", str(tmp_path))
    code = _module("probe_b", "version = 1\n")
    net, rec = store.cached("m", _build(), _train(1.0), args={}, version_of=[code], folder=tmp_path)
    Path(code.__file__).write_text("version = 2\n")
    net, rec2 = store.cached("m", _build(), _train(2.0), args={}, version_of=[code], folder=tmp_path)
    assert not rec2.loaded and rec2.key != rec.key and torch.all(net.weight == 2.0)


def test_training_time_and_info_survive_a_load(tmp_path):
    def slow(module):
        torch.nn.init.constant_(module.bias, 0.5)
        torch.ones(1).add_(1)                          # something, timed
        return {"steps": 7}
    net, rec = store.cached("t", _build(), slow, args={"steps": 7}, folder=tmp_path)
    net2, rec2 = store.cached("t", _build(1), _train(9.0), args={"steps": 7}, folder=tmp_path)
    assert not rec.loaded and rec2.loaded
    assert rec2.seconds == pytest.approx(rec.seconds, rel=0, abs=1e-12) and rec.seconds > 0
    assert rec2.info == {"steps": 7} and rec2.args == {"steps": 7} and rec2.created == rec.created
    assert torch.equal(net2.bias, net.bias) and torch.equal(net2.weight, net.weight)   # not the new build


@pytest.mark.parametrize("damage", ["garbage", "truncate", "flip", "sidecar"])
def test_a_corrupt_entry_is_retrained_and_replaced(tmp_path, damage):
    _, rec = store.cached("c", _build(), _train(1.0), args={}, folder=tmp_path)
    data = rec.path.read_bytes()
    if damage == "garbage":
        rec.path.write_bytes(b"not a checkpoint")
    elif damage == "truncate":
        rec.path.write_bytes(data[: len(data) // 2])
    elif damage == "flip":                             # a loadable file whose bytes changed
        rec.path.write_bytes(data[:-40] + bytes([data[-40] ^ 1]) + data[-39:])
    else:
        rec.path.with_suffix(".json").write_text("{")
    with pytest.warns(UserWarning, match="unusable"):
        net, rec2 = store.cached("c", _build(), _train(2.0), args={}, folder=tmp_path)
    assert not rec2.loaded and torch.all(net.weight == 2.0)
    net3, rec3 = store.cached("c", _build(), _train(3.0), args={}, folder=tmp_path)
    assert rec3.loaded and torch.all(net3.weight == 2.0)


def test_bad_arguments_are_refused(tmp_path):
    with pytest.raises(ValueError, match="name"):
        store.cached("a/b", _build(), _train(1.0), args={}, folder=tmp_path)
    with pytest.raises(TypeError, match="JSON"):
        store.cached("a", _build(), _train(1.0), args={"f": object()}, folder=tmp_path)
    with pytest.raises(TypeError, match="nn.Module"):
        store.cached("a", lambda: 3, _train(1.0), args={}, folder=tmp_path)
    with pytest.raises(TypeError, match="dict"):
        store.cached("a", _build(), lambda m: 3.0, args={}, folder=tmp_path)
    with pytest.raises(ValueError, match="profile"):
        store.entry_key("a", {}, [], "fast")
    with pytest.raises(TypeError, match="source"):
        store.entry_key("a", {}, [len], "quick")


WRITER = """
import sys, time, torch
from gmtext import store
value, folder = float(sys.argv[1]), sys.argv[2]
def train(m):
    time.sleep(1.0)                                    # both processes are training at once
    with torch.no_grad():
        m.weight.fill_(value)
    return {"value": value}
net, rec = store.cached("race", lambda: torch.nn.Linear(64, 64), train, args={"n": 1}, folder=folder)
print(rec.loaded, rec.key)
"""


def test_two_processes_writing_one_key_leave_one_valid_entry(tmp_path):
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONPATH=str(ROOT))
    procs = [subprocess.Popen([sys.executable, "-c", WRITER, str(v), str(tmp_path)], env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for v in (1.0, 2.0)]
    outs = [p.communicate(timeout=300) for p in procs]
    assert all(p.returncode == 0 for p in procs), [o[1][-2000:] for o in outs]
    assert {o[0].split()[0] for o in outs} == {"False"}          # both trained (they overlapped)
    files = sorted(p.name for p in tmp_path.iterdir() if not p.name.endswith(".lock"))
    assert len(files) == 2 and files[0].endswith(".json") and files[1].endswith(".pt"), files  # no .tmp left
    meta = json.loads((tmp_path / files[0]).read_text())
    net, rec = store.cached("race", lambda: torch.nn.Linear(64, 64), _train(9.0), args={"n": 1},
                            folder=tmp_path)
    assert rec.loaded and rec.info["value"] == meta["info"]["value"]
    assert torch.all(net.weight == meta["info"]["value"])        # the weights of the sidecar's writer


def test_stored_recipes_give_the_weights_of_the_plain_recipes(tmp_path, monkeypatch):
    from gmtext.recipes.gan_digits import stored_digit_gan, train_digit_gan
    from gmtext.recipes.score import digit_score_model, stored_digit_score_model, train_digit_score_model
    monkeypatch.setenv("GMTEXT_CACHE", str(tmp_path))
    g, _ = train_digit_gan(3, channels=4, seed=2, progress=False)
    for expect_loaded in (False, True):
        g_stored, rec = stored_digit_gan(3, channels=4, seed=2, progress=False)
        assert rec.loaded is expect_loaded and rec.info["steps_done"] == 3
        for (name, a), b in zip(g.state_dict().items(), g_stored.state_dict().values()):
            assert torch.equal(a, b), name
    torch.manual_seed(5)
    model = digit_score_model(channels=4, blocks=1)
    train_digit_score_model(model, 3, torch.Generator().manual_seed(5), progress=False)
    stored, rec = stored_digit_score_model(3, seed=5, channels=4, blocks=1, progress=False)
    assert not rec.loaded and not any(p.requires_grad for p in stored.parameters())
    for (name, a), b in zip(model.state_dict().items(), stored.state_dict().values()):
        assert torch.equal(a, b), name
