"""Parametric bootstrap MSE of the models that borrow strength (Rao–Yu, multivariate, spatial Fay–Herriot).

The bootstrap of González-Manteiga et al. (2008) carried to the block model of :mod:`.borrow`: data sets are
drawn from the fitted model, the model is refitted on each (same covariance model, same method) and the MSE is
the mean squared distance of the refitted EBLUPs to the drawn truth. The replicates run in chunks, each with
its own random stream spawned from the seed, on the package's parallel machinery
(:mod:`nonrecours._parallel`): the result does not depend on the number of workers.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np

from .._parallel import check_workers, chunks, ordered_map, spawn
from ..errors import ConvergenceError, InputError, OptionError, message
from .borrow import BlockFit, BorrowFit, CovarianceModel, fit_blocks

__all__ = ["bootstrap_borrow_mse", "BootstrapFailure"]


class BootstrapFailure(ConvergenceError):
    """Too many bootstrap replicates whose refit did not converge."""


def _sqrt_psd(S: np.ndarray) -> np.ndarray:
    """A square root :math:`L` with :math:`LL^\\top = S` of each symmetric positive semi-definite matrix (batched
    eigendecomposition; a singular :math:`S`, a variance at 0 or an unobserved component, is allowed)."""
    lam, U = np.linalg.eigh(S)
    return U * np.sqrt(np.clip(lam, 0.0, None))[..., None, :]


@dataclass(frozen=True, eq=False)
class _BlockDraw:
    """One chunk of bootstrap replicates of a block fit (the unit of work of a worker)."""

    fit: BlockFit
    covariance: CovarianceModel
    tol: float

    def run(self, b: int, rng: np.random.Generator) -> tuple[np.ndarray, int]:
        """Sum over the converged replicates of ``b`` of the squared errors (m, k), and their number."""
        fit = self.fit
        m, k, _ = fit.X.shape
        mu = fit.X @ fit.coef
        Gh = _sqrt_psd(fit.G)  # (k, k)
        Rh = _sqrt_psd(fit.R)  # (m, k, k): 0 rows and columns where a component is not observed
        total = np.zeros((m, k))
        done = 0
        for _ in range(b):  # loop over replicates; each refit is vectorised over the blocks
            theta = mu + rng.standard_normal((m, k)) @ Gh.T
            ystar = theta + np.einsum("dkl,dl->dk", Rh, rng.standard_normal((m, k)))
            try:
                refit = fit_blocks(
                    ystar,
                    fit.X,
                    fit.R,
                    self.covariance,
                    fit.theta,
                    method=fit.method,
                    observed=fit.observed,
                    tol=self.tol,
                    where="bootstrap replicate",
                )
            except (ConvergenceError, InputError):  # counted; the draws of the next replicate are unchanged
                continue
            total += (refit.eblup - theta) ** 2
            done += 1
        return total, done


def bootstrap_borrow_mse(
    fit: BorrowFit,
    *,
    replicates: int = 200,
    seed: int | np.random.Generator = 1,
    chunk: int = 25,
    workers: int = 1,
    tol: float = 1e-8,
    max_failed: float = 0.05,
) -> BorrowFit:
    """The fit with its MSEs replaced by the parametric bootstrap MSE.

    Parameters
    ----------
    fit : BorrowFit
        From :func:`~.rao_yu.fit_rao_yu`, :func:`~.multivariate.fit_multivariate` or
        :func:`~.spatial.fit_spatial_fh` (it carries its block fit and covariance model).
    replicates : int
        Number of bootstrap data sets ``B``.
    seed : int or numpy.random.Generator
    chunk : int
        Replicates per unit of work; each chunk draws from its own stream, spawned from ``seed``.
    workers : int
        Processes running the chunks (joblib/loky); the result is bit-identical whatever their number.
    tol : float
        Convergence tolerance of the refits (see :func:`~.borrow.fit_blocks`).
    max_failed : float
        Largest share of replicates whose refit may fail (they are left out of the mean).

    Returns
    -------
    BorrowFit
        ``mse`` the bootstrap MSE, ``mse_kind="bootstrap"``, ``replicates`` the replicates averaged; the analytic
        components ``g1``..``g4`` are kept.

    Raises
    ------
    OptionError
        ``replicates`` not a positive integer, or a fit without its block model.
    BootstrapFailure
        More than ``max_failed`` of the refits failed.

    Notes
    -----
    With :math:`\\hat\\beta, \\hat\\theta` the fit's estimates, for :math:`b = 1..B`:
    :math:`\\mu^*_d = X_d\\hat\\beta + u^*_d`, :math:`u^*_d \\sim N(0, G(\\hat\\theta))` (one block: the SAR
    effects of every territory; an area: its years or rights), :math:`y^*_d = \\mu^*_d + e^*_d`,
    :math:`e^*_d \\sim N(0, R_d)` on the observed components; refit by REML or ML and form the EBLUPs
    :math:`\\hat\\mu^*_d`; :math:`\\mathrm{mse} = B^{-1}\\sum_b (\\hat\\mu^*_d - \\mu^*_d)^2` for every component,
    observed or predicted (González-Manteiga, Lombardía, Molina, Morales & Santamaría 2008; Molina, Salvati &
    Pratesi 2009 for the spatial model, sae's ``pbmseSFH``; Marhuenda, Molina & Morales 2013 for the
    spatio-temporal one). Its bias is :math:`O(m^{-1})`, as the analytic estimator's; it does not rest on the
    second-order expansion behind :math:`g_3` (which needs many territories).

    Examples
    --------
    >>> from nonrecours.territorial.rao_yu import fit_rao_yu
    >>> rng = np.random.default_rng(1)
    >>> m, T = 20, 3
    >>> X = np.stack([np.ones((m, T)), rng.normal(size=(m, T))], axis=-1)
    >>> cov = np.broadcast_to(0.01 * np.eye(T), (m, T, T))
    >>> y = X @ np.array([1.0, 0.5]) + rng.normal(0, 0.1, (m, 1)) + rng.normal(0, 0.1, (m, T))
    >>> fit = bootstrap_borrow_mse(fit_rao_yu(y, cov, X), replicates=20, seed=3)
    >>> fit.mse_kind, fit.mse.shape
    ('bootstrap', (60,))
    """
    if isinstance(replicates, bool) or not isinstance(replicates, (int, np.integer)) or replicates < 1:
        raise OptionError(
            message(
                "the number of bootstrap replicates must be a positive integer",
                where="parameter replicates",
                found=repr(replicates),
            )
        )
    if fit.block is None or fit.covariance is None:
        raise OptionError(
            message(
                "the fit carries no block model to refit",
                where="parameter fit",
                expected="a fit of fit_rao_yu, fit_multivariate or fit_spatial_fh",
                hint="bootstrap the univariate Fay-Herriot model with territorial.mse.bootstrap_mse",
            )
        )
    workers = check_workers(workers)
    sizes = [len(r) for r in chunks(int(replicates), int(chunk))]
    draw = _BlockDraw(fit.block, fit.covariance, float(tol))
    total = np.zeros(fit.block.eblup.shape)
    done = 0
    for part, n in ordered_map(draw.run, list(zip(sizes, spawn(seed, len(sizes)))), workers=workers):  # in order
        total += part
        done += n
    failed = int(replicates) - done
    if done == 0 or failed > max_failed * int(replicates):
        raise BootstrapFailure(
            message(
                "too many bootstrap refits did not converge",
                where=f"{fit.model} model",
                expected=f"at most {max_failed:.0%} of the replicates",
                found=f"{failed} of {int(replicates)}",
                hint="use the analytic MSE, or check the model (a variance at 0, few territories)",
            )
        )
    return dataclasses.replace(fit, mse=(total / done).ravel(), mse_kind="bootstrap", replicates=done)
