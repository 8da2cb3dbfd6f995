r"""Estimators: take-up rates, means and proportions (Hájek), totals (Horvitz–Thompson), ratios, gaps.

Every function takes a :class:`~nonrecours.design.SurveyDesign`, evaluates all
domains x variables in one vectorised pass (domains are zero weights on the
full design) and hands the influence values to the single variance engine
(Taylor, or the replicate combiner when the design carries replicate weights).
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from typing import Literal

import numpy as np
import pandas as pd
import scipy.sparse as sp
from scipy import special

from .._checks import check_columns, check_level, check_right_column, parse_list, where_name
from ..errors import InputError, LonelyPSUWarning, OptionError, message, rows_found
from ..options import Adjust, DFRule, EstimateCI, check_option
from ._dist import t_sf
from .domains import Domains, make_domains, presence, psu_cells, stack_variables
from .intervals import auto_ci, proportion_ci, t_quantile
from .linearize import LinearStats, influence_values, point_estimates, residuals
from .replicate import replicate_estimates, replicate_factor
from .results import EstimateResult, GapResult, Labels, QualityThresholds, VarianceFactor
from .taylor import taylor_factor

__all__ = [
    "estimate_rates",
    "estimate_counts",
    "estimate_takeup",
    "estimate_means",
    "estimate_totals",
    "estimate_ratio",
    "estimate_gap",
    "gaps",
]


def _replicate_logit_se(replicates, stats: LinearStats, theta: np.ndarray, th: np.ndarray) -> np.ndarray:
    r"""Replicate SE of the logit of each rate, as R's ``svyciprop(method = "logit")`` on a replicate design.

    R fits ``svyglm(y ~ 1, family = quasibinomial)`` with every replicate weight; the
    intercept of replicate *r* is :math:`\operatorname{logit}\hat p_r`, and ``svrVar``
    combines them as the rates themselves. A replicate rate of 0 or 1 (logit infinite,
    R's fit diverging) makes the SE infinite: the interval is then [0, 1].
    """
    with np.errstate(divide="ignore", invalid="ignore"):
        eta, eta_r = special.logit(theta), special.logit(th)
    wild = (np.isinf(eta_r) & (replicates.rscales != 0)[:, None]).any(axis=0)
    var = replicate_factor(replicates, stats, eta, estimates=np.where(np.isinf(eta_r), np.nan, eta_r)).variances()
    return np.where(wild, np.inf, np.sqrt(var))


def _names(value: str | Sequence[str] | None, option: str) -> list[str]:
    out = parse_list(value, option=option)
    if len(set(out)) != len(out):
        raise OptionError(message("a name is repeated", where=where_name(option), found=", ".join(out)))
    return out


def _numeric_column(design, col: str) -> np.ndarray:
    check_columns(design.data, [col], role="variable", source="the sample")
    s = design.data[col]
    v = pd.to_numeric(s, errors="coerce").to_numpy(dtype=float, na_value=np.nan)
    bad = s.notna().to_numpy() & np.isnan(v)
    if bad.any():
        raise InputError(
            message(
                "variable is not numeric", where=f"column {col!r}", expected="numbers or empty", found=rows_found(bad)
            )
        )
    return v


def _right_values(data: pd.DataFrame, col: str) -> np.ndarray:
    """A right column as float64 (NaN = not eligible), checked in one pass when already numeric.

    Columns of another dtype, or holding values other than 0, 1 and empty, go
    through :func:`~nonrecours._checks.check_right_column` (which names the bad rows).
    """
    s = data[col] if col in data.columns else None
    if isinstance(s, pd.Series) and isinstance(s.dtype, np.dtype) and s.dtype.kind == "f":
        v = s.to_numpy(dtype=float)
        with np.errstate(invalid="ignore"):
            if not ((v != 0) & (v != 1) & ~np.isnan(v)).any():
                return v
    return check_right_column(data, col)


def _check_common(level: float, df: str, thresholds: QualityThresholds) -> str:
    """Check the options shared by the estimators; return the df rule as a plain string."""
    df = check_option("df", df, DFRule)
    check_level(level)
    if not isinstance(thresholds, QualityThresholds):
        raise OptionError(
            message(
                "thresholds must be a QualityThresholds", where="parameter thresholds", found=type(thresholds).__name__
            )
        )
    return df


def _deff(
    statistic: str,
    stats: LinearStats,
    wr: np.ndarray,
    theta: np.ndarray,
    var: np.ndarray,
    n: np.ndarray,
    *,
    N: np.ndarray | None = None,
    resid: np.ndarray | None = None,
) -> np.ndarray:
    r"""Design effect vs SRSWOR of the same size, as R's ``svymean``/``svytotal(deff = TRUE)``.

    :math:`v_{srs} = s^2 (\hat N - n) / (\hat N n)` for means, times :math:`\hat N^2` for totals,
    with :math:`s^2 = \frac{n}{n-1} \sum w (y - \bar y)^2 / \sum w`. ``wr`` are the weights at
    the entries; ``N`` (:math:`\hat N`) and ``resid`` (:math:`y - \bar y`), if already
    computed, save passes.
    """
    K = stats.n_cols
    if statistic == "ratio":
        return np.full(K, np.nan)
    if N is None:
        N = np.bincount(stats.cols, weights=wr, minlength=K)
    with np.errstate(invalid="ignore", divide="ignore"):
        ybar = theta if statistic != "total" else np.bincount(stats.cols, weights=wr * stats.num, minlength=K) / N
        if resid is None:
            resid = stats.num - ybar[stats.cols]
        sq = np.square(resid)
        sq *= wr
        ss = np.bincount(stats.cols, weights=sq, minlength=K)
        s2 = ss / N * n / (n - 1)
        vsrs = s2 * (N - n) / (N * n)
        if statistic == "total":
            vsrs = vsrs * N**2
        return var / vsrs


def _interleave(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """``[a0, b0, a1, b1, ...]``."""
    return np.column_stack([a, b]).ravel()


def _counts_taylor(design, stats: LinearStats, wr: np.ndarray, cells, psu_pres, str_pres):
    """Takers (``y``) and non-takers (``1 - y``) of V 0/1 variables from one coding of their entries.

    Both totals share the entries, (PSU, estimate) cells and presence; the Taylor engine runs
    on each set of influence values (``w y`` and ``w (1 - y)``) and the two factors are put
    side by side, estimate ``k`` becoming columns ``2k`` (takers) and ``2k + 1`` (non-takers),
    so that their joint covariance is kept. Returns (theta, factor, psu_pres, str_pres, (T, N)):
    takers and eligible totals for the design effects.
    """
    K = stats.n_cols
    zT = wr * stats.num
    T = np.bincount(stats.cols, weights=zT, minlength=K)
    N = np.bincount(stats.cols, weights=wr, minlength=K)
    fT = taylor_factor(design, stats, zT, str_pres, psu_pres, cells=cells)
    with warnings.catch_warnings():  # the same lonely PSUs were reported for the takers
        warnings.simplefilter("ignore", LonelyPSUWarning)
        fN = taylor_factor(design, stats, wr - zT, str_pres, psu_pres, cells=cells)
    perm = _interleave(np.arange(K), K + np.arange(K))
    R = None if fT.R is None or fN.R is None else np.hstack([fT.R, fN.R])[:, perm]
    factor = VarianceFactor(
        A=sp.hstack([fT.A, fN.A], format="csc")[:, perm],
        B=sp.hstack([fT.B, fN.B], format="csc")[:, perm],
        mult=np.concatenate([fT.mult, fN.mult])[perm],
        LA=fT.LA,
        LB=fT.LB,
        R=R,
    )
    dup = np.repeat(np.arange(K), 2)
    return _interleave(T, N - T), factor, psu_pres[:, dup], str_pres[:, dup], (T, N)


def _run(
    design,
    stats: LinearStats,
    domains: Domains,
    names: list[str],
    *,
    statistic: str,
    ci: str,
    level: float,
    df_rule: str,
    thresholds: QualityThresholds,
    complement: bool = False,
    coded: tuple | None = None,
    sides: Literal["each", "stacked"] | None = None,
) -> EstimateResult:
    w = design.weights
    counted = _sides(stats, "doubled" if complement else sides)
    wr = w[stats.rows]  # weights at the entries, gathered once
    if coded is None:
        cells = psu_cells(design.structure, stats)  # (PSU, estimate) cells, coded once
        psu_pres, str_pres = presence(design.structure, stats, cells)
    else:  # (cells, psu presence, stratum presence) of the same entries, already coded
        cells, psu_pres, str_pres = coded
    if complement:  # totals of 0/1 variables and of their complements (takers, non-takers): Taylor only
        theta, factor, psu_pres, str_pres, parts = _counts_taylor(design, stats, wr, cells, psu_pres, str_pres)
        return _finish(
            design,
            domains,
            names,
            theta,
            factor,
            psu_pres,
            str_pres,
            statistic=statistic,
            ci=ci,
            level=level,
            df_rule=df_rule,
            thresholds=thresholds,
            method="taylor",
            wr=wr,
            deff_parts=parts,
            sides=counted,
        )
    _, Td, theta = point_estimates(stats, w, wr=wr)
    # residuals y - theta x, shared by the influence values and (Hajek means) the design effect
    resid = residuals(stats, theta) if Td is not None else None
    logit_se = None
    if design.replicates is not None:
        th = replicate_estimates(stats, design.replicates.weights)
        factor = replicate_factor(design.replicates, stats, theta, estimates=th)
        method = f"replicate ({design.replicates.type})"
        if statistic == "rate" and ci in ("logit", "likelihood"):
            logit_se = _replicate_logit_se(design.replicates, stats, theta, th)
        del th
    else:
        z = influence_values(stats, w, theta, Td, wr=wr, resid=resid)
        factor = taylor_factor(design, stats, z, str_pres, psu_pres, cells=cells)
        del z
        method = "taylor"
    return _finish(
        design,
        domains,
        names,
        theta,
        factor,
        psu_pres,
        str_pres,
        statistic=statistic,
        ci=ci,
        level=level,
        df_rule=df_rule,
        thresholds=thresholds,
        method=method,
        wr=wr,
        stats=stats,
        Td=Td,
        resid=resid,
        logit_se=logit_se,
        sides=counted,
    )


def _sides(stats: LinearStats, kind: str | None) -> tuple[np.ndarray, np.ndarray] | None:
    """Unweighted takers and non-takers behind each estimate of take-up (the policy holds each to ``min_n``).

    ``kind``: ``"each"``, every column of ``stats`` is a 0/1 right (rates: one estimate per column);
    ``"doubled"``, the same, each column giving two estimates (takers, non-takers: the Taylor engine's
    ``complement``); ``"stacked"``, columns ``2k`` and ``2k + 1`` hold ``y`` and ``1 - y`` of one right and
    domain (counts of a replicate design); None: no sides (means, totals, ratios of other variables).
    """
    if kind is None:
        return None
    ones = np.bincount(stats.cols, weights=stats.num == 1, minlength=stats.n_cols).astype(np.int64)
    if kind == "stacked":  # the ones of 1 - y are the non-takers
        return np.repeat(ones[0::2], 2), np.repeat(ones[1::2], 2)
    zeros = np.bincount(stats.cols, weights=stats.num == 0, minlength=stats.n_cols).astype(np.int64)
    if kind == "doubled":
        return np.repeat(ones, 2), np.repeat(zeros, 2)
    return ones, zeros


def _finish(
    design,
    domains: Domains,
    names: list[str],
    theta,
    factor,
    psu_pres,
    str_pres,
    *,
    statistic: str,
    ci: str,
    level: float,
    df_rule: str,
    thresholds: QualityThresholds,
    method: str,
    wr,
    stats=None,
    Td=None,
    resid=None,
    logit_se=None,
    deff_parts=None,
    sides=None,
) -> EstimateResult:
    """SEs, df, design effects, CIs and flags of estimates whose covariance factor is known; ``sides``: the
    takers and non-takers behind estimates of take-up (:func:`_sides`), held to ``min_n`` by the flag."""
    var = factor.variances()
    n = np.asarray(psu_pres.sum(axis=0)).ravel().astype(np.int64)  # entries per estimate
    se = np.where(n == 0, np.nan, np.sqrt(var))  # no eligible respondent: no estimate, no SE
    design_df = design.degf()
    if df_rule == "inf":
        dfs = np.full(n.size, np.inf)
    elif df_rule == "design" or design.replicates is not None:
        dfs = np.full(n.size, design_df)
    else:
        dfs = (psu_pres.getnnz(axis=0) - str_pres.getnnz(axis=0)).astype(float)
    if deff_parts is not None:  # takers and non-takers of 0/1 variables: a closed form, no pass over entries
        T, N = deff_parts
        nk = n[::2].astype(float)
        with np.errstate(invalid="ignore", divide="ignore"):
            # sum w (y - ybar)^2 = T (N - T) / N for y in {0, 1}, the same for 1 - y (as _deff's SRSWOR variance)
            s2 = T * (N - T) / N / N * nk / (nk - 1)
            vsrs = s2 * (N - nk) / (N * nk) * N**2
            deff = _interleave(var[::2] / vsrs, var[1::2] / vsrs)
    else:
        unit = stats.unit_den and statistic in ("rate", "mean")  # then N = Td and y - ybar = resid
        deff = _deff(statistic, stats, wr, theta, var, n, N=Td if unit else None, resid=resid if unit else None)
    del wr, resid
    with np.errstate(invalid="ignore", divide="ignore"):
        cv = se / np.abs(theta)
        n_eff = n / deff
    methods = np.full(n.size, ci if statistic in ("rate", "proportion") else "wald", dtype=object)
    if statistic in ("rate", "proportion") and ci == "auto":
        # Wilson (design df) where the domain is small or the estimate is 0 or 1, logit elsewhere
        low, high, methods = auto_ci(theta, se, dfs, n, design_df=design_df, level=level, logit_se=logit_se)
    elif statistic in ("rate", "proportion"):
        low, high = proportion_ci(theta, se, dfs, method=ci, level=level, n=n, logit_se=logit_se)
    else:
        q = t_quantile(level, dfs)
        low, high = theta - q * se, theta + q * se
    low, high = np.asarray(low, dtype=float), np.asarray(high, dtype=float)
    n_takers, n_non_takers = sides if sides is not None else (None, None)
    flag = thresholds.flags(n, cv, n_takers, n_non_takers)
    hide = flag == "suppressed"

    def mask(a):
        return np.where(hide, np.nan, a)

    D, V = domains.n_domains, len(names)
    table = domains.levels.iloc[np.repeat(np.arange(D), V)].reset_index(drop=True)
    return EstimateResult(
        domains=table,
        right=np.tile(np.asarray(names, dtype=object), D),
        n=n,
        estimate=mask(theta),
        se=mask(se),
        ci_low=mask(low),
        ci_high=mask(high),
        df=dfs,
        deff=mask(deff),
        cv=mask(cv),
        flag=flag,
        n_eff=mask(n_eff),
        raw_estimate=theta,
        raw_se=se,
        variance=factor,
        statistic=statistic,
        ci_method=ci if statistic in ("rate", "proportion") else "wald",
        df_rule=df_rule,
        lonely_psu=design.lonely_psu,
        level=float(level),
        variance_method=method,
        by=domains.by,
        thresholds=thresholds,
        psu_presence=psu_pres,
        stratum_presence=str_pres,
        design_df=design_df,
        ci_methods=methods.astype(str),
        raw_deff=deff,
        n_takers=n_takers,
        n_non_takers=n_non_takers,
    )


def _right_columns(design, rights: str | Sequence[str]) -> tuple[list[str], list[np.ndarray]]:
    """The right columns' names and their values (1, 0 or NaN), checked; at least one right."""
    names = _names(rights, "rights")
    if not names:
        raise OptionError(message("no right given", where="parameter rights", expected="one or more right columns"))
    return names, [_right_values(design.data, r) for r in names]


def estimate_rates(
    design,
    rights: str | Sequence[str],
    by: str | Sequence[str] | None = None,
    *,
    ci: EstimateCI | str = "auto",
    level: float = 0.95,
    df: DFRule | str = "domain",
    thresholds: QualityThresholds = QualityThresholds(),
) -> EstimateResult:
    r"""Take-up rates of rights, overall or by domain, with design-based SEs and CIs.

    Parameters
    ----------
    design : SurveyDesign
    rights : str or list of str
        Right columns coded 1 (takes up), 0 (eligible, does not), empty (not eligible).
    by : str or list of str, optional
        Domain columns; every observed combination is a domain.
    ci : {"auto", "wald", "logit", "asin", "beta", "likelihood", "xlogit", "wilson"}
        Confidence-interval method (R's ``svyciprop``). ``auto`` (the default)
        uses the ``wilson`` interval with the effective sample size and the
        design's degrees of freedom for a domain with fewer than
        :data:`~.results.SMALL_DOMAIN_N` (30) eligible respondents or an estimate
        of 0 or 1 (where ``logit``/``wald`` intervals have width 0 and cover
        poorly, and Korn–Graubard's over-covers: see
        :func:`~.intervals.auto_ci`), ``logit`` elsewhere; the method of each row
        is in the output's ``ci_method`` column. A named method forces it on
        every row (with ``df`` as given).
    level : float
        Confidence level.
    df : {"domain", "design", "inf"}
        Degrees of freedom: PSUs minus strata among in-domain eligible rows (R's
        ``degf`` of the subset design), of the whole design, or normal.
    thresholds : QualityThresholds
        Suppression and reliability thresholds of the ``flag``: a rate is suppressed below ``min_n`` eligible
        respondents, ``min_n`` takers or ``min_n`` non-takers (unweighted; ``n_takers`` and ``n_non_takers``
        of the result).

    Returns
    -------
    EstimateResult
        One row per domain x right.

    Notes
    -----
    The rate of right *r* in domain *d* is the Hájek mean
    :math:`\hat p_{dr} = \sum_{i \in d, E_r} w_i y_{ir} / \sum_{i \in d, E_r} w_i` over the
    eligible rows :math:`E_r`; its variance is that of the total of
    :math:`z_i = w_i (y_{ir} - \hat p_{dr}) / \hat N_{dr}` (Lumley, 2010, §2.3).

    Examples
    --------
    >>> import pandas as pd
    >>> from nonrecours.design import SurveyDesign
    >>> df = pd.DataFrame({"h": list("aaaabbbb"), "w": [2.0] * 8, "cmuc": [1, 0, 1, None, 1, 1, 0, 1]})
    >>> r = estimate_rates(SurveyDesign(df, weight="w", strata="h"), "cmuc", ci="wald", df="inf",
    ...                    thresholds=QualityThresholds(min_n=0, reliable_n=0))
    >>> round(float(r.estimate[0]), 4)
    0.7143
    """
    ci = check_option("ci", ci, EstimateCI)
    df = _check_common(level, df, thresholds)
    names, values = _right_columns(design, rights)
    domains = make_domains(design.data, _names(by, "by"))
    stats = stack_variables(domains, design.weights, values, "ones")
    return _run(
        design,
        stats,
        domains,
        names,
        statistic="rate",
        ci=ci,
        level=level,
        df_rule=df,
        thresholds=thresholds,
        sides="each",
    )


def estimate_counts(
    design,
    rights: str | Sequence[str],
    by: str | Sequence[str] | None = None,
    *,
    level: float = 0.95,
    df: DFRule | str = "domain",
    thresholds: QualityThresholds = QualityThresholds(),
) -> EstimateResult:
    r"""Weighted numbers of takers and of non-takers of rights, overall or by domain (R's ``svytotal``).

    Parameters as :func:`estimate_rates`. The ``right`` column of the result reads
    ``"cmuc:takers"`` and ``"cmuc:non_takers"`` (two rows per right and domain, in that
    order), both estimated in one pass of the variance engine so that their joint
    covariance (and gaps between them) is available.

    Notes
    -----
    Takers :math:`\hat T_1 = \sum_{i \in d, E_r} w_i y_{ir}`, non-takers
    :math:`\hat T_0 = \sum_{i \in d, E_r} w_i (1 - y_{ir})` (Horvitz–Thompson totals);
    CIs :math:`\hat T \pm t_{df} SE`; ``n`` counts the eligible respondents.

    Examples
    --------
    >>> import pandas as pd
    >>> from nonrecours.design import SurveyDesign
    >>> df = pd.DataFrame({"h": list("aaaabbbb"), "w": [2.0] * 8, "cmuc": [1, 0, 1, None, 1, 1, 0, 1]})
    >>> r = estimate_counts(SurveyDesign(df, weight="w", strata="h"), "cmuc", df="inf",
    ...                     thresholds=QualityThresholds(min_n=0, reliable_n=0))
    >>> [str(x) for x in r.right], r.estimate.tolist()
    (['cmuc:takers', 'cmuc:non_takers'], [10.0, 4.0])
    """
    df = _check_common(level, df, thresholds)
    names, values = _right_columns(design, rights)
    labels = [f"{r}:{m}" for r in names for m in ("takers", "non_takers")]
    domains = make_domains(design.data, _names(by, "by"))
    if design.replicates is not None:  # the replicate combiner re-evaluates both totals of every replicate
        stats = stack_variables(domains, design.weights, [v for y in values for v in (y, 1.0 - y)], None)
        return _run(
            design,
            stats,
            domains,
            labels,
            statistic="total",
            ci="wald",
            level=level,
            df_rule=df,
            thresholds=thresholds,
            sides="stacked",
        )
    stats = stack_variables(domains, design.weights, values, None)
    return _run(
        design,
        stats,
        domains,
        labels,
        statistic="total",
        ci="wald",
        level=level,
        df_rule=df,
        thresholds=thresholds,
        complement=True,
    )


def estimate_takeup(
    design,
    rights: str | Sequence[str],
    by: str | Sequence[str] | None = None,
    *,
    ci: EstimateCI | str = "auto",
    level: float = 0.95,
    df: DFRule | str = "domain",
    thresholds: QualityThresholds = QualityThresholds(),
) -> tuple[EstimateResult, EstimateResult]:
    """Take-up rates and numbers of takers and non-takers in one pass: ``(estimate_rates(...), estimate_counts(...))``.

    The domains, the entries of the rights and their (PSU, estimate) cells are coded once and
    shared by the two results (Taylor designs; a replicate design runs the two functions).
    Parameters as :func:`estimate_rates`.
    """
    if design.replicates is not None:
        return (
            estimate_rates(design, rights, by, ci=ci, level=level, df=df, thresholds=thresholds),
            estimate_counts(design, rights, by, level=level, df=df, thresholds=thresholds),
        )
    ci = check_option("ci", ci, EstimateCI)
    df = _check_common(level, df, thresholds)
    names, values = _right_columns(design, rights)
    domains = make_domains(design.data, _names(by, "by"))
    stats = stack_variables(domains, design.weights, values, "ones")
    cells = psu_cells(design.structure, stats)
    coded = (cells, *presence(design.structure, stats, cells))
    rates = _run(
        design,
        stats,
        domains,
        names,
        statistic="rate",
        ci=ci,
        level=level,
        df_rule=df,
        thresholds=thresholds,
        coded=coded,
        sides="each",
    )
    totals = LinearStats(
        rows=stats.rows,
        cols=stats.cols,
        num=stats.num,
        den=None,
        n_cols=stats.n_cols,
        row_domain=stats.row_domain,
        var_bounds=stats.var_bounds,
    )
    labels = [f"{r}:{m}" for r in names for m in ("takers", "non_takers")]
    counts = _run(
        design,
        totals,
        domains,
        labels,
        statistic="total",
        ci="wald",
        level=level,
        df_rule=df,
        thresholds=thresholds,
        complement=True,
        coded=coded,
    )
    return rates, counts


def estimate_means(
    design,
    variables: str | Sequence[str],
    by: str | Sequence[str] | None = None,
    *,
    level: float = 0.95,
    df: DFRule | str = "domain",
    thresholds: QualityThresholds = QualityThresholds(),
) -> EstimateResult:
    r"""Hájek means :math:`\sum w y / \sum w` of numeric variables (rows with an empty value left out).

    CIs are :math:`\hat\theta \pm t_{df} SE`. Parameters as :func:`estimate_rates`.
    """
    df = _check_common(level, df, thresholds)
    names = _names(variables, "variables")
    values = [_numeric_column(design, v) for v in names]
    domains = make_domains(design.data, _names(by, "by"))
    stats = stack_variables(domains, design.weights, values, "ones")
    return _run(
        design, stats, domains, names, statistic="mean", ci="wald", level=level, df_rule=df, thresholds=thresholds
    )


def estimate_totals(
    design,
    variables: str | Sequence[str],
    by: str | Sequence[str] | None = None,
    *,
    level: float = 0.95,
    df: DFRule | str = "domain",
    thresholds: QualityThresholds = QualityThresholds(),
) -> EstimateResult:
    r"""Horvitz–Thompson totals :math:`\sum w y` (empty values count as 0 and not in ``n``).

    Parameters as :func:`estimate_rates`; CIs are :math:`\hat T \pm t_{df} SE`.
    """
    df = _check_common(level, df, thresholds)
    names = _names(variables, "variables")
    values = [_numeric_column(design, v) for v in names]
    domains = make_domains(design.data, _names(by, "by"))
    stats = stack_variables(domains, design.weights, values, None)
    return _run(
        design, stats, domains, names, statistic="total", ci="wald", level=level, df_rule=df, thresholds=thresholds
    )


def estimate_ratio(
    design,
    numerator: str | Sequence[str],
    denominator: str | Sequence[str],
    by: str | Sequence[str] | None = None,
    *,
    level: float = 0.95,
    df: DFRule | str = "domain",
    thresholds: QualityThresholds = QualityThresholds(),
) -> EstimateResult:
    r"""Ratios of totals :math:`\hat R = \sum w y / \sum w x` (R's ``svyratio``).

    ``numerator`` and ``denominator`` are one column each, or lists of equal length
    (pairs, all estimated in one pass). The ``right`` column of the result reads
    ``"numerator/denominator"``.
    """
    df = _check_common(level, df, thresholds)
    nums = [numerator] if isinstance(numerator, str) else list(numerator)
    dens = [denominator] if isinstance(denominator, str) else list(denominator)
    if len(nums) != len(dens) or not nums:
        raise OptionError(
            message(
                "numerators and denominators do not pair up",
                where="parameters numerator / denominator",
                expected="as many denominators as numerators",
                found=f"{len(nums)} and {len(dens)}",
            )
        )
    ys = [_numeric_column(design, c) for c in nums]
    xs = [_numeric_column(design, c) for c in dens]
    domains = make_domains(design.data, _names(by, "by"))
    stats = stack_variables(domains, design.weights, ys, xs)
    return _run(
        design,
        stats,
        domains,
        [f"{a}/{b}" for a, b in zip(nums, dens)],
        statistic="ratio",
        ci="wald",
        level=level,
        df_rule=df,
        thresholds=thresholds,
    )


def gaps(result: EstimateResult, a: Labels, b: Labels, *, df: DFRule | str | None = None) -> pd.DataFrame:
    r"""Differences between estimates of a result named by labels, ``a[m] - b[m]``, with SE, CI and t test.

    Parameters
    ----------
    result : EstimateResult
    a, b : labels
        The estimates compared, named by their domain values and right
        (see :meth:`EstimateResult.positions`), e.g. ``[(1, "cmuc")]`` and
        ``[(0, "cmuc")]`` for a result ``by="is_qpv"``.
    df : {"domain", "design", "inf"}, optional
        Degrees-of-freedom rule (default: the result's).

    Notes
    -----
    :math:`\mathrm{Var}(\hat\theta_a - \hat\theta_b) = V_{aa} + V_{bb} - 2V_{ab}` from the
    joint covariance; :math:`t = \text{gap}/SE` with the design's degrees of freedom
    (rule ``domain``: PSUs minus strata among rows of either domain), two-sided p-value
    and CI :math:`\text{gap} \pm t_{df,1-\alpha/2} SE`. A gap with a suppressed or empty side is NaN,
    and so are its SE, CI and test.
    """
    i, j = result.positions(a), result.positions(b)
    if i.size != j.size:
        raise OptionError(
            message("a and b must name as many estimates", where="gaps", found=f"{i.size} and {j.size} labels")
        )
    return gaps_at(result, i, j, df=df)


def gaps_at(result: EstimateResult, a: np.ndarray, b: np.ndarray, *, df: DFRule | str | None = None) -> pd.DataFrame:
    """:func:`gaps` between rows ``a`` and ``b`` of ``result.to_frame()`` (positions, for the package's own use)."""
    a = np.asarray(a, dtype=np.int64)
    b = np.asarray(b, dtype=np.int64)
    rule = result.df_rule if df is None else check_option("df", df, DFRule)
    v = result.variance
    var_a, var_b = result.raw_se[a] ** 2, result.raw_se[b] ** 2
    gap_var = np.maximum(var_a + var_b - 2 * v.covariances(a, b), 0.0)
    hide = (result.flag[a] == "suppressed") | (result.flag[b] == "suppressed")
    gap = np.where(hide, np.nan, result.raw_estimate[a] - result.raw_estimate[b])
    se = np.where(np.isnan(gap), np.nan, np.sqrt(gap_var))  # suppressed or empty side: nothing to test
    if rule == "inf":
        dfs = np.full(a.size, np.inf)
    elif rule == "design" or result.variance_method != "taylor":
        dfs = np.full(a.size, result.design_df)
    else:
        P, S = result.psu_presence, result.stratum_presence
        assert P is not None and S is not None  # Taylor results have them
        union_p = (P[:, a] != 0).astype(np.int8) + (P[:, b] != 0).astype(np.int8)
        union_s = (S[:, a] != 0).astype(np.int8) + (S[:, b] != 0).astype(np.int8)
        dfs = (union_p.getnnz(axis=0) - union_s.getnnz(axis=0)).astype(float)
    with np.errstate(invalid="ignore", divide="ignore"):
        t = gap / se
        q = t_quantile(result.level, dfs)
        p = 2 * t_sf(np.abs(t), dfs)
    return pd.DataFrame(
        {
            "right": result.right[a],
            "estimate_a": result.estimate[a],
            "estimate_b": result.estimate[b],
            "gap": gap,
            "se": se,
            "ci_low": gap - q * se,
            "ci_high": gap + q * se,
            "df": dfs,
            "t": t,
            "p_value": p,
        }
    )


#: above this many levels, every pairwise gap is refused (a reference is asked for)
MAX_PAIRWISE_LEVELS = 30


def gap_between(
    res: EstimateResult,
    gap: str,
    *,
    levels: tuple[object, object] | None = None,
    reference: object | None = None,
    adjust: str = "none",
) -> GapResult:
    """Gaps between levels of the domain column ``gap`` of an existing result (``a - b``).

    The result must have been estimated ``by`` a set of columns including ``gap``
    (or ``gap="right"``: gaps between rights, or variables, within each domain); the gap is
    computed per right within each domain of the other ``by`` columns, with the SE from the
    joint covariance (see :func:`gaps`). :func:`estimate_gap` is :func:`estimate_rates`
    followed by this function.

    Without ``levels`` or ``reference``: a column of two levels gives last minus first in
    sorted order; one of k levels every pairwise difference, later minus earlier level.

    Parameters
    ----------
    res : EstimateResult
        Estimates by domains that include the levels of ``gap``.
    gap : str
        The domain column whose levels are compared, or ``"right"``.
    levels : (a, b), optional
        One pair, ``a - b``.
    reference : optional
        Each other level minus this one (R's treatment contrasts).
    adjust : {"none", "holm", "bonferroni"}
        Multiple-comparison adjustment of the p-values within each family (the comparisons of
        one right in one domain of the other ``by`` columns), added as column ``p_adjusted``.

    Returns
    -------
    GapResult
        One row per gap, with its SE, interval and test.
    """
    from .contrasts import adjust_p

    adjust = check_option("adjust", adjust, Adjust)
    if levels is not None and reference is not None:
        raise OptionError(message("give levels or reference, not both", where="parameter gap"))
    frame = res.domains.assign(right=res.right, _pos=np.arange(len(res)))
    if gap == "right":
        if "right" in res.domains.columns:
            raise OptionError(
                message(
                    "a domain column is named 'right'",
                    where="parameter gap",
                    hint="rename the column to compare rights",
                )
            )
        frame = frame.rename(columns={"right": "_level"}).assign(right="right")
        gap_col, by_cols = "_level", list(res.domains.columns)
    elif gap not in res.domains.columns:
        raise OptionError(
            message(
                "the gap column is not a domain column of the result",
                where="parameter gap",
                expected="one of " + ", ".join(map(str, res.domains.columns)) + " or right",
                found=repr(gap),
            )
        )
    else:
        gap_col, by_cols = gap, [c for c in res.domains.columns if c != gap]
    found = sorted(pd.unique(frame[gap_col].dropna()), key=lambda x: (str(type(x)), x))
    text = [str(x) for x in found]

    def check(x):
        if str(x) not in text:
            raise OptionError(
                message(
                    "level not found in the gap column",
                    where=f"column {gap!r}",
                    expected="one of " + ", ".join(sorted(text)),
                    found=repr(x),
                )
            )
        return str(x)

    if levels is not None:
        pairs = [(check(levels[0]), check(levels[1]))]
    elif reference is not None:
        ref = check(reference)
        pairs = [(t, ref) for t in text if t != ref]
    elif len(text) == 2:
        pairs = [(text[1], text[0])]
    elif len(text) > MAX_PAIRWISE_LEVELS:
        raise OptionError(
            message(
                "too many levels for every pairwise gap",
                where=f"column {gap!r}",
                expected=f"at most {MAX_PAIRWISE_LEVELS} levels",
                found=f"{len(text)} levels",
                hint="compare each level with a reference (COLUMN:REFERENCE, reference=)",
            )
        )
    elif len(text) > 2:
        pairs = [(text[j], text[i]) for i in range(len(text)) for j in range(i + 1, len(text))]
    else:
        raise OptionError(
            message("the gap column has fewer than two levels", where=f"column {gap!r}", found=f"{len(text)} level(s)")
        )
    code = {t: i for i, t in enumerate(text)}
    frame = frame[frame[gap_col].notna()].assign(_code=frame[gap_col].astype(str).map(code))
    both = frame.drop(columns=[gap_col]).merge(
        frame.drop(columns=[gap_col]), on=by_cols + ["right"], suffixes=("_a", "_b"), sort=False
    )  # one join, every pair
    pair_of = {(code[a], code[b]): i for i, (a, b) in enumerate(pairs)}
    n_lv = len(text)
    lookup = np.full(n_lv * n_lv, -1, np.int64)
    for (ca, cb), i in pair_of.items():  # loop over the pairs asked for (level pairs, not domains)
        lookup[ca * n_lv + cb] = i
    which = lookup[both["_code_a"].to_numpy(np.int64) * n_lv + both["_code_b"].to_numpy(np.int64)]
    both = both.assign(_pair=which)[which >= 0].sort_values(["_pair", "_pos_a"], kind="stable")
    table = gaps_at(res, both["_pos_a"].to_numpy(), both["_pos_b"].to_numpy())
    a_txt = np.asarray(text, dtype=object)[both["_code_a"].to_numpy(np.int64)]
    b_txt = np.asarray(text, dtype=object)[both["_code_b"].to_numpy(np.int64)]
    right = (
        table["right"].astype(str).to_numpy()
        if gap != "right"
        else np.char.add(np.char.add(a_txt.astype(str), "-"), b_txt.astype(str))
    )
    out = both[by_cols].reset_index(drop=True).assign(right=right, domain_a=a_txt, domain_b=b_txt)
    out = pd.concat([out, table.drop(columns=["right"])], axis=1)
    if adjust != "none":
        family = by_cols if gap == "right" else by_cols + ["right"]  # one right (or domain) at a time
        out["p_adjusted"] = adjust_p(out["p_value"].to_numpy(), out[family] if family else None, adjust)
    return GapResult(table=out, level=res.level, df_rule=res.df_rule, variance_method=res.variance_method)


def estimate_gap(
    design,
    rights: str | Sequence[str],
    gap: str,
    *,
    levels: tuple[object, object] | None = None,
    by: str | Sequence[str] | None = None,
    ci: EstimateCI | str = "auto",
    level: float = 0.95,
    df: DFRule | str = "domain",
    thresholds: QualityThresholds = QualityThresholds(),
    reference: object | None = None,
    adjust: str = "none",
) -> GapResult:
    """Gap in take-up rate between two levels of ``gap`` (``a - b``), per right and ``by`` domain.

    Parameters
    ----------
    gap : str
        Column whose two levels are compared (e.g. ``is_qpv``: 1 - 0; ``benefit``).
    levels : (a, b), optional
        The levels compared, ``a - b``; by default the two levels of the column,
        last minus first in sorted order (``is_qpv``: 1 - 0).
    by : optional
        Further domain columns; the gap is computed within each of their domains.
    reference, adjust : optional
        As :func:`gap_between` (each level against a reference; Holm or Bonferroni p-values).

    Returns
    -------
    GapResult
        Columns: the ``by`` columns, right, domain_a, domain_b, estimate_a, estimate_b,
        gap, se, ci_low, ci_high, df, t, p_value.
    """
    by_cols = _names(by, "by")
    if gap in by_cols:
        raise OptionError(message("the gap column is also a by column", where="parameter gap", found=repr(gap)))
    check_columns(design.data, [gap], role="gap column", source="the sample")
    res = estimate_rates(design, rights, by_cols + [gap], ci=ci, level=level, df=df, thresholds=thresholds)
    return gap_between(res, gap, levels=levels, reference=reference, adjust=adjust)
