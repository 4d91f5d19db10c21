"""Plot helpers: every figure uses the Agg backend, labelled axes, log scales and reference slopes."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
from matplotlib.ticker import NullFormatter

from ._framework import Config, Figure

__all__ = ["MARKERS", "legend", "plt", "reference_slope", "save", "subplots"]


def subplots(ncols: int = 1, nrows: int = 1, *, width: float = 5.0, height: float = 4.0) -> Any:
    fig, axes = plt.subplots(nrows, ncols, figsize=(width * ncols, height * nrows), squeeze=False)
    return fig, axes.ravel()


_STYLES = {1: "--", 2: ":", 3: "-."}
MARKERS = "osD^v<>ph*"


def reference_slope(
    ax: Any, h: Sequence[float], anchor: float, order: float, *, label: str | None = None
) -> None:
    """Black guide line ``∝ hᵒʳᵈᵉʳ`` through ``(max h, anchor)`` over the range of ``h``
    (dashed for order 1, dotted for 2, dash-dotted for 3)."""
    lo, hi = min(h), max(h)
    if not (anchor > 0 and math.isfinite(anchor)):
        return
    xs = [lo, hi]
    ys = [anchor * (x / hi) ** order for x in xs]
    style = _STYLES.get(int(order), "--")
    ax.loglog(xs, ys, "k" + style, lw=1.2, alpha=0.7, label=label or f"slope {order:g}")


def legend(ax: Any, **kwargs: Any) -> None:
    """``ax.legend(**kwargs)`` when the axes has labelled artists (a panel whose methods were not
    selected has none, and matplotlib would warn about an empty legend)."""
    handles, _ = ax.get_legend_handles_labels()
    if handles:
        ax.legend(**kwargs)


def save(fig: Any, cfg: Config, name: str, caption: str) -> Figure:
    """Write ``figures/<name>.png`` under the report folder and close the figure."""
    cfg.figures.mkdir(parents=True, exist_ok=True)
    path = cfg.figures / f"{name}.png"
    for ax in fig.axes:  # minor-tick labels of short log ranges overlap: major labels only
        for axis in (ax.xaxis, ax.yaxis):
            if axis.get_scale() == "log":
                axis.set_minor_formatter(NullFormatter())
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return Figure(path=f"figures/{name}.png", caption=caption)
