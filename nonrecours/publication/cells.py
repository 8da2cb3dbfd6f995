"""The administrative cells as the suppression engine works on them, their totals, and the attacker's audit.

:func:`admin_cells` checks an aggregated territory x right table and codes it
(:class:`Cells`); :class:`Totals` is one level of totals published over the
cells — département x right, a margin x right (QPV vs rest), right (the
nation) — with the suppressions of the pattern being built; and
:func:`leaky_rights` is the attacker's linear programme on a pattern, used by
:func:`nonrecours.publication.suppression.protect_admin_counts` when margins
cross the départements.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from ..errors import InputError, message
from .policy import DisclosurePolicy

__all__ = ["Cells", "Totals", "admin_cells", "margin_codes", "leaky_rights"]

#: Where the errors on an aggregated table point.
SOURCE = "aggregated counts"


@dataclass(frozen=True)
class Cells:
    """An aggregated table's cells, checked and coded.

    Attributes
    ----------
    counts : ndarray of int (n, 3)
        Eligibles, takers and non-takers of each cell
        (:data:`~nonrecours.publication.policy.ADMIN_COUNTS`).
    t_code, d_code, r_code : ndarray of int (n,)
        Codes of each cell's territory, département and right.
    t_lab, d_lab, r_lab : array
        Their labels: territories and départements sorted, rights in order of appearance.
    """

    counts: np.ndarray
    t_code: np.ndarray
    t_lab: np.ndarray
    d_code: np.ndarray
    d_lab: np.ndarray
    r_code: np.ndarray
    r_lab: np.ndarray

    @property
    def order(self) -> np.ndarray:
        """Preference among cells for secondary suppression: smallest eligible counts first, ties by territory."""
        return self.counts[:, 0] * (len(self.t_lab) + 1) + self.t_code


@dataclass
class Totals:
    """One level of totals published over the cells: a partition of each right's cells, and its pattern.

    Groups are coded ``right * k + value`` (``k`` values per right: départements, or the values of a
    margin such as ``is_qpv``; 1 for the nation). ``suppressed`` is the working state of the engine: it
    only grows while the pattern is completed.

    Attributes
    ----------
    level : str
        ``departement``, ``national`` or the margin's column.
    labels : array
        The ``k`` values.
    group : ndarray of int (n_cells,)
        Group of each cell.
    totals : ndarray of int (n_rights * k, 3)
        Counts of each group.
    exists : ndarray of bool (n_rights * k,)
        Groups with cells.
    suppressed : ndarray of bool (n_rights * k,)
        Groups whose total is suppressed.
    """

    level: str
    labels: np.ndarray
    group: np.ndarray
    totals: np.ndarray
    exists: np.ndarray
    suppressed: np.ndarray

    @property
    def k(self) -> int:
        """Values per right."""
        return len(self.labels)

    @property
    def sel(self) -> np.ndarray:
        """Groups with cells (positions)."""
        return np.flatnonzero(self.exists)

    @classmethod
    def of(cls, cells: Cells, level: str, code: np.ndarray, labels: np.ndarray, policy: DisclosurePolicy) -> Totals:
        """Totals of ``cells`` by right x ``code``, those with a count below ``min_cell`` suppressed (primary)."""
        group = cells.r_code * len(labels) + code
        n_groups = len(cells.r_lab) * len(labels)
        totals = np.stack([np.bincount(group, weights=c, minlength=n_groups) for c in cells.counts.T], axis=1).astype(
            np.int64
        )
        exists = np.bincount(group, minlength=n_groups) > 0
        return cls(level, labels, group, totals, exists, exists & policy.small_cells(totals))


def _int_counts(df: pd.DataFrame, col: str) -> np.ndarray:
    v = pd.to_numeric(df[col], errors="coerce").to_numpy(dtype=float)
    bad = ~np.isfinite(v) | (v < 0) | (v != np.round(v))
    if bad.any():
        raise InputError(
            message(
                "counts must be non-negative integers",
                where=f"{SOURCE}, column {col!r}",
                found=f"{int(bad.sum())} bad values",
            )
        )
    return v.astype(np.int64)


def admin_cells(cells: pd.DataFrame, territory: str, departement: str) -> Cells:
    """Check an aggregated territory x right table (columns, counts, codes, one département per territory)
    and code it.

    Raises
    ------
    InputError
        Missing columns, no row, counts that are not non-negative integers, more takers than eligibles,
        non-takers that are not eligibles minus takers, missing codes, a cell twice, a territory in
        several départements.
    """
    missing = [c for c in (territory, departement, "right", "n_eligible", "n_takers") if c not in cells.columns]
    if missing:
        raise InputError(
            message(
                "missing columns",
                where=SOURCE,
                found=", ".join(map(repr, missing)),
                expected="territory, departement, right, n_eligible, n_takers",
            )
        )
    if not len(cells):
        raise InputError(
            message(
                "no cells to publish", where=SOURCE, expected="one row per territory x right", found="an empty table"
            )
        )
    E = _int_counts(cells, "n_eligible")
    T = _int_counts(cells, "n_takers")
    if (T > E).any():
        raise InputError(
            message(
                "more takers than eligibles", where=f"{SOURCE}, column 'n_takers'", found=f"{int((T > E).sum())} cells"
            )
        )
    N = E - T
    if "n_non_takers" in cells.columns and not np.array_equal(_int_counts(cells, "n_non_takers"), N):
        raise InputError(message("non-takers are not eligibles minus takers", where=f"{SOURCE}, column 'n_non_takers'"))
    for col in (territory, departement, "right"):
        if cells[col].isna().any():
            raise InputError(
                message(
                    "missing codes",
                    where=f"{SOURCE}, column {col!r}",
                    found=f"{int(cells[col].isna().sum())} empty rows",
                )
            )
    if cells.duplicated([territory, "right"]).any():
        raise InputError(
            message(
                "a territory x right cell appears twice",
                where=SOURCE,
                found=f"{int(cells.duplicated([territory, 'right']).sum())} repeated cells",
            )
        )
    t_code, t_lab = pd.factorize(cells[territory].astype(str), sort=True)
    d_code, d_lab = pd.factorize(cells[departement].astype(str), sort=True)
    r_code, r_lab = pd.factorize(cells["right"].astype(str))
    per_terr = pd.DataFrame({"t": t_code, "d": d_code}).drop_duplicates()
    if per_terr["t"].duplicated().any():
        raise InputError(
            message(
                "territories spread over several départements",
                where=SOURCE,
                found=f"{int(per_terr['t'].duplicated().sum())} territories",
                hint="a territory must lie in one département",
            )
        )
    return Cells(np.stack([E, T, N], axis=1), t_code, t_lab, d_code, d_lab, r_code, r_lab)


def margin_codes(cells: pd.DataFrame, col: str, coded: Cells) -> tuple[np.ndarray, np.ndarray]:
    """Codes and labels of a margin column (one value per territory, e.g. ``is_qpv``)."""
    if col not in cells.columns:
        raise InputError(message("missing margin column", where=SOURCE, found=repr(col)))
    m_code, m_lab = pd.factorize(cells[col].astype(str), sort=True)
    if (m_code < 0).any() or pd.DataFrame({"t": coded.t_code, "m": m_code}).drop_duplicates()["t"].duplicated().any():
        raise InputError(
            message(
                "a margin column must have one value per territory",
                where=f"{SOURCE}, column {col!r}",
                hint="give every territory its one value",
            )
        )
    return m_code, m_lab


def leaky_rights(
    cells: Cells, cell_s: np.ndarray, deps: Totals, nation: Totals, margins: Sequence[Totals], m: int
) -> np.ndarray:
    """Rights whose pattern lets a suppressed count below ``m`` be bounded under ``m`` (an LP per such count).

    With margins crossing the départements the completion's guarantee (two cells or more whose sums reach
    ``m`` in every group) no longer bounds every count away: two single-territory départements and a margin
    can isolate a pair. The attacker's linear programme (cells sum to their département and margin totals,
    those to the nation, eligibles = takers + non-takers, counts >= 0) decides; only the counts truly below
    ``m`` need checking (a larger one has a larger maximum).

    The audit fails closed. A programme that ends at its optimum (HiGHS status 0) bounds the count by its
    maximum; an unbounded one (status 3) leaves it unbounded: protected. Any other result (1, iteration limit;
    4, numerical difficulties; 2, infeasible) is unknown and marks the right leaky, since a count the
    attacker's programme could not bound is not shown protected. Infeasibility cannot come from published
    data (the true counts satisfy every relation, so the programme has a feasible point): it is a solver's
    failure like the others, and treated as one rather than asserted. A right that publishes nothing (every
    cell and every total suppressed) is protected without a programme: the attacker has no relation with a
    known value, so every count is unbounded; the repair of
    :func:`~nonrecours.publication.suppression.protect_admin_counts` ends there at the latest.
    """
    from scipy.optimize import linprog
    from scipy.sparse import coo_matrix

    counts, r_code, nr = cells.counts, cells.r_code, len(cells.r_lab)
    dtot, dep_s, dsel, nd, dgrp = deps.totals, deps.suppressed, deps.sel, deps.k, deps.group
    ntot, nat_s = nation.totals, nation.suppressed

    leaky = np.zeros(nr, dtype=bool)
    for r in range(nr):  # loop over rights (a handful)
        supp_r = np.flatnonzero((r_code == r) & cell_s)
        small = supp_r[(counts[supp_r] < m).any(axis=1)]
        if not small.size or _nothing_published(r, cells, cell_s, deps, nation, margins):
            continue
        audit = (counts[small] < m) & (_movable(cells, supp_r, small, deps, margins) < m)
        if not audit.any():  # every small count is shown protected without a programme
            continue
        var: dict = {}
        rows: list = []  # (dict var -> coef, rhs)

        def term(kind, idx, j, value, hidden):  # noqa: ANN001, ANN202
            if hidden:
                return var.setdefault((kind, idx, j), len(var)), 0.0  # noqa: B023 - called in this iteration
            return None, float(value)

        def relate(total, parts):  # noqa: ANN001, ANN202
            coefs, rhs = dict[int, float](), 0.0
            for sign, (v, val) in [(-1.0, total)] + [(1.0, p) for p in parts]:
                if v is None:
                    rhs -= sign * val
                else:
                    coefs[v] = coefs.get(v, 0.0) + sign
            if coefs:
                rows.append((coefs, rhs))  # noqa: B023 - called in this iteration

        rc = np.flatnonzero(r_code == r)
        for j in range(3):
            cell_t = {i: term("c", i, j, counts[i, j], cell_s[i]) for i in rc}
            dep_idx = dsel[dsel // nd == r]
            dep_t = {d: term("d", d, j, dtot[d, j], dep_s[d]) for d in dep_idx}
            nat_t = term("n", r, j, ntot[r, j], nat_s[r])
            for d in dep_idx:
                relate(dep_t[d], [cell_t[i] for i in rc[dgrp[rc] == d]])
            relate(nat_t, list(dep_t.values()))
            for k, g in enumerate(margins):
                msel = g.sel[g.sel // g.k == r]
                m_t = {q: term(f"m{k}", q, j, g.totals[q, j], g.suppressed[q]) for q in msel}
                for q in msel:
                    relate(m_t[q], [cell_t[i] for i in rc[g.group[rc] == q]])
                relate(nat_t, list(m_t.values()))
        for i in supp_r:  # eligibles = takers + non-takers
            e, t, n_ = (var[("c", i, j)] for j in range(3))
            rows.append(({e: 1.0, t: -1.0, n_: -1.0}, 0.0))
        if not rows:
            continue
        ri, ci, vi, b = [], [], [], []
        for k, (coefs, rhs) in enumerate(rows):
            for v, a in coefs.items():
                ri.append(k)
                ci.append(v)
                vi.append(a)
            b.append(rhs)
        A = coo_matrix((vi, (ri, ci)), shape=(len(rows), len(var))).tocsr()
        for i, todo in zip(small, audit):
            for j in np.flatnonzero(todo).tolist():
                obj = np.zeros(len(var))
                obj[var[("c", i, j)]] = -1.0  # maximise the count
                sol = linprog(obj, A_eq=A, b_eq=b, bounds=(0, None), method="highs")
                if sol.status == 3:  # unbounded: the attacker cannot bound the count
                    continue
                # status 0 bounds the count: a leak when the bound is under m (a maximum under 0.5 is a known
                # zero, published anyway); any other status is unknown: not shown protected, so leaky
                if sol.status != 0 or 0.5 <= -sol.fun < m - 1e-6:
                    leaky[r] = True
                    break
            if leaky[r]:
                break
    return leaky


def _movable(cells: Cells, supp: np.ndarray, small: np.ndarray, deps: Totals, margins: Sequence[Totals]) -> np.ndarray:
    """A lower bound of the attacker's maximum of each count of the cells ``small`` (among a right's suppressed
    cells ``supp``): the count plus those of the other suppressed cells of its département and of its group in
    every margin, shape ``(len(small), 3)``; the départements whose totals are suppressed count as one.

    Notes
    -----
    Moving every count of those cells onto the cell (eligibles with takers and non-takers, so that eligibles =
    takers + non-takers still holds, every count staying >= 0) keeps every published sum of the attacker's
    programme (département, margin and national totals); a suppressed département total is an unknown of the
    programme that follows its cells (still >= 0). That is a feasible point, so the programme's maximum is at
    least the group's sum. A count whose group sums to ``m`` or more is therefore protected, and its programme
    can only confirm it (:func:`leaky_rights` solves the others).
    """
    # a département whose total is suppressed is one of the attacker's unknowns: its cells trade with those of
    # every other such département (the national total keeps its sum), so they share one key (-1); a margin's
    # groups stay apart (a weaker bound, still a valid one)
    dep = np.where(deps.suppressed[deps.group[supp]], -1, deps.group[supp])
    keys = np.stack([dep, *(g.group[supp] for g in margins)], axis=1)
    _, inv = np.unique(keys, axis=0, return_inverse=True)
    inv = inv.ravel()
    sums = np.stack([np.bincount(inv, weights=cells.counts[supp, j]) for j in range(3)], axis=1)
    at = np.searchsorted(supp, small)  # small is a subset of supp (both sorted)
    return sums[inv[at]]


def _nothing_published(
    r: int, cells: Cells, cell_s: np.ndarray, deps: Totals, nation: Totals, margins: Sequence[Totals]
) -> bool:
    """Whether right ``r`` publishes no cell and no total (its every count is then unbounded to an attacker)."""
    if not cell_s[cells.r_code == r].all() or not nation.suppressed[r]:
        return False
    return all((g.suppressed | ~g.exists)[r * g.k : (r + 1) * g.k].all() for g in (deps, *margins))
