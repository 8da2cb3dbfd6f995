r"""Series of yearly take-up estimates: levels, changes and a trend test with their covariance.

:func:`estimate_series` estimates every wave's rates per domain x right and
their joint covariance over the waves (:func:`~nonrecours.estimation.change.joint_waves`:
the overlap of panel or rotating samples enters), then derives

- the yearly estimates with SEs and logit intervals;
- the changes between consecutive years and between the first and the last,
  each exactly as ``nonrecours change`` gives it (the two waves' union design),
  with normal Wald intervals and tests;
- a trend test per domain x right: generalised (weighted) least squares of the
  yearly estimates on the year with their full covariance :math:`V`,
  :math:`\hat\beta = (X^\top V^{-1} X)^{-1} X^\top V^{-1} \hat p`,
  :math:`X = [1, \text{year} - \overline{\text{year}}]`, slope SE
  :math:`\sqrt{[(X^\top V^{-1} X)^{-1}]_{22}}`, a z test of a zero slope and
  the lack-of-fit statistic :math:`r^\top V^{-1} r \sim \chi^2_{T-2}` of the
  straight line (Rao, 1973, §4a; the GLS of a series of survey estimates,
  e.g. Skinner & Holmes for panel trends).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from .._checks import check_level
from ..errors import OptionError, message
from ._dist import chi2_sf, norm_ppf, norm_sf
from .change import JointWaves, estimate_change, joint_waves

__all__ = ["SeriesResult", "estimate_series", "trend_test"]


@dataclass(frozen=True, eq=False)
class SeriesResult:
    """Yearly estimates, changes and trend tests of a series (tidy tables).

    ``joint`` holds the waves' joint covariance (rows of ``yearly`` in order: column ``t * K + k``), from
    which :func:`~nonrecours.estimation.covariances.series_covariances` writes the covariances between
    years and rights. ``n_takers`` and ``n_non_takers``: the eligible respondents taking up and not taking up
    the right behind each row of ``yearly`` (unweighted; never published: the disclosure rule holds each to
    ``min_n``, :func:`~nonrecours.publication.protect_series` ``sides``).
    """

    yearly: pd.DataFrame
    changes: pd.DataFrame
    trend: pd.DataFrame
    scheme: str
    variance_method: str
    level: float
    joint: JointWaves | None = field(default=None, repr=False)
    n_takers: np.ndarray | None = field(default=None, repr=False)
    n_non_takers: np.ndarray | None = field(default=None, repr=False)


def trend_test(years: np.ndarray, estimates: np.ndarray, cov: np.ndarray) -> dict[str, np.ndarray]:
    """GLS trend of K series at once.

    Parameters
    ----------
    years : ndarray (T,)
    estimates : ndarray (K, T)
    cov : ndarray (K, T, T)
        Covariance of each series' yearly estimates.

    Returns
    -------
    dict
        ``slope``, ``se``, ``z``, ``p_value``, ``intercept`` (at the mean year),
        ``lack_of_fit`` and ``lack_of_fit_p`` (chi-square with T - 2 df; NaN for T = 2).

    Examples
    --------
    >>> r = trend_test(np.array([1, 2, 3]), np.array([[0.5, 0.6, 0.7]]), np.eye(3)[None] * 0.01)
    >>> round(float(r["slope"][0]), 6), round(float(r["se"][0]), 6)
    (0.1, 0.070711)
    """
    years = np.asarray(years, dtype=float)
    T = years.size
    X = np.column_stack([np.ones(T), years - years.mean()])
    W = np.linalg.pinv(cov, hermitian=True)  # (K, T, T)
    XtW = np.einsum("tp,kts->kps", X, W)  # (K, 2, T)
    A = np.einsum("kps,sq->kpq", XtW, X)  # (K, 2, 2)
    b = np.einsum("kps,ks->kp", XtW, estimates)  # (K, 2)
    Ainv = np.linalg.pinv(A, hermitian=True)
    beta = np.einsum("kpq,kq->kp", Ainv, b)
    se = np.sqrt(np.maximum(Ainv[:, 1, 1], 0.0))
    with np.errstate(invalid="ignore", divide="ignore"):
        z = beta[:, 1] / se
    r = estimates - beta @ X.T
    q = np.einsum("kt,kts,ks->k", r, W, r)
    lof_p = chi2_sf(q, T - 2) if T > 2 else np.full(q.shape, np.nan)
    return {
        "intercept": beta[:, 0],
        "slope": beta[:, 1],
        "se": se,
        "z": z,
        "p_value": 2 * norm_sf(np.abs(z)),
        "lack_of_fit": np.where(T > 2, q, np.nan),
        "lack_of_fit_p": lof_p,
    }


def estimate_series(
    designs: Sequence,
    years: Sequence[int],
    rights: Sequence[str],
    by: Sequence[str] = (),
    *,
    scheme: str = "panel",
    id_col: str = "id",
    variance: str = "taylor",
    level: float = 0.95,
    lonely_psu: str | None = "adjust",
) -> SeriesResult:
    """Yearly rates, changes and GLS trend per domain x right over T waves, with their joint covariance.

    Parameters
    ----------
    designs : sequence of SurveyDesign
        One design per year, in the order of ``years``.
    years : sequence of int
        Increasing years.
    rights, by
        Right columns and domain columns.
    scheme : {"independent", "panel", "rotating"}
        How the waves' samples relate (see :func:`~nonrecours.estimation.change.estimate_change`).
    id_col, variance, lonely_psu
        As in :func:`~nonrecours.estimation.change.estimate_change`.
    level : float
        Confidence level.

    Returns
    -------
    SeriesResult

    Notes
    -----
    Yearly SEs are each wave's own (as ``nonrecours estimate`` gives them, normal
    logit intervals); changes and the trend use the joint covariance of the
    union design (Wald intervals); see the module docstring.
    """
    level = check_level(level)
    years = [int(y) for y in years]
    if len(years) != len(designs) or len(years) < 2 or years != sorted(set(years)):
        raise OptionError(
            message(
                "a series needs increasing years, one per wave",
                where="parameter years",
                expected="at least two waves with distinct increasing years",
                found=", ".join(map(str, years)),
            )
        )
    jw = joint_waves(
        list(designs), list(rights), list(by), scheme=scheme, id_col=id_col, variance=variance, lonely_psu=lonely_psu
    )
    T, K = jw.theta.shape
    f = jw.factor
    idx = np.arange(T * K).reshape(T, K)
    se = np.sqrt(np.maximum(jw.own_variance, 0.0))  # each wave's own design: the SEs of 'nonrecours estimate'

    D, V = len(jw.levels), len(jw.rights)
    base = (
        jw.levels.iloc[np.repeat(np.arange(D), V)]
        .reset_index(drop=True)
        .assign(right=np.tile(np.asarray(jw.rights, dtype=object), D))
    )
    q = norm_ppf(0.5 + level / 2)
    from .intervals import proportion_ci

    yearly = []
    for t, y in enumerate(years):  # loop over years
        low, high = proportion_ci(jw.theta[t], se[t], np.full(K, np.inf), method="logit", level=level, n=jw.counts[t])
        yearly.append(base.assign(year=y, n=jw.counts[t], estimate=jw.theta[t], se=se[t], ci_low=low, ci_high=high))
    yearly = pd.concat(yearly, ignore_index=True)
    yearly = yearly[["year", *jw.by, "right", "n", "estimate", "se", "ci_low", "ci_high"]]
    pairs = [(t - 1, t) for t in range(1, T)] + ([(0, T - 1)] if T > 2 else [])
    changes = []
    for a, b in pairs:  # loop over pairs of years: the same union design as 'nonrecours change A B'
        c = estimate_change(
            designs[a],
            designs[b],
            list(rights),
            list(by),
            scheme=scheme,
            id_col=id_col,
            variance=variance,
            level=level,
            df="inf",
            lonely_psu=lonely_psu,
        ).table
        changes.append(
            c.assign(year_from=years[a], year_to=years[b]).rename(
                columns={"estimate_1": "estimate_from", "estimate_2": "estimate_to"}
            )
        )
    changes = pd.concat(changes, ignore_index=True)
    changes = changes[
        [
            "year_from",
            "year_to",
            *jw.by,
            "right",
            "estimate_from",
            "estimate_to",
            "change",
            "se",
            "se_independent",
            "correlation",
            "ci_low",
            "ci_high",
            "t",
            "p_value",
            "n_both",
        ]
    ]
    cov = np.empty((K, T, T))
    for a in range(T):  # T x T covariance of every series, vectorised over the K series
        for b in range(T):
            cov[:, a, b] = f.covariances(idx[a], idx[b])
    ok = np.isfinite(jw.theta).all(axis=0) & (jw.counts > 0).all(axis=0)
    est = np.where(ok[:, None], jw.theta.T, 0.0)
    cov = np.where(ok[:, None, None], cov, np.eye(T)[None])
    tr = trend_test(np.asarray(years), est, cov)
    trend = base.assign(**{k: np.where(ok, v, np.nan) for k, v in tr.items()})
    trend["ci_low"] = trend["slope"] - q * trend["se"]
    trend["ci_high"] = trend["slope"] + q * trend["se"]
    trend["years"] = f"{years[0]}-{years[-1]}"
    takers = jw.takers if jw.takers is not None else np.zeros((T, K), np.int64)
    return SeriesResult(
        yearly=yearly,
        changes=changes,
        trend=trend,
        scheme=scheme,
        variance_method=jw.method,
        level=level,
        joint=jw,
        n_takers=takers.ravel(),  # year by year, as the rows of yearly
        n_non_takers=(jw.counts - takers).ravel(),
    )
