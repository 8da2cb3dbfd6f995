"""Multivariate Fay–Herriot models: several rights (or years) of a territory fitted together.

For territory :math:`d` and variables :math:`k = 1..r` (rights, or the years of one right):

.. math::  y_d = X_d\\beta + u_d + e_d,\\quad u_d \\sim N(0, G),\\quad e_d \\sim N(0, \\Sigma_d),

:math:`X_d = \\mathrm{blockdiag}(x_{d1}^\\top, \\dots, x_{dr}^\\top)` (each variable its own coefficients) and
:math:`\\Sigma_d` the sampling covariance between the variables (Benavent & Morales 2016). The direct
estimate of one right borrows from the others' through :math:`\\Sigma_d` and :math:`G`. Models of R ``msae``:

- ``mfh1``: :math:`G = \\mathrm{diag}(\\sigma_1^2, \\dots, \\sigma_r^2)` (``eblupMFH1``);
- ``mfh2``: :math:`G = \\sigma^2\\Omega(\\rho)`, :math:`\\Omega_{ij} = \\rho^{|i-j|}/(1-\\rho^2)`, an AR(1) across the
  variables, for years (``eblupMFH2``).
"""

from __future__ import annotations

import numpy as np

from .._checks import check_choice
from .borrow import BorrowFit, area_components_fit, check_block_shapes, fit_blocks, observed_blocks
from .fay_herriot import _check_design
from .rao_yu import ARCovariance

__all__ = ["DiagonalCovariance", "fit_multivariate", "MULTIVARIATE_MODELS"]

#: The multivariate models (msae's names).
MULTIVARIATE_MODELS: tuple[str, ...] = ("mfh1", "mfh2")


class DiagonalCovariance:
    """:math:`G = \\mathrm{diag}(\\sigma_1^2, \\dots, \\sigma_r^2)`: independent effects, one variance per variable."""

    def __init__(self, r: int) -> None:
        self.names: tuple[str, ...] = tuple(f"sigma2_{k + 1}" for k in range(r))
        self.variance = np.ones(r, bool)
        self.lower = np.zeros(r)
        self.upper = np.full(r, np.inf)
        self._d = np.zeros((r, r, r))
        self._d[np.arange(r), np.arange(r), np.arange(r)] = 1.0

    def matrix(self, theta: np.ndarray) -> np.ndarray:
        return np.diag(theta)

    def derivatives(self, theta: np.ndarray) -> np.ndarray:
        return self._d


def fit_multivariate(
    y,
    cov,
    X,
    *,
    model: str = "mfh1",
    variables=None,
    in_sample=None,
    area=None,
    names=None,
    tol: float = 1e-10,
    where: str = "multivariate Fay-Herriot model",
) -> BorrowFit:
    """Fit a multivariate Fay–Herriot model by REML and compute EBLUPs and MSEs, as R ``msae``'s ``eblupMFH1/2``.

    Parameters
    ----------
    y : array_like, shape (m, r)
        Direct estimates, one row per territory, one column per variable.
    cov : array_like, shape (m, r, r)
        Sampling covariance between the variables of each territory.
    X : array_like, shape (m, r, p)
        Covariates of each territory and variable (the same ``p`` columns for each variable, each variable
        with its own coefficients).
    model : {"mfh1", "mfh2"}
    variables : array_like of str, optional
        Names of the variables (rights or years); the AR(1) of ``mfh2`` runs in their order.
    in_sample : array_like of bool, shape (m,), optional
        Territories whose direct estimates are used (default: all). A territory without any (NaN row of ``y``)
        gets the synthetic :math:`x^\\top\\hat\\beta` with MSE :math:`\\hat G_{aa} + x^\\top Qx`; a variable without a
        direct estimate in a sampled territory is predicted from its other variables (left out of the
        likelihood, as in :func:`~.rao_yu.fit_rao_yu`).
    area : array_like, optional
        Territory labels.
    names : tuple of str, optional
        Names of the ``p`` covariates; the coefficients are named ``name.variable``.
    tol : float
        Convergence tolerance of the variance parameters (see :func:`~.borrow.fit_blocks`).
    where : str
        What to name in error messages.

    Returns
    -------
    BorrowFit
        ``model`` as given; parameters ``sigma2_1..r`` (``mfh1``) or ``sigma2``, ``rho`` (``mfh2``); rows
        territory-major, the variables within (``component``).

    Notes
    -----
    REML (:func:`~.borrow.fit_blocks`); EBLUP :math:`X_d\\hat\\beta + \\hat G\\hat V_d^{-1}(y_d - X_d\\hat\\beta)`,
    MSE :math:`g_1 + g_2 + 2g_3` (:func:`~.borrow.block_mse`; Benavent & Morales 2016, section 4), as
    ``msae`` computes them. ``msae`` rounds its outputs to 5 significant digits; these are not rounded.
    ``mfh2`` keeps :math:`\\rho` in [-0.999, 0.999].

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(2)
    >>> m, r = 30, 3
    >>> X = np.stack([np.ones((m, r)), rng.normal(size=(m, r))], axis=-1)
    >>> cov = np.broadcast_to(0.01 * (np.eye(r) + 0.4 * (1 - np.eye(r))), (m, r, r))
    >>> y = X @ np.array([1.0, 0.5]) + rng.normal(0, 0.1, (m, r)) + rng.normal(0, 0.1, (m, r))
    >>> fit_multivariate(y, cov, X).theta.shape
    (3,)
    """
    model = str(check_choice("model", model, MULTIVARIATE_MODELS))
    y, S, Xv = check_block_shapes(y, cov, X, where, dims="m, r")
    m, r, p = Xv.shape
    variables = np.asarray(variables if variables is not None else np.arange(1, r + 1)).astype(str)
    names = tuple(names) if names is not None else tuple(f"x{j}" for j in range(p))
    obs = observed_blocks(y, Xv, S, in_sample, names, where)
    for k in range(r):  # each variable's own design (r is a handful of rights or years)
        _check_design(
            y[obs[:, k], k], S[obs[:, k], k, k], Xv[obs[:, k], k, :], names, f"{where}, variable {variables[k]!r}"
        )
    # block-diagonal design: variable k's covariates in its own columns k*p..(k+1)*p-1 (msae's adiag order)
    Xb = np.zeros((m, r, r * p))
    for k in range(r):
        Xb[:, k, k * p : (k + 1) * p] = Xv[:, k, :]
    med = np.nanmedian(np.where(obs, np.diagonal(S, axis1=1, axis2=2), np.nan), axis=0)
    cov_model: DiagonalCovariance | ARCovariance
    if model == "mfh1":
        cov_model = DiagonalCovariance(r)
        start = med  # msae's starting values
    else:
        cov_model = ARCovariance(np.arange(r), common=False, rho_bounds=(-0.999, 0.999))
        start = np.array([float(np.mean(med)), 0.5])
    fit = fit_blocks(y, Xb, S, cov_model, start, method="reml", observed=obs, tol=tol, where=where)
    area = np.asarray(area if area is not None else np.arange(m)).astype(str)
    coef_names = tuple(f"{n}.{v}" for v in variables for n in names)
    return area_components_fit(
        fit,
        cov_model.derivatives(fit.theta),
        model=model,
        y=y,
        area=area,
        components=np.asarray(variables),
        observed=obs,
        coef_names=coef_names,
        covariance=cov_model,
    )
