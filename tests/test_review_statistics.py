"""A survey statistician's review of the estimation engine, on small designs computed by hand.

What is checked, each against an explicit computation (numpy, no nonrecours code):

* empty cells of a right column never drop rows from the design: the rate's SE
  equals that of the mean on the zero-weight subset design, of the ratio
  ``sum w y0 / sum w e`` over every row, and of the stratified formula with
  every sampled PSU counted (a PSU, and a whole stratum, without any eligible
  unit stay in the design and contribute their zeros);
* ratio / total / mean identities;
* ``--df domain`` (PSUs minus strata with eligible in-domain rows) and ``design``;
* a domain without eligible respondents, a right with every cell empty: an
  ``n = 0`` row with no estimate, no crash, no warning;
* suppressed cells (n < 11) show no estimate, SE, CI, deff nor CV, and a gap
  with a suppressed side has none either;
* the gap between two domains and its SE from the joint covariance;
* single-PSU strata under each lonely-PSU rule.

"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from nonrecours.design import SurveyDesign
from nonrecours.errors import DesignError
from nonrecours.estimation import estimate_gap, estimate_means, estimate_rates, estimate_ratio, estimate_totals
from nonrecours.estimation.results import QualityThresholds

NO_FLAG = QualityThresholds(min_n=0, reliable_n=0)
ONE = QualityThresholds(min_n=1, reliable_n=1)
N_POP_PSU = 12.0  # population PSUs per stratum (fpc)


def _data(seed: int = 1) -> pd.DataFrame:
    """4 strata x 5 PSUs x 6 rows; right ``y`` empty in stratum h3 and in PSU p2, and for ~30 % of the rest."""
    rng = np.random.default_rng(seed)
    H, m, k = 4, 5, 6
    n = H * m * k
    h = np.repeat(np.arange(H), m * k)
    psu = np.repeat(np.arange(H * m), k)
    df = pd.DataFrame(
        {
            "h": [f"h{x}" for x in h],
            "psu": [f"p{x}" for x in psu],
            "fpc": N_POP_PSU,
            "w": rng.uniform(1, 4, n),
            "dom": rng.choice(["a", "b"], n),
        }
    )
    y = rng.integers(0, 2, n).astype(float)
    y[rng.uniform(size=n) < 0.3] = np.nan
    y[h == 3] = np.nan
    y[psu == 2] = np.nan
    df["y"] = y
    return df


def _design(df: pd.DataFrame, **kw) -> SurveyDesign:
    return SurveyDesign(df, weight="w", strata="h", psu="psu", fpc="fpc", **kw)


def _influence(df: pd.DataFrame, mask: np.ndarray) -> tuple[np.ndarray, float]:
    """Linearised values of the Hájek rate of ``y`` over ``mask``: zero outside the eligible domain rows."""
    w, y = df["w"].to_numpy(), df["y"].to_numpy()
    e = mask & ~np.isnan(y)
    p = float(np.sum(w[e] * y[e]) / w[e].sum())
    return np.where(e, w * (np.nan_to_num(y) - p) / w[e].sum(), 0.0), p


def _stratified_variance(df: pd.DataFrame, z: np.ndarray) -> float:
    """sum_h (1 - n_h/N_h) n_h/(n_h-1) sum_i (z_hi - zbar_h)^2 over every sampled PSU (Cochran, 1977, 5A)."""
    totals = pd.Series(z).groupby(df["psu"].to_numpy()).sum()
    strata = df.groupby("psu")["h"].first().reindex(totals.index)
    v = 0.0
    for _, t in totals.groupby(strata.to_numpy()):
        nh = t.size
        v += (1 - nh / N_POP_PSU) * nh / (nh - 1) * float(((t - t.mean()) ** 2).sum())
    return v


# --------------------------------------------------------------------------- empty cells keep their rows


def test_rate_se_counts_every_psu_and_stratum():
    df = _data()
    res = estimate_rates(_design(df), "y", thresholds=NO_FLAG)
    z, p = _influence(df, np.ones(len(df), bool))
    np.testing.assert_allclose(res.raw_estimate[0], p, rtol=1e-12)
    np.testing.assert_allclose(res.raw_se[0], np.sqrt(_stratified_variance(df, z)), rtol=1e-12)
    # dropping the rows of the PSU without eligible units (n_h 5 -> 4) would change the SE
    kept = df[df["psu"] != "p2"].reset_index(drop=True)
    dropped = estimate_rates(_design(kept), "y", thresholds=NO_FLAG)
    assert abs(dropped.raw_se[0] - res.raw_se[0]) > 1e-6


def test_rate_equals_zero_weight_subset_and_ratio_over_all_rows():
    df = _data()
    eligible = df["y"].notna().to_numpy()
    design = _design(df)
    rate = estimate_rates(design, "y", thresholds=NO_FLAG)
    subset = estimate_means(design.subset(eligible), "y", thresholds=NO_FLAG)
    full = _design(df.assign(y0=df["y"].fillna(0.0), e=eligible.astype(float)))
    ratio = estimate_ratio(full, "y0", "e", thresholds=NO_FLAG)
    for other in (subset, ratio):
        np.testing.assert_allclose(other.raw_estimate, rate.raw_estimate, rtol=1e-12)
        np.testing.assert_allclose(other.raw_se, rate.raw_se, rtol=1e-12)


def test_total_and_mean_identities():
    df = _data()
    eligible = df["y"].notna().to_numpy()
    design = _design(df.assign(y0=df["y"].fillna(0.0), e=eligible.astype(float)))
    tot = estimate_totals(design, ["y", "y0", "e"], thresholds=NO_FLAG)
    np.testing.assert_allclose(tot.raw_estimate[0], tot.raw_estimate[1], rtol=1e-12)  # empty counts as 0 in totals
    np.testing.assert_allclose(tot.raw_se[0], tot.raw_se[1], rtol=1e-12)
    np.testing.assert_allclose(tot.raw_estimate[2], df["w"][eligible].sum(), rtol=1e-12)
    rate = estimate_rates(design, "y", thresholds=NO_FLAG)
    np.testing.assert_allclose(tot.raw_estimate[1] / tot.raw_estimate[2], rate.raw_estimate[0], rtol=1e-12)
    mean = estimate_means(design, "y", thresholds=NO_FLAG)  # a mean of a 0/1 column over its non-empty rows
    np.testing.assert_allclose(mean.raw_se, rate.raw_se, rtol=1e-12)


def test_df_domain_and_design():
    df = _data()
    eligible = df["y"].notna()
    design = _design(df)
    by_domain = estimate_rates(design, "y", by="dom", df="domain", thresholds=NO_FLAG).to_frame()
    for _, row in by_domain.iterrows():
        rows = eligible & df["dom"].eq(row["dom"])
        assert row["df"] == df.loc[rows, "psu"].nunique() - df.loc[rows, "h"].nunique()
    whole = estimate_rates(design, "y", by="dom", df="design", thresholds=NO_FLAG)
    assert (whole.df == 20 - 4).all()


def test_cli_se_equals_zero_weight_computation(tmp_path):
    from nonrecours.cli.main import app

    df = _data()
    path = tmp_path / "sample.csv"
    df.rename(columns={"h": "stratum", "w": "weight"}).to_csv(path, index=False)
    res = CliRunner().invoke(
        app,
        # every domain's SE: under min_n takers or non-takers a domain would be suppressed, hence --min-n 0
        ["estimate", str(path), "--rights", "y", "--by", "dom", "--min-n", "0", "--allow-below-threshold"]
        + ["--out", str(tmp_path / "r.csv")],
    )
    assert res.exit_code == 0, res.output
    out = pd.read_csv(tmp_path / "r.csv")
    for _, row in out.iterrows():
        z, _ = _influence(df, df["dom"].eq(row["dom"]).to_numpy())
        np.testing.assert_allclose(row["se"], np.sqrt(_stratified_variance(df, z)), rtol=1e-9)


# --------------------------------------------------------------------------- empty domains and rights


def _with_empty_domain() -> pd.DataFrame:
    df = _data()
    df.loc[df.index[:6], "dom"] = "c"  # domain c: PSU p0 only, nobody eligible
    df.loc[df.index[:6], "y"] = np.nan
    return df.assign(nobody=np.nan)


@pytest.mark.parametrize("ci", ["wald", "logit", "asin", "beta", "likelihood", "xlogit", "wilson"])
@pytest.mark.parametrize("df_rule", ["domain", "design", "inf"])
def test_domain_and_right_without_eligible_give_n0_rows(ci, df_rule):
    design = _design(_with_empty_domain())
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no RuntimeWarning either
        # min_n = 1: the domains with eligible respondents are shown (each has a taker and a non-taker), the empty
        # ones suppressed
        table = estimate_rates(design, ["y", "nobody"], by="dom", ci=ci, df=df_rule, thresholds=ONE).to_frame()
    empty = (table["dom"] == "c") | (table["right"] == "nobody")
    assert len(table) == 6 and (table.loc[empty, "n"] == 0).all()
    assert table.loc[empty, ["estimate", "se", "ci_low", "ci_high", "deff", "cv"]].isna().all().all()
    assert (table.loc[empty, "flag"] == "suppressed").all()
    assert table.loc[~empty, "estimate"].notna().all()


def test_n0_row_has_no_se_without_suppression():
    res = estimate_rates(_design(_with_empty_domain()), ["y", "nobody"], by="dom", thresholds=NO_FLAG)
    empty = res.n == 0
    assert empty.sum() == 4 and np.isnan(res.estimate[empty]).all()
    assert np.isnan(res.se[empty]).all()


def test_n0_row_se_is_nan_with_replicates():
    from nonrecours.weights.replicates import make_replicates

    design = make_replicates(_design(_with_empty_domain()), "jkn")
    res = estimate_rates(design, ["y", "nobody"], by="dom", thresholds=NO_FLAG)
    assert np.isnan(res.se[res.n == 0]).all()


# --------------------------------------------------------------------------- suppression and gaps


def test_suppressed_cells_show_nothing_but_n():
    df = _data()
    eligible = df["y"].notna()
    # domain 'small': 10 eligible respondents (suppressed), domain 'eleven': 11 takers and 11 non-takers (shown)
    idx = df.index[eligible]
    df["dom"] = "rest"
    df.loc[idx[:10], "dom"] = "small"
    rest = df.index[eligible & (df["dom"] == "rest")]
    ones, zeros = rest[df.loc[rest, "y"] == 1], rest[df.loc[rest, "y"] == 0]
    df.loc[ones[:11].union(zeros[:11]), "dom"] = "eleven"
    res = estimate_rates(_design(df), "y", by="dom")
    t = res.to_frame().set_index("dom")
    assert pd.isna(t.loc["small", "n"]) and t.loc["small", "flag"] == "suppressed"  # as the CLI publishes it
    assert res.to_frame(blank=False).set_index("dom").loc["small", "n"] == 10  # kept for secondary suppression
    assert t.loc["small", ["estimate", "se", "ci_low", "ci_high", "deff", "cv"]].isna().all()
    assert t.loc["eleven", "n"] == 22 and t.loc["eleven", "flag"] != "suppressed"
    assert t.loc["eleven", ["estimate", "se", "ci_low", "ci_high"]].notna().all()
    gap = estimate_gap(_design(df), "y", "dom", levels=("small", "rest")).to_frame()
    assert gap[["estimate_a", "gap", "se", "ci_low", "ci_high", "t", "p_value"]].isna().all().all()


def test_gap_se_from_joint_covariance_matches_direct_computation():
    df = _data()
    gap = estimate_gap(_design(df), "y", "dom", levels=("a", "b"), thresholds=NO_FLAG).to_frame().iloc[0]
    za, pa = _influence(df, df["dom"].eq("a").to_numpy())
    zb, pb = _influence(df, df["dom"].eq("b").to_numpy())
    np.testing.assert_allclose(gap["gap"], pa - pb, rtol=1e-12)
    np.testing.assert_allclose(gap["se"], np.sqrt(_stratified_variance(df, za - zb)), rtol=1e-12)
    # the covariance matters: the diagonal-only SE differs
    diag = np.sqrt(_stratified_variance(df, za) + _stratified_variance(df, zb))
    assert abs(diag - gap["se"]) > 1e-6
    rows = df["y"].notna() & df["dom"].isin(["a", "b"])
    assert gap["df"] == df.loc[rows, "psu"].nunique() - df.loc[rows, "h"].nunique()


def test_gap_with_an_empty_side_has_no_se():
    gap = estimate_gap(_design(_with_empty_domain()), "y", "dom", levels=("a", "c"), thresholds=NO_FLAG).to_frame()
    assert np.isnan(gap["gap"]).all()
    assert np.isnan(gap["se"]).all()


# --------------------------------------------------------------------------- lonely PSUs


def _lonely() -> pd.DataFrame:
    """Stratum h0 keeps a single PSU (p0), the only one of domain 'alone'."""
    df = _data()
    df = df[(df["h"] != "h0") | (df["psu"] == "p0")].reset_index(drop=True)
    df.loc[df["h"] == "h0", "y"] = np.arange(int((df["h"] == "h0").sum())) % 2
    df.loc[df["h"] == "h0", "dom"] = "alone"
    return df


@pytest.mark.parametrize("rule", ["remove", "adjust", "average", "certainty"])
def test_lonely_psu_rules(rule):
    df = _lonely()
    with pytest.warns(Warning, match="lonely PSU"):
        res = estimate_rates(_design(df, lonely_psu=rule), "y", by="dom", thresholds=NO_FLAG).to_frame()
    res = res.set_index("dom")
    # domains without rows in the lonely stratum: as if the stratum were not there (R's subset)
    others = df[df["h"] != "h0"].reset_index(drop=True)
    ref = estimate_rates(_design(others), "y", by="dom", thresholds=NO_FLAG).to_frame().set_index("dom")
    np.testing.assert_allclose(res.loc[["a", "b"], "se"], ref.loc[["a", "b"], "se"], rtol=1e-12)
    # the domain inside the lonely stratum: no variance (remove, certainty; adjust centres its zero-sum
    # influence values at 0), undefined under 'average' (no stratum left to average over), as R survey
    alone = res.loc["alone", "se"]
    if rule == "average":
        assert np.isnan(alone)
    else:
        assert alone == pytest.approx(0.0, abs=1e-12)


def test_lonely_psu_fail_names_the_stratum():
    with pytest.raises(DesignError, match="'h0'"):
        estimate_rates(_design(_lonely()), "y", by="dom")


def test_lonely_psu_fail_ignores_untouched_strata():
    df = _lonely()
    res = estimate_rates(_design(df).subset(df["dom"].eq("a").to_numpy()), "y", thresholds=NO_FLAG)
    assert np.isfinite(res.raw_se[0])
