"""PPS-without-replacement variances against R survey 4.1.1 (issue 19).

Provenance: ``tests/reference/pps_reference.json`` made by ``tests/reference/make_pps_reference.R``
(R 4.2.2, survey 4.1.1, sampling 2.9, 15 significant digits) on R survey's ``election_pps``
(with ``election_jointprob``) and on a stratified Sampford sample drawn by ``nonrecours sample``
(``tests/reference/pps/sampford_sample.csv`` and the joint probabilities it wrote beside it).
Tolerance 1e-9 relative (closed forms).
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
from nonrecours.design.pps_variance import JointProbabilities, pps_matrix
from nonrecours.errors import DesignError
from nonrecours.estimation import QualityThresholds, estimate_rates, estimate_ratio, estimate_totals

DIR = Path(__file__).resolve().parent / "reference"
REF = json.loads((DIR / "pps_reference.json").read_text())
ALL = QualityThresholds(min_n=0, reliable_n=0, max_cv=1e9)
METHODS = ["brewer", "overton", "hartley-rao", "ht", "yg"]
RTOL = 1e-9


def close(got, want, rtol=RTOL):
    np.testing.assert_allclose(np.ravel(np.asarray(got, float)), np.ravel(np.asarray(want, float)), rtol=rtol, atol=0)


@pytest.fixture(scope="module")
def election() -> pd.DataFrame:
    return pd.read_csv(DIR / "pps" / "election_pps.csv")


@pytest.fixture(scope="module")
def sampford() -> pd.DataFrame:
    return pd.read_csv(DIR / "pps" / "sampford_sample.csv")


def _joint(name: str) -> JointProbabilities:
    return JointProbabilities.from_frame(pd.read_csv(DIR / "pps" / name))


@pytest.mark.parametrize("method", METHODS)
def test_election_every_method_matches_r(election, method):
    joint = _joint("election_joint.csv") if method in ("ht", "yg") else None
    d = SurveyDesign(election, psu="psu", fpc="p", pps=method, joint=joint)
    e = REF[method]["election"]
    r = estimate_totals(d, "Bush", thresholds=ALL)
    close(r.estimate, e["total_bush"])
    close(r.se, e["total_bush_se"])
    r = estimate_rates(d, "kerry_wins", thresholds=ALL)
    close(r.estimate, e["rate_kerry_wins"])
    close(r.se, e["rate_kerry_wins_se"])
    r = estimate_ratio(d, "Kerry", "votes", thresholds=ALL)
    close(r.estimate, e["ratio_kerry_votes"])
    close(r.se, e["ratio_kerry_votes_se"])
    r = estimate_rates(d, "kerry_wins", by="big", thresholds=ALL).to_frame()
    assert r["big"].tolist() == e["by_big"]
    close(r["estimate"], e["by_big_rate"])
    close(r["se"], e["by_big_se"])


@pytest.mark.parametrize("method", METHODS)
def test_sampford_sample_every_method_matches_r(sampford, method):
    joint = _joint("sampford_sample.joint.csv") if method in ("ht", "yg") else None
    d = SurveyDesign(sampford, strata="region", psu="psu", fpc="pi", pps=method, joint=joint)
    e = REF[method]["sampford"]
    r = estimate_totals(d, "takers", thresholds=ALL)
    close(r.estimate, e["total_takers"])
    close(r.se, e["total_takers_se"])
    r = estimate_rates(d, "high", thresholds=ALL)
    close(r.estimate, e["rate_high"])
    close(r.se, e["rate_high_se"])
    r = estimate_ratio(d, "takers", "eligible", thresholds=ALL)
    close(r.estimate, e["ratio_takers_eligible"])
    close(r.se, e["ratio_takers_eligible_se"])
    r = estimate_totals(d, "takers", by="region", thresholds=ALL).to_frame()
    assert r["region"].tolist() == e["by_region"]
    close(r["estimate"], e["by_region_total"])
    close(r["se"], e["by_region_se"])


def test_brewer_two_stage_matches_r():
    two = pd.read_csv(DIR / "pps" / "election_two_stage.csv")
    d = SurveyDesign(two, psu="psu", ssu="ssu", fpc="p", fpc2="f2", pps="brewer")
    e = REF["brewer_two_stage"]
    r = estimate_totals(d, "y", thresholds=ALL)
    close(r.estimate, e["total_y"])
    close(r.se, e["total_y_se"])
    r = estimate_rates(d, "z", thresholds=ALL)
    close(r.estimate, e["rate_z"])
    close(r.se, e["rate_z_se"])


def test_sampford_joint_agrees_with_r_sampling():
    # nonrecours' exact pi_ij vs sampling::UPsampfordpi2 on the frame (computed by the R script)
    assert REF["_about"]["sampford_joint_max_rel_diff_vs_UPsampfordpi2"] < 1e-9


def test_cli_sample_writes_the_joint_file_estimate_reads_it(tmp_path, sampford):
    runner = CliRunner()
    alloc = tmp_path / "alloc.csv"
    pd.DataFrame({"region": ["north", "south"], "stratum": ["north", "south"], "n_h": [9, 7]}).to_csv(
        alloc, index=False
    )
    out = tmp_path / "s.csv"
    res = runner.invoke(
        app,
        [
            "sample",
            str(DIR / "pps" / "frame.csv"),
            "--allocation",
            str(alloc),
            "--method",
            "sampford",
            "--seed",
            "7",
            "--size-col",
            "pop",
            "--out",
            str(out),
        ],
    )
    assert res.exit_code == 0, res.output
    pd.testing.assert_frame_equal(pd.read_csv(out), sampford)  # the reference sample is this draw
    joint = pd.read_csv(tmp_path / "s.joint.csv")
    ref = pd.read_csv(DIR / "pps" / "sampford_sample.joint.csv")
    close(joint["pi_ij"], ref["pi_ij"], rtol=1e-14)
    for method in ("yg", "brewer"):
        table = tmp_path / f"est_{method}.csv"
        res = runner.invoke(
            app,
            [
                "estimate",
                str(out),
                "--rights",
                "high",
                "--strata",
                "region",
                "--fpc",
                "pi",
                "--weight",
                "none",
                "--pps",
                method,
                "--min-n",  # R's SE of a sample of a few units: fewer than 11 takers, suppressed by default
                "0",
                "--allow-below-threshold",
                "--out",
                str(table),
            ],
        )
        assert res.exit_code == 0, res.output
        close(pd.read_csv(table)["se"], REF[method]["sampford"]["rate_high_se"])


def test_cli_joint_file_and_refusals(tmp_path, election):
    runner = CliRunner()
    sample = tmp_path / "el.csv"
    election.to_csv(sample, index=False)
    table = tmp_path / "t.csv"
    res = runner.invoke(
        app,
        [
            "estimate",
            str(sample),
            "--rights",
            "kerry_wins",
            "--psu",
            "psu",
            "--fpc",
            "p",
            "--pps",
            "ht",
            "--joint",
            str(DIR / "pps" / "election_joint.csv"),
            "--out",
            str(table),
        ],
    )
    assert res.exit_code == 0, res.output
    close(pd.read_csv(table)["se"], REF["ht"]["election"]["rate_kerry_wins_se"])
    res = runner.invoke(
        app, ["estimate", str(sample), "--rights", "kerry_wins", "--psu", "psu", "--fpc", "p", "--pps", "yg"]
    )
    assert res.exit_code == 2 and "joint" in res.output
    res = runner.invoke(
        app, ["estimate", str(sample), "--rights", "kerry_wins", "--psu", "psu", "--fpc", "p", "--pps", "sen"]
    )
    assert res.exit_code == 2 and "--pps" in res.output


def test_pps_checks(election):
    with pytest.raises(DesignError, match="inclusion probabilities"):
        SurveyDesign(election.assign(N=100.0), psu="psu", fpc="N", pps="brewer")
    with pytest.raises(DesignError, match="joint"):
        SurveyDesign(election, psu="psu", fpc="p", pps="yg")
    j = _joint("election_joint.csv")
    with pytest.raises(DesignError, match="missing"):
        SurveyDesign(
            election, psu="psu", fpc="p", pps="ht", joint=JointProbabilities(j.psu_i[1:], j.psu_j[1:], j.pi_ij[1:])
        )


def test_yg_matrix_is_the_pairwise_form():
    # z'(D - diag(D1))z = -1/2 sum_ij D_ij (z_i - z_j)^2 (Sen-Yates-Grundy)
    rng = np.random.default_rng(3)
    pi = np.array([0.2, 0.5, 0.7, 0.6])
    M = pps_matrix("overton", pi, np.zeros(4, np.int64))
    Y = M - np.diag(M.sum(axis=1))
    z = rng.normal(size=4)
    D = M.copy()
    np.fill_diagonal(D, 0)
    assert z @ Y @ z == pytest.approx(-0.5 * np.sum(D * (z[:, None] - z[None, :]) ** 2), rel=1e-12)


# -- Hartley-Rao with the population's sum of squared inclusion probabilities (R's HR(psum)) -----------------------
# Provenance: tests/reference/pps_psum_reference.json made by tests/reference/make_pps_psum_reference.R
# (R 4.2.2, survey 4.1.1, 15 significant digits). Tolerance 1e-9 relative.
PSUM = json.loads((DIR / "pps_psum_reference.json").read_text())


def test_hartley_rao_psum_election_matches_r(election):
    e = PSUM["election"]
    d = SurveyDesign(election, psu="psu", fpc="p", pps="hartley-rao", pps_psum=e["psum"])
    r = estimate_totals(d, "Bush", thresholds=ALL)
    close(r.se, e["total_bush_se"])
    close(estimate_rates(d, "kerry_wins", thresholds=ALL).se, e["rate_kerry_wins_se"])
    close(estimate_ratio(d, "Kerry", "votes", thresholds=ALL).se, e["ratio_kerry_votes_se"])
    # the population's psum is not the sample's estimate: the SE differs from HR()'s
    without = estimate_totals(SurveyDesign(election, psu="psu", fpc="p", pps="hartley-rao"), "Bush", thresholds=ALL)
    assert abs(float(without.se[0]) / float(r.se[0]) - 1) > 0.01


def test_hartley_rao_psum_by_stratum_column_matches_r(sampford):
    e = PSUM["sampford"]
    data = sampford.assign(psum=sampford["region"].map(e["psum"]))
    d = SurveyDesign(data, strata="region", psu="psu", fpc="pi", pps="hartley-rao", pps_psum="psum")
    close(estimate_totals(d, "takers", thresholds=ALL).se, e["total_takers_se"])
    close(estimate_ratio(d, "takers", "eligible", thresholds=ALL).se, e["ratio_takers_eligible_se"])


def test_hartley_rao_psum_refusals(election, sampford):
    with pytest.raises(DesignError, match="parameter pps_psum.*Hartley-Rao variance only"):
        SurveyDesign(election, psu="psu", fpc="p", pps="overton", pps_psum=0.1)
    with pytest.raises(DesignError, match="parameter pps_psum.*positive number"):
        SurveyDesign(election, psu="psu", fpc="p", pps="hartley-rao", pps_psum=-1.0)
    data = sampford.assign(psum=np.arange(len(sampford), dtype=float) + 1)  # not constant within a stratum
    with pytest.raises(DesignError, match="one positive number per stratum"):
        SurveyDesign(data, strata="region", psu="psu", fpc="pi", pps="hartley-rao", pps_psum="psum")


def test_cli_pps_psum_matches_r(tmp_path, election):
    e = PSUM["election"]
    path = tmp_path / "el.csv"
    election.assign(big=election["big"]).to_csv(path, index=False)
    out = tmp_path / "t.csv"
    args = ["estimate", str(path), "--stat", "ratio", "--variables", "Kerry/votes"]
    args += ["--psu", "psu", "--fpc", "p", "--pps", "hartley-rao", "--pps-psum", repr(e["psum"]), "--min-n", "11"]
    res = CliRunner().invoke(app, [*args, "--out", str(out)])
    assert res.exit_code == 0, res.output
    close(pd.read_csv(out)["se"], e["ratio_kerry_votes_se"])
    wrong = [a if a != "hartley-rao" else "overton" for a in args]
    res = CliRunner().invoke(app, [*wrong, "--out", str(tmp_path / "x.csv")])
    assert res.exit_code == 2 and "--pps-psum" in res.output and "Traceback" not in res.output
