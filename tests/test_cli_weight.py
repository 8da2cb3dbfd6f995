"""``nonrecours weight``: output file, sidecar, design rebuilt by load_weighted_design, errors."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from _weighting_data import clustered_sample, population_margins
from typer.testing import CliRunner

from nonrecours.cli.main import app
from nonrecours.estimation import QualityThresholds, estimate_rates
from nonrecours.weights.sidecar import load_weighted_design

runner = CliRunner()


@pytest.fixture()
def files(tmp_path):
    df = clustered_sample(n_strata=3, psu_per_stratum=20, per_psu=8)
    df.to_csv(tmp_path / "sample.csv", index=False)
    resp = df[df.responded == 1]
    population_margins(resp.assign(weight=resp.weight * len(df) / len(resp))).to_csv(
        tmp_path / "margins.csv", index=False
    )
    return tmp_path, df


def run(*args):
    return runner.invoke(app, ["weight", *map(str, args)])


def test_weight_pipeline_and_reload(files):
    tmp, df = files
    out = tmp / "weighted.csv"
    r = run(
        tmp / "sample.csv",
        "--responded",
        "responded",
        "--nonresponse",
        "classes:benefit,is_qpv",
        "--calibrate",
        tmp / "margins.csv",
        "--method",
        "logit",
        "--bounds",
        "0.5,3",
        "--trim",
        "4",
        "--replicates",
        "bootstrap:50",
        "--seed",
        "1",
        "--out",
        out,
    )
    assert r.exit_code == 0, r.output
    w = pd.read_csv(out)
    assert len(w) == len(df)  # every row kept
    assert {"status", "design_weight", "nr_weight", "trim_weight", "weight", "repw_1", "repw_50"} <= set(w.columns)
    assert np.all(w.loc[w.status == "nonrespondent", "weight"] == 0)
    meta = json.loads((tmp / "weighted.design.json").read_text())
    assert meta["design"]["strata"] == "stratum" and meta["design"]["psu"] == "psu" and meta["design"]["fpc"] == "fpc"
    assert meta["calibration"]["method"] == "logit" and meta["calibration"]["bounds"] == [0.5, 3.0]
    assert meta["calibration"]["base_weight"] == "trim_weight"
    assert meta["replicates"]["type"] == "bootstrap" and len(meta["replicates"]["columns"]) == 50
    des = load_weighted_design(out)
    assert len(des.calibration) == 1 and des.replicates.weights.shape == (len(df), 50)
    np.testing.assert_allclose(des.weights, w["weight"], rtol=1e-12)
    every = QualityThresholds(min_n=0, reliable_n=0)  # every SE (a benefit has fewer than 11 non-takers)
    taylor = estimate_rates(des.with_replicates(None), "tpn", by="benefit", thresholds=every).to_frame()
    rep = estimate_rates(des, "tpn", by="benefit", thresholds=every).to_frame()
    np.testing.assert_allclose(rep["estimate"], taylor["estimate"], rtol=1e-12)
    assert np.all(rep["se"] > 0)
    # margins hold for replicate weights too (each replicate re-calibrated)
    m = pd.read_csv(tmp / "margins.csv", dtype={"category": str})
    t = m[m.variable == "benefit"].set_index("category")["total"]
    W = w[meta["replicates"]["columns"]].to_numpy()
    sums = pd.DataFrame(W).groupby(w["benefit"].to_numpy()).sum()
    np.testing.assert_allclose(sums.loc[t.index].to_numpy(), np.repeat(t.to_numpy()[:, None], 50, 1), rtol=1e-9)


def test_jkn_and_seed_reproducible(files):
    tmp, _ = files
    args = [
        tmp / "sample.csv",
        "--responded",
        "responded",
        "--nonresponse",
        "propensity:benefit,age",
        "--calibrate",
        tmp / "margins.csv",
        "--method",
        "raking",
    ]
    assert run(*args, "--replicates", "jkn", "--out", tmp / "a.csv").exit_code == 0
    meta = json.loads((tmp / "a.design.json").read_text())
    assert meta["replicates"]["type"] == "JKn" and meta["replicates"]["scale"] == 1.0
    for name in ("b.csv", "c.csv"):
        assert run(*args, "--replicates", "bootstrap:20", "--seed", "3", "--out", tmp / name).exit_code == 0
    assert pd.read_csv(tmp / "b.csv").equals(pd.read_csv(tmp / "c.csv"))


@pytest.mark.parametrize(
    "edit,extra,pattern",
    [
        (lambda m: pd.concat([m, pd.DataFrame([("benefit", "XYZ", 1.0)], columns=m.columns)]), [], "no respondent has"),
        (lambda m: m[m.category != "ASS"], [], "missing from the margins.*benefit=ASS"),
        (lambda m: m.assign(total=np.where(m.category == "1", m.total + 100, m.total)), [], "different totals"),
        (lambda m: m, ["--method", "logit"], "needs bounds"),
        (lambda m: m, ["--replicates", "bootstrap:20"], "seed"),
        (lambda m: m, ["--bounds", "0.99,1.01", "--method", "truncated"], "infeasible"),
    ],
)
def test_errors_write_nothing(files, edit, extra, pattern):
    tmp, _ = files
    m = edit(pd.read_csv(tmp / "margins.csv", dtype={"category": str}))
    m.to_csv(tmp / "bad.csv", index=False)
    r = run(
        tmp / "sample.csv",
        "--responded",
        "responded",
        "--nonresponse",
        "classes:benefit",
        "--calibrate",
        tmp / "bad.csv",
        *extra,
        "--out",
        tmp / "o.csv",
    )
    assert r.exit_code == 2
    import re

    assert re.search(pattern, " ".join(r.output.split())), r.output
    assert not (tmp / "o.csv").exists() and not (tmp / "o.design.json").exists()


def test_refuses_overwriting_input(files):
    tmp, _ = files
    r = run(tmp / "sample.csv", "--out", tmp / "sample.csv")
    assert r.exit_code == 2 and "overwrite" in r.output


def test_estimate_uses_weighted_file_and_its_replicates(files):
    """`nonrecours estimate` on a weighted file: Taylor with calibration residuals, or --replicates."""
    tmp, _df = files
    out = tmp / "weighted.csv"
    r = run(
        tmp / "sample.csv",
        "--responded",
        "responded",
        "--nonresponse",
        "classes:benefit,is_qpv",
        "--calibrate",
        tmp / "margins.csv",
        "--method",
        "raking",
        "--replicates",
        "bootstrap:40",
        "--seed",
        "3",
        "--out",
        out,
    )
    assert r.exit_code == 0, r.output
    des = load_weighted_design(out)
    r_t = runner.invoke(app, ["estimate", str(out), "--rights", "tpn", "--by", "benefit", "--out", str(tmp / "t.csv")])
    r_r = runner.invoke(
        app, ["estimate", str(out), "--rights", "tpn", "--by", "benefit", "--replicates", "--out", str(tmp / "r.csv")]
    )
    assert r_t.exit_code == 0 and r_r.exit_code == 0, r_t.output + r_r.output
    t, rep = pd.read_csv(tmp / "t.csv"), pd.read_csv(tmp / "r.csv")
    want_t = estimate_rates(des.with_replicates(None), "tpn", by="benefit").to_frame()
    want_r = estimate_rates(des, "tpn", by="benefit").to_frame()
    np.testing.assert_allclose(t["se"], want_t["se"], rtol=1e-9)
    np.testing.assert_allclose(rep["se"], want_r["se"], rtol=1e-9)
    assert not np.allclose(t["se"], rep["se"])  # two different variance methods
    # a design option beside the sidecar is refused; --replicates without a sidecar too
    bad = runner.invoke(app, ["estimate", str(out), "--rights", "tpn", "--strata", "stratum"])
    assert bad.exit_code == 2 and "sidecar" in bad.output
    bad = runner.invoke(app, ["estimate", str(tmp / "sample.csv"), "--rights", "tpn", "--replicates"])
    assert bad.exit_code == 2 and "sidecar" in bad.output


def test_bad_weight_of_weighted_file_is_pointed_at_by_line(files):
    """A weighted file whose weight column was edited: the message gives the lines, expected and a hint,
    never the cell's content."""
    tmp, _df = files
    out = tmp / "weighted.csv"
    r = run(tmp / "sample.csv", "--responded", "responded", "--nonresponse", "classes:benefit", "--out", out)
    assert r.exit_code == 0, r.output
    w = pd.read_csv(out, dtype=str)
    w.loc[3, "weight"] = "SECRET42"
    w.loc[7, "weight"] = "-1.5"
    w.to_csv(out, index=False)
    r = runner.invoke(app, ["estimate", str(out), "--rights", "tpn", "--out", str(tmp / "e.csv")])
    assert r.exit_code == 2 and "Traceback" not in r.output
    assert "lines 5, 9" in r.output and "expected" in r.output and "Hint" in r.output
    assert "SECRET42" not in r.output and "-1.5" not in r.output
    assert not (tmp / "e.csv").exists()
