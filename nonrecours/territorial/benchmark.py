"""Benchmarking small-area estimates to the direct estimate of a larger area.

After benchmarking, the weighted mean of the territory estimates of each group
(département, all QPVs, the nation) over the sampled territories equals the
group's target, by default the same weighted mean of the direct estimates.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from .._checks import check_columns
from ..errors import InputError, message
from ..options import BenchmarkMethod, check_option

__all__ = ["BenchmarkResult", "benchmark"]


@dataclass(frozen=True)
class BenchmarkResult:
    """The adjustment applied per group and right.

    Attributes
    ----------
    method : {"ratio", "additive"}
    by : str
        Group column (``"nation"`` for a single national group).
    weight : str
        Column of territory weights.
    adjustments : DataFrame
        ``group``, ``right``, ``n_territories``, ``target``, ``before``, ``after``,
        ``adjustment`` (the factor for ``ratio``, the shift for ``additive``).
    """

    method: str
    by: str
    weight: str
    adjustments: pd.DataFrame

    def to_frame(self) -> pd.DataFrame:
        """The adjustments table (a copy)."""
        return self.adjustments.copy()


def benchmark(
    table: pd.DataFrame,
    *,
    by: str,
    weight: str,
    method: BenchmarkMethod | str = "ratio",
    targets: pd.DataFrame | None = None,
    columns: Sequence[str] = ("eblup", "ci_low", "ci_high"),
    bounds: tuple[float, float] | None = (0.0, 1.0),
) -> tuple[pd.DataFrame, BenchmarkResult]:
    """Ratio or additive benchmarking of territory estimates within groups, per right.

    Parameters
    ----------
    table : DataFrame
        ``territory``, ``right``, ``direct``, ``in_sample``, the ``columns`` to
        adjust, ``weight`` and ``by`` (unless ``by="nation"``).
    by : str
        Group column, or ``"nation"``.
    weight : str
        Column of positive territory weights (e.g. ``population``).
    method : {"ratio", "additive"}
    targets : DataFrame, optional
        ``by`` (omitted for ``"nation"``), ``right``, ``estimate``: the direct
        estimate of each group. Default: :math:`T_g = \\sum_{d\\in s_g} w_d y_d / \\sum_{d\\in s_g} w_d`.
    columns : sequence of str
        Columns moved by the same adjustment (the estimate and its CI bounds).
    bounds : (float, float) or None
        Clip adjusted values to this range (proportions stay in [0, 1]).

    Returns
    -------
    adjusted : DataFrame
    result : BenchmarkResult

    Notes
    -----
    With :math:`\\bar\\theta_g = \\sum_{d\\in s_g} w_d\\hat\\theta_d/\\sum_{d\\in s_g} w_d`
    over the sampled territories :math:`s_g` of group :math:`g`: ratio
    :math:`\\tilde\\theta_d = \\hat\\theta_d T_g/\\bar\\theta_g`; additive
    :math:`\\tilde\\theta_d = \\hat\\theta_d + T_g - \\bar\\theta_g`, applied to
    every territory of the group (Rao & Molina 2015, section 6.3; Wang,
    Fuller & Qu 2008). The MSE is left as that of the unbenchmarked EBLUP, a
    first-order approximation. Clipping to ``bounds`` can leave ``after``
    slightly off ``target``; both are reported.
    """
    check_option("method", method, BenchmarkMethod)
    t = table.copy()
    if by == "nation":
        t["_group"] = "nation"
    else:
        check_columns(t, [by], role="benchmark column", source="territories file")
        t["_group"] = t[by].astype(str)
    check_columns(t, [weight], role="benchmark weight column", source="territories file")
    w = pd.to_numeric(t[weight], errors="coerce").to_numpy(dtype=float, na_value=np.nan)
    bad = ~(np.isfinite(w) & (w > 0))
    if bad.any():
        names = ", ".join(map(repr, pd.unique(t.loc[bad, "territory"])[:5]))
        raise InputError(
            message(
                "benchmark weights must be positive",
                where=f"column {weight!r}",
                found=f"{int(bad.sum())} rows missing or <= 0, territories {names}",
            )
        )
    s = t["in_sample"].to_numpy(dtype=bool)
    ws = np.where(s, w, 0.0)
    t["_w"] = ws
    t["_wy"] = ws * np.nan_to_num(t["direct"].to_numpy(dtype=float))
    t["_wt"] = ws * t[columns[0]].to_numpy(dtype=float)
    agg = t.groupby(["_group", "right"], sort=True).agg(
        n_territories=("_w", lambda x: int((x > 0).sum())), sw=("_w", "sum"), swy=("_wy", "sum"), swt=("_wt", "sum")
    )
    agg = agg.reset_index()
    with np.errstate(invalid="ignore", divide="ignore"):
        agg["before"] = agg["swt"] / agg["sw"]
        agg["target"] = agg["swy"] / agg["sw"]
    if targets is not None:
        keys = ["right"] if by == "nation" else [by, "right"]
        check_columns(targets, keys + ["estimate"], role="benchmark target column", source="targets")
        tg = targets[keys + ["estimate"]].copy()
        tg["_group"] = "nation" if by == "nation" else tg[by].astype(str)
        agg = agg.drop(columns="target").merge(
            tg[["_group", "right", "estimate"]].rename(columns={"estimate": "target"}),
            on=["_group", "right"],
            how="left",
        )
    ok = np.isfinite(agg["target"]) & np.isfinite(agg["before"]) & (agg["sw"] > 0)
    if method == "ratio":
        ok &= agg["before"] != 0
        agg["adjustment"] = np.where(ok, agg["target"] / agg["before"].where(ok, 1.0), 1.0)
    else:
        agg["adjustment"] = np.where(ok, agg["target"] - agg["before"], 0.0)
    adj = (
        t[["_group", "right"]]
        .merge(agg[["_group", "right", "adjustment"]], on=["_group", "right"], how="left")["adjustment"]
        .to_numpy()
    )
    for c in columns:
        v = t[c].to_numpy(dtype=float)
        v = v * adj if method == "ratio" else v + adj
        if bounds is not None:
            v = np.clip(v, *bounds)
        t[c] = v
    t["_wt"] = ws * t[columns[0]].to_numpy(dtype=float)
    after = t.groupby(["_group", "right"], sort=True)["_wt"].sum().to_numpy()
    agg["after"] = np.where(agg["sw"] > 0, after / agg["sw"].where(agg["sw"] > 0, 1.0), np.nan)
    out = agg.rename(columns={"_group": "group"})[
        ["group", "right", "n_territories", "target", "before", "after", "adjustment"]
    ]
    return t.drop(columns=["_group", "_w", "_wy", "_wt"]), BenchmarkResult(
        method=method, by=by, weight=weight, adjustments=out
    )
