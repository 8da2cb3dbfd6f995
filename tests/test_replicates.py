"""Replicate weights (JK1, JKn, bootstrap, BRR, Fay) against R survey 4.1.1, and identities."""

from __future__ import annotations

import numpy as np
import pytest
from _weighting_data import api, api_reference, clustered_sample, margins_frame, population_margins, weighting_reference

from nonrecours.design import Calibration, SurveyDesign
from nonrecours.errors import DesignError, OptionError
from nonrecours.estimation import estimate_means, estimate_rates, estimate_totals
from nonrecours.weights import Margins, calibrate, calibrate_weights, make_replicates
from nonrecours.weights.replicates import replicate_multipliers, sylvester_hadamard

REF = api_reference()
WREF = weighting_reference()


def rel(a, b) -> float:
    return float(np.max(np.abs(np.asarray(a, float) / np.asarray(b, float) - 1)))


@pytest.fixture(scope="module")
def dstrat() -> SurveyDesign:
    return SurveyDesign(api("apistrat"), weight="pw", strata="stype", fpc="fpc")


def test_jk1_matches_r():
    des = make_replicates(SurveyDesign(api("apiclus1"), weight="pw", psu="dnum", fpc="fpc"), "jk1")
    r = estimate_means(des, ["api00", "sch.wide"]).to_frame()
    ref = REF["clus1_jk1_mean_api00_schwide"]
    assert rel(r["estimate"], ref["estimate"]) < 1e-9 and rel(r["se"], ref["se"]) < 1e-9
    assert des.replicates.type == "JK1" and des.replicates.weights.shape == (183, 15)


def test_jkn_matches_r(dstrat):
    des = make_replicates(dstrat, "jkn")
    r = estimate_means(des, ["api00", "sch.wide"]).to_frame()
    ref = REF["strat_jkn_mean_api00_schwide"]
    assert rel(r["estimate"], ref["estimate"]) < 1e-9 and rel(r["se"], ref["se"]) < 1e-9
    np.testing.assert_allclose(des.replicates.rscales[:3], (1 - 100 / 4421) * 99 / 100)


@pytest.mark.parametrize(
    "key,margins,method,bounds",
    [
        ("strat_jkn_calib_raking_stype_schwide_mean_api00_awards", "sch.wide", "raking", None),
        ("strat_jkn_calib_logit_0.7_1.7_mean_api00_awards", "api99", "logit", (0.7, 1.7)),
    ],
)
def test_recalibrated_replicates_match_r(dstrat, key, margins, method, bounds):
    """Each replicate re-calibrated (R's calibrate() on an svrep design), either order of the steps."""
    m = Margins.from_frame(margins_frame(numeric=margins))
    a = calibrate(make_replicates(dstrat, "jkn"), m, method=method, bounds=bounds)
    res = calibrate_weights(dstrat.data, dstrat.weights, m, method=method, bounds=bounds)
    b = make_replicates(res.apply(dstrat), "jkn", calibration=res)
    np.testing.assert_allclose(a.replicates.weights, b.replicates.weights, rtol=1e-10)
    c = make_replicates(res.apply(dstrat), "jkn")  # the design's calibration step replays itself
    np.testing.assert_array_equal(c.replicates.weights, b.replicates.weights)
    r = estimate_means(a, ["api00", "awards"]).to_frame()
    assert rel(r["estimate"], WREF[key]["estimate"]) < 1e-9 and rel(r["se"], WREF[key]["se"]) < 1e-8


@pytest.mark.parametrize("kind,key", [("brr", "pairs_brr_total_api00"), ("fay", "pairs_fay0.5_total_api00")])
def test_brr_fay_match_r(kind, key):
    pairs = api("apistrat").sort_values("snum").iloc[:40].assign(pair=np.repeat(np.arange(20), 2).astype(str))
    des = make_replicates(SurveyDesign(pairs, weight="pw", strata="pair"), kind, rho=0.5)
    r = estimate_totals(des, ["api00"]).to_frame()
    assert rel(r["estimate"], [WREF[key]["estimate"]]) < 1e-9 and rel(r["se"], [WREF[key]["se"]]) < 1e-9
    assert des.replicates.weights.shape[1] == 32  # Sylvester order >= 21


def test_sylvester_hadamard():
    H = sylvester_hadamard(21)
    assert H.shape == (32, 32) and np.array_equal(H @ H.T, 32 * np.eye(32))


def test_bootstrap_seeded_and_unbiased():
    df = clustered_sample()
    des = SurveyDesign(df, weight="weight", strata="stratum", psu="psu")
    a = make_replicates(des, "bootstrap", replicates=200, seed=7)
    b = make_replicates(des, "bootstrap", replicates=200, seed=7)
    c = make_replicates(des, "bootstrap", replicates=200, seed=8)
    np.testing.assert_array_equal(a.replicates.weights, b.replicates.weights)
    assert not np.array_equal(a.replicates.weights, c.replicates.weights)
    M, scale, _rscales = replicate_multipliers(des, "bootstrap", replicates=2000, seed=1)
    assert abs(M.mean() - 1) < 0.01 and scale == 1 / 1999
    # Rao–Wu: per stratum the multipliers of one replicate sum to n_h (n_h - 1 draws times n_h/(n_h - 1))
    st = des.structure
    sums = np.stack([np.bincount(st.psu_stratum, weights=M[:, r]) for r in range(3)])
    np.testing.assert_allclose(sums, np.broadcast_to(st.n_h, sums.shape))


@pytest.mark.slow
def test_replicate_and_taylor_variances_agree_after_calibration():
    """Large-ish sample: JKn and bootstrap SEs of calibrated rates within a stated tolerance of Taylor."""
    df = clustered_sample(n_strata=4, psu_per_stratum=60, per_psu=10)
    des = SurveyDesign(df, weight="weight", strata="stratum", psu="psu")
    m = Margins.from_frame(population_margins(df))
    res = calibrate_weights(df, des.weights, m, method="raking")
    cal = res.apply(des)
    taylor = estimate_rates(cal, "tpn", by="benefit").to_frame()
    jk = estimate_rates(make_replicates(cal, "jkn", calibration=res), "tpn", by="benefit").to_frame()
    boot = estimate_rates(
        make_replicates(cal, "bootstrap", replicates=400, seed=1, calibration=res), "tpn", by="benefit"
    ).to_frame()
    np.testing.assert_allclose(jk["estimate"], taylor["estimate"], rtol=1e-12)
    # JKn and Taylor agree to O(1/n) for smooth statistics: 3 % here; bootstrap: Monte Carlo error 1/sqrt(2B) ~ 3.5 %
    assert rel(jk["se"], taylor["se"]) < 0.03
    assert rel(boot["se"], taylor["se"]) < 0.15
    # calibration matters: replicates not re-calibrated give larger SEs than re-calibrated ones for counts
    tot = estimate_totals(make_replicates(cal, "jkn", calibration=res), "is_qpv").to_frame()
    assert tot["se"].iloc[0] < 1e-6 * tot["estimate"].iloc[0]  # a calibrated total has no variance


def test_bad_input(dstrat):
    with pytest.raises(DesignError, match="JK1 is for unstratified"):
        make_replicates(dstrat, "jk1")
    with pytest.raises(DesignError, match="exactly two PSUs per stratum"):
        make_replicates(dstrat, "brr")
    with pytest.raises(OptionError, match="seed"):
        make_replicates(dstrat, "bootstrap", replicates=10)
    with pytest.raises(OptionError, match="at least 2 replicates"):
        make_replicates(dstrat, "bootstrap", replicates=1, seed=1)
    with pytest.raises(OptionError, match="rho"):
        pairs = api("apistrat").iloc[:4].assign(pair=["a", "a", "b", "b"])
        make_replicates(SurveyDesign(pairs, weight="pw", strata="pair"), "fay", rho=1.5)
    lonely = api("apistrat").iloc[:5].assign(h=["a", "a", "b", "b", "c"])
    with pytest.raises(DesignError, match="single PSU"):
        make_replicates(SurveyDesign(lonely, weight="pw", strata="h"), "jkn")
    cal = calibrate(dstrat, Margins.from_frame(margins_frame()))
    step = cal.calibration[0]
    by_hand = dstrat.with_calibration(Calibration(step.X, step.d, step.g))  # a step without its record
    with pytest.raises(OptionError, match="re-calibrated"):
        make_replicates(by_hand, "jkn")
    with pytest.raises(OptionError, match="unknown value"):
        make_replicates(dstrat, "jk2")


@pytest.mark.slow
def test_bootstrap_replicates_identical_whatever_the_workers():
    """Chunk k of multipliers draws from the k-th stream spawned from the seed; chunk sizes follow the design."""
    import pandas as pd

    from nonrecours.weights.replicates import _bootstrap_chunks

    rng = np.random.default_rng(4)
    n = 3000
    df = pd.DataFrame({"h": rng.integers(0, 30, n), "w": rng.uniform(1, 5, n), "psu": np.arange(n)})
    d = SurveyDesign(df, weight="w", strata="h", psu="psu")
    one = list(_bootstrap_chunks(d, 120, 9, cells=30_000, workers=1))
    two = list(_bootstrap_chunks(d, 120, 9, cells=30_000, workers=2))
    assert [b0 for b0, _ in one] == [0, 10, 20, 30, 40, 50, 60, 70, 80, 90, 100, 110]
    for (a0, a), (b0, b) in zip(one, two):
        assert a0 == b0
        np.testing.assert_array_equal(a, b)
    W1 = make_replicates(d, "bootstrap", replicates=50, seed=3, workers=1).replicates.weights
    W2 = make_replicates(d, "bootstrap", replicates=50, seed=3, workers=2).replicates.weights
    np.testing.assert_array_equal(W1, W2)
