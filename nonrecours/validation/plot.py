"""Figure of a validation study: CI coverage and SE ratio by level, with Monte Carlo errors."""

from __future__ import annotations

import numpy as np
import pandas as pd
from matplotlib import rc_context
from matplotlib.figure import Figure

from ..report.plots import STYLE, png_bytes

__all__ = ["plot_validation"]


def plot_validation(table: pd.DataFrame, summary: pd.DataFrame, *, level: float, replications: int) -> bytes:
    """PNG of the coverage (left) and the ratio mean estimated SE / empirical SE (right).

    Parameters
    ----------
    table : DataFrame
        :meth:`ValidationResult.to_frame`.
    summary : DataFrame
        :meth:`ValidationResult.summary`.
    level : float
        Nominal confidence level (dashed line; the band is the binomial
        tolerance :math:`\\pm 2\\sqrt{level(1-level)/R}` of one estimand).
    replications : int

    Returns
    -------
    bytes
        The PNG image.

    Notes
    -----
    Left: mean coverage over the domains x rights of each level, per CI method,
    with error bars of two Monte Carlo SEs. Right: one point per estimand (the
    first CI method's row), ``se_ratio`` = mean estimated SE / empirical SE.
    """
    groups = list(dict.fromkeys(zip(summary["level"], summary["estimator"])))
    names = [lv if est == "direct" else f"{lv} ({est})" for lv, est in groups]
    methods = list(dict.fromkeys(summary["ci"]))
    with rc_context(STYLE):
        fig = Figure(figsize=(11, 0.5 * len(groups) + 2.2))
        ax1, ax2 = fig.subplots(1, 2, sharey=True)
        y = np.arange(len(groups))[::-1].astype(float)
        band = 2 * np.sqrt(level * (1 - level) / replications)
        ax1.axvspan(level - band, level + band, color="#dddddd", zorder=0)
        ax1.axvline(level, color="k", ls="--", lw=0.8)
        step = 0.7 / max(len(methods), 1)
        for j, m in enumerate(methods):
            s = summary[summary["ci"] == m]
            pos = {g: i for i, g in enumerate(groups)}
            idx = [pos[g] for g in zip(s["level"], s["estimator"])]
            ax1.errorbar(
                s["coverage"],
                y[idx] + 0.35 - (j + 0.5) * step,
                xerr=2 * s["coverage_mcse"],
                fmt="o",
                ms=3.5,
                capsize=2,
                label=m,
            )
        ax1.set_yticks(y, names)
        ax1.set_xlabel(f"coverage of {level:.0%} intervals (mean over estimands, ±2 MC SE)")
        ax1.legend(fontsize=7, loc="lower left")
        first = table[table["ci"] == table.groupby(["level", "estimator"])["ci"].transform("first")]
        rng = np.random.default_rng(0)  # fixed jitter: the figure is reproducible
        for i, g in enumerate(groups):
            r = first[(first["level"] == g[0]) & (first["estimator"] == g[1])]["se_ratio"].to_numpy(float)
            r = r[np.isfinite(r)]
            ax2.plot(r, y[i] + rng.uniform(-0.25, 0.25, r.size), "o", ms=2.5, alpha=0.5, color="#2c7fb8")
        ax2.axvline(1.0, color="k", ls="--", lw=0.8)
        ax2.set_xlabel("mean estimated SE / empirical SE (one point per estimand)")
        fig.suptitle(f"Monte Carlo validation, {replications} replications")
    return png_bytes(fig)
