"""Administrative rates with disclosure control, and the comparison of estimates with the truth."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

from nonrecours.admin import admin_rates
from nonrecours.errors import DisclosureWarning, InputError, OptionError
from nonrecours.territorial import compare_estimates

RIGHTS = ["cmuc", "acs", "tpn", "tss"]


def _recipients(seed=0, n=20_000, T=120, D=9):  # noqa: N803
    rng = np.random.default_rng(seed)
    size = rng.pareto(1.2, T) + 0.05  # many small territories, a few large ones
    terr = rng.choice(T, n, p=size / size.sum())
    df = pd.DataFrame(
        {
            "territory": np.array([f"T{i:03d}" for i in range(T)])[terr],
            "departement": np.array([f"{i % D:02d}" for i in range(T)])[terr],
        }
    )
    for j, r in enumerate(RIGHTS):
        u = rng.random(n)
        df[r] = np.where(u < 0.2 + 0.1 * j, np.nan, (u < 0.6 + 0.05 * j).astype(float))
    return df


def _true_counts(df):
    """Eligible counts per territory x right by brute force, empty cells included."""
    elig = df[RIGHTS].notna().groupby(df["territory"]).sum()
    return elig.reset_index().melt(id_vars="territory", var_name="right", value_name="true_n")


def _quiet(*args, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DisclosureWarning)
        return admin_rates(*args, **kwargs)


def _truth(df):
    """(territory, right) -> (eligibles, takers, non-takers), by brute force."""
    long = df.melt(id_vars=["territory"], value_vars=RIGHTS, var_name="right")
    g = long.assign(e=long["value"].notna(), t=long["value"] == 1, n=long["value"] == 0)
    agg = g.groupby(["territory", "right"])[["e", "t", "n"]].sum()
    return {k: tuple(int(x) for x in v) for k, v in zip(agg.index, agg.to_numpy())}


def test_counts_and_rates_are_exact():
    df = _recipients()
    res = _quiet(df, RIGHTS, min_cell=11)
    truth = _truth(df)
    t = res.table
    assert list(t.columns) == [
        "territory",
        "departement",
        "right",
        "n_eligible",
        "n_takers",
        "n_non_takers",
        "rate",
        "status",
    ]
    assert list(t["right"][:4]) == RIGHTS  # rights in the order asked, per territory
    assert len(t) == len(truth)
    pub = t[t["status"] == "published"]
    assert len(pub) > 50
    want = np.array([truth[(a, b)] for a, b in zip(pub["territory"], pub["right"])])
    np.testing.assert_array_equal(pub[["n_eligible", "n_takers", "n_non_takers"]].astype(int).to_numpy(), want)
    np.testing.assert_allclose(pub["rate"], want[:, 1] / want[:, 0], rtol=1e-15)
    # published totals are the true ones
    nat = res.totals[res.totals["level"] == "national"].set_index("right")
    for r in RIGHTS:
        assert int(nat.loc[r, "n_eligible"]) == int(df[r].notna().sum())
        assert int(nat.loc[r, "n_takers"]) == int((df[r] == 1).sum())


@pytest.mark.parametrize("k", [5, 11, 30])
def test_no_published_cell_below_the_threshold_in_any_count(k):
    df = _recipients()
    res = _quiet(df, RIGHTS, min_cell=k)
    truth = _truth(df)
    t = res.table
    true = np.array([truth[(a, b)] for a, b in zip(t["territory"], t["right"])])
    small = (true < k).any(axis=1)
    assert (t.loc[small, "status"] == "suppressed").all()
    assert (res.rules[small] == "primary").all() and (res.rules[~small] != "primary").all()
    assert t.loc[t["status"] != "published", ["n_eligible", "n_takers", "n_non_takers", "rate"]].isna().all().all()
    for frame in (t, res.totals):
        p = frame[frame["status"] == "published"]
        assert (p[["n_eligible", "n_takers", "n_non_takers"]].astype(int) >= k).all().all()


def test_issue_example_small_taker_counts_are_suppressed():
    # 13 eligibles of whom 2 take up (the issue's HQ045017 tss): the 2 takers make it primary
    df = pd.DataFrame(
        {
            "territory": ["x"] * 13 + ["y"] * 40 + ["z"] * 50,
            "departement": "45",
            "tss": [1.0] * 2 + [0.0] * 11 + [1.0] * 20 + [0.0] * 20 + [1.0] * 25 + [0.0] * 25,
        }
    )
    res = _quiet(df, ["tss"], min_cell=11)
    st = dict(zip(res.table["territory"], res.table["status"]))
    assert st == {"x": "suppressed", "y": "suppressed", "z": "published"}
    assert dict(zip(res.table["territory"], res.rules)) == {"x": "primary", "y": "secondary", "z": "published"}


@pytest.mark.slow
def test_attacker_recovers_nothing_from_a_simulated_population():
    from attacker import attack_admin

    from nonrecours.simulate import simulate_population

    pop = simulate_population(25, seed=4).recipients  # a 5 % extract: many small cells
    df = pop.sample(frac=0.05, random_state=1)[["territory", "departement", *RIGHTS]]
    res = _quiet(df, RIGHTS, min_cell=11)
    t = res.table
    assert (res.rules == "primary").sum() > 100 and (res.rules == "secondary").sum() > 20
    assert (res.totals["status"] == "suppressed").any()
    truth = _truth(df)
    assert attack_admin(t, res.totals, truth, 11) == []


@pytest.mark.slow
def test_attacker_recovers_cells_of_primary_only_suppression():
    """The attacker works: with primary suppression alone, it recovers small counts by subtraction."""
    from attacker import attack_admin

    from nonrecours.admin import count_cells
    from nonrecours.publication import protect_admin_counts

    df = _recipients(seed=3, n=4000, T=40, D=12)
    cells = count_cells(df, RIGHTS)
    table, totals, rules = protect_admin_counts(cells, min_cell=11)
    naive = table.copy()
    second = rules == "secondary"
    for _j, c in enumerate(("n_eligible", "n_takers", "n_non_takers")):
        naive.loc[second, c] = cells.loc[second, c].to_numpy()
    naive.loc[second, "status"] = "published"
    found = attack_admin(naive, totals, _truth(df), 11)
    assert len(found) > 5
    assert any(hi - lo < 0.5 for *_, lo, hi in found)  # exact recoveries among them


def test_departement_and_national_totals():
    df = pd.DataFrame(
        {
            "territory": ["a"] * 30 + ["b"] * 5 + ["c"] * 40 + ["d"] * 4 + ["e"] * 60 + ["f"] * 70,
            "departement": ["01"] * 75 + ["02"] * 4 + ["03"] * 130,
        }
    )
    df["tpn"] = np.tile([1.0, 0.0], len(df) // 2 + 1)[: len(df)]
    res = _quiet(df, ["tpn"], min_cell=11)
    st = dict(zip(res.table["territory"], res.rules))
    # 01: b primary, a (smallest) secondary; 02: d alone, total (2/2) primary -> at national level the
    # smallest other département total (01) is suppressed with all its cells; 03 published
    assert st == {
        "a": "secondary",
        "b": "primary",
        "c": "secondary",
        "d": "primary",
        "e": "published",
        "f": "published",
    }
    tot = res.totals.set_index(["level", "departement"], drop=False)
    assert list(res.totals["status"]) == ["suppressed", "suppressed", "published", "published"]
    nat = res.totals[res.totals["level"] == "national"].iloc[0]
    assert int(nat["n_eligible"]) == len(df) and len(tot) == 4


def test_protect_admin_counts_is_the_engine_interface():
    from nonrecours.admin import count_cells
    from nonrecours.publication import protect_admin_counts

    df = _recipients()
    cells = count_cells(df, RIGHTS)
    a, _b, _ = protect_admin_counts(cells.sample(frac=1, random_state=1).reset_index(drop=True))
    ref = _quiet(df, RIGHTS)
    key = ["territory", "right"]
    pd.testing.assert_frame_equal(a.sort_values(key, ignore_index=True), ref.table.sort_values(key, ignore_index=True))
    from nonrecours.admin import protected_rates

    with pytest.warns(DisclosureWarning):
        res = protected_rates(cells.drop(columns="n_non_takers"))
    pd.testing.assert_frame_equal(res.table, ref.table)
    assert res.n_suppressed == ref.n_suppressed
    with pytest.raises(InputError, match="more takers than eligibles"):
        protect_admin_counts(cells.assign(n_takers=cells["n_eligible"] + 1))
    with pytest.raises(InputError, match="appears twice"):
        protect_admin_counts(pd.concat([cells, cells.head(1)]))
    with pytest.raises(InputError, match="n_non_takers"):
        protect_admin_counts(cells.assign(n_non_takers=0))


def test_admin_bad_input():
    df = _recipients()
    with pytest.raises(InputError, match="'xyz'"):
        admin_rates(df, ["cmuc", "xyz"])
    bad = df.copy()
    bad.loc[0, "tpn"] = 2.0
    with pytest.raises(InputError, match="column 'tpn'"):
        admin_rates(bad, ["tpn"])
    split = df.copy()
    rows = np.flatnonzero(split["territory"] == "T001")
    split.loc[rows[1], "departement"] = "zz"
    with pytest.raises(InputError, match=f"line {rows[1] + 2}"):
        admin_rates(split, ["tpn"])
    with pytest.raises(OptionError, match="parameter min_cell"):
        admin_rates(df, ["tpn"], min_cell=0)


@pytest.mark.parametrize("value", [2.0, np.inf, -1.0, 0.5])
def test_admin_bad_right_values_same_message_as_the_right_check(value):
    """Issue 31: float right columns are checked by counting (eligible = taker + zero), others through
    check_right_column: a bad float value (inf included) raises check_right_column's own message."""
    from nonrecours._checks import check_right_column

    df = _recipients(n=2_000)
    df.loc[[3, 17], "acs"] = value
    with pytest.raises(InputError) as expected:
        check_right_column(df, "acs")
    with pytest.raises(InputError) as got:
        admin_rates(df, RIGHTS)
    assert str(got.value) == str(expected.value) and "column 'acs'" in str(got.value)


def test_admin_counts_whatever_the_dtype_of_a_right():
    """Text, nullable integer and float32 right columns give the counts of the float64 one."""
    df = _recipients(n=3_000)
    want = _quiet(df, RIGHTS, min_cell=5).table
    other = df.assign(
        cmuc=df["cmuc"].map({0.0: "0", 1.0: "1"}),
        acs=df["acs"].astype("Int64"),
        tpn=df["tpn"].astype(np.float32),
    )
    pd.testing.assert_frame_equal(_quiet(other, RIGHTS, min_cell=5).table, want)


def _fit_output():
    return pd.DataFrame(
        {
            "territory": ["a", "b", "c", "d"],
            "right": "tpn",
            "direct": [0.5, 0.8, np.nan, 0.2],
            "se_direct": [0.1, 0.05, np.nan, 0.01],
            "eblup": [0.55, 0.7, 0.4, 0.3],
            "ci_low": [0.4, 0.6, 0.3, 0.25],
            "ci_high": [0.7, 0.8, 0.5, 0.35],
        }
    )


def test_compare_metrics_by_hand():
    truth = pd.DataFrame(
        {
            "territory": ["a", "b", "c", "d", "e"],
            "right": "tpn",
            "n_eligible": 50,
            "n_takers": 1,
            "rate": [0.6, 0.75, 0.45, np.nan, 0.5],
        }
    )
    res = compare_estimates(_fit_output(), truth)
    s = res.summary.set_index(["right", "estimator", "subset"])  # a, b, d sampled; c unsampled
    # direct: a (0.5 vs .6, CI .304-.696 covers), b (.8 vs .75, CI .702-.898 covers); d has no truth
    direct = s.loc[("tpn", "direct", "sampled")]
    np.testing.assert_allclose(direct["bias"], (-0.1 + 0.05) / 2)
    np.testing.assert_allclose(direct["rmse"], np.sqrt((0.01 + 0.0025) / 2))
    assert direct["coverage"] == 1.0 and direct["n"] == 2
    # eblup: a .55/.6 and b .7/.75 covered (sampled); c .4/.45 covered (unsampled)
    eb = s.loc[("tpn", "eblup", "sampled")]
    np.testing.assert_allclose([eb["bias"], eb["rmse"], eb["relative_rmse"]], [-0.05, 0.05, 0.05 / 0.675])
    np.testing.assert_allclose(s.loc[("tpn", "eblup", "unsampled"), "rmse"], 0.05)
    np.testing.assert_allclose(s.loc[("all", "eblup", "sampled"), "mean_ci_width"], 0.25)
    assert s.loc[("all", "eblup", "sampled"), "n"] == 2 and res.n_without_truth == 2  # d: direct and eblup
    assert set(res.detail.columns) >= {"territory", "right", "estimator", "estimate", "truth", "error", "covered"}


def test_compare_direct_estimate_file_and_errors():
    est = pd.DataFrame(
        {
            "territory": ["a", "b"],
            "right": "tpn",
            "estimate": [0.5, 0.6],
            "se": 0.1,
            "ci_low": [0.4, 0.5],
            "ci_high": [0.6, 0.7],
        }
    )
    tru = pd.DataFrame({"territory": ["a", "b"], "right": "tpn", "rate": [0.55, 0.75]})
    res = compare_estimates(est, tru)
    assert list(res.summary["estimator"]) == ["direct", "direct"]
    np.testing.assert_allclose(res.summary["coverage"], 0.5)
    with pytest.raises(InputError, match="no territory x right in common"):
        compare_estimates(est, tru.assign(right="cmuc"))
    with pytest.raises(InputError, match="'rate'"):
        compare_estimates(est, tru.drop(columns="rate"))
    with pytest.raises(InputError, match="neither"):
        compare_estimates(est.drop(columns="estimate"), tru)
