"""Confidence intervals for proportions estimated from a complex survey.

Every function works on whole arrays at once (one entry per domain x right):
the estimate and its design-based standard error come from the Taylor or
replicate engine, the degrees of freedom from the df rule. The methods are
those of R's ``survey::svyciprop`` (Lumley 2010, sec. 2.3.1), computed as
survey 4.1-1 computes them, plus the Wilson score interval with an effective
sample size.

``wald`` is R's method ``mean``; the other names are R's.
"""

from __future__ import annotations

from functools import cache

import numpy as np
from numpy.typing import ArrayLike
from scipy import special

from .._checks import check_level
from ..errors import OptionError, message
from ..options import CIMethod, check_option
from ._dist import norm_cdf, norm_isf, t_isf

__all__ = ["AUTO_SMALL", "SMALL_DOMAIN_N", "auto_ci", "check_method", "f1_isf", "proportion_ci", "t_quantile"]

#: Below this number of eligible respondents (or at an estimate of 0 or 1), ``ci = "auto"`` uses
#: :data:`AUTO_SMALL`; above it, ``logit``.
SMALL_DOMAIN_N = 30
#: Interval of ``ci = "auto"`` for small domains and estimates of 0 or 1: Wilson with the effective sample size
#: and the design's degrees of freedom (see :func:`auto_ci`).
AUTO_SMALL = "wilson"

#: methods that need the unweighted number of observations ``n``
_NEED_N = ("beta", "likelihood")
#: methods working on a transformed scale, undefined at p in {0, 1} unless se = 0
_TRANSFORMED = ("logit", "xlogit", "asin", "likelihood")
#: R's MASS-style profile: at most 9 steps each side, step = zmax / 5 standard errors
_PROFILE_STEPS = 9


def check_method(method: str, *, option: str = "ci") -> str:
    """Check a confidence-interval method name and return it.

    Parameters
    ----------
    method : str
        A :class:`~nonrecours.options.CIMethod` value.
    option : str, default "ci"
        Name of the option in error messages (the CLI's ``--ci``).

    Raises
    ------
    OptionError
        If ``method`` is not a :class:`~nonrecours.options.CIMethod` value.
    """
    return check_option(option, method, CIMethod)


def t_quantile(level: float, df: ArrayLike) -> np.ndarray:
    """Two-sided critical value: the ``(1 + level) / 2`` quantile of Student's t.

    Parameters
    ----------
    level : float
        Confidence level in (0, 1).
    df : array_like
        Degrees of freedom; ``np.inf`` gives the normal quantile. ``df <= 0``
        or NaN gives NaN (R's ``qt`` gives NaN for ``df <= 0``).

    Returns
    -------
    numpy.ndarray
        Positive quantiles, with the shape of ``df``.

    Examples
    --------
    >>> float(t_quantile(0.95, np.inf))
    1.959963984540054
    """
    lv = check_level(level)
    df = np.asarray(df, dtype=float)
    tail = (1.0 - lv) / 2.0
    ok = df > 0  # False for NaN
    with np.errstate(invalid="ignore"):
        q = t_isf(tail, np.where(ok & np.isfinite(df), df, 1.0))
    q = np.where(np.isinf(df) & ok, norm_isf(tail), q)
    return np.where(ok, q, np.nan)


def f1_isf(alpha: ArrayLike, df: ArrayLike) -> np.ndarray:
    r"""Upper ``alpha`` quantile of the F distribution with 1 and ``df`` degrees of freedom (R's
    ``qf(alpha, 1, df, lower.tail = FALSE)``), accurate far in the tail.

    Notes
    -----
    :math:`F = df\,(1 - y)/y` with :math:`y = I^{-1}_{\alpha}(df/2, 1/2)` (the regularised
    incomplete beta inverse, as R's ``qf`` through ``qbeta``). SciPy's ``f.isf`` loses
    accuracy below tail probabilities of about 1e-12 (``f.isf(2.09e-13, 1, 39)`` = 118.8789
    against R's 118.8810; ``f.isf(4e-23, 1, 8756)`` = inf against 98.646); this form
    agrees with R to about 1e-15 there.

    Examples
    --------
    >>> round(float(f1_isf(2.09e-13, 39)), 6)
    118.881044
    """
    a, d = np.broadcast_arrays(np.asarray(alpha, dtype=float), np.asarray(df, dtype=float))
    with np.errstate(divide="ignore", invalid="ignore"):
        y = special.betaincinv(d / 2.0, 0.5, a)
        return d * (1.0 - y) / y


def proportion_ci(
    estimate: ArrayLike,
    se: ArrayLike,
    df: ArrayLike,
    *,
    method: CIMethod | str,
    level: float = 0.95,
    n: ArrayLike | None = None,
    logit_se: ArrayLike | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    r"""Confidence interval of a proportion from its estimate, SE and degrees of freedom.

    Parameters
    ----------
    estimate : array_like
        Estimated proportions :math:`\hat p` (Hájek mean of a 0/1 variable).
    se : array_like
        Design-based standard errors of ``estimate`` (Taylor or replicate).
    df : array_like or float
        Degrees of freedom of the variance estimate (R's ``degf``: PSUs minus
        strata); ``np.inf`` for normal quantiles.
    method : {"wald", "logit", "asin", "beta", "likelihood", "xlogit", "wilson"}
        See Notes. ``wald`` is R's ``method = "mean"``.
    level : float, default 0.95
        Confidence level.
    n : array_like of int, optional
        Unweighted number of observations of the domain: rows with a non-missing
        0/1 value and a positive weight, i.e. ``nrow(design)`` of R's design
        subset to the domain. Required by ``beta`` (the :math:`t_{n-1}` of its
        df adjustment) and ``likelihood`` (:math:`\lambda`, the dispersion
        :math:`n/(n-1)` and R's grid); used by ``wilson`` at
        :math:`\hat p \in \{0, 1\}`; ignored by the others. (R's subset of
        a calibrated design keeps out-of-domain rows with weight 0, and its
        ``nrow`` then counts them; the uncalibrated subset does not.)
    logit_se : array_like, optional
        SE of :math:`\operatorname{logit}\hat p` for method ``logit``, when it is
        estimated directly: on a replicate design, R's ``svyciprop(method = "logit")``
        refits the logit with every replicate weight and takes their replicate
        variance, which the estimation engine passes here. By default (Taylor
        designs) the delta method :math:`s / (\hat p(1-\hat p))`. Method
        ``xlogit`` always uses the delta method (R's ``xlogit``), so both are
        available on replicate designs. Method ``likelihood`` takes its Rao–Scott
        factor from it too (R's ``cov.unscaled / naive.cov`` of that fit; R itself
        returns NA for the profile interval on replicate designs).

    Returns
    -------
    lower, upper : numpy.ndarray
        Bounds in [0, 1], with the broadcast shape of the inputs.

    Raises
    ------
    OptionError
        Unknown ``method``, ``level`` outside (0, 1), or ``n`` missing for
        ``beta`` / ``likelihood``.

    Notes
    -----
    With :math:`\alpha = 1 - \text{level}`, :math:`q = t_{df, 1-\alpha/2}`
    (normal when ``df`` is infinite), :math:`\hat p` the estimate and
    :math:`s` its SE:

    * ``wald``: :math:`\hat p \pm q s`.
    * ``logit`` and ``xlogit``:
      :math:`\operatorname{expit}(\operatorname{logit}\hat p \pm q s / (\hat p(1-\hat p)))`.
      R computes ``logit`` from a ``svyglm`` quasibinomial fit and ``xlogit``
      by the delta method on the mean; both are this formula at convergence
      (R's glm stops about 5e-10 away from :math:`\hat p`).
    * ``asin``: :math:`\sin^2(\arcsin\sqrt{\hat p} \pm q s / (2\sqrt{\hat p(1-\hat p)}))`,
      the angle clipped to :math:`[0, \pi/2]` (R does not clip, so its bound
      folds back when the angle crosses 0 or :math:`\pi/2`).
    * ``beta`` (Korn & Graubard 1998): effective sample size
      :math:`n^* = \frac{\hat p(1-\hat p)}{s^2}\,(t_{n-1,\alpha/2}/t_{df,\alpha/2})^2`;
      lower :math:`= B^{-1}(\alpha/2;\, n^*\hat p,\, n^*(1-\hat p)+1)`, upper
      :math:`= B^{-1}(1-\alpha/2;\, n^*\hat p+1,\, n^*(1-\hat p))`. R always
      uses ``degf(design)`` here, even when ``svyciprop`` gets another ``df``.
      Beyond :math:`n^* = 10^{15}` (an SE near 0) the quantiles are replaced
      by their normal limit :math:`\hat p \mp z_{\alpha/2}\sqrt{\hat p(1-\hat p)/n^*}`.
    * ``likelihood`` (Rao–Scott scaled profile likelihood, R's
      ``confint.svyglm(method = "likelihood")``): the bounds on the logit
      scale are where the signed profile statistic
      :math:`z(\beta) = \pm\sqrt{2(n-1)\,\mathrm{KL}(\hat p \,\|\, \operatorname{expit}\beta)}`
      (quasibinomial deviance difference over the dispersion :math:`n/(n-1)`)
      equals :math:`\mp q\sqrt{\lambda}`, with
      :math:`\lambda = n s^2 / (\hat p(1-\hat p))` (design over model
      variance of the logit). As R does, :math:`z` is evaluated on R's grid
      (steps of ``zmax / 5`` standard errors of the logit, at most 9 each side,
      ``zmax`` its F-based stopping value, computed as R's ``qf`` far in the
      tail by :func:`f1_isf`), interpolated by R's ``fmm`` cubic spline at
      3 x (knots) points and inverted by linear interpolation. This reproduces R
      (the exact root of the equation is 2e-6 to 9e-4 relative
      away from R's value on the reference domains, our port 1.5e-7 to 2.6e-4,
      the rest being R's glm convergence in :math:`\lambda`).
      Where the grid stops short of the cutoff (small :math:`n`, :math:`\hat p`
      near 0 or 1), R returns NA, and where a huge grid step puts a bound on
      the wrong side of :math:`\hat p` (n of 2 or 3), R's bound is wrong; in
      both cases we return the exact root, found by bisection.
    * ``wilson`` (Kott & Carr 1997; Dean & Pagano 2015): the Wilson score
      interval with effective sample size :math:`n_e = \hat p(1-\hat p)/s^2`,

      .. math:: \frac{\hat p + q^2/(2n_e) \pm q\sqrt{\hat p(1-\hat p)/n_e + q^2/(4n_e^2)}}{1 + q^2/n_e}.

    Edge cases. NaN anywhere, :math:`\hat p \notin [0, 1]`, :math:`s < 0` or
    ``df <= 0`` give NaN. A zero SE gives :math:`[\hat p, \hat p]` (R gives
    that for ``mean`` and ``logit``; NaN for ``asin``, ``xlogit``, ``beta``
    at :math:`\hat p \in \{0, 1\}`, and an error for ``likelihood``), except
    that ``beta`` and ``wilson`` at :math:`\hat p \in \{0, 1\}` take
    :math:`n^* = n` (design effect 1, as Korn & Graubard 1998 advise), which
    gives the Clopper–Pearson bound, e.g. :math:`[0, 1-(\alpha/2)^{1/n^*}]`.
    At :math:`\hat p \in \{0, 1\}` with :math:`s > 0` the transformed methods
    (``logit``, ``xlogit``, ``asin``, ``likelihood``) are undefined: NaN.
    Bounds are clamped to [0, 1] (R leaves ``mean`` unclamped).

    References
    ----------
    Korn, E. L. and Graubard, B. I. (1998). Confidence intervals for proportions
    with small expected number of positive counts estimated from survey data.
    *Survey Methodology* 24, 193–201.
    Rao, J. N. K. and Scott, A. J. (1984). On chi-squared tests for multiway
    contingency tables with cell proportions estimated from survey data.
    *Annals of Statistics* 12, 46–60.
    Kott, P. S. and Carr, D. A. (1997). Developing an estimation strategy for a
    pooled survey. *Proceedings of the Section on Survey Research Methods*, ASA.
    Dean, N. and Pagano, M. (2015). Evaluating confidence interval methods for
    binomial proportions in clustered surveys. *Journal of Survey Statistics
    and Methodology* 3, 484–503.
    Lumley, T. (2010). *Complex Surveys: A Guide to Analysis Using R*. Wiley.

    Examples
    --------
    >>> lo, hi = proportion_ci([0.827948011415823], [0.0243447801130748], 197, method="logit")
    >>> [round(float(lo[0]), 6), round(float(hi[0]), 6)]
    [0.77454, 0.870815]
    """
    check_method(method)
    lv = check_level(level)
    if method in _NEED_N and n is None:
        raise OptionError(
            message(
                f"method {method!r} needs the unweighted number of observations",
                where="proportion_ci(n=)",
                expected="n: rows of the domain with a value and a positive weight",
                found="n=None",
                hint="pass n (R's nrow() of the design subset to the domain)",
            )
        )
    n_arr = np.nan if n is None else np.asarray(n, dtype=float)
    p, s, d, nn = np.broadcast_arrays(*(np.asarray(a, dtype=float) for a in (estimate, se, df, n_arr)))
    q = t_quantile(lv, d)
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        if method in ("logit", "likelihood") and logit_se is not None:
            # the logit's own SE s_eta enters both as the delta method's s / (p (1 - p)) would
            s = np.broadcast_to(np.asarray(logit_se, dtype=float), p.shape) * p * (1.0 - p)
        if method == "logit" and logit_se is not None:
            eta, h = special.logit(p), q * np.broadcast_to(np.asarray(logit_se, dtype=float), p.shape)
            lower, upper = special.expit(eta - h), special.expit(eta + h)
        else:
            lower, upper = _METHOD_FUNCS[method](p, s, q, nn, lv, d)
        bad = ~((p >= 0) & (p <= 1) & (s >= 0) & ~np.isnan(q))
        if method in _TRANSFORMED:  # logit or angle of 0 or 1 with a positive SE: undefined
            bad |= ((p == 0) | (p == 1)) & (s > 0)
        if method not in ("beta", "wilson"):  # zero SE: a point (see Notes)
            zero = (s == 0) & ~bad
            lower, upper = np.where(zero, p, lower), np.where(zero, p, upper)
        # every method's interval contains the estimate; the min/max only absorbs rounding of quantile
        # functions at extreme shapes (e.g. a beta quantile for p ~ 1e-300 with a vanishing SE)
        lower = np.where(bad, np.nan, np.clip(np.minimum(lower, p), 0.0, 1.0))
        upper = np.where(bad, np.nan, np.clip(np.maximum(upper, p), 0.0, 1.0))
    return lower, upper


def auto_ci(
    estimate: ArrayLike,
    se: ArrayLike,
    df: ArrayLike,
    n: ArrayLike,
    *,
    design_df: float,
    level: float = 0.95,
    logit_se: ArrayLike | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    r"""The default interval of a rate (``ci = "auto"``): Wilson on small domains and at 0 or 1, logit elsewhere.

    Parameters
    ----------
    estimate, se, df, n : array_like
        As :func:`proportion_ci` (``df`` from the df rule, ``n`` the domain's respondents).
    design_df : float
        Degrees of freedom of the whole design (R's ``degf``: PSUs minus strata).
    level : float
    logit_se : array_like, optional
        As :func:`proportion_ci`, for the ``logit`` rows.

    Returns
    -------
    lower, upper : numpy.ndarray
    methods : numpy.ndarray of str
        ``wilson`` or ``logit``: the method of each row (the ``ci_method`` column).

    Notes
    -----
    A row is small when ``n`` < :data:`SMALL_DOMAIN_N` or the estimate is 0 or 1. There the interval is
    Wilson's score interval with the effective sample size :math:`n_e = \hat p(1-\hat p)/s^2`
    (:math:`n` at 0 or 1, design effect 1) and the design's degrees of freedom ``design_df`` (as R's
    ``svyciprop``), not the domain's (an infinite ``df``, the ``inf`` rule, stays normal): a territory with
    4 respondents spread over 3 strata has 1 domain df, whose :math:`t_{1}` quantile of 12.7 makes any
    interval [0, 1]. Elsewhere the ``logit`` interval at ``df``. Measured on the demo's design (400
    territories, 3,900 respondents, 150 samples, ``benchmarks/ci_small_domains.py``), coverage of nominal
    95 % intervals by respondents in the territory (1-4, 5-10, 11-29): this rule 0.972, 0.947, 0.946;
    Korn–Graubard ``beta`` with the domain df (the earlier default) 0.999, 0.992, 0.974; Clopper–Pearson
    with :math:`n_e` 0.997, 0.978, 0.969; Jeffreys with :math:`n_e` 0.974, 0.934, 0.942; Wilson with
    Kish's :math:`n` 0.977, 0.960, 0.954; logit 0.655, 0.924, 0.977. With 1 to 4 respondents no interval
    of these families gets below 0.97: the estimate takes at most 5 values.
    """
    p, s, d, nn = np.broadcast_arrays(*(np.asarray(a, dtype=float) for a in (estimate, se, df, n)))
    small = (nn < SMALL_DOMAIN_N) | (p == 0) | (p == 1)
    methods = np.where(small, AUTO_SMALL, "logit").astype(object)
    q_df = np.where(small & np.isfinite(d), float(design_df), d)
    low, high = np.full(p.shape, np.nan), np.full(p.shape, np.nan)
    for method, rows in ((AUTO_SMALL, small), ("logit", ~small)):  # two formulas, each on all its rows at once
        if rows.any():
            ls = None if logit_se is None else np.broadcast_to(np.asarray(logit_se, dtype=float), p.shape)[rows]
            low[rows], high[rows] = proportion_ci(
                p[rows], s[rows], q_df[rows], method=method, level=level, n=nn[rows], logit_se=ls
            )
    return low, high, methods


# --- the closed forms ------------------------------------------------------------


def _wald(p, s, q, n, level, df):
    return p - q * s, p + q * s


def _logit(p, s, q, n, level, df):
    eta, h = special.logit(p), q * s / (p * (1.0 - p))
    return special.expit(eta - h), special.expit(eta + h)


def _asin(p, s, q, n, level, df):
    theta, h = np.arcsin(np.sqrt(p)), q * s / (2.0 * np.sqrt(p * (1.0 - p)))
    lo, hi = np.clip(theta - h, 0.0, np.pi / 2), np.clip(theta + h, 0.0, np.pi / 2)
    return np.sin(lo) ** 2, np.sin(hi) ** 2


def _n_eff(p, s, n):
    """p(1-p)/s^2, or n at p in {0, 1} (design effect 1)."""
    return np.where((p == 0) | (p == 1), n, p * (1.0 - p) / s**2)


def _beta(p, s, q, n, level, df):
    alpha = 1.0 - level
    n_star = _n_eff(p, s, n) * (t_quantile(level, n - 1.0) / q) ** 2
    a_lo, b_lo = n_star * p, n_star * (1.0 - p) + 1.0
    a_hi, b_hi = n_star * p + 1.0, n_star * (1.0 - p)
    lo = np.where(a_lo == 0, 0.0, special.betaincinv(np.where(a_lo == 0, 1.0, a_lo), b_lo, alpha / 2))
    hi = np.where(b_hi == 0, 1.0, special.betaincinv(a_hi, np.where(b_hi == 0, 1.0, b_hi), 1 - alpha / 2))
    # past 1e15 the Beta quantiles are at their normal limit (and betaincinv loses accuracy)
    huge = n_star > 1e15
    half = norm_isf(alpha / 2) * np.sqrt(p * (1.0 - p) / np.where(huge, n_star, 1.0))
    return np.where(huge, p - half, lo), np.where(huge, p + half, hi)


def _wilson(p, s, q, n, level, df):
    ne = _n_eff(p, s, n)
    k = q**2 / ne
    centre = (p + k / 2.0) / (1.0 + k)
    half = q / (1.0 + k) * np.sqrt(p * (1.0 - p) / ne + k / (4.0 * ne))
    empty = np.isinf(k)  # n_e (under)flows to ~0: the limit n_e -> 0 is [0, 1]
    return np.where(empty, 0.0, centre - half), np.where(empty, 1.0, centre + half)


# --- likelihood: R's profile grid, fmm spline and inverse interpolation -------------


def _fmm_coefficients(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Cubic spline coefficients with Forsythe–Malcolm–Moler end conditions.

    Port of ``fmm_spline`` in R's ``src/library/stats/src/splines.c`` (the
    default method of ``stats::spline``), for ``len(x) >= 3``.
    """
    m = len(x)
    b, c, d = np.zeros(m), np.zeros(m), np.zeros(m)
    d[0] = x[1] - x[0]
    c[1] = (y[1] - y[0]) / d[0]
    for i in range(1, m - 1):
        d[i] = x[i + 1] - x[i]
        b[i] = 2.0 * (d[i - 1] + d[i])
        c[i + 1] = (y[i + 1] - y[i]) / d[i]
        c[i] = c[i + 1] - c[i]
    b[0], b[m - 1] = -d[0], -d[m - 2]
    c[0] = c[m - 1] = 0.0
    if m > 3:
        c[0] = c[2] / (x[3] - x[1]) - c[1] / (x[2] - x[0])
        c[m - 1] = c[m - 2] / (x[m - 1] - x[m - 3]) - c[m - 3] / (x[m - 2] - x[m - 4])
        c[0] = c[0] * d[0] ** 2 / (x[3] - x[0])
        c[m - 1] = -c[m - 1] * d[m - 2] ** 2 / (x[m - 1] - x[m - 4])
    for i in range(1, m):
        t = d[i - 1] / b[i - 1]
        b[i] -= t * d[i - 1]
        c[i] -= t * c[i - 1]
    c[m - 1] /= b[m - 1]
    for i in range(m - 2, -1, -1):
        c[i] = (c[i] - d[i] * c[i + 1]) / b[i]
    b[m - 1] = (y[m - 1] - y[m - 2]) / d[m - 2] + d[m - 2] * (c[m - 2] + 2.0 * c[m - 1])
    for i in range(m - 1):
        b[i] = (y[i + 1] - y[i]) / d[i] - d[i] * (c[i + 1] + 2.0 * c[i])
        d[i] = (c[i + 1] - c[i]) / d[i]
        c[i] = 3.0 * c[i]
    c[m - 1] *= 3.0
    d[m - 1] = d[m - 2]
    return b, c, d


@cache
def _spline_matrix(m: int) -> np.ndarray:
    """(3m, m) matrix: knot values on a uniform grid -> R's ``spline()`` output values.

    ``spline(x, y)`` evaluates at ``3 * length(x)`` equally spaced points from
    ``min(x)`` to ``max(x)``; on uniform knots the result is linear in ``y`` and
    does not depend on the spacing, so one matrix per number of knots serves
    every domain.
    """
    x = np.arange(m, dtype=float)
    u = np.linspace(0.0, m - 1.0, 3 * m)
    i = np.clip(np.searchsorted(x, u, side="right") - 1, 0, m - 1)
    dx = u - x[i]
    out = np.empty((3 * m, m))
    for k in range(m):
        y = np.zeros(m)
        y[k] = 1.0
        b, c, d = _fmm_coefficients(x, y)
        out[:, k] = y[i] + dx * (b[i] + dx * (c[i] + dx * d[i]))
    out.setflags(write=False)
    return out


def _profile_interval(p, beta_hat, se_beta, lam, n, q):
    """R's profile-likelihood interval on the logit scale, vectorised over domains.

    ``p`` is the weighted mean of y, ``beta_hat`` and ``se_beta`` the logit
    and its design SE, ``lam`` the design effect of the logit (design over
    model variance), ``n`` the number of observations, ``q`` the critical
    value. All 1-d float arrays of one length, with 0 < p < 1, se_beta > 0,
    n > 1. Returns (lower, upper) logits; where R's grid misses the cutoff
    (R: NA) or gives a bound on the wrong side of the estimate, the exact
    root of 2 (n-1) KL(p || expit b) = cutoff^2.
    """
    cutoff = q * np.sqrt(lam)
    alpha = norm_cdf(-cutoff) / 2.0
    zmax = np.sqrt(f1_isf(alpha, n - 1.0))
    step = zmax / 5.0 * se_beta
    mu0_log, mu0_log1m = -np.logaddexp(0.0, -beta_hat), -np.logaddexp(0.0, beta_hat)

    pc = p[:, None]

    def signed_z(b, sign):  # deviance difference / dispersion n/(n-1) = 2 (n-1) KL(p || expit b)
        kl = pc * (mu0_log[:, None] + np.logaddexp(0.0, -b)) + (1 - pc) * (mu0_log1m[:, None] + np.logaddexp(0.0, b))
        return sign * np.sqrt(np.maximum(2.0 * (n - 1.0)[:, None] * kl, 0.0))

    k = np.arange(1, _PROFILE_STEPS + 1, dtype=float)
    z_dn = signed_z(beta_hat[:, None] - k * step[:, None], -1.0)
    z_up = signed_z(beta_hat[:, None] + k * step[:, None], 1.0)

    def n_steps(z):  # R steps while |z| < zmax, at most 9 times
        hit = np.abs(z) >= zmax[:, None]
        return np.where(hit.any(axis=1), hit.argmax(axis=1) + 1, _PROFILE_STEPS)

    k_dn, k_up = n_steps(z_dn), n_steps(z_up)
    knots = np.concatenate([z_dn[:, ::-1], np.zeros((len(p), 1)), z_up], axis=1)  # steps -9..9
    lower, upper = np.full(len(p), np.nan), np.full(len(p), np.nan)
    for m in np.unique(k_dn + k_up + 1):  # one pass per grid size (at most 17), not per domain
        rows = np.flatnonzero(k_dn + k_up + 1 == m)
        cols = (_PROFILE_STEPS - k_dn[rows])[:, None] + np.arange(m)
        v = np.take_along_axis(knots[rows], cols, axis=1) @ _spline_matrix(m).T
        lo_b = beta_hat[rows] - k_dn[rows] * step[rows]
        u = lo_b[:, None] + ((k_dn + k_up)[rows] * step[rows])[:, None] * np.linspace(0.0, 1.0, 3 * m)
        order = np.argsort(v, axis=1, kind="stable")  # R's approx() sorts by the spline's z
        v, u = np.take_along_axis(v, order, axis=1), np.take_along_axis(u, order, axis=1)
        lower[rows] = _interp_rows(-cutoff[rows], v, u)
        upper[rows] = _interp_rows(cutoff[rows], v, u)
    # R returns NA where its grid stops short of the cutoff, and with a huge step
    # (n of 2 or 3, an SE far above the binomial one) its spline can put a bound on
    # the wrong side of the estimate: take the exact root there
    for bound, sign in ((lower, -1.0), (upper, 1.0)):
        miss = np.flatnonzero(~(sign * (bound - beta_hat) > 0))
        if miss.size:
            bound[miss] = _kl_root(p[miss], sign, cutoff[miss] ** 2 / (2.0 * (n[miss] - 1.0)))
    return lower, upper


def _kl_root(p, sign, target, iterations=200):
    """Vectorised bisection: the b on the ``sign`` side of logit(p) with KL(p || expit b) = target.

    KL is 0 at logit(p) and grows without bound on either side (0 < p < 1);
    ``KL >= (1 - p) b - H(p)`` and ``KL >= -p b - H(p)`` bound the bracket.
    """

    def kl(b):
        return p * (np.log(p) + np.logaddexp(0.0, -b)) + (1 - p) * (np.log1p(-p) + np.logaddexp(0.0, b))

    start = special.logit(p)
    entropy = -(p * np.log(p) + (1 - p) * np.log1p(-p))
    far = (target + entropy) / (1 - p) if sign > 0 else -(target + entropy) / p
    lo, hi = np.zeros_like(p), np.maximum(sign * (far - start), 0.0) + 1.0  # distances from start
    for _ in range(iterations):
        mid = 0.5 * (lo + hi)
        above = kl(start + sign * mid) > target
        lo, hi = np.where(above, lo, mid), np.where(above, mid, hi)
    return start + sign * 0.5 * (lo + hi)


def _interp_rows(target: np.ndarray, v: np.ndarray, u: np.ndarray) -> np.ndarray:
    """Row-wise linear interpolation of u at v = target (v sorted); NaN outside (R's rule 1)."""
    j = np.clip((v <= target[:, None]).sum(axis=1) - 1, 0, v.shape[1] - 2)
    r = np.arange(len(target))
    v0, v1, u0, u1 = v[r, j], v[r, j + 1], u[r, j], u[r, j + 1]
    w = np.where(v1 > v0, (target - v0) / np.where(v1 > v0, v1 - v0, 1.0), 0.0)
    out = u0 + (u1 - u0) * w
    return np.where((target >= v[:, 0]) & (target <= v[:, -1]), out, np.nan)


def _likelihood(p, s, q, n, level, df):
    lower, upper = np.full(p.shape, np.nan), np.full(p.shape, np.nan)
    ok = (p > 0) & (p < 1) & (s > 0) & (n > 1) & np.isfinite(q) & np.isfinite(s)
    if ok.any():
        pp, ss, nn = p[ok], s[ok], n[ok]
        v = pp * (1.0 - pp)
        lo, hi = _profile_interval(pp, special.logit(pp), ss / v, nn * ss**2 / v, nn, q[ok])
        lower[ok], upper[ok] = special.expit(lo), special.expit(hi)
    return lower, upper


_METHOD_FUNCS = {
    "wald": _wald,
    "logit": _logit,
    "xlogit": _logit,
    "asin": _asin,
    "beta": _beta,
    "likelihood": _likelihood,
    "wilson": _wilson,
}
