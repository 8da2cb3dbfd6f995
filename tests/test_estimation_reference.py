"""Estimates, SEs, df and design effects against R survey 4.1.1 on the api data.

Provenance:
- ``tests/reference/api_reference.json`` made by ``tests/reference/make_api_reference.R``
  (R survey 4.1-1; designs in its ``_about`` entry).
- ``tests/reference/lonely_psu.json`` made by ``tests/reference/make_lonely_psu.R``
  (R 4, survey 4.1.1, 15 significant digits): lonely-PSU rules, domains x two-stage design.

Tolerance 1e-9 relative (closed forms). Measured worst relative error: ~4e-15 on the
Taylor entries; the ``logit`` CI entries differ by ~1e-9 because R's ``svyglm`` stops
about 5e-10 away from the Hájek mean (checked at 1e-8).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from nonrecours.design import Calibration, Replicates, SurveyDesign
from nonrecours.errors import DesignError
from nonrecours.estimation import QualityThresholds, estimate_means, estimate_rates, estimate_ratio, estimate_totals

SHARED = Path(__file__).resolve().parent / "reference"  # copy of the shared R reference, see reference/README.md
LOCAL = Path(__file__).resolve().parent / "reference" / "lonely_psu.json"
API = json.loads((SHARED / "api_reference.json").read_text())
LONELY = json.loads(LOCAL.read_text())
ALL = QualityThresholds(min_n=0, reliable_n=0, max_cv=1e9)
RTOL = 1e-9


def _read(name: str) -> pd.DataFrame:
    return pd.read_csv(SHARED / "api" / f"{name}.csv", dtype={"stype": str})


@pytest.fixture(scope="module")
def strat() -> pd.DataFrame:
    return _read("apistrat")


@pytest.fixture(scope="module")
def dstrat(strat) -> SurveyDesign:
    return SurveyDesign(strat, weight="pw", strata="stype", fpc="fpc")


@pytest.fixture(scope="module")
def dclus1() -> SurveyDesign:
    return SurveyDesign(_read("apiclus1"), weight="pw", psu="dnum", fpc="fpc")


@pytest.fixture(scope="module")
def dclus2() -> SurveyDesign:
    return SurveyDesign(_read("apiclus2"), psu="dnum", ssu="snum", fpc="fpc1", fpc2="fpc2")


def close(got, want, rtol=RTOL):
    np.testing.assert_allclose(np.asarray(got, float), np.asarray(want, float), rtol=rtol, atol=0)


def test_strat_mean_total_prop_ratio(dstrat):
    r = estimate_means(dstrat, "api00", thresholds=ALL)
    e = API["strat_mean_api00"]
    close(r.estimate, [e["estimate"]])
    close(r.se, [e["se"]])
    close(r.deff, [e["deff"]])
    r = estimate_totals(dstrat, "enroll", thresholds=ALL)
    e = API["strat_total_enroll"]
    close(r.estimate, [e["estimate"]])
    close(r.se, [e["se"]])
    r = estimate_rates(dstrat, "sch.wide", thresholds=ALL)
    e = API["strat_prop_schwide"]
    close(r.estimate, [e["estimate"]])
    close(r.se, [e["se"]])
    close(r.deff, [e["deff"]])
    r = estimate_ratio(dstrat, "api00", "api99", thresholds=ALL)
    e = API["strat_ratio_api00_api99"]
    close(r.estimate, [e["estimate"]])
    close(r.se, [e["se"]])


@pytest.mark.parametrize("method", ["logit", "likelihood", "asin", "beta", "mean", "xlogit"])
def test_strat_ciprop_estimate_se_df(dstrat, method):
    e = API[f"strat_ciprop_schwide_{method}"]
    r = estimate_rates(dstrat, "sch.wide", thresholds=ALL)
    close(r.estimate, [e["estimate"]])
    close(r.se, [e["se"]])
    close(r.df, [e["df"]], rtol=0)


def test_strat_by_stype(dstrat):
    e = API["strat_by_stype_schwide_awards"]
    r = estimate_rates(dstrat, ["sch.wide", "awards"], by="stype", thresholds=ALL)
    f = r.to_frame()
    assert list(f["stype"][::2]) == e["domain"]
    close(r.estimate[0::2], e["schwide"])
    close(r.se[0::2], e["schwide_se"])
    close(r.estimate[1::2], e["awards"])
    close(r.se[1::2], e["awards_se"])
    close(r.deff[0::2], e["schwide_deff"])


def test_clus1(dclus1):
    e = API["clus1_mean_api00"]
    r = estimate_means(dclus1, "api00", thresholds=ALL)
    close(r.estimate, [e["estimate"]])
    close(r.se, [e["se"]])
    e = API["clus1_by_stype_schwide"]
    r = estimate_rates(dclus1, "sch.wide", by="stype", thresholds=ALL)
    assert list(r.to_frame()["stype"]) == e["domain"]
    close(r.estimate, e["estimate"])
    close(r.se, e["se"])


def test_clus2(dclus2):
    e = API["clus2_mean_api00"]
    r = estimate_means(dclus2, "api00", thresholds=ALL)
    close(r.estimate, [e["estimate"]])
    close(r.se, [e["se"]])
    e = API["clus2_prop_schwide"]
    r = estimate_rates(dclus2, "sch.wide", thresholds=ALL)
    close(r.estimate, [e["estimate"]])
    close(r.se, [e["se"]])
    e = API["clus2_ciprop_schwide_logit"]
    close(r.estimate, [e["estimate"]])
    close(r.df, [e["df"]], rtol=0)


def test_logit_ci_end_to_end(dstrat, dclus2):
    for design, key in ((dstrat, "strat_ciprop_schwide_logit"), (dclus2, "clus2_ciprop_schwide_logit")):
        r = estimate_rates(design, "sch.wide", ci="logit", thresholds=ALL)
        close([r.ci_low[0], r.ci_high[0]], API[key]["ci"], rtol=1e-8)


def test_replicate_combiner_jk1_jkn(dstrat, dclus1):
    # JK1 on the one-stage cluster design: delete one district, scale (n-1)/n (1 - n/N) (R's as.svrepdesign)
    psu = dclus1.structure.psu
    n = dclus1.n_psu
    W = np.where(psu[:, None] == np.arange(n)[None, :], 0.0, n / (n - 1)) * dclus1.weights[:, None]
    rep = dclus1.with_replicates(Replicates(W, "JK1", (n - 1) / n * (1 - n / 757), np.ones(n), False))
    r = estimate_means(rep, ["api00", "sch.wide"], thresholds=ALL)
    e = API["clus1_jk1_mean_api00_schwide"]
    close(r.estimate, e["estimate"])
    close(r.se, e["se"])
    # JKn on the stratified design, with the FPC in rscales
    st = dstrat.structure
    h, nh, Nh = st.stratum, st.n_h, st.N_h
    W = np.ones((dstrat.n, dstrat.n)) * dstrat.weights[:, None]
    same = h[:, None] == h[None, :]
    W = np.where(same, W * (nh[h] / (nh[h] - 1))[:, None], W)
    np.fill_diagonal(W, 0.0)
    rscales = (nh[h] - 1) / nh[h] * (1 - nh[h] / Nh[h])
    rep = dstrat.with_replicates(Replicates(W, "JKn", 1.0, rscales, False))
    r = estimate_means(rep, ["api00", "sch.wide"], thresholds=ALL)
    e = API["strat_jkn_mean_api00_schwide"]
    close(r.estimate, e["estimate"])
    close(r.se, e["se"])


def test_linear_calibration_residuals(strat, dstrat):
    X = np.column_stack([np.ones(len(strat)), strat["stype"] == "H", strat["stype"] == "M", strat["api99"]]).astype(
        float
    )
    pop = _read("apipop")
    T = np.array([6194, 755, 1018, pop["api99"].sum()], float)
    d = dstrat.weights
    lam = np.linalg.solve(X.T @ (d[:, None] * X), T - X.T @ d)
    g = 1 + X @ lam
    cal = dstrat.with_calibration(Calibration(X, d, g))
    r = estimate_means(cal, ["api00", "awards"], thresholds=ALL)
    e = API["strat_calib_linear_stype_api99_mean_api00_awards"]
    close(r.estimate, e["estimate"])
    close(r.se, e["se"])


def _lonely_designs(rule: str) -> dict[str, SurveyDesign]:
    s = _read("apistrat")
    h = s["stype"].to_numpy(dtype=object).copy()
    h[[0, 100, 150]] = ["L1", "L2", "L3"]
    s = s.assign(h=h, fpc_h=np.where(np.isin(h, ["L1", "L2", "L3"]), 10, s["fpc"]))
    c1 = _read("apiclus1")
    d = np.sort(c1["dnum"].unique())
    grp = np.searchsorted([1, 2, 4, 7, 11], np.searchsorted(d, c1["dnum"]) + 1, side="right")
    c1 = c1.assign(h=[f"G{g}" for g in grp], fpc_h=100)
    c2 = _read("apiclus2")
    n2 = c2.groupby("dnum")["snum"].transform("size")
    c2 = c2.assign(fpc2b=np.where(n2 == 1, 5, c2["fpc2"]))
    return {
        "strat": SurveyDesign(s, weight="pw", strata="h", fpc="fpc_h", lonely_psu=rule),
        "clus1": SurveyDesign(c1, weight="pw", strata="h", psu="dnum", fpc="fpc_h", lonely_psu=rule),
        "clus2": SurveyDesign(c2, weight="pw", psu="dnum", ssu="snum", fpc="fpc1", fpc2="fpc2b", lonely_psu=rule),
    }


@pytest.mark.parametrize("rule", ["remove", "adjust", "average", "certainty"])
@pytest.mark.filterwarnings("ignore::nonrecours.errors.LonelyPSUWarning")
def test_lonely_psu_rules(rule):
    for name, design in _lonely_designs(rule).items():
        e = LONELY[f"{name}_{rule}"]
        r = estimate_means(design, ["api00", "sch.wide"], thresholds=ALL)
        close(r.estimate, e["mean_estimate"])
        close(r.se, e["mean_se"])
        b = estimate_rates(design, "sch.wide", by="stype", thresholds=ALL)
        assert list(b.to_frame()["stype"]) == e["by_domain"]
        close(b.estimate, e["by_estimate"])
        close(b.se, e["by_se"])


def test_lonely_psu_fail_names_strata():
    design = _lonely_designs("fail")["strat"]
    with pytest.raises(DesignError, match="'L1', 'L2', 'L3'") as info:
        estimate_means(design, "api00")
    assert "lonely" in str(info.value) and "column 'h'" in str(info.value)
    assert "only one PSU" in LONELY["strat_fail_error"]["message"]


def test_lonely_psu_rule_warns():
    from nonrecours.errors import LonelyPSUWarning

    with pytest.warns(LonelyPSUWarning, match="3 lonely"):
        estimate_means(_lonely_designs("adjust")["strat"], "api00")


def test_domains_two_stage_vs_svyby(dclus2):
    e = LONELY["clus2_by_stype"]
    r = estimate_means(dclus2, ["sch.wide", "api00"], by="stype", thresholds=ALL)
    assert list(r.to_frame()["stype"][::2]) == e["domain"]
    close(r.estimate[0::2], e["schwide"])
    close(r.se[0::2], e["schwide_se"])
    close(r.estimate[1::2], e["api00"])
    close(r.se[1::2], e["api00_se"])
    close(r.deff[0::2], e["schwide_deff"])
    close(r.deff[1::2], e["api00_deff"])
    close(r.df[0::2], e["df"], rtol=0)
    e = LONELY["clus2_by_stype_total_enroll"]
    t = estimate_totals(dclus2, "enroll", by="stype", thresholds=ALL)
    close(t.estimate, e["estimate"])
    close(t.se, e["se"])
    close(t.deff, e["deff"])
