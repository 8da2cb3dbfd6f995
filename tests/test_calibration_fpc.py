"""Calibration of designs whose weights come from their FPC (no weight column) against R.

Provenance: ``tests/reference/calibration_fpc_reference.json`` made by
``tests/reference/make_calibration_fpc_reference.R`` (R 4.2.2, survey 4.1.1, 15 significant
digits): ``calibrate(svydesign(fpc=), ~stype + api99, calfun=...)`` on the api data.

Tolerances: linear calibration is a closed form (1e-9 relative). Raking and logit are
iterative fits; R stops at ``epsilon = 1e-13`` and the package at 1e-12 relative misfit,
so they are checked at 1e-9 as well. Measured worst relative error over weights, means and
SEs: 2e-11 (clus2), 1e-11 (clus1), 7e-13 (strat). Before the fix (weights of 1 used when the
design has no weight column) 7 of these cases failed.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from nonrecours.design import SurveyDesign
from nonrecours.estimation import QualityThresholds, estimate_means, estimate_totals
from nonrecours.weights import Margins, calibrate

REF_DIR = Path(__file__).resolve().parent / "reference"
REF = json.loads((REF_DIR / "calibration_fpc_reference.json").read_text())
ALL = QualityThresholds(min_n=0, reliable_n=0, max_cv=1e9)
RTOL = 1e-9


def _read(name: str) -> pd.DataFrame:
    return pd.read_csv(REF_DIR / "api" / f"{name}.csv", dtype={"stype": str})


DESIGNS = {
    "strat": lambda: SurveyDesign(_read("apistrat"), strata="stype", fpc="fpc"),
    "clus1": lambda: SurveyDesign(_read("apiclus1"), psu="dnum", fpc="fpc"),
    "clus2": lambda: SurveyDesign(_read("apiclus2"), psu="dnum", ssu="snum", fpc="fpc1", fpc2="fpc2"),
}
METHODS = {"raking": None, "linear": None, "logit": (0.5, 2.5)}


def _margins() -> Margins:
    pop = _read("apipop")
    rows = [("stype", s, float((pop["stype"] == s).sum())) for s in ("E", "H", "M")]
    rows.append(("api99", "", float(pop["api99"].sum())))
    return Margins.from_frame(pd.DataFrame(rows, columns=["variable", "category", "total"]))


def _rel(got, want) -> float:
    got, want = np.asarray(got, float), np.asarray(want, float)
    return float(np.max(np.abs(got - want) / np.abs(want)))


@pytest.mark.parametrize("name", list(DESIGNS))
def test_fpc_design_weights_match_r(name):
    assert _rel(DESIGNS[name]().weights, REF[f"{name}_design_weights"]["weights"]) < RTOL


@pytest.mark.parametrize("method", list(METHODS))
@pytest.mark.parametrize("name", list(DESIGNS))
def test_calibrating_fpc_design_matches_r(name, method):
    design = DESIGNS[name]()
    assert design.weight is None  # the weights come from the FPC
    cal = calibrate(design, _margins(), method=method, bounds=METHODS[method])
    ref = REF[f"{name}_{method}"]
    assert _rel(cal.weights, ref["weights"]) < RTOL
    m = estimate_means(cal, ["api00", "sch.wide"], thresholds=ALL).to_frame()
    assert _rel(m["estimate"], ref["mean_api00_schwide"]) < RTOL
    assert _rel(m["se"], ref["se_mean_api00_schwide"]) < RTOL
    t = estimate_totals(cal, "api00", thresholds=ALL).to_frame()
    assert _rel(t["estimate"], [ref["total_api00"]]) < RTOL
    assert _rel(t["se"], [ref["se_total_api00"]]) < RTOL


def test_raking_uses_fpc_weights_not_ones():
    """Weights 10 and 2 from the FPC, raked to two margins: 7.5/15/1.5/3 (issue's example).

    Hand check: base weights 10, 10 (stratum a: 2 of 20) and 2, 2 (stratum b: 2 of 4);
    raking to sex F=9, M=18 and stratum a=22.5, b=4.5 gives g = 0.75, 1.5 per sex,
    so weights 7.5, 15 (a) and 1.5, 3 (b).
    """
    df = pd.DataFrame({"h": ["a", "a", "b", "b"], "N": [20, 20, 4, 4], "sex": ["F", "M", "F", "M"]})
    design = SurveyDesign(df, strata="h", fpc="N")
    np.testing.assert_allclose(design.weights, [10, 10, 2, 2])
    m = Margins.from_frame(
        pd.DataFrame(
            {"variable": ["sex", "sex", "h", "h"], "category": ["F", "M", "a", "b"], "total": [9.0, 18.0, 22.5, 4.5]}
        )
    )
    np.testing.assert_allclose(calibrate(design, m, method="raking").weights, [7.5, 15, 1.5, 3], rtol=1e-12)
