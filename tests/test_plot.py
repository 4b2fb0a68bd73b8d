"""Tests of gmtext.viz.plot and gmtext.viz.animation: headless figures, their contents and errors."""

from __future__ import annotations

import math
import re

import matplotlib

matplotlib.use("Agg")

import matplotlib.animation  # noqa: E402
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

from gmtext.data import toy  # noqa: E402
from gmtext.data.images import digits  # noqa: E402
from gmtext.viz.plot import (  # noqa: E402
    animation_html,
    density_1d,
    density_2d,
    image_grid,
    training_curves,
)
from gmtext.train import History  # noqa: E402


def test_image_grid_layout_and_inputs():
    x = digits("test")[:23]                                    # int64, (N, 1, 8, 8)
    fig = image_grid(x, nrow=5, title="digits")
    assert isinstance(fig, Figure) and len(fig.axes) == 1 and len(fig.axes[0].images) == 1
    image = fig.axes[0].images[0]
    assert image.get_array().shape == (5 * 9 + 1, 5 * 9 + 1)   # 5 rows of 5, 1-pixel separators
    assert image.get_clim() == (0.0, 16.0)                     # digits scale picked automatically
    assert fig.axes[0].get_title() == "digits"
    # float on [0, 1], (N, H, W) and RGB inputs
    assert image_grid(torch.rand(4, 8, 8)).axes[0].images[0].get_clim() == (0.0, 1.0)
    rgb = image_grid(torch.rand(5, 3, 6, 6), nrow=5).axes[0].images[0].get_array()
    assert rgb.shape == (8, 36, 3) and 0.0 <= rgb.min() and rgb.max() <= 1.0
    # drawing into a given axes returns that axes' figure
    outer = Figure()
    axes = outer.subplots(1, 2)
    assert image_grid(x[:4], ax=axes[1]) is outer and len(axes[1].images) == 1


def test_image_grid_rejects_bad_input():
    with pytest.raises(ValueError, match=r"\(N, 1, H, W\)"):
        image_grid(torch.zeros(4, 2, 8, 8))
    with pytest.raises(ValueError, match="x\\[None\\]"):
        image_grid(torch.zeros(8, 8))
    with pytest.raises(ValueError, match="NaN"):
        image_grid(torch.full((2, 1, 8, 8), math.nan))
    with pytest.raises(ValueError, match="vmax must exceed vmin"):
        image_grid(torch.zeros(2, 1, 8, 8), vmin=1.0, vmax=1.0)
    with pytest.raises(ValueError, match="nrow"):
        image_grid(torch.zeros(2, 1, 8, 8), nrow=0)
    with pytest.raises(TypeError, match="torch.Tensor"):
        image_grid([[0.0]])


def test_density_2d_shows_the_density_on_the_grid():
    p = toy.load("ring8")
    samples = p.sample(300, generator=torch.Generator().manual_seed(0))
    fig = density_2d(p.log_prob, samples=samples, bounds=(-3, 3, -3, 3), resolution=64,
                     title="ring8")
    ax = fig.axes[0]
    assert len(ax.images) == 1 and len(ax.collections) == 1       # heat map + sample dots
    shown = np.asarray(ax.images[0].get_array())
    xs = torch.linspace(-3, 3, 64)
    grid = torch.stack(torch.meshgrid(xs, xs, indexing="xy"), -1).reshape(-1, 2)
    assert np.allclose(shown, p.log_prob(grid).exp().reshape(64, 64).numpy(), atol=1e-6)
    assert ax.images[0].get_extent() == [-3.0, 3.0, -3.0, 3.0]
    # a density with zero regions (log p = -inf) is fine
    assert density_2d(toy.load("checkerboard").log_prob, resolution=20).axes[0].images


def test_density_plots_reject_bad_log_prob():
    with pytest.raises(ValueError, match="NaN"):
        density_2d(lambda x: torch.full((len(x),), math.nan), resolution=10)
    with pytest.raises(ValueError, match="shape"):
        density_2d(lambda x: x, resolution=10)
    with pytest.raises(ValueError, match="bounds"):
        density_2d(toy.load("ring8").log_prob, bounds=(1, 0, 0, 1))
    with pytest.raises(ValueError, match=r"\(M, 2\)"):
        density_2d(toy.load("ring8").log_prob, samples=torch.zeros(5, 3), resolution=10)


def test_density_1d_and_histogram():
    p = toy.load("mixture1d")
    fig = density_1d(p.log_prob, samples=p.sample(500, generator=torch.Generator().manual_seed(1)))
    ax = fig.axes[0]
    assert len(ax.lines) == 1 and len(ax.patches) == 60
    x, y = ax.lines[0].get_data()
    integral = np.sum((y[1:] + y[:-1]) / 2 * np.diff(x))          # trapezoidal rule
    assert integral == pytest.approx(1.0, abs=1e-3)


def test_training_curves_draws_loss_and_logs():
    h = History(loss=[float(v) for v in np.linspace(3, 1, 100)],
                logs={"val": [(9, 2.5), (99, 1.4)]})
    fig = training_curves(h, smooth=10)
    ax = fig.axes[0]
    assert len(ax.lines) == 2
    steps, values = ax.lines[0].get_data()
    assert len(steps) == 91 and steps[0] == 9 and values[0] == pytest.approx(np.mean(h.loss[:10]))
    runs = {"a": h, "b": History(loss=[1.0, 0.5])}
    assert len(training_curves(runs, logs=False).axes[0].lines) == 2
    with pytest.raises(ValueError, match="smooth"):
        training_curves(h, smooth=0)
    with pytest.raises(TypeError, match="History"):
        training_curves({"a": [1.0, 2.0]})
    with pytest.raises(ValueError, match="no recorded losses"):
        training_curves(History())


def test_animation_html_is_self_contained():
    fig, ax = plt.subplots(figsize=(2, 2))
    (line,) = ax.plot([0, 1], [0, 0])
    anim = matplotlib.animation.FuncAnimation(fig, lambda i: line.set_ydata([0, i]), frames=3)
    html = animation_html(anim).data
    # no resource is loaded from elsewhere (the frames are embedded data URIs)
    assert not re.search(r"""(?:href|src)\s*=\s*["']?\s*(?:https?:)?//""", html, flags=re.I)
    assert not re.search(r"<link\b", html, flags=re.I) and "@import" not in html
    # every button still has a visible label instead of an icon font glyph
    buttons = re.findall(r"<button[^>]*>(.*?)</button>", html, flags=re.S)
    assert len(buttons) == 9 and all(b.strip() for b in buttons)
    assert 'class="fa' not in html
    assert "data:image/png;base64" in html
    assert not plt.fignum_exists(fig.number)                    # the still figure was closed
    with pytest.raises(TypeError, match="Animation"):
        animation_html(fig)
