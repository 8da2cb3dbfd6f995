"""``territorial fit --model rao-yu | multivariate | spatial`` and ``territorial neighbours`` (issue 26).

The command's output is compared with the R references of ``test_borrow_reference.py`` (provenance and
the 1e-6 tolerance in its docstring): the "done when" of the issue, on files written by someone else.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from nonrecours.cli.main import app

REF = Path(__file__).parent / "reference"
_REF = json.loads((REF / "borrow_reference.json").read_text())


def _run(*args):
    return CliRunner().invoke(app, ["territorial", *map(str, args)])


@pytest.fixture(scope="module")
def inputs(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("borrow")
    d = pd.read_csv(REF / "borrow" / "direct.csv")
    d.assign(estimate=d["direct"], se=np.sqrt(d["vardir"]), n=100)[
        ["territory", "year", "right", "n", "estimate", "se"]
    ].to_csv(tmp / "direct.csv", index=False)
    d[d["right"] == "cmuc"][["territory", "year", "x1", "x2"]].to_csv(tmp / "aux.csv", index=False)
    return tmp


@pytest.mark.parametrize("model", ["rao-yu", "multivariate", "spatial"])
def test_territorial_fit_reproduces_the_anchors(inputs, model):
    out, models = inputs / f"{model}.csv", inputs / f"{model}_models.csv"
    r = _run(
        "fit",
        inputs / "direct.csv",
        "--aux",
        inputs / "aux.csv",
        "--covariates",
        "x1,x2",
        "--model",
        model,
        "--time",
        "year",
        "--covariances",
        REF / "borrow" / "covariances.csv",
        "--neighbours",
        REF / "borrow" / "neighbours.csv",
        "--out",
        out,
        "--models-out",
        models,
    )
    assert r.exit_code == 0, r.output
    tab = pd.read_csv(out, dtype={"territory": str}).set_index(["territory", "year", "right"])
    if model == "rao-yu":
        refs = [
            (x["territory"], x["year"], [x["right"]] * len(x["year"]), x["eblup"], x["mse"])
            for x in _REF["rao_yu"]
            if x["method"] == "REML" and x.get("y_include") is None
        ]
    elif model == "multivariate":
        refs = [
            (x["territory"], [x["year"]] * 36, [k] * 36, x["eblup"][i], x["mse"][i])
            for x in _REF["mfh1"]
            for i, k in enumerate(x["rights"])
        ]
    else:
        refs = [
            (x["territory"], [x["year"]] * 36, [x["right"]] * 36, x["eblup"], x["mse"])
            for x in _REF["sfh"]
            if x["method"] == "REML"
        ]
    for terr, years, rights, eblup, mse in refs:
        sub = tab.loc[list(zip(terr, years, rights))]
        np.testing.assert_allclose(sub["eblup"], eblup, rtol=1e-6)  # written with full precision
        np.testing.assert_allclose(sub["mse"], mse, rtol=1e-6)
    m = pd.read_csv(models)
    assert {"model", "parameter", "estimate", "se", "at_bound", "converged"} <= set(m.columns)
    assert (m["model"] == model).all()


def test_flags_that_do_not_apply_are_refused(inputs):
    base = ["fit", inputs / "direct.csv", "--aux", inputs / "aux.csv", "--covariates", "x1", "--out", inputs / "x.csv"]
    r = _run(*base, "--model", "rao-yu")
    assert r.exit_code == 2 and "--time" in r.output
    r = _run(*base, "--model", "spatial", "--time", "year")
    assert r.exit_code == 2 and "--neighbours" in r.output
    r = _run(*base, "--model", "rao-yu", "--time", "year", "--transform", "arcsin")
    assert r.exit_code == 2 and "--transform" in r.output
    r = _run(*base, "--model", "kriging", "--time", "year")
    assert r.exit_code == 2 and "--model" in r.output
    assert not (inputs / "x.csv").exists()


def test_neighbours_command(tmp_path):
    feats = [
        {
            "type": "Feature",
            "properties": {"code_qp": f"Q{i}"},
            "geometry": {
                "type": "Polygon",
                "coordinates": [[[x, 45.0], [x + 0.01, 45.0], [x + 0.01, 45.01], [x, 45.01], [x, 45.0]]],
            },
        }
        for i, x in enumerate((2.0, 2.01, 2.0205))
    ]
    (tmp_path / "qpv.geojson").write_text(json.dumps({"type": "FeatureCollection", "features": feats}))
    r = _run("neighbours", tmp_path / "qpv.geojson", "--out", tmp_path / "nb.csv", "--distance", 100)
    assert r.exit_code == 0, r.output
    nb = pd.read_csv(tmp_path / "nb.csv")
    assert nb[["territory_a", "territory_b", "relation"]].values.tolist() == [
        ["Q0", "Q1", "boundary"],
        ["Q1", "Q0", "boundary"],
        ["Q1", "Q2", "distance"],
        ["Q2", "Q1", "distance"],
    ]
    r = _run("neighbours", tmp_path / "qpv.geojson", "--out", tmp_path / "nb2.csv", "--contiguity", "bishop")
    assert r.exit_code == 2 and "--contiguity" in r.output
