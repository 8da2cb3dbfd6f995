r"""Quantiles of numeric variables by domain with Woodruff intervals (R's ``svyquantile``).

All domains x variables x probabilities are computed at once: the entries are sorted
by (estimate, value) once, weighted cumulative sums are taken per estimate, and the
CDF at every estimated quantile is one more set of proportions for the single
variance engine (Taylor or replicate).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from .._checks import check_level
from ..errors import OptionError, message
from ..options import DFRule
from .domains import make_domains, stack_variables
from .results import EstimateResult, QualityThresholds

__all__ = ["estimate_quantiles", "quantile_label"]


def quantile_label(variable: str, p: float) -> str:
    """Name of the quantile ``p`` of ``variable`` in the ``right`` column (``"api00:q0.5"``)."""
    return f"{variable}:q{p:g}"


def _check_probs(quantiles) -> np.ndarray:
    q = np.atleast_1d(np.asarray(quantiles, dtype=float))
    if q.size == 0 or not np.all((q >= 0) & (q <= 1)) or len(set(q.tolist())) != q.size:
        raise OptionError(
            message(
                "quantiles must be distinct probabilities in [0, 1]",
                where="parameter quantiles",
                expected="e.g. 0.25,0.5,0.75",
                found=", ".join(f"{x:g}" for x in q),
            )
        )
    return q


def _inverse_cdf(
    order_vals: np.ndarray,
    cumw: np.ndarray,
    start: np.ndarray,
    size: np.ndarray,
    total: np.ndarray,
    group: np.ndarray,
    p: np.ndarray,
) -> np.ndarray:
    r"""R's ``qrule_math`` per estimate: the value at the last position with :math:`\sum w \le pW`,
    or the next one when the cumulative share there is not exactly ``p``. Below the first
    weight share R's rule gives the second smallest value (its ``last`` of no position is
    1); this port does the same, to match R.

    ``order_vals`` / ``cumw`` are the sorted values and per-estimate cumulative weights of the
    entries, ``group`` the estimate of each entry; ``p`` one probability per estimate (NaN: none).
    """
    K = start.size
    with np.errstate(invalid="ignore"):
        below = cumw <= p[group] * total[group]  # a prefix of each estimate's entries (positive weights)
    count = np.bincount(group, weights=below, minlength=K).astype(np.int64)
    pos = np.clip(count - 1, 0, np.maximum(size - 1, 0)) + start
    ok = (size > 0) & np.isfinite(p)
    pos = np.where(ok, pos, 0)
    if order_vals.size == 0:
        return np.full(K, np.nan)
    with np.errstate(invalid="ignore", divide="ignore"):
        exact = (p - cumw[pos] / total) == 0
    # as R: with no cumulative share <= p (p below the first weight share) R's ``last`` gives the
    # first position, and the rule then takes the second value
    nxt = np.where(exact, pos, np.minimum(pos + 1, start + size - 1))
    return np.where(ok, order_vals[nxt], np.nan)


def _cumulative_weights(
    wr: np.ndarray, g: np.ndarray, start: np.ndarray, size: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Cumulative weights within each estimate and their totals, rounded as R's ``cumsum``/``sum``.

    R accumulates both in extended precision (``LDOUBLE``) and rounds to double; the
    quantile rule compares them exactly (``cumsum(w) <= p * sum(w)``), so ties such as
    the median of an even number of equal weights fall as in R. One extended-precision
    cumulative sum over all entries, less each estimate's starting value, gives the
    per-estimate sums (64-bit mantissa where NumPy's ``longdouble`` has one).
    """
    c = np.cumsum(wr.astype(np.longdouble))
    before = np.where(start > 0, c[np.maximum(start - 1, 0)], 0).astype(np.longdouble)
    local = c - before[g]
    ends = start + size - 1
    total = np.where(size > 0, local[np.maximum(ends, 0)] if local.size else 0, 0).astype(float)
    return local.astype(float), total


def estimate_quantiles(
    design,
    variables: str | Sequence[str],
    by: str | Sequence[str] | None = None,
    *,
    quantiles: float | Sequence[float] = 0.5,
    level: float = 0.95,
    df: DFRule | str = "domain",
    thresholds: QualityThresholds = QualityThresholds(),
) -> EstimateResult:
    r"""Quantiles of numeric variables, overall or by domain, with Woodruff confidence intervals.

    Parameters
    ----------
    design : SurveyDesign
    variables : str or list of str
        Numeric columns (rows with an empty value are left out of that variable).
    by : str or list of str, optional
        Domain columns.
    quantiles : float or list of float, default 0.5
        Probabilities in [0, 1].
    level, df, thresholds
        As :func:`~nonrecours.estimation.estimate_rates`.

    Returns
    -------
    EstimateResult
        One row per domain x variable x probability, ``right`` reading
        ``"variable:q0.5"``; ``se`` is R's ``(upper - lower) / (2 t)``; ``deff`` is NaN.
        Quantiles have no joint covariance: the result's ``variance`` is that of the
        CDF values at the quantiles (used for the intervals), not of the quantiles.

    Notes
    -----
    As R survey 4.1.1's ``svyquantile`` defaults (``qrule = "math"``,
    ``interval.type = "mean"``): :math:`\hat q_p` is the smallest value with weighted
    CDF :math:`\hat F(x) \ge p` (R's ``qrule_math``); the Woodruff (1952) interval
    estimates :math:`\hat F(\hat q_p)` as the proportion of :math:`y \le \hat q_p`
    with its design SE (Taylor or replicate), forms
    :math:`\hat F \pm t_{df}\, SE` and maps both ends back through the inverse CDF;
    an end outside [0, 1] gives NaN, as in R.

    References
    ----------
    Woodruff, R. S. (1952). Confidence intervals for medians and other position
    measures. *JASA* 47, 635–646. Lumley, T. (2010). *Complex Surveys*, §2.4.
    """
    from .estimators import _check_common, _names, _numeric_column, _run

    df = _check_common(level, df, thresholds)
    names = _names(variables, "variables")
    if not names:
        raise OptionError(
            message("no variable given", where="parameter variables", expected="one or more numeric columns")
        )
    probs = _check_probs(quantiles)
    values = [_numeric_column(design, v) for v in names]
    domains = make_domains(design.data, _names(by, "by"))
    w = design.weights
    P = probs.size
    # every (variable, probability) is a column of the same layout: K = D x (V x P)
    rep_values = [v for v in values for _ in range(P)]
    stats = stack_variables(domains, w, rep_values, "ones")
    K = stats.n_cols
    labels = [quantile_label(v, p) for v in names for p in probs]
    p_of_col = np.tile(probs, len(names) * domains.n_domains)
    # sort the entries by (estimate, value); cumulative weights per estimate as R's cumsum
    order = np.lexsort((stats.num, stats.cols))
    g, x, wr = stats.cols[order], stats.num[order], w[stats.rows[order]]
    size = np.bincount(g, minlength=K)
    start = np.concatenate([[0], np.cumsum(size)[:-1]])
    cumw, total = _cumulative_weights(wr, g, start, size)
    qhat = _inverse_cdf(x, cumw, start, size, total, g, p_of_col)
    # Woodruff: the proportion of y <= qhat in each estimate's domain, by the one engine
    below = np.asarray(stats.num <= qhat[stats.cols], dtype=float)
    cdf_stats = type(stats)(
        rows=stats.rows,
        cols=stats.cols,
        num=below,
        den=stats.den,
        n_cols=K,
        unit_den=True,
        row_domain=stats.row_domain,
        var_bounds=stats.var_bounds,
    )
    cdf = _run(
        design,
        cdf_stats,
        domains,
        labels,
        statistic="mean",
        ci="wald",
        level=level,
        df_rule=df,
        thresholds=QualityThresholds(min_n=0, reliable_n=0, max_cv=np.inf),
    )
    from .intervals import t_quantile

    q = t_quantile(check_level(level), cdf.df)
    with np.errstate(invalid="ignore"):
        lo_p, hi_p = cdf.raw_estimate - q * cdf.raw_se, cdf.raw_estimate + q * cdf.raw_se
        lo_p = np.where(lo_p < 0, np.nan, lo_p)
        hi_p = np.where(hi_p > 1, np.nan, hi_p)
    low = _inverse_cdf(x, cumw, start, size, total, g, lo_p)
    high = _inverse_cdf(x, cumw, start, size, total, g, hi_p)
    with np.errstate(invalid="ignore", divide="ignore"):
        se = (high - low) / (2 * q)
        cv = se / np.abs(qhat)
    n = cdf.n
    flag = thresholds.flags(n, cv)
    hide = flag == "suppressed"

    def mask(a):
        return np.where(hide, np.nan, a)

    return EstimateResult(
        domains=cdf.domains,
        right=cdf.right,
        n=n,
        estimate=mask(qhat),
        se=mask(se),
        ci_low=mask(low),
        ci_high=mask(high),
        df=cdf.df,
        deff=np.full(K, np.nan),
        cv=mask(cv),
        flag=flag,
        n_eff=np.full(K, np.nan),
        raw_estimate=qhat,
        raw_se=se,
        variance=cdf.variance,
        statistic="quantile",
        ci_method="woodruff",
        df_rule=df,
        lonely_psu=design.lonely_psu,
        level=float(level),
        variance_method=cdf.variance_method,
        by=domains.by,
        thresholds=thresholds,
        psu_presence=cdf.psu_presence,
        stratum_presence=cdf.stratum_presence,
        design_df=cdf.design_df,
    )
