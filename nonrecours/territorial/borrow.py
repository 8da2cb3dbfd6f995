"""The engine of the area-level models that borrow strength: a Gaussian linear mixed model in blocks.

Every model of issue 26 is, for blocks :math:`d = 1..m` (a territory, or one block of all territories)
of :math:`k` components each (years, rights, or territories),

.. math::  y_d = X_d \\beta + u_d + e_d,\\quad u_d \\sim N(0, G(\\theta)),\\quad e_d \\sim N(0, R_d),

independent between blocks, with :math:`R_d` the known sampling covariance and :math:`G(\\theta)` a
covariance shared by the blocks: an AR(1) over years plus a territory effect (Rao–Yu,
:mod:`.rao_yu`), a diagonal or AR(1) covariance between variables (multivariate Fay–Herriot,
:mod:`.multivariate`), a SAR covariance between territories (spatial Fay–Herriot, :mod:`.spatial`,
one block). The variance parameters :math:`\\theta` are fitted by REML or ML with Fisher scoring,
the EBLUP is :math:`X_d\\hat\\beta + G V_d^{-1}(y_d - X_d\\hat\\beta)` and its analytic MSE is
:math:`g_1 + g_2 + 2 g_3` (Prasad & Rao 1990; Das, Jiang & Rao 2004), all vectorised over the blocks
(stacks of :math:`k\\times k` matrices, no loop over territories).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

import numpy as np
import pandas as pd

from .._checks import check_choice
from .._frozen import freeze_arrays
from ..errors import ConvergenceError, InputError, message
from .fay_herriot import _check_design

__all__ = [
    "CovarianceModel",
    "BlockFit",
    "BorrowFit",
    "area_components_fit",
    "fit_blocks",
    "information",
    "inverse_information",
    "block_mse",
    "observed_blocks",
    "check_block_shapes",
    "METHODS",
]

_LOG2PI = float(np.log(2.0 * np.pi))

#: Successive steps within the objective's rounding after which a fit stops, converged (``fit_blocks``'s ``stall``):
#: on a flat ridge of the likelihood the parameters drift or cycle within that rounding and never meet ``tol`` (the
#: spatial model as :math:`\\sigma^2 \\to 0` with :math:`|\\rho| \\to 1`; Rao–Yu's :math:`\\rho` on 8 territories
#: and 2 years, where on one processor Newton's steps moved it by 1e-6 for 500 iterations with the objective flat
#: to its last digits, and on another met ``tol``).
STALL = 20

#: Variance estimators of the models that borrow strength.
METHODS: tuple[str, ...] = ("reml", "ml")


def check_method(method: str) -> str:
    """Check the variance estimator (``"reml"`` or ``"ml"``) and return it."""
    return str(check_choice("method", method, METHODS))


def check_area_inputs(y, vardir, X, names, where: str) -> tuple[np.ndarray, np.ndarray, np.ndarray, tuple[str, ...]]:
    """Direct estimates, sampling variances and covariates of one area-level fit, checked as Fay–Herriot's."""
    y = np.asarray(y, dtype=float).ravel()
    D = np.asarray(vardir, dtype=float).ravel()
    X = np.asarray(X, dtype=float)
    if X.ndim != 2 or len(X) != len(y) or len(D) != len(y):
        raise InputError(
            message(
                "the direct estimates, sampling variances and covariates do not match",
                where=where,
                expected=f"{len(y)} rows each",
                found=f"{len(D)} variances, covariates of shape {X.shape}",
            )
        )
    names = tuple(names) if names is not None else tuple(f"x{j}" for j in range(X.shape[1]))
    _check_design(y, D, X, names, where)
    return y, D, X, names


def check_block_shapes(
    y, S, X, where: str, *, dims: str = "m, T", what: str = "covariances", expected: str | None = None
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Direct estimates ``(m, T)``, their covariances ``(m, T, T)`` and covariates ``(m, T, p)`` of a model fitted
    by blocks, as float arrays, checked against each other (``dims`` names the two first axes in the message)."""
    y, S, X = (np.asarray(a, dtype=float) for a in (y, S, X))
    if y.ndim != 2 or S.shape != y.shape + (y.shape[1],) or X.ndim != 3 or X.shape[:2] != y.shape:
        last = dims.split(",")[-1].strip()
        raise InputError(
            message(
                f"the direct estimates, {what} and covariates do not match",
                where=where,
                expected=expected or f"shapes ({dims}), ({dims}, {last}) and ({dims}, p)",
                found=f"{y.shape}, {S.shape} and {X.shape}",
            )
        )
    return y, S, X


def observed_blocks(
    y: np.ndarray, X: np.ndarray, S: np.ndarray, in_sample, names: tuple[str, ...], where: str
) -> np.ndarray:
    """The components with a direct estimate (finite ``y``, in a territory of ``in_sample``), checked: the
    model's design on them (:func:`~.fay_herriot._check_design`), their covariances, every covariate."""
    _m, k, _p = X.shape
    obs = np.isfinite(y)
    if in_sample is not None:
        obs &= np.asarray(in_sample, dtype=bool)[:, None]
    _check_design(y[obs], np.diagonal(S, axis1=1, axis2=2)[obs], X[obs], names, where)
    rows = obs.any(axis=1)
    both = obs[rows, :, None] & obs[rows, None, :]
    check_covariances(np.where(both, S[rows], 0.0) + (~obs[rows])[:, :, None] * np.eye(k), where)
    if not np.isfinite(X).all():
        raise InputError(message("missing covariate values", where=where))
    return obs


def check_covariances(S: np.ndarray, where: str) -> None:
    """Sampling covariances: finite, symmetric and positive definite, block by block (one batched Cholesky)."""
    if not np.isfinite(S).all() or not np.allclose(S, np.swapaxes(S, 1, 2), rtol=1e-10, atol=0.0):
        raise InputError(
            message(
                "the sampling covariances must be finite and symmetric",
                where=where,
                hint="give each pair of estimates one covariance (a pair listed in both orders "
                "must carry the same value)",
            )
        )
    eig = np.linalg.eigvalsh(S)
    bad = eig[:, 0] <= 1e-12 * np.maximum(eig[:, -1], np.finfo(float).tiny)
    if bad.any():
        raise InputError(
            message(
                "sampling covariance matrices that are not positive definite",
                where=where,
                expected="a positive definite matrix for every territory",
                found=f"{int(bad.sum())} territories",
                hint="check the covariances file (a correlation above 1 in absolute value, or a variance of 0)",
            )
        )


class CovarianceModel(Protocol):
    """The covariance :math:`G(\\theta)` of the random effects of one block, and its derivatives.

    Attributes
    ----------
    names : tuple of str
        Names of the parameters :math:`\\theta`.
    lower, upper : ndarray
        Bounds of :math:`\\theta` (variances >= 0; correlations inside (-1, 1)).
    variance : ndarray of bool
        Which parameters are variances (their convergence scale is the sampling variances').
    """

    names: tuple[str, ...]
    lower: np.ndarray
    upper: np.ndarray
    variance: np.ndarray

    def matrix(self, theta: np.ndarray) -> np.ndarray:
        """:math:`G(\\theta)`, shape (k, k)."""

    def derivatives(self, theta: np.ndarray) -> np.ndarray:
        """:math:`\\partial G/\\partial\\theta_j`, shape (q, k, k)."""


@dataclass(frozen=True, eq=False)
class BlockFit:
    """A fitted block model (see the module docstring for the notation).

    Attributes
    ----------
    method : {"reml", "ml"}
    theta : ndarray, shape (q,)
        Variance parameters, named by ``names``.
    names : tuple of str
    coef, coef_cov : ndarray
        :math:`\\hat\\beta` and :math:`Q = (\\sum_d X_d^\\top V_d^{-1} X_d)^{-1}`.
    y, X, R : ndarray
        The data: (m, k), (m, k, p), (m, k, k).
    G : ndarray, shape (k, k)
    Vinv : ndarray, shape (m, k, k)
    info : ndarray, shape (q, q)
        Fisher information of :math:`\\theta` (REML or ML) at the estimate.
    eblup, synthetic : ndarray, shape (m, k)
    loglike : float
        Gaussian log-likelihood at the estimates, :math:`-\\frac12(N\\log 2\\pi + \\log|V| + r^\\top V^{-1} r)`.
    iterations : int
    at_bound : tuple of str
        Parameters that ended on a bound.
    observed : ndarray of bool, shape (m, k), or None
        Components with a direct estimate (None: all).
    """

    method: str
    theta: np.ndarray
    names: tuple[str, ...]
    coef: np.ndarray
    coef_cov: np.ndarray
    y: np.ndarray
    X: np.ndarray
    R: np.ndarray
    G: np.ndarray
    Vinv: np.ndarray
    info: np.ndarray
    eblup: np.ndarray
    synthetic: np.ndarray
    loglike: float
    iterations: int
    at_bound: tuple[str, ...]
    observed: np.ndarray | None = None

    def __post_init__(self) -> None:
        freeze_arrays(self)

    @property
    def both(self) -> np.ndarray | None:
        """True where both components of an entry of :math:`V_d` are observed (None: all are)."""
        return None if self.observed is None else self.observed[:, :, None] & self.observed[:, None, :]

    @property
    def params(self) -> dict[str, float]:
        """The variance parameters by name."""
        return {k: float(v) for k, v in zip(self.names, self.theta)}

    @property
    def gamma(self) -> np.ndarray:
        """Weight of each direct estimate in its own EBLUP: the diagonal of :math:`GV_d^{-1}`, shape (m, k)."""
        return np.einsum("ij,dji->di", self.G, self.Vinv)


@dataclass(frozen=True, eq=False)
class _State:
    """Everything at one value of :math:`\\theta` that the score, the information and the MSE use."""

    G: np.ndarray
    W: np.ndarray  # V_d^{-1}, (m, k, k)
    WX: np.ndarray  # (m, k, p)
    Q: np.ndarray  # (p, p)
    beta: np.ndarray  # (p,)
    resid: np.ndarray  # y - X beta, (m, k)
    logdet_V: float
    logdet_XWX: float
    quad: float  # r' V^-1 r

    def restricted(self, method: str) -> float:
        """The objective maximised (up to a constant): the REML or ML log-likelihood."""
        ll = -0.5 * (self.logdet_V + self.quad)
        return ll - 0.5 * self.logdet_XWX if method == "reml" else ll


def _state(y: np.ndarray, X: np.ndarray, R: np.ndarray, G: np.ndarray, both: np.ndarray | None = None) -> _State | None:
    """The state at :math:`G`, or None where :math:`V` or :math:`X^\\top V^{-1}X` is not positive definite.

    ``both`` (m, k, k), where some components are missing: True where both components of an entry are
    observed. :math:`V_d` is then :math:`V_{d,OO}` completed by the identity, whose inverse, with the missing
    rows and columns set to 0, is :math:`V_{d,OO}^{-1}` in place: every sum below runs over the observed
    components only, and :math:`GV_d^{-1}r_d` predicts the missing ones from them.
    """
    V = R + G[None, :, :]
    k = V.shape[-1]
    if both is not None:
        V = np.where(both, V, 0.0) + (~np.diagonal(both, axis1=1, axis2=2))[:, :, None] * np.eye(k)
    try:
        L = np.linalg.cholesky(V)
    except np.linalg.LinAlgError:
        return None
    Linv = np.linalg.solve(L, np.broadcast_to(np.eye(k), V.shape))
    W = np.swapaxes(Linv, -1, -2) @ Linv
    if both is not None:
        W = np.where(both, W, 0.0)
    WX = W @ X
    XWX = np.einsum("dkp,dkq->pq", X, WX)
    sign, logdet_XWX = np.linalg.slogdet(XWX)
    if sign <= 0:
        return None
    Q = np.linalg.inv(XWX)
    Q = 0.5 * (Q + Q.T)
    beta = Q @ np.einsum("dkp,dk->p", WX, y)
    resid = y - X @ beta
    quad = float(np.einsum("dk,dkl,dl->", resid, W, resid))
    logdet_V = float(2.0 * np.sum(np.log(np.diagonal(L, axis1=1, axis2=2))))
    return _State(G, W, WX, Q, beta, resid, logdet_V, float(logdet_XWX), quad)


def _score_info(st: _State, X: np.ndarray, dG: np.ndarray, method: str) -> tuple[np.ndarray, np.ndarray]:
    """Score and Fisher information of :math:`\\theta` (REML or ML).

    With :math:`A_j = \\partial G/\\partial\\theta_j` (the same in every block),
    :math:`P = V^{-1} - V^{-1}XQX^\\top V^{-1}` and :math:`Py = V^{-1}r`:
    REML :math:`s_j = -\\frac12\\mathrm{tr}(PA_j) + \\frac12 y^\\top PA_jPy`,
    :math:`F_{ij} = \\frac12\\mathrm{tr}(PA_iPA_j)`; ML the same with :math:`V^{-1}` in the traces.
    The traces of :math:`P` are expanded over the blocks:
    :math:`\\mathrm{tr}(PA) = \\sum_d \\mathrm{tr}(W_dA) - \\mathrm{tr}(QC_A)`,
    :math:`\\mathrm{tr}(PA_iPA_j) = \\sum_d\\mathrm{tr}(W_dA_iW_dA_j) - 2\\,\\mathrm{tr}(QE_{ij})
    + \\mathrm{tr}(QC_iQC_j)`,
    :math:`C_i = \\sum_d X_d^\\top W_dA_iW_dX_d`, :math:`E_{ij} = \\sum_d X_d^\\top W_dA_iW_dA_jW_dX_d`.
    """
    W, WX, Q = st.W, st.WX, st.Q
    Py = np.einsum("dkl,dl->dk", W, st.resid)
    WA = W[:, None] @ dG[None]  # (m, q, k, k)
    tr_WA = np.einsum("dqii->q", WA)
    quad = np.einsum("di,qij,dj->q", Py, dG, Py)
    T = np.einsum("dqik,drik->qr", WA, np.swapaxes(WA, -1, -2))
    if method == "ml":
        return 0.5 * quad - 0.5 * tr_WA, 0.5 * T
    AWX = dG[None] @ WX[:, None]  # A_j W X, (m, q, k, p)
    C = np.einsum("dkp,dqkr->qpr", WX, AWX)  # X'W A W X
    Z = W[:, None] @ AWX  # W A W X
    E = np.einsum("dikp,djkr->ijpr", AWX, Z)  # X'W A_i W A_j W X (A symmetric)
    s = 0.5 * quad - 0.5 * (tr_WA - np.einsum("pr,qrp->q", Q, C))
    QC = np.einsum("pr,qrs->qps", Q, C)
    F = 0.5 * (T - 2.0 * np.einsum("pr,ijrp->ij", Q, E) + np.einsum("iab,jba->ij", QC, QC))
    return s, 0.5 * (F + F.T)


def _observed_information(
    score, theta: np.ndarray, s: np.ndarray, free: np.ndarray, scale: np.ndarray, lower: np.ndarray, upper: np.ndarray
) -> np.ndarray | None:
    """Minus the Hessian of the objective on the ``free`` parameters, by forward differences of the analytic
    score (``q`` more evaluations); None where it is not positive definite (then Fisher scoring is used)."""
    q = free.size
    H = np.empty((q, q))
    for c, j in enumerate(free):  # a handful of variance parameters
        h = 1e-6 * max(abs(theta[j]), scale[j])
        if theta[j] + h > upper[j]:
            h = -h
        th = theta.copy()
        th[j] += h
        s_h = score(th)
        if s_h is None:
            return None
        H[:, c] = -(s_h[free] - s[free]) / h
    H = 0.5 * (H + H.T)
    try:
        np.linalg.cholesky(H)
    except np.linalg.LinAlgError:
        return None
    return H


def fit_blocks(
    y: np.ndarray,
    X: np.ndarray,
    R: np.ndarray,
    model: CovarianceModel,
    start: np.ndarray,
    *,
    method: str = "reml",
    observed: np.ndarray | None = None,
    tol: float = 1e-10,
    max_iter: int = 500,
    stall: int | None = STALL,
    where: str = "model",
) -> BlockFit:
    """Fit the block model by REML or ML (Fisher scoring with step halving inside the bounds).

    Parameters
    ----------
    y : ndarray, shape (m, k)
    X : ndarray, shape (m, k, p)
    R : ndarray, shape (m, k, k)
        Sampling covariances, symmetric positive definite.
    model : CovarianceModel
    start : ndarray, shape (q,)
        Starting value of :math:`\\theta`.
    method : {"reml", "ml"}
    observed : ndarray of bool, shape (m, k), optional
        Components with a direct estimate (default: all). The others (any value in ``y`` and ``R``) are
        left out of the likelihood and predicted: a block with none is predicted from the regression.
    tol : float
        Stop when a step changes every :math:`\\theta_j` by less than ``tol`` times its scale
        (the median sampling variance for variances, 1 for correlations).
    max_iter : int
    stall : int, optional
        Also stop (converged) after ``stall`` successive steps none of which raises the best objective
        :math:`\\ell` reached by more than its rounding, :math:`10^{-12}(1 + |\\ell|)`: on a flat ridge of the
        likelihood the parameters drift (or cycle) along it within that rounding and never meet ``tol`` (the
        spatial model as :math:`\\sigma^2 \\to 0`). Default :data:`STALL`; ``None``: ``tol`` alone.
    where : str
        What to name in error messages.

    Returns
    -------
    BlockFit

    Notes
    -----
    Newton steps :math:`\\theta \\leftarrow \\theta + H^{-1}s` on the observed information :math:`H` (forward
    differences of the analytic score :math:`s`), or Fisher scoring steps :math:`\\theta + F^{-1}s` (Rao &
    Molina 2015, section 5.2) where :math:`H` is not positive definite or its step does not help; the step
    is halved until the objective does not decrease and :math:`\\theta` stays within its bounds. A
    parameter on a bound whose score points outwards is held there (the step is solved on the others).
    The anchors (R ``sae``, ``sae2``, ``msae``) use Fisher scoring alone, with looser stopping rules: at an
    interior maximum all reach the same root, but Fisher scoring can circle a maximum without reaching it
    (few territories, a spatial correlation near 1), where Newton's steps converge quadratically.
    """
    m, k, _ = X.shape
    both = None
    if observed is not None and not observed.all():
        observed = np.asarray(observed, dtype=bool)
        both = observed[:, :, None] & observed[:, None, :]
        y, R = np.where(observed, y, 0.0), np.where(both, R, 0.0)
    else:
        observed = None
    lower, upper = np.asarray(model.lower, float), np.asarray(model.upper, float)
    diag = np.diagonal(R, axis1=1, axis2=2)
    scale = np.where(model.variance, float(np.median(diag if observed is None else diag[observed])), 1.0)
    theta = np.clip(np.asarray(start, float), lower, upper)
    st = _state(y, X, R, model.matrix(theta), both)
    if st is None:
        raise InputError(
            message(
                "the covariance of the direct estimates is not positive definite",
                where=where,
                hint="check the sampling covariances (each territory's matrix must be positive definite)",
            )
        )
    obj = st.restricted(method)

    def score(th: np.ndarray) -> np.ndarray | None:
        st_ = _state(y, X, R, model.matrix(th), both)
        return None if st_ is None else _score_info(st_, X, model.derivatives(th), method)[0]

    flat, best = 0, obj  # successive steps that did not raise the best objective beyond its rounding
    for it in range(1, max_iter + 1):  # noqa: B007 - the count is read after the loop
        s, F = _score_info(st, X, model.derivatives(theta), method)
        hold = ((theta <= lower) & (s < 0)) | ((theta >= upper) & (s > 0))
        free = np.flatnonzero(~hold)
        steps = []  # Newton on the observed information first, then Fisher scoring
        if free.size:
            H = _observed_information(score, theta, s, free, scale, lower, upper)
            if H is not None:
                steps.append(H)
            steps.append(F[np.ix_(free, free)])
        new, st_new, obj_new = theta, st, obj
        for info in steps:
            # least squares: a direction the data do not inform (rho when sigma2_u = 0) gets no step
            d = np.linalg.lstsq(info, s[free], rcond=1e-12)[0]
            step = np.zeros_like(theta)
            step[free] = d
            t = 1.0
            for _ in range(60):
                cand = np.clip(theta + t * step, lower, upper)
                st_c = _state(y, X, R, model.matrix(cand), both)
                if st_c is not None:
                    obj_c = st_c.restricted(method)
                    if obj_c >= obj - 1e-12 * (1.0 + abs(obj)):
                        new, st_new, obj_new = cand, st_c, obj_c
                        break
                t *= 0.5
            if new is not theta:
                break
        change = np.abs(new - theta) / scale
        flat = flat + 1 if obj_new - best <= 1e-12 * (1.0 + abs(best)) else 0
        best = max(best, obj_new)
        theta, st, obj = new, st_new, obj_new
        if np.all(change <= tol) or (stall is not None and flat >= stall):
            break
    else:
        raise ConvergenceError(
            message(
                "the variance parameters did not converge",
                where=where,
                expected=f"a change below {tol:g}",
                found=f"still moving after {max_iter} iterations",
                hint="use a simpler model or check the direct estimates",
            )
        )
    _, F = _score_info(st, X, model.derivatives(theta), method)
    G = st.G
    WR = np.einsum("dkl,dl->dk", st.W, st.resid)
    synthetic = X @ st.beta
    eblup = synthetic + WR @ G.T
    N = m * k if observed is None else int(observed.sum())
    loglike = -0.5 * (N * _LOG2PI + st.logdet_V + st.quad)
    at_bound = tuple(n for n, t_, lo, hi in zip(model.names, theta, lower, upper) if t_ <= lo or t_ >= hi)
    return BlockFit(
        method=method,
        theta=theta,
        names=tuple(model.names),
        coef=st.beta,
        coef_cov=st.Q,
        y=y,
        X=X,
        R=R,
        G=G,
        Vinv=st.W,
        info=F,
        eblup=eblup,
        synthetic=synthetic,
        loglike=float(loglike),
        iterations=it,
        at_bound=at_bound,
        observed=observed,
    )


def information(fit: BlockFit, dG: np.ndarray, method: str) -> np.ndarray:
    """Fisher information of :math:`\\theta` at the fit's estimate, REML or ML whatever the fit's method
    (``sae``'s ``mseSFH`` uses the REML one for ML fits too)."""
    st = _state(fit.y, fit.X, fit.R, fit.G, fit.both)
    assert st is not None  # the fit's own V
    return _score_info(st, fit.X, dG, method)[1]


def inverse_information(fit: BlockFit, info: np.ndarray | None = None) -> np.ndarray:
    """:math:`\\bar V`, the inverse of the information of the parameters off their bounds (0 for the others).

    A parameter that ended on a bound is taken as known (its row and column of :math:`\\bar V` are 0), and a
    direction the information does not determine (the autocorrelation once its variance is 0) is dropped by
    a pseudo-inverse of the information scaled to unit diagonal.
    """
    F = fit.info if info is None else info
    free = np.array([n not in fit.at_bound for n in fit.names])
    Vbar = np.zeros_like(F)
    idx = np.flatnonzero(free)
    if idx.size:
        sub = F[np.ix_(idx, idx)]
        d = np.sqrt(np.clip(np.diag(sub), np.finfo(float).tiny, None))
        Vbar[np.ix_(idx, idx)] = np.linalg.pinv(sub / np.outer(d, d), rcond=1e-10, hermitian=True) / np.outer(d, d)
    return Vbar


def block_mse(
    fit: BlockFit, dG: np.ndarray, info: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The components :math:`g_1, g_2, g_3` of the analytic MSE of every EBLUP, each of shape (m, k).

    Parameters
    ----------
    fit : BlockFit
    dG : ndarray, shape (q, k, k)
        :math:`\\partial G/\\partial\\theta_j` at the estimate.
    info : ndarray, shape (q, q), optional
        The information whose inverse is :math:`\\bar V` (default: the fit's own).

    Returns
    -------
    g1, g2, g3 : ndarray

    Notes
    -----
    For component :math:`a` of block :math:`d`, with :math:`W_d = V_d^{-1}`, :math:`e_a` the unit vector and
    :math:`\\bar V = F^{-1}` the inverse Fisher information of :math:`\\hat\\theta`:

    .. math:: g_1 = e_a^\\top(G - GW_dG)e_a,\\quad
              g_2 = e_a^\\top(X_d - GW_dX_d)\\,Q\\,(X_d - GW_dX_d)^\\top e_a,\\quad
              g_3 = \\mathrm{tr}\\big(L_a V_d L_a^\\top \\bar V\\big),

    where row :math:`j` of :math:`L_a` is :math:`e_a^\\top(A_jW_d - GW_dA_jW_d)`, the derivative of the
    BLUP weights :math:`e_a^\\top GW_d` in :math:`\\theta_j` (Prasad & Rao 1990; Das, Jiang & Rao 2004;
    Rao & Molina 2015, section 8.3; as in ``sae2``'s ``eblupRY``, ``msae``'s ``eblupMFH*`` and ``sae``'s
    ``mseSFH``). The MSE estimator is :math:`g_1 + g_2 + 2g_3` (REML). A parameter on a bound is taken as
    known in :math:`g_3` (:func:`inverse_information`); the anchors keep theirs just inside the bound, so
    that there they differ.
    """
    G, W, X, Q = fit.G, fit.Vinv, fit.X, fit.coef_cov
    GW = G[None] @ W
    g1 = np.diag(G)[None, :] - np.einsum("dij,ji->di", GW, G)
    Dm = X - GW @ X
    g2 = np.einsum("dkp,pr,dkr->dk", Dm, Q, Dm)
    AW = dG[None] @ W[:, None]
    L = AW - GW[:, None] @ AW  # (m, q, k, k)
    V = fit.R + G[None]
    LV = L @ V[:, None]
    Vbar = inverse_information(fit, info)
    g3 = np.einsum("ij,dial,djal->da", Vbar, LV, L)
    return g1, g2, g3


@dataclass(frozen=True, eq=False)
class BorrowFit:
    """EBLUPs and analytic MSEs of a model that borrows strength: one row per area and component.

    Attributes
    ----------
    model : {"spatial", "rao-yu", "mfh1", "mfh2", "spatio-temporal"}
    method : {"reml", "ml"}
    area : ndarray of str
        Territory of each row.
    component : ndarray of str
        Year or right of each row (empty for the spatial model: one right and year per fit).
    in_sample : ndarray of bool
    direct, eblup, synthetic : ndarray
        Direct estimate (NaN out of sample), EBLUP (the synthetic value out of sample) and :math:`x^\\top\\hat\\beta`.
    gamma : ndarray
        Weight of the territory's own direct estimate in its EBLUP, :math:`(\\hat G\\hat V_d^{-1})_{aa}` (the
        Fay–Herriot :math:`\\hat\\gamma_d` when nothing is borrowed; 0 out of sample).
    mse, g1, g2, g3, g4 : ndarray
        Analytic MSE and its components (``g4`` the model's extra term, 0 where it has none).
    names : tuple of str
    theta : ndarray
        Variance parameters (``names``): variances, AR or spatial correlation.
    info : ndarray
        Their Fisher information (REML or ML).
    coef, coef_cov : ndarray
    coef_names : tuple of str
    loglike : float
    iterations : int
    at_bound : tuple of str
        Parameters that ended on a bound of their range.
    block, covariance : BlockFit and CovarianceModel, or None
        The block fit and its covariance model, whose rows are those of this fit (block-major): what the
        parametric bootstrap refits (:func:`~.borrow_bootstrap.bootstrap_borrow_mse`); None where the rows
        were reordered or the fit is univariate.
    mse_kind : {"analytic", "bootstrap"}
    replicates : int
        Bootstrap replicates behind ``mse`` (0 for the analytic MSE).
    """

    model: str
    method: str
    area: np.ndarray
    component: np.ndarray
    in_sample: np.ndarray
    direct: np.ndarray
    eblup: np.ndarray
    synthetic: np.ndarray
    gamma: np.ndarray
    mse: np.ndarray
    g1: np.ndarray
    g2: np.ndarray
    g3: np.ndarray
    g4: np.ndarray
    names: tuple[str, ...]
    theta: np.ndarray
    info: np.ndarray
    coef: np.ndarray
    coef_cov: np.ndarray
    coef_names: tuple[str, ...]
    loglike: float
    iterations: int
    at_bound: tuple[str, ...]
    block: BlockFit | None = field(default=None, repr=False)
    covariance: CovarianceModel | None = field(default=None, repr=False)
    mse_kind: str = "analytic"
    replicates: int = 0

    def __post_init__(self) -> None:
        freeze_arrays(self)

    @property
    def params(self) -> dict[str, float]:
        """The variance parameters by name."""
        return {k: float(v) for k, v in zip(self.names, self.theta)}

    def to_frame(self) -> pd.DataFrame:
        """One row per area and component: ``area``, ``component``, ``in_sample``, ``direct``, ``eblup``,
        ``synthetic``, ``gamma``, ``mse``, ``g1``..``g4``."""
        return pd.DataFrame(
            {
                "area": self.area,
                "component": self.component,
                "in_sample": self.in_sample,
                "direct": self.direct,
                "eblup": self.eblup,
                "synthetic": self.synthetic,
                "gamma": self.gamma,
                "mse": self.mse,
                "g1": self.g1,
                "g2": self.g2,
                "g3": self.g3,
                "g4": self.g4,
            }
        )


def area_components_fit(
    fit: BlockFit,
    dG: np.ndarray,
    *,
    model: str,
    y: np.ndarray,
    area: np.ndarray,
    components: np.ndarray,
    observed: np.ndarray,
    coef_names: tuple[str, ...],
    covariance: CovarianceModel | None = None,
) -> BorrowFit:
    """The :class:`BorrowFit` of a block fit whose blocks are areas and whose rows are components (years of
    Rao–Yu, rights or years of the multivariate model): rows area by area, MSE ``g1 + g2 + 2 g3``
    (:func:`block_mse` with the derivatives ``dG`` of the covariance model at the estimate), no ``g4``; ``y`` the
    direct estimates (m, k), published where ``observed``; ``covariance`` the model, kept for the bootstrap."""
    g1, g2, g3 = block_mse(fit, dG)
    m, k = fit.eblup.shape
    return BorrowFit(
        model=model,
        method=fit.method,
        area=np.repeat(area, k),
        component=np.tile(components, m),
        in_sample=observed.ravel(),
        direct=np.where(observed, y, np.nan).ravel(),
        eblup=fit.eblup.ravel(),
        synthetic=fit.synthetic.ravel(),
        gamma=fit.gamma.ravel(),
        mse=(g1 + g2 + 2.0 * g3).ravel(),
        g1=g1.ravel(),
        g2=g2.ravel(),
        g3=g3.ravel(),
        g4=np.zeros(m * k),
        names=fit.names,
        theta=fit.theta,
        info=fit.info,
        coef=fit.coef,
        coef_cov=fit.coef_cov,
        coef_names=coef_names,
        loglike=fit.loglike,
        iterations=fit.iterations,
        at_bound=fit.at_bound,
        block=fit,
        covariance=covariance,
    )
