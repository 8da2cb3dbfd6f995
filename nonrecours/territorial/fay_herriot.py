"""Area-level Fay–Herriot model: variance fit (REML, ML, FH moments) and EBLUP.

The model, for sampled areas :math:`d = 1..m` and a known sampling variance
:math:`D_d` of the direct estimate :math:`y_d`:

.. math::  y_d = x_d^\\top \\beta + u_d + e_d, \\quad u_d \\sim N(0, A), \\quad e_d \\sim N(0, D_d).

The model variance :math:`A` is found as the root of an estimating equation,
for many data sets at once (a ``B x m`` matrix of responses sharing ``X`` and
``D``), which is what the parametric bootstrap needs. Everything here works on
arrays; :mod:`nonrecours.territorial.territories` is the table-level layer.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from .._frozen import freeze_arrays, readonly
from ..errors import ConvergenceError, ConvergenceWarning, InputError, message
from ..estimation._dist import norm_sf
from ..options import FHMethod, check_option

__all__ = ["FayHerriotFit", "fit_fay_herriot", "solve_model_variance", "gls", "ADJUSTED"]

#: The adjusted residual likelihoods (Li & Lahiri 2010; Yoshimori & Lahiri 2014): their estimate is never 0.
ADJUSTED: tuple[str, ...] = (FHMethod.AMRL.value, FHMethod.AMRL_YL.value)


def _outer(X: np.ndarray) -> np.ndarray:
    """The products :math:`x_d x_d^\\top` of every row, flattened: (m, p*p), computed once per fit."""
    m, p = X.shape
    return np.einsum("di,dj->dij", X, X).reshape(m, p * p)  # the products x_di x_dj (as X[:, :, None] * X[:, None, :])


def _weighted_cross(w: np.ndarray, X: np.ndarray, XX: np.ndarray | None = None) -> np.ndarray:
    """:math:`X^\\top \\mathrm{diag}(w_b) X` for every row ``w_b`` of ``w``: one (B, m) x (m, p*p) product
    with the row products ``XX`` (:func:`_outer`, computed here when not given)."""
    p = X.shape[1]
    return (w @ (_outer(X) if XX is None else XX)).reshape(-1, p, p)


def gls(Y: np.ndarray, D: np.ndarray, X: np.ndarray, A: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """GLS coefficients and their covariance for each row of ``Y`` with its own ``A``.

    Parameters
    ----------
    Y : ndarray, shape (B, m)
        Responses, one data set per row.
    D : ndarray, shape (m,)
        Sampling variances.
    X : ndarray, shape (m, p)
        Design matrix, shared by all data sets.
    A : ndarray, shape (B,)
        Model variance of each data set.

    Returns
    -------
    beta : ndarray, shape (B, p)
    Q : ndarray, shape (B, p, p)
        :math:`(X^\\top V^{-1} X)^{-1}` with :math:`V = \\mathrm{diag}(A + D)`.

    Notes
    -----
    :math:`\\hat\\beta(A) = (X^\\top V^{-1} X)^{-1} X^\\top V^{-1} y`.
    """
    return _gls(Y, X, 1.0 / (A[:, None] + D[None, :]), _outer(X))


def _gls(Y: np.ndarray, X: np.ndarray, w: np.ndarray, XX: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """:func:`gls` from the weights ``w = 1 / (A + D)`` (B, m) and the row products ``XX`` of ``X``."""
    Q = np.linalg.inv(_weighted_cross(w, X, XX))
    beta = np.einsum("bij,bj->bi", Q, (w * Y) @ X)
    return beta, Q


def _score(
    Y: np.ndarray, D: np.ndarray, X: np.ndarray, A: np.ndarray, method: str, XX: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Estimating function ``s(A)`` (decreasing at the root) and its scoring slope ``F > 0``.

    ``XX`` holds the row products of ``X`` (:func:`_outer`), computed once by the caller: the three
    weighted cross-products of an evaluation (GLS, and REML's ``X'V^-2X``, ``X'V^-3X``) are then three
    (B, m) x (m, p*p) products."""
    m, p = X.shape
    XX = _outer(X) if XX is None else XX
    w = 1.0 / (A[:, None] + D[None, :])
    beta, Q = _gls(Y, X, w, XX)
    r = Y - beta @ X.T
    if method == "fh":
        # Fay & Herriot (1979): sum r^2/(A+D) = m - p. d/dA of the sum is -sum w^2 r^2
        # (beta(A) minimises the weighted sum of squares, so its own derivative drops out).
        return np.sum(w * r * r, axis=1) - (m - p), np.sum(w * w * r * r, axis=1)
    wr2 = ((w * r) ** 2).sum(axis=1)  # the methods, not np.sum's wrapper: the same reductions, less overhead
    w2 = w * w
    if method == "ml":
        return -0.5 * w.sum(axis=1) + 0.5 * wr2, 0.5 * w2.sum(axis=1)
    # REML: s = -tr(P)/2 + y'PPy/2, F = tr(PP)/2, P = V^-1 - V^-1 X Q X' V^-1 (P y = w r).
    M2 = _weighted_cross(w2, X, XX)
    M3 = _weighted_cross(w2 * w, X, XX)
    QM2 = Q @ M2
    tr_p = w.sum(axis=1) - QM2.trace(axis1=1, axis2=2)
    tr_pp = w2.sum(axis=1) - 2.0 * np.einsum("bij,bji->b", Q, M3) + np.einsum("bij,bji->b", QM2, QM2)
    s, F = -0.5 * tr_p + 0.5 * wr2, 0.5 * tr_pp
    if method == "amrl":  # + d/dA log A
        with np.errstate(divide="ignore"):
            return s + 1.0 / A, F + 1.0 / A**2
    if method == "amrl-yl":  # + d/dA (1/m) log atan(t), t = tr(I - B) = sum A/(A+D), dt/dA = sum D/(A+D)^2
        t = np.sum(A[:, None] * w, axis=1)
        dt = np.sum(D[None, :] * w * w, axis=1)
        with np.errstate(divide="ignore"):
            return s + dt / (m * np.arctan(t) * (1.0 + t * t)), F
    return s, F


def solve_model_variance(
    Y: np.ndarray, D: np.ndarray, X: np.ndarray, method: str = "reml", *, tol: float = 1e-12, max_iter: int = 200
) -> tuple[np.ndarray, np.ndarray]:
    """Model variance :math:`\\hat A` for every row of ``Y`` by a vectorised safeguarded root finder.

    Parameters
    ----------
    Y : ndarray, shape (B, m) or (m,)
    D : ndarray, shape (m,)
        Sampling variances, positive.
    X : ndarray, shape (m, p)
        Full column rank, ``m > p``.
    method : {"reml", "ml", "fh", "amrl", "amrl-yl"}
    tol : float
        Stop when a step changes :math:`A` by less than ``tol * (A + median(D))``.
    max_iter : int

    Returns
    -------
    A : ndarray, shape (B,)
        Non-negative; 0 where the estimating function is already <= 0 at 0.
    iterations : ndarray of int, shape (B,)

    Notes
    -----
    Score (REML): :math:`s(A) = -\\tfrac12 \\mathrm{tr}(P) + \\tfrac12 y^\\top P^2 y`;
    (ML): :math:`-\\tfrac12 \\sum_d (A+D_d)^{-1} + \\tfrac12 \\sum_d r_d^2 (A+D_d)^{-2}`;
    (FH moments): :math:`\\sum_d r_d^2/(A+D_d) - (m-p)`, with GLS residuals
    :math:`r = y - X\\hat\\beta(A)` (Rao & Molina 2015, sections 6.1.2 and 5.2).
    Adjusted REML maximises :math:`h(A) L_R(A)`, adding :math:`(\\log h)'(A)` to the REML
    score: :math:`h(A) = A` (``amrl``, Li & Lahiri 2010) or
    :math:`h(A) = \\{\\tan^{-1} \\mathrm{tr}(I - B)\\}^{1/m}`,
    :math:`\\mathrm{tr}(I - B) = \\sum_d A/(A + D_d)` (``amrl-yl``, Yoshimori & Lahiri 2014);
    both vanish at 0, so the estimate is strictly positive.
    Where :math:`s(0) \\le 0` the estimate is truncated at 0. Otherwise a
    bracket :math:`[lo, hi]` with :math:`s(lo) > 0 > s(hi)` is built by
    doubling, and Fisher-scoring steps :math:`A + s/F` (then secant steps) are
    taken inside it, falling back to bisection when a step leaves the bracket:
    the same root as R sae's Fisher scoring (which stops at a 1e-4 relative
    change), solved to ``tol``. Each data set stops on its own.
    """
    Y = np.atleast_2d(np.asarray(Y, dtype=float))
    D = np.asarray(D, dtype=float)
    return _solve(Y, D, X, _outer(X), method, tol, max_iter)


def _solve(
    Y: np.ndarray, D: np.ndarray, X: np.ndarray, XX: np.ndarray, method: str, tol: float, max_iter: int
) -> tuple[np.ndarray, np.ndarray]:
    """:func:`solve_model_variance` with the row products ``XX`` of ``X`` (:func:`_outer`), shared by every
    evaluation of the score (and by the caller's own GLS)."""
    B = Y.shape[0]
    scale = float(np.median(D))
    A = np.zeros(B)
    its = np.zeros(B, dtype=int)
    if method in ADJUSTED:  # the adjustment factor is 0 at A = 0: the estimating function is +inf there
        s0 = np.full(B, np.inf)
    else:
        s0, _ = _score(Y, D, X, A, method, XX)
    active = np.flatnonzero(s0 > 0)
    if active.size == 0:
        return A, its
    y = Y[active]
    lo = np.zeros(active.size)
    s_lo = s0[active]
    # upper end of the bracket: start from the residual variance scale, double until s < 0
    hi = np.maximum(np.var(y, axis=1), scale)
    s_hi, _ = _score(y, D, X, hi, method, XX)
    for _ in range(200):
        up = s_hi >= 0
        if not up.any():
            break
        lo = np.where(up, hi, lo)
        s_lo = np.where(up, s_hi, s_lo)
        hi = np.where(up, 4.0 * hi, hi)
        s_hi[up], _ = _score(y[up], D, X, hi[up], method, XX)
    else:  # adjusted methods with m - p <= 2 (their score stays positive), or an infinite variance
        m, p = Y.shape[1], X.shape[1]
        raise ConvergenceError(
            message(
                "the model variance has no finite root",
                where=f"method {method}",
                found=f"{m} territories with a direct estimate for {p} coefficients",
                hint="with few territories beside the covariates (m - p of 2 or less) the adjusted likelihood "
                "grows without bound: use fewer covariates or method reml; otherwise check the "
                "direct estimates for extreme values"
                if method in ADJUSTED
                else "check the direct estimates for extreme values",
            )
        )
    a = np.clip(np.full(active.size, scale), lo, hi)
    if active.size == 1:  # one data set (a fit): the same steps on scalars, without per-step array operations
        A[active], its[active] = _root_one(y, D, X, XX, method, a[0], lo[0], hi[0], scale, tol, max_iter)
        return A, its
    a_prev = np.full(active.size, np.nan)
    s_prev = np.full(active.size, np.nan)
    todo = np.ones(active.size, dtype=bool)
    n_it = np.zeros(active.size, dtype=int)
    for k in range(max_iter):
        every = bool(todo.all())  # all still running (a single fit always): slices, no gathered copies
        idx = slice(None) if every else np.flatnonzero(todo)
        a_i, lo_i, hi_i = a[idx], lo[idx], hi[idx]
        s, F = _score(y if every else y[idx], D, X, a_i, method, XX)
        n_it[idx] += 1
        pos = s > 0
        lo_i = np.where(pos, a_i, lo_i)
        hi_i = np.where(pos, hi_i, a_i)
        lo[idx], hi[idx] = lo_i, hi_i
        step = s / F
        if k >= 2:  # secant on the last two points, superlinear near the root
            da, ds = a_i - a_prev[idx], s - s_prev[idx]
            ok = np.isfinite(da) & (ds != 0)
            step = np.where(ok, -s * da / np.where(ok, ds, 1.0), step)
        new = a_i + step
        bad = ~((new > lo_i) & (new < hi_i))
        new = np.where(bad, 0.5 * (lo_i + hi_i), new)
        new = np.where(s == 0, a_i, new)  # an exact root sits on the bracket's edge
        done = (np.abs(new - a_i) <= tol * (new + scale)) | (s == 0) | (hi_i - lo_i <= tol * (lo_i + scale))
        a_prev[idx], s_prev[idx] = a_i, s
        a[idx] = new
        todo[np.flatnonzero(todo)[done]] = False
        if not todo.any():
            break
    else:
        raise _not_converged(method, tol, int(todo.sum()), max_iter)
    A[active] = a
    its[active] = n_it
    return A, its


def _root_one(
    y: np.ndarray,
    D: np.ndarray,
    X: np.ndarray,
    XX: np.ndarray,
    method: str,
    a: np.float64,
    lo: np.float64,
    hi: np.float64,
    scale: float,
    tol: float,
    max_iter: int,
) -> tuple[np.float64, int]:
    """The iterations of :func:`solve_model_variance` for one data set ``y`` (1, m), on numpy scalars.

    Step for step the vectorised loop (the same operations on the same values, so the same root), without
    its dozens of one-element array operations per step.
    """
    a_prev = s_prev = np.float64(np.nan)
    for k in range(max_iter):
        s_arr, F_arr = _score(y, D, X, np.array([a]), method, XX)
        s, F = s_arr[0], F_arr[0]
        if s > 0:
            lo = a
        else:
            hi = a
        step = s / F
        if k >= 2:  # secant on the last two points, superlinear near the root
            da, ds = a - a_prev, s - s_prev
            if np.isfinite(da) and ds != 0:
                step = -s * da / ds
        new = a + step
        if not (new > lo and new < hi):
            new = 0.5 * (lo + hi)
        if s == 0:  # an exact root sits on the bracket's edge
            new = a
        done = abs(new - a) <= tol * (new + scale) or s == 0 or hi - lo <= tol * (lo + scale)
        a_prev, s_prev, a = a, s, new
        if done:
            return a, k + 1
    raise _not_converged(method, tol, 1, max_iter)


def _not_converged(method: str, tol: float, moving: int, max_iter: int) -> ConvergenceError:
    return ConvergenceError(
        message(
            "the model variance did not converge",
            where=f"method {method}",
            expected=f"a change below {tol:g}",
            found=f"{moving} fits still moving after {max_iter} iterations",
            hint="rescale the direct estimates or use another method",
        )
    )


@dataclass(frozen=True)
class FayHerriotFit:
    """A fitted Fay–Herriot model: sampled areas first, then areas predicted without a sample.

    Attributes
    ----------
    method : {"reml", "ml", "fh", "amrl", "amrl-yl"}
    area : ndarray of str
        Area labels, sampled areas first.
    in_sample : ndarray of bool
    direct, vardir : ndarray
        Direct estimate and its sampling variance (NaN out of sample).
    X : ndarray, shape (n_areas, p)
    eblup, synthetic, gamma : ndarray
        EBLUP (the synthetic value out of sample), :math:`x_d^\\top\\hat\\beta` and the
        shrinkage factor :math:`\\hat\\gamma_d = \\hat A/(\\hat A + D_d)` (0 out of sample).
    model_variance : float
    model_variance_se : float
        :math:`\\sqrt{2/\\sum_d (\\hat A + D_d)^{-2}}` (REML, ML) or
        :math:`\\sqrt{2m}/\\sum_d (\\hat A+D_d)^{-1}` (FH).
    coef, coef_cov : ndarray
    coef_names : tuple of str
    loglike : float
        Gaussian log-likelihood at the estimates (sae's ``goodness["loglike"]``).
    iterations : int
    zero_variance : bool
        True when :math:`\\hat A = 0`: every EBLUP equals its synthetic value.
    """

    method: str
    area: np.ndarray
    in_sample: np.ndarray
    direct: np.ndarray
    vardir: np.ndarray
    X: np.ndarray
    eblup: np.ndarray
    synthetic: np.ndarray
    gamma: np.ndarray
    model_variance: float
    model_variance_se: float
    coef: np.ndarray
    coef_cov: np.ndarray
    coef_names: tuple[str, ...]
    loglike: float
    iterations: int
    zero_variance: bool
    tol: float = field(default=1e-12)

    def __post_init__(self) -> None:
        freeze_arrays(self)  # arrays handed out are read-only

    @property
    def m(self) -> int:
        """Number of sampled areas."""
        return int(self.in_sample.sum())

    @property
    def residuals(self) -> np.ndarray:
        """Standardised residuals :math:`(y_d - x_d^\\top\\hat\\beta)/\\sqrt{\\hat A + D_d}` (sampled areas)."""
        s = self.in_sample
        return readonly((self.direct[s] - self.synthetic[s]) / np.sqrt(self.model_variance + self.vardir[s]))

    def coefficients_frame(self) -> pd.DataFrame:
        """Coefficients with standard errors, z values and two-sided normal p-values."""
        se = np.sqrt(np.diag(self.coef_cov))
        z = self.coef / se
        return pd.DataFrame(
            {"term": list(self.coef_names), "estimate": self.coef, "se": se, "z": z, "p_value": 2 * norm_sf(np.abs(z))}
        )

    def to_frame(self) -> pd.DataFrame:
        """One row per area: ``area``, ``in_sample``, ``direct``, ``vardir``, ``eblup``, ``synthetic``, ``gamma``."""
        return pd.DataFrame(
            {
                "area": self.area,
                "in_sample": self.in_sample,
                "direct": self.direct,
                "vardir": self.vardir,
                "eblup": self.eblup,
                "synthetic": self.synthetic,
                "gamma": self.gamma,
            }
        )


def _check_design(y: np.ndarray, D: np.ndarray, X: np.ndarray, names: tuple[str, ...], where: str) -> None:
    m, p = X.shape
    if m <= p:
        raise InputError(
            message(
                "fewer sampled territories than model parameters",
                where=where,
                expected=f"more than {p} territories with a direct estimate (one per coefficient, plus one)",
                found=f"{m}",
                hint="drop covariates or pool rights",
            )
        )
    if not (np.isfinite(y).all() and np.isfinite(X).all()):
        raise InputError(message("missing or infinite values in the model data", where=where))
    bad = ~(np.isfinite(D) & (D > 0))
    if bad.any():
        raise InputError(
            message(
                "sampling variances must be finite and positive",
                where=where,
                found=f"{int(bad.sum())} areas",
                hint="use variance='gvf' to smooth them",
            )
        )
    # collinearity: a column is redundant if it adds nothing to the rank of those before it
    scale = np.linalg.norm(X, axis=0)
    Xs = X / np.where(scale > 0, scale, 1.0)
    tol = 1e-10 * np.sqrt(m)
    # Full rank, and so the leading columns (the smallest singular value of leading columns is at least the
    # whole matrix's): certified by the unit-norm columns' Gram matrix, whose smallest eigenvalue (sigma_min^2)
    # is then far above both tol^2 and its own rounding error (m * eps); otherwise the rank of each leading block
    if np.linalg.eigvalsh(Xs.T @ Xs)[0] > 1e-8:
        return
    redundant: list[str] = []
    for j in range(p):
        if np.linalg.matrix_rank(Xs[:, : j + 1], tol=tol) < j + 1 - len(redundant):
            redundant.append(names[j])
    if redundant:
        raise InputError(
            message(
                "collinear covariates: the design matrix is not of full column rank",
                where=where,
                found="redundant given the terms before them: " + ", ".join(map(repr, redundant)),
                hint="drop them (a constant column duplicates the intercept)",
            )
        )


def fit_fay_herriot(
    y: np.ndarray,
    vardir: np.ndarray,
    X: np.ndarray,
    *,
    method: FHMethod | str = "reml",
    X_out: np.ndarray | None = None,
    area: np.ndarray | None = None,
    area_out: np.ndarray | None = None,
    names: tuple[str, ...] | None = None,
    tol: float = 1e-12,
    where: str = "Fay-Herriot model",
) -> FayHerriotFit:
    """Fit a Fay–Herriot model and compute EBLUPs and synthetic predictions.

    Parameters
    ----------
    y : array_like, shape (m,)
        Direct estimates of the sampled areas.
    vardir : array_like, shape (m,)
        Their sampling variances :math:`D_d > 0`, treated as known.
    X : array_like, shape (m, p)
        Covariates of the sampled areas, including the intercept column.
    method : {"reml", "ml", "fh", "amrl", "amrl-yl"}
        Restricted or full maximum likelihood, the Fay–Herriot moment method, or
        adjusted REML (Li & Lahiri 2010; Yoshimori & Lahiri 2014: never 0).
    X_out : array_like, shape (k, p), optional
        Covariates of areas without a sample: synthetic prediction :math:`x^\\top\\hat\\beta`.
    area, area_out : array_like, optional
        Labels (default ``0..m-1`` and ``m..m+k-1``).
    names : tuple of str, optional
        Names of the columns of ``X`` (used in messages and the coefficient table).
    tol : float
        Relative tolerance of the root finder on :math:`A`.
    where : str
        What to name in error messages (e.g. ``"right 'cmuc'"``).

    Returns
    -------
    FayHerriotFit

    Notes
    -----
    EBLUP: :math:`\\hat\\theta_d = \\hat\\gamma_d y_d + (1-\\hat\\gamma_d) x_d^\\top\\hat\\beta`,
    :math:`\\hat\\gamma_d = \\hat A/(\\hat A + D_d)`, :math:`\\hat\\beta = \\hat\\beta(\\hat A)`
    by GLS (Fay & Herriot 1979; Rao & Molina 2015, section 6.1). A zero
    :math:`\\hat A` is kept (the EBLUP is then the synthetic estimator) and
    raises a :class:`~nonrecours.errors.ConvergenceWarning`.

    Examples
    --------
    >>> import numpy as np
    >>> X = np.column_stack([np.ones(6), np.arange(6.0)])
    >>> fit = fit_fay_herriot(np.array([1.0, 1.3, 1.9, 2.8, 3.9, 5.2]), np.full(6, 0.1), X)
    >>> fit.eblup.shape
    (6,)
    """
    method = check_option("method", method, FHMethod)
    y = np.asarray(y, dtype=float).ravel()
    D = np.asarray(vardir, dtype=float).ravel()
    X = np.asarray(X, dtype=float)
    m, p = X.shape
    names = tuple(names) if names is not None else tuple(f"x{j}" for j in range(p))
    _check_design(y, D, X, names, where)
    XX = _outer(X)  # the row products x_d x_d', for every cross-product of the fit
    A_arr, its = _solve(y[None, :], D, X, XX, method, tol, 200)
    A = float(A_arr[0])
    beta_b, Q_b = _gls(y[None, :], X, 1.0 / (A_arr[:, None] + D[None, :]), XX)
    beta, Q = beta_b[0], Q_b[0]
    synth = X @ beta
    gamma = A / (A + D)
    eblup = synth + gamma * (y - synth)
    v = A + D
    loglike = float(-0.5 * np.sum(np.log(2 * np.pi * v) + (y - synth) ** 2 / v))
    se_A = float(np.sqrt(2 * m) / np.sum(1 / v)) if method == "fh" else float(np.sqrt(2 / np.sum(v**-2.0)))
    if A == 0.0:
        warnings.warn(
            message(
                "the estimated model variance is 0: every EBLUP equals its synthetic (regression) estimate",
                where=where,
                hint="the covariates explain the direct estimates within their sampling error",
            ),
            ConvergenceWarning,
            stacklevel=2,
        )
    area = np.asarray(area if area is not None else np.arange(m)).astype(str)
    if X_out is None or len(X_out) == 0:
        X_out = np.empty((0, p))
        area_out = np.empty(0, dtype=str)
    else:
        X_out = np.asarray(X_out, dtype=float)
        if not np.isfinite(X_out).all():
            raise InputError(message("missing covariate values for areas to predict", where=where))
        area_out = np.asarray(area_out if area_out is not None else np.arange(m, m + len(X_out))).astype(str)
    k = len(X_out)
    nan = np.full(k, np.nan)
    synth_out = X_out @ beta
    return FayHerriotFit(
        method=method,
        area=np.concatenate([area, area_out]),
        in_sample=np.concatenate([np.ones(m, bool), np.zeros(k, bool)]),
        direct=np.concatenate([y, nan]),
        vardir=np.concatenate([D, nan]),
        X=np.vstack([X, X_out]),
        eblup=np.concatenate([eblup, synth_out]),
        synthetic=np.concatenate([synth, synth_out]),
        gamma=np.concatenate([gamma, np.zeros(k)]),
        model_variance=A,
        model_variance_se=se_A,
        coef=beta,
        coef_cov=Q,
        coef_names=names,
        loglike=loglike,
        iterations=int(its[0]),
        zero_variance=A == 0.0,
        tol=tol,
    )
