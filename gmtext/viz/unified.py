r"""Figures of chapter 7: the weighting each diffusion loss implies, and a map of the book's families.

Example:
    >>> import torch
    >>> lam = torch.linspace(-10, 10, 50)
    >>> fig = weighting_curves({"ELBO": (lam, torch.ones(50)), "sigmoid": (lam, torch.sigmoid(-lam))})
    >>> len(fig.axes[0].lines)
    2
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import torch
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from torch import Tensor

from gmtext.viz.plot import _figure_and_axes, _titled

__all__ = ["weighting_curves", "family_map", "VERDICT_COLOURS"]

#: Cell colours of :func:`family_map`, chosen by the first word of a cell.
VERDICT_COLOURS: dict[str, str] = {"exact": "#a6dba0", "yes": "#a6dba0", "bound": "#fee08b",
                                   "no": "#f4a582", "none": "#f4a582"}


def weighting_curves(curves: Mapping[str, tuple[Tensor, Tensor]], *, reference: float | None = 0.0,
                     ax: Axes | None = None, title: str | None = None) -> Figure:
    r"""The weightings :math:`w(\lambda)` of several losses against the log-SNR :math:`\lambda` (log scale).

    As in Kingma & Gao (2023, arXiv:2303.00848), fig. 2, shapes are what compare (a constant factor
    only rescales the learning rate): each curve is divided by its value at :math:`\lambda` =
    ``reference`` (linear interpolation), so that weightings equal up to a constant coincide.

    Args:
        curves: ``name -> (lambda, w)``, two 1-D tensors of the same length with ``w > 0``, whose
            :math:`\lambda` range contains ``reference``.
        reference: the log-SNR where every curve is 1; None draws the weights as they are.
        ax, title: draw into this axes; its title.

    Raises:
        ValueError: for an empty mapping, curves of mismatched or non 1-D shape, or non-positive
            or non-finite weights.
    """
    if not curves:
        raise ValueError("curves must hold at least one name -> (lambda, w)")
    fig, ax = _figure_and_axes(ax, (5.5, 3.4))
    styles = ("-", "--", "-.", ":")          # curves that coincide up to a constant stay visible
    for i, (name, (lam, w)) in enumerate(curves.items()):
        lam, w = torch.as_tensor(lam, dtype=torch.float64), torch.as_tensor(w, dtype=torch.float64)
        if lam.ndim != 1 or lam.shape != w.shape:
            raise ValueError(f"curve {name!r}: lambda and w must be 1-D of the same length, got "
                             f"{tuple(lam.shape)} and {tuple(w.shape)}")
        if not bool(torch.isfinite(w).all()) or not bool((w > 0).all()):
            raise ValueError(f"curve {name!r}: the weights must be finite and positive")
        order = torch.argsort(lam)
        if reference is not None:
            if not float(lam.min()) <= reference <= float(lam.max()):
                raise ValueError(f"curve {name!r}: its lambda range does not contain reference={reference}")
            w = w / float(np.interp(reference, lam[order].numpy(), w[order].numpy()))
        ax.plot(lam[order].numpy(), w[order].numpy(), lw=1.6, ls=styles[i % len(styles)], label=name)
    ax.set(yscale="log", xlabel=r"log-SNR $\lambda$",
           ylabel=r"$w(\lambda)$" + ("" if reference is None else rf" / $w({reference:g})$"))
    ax.legend(fontsize=8, frameon=False)
    ax.grid(alpha=0.3)
    return _titled(fig, ax, title)


def family_map(table: Mapping[str, Mapping[str, str]], *, ax: Axes | None = None,
               title: str | None = None, colours: Mapping[str, str] | None = None) -> Figure:
    """A coloured table: one row per family, one column per property, a short verdict in each cell.

    The colour of a cell is chosen by its first word (``VERDICT_COLOURS``: exact / yes green, bound
    yellow, no / none red; anything else light grey).

    Args:
        table: ``family -> {property: verdict}``; every row must have the same properties.
        ax, title: draw into this axes; its title.
        colours: replaces ``VERDICT_COLOURS``.

    Raises:
        ValueError: for an empty table or rows with different properties.
    """
    if not table:
        raise ValueError("table must hold at least one family")
    columns = list(next(iter(table.values())))
    for name, row in table.items():
        if list(row) != columns:
            raise ValueError(f"row {name!r} has properties {list(row)}, expected {columns}")
    palette = dict(VERDICT_COLOURS if colours is None else colours)
    rows = list(table)
    fig, ax = _figure_and_axes(ax, (1.9 * len(columns) + 2.2, 0.42 * len(rows) + 1.0))
    for i, name in enumerate(rows):
        for j, column in enumerate(columns):
            text = table[name][column]
            colour = palette.get(text.split(" ")[0].lower().strip(",;:"), "#eeeeee")
            ax.add_patch(_cell(j, i, colour))
            ax.text(j + 0.5, i + 0.5, text, ha="center", va="center", fontsize=8)
    ax.set_xlim(0, len(columns))
    ax.set_ylim(len(rows), 0)
    ax.set_xticks(np.arange(len(columns)) + 0.5, columns, fontsize=8.5)
    ax.xaxis.tick_top()
    ax.set_yticks(np.arange(len(rows)) + 0.5, rows, fontsize=8.5)
    ax.tick_params(length=0)
    for side in ax.spines.values():
        side.set_visible(False)
    return _titled(fig, ax, title)


def _cell(x: float, y: float, colour: str):  # noqa: ANN202 (a matplotlib patch)
    from matplotlib.patches import Rectangle
    return Rectangle((x + 0.03, y + 0.05), 0.94, 0.9, facecolor=colour, edgecolor="white")
