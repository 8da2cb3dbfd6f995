"""The administrative phase: sources, rulebook and eligibility, QPV from coordinates, linkage, adjusted rates."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import shapely  # (the test extra installs them: a missing one fails, never skips)
import splink  # noqa: F401
from typer.testing import CliRunner

from nonrecours.admin.eligibility import assess_eligibility, eligibility_sql, load_rulebook
from nonrecours.admin.geo import assign_territories, read_contours
from nonrecours.cli.main import app
from nonrecours.errors import ConfigError, OptionError
from nonrecours.simulate import simulate_population
from nonrecours.simulate.sources import ORGANISMS, SourceParams, simulate_sources


@pytest.fixture(scope="module")
def small():
    pop = simulate_population(3, seed=5)
    src = simulate_sources(pop, seed=6)
    left = pd.concat([src.tables[o] for o in ORGANISMS], ignore_index=True)
    return pop, src, left


# --- rulebook -----------------------------------------------------------------------------------------------


def test_rulebook_figures_and_sources():
    book = load_rulebook()
    assert set(range(2013, 2017)) <= set(book.entries)
    assert book.entry(2014).cmuc_ceiling_metropolitan == 8644.52  # décret n° 2014-782
    assert book.entry(2013).cmuc_ceiling_metropolitan == 8592.96  # décret n° 2013-507
    for rule in book.entries.values():
        assert rule.acs_ratio == 1.35
        # overseas ceilings are the metropolitan ones + 11.3 % (CSS art. D. 861-1), to the euro
        assert abs(rule.cmuc_ceiling_overseas - 1.113 * rule.cmuc_ceiling_metropolitan) < 1.0
        assert {"cmuc_source", "acs_source", "tariff_source", "overseas_source", "scale"} <= set(rule.sources)
        assert all(
            "écret" in rule.sources[k] or "rrêté" in rule.sources[k] or "article" in rule.sources[k]
            for k in ("cmuc_source", "tariff_source")
        )
    # 1 April 2016 barème: 8,653 / 12,980 / 15,576 / 18,172 / 21,633 euros for 1 to 5 persons
    c = book.entry(2016).cmuc_ceiling(np.arange(1, 6), np.zeros(5, bool))
    assert np.allclose(np.round(c), [8653, 12980, 15576, 18172, 21633], atol=1)
    with pytest.raises(OptionError, match="parameter year"):
        book.entry(1999)


def test_user_rulebook_errors_name_the_key(tmp_path):
    p = tmp_path / "rules.toml"
    p.write_text(
        '[scale]\nsizes = [1.0, 1.5]\nper_extra_person = 0.5\nsource = "x"\n'
        "[[entry]]\nyear = 2020\ncmuc_ceiling_metropolitan = 9000\n"
    )
    with pytest.raises(ConfigError, match=r"entry\[0\]"):
        load_rulebook(p)
    p.write_text(
        '[scale]\nsizes = [1.0, 1.5]\nper_extra_person = 0.5\nsource = "x"\n'
        "[[entry]]\nyear = 2020\ncmuc_ceiling_metropolitan = 9000\ncmuc_ceiling_overseas = 10000\n"
        'cmuc_source = "a"\noverseas_source = "b"\nacs_ratio = 1.35\nacs_source = "c"\n'
        'tariff_ceiling = "cmuc"\ntariff_source = "d"\ncontract_source = "e"\n'
    )
    rule = load_rulebook(p).entry(2020)
    assert rule.multiplier(np.array([1, 2, 3])).tolist() == [1.0, 1.5, 2.0]


# --- eligibility ----------------------------------------------------------------------------------------------


def test_eligibility_sql_matches_direct_rules():
    rng = np.random.default_rng(0)
    n = 2000
    rule = load_rulebook().entry(2015)
    size = rng.integers(1, 8, n)
    overseas = rng.random(n) < 0.2
    annual = rng.uniform(0.3, 2.0, n) * rule.cmuc_ceiling(size, overseas)
    q = np.column_stack([annual / 4] * 4)
    q[:50] = np.nan
    # tenants without housing aid (no forfait logement) whose fiscal income per part is over the tariffs'
    # threshold: the resource rules alone decide (the forfait and the fiscal route: test_admin_eligibility_rules)
    df = pd.DataFrame(
        {
            "rec_id": [f"r{i}" for i in range(n)],
            "commune": np.where(overseas, "97401", "75101"),
            "household_size": size,
            **{f"resources_q{j + 1}": q[:, j] for j in range(4)},
            "electricity_contract": (rng.random(n) < 0.9).astype(int),
            "gas_contract": (rng.random(n) < 0.4).astype(int),
            "housing": "social",
            "housing_benefit": 0,
            "rfr_per_part": 1e6,
        }
    )
    out = assess_eligibility(df, rule)
    # direct evaluation, independent of the SQL: scale 1, 1.5, 1.8, 2.1, then +0.4 a person, rounded to the euro
    mult = np.select([size == 1, size == 2, size == 3], [1.0, 1.5, 1.8], 2.1 + 0.4 * (size - 4))
    c = np.floor(np.where(overseas, rule.cmuc_ceiling_overseas, rule.cmuc_ceiling_metropolitan) * mult + 0.5)
    r = q.sum(axis=1)
    known = ~np.isnan(r)
    exp_cmuc = np.where(~known, "undetermined", np.where(r <= c, "eligible", "not_eligible"))
    exp_acs = np.where(~known, "undetermined", np.where((r > c) & (r <= 1.35 * c), "eligible", "not_eligible"))
    # no contract decides first (no tariff without a supply contract, whatever the resources)
    elec, gas = df["electricity_contract"].to_numpy() == 1, df["gas_contract"].to_numpy() == 1
    exp_tpn = np.where(
        ~elec, "not_eligible", np.where(~known, "undetermined", np.where(r <= 1.35 * c, "eligible", "not_eligible"))
    )
    exp_tss = np.where(
        ~gas, "not_eligible", np.where(~known, "undetermined", np.where(r <= 1.35 * c, "eligible", "not_eligible"))
    )
    assert (out["cmuc"].to_numpy() == exp_cmuc).all()
    assert (out["acs"].to_numpy() == exp_acs).all()
    assert (out["tpn"].to_numpy() == exp_tpn).all()
    assert (out["tss"].to_numpy() == exp_tss).all()
    assert set(out.loc[~known, "cmuc_rule"]) == {"resources_missing"}
    assert set(out.loc[(out["tpn"] == "not_eligible") & (r <= 1.35 * c), "tpn_rule"]) == {"no_electricity_contract"}
    assert "case" in eligibility_sql(rule).lower()


def test_eligibility_recovers_simulated_truth(small):
    _pop, src, left = small
    out = assess_eligibility(left, load_rulebook().entry(src.params.year))
    truth = src.tables["truth_eligibility"].set_index("rec_id").reindex(out["rec_id"])
    det = (out["cmuc"] != "undetermined").to_numpy()
    assert det.mean() > 0.97
    # the simulated files carry tenure and housing aid: the forfait logement never leaves a right open
    # (the tariffs stay open over the resource ceiling: the files carry no fiscal income)
    assert "housing_missing" not in set(out["cmuc_rule"]) | set(out["acs_rule"])
    # (RSA recipients presumed eligible for the CMU-C, CSS L. 861-2 al. 2, are so even without resources; the tariffs
    # then stay open for want of them)
    known = left[[f"resources_q{j}" for j in range(1, 5)]].notna().all(axis=1).to_numpy()
    assert set(out.loc[det & ~known, "cmuc_rule"]) <= {"rsa_presumption"}
    for right in ("tpn", "tss"):
        open_ = det & known & (out[right] == "undetermined").to_numpy()
        assert set(out.loc[open_, f"{right}_rule"]) <= {"fiscal_income_missing"}
    # Mayotte: the population simulator grants CMU-C/ACS there, the law did not (rule not_applicable_territory)
    mayotte = left["commune"].astype(str).str.startswith("976").to_numpy()
    for right in ("cmuc", "acs", "tpn", "tss"):
        got = (out[right] == "eligible").to_numpy()
        keep = det & ~mayotte if right in ("cmuc", "acs") else det & known
        assert (got[keep] == truth[right].to_numpy()[keep].astype(bool)).all(), right
        if right in ("cmuc", "acs"):
            assert not got[mayotte].any()


# --- QPV from coordinates ---------------------------------------------------------------------------------------


def test_point_in_polygon_agrees_with_true_territory(small):
    _pop, src, left = small
    terr, counts = assign_territories(left, read_contours(src.contours), src.tables["communes"])
    truth = src.tables["truth_eligibility"].set_index("rec_id").reindex(left["rec_id"])
    off = truth["on_boundary"].to_numpy() == 0
    assert (terr["territory"].to_numpy()[off] == truth["territory"].to_numpy()[off]).all()
    assert counts["boundary"] == int((~off).sum())
    assert counts["inside"] + counts["boundary"] == int(truth["is_qpv"].sum())
    assert counts["unlocated"] == 0 and counts["no_territory"] == 0
    # WGS84 input gives the same answer as Lambert-93
    from pyproj import Transformer

    m = left["x"].notna().to_numpy()
    lon, lat = Transformer.from_crs("EPSG:2154", "EPSG:4326", always_xy=True).transform(
        left.loc[m, "x"].to_numpy(), left.loc[m, "y"].to_numpy()
    )
    w = pd.DataFrame({"lon": lon, "lat": lat, "commune": left.loc[m, "commune"].to_numpy()})
    t2, c2 = assign_territories(w, read_contours(src.contours), src.tables["communes"])
    ok = off[m]
    assert (t2["territory"].to_numpy()[ok] == terr["territory"].to_numpy()[m][ok]).all()
    assert c2["wgs84"] == int(m.sum())


def test_territories_by_position_equal_the_reindexed_ones(small):
    """Text communes take the positional path (Arrow's index_in); object ones pandas' reindex: same table."""
    _pop, src, left = small
    contours = read_contours(src.contours)
    communes = src.tables["communes"].astype({"commune": "str", "territory": "str", "departement": "str"})
    points = left.assign(commune=left["commune"].mask(left.index % 7 == 0, "99999"))  # communes not listed
    fast, c1 = assign_territories(points, contours, communes)
    slow, c2 = assign_territories(points, contours, communes.astype({"commune": object}))
    pd.testing.assert_frame_equal(fast, slow)
    assert c1 == c2 and c1["no_territory"] > 0


def test_points_located_by_blocks_as_at_once(small, monkeypatch):
    """Blocks of points (POINTS_BLOCK, the national files' memory) give the same table and counts as one block,
    boundary points included, whatever the blocks' size (one that does not divide the points)."""
    from nonrecours.admin import geo

    _pop, src, left = small
    contours = read_contours(src.contours)
    # points on contours' vertices (on a boundary), between the recipients' addresses
    corners = shapely.get_coordinates(shapely.boundary(contours.polygons[:4]))[::7]
    on = pd.DataFrame({"lon": corners[:, 0], "lat": corners[:, 1]})
    points = pd.concat([left[["x", "y"]].iloc[: len(left) // 2], on, left[["x", "y"]].iloc[len(left) // 2 :]])
    monkeypatch.setattr(geo, "POINTS_BLOCK", len(points) + 1)
    whole = geo.locate(points.reset_index(drop=True), contours)
    assert whole.counts["boundary"] >= len(on) and whole.counts["inside"] > 0
    for block in (1, 97, len(left) // 3):
        monkeypatch.setattr(geo, "POINTS_BLOCK", block)
        parts = geo.locate(points.reset_index(drop=True), contours)
        pd.testing.assert_frame_equal(parts.table, whole.table)
        assert parts.counts == whole.counts


# --- linkage and rates -------------------------------------------------------------------------------------------


@pytest.mark.slow
def test_linkage_quality_and_adjusted_rates(small, tmp_path):
    from nonrecours.admin.pipeline import compare_with_truth, run_admin_phase

    _pop, src, _left = small
    src.write(tmp_path / "sources")
    ph = run_admin_phase(tmp_path / "sources", truth_links=src.tables["truth_links"], min_cell=11)
    q = ph.quality.set_index("source")
    assert (q["true_precision"] >= 0.97).all() and (q["true_recall"] >= 0.97).all(), q
    assert q.loc["health", "share_number"] > 0.8 and q.loc["tpn", "links_number"] == 0
    assert (ph.links.loc[ph.links["method"] == "number", "match_probability"] == 1).all()
    assert set(ph.links["method"]) <= {"number", "probabilistic"}
    cmp = compare_with_truth(ph.rates.table, src.tables["truth"])
    assert cmp["cells"] > 0 and cmp["mae_adjusted"] < 0.02
    # the sources' truth carries the rates' own estimand: the coverage of it is reported beside
    assert cmp["mae_estimand"] < 0.02 and 0.5 < cmp["coverage_estimand"] <= 1
    pub = ph.rates.table[ph.rates.table["status"] == "published"]
    assert ((pub["ci_low"] <= pub["rate_adjusted"]) & (pub["rate_adjusted"] <= pub["ci_high"])).all()


@pytest.mark.slow
def test_sources_linked_at_once_or_one_at_a_time_give_the_same_bytes(small, tmp_path, monkeypatch):
    """Small files: the sources are linked on threads of their own, each on a DuckDB engine of its own (a sibling of
    the linkage engine: same memory limit and threads); the links, near misses, quality and rates are those of one
    source at a time, to the last bit."""
    from nonrecours.admin import pipeline
    from nonrecours.engines.duckdb import DuckDBEngine

    with DuckDBEngine(memory_limit="500MB", threads=2) as eng, eng.sibling() as other:
        assert other.settings() == eng.settings() and other._con is not eng._con
    _pop, src, _left = small
    src.write(tmp_path / "sources")
    args = {"truth_links": src.tables["truth_links"], "min_cell": 11, "threads": 2}
    at_once = pipeline.run_admin_phase(tmp_path / "sources", **args)
    monkeypatch.setattr(pipeline, "CONCURRENT_LINKAGE_MAX", 0)
    one_by_one = pipeline.run_admin_phase(tmp_path / "sources", **args)
    sources = {"linkage health", "linkage tpn", "linkage tss"}
    assert sources | {"linkage"} <= set(at_once.timings) and sources | {"linkage"} <= set(one_by_one.timings)
    for a, b in (
        (at_once.links, one_by_one.links),
        (at_once.near_misses, one_by_one.near_misses),
        (at_once.quality, one_by_one.quality),
        (at_once.rates.table, one_by_one.rates.table),
    ):
        pd.testing.assert_frame_equal(a, b, check_exact=True)
    assert len(at_once.links) > 0 and set(at_once.links["source"]) == {"health", "tpn", "tss"}
    # one source at a time (large files), the rates' engine under half the phase's memory limit: the same rates
    assert at_once.engines["sql"]["memory_limit"] == "2GB" and one_by_one.engines["sql"]["memory_limit"] == "1GB"
    assert pipeline._half("2GB") == "1GB" and pipeline._half("1.5GiB") == "0.75GiB" and pipeline._half(None) is None


def test_adjustment_formula_on_a_small_table():
    from nonrecours.admin.rates import linked_rates

    # 12 eligible recipients of one territory: 6 linked (p = 1 or 0.8), 6 unlinked (q = 0.5 or 0)
    p = np.array([1, 1, 1, 1, 0.8, 0.8] + [0] * 6)
    q = np.array([0] * 6 + [0.5, 0.5, 0, 0, 0, 0])
    t = pd.DataFrame(
        {
            "rec_id": [f"r{i}" for i in range(12)],
            "territory": "A",
            "departement": "01",
            "right": "tpn",
            "eligible": 1.0,
            "taker": (p > 0).astype(int),
            "p_link": p,
            "q_miss": q,
        }
    )
    t = pd.concat([t, t.assign(territory="B", rec_id=lambda d: d["rec_id"] + "b")], ignore_index=True)
    # 6 takers and 6 non-takers per territory: published from min_cell 5 (issue 12: takers and non-takers count too)
    res = linked_rates(t, min_cell=5).table.set_index("territory")
    assert res.loc["A", "rate"] == pytest.approx(6 / 12)
    exp = (p.sum() + q.sum()) / 12  # 6 - 0.4 + 1.0
    assert res.loc["A", "rate_adjusted"] == pytest.approx(exp, rel=1e-12)
    sd = np.sqrt((p * (1 - p)).sum() + (q * (1 - q)).sum())
    assert res.loc["A", "ci_high"] == pytest.approx(exp + 1.959963984540054 * sd / 12, rel=1e-9)
    assert res.loc["A", "moved"] == pytest.approx(exp - 0.5, rel=1e-12)
    # a small third territory: suppressed (primary), and one more so that the département total does not give
    # it away (secondary); the counts by rule are those of the table's suppressed cells (issue 28: printed 0 and 0)
    small = t[t["territory"] == "A"].head(4).assign(territory="C", rec_id=lambda d: d["rec_id"] + "c")
    got = linked_rates(pd.concat([t, small], ignore_index=True), min_cell=5)
    assert got.n_suppressed == {"primary": 1, "secondary": 1}
    assert sum(got.n_suppressed.values()) == int((got.table["status"] == "suppressed").sum())


def test_source_parameters_are_checked():
    with pytest.raises(OptionError, match="typo_rate"):
        SourceParams(typo_rate=1.5)


@pytest.mark.slow
def test_cli_chain_prints_no_identifier(tmp_path):
    r = CliRunner()
    out = tmp_path / "pop"
    res = r.invoke(app, ["simulate", "--territories", "2", "--seed", "4", "--out", str(out), "--sources"])
    assert res.exit_code == 0, res.output
    s = out / "sources"
    res1 = r.invoke(app, ["eligibility", str(s), "--out", str(tmp_path / "elig.csv")])
    res2 = r.invoke(
        app,
        [
            "link",
            str(s),
            "--out",
            str(tmp_path / "links.csv"),
            "--near-misses-out",
            str(tmp_path / "near.csv"),
            "--quality-out",
            str(tmp_path / "linkage_quality.csv"),
            "--truth",
            str(s / "truth_links.csv"),
        ],
    )
    res3 = r.invoke(
        app,
        [
            "territorial",
            "admin",
            "--sources",
            str(s),
            "--eligibility",
            str(tmp_path / "elig.csv"),
            "--links",
            str(tmp_path / "links.csv"),
            "--near-misses",
            str(tmp_path / "near.csv"),
            "--out",
            str(tmp_path / "admin.csv"),
        ],
    )
    for res in (res1, res2, res3):
        assert res.exit_code == 0, res.output
    caf = pd.read_csv(s / "caf.csv", dtype=str)
    text = res1.output + res2.output + res3.output
    for col in ("rec_id", "nir_hash"):
        assert not any(v in text for v in caf[col].dropna().head(200))
    adm = pd.read_csv(tmp_path / "admin.csv")
    assert {"rate_adjusted", "ci_low", "ci_high", "moved", "status"} <= set(adm.columns)
    # the printed suppression counts are the table's (issue 28: '0 primary, 0 secondary' for 58 suppressed cells)
    import re

    for min_cell in (11, 150):
        res5 = r.invoke(
            app,
            [
                "territorial",
                "admin",
                "--sources",
                str(s),
                "--eligibility",
                str(tmp_path / "elig.csv"),
                "--links",
                str(tmp_path / "links.csv"),
                "--out",
                str(tmp_path / f"admin{min_cell}.csv"),
                "--min-cell",
                str(min_cell),
            ],
        )
        assert res5.exit_code == 0, res5.output
        adm = pd.read_csv(tmp_path / f"admin{min_cell}.csv")
        found = re.search(r"suppressed: (\d+) primary, (\d+) secondary", res5.output)
        assert sum(map(int, found.groups())) == int((adm["status"] == "suppressed").sum())
    assert int(found.group(1)) > 0  # 150 suppresses some cells
    # an existing output is refused (exit 2, one line)
    res4 = r.invoke(app, ["eligibility", str(s), "--out", str(s / "caf.csv")])
    assert res4.exit_code == 2


@pytest.mark.slow
def test_study_admin_section_and_report_fragment(small, tmp_path):
    import html

    from nonrecours.report.section_admin import TEXT, render
    from nonrecours.study.demo import ADMIN_SECTION, example_study
    from nonrecours.study.pipeline import run_study

    pop, src, _ = small
    pop.write(tmp_path / "population")
    src.write(tmp_path / "population" / "sources")
    text = (
        example_study(seed=3)
        .replace("n = 6000", "n = 1200")
        .replace("[territorial]\n", "[territorial]\nenabled = false\n")
        + ADMIN_SECTION
    )
    (tmp_path / "study.toml").write_text(text, encoding="utf-8")
    res = run_study(tmp_path / "study.toml")
    q = res.tables["linkage_quality"]
    assert set(q["source"]) == {"health", "tpn", "tss"}
    cmp_ = res.tables["admin_comparison"]
    assert len(cmp_) == 8 and {"sample_estimate", "admin_rate_adjusted", "difference"} <= set(cmp_.columns)
    assert "admin_rates" in res.tables and "admin_accuracy" in res.tables
    assert not any(c in res.tables["admin_rates"].columns for c in ("rec_id", "id_l", "surname"))
    # [admin] frame_ids: the respondents' records in the files give the misclassification rates (issue 27)
    mis = res.tables["admin_misclassification"]
    assert set(mis["kind"]) == {"sensitivity", "false_positive"} and set(mis["right"]) == {"cmuc", "acs", "tpn", "tss"}
    assert "admin_corrected" in res.tables and "combined" not in res.tables  # no small-area estimates to combine
    fr = render(res.tables, lang="fr")
    en = render(res.tables, lang="en")
    assert TEXT["fr"]["title"] in html.unescape(fr) and TEXT["en"]["title"] in html.unescape(en)
    assert TEXT["fr"]["mis_title"] in html.unescape(fr) and TEXT["en"]["mis_title"] in html.unescape(en)
    assert "\u202f%" in fr and " %" in en
    assert set(TEXT["fr"]) == set(TEXT["en"])
    with pytest.raises(ValueError):
        render(res.tables, lang="de")
    report = (tmp_path / "results" / "publication" / "report.html").read_text(encoding="utf-8")
    assert 'id="admin"' in report  # the section is in the study's report


def test_identifier_error_rates_are_configurable(small):
    pop = small[0]
    params = SourceParams(number_missing_rate=0.2, typo_rate=0.1, married_name_rate=0.2, move_rate=0.1)
    src = simulate_sources(pop, seed=11, params=params)
    left = pd.concat([src.tables[o] for o in ORGANISMS], ignore_index=True)
    n = len(left)
    # seeded: binomial draws on about 7,000 records, tolerance about 4 standard errors
    assert abs((left["nir_certified"] == 0).mean() - 0.2) < 4 * np.sqrt(0.2 * 0.8 / n)
    typos = sum(e["typo_surname"] for k, e in src.errors.items() if k in ORGANISMS)
    assert abs(typos / n - 0.1) < 4 * np.sqrt(0.1 * 0.9 / n)
    h = src.tables["health"]
    assert abs(src.errors["health"]["move"] / len(h) - 0.1) < 4 * np.sqrt(0.1 * 0.9 / len(h))
    assert "nir_hash" not in src.tables["tpn"] and "birth_date" not in src.tables["tpn"]
    # the same seed gives the same files
    again = simulate_sources(pop, seed=11, params=params)
    pd.testing.assert_frame_equal(again.tables["caf"], src.tables["caf"])


def test_a_linked_source_without_numbers_gives_its_ids_as_arrow_text(small):
    """The links of a source without numbers (a supplier's list) come with their ids as Arrow text, as the phase's
    links table holds them: as Python strings they were held through the next linkages (0.4 GiB for TPN's 2.6
    million links at the national scale)."""
    from nonrecours.admin import pipeline
    from nonrecours.engines.duckdb import DuckDBEngine

    _pop, src, left = small
    tpn = src.tables["tpn"]
    assert "nir_hash" not in tpn
    with DuckDBEngine(memory_limit="500MB", threads=1) as eng:
        res, row = pipeline._link_source(left, tpn, "tpn", eng, 0.9, 1, None, len(left))
    assert len(res.links) > 0 and row["links_number"] == 0
    for c in ("id_l", "id_r"):
        assert isinstance(res.links[c].dtype, pd.StringDtype), c
