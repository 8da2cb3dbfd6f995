r"""Sampling covariances of direct estimates within each domain, as the small-area models read them.

The multivariate and time-series Fay–Herriot models (:mod:`nonrecours.territorial.borrowing`) need, per
territory, the covariance of its direct estimates between rights (the same respondents answer for every
right) and between years (a panel follows the same recipients). The variance engine already holds the full
covariance of every estimate in factored form (:class:`~nonrecours.estimation.results.VarianceFactor`);
this module writes the off-diagonal entries that share a domain as a tidy table

``<by columns>, right_a, [year_a,] right_b, [year_b,] cov``

with each unordered pair once, domain by domain (``a`` the earlier estimate: the earlier year, then the earlier
right in the order given), the format read by ``territorial fit --covariances`` (which also accepts both
orders, and reads no pair of an estimate with itself: the variances are the direct file's ``se``).

Notes
-----
For ratio (Hájek) estimators :math:`\hat p_k = \hat Y_k / \hat N_k` the covariance is that of the totals of
the linearised values :math:`z_{ik} = w_i (y_{ik} - \hat p_k)/\hat N_k` (Woodruff, 1971), computed by the one
Taylor engine (or the replicate combiner) exactly as the SEs: :math:`\mathrm{cov}(\hat p_a, \hat p_b) =
\sum_h \frac{n_h}{n_h-1} \sum_i (z_{hia} - \bar z_{ha})(z_{hib} - \bar z_{hb})` for a with-replacement
first stage, R ``survey``'s ``svyby(..., covmat = TRUE)`` and ``vcov``.

With ``lonely_psu="average"`` each estimate's variance carries its own factor :math:`m_k` (strata it touches over
those with two PSUs or more, as R's ``svyby`` evaluates each domain: the SEs equal it) and a pair's covariance
:math:`\sqrt{m_a m_b}` (the matrix stays positive semi-definite and its diagonal the published SEs); R's joint
``vcov`` of one ``svytotal`` over every domain applies one factor of the whole design instead, so the two differ by
:math:`\sqrt{m_a m_b}/m` where the domains do not meet every stratum or a lonely one (checked against R survey
4.1.1 on a stratified sample with one lonely stratum: equal where the factors agree).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from ..errors import OptionError, message
from .change import ChangeResult
from .results import EstimateResult, VarianceFactor
from .series import SeriesResult

__all__ = ["pair_covariances", "result_covariances", "wave_covariances", "change_covariances", "series_covariances"]


def pair_covariances(
    factor: VarianceFactor,
    domains: pd.DataFrame,
    items: pd.DataFrame,
    *,
    keep: np.ndarray | None = None,
) -> pd.DataFrame:
    """Covariances of every pair of estimates that share a domain, in one vectorised pass.

    Parameters
    ----------
    factor : VarianceFactor
        Covariance of the K estimates.
    domains : DataFrame of K rows
        The domain columns of each estimate (no column: one domain holding every estimate).
    items : DataFrame of K rows
        What tells the estimates of a domain apart (``right``, and ``year`` over waves); each becomes the
        columns ``<name>_a`` and ``<name>_b``.
    keep : ndarray of bool (K,), optional
        Estimates that may be published; a pair with a suppressed estimate is not written (its covariance
        is built from the same respondents).

    Returns
    -------
    DataFrame
        The domain columns, ``<item>_a`` for each item, ``<item>_b`` for each item, ``cov``: each unordered
        pair once, ``a`` the earlier estimate; pairs with an undefined covariance are left out.

    Examples
    --------
    >>> import scipy.sparse as sp
    >>> f = VarianceFactor(A=sp.csc_matrix(np.array([[1.0, 2.0, 0.0], [0.0, 1.0, 1.0]])),
    ...                    B=sp.csc_matrix((0, 3)), mult=np.ones(3))
    >>> t = pair_covariances(f, pd.DataFrame({"territory": ["a", "a", "b"]}), pd.DataFrame({"right": ["x", "y", "x"]}))
    >>> t.to_dict("list")
    {'territory': ['a'], 'right_a': ['x'], 'right_b': ['y'], 'cov': [2.0]}
    """
    K = factor.n_estimates
    domains = domains.reset_index(drop=True)
    items = items.reset_index(drop=True)
    ok = np.ones(K, dtype=bool) if keep is None else np.asarray(keep, dtype=bool)
    if domains.shape[1]:
        code = domains.groupby(list(domains.columns), sort=False, dropna=False).ngroup().to_numpy()
    else:
        code = np.zeros(K, dtype=np.int64)
    pos = np.flatnonzero(ok)
    left = pd.DataFrame({"code": code[pos], "i": pos})
    pairs = left.merge(left.rename(columns={"i": "j"}), on="code")  # every ordered pair of a domain
    pairs = pairs[pairs["i"] < pairs["j"]].sort_values(["code", "i", "j"], kind="stable")  # domain by domain
    i, j = pairs["i"].to_numpy(np.int64), pairs["j"].to_numpy(np.int64)
    cov = factor.covariances(i, j)
    fin = np.isfinite(cov)
    i, j, cov = i[fin], j[fin], cov[fin]
    out = domains.iloc[i].reset_index(drop=True)
    for side, idx in (("a", i), ("b", j)):
        for c in items.columns:
            out[f"{c}_{side}"] = items[c].to_numpy()[idx]
    out["cov"] = cov
    return out


def result_covariances(result: EstimateResult) -> pd.DataFrame:
    """Covariances between the rights (or variables) of each domain of an estimation result.

    Parameters
    ----------
    result : EstimateResult
        From :func:`~nonrecours.estimation.estimate_rates` (or means, totals, ratios) by domain.

    Returns
    -------
    DataFrame
        ``<by columns>, right_a, right_b, cov`` (see :func:`pair_covariances`); estimates flagged
        ``suppressed`` are left out, and so are those without an estimate (no eligible respondent in the
        domain, under a ``min_n`` of 0): their linearised values are all 0, which would give a covariance of 0.

    Examples
    --------
    >>> # res = estimate_rates(design, ["cmuc", "acs"], by="territory")
    >>> # result_covariances(res).to_csv("covariances.csv")   # for territorial fit --covariances
    """
    return pair_covariances(
        result.variance,
        result.domains[list(result.by)],
        pd.DataFrame({"right": np.asarray(result.right, dtype=str)}),
        keep=(np.asarray(result.flag) != "suppressed") & np.isfinite(np.asarray(result.estimate, dtype=float)),
    )


def wave_covariances(
    factor: VarianceFactor,
    levels: pd.DataFrame,
    rights: Sequence[str],
    years: Sequence[int],
    *,
    keep: np.ndarray | None = None,
    time: str = "year",
) -> pd.DataFrame:
    """Covariances between the rights and years of each domain from the joint covariance of T waves.

    Parameters
    ----------
    factor : VarianceFactor
        Covariance of the T x D x R estimates, column ``(t * D + d) * R + r`` (as
        :func:`~nonrecours.estimation.change.joint_waves` builds it).
    levels : DataFrame of D rows
        The domain levels.
    rights : sequence of str
    years : sequence of int
        The label of each wave.
    keep : ndarray of bool (T, D * R), optional
        Estimates that may be published.
    time : str
        Name of the year columns (``<time>_a``, ``<time>_b``).

    Returns
    -------
    DataFrame
        ``<by columns>, right_a, <time>_a, right_b, <time>_b, cov``, each unordered pair once.
    """
    T, D, R = len(years), len(levels), len(rights)
    rows = np.tile(np.repeat(np.arange(D), R), T)
    items = pd.DataFrame(
        {
            "right": np.tile(np.asarray(rights, dtype=object), T * D),
            time: np.repeat(np.asarray(years), D * R),
        }
    )
    return pair_covariances(
        factor,
        levels.iloc[rows].reset_index(drop=True),
        items,
        keep=None if keep is None else np.asarray(keep).reshape(-1),
    )


def change_covariances(
    result: ChangeResult, years: Sequence[int] = (1, 2), *, min_n: int = 0, time: str = "year"
) -> pd.DataFrame:
    """Covariances between the rights and the two waves of each domain of :func:`~.change.estimate_change`.

    Parameters
    ----------
    result : ChangeResult
    years : (int, int)
        The labels of the two waves in the ``<time>_a``, ``<time>_b`` columns.
    min_n : int
        An estimate from 1 to ``min_n - 1`` eligible respondents (or none), or from fewer than ``min_n``
        takers or non-takers, is suppressed: no pair of it is written (as ``nonrecours estimate`` and
        ``change`` suppress it).
    time : str
        Name of the year columns.

    Returns
    -------
    DataFrame
        ``<by columns>, right_a, <time>_a, right_b, <time>_b, cov`` (see :func:`pair_covariances`).
    """
    years = [int(y) for y in years]
    if len(years) != 2 or years[0] == years[1]:
        raise OptionError(
            message(
                "two distinct years are needed, one per wave",
                where="parameter years",
                found=", ".join(map(str, years)),
            )
        )
    t = result.table
    rights = list(pd.unique(t["right"].astype(str)))
    R = len(rights)
    levels = t[list(result.by)].iloc[np.arange(len(t) // R) * R].reset_index(drop=True)
    n = np.vstack([t["n_1"].to_numpy(np.int64), t["n_2"].to_numpy(np.int64)])
    keep = (n > 0) & (n >= min_n)
    if result.n_takers is not None and result.n_non_takers is not None:  # and min_n takers and non-takers
        from ..publication.policy import DisclosurePolicy

        policy = DisclosurePolicy(min_n=min_n, allow_below_threshold=True)  # the caller's threshold
        keep &= ~policy.small_survey_cells(n, result.n_takers, result.n_non_takers)
    return wave_covariances(result.variance, levels, rights, years, keep=keep, time=time)


def series_covariances(result: SeriesResult, published: pd.DataFrame | None = None) -> pd.DataFrame:
    """Covariances between the rights and years of each domain of :func:`~.series.estimate_series`.

    Parameters
    ----------
    result : SeriesResult
    published : DataFrame, optional
        The yearly table as published (:func:`~nonrecours.publication.protect_series`: rows in the order of
        ``result.yearly``): an estimate it empties is suppressed, and no pair of it is written. Default: the
        estimates of ``result.yearly`` (those of a domain without respondents are empty).

    Returns
    -------
    DataFrame
        ``<by columns>, right_a, year_a, right_b, year_b, cov`` from the joint covariance of the union of the
        waves (the one the changes and the trend use).
    """
    jw = result.joint
    if jw is None:
        raise OptionError(
            message("the series carries no joint covariance", where="parameter result", hint="use estimate_series")
        )
    table = result.yearly if published is None else published
    keep = pd.to_numeric(table["estimate"], errors="coerce").notna().to_numpy()
    years = pd.unique(result.yearly["year"].astype(int))
    return wave_covariances(jw.factor, jw.levels, jw.rights, list(years), keep=keep)
