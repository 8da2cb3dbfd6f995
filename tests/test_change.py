"""Change of take-up between waves (nonrecours.estimation.change)."""

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from nonrecours.design.survey_design import SurveyDesign
from nonrecours.errors import InputError, OptionError
from nonrecours.estimation import estimate_rates
from nonrecours.estimation.change import estimate_change
from nonrecours.io import read_table

REF = Path(__file__).parent / "reference"


def _panel():
    w1 = read_table(REF / "change_panel_wave1.csv")
    w2 = read_table(REF / "change_panel_wave2.csv")
    d1 = SurveyDesign(w1, weight="weight", strata="stratum", fpc="fpc")
    d2 = SurveyDesign(w2, weight="weight", strata="stratum", fpc="fpc")
    return d1, d2


def test_panel_change_matches_r_survey_on_stacked_waves():
    """R survey 4.1.1, svytotal + svycontrast on the wide file (make_change_reference.R): 1e-9 relative."""
    ref = json.loads((REF / "change_panel_reference.json").read_text())["results"]
    d1, d2 = _panel()
    overall = estimate_change(d1, d2, ["cmuc", "acs"], scheme="panel").table
    by = estimate_change(d1, d2, ["cmuc", "acs"], "is_qpv", scheme="panel").table
    checked = 0
    for r in ref:
        t = overall if r["domain"] == "all" else by[by["is_qpv"].astype(str) == r["domain"]]
        row = t[t["right"] == r["right"]].iloc[0]
        cov = row["correlation"] * row["se_1"] * row["se_2"]
        for ours, theirs in (
            (row["estimate_1"], r["estimate_1"]),
            (row["estimate_2"], r["estimate_2"]),
            (row["change"], r["change"]),
            (row["se"], r["se"]),
            (row["se_1"], r["se_1"]),
            (row["se_2"], r["se_2"]),
            (cov, r["cov_12"]),
        ):
            assert ours == pytest.approx(theirs, rel=1e-9, abs=1e-15)
        checked += 1
    assert checked == 6


def test_independent_samples_give_the_root_of_summed_variances():
    """Exact identity: with independent samples the SE is sqrt(V1 + V2) of the two waves' own estimates."""
    d1, d2 = _panel()
    ch = estimate_change(d1, d2, ["cmuc", "acs"], "is_qpv", scheme="independent").table
    e1 = estimate_rates(d1, ["cmuc", "acs"], "is_qpv", df="inf")
    e2 = estimate_rates(d2, ["cmuc", "acs"], "is_qpv", df="inf")
    expected = np.sqrt(e1.raw_se**2 + e2.raw_se**2)
    np.testing.assert_allclose(ch["se"], expected, rtol=1e-12)
    np.testing.assert_allclose(ch["se_independent"], expected, rtol=1e-12)
    np.testing.assert_allclose(ch["change"], e2.raw_estimate - e1.raw_estimate, rtol=1e-12)
    assert (ch["correlation"] == 0).all()
    # the panel's positive covariance makes its SE smaller here
    panel = estimate_change(d1, d2, ["cmuc", "acs"], "is_qpv", scheme="panel").table
    assert (panel["se"] < ch["se"]).all()


def test_difference_in_differences_is_the_contrast_of_four_estimates():
    d1, d2 = _panel()
    res = estimate_change(d1, d2, ["cmuc", "acs"], "is_qpv", scheme="panel")
    did = res.did("is_qpv")
    t = res.table
    for right in ("cmuc", "acs"):
        a = t.index[(t["is_qpv"] == 1) & (t["right"] == right)][0]
        b = t.index[(t["is_qpv"] == 0) & (t["right"] == right)][0]
        K = len(t)
        idx = np.array([a + K, b + K, a, b])
        c = np.array([1.0, -1.0, -1.0, 1.0])
        V = res.variance.matrix(idx)
        V = V.toarray() if hasattr(V, "toarray") else V
        row = did[did["right"] == right].iloc[0]
        assert row["se"] == pytest.approx(np.sqrt(c @ V @ c), rel=1e-12)
        assert row["did"] == pytest.approx(t.loc[a, "change"] - t.loc[b, "change"], rel=1e-12)
        assert row["level_a"] == "1" and row["level_b"] == "0"
    with pytest.raises(OptionError, match="parameter gap"):
        res.did("benefit")


def test_overlap_counts_and_partial_overlap():
    d1, d2 = _panel()
    data2 = d2.data.copy()
    data2.loc[:9, "id"] = [f"N{i}" for i in range(10)]  # 10 recipients renewed in wave 2
    d2b = SurveyDesign(data2, weight="weight", strata="stratum", fpc="fpc")
    t = estimate_change(d1, d2b, "cmuc", scheme="rotating").table
    full = estimate_change(d1, d2, "cmuc", scheme="panel").table
    assert t["n_both"][0] < full["n_both"][0]
    assert 0 < t["correlation"][0] < full["correlation"][0] + 0.2


def test_errors():
    d1, d2 = _panel()
    data = d2.data.copy()
    data.loc[1, "id"] = data.loc[0, "id"]
    with pytest.raises(InputError, match="duplicate"):
        estimate_change(d1, SurveyDesign(data, weight="weight", strata="stratum", fpc="fpc"), "cmuc")
    with pytest.raises(OptionError, match="scheme"):
        estimate_change(d1, d2, "cmuc", scheme="cohort")
    with pytest.raises(OptionError, match="replicate"):
        estimate_change(d1, d2, "cmuc", variance="replicate")


def _with_bootstrap(d1, d2, R=300, seed=4, carried=True):
    """Rao-Wu-type bootstrap multipliers per stratum; carried across waves by recipient id when ``carried``."""
    from nonrecours.design.survey_design import Replicates

    rng = np.random.default_rng(seed)
    out = []
    mult = None
    for _k, d in enumerate((d1, d2)):
        data = d.data
        if mult is None or not carried:
            n_h = data.groupby("stratum")["id"].transform("size").to_numpy()
            # resample n_h - 1 of n_h units with replacement in every stratum, R times
            m = np.zeros((len(data), R))
            for _h, idx in data.groupby("stratum").indices.items():  # loop over 3 strata of the test data
                draws = rng.integers(0, idx.size, (idx.size - 1, R))
                for r in range(R):
                    m[idx, r] = np.bincount(draws[:, r], minlength=idx.size)
            mult = pd.DataFrame(m * (n_h / (n_h - 1))[:, None], index=data["id"].to_numpy())
        W = d.weights[:, None] * mult.loc[data["id"].to_numpy()].to_numpy()
        reps = Replicates(weights=W, type="bootstrap", scale=1.0 / (R - 1), rscales=np.ones(R), mse=False)
        out.append(SurveyDesign(data, weight="weight", strata="stratum", fpc="fpc", replicates=reps))
    return out


def test_replicate_weights_across_waves():
    d1, d2 = _panel()
    # independent waves: each wave's own replicate variance, summed (exact)
    r1, r2 = _with_bootstrap(d1, d2, carried=False)
    ind = estimate_change(r1, r2, ["cmuc", "acs"], "is_qpv", scheme="independent", variance="replicate").table
    e1 = estimate_rates(r1, ["cmuc", "acs"], "is_qpv", df="inf")
    e2 = estimate_rates(r2, ["cmuc", "acs"], "is_qpv", df="inf")
    np.testing.assert_allclose(ind["se"], np.sqrt(e1.raw_se**2 + e2.raw_se**2), rtol=1e-12)
    # replicates carried across the waves of a panel: the covariance enters, close to the Taylor one
    c1, c2 = _with_bootstrap(d1, d2, carried=True)
    rep = estimate_change(c1, c2, ["cmuc", "acs"], "is_qpv", scheme="panel", variance="replicate").table
    tay = estimate_change(d1, d2, ["cmuc", "acs"], "is_qpv", scheme="panel").table
    assert (rep["correlation"] > 0.2).all()
    np.testing.assert_allclose(rep["se"], tay["se"], rtol=0.2)  # bootstrap of 300 replicates, n = 120
    assert "replicate" in estimate_change(c1, c2, "cmuc", scheme="panel", variance="replicate").variance_method
