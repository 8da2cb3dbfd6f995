"""Disclosure control of published counts: primary and secondary cell suppression.

One rule for every table that leaves the package for publication (INSEE's:
no published figure built from fewer than ``min_cell`` individuals), stated
for the counts a figure is built from, and protected against recovery by
subtraction from the published totals.

* :func:`complete_suppression` is the core: given cells that sum to
  published group totals, some of them suppressed, it suppresses more cells
  so that in every group the suppressed cells are either none, or at least
  two whose sums of every count reach ``min_cell``. An attacker who solves the
  linear relations (cells sum to the totals, counts are non-negative) then
  only learns that each suppressed count lies in ``[0, S]`` with
  ``S >= min_cell``: no count is recovered, nor even shown to be small.
* :func:`protect_admin_counts` applies it to an administrative table already
  aggregated (territory x right: eligibles, takers, non-takers) with its
  département and national totals; every engine (pandas, DuckDB, Spark)
  aggregates, then calls it.
* :func:`protect_domain_counts` applies it to sample estimates by domain
  (respondent counts ``n``), used by the study's estimation stage.

* :func:`protect_partitions` adds more partitions of the same respondents
  (the analysis groups), keeping the suppressions of tables already
  published; :func:`protect_series` gives a series of years one pattern,
  consistent with each year's tables, and :func:`blank_changes` hides the
  changes and trends of its hidden cells (follow-up, ``change``, ``series``);
  :func:`blank_model_terms` empties model coefficients resting on too few
  respondents; :func:`histogram_edges` gives a published histogram no bar of
  too few respondents, and :func:`extreme_means` replaces a published minimum
  and maximum (each one respondent's value, e.g. a weight) by the means of the
  ``min_n`` smallest and of the ``min_n`` largest values.

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

from collections.abc import Collection, Mapping, Sequence

import numpy as np
import pandas as pd

from ..errors import InputError, OptionError, message

__all__ = ["complete_suppression", "protect_admin_counts", "protect_domain_counts", "protect_partitions",
           "protect_series", "blank_changes", "code_key", "histogram_edges", "extreme_means", "blank_suppressed", "blank_gaps", "blank_rows", "blank_model_terms", "check_min_cell", "ADMIN_COUNTS"]

#: The counts of an administrative cell, in the order they are published.
ADMIN_COUNTS = ("n_eligible", "n_takers", "n_non_takers")


def check_min_cell(min_cell: object, where: str = "option min-cell") -> int:
    """``min_cell`` as an int >= 1, or an :class:`~nonrecours.errors.OptionError`."""
    if isinstance(min_cell, bool) or not isinstance(min_cell, (int, np.integer)) or min_cell < 1:
        raise OptionError(message("the minimum cell size must be a positive integer", where=where,
                                  found=repr(min_cell)))
    return int(min_cell)


def complete_suppression(counts: np.ndarray, suppressed: np.ndarray, group: np.ndarray, order: np.ndarray,
                         min_cell: int, active: np.ndarray | None = None,
                         candidates: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
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


def _int_counts(df: pd.DataFrame, col: str, source: str) -> np.ndarray:
    v = pd.to_numeric(df[col], errors="coerce").to_numpy(dtype=float)
    bad = ~np.isfinite(v) | (v < 0) | (v != np.round(v))
    if bad.any():
        raise InputError(message("counts must be non-negative integers", where=f"{source}, column {col!r}",
                                 found=f"{int(bad.sum())} bad values"))
    return v.astype(np.int64)


def _masked(values: np.ndarray, keep: np.ndarray) -> pd.arrays.IntegerArray:
    return pd.arrays.IntegerArray(np.asarray(values, dtype=np.int64), ~np.asarray(keep, dtype=bool))


def _rate(k: np.ndarray, n: np.ndarray, keep: np.ndarray) -> np.ndarray:
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(keep & (n > 0), k / np.maximum(n, 1), np.nan)


def protect_admin_counts(cells: pd.DataFrame, *, min_cell: int = 11, territory: str = "territory",
                         departement: str = "departement", forced: np.ndarray | None = None,
                         forced_totals: Collection[tuple[str | None, str]] = (),
                         margins: Sequence[str] = ()) -> tuple[pd.DataFrame, pd.DataFrame, np.ndarray]:
    """Primary and secondary suppression of an aggregated territory x right table of counts.

    Parameters
    ----------
    cells : DataFrame
        One row per territory x right: ``territory``, ``departement``, ``right``,
        ``n_eligible``, ``n_takers`` (``n_non_takers`` optional, checked to equal
        their difference). A territory lies in one département.
    min_cell : int
        A figure built from fewer individuals is not published (default 11).
    forced : ndarray of bool, optional
        Cells suppressed whatever their counts (treated as primary), e.g. the
        cells suppressed in another year of a series, so that every year has
        the same pattern (:func:`nonrecours.admin.series.admin_series`).
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
    totals suppressed. Hundepool et al. (2012), *Statistical Disclosure
    Control*, sections 4.2-4.3.

    Examples
    --------
    >>> cells = pd.DataFrame({"territory": ["a", "b", "c"], "departement": "01", "right": "tpn",
    ...                       "n_eligible": [30, 5, 40], "n_takers": [15, 2, 20]})
    >>> protect_admin_counts(cells)[0]["status"].tolist()
    ['suppressed', 'suppressed', 'published']
    """
    m = check_min_cell(min_cell)
    source = "aggregated counts"
    missing = [c for c in (territory, departement, "right", "n_eligible", "n_takers") if c not in cells.columns]
    if missing:
        raise InputError(message("missing columns", where=source, found=", ".join(map(repr, missing)),
                                 expected="territory, departement, right, n_eligible, n_takers"))
    if not len(cells):
        raise InputError(message("no cells to publish", where=source, expected="one row per territory x right",
                                 found="an empty table"))
    E = _int_counts(cells, "n_eligible", source)
    T = _int_counts(cells, "n_takers", source)
    if (T > E).any():
        raise InputError(message("more takers than eligibles", where=f"{source}, column 'n_takers'",
                                 found=f"{int((T > E).sum())} cells"))
    N = E - T
    if "n_non_takers" in cells.columns and not np.array_equal(_int_counts(cells, "n_non_takers", source), N):
        raise InputError(message("non-takers are not eligibles minus takers", where=f"{source}, column 'n_non_takers'"))
    for col in (territory, departement, "right"):
        if cells[col].isna().any():
            raise InputError(message("missing codes", where=f"{source}, column {col!r}",
                                     found=f"{int(cells[col].isna().sum())} empty rows"))
    if cells.duplicated([territory, "right"]).any():
        raise InputError(message("a territory x right cell appears twice", where=source,
                                 found=f"{int(cells.duplicated([territory, 'right']).sum())} repeated cells"))
    t_code, t_lab = pd.factorize(cells[territory].astype(str), sort=True)
    d_code, d_lab = pd.factorize(cells[departement].astype(str), sort=True)
    r_code, r_lab = pd.factorize(cells["right"].astype(str))
    per_terr = pd.DataFrame({"t": t_code, "d": d_code}).drop_duplicates()
    if per_terr["t"].duplicated().any():
        raise InputError(message("territories spread over several départements", where=source,
                                 found=f"{int(per_terr['t'].duplicated().sum())} territories",
                                 hint="a territory must lie in one département"))
    nd, nr = len(d_lab), len(r_lab)
    counts = np.stack([E, T, N], axis=1)
    # département x right totals (group code r * nd + d) and national totals per right
    dgrp = r_code * nd + d_code
    dtot = np.stack([np.bincount(dgrp, weights=c, minlength=nr * nd) for c in counts.T], axis=1).astype(np.int64)
    dexists = np.bincount(dgrp, minlength=nr * nd) > 0
    ntot = np.stack([np.bincount(r_code, weights=c, minlength=nr) for c in counts.T], axis=1).astype(np.int64)
    # primary (and forced: suppressed in another year of a series)
    cell_p = (counts < m).any(axis=1)
    if forced is not None:
        cell_p |= np.asarray(forced, dtype=bool)
    dep_p = dexists & (dtot < m).any(axis=1)
    nat_p = np.asarray((ntot < m).any(axis=1))
    d_pos = {str(v): i for i, v in enumerate(d_lab)}
    r_pos = {str(v): i for i, v in enumerate(r_lab)}
    for dep_key, right_key in forced_totals:
        if str(right_key) in r_pos and dep_key is None:
            nat_p[r_pos[str(right_key)]] = True
        elif str(right_key) in r_pos and str(dep_key) in d_pos:
            j = r_pos[str(right_key)] * nd + d_pos[str(dep_key)]
            dep_p[j] |= dexists[j]
    # margins (e.g. QPV vs rest): value x right totals, a partition of each national total
    margs = []
    for col in margins:
        if col not in cells.columns:
            raise InputError(message("missing margin column", where=source, found=repr(col)))
        m_code, m_lab = pd.factorize(cells[col].astype(str), sort=True)
        if (m_code < 0).any() or pd.DataFrame({"t": t_code, "m": m_code}).drop_duplicates()["t"].duplicated().any():
            raise InputError(message("a margin column must have one value per territory",
                                     where=f"{source}, column {col!r}", hint="give every territory its one value"))
        grp = r_code * len(m_lab) + m_code
        n_g = nr * len(m_lab)
        tot = np.stack([np.bincount(grp, weights=c, minlength=n_g) for c in counts.T], axis=1).astype(np.int64)
        sel = np.flatnonzero(np.bincount(grp, minlength=n_g) > 0)
        supp = np.zeros(n_g, dtype=bool)
        supp[sel] = (tot[sel] < m).any(axis=1)
        margs.append({"col": col, "lab": m_lab, "grp": grp, "tot": tot, "sel": sel, "supp": supp})
    # From the top down, repeated until nothing is added (suppressions only grow: a few passes):
    # départements and margin totals against the nation (groups = rights; a group that cannot be protected takes
    # the national total with it); a suppressed département takes all its cells; the cells against their
    # département and their margins (a group that cannot be protected takes its total with it).
    dsel = np.flatnonzero(dexists)
    dep_s = dep_p.copy()
    nat_s = nat_p.copy()
    cell_s = cell_p.copy()
    order = E * (len(t_lab) + 1) + t_code
    while True:  # margins crossing the départements: an LP audit of the pattern, then a repair, at most once per right
        cell_s, dep_s, nat_s = _complete_all(counts, dtot, dsel, nd, dgrp, order, m, cell_s, dep_s, nat_s, margs,
                                             dexists)
        leaky = _audit(counts, cell_s, dtot, dep_s, dsel, nd, dgrp, ntot, nat_s, margs, r_code, nr, m) if margs \
            else np.zeros(nr, dtype=bool)
        if not leaky.any():
            break
        repaired = all(g["supp"][np.repeat(leaky, len(g["lab"]))].all() for g in margs)
        for g in margs:  # publishing these rights' margins would give small cells away: they are suppressed
            g["supp"] |= np.repeat(leaky, len(g["lab"]))
        if repaired:  # their margins are suppressed already: the national totals go too (then nothing crosses)
            nat_s |= leaky
    pub = ~cell_s
    table = pd.DataFrame({
        "territory": cells[territory].astype(str).to_numpy(), "departement": cells[departement].astype(str).to_numpy(),
        "right": cells["right"].astype(str).to_numpy(),
        **{name: _masked(counts[:, j], pub) for j, name in enumerate(ADMIN_COUNTS)},
        "rate": _rate(T, E, pub), "status": np.where(pub, "published", "suppressed")})
    rule = np.where(cell_p, "primary", np.where(cell_s, "secondary", "published"))
    dpub = ~dep_s[dsel]
    dep = pd.DataFrame({
        "level": "departement", "departement": np.asarray(d_lab)[dsel % nd], "right": np.asarray(r_lab)[dsel // nd],
        **{name: _masked(dtot[dsel, j], dpub) for j, name in enumerate(ADMIN_COUNTS)},
        "rate": _rate(dtot[dsel, 1], dtot[dsel, 0], dpub), "status": np.where(dpub, "published", "suppressed")})
    dep = dep.sort_values(["departement"], kind="stable", ignore_index=True)
    npub = ~nat_s
    nat = pd.DataFrame({
        "level": "national", "departement": pd.NA, "right": np.asarray(r_lab),
        **{name: _masked(ntot[:, j], npub) for j, name in enumerate(ADMIN_COUNTS)},
        "rate": _rate(ntot[:, 1], ntot[:, 0], npub), "status": np.where(npub, "published", "suppressed")})
    parts = [dep, nat]
    for g in margs:
        sel, k = g["sel"], len(g["lab"])
        mpub = ~g["supp"][sel]
        parts.append(pd.DataFrame({
            "level": g["col"], "departement": pd.NA, "right": np.asarray(r_lab)[sel // k],
            **{name: _masked(g["tot"][sel, j], mpub) for j, name in enumerate(ADMIN_COUNTS)},
            "rate": _rate(g["tot"][sel, 1], g["tot"][sel, 0], mpub), "status": np.where(mpub, "published", "suppressed"),
            g["col"]: np.asarray(g["lab"], dtype=object)[sel % k]}))
    totals = pd.concat(parts, ignore_index=True)
    totals["departement"] = totals["departement"].astype(object)
    return table, totals, rule


def _complete_all(counts, dtot, dsel, nd, dgrp, order, m, cell_s, dep_s, nat_s, margs, dexists):  # noqa: ANN001, ANN202
    """The passes of :func:`protect_admin_counts` until nothing is added (suppressions only grow): départements
    and margin totals against the nation (a group that cannot be protected takes the national total with it); a
    suppressed département takes all its cells; the cells against their département and their margins (a group
    that cannot be protected takes its total with it)."""
    while True:
        before = (cell_s.copy(), dep_s.copy(), nat_s.copy(), [g["supp"].copy() for g in margs])
        dep_s[dsel], ex = complete_suppression(dtot[dsel], dep_s[dsel], dsel // nd, dtot[dsel, 0], m, active=~nat_s)
        nat_s |= ex
        for g in margs:
            sel = g["sel"]
            g["supp"][sel], ex = complete_suppression(g["tot"][sel], g["supp"][sel], sel // len(g["lab"]),
                                                      g["tot"][sel, 0], m, active=~nat_s)
            nat_s |= ex
        cell_s |= dep_s[dgrp]
        cell_s, ex = complete_suppression(counts, cell_s, dgrp, order, m, active=~dep_s)
        dep_s |= ex & dexists
        for g in margs:
            cell_s, ex = complete_suppression(counts, cell_s, g["grp"], order, m, active=~g["supp"])
            g["supp"] |= ex
        if (cell_s == before[0]).all() and (dep_s == before[1]).all() and (nat_s == before[2]).all() and all(
                (g["supp"] == b).all() for g, b in zip(margs, before[3])):
            return cell_s, dep_s, nat_s


def _audit(counts, cell_s, dtot, dep_s, dsel, nd, dgrp, ntot, nat_s, margs, r_code, nr, m):  # noqa: ANN001, ANN202
    """Rights whose pattern lets a suppressed count below ``m`` be bounded under ``m`` (an LP per such count).

    With margins crossing the départements the completion's guarantee (two cells or more whose sums reach
    ``m`` in every group) no longer bounds every count away: two single-territory départements and a margin
    can isolate a pair. The attacker's linear programme (cells sum to their département and margin totals,
    those to the nation, eligibles = takers + non-takers, counts >= 0) decides; only the counts truly below
    ``m`` need checking (a larger one has a larger maximum).
    """
    from scipy.optimize import linprog
    from scipy.sparse import coo_matrix

    leaky = np.zeros(nr, dtype=bool)
    for r in range(nr):  # loop over rights (a handful)
        cells = np.flatnonzero((r_code == r) & cell_s)
        small = cells[(counts[cells] < m).any(axis=1)]
        if not small.size:
            continue
        var: dict = {}
        rows: list = []  # (dict var -> coef, rhs)

        def term(kind, idx, j, value, hidden):  # noqa: ANN001, ANN202
            if hidden:
                return var.setdefault((kind, idx, j), len(var)), 0.0
            return None, float(value)

        def relate(total, parts):  # noqa: ANN001, ANN202
            coefs, rhs = dict[int, float](), 0.0
            for sign, (v, val) in [(-1.0, total)] + [(1.0, p) for p in parts]:
                if v is None:
                    rhs -= sign * val
                else:
                    coefs[v] = coefs.get(v, 0.0) + sign
            if coefs:
                rows.append((coefs, rhs))

        rc = np.flatnonzero(r_code == r)
        for j in range(3):
            cell_t = {i: term("c", i, j, counts[i, j], cell_s[i]) for i in rc}
            dep_idx = dsel[dsel // nd == r]
            dep_t = {d: term("d", d, j, dtot[d, j], dep_s[d]) for d in dep_idx}
            nat_t = term("n", r, j, ntot[r, j], nat_s[r])
            for d in dep_idx:
                relate(dep_t[d], [cell_t[i] for i in rc[dgrp[rc] == d]])
            relate(nat_t, list(dep_t.values()))
            for k, g in enumerate(margs):
                msel = g["sel"][g["sel"] // len(g["lab"]) == r]
                m_t = {q: term(f"m{k}", q, j, g["tot"][q, j], g["supp"][q]) for q in msel}
                for q in msel:
                    relate(m_t[q], [cell_t[i] for i in rc[g["grp"][rc] == q]])
                relate(nat_t, list(m_t.values()))
        for i in cells:  # eligibles = takers + non-takers
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
        for i in small:
            for j in np.flatnonzero(counts[i] < m).tolist():
                obj = np.zeros(len(var))
                obj[var[("c", i, j)]] = -1.0  # maximise the count
                sol = linprog(obj, A_eq=A, b_eq=b, bounds=(0, None), method="highs")
                if sol.status == 0 and -sol.fun < m - 1e-6 and -sol.fun >= 0.5:
                    leaky[r] = True
                    break
            if leaky[r]:
                break
    return leaky


def protect_domain_counts(tables: Sequence[pd.DataFrame], by: Sequence[str | None], *, min_n: int,
                          nests: Mapping[str, tuple[str, Mapping[str, str]]] | None = None,
                          flag: str = "flag") -> list[pd.DataFrame]:
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
    cell, or the national row), and the passes repeat until nothing changes. A suppressed coarse cell takes its nested cells with it; a
    suppressed national cell needs no protection below it.
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
                parent_s[known] |= (ns[idx[coarse]][parent_row[known].astype(np.int64)] == 0)
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
            new, exhausted = complete_suppression(slack, base & (n > 0), gcode, rank, max(int(min_n) - 1, 1),
                                                  active=active, candidates=n > 0)
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


def protect_partitions(national: pd.DataFrame, parts: Mapping[str, pd.DataFrame], *, min_n: int,
                       published: Mapping[str, pd.DataFrame] | None = None, flag: str = "flag") -> dict[str, pd.DataFrame]:
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


def blank_changes(changes: pd.DataFrame, by: Sequence[str], *, min_n: int, hidden: set | None = None,
                  trend: pd.DataFrame | None = None) -> tuple[pd.DataFrame, pd.DataFrame | None]:
    """Change (and trend) tables with every row of a suppressed cell emptied, and ``n_both`` below ``min_n`` too.

    A row is hidden when its (domain, right) is in ``hidden`` (:func:`protect_series`), or when its
    ``n_1`` or ``n_2`` (a change table of ``nonrecours change``) is 1 to ``min_n - 1``. ``n_both``, the
    respondents of both waves, is emptied where it is 1 to ``min_n - 1`` (only the labels are kept).

    Examples
    --------
    >>> ch = pd.DataFrame({"q": ["0", "1"], "right": "r", "n_1": [40, 8], "n_2": [45, 30], "n_both": [20, 4],
    ...                    "change": [0.1, 0.2]})
    >>> out, _ = blank_changes(ch, ["q"], min_n=11)
    >>> out["change"].isna().tolist(), out["n_both"].isna().tolist()
    ([False, True], [False, True])
    """
    hidden = set(hidden or ())
    labels = ("year_from", "year_to", "years", *by, "right")

    def hide(table: pd.DataFrame) -> np.ndarray:
        keys = zip(code_key(table[list(by)]) if by else [""] * len(table), table["right"].astype(str))
        h = np.fromiter((k in hidden for k in keys), dtype=bool, count=len(table))
        for c in ("n_1", "n_2"):
            if c in table.columns:
                v = pd.to_numeric(table[c], errors="coerce").to_numpy(dtype=float)
                h |= (v > 0) & (v < min_n)
        return h

    out = blank_rows(changes, hide(changes), keep=labels)
    if "n_both" in out.columns:
        nb = pd.to_numeric(out["n_both"], errors="coerce").to_numpy(dtype=float)
        out = blank_rows(out, (nb > 0) & (nb < min_n), keep=tuple(c for c in out.columns if c != "n_both"))
    return out, (None if trend is None else blank_rows(trend, hide(trend), keep=labels))


def histogram_edges(values: np.ndarray, *, bins: int = 40, min_n: int = 11) -> np.ndarray:
    """Edges of a histogram whose every bar counts ``min_n`` values or more (or no bar at all).

    Equal-width bins over the range are merged from the left until each holds
    ``min_n`` values; a remainder joins the last bar. A report's histogram of
    the respondents' weights then shows no bar of 1 to ``min_n - 1``
    respondents (a tail bar would show one respondent's weight).

    Examples
    --------
    >>> v = np.r_[np.ones(30), 5.0, 9.0, np.full(20, 2.0)]
    >>> e = histogram_edges(v, bins=8, min_n=11)
    >>> np.histogram(v, bins=e)[0].tolist()
    [30, 22]
    """
    v = np.asarray(values, dtype=float)
    v = v[np.isfinite(v)]
    if v.size < min_n:
        return np.array([], dtype=float)
    counts, edges = np.histogram(v, bins=bins)
    keep = [0]
    acc = 0
    for i, c in enumerate(counts):  # at most `bins` bars
        acc += c
        if acc >= min_n:
            keep.append(i + 1)
            acc = 0
    if keep[-1] != len(counts):  # a remainder below min_n joins the last bar
        keep[-1] = len(counts)
    return edges[keep]


def extreme_means(values: np.ndarray, *, min_n: int = 11) -> tuple[float, float]:
    """The mean of the ``min_n`` smallest and the mean of the ``min_n`` largest values: a published low and high.

    A minimum or a maximum is one individual's value (the largest weight is
    one respondent's); each figure returned is built from ``min_n``
    individuals, as :func:`histogram_edges` makes every bar. With fewer than
    ``min_n`` values both are the mean of all of them.

    Examples
    --------
    >>> extreme_means(np.r_[np.arange(1.0, 21.0), 100.0], min_n=2)
    (1.5, 60.0)
    """
    v = np.asarray(values, dtype=float)
    v = np.sort(v[np.isfinite(v)])
    k = max(1, min(int(min_n), v.size))
    if v.size == 0:
        return float("nan"), float("nan")
    return float(v[:k].mean()), float(v[-k:].mean())


def code_key(values: pd.Series | pd.DataFrame) -> pd.Series:
    """Domain codes as text comparable across files (``1``, ``1.0`` and ``"1"`` alike); several columns joined."""
    def one(v: pd.Series) -> pd.Series:
        num = pd.to_numeric(v, errors="coerce")
        integral = num.notna() & (num == num.round())
        out = v.astype(str)
        return out.where(~integral.to_numpy(), num.round().astype("Int64").astype(str))

    if isinstance(values, pd.Series):
        return one(values).reset_index(drop=True)
    cols = [one(values[c]).reset_index(drop=True) for c in values.columns]
    out = cols[0]
    for c in cols[1:]:
        out = out + "\x1f" + c
    return out


def protect_series(yearly: pd.DataFrame, by: Sequence[str], *, min_n: int,
                   nationals: Mapping[int, pd.DataFrame],
                   published: Mapping[int, pd.DataFrame | None] | None = None) -> tuple[pd.DataFrame, set]:
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
    is added (the pattern only grows).
    """
    published = dict(published or {})
    y = yearly.reset_index(drop=True)
    key = code_key(y[list(by)]) if by else pd.Series([""] * len(y))
    right = y["right"].astype(str)
    n = pd.to_numeric(y["n"], errors="coerce").fillna(0).to_numpy(dtype=np.int64)
    years = y["year"].astype(int).to_numpy()
    hidden: set = set(zip(key[(n > 0) & (n < min_n)], right[(n > 0) & (n < min_n)]))
    for yr, p in published.items():
        if p is not None and by:
            sup = p[p["flag"].astype(str) == "suppressed"]
            hidden |= set(zip(code_key(sup[list(by)]), sup["right"].astype(str)))
    while by:
        before = set(hidden)
        for yr in np.unique(years):  # loop over years
            rows = np.flatnonzero(years == yr)
            t = pd.DataFrame({"_key": key.iloc[rows].to_numpy(), "right": right.iloc[rows].to_numpy(), "n": n[rows],
                              "flag": ["suppressed" if (k, r) in hidden else "ok"
                                       for k, r in zip(key.iloc[rows], right.iloc[rows])]})
            nat = nationals.get(int(yr))
            if nat is None:  # no published national count that year: nothing to subtract from
                continue
            out = protect_partitions(nat, {"_key": t}, min_n=min_n)["_key"]
            sup = out[out["flag"] == "suppressed"]
            hidden |= set(zip(sup["_key"], sup["right"].astype(str)))
        if hidden == before:
            break
    hide = np.fromiter(((k, r) in hidden for k, r in zip(key, right)), dtype=bool, count=len(y))
    hide &= n > 0  # an empty domain describes no one: its 0 stays
    return blank_rows(y, hide, keep=("year", *by, "right")), hidden


def blank_rows(table: pd.DataFrame, hide: np.ndarray, keep: Sequence[str]) -> pd.DataFrame:
    """``table`` with its numeric columns but ``keep`` (labels) emptied in the rows ``hide`` (integer columns stay
    integers, with missing values; text columns are kept)."""
    hide = np.asarray(hide, dtype=bool)
    if not hide.any():
        return table
    out = table.copy()
    for c in out.columns:
        col = out[c]
        if c in keep or pd.api.types.is_bool_dtype(col.dtype) or not pd.api.types.is_numeric_dtype(col.dtype):
            continue
        if pd.api.types.is_integer_dtype(col.dtype):
            arr = pd.array(col, dtype="Int64")
            arr[hide] = pd.NA
            out[c] = arr
        else:
            out[c] = np.where(hide, np.nan, col.to_numpy(dtype=float, na_value=np.nan))
    return out


def blank_model_terms(coefs: pd.DataFrame, X: np.ndarray, assign: np.ndarray, *, min_n: int) -> pd.DataFrame:
    """A coefficient table (:meth:`~nonrecours.estimation.logistic.LogisticResult.to_frame`) with every
    coefficient built from fewer than ``min_n`` respondents emptied (only ``term`` kept).

    ``X`` is the model matrix of the fitted rows, ``assign`` the term of each column (0 = intercept).
    A coefficient rests on the respondents where its column is not zero (a factor level, an
    interaction cell); the reference level of a term on those where all its columns are zero:
    when it holds 1 to ``min_n - 1`` respondents, the term's coefficients and the intercept
    (measured on it) are emptied too.

    Examples
    --------
    >>> X = np.column_stack([np.ones(30), np.r_[np.ones(5), np.zeros(25)], np.r_[np.zeros(5), np.ones(20), np.zeros(5)]])
    >>> coefs = pd.DataFrame({"term": ["(Intercept)", "gb", "gc"], "estimate": [0.1, 0.2, 0.3]})
    >>> blank_model_terms(coefs, X, np.array([0, 1, 1]), min_n=11)["estimate"].isna().tolist()
    [True, True, True]
    """
    X = np.asarray(X, dtype=float)
    assign = np.asarray(assign)
    nz = X != 0
    n_col = nz.sum(axis=0)
    hide = (n_col > 0) & (n_col < min_n) & (assign != 0)
    for term in np.unique(assign[assign != 0]):  # loop over the model's terms (a handful)
        cols = assign == term
        n_ref = int((~nz[:, cols].any(axis=1)).sum())
        if 0 < n_ref < min_n:
            hide |= cols | (assign == 0)
    return blank_rows(coefs, hide, keep=("term",))


def blank_suppressed(table: pd.DataFrame, flag: str = "flag") -> pd.DataFrame:
    """An estimate table with its ``suppressed`` rows blanked (``n``, ``df``, ``deff`` too; ``n = 0`` kept)."""
    return _blank(table, ((table[flag] == "suppressed") & (pd.to_numeric(table["n"], errors="coerce") > 0)).to_numpy(),
                  flag)


def blank_gaps(gaps: pd.DataFrame, estimates: pd.DataFrame, gap: str, flag: str = "flag") -> pd.DataFrame:
    """A gap table (:func:`~nonrecours.estimation.gap_between`) with every gap that involves a suppressed
    estimate blanked: its two estimates, the gap, its SE, CI and test (only the labels are kept).

    ``estimates`` is the estimate table the gaps were computed from, with its ``flag`` column; ``gap`` is the
    domain column compared (or ``"right"``: gaps between rights within each domain).

    Examples
    --------
    >>> est = pd.DataFrame({"q": ["0", "1", "0", "1"], "right": ["a", "a", "b", "b"],
    ...                     "flag": ["ok", "suppressed", "ok", "ok"]})
    >>> gaps = pd.DataFrame({"right": ["a", "b"], "domain_a": ["1", "1"], "domain_b": ["0", "0"],
    ...                      "gap": [0.1, 0.2]})
    >>> blank_gaps(gaps, est, "q")["gap"].tolist()
    [nan, 0.2]
    """
    by = list(gaps.columns[: list(gaps.columns).index("right")])  # the other domain columns come first
    supp = estimates[estimates[flag].astype(str) == "suppressed"]
    if supp.empty or gaps.empty:
        return gaps
    if gap == "right":  # the level compared is the right, within the domain of the by columns
        key = supp[by + ["right"]].astype(str)
        sides = [gaps[by + [side]].astype(str).set_axis(by + ["right"], axis=1) for side in ("domain_a", "domain_b")]
    else:
        key = supp[by + [gap, "right"]].astype(str)
        sides = [gaps[by + [side, "right"]].astype(str).set_axis(by + [gap, "right"], axis=1)
                 for side in ("domain_a", "domain_b")]
    index = pd.MultiIndex.from_frame(key)
    hide = np.logical_or.reduce([pd.MultiIndex.from_frame(s).isin(index) for s in sides])
    if not hide.any():
        return gaps
    out = gaps.copy()
    for c in out.columns:
        if c not in by + ["right", "domain_a", "domain_b"]:
            out[c] = np.where(hide, np.nan, pd.to_numeric(out[c], errors="coerce"))
    return out


_BLANKED = ("n", "estimate", "se", "ci_low", "ci_high", "df", "deff", "cv")


def _blank(t: pd.DataFrame, supp: np.ndarray, flag: str) -> pd.DataFrame:
    t = t.copy()
    for c in _BLANKED:
        if c in t.columns:
            if c == "n":
                n = pd.to_numeric(t[c], errors="coerce").fillna(0).to_numpy(dtype=np.int64)
                t[c] = _masked(n, ~supp | (n == 0))
            else:
                t[c] = np.where(supp, np.nan, pd.to_numeric(t[c], errors="coerce").to_numpy(dtype=float))
    t[flag] = np.where(supp, "suppressed", t[flag].to_numpy(dtype=object))
    return t
