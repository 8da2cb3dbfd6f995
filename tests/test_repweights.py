"""Replicate weights supplied with the data, from the command line, against R survey 4.1.1 (issue 19).

Provenance: ``tests/reference/repweights_reference.json`` and the samples
``tests/reference/repweights/apistrat_<type>.csv`` made by
``tests/reference/make_repweights_reference.R`` (R 4.2.2, survey 4.1.1): R's
``as.svrepdesign`` replicate weights on ``apistrat``, written to CSV and read back with
``svrepdesign(repweights = "rw_[0-9]+", type, scale, rscales, rho, mse)``. Tolerance 1e-9 relative.
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
from nonrecours.design.repweights import supplied_replicates
from nonrecours.errors import OptionError
from nonrecours.estimation import QualityThresholds, estimate_means, estimate_totals

DIR = Path(__file__).resolve().parent / "reference"
REF = json.loads((DIR / "repweights_reference.json").read_text())
ALL = QualityThresholds(min_n=0, reliable_n=0, max_cv=1e9)
TYPES = ["JK1", "JKn", "BRR", "Fay", "bootstrap", "successive-difference"]


def close(got, want, rtol=1e-9):
    np.testing.assert_allclose(np.ravel(np.asarray(got, float)), np.ravel(np.asarray(want, float)), rtol=rtol, atol=0)


def _options(kind: str) -> list[str]:
    opts = ["--repweights", "rw_*", "--rep-type", kind]
    if REF[kind]["scale"] is not None:
        opts += ["--rep-scale", repr(float(REF[kind]["scale"]))]
    if kind == "JKn":
        opts += ["--rep-rscales", str(DIR / "repweights" / "apistrat_JKn_rscales.csv")]
    if kind == "Fay":
        opts += ["--rep-rho", "0.3"]
    return opts


@pytest.mark.parametrize("mse", [False, True])
@pytest.mark.parametrize("kind", TYPES)
def test_cli_repweights_match_r(tmp_path, kind, mse):
    e = REF[kind]["mse" if mse else "centred"]
    sample = DIR / "repweights" / f"apistrat_{kind}.csv"
    out = tmp_path / "rates.csv"
    base = ["estimate", str(sample), "--weight", "pw", "--strata", "none", "--psu", "none", *_options(kind)]
    base += ["--mse"] if mse else []
    res = CliRunner().invoke(app, [*base, "--rights", "sch.wide", "--out", str(out)])
    assert res.exit_code == 0, res.output
    t = pd.read_csv(out)
    close(t["estimate"], e["rate_schwide"])
    close(t["se"], e["rate_schwide_se"])
    out = tmp_path / "by.csv"
    res = CliRunner().invoke(app, [*base, "--rights", "ell20", "--by", "stype", "--out", str(out)])
    assert res.exit_code == 0, res.output
    t = pd.read_csv(out)
    assert t["stype"].tolist() == e["by_stype"]
    close(t["estimate"], e["by_rate_ell20"])
    close(t["se"], e["by_se_ell20"])
    close(t["df"], [e["degf"]] * 3)  # R's degf of a replicate design: rank - 1


@pytest.mark.parametrize("kind", ["JK1", "Fay", "successive-difference"])
def test_api_means_totals_match_r(kind):
    data = pd.read_csv(DIR / "repweights" / f"apistrat_{kind}.csv")
    rho = 0.3 if kind == "Fay" else None
    scale = REF[kind]["scale"]
    d = SurveyDesign(data, weight="pw").with_replicates(
        supplied_replicates(data, "rw_*", type=kind, scale=scale, rho=rho)
    )
    e = REF[kind]["centred"]
    close(estimate_means(d, "api00", thresholds=ALL).se, e["mean_api00_se"])
    close(estimate_totals(d, "enroll", thresholds=ALL).se, e["total_enroll_se"])


def test_repweights_refusals(tmp_path):
    data = pd.read_csv(DIR / "repweights" / "apistrat_JKn.csv")
    with pytest.raises(OptionError, match="rscales"):
        supplied_replicates(data, "rw_*", type="JKn")
    with pytest.raises(OptionError, match="own scale"):
        supplied_replicates(data, "rw_*", type="successive-difference", scale=1.0)
    with pytest.raises(OptionError, match="rho"):
        supplied_replicates(data, "rw_*", type="Fay")
    with pytest.raises(OptionError, match="pattern"):
        supplied_replicates(data, "zz_*", type="JK1")
    res = CliRunner().invoke(
        app,
        [
            "estimate",
            str(DIR / "repweights" / "apistrat_JK1.csv"),
            "--rights",
            "sch.wide",
            "--repweights",
            "rw_*",
            "--rep-type",
            "jackknife",
        ],
    )
    assert res.exit_code == 2 and "--rep-type" in res.output
    res = CliRunner().invoke(
        app, ["estimate", str(DIR / "repweights" / "apistrat_JK1.csv"), "--rights", "sch.wide", "--mse"]
    )
    assert res.exit_code == 2 and "--repweights" in res.output
