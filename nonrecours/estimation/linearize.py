r"""Point estimates and influence values (linearised variables) of ratio-type estimators.

Every estimator of nonrecours is a ratio of two weighted totals,
:math:`\hat\theta_k = \hat T_{y,k} / \hat T_{x,k}` (a Hájek mean or proportion:
:math:`x = 1`; a ratio; a total: no denominator). The values are stored once,
in coordinate form (row, estimate column, numerator, denominator), so that all
domains x variables are one sparse object and every reduction is a
``np.bincount``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["LinearStats", "point_estimates", "influence_values", "residuals", "calibration_terms"]


@dataclass(frozen=True, eq=False)
class LinearStats:
    """Sparse (coordinate) values of K ratio estimators over n rows.

    Parameters
    ----------
    rows, cols : ndarray of int
        Row of the sample and estimate column of each entry (an entry = a row
        in the estimate's domain, eligible, with non-zero weight).
    num : ndarray of float
        Numerator variable at each entry.
    den : ndarray of float or None
        Denominator variable (1 for means); ``None`` for totals.
    n_cols : int
        Number of estimates K.
    unit_den : bool
        ``den`` is 1 at every entry (Hájek means and rates): products by it are skipped.
    row_domain, var_bounds : ndarray, optional
        Layout of entries built by :func:`~nonrecours.estimation.domains.stack_variables`:
        the domain of each sample row (-1: none) and the offsets of the V variables'
        blocks of entries, estimate column ``row_domain[row] * V + v``. They let the
        (PSU, estimate) cells be coded from the rows instead of the entries.
    """

    rows: np.ndarray
    cols: np.ndarray
    num: np.ndarray
    den: np.ndarray | None
    n_cols: int
    unit_den: bool = False
    row_domain: np.ndarray | None = None
    var_bounds: np.ndarray | None = None

    def counts(self) -> np.ndarray:
        """Unweighted number of entries (respondents) per estimate."""
        return np.bincount(self.cols, minlength=self.n_cols)


def point_estimates(
    stats: LinearStats, w: np.ndarray, *, wr: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray | None, np.ndarray]:
    r"""Weighted totals and estimates :math:`\hat\theta_k = \sum_i w_i y_{ik} / \sum_i w_i x_{ik}`.

    Returns ``(T_num, T_den, theta)``; ``T_den`` is ``None`` for totals. An
    estimate with an empty denominator is NaN. ``wr`` (``w[stats.rows]``, if
    already gathered) saves a pass.
    """
    if wr is None:
        wr = w[stats.rows]
    Tn = np.bincount(stats.cols, weights=wr * stats.num, minlength=stats.n_cols)
    if stats.den is None:
        return Tn, None, Tn
    Td = np.bincount(stats.cols, weights=wr if stats.unit_den else wr * stats.den, minlength=stats.n_cols)
    with np.errstate(invalid="ignore", divide="ignore"):
        theta = np.where(Td != 0, Tn / np.where(Td != 0, Td, 1.0), np.nan)
    return Tn, Td, theta


def influence_values(
    stats: LinearStats,
    w: np.ndarray,
    theta: np.ndarray,
    Td: np.ndarray | None,
    *,
    wr: np.ndarray | None = None,
    resid: np.ndarray | None = None,
) -> np.ndarray:
    r"""Weighted influence values :math:`z_{ik}` at each entry.

    Notes
    -----
    Total: :math:`z_{ik} = w_i y_{ik}`. Ratio (and Hájek mean, :math:`x = 1`):
    :math:`z_{ik} = w_i (y_{ik} - \hat\theta_k x_{ik}) / \hat T_{x,k}` (Woodruff, 1971;
    R survey ``svyratio``/``svymean``). Their weighted sum is zero per estimate
    for ratios; the variance of :math:`\hat\theta_k` is the design variance of the
    total of :math:`z_{\cdot k}`. ``wr`` (``w[stats.rows]``) and ``resid``
    (:func:`residuals`), if already computed, save passes.
    """
    if wr is None:
        wr = w[stats.rows]
    if Td is None:
        return wr * stats.num
    if resid is None:
        resid = residuals(stats, theta)
    with np.errstate(invalid="ignore", divide="ignore"):
        z = wr * resid
        z /= Td[stats.cols]
        return z


def residuals(stats: LinearStats, theta: np.ndarray) -> np.ndarray:
    r"""Residuals :math:`y_{ik} - \hat\theta_k x_{ik}` at each entry (ratio-type estimators)."""
    with np.errstate(invalid="ignore"):
        e = theta[stats.cols]
        if not stats.unit_den:
            e *= stats.den
        np.subtract(stats.num, e, out=e)
        return e


def calibration_terms(
    calibration, rows: np.ndarray, cols: np.ndarray, z: np.ndarray, n_cols: int
) -> tuple[np.ndarray, np.ndarray] | None:
    r"""Low-rank calibration correction of the influence values.

    Returns ``(L, R)`` such that the calibrated influence values are
    :math:`Z - L R` (``L``: n x p, ``R``: p x K), or ``None`` without calibration.

    Notes
    -----
    For each step *j* in order, with :math:`x` the current values,
    :math:`\beta_j = (X_j^\top D_j X_j)^{-1} X_j^\top (x / g_j)` and
    :math:`x \leftarrow x - w_j X_j \beta_j`, :math:`w_j = d_j g_j`
    (R survey ``svyrecvar`` with ``greg_calibration``; Deville & Särndal, 1992).
    """
    if not calibration:
        return None
    Ls: list[np.ndarray] = []
    Rs: list[np.ndarray] = []
    for cal in calibration:
        X = cal.X.toarray() if hasattr(cal.X, "toarray") else cal.X  # a sparse step (weights.calibrate) in full
        Xg = X / cal.g[:, None]
        p = Xg.shape[1]
        rhs = np.empty((p, n_cols))
        for a in range(p):  # loop over calibration variables only (p is small)
            rhs[a] = np.bincount(cols, weights=z * Xg[rows, a], minlength=n_cols)
        for Lprev, Rprev in zip(Ls, Rs):
            rhs -= (Xg.T @ Lprev) @ Rprev
        C = X.T @ (cal.d[:, None] * X)
        beta = np.linalg.lstsq(C, rhs, rcond=None)[0]
        Ls.append((cal.d * cal.g)[:, None] * X)
        Rs.append(beta)
    return np.hstack(Ls), np.vstack(Rs)
