r"""Optimal secondary suppression over linked tables: a mixed-integer programme with row generation.

The heuristic of :mod:`nonrecours.publication.suppression` completes each group of cells against its
total, then audits the pattern. Here the pattern is chosen at least cost over every published table at
once, as τ-Argus' Optimal and Modular methods do (Fischetti and Salazar-González, 2001): the
territory × right cells, their département totals, their margins (QPV vs rest) and the national totals,
over every year of a series, are *units* :math:`u` with a binary :math:`x_u` (1 = suppressed), linked by
the additive relations the publication shows (a total is the sum of its parts, in each count: eligibles,
takers, non-takers) and by eligibles = takers + non-takers inside each unit.

:func:`optimal_pattern` solves, for each block of units that share no relation (a right)::

    minimise    sum_u w_u x_u
    subject to  x_u = 1                           for the primary (and forced) units,
                protection of every sensitive count (below ``min_cell``), in every year,
                x_u in {0, 1}.

The protection of a sensitive count :math:`a_s < m` (``min_cell``): the attacker's largest value of it,
by linear programming over everything published, must reach :math:`m`, its *upper protection level*
being :math:`UPL_s = m - a_s` (its lower protection level is 0: counts are non-negative, and an
interval :math:`[lo, hi] \ni a_s` with :math:`hi \ge m` is at least one wide, so no count is recovered
nor shown to be small; tests/attacker.py checks exactly this). In deviations :math:`y = z - a` from the
true values, the attacker's programme is

.. math::  \max\, y_s \quad \text{s.t.} \quad A y = 0,\; -a_v x_{u(v)} \le y_v \le M_v x_{u(v)},

(:math:`A`: the relations, count by count, and eligibles = takers + non-takers; a published value has
:math:`x = 0` and cannot move; :math:`M_v` a capacity, here the largest value of that count in the block
that year, at least :math:`m`, which only makes the model more prudent). By LP duality its value is
:math:`\min_\pi \sum_v (M_v \alpha_v + a_v \beta_v) x_{u(v)}` with :math:`d = e_s - A^\top \pi`,
:math:`\alpha = d^+`, :math:`\beta = d^-`: every :math:`\pi` gives a valid inequality (a Benders cut)

.. math::  \sum_u \min\Big(UPL_s,\, \sum_{v \in u} M_v \alpha_v + a_v \beta_v\Big)\, x_u \ \ge\ UPL_s

(coefficients clipped at the right-hand side: still valid for binary :math:`x`). The master starts with
the cuts of each relation alone (:math:`\pi` = that row: the "capacity" cuts of the partial-sums model);
it is solved by :func:`scipy.optimize.milp` (HiGHS), each sensitive count of its pattern is attacked by
:func:`scipy.optimize.linprog` (HiGHS; only the suppressed values are unknowns), the optimal duals of every
attack that fails to reach :math:`UPL_s` give a violated cut, and the loop repeats until every attack
reaches its level. Suppressing more never helps the attacker (the feasible set grows), so should the loop
not end within its budget, the heuristic's pattern, which the caller audits anyway, is the fallback.

References
----------
Fischetti, M. and Salazar-González, J.-J. (2001), Solving the cell suppression problem on tabular data
with linear constraints, *Management Science* 47(7), 1008-1027. Hundepool et al. (2012), *Statistical
Disclosure Control*, Wiley, section 4.3 (τ-Argus Optimal and Modular).
"""

from __future__ import annotations

import time
import warnings
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp
from scipy.optimize import Bounds, LinearConstraint, linprog, milp

from ..errors import ConvergenceWarning, OptionError, message
from .cells import Totals

__all__ = ["LinkedUnits", "optimal_pattern", "admin_units", "optimal_admin"]

#: Largest relation (number of members) whose single-row cuts seed the master; larger ones (a national
#: margin) are left to the attacks, which add the cuts that bind.
_SEED_MAX_MEMBERS = 200
_TOL = 1e-7
#: Joint attacks on a pattern before the counts left are attacked one by one.
_JOINT_ROUNDS = 3


@dataclass(frozen=True)
class LinkedUnits:
    """Units of linked tables (cells and totals), their values over the years and their relations.

    Attributes
    ----------
    relations : scipy.sparse.csr_matrix (n_relations, n_units)
        +1 for each part, -1 for the total: each row sums to 0 in every count and every year.
    values : ndarray of int (n_years, n_units, 3)
        Eligibles, takers and non-takers of each unit each year (eligibles = takers + non-takers).
    fixed : ndarray of bool (n_units,)
        Units suppressed whatever the pattern: primary (a count below ``min_cell`` in some year) and forced.
    block : ndarray of int (n_units,)
        Units of different blocks share no relation (the rights): each block is one programme.
    cost : ndarray of float (n_units,)
        Cost of suppressing each unit.
    """

    relations: sp.csr_matrix
    values: np.ndarray
    fixed: np.ndarray
    block: np.ndarray
    cost: np.ndarray


def optimal_pattern(
    units: LinkedUnits, min_cell: int, *, time_limit: float = 120.0, max_rounds: int = 60
) -> np.ndarray | None:
    """The least-cost suppression pattern under which the attacker recovers no count below ``min_cell``.

    Parameters
    ----------
    units : LinkedUnits
    min_cell : int
    time_limit : float
        Seconds for the whole programme: every block's master programmes (HiGHS' ``time_limit`` is what is left
        of it) and the attacks between them. Beyond it there is no pattern.
    max_rounds : int
        Rounds of cut generation per block.

    Returns
    -------
    ndarray of bool (n_units,) or None
        Suppressed units (the fixed ones included); None when a block's loop did not end within its
        rounds or the programme within ``time_limit`` (the caller then keeps its heuristic pattern).

    Notes
    -----
    See the module's docstring: one master MILP per block, Benders cuts from the attacker's linear
    programmes (Fischetti and Salazar-González, 2001).

    Examples
    --------
    One total over three cells, the first with 2 takers: its partner must be able to give it 9 takers, which
    the cell of 5 takers cannot; the cell of 10 can, and costs less than the total.

    >>> units = LinkedUnits(
    ...     relations=sp.csr_matrix(np.array([[1.0, 1.0, 1.0, -1.0]])),
    ...     values=np.array([[[5, 2, 3], [20, 5, 15], [30, 10, 20], [55, 17, 38]]]),
    ...     fixed=np.array([True, False, False, False]), block=np.zeros(4, dtype=int), cost=np.array([1, 1, 1, 3.0]))
    >>> optimal_pattern(units, 11).tolist()
    [True, False, True, False]
    """
    if not time_limit > 0:
        raise OptionError(
            message(
                "the optimal suppression needs a time budget",
                where="parameter time_limit",
                expected="a positive number of seconds",
                found=repr(time_limit),
            )
        )
    deadline = time.monotonic() + float(time_limit)
    x = units.fixed.copy()
    for b in np.unique(units.block).tolist():  # loop over blocks (the rights: a handful)
        idx = np.flatnonzero(units.block == b)
        rel = units.relations[:, idx]
        rel = rel[np.flatnonzero(np.diff(rel.tocsr().indptr) > 0)]
        xb = _solve_block(
            sp.csr_matrix(rel),
            units.values[:, idx, :],
            units.fixed[idx],
            units.cost[idx],
            min_cell,
            deadline,
            max_rounds,
        )
        if xb is None:
            return None
        x[idx] = xb
    return x


def _attacker_matrix(rel: sp.csr_matrix) -> sp.csr_matrix:
    """Rows of the attacker's equalities over the values ``3 u + j``: each relation in each count, then
    eligibles - takers - non-takers = 0 in each unit."""
    n_units = rel.shape[1]
    counts = sp.kron(rel, sp.identity(3, format="csr"), format="csr")
    link = sp.kron(sp.identity(n_units, format="csr"), sp.csr_matrix(np.array([[1.0, -1.0, -1.0]])), format="csr")
    return sp.vstack([counts, link], format="csr")


def _seed_cuts(
    rel: sp.csr_matrix, a: np.ndarray, cap: np.ndarray, targets: np.ndarray, upl: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The cut of each relation alone for each target ``(year, unit, count)``: raising the target by its level
    needs the other members on its side to go down (at most their value) or those on the other side to go
    up (at most the capacity). Returns (cut, unit, coefficient) triplets and the right-hand sides."""
    coo = rel.tocoo()
    size = np.diff(rel.indptr)
    keep = size[coo.row] <= _SEED_MAX_MEMBERS
    r_row, r_col = coo.row[keep], coo.col[keep]
    by_unit = sp.csr_matrix((np.arange(r_row.size) + 1, (r_col, r_row)), shape=(rel.shape[1], rel.shape[0]))
    ty, tu, tj = targets.T
    # (target, membership of its unit) pairs: each relation holding the target's unit
    start, stop = by_unit.indptr[tu], by_unit.indptr[tu + 1]
    n_pair = stop - start
    t_of = np.repeat(np.arange(len(targets)), n_pair)
    pos = np.repeat(start - np.cumsum(np.r_[0, n_pair[:-1]]), n_pair) + np.arange(n_pair.sum())
    rel_of = by_unit.indices[pos]
    sgn_t = np.asarray(rel[rel_of, tu[t_of]]).ravel() if rel_of.size else np.zeros(0)  # no small relation: none
    cut = np.arange(t_of.size)  # one cut per (target, relation)
    # members of each such relation
    m_start, m_stop = rel.indptr[rel_of], rel.indptr[rel_of + 1]
    m_n = m_stop - m_start
    c_of = np.repeat(cut, m_n)
    mpos = np.repeat(m_start - np.cumsum(np.r_[0, m_n[:-1]]), m_n) + np.arange(m_n.sum())
    unit = rel.indices[mpos]
    sgn = rel.data[mpos]
    tt = t_of[c_of]
    other = unit != tu[tt]
    c_of, unit, sgn, tt = c_of[other], unit[other], sgn[other], tt[other]
    same_side = sgn == sgn_t[c_of]
    coef = np.where(same_side, a[ty[tt], unit, tj[tt]], cap[ty[tt], tj[tt]])
    coef = np.minimum(coef, upl[tt])
    nz = coef > 0
    return c_of[nz], unit[nz], coef[nz].astype(float), upl[t_of].astype(float)


def _solve_block(
    rel: sp.csr_matrix,
    a: np.ndarray,
    fixed: np.ndarray,
    cost: np.ndarray,
    m: int,
    deadline: float,
    max_rounds: int,
) -> np.ndarray | None:
    """One block: the master MILP and its cuts until every sensitive count reaches its protection level, or None
    when ``deadline`` (``time.monotonic()``) passes first."""
    n_units = a.shape[1]
    sensitive = (a < m) & fixed[None, :, None]
    targets = np.argwhere(sensitive)  # (year, unit, count)
    if not len(targets):
        return fixed.copy()
    upl = (m - a[sensitive]).astype(float)
    cap = np.maximum(a.max(axis=1), m).astype(float)  # (year, count): the capacity of every value
    A = _attacker_matrix(rel)
    At = A.T.tocsr()
    small = rel[np.flatnonzero(np.diff(rel.indptr) <= _SEED_MAX_MEMBERS)]
    near = ((abs(small).T @ abs(small)) + sp.identity(n_units)).tocsr()  # units sharing a small relation
    rows, cols, vals, rhs = [], [], [], []
    c_of, unit, coef, rhs0 = _seed_cuts(rel, a, cap, targets, upl)
    rows.append(c_of)
    cols.append(unit)
    vals.append(coef)
    rhs.append(rhs0)
    n_cuts = rhs0.size
    lb = fixed.astype(float)
    for _ in range(max_rounds):  # rounds of cut generation (a few)
        left = deadline - time.monotonic()
        if left <= 0:
            return None  # the budget is spent: the caller keeps its heuristic pattern
        r, c, v, h = (np.concatenate(z) for z in (rows, cols, vals, rhs))
        cons = LinearConstraint(sp.csr_matrix((v, (r, c)), shape=(n_cuts, n_units)), lb=h, ub=np.inf)
        res = milp(
            cost,
            integrality=np.ones(n_units),
            bounds=Bounds(lb, np.ones(n_units)),
            constraints=[cons] if n_cuts else [],
            options={"time_limit": left, "mip_rel_gap": 1e-6},
        )
        if res.x is None:
            return None
        x = res.x > 0.5
        new = _attack(A, At, a, cap, x, targets, upl, near)
        if new is None:
            return None  # an attack the solver could not finish: the pattern is not certified
        if not new:
            return x
        for cut_units, cut_coef, cut_rhs in new:
            rows.append(np.full(cut_units.size, n_cuts))
            cols.append(cut_units)
            vals.append(cut_coef)
            rhs.append(np.array([cut_rhs]))
            n_cuts += 1
    return None


def _attack(
    A: sp.csr_matrix,
    At: sp.csr_matrix,
    a: np.ndarray,
    cap: np.ndarray,
    x: np.ndarray,
    targets: np.ndarray,
    upl: np.ndarray,
    near: sp.csr_matrix,
) -> list[tuple[np.ndarray, np.ndarray, float]] | None:
    r"""The attacker's programme for every sensitive count of pattern ``x``; a cut for each that stays under its
    protection level (the optimal duals of its programme, see the module's docstring).

    Most counts are shown protected together: one programme maximises :math:`\sum_k s_k / UPL_k` with
    :math:`s_k \le y_k`, :math:`0 \le s_k \le UPL_k` over the counts not yet shown protected, and every count
    its solution raises to its level is protected (the solution is an attack that reaches it); this repeats
    while it shows some (a few times). Each remaining count is then attacked with the suppressed values of its
    neighbourhood only (the units sharing a small relation with it: its département), the others held at
    their values: an attack found there is an attack on the whole. The counts left have their own programme
    over every suppressed value, whose solution may show others protected too, and whose duals give the cut.
    None when that programme does not end at its optimum (feasible and bounded, it always has one: a solver's
    failure), since a count it did not attack is not shown protected.
    """
    hidden_v = np.repeat(x, 3)  # values 3 u + j of the suppressed units are the unknowns
    cols = np.flatnonzero(hidden_v)
    sub = A[:, cols]
    live = np.flatnonzero(np.diff(sub.tocsr().indptr) > 0)
    sub = sub[live]
    pos = np.full(hidden_v.size, -1)
    pos[cols] = np.arange(cols.size)
    zeros = np.zeros(live.size)
    sub_cols = sub.tocsc()
    cuts = []
    for y in np.unique(targets[:, 0]).tolist():  # loop over years (a handful)
        flat = a[y].reshape(-1).astype(float)
        cap_v = np.tile(cap[y], a.shape[1])
        bounds = np.stack([-flat[cols], cap_v[cols]], axis=1)
        ks = np.flatnonzero(targets[:, 0] == y)
        var = pos[3 * targets[ks, 1] + targets[ks, 2]]
        left = np.ones(ks.size, dtype=bool)  # not yet shown protected
        for _ in range(_JOINT_ROUNDS):  # joint attacks: each shows some counts protected, or the loop stops
            if not left.any():
                break
            kk = np.flatnonzero(left)
            n = kk.size
            obj = np.r_[np.zeros(cols.size), -1.0 / upl[ks[kk]]]
            link = sp.hstack(
                [sp.csr_matrix((-np.ones(n), (np.arange(n), var[kk])), shape=(n, cols.size)), sp.identity(n)]
            )
            res = linprog(
                obj,
                A_ub=link.tocsr(),
                b_ub=np.zeros(n),
                A_eq=sp.hstack([sub, sp.csr_matrix((live.size, n))]).tocsr(),
                b_eq=zeros,
                bounds=np.vstack([bounds, np.stack([np.zeros(n), upl[ks[kk]]], axis=1)]),
                method="highs",
            )
            if res.status != 0:
                break
            shown = res.x[var[kk]] >= upl[ks[kk]] - _TOL
            if not shown.any():
                break
            left[kk[shown]] = False
        for i in np.flatnonzero(left).tolist():  # loop over the counts no joint attack showed protected
            u = targets[ks[i], 1]
            around = near.indices[near.indptr[u] : near.indptr[u + 1]]
            around = around[x[around]]
            loc = pos[(3 * around[:, None] + np.arange(3)).ravel()]
            part = sub_cols[:, loc].tocsr()
            part = part[np.flatnonzero(np.diff(part.indptr) > 0)]
            obj = np.zeros(loc.size)
            obj[np.flatnonzero(loc == var[i])] = -1.0
            res = linprog(obj, A_eq=part, b_eq=np.zeros(part.shape[0]), bounds=bounds[loc], method="highs")
            if res.status == 0 and -res.fun >= upl[ks[i]] - _TOL:
                left[i] = False  # an attack within the neighbourhood reaches the level
        for i in np.flatnonzero(left).tolist():  # loop over the counts no cheaper attack showed protected
            if not left[i]:
                continue
            k = ks[i]
            obj = np.zeros(cols.size)
            obj[var[i]] = -1.0  # maximise the count's deviation
            res = linprog(obj, A_eq=sub, b_eq=zeros, bounds=bounds, method="highs")
            if res.status != 0:
                return None  # no certificate either way (bounded, feasible: HiGHS failed): the caller's fallback
            left[left] &= res.x[var[left]] < upl[ks[left]] - _TOL  # this attack shows these protected
            if -res.fun >= upl[k] - _TOL:
                continue
            lam = np.zeros(A.shape[0])
            lam[live] = res.eqlin.marginals
            e = np.zeros(hidden_v.size)
            e[3 * targets[k, 1] + targets[k, 2]] = 1.0
            d = e + At @ lam
            coef_v = cap_v * np.maximum(d, 0) + flat * np.maximum(-d, 0)
            coef = np.minimum(coef_v.reshape(-1, 3).sum(axis=1), upl[k])
            nz = np.flatnonzero(coef > _TOL)
            cuts.append((nz, coef[nz], float(upl[k])))
            left[i] = False
    return cuts


def admin_units(
    counts: np.ndarray,
    cell_right: np.ndarray,
    levels: list[list[Totals]],
    nation: list[Totals],
    fixed_cells: np.ndarray,
    cost: str,
) -> tuple[LinkedUnits, list[np.ndarray]]:
    """The units of an administrative publication: territory × right cells, their levels of totals
    (départements, margins) and the nation, over the years.

    Parameters
    ----------
    counts : ndarray of int (n_years, n_cells, 3)
        Each cell's eligibles, takers and non-takers each year.
    cell_right : ndarray of int (n_cells,)
        Each cell's right (the blocks).
    levels : list of list of Totals
        For each level of totals other than the nation (départements, then each margin), its
        :class:`~nonrecours.publication.cells.Totals` in each year (same groups every year).
    nation : list of Totals
        The national totals in each year.
    fixed_cells : ndarray of bool (n_cells,)
        Primary and forced cells.
    cost : {"cells", "eligibles"}
        A cell costs 1 (plus its share of all eligibles, which only breaks ties between patterns of as many
        cells) or its eligibles (summed over the years); a total costs what its cells cost together, so that
        hiding a total is never cheaper than hiding what it adds up.

    Returns
    -------
    units : LinkedUnits
    where : list of ndarray
        Positions in the units of each level's existing groups (``Totals.sel``), then of the nation's rights.
    """
    n_cells = cell_right.size
    elig = counts[:, :, 0].sum(axis=0).astype(float)
    # cells: 1 each, ties broken towards fewer eligibles (the fractions add up to less than one cell)
    c_cost = 1.0 + elig / (elig.sum() + 1.0) if cost == "cells" else elig
    n_rights = nation[0].totals.shape[0]
    n_units = n_cells + sum(int(lv[0].sel.size) for lv in levels) + n_rights
    nat_units = n_units - n_rights + np.arange(n_rights)
    rows, cols, data, where = [], [], [], []
    vals, fixed, block, costs = [counts], [fixed_cells], [cell_right], [c_cost]
    start, n_rel = n_cells, 0
    for lv in levels:  # loop over levels of totals (départements, margins: a handful)
        g0 = lv[0]
        sel = g0.sel
        unit_of = np.full(g0.exists.size, -1)
        unit_of[sel] = start + np.arange(sel.size)
        # the total of each group = the sum of its cells; the national total = the sum of the level's totals
        up = n_rel + g0.exists.size  # the rows of the national relations
        rows += [n_rel + g0.group, n_rel + sel, up + sel // g0.k, up + np.arange(n_rights)]
        cols += [np.arange(n_cells), unit_of[sel], unit_of[sel], nat_units]
        data += [np.ones(n_cells), -np.ones(sel.size), np.ones(sel.size), -np.ones(n_rights)]
        n_rel += g0.exists.size + n_rights
        vals.append(np.stack([g.totals[sel] for g in lv]))
        fixed.append(np.logical_or.reduce([g.suppressed[sel] for g in lv]))
        block.append(sel // g0.k)
        costs.append(np.bincount(g0.group, weights=c_cost, minlength=g0.exists.size)[sel])
        where.append(unit_of[sel])
        start += sel.size
    vals.append(np.stack([g.totals for g in nation]))
    fixed.append(np.logical_or.reduce([g.suppressed for g in nation]))
    block.append(np.arange(n_rights))
    costs.append(np.bincount(cell_right, weights=c_cost, minlength=n_rights))
    where.append(nat_units)
    rel = sp.csr_matrix((np.concatenate(data), (np.concatenate(rows), np.concatenate(cols))), shape=(n_rel, n_units))
    rel = rel[np.flatnonzero(np.diff(rel.indptr) > 0)]  # rows of groups without cells
    units = LinkedUnits(
        relations=sp.csr_matrix(rel),
        values=np.concatenate(vals, axis=1).astype(np.int64),
        fixed=np.concatenate(fixed),
        block=np.concatenate(block),
        cost=np.concatenate(costs),
    )
    return units, where


def optimal_admin(
    counts: np.ndarray,
    cell_right: np.ndarray,
    levels: list[list[Totals]],
    nation: list[Totals],
    fixed_cells: np.ndarray,
    min_cell: int,
    cost: str = "cells",
) -> np.ndarray | None:
    """The optimal pattern of an administrative publication (:func:`admin_units`, :func:`optimal_pattern`).

    Returns the suppressed cells and marks the suppressed totals in every year's
    :class:`~nonrecours.publication.cells.Totals` (``suppressed``, the same every year), or returns None and
    changes nothing when the programme did not end within its budget (with a
    :class:`~nonrecours.errors.ConvergenceWarning`: the caller's heuristic is then what is published).
    """
    units, where = admin_units(counts, cell_right, levels, nation, fixed_cells, cost)
    x = optimal_pattern(units, min_cell)
    if x is None:
        warnings.warn(
            message(
                "the optimal suppression did not end within its budget: the heuristic's pattern is published",
                where="parameter method",
                hint="the pattern is protected all the same; to have the optimal one, publish fewer linked tables "
                "or years at once",
            ),
            ConvergenceWarning,
            stacklevel=3,
        )
        return None
    for lv, w in zip(levels, where[:-1]):
        for g in lv:
            g.suppressed[g.sel] = x[w]
    for g in nation:
        g.suppressed[:] = x[where[-1]]
    return x[: cell_right.size]
