"""Figures of chapter 9: measurement, baseline, posterior samples, their mean, the truth and the std map."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from torch import Tensor

__all__ = ["reconstruction_table", "metric_bars"]


def _show(ax: Axes, img: Tensor | np.ndarray, vmin: float, vmax: float, cmap: str = "gray_r") -> None:
    arr = img.detach().cpu().numpy() if isinstance(img, Tensor) else np.asarray(img)
    ax.imshow(np.squeeze(arr), cmap=cmap, vmin=vmin, vmax=vmax, interpolation="nearest")
    ax.set_xticks([])
    ax.set_yticks([])


def reconstruction_table(columns: Mapping[str, Tensor], n_show: int = 4, std: Tensor | None = None,
                         vmin: float = 0.0, vmax: float = 16.0, title: str | None = None,
                         masked: Tensor | None = None) -> Figure:
    """One row per image, one column per entry of ``columns`` (each ``(N, 1, H, W)`` on ``[vmin, vmax]``),
    then a per-pixel standard-deviation map (``std``, ``(N, 1, H, W)``, its own colour scale).

    ``masked``: a boolean ``(H, W)`` map of unseen pixels, drawn hatched-blue in the first column
    (the measurement), so that "unseen" does not read as "white".
    """
    cols = list(columns) + (["posterior std"] if std is not None else [])
    fig = Figure(figsize=(1.05 * len(cols), 1.1 * n_show + 0.4), layout="constrained")
    axes = np.atleast_2d(fig.subplots(n_show, len(cols)))
    top = float(std[:n_show].max()) if std is not None else 1.0
    for i in range(n_show):
        for j, name in enumerate(cols):
            ax = axes[i, j]
            if name == "posterior std":
                _show(ax, std[i], 0.0, max(top, 1e-6), cmap="magma")
            else:
                img = columns[name][i]
                _show(ax, img, vmin, vmax)
                if j == 0 and masked is not None and img.shape[-2:] == masked.shape:
                    ax.imshow(np.ma.masked_where(~masked.numpy(), np.ones(masked.shape)), cmap="Blues",
                              vmin=0, vmax=2, alpha=0.6, interpolation="nearest")
            if i == 0:
                ax.set_title(name, fontsize=8)
    if title:
        fig.suptitle(title, fontsize=9)
    return fig


def metric_bars(rows: Mapping[str, Mapping[str, float]], metric: str, label: str) -> Figure:
    """Grouped bars of ``metric`` per task (outer key) and method (inner key)."""
    tasks = list(rows)
    methods = list(dict.fromkeys(m for t in tasks for m in rows[t]))
    fig = Figure(figsize=(7, 2.6), layout="constrained")
    ax = fig.subplots()
    width = 0.8 / len(methods)
    for k, method in enumerate(methods):
        values = [rows[t].get(method, np.nan) for t in tasks]
        ax.bar(np.arange(len(tasks)) + (k - (len(methods) - 1) / 2) * width, values, width, label=method)
    ax.set_xticks(np.arange(len(tasks)), tasks)
    ax.set_ylabel(label)
    ax.legend(fontsize=7, ncols=len(methods))
    return fig
