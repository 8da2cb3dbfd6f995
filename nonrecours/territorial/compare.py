"""How good was the sample study? Direct and small-area estimates against the true rates.

The truth is either the administrative rates of :func:`~.admin.admin_rates`
(suppressed cells left out) or the ``truth`` file of ``nonrecours simulate``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from .._checks import check_columns, check_level, check_numeric_column
from ..errors import InputError, message
from ..estimation._dist import norm_ppf

__all__ = ["Comparison", "compare_estimates", "compare_estimators"]


@dataclass(frozen=True)
class Comparison:
    """Errors per territory and their summary per right and estimator.

    Attributes
    ----------
    detail : DataFrame
        Long format, one row per territory × right × estimator: ``territory``,
        ``right``, ``estimator`` (``direct``, ``eblup``), ``subset`` (``sampled``:
        the territory has a direct estimate; ``unsampled``: synthetic prediction),
        ``estimate``, ``truth``, ``error`` (estimate − truth), ``ci_low``, ``ci_high``, ``covered``.
    summary : DataFrame
        Per ``right`` (and ``all``) × ``estimator`` × ``subset``: ``n``, ``bias`` (mean error),
        ``rmse``, ``mae``, ``relative_rmse`` (RMSE / mean truth), ``coverage``,
        ``mean_ci_width``.
    level : float
        Level used for direct CIs built from ``se_direct``.
    n_without_truth : int
        Estimate rows with no true rate (suppressed or absent), left out.
    """

    detail: pd.DataFrame
    summary: pd.DataFrame
    level: float
    n_without_truth: int

    def to_frame(self) -> pd.DataFrame:
        """The summary table (a copy)."""
        return self.summary.copy()


def _values(est: pd.DataFrame, column: str) -> np.ndarray:
    return check_numeric_column(est, column, source="estimates file")


def _long(est: pd.DataFrame, level: float) -> pd.DataFrame:
    keys = est[["territory", "right"]].assign(
        subset=np.where(est["direct" if "direct" in est.columns else "estimate"].notna(), "sampled", "unsampled")
        if ("direct" in est.columns or "estimate" in est.columns)
        else "sampled"
    )
    if "eblup" in est.columns:  # territorial fit output
        check_columns(
            est, ["direct", "se_direct", "eblup", "ci_low", "ci_high"], role="estimate column", source="estimates file"
        )
        z = norm_ppf(0.5 + level / 2)
        d, se = _values(est, "direct"), _values(est, "se_direct")
        direct = keys.assign(
            estimator="direct", estimate=d, ci_low=np.clip(d - z * se, 0, 1), ci_high=np.clip(d + z * se, 0, 1)
        )
        eblup = keys.assign(
            estimator="eblup",
            estimate=_values(est, "eblup"),
            ci_low=_values(est, "ci_low"),
            ci_high=_values(est, "ci_high"),
        )
        return pd.concat([direct, eblup], ignore_index=True)
    if "estimate" in est.columns:  # nonrecours estimate output
        check_columns(est, ["ci_low", "ci_high"], role="estimate column", source="estimates file")
        return keys.assign(
            estimator="direct",
            estimate=_values(est, "estimate"),
            ci_low=_values(est, "ci_low"),
            ci_high=_values(est, "ci_high"),
        )
    raise InputError(
        message(
            "the estimates file has neither an 'eblup' nor an 'estimate' column",
            where="estimates file",
            expected="the output of 'territorial fit' or 'estimate --by territory'",
            found="columns " + ", ".join(map(str, est.columns[:12])),
        )
    )


def compare_estimates(estimates: pd.DataFrame, truth: pd.DataFrame, *, level: float = 0.95) -> Comparison:
    """Bias, RMSE and CI coverage of direct and small-area estimates against true rates.

    Parameters
    ----------
    estimates : DataFrame
        ``territorial fit`` output (``direct``, ``se_direct``, ``eblup``, ``ci_low``,
        ``ci_high``) or ``estimate`` output (``estimate``, ``ci_low``, ``ci_high``),
        with ``territory`` and ``right``.
    truth : DataFrame
        ``territory``, ``right``, ``rate`` (missing rates, e.g. suppressed cells, are left out).
    level : float
        Level of the direct CIs rebuilt from ``se_direct`` (normal, clipped to [0, 1]).

    Returns
    -------
    Comparison

    Notes
    -----
    Over the :math:`K` territories with both an estimate and a true rate:
    bias :math:`K^{-1}\\sum_d (\\hat\\theta_d-\\theta_d)`, RMSE
    :math:`\\sqrt{K^{-1}\\sum_d (\\hat\\theta_d-\\theta_d)^2}`, coverage the share of
    intervals containing :math:`\\theta_d` (its Monte Carlo standard error is
    :math:`\\sqrt{c(1-c)/K}`, though intervals of one draw are correlated).

    Examples
    --------
    >>> est = pd.DataFrame({"territory": ["a", "b"], "right": "tpn", "estimate": [.5, .6],
    ...                     "ci_low": [.4, .5], "ci_high": [.6, .7]})
    >>> tru = pd.DataFrame({"territory": ["a", "b"], "right": "tpn", "rate": [.55, .75]})
    >>> compare_estimates(est, tru).summary["coverage"].tolist()
    [0.5, 0.5]
    """
    check_level(level)
    check_columns(estimates, ["territory", "right"], role="key column", source="estimates file")
    est = estimates.copy()
    est["territory"], est["right"] = est["territory"].astype(str), est["right"].astype(str)
    return compare_estimators(_long(est, level), truth, level=level)


def compare_estimators(long: pd.DataFrame, truth: pd.DataFrame, *, level: float = 0.95) -> Comparison:
    """:func:`compare_estimates` on estimates already in long format, any estimators.

    Parameters
    ----------
    long : DataFrame
        One row per territory × right × estimator: ``territory``, ``right``,
        ``estimator`` (e.g. ``direct``, ``eblup``, ``admin``, ``combined``),
        ``subset`` (``sampled``, ``unsampled``), ``estimate``, ``ci_low``, ``ci_high``.
    truth : DataFrame
        ``territory``, ``right``, ``rate``.
    level : float
        Recorded in the result.
    """
    check_level(level)
    cols = ["territory", "right", "estimator", "subset", "estimate", "ci_low", "ci_high"]
    check_columns(long, cols, role="column", source="estimates")
    check_columns(truth, ["territory", "right", "rate"], role="column", source="truth file")
    tr = truth[["territory", "right", "rate"]].copy()
    for f in (tr,):
        f["territory"], f["right"] = f["territory"].astype(str), f["right"].astype(str)
    tr["rate"] = check_numeric_column(tr, "rate", source="truth file", bounds=(0.0, 1.0))
    tr = tr[tr["rate"].notna()]
    dup = tr.duplicated(["territory", "right"])
    if dup.any():
        raise InputError(
            message(
                "territory x right listed twice",
                where="truth file",
                found=", ".join(map(repr, (tr.loc[dup, "territory"] + "/" + tr.loc[dup, "right"])[:5])),
            )
        )
    long = long[cols].astype({"territory": str, "right": str})
    long = long.merge(tr.rename(columns={"rate": "truth"}), on=["territory", "right"], how="left")
    n_without = int(long["truth"].isna().sum())
    long = long[long["truth"].notna() & long["estimate"].notna()].reset_index(drop=True)
    if long.empty:
        raise InputError(
            message(
                "no territory x right in common between the estimates and the truth",
                where="truth file",
                hint="check the territory codes and right names",
            )
        )
    long["error"] = long["estimate"] - long["truth"]
    long["covered"] = (long["ci_low"] <= long["truth"]) & (long["truth"] <= long["ci_high"])
    long["_e2"] = long["error"] ** 2
    long["_ae"] = long["error"].abs()
    long["_w"] = long["ci_high"] - long["ci_low"]

    def summarise(frame: pd.DataFrame, keys: list[str]) -> pd.DataFrame:
        g = frame.groupby(keys, sort=True)
        out = g.agg(
            n=("error", "size"),
            bias=("error", "mean"),
            mse=("_e2", "mean"),
            mae=("_ae", "mean"),
            mean_truth=("truth", "mean"),
            coverage=("covered", "mean"),
            mean_ci_width=("_w", "mean"),
        )
        out["rmse"] = np.sqrt(out.pop("mse"))
        out["relative_rmse"] = out["rmse"] / out.pop("mean_truth")
        return out.reset_index()

    per_right = summarise(long, ["right", "estimator", "subset"])
    overall = summarise(long, ["estimator", "subset"]).assign(right="all")
    summary = pd.concat([per_right, overall], ignore_index=True)[
        ["right", "estimator", "subset", "n", "bias", "rmse", "mae", "relative_rmse", "coverage", "mean_ci_width"]
    ]
    detail = long[
        ["territory", "right", "estimator", "subset", "estimate", "truth", "error", "ci_low", "ci_high", "covered"]
    ]
    return Comparison(detail=detail, summary=summary, level=level, n_without_truth=n_without)
