"""Administrative rates over years with disclosure control consistent over time."""

import numpy as np
import pandas as pd
import pytest

from nonrecours.admin.series import admin_counts, admin_series
from nonrecours.errors import OptionError
from nonrecours.simulate.waves import simulate_waves


def _counts():
    # one département, one right, four territories over two years: 'b' is small in 2014 only
    return pd.DataFrame(
        {
            "year": [2014] * 4 + [2015] * 4,
            "territory": list("abcd") * 2,
            "departement": "01",
            "right": "acs",
            "n_eligible": [40, 6, 25, 60, 42, 30, 26, 61],
            "n_takers": [20, 3, 10, 30, 21, 12, 11, 30],
        }
    )


def _identifiable(published_rows: list[np.ndarray], n_vars: int, target: int) -> bool:
    """Is unknown ``target`` determined by the published linear equations (row space test)?"""
    A = np.array(published_rows, dtype=float).reshape(-1, n_vars)
    e = np.zeros(n_vars)
    e[target] = 1.0
    return np.linalg.matrix_rank(np.vstack([A, e])) == np.linalg.matrix_rank(A)


def _equations(status_by_year: dict, changes_cells: list[tuple[int, int, int]], cells: int, years: int):
    """Equations published: every published cell, every year's département total, and cell changes."""
    rows = []
    idx = lambda c, t: t * cells + c  # noqa: E731
    for t in range(years):
        for c in range(cells):
            if status_by_year[t][c] == "published":
                r = np.zeros(cells * years)
                r[idx(c, t)] = 1
                rows.append(r)
        r = np.zeros(cells * years)
        r[[idx(c, t) for c in range(cells)]] = 1  # département total
        rows.append(r)
    for c, t0, t1 in changes_cells:
        r = np.zeros(cells * years)
        r[idx(c, t1)], r[idx(c, t0)] = 1, -1
        rows.append(r)
    return rows


def test_pattern_is_the_same_every_year_and_not_recoverable():
    s = admin_series(_counts(), min_cell=11)
    t = s.table
    pattern = t.pivot(index="territory", columns="year", values="status")
    assert (pattern[2014] == pattern[2015]).all()
    rules = t.assign(rule=s.rules).pivot(index="territory", columns="year", values="rule")
    assert rules.loc["b", 2014] == rules.loc["b", 2015] == "primary"  # small in 2014 only, suppressed in both
    assert set(pattern[2014]) == {"published", "suppressed"}  # the published status does not tell the rule
    assert (pattern != "published").sum()[2014] == 2  # b and its partner, in both years
    assert t.loc[t["status"] != "published", ["n_eligible", "n_takers"]].isna().all().all()
    # what is published: cells, totals, changes of published cells -> no suppressed cell is determined
    st = {k: pattern[y].to_numpy() for k, y in enumerate((2014, 2015))}
    ch = [(list("abcd").index(c), 0, 1) for c in s.changes["territory"]]
    eq = _equations(st, ch, 4, 2)
    for k in range(2):
        for c in np.flatnonzero(st[k] != "published"):
            assert not _identifiable(eq, 8, k * 4 + c)


def test_year_by_year_suppression_would_leak():
    """The naive alternative (each year on its own, changes of cells published in the later year) is recoverable."""
    c = _counts()
    naive = {
        k: admin_series(c[c["year"] == y], min_cell=11)
        .table.set_index("territory")["status"]
        .reindex(list("abcd"))
        .to_numpy()
        for k, y in enumerate((2014, 2015))
    }
    assert naive[0][1] == "suppressed" and naive[1][1] == "published"
    ch = [(i, 0, 1) for i in range(4) if naive[1][i] == "published"]
    eq = _equations(naive, ch, 4, 2)
    assert _identifiable(eq, 8, 1)  # b in 2014 = its 2015 value minus its published change


def test_departement_with_a_single_territory_has_its_totals_suppressed():
    c = pd.DataFrame(
        {
            "year": [1, 2],
            "territory": ["x", "x"],
            "departement": "02",
            "right": "tpn",
            "n_eligible": [5, 50],
            "n_takers": [1, 20],
        }
    )
    s = admin_series(c)
    assert (s.departements["status"] == "suppressed").all()
    assert s.departements["n_eligible"].isna().all()


def test_series_on_simulated_waves():
    w = simulate_waves(8, (2014, 2015, 2016), seed=4)
    counts = {y: admin_counts(p.recipients, ["cmuc", "tss"]) for y, p in zip(w.years, w.populations)}
    s = admin_series(counts, min_cell=30)
    t = s.table
    per_cell = t.groupby(["territory", "right"])["status"].nunique()
    assert (per_cell == 1).all()
    # unsuppressed counts equal the truth of the simulator
    truth = w.populations[1].truth.set_index(["territory", "right"])
    pub = t[(t["year"] == 2015) & (t["status"] == "published")].set_index(["territory", "right"])
    assert (pub["n_takers"].astype(int) == truth.loc[pub.index, "n_takers"]).all()
    groups = (
        t[t["year"] == 2014].groupby(["departement", "right"])["status"].apply(lambda v: int((v != "published").sum()))
    )
    assert not (groups == 1).any()
    published = set(map(tuple, t.loc[t["status"] == "published", ["territory", "right"]].to_numpy()))
    assert set(map(tuple, s.changes[["territory", "right"]].to_numpy())) <= published
    assert set(zip(s.changes["year_from"], s.changes["year_to"])) == {(2014, 2015), (2015, 2016)}
    with pytest.raises(OptionError, match="parameter min_cell"):
        admin_series(counts, min_cell=0)
