import pytest
import torch

from gmtext import config


def test_profile_from_environment(monkeypatch):
    monkeypatch.setenv("GMTEXT_PROFILE", "Quick")
    assert config.profile() == "quick"
    monkeypatch.delenv("GMTEXT_PROFILE")
    assert config.profile() == "default"


def test_unknown_profile_lists_valid_ones(monkeypatch):
    monkeypatch.setenv("GMTEXT_PROFILE", "fast")
    with pytest.raises(ValueError, match="quick.*default.*full"):
        config.profile()


def test_budget_table_is_complete_and_ordered():
    for key, row in config.BUDGETS.items():
        assert len(row) == len(config.PROFILES), key
        assert row[0] <= row[1] <= row[2], f"{key}: quick <= default <= full expected"


def test_budget_follows_profile_and_rejects_unknown(monkeypatch):
    key = next(iter(config.BUDGETS))
    monkeypatch.setenv("GMTEXT_PROFILE", "full")
    assert config.budget(key) == config.BUDGETS[key][2]
    assert config.budget(key, profile="quick") == config.BUDGETS[key][0]
    with pytest.raises(KeyError, match="known budgets"):
        config.budget("no.such.budget")
    with pytest.raises(ValueError, match="unknown profile"):
        config.budget(key, profile="huge")


def test_device_defaults_and_refuses_missing_cuda(monkeypatch):
    monkeypatch.delenv("GMTEXT_DEVICE", raising=False)
    expected = "cuda" if torch.cuda.is_available() else "cpu"
    assert config.device().type == expected
    assert config.device("cpu").type == "cpu"
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="CUDA is not available"):
            config.device("cuda")


def test_seed_everything_is_deterministic():
    a = torch.randn(4, generator=config.seed_everything(3))
    b = torch.randn(4, generator=config.seed_everything(3))
    global_a = (config.seed_everything(5), torch.rand(2))[1]
    global_b = (config.seed_everything(5), torch.rand(2))[1]
    assert torch.equal(a, b) and torch.equal(global_a, global_b)
    with pytest.raises(ValueError, match="non-negative int"):
        config.seed_everything(-1)


def test_cache_dir_follows_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("GMTEXT_CACHE", str(tmp_path / "c"))
    assert config.cache_dir() == tmp_path / "c" and (tmp_path / "c").is_dir()
