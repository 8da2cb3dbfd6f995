"""Maps of territory values (report/maps.py), the `nonrecours map` command and the territories section."""

from __future__ import annotations

import json
import re

import numpy as np
import pandas as pd
import pytest
import shapely
from typer.testing import CliRunner

from nonrecours.cli.main import app
from nonrecours.errors import InputError, OptionError
from nonrecours.report import maps, section_territories
from nonrecours.simulate import simulate_population
from nonrecours.simulate.contours import qpv_contours


@pytest.fixture(scope="module")
def pop():
    return simulate_population(12, seed=4)


@pytest.fixture(scope="module")
def contours(pop):
    return qpv_contours(pop.territories, seed=4)


@pytest.fixture(scope="module")
def sae(pop):
    """A table in the layout of sae.csv (values made up from the true rates: the maps only display them)."""
    t = pop.truth.copy()
    rng = np.random.default_rng(0)
    t["eblup"] = t["rate"]
    t["rmse"] = 0.02 + 0.3 * rng.random(len(t)) * t["rate"]
    t["ci_low"], t["ci_high"] = t["eblup"] - 2 * t["rmse"], t["eblup"] + 2 * t["rmse"]
    t["direct"] = np.where(np.arange(len(t)) % 3 == 0, np.nan, t["rate"])
    return t[["territory", "right", "direct", "eblup", "rmse", "ci_low", "ci_high"]]


def test_maps_draw_the_contours_of_the_administrative_sources(pop):
    """One generator of QPV contours: the maps' contours are those the sources place the addresses in."""
    from nonrecours.simulate.sources import simulate_sources

    assert qpv_contours(pop.territories, seed=9) == simulate_sources(pop, seed=9).contours
    assert qpv_contours(pop.territories, seed=9) != qpv_contours(pop.territories, seed=10)


@pytest.mark.slow
def test_demo_maps_the_contours_of_its_sources(tmp_path):
    """The demo writes, for its report's maps, the contours of its administrative sources."""
    from nonrecours.study.demo import CONTOURS, POPULATION, run_demo

    demo = run_demo(tmp_path / "demo", territories=6, seed=3, admin=True)
    assert (tmp_path / "demo" / POPULATION / CONTOURS).read_text() == (
        tmp_path / "demo" / POPULATION / "sources" / "qpv.geojson"
    ).read_text()
    assert "admin_rates" in demo.tables
    # the demo's files miss resources; the survey corrects the administrative rates and combines them (issue 27)
    assert {"admin", "admin_corrected", "combined"} <= set(demo.tables["comparison_summary"]["estimator"])


def test_contours_in_lambert93_with_crs_member_equal_wgs84(pop, contours):
    """A file in Lambert-93 (legacy 'crs' member) gives the same projected polygons as the WGS84 one."""
    wgs = maps.territory_shapes(contours).table
    metro = wgs[wgs["frame"] == "metro"]
    assert len(metro)
    feats = [
        {
            "type": "Feature",
            "properties": {"code_qp": c, "departement": d},
            "geometry": json.loads(shapely.to_geojson(g)),
        }
        for c, d, g in zip(metro["territory"], metro["departement"], metro["geometry"])
    ]
    l93 = json.dumps(
        {"type": "FeatureCollection", "crs": {"type": "name", "properties": {"name": "EPSG:2154"}}, "features": feats}
    )
    again = maps.territory_shapes(l93).table
    np.testing.assert_allclose(
        shapely.area(np.array(list(again["geometry"]))), shapely.area(np.array(list(metro["geometry"]))), rtol=1e-9
    )


def test_rest_of_urban_area_is_a_ring_around_its_qpv(pop, contours):
    shapes = maps.territory_shapes(contours, pop.territories).table.set_index("territory")
    assert set(shapes.index) == set(pop.territories["territory"])  # every QPV and every rest of urban area
    t = pop.territories
    for _ua, g in t.groupby("urban_area"):
        q = g.loc[g["is_qpv"] == 1, "territory"].iloc[0]
        r = g.loc[g["is_qpv"] == 0, "territory"].iloc[0]
        qg, rg = shapes.loc[q, "geometry"], shapes.loc[r, "geometry"]
        assert shapely.area(shapely.intersection(qg, rg)) < 1e-6 * shapely.area(qg)
        assert shapely.contains(shapely.convex_hull(rg), qg)
        assert shapes.loc[q, "frame"] == shapes.loc[r, "frame"]
    overseas = t["departement"].isin(list(maps.OVERSEAS))
    assert (shapes.loc[t.loc[overseas, "territory"], "frame"].to_numpy() == t.loc[overseas, "departement"]).all()


def test_map_values_states():
    sae = pd.DataFrame(
        {
            "territory": ["A", "B", "C", "D"],
            "right": "cmuc",
            "direct": [0.5, np.nan, 0.4, 0.6],
            "eblup": [0.5, 0.55, 0.4, np.nan],
            "rmse": [0.05, 0.05, 0.2, np.nan],
            "ci_low": 0.3,
            "ci_high": 0.7,
        }
    )
    v = maps.map_values(sae, "sae", "cmuc", max_cv=0.3).set_index("territory")
    assert list(v["state"]) == ["ok", "unreliable", "unreliable", "suppressed"]  # no direct; CV 0.5; no value
    admin = pd.DataFrame(
        {"territory": ["A", "B"], "right": "cmuc", "rate": [0.6, np.nan], "status": ["published", "secondary"]}
    )
    a = maps.map_values(admin, "admin", "cmuc")
    assert list(a["state"]) == ["ok", "suppressed"] and np.isnan(a["value"][1])
    change = pd.DataFrame(
        {
            "territory": ["A", "B"],
            "right": "cmuc",
            "change": [0.1, 0.02],
            "ci_low": [0.05, -0.01],
            "ci_high": [0.15, 0.05],
        }
    )
    assert list(maps.map_values(change, "change", "cmuc")["state"]) == ["ok", "unreliable"]
    with pytest.raises(InputError, match="parameter right"):
        maps.map_values(sae, "sae", "acs")
    with pytest.raises(OptionError, match="kind"):
        maps.map_values(sae, "tiles", "cmuc")


def test_choropleth_on_a_reused_figure_equals_a_fresh_one(pop, contours, sae):
    """The figure of a map (axes, outlines) is kept for the next map of the same shapes: what a map adds goes after
    it, so a map drawn after others has the bytes of the same map drawn on a new figure."""
    shapes = maps.territory_shapes(contours, pop.territories)
    a, b = maps.map_values(sae, "sae", "cmuc"), maps.map_values(sae, "sae", "tss")
    maps._SKELETONS.clear()
    fresh = maps.choropleth(a, shapes, kind="sae", right="cmuc")
    other = maps.choropleth(b, shapes, kind="sae", right="tss")  # on the figure of the first
    assert len(maps._SKELETONS) == 1 and other != fresh
    assert maps.choropleth(a, shapes, kind="sae", right="cmuc") == fresh
    maps._SKELETONS.clear()
    assert maps.choropleth(b, shapes, kind="sae", right="tss") == other
    dep = str(pop.territories["departement"].iloc[0])
    one = maps.choropleth(a, shapes, kind="sae", right="cmuc", departement=dep, width=False)
    maps.choropleth(b, shapes, kind="sae", right="tss", departement=dep, width=False)
    maps._SKELETONS.clear()
    assert maps.choropleth(a, shapes, kind="sae", right="cmuc", departement=dep, width=False) == one


def test_choropleth_on_its_underlay_has_the_pixels_of_a_full_drawing(pop, contours, sae, monkeypatch):
    """A PNG map restores its figure's pixels under the territories (drawn once) and draws only what lies over
    them: the bytes of the same figure drawn whole, for the country (the Paris inset over the mainland) and for
    a département (its names and highlighted border over the territories); an SVG drawn afterwards still has
    the spines and names the underlay left out."""
    shapes = maps.territory_shapes(contours, pop.territories)
    v = maps.map_values(sae, "sae", "cmuc")
    dep = str(pop.territories["departement"].iloc[0])
    calls = [{}, {"departement": dep}, {"departement": "93", "width": False}]
    maps._SKELETONS.clear()
    layered = [maps.choropleth(v, shapes, kind="sae", right="cmuc", **c) for c in calls]

    def whole(fig, under):
        fig.canvas.draw()
        return np.asarray(fig.canvas.buffer_rgba())

    monkeypatch.setattr(maps, "_compose", whole)
    assert [maps.choropleth(v, shapes, kind="sae", right="cmuc", **c) for c in calls] == layered
    monkeypatch.undo()
    maps.choropleth(v, shapes, kind="sae", right="cmuc", departement=dep)
    svg = maps.choropleth(v, shapes, kind="sae", right="cmuc", departement=dep, fmt="svg")
    assert maps.choropleth(v, shapes, kind="sae", right="cmuc", departement=dep) == layered[1]  # after the SVG
    maps._SKELETONS.clear()
    assert maps.choropleth(v, shapes, kind="sae", right="cmuc", departement=dep, fmt="svg") == svg


def test_choropleths_in_parallel_have_the_bytes_of_one_by_one(pop, contours, sae, monkeypatch):
    """The maps drawn by forked workers (the report's, on two cores) are those drawn one after the other here,
    in the order asked, whatever the number of workers; a worker's error reaches the caller."""
    shapes = maps.territory_shapes(contours, pop.territories)
    dep = str(pop.territories["departement"].iloc[0])
    jobs = [
        {"values": maps.map_values(sae, "sae", r), "shapes": shapes, "kind": "sae", "right": r} for r in ("cmuc", "tss")
    ]
    jobs += [{**jobs[1], "departement": dep, "width": False}, {**jobs[0], "kind": "direct"}]
    maps._SKELETONS.clear()
    serial = maps.choropleths(jobs, lang="fr", workers=1)
    assert serial == [maps.choropleth(**j, lang="fr") for j in jobs] and len(set(serial)) == len(jobs)
    for workers in (2, 3):
        maps._SKELETONS.clear()
        assert maps.choropleths(jobs, lang="fr", workers=workers) == serial
    for load in (0.0, 100.0):  # by default: two processes on an idle machine, one on a busy one
        monkeypatch.setattr("os.getloadavg", lambda load=load: (load,) * 3)
        assert maps.choropleths(jobs, lang="fr") == serial
    with pytest.raises(InputError, match="parameter departement"):
        maps.choropleths([jobs[0], {**jobs[1], "departement": "00"}], workers=2)


def test_choropleth_png_is_reproducible_svg_and_departement(pop, contours, sae):
    shapes = maps.territory_shapes(contours, pop.territories)
    v = maps.map_values(sae, "sae", "cmuc")
    png = maps.choropleth(v, shapes, kind="sae", right="cmuc")
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and png == maps.choropleth(v, shapes, kind="sae", right="cmuc")
    dep = pop.territories["departement"].iloc[0]
    svg = maps.choropleth(v, shapes, kind="sae", right="cmuc", departement=dep, fmt="svg", lang="fr")
    assert svg.startswith(b"<?xml") and b"<svg" in svg
    assert not re.search(rb'href="(https?:|file:|//)', svg)  # nothing fetched from elsewhere
    assert svg != maps.choropleth(v, shapes, kind="sae", right="cmuc", departement=dep, fmt="svg", lang="en")
    with pytest.raises(InputError, match="parameter departement"):
        maps.choropleth(v, shapes, kind="sae", right="cmuc", departement="00")


def test_cli_map_for_one_departement(tmp_path, pop, contours, sae):
    (tmp_path / "results").mkdir()
    sae.to_csv(tmp_path / "results" / "sae.csv", index=False)
    (tmp_path / "qpv.geojson").write_text(contours)
    pop.territories.to_csv(tmp_path / "territories.csv", index=False)
    dep = pop.territories["departement"].iloc[0]
    args = [
        "map",
        str(tmp_path / "results"),
        "--right",
        "cmuc",
        "--departement",
        dep,
        "--contours",
        str(tmp_path / "qpv.geojson"),
        "--territories",
        str(tmp_path / "territories.csv"),
    ]
    r = CliRunner().invoke(app, [*args, "--out", str(tmp_path / "m.png")])
    assert r.exit_code == 0, r.output
    assert (tmp_path / "m.png").read_bytes()[:4] == b"\x89PNG"
    bad = CliRunner().invoke(app, [*args, "--out", str(tmp_path / "m.jpg")])
    assert bad.exit_code == 2 and "--out" in bad.output and not (tmp_path / "m.jpg").exists()
    bad = CliRunner().invoke(app, [*args[:3], "tpn2", *args[4:], "--out", str(tmp_path / "n.png")])
    assert bad.exit_code == 2 and "--right" in bad.output and not (tmp_path / "n.png").exists()
    bad = CliRunner().invoke(app, [*args, "--kind", "admin", "--out", str(tmp_path / "a.png")])
    assert bad.exit_code == 2 and "admin_rates.csv" in bad.output


@pytest.mark.slow  # renders every map of the section
@pytest.mark.parametrize("lang", ["en", "fr"])
def test_section_lists_every_territory_with_cards(pop, contours, sae, lang):
    html = section_territories.render(
        {"sae": sae}, lang, rights=["cmuc", "acs"], contours=contours, territories=pop.territories
    )
    body = re.search(r'<table id="nr-territories".*?</table>', html, re.S).group(0)
    assert body.count("<tr data-search") == len(pop.territories)
    assert '<th scope="col">' in body and '<th scope="row">' in body and "<caption>" in body
    data = json.loads(
        re.search(r'<script type="application/json" id="nr-territory-data">(.*?)</script>', html, re.S).group(1)
    )
    card = data["territories"][0]
    assert len(card["rows"]) == 2 and len(data["header"]) == len(card["rows"][0])
    assert html.count("<figure>") == 2 and all(len(a) > 40 for a in re.findall(r'alt="([^"]*)"', html))
    pct = "\u202f%" if lang == "fr" else " %"
    assert pct in body
    with pytest.raises(OptionError):
        section_territories.render({"sae": sae}, "de")


def test_section_without_contours_says_so(sae):
    html = section_territories.render({"sae": sae}, "en", rights=["cmuc"])
    assert "territorial.contours" in html and "<figure>" not in html and 'id="nr-territories"' in html


def test_cards_take_the_departement_of_the_admin_table_without_a_pandas_warning():
    """With no territories file, the cards' département comes from the admin table (text codes into an all-missing
    column): no FutureWarning / Pandas4Warning (a fillna of text into floats that pandas will refuse)."""
    import warnings

    admin = pd.DataFrame(
        {
            "territory": ["A", "B", "C"],
            "right": "cmuc",
            "rate": [0.5, np.nan, 0.25],
            "status": ["published", "suppressed", "published"],
            "departement": ["2A", "075", "971"],
        }
    )
    terr = pd.DataFrame({"territory": ["A"], "departement": ["01"], "is_qpv": [1]})
    for territories in (None, terr):
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            _, records = section_territories.territory_records(
                {"admin_rates": admin}, "en", rights=["cmuc"], territories=territories
            )
        deps = [re.search(r"(\w+)", r["where"].split(" ", 1)[1]).group(1) for r in records]
        assert deps == (["2A", "075", "971"] if territories is None else ["01", "075", "971"])


@pytest.mark.slow  # renders the section's maps twice
def test_section_takes_the_maps_drawn_already_for_the_same_values(pop, contours, sae, monkeypatch):
    """A study draws a table's maps while its next stages run (``draw_maps``); the section takes those of the same
    key and values (the same bytes as drawn here) and draws the others."""
    admin = sae.rename(columns={"eblup": "rate"}).assign(status="published")[["territory", "right", "rate", "status"]]
    tables = {"sae": sae, "admin_rates": admin}
    kw = {"rights": ["cmuc", "acs"], "contours": contours, "territories": pop.territories}
    here = section_territories.render(tables, "en", **kw)
    drawn = section_territories.draw_maps({"sae": sae}, "en", **kw) + section_territories.draw_maps(
        {"admin_rates": admin}, "en", **kw
    )
    assert [k[:3] for k, _, _ in drawn] == [(kind, r, "territory") for kind in ("sae", "admin") for r in kw["rights"]]
    assert section_territories.draw_maps({"sae": sae}, "en", rights=["cmuc"], contours=None) == []
    calls = []
    draw = maps.choropleth
    monkeypatch.setattr(maps, "choropleth", lambda **k: calls.append(k["kind"]) or draw(**k))
    assert section_territories.render(tables, "en", drawn=drawn, **kw) == here and calls == []
    # drawn from other values (one rate changed), or in another language: drawn again, the same section as here
    other = admin.assign(rate=np.where(np.arange(len(admin)) == 0, 0.5, admin["rate"]))
    stale = section_territories.draw_maps({"admin_rates": other}, "en", **kw)
    calls.clear()
    assert section_territories.render(tables, "en", drawn=drawn[:2] + stale, **kw) == here
    assert calls == ["admin"]  # the map of the changed rate's right; the other right's rates are the same
    french = section_territories.draw_maps({"sae": sae}, "fr", **kw)
    calls.clear()
    assert section_territories.render(tables, "en", drawn=french + drawn[2:], **kw) == here and calls == ["sae"] * 2
