"""Calibration of weights to known margins (Deville–Särndal family, as CALMAR).

Calibrated weights ``w_i = d_i * g_i`` with ``g_i = F(x_i' lam)`` solve the
calibration equations ``sum_i w_i x_i = T`` for the margins ``T``; ``F`` is
given by the distance:

========== =================================================================
linear     ``F(u) = 1 + u`` (GREG; weights can become negative)
truncated  ``F(u) = min(max(1 + u, L), U)`` (linear with bounds)
raking     ``F(u) = exp(u)`` (optionally bounded: ``min(max(exp(u), L), U)``)
logit      ``F(u) = (L(U-1) + U(1-L) e^{Au}) / (U - 1 + (1-L) e^{Au})``,
           ``A = (U-L) / ((U-1)(1-L))``, so that ``L < g < U``
========== =================================================================

The calibrated design carries ``Calibration(X, d, g)``; the variance engine
replaces the influence values by their residuals on ``X`` (Deville &
Särndal 1992), as R's ``survey::calibrate`` does.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from .._frozen import freeze_arrays, readonly
from ..errors import ConvergenceError, InputError, OptionError, message
from ..options import CalibrationMethod, Coding, check_option
from ._calsolve import Distance, SlotMatrix, newton
from .margins import Margins, build_matrix
from .trimming import trim_and_recalibrate

if TYPE_CHECKING:  # pragma: no cover
    from ..design.survey_design import SurveyDesign

__all__ = ["CalibrationResult", "make_distance", "calibrate_weights", "calibrate", "recalibrate_replicates"]


def make_distance(method: CalibrationMethod | str, bounds: tuple[float, float] | None = None) -> Distance:
    """Check a method and its bounds (L, U) and return the distance.

    ``logit`` and ``truncated`` need bounds with ``0 <= L < 1 < U``; ``raking``
    accepts them (bounded raking); ``linear`` refuses them (use ``truncated``).
    """
    method = check_option("method", method, CalibrationMethod)
    if bounds is None:
        if method in ("logit", "truncated"):
            raise OptionError(
                message(
                    f"the {method} method needs bounds",
                    where="parameter bounds",
                    expected="bounds L, U with 0 <= L < 1 < U",
                    found="none",
                    hint="e.g. L = 0.5, U = 3",
                )
            )
        return Distance(method)
    L, U = (float(b) for b in bounds)
    if not (L < 1.0 < U) or L < 0 or np.isnan(L) or np.isnan(U):
        raise OptionError(
            message(
                "bounds must surround 1", where="parameter bounds", expected="0 <= L < 1 < U", found=f"L={L:g}, U={U:g}"
            )
        )
    if method == "linear":
        raise OptionError(
            message(
                "linear calibration takes no bounds",
                where="parameter bounds",
                hint="use method 'truncated' for linear calibration with bounds",
            )
        )
    if method == "logit" and not np.isfinite(U):
        raise OptionError(
            message("logit calibration needs a finite upper bound", where="parameter bounds", found=f"U={U:g}")
        )
    return Distance(method, L, U)


@dataclass(frozen=True)
class CalibrationResult:
    """Calibrated weights with their diagnostics.

    Attributes
    ----------
    weights, d, g : ndarray (n,)
        Final weights ``d * g``, base weights and g-weights (1 where d = 0).
    matrix : SlotMatrix
        Calibration matrix (use :attr:`X` for the dense n x p array).
    columns : tuple of str
        Column names of ``X`` (``variable=category`` or the numeric variable).
    totals, before : ndarray (p,)
        Target totals and the base-weight totals ``X' d``.
    method, bounds, coding, iterations, max_rel_misfit, margins
        What was done and how it converged.
    dropped : tuple of str
        Columns dropped as linearly dependent on the others (consistent totals).
    """

    weights: np.ndarray
    d: np.ndarray
    g: np.ndarray
    matrix: SlotMatrix = field(repr=False)
    columns: tuple[str, ...]
    totals: np.ndarray
    before: np.ndarray
    method: str
    bounds: tuple[float, float] | None
    coding: str
    iterations: int
    max_rel_misfit: float
    margins: Margins = field(repr=False)
    dropped: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        freeze_arrays(self)  # arrays handed out are read-only

    @property
    def X(self) -> np.ndarray:
        """The calibration matrix as a dense (n, p) array."""
        return readonly(self.matrix.dense())

    @property
    def distance(self) -> Distance:
        return make_distance(self.method, self.bounds)

    def g_summary(self) -> pd.DataFrame:
        """Distribution of the g-weights of respondents (quantiles, mean, share at bounds)."""
        g = self.g[self.d > 0]
        qs = [0, 0.01, 0.05, 0.25, 0.5, 0.75, 0.95, 0.99, 1]
        names = ["min", "p1", "p5", "p25", "median", "p75", "p95", "p99", "max"]
        row = dict(zip(names, np.quantile(g, qs)))
        row["mean"] = float(g.mean())
        w = self.weights[self.d > 0]
        row["weight_cv"] = float(w.std() / w.mean())
        row["n"] = int(g.size)
        if self.bounds is not None:
            L, U = self.bounds
            row["at_lower"] = int(np.sum(g <= L * (1 + 1e-9)))
            row["at_upper"] = int(np.sum(g >= U * (1 - 1e-9)))
        return pd.DataFrame([row])

    def margins_table(self) -> pd.DataFrame:
        """Per calibration column: target, total before and after, relative error."""
        after = self.matrix.rmatvec(self.weights[:, None])[:, 0]
        return pd.DataFrame(
            {
                "column": list(self.columns),
                "target": self.totals,
                "before": self.before,
                "after": after,
                "rel_error": (after - self.totals) / (1 + np.abs(self.totals)),
            }
        )

    def to_calibration(self):
        """The engine's ``Calibration(X, d, g)`` step, recording this result to replay it.

        ``X`` is this result's matrix in slot form (a few entries per row, never a dense n x p
        array; the variance engine expands it when it computes a variance); ``d`` and ``g`` are
        this result's arrays, shared (they are read-only), not copied.
        """
        from ..design.survey_design import Calibration

        return Calibration(self.matrix, self.d, self.g, record=self)

    def recalibrate(
        self, data: pd.DataFrame, d: np.ndarray, *, tol: float = 1e-12, max_iter: int = 50
    ) -> CalibrationResult:
        """The same calibration (margins, method, bounds, coding) redone from new base weights ``d``.

        The record replays itself: trimming alternates capping and this call,
        without re-stating how the weights were calibrated.
        """
        return calibrate_weights(
            data,
            d,
            self.margins,
            method=self.method,
            bounds=self.bounds,
            coding=self.coding,
            tol=tol,
            max_iter=max_iter,
        )

    def apply(self, design: SurveyDesign) -> SurveyDesign:
        """Return ``design.with_calibration(...)``, re-calibrating its replicates if any (one new design)."""
        reps = getattr(design, "replicates", None)
        if reps is not None:
            from dataclasses import replace

            reps = replace(reps, weights=recalibrate_replicates(self, np.asarray(reps.weights, dtype=float)))
        return design.with_calibration(self.to_calibration(), replicates=reps)


def _check_redundancy(
    M: SlotMatrix, d: np.ndarray, T: np.ndarray, source: str
) -> tuple[SlotMatrix, np.ndarray, list[str]]:
    """Drop columns linearly dependent on earlier ones; their totals must agree."""
    drop = _redundant(M, d, T, source)
    if not drop:
        return M, T, []
    return M.without(drop), np.delete(T, drop), [M.names[j] for j in drop]


def _redundant(M: SlotMatrix, d: np.ndarray, T: np.ndarray, source: str) -> list[int]:
    """Columns linearly dependent on earlier ones (their totals checked against the others')."""
    H = M.gram(d[:, None])[0]
    keep: list[int] = []
    drop: list[int] = []
    for j in range(M.p):
        if H[j, j] <= 0:
            drop.append(j)
            continue
        if keep:
            Hk = H[np.ix_(keep, keep)]
            c = np.linalg.solve(Hk, H[keep, j])
            resid = H[j, j] - H[keep, j] @ c
            if resid <= 1e-10 * H[j, j]:
                if abs(T[j] - c @ T[keep]) > 1e-6 * (1 + abs(T[j])):
                    raise InputError(
                        message(
                            "margins are inconsistent",
                            where=f"{source}, column {M.names[j]!r}",
                            expected=f"total {c @ T[keep]:.10g} implied by the other margins",
                            found=f"{T[j]:.10g}",
                            hint="nested or overlapping margins must agree",
                        )
                    )
                drop.append(j)
                continue
        keep.append(j)
    return drop


def _check_bounds_feasible(M: SlotMatrix, d: np.ndarray, T: np.ndarray, dist: Distance, source: str) -> None:
    """Necessary condition per non-negative column: L * X'd <= T <= U * X'd."""
    if dist.kind == "linear" or (dist.lower <= 0 and not np.isfinite(dist.upper)):
        return
    nonneg = np.asarray((M.Xs[:, : M.p].minimum(0) != 0).sum(axis=0)).ravel() == 0
    tot = M.rmatvec(d[:, None])[:, 0]
    bad = nonneg & ((dist.lower * tot * (1 - 1e-12) > T) | (dist.upper * tot * (1 + 1e-12) < T))
    if bad.any():
        items = ", ".join(f"{M.names[j]} (target/base {T[j] / tot[j]:.3g})" for j in np.flatnonzero(bad)[:10])
        raise InputError(
            message(
                "the bounds make calibration infeasible",
                where=source,
                expected=f"target/base total ratios within [{dist.lower:g}, {dist.upper:g}]",
                found=items,
                hint="widen the bounds or merge these categories",
            )
        )


def _lp_feasible(M: SlotMatrix, d: np.ndarray, T: np.ndarray, dist: Distance) -> bool | None:
    """Is there g in [L, U] with X'(d g) = T? (None when not checked.)"""
    resp = np.flatnonzero(d > 0)
    if resp.size > 200_000 or dist.kind == "linear":
        return None
    from scipy.optimize import linprog

    A = (M.Xs[resp][:, : M.p].multiply(d[resp][:, None])).T.tocsr()
    lo = max(dist.lower, 0.0) if dist.kind == "raking" else dist.lower
    hi = dist.upper if np.isfinite(dist.upper) else None
    res = linprog(np.zeros(resp.size), A_eq=A, b_eq=T, bounds=(lo, hi), method="highs")
    return bool(res.status == 0)


def calibrate_weights(
    data: pd.DataFrame,
    d: np.ndarray,
    margins: Margins,
    *,
    method: CalibrationMethod | str = "raking",
    bounds: tuple[float, float] | None = None,
    coding: Coding | str = "dummies",
    tol: float = 1e-12,
    max_iter: int = 50,
    source: str = "margins",
) -> CalibrationResult:
    """Calibrate base weights ``d`` to ``margins``.

    Parameters
    ----------
    data : DataFrame
        The sample (all rows; rows with ``d == 0``, e.g. non-respondents, keep weight 0).
    d : array (n,)
        Base weights, >= 0.
    margins : Margins
        Categorical counts and numeric totals (see :mod:`nonrecours.weights.margins`).
    method : {'linear', 'raking', 'logit', 'truncated'}
    bounds : (L, U), optional
        Bounds on g (required for logit and truncated).
    coding : {'dummies', 'treatment'}
        Coding of categorical margins (same weights either way).
    tol, max_iter : float, int
        Stop when ``max_j |T_j - sum_i w_i x_ij| / (1 + |T_j|) < tol``.

    Returns
    -------
    CalibrationResult

    Notes
    -----
    Newton's method on the dual ``min_lam sum_i d_i Phi(x_i' lam) - lam' T``
    (``Phi' = F``), with Armijo backtracking; each step solves
    ``(X' diag(d F'(X lam)) X) delta = T - X'(d F(X lam))``.
    Deville, J.-C. & Särndal, C.-E. (1992), Calibration estimators in survey
    sampling, JASA 87, 376-382; Deville, Särndal & Sautory (1993), Generalized
    raking procedures in survey sampling, JASA 88, 1013-1020; Sautory (1993),
    La macro CALMAR, INSEE.

    Examples
    --------
    >>> import pandas as pd, numpy as np
    >>> df = pd.DataFrame({"sex": ["F", "M", "M", "F"]})
    >>> m = Margins.from_frame(pd.DataFrame({"variable": ["sex", "sex"], "category": ["F", "M"], "total": [60, 40]}))
    >>> calibrate_weights(df, np.full(4, 25.0), m, method="raking").weights.round(9).tolist()
    [30.0, 20.0, 20.0, 30.0]
    """
    dist = make_distance(method, bounds)
    d = np.asarray(d, dtype=float)
    if d.shape != (len(data),) or not np.all(np.isfinite(d)) or np.any(d < 0):
        raise InputError(
            message(
                "base weights must be finite and >= 0",
                where="calibration",
                found=f"{int(np.sum(~np.isfinite(d) | (d < 0)))} bad values",
            )
        )
    M, T = build_matrix(data, margins, d, coding=coding, source=source)
    Mw, D = M.grouped(d[:, None])  # the cells of rows sharing their row of X, their weights summed once
    drop = _redundant(Mw, D[:, 0], T, source)
    dropped = [M.names[j] for j in drop]
    if drop:
        M, T = M.without(drop), np.delete(T, drop)
        Mw, D = M.grouped(d[:, None])
    _check_bounds_feasible(Mw, D[:, 0], T, dist, source)
    before = Mw.rmatvec(D)[:, 0]
    out = newton(Mw, D, T, dist, tol=tol, max_iter=max_iter)
    if not out.converged[0]:
        rel = np.abs(out.misfit[:, 0]) / (1 + np.abs(T))
        j = int(np.argmax(rel))
        if np.isfinite(dist.upper) or dist.lower > 0:
            if _lp_feasible(M, d, T, dist) is False:
                raise InputError(
                    message(
                        "the bounds make calibration infeasible",
                        where=source,
                        expected=f"g-weights within [{dist.lower:g}, {dist.upper:g}] reaching every margin",
                        found=f"no such weights (worst margin {M.names[j]!r})",
                        hint="widen the bounds or merge categories",
                    )
                )
        raise ConvergenceError(
            message(
                "calibration did not converge",
                where=source,
                expected=f"relative misfit < {tol:g}",
                found=f"{rel[j]:.3g} on margin {M.names[j]!r} after {int(out.iterations[0])} iterations",
                hint="widen the bounds, merge small categories or raise max_iter",
            )
        )
    g = np.where(d > 0, out.g[:, 0] if Mw is M else out.g[M.cells[0], 0], 1.0)  # type: ignore[index]
    if (g <= 0).any() and np.any((g <= 0) & (d > 0)):
        k = int(np.sum((g <= 0) & (d > 0)))
        raise InputError(
            message(
                "calibration makes weights zero or negative",
                where=source,
                found=f"{k} respondents with g <= 0 (min g = {g[d > 0].min():.4g})",
                hint="use method raking or logit, or truncated with bounds such as 0.3,3",
            )
        )
    crit = float(np.max(np.abs(out.misfit[:, 0]) / (1 + np.abs(T))))
    weights = d * g
    for a in (g, weights):  # made here: frozen themselves, so that a design can share them without copying
        a.setflags(write=False)
    return CalibrationResult(
        weights=weights,
        d=d,
        g=g,
        matrix=M,
        columns=tuple(M.names),
        totals=T,
        before=before,
        method=method,
        bounds=None if bounds is None else (float(bounds[0]), float(bounds[1])),
        coding=coding,
        iterations=int(out.iterations[0]),
        max_rel_misfit=crit,
        margins=margins,
        dropped=tuple(dropped),
    )


def recalibrate_replicates(
    result: CalibrationResult, W: np.ndarray, *, tol: float | None = None, max_iter: int = 50
) -> np.ndarray:
    """Re-calibrate each replicate weight column (n, R) to the same totals.

    All replicates are solved at once (vectorised Newton). Replicates that
    do not converge raise :class:`ConvergenceError`.
    """
    W = np.asarray(W, dtype=float)
    tol = 1e-12 if tol is None else tol
    out = newton(result.matrix, W, result.totals, result.distance, tol=tol, max_iter=max_iter)
    if not out.converged.all():
        bad = np.flatnonzero(~out.converged)
        raise ConvergenceError(
            message(
                "re-calibration of replicate weights did not converge",
                where=f"replicates {', '.join(str(b + 1) for b in bad[:10])}",
                hint="use wider bounds or fewer, larger categories",
            )
        )
    return np.where(W > 0, W * out.g, 0.0)


def calibrate(
    design: SurveyDesign,
    margins: Margins,
    *,
    method: CalibrationMethod | str = "raking",
    bounds: tuple[float, float] | None = None,
    coding: Coding | str = "dummies",
    trim: float | None = None,
    tol: float = 1e-12,
    max_iter: int = 50,
) -> SurveyDesign:
    """Calibrate a design to margins; returns ``design.with_calibration(Calibration(X, d, g))``.

    With ``trim``, weights above ``trim`` times the mean respondent weight are
    capped and the design re-calibrated, in rounds (see
    :func:`nonrecours.weights.trimming.trim_and_recalibrate`). Replicate
    weights already on the design are re-calibrated one by one (all at once).

    Examples
    --------
    >>> # d2 = calibrate(design, read_margins("margins.csv"), method="raking")
    """
    d = design.weights  # the design's weights (read-only, shared), also when they come from its FPC
    res = calibrate_weights(
        design.data, d, margins, method=method, bounds=bounds, coding=coding, tol=tol, max_iter=max_iter
    )
    if trim is not None:
        res, _ = trim_and_recalibrate(design.data, res, upper=trim, tol=tol, max_iter=max_iter)
    return res.apply(design)
