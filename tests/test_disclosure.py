"""The disclosure-control core: completion of suppressions within groups, sample domain counts."""

from __future__ import annotations

import dataclasses
import os

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from nonrecours.errors import OptionError
from nonrecours.publication import blank_suppressed, complete_suppression, protect_domain_counts


def test_complete_suppression_by_hand():
    # group 0: one primary cell (3 takers, 1 non-taker) -> add the smallest cells until both sums reach 11
    counts = np.array([[3, 1], [5, 20], [9, 9], [30, 30], [50, 50], [40, 40]])
    supp = np.array([True, False, False, False, False, False])
    group = np.array([0, 0, 0, 0, 1, 1])
    order = np.array([0, 1, 2, 3, 0, 1])
    out, exhausted = complete_suppression(counts, supp, group, order, 11)
    # cell 1 gives takers 8 (< 11): cell 2 too (takers 17, non-takers 30); group 1 untouched
    assert out.tolist() == [True, True, True, False, False, False]
    assert not exhausted.any()
    # a group with a single cell cannot be protected: exhausted (its total must go)
    out, exhausted = complete_suppression(np.array([[3, 1]]), np.array([True]), np.array([0]), np.array([0]), 11)
    assert exhausted.tolist() == [True]
    # inactive groups (total suppressed) need nothing
    out, exhausted = complete_suppression(counts[:4], supp[:4], group[:4], order[:4], 11, active=np.array([False]))
    assert out.tolist() == supp[:4].tolist() and not exhausted.any()


def test_protect_domain_counts_nested_and_blanked():
    nat = pd.DataFrame({"right": ["r"], "n": [100], "estimate": [0.5], "flag": ["ok"]})
    q = pd.DataFrame({"q": ["0", "1"], "right": "r", "n": [95, 5], "estimate": 0.5, "flag": ["ok", "suppressed"]})
    t = pd.DataFrame(
        {
            "t": ["a", "b", "c", "d", "e"],
            "right": "r",
            "n": [50, 45, 3, 2, 0],
            "estimate": 0.5,
            "df": [49, 44, 2, 1, 0],
            "flag": ["ok", "ok", "suppressed", "suppressed", "suppressed"],
        }
    )
    nests = {"t": ("q", {"a": "0", "b": "0", "c": "1", "d": "1", "e": "1"})}
    n_, q_, t_ = protect_domain_counts([nat, q, t], [None, "q", "t"], min_n=11, nests=nests)
    # q=1 (5) alone would be 100 - 95: q=0 goes too, and with it the territories in it
    assert q_["flag"].tolist() == ["suppressed", "suppressed"] and q_["n"].isna().all()
    assert t_["flag"].eq("suppressed").all() and t_["df"][:4].isna().all()
    assert t_["n"].tolist()[:4] == [pd.NA] * 4 and t_["n"].iloc[4] == 0  # an empty domain keeps n = 0
    assert int(n_["n"].iloc[0]) == 100
    # with the QPV cells large, only the territory cells of a QPV domain protect each other
    q2 = q.assign(n=[80, 20], flag="ok")
    t2 = t.assign(n=[50, 30, 15, 5, 0], flag=["ok", "ok", "ok", "suppressed", "suppressed"])
    _, _, t2_ = protect_domain_counts([nat, q2, t2], [None, "q", "t"], min_n=11, nests=nests)
    assert t2_["flag"].tolist() == ["ok", "ok", "suppressed", "suppressed", "suppressed"]


def test_blank_suppressed_hides_n_df_and_deff():
    t = pd.DataFrame(
        {
            "right": "r",
            "n": [3, 0, 40],
            "estimate": [np.nan, np.nan, 0.5],
            "df": [2.0, 0.0, 39.0],
            "deff": [np.nan, np.nan, 1.1],
            "flag": ["suppressed", "suppressed", "ok"],
        }
    )
    b = blank_suppressed(t)
    assert b["n"].isna().tolist() == [True, False, False] and b["df"].isna().tolist() == [
        True,
        False,
        False,
    ]  # empty domain: df 0 says nothing


def test_min_cell_checked():
    from nonrecours.publication import check_min_cell

    for bad in (0, -1, 1.5, True, "11"):
        with pytest.raises(OptionError, match="parameter min_cell"):
            check_min_cell(bad)


@st.composite
def _count_tables(draw):
    """Small aggregated tables: départements of 1 to 4 territories, 1 or 2 rights, many small counts."""
    rows = []
    n_dep = draw(st.integers(1, 4))
    rights = ["tpn", "acs"][: draw(st.integers(1, 2))]
    t = 0
    for d in range(n_dep):
        for _ in range(draw(st.integers(1, 4))):
            for r in rights:
                takers = draw(st.integers(0, 40))
                rows.append((f"T{t}", f"{d:02d}", r, takers + draw(st.integers(0, 40)), takers))
            t += 1
    return pd.DataFrame(rows, columns=["territory", "departement", "right", "n_eligible", "n_takers"])


@pytest.mark.slow
@settings(max_examples=int(os.environ.get("NONRECOURS_DISCLOSURE_EXAMPLES", "40")), deadline=None)
@given(_count_tables(), st.sampled_from([5, 11]))
def test_attacker_recovers_nothing_from_any_small_table(cells, min_cell):
    """Property: whatever the counts, no suppressed count below the threshold is pinned down or shown small,
    and nothing published is below it."""
    from attacker import attack_admin

    from nonrecours.publication import protect_admin_counts

    table, totals, _ = protect_admin_counts(cells, min_cell=min_cell)
    for frame in (table, totals):
        pub = frame[frame["status"] == "published"]
        assert (pub[["n_eligible", "n_takers", "n_non_takers"]].astype(int) >= min_cell).all().all()
    truth = {
        (a, r): (e, k, e - k)
        for a, r, e, k in zip(cells["territory"], cells["right"], cells["n_eligible"], cells["n_takers"])
    }
    assert attack_admin(table, totals, truth, min_cell) == []


@settings(max_examples=int(os.environ.get("NONRECOURS_DISCLOSURE_EXAMPLES", "40")), deadline=None)
@given(
    st.lists(st.tuples(st.sampled_from(["0", "1"]), st.integers(0, 30)), min_size=1, max_size=8),
    st.sampled_from([5, 11]),
)
def test_sample_counts_property(territories, min_n):
    """Property: territory counts nested in QPV domains, all summing to the national count; after protection no
    suppressed count below the threshold is pinned down or shown small (blank counts are known to be >= 1)."""
    from attacker import attack_domains

    names = [f"T{i}" for i in range(len(territories))]
    qmap = {t: q for t, (q, _) in zip(names, territories)}
    n_t = {t: n for t, (_, n) in zip(names, territories)}
    n_q = {q: sum(n for t, n in n_t.items() if qmap[t] == q) for q in ("0", "1")}
    total = sum(n_t.values())

    def table(col, counts):
        keys = list(counts)
        return pd.DataFrame(
            {
                col: keys,
                "right": "r",
                "n": [counts[k] for k in keys],
                "estimate": 0.5,
                "flag": ["suppressed" if counts[k] < min_n else "ok" for k in keys],
            }
        )

    nat = pd.DataFrame(
        {"right": ["r"], "n": [total], "estimate": 0.5, "flag": ["suppressed" if total < min_n else "ok"]}
    )
    n_, q_, t_ = protect_domain_counts(
        [nat, table("q", n_q), table("t", n_t)], [None, "q", "t"], min_n=min_n, nests={"t": ("q", qmap)}
    )
    pub = lambda df, col: [((col, k), None if pd.isna(n) else int(n)) for k, n in zip(df[col], df["n"])]  # noqa: E731
    nat_n = None if pd.isna(n_["n"].iloc[0]) else int(n_["n"].iloc[0])
    qcells, tcells = pub(q_, "q"), pub(t_, "t")
    groups = [(qcells, nat_n), (tcells, nat_n)]
    for (_, q), nq in qcells:
        groups.append(([c for c in tcells if qmap[c[0][1]] == q], nq))
    truth = {**{("q", k): v for k, v in n_q.items()}, **{("t", k): v for k, v in n_t.items()}}
    for df in (q_, t_):
        shown = df[df["flag"] != "suppressed"]
        assert (shown["n"].astype(int) >= min_n).all()
    # zeros are published: the attacker knows them; blanks are >= 1
    assert attack_domains(groups, truth, min_n) == []


def _admin_blocks(table, totals, margin):
    """The attacker's relations for a protected admin table with département, national and margin totals."""
    from attacker import Blocks

    b = Blocks()

    def triple(right, key, row):
        vals = [None if pd.isna(row[c]) else float(row[c]) for c in ("n_eligible", "n_takers", "n_non_takers")]
        for c, v in zip("ETN", vals):
            b.publish(right, (right, *key, c), v)
        b.relate(right, (right, *key, "E"), [(right, *key, "T"), (right, *key, "N")])

    for _, row in table.iterrows():
        triple(row["right"], ("cell", row["territory"]), row)
    for _, row in totals.iterrows():
        lvl = row["level"]
        key = (
            ("nat", "")
            if lvl == "national"
            else ("dep", row["departement"])
            if lvl == "departement"
            else ("m", str(row[margin]))
        )
        triple(row["right"], key, row)
    for r, cells in table.groupby("right"):
        q_of = cells["territory"].str[-1]  # the margin of a territory: the last letter of its code
        for c in "ETN":
            for d, g in cells.groupby("departement"):
                b.relate(r, (r, "dep", d, c), [(r, "cell", t, c) for t in g["territory"]])
            b.relate(r, (r, "nat", "", c), [(r, "dep", d, c) for d in cells["departement"].unique()])
            if margin is not None:
                for q, g in cells.groupby(q_of):
                    b.relate(r, (r, "m", q, c), [(r, "cell", t, c) for t in g["territory"]])
                b.relate(r, (r, "nat", "", c), [(r, "m", q, c) for q in q_of.unique()])
    return b


@pytest.mark.slow
@settings(max_examples=int(os.environ.get("NONRECOURS_DISCLOSURE_EXAMPLES", "15")), deadline=None)
@given(_count_tables())
def test_margin_totals_protected(cells):
    """Property: with QPV / rest totals published beside the départements (``margins``), the attacker that also
    uses the margins recovers nothing and nothing published is small."""
    from nonrecours.publication import protect_admin_counts

    cells = cells.assign(q=cells["territory"].map(lambda t: "q" if int(t[1:]) % 2 else "r"))
    cells["territory"] = cells["territory"] + cells["q"]  # the margin of a territory is its last letter
    table, totals, _ = protect_admin_counts(cells, min_cell=11, margins=["q"])
    pub = totals[totals["status"] == "published"]
    assert (pub[["n_eligible", "n_takers", "n_non_takers"]].astype(int) >= 11).all().all()
    assert set(totals["level"]) >= {"departement", "national", "q"}
    assert _admin_blocks(table, totals, "q").attack(11) == []


def test_margin_totals_needed():
    """Without ``margins``, a cell hidden with its département partner is recovered from the QPV total."""
    from nonrecours.publication import protect_admin_counts

    cells = pd.DataFrame(
        {
            "territory": ["Aq", "Br", "Cr", "Dq"],
            "departement": ["01", "01", "02", "02"],
            "right": "tpn",
            "n_eligible": [8, 40, 50, 60],
            "n_takers": [4, 20, 25, 30],
        }
    )
    cells["q"] = cells["territory"].str[-1]
    table, totals, _ = protect_admin_counts(cells, min_cell=11)  # Aq and Br hidden together in 01
    q = cells.groupby("q")[["n_eligible", "n_takers"]].sum()
    margin = pd.DataFrame(
        {
            "level": "q",
            "departement": pd.NA,
            "right": "tpn",
            "n_eligible": q["n_eligible"],
            "n_takers": q["n_takers"],
            "n_non_takers": q["n_eligible"] - q["n_takers"],
            "status": "published",
            "q": q.index,
        }
    )
    found = _admin_blocks(table, pd.concat([totals, margin], ignore_index=True), "q").attack(11)
    assert {k[2] for k, _, _ in found} == {"Aq"}  # the QPV total minus the published Dq
    table, totals, _ = protect_admin_counts(cells, min_cell=11, margins=["q"])
    assert _admin_blocks(table, totals, "q").attack(11) == []


def test_protect_series_one_pattern_consistent_with_each_year():
    """A domain small in one year is hidden in every year, with a partner against that year's national count;
    a cell a year's own table suppressed (forced) is hidden in the series too; changes of hidden cells go."""
    from nonrecours.publication import blank_changes, protect_series

    yearly = pd.DataFrame(
        {
            "year": [1] * 4 + [2] * 4,
            "d": list("abcd") * 2,
            "right": "r",
            "n": [5, 40, 30, 50, 20, 41, 31, 52],
            "estimate": 0.5,
        }
    )
    nat = {
        1: pd.DataFrame({"right": ["r"], "n": [125], "flag": ["ok"]}),
        2: pd.DataFrame({"right": ["r"], "n": [144], "flag": ["ok"]}),
    }
    out, hidden = protect_series(yearly, ["d"], min_n=11, nationals=nat)
    assert hidden == {("a", "r"), ("c", "r")}  # a (5 in year 1) and its smallest partner c, in both years
    assert out.loc[out["d"].isin(["a", "c"]), ["n", "estimate"]].isna().all().all()
    assert out.loc[out["d"].isin(["b", "d"]), "n"].tolist() == [40, 50, 41, 52]
    # year 2's own table had d suppressed: the series hides it in year 1 too
    pub = {2: pd.DataFrame({"d": ["d"], "right": ["r"], "flag": ["suppressed"]})}
    _, hidden = protect_series(yearly, ["d"], min_n=11, nationals=nat, published=pub)
    assert hidden == {("a", "r"), ("d", "r")}  # d (forced) now protects a: c is shown
    ch = pd.DataFrame(
        {"year_from": 1, "year_to": 2, "d": list("abcd"), "right": "r", "change": 0.1, "n_both": [3, 20, 15, 30]}
    )
    ch_out, _ = blank_changes(ch, ["d"], min_n=11, hidden=hidden)
    assert ch_out["change"].isna().tolist() == [True, False, False, True]
    assert ch_out["n_both"].isna().tolist() == [True, False, False, True]
    ch_out, _ = blank_changes(ch, ["d"], min_n=11, hidden=set())  # n_both below min_n goes on its own
    assert ch_out["n_both"].isna().tolist() == [True, False, False, False] and ch_out["change"].notna().all()
    # without the national counts (nothing to subtract from), only the small cell goes
    _, hidden = protect_series(yearly, ["d"], min_n=11, nationals={})
    assert hidden == {("a", "r")}


def test_policy_holds_the_thresholds_and_checks_them_once():
    from nonrecours.publication import DEFAULT_MIN_CELL, DEFAULT_MIN_N, DisclosurePolicy, check_threshold
    from nonrecours.publication.policy import THRESHOLD

    policy = DisclosurePolicy()
    assert policy.min_n == DEFAULT_MIN_N == THRESHOLD and policy.min_cell == DEFAULT_MIN_CELL == THRESHOLD
    assert DisclosurePolicy(min_n=0, allow_below_threshold=True).small_n(np.array([0, 1, 50])).tolist() == [
        False,
        False,
        False,
    ]
    assert DisclosurePolicy(min_n=5, allow_below_threshold=True).small_n(np.array([0, 1, 4, 5])).tolist() == [
        False,
        True,
        True,
        False,
    ]
    # eligibles, takers and non-takers each held to min_cell: 30 eligibles of whom 29 take up is a small cell
    assert DisclosurePolicy(min_cell=5, allow_below_threshold=True).small_cells(
        np.array([[30, 29, 1], [30, 15, 15]])
    ).tolist() == [True, False]
    for bad, name in ((0, "min_cell"), (-1, "min_n"), (1.5, "min_cell"), (True, "min_n"), ("11", "min_cell")):
        with pytest.raises(OptionError, match=f"parameter {name}: the disclosure threshold") as err:
            DisclosurePolicy(**{name: bad})
        assert "expected an integer >= " in str(err.value) and f"usual threshold is {THRESHOLD}" in str(err.value)
    assert check_threshold(np.int64(7), name="min_n") == 7 and isinstance(check_threshold(np.int64(7)), int)
    with pytest.raises(OptionError, match="option --min-n"):
        check_threshold(-1, name="min_n", where="option --min-n", minimum=0)
    with pytest.raises(dataclasses.FrozenInstanceError):
        policy.min_n = 3  # type: ignore[misc]


def test_defaults_everywhere_are_the_policys():
    """No signature, option or study default restates the threshold: they all follow the policy's constant."""
    import inspect

    from nonrecours.admin import counts, counts_sql, pipeline, rates, series
    from nonrecours.estimation import QualityThresholds
    from nonrecours.publication import DEFAULT_MIN_CELL, DEFAULT_MIN_N, extreme_means, histogram_edges
    from nonrecours.report.plots import weights_plot
    from nonrecours.study.config import AdminConfig, ThresholdsConfig

    for f in (histogram_edges, extreme_means, weights_plot):
        assert inspect.signature(f).parameters["min_n"].default is DEFAULT_MIN_N, f
    for f in (
        counts.protect,
        counts.admin_rates,
        counts.protected_rates,
        counts_sql.admin_rates_sql,
        rates.linked_rates,
        rates.phase_rates,
        pipeline.run_admin_phase,
        series.admin_series,
    ):
        assert inspect.signature(f).parameters["min_cell"].default is DEFAULT_MIN_CELL, f
    assert QualityThresholds().min_n == DEFAULT_MIN_N
    assert ThresholdsConfig().min_n == DEFAULT_MIN_N and AdminConfig().min_cell == DEFAULT_MIN_CELL


def test_publish_refuses_a_small_count_and_passes_the_rest_unchanged():
    from nonrecours.errors import OutputError
    from nonrecours.publication import DisclosurePolicy, publish

    est = pd.DataFrame(
        {"right": ["a", "b", "c"], "n": pd.array([40, 0, pd.NA], dtype="Int64"), "estimate": [0.5, np.nan, np.nan]}
    )
    admin = pd.DataFrame({"territory": ["t"], "n_eligible": [11], "n_takers": [0], "n_non_takers": [11]})
    summary = pd.DataFrame({"estimator": ["direct"], "n": [3]})  # territories, not individuals
    out = publish({"estimates": est, "admin_rates": admin, "comparison_summary": summary})
    assert list(out) == ["estimates", "admin_rates", "comparison_summary"] and out["estimates"] is est
    with pytest.raises(OutputError, match="table 'estimates', column 'n': a count of 1 to 10 respondents"):
        publish({"estimates": est.assign(n=[40, 0, 3])})
    with pytest.raises(OutputError, match="column 'n_takers': a count of 1 to 10 recipients"):
        publish({"admin_rates": admin.assign(n_takers=[4], n_non_takers=[7])})
    # each count is held to its own threshold
    assert publish(
        {"estimates": est.assign(n=[40, 0, 3])}, policy=DisclosurePolicy(min_n=3, allow_below_threshold=True)
    )
    with pytest.raises(OutputError, match="1 to 4 recipients"):
        publish(
            {"admin_rates": admin.assign(n_takers=[4], n_non_takers=[7])},
            policy=DisclosurePolicy(min_cell=5, allow_below_threshold=True),
        )


def test_one_pattern_sweeps():
    """The one fixed-point loop: every year protected with the pattern forced, until nothing is added; a sequential
    sweep lets a year see what the years before it hid in the same pass, a simultaneous one does not."""
    from nonrecours.publication import one_pattern

    calls = []

    def protect(year, pattern):  # a cell hidden alone takes its partner; year 2 hides "b" on its own
        calls.append((year, sorted(pattern)))
        hidden = set(pattern) | ({"b"} if year == 2 else set())
        return hidden | ({"p" + min(hidden)} if len(hidden) == 1 else set()), len(hidden)

    seq, out = one_pattern([1, 2], protect, {"a"}, sweep="sequential")
    assert seq == {"a", "pa", "b"} and out == {1: 3, 2: 3}  # year 2 saw "pa": "b" needs no partner
    calls.clear()
    sim, out = one_pattern([1, 2], protect, {"a"}, sweep="simultaneous")
    assert sim == {"a", "pa", "b"} and calls[:2] == [(1, ["a"]), (2, ["a"])]  # both years saw the same pattern
    assert out == {1: 3, 2: 3}  # the outputs of the last pass: the final pattern forced
    assert one_pattern([1, 2], protect, ())[0] == {"b", "pb"}  # nothing small in year 1: year 2's cell and partner


def test_admin_series_and_protect_admin_series_agree():
    from nonrecours.admin.series import admin_series
    from nonrecours.publication import protect_admin_series

    c = pd.DataFrame(
        {
            "year": [1] * 4 + [2] * 4,
            "territory": list("abcd") * 2,
            "departement": ["01"] * 8,
            "right": "tpn",
            "n_eligible": [30, 40, 50, 60, 30, 5, 50, 60],
            "n_takers": [15, 20, 25, 30, 15, 2, 25, 30],
        }
    )
    s = admin_series(c)
    cells = c.loc[c["year"] == 1, ["territory", "departement", "right"]].reset_index(drop=True)
    primary, supp, totals = protect_admin_series(
        cells, c["n_eligible"].to_numpy().reshape(2, 4).T, c["n_takers"].to_numpy().reshape(2, 4).T
    )
    assert primary.tolist() == [False, True, False, False] and supp.tolist() == [True, True, False, False]
    first = (s.table["year"] == 1).to_numpy()
    assert (s.table.loc[first, "status"] == "suppressed").tolist() == supp.tolist()
    assert [t.loc[t["level"] == "national", "status"].tolist() for t in totals] == [["published"]] * 2


def test_a_study_publishes_only_what_the_layer_returns(tmp_path, monkeypatch):
    """A stage that hands over a table without its protection stops the run before anything is written."""
    from nonrecours.errors import OutputError
    from nonrecours.simulate import simulate_population
    from nonrecours.study import run_study, stages
    from nonrecours.study.demo import example_study

    simulate_population(10, seed=3).write(tmp_path / "population")
    text = example_study(seed=3).replace("n = 6000", "n = 800").replace("min_per_stratum = 50", "min_per_stratum = 5")
    (tmp_path / "study.toml").write_text(text)

    def unprotected(cfg, state):
        out = stages.estimation_stage(cfg, state)
        out["tables"]["estimates_territory"] = out["results"]["territory"].to_frame(blank=False)  # no suppression
        return out

    monkeypatch.setattr(
        stages,
        "STAGES",
        tuple(
            (n, unprotected if n == "estimation" else f)
            for n, f in stages.STAGES
            if n in ("frame", "allocation", "selection", "responses", "weighting", "estimation")
        ),
    )
    with pytest.raises(OutputError, match="table 'estimates_territory', column 'n': a count of 1 to 10 respondents"):
        run_study(tmp_path / "study.toml")
    assert not (tmp_path / "results").exists() and not list(tmp_path.glob(".results*"))
