"""Default interval of domain rates: Wilson with the effective n and the design df for small domains or
estimates of 0 or 1, logit elsewhere (ci="auto")."""

import numpy as np
import pandas as pd

from nonrecours.design import SurveyDesign
from nonrecours.estimation import estimate_rates
from nonrecours.estimation.results import SMALL_DOMAIN_N, QualityThresholds

ALL = QualityThresholds(min_n=0, reliable_n=0)


def _sample(seed, sizes, p):
    rng = np.random.default_rng(seed)
    dom = np.repeat(np.arange(len(sizes)), sizes)
    return pd.DataFrame({"domain": dom.astype(str), "w": 10.0, "cmuc": rng.binomial(1, p, dom.size).astype(float)})


def test_auto_is_wilson_on_small_or_degenerate_rows_and_logit_elsewhere():
    d = _sample(1, [5, 12, 29, 30, 80, 200, 40], 0.3)
    d.loc[d["domain"] == "6", "cmuc"] = 1.0  # a large domain with an estimate of 1
    d["h"] = np.arange(len(d)) % 3  # strata: the domain df differ from the design df
    design = SurveyDesign(d, weight="w", strata="h")
    auto = estimate_rates(design, "cmuc", by="domain", thresholds=ALL).to_frame()
    wilson = estimate_rates(design, "cmuc", by="domain", ci="wilson", df="design", thresholds=ALL).to_frame()
    logit = estimate_rates(design, "cmuc", by="domain", ci="logit", thresholds=ALL).to_frame()
    small = (auto["n"] < SMALL_DOMAIN_N) | auto["estimate"].isin([0.0, 1.0])
    assert list(auto["ci_method"]) == ["wilson" if s else "logit" for s in small]
    assert small.sum() == 4 and (~small).sum() == 3
    for col in ("ci_low", "ci_high"):  # the small rows: Wilson at the design's df
        np.testing.assert_array_equal(auto.loc[small, col], wilson.loc[small, col])
        np.testing.assert_array_equal(auto.loc[~small, col], logit.loc[~small, col])
    np.testing.assert_array_equal(auto["df"], logit["df"])  # the df column stays the df rule's
    assert (auto["df"] < len(d) - 3).all()
    narrow = estimate_rates(design, "cmuc", by="domain", ci="wilson", thresholds=ALL).to_frame()
    assert (
        auto.loc[small, "ci_high"] - auto.loc[small, "ci_low"]
        < narrow.loc[small, "ci_high"] - narrow.loc[small, "ci_low"]
    ).all()
    assert set(logit["ci_method"]) == {"logit"}  # a named method is forced on every row


def test_auto_is_not_the_conservative_korn_graubard():
    """Seeded: 600 domains of 10 units from 3 strata, true rates uniform on 0.1-0.6: the domain df (about 7)
    made Korn-Graubard's interval cover about 0.99; auto's Wilson at the design df covers within
    0.95 +- 0.03 (0.962 here; MC SE about 0.008)."""
    rng = np.random.default_rng(5)
    p = rng.uniform(0.1, 0.6, 600)
    dom = np.repeat(np.arange(600), 10)
    d = pd.DataFrame(
        {
            "domain": dom.astype(str),
            "w": 10.0,
            "cmuc": rng.binomial(1, p[dom]).astype(float),
            "h": np.arange(dom.size) % 3,
        }
    )
    design = SurveyDesign(d, weight="w", strata="h")
    cover = {}
    for ci in ("auto", "beta"):
        t = estimate_rates(design, "cmuc", by="domain", ci=ci, thresholds=ALL).to_frame()
        truth = p[t["domain"].astype(int)]
        cover[ci] = float(np.mean((t["ci_low"] <= truth) & (truth <= t["ci_high"])))
    assert abs(cover["auto"] - 0.95) < 0.03
    assert cover["beta"] > 0.98


def test_auto_covers_small_domains_where_logit_does_not():
    """Seeded: 400 domains of 8 units with p = 0.08 (many estimates of 0). Auto's coverage >= 0.93
    (Monte Carlo SE about 0.011); logit's collapses below 0.8 (its interval at 0 is a point)."""
    d = _sample(7, [8] * 400, 0.08)
    design = SurveyDesign(d, weight="w")
    cover = {}
    for ci in ("auto", "logit"):
        t = estimate_rates(design, "cmuc", by="domain", ci=ci, df="inf", thresholds=ALL).to_frame()
        cover[ci] = float(np.mean((t["ci_low"] <= 0.08) & (t["ci_high"] >= 0.08)))
    assert cover["auto"] >= 0.93
    assert cover["logit"] < 0.8


def test_auto_keeps_the_variance_method():
    d = _sample(3, [5, 40], 0.4)
    res = estimate_rates(SurveyDesign(d, weight="w"), "cmuc", by="domain", thresholds=ALL)
    assert res.meta()["variance_method"] == "taylor" and res.meta()["ci_method"] == "auto"
