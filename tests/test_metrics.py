"""Tests of gmtext.metrics: each metric against a closed form or an exact special case."""

from __future__ import annotations

import math

import pytest
import scipy.linalg
import torch

from gmtext.data import toy
from gmtext.data.images import digits
from gmtext.metrics import (
    bits_per_dim,
    classifier_accuracy,
    digit_classifier,
    digit_features,
    digits_frechet_distance,
    entropy_mc,
    frechet_distance,
    frechet_distance_gaussians,
    kl_mc,
    mode_coverage,
    nll_nats,
    precision_recall,
    psnr,
)
from gmtext.metrics import classifier as classifier_module


def gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


# ---------------------------------------------------------------- likelihood
def test_nll_and_bits_per_dim_formulas():
    assert nll_nats(torch.tensor([-1.0, -2.0, -6.0])) == pytest.approx(3.0)
    assert bits_per_dim(100.0, 64) == pytest.approx(100.0 / (64 * math.log(2)))
    # the book's conventions page: uniform over 17^64 values is 64 log 17 nats = log2(17) bits/dim
    assert bits_per_dim(64 * math.log(17), 64) == pytest.approx(math.log2(17))


def test_nll_rejects_bad_input():
    with pytest.raises(ValueError, match="infinite"):
        nll_nats(torch.tensor([-1.0, -math.inf]))
    with pytest.raises(ValueError, match="NaN"):
        nll_nats(torch.tensor([-1.0, math.nan]))
    with pytest.raises(ValueError, match=r"shape \(N,\)"):
        nll_nats(torch.zeros(3, 2))
    with pytest.raises(TypeError, match="floating-point"):
        nll_nats(torch.zeros(3, dtype=torch.long))
    with pytest.raises(ValueError, match="positive int"):
        bits_per_dim(1.0, 0)


def test_kl_of_a_toy_with_itself_is_zero():
    p = toy.load("grid25_wide")
    kl, se = kl_mc(p, p.log_prob, 5000, gen())
    assert kl == 0.0 and se == 0.0


def test_kl_between_gaussians_matches_closed_form():
    # p = N(m1, diag(s1^2)), q = N(m2, diag(s2^2)):
    # KL = sum_d log(s2/s1) + (s1^2 + (m1 - m2)^2) / (2 s2^2) - 1/2
    m1, s1 = torch.tensor([0.0, 1.0]), torch.tensor([1.0, 0.5])
    m2, s2 = torch.tensor([0.5, 0.0]), torch.tensor([1.5, 1.0])
    p = toy.GaussianMixture(m1[None], s1[None])
    q = torch.distributions.Normal(m2, s2)
    exact = float((torch.log(s2 / s1) + (s1**2 + (m1 - m2) ** 2) / (2 * s2**2) - 0.5).sum())
    kl, se = kl_mc(p, lambda x: q.log_prob(x).sum(-1), 20000, gen(1))
    assert kl > 0 and 0 < se < 0.05
    assert abs(kl - exact) < 5 * se


def test_kl_mc_errors():
    p = toy.load("ring8")
    with pytest.raises(ValueError, match=r"shape \(100,\)"):
        kl_mc(p, lambda x: x.sum(-1, keepdim=True), 100, gen())
    with pytest.raises(ValueError, match="NaN"):
        kl_mc(p, lambda x: torch.full((len(x),), math.nan), 100, gen())
    with pytest.raises(ValueError, match="infinite"):
        kl_mc(p, lambda x: torch.full((len(x),), -math.inf), 100, gen())
    with pytest.raises(TypeError, match="no exact log_prob"):
        kl_mc(toy.load("two_moons"), p.log_prob, 100, gen())
    with pytest.raises(TypeError, match="sample"):
        kl_mc(object(), p.log_prob, 100, gen())
    with pytest.raises(TypeError, match="torch.Generator"):
        kl_mc(p, p.log_prob, 100, 0)
    with pytest.raises(ValueError, match="n must be"):
        kl_mc(p, p.log_prob, 1, gen())


def test_entropy_of_separated_mixture():
    # K equal, well-separated isotropic Gaussians: H = log K + D/2 log(2 pi e sigma^2)
    for name, k, std in (("grid25", 25, 0.05), ("ring8", 8, 0.1)):
        h, se = entropy_mc(toy.load(name), 20000, gen(2))
        exact = math.log(k) + 0.5 * 2 * math.log(2 * math.pi * math.e * std**2)
        assert abs(h - exact) < 5 * se, (name, h, exact, se)


# ---------------------------------------------------------------- sample quality
def test_precision_recall_extremes_and_partial():
    x = torch.randn(2000, 2, generator=gen(3))
    assert precision_recall(x, x) == {"precision": 1.0, "recall": 1.0}
    far = precision_recall(x, x + 50.0)
    assert far["precision"] == 0.0 and far["recall"] == 0.0
    # fakes on half the support (x_1 > 0): realistic (high precision), half the data missed
    half = x[x[:, 0] > 0]
    pr = precision_recall(x, half)
    assert pr["precision"] > 0.95 and 0.4 < pr["recall"] < 0.65


def test_precision_recall_flattens_images_and_checks_input():
    x = torch.rand(50, 1, 8, 8, generator=gen(4))
    assert precision_recall(x, x, k=3)["precision"] == 1.0
    with pytest.raises(ValueError, match="same number of features"):
        precision_recall(torch.zeros(10, 2), torch.zeros(10, 3))
    with pytest.raises(ValueError, match="k must be"):
        precision_recall(torch.randn(5, 2), torch.randn(5, 2), k=5)
    with pytest.raises(ValueError, match="NaN"):
        precision_recall(torch.full((5, 2), math.nan), torch.randn(5, 2))


def test_mode_coverage_on_exact_and_collapsed_samples():
    p = toy.load("grid25")
    x = p.sample(2500, generator=gen(5))
    out = mode_coverage(x, p.means, std=0.05)
    assert out["modes_covered"] == 25 and out["n_modes"] == 25
    # P(||x - mu|| <= 3 sigma) in 2-D is 1 - exp(-9/2); binomial standard error over 2,500
    expected = 1 - math.exp(-4.5)
    assert abs(out["high_quality_fraction"] - expected) < 5 * math.sqrt(expected * (1 - expected)
                                                                          / 2500)
    assert int(out["counts"].sum()) == round(out["high_quality_fraction"] * 2500)
    # samples from 3 modes only
    collapsed = p.means[[0, 7, 19]].float()[torch.arange(2500) % 3] + 0.05 * torch.randn(
        2500, 2, generator=gen(6))
    assert mode_coverage(collapsed, p.means, std=0.05)["modes_covered"] == 3
    # samples between the modes are not high quality
    between = torch.full((2500, 2), 1.0)
    out = mode_coverage(between, p.means, std=0.05)
    assert out["modes_covered"] == 0 and out["high_quality_fraction"] == 0.0


def test_mode_coverage_errors():
    means = toy.load("grid25").means
    with pytest.raises(ValueError, match="same D"):
        mode_coverage(torch.zeros(10, 3), means, std=0.05)
    with pytest.raises(ValueError, match="positive"):
        mode_coverage(torch.zeros(10, 2), means, std=0.0)
    with pytest.raises(ValueError, match="NaN"):
        mode_coverage(torch.full((10, 2), math.nan), means, std=0.05)


def test_psnr_formula():
    y = torch.zeros(3, 1, 8, 8)
    x = y + torch.tensor([1.0, 2.0, 4.0])[:, None, None, None]      # MSE 1, 4, 16
    values = psnr(x, y, data_range=16.0, reduction="none")
    expected = 10 * torch.log10(256.0 / torch.tensor([1.0, 4.0, 16.0], dtype=torch.float64))
    assert torch.allclose(values, expected)
    assert psnr(x, y, 16.0) == pytest.approx(float(expected.mean()))
    assert psnr(y, y, 1.0) == math.inf
    with pytest.raises(ValueError, match="same shape"):
        psnr(x, y[:2], 16.0)


# ---------------------------------------------------------------- Frechet distance
def test_frechet_gaussians_closed_form_against_scipy():
    g = gen(7)
    a, b = torch.randn(4, 4, generator=g, dtype=torch.float64), torch.randn(
        4, 4, generator=g, dtype=torch.float64)
    cov_a, cov_b = a @ a.T + 0.1 * torch.eye(4), b @ b.T + 0.1 * torch.eye(4)   # do not commute
    mu_a, mu_b = torch.randn(4, generator=g, dtype=torch.float64), torch.zeros(4)
    root = scipy.linalg.sqrtm(cov_a.numpy() @ cov_b.numpy()).real
    exact = float((mu_a - mu_b).pow(2).sum() + cov_a.trace() + cov_b.trace() - 2 * root.trace())
    assert frechet_distance_gaussians(mu_a, cov_a, mu_b, cov_b) == pytest.approx(exact, rel=1e-8)
    # 1-D: (m1 - m2)^2 + (s1 - s2)^2
    one = torch.ones(1, 1)
    assert frechet_distance_gaussians(torch.zeros(1), 9 * one, torch.ones(1), 4 * one) == \
        pytest.approx(1.0 + 1.0)


def test_frechet_distance_of_samples():
    g = gen(8)
    x = torch.randn(3000, 3, generator=g)
    assert frechet_distance(x, x) == 0.0
    # symmetric; unchanged by a common translation and rotation; + ||c||^2 for a one-sided shift
    y = 0.5 * torch.randn(3000, 3, generator=g) + 1.0
    fd = frechet_distance(x, y)
    assert frechet_distance(y, x) == pytest.approx(fd, rel=1e-9)
    c = torch.tensor([3.0, -1.0, 2.0])
    rotation = torch.linalg.qr(torch.randn(3, 3, generator=g))[0]
    assert frechet_distance(x + c, y + c) == pytest.approx(fd, rel=1e-5)
    assert frechet_distance(x @ rotation.T, y @ rotation.T) == pytest.approx(fd, rel=1e-5)
    assert frechet_distance(x, x + c) == pytest.approx(float(c.pow(2).sum()), rel=1e-5)
    # large samples of N(0, I) and N(1, 0.25 I): 3 * 1 + 3 * (1 - 0.5)^2 = 3.75
    assert fd == pytest.approx(3.75, abs=0.1)


def test_frechet_errors():
    with pytest.raises(ValueError, match="same feature dimension"):
        frechet_distance(torch.zeros(10, 2), torch.zeros(10, 3))
    with pytest.raises(ValueError, match=r"shape \(N, D\)"):
        frechet_distance(torch.zeros(10), torch.zeros(10))
    with pytest.raises(ValueError, match="NaN"):
        frechet_distance(torch.full((10, 2), math.nan), torch.zeros(10, 2))


# ---------------------------------------------------------------- digit classifier
def test_classifier_is_accurate_and_features_have_shape():
    assert classifier_accuracy("test") >= 0.95
    x = digits("test")
    feats = digit_features(x[:7])
    assert feats.shape == (7, 64) and feats.dtype == torch.float32
    # int, float and (N, 8, 8) inputs give the same features
    assert torch.equal(digit_features(x[:7].float()), feats)
    assert torch.equal(digit_features(x[:7, 0]), feats)
    assert digit_classifier() is digit_classifier()           # cached in the process


def test_digits_frechet_distance_orders_sample_sets():
    x, y = digits("train", labels=True)
    floor = digits_frechet_distance(x)
    assert digits_frechet_distance(digits("test")) == 0.0
    noisy = (x.float() + 4 * torch.randn(x.shape, generator=gen(9))).clamp(0, 16)
    collapsed = x[y == 1]
    assert 0 < floor < digits_frechet_distance(noisy) < digits_frechet_distance(collapsed)


def test_digit_features_rejects_bad_images():
    with pytest.raises(ValueError, match=r"shape \(N, 1, 8, 8\)"):
        digit_features(torch.zeros(4, 1, 28, 28))
    with pytest.raises(ValueError, match="0..16 scale"):
        digit_features(torch.full((4, 1, 8, 8), -1.0))
    with pytest.raises(ValueError, match="NaN"):
        digit_features(torch.full((4, 1, 8, 8), math.nan))
    with pytest.raises(TypeError, match="torch.Tensor"):
        digit_features([[0.0]])
    with pytest.warns(UserWarning, match="0..16 scale"):
        digit_features(torch.rand(4, 1, 8, 8, generator=gen(10)))


def test_classifier_trains_once_then_loads(tmp_path, monkeypatch):
    # the training itself runs for real with the default cache; here only the caching is tested
    monkeypatch.setenv("GMTEXT_CACHE", str(tmp_path))
    calls = []
    monkeypatch.setattr(classifier_module, "_train", lambda model: calls.append(1))
    monkeypatch.setattr(classifier_module, "_LOADED", {})
    first = digit_classifier()
    assert (tmp_path / classifier_module.CHECKPOINT).is_file() and calls == [1]
    assert digit_classifier() is first                       # cached in the process
    monkeypatch.setattr(classifier_module, "_LOADED", {})   # a fresh process: only the file left
    second = digit_classifier()
    assert calls == [1] and second is not first              # loaded from disk, not retrained
    for a, b in zip(first.state_dict().values(), second.state_dict().values(), strict=True):
        assert torch.equal(a, b)
    assert not any(p.requires_grad for p in second.parameters()) and not second.training


def test_label_accuracy_refuses_labels_of_the_wrong_shape():
    from gmtext.metrics.classifier import label_accuracy
    x = torch.zeros(4, 1, 8, 8, dtype=torch.long)
    with pytest.raises(ValueError, match=r"labels must have shape \(4,\)"):
        label_accuracy(x, torch.zeros(4, 1, dtype=torch.long))       # never broadcast
