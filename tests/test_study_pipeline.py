"""A small study end to end: files, manifest hashes, identical re-runs, report, safety."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pandas as pd
import pytest

from nonrecours.errors import ConfigError, OutputError
from nonrecours.io import write_table
from nonrecours.report import SECTIONS
from nonrecours.simulate import simulate_population
from nonrecours.territorial import OUTPUT_COLUMNS
from nonrecours.study import OUTPUT_FILES, run_study
from nonrecours.study.demo import example_study
from nonrecours.study.manifest import sha256_file, verify_manifest
from nonrecours.study.pipeline import ADMIN_TABLES

ADMIN_FILES = {f"{t}.csv" for t in ADMIN_TABLES}  # written only by a study with an [admin] section

pytestmark = pytest.mark.filterwarnings("ignore::nonrecours.errors.ConvergenceWarning")

SMALL = {"n = 6000": "n = 1500", "min_per_stratum = 50": "min_per_stratum = 20"}


def write_study(folder: Path, text: str | None = None, **replace: str) -> Path:
    """The example study, made small, with extra replacements ``old=new``."""
    text = example_study(seed=5) if text is None else text
    for old, new in {**SMALL, **replace}.items():
        assert old in text, old
        text = text.replace(old, new)
    path = folder / "study.toml"
    path.write_text(text)
    return path


@pytest.fixture(scope="module")
def population(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("study")
    simulate_population(25, seed=5).write(folder / "population")
    return folder


@pytest.fixture(scope="module")
def run(population):
    study = write_study(population)
    result = run_study(study)
    first = {p.relative_to(result.folder).as_posix(): p.read_bytes() for p in result.folder.rglob("*") if p.is_file()}
    again = run_study(study, overwrite=True)
    return result, first, again


def test_files_present(run):
    result, first, _ = run
    assert set(OUTPUT_FILES) - ADMIN_FILES <= set(first)  # the example study has no [admin] section
    assert not [n for n in first if n.endswith(".tmp") or n.startswith(".")]
    nat = result.tables["estimates_national"]
    assert list(nat["right"]) == ["cmuc", "acs", "tpn", "tss"]
    assert {"n", "estimate", "se", "ci_low", "ci_high", "df", "deff", "cv", "flag"} <= set(nat.columns)
    assert set(result.tables["gap_qpv"]["right"]) == {"cmuc", "acs", "tpn", "tss"}
    assert result.tables["sae"]["territory"].nunique() == 50


def test_manifest_hashes(run):
    result, _, _ = run
    m = json.loads((result.folder / "manifest.json").read_text())
    assert verify_manifest(m, result.folder) == []
    assert set(m["outputs"]) == set(OUTPUT_FILES) - {"manifest.json"} - ADMIN_FILES
    pop = result.config.frame.path.parent
    assert m["inputs"]["frame.path"]["sha256"] == sha256_file(pop / "recipients.csv")
    assert m["inputs"]["territorial.truth"]["path"] == "population/truth.csv"
    assert m["study_file"]["text"] == result.config.text
    assert m["seeds"] == {"design": 5, "responses": 6}
    assert set(m["versions"]) == {"nonrecours", "numpy", "scipy", "pandas", "statsmodels", "matplotlib", "python"}
    assert {"frame", "allocation", "selection", "weighting", "estimation", "territorial", "total"} <= set(
        m["timings_seconds"])


def test_rerun_identical_but_timings(run):
    result, first, again = run
    second = {p.relative_to(again.folder).as_posix(): p.read_bytes() for p in again.folder.rglob("*") if p.is_file()}
    assert first.keys() == second.keys()
    for name in first:
        if name != "manifest.json":
            assert first[name] == second[name], name
    m1, m2 = json.loads(first["manifest.json"]), json.loads(second["manifest.json"])
    m1.pop("timings_seconds"), m2.pop("timings_seconds")
    assert m1 == m2


def test_report_sections_and_images(run):
    result, first, _ = run
    html = first["report.html"].decode()
    for sid, _ in SECTIONS:
        assert f'<section id="{sid}">' in html
    # weights, QPV gap, caterpillar, shrinkage, and the odds-ratio forest plot of "who does not take up"
    assert html.count('<img src="data:image/png;base64,') == 5
    assert "https://" not in html and "http://" not in html and "<script" not in html
    # numbers of the report are those of the tables
    nat = result.tables["estimates_national"].set_index("right")
    assert f"{100 * nat.loc['cmuc', 'estimate']:.1f}\u202f%".replace(".", ",") in html  # « 61,7 % »
    assert "linéarisation de Taylor" in html and "REML" in html  # the example study's report is in French


def test_non_empty_folder_refused(run):
    result, _, _ = run
    with pytest.raises(OutputError, match="not empty"):
        run_study(result.config)


def test_config_error_writes_nothing(population, tmp_path):
    shutil.copytree(population / "population", tmp_path / "population")
    study = write_study(tmp_path, **{'classes = ["is_qpv", "benefit", "age_band"]':
                                     'classes = ["is_qpv", "benefit", "agee_band"]'})
    with pytest.raises(ConfigError, match=r"^weighting\.nonresponse\.classes: column not found"):
        run_study(study)
    assert not (tmp_path / "results").exists()
    study = write_study(tmp_path, **{"level = 0.95": "level = 95"})
    with pytest.raises(ConfigError, match=r"^estimation\.level"):
        run_study(study)
    assert not (tmp_path / "results").exists()


def test_input_never_overwritten(population, tmp_path):
    pop = tmp_path / "population"
    shutil.copytree(population / "population", pop)
    shutil.copy(pop / "truth.csv", pop / "sample.csv")
    study = write_study(tmp_path, **{'folder = "results"': 'folder = "population"',
                                     'truth = "population/truth.csv"': 'truth = "population/sample.csv"'})
    before = sha256_file(pop / "sample.csv")
    with pytest.raises(OutputError, match="overwrite an input"):
        run_study(study, overwrite=True)
    assert sha256_file(pop / "sample.csv") == before


def test_collected_answers_give_the_dry_run_estimates(run, tmp_path):
    """Answers collected from the dry run's respondents reproduce its estimates exactly."""
    result, _, _ = run
    weights = result.tables["weights"]
    rights = ["cmuc", "acs", "tpn", "tss"]
    answers = weights.loc[weights["responded"] == 1, ["id", *rights]]
    shutil.copytree(result.config.frame.path.parent, tmp_path / "population")
    write_table(answers, tmp_path / "answers.csv")
    study = write_study(tmp_path, **{"simulate = true": 'path = "answers.csv"'})
    real = run_study(study)
    for name in ("estimates_national", "gap_qpv", "estimates_territory", "sae"):
        pd.testing.assert_frame_equal(real.tables[name], result.tables[name])
    assert "Réponses collectées" in (real.folder / "report.html").read_text()


def test_territorial_disabled(population, tmp_path):
    shutil.copytree(population / "population", tmp_path / "population")
    study = write_study(tmp_path, **{"[territorial]\n": "[territorial]\nenabled = false\n"})
    res = run_study(study)
    assert "sae" not in res.tables and not (res.folder / "sae.csv").exists()
    assert "pas été exécutée" in (res.folder / "report.html").read_text()


def test_unit_level_model(population, tmp_path):
    """[territorial] model = "unit": the unit-level EBP in sae.csv, the same columns, compared with the truth."""
    shutil.copytree(population / "population", tmp_path / "population")
    study = write_study(tmp_path, **{"[territorial]\n": "[territorial]\nmodel = \"unit\"\nreplicates = 10\n"})
    res = run_study(study)
    sae = res.tables["sae"]
    assert list(sae.columns) == list(OUTPUT_COLUMNS)
    assert sae["eblup"].between(0, 1).all() and (sae["mse"] > 0).all()
    assert set(sae.loc[sae["in_sample"], "gamma"].between(0, 1)) == {True}
    assert "comparison_summary" in res.tables
