"""Rao–Yu model: a territory's rate over the years, with a persistent effect and AR(1) area-time effects.

For territory :math:`d` and year :math:`t = 1..T`:

.. math::  y_{dt} = x_{dt}^\\top\\beta + v_d + u_{dt} + e_{dt},\\quad v_d \\sim N(0, \\sigma_v^2),\\quad
           u_{dt} = \\rho\\, u_{d,t-1} + \\varepsilon_{dt},\\ \\varepsilon_{dt} \\sim N(0, \\sigma_u^2),

with :math:`e_d = (e_{d1}, \\dots, e_{dT}) \\sim N(0, \\Sigma_d)` and :math:`\\Sigma_d` the sampling covariance
over the years (a panel's waves are correlated) (Rao & Yu 1994; Rao & Molina 2015, section 8.3.1).
The fit and the MSE are those of R ``sae2``'s ``eblupRY`` (Fay & Diallo).
"""

from __future__ import annotations

import numpy as np

from .borrow import BorrowFit, area_components_fit, check_block_shapes, check_method, fit_blocks, observed_blocks

__all__ = ["ARCovariance", "fit_rao_yu", "MAX_RHO"]

#: sae2's upper bound of the autocorrelation (``eblupRY``'s ``max.rho``); its lower bound is 0.
MAX_RHO = 0.98


class ARCovariance:
    """AR(1) effects over ``lags`` and, optionally, an effect common to the block.

    :math:`G = \\sigma_u^2\\Gamma(\\rho) + \\sigma_v^2 J`, :math:`\\Gamma_{st} = \\rho^{|t_s-t_t|}/(1-\\rho^2)` (the
    stationary AR(1) with innovation variance :math:`\\sigma_u^2`), :math:`J` the matrix of ones.
    :math:`\\partial\\Gamma_{st}/\\partial\\rho = h\\rho^{h-1}/(1-\\rho^2) + 2\\rho^{h+1}/(1-\\rho^2)^2`,
    :math:`h = |t_s-t_t|`.

    Parameters
    ----------
    times : array_like, shape (k,)
        Time of each component (years: a gap in the years is a longer lag).
    common : bool
        Include :math:`\\sigma_v^2 J` (Rao–Yu) or not (msae's MFH2, the AR(1) alone).
    rho_bounds : tuple of float
    """

    def __init__(self, times, *, common: bool = True, rho_bounds: tuple[float, float] = (0.0, MAX_RHO)) -> None:
        t = np.asarray(times, dtype=float)
        self.h = np.abs(t[:, None] - t[None, :])
        self.common = common
        self.names: tuple[str, ...]
        if common:
            self.names = ("sigma2_u", "sigma2_v", "rho")
            self.variance = np.array([True, True, False])
            self.lower = np.array([0.0, 0.0, rho_bounds[0]])
            self.upper = np.array([np.inf, np.inf, rho_bounds[1]])
        else:
            self.names = ("sigma2", "rho")
            self.variance = np.array([True, False])
            self.lower = np.array([0.0, rho_bounds[0]])
            self.upper = np.array([np.inf, rho_bounds[1]])

    def gamma(self, rho: float) -> tuple[np.ndarray, np.ndarray]:
        """:math:`\\Gamma(\\rho)` and :math:`\\partial\\Gamma/\\partial\\rho`."""
        h, one = self.h, 1.0 - rho * rho
        rh = np.power(rho, h)  # 0^0 = 1
        lag1 = np.where(h > 0, h * np.power(rho, np.maximum(h - 1.0, 0.0)), 0.0)
        return rh / one, lag1 / one + 2.0 * rho * rh / one**2

    def matrix(self, theta: np.ndarray) -> np.ndarray:
        g, _ = self.gamma(theta[-1])
        return theta[0] * g + (theta[1] if self.common else 0.0)

    def derivatives(self, theta: np.ndarray) -> np.ndarray:
        g, dg = self.gamma(theta[-1])
        if self.common:
            return np.stack([g, np.ones_like(g), theta[0] * dg])
        return np.stack([g, theta[0] * dg])


def fit_rao_yu(
    y,
    cov,
    X,
    *,
    times=None,
    in_sample=None,
    method: str = "reml",
    area=None,
    names=None,
    tol: float = 1e-10,
    where: str = "Rao-Yu model",
) -> BorrowFit:
    """Fit the Rao–Yu model and compute EBLUPs and analytic MSEs, as R ``sae2``'s ``eblupRY``.

    Parameters
    ----------
    y : array_like, shape (m, T)
        Direct estimates, one row per territory, one column per year; NaN where there is none (that
        territory-year is predicted from the territory's other years and the model; a row of NaN, from the
        regression).
    cov : array_like, shape (m, T, T)
        Sampling covariance over the years of each territory (read where both years are observed).
    X : array_like, shape (m, T, p)
        Covariates of each territory and year, with the intercept column.
    times : array_like, shape (T,), optional
        The years (default ``0..T-1``): the AR(1) lag between two years is their difference.
    in_sample : array_like of bool, shape (m,), optional
        Territories whose direct estimates are used (default: all); the others are predicted by the synthetic
        :math:`x^\\top\\hat\\beta` (``sae2``'s ``y.include``).
    method : {"reml", "ml"}
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
        ``model="rao-yu"``, parameters ``sigma2_u``, ``sigma2_v``, ``rho``; rows territory-major, the years
        within (``component`` the year).

    Notes
    -----
    :math:`V_d = \\Sigma_d + \\sigma_u^2\\Gamma(\\rho) + \\sigma_v^2 J`; REML or ML by Fisher scoring
    (:func:`~.borrow.fit_blocks`), :math:`\\rho \\in [0, 0.98]` as ``sae2``.
    EBLUP :math:`x_{dt}^\\top\\hat\\beta + e_t^\\top\\hat G\\hat V_d^{-1}(y_d - X_d\\hat\\beta)`; MSE
    :math:`g_1 + g_2 + 2g_3` (:func:`~.borrow.block_mse`) with the inverse Fisher information of the method
    (Rao & Yu 1994, eq. 4.6; Rao & Molina 2015, section 8.3.1). Out of sample: :math:`g_1 + g_2` with
    :math:`g_1 = \\hat\\sigma_u^2/(1-\\hat\\rho^2) + \\hat\\sigma_v^2`. A year without a direct estimate in a
    sampled territory is left out of the likelihood (:math:`V_d` restricted to the observed years) and
    predicted by :math:`x_{dt}^\\top\\hat\\beta + \\hat G_{t,O}\\hat V_{d,OO}^{-1}(y_{d,O} - X_{d,O}\\hat\\beta)`,
    with the same MSE formulas (``sae2`` needs every year of a sampled territory).

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(1)
    >>> m, T = 20, 4
    >>> X = np.stack([np.ones((m, T)), rng.normal(size=(m, T))], axis=-1)
    >>> cov = np.broadcast_to(0.01 * (np.eye(T) + 0.3 * (1 - np.eye(T))), (m, T, T))
    >>> y = X @ np.array([1.0, 0.5]) + rng.normal(0, 0.1, (m, 1)) + rng.normal(0, 0.1, (m, T))
    >>> fit = fit_rao_yu(y, cov, X)
    >>> fit.eblup.shape
    (80,)
    """
    method = check_method(method)
    y, S, X = check_block_shapes(y, cov, X, where)
    m, T, p = X.shape
    names = tuple(names) if names is not None else tuple(f"x{j}" for j in range(p))
    obs = observed_blocks(y, X, S, in_sample, names, where)
    times = np.arange(T) if times is None else np.asarray(times)
    model = ARCovariance(times)
    d0 = float(np.median(np.diagonal(S, axis1=1, axis2=2)[obs]))
    fit = fit_blocks(y, X, S, model, np.array([d0 / 2, d0 / 2, 0.5]), method=method, observed=obs, tol=tol, where=where)
    area = np.asarray(area if area is not None else np.arange(m)).astype(str)
    return area_components_fit(
        fit,
        model.derivatives(fit.theta),
        model="rao-yu",
        y=y,
        area=area,
        components=times.astype(str),
        observed=obs,
        coef_names=names,
        covariance=model,
    )
