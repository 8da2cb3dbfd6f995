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


def attack_domains(groups, truth, min_n):
    """Attack sample counts: ``groups`` is a list of (cells, total) where ``cells`` is a list of
    (key, published n or None) and ``total`` the published total (None if suppressed: the group gives
    nothing); a key may appear in several groups, and a published n of the same key in any table is
    known. ``truth`` maps key to n. Returns the keys below ``min_n`` recovered or shown small."""
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
                var[key] = sys_.var(lower=1.0)
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
