"""Base map of France (geography/basemap.py), maps drawn over it and simulated territories placed inside it
(issue 29)."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import shapely
from pyproj import Transformer

from nonrecours.errors import InputError
from nonrecours.geography import basemap
from nonrecours.report import maps
from nonrecours.simulate import simulate_population
from nonrecours.simulate.contours import layout_urban_areas, qpv_contours

#: (code, area in km²) of the official geography (IGN), to 5 %.
AREAS = [("75", 105.4), ("93", 236.2), ("33", 9976.0), ("974", 2512.0), ("972", 1128.0), ("973", 83534.0)]


def test_the_101_departements_have_a_name_and_an_outline():
    names = basemap.departement_names()
    deps = basemap.departements()
    assert len(names) == 101 and names.index.is_unique
    assert {"2A", "2B", "971", "972", "973", "974", "976"} <= set(names.index) and "20" not in names.index
    main = deps[deps["frame"] != "paris"]
    assert sorted(main["code"]) == sorted(names.index)
    assert set(deps.loc[deps["frame"] == "paris", "code"]) == set(basemap.PARIS_INSET)
    assert deps["name"].notna().all() and shapely.is_valid(np.asarray(list(deps["geometry"]), dtype=object)).all()


@pytest.mark.parametrize("code,area", AREAS)
def test_outline_areas_match_the_official_ones(code, area):
    deps = basemap.departements()
    g = deps.loc[(deps["code"] == code) & (deps["frame"] != "paris"), "geometry"].iloc[0]
    assert abs(g.area / 1e6 - area) < 0.05 * area


def test_cities_fall_in_their_departement():
    """The georeferencing puts each préfecture in its département (Lambert-93)."""
    cities = {
        "13": (5.3698, 43.2965),
        "69": (4.8357, 45.7640),
        "33": (-0.5792, 44.8378),
        "59": (3.0573, 50.6292),
        "67": (7.7521, 48.5734),
        "35": (-1.6778, 48.1173),
        "31": (1.4442, 43.6047),
        "2A": (8.7386, 41.9192),
    }
    x, y = Transformer.from_crs("EPSG:4326", "EPSG:2154", always_xy=True).transform(
        [c[0] for c in cities.values()], [c[1] for c in cities.values()]
    )
    deps = basemap.departements()
    metro = deps[deps["frame"] == "metro"].set_index("code")["geometry"]
    assert all(shapely.contains_xy(metro[code], xi, yi) for code, xi, yi in zip(cities, x, y))


def test_neighbours():
    assert basemap.neighbours("93") == ["75", "77", "92", "94", "95"]
    assert basemap.neighbours("2A") == ["2B"]
    assert basemap.neighbours("974") == [] and basemap.neighbours("00") == []


def test_simulated_urban_areas_lie_inside_their_departement_and_apart():
    pop = simulate_population(60, seed=5)
    lay = layout_urban_areas(pop.territories, np.random.default_rng(1))
    deps = basemap.departements()
    fine = deps[deps["frame"] == "paris"]
    deps = pd.concat([deps[(deps["frame"] != "paris") & ~deps["code"].isin(fine["code"])], fine]).set_index("code")
    reach = shapely.buffer(shapely.points(lay.cx, lay.cy), 3.0 * lay.radius)  # the addresses' disc
    outline = np.asarray(list(deps.loc[lay.departement, "geometry"]), dtype=object)
    assert shapely.covers(shapely.buffer(outline, 1.0), reach).all()
    for crs in pd.unique(lay.crs):  # no two discs overlap (within one projection)
        m = lay.crs == crs
        gap = np.hypot(lay.cx[m, None] - lay.cx[None, m], lay.cy[m, None] - lay.cy[None, m])
        need = 3.0 * (lay.radius[m, None] + lay.radius[None, m])
        assert (gap[~np.eye(m.sum(), dtype=bool)] > need[~np.eye(m.sum(), dtype=bool)]).all()


def test_choropleth_over_outlines_frames_a_departement_without_territory():
    pop = simulate_population(4, seed=2)
    shapes = maps.territory_shapes(qpv_contours(pop.territories, seed=2), pop.territories)
    t = pop.truth
    values = maps.map_values(
        t.assign(eblup=t["rate"], ci_low=t["rate"] - 0.05, ci_high=t["rate"] + 0.05), "sae", str(t["right"].iloc[0])
    )
    empty = next(c for c in basemap.departement_names().index if c not in set(pop.territories["departement"]))
    svg = maps.choropleth(values, shapes, kind="sae", right="x", departement=empty, fmt="svg", lang="fr")
    assert basemap.departement_names()[empty].encode() in svg
    with pytest.raises(InputError, match="parameter outlines"):
        maps.choropleth(values, shapes, kind="sae", right="x", outlines=pd.DataFrame({"code": ["01"]}))
    none = maps.choropleth(
        values,
        shapes,
        kind="sae",
        right="x",
        fmt="svg",
        outlines=pd.DataFrame({"code": [], "frame": [], "geometry": []}),
    )
    assert none != maps.choropleth(values, shapes, kind="sae", right="x", fmt="svg")


def test_shipped_geojson_states_its_source():
    from importlib.resources import files

    data = json.loads(files("nonrecours.geography").joinpath("data/departements.geojson").read_text(encoding="utf-8"))
    assert "pygal-maps-fr" in data["source"] and "LGPL" in data["source"]


def test_user_outlines_are_projected_and_drawn(tmp_path):
    """A user's département file (WGS84) is read into the base map's layout and drawn by `nonrecours map`."""
    from typer.testing import CliRunner

    from nonrecours.cli.main import app

    deps = basemap.departements()
    sel = deps[(deps["frame"] != "paris") & deps["code"].isin(["93", "974"])]
    feats = []
    for code, _frame, crs, g in zip(sel["code"], sel["frame"], sel["crs"], sel["geometry"]):
        t = Transformer.from_crs(crs, "EPSG:4326", always_xy=True)
        wgs = shapely.transform(g, lambda xy, t=t: np.column_stack(t.transform(xy[:, 0], xy[:, 1])))
        feats.append({"type": "Feature", "properties": {"code": code}, "geometry": json.loads(shapely.to_geojson(wgs))})
    path = tmp_path / "deps.geojson"
    path.write_text(json.dumps({"type": "FeatureCollection", "features": feats}))
    back = maps.read_outlines(path).set_index("code")
    assert list(back["frame"]) == ["metro", "974"] and back.at["93", "name"] == "Seine-Saint-Denis"
    for code in ("93", "974"):  # the round trip through WGS84 lands on the shipped outline
        orig = sel.set_index("code").at[code, "geometry"]
        assert shapely.symmetric_difference(orig, back.at[code, "geometry"]).area < 1e-3 * orig.area
    pop = simulate_population(4, seed=2)
    (tmp_path / "c.geojson").write_text(qpv_contours(pop.territories, seed=2))
    t = pop.truth
    t.assign(eblup=t["rate"], ci_low=t["rate"] - 0.05, ci_high=t["rate"] + 0.05).to_csv(
        tmp_path / "sae.csv", index=False
    )
    args = [
        "map",
        str(tmp_path / "sae.csv"),
        "--right",
        str(t["right"].iloc[0]),
        "--contours",
        str(tmp_path / "c.geojson"),
        "--out",
        str(tmp_path / "m.svg"),
    ]
    assert CliRunner().invoke(app, [*args, "--outlines", str(path)]).exit_code == 0
    user = (tmp_path / "m.svg").read_bytes()
    assert CliRunner().invoke(app, [*args, "--overwrite"]).exit_code == 0
    assert user != (tmp_path / "m.svg").read_bytes()


@pytest.mark.parametrize("lang", ["fr", "en"])
def test_section_maps_the_departement_admin_rates(lang):
    """With admin_departements, the territories section adds one map per right of the départements themselves."""
    from nonrecours.report import section_territories

    pop = simulate_population(4, seed=2)
    t = pop.truth
    sae = t.assign(eblup=t["rate"], rmse=0.02, ci_low=t["rate"] - 0.05, ci_high=t["rate"] + 0.05, direct=t["rate"])
    codes = list(basemap.departement_names().index)
    deps = pd.DataFrame(
        {
            "departement": codes * 2,
            "right": ["cmuc"] * 101 + ["other"] * 101,
            "rate": np.linspace(0.5, 0.9, 202),
            "status": ["published"] * 201 + ["suppressed"],
        }
    )
    contours = qpv_contours(pop.territories, seed=2)
    right = str(t["right"].iloc[0])
    base = section_territories.render({"sae": sae}, lang, rights=[right], contours=contours)
    html = section_territories.render(
        {"sae": sae, "admin_departements": deps.assign(right=right)}, lang, rights=[right], contours=contours
    )
    assert html.count("<figure>") == base.count("<figure>") + 1
    assert ("par département" if lang == "fr" else "by département") in html
    one = maps.map_values(deps, "admin", "cmuc", territory="departement")
    assert maps.map_summary(one)["n"] == 101
