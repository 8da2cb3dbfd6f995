"""Sampling covariances written by ``estimate --covariances-out`` (issue 26, item 1) and read by
``territorial fit --covariances``.

The reference is ``reference/covariances_reference.json``, made by ``reference/make_covariances_reference.R``
(R survey: svytotal of every territory's takers and eligible respondents, svycontrast of their ratios, vcov;
versions in its ``meta``) on ``reference/covariances/sample.csv`` (``make_covariances_data.py``, seed 2626);
closed forms, so 1e-9 relative.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from nonrecours.cli.main import app
from nonrecours.design import SurveyDesign
from nonrecours.estimation import QualityThresholds, estimate_rates
from nonrecours.estimation.covariances import result_covariances
from nonrecours.territorial.borrowing import fit_borrowing

REF = Path(__file__).parent / "reference"
DESIGN = ["--strata", "stratum", "--psu", "psu", "--weight", "weight"]
RIGHTS = "cmuc,acs,aah"


def _run(*args):
    return CliRunner().invoke(app, list(map(str, args)))


def test_estimate_covariances_out_equals_r_survey(tmp_path):
    ref = json.loads((REF / "covariances_reference.json").read_text())
    pairs = pd.DataFrame(ref["pairs"])
    out, cov = tmp_path / "est.csv", tmp_path / "cov.csv"
    sample = REF / "covariances" / "sample.csv"
    r = _run("estimate", sample, "--rights", RIGHTS, "--by", "territory", *DESIGN, "--out", out,
             "--covariances-out", cov)  # fmt: skip
    assert r.exit_code == 0, r.output
    got = pd.read_csv(cov)
    assert list(got.columns) == ["territory", "right_a", "right_b", "cov"]
    off = pairs[pairs["right_a"] != pairs["right_b"]]
    assert len(got) == len(off) == 8 * 3  # each unordered pair once
    m = got.merge(off, on=["territory", "right_a", "right_b"], suffixes=("", "_r"), how="inner")
    assert len(m) == len(got)  # the same order of the pair as R's rows (rights in the order given)
    np.testing.assert_allclose(m["cov"], m["cov_r"], rtol=1e-9)
    est = pd.read_csv(out)  # the SEs come from the same engine: the diagonal of R's matrix
    diag = pairs[pairs["right_a"] == pairs["right_b"]].rename(columns={"right_a": "right"})
    v = est.merge(diag, on=["territory", "right"])
    np.testing.assert_allclose(v["se"] ** 2, v["cov"], rtol=1e-9)


def test_pairs_with_a_suppressed_estimate_are_not_written(tmp_path):
    sample = REF / "covariances" / "sample.csv"
    out, cov = tmp_path / "est.csv", tmp_path / "cov.csv"
    r = _run("estimate", sample, "--rights", RIGHTS, "--by", "territory", *DESIGN, "--out", out,
             "--covariances-out", cov, "--min-n", 47)  # fmt: skip
    assert r.exit_code == 0, r.output
    est, got = pd.read_csv(out), pd.read_csv(cov)
    hidden = set(zip(est.loc[est["flag"] == "suppressed", "territory"], est.loc[est["flag"] == "suppressed", "right"]))
    assert hidden  # the threshold hides some cells of this sample
    for side in ("a", "b"):
        assert not set(zip(got["territory"], got[f"right_{side}"])) & hidden
    shown = est[est["flag"] != "suppressed"].groupby("territory").size()
    assert len(got) == int((shown * (shown - 1) // 2).sum())  # every other pair is there


def test_no_pair_of_a_domain_without_eligible_respondents():
    """Under min_n = 0 a right with no eligible respondent in a domain has no estimate: no covariance of it is
    written (was: a covariance of 0), the domain's other pairs are."""
    data = pd.read_csv(REF / "covariances" / "sample.csv")
    first = data["territory"].astype(str).sort_values().iloc[0]
    data.loc[data["territory"].astype(str) == first, "acs"] = np.nan  # no one eligible to acs there
    design = SurveyDesign(data, weight="weight", strata="stratum", psu="psu")
    res = estimate_rates(design, RIGHTS.split(","), by="territory", thresholds=QualityThresholds(min_n=0))
    t = res.to_frame()
    assert t.loc[(t["territory"].astype(str) == first) & (t["right"] == "acs"), "estimate"].isna().all()
    got = result_covariances(res)
    mine = got[got["territory"].astype(str) == first]
    assert len(mine) == 1 and set(mine[["right_a", "right_b"]].iloc[0]) == {"cmuc", "aah"}
    assert np.isfinite(got["cov"]).all()
    assert len(got) == 3 * (data["territory"].nunique() - 1) + 1


def test_quantiles_have_no_covariances(tmp_path):
    sample = REF / "covariances" / "sample.csv"
    r = _run("estimate", sample, "--stat", "quantile", "--variables", "weight", "--by", "territory", *DESIGN,
             "--covariances-out", tmp_path / "cov.csv")  # fmt: skip
    assert r.exit_code == 2 and "--covariances-out" in r.output
    assert not (tmp_path / "cov.csv").exists()


@pytest.fixture(scope="module")
def territories(tmp_path_factory):
    """A sample of 40 territories x 3 rights whose take-up follows a territory covariate, and the covariates."""
    tmp = tmp_path_factory.mktemp("cov_roundtrip")
    rng = np.random.default_rng(261)
    m, n_psu, per = 40, 160, 15
    x = rng.normal(size=m)
    effect = rng.normal(0, 0.3, m)
    psu = np.repeat(np.arange(n_psu), per)
    terr = psu % m
    u = rng.normal(size=psu.size)
    df = pd.DataFrame(
        {
            "stratum": [f"s{p // 16}" for p in psu],
            "psu": [f"u{p}" for p in psu],
            "weight": rng.uniform(5, 25, psu.size),
            "territory": [f"Q{t:02d}" for t in terr],
        }
    )
    for k, r in enumerate(RIGHTS.split(",")):
        eta = -0.2 + 0.2 * k + 0.5 * x[terr] + effect[terr] + u
        df[r] = (rng.uniform(size=psu.size) < 1 / (1 + np.exp(-eta))).astype(float)
        df.loc[rng.uniform(size=psu.size) < 0.2, r] = np.nan
    df.to_csv(tmp / "sample.csv", index=False)
    pd.DataFrame({"territory": [f"Q{t:02d}" for t in range(m)], "x": x}).to_csv(tmp / "aux.csv", index=False)
    return tmp, df


def test_round_trip_estimate_covariances_into_the_multivariate_fit(territories):
    tmp, df = territories
    r = _run("estimate", tmp / "sample.csv", "--rights", RIGHTS, "--by", "territory", *DESIGN,
             "--out", tmp / "direct.csv", "--covariances-out", tmp / "cov.csv", "--overwrite")  # fmt: skip
    assert r.exit_code == 0, r.output
    args = ["territorial", "fit", tmp / "direct.csv", "--aux", tmp / "aux.csv", "--covariates", "x",
            "--model", "multivariate", "--overwrite"]  # fmt: skip
    r = _run(*args, "--covariances", tmp / "cov.csv", "--out", tmp / "mfh.csv")
    assert r.exit_code == 0, r.output
    r = _run(*args, "--out", tmp / "mfh_diag.csv")
    assert r.exit_code == 0, r.output
    got, diag = pd.read_csv(tmp / "mfh.csv"), pd.read_csv(tmp / "mfh_diag.csv")
    # the same fit from the full covariance matrix of the engine, every off-diagonal entry in both orders
    res = estimate_rates(SurveyDesign(df, weight="weight", strata="stratum", psu="psu"), RIGHTS.split(","),
                         "territory")  # fmt: skip
    V = np.asarray(res.vcov().todense() if hasattr(res.vcov(), "todense") else res.vcov())
    frame = res.to_frame()
    i, j = np.nonzero(frame["territory"].to_numpy()[:, None] == frame["territory"].to_numpy()[None, :])
    off = i != j
    full = pd.DataFrame(
        {
            "territory": frame["territory"].to_numpy()[i[off]],
            "right_a": frame["right"].to_numpy()[i[off]],
            "right_b": frame["right"].to_numpy()[j[off]],
            "cov": V[i[off], j[off]],
        }
    )
    assert len(full) == 2 * len(result_covariances(res))
    want = fit_borrowing(pd.read_csv(tmp / "direct.csv"), pd.read_csv(tmp / "aux.csv"), ["x"],
                         model="multivariate", covariances=full).to_frame()  # fmt: skip
    np.testing.assert_allclose(got["eblup"], want["eblup"], rtol=1e-9)
    np.testing.assert_allclose(got["mse"], want["mse"], rtol=1e-9)
    assert np.abs(got["mse"] - diag["mse"]).max() > 1e-8  # the covariances entered the fit


def test_change_covariances_out_equals_r_survey(tmp_path):
    """Between rights and waves of a panel: R survey on the stacked waves (make_change_covariances_reference.R)."""
    ref = pd.DataFrame(json.loads((REF / "change_covariances_reference.json").read_text())["pairs"])
    cov = tmp_path / "cov.csv"
    r = _run("change", REF / "change_panel_wave1.csv", REF / "change_panel_wave2.csv", "--rights", "cmuc,acs",
             "--by", "is_qpv", "--strata", "stratum", "--fpc", "fpc", "--weight", "weight", "--scheme", "panel",
             "--years", "2015,2016", "--covariances-out", cov, "--out", tmp_path / "ch.csv",
             "--min-n", 1, "--allow-below-threshold")  # fmt: skip  # R's pairs of every estimate (few takers)
    assert r.exit_code == 0, r.output
    got = pd.read_csv(cov)
    assert list(got.columns) == ["is_qpv", "right_a", "year_a", "right_b", "year_b", "cov"]
    key = ["is_qpv", "right_a", "year_a", "right_b", "year_b"]
    assert got[key].values.tolist() == ref[key].values.tolist()  # 2 domains x 6 pairs, the same order
    np.testing.assert_allclose(got["cov"], ref["cov"], rtol=1e-9)
    r = _run("change", REF / "change_panel_wave1.csv", REF / "change_panel_wave2.csv", "--rights", "cmuc",
             "--years", "2015", "--covariances-out", tmp_path / "c2.csv")  # fmt: skip
    assert r.exit_code == 2 and "--years" in r.output and not (tmp_path / "c2.csv").exists()


def test_series_covariances_out(tmp_path):
    """Three panel waves: the pairs of the first two equal those of ``change`` on them (the same joint
    linearisation; with one design the union of three waves pools the same strata); the format reads back."""
    from nonrecours.territorial.borrowing import read_covariances

    w1, w2 = REF / "change_panel_wave1.csv", REF / "change_panel_wave2.csv"
    w3 = tmp_path / "w3.csv"
    d = pd.read_csv(w2)
    rng = np.random.default_rng(3)
    d["cmuc"] = np.where(rng.uniform(size=len(d)) < 0.2, 1 - d["cmuc"], d["cmuc"])  # a third wave of the panel
    d.to_csv(w3, index=False)
    design = ["--strata", "stratum", "--fpc", "fpc", "--weight", "weight", "--scheme", "panel"]
    cov = tmp_path / "cov.csv"
    waves = f"2015={w1},2016={w2},2017={w3}"
    r = _run("series", "--rights", "cmuc,acs", "--by", "is_qpv", "--waves", waves, *design, "--min-n", 1,
             "--allow-below-threshold", "--out", tmp_path / "s", "--covariances-out", cov)  # fmt: skip
    assert r.exit_code == 0, r.output
    got = pd.read_csv(cov)
    assert list(got.columns) == ["is_qpv", "right_a", "year_a", "right_b", "year_b", "cov"]
    assert len(got) == 2 * (6 * 5 // 2)  # 2 domains, 3 years x 2 rights
    assert len(read_covariances(got.rename(columns={"is_qpv": "territory"}), time="year")) == len(got)
    r = _run("change", w1, w2, "--rights", "cmuc,acs", "--by", "is_qpv", *design, "--years", "2015,2016",
             "--covariances-out", tmp_path / "ch.csv", "--min-n", 1, "--allow-below-threshold")  # fmt: skip
    assert r.exit_code == 0, r.output
    key = ["is_qpv", "right_a", "year_a", "right_b", "year_b"]
    m = pd.read_csv(tmp_path / "ch.csv").merge(got, on=key, suffixes=("", "_series"))
    assert len(m) == 12
    np.testing.assert_allclose(m["cov"], m["cov_series"], rtol=1e-9)


def _shown_at(paths, min_n):
    """(is_qpv, right, year) of the estimates of the panel with min_n eligible respondents, takers and non-takers,
    counted from the microdata (the disclosure rule)."""
    shown = set()
    for year, path in paths.items():
        w = pd.read_csv(path).melt(id_vars=["is_qpv"], value_vars=["cmuc", "acs"], var_name="right").dropna()
        sides = w.groupby(["is_qpv", "right", "value"]).size().unstack("value", fill_value=0)
        shown |= {(int(q), r, year) for (q, r), row in sides.iterrows() if row.min() >= min_n}
    return shown


def test_follow_up_covariances_leave_out_suppressed_estimates(tmp_path):
    """In the panel, is_qpv = 1 has 22 then 18 eligible respondents for acs, and fewer than 20 takers or
    non-takers for each right: at --min-n 20, change drops the pairs of every estimate suppressed in its wave,
    series those of a cell suppressed in any year (one pattern)."""
    w1, w2 = REF / "change_panel_wave1.csv", REF / "change_panel_wave2.csv"
    design = ["--strata", "stratum", "--fpc", "fpc", "--weight", "weight", "--scheme", "panel", "--min-n", 20]
    r = _run("change", w1, w2, "--rights", "cmuc,acs", "--by", "is_qpv", *design, "--years", "2015,2016",
             "--covariances-out", tmp_path / "ch.csv")  # fmt: skip
    assert r.exit_code == 0, r.output
    ch = pd.read_csv(tmp_path / "ch.csv")
    items = {(q, r_, y) for q, r_, y in zip(ch["is_qpv"], ch["right_a"], ch["year_a"])}
    items |= {(q, r_, y) for q, r_, y in zip(ch["is_qpv"], ch["right_b"], ch["year_b"])}
    shown = _shown_at({2015: w1, 2016: w2}, 20)
    assert shown and items == shown and (1, "acs", 2016) not in items
    by_domain = {q: sum(1 for k in shown if k[0] == q) for q in (0, 1)}
    assert len(ch) == sum(k * (k - 1) // 2 for k in by_domain.values())
    r = _run("series", "--rights", "cmuc,acs", "--by", "is_qpv", "--waves", f"2015={w1},2016={w2}", *design,
             "--out", tmp_path / "s", "--covariances-out", tmp_path / "s.csv")  # fmt: skip
    assert r.exit_code == 0, r.output
    s = pd.read_csv(tmp_path / "s.csv")
    assert not ((s["is_qpv"] == 1) & ((s["right_a"] == "acs") | (s["right_b"] == "acs"))).any()
    every_year = {(q, r_) for q, r_, _ in shown if all((q, r_, y) in shown for y in (2015, 2016))}
    kept = {(q, r_) for q, r_ in zip(s["is_qpv"], s["right_a"])} | {(q, r_) for q, r_ in zip(s["is_qpv"], s["right_b"])}
    assert kept == every_year


def test_round_trip_series_covariances_into_the_rao_yu_fit(territories):
    """series --by territory over three panel waves -> its yearly table and covariances -> territorial fit
    --model rao-yu --time year; the same fit from the engine's joint covariance matrix, both orders."""
    from nonrecours.estimation.series import estimate_series

    tmp, df = territories
    rng = np.random.default_rng(7)
    base = df.assign(id=np.arange(len(df)))
    waves, designs = {}, []
    for k, year in enumerate((2015, 2016, 2017)):
        w = base.copy()
        for r in RIGHTS.split(","):  # some recipients change their take-up from one wave to the next
            flip = (rng.uniform(size=len(w)) < 0.1 * k) & w[r].notna()
            w.loc[flip, r] = 1 - w.loc[flip, r]
        waves[year] = tmp / f"w{year}.csv"
        w.to_csv(waves[year], index=False)
        designs.append(SurveyDesign(w, weight="weight", strata="stratum", psu="psu"))
    spec = ",".join(f"{y}={p}" for y, p in waves.items())
    r = _run("series", "--rights", RIGHTS, "--by", "territory", "--waves", spec, *DESIGN, "--scheme", "panel",
             "--out", tmp / "series", "--covariances-out", tmp / "series_cov.csv", "--overwrite",
             "--min-n", 1, "--allow-below-threshold")  # fmt: skip  # every territory's yearly rate, for the fit
    assert r.exit_code == 0, r.output
    args = ["territorial", "fit", tmp / "series" / "series_yearly.csv", "--aux", tmp / "aux.csv", "--covariates",
            "x", "--model", "rao-yu", "--time", "year", "--overwrite"]  # fmt: skip
    r = _run(*args, "--covariances", tmp / "series_cov.csv", "--out", tmp / "ry.csv")
    assert r.exit_code == 0, r.output
    res = estimate_series(designs, [2015, 2016, 2017], RIGHTS.split(","), ["territory"], scheme="panel")
    assert res.joint is not None
    V = res.joint.factor.matrix()
    V = np.asarray(V.todense()) if hasattr(V, "todense") else np.asarray(V)
    y = res.yearly
    i, j = np.nonzero(y["territory"].to_numpy()[:, None] == y["territory"].to_numpy()[None, :])
    off = i != j
    full = pd.DataFrame(
        {
            "territory": y["territory"].to_numpy()[i[off]],
            "right_a": y["right"].to_numpy()[i[off]],
            "year_a": y["year"].to_numpy()[i[off]],
            "right_b": y["right"].to_numpy()[j[off]],
            "year_b": y["year"].to_numpy()[j[off]],
            "cov": V[i[off], j[off]],
        }
    )
    assert len(full) == 2 * len(pd.read_csv(tmp / "series_cov.csv"))
    want = fit_borrowing(pd.read_csv(tmp / "series" / "series_yearly.csv"), pd.read_csv(tmp / "aux.csv"), ["x"],
                         model="rao-yu", time="year", covariances=full).to_frame()  # fmt: skip
    got = pd.read_csv(tmp / "ry.csv")
    np.testing.assert_allclose(got["eblup"], want["eblup"], rtol=1e-9)
    np.testing.assert_allclose(got["mse"], want["mse"], rtol=1e-9)
    diag = fit_borrowing(pd.read_csv(tmp / "series" / "series_yearly.csv"), pd.read_csv(tmp / "aux.csv"), ["x"],
                         model="rao-yu", time="year").to_frame()  # fmt: skip
    assert np.abs(got["mse"] - diag["mse"]).max() > 1e-8  # the panel's covariances entered the fit
