"""Logit-normal mixed model with a random intercept per area: maximum likelihood by Laplace and AGQ.

The model, for binary outcomes grouped in cells :math:`c` (units of one area
sharing one covariate vector), with :math:`y_c` successes out of :math:`n_c`:

.. math:: y_c \\mid u_{a(c)} \\sim \\mathrm{Bin}(n_c, p_c),\\quad
          \\mathrm{logit}\\, p_c = x_c^\\top \\beta + u_{a(c)},\\quad u_a \\sim N(0, \\sigma^2).

The log-likelihood of area :math:`a` is :math:`\\log \\int e^{g_a(u)}\\,du - \\tfrac12\\log(2\\pi\\sigma^2)`
with :math:`g_a(u) = \\sum_{c \\in a} [y_c \\eta_c - n_c \\log(1 + e^{\\eta_c})] - u^2/(2\\sigma^2)`
(Bernoulli scale: no binomial coefficients, as R's ``lme4::glmer`` on 0/1 data).
The integral is approximated by adaptive Gauss–Hermite quadrature centred on
the conditional mode :math:`\\hat u_a` and scaled by :math:`H_a^{-1/2}`,
:math:`H_a = -g_a''(\\hat u_a)`; one node is the Laplace approximation
(Pinheiro & Bates 1995; Bates et al. 2015, lme4). Everything is vectorised
over areas (sums by a sparse cell-to-area matrix) and over ``B`` data sets
sharing cells and covariates, which is what the parametric bootstrap needs.
The gradient is analytic (the derivative of the quadrature formula, nodes
included); the Hessian is a forward difference of it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import sparse
from scipy.special import expit, log_expit

from ..errors import ConvergenceError, InputError, message

__all__ = ["GLMMFit", "fit_glmm", "fit_glmm_many", "posterior_nodes", "prior_nodes"]

_TAU_MIN, _TAU_MAX = -20.0, 10.0  # bounds of log(sigma^2): sigma below 5e-5 is reported as the boundary 0
_JUMP = 14.0  # within this of its bound (sigma < 0.05), a parameter may jump to the bound


def _gh(k: int) -> tuple[np.ndarray, np.ndarray]:
    """Gauss–Hermite nodes and log-weights for :math:`\\int f(z) e^{-z^2/2} dz` (weights sum to sqrt(2 pi))."""
    z, w = np.polynomial.hermite_e.hermegauss(int(k))
    return z, np.log(w)


@dataclass(frozen=True)
class _Cells:
    """Cells of a data set: area index, trials, design matrix and the cell-to-area summing matrix."""

    area: np.ndarray
    n: np.ndarray
    X: np.ndarray
    n_areas: int
    ST: sparse.csr_matrix  # (A, C): ST[a(c), c] = 1

    @classmethod
    def build(cls, area: np.ndarray, n: np.ndarray, X: np.ndarray, n_areas: int) -> _Cells:
        C = len(area)
        ST = sparse.csr_matrix((np.ones(C), (area, np.arange(C))), shape=(n_areas, C))
        return cls(area=np.asarray(area), n=np.asarray(n, float), X=np.asarray(X, float), n_areas=n_areas, ST=ST)

    def sum(self, v: np.ndarray) -> np.ndarray:
        """Sum a (B, C) array over the cells of each area: (B, A)."""
        return (self.ST @ v.T).T


def _modes(
    cells: _Cells,
    Y: np.ndarray,
    eta0: np.ndarray,
    sig2: np.ndarray,
    u0: np.ndarray | None,
    tol: float = 1e-11,
    max_iter: int = 100,
) -> tuple[np.ndarray, np.ndarray]:
    """Conditional modes :math:`\\hat u` (B, A) and :math:`H = -g''(\\hat u)` by damped Newton, vectorised."""
    B = Y.shape[0]
    u = np.zeros((B, cells.n_areas)) if u0 is None else u0.copy()
    inv = 1.0 / sig2[:, None]
    for _ in range(max_iter):
        p = expit(eta0 + u[:, cells.area])
        g1 = cells.sum(Y - cells.n * p) - u * inv
        H = cells.sum(cells.n * p * (1 - p)) + inv
        step = np.clip(g1 / H, -2.0, 2.0)
        u += step
        if np.max(np.abs(step), initial=0.0) < tol:
            break
    else:  # pragma: no cover - the 1-d problem is strictly concave
        raise ConvergenceError(
            message(
                "the conditional modes of the random effects did not converge",
                where="logit-normal model",
                hint="check for areas with extreme outcomes",
            )
        )
    p = expit(eta0 + u[:, cells.area])
    H = cells.sum(cells.n * p * (1 - p)) + inv
    return u, H


def _loglik(
    theta: np.ndarray, cells: _Cells, Y: np.ndarray, nagq: int, u0: np.ndarray | None = None, grad: bool = True
) -> tuple[np.ndarray, np.ndarray | None, np.ndarray]:
    """Approximate log-likelihood (B,), its gradient (B, q) in (beta, log sigma^2), and the modes (B, A)."""
    p_ = cells.X.shape[1]
    beta, tau = theta[:, :p_], np.clip(theta[:, p_], _TAU_MIN, _TAU_MAX)
    sig2 = np.exp(tau)
    eta0 = beta @ cells.X.T  # (B, C)
    u, H = _modes(cells, Y, eta0, sig2, u0)
    z, logw = _gh(nagq)
    s = 1.0 / np.sqrt(H)  # (B, A)
    uk = u[:, :, None] + s[:, :, None] * z  # (B, A, K)
    eta = eta0[:, :, None] + uk[:, cells.area, :]  # (B, C, K)
    Bn, C, K = eta.shape
    term = Y[:, :, None] * eta + cells.n[:, None] * log_expit(-eta)  # y eta - n log(1 + e^eta)
    g = cells.sum(term.transpose(0, 2, 1).reshape(Bn * K, C)).reshape(Bn, K, -1).transpose(0, 2, 1)
    g = g - uk**2 / (2 * sig2[:, None, None])
    lk = logw + g + z**2 / 2  # (B, A, K)
    mx = lk.max(axis=2, keepdims=True)
    ew = np.exp(lk - mx)
    tot = ew.sum(axis=2, keepdims=True)
    ll_a = np.log(s) + (mx + np.log(tot))[:, :, 0] - 0.5 * np.log(2 * np.pi * sig2)[:, None]
    ll = ll_a.sum(axis=1)
    if not grad:
        return ll, None, u
    pi = ew / tot  # posterior weights of the nodes
    pk = expit(eta)
    resid = Y[:, :, None] - cells.n[:, None] * pk  # (B, C, K)
    gp = cells.sum(resid.transpose(0, 2, 1).reshape(Bn * K, C)).reshape(Bn, K, -1).transpose(0, 2, 1)
    gp = gp - uk / sig2[:, None, None]  # g'(u_k)
    E1 = np.sum(pi * gp, axis=2)
    E2 = np.sum(pi * gp * z, axis=2)
    # derivatives of the mode and of H at the mode
    pm = expit(eta0 + u[:, cells.area])
    w = cells.n * pm * (1 - pm)
    w1 = w * (1 - 2 * pm)
    a = _area_x(cells, w)  # (B, A, p)
    c1 = cells.sum(w1)  # (B, A)
    du_db = -a / H[:, :, None]
    du_dt = u / (sig2[:, None] * H)
    dH_db = _area_x(cells, w1) + c1[:, :, None] * du_db
    dH_dt = -1.0 / sig2[:, None] + c1 * du_dt
    dls_db = -0.5 * dH_db / H[:, :, None]  # d log s
    dls_dt = -0.5 * dH_dt / H
    # d/dbeta of g at the nodes, summed over areas: sum_c x_c sum_k pi_{a(c)k} resid_ck
    pic = pi[:, cells.area, :]  # (B, C, K)
    gb = np.sum(pic * resid, axis=2) @ cells.X  # (B, p)
    gt = np.sum(pi * uk**2, axis=2) / (2 * sig2[:, None])  # (B, A)
    sE2 = s * E2
    grad_b = gb + np.sum(dls_db + E1[:, :, None] * du_db + sE2[:, :, None] * dls_db, axis=1)
    grad_t = np.sum(dls_dt + gt + E1 * du_dt + sE2 * dls_dt - 0.5, axis=1)
    return ll, np.column_stack([grad_b, grad_t]), u


def _area_x(cells: _Cells, w: np.ndarray) -> np.ndarray:
    """:math:`\\sum_{c \\in a} w_c x_c` for every area: (B, C) -> (B, A, p)."""
    wT = np.ascontiguousarray(w.T)  # (C, B)
    return np.stack([cells.ST @ (wT * x[:, None]) for x in cells.X.T], axis=-1).transpose(1, 0, 2)


def _hessian(theta: np.ndarray, g: np.ndarray, fun, h: float = 1e-6) -> np.ndarray:
    """Symmetrised forward-difference Hessian of the analytic gradient: (B, q, q)."""
    B, q = theta.shape
    Hs = np.empty((B, q, q))
    for j in range(q):  # q = number of parameters (a handful), not areas
        step = h * np.maximum(1.0, np.abs(theta[:, j]))
        t = theta.copy()
        t[:, j] += step
        Hs[:, :, j] = (fun(t)[1] - g) / step[:, None]
    return 0.5 * (Hs + Hs.transpose(0, 2, 1))


def _maximise(
    theta: np.ndarray,
    fun,
    *,
    tol: float = 1e-10,
    ftol: float = 0.0,
    max_iter: int = 100,
    hessian0: np.ndarray | None = None,
    lower: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Vectorised damped Newton (or quasi-Newton) ascent of ``fun`` from each row of ``theta``.

    ``fun(theta) -> (f (B,), g (B, q))``. Without ``hessian0`` each step uses a
    forward-difference Hessian of the analytic gradient (Newton); with it, that
    matrix (q, q) starts BFGS updates, one evaluation per step (used by the
    bootstrap, whose fits start from the original one). Returns the maxima, the
    last Hessians, the values, the iteration counts and whether each row
    converged. Each row stops on its own: when a step changes no parameter
    by more than ``tol`` relative, or gains less than ``ftol`` in ``f``. ``lower`` (q,) bounds the parameters
    from below (a row pressed on its bound stops when the other coordinates stop moving).
    """
    theta = theta.copy()
    B, q = theta.shape
    f, g = fun(theta)
    newton = hessian0 is None
    if newton:
        Hs = _hessian(theta, g, fun)
    else:
        H0 = np.array(hessian0, dtype=float)
        d = np.diag(H0)
        weak = np.abs(d) < 1e-8 * np.abs(d).max()  # e.g. log sigma^2 on its bound: a unit curvature instead
        H0[weak, :] = 0.0
        H0[:, weak] = 0.0
        H0[weak, weak] = -1.0
        Hs = np.broadcast_to(H0, (B, q, q)).copy()
    its = np.zeros(B, int)
    todo = np.ones(B, bool)
    for k in range(max_iter):
        idx = np.flatnonzero(todo)
        if idx.size == 0:
            break
        sub = lambda t, idx=idx: fun(t, idx)  # noqa: E731
        if k and newton:
            Hs[idx] = _hessian(theta[idx], g[idx], sub)
        g_old = g[idx].copy()
        H = Hs[idx].copy()
        gi = g[idx].copy()
        if lower is not None:  # active set: a coordinate on its bound, pushed against it, stays there
            pinned = (theta[idx] <= lower) & (gi <= 0)
            gi[pinned] = 0.0
            H[np.repeat(pinned[:, :, None], q, axis=2) | np.repeat(pinned[:, None, :], q, axis=1)] = 0.0
            H[:, np.arange(q), np.arange(q)] = np.where(pinned, -1.0, H[:, np.arange(q), np.arange(q)])
        # a negative definite matrix for an ascent direction: shift the spectrum where needed
        ev = np.linalg.eigvalsh(H)
        shift = np.where(ev[:, -1] > -1e-8 * np.abs(ev[:, 0]), ev[:, -1] + 1e-6 * np.abs(ev[:, 0]) + 1e-8, 0.0)
        step = -np.linalg.solve(H - shift[:, None, None] * np.eye(q), gi[:, :, None])[:, :, 0]
        its[idx] += 1
        lam = np.ones(idx.size)
        new_f = np.full(idx.size, -np.inf)
        new_g = np.zeros((idx.size, q))
        pend = np.ones(idx.size, bool)
        for _ in range(40):
            j = np.flatnonzero(pend)
            t = theta[idx[j]] + lam[j, None] * step[j]
            if lower is not None:
                t = np.maximum(t, lower)
            fj, gj = fun(t, idx[j])
            ok = np.isfinite(fj) & (fj >= f[idx[j]] - 1e-12 * np.abs(f[idx[j]]))
            new_f[j[ok]], new_g[j[ok]] = fj[ok], gj[ok]
            pend[j[ok]] = False
            lam[j[~ok]] *= 0.5
            if not pend.any():
                break
        lam[pend] = 0.0
        moved = lam[:, None] * step
        if lower is not None:
            moved = np.maximum(theta[idx] + moved, lower) - theta[idx]
        theta[idx] += moved
        f[idx] = np.where(pend, f[idx], new_f)
        g[idx] = np.where(pend[:, None], g[idx], new_g)
        if lower is not None:
            # heading for a bound (the likelihood flattens there, so Newton's steps shrink): try the bound itself
            # and keep it when the log-likelihood loses less than 1e-6
            near = np.flatnonzero(
                (moved < 0).any(axis=1) & (theta[idx] < lower + _JUMP).any(axis=1) & (theta[idx] > lower).any(axis=1)
            )
            if near.size:
                t = np.where(theta[idx[near]] < lower + _JUMP, lower, theta[idx[near]])
                fj, gj = fun(t, idx[near])
                ok = np.isfinite(fj) & (fj >= f[idx[near]] - 1e-6)
                jumped = idx[near[ok]]
                moved[near[ok]] = t[ok] - theta[jumped]
                theta[jumped], f[jumped], g[jumped] = t[ok], fj[ok], gj[ok]
        if not newton:  # BFGS update of the (negative definite) Hessian approximation
            sv, yv = moved, g[idx] - g_old
            sy = np.einsum("bi,bi->b", sv, yv)
            Hsv = np.einsum("bij,bj->bi", Hs[idx], sv)
            sHs = np.einsum("bi,bi->b", sv, Hsv)
            ok = (sy < -1e-12 * np.sqrt(np.einsum("bi,bi->b", sv, sv) * np.einsum("bi,bi->b", yv, yv))) & (sHs < 0)
            upd = (
                yv[:, :, None] * yv[:, None, :] / np.where(ok, sy, 1.0)[:, None, None]
                - Hsv[:, :, None] * Hsv[:, None, :] / np.where(ok, sHs, -1.0)[:, None, None]
            )
            Hs[idx[ok]] += upd[ok]
        small = np.max(np.abs(moved) / (1.0 + np.abs(theta[idx])), axis=1) < tol
        small |= np.abs(np.einsum("bi,bi->b", g_old, moved)) < ftol
        todo[idx[small | pend]] = False
    return theta, Hs, f, its, ~todo


@dataclass(frozen=True)
class GLMMFit:
    """A fitted logit-normal random-intercept model.

    Attributes
    ----------
    coef : ndarray, shape (p,)
        Fixed effects :math:`\\hat\\beta`.
    sigma : float
        Standard deviation :math:`\\hat\\sigma` of the area effects.
    coef_cov : ndarray, shape (p, p)
        Inverse observed information of :math:`\\beta` (from the joint Hessian in :math:`(\\beta, \\log\\sigma^2)`).
    theta_cov : ndarray, shape (p + 1, p + 1)
        Inverse observed information of :math:`(\\beta, \\log\\sigma^2)`.
    hessian : ndarray, shape (p + 1, p + 1)
        Hessian of the log-likelihood at the estimates, in :math:`(\\beta, \\log\\sigma^2)`.
    loglike : float
        Approximate log-likelihood (Bernoulli scale), as ``logLik`` of ``lme4::glmer``.
    modes : ndarray, shape (A,)
        Conditional modes :math:`\\hat u_a` of the area effects (``ranef`` of lme4).
    nagq : int
        Quadrature nodes (1 = Laplace).
    adjusted : bool
        Fitted by the adjusted likelihood :math:`\\sigma^2 L`.
    iterations : int
    coef_names : tuple of str
    """

    coef: np.ndarray
    sigma: float
    coef_cov: np.ndarray
    theta_cov: np.ndarray
    hessian: np.ndarray
    loglike: float
    modes: np.ndarray
    nagq: int
    iterations: int
    adjusted: bool
    coef_names: tuple[str, ...]

    @property
    def theta(self) -> np.ndarray:
        """Parameters on the optimiser's scale: :math:`(\\beta, \\log\\sigma^2)`."""
        return np.append(self.coef, max(2 * np.log(max(self.sigma, 1e-300)), _TAU_MIN))


def _check(y: np.ndarray, n: np.ndarray, X: np.ndarray, area: np.ndarray, n_areas: int, where: str) -> None:
    if not (np.all(n > 0) and np.all((y >= 0) & (y <= n))):
        raise InputError(message("cell counts must satisfy 0 <= successes <= trials and trials > 0", where=where))
    if not np.isfinite(X).all():
        raise InputError(message("missing or infinite covariate values", where=where))
    if area.min(initial=0) < 0 or area.max(initial=0) >= n_areas:
        raise InputError(message("area index out of range", where=where))
    if np.linalg.matrix_rank(X) < X.shape[1]:
        raise InputError(
            message(
                "collinear covariates: the design matrix is not of full column rank",
                where=where,
                hint="drop a covariate, or merge categories that no sampled unit has",
            )
        )


def _start(y: np.ndarray, n: np.ndarray, X: np.ndarray) -> np.ndarray:
    """Logistic regression without area effects by IRLS: the starting fixed effects."""
    beta = np.zeros(X.shape[1])
    beta[0] = np.log((y.sum() + 0.5) / (n.sum() - y.sum() + 0.5))
    for _ in range(50):
        p = expit(X @ beta)
        w = n * p * (1 - p) + 1e-12
        step = np.linalg.solve((X * w[:, None]).T @ X, X.T @ (y - n * p))
        beta += np.clip(step, -5, 5)
        if np.max(np.abs(step)) < 1e-10:
            break
    return beta


def fit_glmm(
    y: np.ndarray,
    n: np.ndarray,
    X: np.ndarray,
    area: np.ndarray,
    n_areas: int | None = None,
    *,
    nagq: int = 1,
    names: tuple[str, ...] | None = None,
    tol: float = 1e-10,
    adjusted: bool = False,
    where: str = "logit-normal model",
) -> GLMMFit:
    """Maximum likelihood fit of a logit-normal random-intercept model by Laplace or adaptive quadrature.

    Parameters
    ----------
    y, n : array_like, shape (C,)
        Successes and trials of each cell (a unit is a cell with ``n = 1``).
    X : array_like, shape (C, p)
        Fixed-effects design, including the intercept column.
    area : array_like of int, shape (C,)
        Area index ``0..n_areas-1`` of each cell.
    n_areas : int, optional
        Default ``area.max() + 1``.
    nagq : int
        Number of adaptive Gauss–Hermite nodes; 1 is the Laplace approximation.
    names : tuple of str, optional
        Names of the columns of ``X``.
    tol : float
        Relative change of the parameters at which Newton's method stops.
    adjusted : bool
        Maximise :math:`\\sigma^2 L(\\beta, \\sigma^2)` instead of the likelihood: the
        adjusted likelihood of Li & Lahiri (2010) carried over to this model, whose
        :math:`\\hat\\sigma` is never 0 (the maximum likelihood one is 0 when the
        covariates explain the areas' differences within sampling noise, and its
        bootstrap MSE then misses the area effects).
    where : str
        What to name in error messages.

    Returns
    -------
    GLMMFit

    Notes
    -----
    Maximises :math:`\\sum_a \\{\\log \\hat s_a + \\log\\sum_k w_k e^{g_a(\\hat u_a + \\hat s_a z_k) + z_k^2/2}
    - \\tfrac12\\log(2\\pi\\sigma^2)\\}` over :math:`(\\beta, \\log\\sigma^2)`, with
    :math:`(z_k, w_k)` the Gauss–Hermite rule for the weight :math:`e^{-z^2/2}` and
    :math:`\\hat s_a = H_a^{-1/2}`; with one node it is the Laplace approximation
    :math:`g_a(\\hat u_a) - \\tfrac12\\log(\\sigma^2 H_a)`. The same criterion as
    ``lme4::glmer(family = binomial, nAGQ = nagq)`` (Bates, Mächler, Bolker &
    Walker 2015), maximised by Newton's method with an analytic gradient.

    Examples
    --------
    >>> rng = np.random.default_rng(1)
    >>> area = np.repeat(np.arange(30), 20)
    >>> y = rng.binomial(1, 1 / (1 + np.exp(-rng.normal(0, 1, 30)[area])))
    >>> fit = fit_glmm(y, np.ones(600), np.ones((600, 1)), area)
    >>> round(fit.sigma, 1) > 0
    True
    """
    y, n, X = np.asarray(y, float), np.asarray(n, float), np.asarray(X, float)
    area = np.asarray(area, dtype=np.int64)
    n_areas = int(area.max() + 1) if n_areas is None else int(n_areas)
    _check(y, n, X, area, n_areas, where)
    cells = _Cells.build(area, n, X, n_areas)
    names = tuple(names) if names is not None else tuple(f"x{j}" for j in range(X.shape[1]))
    theta0 = np.append(_start(y, n, X), np.log(0.25))[None, :]
    theta, Hs, f, its, ok = fit_glmm_many(y[None, :], cells, theta0, nagq=nagq, tol=tol, adjusted=adjusted)
    if not ok[0]:
        raise ConvergenceError(
            message(
                "the logit-normal model did not converge",
                where=where,
                found=f"parameters still moving after {its[0]} Newton iterations",
                hint="drop covariates with categories that few sampled units have",
            )
        )
    ll, _, u = _loglik(theta, cells, y[None, :], nagq, grad=False)
    f, u = ll, u[0]  # the log-likelihood itself, without an adjustment factor
    cov = np.linalg.pinv(-Hs[0])
    p = X.shape[1]
    sigma = 0.0 if theta[0, p] <= _TAU_MIN else float(np.exp(0.5 * theta[0, p]))
    return GLMMFit(
        coef=theta[0, :p],
        sigma=sigma,
        coef_cov=cov[:p, :p],
        theta_cov=cov,
        hessian=Hs[0],
        loglike=float(f[0]),
        modes=u,
        nagq=int(nagq),
        iterations=int(its[0]),
        coef_names=names,
        adjusted=bool(adjusted),
    )


def fit_glmm_many(
    Y: np.ndarray,
    cells: _Cells,
    theta0: np.ndarray,
    *,
    nagq: int = 1,
    tol: float = 1e-10,
    ftol: float = 0.0,
    max_iter: int = 100,
    hessian0: np.ndarray | None = None,
    adjusted: bool = False,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Fit the model to each row of ``Y`` (B data sets on the same cells), all at once.

    Returns the parameters (B, p + 1) in :math:`(\\beta, \\log\\sigma^2)`, the Hessians, the
    log-likelihoods, the iteration counts and a converged flag per data set.
    ``hessian0`` (the Hessian of a fit near the solutions) switches Newton's
    method to BFGS from it; ``ftol`` also stops a fit whose step gains less
    than that in log-likelihood (the bootstrap's criterion: a flat likelihood in
    :math:`\\sigma` near 0 otherwise takes many tiny steps). ``adjusted``
    maximises the likelihood times :math:`h(\\sigma^2) = \\sigma^2` (see :func:`fit_glmm`).
    """
    Y = np.atleast_2d(np.asarray(Y, float))
    theta0 = np.broadcast_to(theta0, (Y.shape[0], theta0.shape[-1])).copy()
    modes: dict[str, np.ndarray] = {"u": np.zeros((Y.shape[0], cells.n_areas))}

    def fun(t, idx=None):
        idx = np.arange(Y.shape[0]) if idx is None else idx
        ll, g, u = _loglik(t, cells, Y[idx], nagq, modes["u"][idx])
        assert g is not None  # grad=True
        ok = np.isfinite(u).all(axis=1)
        modes["u"][idx[ok]] = u[ok]  # warm start of the next evaluation
        if adjusted:  # times h(sigma^2) = sigma^2: + log sigma^2
            ll = ll + t[:, -1]
            g[:, -1] += 1.0
        return ll, g

    lower = np.full(theta0.shape[1], -np.inf)
    lower[-1] = _TAU_MIN
    theta, Hs, f, its, ok = _maximise(
        theta0, fun, tol=tol, ftol=ftol, max_iter=max_iter, lower=lower, hessian0=hessian0
    )
    theta[:, -1] = np.clip(theta[:, -1], _TAU_MIN, _TAU_MAX)
    return theta, Hs, f, its, ok


def posterior_nodes(theta: np.ndarray, cells: _Cells, Y: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Nodes (B, A, k) and normalised weights of each area's posterior of :math:`u` given its cells.

    :math:`E[f(u_a) \\mid y] \\approx \\sum_k \\pi_{ak} f(u_{ak})`, by the same adaptive rule
    as the likelihood (``k`` nodes around the mode).
    """
    p_ = cells.X.shape[1]
    sig2 = np.exp(theta[:, p_])
    eta0 = theta[:, :p_] @ cells.X.T
    u, H = _modes(cells, Y, eta0, sig2, None)
    z, logw = _gh(k)
    s = 1.0 / np.sqrt(H)
    uk = u[:, :, None] + s[:, :, None] * z
    eta = eta0[:, :, None] + uk[:, cells.area, :]
    Bn, C, K = eta.shape
    term = Y[:, :, None] * eta + cells.n[:, None] * log_expit(-eta)
    g = cells.sum(term.transpose(0, 2, 1).reshape(Bn * K, C)).reshape(Bn, K, -1).transpose(0, 2, 1)
    lk = logw + g - uk**2 / (2 * sig2[:, None, None]) + z**2 / 2
    lk -= lk.max(axis=2, keepdims=True)
    w = np.exp(lk)
    return uk, w / w.sum(axis=2, keepdims=True)


def prior_nodes(sigma: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Nodes (B, k) and weights (k,) of :math:`N(0, \\sigma^2)` for the marginal prediction."""
    z, logw = _gh(k)
    w = np.exp(logw)
    return np.asarray(sigma)[:, None] * z, w / w.sum()
