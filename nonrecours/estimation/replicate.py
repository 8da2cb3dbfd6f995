r"""The replicate-weight variance combiner (R survey's ``svrVar``).

Each estimator is re-evaluated with every replicate weight column, for all
estimates at once, as two sparse x dense matrix products
(:math:`\hat T_{y,r} = Y^\top W_r`), and the centred deviations are returned
as a :class:`~nonrecours.estimation.results.VarianceFactor`.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from .linearize import LinearStats
from .results import VarianceFactor

__all__ = ["replicate_estimates", "replicate_deviations", "replicate_factor"]


def _csr(data: np.ndarray, order: np.ndarray, indices: np.ndarray, indptr: np.ndarray, shape) -> sp.csr_matrix:
    """K x n CSR of the entries' ``data`` in ``order`` (entry order within a row), explicit zeros dropped.

    Dropping a zero term changes no sum: the accumulator starts at +0.0 and never becomes -0.0.
    """
    d = np.asarray(data, dtype=float)[order]
    keep = d != 0
    if keep.all():
        return sp.csr_matrix((d, indices, indptr), shape=shape)
    kept = np.cumsum(keep)
    ends = indptr[1:]
    ptr = np.zeros_like(indptr)
    ptr[1:] = np.where(ends > 0, kept[np.maximum(ends, 1) - 1], 0)  # kept entries up to the end of each row
    return sp.csr_matrix((d[keep], indices[keep], ptr), shape=shape)


def replicate_estimates(stats: LinearStats, replicate_weights: np.ndarray) -> np.ndarray:
    """Estimates of the K estimators under each of the R replicate weights (R x K).

    Totals are sparse (K x n) @ dense (n x R) products, numerator and denominator
    sharing one CSR layout (entries in their order within a row, as the COO
    conversion gives); a C-ordered weight matrix is used without copy.
    """
    n = replicate_weights.shape[0]
    K = stats.n_cols
    order = np.argsort(stats.cols, kind="stable")
    idx = np.int32 if max(n, stats.rows.size) < 2**31 - 1 else np.int64
    indices = stats.rows[order].astype(idx)
    indptr = np.zeros(K + 1, dtype=idx)
    np.cumsum(np.bincount(stats.cols, minlength=K), out=indptr[1:])
    Y = _csr(stats.num, order, indices, indptr, (K, n))
    Tn = np.asarray(Y @ replicate_weights)  # K x R
    if stats.den is None:
        return Tn.T
    X = _csr(stats.den, order, indices, indptr, (K, n))
    Td = np.asarray(X @ replicate_weights)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(Td != 0, Tn / np.where(Td != 0, Td, 1.0), np.nan).T


def replicate_deviations(replicates, th: np.ndarray, theta: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    r"""Scaled deviations :math:`\sqrt{\text{scale}\,\text{rscales}_r}\,(\hat\theta_r - c)` of the replicate
    estimates ``th`` (R x K) from their centre ``c`` (see :func:`replicate_factor`), with ``c`` and the mask of
    finite replicate estimates; a non-finite replicate estimate deviates by 0."""
    ok = np.isfinite(th)
    if replicates.mse:
        centre = theta
    else:
        use = ok & (replicates.rscales > 0)[:, None]
        with np.errstate(invalid="ignore", divide="ignore"):
            centre = np.where(use, th, 0.0).sum(axis=0) / use.sum(axis=0)
    with np.errstate(invalid="ignore"):
        D = np.where(ok, th - centre, 0.0) * np.sqrt(replicates.scale * replicates.rscales)[:, None]
    return D, centre, ok


def replicate_factor(
    replicates, stats: LinearStats | None, theta: np.ndarray, *, estimates: np.ndarray | None = None
) -> VarianceFactor:
    r"""Factored replicate covariance
    :math:`\text{scale} \sum_r \text{rscales}_r (\hat\theta_r - c)(\hat\theta_r - c)^\top`.

    Notes
    -----
    :math:`c = \hat\theta` when ``mse`` is true, else the mean of the replicates
    with ``rscales > 0`` (R survey ``svrVar``). A replicate giving no value for
    an estimate (its domain emptied) is left out of that estimate, as R's
    ``svrVar`` does with ``na.omit`` when the estimate is computed alone.
    ``estimates`` (R x K, from :func:`replicate_estimates`), if already computed,
    saves the pass over the replicate weights; a transformed estimate (e.g. the
    logit of a rate, as R refits ``svyglm`` per replicate) is combined the same way
    from its transformed replicates.
    """
    th = replicate_estimates(stats, replicates.weights) if estimates is None else estimates  # type: ignore[arg-type]  # R x K
    D, centre, ok = replicate_deviations(replicates, th, theta)
    mult = np.where(np.isfinite(centre) & ok.any(axis=0), 1.0, np.nan)
    A = sp.csc_matrix(D)
    B = sp.csc_matrix((1, theta.size))
    return VarianceFactor(A=A, B=B, mult=mult)
