"""Spatial Fay–Herriot model: territory effects following a simultaneous autoregression (SAR) on neighbours.

.. math::  y = X\\beta + u + e,\\quad u = \\rho W u + \\varepsilon,\\quad \\varepsilon \\sim N(0, \\sigma^2 I),
           \\quad e \\sim N(0, \\mathrm{diag}(D_d)),

so that :math:`\\mathrm{var}(u) = \\sigma^2 C(\\rho)`, :math:`C(\\rho) = [(I-\\rho W^\\top)(I-\\rho W)]^{-1}`,
with :math:`W` the row-standardised neighbours matrix (Petrucci & Salvati 2006; Pratesi & Salvati 2008;
Molina, Salvati & Pratesi 2009). The fit and the MSE are those of R ``sae``'s ``eblupSFH`` and ``mseSFH``.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from ..errors import InputError, message
from .borrow import (
    BorrowFit,
    block_mse,
    check_area_inputs,
    check_method,
    fit_blocks,
    information,
    inverse_information,
)

__all__ = ["SARCovariance", "row_standardise", "check_proximity", "fit_spatial_fh"]

#: sae's range of the spatial correlation (``eblupSFH`` clamps its Fisher steps to it).
RHO_BOUND = 0.999

#: Largest standard error of :math:`\\hat\\rho` (inverse REML information) for which its uncertainty enters the
#: MSE: beyond it the linearisation in :math:`\\rho` of :math:`g_3` and :math:`g_4` spans more than the whole
#: parameter space :math:`(-1, 1)`, and :math:`\\rho` is taken as known there (as on a bound).
RHO_SE_MAX = 1.0


def check_proximity(neighbours: np.ndarray, m: int, where: str, *, rho: str = "rho") -> np.ndarray:
    """The proximity matrix :math:`W` as floats, checked: ``m x m``, non-negative, each row summing to 1.

    Row-standardised weights keep :math:`I - \\rho W` invertible for :math:`\\rho \\in (-1, 1)` (``sae``'s
    ``proxmat``); ``rho`` names the parameter in the message (``rho``, ``rho1``).
    """
    W = np.asarray(neighbours, dtype=float)
    if W.shape != (m, m):
        raise InputError(
            message(
                "the neighbours matrix does not match the territories",
                where=where,
                expected=f"a {m} x {m} matrix",
                found=f"shape {W.shape}",
            )
        )
    rows = W.sum(axis=1)
    if not (np.isfinite(W).all() and (W >= 0).all() and np.allclose(rows, 1.0, rtol=0.0, atol=1e-8)):
        bad = ~np.isfinite(rows) | (np.abs(rows - 1.0) > 1e-8) | ~(np.isfinite(W) & (W >= 0)).all(axis=1)
        raise InputError(
            message(
                "the neighbours matrix is not row-standardised",
                where=f"{where}, parameter neighbours",
                expected=f"non-negative weights, each row summing to 1 (sae's proxmat; {rho} in (-1, 1) then keeps "
                f"I - {rho} W invertible)",
                found=f"{int(bad.sum())} of {m} rows",
                hint="pass row_standardise(adjacency)",
            )
        )
    return W


def row_standardise(adjacency: np.ndarray, *, where: str = "neighbours") -> np.ndarray:
    """Row-standardised proximity matrix :math:`W_{ij} = a_{ij}/\\sum_j a_{ij}` (sae's ``proxmat``).

    Parameters
    ----------
    adjacency : ndarray, shape (m, m)
        Non-negative weights, zero diagonal (1 for neighbours).
    where : str
        What to name in error messages.

    Raises
    ------
    InputError
        If a territory has no neighbour (a zero row cannot be standardised).
    """
    A = np.asarray(adjacency, dtype=float)
    if A.ndim != 2 or A.shape[0] != A.shape[1]:
        raise InputError(message("the neighbours matrix must be square", where=where, found=f"shape {A.shape}"))
    if (A < 0).any() or not np.isfinite(A).all():
        raise InputError(message("neighbour weights must be finite and non-negative", where=where))
    rows = A.sum(axis=1)
    if (rows <= 0).any():
        raise InputError(
            message(
                "territories without a neighbour",
                where=where,
                expected="at least one neighbour for every territory of the fit",
                found=f"{int((rows <= 0).sum())} territories with none",
                hint="add neighbours within a distance for isolated territories, or drop them",
            )
        )
    return A / rows[:, None]


class SARCovariance:
    """:math:`G(\\sigma^2, \\rho) = \\sigma^2 C(\\rho)` of the SAR territory effects (one block of ``m`` territories).

    Derivatives: :math:`\\partial G/\\partial\\sigma^2 = C`,
    :math:`\\partial G/\\partial\\rho = -\\sigma^2 C\\,(2\\rho W^\\top W - W - W^\\top)\\,C`.
    """

    names: tuple[str, ...] = ("sigma2", "rho")
    variance = np.array([True, False])

    def __init__(self, W: np.ndarray) -> None:
        self.W = W
        self.WtW = W.T @ W
        self.lower = np.array([0.0, -RHO_BOUND])
        self.upper = np.array([np.inf, RHO_BOUND])
        self._cached: tuple[float, np.ndarray] | None = None

    def C(self, rho: float) -> np.ndarray:
        """:math:`[(I-\\rho W^\\top)(I-\\rho W)]^{-1}` (the last one kept: the fit asks for it several times)."""
        if self._cached is None or self._cached[0] != rho:
            B = np.eye(len(self.W)) - rho * self.W
            C = np.linalg.inv(B.T @ B)
            self._cached = (rho, 0.5 * (C + C.T))
        return self._cached[1]

    def dR(self, rho: float) -> np.ndarray:
        """:math:`\\partial [(I-\\rho W^\\top)(I-\\rho W)]/\\partial\\rho = 2\\rho W^\\top W - W - W^\\top`."""
        return 2.0 * rho * self.WtW - self.W - self.W.T

    def matrix(self, theta: np.ndarray) -> np.ndarray:
        return theta[0] * self.C(theta[1])

    def derivatives(self, theta: np.ndarray) -> np.ndarray:
        C = self.C(theta[1])
        return np.stack([C, -theta[0] * (C @ self.dR(theta[1]) @ C)])


def fit_spatial_fh(
    y,
    vardir,
    X,
    neighbours,
    *,
    method: str = "reml",
    area=None,
    names=None,
    tol: float = 1e-10,
    where: str = "spatial Fay-Herriot model",
) -> BorrowFit:
    """Fit the spatial (SAR) Fay–Herriot model and compute EBLUPs and analytic MSEs, as R ``sae``'s ``mseSFH``.

    Parameters
    ----------
    y : array_like, shape (m,)
        Direct estimates; NaN for a territory without one (it stays in the SAR and is predicted from its
        neighbours: :math:`x_d^\\top\\hat\\beta + \\hat G_{d,O}\\hat V_{OO}^{-1}(y_O - X_O\\hat\\beta)`).
    vardir : array_like, shape (m,)
        Sampling variances :math:`D_d > 0` (read where ``y`` is given).
    X : array_like, shape (m, p)
        Covariates, with the intercept column.
    neighbours : array_like, shape (m, m)
        Proximity matrix :math:`W`, row-standardised (:func:`row_standardise`).
    method : {"reml", "ml"}
    area : array_like, optional
        Labels of the territories.
    names : tuple of str, optional
        Names of the columns of ``X``.
    tol : float
        Convergence tolerance of the variance parameters (see :func:`~.borrow.fit_blocks`).
    where : str
        What to name in error messages.

    Returns
    -------
    BorrowFit
        ``model="spatial"``, parameters ``sigma2`` and ``rho``.

    Notes
    -----
    EBLUP: :math:`\\hat\\theta = X\\hat\\beta + \\hat G\\hat V^{-1}(y - X\\hat\\beta)`,
    :math:`V = G + \\mathrm{diag}(D)`.
    MSE (Pratesi & Salvati 2008; Molina, Salvati & Pratesi 2009, eq. 2.5; ``mseSFH``):
    :math:`g_1 + g_2 + 2g_3 - g_4` with :math:`g_1, g_2, g_3` as in :func:`~.borrow.block_mse` and
    Singh, Shukla & Kundu's (2005) bias term

    .. math:: g_{4d} = \\tfrac12\\big[\\Psi V^{-1}\\{G_{\\sigma\\rho}(\\bar V_{\\sigma\\rho} + \\bar V_{\\rho\\sigma})
              + G_{\\rho\\rho}\\bar V_{\\rho\\rho}\\}V^{-1}\\Psi\\big]_{dd},

    :math:`\\Psi = \\mathrm{diag}(D)`, :math:`G_{\\sigma\\rho} = \\partial C/\\partial\\rho`,
    :math:`G_{\\rho\\rho} = \\partial^2 G/\\partial\\rho^2 = 2\\sigma^2(C\\dot R C\\dot R C - CW^\\top WC)`,
    :math:`\\dot R = 2\\rho W^\\top W - W - W^\\top`, :math:`\\bar V` the inverse REML Fisher information
    (REML's under ML too, as ``mseSFH`` computes it).
    Under ML the bias of :math:`\\hat\\theta` is removed too: :math:`-b^\\top\\nabla g_1` with
    :math:`b = \\bar V h/2`, :math:`h_j = -\\mathrm{tr}(QX^\\top V^{-1}A_jV^{-1}X)`,
    :math:`\\partial g_1/\\partial\\theta_j = \\mathrm{diag}(A_j - 2GV^{-1}A_j + GV^{-1}A_jV^{-1}G)`.
    sae stops Fisher scoring at a relative change of 1e-4 by default; the fit here runs to ``tol``.
    Territories without a direct estimate (sae has none) are left out of :math:`V` and :math:`\\Psi`: their
    MSE is :math:`g_1 + g_2 + 2g_3` (:math:`g_4 = 0` there) with :math:`V^{-1}` the inverse over the sampled ones.

    Where the data do not determine :math:`\\rho` (its standard error from the inverse REML information above
    :data:`RHO_SE_MAX` = 1, half the width of its space), :math:`\\rho` is taken as known in :math:`g_3` and
    :math:`g_4`, as a parameter on its bound is (``mseSFH`` keeps it: its :math:`g_3` then reached a thousand
    times the sampling variance, :math:`\\partial G/\\partial\\rho` growing as :math:`(1-|\\rho|)^{-3}` near
    the ridge where :math:`\\sigma^2 \\to 0` and :math:`|\\rho| \\to 1`).
    Truncation (not in ``mseSFH``): :math:`g_1 - g_4` (and the ML term) estimates :math:`g_1(\\theta)`, which lies
    in :math:`[0, D_d]` for a sampled territory, since :math:`G - GV^{-1}G = (G^{-1} + \\Psi^{-1})^{-1}`, between
    0 and :math:`\\Psi` (the BLUP with :math:`\\beta` known beats the direct estimate), and in
    :math:`[0, \\infty)` for the others; the estimate is truncated to that range (the MSE is then
    :math:`g_2 + 2g_3`, or :math:`D_d + g_2 + 2g_3`). :math:`g_4` is a second-order Taylor term in
    :math:`\\hat\\theta`, proportional to :math:`\\sigma^2\\bar V_{\\rho\\rho}`: as :math:`\\sigma^2 \\to 0`,
    :math:`\\bar V_{\\rho\\rho}` grows as :math:`\\sigma^{-4}` (the data no longer determine :math:`\\rho`), so
    :math:`g_4` grows as :math:`\\sigma^{-2}` and, beyond its range of validity, made ``mseSFH``'s MSE negative
    or a thousand times the sampling variance. Where it stays in range the MSE is ``mseSFH``'s.

    Examples
    --------
    >>> import numpy as np
    >>> A = np.eye(6, k=1) + np.eye(6, k=-1)
    >>> X = np.column_stack([np.ones(6), np.arange(6.0)])
    >>> y = np.array([1.0, 1.4, 1.9, 2.9, 3.8, 5.3])
    >>> fit = fit_spatial_fh(y, np.full(6, 0.1), X, row_standardise(A))
    >>> fit.mse.shape
    (6,)
    """
    method = check_method(method)
    y = np.asarray(y, dtype=float).ravel()
    obs = np.isfinite(y)
    X = np.asarray(X, dtype=float)
    D = np.asarray(vardir, dtype=float).ravel()
    if X.ndim != 2 or len(X) != len(y) or len(D) != len(y):
        raise InputError(
            message(
                "the direct estimates, sampling variances and covariates do not match",
                where=where,
                expected=f"{len(y)} rows each",
                found=f"{len(D)} variances, covariates of shape {X.shape}",
            )
        )
    _, _, _, names = check_area_inputs(y[obs], D[obs], X[obs], names, where)
    if not np.isfinite(X).all():
        raise InputError(message("missing covariate values", where=where))
    D = np.where(obs, D, 0.0)
    m = len(y)
    W = check_proximity(neighbours, m, where, rho="rho")
    cov = SARCovariance(W)
    start = np.array([float(np.median(D[obs])), 0.5])  # sae's starting values
    fit = fit_blocks(
        y[None, :],
        X[None, :, :],
        np.diag(D)[None, :, :],
        cov,
        start,
        method=method,
        observed=obs[None, :],
        tol=tol,
        where=where,
    )
    sigma2, rho = fit.theta
    dG = cov.derivatives(fit.theta)
    info = information(fit, dG, "reml")  # mseSFH's information, REML's under ML too
    if "rho" not in fit.at_bound and inverse_information(fit, info)[1, 1] > RHO_SE_MAX**2:
        fit_mse = replace(fit, at_bound=fit.at_bound + ("rho",))  # rho not determined: taken as known in the MSE
    else:
        fit_mse = fit
    g1, g2, g3 = (g[0] for g in block_mse(fit_mse, dG, info))
    # Singh et al.'s bias term: second derivatives of G (G is linear in sigma2: G_ss = 0)
    C = cov.C(rho)
    dR = cov.dR(rho)
    CdRC = C @ dR @ C
    G_sr = -CdRC
    G_rr = 2.0 * sigma2 * (CdRC @ dR @ C - C @ cov.WtW @ C)
    Vbar = inverse_information(fit_mse, info)
    PsiVi = D[:, None] * fit.Vinv[0]
    inner = G_sr * (Vbar[0, 1] + Vbar[1, 0]) + G_rr * Vbar[1, 1]
    g4 = 0.5 * np.sum((PsiVi @ inner) * PsiVi, axis=1)
    mse = g1 + g2 + 2.0 * g3 - g4
    corrected = g1 - g4  # the bias-corrected estimate of g1(theta)
    if method == "ml":
        Vi, G, Q, Xs = fit.Vinv[0], fit.G, fit.coef_cov, fit.X[0]
        ViX = Vi @ Xs
        h = -np.array([np.sum(Q * (ViX.T @ A @ ViX)) for A in dG])  # -tr(Q X'Vi A Vi X), one per parameter
        b = Vbar @ h / 2.0
        GVi = G @ Vi
        grad = np.stack([np.diag(A) - 2.0 * np.sum(GVi * A, axis=1) + np.sum((GVi @ A @ Vi) * G, axis=1) for A in dG])
        mse = mse - b @ grad
        corrected = corrected - b @ grad
    # g1(theta) lies in [0, D_d] for a sampled territory: truncate its corrected estimate to that range
    top = np.where(obs, D, np.inf)
    mse = np.where(corrected < 0.0, g2 + 2.0 * g3, np.where(corrected > top, top + g2 + 2.0 * g3, mse))
    area = np.asarray(area if area is not None else np.arange(m)).astype(str)
    return BorrowFit(
        model="spatial",
        method=method,
        area=area,
        component=np.full(m, "", dtype=object).astype(str),
        in_sample=obs,
        direct=np.where(obs, y, np.nan),
        eblup=fit.eblup[0],
        synthetic=fit.synthetic[0],
        gamma=fit.gamma[0],
        mse=mse,
        g1=g1,
        g2=g2,
        g3=g3,
        g4=g4,
        names=fit.names,
        theta=fit.theta,
        info=fit.info,
        coef=fit.coef,
        coef_cov=fit.coef_cov,
        coef_names=names,
        loglike=fit.loglike,
        iterations=fit.iterations,
        at_bound=fit.at_bound,
        block=fit,
        covariance=cov,
    )
