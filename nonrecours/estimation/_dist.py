"""Quantiles and tail probabilities of the t, normal and F distributions, on ``scipy.special``.

The same formulas as ``scipy.stats`` (``t.isf = -stdtrit``, ``norm.isf =
-ndtri``, ``f.isf = fdtri(1 - q)``), without importing ``scipy.stats``, whose
import alone costs more than a whole ``nonrecours estimate`` on 100,000 rows.
An infinite number of degrees of freedom gives the normal distribution
(``stdtrit`` handles it, as in ``scipy.stats.t``). A test compares every function with ``scipy.stats``.
"""

from __future__ import annotations

import numpy as np
from scipy import special

__all__ = ["t_isf", "t_ppf", "t_sf", "norm_isf", "norm_cdf", "norm_sf", "norm_ppf", "chi2_sf", "f_isf", "f_sf"]


def _valid(q: np.ndarray, df: np.ndarray) -> np.ndarray:
    return (q >= 0) & (q <= 1) & (df > 0)


def t_isf(q, df):  # noqa: ANN001, ANN201
    """Upper quantile of Student's t: the x with P(T > x) = q."""
    q, df = np.broadcast_arrays(np.asarray(q, dtype=float), np.asarray(df, dtype=float))
    with np.errstate(invalid="ignore", divide="ignore"):
        out = -special.stdtrit(df, q) + 0.0  # + 0.0: no negative zero, as scipy.stats (loc = 0)
    out = np.where(q == 0, np.inf, np.where(q == 1, -np.inf, out))
    out = np.where(_valid(q, df), out, np.nan)
    return out[()] if out.ndim == 0 else out


def t_ppf(p, df):  # noqa: ANN001, ANN201
    """Quantile of Student's t: the x with P(T <= x) = p."""
    p, df = np.broadcast_arrays(np.asarray(p, dtype=float), np.asarray(df, dtype=float))
    with np.errstate(invalid="ignore", divide="ignore"):
        out = special.stdtrit(df, p) + 0.0
    out = np.where(p == 0, -np.inf, np.where(p == 1, np.inf, out))
    out = np.where(_valid(p, df), out, np.nan)
    return out[()] if out.ndim == 0 else out


def t_sf(x, df):  # noqa: ANN001, ANN201
    """Upper tail of Student's t: P(T > x)."""
    x, df = np.broadcast_arrays(np.asarray(x, dtype=float), np.asarray(df, dtype=float))
    with np.errstate(invalid="ignore"):
        out = special.stdtr(df, -x)
    out = np.where(df > 0, out, np.nan)
    return out[()] if out.ndim == 0 else out


def norm_isf(q):  # noqa: ANN001, ANN201
    """Upper quantile of the standard normal."""
    return -special.ndtri(q)


def norm_cdf(x):  # noqa: ANN001, ANN201
    """Distribution function of the standard normal."""
    return special.ndtr(x)


def f_isf(q, dfn, dfd):  # noqa: ANN001, ANN201
    """Upper quantile of Fisher's F(dfn, dfd)."""
    return special.fdtri(dfn, dfd, 1.0 - np.asarray(q, dtype=float))


def _support(x: np.ndarray, out: np.ndarray, below: float) -> np.ndarray:
    """``out`` with ``below`` where ``x <= 0`` and 0 where ``x = inf`` (the ends of a distribution on
    [0, inf), as scipy.stats returns them), NaN kept."""
    return np.where(x <= 0, below, np.where(x == np.inf, 0.0, out))


def norm_sf(x):  # noqa: ANN001, ANN201
    """Upper tail of the standard normal: P(Z > x)."""
    return special.ndtr(-np.asarray(x, dtype=float))


def norm_ppf(p):  # noqa: ANN001, ANN201
    """Quantile of the standard normal."""
    return special.ndtri(p)


def chi2_sf(x, df):  # noqa: ANN001, ANN201
    """Upper tail of the chi-square distribution with ``df`` degrees of freedom."""
    x, df = np.broadcast_arrays(np.asarray(x, dtype=float), np.asarray(df, dtype=float))
    with np.errstate(invalid="ignore"):
        out = _support(x, special.chdtrc(df, np.maximum(x, 0.0)), 1.0)
    out = np.where(df > 0, out, np.nan)
    return out[()] if out.ndim == 0 else out


def f_sf(x, dfn, dfd):  # noqa: ANN001, ANN201
    """Upper tail of Fisher's F(dfn, dfd)."""
    x, dfn, dfd = np.broadcast_arrays(*(np.asarray(a, dtype=float) for a in (x, dfn, dfd)))
    with np.errstate(invalid="ignore"):
        out = _support(x, special.fdtrc(dfn, dfd, np.maximum(x, 0.0)), 1.0)
    out = np.where((dfn > 0) & (dfd > 0), out, np.nan)
    return out[()] if out.ndim == 0 else out
