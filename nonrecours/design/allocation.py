"""Allocation of a sample across strata: proportional, equal, Neyman, optimal, power.

Every method is the same computation: a score ``a_h`` per stratum, and
``n_h = clip(lambda * a_h, m, N_h)`` with ``lambda`` chosen so that the sizes
add up to ``n``; then integer rounding by largest remainders inside the bounds.
The clipped form is the fixed point of the classic iteration "set the strata
with n_h > N_h to take-all, re-allocate the rest" (Cochran 1977, §5.8), and
the exact minimiser of ``sum a_h^2 / n_h`` under the bounds (its KKT
conditions), so it is reached in one pass and the result is deterministic.

The precision-driven allocation lives in :mod:`nonrecours.design.precision`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import scipy.sparse as sp

from .._checks import check_columns, check_grouping_column
from .._frozen import freeze_arrays, readonly
from ..errors import DesignError, InputError, OptionError, label_list, message
from ..estimation._dist import norm_ppf
from ..options import AllocationMethod, RateCombination, check_option
from ._strata import StrataIndex, check_rates, check_share, domain_counts, index_strata, variance_coefficients

__all__ = ["Allocation", "allocate", "allocate_frame", "bounded_allocation", "round_allocation", "ALLOCATION_COLUMNS"]


#: Columns of ``Allocation.to_frame()`` besides the stratum keys (``nonrecours sample``
#: takes every other column of an allocation file as a stratum key).
ALLOCATION_COLUMNS = ("stratum", "N_h", "n_h", "take_all", "method", "S_h", "cost_h", "halfwidth", "cv")


@dataclass(frozen=True)
class Allocation:
    """Sample sizes per stratum, with how they were obtained.

    Attributes
    ----------
    strata : DataFrame
        One row per stratum: the key columns and the text label ``stratum``.
    N, n : ndarray of int64
        Population and sample sizes per stratum.
    n_continuous : ndarray of float
        The allocation before integer rounding.
    method : str
        ``proportional``, ``equal``, ``neyman``, ``optimal``, ``power`` or ``precision``.
    min_n : int
        Minimum sample size per stratum.
    S, cost : ndarray or None
        Standard deviations and unit costs used, per stratum.
    halfwidth, cv : ndarray or None
        Anticipated CI half-width and CV of the stratum's rate, worst right
        (when anticipated rates were given).
    precision : DataFrame or None
        Anticipated precision per domain x right: ``domain``, ``level``,
        ``right``, ``N_d``, ``n_d`` (expected sample units), ``rate``,
        ``variance``, ``halfwidth``, ``cv``, and for a precision-driven
        allocation ``target`` (variance), ``binding`` and ``multiplier``.
    """

    strata: pd.DataFrame
    N: np.ndarray
    n: np.ndarray
    n_continuous: np.ndarray
    method: str
    min_n: int
    S: np.ndarray | None = None
    cost: np.ndarray | None = None
    halfwidth: np.ndarray | None = None
    cv: np.ndarray | None = None
    precision: pd.DataFrame | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        freeze_arrays(self)  # arrays handed out are read-only

    @property
    def take_all(self) -> np.ndarray:
        """Strata sampled entirely (``n_h == N_h``)."""
        return readonly(self.n == self.N)

    @property
    def total(self) -> int:
        """Total sample size."""
        return int(self.n.sum())

    def sizes(self) -> pd.Series:
        """Sample sizes indexed by stratum label (the input of :func:`~nonrecours.design.selection.select`)."""
        return pd.Series(self.n, index=pd.Index(self.strata["stratum"], name="stratum"), name="n_h")

    def to_frame(self) -> pd.DataFrame:
        """One row per stratum: keys, ``stratum``, ``N_h``, ``n_h``, ``take_all``, ``method``, and when known
        ``S_h``, ``cost_h``, ``halfwidth``, ``cv``."""
        out = self.strata.copy().reset_index(drop=True)
        out["N_h"] = self.N
        out["n_h"] = self.n
        out["take_all"] = self.take_all
        out["method"] = self.method
        for name, val in (("S_h", self.S), ("cost_h", self.cost), ("halfwidth", self.halfwidth), ("cv", self.cv)):
            if val is not None:
                out[name] = val
        return out


def bounded_allocation(
    a: np.ndarray, n: float | np.ndarray, lo: np.ndarray, hi: np.ndarray, groups: np.ndarray | None = None
) -> np.ndarray:
    """Continuous allocation ``x_h = clip(lambda_g a_h, lo_h, hi_h)`` with ``sum x_h = n_g`` in every group.

    Parameters
    ----------
    a : ndarray of float >= 0
        Scores (``N_h`` for proportional, ``N_h S_h`` for Neyman, ...).
    n : float or ndarray (G,)
        Total of every group, ``sum(lo) <= n <= sum(hi)`` within the group.
    lo, hi : ndarray
        Bounds per unit of allocation (``hi`` may be ``inf``).
    groups : ndarray of int, optional
        Group of every element (one group when omitted): several allocations at once.

    Notes
    -----
    ``x`` minimises :math:`\\sum_h a_h^2 / x_h` subject to :math:`\\sum_h x_h = n` and
    the bounds (KKT: :math:`x_h = \\lambda a_h` unless a bound binds).
    ``lambda`` is bracketed by bisection (all groups at once), then computed
    exactly from the sets of elements at their bounds.
    """
    a = np.asarray(a, float)
    lo = np.asarray(lo, float)
    hi = np.asarray(hi, float)
    g = np.zeros(a.size, np.int64) if groups is None else np.asarray(groups)
    G = int(g.max()) + 1 if g.size else 0
    n = np.broadcast_to(np.asarray(n, float), (G,))
    pos = a > 0
    # at lam_hi every element with a > 0 reaches min(hi, n), so each group's sum is >= n
    lam_hi = np.zeros(G)
    np.maximum.at(lam_hi, g[pos], np.minimum(hi[pos], n[g[pos]]) / a[pos])
    lam_lo = np.zeros(G)
    for _ in range(200):
        mid = 0.5 * (lam_lo + lam_hi)
        low = np.bincount(g, weights=np.clip(mid[g] * a, lo, hi), minlength=G) < n
        lam_lo = np.where(low, mid, lam_lo)
        lam_hi = np.where(low, lam_hi, mid)
        if np.all(lam_hi - lam_lo <= 1e-15 * lam_hi):
            break
    lam = lam_hi
    at_lo = lam[g] * a <= lo
    at_hi = lam[g] * a >= hi
    free = ~(at_lo | at_hi)
    num = (
        n
        - np.bincount(g, weights=np.where(at_lo, lo, 0.0), minlength=G)
        - np.bincount(g, weights=np.where(at_hi, hi, 0.0), minlength=G)
    )
    den = np.bincount(g, weights=np.where(free, a, 0.0), minlength=G)
    lam = np.where(den > 0, num / np.where(den > 0, den, 1.0), lam)
    return np.clip(lam[g] * a, lo, hi)


def _rank_in_group(keys: tuple[np.ndarray, ...], g: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Rank (0-based) of each masked element within its group, by lexicographic ``keys``; -1 elsewhere."""
    idx = np.flatnonzero(mask)
    order = idx[np.lexsort(tuple(k[idx] for k in keys) + (g[idx],))]
    gs = g[order]
    first = np.searchsorted(gs, gs)
    rank = np.full(g.size, -1, np.int64)
    rank[order] = np.arange(order.size) - first
    return rank


def round_allocation(
    x: np.ndarray, n: int | np.ndarray, lo: np.ndarray, hi: np.ndarray, groups: np.ndarray | None = None
) -> np.ndarray:
    """Integer allocation summing to ``n`` (per group) within integer bounds: largest remainders.

    Each ``x_h`` is floored; the missing units go to the elements with the
    largest fractional parts (ties by position), never beyond ``hi_h``.
    Deterministic; keeps ``lo_h <= n_h <= hi_h`` and the totals exactly.
    """
    x = np.round(np.asarray(x, float), 9)
    lo = np.asarray(lo, float)
    hi = np.asarray(hi, float)
    g = np.zeros(x.size, np.int64) if groups is None else np.asarray(groups)
    G = int(g.max()) + 1 if g.size else 0
    base = np.clip(np.floor(x), lo, hi)
    frac = np.round(x - base, 9)
    gap = np.rint(np.broadcast_to(np.asarray(n, float), (G,)) - np.bincount(g, weights=base, minlength=G)).astype(
        np.int64
    )
    pos = np.arange(x.size)
    up = _rank_in_group((pos, -frac), g, base < hi)
    down = _rank_in_group((pos, frac), g, base > lo)
    room_up = np.bincount(g, weights=base < hi, minlength=G)
    if (gap > room_up).any():
        raise DesignError(
            message(
                "integer rounding cannot reach the total within the bounds",
                where="allocation",
                found=f"{int((gap - room_up).max())} units short",
            )
        )
    gg = gap[g]
    base += (gg > 0) & (up >= 0) & (up < gg)
    base -= (gg < 0) & (down >= 0) & (down < -gg)
    return base.astype(np.int64)


def _scores(
    method: str,
    N: np.ndarray,
    S: np.ndarray | None,
    cost: np.ndarray | None,
    unit_cv: np.ndarray | None,
    power_q: float,
) -> np.ndarray:
    if method == "proportional":
        return N.astype(float)
    if method == "equal":
        return np.ones(N.size)
    if method == "power":
        return N.astype(float) ** power_q * (unit_cv if unit_cv is not None else 1.0)
    if S is None:
        raise OptionError(
            message(
                f"the {method} allocation needs standard deviations",
                where="parameter rates",
                hint="give anticipated rates (parameter rates, e.g. cmuc 0.65) or S",
            )
        )
    if method == "neyman":
        return N * S
    if cost is None:
        raise OptionError(
            message(
                "the optimal allocation needs unit costs",
                where="parameter cost",
                hint="give a cost column (parameter cost) or use the method neyman",
            )
        )
    return N * S / np.sqrt(cost)


def check_bounds(N: np.ndarray, labels: np.ndarray, min_n: int) -> np.ndarray:
    """Lower bounds per stratum; refuse strata smaller than ``min_n``."""
    if int(min_n) != min_n or min_n < 1:
        raise OptionError(
            message(
                "minimum per stratum must be a positive integer",
                where="parameter min_n",
                expected="an integer >= 1 (2 to estimate variances)",
                found=repr(min_n),
            )
        )
    small = min_n > N
    if small.any():
        raise DesignError(
            message(
                f"strata with fewer than {min_n} units",
                where=f"strata {label_list(labels, small)}",
                expected=f"at least {min_n} units per stratum (min per stratum)",
                found=f"{int(small.sum())} strata",
                hint="collapse them with neighbouring strata, or lower parameter min_n",
            )
        )
    return np.full(N.size, float(min_n))


def allocate(
    N: np.ndarray,
    n: int,
    *,
    method: AllocationMethod | str = "proportional",
    S: np.ndarray | None = None,
    cost: np.ndarray | None = None,
    unit_cv: np.ndarray | None = None,
    power_q: float = 0.5,
    min_n: int = 2,
    take_all: bool = True,
    strata: pd.DataFrame | None = None,
) -> Allocation:
    """Allocate ``n`` units across strata of sizes ``N``.

    Parameters
    ----------
    N : array of int, shape (H,)
        Stratum population sizes.
    n : int
        Total sample size.
    method : {"proportional", "equal", "neyman", "optimal", "power"}
        Score ``a_h`` of the allocation (see Notes).
    S : array, shape (H,), optional
        Standard deviations (Neyman, optimal).
    cost : array, shape (H,), optional
        Cost of one interview per stratum (optimal).
    unit_cv : array, shape (H,), optional
        Unit coefficients of variation ``S_h / Ybar_h`` (power; 1 when omitted).
    power_q : float
        Exponent of the power allocation, in [0, 1].
    min_n : int
        Minimum sample size per stratum; strata smaller than this are refused.
    take_all : bool
        Cap ``n_h`` at ``N_h`` (take-all strata). When False, an allocation
        asking ``n_h > N_h`` is an error.
    strata : DataFrame, optional
        One row per stratum with a ``stratum`` label (default ``"0"``, ``"1"``, ...).

    Returns
    -------
    Allocation

    Notes
    -----
    Scores: proportional :math:`a_h = N_h`; equal :math:`a_h = 1`; Neyman
    :math:`a_h = N_h S_h`; optimal :math:`a_h = N_h S_h/\\sqrt{c_h}` (minimises
    the variance of the total for a fixed cost, Cochran 1977, eq. 5.23); power
    (Bankier 1988) :math:`a_h = N_h^q\\, CV_h`, which minimises
    :math:`\\sum_h (N_h^q\\, CV(\\hat Y_h))^2`: ``q = 1`` is Neyman for a common
    mean, ``q = 0`` equalises the strata's CVs. Then
    :math:`n_h = \\mathrm{clip}(\\lambda a_h, m, N_h)` (see
    :func:`bounded_allocation`) and largest-remainder rounding.

    References: Cochran, W. G. (1977) *Sampling Techniques*, 3rd ed., ch. 5;
    Bankier, M. D. (1988) Power allocations: determining sample sizes for
    subnational areas. *The American Statistician* 42, 174-177.

    Examples
    --------
    >>> allocate(np.array([1000, 3000]), 100, method="neyman", S=np.array([0.5, 0.3])).n
    array([36, 64])
    """
    check_option("method", method, AllocationMethod)
    N = np.asarray(N, dtype=np.int64)
    H = N.size
    if strata is None:
        strata = pd.DataFrame({"stratum": np.arange(H).astype(str)})
    labels = strata["stratum"].to_numpy(dtype=object)
    if method == "power" and not 0 <= power_q <= 1:
        raise OptionError(
            message(
                "power exponent out of range", where="parameter power_q", expected="0 <= q <= 1", found=repr(power_q)
            )
        )
    if cost is not None:
        cost = np.asarray(cost, float)
        if not (np.isfinite(cost) & (cost > 0)).all():
            raise InputError(
                message(
                    "unit costs must be positive",
                    where=f"strata {label_list(labels, ~(cost > 0))}",
                    expected="> 0",
                    found="missing or non-positive costs",
                )
            )
    lo = check_bounds(N, labels, min_n)
    n = int(n)
    if n < lo.sum() or n > N.sum():
        raise DesignError(
            message(
                "sample size out of reach",
                where="parameter n",
                expected=f"between {int(lo.sum())} ({H} strata x min {min_n}) and {int(N.sum())} (the population)",
                found=str(n),
            )
        )
    a = _scores(method, N, None if S is None else np.asarray(S, float), cost, unit_cv, power_q)
    hi = N.astype(float) if take_all else np.full(H, np.inf)
    pos = a > 0
    if not pos.any() or n > lo[~pos].sum() + hi[pos].sum():
        raise DesignError(
            message(
                "the strata with a positive score cannot absorb the sample size",
                where="allocation",
                found=f"n = {n}",
                hint="strata with S_h = 0 stay at the minimum; lower n",
            )
        )
    x = bounded_allocation(a, n, lo, hi)
    if not take_all and (x > N).any():
        over = x > N
        raise DesignError(
            message(
                "allocation exceeds the population of some strata",
                where=f"strata {label_list(labels, over)}",
                expected="n_h <= N_h",
                found=f"{int(over.sum())} strata with n_h > N_h",
                hint="allow take-all strata or lower n",
            )
        )
    n_int = round_allocation(x, n, lo, np.minimum(hi, N))
    return Allocation(
        strata=strata.reset_index(drop=True),
        N=N,
        n=n_int,
        n_continuous=x,
        method=method,
        min_n=int(min_n),
        S=None if S is None else np.asarray(S, float),
        cost=cost,
    )


def stratum_mean(frame: pd.DataFrame, index: StrataIndex, column: str, *, role: str) -> np.ndarray:
    """Mean of a numeric frame column in every stratum (missing or non-numeric values refused)."""
    check_columns(frame, [column], role=f"{role} column", source="frame")
    col = pd.to_numeric(frame[column], errors="coerce").to_numpy(float)
    if np.isnan(col).any():
        raise InputError(
            message(
                f"missing or non-numeric {role} values",
                where=f"column {column!r}",
                found=f"{int(np.isnan(col).sum())} rows",
            )
        )
    return np.bincount(index.codes, weights=col, minlength=index.N.size) / index.N


def stratum_costs(frame: pd.DataFrame, index: StrataIndex, column: str) -> np.ndarray:
    """Mean unit cost per stratum from a frame column; every mean must be positive."""
    c = stratum_mean(frame, index, column, role="cost")
    bad = ~(c > 0)
    if bad.any():
        raise InputError(
            message(
                "unit costs must be positive",
                where=f"column {column!r}, strata {label_list(index.labels, bad)}",
                expected="> 0",
                found=f"{int(bad.sum())} strata with a mean cost <= 0",
            )
        )
    return c


def resolve_rates(
    frame: pd.DataFrame, index: StrataIndex, rates: Mapping[str, float | str | np.ndarray]
) -> dict[str, np.ndarray]:
    """Rates per right and stratum: a number, or the name of a frame column averaged by stratum."""
    out: dict[str, float | np.ndarray] = {}
    for right, val in rates.items():
        if isinstance(val, str):
            try:
                val = float(val)
            except ValueError:
                val = stratum_mean(frame, index, str(val), role="anticipated-rate")
        out[right] = val
    return check_rates(out, index.N.size)


def stds_from_rates(
    rates: Mapping[str, np.ndarray], combine: RateCombination | str = "rms"
) -> tuple[np.ndarray, np.ndarray]:
    """Per-stratum S_h and unit CV from anticipated rates of several rights.

    :math:`S_{hr} = \\sqrt{p_{hr}(1-p_{hr})}`. ``rms`` combines them as
    :math:`S_h = (R^{-1}\\sum_r S_{hr}^2)^{1/2}`: the Neyman allocation with this
    S_h minimises :math:`\\sum_r V(\\hat Y_r)`, the sum over rights of the variances
    of the estimated numbers of takers. ``max`` takes the largest S_hr (guards the
    least favourable right). Unit CVs :math:`\\sqrt{(1-p)/p}` are combined alike.
    """
    check_option("combine", combine, RateCombination)
    P = np.column_stack(list(rates.values()))
    var, cv2 = P * (1 - P), (1 - P) / P
    if combine == "rms":
        return np.sqrt(var.mean(axis=1)), np.sqrt(cv2.mean(axis=1))
    return np.sqrt(var.max(axis=1)), np.sqrt(cv2.max(axis=1))


def precision_table(
    n: np.ndarray,
    A,
    b: np.ndarray,
    rights: list[str],
    p_dom: np.ndarray,
    domains: pd.DataFrame,
    counts,
    N: np.ndarray,
    level: float,
) -> pd.DataFrame:
    """Anticipated variance, half-width and CV per domain x right for sizes ``n`` (``counts``: N_dh)."""
    R = len(rights)
    Nd = np.asarray(counts.sum(axis=1)).ravel()
    V = A @ (1.0 / n) - b
    V = np.maximum(V, 0.0)
    z = norm_ppf(0.5 + level / 2)
    nd = counts @ (n / N)
    return pd.DataFrame(
        {
            "domain": np.repeat(domains["domain"].to_numpy(), R),
            "level": np.repeat(domains["level"].to_numpy(), R),
            "right": np.tile(rights, len(domains)),
            "N_d": np.repeat(Nd, R),
            "n_d": np.repeat(nd, R),
            "rate": p_dom,
            "variance": V,
            "halfwidth": z * np.sqrt(V),
            "cv": np.sqrt(V) / p_dom,
        }
    )


def stratum_precision(
    index: StrataIndex,
    n: np.ndarray,
    rates: Mapping[str, np.ndarray],
    eligible: Mapping[str, float],
    response_rate: float,
    level: float,
) -> tuple[np.ndarray, np.ndarray]:
    """Anticipated half-width and CV of every stratum's rate, worst right."""
    own = sp.diags(index.N.astype(float)).tocsr()
    A, b, rights, p = variance_coefficients(own, index.N, rates, eligible, response_rate)
    per = precision_table(n, A, b, rights, p, pd.DataFrame({"domain": "", "level": index.labels}), own, index.N, level)
    shape = (index.N.size, len(rights))
    return per["halfwidth"].to_numpy().reshape(shape).max(axis=1), per["cv"].to_numpy().reshape(shape).max(axis=1)


def allocate_frame(
    frame: pd.DataFrame,
    strata: Sequence[str],
    *,
    n: int,
    method: AllocationMethod | str = "proportional",
    rates: Mapping[str, float | str | np.ndarray] | None = None,
    cost: str | None = None,
    power_q: float = 0.5,
    min_n: int = 2,
    take_all: bool = True,
    combine: RateCombination | str = "rms",
    eligible: Mapping[str, float] | None = None,
    response_rate: float = 1.0,
    domains: Sequence[Sequence[str]] | None = None,
    level: float = 0.95,
) -> Allocation:
    """Allocate ``n`` units across the strata of a frame.

    Parameters
    ----------
    frame : DataFrame
        The sampling frame (one row per recipient).
    strata : list of str
        Stratum columns (``["is_qpv", "benefit"]``).
    n, method, power_q, min_n, take_all
        As in :func:`allocate`.
    rates : mapping right -> rate, optional
        Anticipated take-up rates: a number in (0, 1), or the name of a frame
        column of anticipated rates (averaged by stratum). They give S_h
        (combined over rights as ``combine`` says, see :func:`stds_from_rates`)
        and the anticipated precision report.
    cost : str, optional
        Column of unit interview costs (averaged by stratum).
    eligible : mapping right -> share, optional
        Anticipated share of eligibles among recipients (default 1).
    response_rate : float
        Anticipated response rate (precision report only).
    domains : list of lists of columns, optional
        Domains of the precision report (default: the strata).
    level : float
        Confidence level of the anticipated half-widths.

    Returns
    -------
    Allocation
        With ``precision`` (per domain x right) and per-stratum ``halfwidth``
        and ``cv`` (worst right) when rates are given.

    Notes
    -----
    With one national rate per right, S_h is the same in every stratum and
    Neyman reduces to proportional; give per-stratum rates (a column) for a
    Neyman allocation that differs. The anticipated variance is that of
    :func:`nonrecours.design._strata.variance_coefficients`.
    """
    elig = {r: check_share(v, f"eligible[{r!r}]") for r, v in (eligible or {}).items()}
    rho = check_share(response_rate, "response_rate")
    check_share(level, "level", allow_one=False)
    check_grouping_column(frame, strata, name="strata", source="frame")  # a stratum per unit: ids in messages
    index = index_strata(frame, strata)
    P = resolve_rates(frame, index, rates) if rates else None
    S = unit_cv = None
    if P is not None:
        S, unit_cv = stds_from_rates(P, combine)
    c = None if cost is None else stratum_costs(frame, index, cost)
    alloc = allocate(
        index.N,
        n,
        method=method,
        S=S,
        cost=c,
        unit_cv=unit_cv,
        power_q=power_q,
        min_n=min_n,
        take_all=take_all,
        strata=index.table,
    )
    if P is None:
        return alloc
    n_f = alloc.n.astype(float)
    counts, dom = domain_counts(frame, index, domains)
    A, b, rights, p_dom = variance_coefficients(counts, index.N, P, elig, rho)
    table = precision_table(n_f, A, b, rights, p_dom, dom, counts, index.N, level)
    hw, cv = stratum_precision(index, n_f, P, elig, rho, level)
    return Allocation(
        strata=alloc.strata,
        N=alloc.N,
        n=alloc.n,
        n_continuous=alloc.n_continuous,
        method=method,
        min_n=alloc.min_n,
        S=S,
        cost=c,
        halfwidth=hw,
        cv=cv,
        precision=table,
    )
