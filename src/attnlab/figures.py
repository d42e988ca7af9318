"""Matplotlib for attnlab's figures: the backend is chosen here, once (Agg: files only, no display).

Import ``plt`` from this module instead of ``matplotlib.pyplot``. :func:`seed_band` draws a
quantity measured over several seeds as its mean with a shaded min–max band.
"""

from __future__ import annotations

from collections.abc import Sequence

import matplotlib
import matplotlib.pyplot as plt

# pyplot picks its backend lazily (at the first figure), and switching to a non-interactive one is
# always allowed, so choosing it after the import is the same as before it.
matplotlib.use("Agg")

__all__ = ["bar_errors", "mean_min_max", "plt", "seed_band"]


def mean_min_max(per_seed: Sequence[Sequence[float | None]]) -> tuple[list, list, list]:
    """Point-wise mean, min and max over seeds of equally long series (None where any seed is None)."""
    cols = list(zip(*per_seed))
    ok = [all(v is not None for v in c) for c in cols]
    mean = [sum(c) / len(c) if good else None for c, good in zip(cols, ok)]
    low = [min(c) if good else None for c, good in zip(cols, ok)]
    high = [max(c) if good else None for c, good in zip(cols, ok)]
    return mean, low, high


def seed_band(ax, x: Sequence[float], per_seed: Sequence[Sequence[float | None]], style: str = "o-", **kw):
    """Plot the mean over seeds of ``per_seed`` (one series per seed) against ``x`` with a min–max band."""
    mean, low, high = mean_min_max(per_seed)
    pts = [(xi, m, lo, hi) for xi, m, lo, hi in zip(x, mean, low, high) if m is not None]
    if not pts:
        return None
    xs, ms, los, his = (list(t) for t in zip(*pts))
    (line,) = ax.plot(xs, ms, style, **kw)
    if len(per_seed) > 1:
        ax.fill_between(xs, los, his, color=line.get_color(), alpha=0.18, lw=0)
    return line


def bar_errors(
    mean: Sequence[float], low: Sequence[float], high: Sequence[float]
) -> list[list[float]] | None:
    """``yerr`` for bars at ``mean`` spanning ``low``..``high`` (min–max over seeds), never negative (a
    mean of equal values can round a hair past them); None when every bar has no spread (one seed)."""
    err = [[max(m - lo, 0.0) for m, lo in zip(mean, low)], [max(hi - m, 0.0) for m, hi in zip(mean, high)]]
    return err if any(e > 0 for side in err for e in side) else None
