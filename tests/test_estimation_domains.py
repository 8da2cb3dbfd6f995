"""Domains as zero weights: identities (by = subset, total/mean/ratio), empty cells, flags, covariance, gaps."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp

from nonrecours.design import SurveyDesign
from nonrecours.errors import InputError, OptionError
from nonrecours.estimation import (
    QualityThresholds,
    estimate_gap,
    estimate_means,
    estimate_rates,
    estimate_ratio,
    estimate_totals,
    gap_between,
    gaps,
)

ALL = QualityThresholds(min_n=0, reliable_n=0, max_cv=1e9)


@pytest.fixture(scope="module")
def sample() -> pd.DataFrame:
    rng = np.random.default_rng(3)
    n_psu = 120
    psu = np.repeat(np.arange(n_psu), 12)
    n = psu.size
    stratum = psu // 20
    territory = rng.integers(0, 8, n_psu)[psu] + 10 * (stratum % 2)
    df = pd.DataFrame(
        {
            "stratum": [f"h{s}" for s in stratum],
            "psu": [f"p{u}" for u in psu],
            "territory": [f"t{t:02d}" for t in territory],
            "is_qpv": rng.integers(0, 2, n),
            "fpc": 80.0,
            "weight": rng.uniform(10, 30, n_psu)[psu] * rng.uniform(0.8, 1.2, n),
        }
    )
    for j, r in enumerate(["cmuc", "acs", "tpn"]):
        y = (rng.uniform(size=n) < 0.3 + 0.2 * j).astype(float)
        y[rng.uniform(size=n) < 0.25] = np.nan
        df[r] = y
    df.loc[df["territory"] == "t03", "tpn"] = np.nan  # a domain with no eligible respondent
    return df


@pytest.fixture(scope="module")
def design(sample) -> SurveyDesign:
    return SurveyDesign(sample, weight="weight", strata="stratum", psu="psu", fpc="fpc")


def test_by_equals_subset_design(sample, design):
    res = estimate_rates(design, ["cmuc", "acs"], by="territory", thresholds=ALL, ci="wald")
    f = res.to_frame()
    for t in ["t01", "t12"]:
        sub = estimate_rates(design.subset(sample["territory"] == t), ["cmuc", "acs"], thresholds=ALL, ci="wald")
        rows = f[f["territory"] == t]
        for col in ["estimate", "se", "df", "deff", "ci_low", "ci_high"]:
            np.testing.assert_allclose(rows[col].to_numpy(), getattr(sub, col), rtol=1e-12)
        np.testing.assert_array_equal(rows["n"], sub.n)


def test_total_mean_ratio_agree(sample, design):
    d = design
    one = d.with_weights(d.weights)  # same design
    data = sample.assign(one=1.0)
    d1 = SurveyDesign(data, weight="weight", strata="stratum", psu="psu", fpc="fpc")
    m = estimate_means(d1, "cmuc", by="territory", thresholds=ALL)
    r = estimate_ratio(d1.subset(data["cmuc"].notna()), "cmuc", "one", by="territory", thresholds=ALL)
    ty = estimate_totals(d1, "cmuc", by="territory", thresholds=ALL)
    t1 = estimate_totals(d1.subset(data["cmuc"].notna()), "one", by="territory", thresholds=ALL)
    np.testing.assert_allclose(m.estimate, r.estimate, rtol=1e-12)
    np.testing.assert_allclose(m.se, r.se, rtol=1e-10)
    np.testing.assert_allclose(m.estimate, ty.estimate / t1.estimate, rtol=1e-12)
    rate = estimate_rates(one, "cmuc", by="territory", thresholds=ALL)
    np.testing.assert_allclose(rate.estimate, m.estimate, rtol=1e-12)


def test_empty_domain_gives_nan_row(design):
    res = estimate_rates(design, ["cmuc", "tpn"], by="territory")
    f = res.to_frame()
    row = f[(f["territory"] == "t03") & (f["right"] == "tpn")].iloc[0]
    assert row["n"] == 0 and np.isnan(row["estimate"]) and row["flag"] == "suppressed"
    assert list(f.columns) == [
        "territory",
        "right",
        "n",
        "estimate",
        "se",
        "ci_low",
        "ci_high",
        "df",
        "deff",
        "cv",
        "flag",
        "ci_method",
    ]


def test_quality_flags_and_thresholds(design):
    res = estimate_rates(design, "cmuc", by=["territory", "is_qpv"])
    f = res.to_frame()
    assert set(f["flag"]) <= {"ok", "unreliable", "suppressed"}
    sup = f["n"] < 11
    assert f.loc[sup, ["estimate", "ci_low", "ci_high"]].isna().all().all()
    assert (f.loc[~sup & (f["n"] < 30), "flag"] == "unreliable").all()
    strict = estimate_rates(
        design, "cmuc", by="territory", thresholds=QualityThresholds(min_n=0, reliable_n=0, max_cv=0.01)
    )
    np.testing.assert_array_equal(strict.flag, np.where(strict.cv <= 0.01, "ok", "unreliable"))
    assert (strict.flag == "unreliable").sum() > 0
    with pytest.raises(OptionError):
        QualityThresholds(min_n=50, reliable_n=30)


def test_covariance_forms_agree(design):
    res = estimate_rates(design, ["cmuc", "acs"], by="territory", thresholds=ALL)
    V = res.vcov()
    assert sp.issparse(V)
    V = V.toarray()
    np.testing.assert_allclose(np.sqrt(np.diag(V)), res.se, rtol=1e-9)
    i, j = np.triu_indices(len(res), 1)
    f = res.to_frame()
    np.testing.assert_allclose(res.cov(f.iloc[i], f.iloc[j]), V[i, j], rtol=1e-9, atol=1e-15)
    assert np.allclose(V, V.T) and np.linalg.eigvalsh(V).min() > -1e-12


def test_gap_uses_joint_covariance(design, sample):
    g = estimate_gap(design, ["cmuc", "acs"], "is_qpv", thresholds=ALL)
    t = g.to_frame()
    assert list(t.columns) == [
        "right",
        "domain_a",
        "domain_b",
        "estimate_a",
        "estimate_b",
        "gap",
        "se",
        "ci_low",
        "ci_high",
        "df",
        "t",
        "p_value",
    ]
    assert list(t["domain_a"]) == ["1", "1"] and list(t["domain_b"]) == ["0", "0"]
    res = estimate_rates(design, ["cmuc", "acs"], by="is_qpv", thresholds=ALL)
    V = res.vcov().toarray()
    a, b = np.array([2, 3]), np.array([0, 1])
    se = np.sqrt(V[a, a] + V[b, b] - 2 * V[a, b])
    np.testing.assert_allclose(t["se"], se, rtol=1e-10)
    np.testing.assert_allclose(t["gap"], res.estimate[a] - res.estimate[b], rtol=1e-12)
    assert (t["df"] == design.degf()).all()  # both domains span every PSU
    # a gap on the indicator equals the difference of domain means computed as a regression contrast: t test
    np.testing.assert_allclose(t["t"], t["gap"] / t["se"])
    g2 = gaps(res, [(1, "cmuc"), (1, "acs")], [(0, "cmuc"), (0, "acs")])  # rows a and b, named
    np.testing.assert_allclose(g2["se"], se, rtol=1e-10)


def test_contrasts_take_labels_not_positions(design):
    """vcov(), cov() and gaps() name estimates by domain values and right (R's svycontrast on names)."""
    res = estimate_rates(design, ["cmuc", "acs"], by="is_qpv", thresholds=ALL)
    V = res.vcov().toarray()
    f = res.to_frame()
    pos = {(str(q), r): k for k, (q, r) in enumerate(zip(f["is_qpv"], f["right"]))}
    assert res.positions([(1, "acs"), (0, "cmuc")]).tolist() == [pos[("1", "acs")], pos[("0", "cmuc")]]
    assert res.positions([("1", "acs")]).tolist() == [pos[("1", "acs")]]  # values compared as text
    sub = res.vcov([(1, "acs"), (0, "acs")])
    k = [pos[("1", "acs")], pos[("0", "acs")]]
    np.testing.assert_allclose(sub.toarray() if sp.issparse(sub) else sub, V[np.ix_(k, k)], rtol=1e-12)
    np.testing.assert_allclose(res.cov([(1, "acs")], [(0, "acs")]), V[k[0], k[1]], rtol=1e-12)
    assert res.positions(f.iloc[::-1]).tolist() == list(range(len(res)))[::-1]  # rows of to_frame()
    with pytest.raises(OptionError, match="labels name no estimate"):
        res.cov([(2, "acs")], [(0, "acs")])
    with pytest.raises(OptionError, match="domain values and the right"):
        res.vcov([3])  # a position is not a label
    with pytest.raises(OptionError, match="as many estimates"):
        gaps(res, [(1, "acs"), (1, "cmuc")], [(0, "acs")])
    national = estimate_rates(design, ["cmuc", "acs"], thresholds=ALL)
    assert national.positions(["acs", "cmuc"]).tolist() == [1, 0]  # without by: right names
    with pytest.raises(OptionError, match="lack columns"):
        res.positions(f.drop(columns="is_qpv"))


def test_gap_within_by_and_levels(design):
    g = estimate_gap(design, "cmuc", "is_qpv", levels=(0, 1), by="territory", thresholds=ALL).to_frame()
    assert list(g.columns[:2]) == ["territory", "right"] and (g["domain_a"] == "0").all()
    k = design.data["territory"].nunique()
    if k > 30:  # every pair of k levels is refused above 30 levels: a reference is asked for
        with pytest.raises(OptionError, match="too many levels"):
            estimate_gap(design, "cmuc", "territory")
    else:
        assert len(estimate_gap(design, "cmuc", "territory", thresholds=ALL).to_frame()) == k * (k - 1) // 2
    with pytest.raises(OptionError, match="level not found"):
        estimate_gap(design, "cmuc", "is_qpv", levels=(0, 7))


def test_gap_between_reuses_an_existing_result(design):
    """estimate_gap is estimate_rates followed by gap_between: same table from one result."""
    direct = estimate_gap(design, ["cmuc", "tpn"], "is_qpv", by="territory", thresholds=ALL).to_frame()
    res = estimate_rates(design, ["cmuc", "tpn"], by=["territory", "is_qpv"], thresholds=ALL)
    reused = gap_between(res, "is_qpv").to_frame()
    pd.testing.assert_frame_equal(reused, direct)
    with pytest.raises(OptionError, match="not a domain column"):
        gap_between(estimate_rates(design, "cmuc", by="territory", thresholds=ALL), "is_qpv")


def test_df_rules(design):
    d = estimate_rates(design, "cmuc", by="territory", df="design", thresholds=ALL)
    assert (d.df == design.degf()).all()
    i = estimate_rates(design, "cmuc", by="territory", df="inf", thresholds=ALL)
    assert np.isinf(i.df).all() and i.meta()["df_rule"] == "inf"
    dom = estimate_rates(design, "cmuc", by="territory", thresholds=ALL)
    assert (dom.df < design.degf()).all()


def test_bad_inputs(design, sample):
    with pytest.raises(InputError, match=r"column 'cmuc'.*1 rows"):
        bad = sample.assign(cmuc=sample["cmuc"].where(sample.index != 0, 2.0))
        estimate_rates(SurveyDesign(bad, weight="weight"), "cmuc")
    with pytest.raises(OptionError, match="parameter ci"):
        estimate_rates(design, "cmuc", ci="exact")  # type: ignore[arg-type]
    with pytest.raises(OptionError, match="parameter df"):
        estimate_rates(design, "cmuc", df="psu")  # type: ignore[arg-type]
    with pytest.raises(InputError, match="'nope'"):
        estimate_rates(design, "cmuc", by="nope")


def test_many_domains_one_pass():
    rng = np.random.default_rng(0)
    n, T = 60_000, 1500
    psu = rng.integers(0, 6000, n)
    df = pd.DataFrame(
        {
            "psu": psu,
            "stratum": psu % 100,
            "territory": psu % T,
            "weight": 10.0,
            "cmuc": rng.integers(0, 2, n).astype(float),
        }
    )
    design = SurveyDesign(df, weight="weight", strata="stratum", psu="psu")
    res = estimate_rates(design, "cmuc", by="territory", thresholds=ALL)
    assert len(res) == T and np.isfinite(res.raw_se).all()
    # the one pass equals a loop over subset designs (R's svyby = subset; zero weights, prob = Inf)
    terr = res.domains["territory"].to_numpy()
    for k in np.r_[0, T - 1, rng.choice(T, 25, replace=False)]:
        sub = estimate_rates(design.subset(df["territory"] == terr[k]), "cmuc", thresholds=ALL)
        np.testing.assert_allclose(res.raw_estimate[k], sub.raw_estimate[0], rtol=1e-12)
        np.testing.assert_allclose(res.raw_se[k], sub.raw_se[0], rtol=1e-9)
        assert res.df[k] == sub.df[0] and res.n[k] == sub.n[0]
