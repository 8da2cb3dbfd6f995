r"""Labelled linear contrasts of estimates (R's ``svycontrast``) and multiple-comparison adjustment.

A contrast is a set of coefficients on estimates named by their labels: the domain
values of the ``by`` columns and the right, e.g. ``{("RSA", "cmuc"): 1, ("AAH", "cmuc"): -1}``
for a result estimated ``by="benefit"``. Its variance :math:`c^\top V c` comes from the
joint covariance of the result (Taylor or replicate), restricted to the estimates used.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from ..errors import OptionError, message
from ..options import Adjust, check_option
from ._dist import t_ppf, t_sf

__all__ = ["adjust_p", "contrast"]


def adjust_p(p: np.ndarray, families: pd.DataFrame | None, method: str) -> np.ndarray:
    r"""Holm or Bonferroni adjusted p-values within each family (rows with equal ``families`` values).

    Notes
    -----
    Bonferroni: :math:`\min(1, m p_i)`; Holm (1979): sorted :math:`p_{(1)} \le \dots \le p_{(m)}`,
    :math:`\tilde p_{(j)} = \max_{i \le j} \min(1, (m - i + 1) p_{(i)})`, as R's ``p.adjust``.
    NaN p-values are left out of :math:`m` and stay NaN.
    """
    method = check_option("adjust", method, Adjust)
    p = np.asarray(p, dtype=float)
    if method == "none":
        return p.copy()
    fam = (
        np.zeros(p.size, np.int64)
        if families is None or families.shape[1] == 0
        else families.groupby(list(families.columns), sort=False, dropna=False).ngroup().to_numpy()
    )
    ok = ~np.isnan(p)
    m = np.bincount(fam[ok], minlength=fam.max() + 1 if fam.size else 0)
    out = np.full(p.size, np.nan)
    if method == "bonferroni":
        out[ok] = np.minimum(1.0, m[fam[ok]] * p[ok])
        return out
    idx = np.flatnonzero(ok)
    order = idx[np.lexsort((p[idx], fam[idx]))]  # by family, then p
    f = fam[order]
    start = np.searchsorted(f, f, side="left")
    rank = np.arange(order.size) - start  # 0-based rank within the family
    val = np.minimum(1.0, (m[f] - rank) * p[order])
    out[order] = pd.Series(val).groupby(f, sort=False).cummax().to_numpy()
    return out


def contrast(result, coefficients: Mapping[object, float] | Mapping[str, Mapping[object, float]]) -> pd.DataFrame:
    r"""Linear contrasts :math:`c^\top \hat\theta` of a result's estimates, by label (R's ``svycontrast``).

    Parameters
    ----------
    result : EstimateResult
    coefficients : mapping
        One contrast ``{label: coefficient}``, or several ``{name: {label: coefficient}}``.
        A label is a tuple of the ``by`` values and the right (the right alone without ``by``).

    Returns
    -------
    DataFrame
        One row per contrast: ``contrast``, ``estimate``, ``se``, ``ci_low``, ``ci_high``, ``df``,
        ``t``, ``p_value`` (two-sided, t with the design's degrees of freedom).

    Notes
    -----
    :math:`\mathrm{Var}(c^\top\hat\theta) = c^\top V c` with :math:`V` the covariance of the
    estimates used (from the factored covariance, Taylor or replicate). Suppressed estimates
    make the contrast NaN.

    Examples
    --------
    >>> import pandas as pd
    >>> from nonrecours.design import SurveyDesign
    >>> from nonrecours.estimation import QualityThresholds, estimate_rates
    >>> df = pd.DataFrame({"g": list("aabbccdd"), "w": [1.0] * 8, "y": [1, 0, 1, 1, 0, 0, 1, 0]})
    >>> r = estimate_rates(SurveyDesign(df, weight="w"), "y", "g", df="inf",
    ...                    thresholds=QualityThresholds(min_n=0, reliable_n=0))
    >>> float(contrast(r, {("b", "y"): 1, ("a", "y"): -1})["estimate"].iloc[0])
    0.5
    """
    items: list[tuple[Any, Any]] = list(coefficients.items())
    several = bool(items) and all(isinstance(v, Mapping) for _, v in items)
    named = items if several else [("contrast", dict(items))]
    if not named or any(not c for _, c in named):
        raise OptionError(message("empty contrast", where="contrast", expected="{label: coefficient, ...}"))
    labels = list(dict.fromkeys(lab for _, c in named for lab in c))
    pos = result.positions(labels)  # labels: (by values..., right) tuples, or right names without by
    C = np.zeros((len(named), len(labels)))
    col = {lab: j for j, lab in enumerate(labels)}
    for i, (_, c) in enumerate(named):
        for lab, v in c.items():
            C[i, col[lab]] = float(v)
    V = result.vcov(labels)
    V = V.toarray() if hasattr(V, "toarray") else np.asarray(V)
    theta = result.raw_estimate[pos]
    hide = result.flag[pos] == "suppressed"
    est = C @ theta
    used = C != 0
    est = np.where((used & hide[None, :]).any(axis=1), np.nan, est)
    se = np.sqrt(np.maximum(np.einsum("ij,jk,ik->i", C, V, C), 0.0))
    se = np.where(np.isnan(est), np.nan, se)
    df = np.full(len(named), result.design_df if result.df_rule != "inf" else np.inf)
    with np.errstate(invalid="ignore", divide="ignore"):
        t = est / se
        q = t_ppf(0.5 + result.level / 2, df)
        p = 2 * t_sf(np.abs(t), df)
    return pd.DataFrame(
        {
            "contrast": [n for n, _ in named],
            "estimate": est,
            "se": se,
            "ci_low": est - q * se,
            "ci_high": est + q * se,
            "df": df,
            "t": t,
            "p_value": p,
        }
    )
