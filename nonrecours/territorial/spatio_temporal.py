"""Spatio-temporal Fay–Herriot model: SAR territory effects and AR(1) territory-year effects.

For territory :math:`d = 1..D` and year :math:`t = 1..T` (Marhuenda, Molina & Morales 2013):

.. math::  y_{dt} = x_{dt}^\\top\\beta + u_{1d} + u_{2dt} + e_{dt},\\quad
           u_1 = \\rho_1 W u_1 + \\varepsilon_1,\\ \\varepsilon_1 \\sim N(0, \\sigma_1^2 I_D),\\quad
           u_{2dt} = \\rho_2 u_{2d,t-1} + \\varepsilon_{2dt},\\ \\varepsilon_{2dt} \\sim N(0, \\sigma_2^2),

with :math:`W` the row-standardised neighbours matrix and :math:`e_d = (e_{d1}, \\dots, e_{dT}) \\sim N(0, \\Sigma_d)`
the sampling errors (``sae`` takes them independent, :math:`\\Sigma_d` diagonal; a panel's covariance over the
years is taken here as given). Stacked territory by territory, years within:

.. math::  \\mathrm{var}(u_1 \\otimes 1_T + u_2) = G = \\sigma_1^2\\,\\Omega_1(\\rho_1)\\otimes J_T
           + \\sigma_2^2\\, I_D \\otimes \\Omega_2(\\rho_2),

:math:`\\Omega_1 = [(I-\\rho_1W)^\\top(I-\\rho_1W)]^{-1}`, :math:`(\\Omega_2)_{st} = \\rho_2^{|t_s-t_t|}/(1-\\rho_2^2)`.
The fit (REML, Fisher scoring, ``sae``'s starting values) and the EBLUP are those of R ``sae``'s ``eblupSTFH``
(model ``"ST"``); ``sae`` has no analytic MSE for it (only the parametric bootstrap ``pbmseSTFH``): the MSE here
is the Prasad–Rao :math:`g_1 + g_2 + 2g_3` of the block engine (:func:`~.borrow.block_mse`), and the bootstrap
one is :func:`~.borrow_bootstrap.bootstrap_borrow_mse`.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from .borrow import BorrowFit, area_components_fit, check_block_shapes, fit_blocks, observed_blocks
from .rao_yu import ARCovariance
from .spatial import RHO_BOUND, SARCovariance, check_proximity

__all__ = ["SpatioTemporalCovariance", "fit_spatio_temporal"]


class SpatioTemporalCovariance:
    """:math:`G = \\sigma_1^2\\,\\Omega_1(\\rho_1)\\otimes J_T + \\sigma_2^2\\,I_D\\otimes\\Omega_2(\\rho_2)`,
    one block of :math:`D \\times T` territory-years (territory-major), parameters
    ``sigma2_1, rho1, sigma2_2, rho2`` (``sae``'s ``sigma21, rho1, sigma22, rho2``).

    Derivatives: :math:`\\Omega_1\\otimes J_T`, :math:`-\\sigma_1^2\\,\\Omega_1\\dot R\\,\\Omega_1\\otimes J_T`
    (:math:`\\dot R = 2\\rho_1W^\\top W - W - W^\\top`), :math:`I_D\\otimes\\Omega_2` and
    :math:`\\sigma_2^2\\,I_D\\otimes\\partial\\Omega_2/\\partial\\rho_2`.

    Parameters
    ----------
    W : ndarray, shape (D, D)
        Row-standardised proximity matrix.
    times : array_like, shape (T,)
        The years: the AR(1) lag between two years is their difference (``sae``: their positions).
    """

    names: tuple[str, ...] = ("sigma2_1", "rho1", "sigma2_2", "rho2")
    variance = np.array([True, False, True, False])

    def __init__(self, W: np.ndarray, times) -> None:
        self.sar = SARCovariance(W)
        self.ar = ARCovariance(times, common=False, rho_bounds=(-RHO_BOUND, RHO_BOUND))
        self.D, self.T = len(W), len(np.asarray(times))
        self.lower = np.array([0.0, -RHO_BOUND, 0.0, -RHO_BOUND])
        self.upper = np.array([np.inf, RHO_BOUND, np.inf, RHO_BOUND])
        self._J = np.ones((self.T, self.T))
        self._I = np.eye(self.D)

    def matrix(self, theta: np.ndarray) -> np.ndarray:
        s1, r1, s2, r2 = theta
        O2, _ = self.ar.gamma(r2)
        return np.kron(s1 * self.sar.C(r1), self._J) + np.kron(self._I, s2 * O2)

    def derivatives(self, theta: np.ndarray) -> np.ndarray:
        s1, r1, s2, r2 = theta
        C = self.sar.C(r1)
        O2, dO2 = self.ar.gamma(r2)
        return np.stack(
            [
                np.kron(C, self._J),
                np.kron(-s1 * (C @ self.sar.dR(r1) @ C), self._J),
                np.kron(self._I, O2),
                np.kron(self._I, s2 * dO2),
            ]
        )


def fit_spatio_temporal(
    y,
    cov,
    X,
    neighbours,
    *,
    times=None,
    area=None,
    names=None,
    tol: float = 1e-10,
    where: str = "spatio-temporal Fay-Herriot model",
) -> BorrowFit:
    """Fit the spatio-temporal Fay–Herriot model by REML, with EBLUPs and analytic MSEs (R ``sae``'s ``eblupSTFH``).

    Parameters
    ----------
    y : array_like, shape (D, T)
        Direct estimates, one row per territory, one column per year; NaN where there is none (that territory-year
        is left out of the likelihood and predicted through the model's covariance: from the territory's other
        years and from its neighbours; a territory with none stays in the SAR and is predicted from its neighbours).
    cov : array_like, shape (D, T) or (D, T, T)
        Sampling variances (``sae``'s ``vardir``), or the sampling covariance over the years of each territory
        (read where both years are observed).
    X : array_like, shape (D, T, p)
        Covariates of each territory and year, with the intercept column.
    neighbours : array_like, shape (D, D)
        Proximity matrix :math:`W`, row-standardised (:func:`~.spatial.row_standardise`).
    times : array_like, shape (T,), optional
        The years (default ``0..T-1``).
    area : array_like, optional
        Territory labels.
    names : tuple of str, optional
        Names of the columns of ``X``.
    tol : float
        Convergence tolerance of the variance parameters (see :func:`~.borrow.fit_blocks`).
    where : str
        What to name in error messages.

    Returns
    -------
    BorrowFit
        ``model="spatio-temporal"``, parameters ``sigma2_1`` (SAR innovation variance), ``rho1`` (spatial
        correlation), ``sigma2_2`` (AR(1) innovation variance), ``rho2`` (autocorrelation); rows territory-major,
        the years within (``component`` the year).

    Notes
    -----
    :math:`V = G + \\mathrm{diag}_d(\\Sigma_d)` over all :math:`DT` territory-years (one block: the SAR ties every
    territory), :math:`G` as in :class:`SpatioTemporalCovariance`. REML by Fisher scoring from ``sae``'s starting
    values :math:`(\\tilde D/2, 0.5, \\tilde D/2, 0.5)`, :math:`\\tilde D` the median sampling variance, with
    :math:`\\rho_1, \\rho_2 \\in [-0.999, 0.999]` (:func:`~.borrow.fit_blocks`; ``sae`` stops at a relative change
    of 1e-4 by default, the fit here runs to ``tol``). EBLUP :math:`x_{dt}^\\top\\hat\\beta + \\hat u_{1d} +
    \\hat u_{2dt} = x_{dt}^\\top\\hat\\beta + e_{dt}^\\top\\hat G\\hat V^{-1}(y - X\\hat\\beta)`
    (Marhuenda, Molina & Morales 2013, section 3). MSE :math:`g_1 + g_2 + 2g_3`
    (:func:`~.borrow.block_mse`, the inverse REML Fisher information in :math:`g_3`; Prasad & Rao 1990, Das, Jiang
    & Rao 2004): the second-order approximation the paper replaces by its parametric bootstrap (``pbmseSTFH``,
    here :func:`~.borrow_bootstrap.bootstrap_borrow_mse`), the only MSE ``sae`` has for this model.
    The covariances of :math:`V` are dense :math:`DT \\times DT` matrices: the fit is for a few hundred
    territory-years, not thousands.

    Examples
    --------
    >>> import numpy as np
    >>> from nonrecours.territorial.spatial import row_standardise
    >>> rng = np.random.default_rng(1)
    >>> D, T = 12, 3
    >>> A = np.eye(D, k=1) + np.eye(D, k=-1)
    >>> X = np.stack([np.ones((D, T)), rng.normal(size=(D, T))], axis=-1)
    >>> y = X @ np.array([1.0, 0.5]) + rng.normal(0, 0.1, (D, 1)) + rng.normal(0, 0.1, (D, T))
    >>> fit = fit_spatio_temporal(y, np.full((D, T), 0.01), X, row_standardise(A))
    >>> fit.names, fit.eblup.shape
    (('sigma2_1', 'rho1', 'sigma2_2', 'rho2'), (36,))
    """
    y = np.asarray(y, dtype=float)
    S = np.asarray(cov, dtype=float)
    if S.ndim == 2 and S.shape == y.shape:
        S = S[:, :, None] * np.eye(y.shape[1] if y.ndim == 2 else 0)
    y, S, X = check_block_shapes(
        y, S, X, where, what="sampling covariances", expected="shapes (D, T), (D, T) or (D, T, T), and (D, T, p)"
    )
    m, T, p = X.shape
    W = check_proximity(neighbours, m, where, rho="rho1")
    names = tuple(names) if names is not None else tuple(f"x{j}" for j in range(p))
    S = np.where(np.isfinite(S), S, 0.0)
    obs = observed_blocks(y, X, S, None, names, where)
    times = np.arange(T) if times is None else np.asarray(times)
    model = SpatioTemporalCovariance(W, times)
    R = np.zeros((m, T, m, T))
    R[np.arange(m), :, np.arange(m), :] = S  # block diagonal: the territories' sampling errors are independent
    d0 = float(np.median(np.diagonal(S, axis1=1, axis2=2)[obs]))
    fit = fit_blocks(
        y.reshape(1, m * T),
        X.reshape(1, m * T, p),
        R.reshape(1, m * T, m * T),
        model,
        np.array([d0 / 2, 0.5, d0 / 2, 0.5]),  # sae's starting values
        method="reml",
        observed=obs.reshape(1, m * T),
        tol=tol,
        where=where,
    )
    area = np.asarray(area if area is not None else np.arange(m)).astype(str)
    out = area_components_fit(
        fit,
        model.derivatives(fit.theta),
        model="spatio-temporal",
        y=y.reshape(1, m * T),
        area=np.asarray(["_"]),
        components=np.zeros(m * T, dtype=str),
        observed=obs.reshape(1, m * T),
        coef_names=names,
        covariance=model,
    )
    return dataclasses.replace(out, area=np.repeat(area, T), component=np.tile(times.astype(str), m))
