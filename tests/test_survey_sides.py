"""Issue 25, item 1: every survey estimate of take-up rests on min_n takers and min_n non-takers (at the edge).

Domains are built with 10 or 11 takers (or non-takers) among many eligible respondents: the estimate of the
first is suppressed, of the second published, by every estimator of take-up (rates, counts of takers and
non-takers, Taylor and replicate designs, the one-pass ``estimate_takeup``), in the gaps built from them, in the
changes between two waves and in a series. The counts of both sides are checked against the data.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from nonrecours.design import SurveyDesign
from nonrecours.estimation import (
    QualityThresholds,
    estimate_counts,
    estimate_gap,
    estimate_means,
    estimate_rates,
    estimate_takeup,
)
from nonrecours.estimation.change import estimate_change
from nonrecours.estimation.series import estimate_series
from nonrecours.publication import DisclosurePolicy, blank_changes, protect_series

#: domain -> (takers, non-takers): under the rule on one side, at it, or well above (the rest)
CELLS = {"t10": (10, 40), "t11": (11, 40), "o10": (40, 10), "o11": (40, 11), "big": (60, 60)}
SHOWN = {"t10": False, "t11": True, "o10": False, "o11": True, "big": True}


def _sample(seed: int = 0, cells: dict = CELLS) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    parts = []
    for dom, (t, o) in cells.items():
        y = np.r_[np.ones(t), np.zeros(o), np.full(5, np.nan)]  # 5 not eligible
        parts.append(pd.DataFrame({"dom": dom, "y": rng.permutation(y)}))
    df = pd.concat(parts, ignore_index=True)
    n = len(df)
    df["id"] = np.arange(n)
    df["h"] = np.where(np.arange(n) % 2 == 0, "h0", "h1")
    df["psu"] = np.arange(n) // 3
    df["w"] = rng.uniform(5, 50, n)  # unequal weights: round(n x rate) is not exact
    df["z"] = rng.normal(size=n)
    return df


def _design(df: pd.DataFrame) -> SurveyDesign:
    return SurveyDesign(df, weight="w", strata="h", psu="psu", nest=True)


def _shown(res) -> dict:
    t = res.to_frame()
    return dict(zip(t["dom"], t["flag"] != "suppressed"))


def test_policy_rule_at_the_edge():
    p = DisclosurePolicy()
    n, t = np.array([50, 50, 50, 50, 0, 21]), np.array([10, 11, 40, 39, 0, 11])
    assert p.small_survey_cells(n, t, n - t).tolist() == [True, False, True, False, False, True]
    # min_n = 0 (allowed explicitly) publishes every estimate
    everything = DisclosurePolicy(min_n=0, allow_below_threshold=True)
    assert not everything.small_survey_cells(n, t, n - t).any()


def test_rates_suppressed_under_min_n_takers_or_non_takers():
    df = _sample()
    res = estimate_rates(_design(df), "y", by="dom")
    assert _shown(res) == SHOWN
    # both sides counted next to n, as in the data (unweighted eligible respondents)
    t = res.to_frame().assign(n_takers=res.n_takers, n_non_takers=res.n_non_takers).set_index("dom")
    for dom, (nt, nn) in CELLS.items():
        assert (t.loc[dom, "n_takers"], t.loc[dom, "n_non_takers"]) == (nt, nn)
    assert (res.n == res.n_takers + res.n_non_takers).all()
    # never in the published frame; a suppressed row is blanked like the CLI's (n too)
    assert not {"n_takers", "n_non_takers"} & set(res.to_frame().columns)
    f = res.to_frame().set_index("dom")
    assert f.loc["t10", ["estimate", "se", "ci_low", "ci_high"]].isna().all() and pd.isna(f.loc["t10", "n"])
    assert f.loc["t11", "n"] == 51 and np.isfinite(f.loc["t11", "estimate"])
    # the point estimates are unchanged: the rule only hides
    raw = estimate_rates(_design(df), "y", by="dom", thresholds=QualityThresholds(min_n=0, reliable_n=0))
    np.testing.assert_array_equal(raw.raw_estimate, res.raw_estimate)
    np.testing.assert_array_equal(raw.raw_se, res.raw_se)
    assert (raw.flag != "suppressed").all()


def test_counts_and_takeup_follow_the_rule_taylor_and_replicates():
    from nonrecours.weights.replicates import make_replicates

    df = _sample(1)
    design = _design(df)
    for d in (design, make_replicates(design, "jkn")):
        counts = estimate_counts(d, "y", by="dom")
        t = counts.to_frame()
        for side in ("takers", "non_takers"):
            rows = t[t["right"] == f"y:{side}"]
            assert dict(zip(rows["dom"], rows["flag"] != "suppressed")) == SHOWN, (d.replicates is not None, side)
        assert counts.n_takers is not None and counts.n_non_takers is not None
        assert dict(zip(t["dom"], zip(counts.n_takers, counts.n_non_takers))) == CELLS
        rates, counts2 = estimate_takeup(d, "y", by="dom")
        assert _shown(rates) == SHOWN
        np.testing.assert_array_equal(counts2.flag, counts.flag)


def test_means_are_not_held_to_sides():
    """A mean of another variable has no takers: only n applies (no sides recorded)."""
    res = estimate_means(_design(_sample()), "z", by="dom")
    assert res.n_takers is None and (res.flag != "suppressed").all()


def test_gap_needs_both_sides():
    df = _sample(2)
    design = _design(df)
    ok = estimate_gap(design, "y", "dom", levels=("t11", "big")).to_frame()
    assert np.isfinite(ok["gap"]).all()
    for small in ("t10", "o10"):
        g = estimate_gap(design, "y", "dom", levels=(small, "big")).to_frame()
        assert g[["gap", "se", "ci_low", "ci_high"]].isna().all().all(), small
        g = estimate_gap(design, "y", "dom", levels=("big", small)).to_frame()
        assert g[["gap", "se"]].isna().all().all(), small


def _waves():
    """Two panel waves: in wave 2 't11' loses a taker (10: under the rule), 'o10' gains a non-taker (11)."""
    w1 = _sample(3)
    cells2 = dict(CELLS, t11=(10, 41), o10=(40, 11))
    w2 = _sample(4, cells2)
    return w1, w2


@pytest.mark.parametrize("scheme", ["panel", "independent"])
def test_change_needs_both_waves(scheme):
    w1, w2 = _waves()
    res = estimate_change(_design(w1), _design(w2), ["y"], ["dom"], scheme=scheme, id_col="id")
    small = res.small_cells(11)
    assert dict(zip(res.table["dom"], small)) == {"t10": True, "t11": True, "o10": True, "o11": False, "big": False}
    table, _ = blank_changes(res.to_frame(), ["dom"], min_n=11, small=small)
    shown = dict(zip(table["dom"], table["change"].notna()))
    assert shown == {"t10": False, "t11": False, "o10": False, "o11": True, "big": True}
    assert table.loc[~table["change"].notna(), ["estimate_1", "estimate_2", "se", "n_1", "n_2"]].isna().all().all()
    # a lower threshold (allowed explicitly) shows them
    assert not res.small_cells(10).any()


def test_series_one_pattern_with_the_sides():
    w1, w2 = _waves()
    s = estimate_series([_design(w1), _design(w2)], [2014, 2015], ["y"], ["dom"], id_col="id")
    assert s.n_takers is not None and s.n_non_takers is not None
    yearly, hidden = protect_series(s.yearly, ["dom"], min_n=11, nationals={}, sides=(s.n_takers, s.n_non_takers))
    gone = {k for k, _ in hidden}
    assert gone == {"t10", "t11", "o10"}  # hidden in every year, the year each fell under the rule included
    shown = yearly[yearly["estimate"].notna()]
    assert set(shown["dom"]) == {"o11", "big"} and len(shown) == 4
    changes, trend = blank_changes(s.changes, ["dom"], min_n=11, hidden=hidden, trend=s.trend)
    assert set(changes.loc[changes["change"].notna(), "dom"]) == {"o11", "big"}
    assert set(trend.loc[trend["slope"].notna(), "dom"]) == {"o11", "big"}


def test_cli_estimate_publishes_no_rate_under_the_rule(tmp_path):
    from nonrecours.cli.main import app

    df = _sample(5)
    path = tmp_path / "s.csv"
    df.drop(columns="z").to_csv(path, index=False)
    base = ["estimate", str(path), "--rights", "y", "--by", "dom", "--weight", "w", "--strata", "h", "--psu", "psu"]
    r = CliRunner().invoke(app, [*base, "--nest", "--gap", "dom:big", "--out", str(tmp_path / "r.csv")])
    assert r.exit_code == 0, r.output
    t = pd.read_csv(tmp_path / "r.csv")
    assert dict(zip(t["dom"], t["estimate"].notna())) == SHOWN
    assert t.loc[t["estimate"].isna(), "n"].isna().all()
    g = pd.read_csv(tmp_path / "r_gap.csv")
    assert dict(zip(g["domain_a"], g["gap"].notna())) == {k: v for k, v in SHOWN.items() if k != "big"}


def test_cli_model_publishes_no_predicted_take_up_under_the_rule(tmp_path):
    from nonrecours.cli.main import app

    df = _sample(6)
    path = tmp_path / "s.csv"
    df.to_csv(path, index=False)
    base = ["model", str(path), "--right", "y", "--covariates", "dom,z", "--predict", "dom", "--weight", "w"]
    base += ["--strata", "h", "--psu", "psu", "--nest"]
    r = CliRunner().invoke(app, [*base, "--out", str(tmp_path / "m.csv")])
    assert r.exit_code == 0, r.output
    p = pd.read_csv(tmp_path / "m_predicted.csv")
    assert dict(zip(p["level"], p["estimate"].notna())) == SHOWN
    assert p.loc[p["estimate"].isna(), ["se", "ci_low", "ci_high"]].isna().all().all()
    # --min-n 0 (allowed explicitly) shows every level; below 11 without the switch: refused, naming the option
    r = CliRunner().invoke(app, [*base, "--min-n", "0", "--allow-below-threshold", "--out", str(tmp_path / "a.csv")])
    assert r.exit_code == 0, r.output
    assert pd.read_csv(tmp_path / "a_predicted.csv")["estimate"].notna().all()
    r = CliRunner().invoke(app, [*base, "--min-n", "5", "--out", str(tmp_path / "b.csv")])
    assert r.exit_code == 2 and "--min-n" in r.output
