"""Administrative rates with disclosure control, and the comparison of estimates with the truth."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

from nonrecours.errors import DisclosureWarning, InputError, OptionError
from nonrecours.territorial import admin_rates, compare_estimates

RIGHTS = ["cmuc", "acs", "tpn", "tss"]


def _recipients(seed=0, n=20_000, T=120, D=9):  # noqa: N803
    rng = np.random.default_rng(seed)
    size = rng.pareto(1.2, T) + 0.05  # many small territories, a few large ones
    terr = rng.choice(T, n, p=size / size.sum())
    df = pd.DataFrame({"territory": np.array([f"T{i:03d}" for i in range(T)])[terr],
                       "departement": np.array([f"{i % D:02d}" for i in range(T)])[terr]})
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


def test_counts_and_rates_are_exact():
    df = _recipients()
    res = _quiet(df, RIGHTS, min_cell=1)
    long = df.melt(id_vars=["territory", "departement"], value_vars=RIGHTS, var_name="right").dropna()
    want = long.groupby(["territory", "right"]).agg(n_eligible=("value", "size"), n_takers=("value", "sum"))
    got = res.table.set_index(["territory", "right"]).loc[want.index]
    np.testing.assert_array_equal(got["n_eligible"].astype(int), want["n_eligible"])
    np.testing.assert_array_equal(got["n_takers"].astype(int), want["n_takers"].astype(int))
    np.testing.assert_allclose(got["rate"], want["n_takers"] / want["n_eligible"], rtol=1e-15)
    assert list(res.table.columns) == ["territory", "departement", "right", "n_eligible", "n_takers", "rate", "status"]
    assert list(res.table["right"][:4]) == RIGHTS  # rights in the order asked, per territory


def test_primary_threshold_is_configurable():
    df = _recipients()
    for k in (5, 11, 30):
        res = _quiet(df, RIGHTS, min_cell=k).table.merge(_true_counts(df), on=["territory", "right"])
        small = res["true_n"] < k
        assert (res.loc[small, "status"] == "primary").all()
        assert (res.loc[~small, "status"] != "primary").all()
        assert res.loc[res["status"] != "published", ["n_eligible", "n_takers", "rate"]].isna().all().all()


def test_no_suppressed_cell_recoverable_from_departement_totals():
    df = _recipients(seed=3, D=40)
    with pytest.warns(DisclosureWarning, match="suppressed"):
        res = admin_rates(df, RIGHTS, min_cell=25)
    t = res.table.merge(_true_counts(df), on=["territory", "right"])
    assert (t["status"] == "secondary").any()
    hidden = t[t["status"] != "published"]
    # in each département x right, a published total minus published cells leaves the sum of the hidden
    # ones; that sum identifies a cell only if exactly one hidden cell is non-empty
    nonempty = hidden[hidden["true_n"].astype(int) > 0].groupby(["departement", "right"]).size()
    deps = res.departements.set_index(["departement", "right"])
    exposed = nonempty[nonempty == 1].index
    assert (deps.loc[exposed, "status"] == "suppressed").all() if len(exposed) else True
    # the totals published are the true ones
    tot = t.groupby(["departement", "right"])["true_n"].sum()
    pub = deps[deps["status"] == "published"]
    np.testing.assert_array_equal(pub["n_eligible"].astype(int), tot.loc[pub.index])
    # secondary cells are the smallest published cell of their département x right
    for (dep, right), g in t.groupby(["departement", "right"]):
        sec = g[g["status"] == "secondary"]
        assert len(sec) <= 1
        if len(sec):
            others = g[g["status"] == "published"]
            assert (others["true_n"].astype(int) >= int(sec["true_n"].iloc[0])).all()


def test_secondary_rules_on_a_small_table():
    df = pd.DataFrame({
        "territory": ["a"] * 12 + ["b"] * 5 + ["c"] * 20 + ["d"] * 3 + ["e"] * 30 + ["f"] * 40 + ["g"] * 4,
        "departement": ["01"] * 37 + ["02"] * 33 + ["03"] * 40 + ["04"] * 4})
    df["tpn"] = 1.0
    df.loc[df["territory"] == "e", "tpn"] = [np.nan] * 25 + [1.0] * 5  # e has 5 eligible: primary
    with pytest.warns(DisclosureWarning, match="1 département totals suppressed"):
        res = admin_rates(df, ["tpn"], min_cell=11)
    st = dict(zip(res.table["territory"], res.table["status"]))
    # 01: b primary, a (12 < 20) secondary; 02: d and e both primary -> nothing more;
    # 03: f alone and published; 04: g alone and primary -> its total is suppressed
    assert st == {"a": "secondary", "b": "primary", "c": "published", "d": "primary", "e": "primary",
                  "f": "published", "g": "primary"}
    dep = res.departements.set_index("departement")
    assert dep.loc["04", "status"] == "suppressed" and pd.isna(dep.loc["04", "n_eligible"])
    assert dep.loc["01", "n_eligible"] == 37 and dep.loc["01", "status"] == "published"


def test_empty_suppressed_cell_does_not_protect_another():
    # b has 0 eligible (suppressed but known to be empty is no protection for c)
    df = pd.DataFrame({"territory": ["a"] * 15 + ["b"] * 3 + ["c"] * 4 + ["d"] * 20, "departement": "01"})
    df["tpn"] = [1.0] * 15 + [np.nan] * 3 + [0.0] * 4 + [1.0] * 20
    res = _quiet(df, ["tpn"])
    st = dict(zip(res.table["territory"], res.table["status"]))
    assert st == {"a": "secondary", "b": "primary", "c": "primary", "d": "published"}


def test_admin_bad_input():
    df = _recipients()
    with pytest.raises(InputError, match="'xyz'"):
        admin_rates(df, ["cmuc", "xyz"])
    bad = df.copy()
    bad.loc[0, "tpn"] = 2.0
    with pytest.raises(InputError, match="column 'tpn'"):
        admin_rates(bad, ["tpn"])
    split = df.copy()
    split.loc[split["territory"] == "T001", "departement"] = ["01", "02"] * int((split["territory"] == "T001").sum() / 2) \
        + ["01"] * int((split["territory"] == "T001").sum() % 2)
    with pytest.raises(InputError, match="'T001'"):
        admin_rates(split, ["tpn"])
    with pytest.raises(OptionError, match="min-cell"):
        admin_rates(df, ["tpn"], min_cell=0)


def _fit_output():
    return pd.DataFrame({"territory": ["a", "b", "c", "d"], "right": "tpn", "direct": [0.5, 0.8, np.nan, 0.2],
                         "se_direct": [0.1, 0.05, np.nan, 0.01], "eblup": [0.55, 0.7, 0.4, 0.3],
                         "ci_low": [0.4, 0.6, 0.3, 0.25], "ci_high": [0.7, 0.8, 0.5, 0.35]})


def test_compare_metrics_by_hand():
    truth = pd.DataFrame({"territory": ["a", "b", "c", "d", "e"], "right": "tpn", "n_eligible": 50,
                          "n_takers": 1, "rate": [0.6, 0.75, 0.45, np.nan, 0.5]})
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
    est = pd.DataFrame({"territory": ["a", "b"], "right": "tpn", "estimate": [0.5, 0.6], "se": 0.1,
                        "ci_low": [0.4, 0.5], "ci_high": [0.6, 0.7]})
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
