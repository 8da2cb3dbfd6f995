"""Precision-driven allocation: the cheapest sample meeting a target in every domain.

Bethel (1989) / Chromy (1987) multivariate allocation: minimise the cost
``sum_h c_h n_h`` subject to an anticipated-variance bound for every domain x
right, with domains that may cut across strata. In the variables
``x_h = 1/n_h`` the constraints are linear and the objective convex, so the
problem is solved through its Lagrangian dual (one vectorised, sparse pass per
iteration), then rounded up to integers and trimmed until no stratum can lose a
unit.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd
import scipy.sparse as sp

from .._checks import check_grouping_column
from ..errors import ConvergenceError, DesignError, OptionError, message
from ..estimation._dist import norm_ppf
from ._strata import check_share, domain_counts, index_strata, variance_coefficients
from .allocation import Allocation, check_bounds, precision_table, resolve_rates, stratum_costs, stratum_precision

__all__ = ["allocate_precision", "solve_min_cost"]


def solve_min_cost(
    A: sp.spmatrix,
    rhs: np.ndarray,
    cost: np.ndarray,
    lo: np.ndarray,
    hi: np.ndarray,
    *,
    tol: float = 1e-10,
    maxiter: int = 20000,
) -> tuple[np.ndarray, np.ndarray]:
    """Continuous solution of ``min sum c_h n_h`` s.t. ``sum_h A_kh / n_h <= rhs_k``, ``lo <= n <= hi``.

    Parameters
    ----------
    A : sparse matrix (K, H), non-negative
    rhs : ndarray (K,), positive
    cost : ndarray (H,), positive
    lo, hi : ndarray (H,), ``0 < lo <= hi``

    Returns
    -------
    n : ndarray (H,)
        Continuous optimum.
    multipliers : ndarray (K,)
        Lagrange multipliers of the constraints scaled to ``rhs = 1``.

    Notes
    -----
    With :math:`x_h = 1/n_h` the problem is :math:`\\min \\sum_h c_h/x_h` s.t.
    :math:`\\tilde A x \\le 1`, :math:`1/hi \\le x \\le 1/lo` (rows of A divided by
    rhs): a convex objective under linear constraints (Bethel 1989). Its dual
    function

    .. math:: q(\\lambda) = \\sum_h \\min_{x_h} (c_h / x_h + g_h x_h) - \\sum_k \\lambda_k,
              \\quad g = \\tilde A^\\top \\lambda,

    has the closed-form inner minimiser :math:`x_h = \\mathrm{clip}(\\sqrt{c_h/g_h})`
    and gradient :math:`\\tilde A x - 1`; it is maximised over
    :math:`\\lambda \\ge 0` by L-BFGS-B. This is Chromy's (1987) Lagrangian
    algorithm with a quasi-Newton update of the multipliers.

    References: Bethel, J. (1989) Sample allocation in multivariate surveys.
    *Survey Methodology* 15, 47-57; Chromy, J. (1987) Design optimization with
    multiple objectives. *Proc. Survey Research Methods Section, ASA*, 194-199.
    """
    from scipy.optimize import minimize  # here: a fixed-size allocation (the same module) needs no optimiser

    A = sp.csr_matrix(A, dtype=float)
    At = sp.diags(1.0 / rhs) @ A
    AtT = At.T.tocsr()
    cost = np.asarray(cost, float)
    c_scale = cost.mean()
    c = cost / c_scale
    xl, xu = 1.0 / np.asarray(hi, float), 1.0 / np.asarray(lo, float)

    def inner(lam: np.ndarray) -> np.ndarray:
        g = AtT @ lam
        with np.errstate(divide="ignore"):
            x = np.sqrt(c / g)
        return np.clip(np.where(g > 0, x, xu), xl, xu)

    def negdual(lam: np.ndarray) -> tuple[float, np.ndarray]:
        x = inner(lam)
        g = AtT @ lam
        q = np.sum(c / x + g * x) - lam.sum()
        return -q, -(At @ x - 1.0)

    # start from multipliers that would make each constraint alone tight for a proportional-like n
    lam0 = np.full(A.shape[0], float(np.mean(c * (1.0 / xu) ** 2)))
    res = minimize(
        negdual,
        lam0,
        jac=True,
        method="L-BFGS-B",
        bounds=[(0, None)] * A.shape[0],
        options={"maxiter": maxiter, "ftol": 1e-15, "gtol": tol * max(1.0, np.abs(lam0).max()), "maxcor": 30},
    )
    x = inner(res.x)
    if not np.isfinite(x).all():
        raise ConvergenceError(
            message(
                "the precision allocation did not converge",
                where="allocation",
                found=res.message,
                hint="check the targets and the rates",
            )
        )
    return 1.0 / x, res.x


def _variance(A: sp.csr_matrix, b: np.ndarray, n: np.ndarray) -> np.ndarray:
    return A @ (1.0 / n) - b


def _repair_and_trim(
    A: sp.csr_matrix, b: np.ndarray, T: np.ndarray, n: np.ndarray, lo: np.ndarray, N: np.ndarray, cost: np.ndarray
) -> np.ndarray:
    """Add units until every bound holds, then remove units while every bound still holds.

    Removal is greedy, by decreasing cost then stratum order, one unit per
    stratum per pass, until no stratum above its minimum can lose a unit.
    """
    n = n.copy()
    Acsc = A.tocsc()
    indptr, indices, data = Acsc.indptr, Acsc.indices, Acsc.data
    H = n.size
    col_of = np.repeat(np.arange(H), np.diff(indptr))
    slack = T - _variance(A, b, n)
    guard = 0
    while (slack < -1e-12 * T).any():  # rounding may leave a bound missed by a hair
        k = int(np.argmin(slack / T))
        lo_k, hi_k = A.indptr[k], A.indptr[k + 1]
        hs, a = A.indices[lo_k:hi_k], A.data[lo_k:hi_k]
        gain = np.where(n[hs] < N[hs], a * (1 / n[hs] - 1 / (n[hs] + 1)) / cost[hs], -1.0)
        if gain.max() <= 0:
            raise DesignError(message("a precision target cannot be met", where=f"constraint {k}"))
        n[hs[np.argmax(gain)]] += 1
        slack = T - _variance(A, b, n)
        guard += 1
        if guard > 10 * H:
            raise ConvergenceError(message("repairing the rounded allocation did not converge", where="allocation"))
    order = np.lexsort((np.arange(H), -cost))
    while True:
        d = np.where(n > lo, 1.0 / np.maximum(n - 1, 1) - 1.0 / n, np.inf)
        breaks = data * d[col_of] > slack[indices]
        cand = (n > lo) & (np.bincount(col_of, weights=breaks, minlength=H) == 0)
        if not cand.any():
            return n
        for h in order[cand[order]]:
            rows = indices[indptr[h] : indptr[h + 1]]
            delta = data[indptr[h] : indptr[h + 1]] * d[h]
            if np.all(delta <= slack[rows]):
                slack[rows] -= delta
                n[h] -= 1


def allocate_precision(
    frame: pd.DataFrame,
    strata: Sequence[str],
    *,
    rates: Mapping[str, float | str | np.ndarray],
    target_halfwidth: float | None = None,
    target_cv: float | None = None,
    domains: Sequence[Sequence[str]] | None = None,
    response_rate: float = 1.0,
    eligible: Mapping[str, float] | None = None,
    cost: str | None = None,
    min_n: int = 2,
    level: float = 0.95,
) -> Allocation:
    """Smallest (cheapest) stratified sample meeting a precision target in every domain.

    Parameters
    ----------
    frame : DataFrame
        Sampling frame.
    strata : list of str
        Stratum columns.
    rates : mapping right -> rate
        Anticipated take-up rate of each right (number, or frame column averaged by stratum).
    target_halfwidth : float, optional
        Target half-width of the ``level`` CI of every domain's rate (absolute, e.g. 0.05).
    target_cv : float, optional
        Target coefficient of variation instead (e.g. 0.1). Exactly one target is required.
    domains : list of lists of columns, optional
        Domain families (``[["territory"], ["benefit", "is_qpv"]]``); default the strata.
    response_rate : float
        Expected response rate, in (0, 1].
    eligible : mapping right -> share, optional
        Expected share of eligibles among recipients (default 1).
    cost : str, optional
        Column of unit costs (averaged by stratum); default equal costs (minimum total n).
    min_n : int
        Minimum per stratum.
    level : float
        Confidence level of the half-width.

    Returns
    -------
    Allocation
        ``method = "precision"``; ``precision`` reports, per domain x right,
        the anticipated variance, half-width and CV, the ``target`` variance,
        ``binding`` (removing one unit from one of the domain's strata would
        break this target) and the continuous ``multiplier``.

    Raises
    ------
    DesignError
        When a target cannot be met even by a census (given the response
        rate): the message names the domains.

    Notes
    -----
    Minimise :math:`\\sum_h c_h n_h` s.t. :math:`V_{dr}(n) = \\sum_h A_{dr,h}/n_h - b_{dr} \\le T_{dr}`
    for every domain d and right r, with :math:`m \\le n_h \\le N_h` (coefficients
    in :func:`~nonrecours.design._strata.variance_coefficients`; :math:`T = (w/z)^2`
    for a half-width w, :math:`(\\mathrm{cv}\\, p_d)^2` for a CV). Solved by
    :func:`solve_min_cost`, rounded up (which keeps every bound), then trimmed:
    units are removed one at a time while every bound holds, so that in the
    result no stratum above its minimum can lose a unit.

    References: Bethel (1989); Chromy (1987); Valliant, Dever & Kreuter (2018)
    *Practical Tools for Designing and Weighting Survey Samples*, 2nd ed., ch. 5.
    """
    if (target_halfwidth is None) == (target_cv is None):
        raise OptionError(
            message(
                "give exactly one precision target",
                where="options target-halfwidth / target-cv",
                found="both" if target_halfwidth is not None else "neither",
            )
        )
    target = float(target_halfwidth if target_halfwidth is not None else target_cv)  # type: ignore[arg-type]  # one is given
    if not np.isfinite(target) or target <= 0:
        raise OptionError(
            message(
                "precision target must be positive",
                where="parameter target_halfwidth" if target_halfwidth is not None else "parameter target_cv",
                expected="> 0",
                found=repr(target),
            )
        )
    rho = check_share(response_rate, "response_rate")
    elig = {r: check_share(v, f"eligible[{r!r}]") for r, v in (eligible or {}).items()}
    check_share(level, "level", allow_one=False)
    check_grouping_column(frame, strata, name="strata", source="frame")  # a stratum per unit: ids in messages
    index = index_strata(frame, strata)
    N = index.N.astype(float)
    lo = check_bounds(index.N, index.labels, min_n)
    P = resolve_rates(frame, index, rates)
    c = np.ones(N.size) if cost is None else stratum_costs(frame, index, cost)
    counts, dom = domain_counts(frame, index, domains)
    A, b, rights, p_dom = variance_coefficients(counts, N, P, elig, rho)
    z = norm_ppf(0.5 + level / 2)
    T = np.full(b.size, (target / z) ** 2) if target_halfwidth is not None else (target * p_dom) ** 2
    census = _variance(A, b, N)
    R = len(rights)
    out = census > T * (1 + 1e-12)
    if out.any():
        idx = np.flatnonzero(out)
        names = [f"{dom['domain'].iat[k // R]}={dom['level'].iat[k // R]} ({rights[k % R]})" for k in idx[:6]]
        more = f" and {idx.size - 6} more" if idx.size > 6 else ""
        raise DesignError(
            message(
                "precision target unreachable even with a census",
                where="domains " + ", ".join(names) + more,
                expected=f"anticipated {'half-width' if target_halfwidth is not None else 'CV'} <= {target:g}",
                found=f"{int(out.sum())} domain x right targets missed at n_h = N_h with response rate {rho:g}",
                hint="loosen the target, merge small domains, or raise the expected response rate",
            )
        )
    # constraints in u_h = 1/n_h - 1/N_h >= 0: A u <= T - census
    room = T - census
    active = _variance(A, b, lo) > T  # bounds that the minimum sample does not already meet
    n_cont = lo.copy()
    mult = np.zeros(b.size)
    if active.any():
        Aa = A[np.flatnonzero(active)]
        rhs = T[active] + b[active]
        n_cont, mult_a = solve_min_cost(Aa, rhs, c, lo, N)
        mult[active] = mult_a
        u = 1.0 / n_cont - 1.0 / N
        load = A @ u
        with np.errstate(divide="ignore", invalid="ignore"):
            alpha = np.min(np.where(load > 0, room / load, np.inf))
        if alpha < 1:  # dual solution slightly infeasible: shrink u (more units) until every bound holds
            n_cont = 1.0 / (alpha * u + 1.0 / N)
    n_int = np.clip(np.ceil(n_cont - 1e-9), lo, N)
    n_int = _repair_and_trim(A, b, T, n_int, lo, N, c).astype(np.int64)
    table = precision_table(n_int.astype(float), A, b, rights, p_dom, dom, counts, N, level)
    table["target"] = T
    table["binding"] = _binding(A, b, T, n_int.astype(float), lo)
    table["multiplier"] = mult
    hw, cv = stratum_precision(index, n_int.astype(float), P, elig, rho, level)
    return Allocation(
        strata=index.table,
        N=index.N,
        n=n_int,
        n_continuous=n_cont,
        method="precision",
        min_n=int(min_n),
        cost=c if cost is not None else None,
        halfwidth=hw,
        cv=cv,
        precision=table,
    )


def _binding(A: sp.csr_matrix, b: np.ndarray, T: np.ndarray, n: np.ndarray, lo: np.ndarray) -> np.ndarray:
    """Bound k binds when removing one unit from one of its strata (above its minimum) would break it."""
    slack = T - _variance(A, b, n)
    d = np.where(n > lo, 1.0 / np.maximum(n - 1, 1) - 1.0 / n, 0.0)
    coo = A.tocoo()
    breaks = coo.data * d[coo.col] > slack[coo.row]
    return np.bincount(coo.row, weights=breaks, minlength=A.shape[0]) > 0
