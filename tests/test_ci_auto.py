"""Default interval of domain rates: Korn-Graubard beta for small domains or estimates of 0 or 1 (ci="auto")."""

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


def test_auto_is_beta_on_small_or_degenerate_rows_and_logit_elsewhere():
    d = _sample(1, [5, 12, 29, 30, 80, 200, 40], 0.3)
    d.loc[d["domain"] == "6", "cmuc"] = 1.0  # a large domain with an estimate of 1
    design = SurveyDesign(d, weight="w")
    auto = estimate_rates(design, "cmuc", by="domain", thresholds=ALL).to_frame()
    beta = estimate_rates(design, "cmuc", by="domain", ci="beta", thresholds=ALL).to_frame()
    logit = estimate_rates(design, "cmuc", by="domain", ci="logit", thresholds=ALL).to_frame()
    small = (auto["n"] < SMALL_DOMAIN_N) | auto["estimate"].isin([0.0, 1.0])
    assert list(auto["ci_method"]) == ["beta" if s else "logit" for s in small]
    assert small.sum() == 4 and (~small).sum() == 3
    for col in ("ci_low", "ci_high"):
        np.testing.assert_array_equal(auto.loc[small, col], beta.loc[small, col])
        np.testing.assert_array_equal(auto.loc[~small, col], logit.loc[~small, col])
    assert set(logit["ci_method"]) == {"logit"}  # a named method is forced on every row


def test_auto_covers_small_domains_where_logit_does_not():
    """Seeded: 400 domains of 8 units with p = 0.08 (many estimates of 0). Korn-Graubard coverage >= 0.93
    (it is conservative; Monte Carlo SE about 0.011); logit's collapses below 0.8 (its interval at 0 is a point)."""
    d = _sample(7, [8] * 400, 0.08)
    design = SurveyDesign(d, weight="w")
    cover = {}
    for ci in ("auto", "logit"):
        t = estimate_rates(design, "cmuc", by="domain", ci=ci, df="inf", thresholds=ALL).to_frame()
        cover[ci] = float(np.mean((t["ci_low"] <= 0.08) & (0.08 <= t["ci_high"])))
    assert cover["auto"] >= 0.93
    assert cover["logit"] < 0.8


def test_auto_keeps_the_variance_method():
    d = _sample(3, [5, 40], 0.4)
    res = estimate_rates(SurveyDesign(d, weight="w"), "cmuc", by="domain", thresholds=ALL)
    assert res.meta()["variance_method"] == "taylor" and res.meta()["ci_method"] == "auto"
