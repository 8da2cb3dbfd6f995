"""A two-year follow-up of the example study: [follow_up], manifests checked, report section, demo."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from nonrecours.errors import ConfigError
from nonrecours.report import section_followup
from nonrecours.simulate.waves import simulate_waves
from nonrecours.study import load_study, run_study
from nonrecours.study.demo_followup import followup_study

# slow: studies over several years and the demo --years
pytestmark = [pytest.mark.slow, pytest.mark.filterwarnings("ignore::nonrecours.errors.ConvergenceWarning")]

# a small population (12 territories): at the default threshold of 11 respondents too few territories have a
# published direct estimate for the Fay-Herriot model, so this test publishes from 5 (allowed explicitly)
SMALL = {
    "n = 6000": "n = 1500",
    "min_per_stratum = 50": "min_per_stratum = 20",
    'method = "reml"': 'method = "reml"',
    "min_n = 11 ": "min_n = 5 ",
    "reliable_n = 30": "reliable_n = 30\nallow_below_threshold = true",
}


def _study(folder, year, earlier, **kw):
    text = followup_study(year, earlier, seed=3, **kw)
    for old, new in SMALL.items():
        text = text.replace(old, new)
    p = folder / f"study_{year}.toml"
    p.write_text(text)
    return p


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    folder = tmp_path_factory.mktemp("followup")
    w = simulate_waves(12, (2014, 2015), seed=3)
    w.write(folder / "population")
    first = run_study(_study(folder, 2014, []))
    second = run_study(_study(folder, 2015, [2014]))
    return folder, first, second


def test_follow_up_tables_and_report(runs):
    _folder, first, second = runs
    assert "follow_up_yearly" not in first.tables  # the first year has nothing to follow
    y = second.tables["follow_up_yearly"]
    assert sorted(y["year"].unique()) == [2014, 2015]
    ch = second.tables["follow_up_changes"]
    assert (ch["n_both"] > 0).all()  # rotating samples: the overlap is used
    assert (ch["se"] < ch["se_independent"]).mean() > 0.5
    did = second.tables["follow_up_did"]
    assert set(did["right"]) == {"cmuc", "acs", "tpn", "tss"}
    html = (second.folder / "publication" / "report.html").read_text()
    assert '<section id="follow-up">' in html and "QPV" in html
    m = json.loads((second.folder / "publication" / "manifest.json").read_text())
    assert m["follow_up"]["year"] == 2015 and len(m["follow_up"]["runs"]) == 1
    assert "publication/follow_up_changes.csv" in m["outputs"]
    # the sample of 2015 is coordinated with 2014's
    s14 = pd.read_csv(first.folder / "microdata" / "sample.csv", dtype={"id": str})
    s15 = pd.read_csv(second.folder / "microdata" / "sample.csv", dtype={"id": str})
    assert 0.4 < s15["id"].isin(s14["id"]).mean() < 0.9


def test_tampered_earlier_run_is_refused_before_any_work(runs, tmp_path):
    folder, first, _ = runs
    import shutil

    copy = tmp_path / "results" / "2014"
    shutil.copytree(first.folder, copy)
    tampered = copy / "publication" / "estimates_national.csv"
    tampered.write_text(tampered.read_text() + "\n")
    text = _study(folder, 2015, [2014]).read_text().replace('runs = ["results/2014"]', f'runs = ["{copy}"]')
    text = text.replace('folder = "results/2015"', f'folder = "{tmp_path / "out"}"')
    p = folder / "tampered.toml"
    p.write_text(text)
    with pytest.raises(ConfigError, match=r"follow_up\.runs\[0\].*SHA-256"):
        run_study(p)
    assert not (tmp_path / "out").exists()


def test_follow_up_config_errors(runs):
    folder, _, _ = runs
    bad = _study(folder, 2015, [2014]).read_text().replace('scheme = "rotating"', 'scheme = "cohort"')
    p = folder / "bad.toml"
    p.write_text(bad)
    with pytest.raises(ConfigError, match="follow_up.scheme"):
        load_study(p)
    p.write_text(
        _study(folder, 2015, [2014])
        .read_text()
        .replace("year = 2015", "year = 2013")
        .replace('folder = "results/2015"', 'folder = "results/bad"')
    )
    with pytest.raises(ConfigError, match="increase"):
        run_study(p)


def test_section_in_french(runs):
    _, _, second = runs
    html = section_followup.render(second.tables, lang="fr", scheme="rotating")
    assert "Suivi année après année" in html and "\u202f%" in html
    assert "Évolution nette de l'écart QPV − reste" in html.replace("&#x27;", "'")
    en = section_followup.render(second.tables, lang="en", scheme="rotating")
    assert set(section_followup.TEXT["en"]) == set(section_followup.TEXT["fr"])
    assert "Follow-up over the years" in en
    assert "\u202fpts" in html  # changes in percentage points, formatted by nonrecours.report.format


@pytest.mark.slow
def test_demo_years_cli(tmp_path):
    from typer.testing import CliRunner

    from nonrecours.cli.main import app

    out = tmp_path / "demo"
    r = CliRunner().invoke(
        app, ["demo", "--years", "2014-2015", "--territories", "8", "--seed", "2", "--out", str(out)]
    )
    assert r.exit_code == 0, r.output
    assert (out / "study_2015.toml").is_file() and (out / "population" / "waves.json").is_file()
    html = (out / "results" / "2015" / "publication" / "report.html").read_text()
    assert '<section id="follow-up">' in html
    assert "Changes of take-up" in r.output
    r = CliRunner().invoke(app, ["demo", "--years", "2014", "--out", str(tmp_path / "x")])
    assert r.exit_code == 2 and "--years" in r.output


@pytest.mark.slow
def test_demo_years_with_a_relative_out(tmp_path, monkeypatch):
    """A relative --out (issue 28: the runs resolve their folders, the staging folder was relative: ValueError
    from Path.relative_to after everything was written, exit 1)."""
    from typer.testing import CliRunner

    from nonrecours.cli.main import app

    monkeypatch.chdir(tmp_path)
    r = CliRunner().invoke(
        app,
        [
            "demo",
            "--years",
            "2014-2015",
            "--territories",
            "8",
            "--seed",
            "2",
            "--quiet",
            "--no-admin",
            "--out",
            "follow-up",
        ],
    )
    assert r.exit_code == 0, r.output
    assert (tmp_path / "follow-up" / "results" / "2015" / "publication" / "report.html").is_file()


def test_series_over_study_runs_matches_the_follow_up(runs, tmp_path):
    from typer.testing import CliRunner

    from nonrecours.cli.main import app

    _, first, second = runs
    out = tmp_path / "series"
    r = CliRunner().invoke(
        app,
        [
            "series",
            "--rights",
            "cmuc,acs,tpn,tss",
            "--by",
            "is_qpv",
            "--runs",
            f"{first.folder},{second.folder}",
            "--out",
            str(out),
        ],
    )
    assert r.exit_code == 0, r.output
    got = pd.read_csv(out / "series_changes.csv")
    want = second.tables["follow_up_changes"]
    pd.testing.assert_series_equal(got["se"], want["se"], check_names=False, rtol=1e-12)
    pd.testing.assert_series_equal(got["change"], want["change"], check_names=False, rtol=1e-12)


def test_killed_demo_years_leaves_nothing_half_finished(tmp_path):
    """demo --years builds everything in a staging folder, as run does: killed (SIGKILL) after its first year,
    it leaves no demo folder; the next demo removes the staging folder left behind and writes the whole demo."""
    import os
    import subprocess
    import sys
    import time
    from pathlib import Path

    from typer.testing import CliRunner

    from nonrecours.cli.main import app

    out = tmp_path / "demo"
    args = ["demo", "--years", "2014-2015", "--territories", "8", "--seed", "2", "--quiet", "--out", str(out)]
    root = Path(__file__).resolve().parents[1]
    proc = subprocess.Popen(
        [sys.executable, "-m", "nonrecours", *args],
        cwd=root,
        env={**os.environ, "PYTHONPATH": str(root)},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 120
    staging = []
    while time.monotonic() < deadline and proc.poll() is None:
        staging = [p for p in tmp_path.iterdir() if p.name.startswith(".demo.staging-")]
        if staging and (staging[0] / "results" / "2014" / "publication" / "manifest.json").is_file():
            break  # the first year is written, the second not yet
        time.sleep(0.005)
    assert proc.poll() is None, "the demo ended before it could be killed"
    proc.kill()  # SIGKILL: no clean-up code runs
    proc.wait()
    assert staging and staging[0].exists() and not out.exists()  # no half-finished demo folder
    r = CliRunner().invoke(app, args)
    assert r.exit_code == 0, r.output
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # the strays are cleaned
    assert sorted(p.name for p in out.iterdir()) == [
        "manifest.json",
        "population",
        "results",
        "study_2014.toml",
        "study_2015.toml",
    ]  # the demo's manifest lists what it wrote
    assert (out / "results" / "2015" / "publication" / "follow_up_changes.csv").is_file()
    # a second demo into the same folder is refused without --overwrite, and replaces it whole with it
    r = CliRunner().invoke(app, args)
    assert r.exit_code == 2 and "--overwrite" in r.output
    (out / "notes.txt").write_text("mine")
    r = CliRunner().invoke(app, [*args, "--overwrite"])
    assert r.exit_code == 2 and "did not write" in r.output and (out / "notes.txt").is_file()
    (out / "notes.txt").unlink()
    inside = out / "results" / "2015" / "publication" / "notes.txt"  # inside a run's folder: kept too
    inside.write_text("mine")
    r = CliRunner().invoke(app, [*args, "--overwrite"])
    assert r.exit_code == 2 and "1 other file" in r.output and inside.read_text() == "mine"


def test_demo_folder_check_is_one_rule_for_both_demos(tmp_path, monkeypatch):
    """demo and demo --years check their folder with the same function (study.demo.check_demo_folder)."""
    from nonrecours.errors import OutputError
    from nonrecours.study.demo import check_demo_folder

    ours = lambda name: name in ("population", "results")  # noqa: E731
    assert check_demo_folder(tmp_path / "new", False, ours) == tmp_path / "new"
    (tmp_path / "f.txt").write_text("x")
    for out, overwrite, text in (
        (" ", False, "empty folder name"),
        (tmp_path / "f.txt", False, "is a file"),
        (tmp_path, True, "current folder"),
        (tmp_path, False, "not empty"),
    ):
        if text == "current folder":
            monkeypatch.chdir(tmp_path)
        with pytest.raises(OutputError, match=text):
            check_demo_folder(out, overwrite, ours)
        monkeypatch.chdir(tmp_path.parent)
    (tmp_path / "d" / "population").mkdir(parents=True)
    assert check_demo_folder(tmp_path / "d", True, ours) == tmp_path / "d"
    (tmp_path / "d" / "notes.txt").write_text("x")
    with pytest.raises(OutputError, match="did not write"):
        check_demo_folder(tmp_path / "d", True, ours)


def _yearly_against(yearly, year, want):
    """The published yearly SEs of ``year`` beside ``want`` (estimate_rates by is_qpv), on the published cells."""
    got = yearly[yearly["year"] == year].merge(want, on=["is_qpv", "right"], suffixes=("", "_want"))
    got = got[got["se"].notna()]
    assert len(got) >= 4  # most cells are published
    return got


def test_follow_up_uses_each_runs_calibrated_design(runs):
    """Designs travel with their weights (issue 24): each run writes the design sidecar of its weights.csv, and
    the follow-up's yearly SEs are those of each run's calibrated design (equal to estimating it directly), not
    those of the same weights without their calibration."""
    import dataclasses

    import numpy as np

    from nonrecours.estimation import estimate_rates
    from nonrecours.weights.sidecar import load_weighted_design, sidecar_path

    _, first, second = runs
    yearly = second.tables["follow_up_yearly"]
    rights = list(second.config.estimation.rights)
    rule = second.config.estimation.lonely_psu
    for year, res in ((2014, first), (2015, second)):
        path = res.folder / "microdata" / "weights.csv"
        assert sidecar_path(path).is_file() and "microdata/weights.design.json" in res.manifest["outputs"]
        design = load_weighted_design(path, lonely_psu=rule)
        assert design.calibration and design.lonely_psu == rule
        want = estimate_rates(design, rights, by="is_qpv").to_frame()
        got = _yearly_against(yearly, year, want[["is_qpv", "right", "estimate", "se"]])
        np.testing.assert_allclose(got["estimate"], got["estimate_want"], rtol=1e-12)
        np.testing.assert_allclose(got["se"], got["se_want"], rtol=1e-12)
        # the same weights without the calibration's residuals (what the follow-up gave before): other SEs
        plain = estimate_rates(dataclasses.replace(design, calibration=()), rights, by="is_qpv").to_frame()
        got = _yearly_against(yearly, year, plain[["is_qpv", "right", "estimate", "se"]])
        rel = np.abs(got["se"] / got["se_want"] - 1)
        assert (rel > 1e-4).all() and rel.max() > 5e-3


def _weighted_wave(rng, ids, year):
    """A weighted wave: strata of 2-4 clusters and one stratum of a single cluster (a lonely PSU), raked to
    margins of is_qpv."""
    from nonrecours.weights.margins import Margins
    from nonrecours.weights.pipeline import WeightingSpec, weight_sample

    n = ids.size
    stratum = np.where(np.arange(n) < 40, "h0", np.where(np.arange(n) < 200, "h1", "h2"))
    psu = np.where(stratum == "h0", "c0", np.char.add("c", (1 + np.arange(n) % 7).astype(str)))
    psu = np.char.add(np.char.add(stratum.astype(str), ":"), psu)
    df = pd.DataFrame(
        {
            "id": ids.astype(str),
            "stratum": stratum,
            "psu": psu,
            "weight": rng.uniform(5, 15, n),
            "is_qpv": rng.integers(0, 2, n),
            "territory": [f"t{k}" for k in rng.integers(0, 4, n)],
            "scheme": "panel",
        }
    )
    for r in ("cmuc", "acs", "tpn", "tss"):
        df[r] = (rng.uniform(size=n) < 0.4 + 0.1 * df["is_qpv"]).astype(float)
    totals = pd.DataFrame({"variable": "is_qpv", "category": ["0", "1"], "total": [2200.0 + year % 7, 1800.0]})
    spec = WeightingSpec(
        weight="weight",
        design={"strata": "stratum", "psu": "psu"},
        lonely_psu="fail",
        margins=Margins.from_frame(totals, source="test"),
        method="raking",
    )
    return weight_sample(df, spec)


@pytest.mark.filterwarnings("ignore::nonrecours.errors.LonelyPSUWarning")
def test_follow_up_honours_the_studys_lonely_psu_rule(runs, tmp_path):
    """The follow-up applies the study's [estimation] lonely_psu to every wave and to the union design (it used
    'adjust' whatever the study said): with 'certainty', the yearly SEs are those of each calibrated design under
    'certainty', and differ from those under 'adjust'."""
    import dataclasses

    from nonrecours.estimation import estimate_rates
    from nonrecours.io import write_json, write_table
    from nonrecours.study.stages.follow_up import follow_up_stage
    from nonrecours.weights.sidecar import sidecar_path

    folder, _, _ = runs
    text = _study(folder, 2015, [2014]).read_text().replace('lonely_psu = "adjust"', 'lonely_psu = "certainty"')
    p = folder / "certainty.toml"
    p.write_text(text)
    cfg = load_study(p)
    assert cfg.estimation.lonely_psu == "certainty"
    rng = np.random.default_rng(11)
    ids = np.arange(400)
    w14, w15 = _weighted_wave(rng, ids, 2014), _weighted_wave(rng, ids, 2015)  # a panel
    weights = tmp_path / "run2014" / "microdata" / "weights.csv"
    weights.parent.mkdir(parents=True)
    write_table(w14.table, weights)
    write_json(w14.sidecar, sidecar_path(weights))
    run = {
        "year": 2014,
        "folder": tmp_path / "run2014",
        "manifest_sha256": "0" * 64,
        "scheme": "panel",
        "weights": weights,
        "sample": weights,
    }
    out = follow_up_stage(cfg, {"runs": [run], "design": w15.design, "tables": {}})
    yearly = out["tables"]["follow_up_yearly"].astype({"is_qpv": int})
    rights = list(cfg.estimation.rights)
    for year, wave in ((2014, w14), (2015, w15)):
        assert wave.design.calibration
        want = estimate_rates(dataclasses.replace(wave.design, lonely_psu="certainty"), rights, by="is_qpv")
        adjust = estimate_rates(dataclasses.replace(wave.design, lonely_psu="adjust"), rights, by="is_qpv")
        got = _yearly_against(yearly, year, want.to_frame()[["is_qpv", "right", "se"]])
        np.testing.assert_allclose(got["se"], got["se_want"], rtol=1e-12)
        other = _yearly_against(yearly, year, adjust.to_frame()[["is_qpv", "right", "se"]])
        assert (np.abs(other["se"] / other["se_want"] - 1) > 1e-6).all()
    assert "lonely PSU rule certainty" in out["methods"]["follow-up"]["series"]


def test_a_run_written_before_the_sidecar_is_read_without_its_calibration(runs, tmp_path):
    """A run of an earlier version (no weights.design.json) still enters a series: its respondents' final weights
    with the design columns of weights.csv, no calibration, and a warning that says so."""
    import json
    import shutil

    from nonrecours.errors import NonrecoursWarning
    from nonrecours.study.runs import read_run, run_design

    _, first, _ = runs
    old = tmp_path / "2014"
    shutil.copytree(first.folder, old)
    (old / "microdata" / "weights.design.json").unlink()
    manifest = json.loads((old / "publication" / "manifest.json").read_text())
    del manifest["outputs"]["microdata/weights.design.json"]
    (old / "publication" / "manifest.json").write_text(json.dumps(manifest))
    run = read_run(old, "follow_up.runs[0]")
    with pytest.warns(NonrecoursWarning, match="no design sidecar"):
        design = run_design(run, lonely_psu="certainty")
    new = run_design(read_run(first.folder, "follow_up.runs[0]"), lonely_psu="certainty")
    assert not design.calibration and new.calibration and design.lonely_psu == new.lonely_psu == "certainty"
    np.testing.assert_allclose(design.weights, new.weights, rtol=1e-15)  # the same weights, 0 for non-respondents


def test_follow_up_territory_series_from_rao_yu(runs):
    """The follow-up's territorial stage fits Rao-Yu over the runs' years: this year's sae is the series' last
    year, the manifest names the model, the report shows the series and what the model gained."""
    _folder, first, second = runs
    assert "sae_series" not in first.tables  # one year: univariate Fay-Herriot, said so
    m1 = json.loads((first.folder / "publication" / "manifest.json").read_text())
    assert m1["methods"]["territorial"]["territorial model"] == "fh"
    s = second.tables["sae_series"]
    assert sorted(s["year"].unique()) == [2014, 2015] and set(s["model"]) == {"rao-yu"}
    last = s[s["year"] == 2015].drop(columns=["year", "model", "median_rmse_ratio"]).reset_index(drop=True)
    sae = second.tables["sae"][last.columns].reset_index(drop=True)
    pd.testing.assert_frame_equal(last, sae, check_dtype=False)
    ratio = s.groupby("right")["median_rmse_ratio"].first()
    assert ((ratio > 0) & (ratio < 1)).all()  # below the direct SE: what borrowing over the years gained
    m = json.loads((second.folder / "publication" / "manifest.json").read_text())
    assert m["methods"]["territorial"]["territorial model"] == "rao-yu"
    assert m["config"]["territorial"]["model"] == "rao-yu"
    html = (second.folder / "publication" / "report.html").read_text()
    assert "Rao–Yu" in html and "publication/sae_series.csv" in m["outputs"]


def test_rao_yu_earlier_years_under_the_current_years_rule(runs):
    """The earlier year enters the Rao-Yu model under the rule of its own run's model (min_n eligible respondents,
    protected across partitions): its sampled territories are those the first run's model had a direct estimate
    for, not every territory with one eligible respondent."""
    _folder, first, second = runs
    s = second.tables["sae_series"]
    before = s[s["year"] == 2014].set_index(["territory", "right"])["in_sample"].astype(bool)
    own = first.tables["sae"].set_index(["territory", "right"])["in_sample"].astype(bool)
    assert before.sum() > 0
    pd.testing.assert_series_equal(before.sort_index(), own.reindex(before.index).sort_index(), check_names=False)
