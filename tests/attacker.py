"""The attacker of the disclosure tests: recover suppressed counts from what is published.

For each suppressed count, the attacker solves two linear programmes
(scipy's HiGHS): the smallest and the largest value compatible with every
published figure and the linear relations between cells and totals (cells
sum to their totals; eligibles = takers + non-takers; counts >= 0, and >= 1
for a blank sample count, whose zeros are published). A count is
*recovered* when its interval is a single value, and *shown small* when its
upper bound is below the threshold.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.optimize import linprog
from scipy.sparse import coo_matrix


@dataclass
class LinearSystem:
    """Unknowns with lower bounds, and equalities ``sum coef * x = rhs``."""

    lower: list
    rows: list  # (dict var -> coef, rhs)

    def var(self, lower: float = 0.0) -> int:
        self.lower.append(lower)
        return len(self.lower) - 1

    def bounds(self, targets) -> dict[int, tuple[float, float]]:
        """[min, max] of each target variable (inf when unbounded)."""
        n = len(self.lower)
        r, c, v, b = [], [], [], []
        for i, (coefs, rhs) in enumerate(self.rows):
            for j, a in coefs.items():
                r.append(i)
                c.append(j)
                v.append(a)
            b.append(rhs)
        A = coo_matrix((v, (r, c)), shape=(len(self.rows), n)).tocsr() if self.rows else None
        out = {}
        for t in targets:
            obj = np.zeros(n)
            res = []
            for sign in (1.0, -1.0):
                obj[t] = sign
                sol = linprog(
                    obj,
                    A_eq=A,
                    b_eq=b if A is not None else None,
                    bounds=[(lo, None) for lo in self.lower],
                    method="highs",
                )
                if sol.status == 3:
                    res.append(np.inf)
                else:
                    assert sol.status == 0, sol.message
                    res.append(sign * sol.fun)
            out[t] = (res[0], res[1])
        return out


def _num(v):
    import pandas as pd

    return None if pd.isna(v) else float(v)


def attack_admin(table, totals, truth, min_cell):
    """Attack an admin publication: ``table`` (territory cells) and ``totals`` (département and national).

    ``truth`` maps (territory, right) to (E, T, N). Returns a list of
    (territory, right, count, true value, lo, hi) for counts below ``min_cell``
    that are recovered (lo == hi) or shown small (hi < min_cell).
    """
    found = []
    for right, cells in table.groupby("right"):
        sys_ = LinearSystem([], [])
        tot = totals[totals["right"] == right]
        unknown = {}

        def triple(key, row):
            vals = [_num(row[c]) for c in ("n_eligible", "n_takers", "n_non_takers")]
            if row["status"] == "published":
                return vals
            e, t, n = sys_.var(), sys_.var(), sys_.var()  # noqa: B023 - triple() is called in this iteration only
            sys_.rows.append(({e: 1.0, t: -1.0, n: -1.0}, 0.0))  # noqa: B023
            unknown[key] = (e, t, n)  # noqa: B023
            return [e, t, n], True

        dep_terms: dict[str, list] = {}
        for _, row in cells.iterrows():
            r = triple(("cell", row["territory"]), row)
            dep_terms.setdefault(row["departement"], []).append(r)
        nat_terms = []
        for _, row in tot.iterrows():
            key = ("dep", row["departement"]) if row["level"] == "departement" else ("nat", right)
            r = triple(key, row)
            if row["level"] == "departement":
                nat_terms.append(r)
                dep_rhs = r
                for j in range(3):
                    coefs, rhs = {}, 0.0
                    for term in dep_terms.get(row["departement"], []):
                        if isinstance(term, tuple):
                            coefs[term[0][j]] = coefs.get(term[0][j], 0) + 1.0
                        else:
                            rhs -= term[j]
                    if isinstance(dep_rhs, tuple):
                        coefs[dep_rhs[0][j]] = coefs.get(dep_rhs[0][j], 0) - 1.0
                    else:
                        rhs += dep_rhs[j]
                    sys_.rows.append((coefs, rhs))
            else:
                nat_rhs = r
        for j in range(3):
            coefs, rhs = {}, 0.0
            for term in nat_terms:
                if isinstance(term, tuple):
                    coefs[term[0][j]] = coefs.get(term[0][j], 0) + 1.0
                else:
                    rhs -= term[j]
            if isinstance(nat_rhs, tuple):
                coefs[nat_rhs[0][j]] = coefs.get(nat_rhs[0][j], 0) - 1.0
            else:
                rhs += nat_rhs[j]
            sys_.rows.append((coefs, rhs))
        targets = {}
        for (kind, name), vars_ in unknown.items():
            if kind != "cell":
                continue
            true = truth[(name, right)]
            for j, cname in enumerate(("n_eligible", "n_takers", "n_non_takers")):
                if true[j] < min_cell:
                    targets[vars_[j]] = (name, right, cname, true[j])
        for v, (lo, hi) in sys_.bounds(list(targets)).items():
            name, r, cname, true = targets[v]
            assert lo - 1e-6 <= true <= hi + 1e-6, (name, r, cname, true, lo, hi)
            if hi - lo < 0.5 or hi < min_cell - 1e-6:
                found.append((name, r, cname, true, lo, hi))
    return found


def attack_domains(groups, truth, min_n, lower=None):
    """Attack sample counts: ``groups`` is a list of (cells, total) where ``cells`` is a list of
    (key, published n or None) and ``total`` the published total (None if suppressed: the group gives
    nothing); a key may appear in several groups, and a published n of the same key in any table is
    known. ``truth`` maps key to n; ``lower`` (optional) maps a key to a lower bound the attacker knows
    besides (default 1: a blank count is at least 1). Returns the keys below ``min_n`` recovered or shown
    small."""
    lower = dict(lower or {})
    sys_ = LinearSystem([], [])
    var: dict = {}
    known: dict = {}
    for cells, _ in groups:
        for key, n in cells:
            if n is not None:
                known[key] = n
    for cells, _total in groups:
        for key, _n in cells:
            if key not in known and key not in var:
                var[key] = sys_.var(lower=float(lower.get(key, 1.0)))
    for cells, total in groups:
        if total is None:
            continue
        coefs, rhs = {}, float(total)
        for key, _ in cells:
            if key in known:
                rhs -= known[key]
            else:
                coefs[var[key]] = coefs.get(var[key], 0) + 1.0
        if coefs:
            sys_.rows.append((coefs, rhs))
        else:
            assert abs(rhs) < 1e-9
    targets = {v: k for k, v in var.items() if truth[k] < min_n}
    found = []
    for v, (lo, hi) in sys_.bounds(list(targets)).items():
        k = targets[v]
        assert lo - 1e-6 <= truth[k] <= hi + 1e-6, (k, truth[k], lo, hi)
        if hi - lo < 0.5 or hi < min_n - 1e-6:
            found.append((k, truth[k], lo, hi))
    return found


# --------------------------------------------------------------------------------------------------------------
# The attacker of a whole publication folder: every CSV, the workbook, the numbers behind the report's plots.

#: Columns holding counts of individuals (respondents, recipients) in the published CSVs.
COUNT_COLUMN = r"^(n|n_.*|.*_n|N_h|n_h|admin_n_eligible)$"
#: Count-named columns that count something else than individuals (documented, so the test can say why).
NOT_INDIVIDUALS = {
    ("comparison_summary", "n"): "territories of each comparison subset",
    ("linkage_quality", "n_left"): None,
}  # None: a count of recipients, checked like the others


class Blocks:
    """Independent linear systems keyed by block (e.g. (year, right)): unknowns, known values, equalities."""

    def __init__(self):
        self.known: dict = {}  # key -> published value
        self.lower: dict = {}  # key -> lower bound of an unknown (suppressed) value
        self.block_of: dict = {}  # key -> block
        self.relations: list = []  # (block, total key, [cell keys])

    def publish(self, block, key, value, lower=0.0):
        """A cell seen in a table: its value, or None when suppressed (an unknown >= lower)."""
        self.block_of[key] = block
        if value is None:
            self.lower.setdefault(key, lower)
            self.lower[key] = max(self.lower[key], lower)
        else:
            assert self.known.get(key, value) == value, (key, self.known[key], value)  # two tables agree
            self.known[key] = value

    def relate(self, block, total, cells):
        self.relations.append((block, total, list(cells)))

    def attack(self, threshold, zeros=False):
        """Every value never published whose bounds under the relations show it below ``threshold`` (pinned
        to a small value, or merely bounded under it): [(key, lo, hi)]. A value pinned at ``threshold`` or more
        (a total that published cells add up to) discloses no small count, nor one shown to be 0 (no one) unless
        ``zeros``: an administrative cell's 0 takers or non-takers describes its eligibles (policy.small_cells)."""
        found = []
        blocks = {b for b, _, _ in self.relations} | set(self.block_of.values())
        for b in blocks:
            sys_ = LinearSystem([], [])
            var = {}
            for key, lo in self.lower.items():
                if self.block_of.get(key) == b and key not in self.known:
                    var[key] = sys_.var(lower=lo)
            for blk, total, cells in self.relations:
                if blk != b:
                    continue
                keys = [(1.0, c) for c in cells] + [(-1.0, total)]
                if any(k not in self.known and k not in var for _, k in keys):
                    continue  # a term the publication never shows: the relation is not usable as such
                coefs, rhs = {}, 0.0
                for a, k in keys:
                    if k in self.known:
                        rhs -= a * self.known[k]
                    else:
                        coefs[var[k]] = coefs.get(var[k], 0.0) + a
                if coefs:
                    sys_.rows.append((coefs, rhs))
                else:
                    assert abs(rhs) < 1e-6, (b, total, rhs)  # published cells add up to their published total
            for key, (lo, hi) in sys_.bounds([var[k] for k in var]).items():
                name = next(k for k, v in var.items() if v == key)
                if (zeros or hi >= 0.5) and hi < threshold - 1e-6:  # a value shown to be 0 describes no one
                    found.append((name, lo, hi))
        return found


# --------------------------------------------------------------------------- survey estimates and their two sides

RIGHTS = ("cmuc", "acs", "tpn", "tss")


def _key(v):
    s = str(v)
    return s[:-2] if s.endswith(".0") else s


def sides_from_microdata(weights, dims):
    """Takers and non-takers among the respondents (weight > 0) per domain x right, counted from the confidential
    weights file: ``{(dim, level, right): (takers, non_takers)}``, ``dim`` None for the whole sample."""
    import pandas as pd

    resp = weights[pd.to_numeric(weights["weight"], errors="coerce") > 0]
    out = {}
    for r in RIGHTS:
        if r not in resp.columns:
            continue
        y = pd.to_numeric(resp[r], errors="coerce")
        out[(None, "", r)] = (int((y == 1).sum()), int((y == 0).sum()))
        for dim in dims:
            if dim not in resp.columns:
                continue
            lv = resp[dim].map(_key)
            t = (y == 1).groupby(lv).sum()
            o = (y == 0).groupby(lv).sum()
            for level in t.index:
                out[(dim, str(level), r)] = (int(t[level]), int(o[level]))
    return out


def _published(t, col):
    import pandas as pd

    return pd.to_numeric(t[col], errors="coerce").notna().to_numpy()


def survey_estimates_behind(tables, year_sides, dims, year=0):
    """Every published survey estimate with a domain, and the (year, dim, level, right) cells it is built from.

    ``tables`` maps a publication file's stem to its table; ``year_sides`` maps a year to
    :func:`sides_from_microdata` of that year's respondents. Returns ``{table: [(row, [cells])]}`` over the rows
    with a published estimate (a gap: both sides; a change: both years; a trend: every year).
    """
    years = sorted(year_sides)
    out = {}

    def add(name, i, cells):
        out.setdefault(name, []).append((i, cells))

    t = tables.get("estimates_national")
    if t is not None:
        for i in range(len(t)):
            if _published(t, "estimate")[i]:
                add("estimates_national", i, [(year, None, "", t["right"].iloc[i])])
    for name, dim in (
        ("estimates_qpv", "is_qpv"),
        ("estimates_benefit", "benefit"),
        ("estimates_territory", "territory"),
    ):
        t = tables.get(name)
        if t is not None:
            ok = _published(t, "estimate")
            for i in range(len(t)):
                if ok[i]:
                    add(name, i, [(year, dim, _key(t[dim].iloc[i]), t["right"].iloc[i])])
    t = tables.get("admin_comparison")  # the sample's rates beside the administrative ones
    if t is not None:
        ok = _published(t, "sample_estimate")
        for i in range(len(t)):
            if ok[i]:
                add("admin_comparison", i, [(year, "is_qpv", _key(t["is_qpv"].iloc[i]), t["right"].iloc[i])])
    t = tables.get("gap_qpv")
    if t is not None:
        ok = _published(t, "gap")
        for i in range(len(t)):
            if ok[i]:
                r = t["right"].iloc[i]
                add("gap_qpv", i, [(year, "is_qpv", _key(t[s].iloc[i]), r) for s in ("domain_a", "domain_b")])
    for name, col in (("analysis_nontakers", "estimate"), ("analysis_predicted", "estimate")):
        t = tables.get(name)
        if t is not None:
            ok = _published(t, col)
            for i in range(len(t)):
                if ok[i]:
                    r = str(t["right"].iloc[i]).rsplit(":", 1)[0]
                    add(name, i, [(year, t["group"].iloc[i], _key(t["level"].iloc[i]), r)])
    t = tables.get("analysis_gaps")
    if t is not None:
        ok = _published(t, "gap")
        for i in range(len(t)):
            if ok[i]:
                g, r = t["group"].iloc[i], t["right"].iloc[i]
                add("analysis_gaps", i, [(year, g, _key(t[s].iloc[i]), r) for s in ("domain_a", "domain_b")])
    t = tables.get("sae")
    if t is not None and "direct" in t.columns:  # the direct estimate beside the model's
        ok = _published(t, "direct")
        for i in range(len(t)):
            if ok[i]:
                add("sae", i, [(year, "territory", _key(t["territory"].iloc[i]), t["right"].iloc[i])])
    t = tables.get("follow_up_yearly")
    if t is not None:
        ok = _published(t, "estimate")
        for i in range(len(t)):
            if ok[i]:
                add(
                    "follow_up_yearly",
                    i,
                    [(int(t["year"].iloc[i]), "is_qpv", _key(t["is_qpv"].iloc[i]), t["right"].iloc[i])],
                )
    t = tables.get("follow_up_changes")
    if t is not None:
        ok = _published(t, "change")
        for i in range(len(t)):
            if ok[i]:
                lv, r = _key(t["is_qpv"].iloc[i]), t["right"].iloc[i]
                add("follow_up_changes", i, [(int(t[c].iloc[i]), "is_qpv", lv, r) for c in ("year_from", "year_to")])
    t = tables.get("follow_up_trend")
    if t is not None:
        ok = _published(t, "slope")
        for i in range(len(t)):
            if ok[i]:
                add("follow_up_trend", i, [(y, "is_qpv", _key(t["is_qpv"].iloc[i]), t["right"].iloc[i]) for y in years])
    t = tables.get("follow_up_did")
    if t is not None:
        ok = _published(t, "did")
        for i in range(len(t)):
            if ok[i]:
                g, r = t["gap"].iloc[i], t["right"].iloc[i]
                yrs = (int(t["year_from"].iloc[i]), int(t["year_to"].iloc[i]))
                lvs = (_key(t["level_a"].iloc[i]), _key(t["level_b"].iloc[i]))
                add("follow_up_did", i, [(y, g, lv, r) for y in yrs for lv in lvs])
    t = tables.get("follow_up_territories")
    if t is not None:
        ok = _published(t, "change")
        for i in range(len(t)):
            if ok[i]:
                ter, r = _key(t["territory"].iloc[i]), t["right"].iloc[i]
                add(
                    "follow_up_territories",
                    i,
                    [(int(t[c].iloc[i]), "territory", ter, r) for c in ("year_from", "year_to")],
                )
    return out


def few_sides(behind, year_sides, min_n):
    """Published estimates (table, row, cell, takers, non-takers) built from fewer than ``min_n`` takers or
    non-takers in one of their cells (empty: the rule holds)."""
    bad = []
    for name, rows in behind.items():
        for i, cells in rows:
            for y, dim, lv, r in cells:
                t, o = year_sides[y].get((dim, lv, r), (0, 0))
                if t < min_n or o < min_n:
                    bad.append((name, i, (y, dim, lv, r), t, o))
    return bad


def rate_times_n_attack(tables, year_sides, min_n, year=0):
    """The ``round(n x rate)`` attack on the survey tables that publish ``n`` beside a rate: the takers (and
    ``n`` minus them, the non-takers) an attacker reads off each row. Returns the counts below ``min_n`` that it
    gets exactly right, checked against the microdata: (table, row, side, count)."""
    import pandas as pd

    found = []
    specs = [
        ("estimates_national", None, "n", "estimate"),
        ("estimates_qpv", "is_qpv", "n", "estimate"),
        ("estimates_benefit", "benefit", "n", "estimate"),
        ("estimates_territory", "territory", "n", "estimate"),
        ("sae", "territory", "n", "direct"),
        ("admin_comparison", "is_qpv", "sample_n", "sample_estimate"),
        ("follow_up_yearly", "is_qpv", "n", "estimate"),
    ]
    for name, dim, n_col, rate_col in specs:
        t = tables.get(name)
        if t is None or n_col not in t.columns or rate_col not in t.columns:
            continue
        n = pd.to_numeric(t[n_col], errors="coerce").to_numpy(dtype=float)
        p = pd.to_numeric(t[rate_col], errors="coerce").to_numpy(dtype=float)
        p = p / 100 if rate_col in t.columns and (p[np.isfinite(p)] > 1).any() else p  # a table in percent
        for i in np.flatnonzero(np.isfinite(n) & np.isfinite(p) & (n > 0)):
            y = int(t["year"].iloc[i]) if "year" in t.columns else year
            lv = "" if dim is None else _key(t[dim].iloc[i])
            truth = year_sides[y].get((dim, lv, t["right"].iloc[i]))
            if truth is None:
                continue
            guess = int(round(n[i] * p[i]))
            for side, g, true in (("takers", guess, truth[0]), ("non_takers", int(n[i]) - guess, truth[1])):
                if 0 < g < min_n and g == true:
                    found.append((name, int(i), side, g))
    return found
