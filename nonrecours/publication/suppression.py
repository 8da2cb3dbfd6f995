"""The suppression engine: primary and secondary cell suppression of every published count.

The rule (:class:`~nonrecours.publication.policy.DisclosurePolicy`, INSEE's:
no published figure built from fewer than ``min_n`` respondents or
``min_cell`` recipients) is stated for the counts a figure is built from, and
protected against recovery by subtraction from the published totals.

* :func:`complete_suppression` is the core: given cells that sum to
  published group totals, some of them suppressed, it suppresses more cells
  so that in every group the suppressed cells are either none, or at least
  two whose sums of every count reach ``min_cell``. An attacker who solves the
  linear relations (cells sum to the totals, counts are non-negative) then
  only learns that each suppressed count lies in ``[0, S]`` with
  ``S >= min_cell``: no count is recovered, nor even shown to be small.
* :func:`protect_admin_counts` applies it to an administrative table already
  aggregated (territory x right: eligibles, takers, non-takers) with its
  département and national totals and its margins (QPV vs rest); every
  engine (pandas, DuckDB, Spark) aggregates, then calls it.
* :func:`protect_domain_counts` applies it to sample estimates by domain
  (respondent counts ``n``), used by the study's estimation stage, and
  :func:`protect_partitions` to more partitions of the same respondents
  (the analysis groups), keeping the suppressions of tables already
  published.
* :func:`one_pattern` is the one fixed-point loop over the years of a series:
  every year is protected with the cells hidden in any year forced, until the
  pattern stops growing. :func:`protect_series` (sample estimates) and
  :func:`protect_admin_series` (administrative counts) both go through it.

Tables that depend on the hidden cells are blanked by
:mod:`nonrecours.publication.blanking`; summaries of individual values
(histograms, extremes) are :mod:`nonrecours.publication.summaries`.

The ``status`` published says only ``published`` or ``suppressed``: telling
primary from secondary cells would tell an attacker that a secondary cell's
counts are at least ``min_cell``, which narrows the others.

**Zero is published.** A count of 0 (a domain without an eligible
respondent, a territory without a recipient for a right) describes no one and
is not a count of individuals: tables keep their 0 and an attacker who learns
that a cell is empty learns nothing about a person. Every other count of 1 to
``min_n - 1`` respondents (``min_cell - 1`` recipients) is never published,
in any table, and no published relation bounds a suppressed one below the
threshold (``tests/test_attack_publication.py`` plays the attacker on
everything a run publishes). Consequently a blank sample count is known to be
at least 1, which :func:`protect_domain_counts` takes into account.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Collection, Hashable, Iterable, Mapping, Sequence
from typing import Literal, TypeVar

import numpy as np
import pandas as pd

from ..errors import ConvergenceWarning, message
from ..options import SuppressionCost, SuppressionMethod, check_option
from .blanking import _blank, _masked, blank_rows, code_key
from .cells import Cells, Totals, admin_cells, leaky_rights, margin_codes
from .policy import ADMIN_COUNTS, DEFAULT_MIN_CELL, DisclosurePolicy, check_threshold

__all__ = [
    "complete_suppression",
    "protect_admin_counts",
    "protect_domain_counts",
    "nested_in",
    "protect_partitions",
    "one_pattern",
    "protect_series",
    "protect_admin_series",
    "check_min_cell",
    "ADMIN_COUNTS",
]


def check_min_cell(min_cell: object, where: str = "parameter min_cell") -> int:
    """``min_cell`` as an int >= 1, or an :class:`~nonrecours.errors.OptionError`
    (:func:`~nonrecours.publication.policy.check_threshold`)."""
    return check_threshold(min_cell, name="min_cell", where=where)


def check_method(method: object, cost: object) -> tuple[str, str]:
    """``method`` and ``cost`` of the administrative suppression, checked (:class:`~nonrecours.errors.OptionError`
    naming the parameter otherwise)."""
    m = check_option("method", method, SuppressionMethod)
    c = check_option("cost", cost, SuppressionCost)
    return m, c


def complete_suppression(
    counts: np.ndarray,
    suppressed: np.ndarray,
    group: np.ndarray,
    order: np.ndarray,
    min_cell: int,
    active: np.ndarray | None = None,
    candidates: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Secondary suppression: protect suppressed cells against recovery from their group totals.

    Parameters
    ----------
    counts : ndarray (n_cells, k)
        Non-negative counts of each cell (e.g. takers and non-takers).
    suppressed : ndarray of bool (n_cells,)
        Cells already suppressed (primary).
    group : ndarray of int (n_cells,)
        Group of each cell, codes ``0..G-1``: the cells of a group sum to a published total.
    order : ndarray (n_cells,)
        Preference among cells of a group: the lowest are suppressed first.
    min_cell : int
    active : ndarray of bool (G,), optional
        Groups whose total is published (default all); others need no protection.
    candidates : ndarray of bool (n_cells,), optional
        Cells that may be suppressed to protect others (default all); a cell
        whose value is known anyway (a published zero) protects nothing.

    Returns
    -------
    suppressed : ndarray of bool
        Primary and secondary cells.
    exhausted : ndarray of bool (G,)
        Active groups that even suppressing every cell does not protect (fewer
        than two cells, or totals below ``min_cell``): their total must be suppressed.

    Notes
    -----
    A group is safe when it has no suppressed cell, or at least two whose sums
    :math:`S_j` of every count :math:`j` reach ``min_cell``. Then the linear
    relations leave each suppressed count anywhere in :math:`[0, S_j]`
    (put the whole sum on that cell and zero on the others; with two cells or
    more the lower bound is 0), which contains values of ``min_cell`` and more.
    Unsafe groups take their published cells in ``order`` until safe (one
    vectorised pass over all groups: cumulative sums within groups).
    """
    counts = np.asarray(counts, dtype=np.int64).reshape(len(suppressed), -1)
    supp = np.asarray(suppressed, dtype=bool).copy()
    group = np.asarray(group, dtype=np.int64)
    n_groups = int(group.max()) + 1 if group.size else 0
    if active is not None:  # groups without cells may follow the last one that has some
        n_groups = max(n_groups, len(active))
    if active is None:
        active = np.ones(n_groups, dtype=bool)
    k = np.bincount(group, weights=supp, minlength=n_groups)
    sums = np.stack([np.bincount(group, weights=c * supp, minlength=n_groups) for c in counts.T], axis=1)
    need_k = np.where(k > 0, np.maximum(2 - k, 0), 0)
    need = np.where(k[:, None] > 0, np.maximum(min_cell - sums, 0), 0)
    unsafe = active & (k > 0) & ((need_k > 0) | (need > 0).any(axis=1))
    cand = np.flatnonzero(~supp & unsafe[group] & (True if candidates is None else np.asarray(candidates, bool)))
    exhausted = unsafe.copy()
    if cand.size:
        cand = cand[np.lexsort((order[cand], group[cand]))]
        g = group[cand]
        start = np.r_[True, g[1:] != g[:-1]]
        first_pos = np.maximum.accumulate(np.where(start, np.arange(g.size), 0))

        def within(x: np.ndarray) -> np.ndarray:  # cumulative sums restarting at each group
            c = np.cumsum(x, axis=0)
            base = np.where(first_pos > 0, 1, 0)
            prev = c[first_pos - base] * base.reshape(-1, *([1] * (x.ndim - 1)))
            return c - prev

        ck = np.arange(g.size) - first_pos + 1
        cs = within(counts[cand])
        met = (ck >= need_k[g]) & (cs >= need[g]).all(axis=1)
        # position of the first 'met' in each group (or past the end when never met)
        big = np.iinfo(np.int64).max
        first_met = np.full(n_groups, big)
        np.minimum.at(first_met, g[met], np.arange(g.size)[met])
        take = np.arange(g.size) <= first_met[g]
        supp[cand[take]] = True
        exhausted[np.unique(g[met])] = False
    return supp, exhausted


def _rate(k: np.ndarray, n: np.ndarray, keep: np.ndarray) -> np.ndarray:
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(keep & (n > 0), k / np.maximum(n, 1), np.nan)


def protect_admin_counts(
    cells: pd.DataFrame,
    *,
    min_cell: int = DEFAULT_MIN_CELL,
    territory: str = "territory",
    departement: str = "departement",
    forced: np.ndarray | None = None,
    forced_totals: Collection[tuple[str | None, str]] = (),
    margins: Sequence[str] = (),
    method: str = "heuristic",
    cost: str = "cells",
) -> tuple[pd.DataFrame, pd.DataFrame, np.ndarray]:
    """Primary and secondary suppression of an aggregated territory x right table of counts.

    Parameters
    ----------
    cells : DataFrame
        One row per territory x right: ``territory``, ``departement``, ``right``,
        ``n_eligible``, ``n_takers`` (``n_non_takers`` optional, checked to equal
        their difference). A territory lies in one département.
    min_cell : int
        A figure built from fewer individuals is not published (default
        :data:`~nonrecours.publication.policy.DEFAULT_MIN_CELL`).
    forced : ndarray of bool, optional
        Cells suppressed whatever their counts (treated as primary), e.g. the
        cells suppressed in another year of a series, so that every year has
        the same pattern (:func:`protect_admin_series`).
    forced_totals : collection of (departement or None, right)
        Totals suppressed whatever their counts: a département x right total,
        or the national total of a right (``None``).
    margins : sequence of str
        Columns of ``cells`` constant within a territory (e.g. ``is_qpv``)
        whose totals per value x right are published elsewhere (QPV vs rest):
        the cells of each such group are protected against their total too.

    Returns
    -------
    table : DataFrame
        ``territory``, ``departement``, ``right``, ``n_eligible``, ``n_takers``,
        ``n_non_takers``, ``rate``, ``status`` (``published`` or ``suppressed``);
        counts and rate missing where suppressed. Rows in the order given.
    totals : DataFrame
        ``level`` (``departement`` or ``national``), ``departement`` (empty for
        the national rows), ``right``, the three counts, ``rate``, ``status``;
        with ``margins``, rows whose ``level`` is the margin's name and a column
        of that name holding its value (e.g. ``level = "is_qpv"``, ``is_qpv = 1``):
        a caller publishes a margin total only where its ``status`` is ``published``.
    rule : ndarray of str
        Per cell of ``table``: ``primary``, ``secondary`` or ``published``
        (for the producer; not to be published).

    Notes
    -----
    Primary: a cell (territory, département or national) with fewer than
    ``min_cell`` eligibles, takers or non-takers. Secondary
    (:func:`complete_suppression`), from the top down: the suppressed
    département totals of a right are completed against the national total
    (a département total suppressed has all its territory cells suppressed
    with it; if no completion protects them, the national total is
    suppressed), then the suppressed cells of each published département
    total are completed against it, smallest eligible counts first (ties by
    territory code). With ``margins``, the cells of each margin value x
    right are completed against that total as well, and the passes over
    départements and margins repeat until no cell is added (suppressions only
    grow, so a few passes). Margins cross the départements, where two cells
    per group no longer suffice (two single-territory départements and a
    margin can isolate a pair): the pattern of each right with margins is then
    audited by linear programming, the attacker's (the largest value of each
    suppressed count below ``min_cell`` under every published relation), and
    a right whose audit finds a count bounded under ``min_cell`` has its margin
    totals suppressed (then its national total). The audit fails closed: a
    programme the solver does not finish counts as a leak, and a right it never
    shows safe is withheld whole, with a
    :class:`~nonrecours.errors.ConvergenceWarning`. Hundepool et al. (2012), *Statistical Disclosure
    Control*, sections 4.2-4.3.

    Examples
    --------
    >>> cells = pd.DataFrame({"territory": ["a", "b", "c"], "departement": "01", "right": "tpn",
    ...                       "n_eligible": [30, 5, 40], "n_takers": [15, 2, 20]})
    >>> protect_admin_counts(cells)[0]["status"].tolist()
    ['suppressed', 'suppressed', 'published']
    """
    # the engine applies the threshold it is given; the refusal below THRESHOLD is the publication's boundary
    policy = DisclosurePolicy(min_cell=check_min_cell(min_cell), allow_below_threshold=True)
    coded = admin_cells(cells, territory, departement)
    deps = Totals.of(coded, "departement", coded.d_code, coded.d_lab, policy)
    nation = Totals.of(coded, "national", np.zeros_like(coded.r_code), np.array([""], dtype=object), policy)
    marg = [Totals.of(coded, col, *margin_codes(cells, col, coded), policy) for col in margins]
    # primary, and forced (suppressed in another year of a series)
    cell_p = policy.small_cells(coded.counts)
    if forced is not None:
        cell_p |= np.asarray(forced, dtype=bool)
    _force_totals(coded, deps, nation, forced_totals)
    method, cost = check_method(method, cost)
    cell_s = None
    if method == "optimal":
        from .optimal import optimal_admin  # scipy.optimize on first use

        levels = [[deps], *[[g] for g in marg]]
        cell_s = optimal_admin(coded.counts[None], coded.r_code, levels, [nation], cell_p, policy.min_cell, cost)
    if cell_s is None:
        cell_s = _complete_pattern(coded, cell_p.copy(), deps, nation, marg, policy.min_cell)
    rule = np.where(cell_p, "primary", np.where(cell_s, "secondary", "published"))
    return _cells_table(cells, territory, departement, coded, cell_s), _totals_table(coded, deps, nation, marg), rule


def _force_totals(
    coded: Cells, deps: Totals, nation: Totals, forced_totals: Collection[tuple[str | None, str]]
) -> None:
    """Suppress the totals of ``forced_totals`` (département x right, or the nation's for ``None``)."""
    d_pos = {str(v): i for i, v in enumerate(coded.d_lab)}
    r_pos = {str(v): i for i, v in enumerate(coded.r_lab)}
    for dep_key, right_key in forced_totals:
        if str(right_key) in r_pos and dep_key is None:
            nation.suppressed[r_pos[str(right_key)]] = True
        elif str(right_key) in r_pos and str(dep_key) in d_pos:
            j = r_pos[str(right_key)] * deps.k + d_pos[str(dep_key)]
            deps.suppressed[j] |= deps.exists[j]


def _complete_pattern(
    coded: Cells, cell_s: np.ndarray, deps: Totals, nation: Totals, marg: list[Totals], m: int
) -> np.ndarray:
    """Secondary suppression of the cells and totals (:func:`_complete_passes`); with margins, the attacker's
    audit of the pattern (:func:`~nonrecours.publication.cells.leaky_rights`) and a repair that makes progress
    at every pass, so the loop ends (at most three repairs per right).

    A right whose audit says leaky (a count bounded under ``m``, or a programme that did not end: the audit
    fails closed) has, in turn: its margin totals suppressed; if they were already, its national total
    (nothing crosses the départements any more, and the completion then protects every group, so a right
    still leaky has met a solver's failure, not a leak); if that was too, every remaining cell and
    département total of the right, with a :class:`~nonrecours.errors.ConvergenceWarning`. A right that
    publishes nothing is protected without a programme, so the loop ends there at the latest. Withholding
    the right is the safe choice: its suppressions hide more than needed, never less.
    """
    while True:
        cell_s = _complete_passes(coded, cell_s, deps, nation, marg, m)
        leaky = leaky_rights(coded, cell_s, deps, nation, marg, m) if marg else np.zeros(len(coded.r_lab), bool)
        if not leaky.any():
            return cell_s
        open_marg = np.zeros_like(leaky)
        for g in marg:  # rights with a margin total still published
            open_marg |= (~g.suppressed & g.exists).reshape(-1, g.k).any(axis=1)
        to_margins = leaky & open_marg
        to_nation = leaky & ~open_marg & ~nation.suppressed
        whole = leaky & ~open_marg & nation.suppressed
        for g in marg:  # publishing these rights' margins would give small cells away: they are suppressed
            g.suppressed |= np.repeat(to_margins, g.k)
        nation.suppressed |= to_nation  # their margins are suppressed already: then nothing crosses
        if whole.any():  # nothing left to repair but the audit is unknown: the rights are withheld whole
            warnings.warn(
                message(
                    "the attacker's linear programme (scipy's HiGHS) did not end on a suppression pattern, so "
                    "it is not shown protected: every count of the right it audits is suppressed",
                    where="parameter min_cell",
                    found=f"{int(whole.sum())} right(s) withheld whole",
                    hint="a solver failure, not a leak: check the counts, or rerun with method='optimal'",
                ),
                ConvergenceWarning,
                stacklevel=3,
            )
            cell_s = cell_s | whole[coded.r_code]
            deps.suppressed |= np.repeat(whole, deps.k) & deps.exists


def _complete_passes(
    coded: Cells, cell_s: np.ndarray, deps: Totals, nation: Totals, marg: list[Totals], m: int
) -> np.ndarray:
    """The passes of :func:`complete_suppression`, from the top down, until nothing is added (suppressions only
    grow: a few passes): départements and margin totals against the nation (a group that cannot be protected
    takes the national total with it); a suppressed département takes all its cells; the cells against their
    département and their margins (a group that cannot be protected takes its total with it)."""
    levels = [deps, *marg]
    nat_s = nation.suppressed
    while True:
        before = (cell_s.copy(), [g.suppressed.copy() for g in (nation, *levels)])
        for g in levels:
            sel = g.sel
            g.suppressed[sel], ex = complete_suppression(
                g.totals[sel], g.suppressed[sel], sel // g.k, g.totals[sel, 0], m, active=~nat_s
            )
            nat_s |= ex
        cell_s |= deps.suppressed[deps.group]
        for g in levels:
            cell_s, ex = complete_suppression(coded.counts, cell_s, g.group, coded.order, m, active=~g.suppressed)
            g.suppressed |= ex & g.exists
        if (cell_s == before[0]).all() and all((g.suppressed == b).all() for g, b in zip((nation, *levels), before[1])):
            return cell_s


def _counts_columns(counts: np.ndarray, pub: np.ndarray) -> dict[str, object]:
    """The three counts (missing where not published), the rate and the status of published rows."""
    return {
        **{name: _masked(counts[:, j], pub) for j, name in enumerate(ADMIN_COUNTS)},
        "rate": _rate(counts[:, 1], counts[:, 0], pub),
        "status": np.where(pub, "published", "suppressed"),
    }


def _cells_table(
    cells: pd.DataFrame, territory: str, departement: str, coded: Cells, cell_s: np.ndarray
) -> pd.DataFrame:
    """The published table of cells (in the order given)."""
    return pd.DataFrame(
        {
            "territory": cells[territory].astype(str).to_numpy(),
            "departement": cells[departement].astype(str).to_numpy(),
            "right": cells["right"].astype(str).to_numpy(),
            **_counts_columns(coded.counts, ~cell_s),
        }
    )


def _totals_table(coded: Cells, deps: Totals, nation: Totals, marg: list[Totals]) -> pd.DataFrame:
    """The published totals: départements (sorted), the nation, then each margin."""
    r_lab = np.asarray(coded.r_lab)
    dsel = deps.sel
    dep = pd.DataFrame(
        {
            "level": "departement",
            "departement": np.asarray(coded.d_lab)[dsel % deps.k],
            "right": r_lab[dsel // deps.k],
            **_counts_columns(deps.totals[dsel], ~deps.suppressed[dsel]),
        }
    )
    dep = dep.sort_values(["departement"], kind="stable", ignore_index=True)
    nat = pd.DataFrame(
        {
            "level": "national",
            "departement": pd.NA,
            "right": r_lab,
            **_counts_columns(nation.totals, ~nation.suppressed),
        }
    )
    parts = [dep, nat]
    for g in marg:
        sel = g.sel
        parts.append(
            pd.DataFrame(
                {
                    "level": g.level,
                    "departement": pd.NA,
                    "right": r_lab[sel // g.k],
                    **_counts_columns(g.totals[sel], ~g.suppressed[sel]),
                    g.level: np.asarray(g.labels, dtype=object)[sel % g.k],
                }
            )
        )
    totals = pd.concat(parts, ignore_index=True)
    totals["departement"] = totals["departement"].astype(object)
    return totals


def protect_domain_counts(
    tables: Sequence[pd.DataFrame],
    by: Sequence[str | None],
    *,
    min_n: int,
    nests: Mapping[str, tuple[str, Mapping[str, str]]] | None = None,
    flag: str = "flag",
) -> list[pd.DataFrame]:
    """Secondary suppression of sample estimates by domain, so that no suppressed ``n`` is recovered.

    Parameters
    ----------
    tables : sequence of DataFrame
        Estimate tables (``nonrecours estimate`` format: domain column,
        ``right``, ``n``, ..., ``flag``), one per partition of the same
        respondents; ``by[i]`` is the domain column of ``tables[i]`` (None for
        the national table). Suppressed rows have ``flag == 'suppressed'``.
    min_n : int
        The suppression threshold in eligible respondents.
    nests : mapping, optional
        ``{fine: (coarse, {fine label: coarse label})}`` when every domain of
        ``fine`` lies in one domain of ``coarse`` (e.g. territory within
        is_qpv): the cells of ``fine`` then sum to the published ``coarse``
        cells, not only to the national total.

    Returns
    -------
    list of DataFrame
        The tables with suppressed rows blanked: ``n``, ``estimate``, ``se``,
        ``ci_low``, ``ci_high``, ``df``, ``deff``, ``cv`` missing and ``flag``
        ``suppressed`` (``df`` and ``deff`` would give ``n`` back). An empty
        domain (no eligible respondent, e.g. a right its benefit excludes)
        keeps ``n = 0``: it describes no one, and needs no protection.

    Notes
    -----
    Each right of each partition is a group of cells summing to the
    national ``n`` (or to the ``coarse`` cell they nest in), completed with
    :func:`complete_suppression`, smallest ``n`` first. Since a blank ``n``
    is known to be at least 1, the count protected is ``n - 1`` against
    ``min_n - 1``: each suppressed ``n`` can then be anything from 1 to at
    least ``min_n``. When the cells of a group cannot protect each other
    (too few, or too small), their total is suppressed too (the coarse
    cell, or the national row), and the passes repeat until nothing changes. A suppressed coarse cell takes its
    nested cells with it; a suppressed national cell needs no protection below it.
    """
    nests = dict(nests or {})
    by = list(by)
    idx = {b: i for i, b in enumerate(by)}
    tabs = [t.reset_index(drop=True) for t in tables]
    ns = [pd.to_numeric(t["n"], errors="coerce").fillna(0).to_numpy(dtype=np.int64) for t in tabs]
    supp = [(t[flag] == "suppressed").to_numpy() & (n > 0) for t, n in zip(tabs, ns)]  # an empty domain: no one
    nat_supp: set[str] = set()
    if None in idx:
        t = tabs[idx[None]]
        nat_supp = set(t.loc[t[flag] == "suppressed", "right"].astype(str))
    parts = sorted((i for i, b in enumerate(by) if b is not None and len(tabs[i])), key=lambda i: by[i] in nests)
    changed = True
    while changed:  # suppressions only grow: a few passes at most, each vectorised over all domains
        changed = False
        for i in parts:
            b, t, n = by[i], tabs[i], ns[i]
            right = t["right"].astype(str)
            coarse, mapping = nests.get(b, (None, None))  # type: ignore[arg-type]  # b is not None in parts
            parent_row = None
            if coarse is not None and coarse in idx:
                ct = tabs[idx[coarse]]
                parent = t[b].astype(str).map({str(k): str(v) for k, v in dict(mapping).items()})
                key = right + "\x1f" + parent.fillna("").astype(str)
                ckey = ct["right"].astype(str) + "\x1f" + ct[coarse].astype(str)
                pos = dict(zip(ckey, range(len(ct))))
                parent_row = key.map(pos).to_numpy(dtype=float)
                known = ~np.isnan(parent_row)
                parent_s = ~known | parent.isna().to_numpy()
                parent_s[known] |= supp[idx[coarse]][parent_row[known].astype(np.int64)]
                parent_s[known] |= ns[idx[coarse]][parent_row[known].astype(np.int64)] == 0
                base = supp[i] | parent_s
                gcode, _ = pd.factorize(key)
                active = ~np.bincount(gcode, weights=parent_s, minlength=gcode.max() + 1).astype(bool)
            else:
                base = supp[i]
                gcode, glab = pd.factorize(right)
                active = ~np.isin(np.asarray(glab), list(nat_supp))
            rank = n * (len(t) + 1) + np.arange(len(t))
            # a blank n is known to be >= 1 (zeros are published): protect the part above 1
            slack = np.maximum(n - 1, 0)[:, None]
            new, exhausted = complete_suppression(
                slack, base & (n > 0), gcode, rank, max(int(min_n) - 1, 1), active=active, candidates=n > 0
            )
            new |= base & (n > 0)
            if (new != supp[i]).any():
                supp[i], changed = new, True
            if exhausted.any():  # the cells cannot protect each other: their total goes too
                rows = np.flatnonzero(exhausted[gcode])
                if parent_row is not None:
                    cs = supp[idx[coarse]]
                    hit = parent_row[rows][~np.isnan(parent_row[rows])].astype(np.int64)
                    if (~cs[hit]).any():
                        cs[hit] = True
                        changed = True
                elif not set(right.iloc[rows]) <= nat_supp:
                    nat_supp |= set(right.iloc[rows])
                    changed = True
    out = [_blank(t, s, flag) for t, s in zip(tabs, supp)]
    if None in idx:
        t = tabs[idx[None]]
        out[idx[None]] = _blank(t, t["right"].astype(str).isin(nat_supp).to_numpy(), flag)
    return out


def nested_in(data: pd.DataFrame, fine: str, coarse: str) -> dict[str, tuple[str, dict[str, str]]]:
    """The ``nests`` of :func:`protect_domain_counts` for two domain columns of the respondents' ``data``:
    ``{fine: (coarse, {fine label: coarse label})}`` when each domain of ``fine`` lies in one of ``coarse``
    (e.g. each territory in the QPVs or in the rest), else ``{}`` (the partitions are protected apart).

    Examples
    --------
    >>> d = pd.DataFrame({"territory": ["a", "a", "b"], "is_qpv": [1, 1, 0]})
    >>> nested_in(d, "territory", "is_qpv")
    {'territory': ('is_qpv', {'a': '1', 'b': '0'})}
    """
    pairs = data[[fine, coarse]].dropna().astype(str).drop_duplicates()
    if pairs[fine].duplicated().any():
        return {}
    return {fine: (coarse, dict(zip(pairs[fine], pairs[coarse])))}


def protect_partitions(
    national: pd.DataFrame,
    parts: Mapping[str, pd.DataFrame],
    *,
    min_n: int,
    published: Mapping[str, pd.DataFrame] | None = None,
    flag: str = "flag",
) -> dict[str, pd.DataFrame]:
    """Secondary suppression of more partitions of the same respondents, consistent with tables already published.

    Parameters
    ----------
    national : DataFrame
        The published national table (``right``, ``n``, ``flag``): every
        partition sums to it.
    parts : mapping of str to DataFrame
        ``{column: table}``: estimate tables by one domain column each
        (``column``, ``right``, ``n``, ..., ``flag``).
    min_n : int
    published : mapping of str to DataFrame, optional
        Tables by the same columns already published (e.g. the estimation
        stage's ``estimates_benefit``): their suppressed cells are suppressed
        here too (forced), so that no cell hidden there is shown here.

    Returns
    -------
    dict of str to DataFrame
        The tables of ``parts`` through :func:`protect_domain_counts`.

    Examples
    --------
    >>> nat = pd.DataFrame({"right": ["r"], "n": [100], "flag": ["ok"]})
    >>> age = pd.DataFrame({"age": ["a", "b", "c"], "right": "r", "n": [5, 45, 50], "flag": ["suppressed", "ok", "ok"]})
    >>> protect_partitions(nat, {"age": age}, min_n=11)["age"]["flag"].tolist()
    ['suppressed', 'suppressed', 'ok']
    """
    published = dict(published or {})
    tabs = [national]
    by: list[str | None] = [None]
    for col, t in parts.items():
        t = t.copy()
        if col in published and len(t):
            p = published[col]
            hidden = p.loc[p[flag].astype(str) == "suppressed", [col, "right"]].astype(str)
            hidden_keys = set(zip(hidden[col], hidden["right"]))
            keys = list(zip(t[col].astype(str), t["right"].astype(str)))
            force = np.fromiter((k in hidden_keys for k in keys), dtype=bool, count=len(keys))
            t[flag] = np.where(force, "suppressed", t[flag].to_numpy(dtype=object))
        tabs.append(t)
        by.append(col)
    out = protect_domain_counts(tabs, by, min_n=min_n, flag=flag)
    return dict(zip(parts, out[1:]))


def protect_series(
    yearly: pd.DataFrame,
    by: Sequence[str],
    *,
    min_n: int,
    nationals: Mapping[int, pd.DataFrame],
    published: Mapping[int, pd.DataFrame | None] | None = None,
    sides: tuple[np.ndarray, np.ndarray] | None = None,
) -> tuple[pd.DataFrame, set]:
    """One suppression pattern for a series of yearly estimates by domain, consistent with each year's tables.

    Parameters
    ----------
    yearly : DataFrame
        ``year``, the ``by`` columns, ``right``, ``n``, ``estimate``, ``se``, ``ci_low``, ``ci_high``
        (:func:`~nonrecours.estimation.series.estimate_series`).
    by : sequence of str
        The domain columns (a cross-classification: each year's domains partition its respondents).
    min_n : int
    nationals : mapping year -> DataFrame
        Each year's published national table (``right``, ``n``, ``flag``): the domains sum to it.
    published : mapping year -> DataFrame or None, optional
        Each year's published table by the same domain (e.g. that run's ``estimates_qpv``): its
        suppressed cells are suppressed here (forced).
    sides : (ndarray, ndarray), optional
        The takers and non-takers behind each row of ``yearly`` (unweighted;
        :attr:`~nonrecours.estimation.series.SeriesResult.n_takers` and ``n_non_takers``): a cell with fewer
        than ``min_n`` of either in a year is suppressed too (the policy's
        :meth:`~nonrecours.publication.policy.DisclosurePolicy.small_survey_cells`).

    Returns
    -------
    yearly : DataFrame
        With the suppressed (domain, right) rows emptied in every year (``n`` and estimates).
    hidden : set of (domain key, right)
        The suppressed cells, keyed by :func:`code_key` of the ``by`` columns: the same in every year,
        so that changes, trends and differences of the hidden cells are hidden with them.

    Notes
    -----
    Each year: primary suppression below ``min_n`` eligible respondents, the cells of the
    year's own published table forced, every cell hidden in another year forced, then
    :func:`protect_partitions` against the year's national count; repeated until no cell
    is added (:func:`one_pattern`, each year seeing the cells hidden by the years before it).
    """
    published = dict(published or {})
    y = yearly.reset_index(drop=True)
    key = code_key(y[list(by)]) if by else pd.Series([""] * len(y))
    right = y["right"].astype(str)
    n = pd.to_numeric(y["n"], errors="coerce").fillna(0).to_numpy(dtype=np.int64)
    years = y["year"].astype(int).to_numpy()
    policy = DisclosurePolicy(min_n=min_n, allow_below_threshold=True)  # the caller's threshold
    small = policy.small_n(n) if sides is None else policy.small_survey_cells(n, *sides)
    hidden: set = set(zip(key[small], right[small]))
    for _yr, p in published.items():
        if p is not None and by:
            sup = p[p["flag"].astype(str) == "suppressed"]
            hidden |= set(zip(code_key(sup[list(by)]), sup["right"].astype(str)))

    def protect_year(yr: int, pattern: frozenset) -> tuple[set, None]:
        nat = nationals.get(int(yr))
        if nat is None:  # no published national count that year: nothing to subtract from
            return set(), None
        rows = np.flatnonzero(years == yr)
        t = pd.DataFrame(
            {
                "_key": key.iloc[rows].to_numpy(),
                "right": right.iloc[rows].to_numpy(),
                "n": n[rows],
                "flag": ["suppressed" if (k, r) in pattern else "ok" for k, r in zip(key.iloc[rows], right.iloc[rows])],
            }
        )
        out = protect_partitions(nat, {"_key": t}, min_n=min_n)["_key"]
        sup = out[out["flag"] == "suppressed"]
        return set(zip(sup["_key"], sup["right"].astype(str))), None

    if by:
        hidden = set(one_pattern(np.unique(years).tolist(), protect_year, hidden, sweep="sequential")[0])
    hide = np.fromiter(((k, r) in hidden for k, r in zip(key, right)), dtype=bool, count=len(y))
    hide &= n > 0  # an empty domain describes no one: its 0 stays
    return blank_rows(y, hide, keep=("year", *by, "right")), hidden


Year = TypeVar("Year")
Output = TypeVar("Output")


def one_pattern(
    years: Sequence[Year],
    protect_year: Callable[[Year, frozenset], tuple[Iterable[Hashable], Output]],
    start: Iterable[Hashable] = (),
    *,
    sweep: Literal["sequential", "simultaneous"] = "sequential",
) -> tuple[frozenset, dict[Year, Output]]:
    r"""One suppression pattern for every year of a series: the one fixed-point loop over the years.

    Parameters
    ----------
    years : sequence
        The years, in order.
    protect_year : callable ``(year, pattern) -> (hidden, output)``
        Protects one year's tables with every cell of ``pattern`` forced (suppressed whatever its
        counts) and returns the cells it hides and what the caller keeps of that year (e.g. its totals).
    start : iterable of hashable
        Cells hidden before any year is protected: small in some year, or suppressed in a table
        published already.
    sweep : {"sequential", "simultaneous"}
        ``sequential``: each year is protected with the cells the years before it hid in the same pass
        (Gauss-Seidel; :func:`protect_series`); ``simultaneous``: every year of a pass with the pattern
        of the pass before (Jacobi; :func:`protect_admin_series`). Both end on a pattern that every year
        is consistent with; they may differ in which secondary cells they choose, and each series keeps
        the sweep it was published with.

    Returns
    -------
    pattern : frozenset
        The cells hidden in every year.
    outputs : dict year -> output
        What ``protect_year`` returned for each year in the last pass, that is with the final pattern forced.

    Notes
    -----
    :math:`P_0` = ``start``; :math:`P_{k+1} = P_k \cup \bigcup_y H_y`, with :math:`H_y` the cells
    hidden when year :math:`y` is protected with the pattern forced, until :math:`P_{k+1} = P_k`.
    Suppressions only grow and the cells are finite, so the loop ends (a few passes). At the end no
    year hides a cell outside the pattern: every year's tables are published under the same cells,
    and a difference of years' totals isolates none of them.

    Examples
    --------
    >>> def protect(year, pattern):  # a cell hidden alone takes a partner with it ("c")
    ...     return set(pattern) | ({"c"} if len(pattern) == 1 else set()), None
    >>> sorted(one_pattern([2014, 2015], protect, start={"a"})[0])  # "a": small in one of the years
    ['a', 'c']
    """
    pattern = frozenset(start)
    while True:
        grown = set(pattern)
        outputs: dict = {}
        for year in years:  # loop over the years of the series (a handful)
            hidden, outputs[year] = protect_year(year, frozenset(grown) if sweep == "sequential" else pattern)
            grown.update(hidden)
        if len(grown) == len(pattern):  # grown contains the pattern: nothing added
            return pattern, outputs
        pattern = frozenset(grown)


def protect_admin_series(
    cells: pd.DataFrame,
    eligibles: np.ndarray,
    takers: np.ndarray,
    *,
    min_cell: int = DEFAULT_MIN_CELL,
    margins: Sequence[str] = (),
    method: str = "heuristic",
    cost: str = "cells",
) -> tuple[np.ndarray, np.ndarray, list[pd.DataFrame]]:
    """One suppression pattern for the administrative counts of several years (:func:`one_pattern`).

    Parameters
    ----------
    cells : DataFrame
        ``territory``, ``departement``, ``right``: the cells, one row each, the same every year.
    eligibles, takers : ndarray of int (n_cells, n_years)
        Each cell's counts each year (0 for a year without the cell).
    min_cell : int
    margins : sequence of str
        Columns of ``cells`` (one value per territory, e.g. ``is_qpv``) whose totals are published each year
        (:func:`protect_admin_counts`); with ``heuristic`` each year protects them as that function does (the
        cells are forced over the years, the margin totals are not), with ``optimal`` they are units of the
        programme like the other totals (the same pattern every year).
    method : {"heuristic", "optimal"}
        ``heuristic``: the completion of :func:`protect_admin_counts` year by year until the pattern is stable;
        ``optimal``: the least-cost pattern of every year's tables at once
        (:func:`~nonrecours.publication.optimal.optimal_admin`), the heuristic's when it does not end in time.
    cost : {"cells", "eligibles"}
        What ``optimal`` minimises: suppressed cells, or their eligibles over the years.

    Returns
    -------
    primary : ndarray of bool (n_cells,)
        Cells with eligibles, takers or non-takers below ``min_cell`` in some year.
    suppressed : ndarray of bool (n_cells,)
        The cells suppressed in every year (primary and secondary).
    totals : list of DataFrame
        Each year's totals as :func:`protect_admin_counts` publishes them under that pattern.

    Notes
    -----
    Primary: small in some year. Secondary: :func:`protect_admin_counts` on each year, with every cell
    and total suppressed in some year forced in all years, until the pattern is stable (a simultaneous
    sweep of :func:`one_pattern`). With ``method="optimal"`` the cells and totals are the units of one
    programme per right whose relations are every year's (the pattern is the same every year).
    """
    policy = DisclosurePolicy(min_cell=min_cell, allow_below_threshold=True)  # the caller's threshold
    method, cost = check_method(method, cost)
    N, K = np.asarray(eligibles, dtype=np.int64), np.asarray(takers, dtype=np.int64)
    primary = np.zeros(len(cells), dtype=bool)
    for t in range(N.shape[1]):  # loop over years
        primary |= policy.small_cells(np.stack([N[:, t], K[:, t], N[:, t] - K[:, t]], axis=1))
    if method == "optimal":
        found = _optimal_series(cells, N, K, primary, policy, cost, margins)
        if found is not None:
            return primary, *found

    def forced_cells(pattern: frozenset) -> np.ndarray:
        forced = np.zeros(len(cells), dtype=bool)
        forced[[k for k in pattern if not isinstance(k, tuple)]] = True
        return forced

    def protect_year(t: int, pattern: frozenset) -> tuple[set, pd.DataFrame]:
        # the pattern: cells by position, totals as (departement or None for the nation, right)
        tab, tot, _ = protect_admin_counts(
            cells.assign(n_eligible=N[:, t], n_takers=K[:, t]),
            min_cell=policy.min_cell,
            forced=forced_cells(pattern),
            forced_totals={k for k in pattern if isinstance(k, tuple)},
            margins=margins,
        )
        hidden = tot[(tot["status"] == "suppressed") & tot["level"].isin(["departement", "national"])]
        return (
            {
                *np.flatnonzero((tab["status"] == "suppressed").to_numpy()).tolist(),
                *{
                    (None if lvl == "national" else str(d), str(r))
                    for lvl, d, r in zip(hidden["level"], hidden["departement"], hidden["right"])
                },
            },
            tot,
        )

    pattern, totals = one_pattern(
        list(range(N.shape[1])), protect_year, np.flatnonzero(primary).tolist(), sweep="simultaneous"
    )
    return primary, forced_cells(pattern), [totals[t] for t in range(N.shape[1])]


def _optimal_series(
    cells: pd.DataFrame,
    N: np.ndarray,
    K: np.ndarray,
    primary: np.ndarray,
    policy: DisclosurePolicy,
    cost: str = "cells",
    margins: Sequence[str] = (),
) -> tuple[np.ndarray, list[pd.DataFrame]] | None:
    """The optimal pattern of a series (:func:`~nonrecours.publication.optimal.optimal_admin` over the years) and
    each year's totals under it; None when the programme did not end in time."""
    coded = [
        admin_cells(cells.assign(n_eligible=N[:, t], n_takers=K[:, t]), "territory", "departement")
        for t in range(N.shape[1])
    ]
    deps = [Totals.of(c, "departement", c.d_code, c.d_lab, policy) for c in coded]
    nation = [Totals.of(c, "national", np.zeros_like(c.r_code), np.array([""], dtype=object), policy) for c in coded]
    from .optimal import optimal_admin  # scipy.optimize on first use

    marg = [[Totals.of(c, col, *margin_codes(cells, col, c), policy) for c in coded] for col in margins]
    counts = np.stack([c.counts for c in coded])
    levels = [deps, *marg]
    cell_s = optimal_admin(counts, coded[0].r_code, levels, nation, primary, policy.min_cell, cost)
    if cell_s is None:
        return None
    return cell_s, [_totals_table(c, deps[t], nation[t], [g[t] for g in marg]) for t, c in enumerate(coded)]
