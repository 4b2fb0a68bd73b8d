r"""Figures of the book: image grids, 1-D/2-D densities, training curves, offline animations.

Every function returns a :class:`matplotlib.figure.Figure`, so that a notebook can show it as a
cell's value or ``glue`` it into the text. The figures are created without ``pyplot`` (unless an
``ax`` is passed): they never show twice in a notebook, do not pile up as open figures, and work
under any backend, headless included. Pass ``ax=`` to draw into a panel of a larger figure.

Conventions: digits are drawn black on white (``gray_r``) on their 0..16 scale, tiles separated
by thin grey lines; densities are heat maps of :math:`p(x) = \exp \log p(x)` with samples as small
dots on top. Each function's example draws one figure.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping

import matplotlib
import numpy as np
import torch
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from torch import Tensor

from gmtext.train import History
from gmtext.viz.animation import animation_html as animation_html  # re-exported

__all__ = ["image_grid", "density_2d", "density_1d", "training_curves"]

_SEPARATOR = (0.85, 0.85, 0.85)     # colour of the lines between tiles of an image grid


def _figure_and_axes(ax: Axes | None, figsize: tuple[float, float]) -> tuple[Figure, Axes]:
    if ax is None:
        fig = Figure(figsize=figsize, layout="constrained")
        return fig, fig.add_subplot()
    if not isinstance(ax, Axes):
        raise TypeError(f"ax must be a matplotlib Axes or None, got {type(ax).__name__}")
    return ax.figure, ax


def _titled(fig: Figure, ax: Axes, title: str | None) -> Figure:
    if title:
        ax.set_title(title)
    return fig


def image_grid(images: Tensor | np.ndarray, nrow: int | None = None, *, vmin: float = 0.0,
               vmax: float | None = None, ax: Axes | None = None, title: str | None = None,
               cmap: str = "gray_r", pad: int = 1) -> Figure:
    r"""Tile a batch of images into one grid image.

    Grey images are drawn with ``cmap`` (default black ink on white paper, as the digits are
    written); RGB images are rescaled from ``[vmin, vmax]`` to [0, 1]. Tiles are separated by
    ``pad`` pixels of light grey.

    Args:
        images: ``(N, H, W)``, ``(N, 1, H, W)`` or ``(N, 3, H, W)``, integer or float.
        nrow: images per row (as in ``torchvision.utils.make_grid``); default
            :math:`\lceil\sqrt N\rceil`.
        vmin: value drawn as the lightest grey (paper).
        vmax: value drawn as the darkest grey (ink); ``None`` picks 1 if every value is at most 1
            (images on [0, 1]), else 16 if every value is at most 16 (the digits' scale), else
            the maximum. Pass it explicitly to compare figures on one scale.
        ax, title: draw into this axes instead of a new figure; the axes title.
        cmap: matplotlib colour map for grey images.
        pad: separator width in pixels.

    Raises:
        TypeError: if ``images`` is not a tensor or array.
        ValueError: on another shape, NaN values, ``vmax <= vmin`` or a bad ``nrow``/``pad``.

    Example:
        >>> from gmtext.data.images import digits
        >>> fig = image_grid(digits("test")[:20], nrow=10, title="test digits")
        >>> fig.axes[0].images[0].get_array().shape      # 2 x 8 tiles plus 1-pixel separators
        (19, 91)
    """
    x = _as_image_array(images)                                  # (N, C, H, W) float64
    n, c, h, w = x.shape
    if nrow is None:
        nrow = math.ceil(math.sqrt(n))
    if isinstance(nrow, bool) or not isinstance(nrow, int) or nrow < 1:
        raise ValueError(f"nrow must be a positive int (images per row), got {nrow!r}")
    if isinstance(pad, bool) or not isinstance(pad, int) or pad < 0:
        raise ValueError(f"pad must be a non-negative int, got {pad!r}")
    if vmax is None:
        top = float(x.max())
        vmax = 1.0 if top <= 1.0 else 16.0 if top <= 16.0 else top
    if not vmax > vmin:
        raise ValueError(f"vmax must exceed vmin, got vmin={vmin}, vmax={vmax}")
    ncol, rows = min(nrow, n), math.ceil(n / min(nrow, n))
    blank = vmin if c == 1 else vmax                             # paper: white in gray_r and RGB
    # mosaic (H', W', C): NaN marks separators (drawn in _SEPARATOR); unused tiles stay blank
    mosaic = np.full((rows * (h + pad) + pad, ncol * (w + pad) + pad, c), np.nan)
    for i in range(rows * ncol):
        top_, left = pad + (i // ncol) * (h + pad), pad + (i % ncol) * (w + pad)
        mosaic[top_:top_ + h, left:left + w] = x[i].transpose(1, 2, 0) if i < n else blank
    side = min(6.0 / ncol, max(0.6, w / 20))                    # inches per tile
    fig, ax = _figure_and_axes(ax, (ncol * side, rows * side * h / w + (0.3 if title else 0)))
    if c == 1:
        colours = matplotlib.colormaps[cmap].with_extremes(bad=_SEPARATOR)
        ax.imshow(np.ma.masked_invalid(mosaic[..., 0]), cmap=colours, vmin=vmin, vmax=vmax,
                  interpolation="nearest")
    else:
        rgb = np.clip((mosaic - vmin) / (vmax - vmin), 0.0, 1.0)
        rgb[np.isnan(mosaic)] = np.broadcast_to(_SEPARATOR, rgb.shape)[np.isnan(mosaic)]
        ax.imshow(rgb, interpolation="nearest")
    ax.set_axis_off()
    return _titled(fig, ax, title)


def _as_image_array(images: Tensor | np.ndarray) -> np.ndarray:
    if isinstance(images, Tensor):
        x = images.detach().cpu().double().numpy()
    elif isinstance(images, np.ndarray):
        x = images.astype(np.float64)
    else:
        raise TypeError(f"images must be a torch.Tensor or numpy array, "
                        f"got {type(images).__name__}")
    if x.ndim == 3:
        x = x[:, None]                                           # (N, H, W) -> (N, 1, H, W)
    if x.ndim != 4 or x.shape[1] not in (1, 3) or x.shape[0] == 0 or min(x.shape[2:]) == 0:
        raise ValueError(f"images must have shape (N, H, W), (N, 1, H, W) or (N, 3, H, W) with "
                         f"N >= 1, got {tuple(images.shape)} (use x[None] for one image)")
    if np.isnan(x).any():
        raise ValueError("images hold NaN values")
    return x


def density_2d(log_prob: Callable[[Tensor], Tensor], *, samples: Tensor | None = None,
               bounds: tuple[float, float, float, float] = (-5.0, 5.0, -5.0, 5.0),
               resolution: int = 200, ax: Axes | None = None, title: str | None = None,
               cmap: str = "Blues", device: str | torch.device | None = None) -> Figure:
    r"""Heat map of a 2-D density :math:`p(x) = \exp \log p(x)` on a grid, samples overlaid.

    Args:
        log_prob: ``(N, 2) -> (N,)`` log-density, e.g. ``toy.load("ring8").log_prob`` or a
            model's; evaluated in chunks under ``torch.no_grad``.
        samples: ``(M, 2)`` points drawn as small dots (optional).
        bounds: ``(x_min, x_max, y_min, y_max)`` of the grid.
        resolution: grid points per axis.
        ax, title: draw into this axes instead of a new figure; the axes title.
        cmap: matplotlib colour map of the density.
        device: where the grid points are created (the model's device).

    Raises:
        ValueError: on bad ``bounds``/``resolution``/``samples``, or if ``log_prob`` returns a
            wrong shape, NaN or :math:`+\infty`.

    Example:
        >>> from gmtext.data import toy
        >>> fig = density_2d(toy.load("ring8").log_prob, resolution=50)
        >>> len(fig.axes[0].images)
        1
    """
    x0, x1, y0, y1 = (float(b) for b in bounds)
    if not (x1 > x0 and y1 > y0):
        raise ValueError(f"bounds must be (x_min, x_max, y_min, y_max) with min < max, "
                         f"got {bounds}")
    if isinstance(resolution, bool) or not isinstance(resolution, int) or resolution < 2:
        raise ValueError(f"resolution must be an int >= 2, got {resolution!r}")
    xs = torch.linspace(x0, x1, resolution, device=device)
    ys = torch.linspace(y0, y1, resolution, device=device)
    grid_y, grid_x = torch.meshgrid(ys, xs, indexing="ij")                  # (R, R), row = y
    points = torch.stack([grid_x, grid_y], dim=-1).reshape(-1, 2)           # (R*R, 2)
    density = _evaluate(log_prob, points).exp().reshape(resolution, resolution)
    fig, ax = _figure_and_axes(ax, (4.2, 4.0))
    ax.imshow(density.numpy(), origin="lower", extent=(x0, x1, y0, y1), cmap=cmap,
              interpolation="bilinear", aspect="equal")
    if samples is not None:
        s = _as_points(samples, 2, "samples")
        ax.scatter(s[:, 0], s[:, 1], s=1.5, color="tab:orange", alpha=0.6, linewidths=0)
        ax.set(xlim=(x0, x1), ylim=(y0, y1))
    ax.set(xlabel="$x_1$", ylabel="$x_2$")
    return _titled(fig, ax, title)


def density_1d(log_prob: Callable[[Tensor], Tensor], *, samples: Tensor | None = None,
               bounds: tuple[float, float] = (-6.0, 6.0), resolution: int = 500,
               ax: Axes | None = None, title: str | None = None, label: str = "density",
               bins: int = 60) -> Figure:
    r"""Line plot of a 1-D density :math:`p(x) = \exp \log p(x)`, with a histogram of samples.

    Args:
        log_prob: ``(N, 1) -> (N,)`` log-density (e.g. ``toy.load("mixture1d").log_prob``).
        samples: ``(M,)`` or ``(M, 1)`` points drawn as a normalised histogram (optional).
        bounds: ``(x_min, x_max)``.
        resolution: number of evaluation points.
        ax, title: draw into this axes instead of a new figure; the axes title.
        label: legend label of the density curve.
        bins: histogram bins.

    Raises:
        ValueError: on bad ``bounds``/``resolution``/``samples``, or if ``log_prob`` returns a
            wrong shape, NaN or :math:`+\infty`.

    Example:
        >>> from gmtext.data import toy
        >>> fig = density_1d(toy.load("mixture1d").log_prob)
        >>> len(fig.axes[0].lines)
        1
    """
    x0, x1 = (float(b) for b in bounds)
    if not x1 > x0 or isinstance(resolution, bool) or not isinstance(resolution, int) \
            or resolution < 2:
        raise ValueError(f"need bounds (x_min, x_max) with x_min < x_max and an int "
                         f"resolution >= 2, got {bounds}, {resolution!r}")
    xs = torch.linspace(x0, x1, resolution)
    density = _evaluate(log_prob, xs[:, None]).exp()
    fig, ax = _figure_and_axes(ax, (5.0, 3.0))
    if samples is not None:
        s = _as_points(samples.reshape(-1, 1) if isinstance(samples, Tensor) else samples,
                       1, "samples")
        ax.hist(s[:, 0], bins=bins, range=(x0, x1), density=True, color="tab:orange",
                alpha=0.5, label="samples")
    ax.plot(xs.numpy(), density.numpy(), color="tab:blue", label=label)
    ax.set(xlim=(x0, x1), xlabel="$x$", ylabel="density")
    if samples is not None:
        ax.legend(frameon=False)
    return _titled(fig, ax, title)


def _evaluate(log_prob: Callable[[Tensor], Tensor], points: Tensor) -> Tensor:
    """``log_prob`` on ``points`` in chunks, checked, as a float64 CPU tensor."""
    if not callable(log_prob):
        raise TypeError(f"log_prob must be callable (N, D) -> (N,), got {type(log_prob).__name__}")
    out = []
    with torch.no_grad():
        for chunk in points.split(65536):
            value = log_prob(chunk)
            if not isinstance(value, Tensor) or value.shape != chunk.shape[:1]:
                shape = tuple(value.shape) if isinstance(value, Tensor) else type(value).__name__
                raise ValueError(f"log_prob must return shape ({len(chunk)},), got {shape}")
            out.append(value.detach().double().cpu())
    values = torch.cat(out)
    if bool(torch.isnan(values).any()) or bool((values == math.inf).any()):
        raise ValueError("log_prob returned NaN or +inf on the plotting grid")
    return values


def _as_points(x: Tensor, dim: int, name: str) -> np.ndarray:
    if not isinstance(x, Tensor):
        raise TypeError(f"{name} must be a torch.Tensor of shape (M, {dim}), "
                        f"got {type(x).__name__}")
    if x.ndim != 2 or x.shape[1] != dim:
        raise ValueError(f"{name} must have shape (M, {dim}), got {tuple(x.shape)}")
    return x.detach().cpu().double().numpy()


def training_curves(histories: Mapping[str, History] | History, *, ax: Axes | None = None,
                    smooth: int = 1, logs: bool = True, ylabel: str = "loss",
                    title: str | None = None) -> Figure:
    """Training loss against optimiser step, with any logged series (e.g. ``"val"``).

    The loss of each run is drawn as a line, optionally smoothed by a moving average over
    ``smooth`` steps (plotted at the last step of each window); each series of ``History.logs``
    is drawn dashed with markers in the run's colour.

    Args:
        histories: one ``gmtext.train.History`` or a mapping ``name -> History``.
        smooth: moving-average window in steps (1 draws the raw loss).
        logs: also draw the series of ``History.logs``.
        ylabel: the y-axis label (e.g. "NLL (nats)").
        ax, title: draw into this axes instead of a new figure; the axes title.

    Raises:
        TypeError: if ``histories`` holds anything but ``History`` objects.
        ValueError: if ``smooth < 1`` or a run has no losses.

    Example:
        >>> h = History(loss=[3.0, 2.0, 1.5, 1.2], logs={"val": [(1, 2.5), (3, 1.6)]})
        >>> fig = training_curves({"model": h}, smooth=2)
        >>> len(fig.axes[0].lines)
        2
    """
    runs = {"train": histories} if isinstance(histories, History) else dict(histories)
    if not runs or not all(isinstance(h, History) for h in runs.values()):
        raise TypeError("histories must be a History or a non-empty mapping name -> History")
    if isinstance(smooth, bool) or not isinstance(smooth, int) or smooth < 1:
        raise ValueError(f"smooth must be a positive int (window in steps), got {smooth!r}")
    fig, ax = _figure_and_axes(ax, (5.0, 3.2))
    for i, (name, history) in enumerate(runs.items()):
        if not history.loss:
            raise ValueError(f"run {name!r} has no recorded losses")
        colour = f"C{i % 10}"
        loss = np.asarray(history.loss, dtype=np.float64)
        window = min(smooth, len(loss))
        smoothed = np.convolve(loss, np.ones(window) / window, mode="valid")
        ax.plot(np.arange(window - 1, len(loss)), smoothed, color=colour, lw=1.2, label=name)
        for key, series in (history.logs.items() if logs else ()):
            if series:
                steps, values = zip(*series, strict=True)
                ax.plot(steps, values, "o--", color=colour, ms=3, lw=1, label=f"{name} {key}")
    ax.set(xlabel="step", ylabel=ylabel)
    if len(ax.lines) > 1:
        ax.legend(frameon=False)
    return _titled(fig, ax, title)
