"""``territorial fit --model spatio-temporal`` and ``fit_borrowing(model="spatio-temporal")`` (issue 26).

The command's output is compared with the references of ``test_stfh_reference.py`` (R sae's ``eblupSTFH`` on
``tests/reference/stfh/grid.csv``; provenance and the 1e-6 tolerance in its docstring), written as the files a
user gives: a direct file with ``se``, a territories file with a ``year`` column, the neighbours file.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from nonrecours.cli.main import app
from nonrecours.errors import OptionError
from nonrecours.territorial.borrowing import fit_borrowing

REF = Path(__file__).parent / "reference"
_GRID = next(f for f in json.loads((REF / "stfh_reference.json").read_text())["fits"] if f["case"] == "grid")


def _run(*args):
    return CliRunner().invoke(app, ["territorial", *map(str, args)])


@pytest.fixture(scope="module")
def tables():
    g = pd.read_csv(REF / "stfh" / "grid.csv")
    direct = g.assign(right="acs", estimate=g["direct"], se=np.sqrt(g["vardir"]), n=100)[
        ["territory", "year", "right", "n", "estimate", "se"]
    ]
    aux = g[["territory", "year", "x1", "x2"]]
    return direct, aux, pd.read_csv(REF / "borrow" / "neighbours.csv")


def test_territorial_fit_spatio_temporal_reproduces_sae(tables, tmp_path):
    direct, aux, _ = tables
    direct.to_csv(tmp_path / "direct.csv", index=False)
    aux.to_csv(tmp_path / "aux.csv", index=False)
    out, models = tmp_path / "st.csv", tmp_path / "st_models.csv"
    r = _run(
        "fit",
        tmp_path / "direct.csv",
        "--aux",
        tmp_path / "aux.csv",
        "--covariates",
        "x1,x2",
        "--model",
        "spatio-temporal",
        "--time",
        "year",
        "--neighbours",
        REF / "borrow" / "neighbours.csv",
        "--out",
        out,
        "--models-out",
        models,
    )
    assert r.exit_code == 0, r.output
    tab = pd.read_csv(out).set_index(["territory", "year"]).loc[list(zip(_GRID["territory"], _GRID["year"]))]
    np.testing.assert_allclose(tab["eblup"], _GRID["eblup"], rtol=1e-6)
    np.testing.assert_allclose(tab["mse"], _GRID["mse"], rtol=1e-6)
    assert tab["in_sample"].all()
    m = pd.read_csv(models)
    assert list(m["parameter"]) == ["sigma2_1", "rho1", "sigma2_2", "rho2"]
    assert (m["model"] == "spatio-temporal").all() and (m["method"] == "reml").all() and m["converged"].all()
    np.testing.assert_allclose(m["estimate"], _GRID["estimate"], rtol=1e-6)
    np.testing.assert_allclose(m["se"], _GRID["std_error"], rtol=1e-6)


def test_spatio_temporal_options_are_checked(tables, tmp_path):
    direct, aux, nb = tables
    direct.to_csv(tmp_path / "direct.csv", index=False)
    aux.to_csv(tmp_path / "aux.csv", index=False)
    base = [
        "fit",
        tmp_path / "direct.csv",
        "--aux",
        tmp_path / "aux.csv",
        "--covariates",
        "x1",
        "--out",
        tmp_path / "x.csv",
    ]
    r = _run(*base, "--model", "spatio-temporal", "--time", "year")
    assert r.exit_code == 2 and "--neighbours" in r.output
    r = _run(*base, "--model", "spatio-temporal", "--neighbours", REF / "borrow" / "neighbours.csv")
    assert r.exit_code == 2 and "--time" in r.output
    nbf = REF / "borrow" / "neighbours.csv"
    r = _run(*base, "--model", "spatio-temporal", "--time", "year", "--neighbours", nbf, "--method", "ml")
    assert r.exit_code == 2 and "--method" in r.output and "REML only" in r.output
    assert not (tmp_path / "x.csv").exists()
    with pytest.raises(OptionError, match="neighbours"):
        fit_borrowing(direct, aux, ["x1"], model="spatio-temporal", time="year")
    with pytest.raises(OptionError, match="time"):
        fit_borrowing(direct, aux, ["x1"], model="spatio-temporal", neighbours=nb)


def test_spatio_temporal_unsampled_territory_and_bootstrap(tables):
    """A territory without any direct estimate stays in the SAR and is predicted from its neighbours (not the
    regression alone); the bootstrap MSE refits the same model and is reproducible from its seed."""
    direct, aux, nb = tables
    d = direct[direct["territory"] != "T08"]
    res = fit_borrowing(d, aux, ["x1", "x2"], model="spatio-temporal", time="year", neighbours=nb)
    t = res.table.set_index("territory")
    out = t.loc["T08"]
    assert (~out["in_sample"]).all() and out["direct"].isna().all()
    assert not np.allclose(out["eblup"], out["synthetic"])  # borrowed from the neighbours
    assert (out["mse"] > t.loc["T09", "mse"].to_numpy()).all()  # less known than a sampled neighbour
    kw = dict(model="spatio-temporal", time="year", neighbours=nb, mse="bootstrap", replicates=4, seed=7)
    b1 = fit_borrowing(d, aux, ["x1", "x2"], **kw)
    b2 = fit_borrowing(d, aux, ["x1", "x2"], **kw, workers=2)
    np.testing.assert_array_equal(b1.table["mse"], b2.table["mse"])
    assert (b1.models["mse"] == "bootstrap").all() and (b1.models["replicates"] == 4).all()
    assert np.isfinite(b1.table["mse"]).all() and (b1.table["mse"] > 0).all()
    assert not np.allclose(b1.table["mse"], res.table["mse"])
