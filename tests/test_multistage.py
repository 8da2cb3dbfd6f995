"""Designs of more than two stages, strata below the first stage and nest=True, against R survey 4.1.1.

Provenance: ``tests/reference/multistage_reference.json`` made by
``tests/reference/make_multistage_reference.R`` (R 4.2.2, survey 4.1.1, 15 significant digits) on
``apiclus2`` with a constructed third stage (``tests/reference/multistage/api_three_stage.csv``) and on
``apistrat`` with districts as PSUs (``nest = TRUE``). Lonely-PSU rule ``adjust`` in both.
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
from nonrecours.design.survey_design import Stage
from nonrecours.errors import DesignError, LonelyPSUWarning
from nonrecours.estimation import QualityThresholds, estimate_means, estimate_rates, estimate_totals

pytestmark = pytest.mark.filterwarnings("ignore::nonrecours.errors.LonelyPSUWarning")  # rule adjust, as in R

DIR = Path(__file__).resolve().parent / "reference"
REF = json.loads((DIR / "multistage_reference.json").read_text())
ALL = QualityThresholds(min_n=0, reliable_n=0, max_cv=1e9)


def close(got, want, rtol=1e-9):
    np.testing.assert_allclose(np.ravel(np.asarray(got, float)), np.ravel(np.asarray(want, float)), rtol=rtol, atol=0)


@pytest.fixture(scope="module")
def three() -> pd.DataFrame:
    return pd.read_csv(DIR / "multistage" / "api_three_stage.csv")


def _check(d, e):
    r = estimate_totals(d, "y", thresholds=ALL)
    close(r.estimate, e["total_y"])
    close(r.se, e["total_y_se"])
    r = estimate_means(d, "y", thresholds=ALL)
    close(r.estimate, e["mean_y"])
    close(r.se, e["mean_y_se"])
    r = estimate_rates(d, "z", thresholds=ALL)
    close(r.estimate, e["rate_z"])
    close(r.se, e["rate_z_se"])
    t = estimate_rates(d, "z", by="stype", thresholds=ALL).to_frame()
    assert t["stype"].tolist() == e["by_stype"]
    close(t["estimate"], e["by_rate_z"])
    close(t["se"], e["by_se_z"])


def test_three_stages_match_r(three):
    d = SurveyDesign(
        three, psu="dnum", fpc="fpc1", stages=(Stage("snum", fpc="fpc2"), Stage("cls", fpc="f3")), lonely_psu="adjust"
    )
    _check(d, REF["three_stage"])


def test_three_stages_with_strata_at_stage_two_match_r(three):
    with pytest.warns(LonelyPSUWarning, match="stage 2"):  # districts with one school of a type (R adjusts them too)
        estimate_means(
            SurveyDesign(
                three, psu="dnum", fpc="fpc1", stages=(Stage("snum", strata="stype", fpc="fpc2s"),), lonely_psu="adjust"
            ),
            "y",
        )
    d = SurveyDesign(
        three,
        psu="dnum",
        fpc="fpc1",
        stages=(Stage("snum", strata="stype", fpc="fpc2s"), Stage("cls", fpc="f3")),
        lonely_psu="adjust",
    )
    _check(d, REF["three_stage_stratified"])


def test_two_stage_shorthand_is_one_later_stage(three):
    a = SurveyDesign(three, psu="dnum", ssu="snum", fpc="fpc1", fpc2="fpc2", lonely_psu="adjust")
    b = SurveyDesign(three, psu="dnum", fpc="fpc1", stages=(Stage("snum", fpc="fpc2"),), lonely_psu="adjust")
    close(estimate_means(a, "y", thresholds=ALL).se, estimate_means(b, "y", thresholds=ALL).se, rtol=1e-14)


def test_nest_matches_r():
    strat = pd.read_csv(DIR / "api" / "apistrat.csv", dtype={"stype": str})
    e = REF["nest"]
    assert REF["nest_crossing_ids"] > 0  # the district ids do recur across strata
    with pytest.raises(DesignError, match="nest"):
        SurveyDesign(strat, weight="pw", strata="stype", psu="dnum")
    d = SurveyDesign(strat, weight="pw", strata="stype", psu="dnum", nest=True)
    r = estimate_means(d, "api00", thresholds=ALL)
    close(r.estimate, e["mean_api00"])
    close(r.se, e["mean_api00_se"])
    r = estimate_totals(d, "enroll", thresholds=ALL)
    close(r.estimate, e["total_enroll"])
    close(r.se, e["total_enroll_se"])
    t = estimate_rates(d, "sch.wide", by="stype", thresholds=ALL).to_frame()
    close(t["estimate"], e["by_rate"])
    close(t["se"], e["by_se"])
    assert d.degf() == e["degf"]


def test_cli_stages_and_nest(tmp_path, three):
    runner = CliRunner()
    out = tmp_path / "r.csv"
    res = runner.invoke(
        app,
        [
            "estimate",
            str(DIR / "multistage" / "api_three_stage.csv"),
            "--rights",
            "z",
            "--by",
            "stype",
            "--weight",
            "none",
            "--strata",
            "none",
            "--psu",
            "dnum",
            "--fpc",
            "fpc1",
            "--stages",
            "snum:stype:fpc2s,cls::f3",
            "--lonely-psu",
            "adjust",
            # R's SEs of every domain: one holds fewer than 11 takers or non-takers, which the disclosure rule
            # suppresses by default
            "--min-n",
            "0",
            "--allow-below-threshold",
            "--out",
            str(out),
        ],
    )
    assert res.exit_code == 0, res.output
    close(pd.read_csv(out)["se"], REF["three_stage_stratified"]["by_se_z"])
    src = tmp_path / "strat.csv"
    pd.read_csv(DIR / "api" / "apistrat.csv", dtype={"stype": str}).to_csv(src, index=False)
    out = tmp_path / "nest.csv"
    res = runner.invoke(
        app,
        [
            "estimate",
            str(src),
            "--rights",
            "sch.wide",
            "--by",
            "stype",
            "--weight",
            "pw",
            "--strata",
            "stype",
            "--psu",
            "dnum",
            "--fpc",
            "none",
            "--nest",
            "--min-n",  # R's values of every domain, those the disclosure rule suppresses too
            "0",
            "--allow-below-threshold",
            "--out",
            str(out),
        ],
    )
    assert res.exit_code == 0, res.output
    close(pd.read_csv(out)["se"], REF["nest"]["by_se"])
    res = runner.invoke(
        app, ["estimate", str(src), "--rights", "sch.wide", "--weight", "pw", "--strata", "stype", "--psu", "dnum"]
    )
    assert res.exit_code == 2 and "--nest" in res.output


def test_zero_weights_match_r(tmp_path):
    strat = pd.read_csv(DIR / "api" / "apistrat.csv", dtype={"stype": str})
    strat["pw0"] = np.where(np.arange(1, len(strat) + 1) % 7 == 0, 0.0, strat["pw"])
    e = REF["zero_weights"]
    with pytest.raises(Exception, match="zero"):
        SurveyDesign(strat, weight="pw0", strata="stype", fpc="fpc")  # refused unless asked for
    d = SurveyDesign(strat, weight="pw0", strata="stype", fpc="fpc", zero_weights=True)
    r = estimate_means(d, "api00", thresholds=ALL)
    close(r.estimate, e["mean_api00"])
    close(r.se, e["mean_api00_se"])
    assert d.degf() == e["degf"]
    # the same design as the subset of the full one (R's subset: prob = Inf)
    sub = SurveyDesign(strat, weight="pw", strata="stype", fpc="fpc").subset(strat["pw0"].to_numpy() > 0)
    close(estimate_means(sub, "api00", thresholds=ALL).se, r.se, rtol=1e-14)
    src = tmp_path / "z.csv"
    strat.to_csv(src, index=False)
    out = tmp_path / "r.csv"
    res = CliRunner().invoke(
        app,
        [
            "estimate",
            str(src),
            "--rights",
            "sch.wide",
            "--by",
            "stype",
            "--weight",
            "pw0",
            "--strata",
            "stype",
            "--fpc",
            "fpc",
            "--psu",
            "none",
            "--zero-weights",
            "--min-n",  # R's values of every domain, those the disclosure rule suppresses too
            "0",
            "--allow-below-threshold",
            "--out",
            str(out),
        ],
    )
    assert res.exit_code == 0, res.output
    t = pd.read_csv(out)
    close(t["estimate"], e["by_rate"])
    close(t["se"], e["by_se"])
