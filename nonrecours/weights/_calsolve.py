"""Calibration matrix in slot form and the vectorised Newton solver.

Internal module of :mod:`nonrecours.weights.calibration`. The calibration
matrix ``X`` (n x p) is never built densely for the solver: each row has a
fixed number of *slots* (one per categorical margin, one per numeric total,
one for an intercept), each slot holding a column index and a value. From the
slots two sparse matrices are built once:

- ``Xs`` (n x (p+1)), column ``p`` being a trash column for dropped
  categories, so that ``X @ lam`` and ``X.T @ v`` are sparse products;
- ``Qs`` (n x (p+1)^2) holding the products ``x_ij * x_ik`` of the slots of
  each row, so that ``X.T @ diag(v) @ X`` for *many* columns ``v`` at once is
  the single sparse product ``Qs.T @ V``.

The solver works on ``V`` of shape (n, R): one column for the full sample, or
one per replicate.

With categorical margins only, a row of ``X`` is fixed by its category in each
margin: rows are grouped into *cells* (the crossed categories, at most a
quarter of the rows), the weights summed per cell in one pass, and the solver
runs on the cells; the n rows are visited again only to read each row's
g-weight from its cell (:attr:`SlotMatrix.cells`).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from functools import cached_property

import numpy as np
import scipy.sparse as sp
from scipy.special import expit, log_expit

from .._frozen import readonly

__all__ = ["SlotMatrix", "Distance", "newton", "NewtonOutcome"]


class SlotMatrix:
    """Calibration matrix given by slots (see module docstring).

    For one or a few weight columns the products are computed slot by slot
    with ``np.bincount`` (no sparse matrix is built); for many columns
    (replicates) the sparse matrices ``Xs`` and ``Qs`` are built once and used.
    """

    #: Above this number of weight columns, the sparse-matrix route is used.
    SPARSE_FROM = 4
    #: Rows are grouped into cells when the cells are at most this share of the rows (see :attr:`cells`).
    CELLS_UP_TO = 0.25

    def __init__(self, cols: np.ndarray, vals: np.ndarray, names: list[str], *, indicator: list[bool] | None = None):
        n, k = cols.shape
        p = len(names)
        self.n, self.p, self.k, self.names = n, p, k, list(names)
        # np.intp: the type np.bincount and indexing take without converting; Fortran order: slots contiguous
        cols = np.asfortranarray(cols, dtype=np.intp)
        self.cols = np.where(cols < 0, p, cols) if cols.size and cols.min() < 0 else cols
        self.vals = np.asfortranarray(vals, dtype=float)
        #: slots whose values are 0/1 indicators (categorical margins, intercept), computed unless given
        self.indicator = (
            list(indicator)
            if indicator is not None
            else [bool(np.all((self.vals[:, s] == 1) | (self.cols[:, s] == p))) for s in range(k)]
        )
        self.cols, self.vals = readonly(self.cols), readonly(self.vals)  # handed out by CalibrationResult.matrix

    def without(self, drop: list[int]) -> SlotMatrix:
        """The same matrix without the columns ``drop``."""
        keep = [j for j in range(self.p) if j not in set(drop)]
        remap = np.full(self.p + 1, -1, dtype=np.int64)
        remap[keep] = np.arange(len(keep))
        cols = remap[self.cols]
        out = SlotMatrix(cols, np.where(cols < 0, 0.0, self.vals), [self.names[j] for j in keep])
        if self.__dict__.get("cells") is not None:  # the same cells: a row's cell does not depend on the columns
            code, Mc = self.cells  # type: ignore[misc]
            out.__dict__["cells"] = (code, Mc.without(drop))
        return out

    @property
    def shape(self) -> tuple[int, int]:
        """(n, p), as a matrix's."""
        return self.n, self.p

    def toarray(self) -> np.ndarray:
        """The (n, p) matrix as a dense array (as a scipy sparse matrix's ``toarray``)."""
        return self.dense()

    def tocsr(self) -> sp.csr_matrix:
        """The (n, p) matrix in CSR form (:meth:`sparse`)."""
        return self.sparse()

    @cached_property
    def Xs(self) -> sp.csr_matrix:
        """(n, p+1) sparse matrix; column p collects dropped categories."""
        n, k = self.n, self.k
        indptr = np.arange(0, n * k + 1, k, dtype=np.int64 if n * k >= 2**31 else np.int32)
        return sp.csr_matrix(
            (np.ascontiguousarray(self.vals).ravel(), np.ascontiguousarray(self.cols).ravel(), indptr),
            shape=(n, self.p + 1),
        )

    @cached_property
    def Qs(self) -> sp.csr_matrix:
        """(n, (p+1)^2) sparse matrix of the slot products ``x_ij x_ik`` of each row (upper triangle)."""
        n, q = self.n, self.p + 1
        iu, ju = np.triu_indices(self.k)
        m = len(iu)
        qcols = np.empty((n, m), dtype=np.int64 if q * q >= 2**31 else np.int32)
        qvals = np.empty((n, m))
        for j, (s, t) in enumerate(zip(iu, ju)):
            qcols[:, j] = self.cols[:, s].astype(np.int64) * q + self.cols[:, t]
            qvals[:, j] = self.vals[:, s] * self.vals[:, t]
        indptr = np.arange(0, n * m + 1, m, dtype=np.int64 if n * m >= 2**31 else np.int32)
        return sp.csr_matrix((qvals.ravel(), qcols.ravel(), indptr), shape=(n, q * q))

    def dense(self) -> np.ndarray:
        """The (n, p) matrix as a dense array."""
        return self.Xs[:, : self.p].toarray()

    def sparse(self) -> sp.csr_matrix:
        """The (n, p) matrix in CSR form: the slots of each row, without those of dropped categories."""
        n, k, p = self.n, self.k, self.p
        cols, vals = np.ascontiguousarray(self.cols), np.ascontiguousarray(self.vals)  # rows in order
        keep = cols != p
        if keep.all():
            indptr = np.arange(0, n * k + 1, k, dtype=np.int64)
            X = sp.csr_matrix((vals.ravel(), cols.ravel(), indptr), shape=(n, p))
        else:
            indptr = np.zeros(n + 1, dtype=np.int64)
            np.cumsum(keep.sum(axis=1), out=indptr[1:])
            X = sp.csr_matrix((vals[keep], cols[keep], indptr), shape=(n, p))
        X.has_sorted_indices = False  # slots are in margin order, not necessarily by column
        return X

    @cached_property
    def cells(self) -> tuple[np.ndarray, SlotMatrix] | None:
        """The rows grouped by their row of X: ``(cell of each row, matrix of the cells)``, or None.

        With indicator slots only (categorical margins, intercept), a row of X is fixed by the column
        of each of its slots. Cells are the combinations of the columns present in each slot, coded in
        mixed radix (slot 1 most significant), some of them holding no row; sums over the rows
        (:meth:`rmatvec`, :meth:`gram`) are sums over the cells of the rows' summed weights
        (:meth:`collapse`), and :func:`newton` runs on the cells. None when a slot holds other values
        (numeric totals) or when there would be more than ``CELLS_UP_TO`` x n cells.
        """
        if self.n == 0 or not all(self.indicator):
            return None
        q, size, present = self.p + 1, 1, []
        for s in range(self.k):
            present.append(np.flatnonzero(np.bincount(self.cols[:, s], minlength=q)))
            size *= present[-1].size
            if size > self.CELLS_UP_TO * self.n:
                return None
        code = None
        for s, cols_s in enumerate(present):
            local = np.zeros(q, dtype=np.intp)
            local[cols_s] = np.arange(cols_s.size)
            if code is None:
                code = local[self.cols[:, s]]
            else:
                code *= cols_s.size
                code += local[self.cols[:, s]]
        cell_cols = np.empty((size, self.k), dtype=np.intp)
        rest = np.arange(size)
        for s in range(self.k - 1, -1, -1):
            rest, digit = np.divmod(rest, present[s].size)
            cell_cols[:, s] = present[s][digit]
        return readonly(code), SlotMatrix(cell_cols, (cell_cols != self.p).astype(float), self.names)

    def grouped(self, v: np.ndarray) -> tuple[SlotMatrix, np.ndarray]:
        """``(matrix of the cells, v summed per cell)`` with :attr:`cells`, otherwise ``(self, v)``.

        Every product of the solver is the same on either (sums over rows grouped by cell).
        """
        return (self, v) if self.cells is None else (self.cells[1], self.collapse(v))

    def collapse(self, v: np.ndarray) -> np.ndarray:
        """Sums per cell of the columns of ``v`` (n, R): (cells, R) (requires :attr:`cells`)."""
        code, Mc = self.cells  # type: ignore[misc]
        if v.shape[1] == 1:
            return np.bincount(code, weights=v[:, 0], minlength=Mc.n)[:, None]
        S = sp.csr_matrix((np.ones(self.n), code, np.arange(self.n + 1)), shape=(self.n, Mc.n))
        return np.asarray(S.T @ v)

    def matvec(self, lam: np.ndarray) -> np.ndarray:
        """``X @ lam`` for lam of shape (p, R)."""
        if self.cells is not None:  # the same sums, once per cell
            code, Mc = self.cells
            return Mc.matvec(lam)[code]
        ext = np.vstack([lam, np.zeros((1, lam.shape[1]))])
        if lam.shape[1] > self.SPARSE_FROM:
            return np.asarray(self.Xs @ ext)
        out = np.zeros((self.n, lam.shape[1]))
        for s in range(self.k):
            term = ext[self.cols[:, s]]
            out += term if self.indicator[s] else term * self.vals[:, s, None]
        return out

    def rmatvec(self, v: np.ndarray) -> np.ndarray:
        """``X.T @ v`` for v of shape (n, R); returns (p, R)."""
        if self.cells is not None:
            return self.cells[1].rmatvec(self.collapse(v))
        if v.shape[1] > self.SPARSE_FROM:
            return np.asarray(self.Xs.T @ v)[: self.p]
        q = self.p + 1
        out = np.zeros((q, v.shape[1]))
        for s in range(self.k):
            c = self.cols[:, s]
            for r in range(v.shape[1]):
                wv = v[:, r] if self.indicator[s] else v[:, r] * self.vals[:, s]
                out[:, r] += np.bincount(c, weights=wv, minlength=q)
        return out[: self.p]

    def gram(self, v: np.ndarray) -> np.ndarray:
        """``X.T diag(v_r) X`` for each column r of v (n, R); returns (R, p, p)."""
        if self.cells is not None:
            return self.cells[1].gram(self.collapse(v))
        q = self.p + 1
        R = v.shape[1]
        if R > self.SPARSE_FROM:
            a = np.asarray(self.Qs.T @ v).T.reshape(R, q, q)
        else:
            a = np.zeros((R, q * q))
            iu, ju = np.triu_indices(self.k)
            for s, t in zip(iu, ju):
                code = self.cols[:, s].astype(np.int64) * q + self.cols[:, t] if s != t else None
                prod = None if (self.indicator[s] and self.indicator[t]) else self.vals[:, s] * self.vals[:, t]
                for r in range(R):
                    wv = v[:, r] if prod is None else v[:, r] * prod
                    if s == t:  # diagonal slot: only (c, c) entries
                        a[r, np.arange(q) * (q + 1)] += np.bincount(self.cols[:, s], weights=wv, minlength=q)
                    else:
                        a[r] += np.bincount(code, weights=wv, minlength=q * q)  # type: ignore[arg-type]  # s != t: set
            a = a.reshape(R, q, q)
        a = a[:, : self.p, : self.p]
        diag = np.einsum("rii->ri", a).copy()
        h = a + a.transpose(0, 2, 1)
        idx = np.arange(self.p)
        h[:, idx, idx] = diag
        return h


@dataclass(frozen=True)
class Distance:
    """A calibration distance: g = F(u), its derivative and antiderivative.

    ``kind`` is ``linear``, ``truncated`` (linear with bounds), ``raking`` or
    ``logit``; ``lower``/``upper`` are the bounds (L, U) on g.
    """

    kind: str
    lower: float = -np.inf
    upper: float = np.inf

    def F(self, u: np.ndarray) -> np.ndarray:
        L, U = self.lower, self.upper
        if self.kind in ("linear", "truncated"):
            return np.clip(1.0 + u, L, U)
        if self.kind == "raking":
            with np.errstate(over="ignore"):
                return np.clip(np.exp(u), L, U)
        A, c = self._logit()
        return L + (U - L) * expit(A * u + c)

    def dF(self, u: np.ndarray) -> np.ndarray:
        L, U = self.lower, self.upper
        if self.kind in ("linear", "truncated"):
            return ((u > L - 1) & (u < U - 1)).astype(float)
        if self.kind == "raking":
            with np.errstate(over="ignore", divide="ignore"):
                e = np.exp(u)
            return np.where((e > L) & (e < U), e, 0.0)
        A, c = self._logit()
        s = expit(A * u + c)
        return (U - L) * A * s * (1.0 - s)

    def Phi(self, u: np.ndarray) -> np.ndarray:
        """Antiderivative of F with Phi(0) = 0 (the dual objective's summand)."""
        L, U = self.lower, self.upper
        if self.kind in ("linear", "truncated"):
            a, b = L - 1.0, U - 1.0
            mid = np.clip(u, a, b)
            base = mid + mid**2 / 2
            low = L * np.minimum(u - a, 0.0) if np.isfinite(a) else 0.0
            high = U * np.maximum(u - b, 0.0) if np.isfinite(b) else 0.0
            return base + low + high
        if self.kind == "raking":
            a = np.log(L) if L > 0 else -np.inf
            b = np.log(U) if np.isfinite(U) else np.inf
            mid = np.clip(u, a, b)
            with np.errstate(over="ignore"):
                base = np.exp(mid) - 1.0
            low = np.where(u < a, L * (u - a), 0.0) if np.isfinite(a) else 0.0
            high = np.where(u > b, U * (u - b), 0.0) if np.isfinite(b) else 0.0
            return base + low + high
        A, c = self._logit()
        sp_ = -log_expit(-(A * u + c))  # softplus
        return L * u + (U - L) / A * (sp_ - (-log_expit(-c)))

    def _logit(self) -> tuple[float, float]:
        L, U = self.lower, self.upper
        A = (U - L) / ((U - 1.0) * (1.0 - L))
        return A, float(np.log((1.0 - L) / (U - 1.0)))


@dataclass(frozen=True)
class NewtonOutcome:
    """Result of :func:`newton` for R columns of base weights."""

    g: np.ndarray  # (n, R)
    lam: np.ndarray  # (p, R), in the unscaled parametrisation
    iterations: np.ndarray  # (R,)
    misfit: np.ndarray  # (p, R): T - X'(d g)
    converged: np.ndarray  # (R,) bool


#: A column whose line search cannot improve (rounding) counts as converged below this misfit.
STALL_TOL = 1e-9


def newton(
    M: SlotMatrix, D: np.ndarray, T: np.ndarray, dist: Distance, *, tol: float = 1e-12, max_iter: int = 50
) -> NewtonOutcome:
    """Solve X'(d_r * F(X lam_r)) = T for every column r of D by damped Newton.

    Newton steps on the convex dual ``Phi(lam) = sum_i d_i Phi_F(x_i' lam) - lam' T``
    with Armijo backtracking (vectorised over the columns still running).
    Convergence: ``max_j |misfit_j| / (1 + |T_j|) < tol`` (R's ``grake`` rule).
    With :attr:`SlotMatrix.cells`, the solver runs on the cells and their summed weights,
    and each row's g-weight is its cell's.
    """
    if M.cells is not None:
        code, Mc = M.cells
        out = newton(Mc, M.collapse(D), T, dist, tol=tol, max_iter=max_iter)
        return replace(out, g=out.g[code])
    n, R = D.shape
    p = M.p
    lam = np.zeros((p, R))
    U = np.zeros((n, R))
    G = dist.F(U)
    denom = 1.0 + np.abs(T)[:, None]
    mis = T[:, None] - M.rmatvec(D * G)
    phi = (D * dist.Phi(U)).sum(axis=0) - T @ lam
    iters = np.zeros(R, dtype=int)
    crit = np.max(np.abs(mis) / denom, axis=0)
    active = crit >= tol
    stalled = np.zeros(R, dtype=bool)
    for _ in range(max_iter):
        if not active.any():
            break
        a = np.flatnonzero(active)
        Da = D[:, a]
        H = M.gram(Da * dist.dF(U[:, a]))
        step = _solve(H, mis[:, a].T)
        slope = -(mis[:, a] * step).sum(axis=0)  # directional derivative of Phi (< 0)
        t = np.ones(len(a))
        todo = np.arange(len(a))
        for _half in range(40):
            cols = a[todo]
            lam_try = lam[:, cols] + step[:, todo] * t[todo]
            u_try = M.matvec(lam_try)
            g_try = dist.F(u_try)
            with np.errstate(invalid="ignore", over="ignore"):
                phi_try = (D[:, cols] * dist.Phi(u_try)).sum(axis=0) - T @ lam_try
                mis_try = T[:, None] - M.rmatvec(D[:, cols] * g_try)
                crit_try = np.max(np.abs(mis_try) / denom, axis=0)
            ok = (
                np.isfinite(phi_try)
                & np.isfinite(crit_try)
                & ((phi_try <= phi[cols] + 1e-4 * t[todo] * slope[todo]) | (crit_try < crit[cols]))
            )
            c_acc = cols[ok]
            lam[:, c_acc] = lam_try[:, ok]
            U[:, c_acc] = u_try[:, ok]
            G[:, c_acc] = g_try[:, ok]
            mis[:, c_acc] = mis_try[:, ok]
            phi[c_acc] = phi_try[ok]
            crit[c_acc] = crit_try[ok]
            todo = todo[~ok]
            t[todo] /= 2
            if todo.size == 0:
                break
        iters[a] += 1
        stalled[a[todo]] = True  # no acceptable step: at the limit of rounding
        active = (crit >= tol) & ~stalled
    converged = (crit < tol) | (stalled & (crit < STALL_TOL))
    return NewtonOutcome(g=G, lam=lam, iterations=iters, misfit=mis, converged=converged)


def _solve(H: np.ndarray, rhs: np.ndarray) -> np.ndarray:
    """Solve H_r x_r = rhs_r for stacked symmetric H (R, p, p); rhs (R, p); returns (p, R).

    Jacobi-scaled (columns of very different magnitudes, e.g. counts and
    incomes); a generalised inverse (as R's ``MASS::ginv``) when singular.
    """
    dg = np.einsum("rii->ri", H)
    s = np.where(dg > 0, 1.0 / np.sqrt(np.where(dg > 0, dg, 1.0)), 1.0)
    Hs = H * s[:, :, None] * s[:, None, :]
    b = (rhs * s)[:, :, None]
    try:
        y = np.linalg.solve(Hs, b)
        if not np.all(np.isfinite(y)):
            raise np.linalg.LinAlgError
    except np.linalg.LinAlgError:
        y = np.linalg.pinv(Hs, rcond=1e-12, hermitian=True) @ b
    return (y[:, :, 0] * s).T
