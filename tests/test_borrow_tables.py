"""Models that borrow strength, table level (issue 26): the direct, covariances and neighbours files.

The same R references as ``test_borrow_reference.py`` (see its docstring for provenance and the 1e-6
tolerance), reached here through the tables a user writes: the direct file (``se`` = the square root of the
sampling variance), a territories file with a ``year`` column, the covariances and neighbours files.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from nonrecours.errors import InputError, OptionError
from nonrecours.territorial import contour_neighbours, fit_borrowing, fit_territories

REF = Path(__file__).parent / "reference"
RTOL = 1e-6
_REF = json.loads((REF / "borrow_reference.json").read_text())


@pytest.fixture(scope="module")
def files():
    d = pd.read_csv(REF / "borrow" / "direct.csv")
    direct = d.assign(estimate=d["direct"], se=np.sqrt(d["vardir"]), n=100)[
        ["territory", "year", "right", "n", "estimate", "se"]
    ]
    aux = d[d["right"] == "cmuc"][["territory", "year", "x1", "x2"]]
    cov = pd.read_csv(REF / "borrow" / "covariances.csv")
    nb = pd.read_csv(REF / "borrow" / "neighbours.csv")
    return direct, aux, cov, nb


def _rows(table, territories, years, rights):
    return table.set_index(["territory", "year", "right"]).loc[list(zip(territories, years, rights))]


def test_rao_yu_from_the_tables_matches_sae2(files):
    direct, aux, cov, _ = files
    res = fit_borrowing(direct, aux, ["x1", "x2"], model="rao-yu", time="year", covariances=cov)
    for r in (x for x in _REF["rao_yu"] if x["method"] == "REML" and x.get("y_include") is None):
        sub = _rows(res.table, r["territory"], r["year"], [r["right"]] * len(r["year"]))
        np.testing.assert_allclose(sub["eblup"], r["eblup"], rtol=RTOL)
        np.testing.assert_allclose(sub["mse"], r["mse"], rtol=RTOL)
        row = res.models[(res.models["right"] == r["right"]) & (res.models["parameter"] == "rho")]
        np.testing.assert_allclose(row["estimate"], r["rho"], rtol=RTOL)
    assert list(res.table.columns) == [
        "territory",
        "year",
        "right",
        "direct",
        "se_direct",
        "eblup",
        "mse",
        "rmse",
        "ci_low",
        "ci_high",
        "gamma",
        "synthetic",
        "n",
        "in_sample",
    ]
    assert set(res.models["parameter"]) == {"sigma2_u", "sigma2_v", "rho"} and res.models["converged"].all()


def test_multivariate_and_spatial_from_the_tables_match_msae_and_sae(files):
    direct, aux, cov, nb = files
    mv = fit_borrowing(direct, aux, ["x1", "x2"], model="multivariate", time="year", covariances=cov)
    for r in _REF["mfh1"]:
        for k, right in enumerate(r["rights"]):
            sub = _rows(mv.table, r["territory"], [r["year"]] * 36, [right] * 36)
            np.testing.assert_allclose(sub["eblup"], r["eblup"][k], rtol=RTOL)
            np.testing.assert_allclose(sub["mse"], r["mse"][k], rtol=RTOL)
    sp = fit_borrowing(direct, aux, ["x1", "x2"], model="spatial", time="year", neighbours=nb)
    for r in (x for x in _REF["sfh"] if x["method"] == "REML"):
        sub = _rows(sp.table, r["territory"], [r["year"]] * 36, [r["right"]] * 36)
        np.testing.assert_allclose(sub["eblup"], r["eblup"], rtol=RTOL)
        np.testing.assert_allclose(sub["mse"], r["mse"], rtol=RTOL)


def test_covariances_in_either_order_or_both(files):
    direct, aux, cov, _ = files
    one = fit_borrowing(direct, aux, ["x1", "x2"], model="rao-yu", time="year", covariances=cov, rights=["acs"])
    flipped = cov.rename(columns={"right_a": "right_b", "right_b": "right_a", "year_a": "year_b", "year_b": "year_a"})
    both = fit_borrowing(
        direct, aux, ["x1", "x2"], model="rao-yu", time="year", covariances=pd.concat([cov, flipped]), rights=["acs"]
    )
    pd.testing.assert_frame_equal(one.table, both.table)
    clash = flipped.assign(cov=flipped["cov"] * 1.5)
    with pytest.raises(InputError, match="two different covariances"):
        fit_borrowing(direct, aux, ["x1", "x2"], model="rao-yu", time="year", covariances=pd.concat([cov, clash]))
    plain = fit_borrowing(direct, aux, ["x1", "x2"], model="rao-yu", time="year", rights=["acs"])
    assert not np.allclose(plain.table["eblup"], one.table["eblup"])  # the covariances are used


def test_territories_without_sample_or_with_some_years_are_predicted(files):
    direct, aux, cov, _ = files
    gone = direct[direct["territory"] != "T07"]
    res = fit_borrowing(gone, aux, ["x1", "x2"], model="rao-yu", time="year", covariances=cov, rights=["rsa"])
    t07 = res.table[res.table["territory"] == "T07"]
    assert len(t07) == 4 and not t07["in_sample"].any() and t07["direct"].isna().all()
    np.testing.assert_allclose(t07["eblup"], t07["synthetic"])
    assert (res.models["n_predicted"] == 4).all() and (res.models["m"] == 35).all()
    partial = direct[~((direct["territory"] == "T07") & (direct["year"] == 2016))]
    res = fit_borrowing(partial, aux, ["x1", "x2"], model="rao-yu", time="year", covariances=cov, rights=["rsa"])
    t07_gone = t07.set_index("year")
    t07 = res.table[res.table["territory"] == "T07"].set_index("year")
    assert t07["in_sample"].tolist() == [True, False, True, True]
    assert t07.loc[2016, "eblup"] != t07.loc[2016, "synthetic"]  # borrowed from T07's other years
    # no direct estimate that year: less precise than T07's other years, more than without any year
    assert t07.loc[[2015, 2017, 2018], "mse"].max() < t07.loc[2016, "mse"] < t07_gone.loc[2016, "mse"]
    assert (res.models["m"] == 36).all() and (res.models["n_predicted"] == 1).all()


def test_fh_model_is_the_univariate_fay_herriot_of_fit_territories(files):
    direct, aux, _, _ = files
    one_year = direct[direct["year"] == 2016].drop(columns="year")
    aux16 = aux[aux["year"] == 2016].drop(columns="year")
    ours = fit_borrowing(one_year, aux16, ["x1", "x2"], model="fh").table
    today = fit_territories(one_year, aux16, ["x1", "x2"], method="reml", variance="direct").to_frame()
    for c in ("eblup", "mse", "gamma", "ci_low", "ci_high"):
        np.testing.assert_allclose(ours[c], today[c], rtol=1e-10, err_msg=c)
    assert "year" not in ours.columns


def test_options_are_checked(files):
    direct, aux, _cov, nb = files
    with pytest.raises(OptionError, match="time"):
        fit_borrowing(direct, aux, ["x1"], model="rao-yu")
    with pytest.raises(OptionError, match="neighbours"):
        fit_borrowing(direct, aux, ["x1"], model="spatial", time="year")
    with pytest.raises(OptionError, match="REML only"):
        fit_borrowing(direct, aux, ["x1"], model="multivariate", time="year", method="ml")
    with pytest.raises(OptionError, match="model"):
        fit_borrowing(direct, aux, ["x1"], model="dynamic", time="year")
    lonely = nb[(nb["territory_a"] != "T01") & (nb["territory_b"] != "T01")]
    with pytest.raises(InputError, match="without a neighbour"):
        fit_borrowing(direct, aux, ["x1"], model="spatial", time="year", neighbours=lonely, rights=["acs"])


def test_neighbours_of_a_grid_of_contours_are_the_rook_pairs(files):
    import shapely

    from nonrecours.admin.geo import Contours

    nb = files[3]
    codes = [f"T{i + 1:02d}" for i in range(36)]
    edge = 2 + np.arange(7) / 100  # shared edges: the same coordinates on both sides
    boxes = [shapely.box(edge[i % 6], 46 - edge[i // 6], edge[i % 6 + 1], 46 - edge[i // 6 + 1]) for i in range(36)]
    got = contour_neighbours(
        Contours(codes=np.array(codes), departements=np.array([""] * 36), polygons=np.array(boxes))
    )
    pd.testing.assert_frame_equal(
        got[["territory_a", "territory_b"]], nb.sort_values(["territory_a", "territory_b"]).reset_index(drop=True)
    )
    queen = contour_neighbours(
        Contours(codes=np.array(codes), departements=np.array([""] * 36), polygons=np.array(boxes)), contiguity="queen"
    )
    assert len(queen) == len(nb) + 2 * 2 * 25  # the diagonals of the 25 inner corners, both ways
