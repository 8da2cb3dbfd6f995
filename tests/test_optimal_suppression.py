"""Optimal secondary suppression (publication.optimal): the attacker recovers nothing from the linked tables it
protects (one year, five years, with the QPV / rest margins), and it suppresses no more than the heuristic."""

from __future__ import annotations

import os

import numpy as np
import pandas as pd
import pytest
from attacker import Blocks, attack_admin
from hypothesis import given, settings
from hypothesis import strategies as st
from test_disclosure import _admin_blocks, _count_tables

from nonrecours.admin.counts import count_territories, counts_table
from nonrecours.admin.series import admin_counts, admin_series
from nonrecours.errors import OptionError
from nonrecours.publication import protect_admin_counts, protect_admin_series
from nonrecours.publication.optimal import LinkedUnits, optimal_pattern

RIGHTS = ["cmuc", "acs", "tpn", "tss"]


def _truth(cells):
    return {
        (a, r): (e, k, e - k)
        for a, r, e, k in zip(cells["territory"], cells["right"], cells["n_eligible"], cells["n_takers"])
    }


def _suppressed_cost(rules, eligibles):
    secondary = rules == "secondary"
    return int(secondary.sum()), int(np.asarray(eligibles)[secondary].sum())


def _margin_blocks(table, totals, qpv_of):
    """The attacker's relations with the QPV / rest totals (``totals`` rows of level ``is_qpv``)."""
    b = Blocks()

    def triple(right, key, row):
        vals = [None if pd.isna(row[c]) else float(row[c]) for c in ("n_eligible", "n_takers", "n_non_takers")]
        for c, v in zip("ETN", vals):
            b.publish(right, (right, *key, c), v)
        b.relate(right, (right, *key, "E"), [(right, *key, "T"), (right, *key, "N")])

    for row in table.to_dict("records"):
        triple(row["right"], ("cell", row["territory"]), row)
    for row in totals.to_dict("records"):
        lvl = row["level"]
        key = (
            ("nat", "")
            if lvl == "national"
            else ("dep", row["departement"])
            if lvl == "departement"
            else ("m", str(row["is_qpv"]))
        )
        triple(row["right"], key, row)
    for r, cells in table.groupby("right"):
        q = cells["territory"].map(qpv_of).astype(str)
        for c in "ETN":
            for d, g in cells.groupby("departement"):
                b.relate(r, (r, "dep", d, c), [(r, "cell", t, c) for t in g["territory"]])
            b.relate(r, (r, "nat", "", c), [(r, "dep", d, c) for d in cells["departement"].unique()])
            for v, g in cells.groupby(q):
                b.relate(r, (r, "m", v, c), [(r, "cell", t, c) for t in g["territory"]])
            b.relate(r, (r, "nat", "", c), [(r, "m", v, c) for v in q.unique()])
    return b


@pytest.fixture(scope="module")
def reference_cells():
    """The reference tables of issue 25: 200 QPVs and the rest of their units (400 territories) x 4 rights, seed 3."""
    from nonrecours.simulate import simulate_population

    pop = simulate_population(200, seed=3)
    cells = counts_table(count_territories(pop.recipients, RIGHTS), RIGHTS)
    qpv = pop.territories.set_index("territory")["is_qpv"]
    return cells.assign(is_qpv=cells["territory"].map(qpv).astype(int))


@pytest.mark.slow
@pytest.mark.parametrize("margins", [(), ("is_qpv",)])
def test_optimal_single_year_protects_and_suppresses_no_more(reference_cells, margins):
    cells = reference_cells
    assert len(cells) == 1600
    el = cells["n_eligible"].to_numpy()
    heur = protect_admin_counts(cells, min_cell=11, margins=margins)
    n_primary = int((heur[2] == "primary").sum())
    assert n_primary == 38 and (heur[2] == "secondary").sum() == 31  # the heuristic's reference pattern
    for cost in ("cells", "eligibles"):
        table, totals, rules = protect_admin_counts(cells, min_cell=11, margins=margins, method="optimal", cost=cost)
        assert (rules == "primary").sum() == n_primary
        n_sec, el_sec = _suppressed_cost(rules, el)
        h_sec, h_el = _suppressed_cost(heur[2], el)
        assert (totals["status"] == "suppressed").sum() <= (heur[1]["status"] == "suppressed").sum()
        assert n_sec <= h_sec if cost == "cells" else el_sec <= h_el
        pub = table[table["status"] == "published"]
        assert (pub[["n_eligible", "n_takers", "n_non_takers"]].astype(int) >= 11).all().all()
        hierarchy = totals[totals["level"].isin(["departement", "national"])]  # what attack_admin knows
        assert attack_admin(table, hierarchy, _truth(cells), 11) == []
        if margins:
            qpv_of = dict(zip(cells["territory"], cells["is_qpv"].astype(str)))
            assert _margin_blocks(table, totals, qpv_of).attack(11) == []


@pytest.fixture(scope="module")
def five_years():
    """Five years of linked tables: 60 QPVs and their rest of unit x 4 rights, 2014-2018."""
    from nonrecours.simulate.waves import simulate_waves

    w = simulate_waves(60, (2014, 2015, 2016, 2017, 2018), seed=3)
    qpv = w.populations[0].territories.set_index("territory")["is_qpv"].astype(int)
    return pd.concat(
        [admin_counts(p.recipients, RIGHTS).assign(year=y) for y, p in zip(w.years, w.populations)], ignore_index=True
    ).assign(is_qpv=lambda c: c["territory"].map(qpv))


@pytest.mark.slow
def test_optimal_five_years_protects_every_year_and_suppresses_no_more(five_years):
    heur = admin_series(five_years, min_cell=11)
    opt = admin_series(five_years, min_cell=11, method="optimal")
    first = (opt.table["year"] == 2014).to_numpy()
    assert (opt.rules[first] == "primary").sum() == (heur.rules[first] == "primary").sum() > 0
    assert (opt.rules[first] == "secondary").sum() <= (heur.rules[first] == "secondary").sum()
    assert opt.n_suppressed["secondary"] > 0
    for y, counts in five_years.groupby("year"):  # the attacker, on each year's published tables
        table = opt.table[opt.table["year"] == y].assign(n_non_takers=lambda t: t["n_eligible"] - t["n_takers"])
        deps = opt.departements[opt.departements["year"] == y].assign(
            level="departement", n_non_takers=lambda t: t["n_eligible"] - t["n_takers"]
        )
        nation = pd.DataFrame({"level": "national", "departement": pd.NA, "right": RIGHTS, "status": "suppressed"})
        assert attack_admin(table, pd.concat([deps, nation], ignore_index=True), _truth(counts), 11) == []
        statuses = opt.table.loc[opt.table["year"] == y, "status"].to_numpy()
        assert (statuses == opt.table.loc[first, "status"].to_numpy()).all()  # one pattern every year


@pytest.mark.slow
@settings(max_examples=int(os.environ.get("NONRECOURS_DISCLOSURE_EXAMPLES", "15")), deadline=None)
@given(_count_tables(), st.sampled_from([5, 11]))
def test_optimal_property_with_margins(cells, min_cell):
    """Property: on any small table with département, QPV / rest and national totals, the optimal pattern leaves
    the attacker nothing and costs no more than the heuristic's (cells, then totals weighing their cells)."""
    cells = cells.assign(q=cells["territory"].map(lambda t: "q" if int(t[1:]) % 2 else "r"))
    cells["territory"] = cells["territory"] + cells["q"]
    table, totals, rules = protect_admin_counts(cells, min_cell=min_cell, margins=["q"], method="optimal")
    assert _admin_blocks(table, totals, "q").attack(min_cell) == []
    pub = totals[totals["status"] == "published"]
    assert (pub[["n_eligible", "n_takers", "n_non_takers"]].astype(int) >= min_cell).all().all()
    _, h_totals, h_rules = protect_admin_counts(cells, min_cell=min_cell, margins=["q"])

    def cost(rules, totals):  # a total weighs the cells it adds up (publication.optimal.admin_units)
        size = {
            "national": cells.groupby("right").size(),
            "departement": cells.groupby(["departement", "right"]).size(),
            "q": cells.groupby(["q", "right"]).size(),
        }
        hidden = totals[totals["status"] == "suppressed"].to_dict("records")
        key = {"national": lambda t: t["right"], "departement": lambda t: (t["departement"], t["right"])}
        key["q"] = lambda t: (t["q"], t["right"])
        return int((rules != "published").sum()) + sum(int(size[t["level"]][key[t["level"]](t)]) for t in hidden)

    assert cost(rules, totals) <= cost(h_rules, h_totals)


@pytest.mark.slow
@pytest.mark.parametrize("margins", [[], ["q"]])
def test_no_zero_takers_pinned_down(margins):
    """An attack the other tests do not make: a suppressed count of 0 takers or non-takers shown to be 0 tells that
    every eligible of the cell does (not) take up, which is why policy.small_cells makes a zero primary; the test's
    attacker (``zeros=True``) flags it, on tables where many cells have 0 takers, with and without the margins."""
    control = Blocks()  # the attacker sees a pinned zero: a hidden cell of 0 takers beside a total it adds nothing to
    control.publish(0, "a", None)
    control.publish(0, "b", 5.0)
    control.publish(0, "total", 5.0)
    control.relate(0, "total", ["a", "b"])
    assert control.attack(11) == [] and control.attack(11, zeros=True) == [("a", 0.0, 0.0)]
    rng = np.random.default_rng(25)
    for _ in range(6):  # loop over random tables
        n = int(rng.integers(2, 9))
        takers = np.where(rng.random(n) < 0.4, 0, rng.integers(0, 40, n))
        cells = pd.DataFrame(
            {
                "territory": [f"T{t}{'q' if t % 2 else 'r'}" for t in range(n)],
                "departement": [f"{d:02d}" for d in np.sort(rng.integers(0, 3, n))],
                "right": "tpn",
                "n_eligible": takers + rng.integers(0, 40, n),
                "n_takers": takers,
            }
        ).assign(q=lambda c: c["territory"].str[-1])
        for method in ("heuristic", "optimal"):
            table, totals, _ = protect_admin_counts(cells, min_cell=11, margins=margins, method=method)
            found = _admin_blocks(table, totals, "q" if margins else None).attack(11, zeros=True)
            assert [f for f in found if not (f[0][-1] == "E" and f[2] < 0.5)] == []  # 0 eligibles: no one


def test_optimal_needs_the_attacks_cuts(monkeypatch):
    """Two single-territory départements and a QPV margin: the cut of each relation alone does not protect the
    QPV cell; the attacker's cut does (the pattern then holds against the attacker)."""
    import nonrecours.publication.optimal as optimal

    n_cuts = []
    attack = optimal._attack
    monkeypatch.setattr(optimal, "_attack", lambda *a: n_cuts.append(len(c := attack(*a))) or c)
    cells = pd.DataFrame(
        {
            "territory": ["Aq", "Br", "Cr", "Dq", "Eq", "Fr"],
            "departement": ["01", "01", "02", "03", "04", "04"],
            "right": "tpn",
            "n_eligible": [8, 40, 50, 60, 45, 55],
            "n_takers": [4, 20, 25, 30, 20, 30],
        }
    )
    cells["q"] = cells["territory"].str[-1]
    table, totals, rules = protect_admin_counts(cells, min_cell=11, margins=["q"], method="optimal")
    assert rules[0] == "primary" and (rules == "secondary").any()
    assert n_cuts[0] > 0 and n_cuts[-1] == 0  # the first pattern was attacked with success, the last was not
    assert _admin_blocks(table, totals, "q").attack(11) == []


def test_optimal_pattern_on_units_by_hand():
    """One total over three cells, the first small: the cheapest partner is the cell with fewest eligibles."""
    rel = np.array([[1.0, 1.0, 1.0, -1.0]])
    values = np.array([[[5, 2, 3], [30, 10, 20], [20, 10, 10], [55, 22, 33]]])
    import scipy.sparse as sp

    units = LinkedUnits(
        relations=sp.csr_matrix(rel),
        values=values,
        fixed=np.array([True, False, False, False]),
        block=np.zeros(4, dtype=int),
        cost=np.array([1.0, 30.0, 20.0, 55.0]),
    )
    assert optimal_pattern(units, 11).tolist() == [True, False, True, False]
    # the partner must be able to give the small cell min_cell - 5 = 6 takers: a cell with 5 takers cannot
    values[0, 2] = [20, 5, 15]
    values[0, 3] = [55, 17, 38]
    assert optimal_pattern(units, 11).tolist() == [True, True, False, False]


def _one_large_total(n_cells=205):
    """A total over ``n_cells`` cells (more than the seed cuts take), the first one small (2 takers)."""
    import scipy.sparse as sp

    values = np.zeros((1, n_cells + 1, 3), dtype=np.int64)
    values[0, :n_cells] = [40, 20, 20]
    values[0, 0] = [5, 2, 3]
    values[0, n_cells] = values[0, :n_cells].sum(axis=0)
    units = LinkedUnits(
        relations=sp.csr_matrix(np.r_[np.ones(n_cells), -1.0][None]),
        values=values,
        fixed=np.r_[True, np.zeros(n_cells, dtype=bool)],
        block=np.zeros(n_cells + 1, dtype=int),
        cost=np.ones(n_cells + 1),
    )
    return units, values[0]


def test_optimal_pattern_when_no_relation_seeds_a_cut():
    """A small cell whose only relation is too large to seed the master (was: AttributeError in the seed cuts);
    the attacks' cuts protect it, as the attacker of the tests checks."""
    units, values = _one_large_total()
    x = optimal_pattern(units, 11)
    assert x[0] and x.sum() >= 2
    b = Blocks()
    keys = [("u", i) for i in range(len(values))]
    for key, v, hidden in zip(keys, values.tolist(), x.tolist()):
        for c, val in zip("ETN", v):
            b.publish(0, (*key, c), None if hidden else float(val))
        b.relate(0, (*key, "E"), [(*key, "T"), (*key, "N")])
    for c in "ETN":
        b.relate(0, (*keys[-1], c), [(*k, c) for k in keys[:-1]])
    assert b.attack(11) == []


def test_optimal_pattern_solver_failure_is_no_protection(monkeypatch):
    """An attack HiGHS does not finish shows nothing protected: no pattern (the caller's heuristic), where the
    pattern was the primary cell alone (its count recovered from the published total)."""
    from types import SimpleNamespace

    from nonrecours.publication import optimal

    units, _ = _one_large_total()
    failed = SimpleNamespace(status=4, x=None, fun=0.0, message="numerical difficulties")
    monkeypatch.setattr(optimal, "linprog", lambda *a, **k: failed)
    assert optimal_pattern(units, 11) is None


def test_optimal_fallback_to_the_heuristic_is_said(monkeypatch):
    """When the programme does not end (here every attack fails), the heuristic's pattern is published, with a
    ConvergenceWarning (was: silently, under method='optimal')."""
    from types import SimpleNamespace

    from nonrecours.errors import ConvergenceWarning
    from nonrecours.publication import optimal

    cells = pd.DataFrame(
        {
            "territory": ["a", "b", "c", "d"],
            "departement": "01",
            "right": "tpn",
            "n_eligible": [8, 40, 50, 60],
            "n_takers": [3, 20, 25, 30],
        }
    )
    heur = protect_admin_counts(cells, min_cell=11)
    failed = SimpleNamespace(status=4, x=None, fun=0.0, message="numerical difficulties")
    monkeypatch.setattr(optimal, "linprog", lambda *a, **k: failed)
    with pytest.warns(ConvergenceWarning, match="parameter method.*heuristic's pattern is published"):
        _, totals, rules = protect_admin_counts(cells, min_cell=11, method="optimal")
    assert rules.tolist() == heur[2].tolist() and (rules == "secondary").any()
    assert totals["status"].tolist() == heur[1]["status"].tolist()


@pytest.mark.parametrize(("name", "value"), [("method", "best"), ("cost", "people")])
def test_method_and_cost_checked(name, value):
    cells = pd.DataFrame(
        {"territory": ["a", "b"], "departement": "01", "right": "tpn", "n_eligible": [30, 40], "n_takers": [10, 20]}
    )
    with pytest.raises(OptionError, match=f"parameter {name}"):
        protect_admin_counts(cells, **{name: value})


@pytest.mark.slow
def test_optimal_five_years_with_margins(five_years):
    """Five years, with the QPV / rest totals published each year: one pattern, nothing recovered in any year."""
    cells = five_years[["territory", "departement", "right", "is_qpv"]].drop_duplicates(ignore_index=True)
    wide = five_years.pivot_table(index=["territory", "right"], columns="year", values=["n_eligible", "n_takers"])
    idx = pd.MultiIndex.from_frame(cells[["territory", "right"]])
    N, K = wide["n_eligible"].reindex(idx).to_numpy(int), wide["n_takers"].reindex(idx).to_numpy(int)
    primary, hidden, totals = protect_admin_series(cells, N, K, min_cell=11, margins=["is_qpv"], method="optimal")
    _, h_hidden, _ = protect_admin_series(cells, N, K, min_cell=11, margins=["is_qpv"])
    assert primary.any() and (hidden & ~primary).any()
    assert (hidden & ~primary).sum() <= (h_hidden & ~primary).sum()
    qpv_of = dict(zip(cells["territory"], cells["is_qpv"].astype(str)))
    status = np.where(hidden, "suppressed", "published")
    for t, tot in enumerate(totals):
        assert (tot["status"].to_numpy() == totals[0]["status"].to_numpy()).all()  # one pattern every year
        table = cells.assign(
            n_eligible=np.where(hidden, np.nan, N[:, t]),
            n_takers=np.where(hidden, np.nan, K[:, t]),
            n_non_takers=np.where(hidden, np.nan, N[:, t] - K[:, t]),
            status=status,
        )
        assert _margin_blocks(table, tot, qpv_of).attack(11) == []


def test_cli_territorial_admin_suppression(tmp_path):
    """``territorial admin --suppression optimal`` publishes a pattern of no more secondary cells; a bad value is
    refused in the option's words before any work."""
    from typer.testing import CliRunner

    from nonrecours.cli.main import app
    from nonrecours.io import read_table
    from nonrecours.simulate import simulate_population

    rec = tmp_path / "recipients.csv"
    simulate_population(15, seed=5).recipients.to_csv(rec, index=False)
    n_hidden = {}
    for method in ("heuristic", "optimal"):
        out = tmp_path / f"{method}.csv"
        res = CliRunner().invoke(app, ["territorial", "admin", str(rec), "--suppression", method, "--out", str(out)])
        assert res.exit_code == 0, res.output
        n_hidden[method] = int((read_table(out)["status"] == "suppressed").sum())
    assert 0 < n_hidden["optimal"] <= n_hidden["heuristic"]
    out = tmp_path / "bad.csv"
    res = CliRunner().invoke(app, ["territorial", "admin", str(rec), "--suppression", "best", "--out", str(out)])
    assert res.exit_code == 2 and "option --suppression: unknown value" in res.output and not out.exists()


def test_study_admin_suppression_key(tmp_path):
    import tomllib

    from nonrecours.errors import ConfigError
    from nonrecours.study import parse_study
    from nonrecours.study.demo import example_study

    (tmp_path / "population").mkdir()
    for name in ("recipients.csv", "territories.csv", "truth.csv"):
        (tmp_path / "population" / name).write_text("id\n1\n")
    data = tomllib.loads(example_study(seed=1))
    assert parse_study(data, base_dir=tmp_path).admin.suppression == "heuristic"
    data["admin"] = {"suppression": "optimal"}
    assert parse_study(data, base_dir=tmp_path).admin.suppression == "optimal"
    data["admin"] = {"suppression": "best"}
    with pytest.raises(ConfigError, match="admin.suppression: unknown value"):
        parse_study(data, base_dir=tmp_path)


def test_cli_series_admin_suppression(tmp_path):
    """``series --admin ... --suppression optimal``: one pattern every year, no more suppressed cells than the
    heuristic's."""
    from typer.testing import CliRunner

    from nonrecours.cli.main import app
    from nonrecours.simulate.waves import simulate_waves

    w = simulate_waves(5, (2014, 2015, 2016), seed=9)
    files = []
    for y, p in zip(w.years, w.populations):
        p.recipients.to_csv(tmp_path / f"r{y}.csv", index=False)
        files.append(f"{y}={tmp_path / f'r{y}.csv'}")
    hidden = {}
    for method in ("heuristic", "optimal"):
        out = tmp_path / method
        args = ["series", "--rights", "cmuc,acs", "--admin", ",".join(files), "--min-cell", "40", "--out", str(out)]
        r = CliRunner().invoke(app, [*args, "--suppression", method])
        assert r.exit_code == 0, r.output
        a = pd.read_csv(out / "admin_series.csv", dtype={"territory": str})
        assert (a.groupby(["territory", "right"])["status"].nunique() == 1).all()
        hidden[method] = int((a["status"] == "suppressed").sum())
    assert 0 < hidden["optimal"] <= hidden["heuristic"]


@pytest.mark.slow
@pytest.mark.filterwarnings(
    "ignore::nonrecours.errors.ConvergenceWarning", "ignore::nonrecours.errors.DisclosureWarning"
)
def test_study_with_optimal_suppression_gives_nothing_away(tmp_path):
    """The demo's study with its administrative phase and ``[admin] suppression = "optimal"``: the attacker of
    tests/test_attack_publication.py recovers nothing from its publication (sample and administrative tables)."""
    from test_attack_publication import (
        MIN,
        _geography,
        _small,
        admin_relations,
        direct_small_counts,
        sample_relations,
        sample_sums,
    )

    from nonrecours.simulate import simulate_population
    from nonrecours.simulate.sources import simulate_sources
    from nonrecours.study import run_study
    from nonrecours.study.demo import ADMIN_SECTION, example_study

    pop = simulate_population(10, seed=1)
    pop.write(tmp_path / "population")
    simulate_sources(pop, seed=2).write(tmp_path / "population" / "sources")
    study = tmp_path / "study.toml"
    admin = ADMIN_SECTION.replace("threshold = 0.9\n", 'threshold = 0.9\nsuppression = "optimal"\n')
    assert admin != ADMIN_SECTION
    study.write_text(_small(example_study(seed=1)) + admin, encoding="utf-8")
    res = run_study(study)
    assert res.config.admin.suppression == "optimal"
    pub = res.folder / "publication"
    assert direct_small_counts(pub) == []
    qpv_of = _geography(res.config.territorial.covariates_file)
    b = Blocks()
    sample_relations(b, pub, 0, qpv_of)
    sample_sums(b, qpv_of)
    assert admin_relations(b, pub, qpv_of) > 0  # suppressed administrative cells
    assert b.attack(MIN) == []


def test_optimal_pattern_budget_is_for_the_whole_programme(monkeypatch):
    """The time budget covers every block and round: a clock that jumps past it after the first master programme
    gives no pattern (the caller's heuristic), where the same programme within its budget gives one; a budget
    that is not a positive number of seconds is refused, naming the parameter."""
    from nonrecours.errors import OptionError
    from nonrecours.publication import optimal

    units, _ = _one_large_total()
    assert optimal_pattern(units, 11) is not None
    clock = iter([0.0] + [0.0] + [1e6] * 1000)  # the deadline's start, the first round, then past the budget
    monkeypatch.setattr(optimal.time, "monotonic", lambda: next(clock))
    assert optimal_pattern(units, 11, time_limit=5.0) is None
    with pytest.raises(OptionError, match="time_limit"):
        optimal_pattern(units, 11, time_limit=0)
