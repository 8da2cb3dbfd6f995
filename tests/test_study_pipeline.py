"""A small study end to end: files, manifest hashes, identical re-runs, report, safety."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pandas as pd
import pytest

from nonrecours.errors import ConfigError, OutputError
from nonrecours.io import write_table
from nonrecours.report import SECTIONS
from nonrecours.simulate import simulate_population
from nonrecours.study import OUTPUT_FILES, run_study
from nonrecours.study.demo import example_study
from nonrecours.study.manifest import sha256_file, verify_manifest
from nonrecours.study.pipeline import ADMIN_TABLES
from nonrecours.territorial import OUTPUT_COLUMNS

ADMIN_FILES = {f"publication/{t}.csv" for t in ADMIN_TABLES}  # written only by a study with an [admin] section
# written only with [weighting.calibration] holders (an [admin] section) and with a Rao-Yu follow-up
ADMIN_FILES |= {"publication/calibration_gain.csv", "publication/sae_series.csv"}

# slow: end-to-end study runs
pytestmark = [pytest.mark.slow, pytest.mark.filterwarnings("ignore::nonrecours.errors.ConvergenceWarning")]

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


def _files(folder):
    """Every file of a run's folder, by path relative to it."""
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def run(population):
    study = write_study(population)
    result = run_study(study)
    first = _files(result.folder)
    again = run_study(study, overwrite=True)
    return result, first, again


def test_files_present(run):
    result, first, _ = run
    assert set(OUTPUT_FILES) - ADMIN_FILES <= set(first)  # the example study has no [admin] section
    assert not [n for n in first if n.endswith(".tmp") or "/." in n or n.startswith(".")]
    assert sorted(p.name for p in result.folder.iterdir()) == ["microdata", "publication"]
    assert not [p for p in result.folder.parent.iterdir() if p.name.startswith(".")]  # no staging left
    nat = result.tables["estimates_national"]
    assert list(nat["right"]) == ["cmuc", "acs", "tpn", "tss"]
    assert {"n", "estimate", "se", "ci_low", "ci_high", "df", "deff", "cv", "flag"} <= set(nat.columns)
    assert set(result.tables["gap_qpv"]["right"]) == {"cmuc", "acs", "tpn", "tss"}
    assert result.tables["sae"]["territory"].nunique() == 50


def test_manifest_hashes(run):
    result, _, _ = run
    m = json.loads((result.folder / "publication" / "manifest.json").read_text())
    assert verify_manifest(m, result.folder) == []
    assert set(m["outputs"]) == set(OUTPUT_FILES) - {"publication/manifest.json"} - ADMIN_FILES
    assert set(m["publication"]) == {"publication", "microdata"}
    pop = result.config.frame.path.parent
    assert m["inputs"]["frame.path"]["sha256"] == sha256_file(pop / "recipients.csv")
    assert m["inputs"]["territorial.truth"]["path"] == "population/truth.csv"
    assert m["study_file"]["text"] == result.config.text
    assert m["seeds"] == {"design": 5, "responses": 6}
    assert set(m["versions"]) == {"nonrecours", "numpy", "scipy", "pandas", "statsmodels", "matplotlib", "python"}
    assert {"frame", "allocation", "selection", "weighting", "estimation", "territorial", "total"} <= set(
        m["timings_seconds"]
    )


def test_rerun_identical_but_timings(run):
    _result, first, again = run
    second = _files(again.folder)
    assert first.keys() == second.keys()
    for name in first:
        if name != "publication/manifest.json":
            assert first[name] == second[name], name
    m1, m2 = json.loads(first["publication/manifest.json"]), json.loads(second["publication/manifest.json"])
    m1.pop("timings_seconds"), m2.pop("timings_seconds")
    assert m1 == m2


def test_report_sections_and_images(run):
    result, first, _ = run
    html = first["publication/report.html"].decode()
    for sid, _ in SECTIONS:
        assert f'<section id="{sid}">' in html
    # weights, QPV gap, caterpillar, shrinkage, and the odds-ratio forest plot of "who does not take up"
    assert html.count('<img src="data:image/png;base64,') == 5
    assert "https://" not in html and "http://" not in html
    # one inline script (search, sort, finder: issue 20) and one JSON data block, nothing loaded from elsewhere
    assert not re.search(r"<script[^>]*\bsrc=|<link[^>]*\bhref=|@import|url\((?!data:)", html)
    assert html.count("<script") == 2
    # numbers of the report are those of the tables
    nat = result.tables["estimates_national"].set_index("right")
    assert f"{100 * nat.loc['cmuc', 'estimate']:.1f}\u202f%".replace(".", ",") in html  # « 61,7 % »
    assert "linéarisation de Taylor" in html and "REML" in html  # the example study's report is in French


def test_non_empty_folder_refused(run):
    result, _, _ = run
    with pytest.raises(OutputError, match="not empty"):
        run_study(result.config)


def test_thresholds_below_11_need_the_switch_and_are_stated(population, tmp_path):
    """A study's min_n under 11 is refused without allow_below_threshold = true (naming the key and the switch);
    with it, the manifest records the thresholds and the report says so (issue 25, item 3)."""
    from nonrecours.errors import ConfigError

    low = {"min_n = 11 ": "min_n = 5 "}
    with pytest.raises(
        ConfigError,
        match=r"estimation\.thresholds\.min_n: a disclosure threshold below 11.*"
        r"allow_below_threshold = true",
    ):
        run_study(write_study(population, **low))
    allowed = write_study(
        population,
        **low,
        **{
            "reliable_n = 30": "reliable_n = 30\nallow_below_threshold = true",
            'folder = "results"': 'folder = "results_low"',
        },
    )
    result = run_study(allowed)
    m = json.loads((result.folder / "publication" / "manifest.json").read_text())
    assert m["settings"]["disclosure"] == {
        "min_n": 5,
        "min_cell": 11,
        "threshold": 11,
        "allow_below_threshold": True,
        "below_threshold": True,
    }
    html = (result.folder / "publication" / "report.html").read_text()
    assert "min_n = 5" in html and ("allowed explicitly" in html or "autorisés explicitement" in html)


def test_config_error_writes_nothing(population, tmp_path):
    shutil.copytree(population / "population", tmp_path / "population")
    study = write_study(
        tmp_path, **{'classes = ["is_qpv", "benefit", "age_band"]': 'classes = ["is_qpv", "benefit", "agee_band"]'}
    )
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
    study = write_study(
        tmp_path,
        **{
            'folder = "results"': 'folder = "population"',
            'truth = "population/truth.csv"': 'truth = "population/sample.csv"',
        },
    )
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
    assert "Réponses collectées" in (real.folder / "publication" / "report.html").read_text()


def test_territorial_disabled(population, tmp_path):
    shutil.copytree(population / "population", tmp_path / "population")
    study = write_study(tmp_path, **{"[territorial]\n": "[territorial]\nenabled = false\n"})
    res = run_study(study)
    assert "sae" not in res.tables and not (res.folder / "publication" / "sae.csv").exists()
    assert "pas été exécutée" in (res.folder / "publication" / "report.html").read_text()


def test_publication_has_no_row_per_person(run):
    """Nothing in publication/ has a row per recipient, an id or a recipient's own columns."""
    result, first, _ = run
    weights = result.tables["weights"]
    ids = set(weights["id"].astype(str)) | set(weights["psu"].astype(str))
    personal = {"id", "psu", "age_band", "household", "housing", "responded", "weight", "g", "pi"}
    pub = {k: v for k, v in first.items() if k.startswith("publication/")}
    assert {k for k in first if k.startswith("microdata/")} == {
        "microdata/sample.csv",
        "microdata/weights.csv",
        "microdata/weights.design.json",
        "microdata/comparison.csv",
    }
    assert "publication/tables.xlsx" in pub
    for name, data in pub.items():
        if name.endswith(".xlsx"):  # the publication workbook: every cell of every sheet
            sheets = pd.read_excel(result.folder / name, sheet_name=None, header=None, dtype=str)
            text = "\n".join(df.fillna("").to_csv(index=False) for df in sheets.values())
            assert all(len(df) < len(weights) / 2 for df in sheets.values()), name
        else:
            text = data.decode()
        assert not any(i in text for i in ids), name  # no identifier anywhere, the report included
        if name.endswith(".csv"):
            df = pd.read_csv(result.folder / name)
            assert not personal & set(df.columns), name
            assert len(df) < len(weights) / 2, name
    html = first["publication/report.html"].decode()
    assert "microdata/" in html and "publication/" in html


def test_no_single_respondents_weight_published(run):
    """The weighting table of the report and manifest.json publish no minimum or maximum weight or g-weight (each
    one respondent's value) but the means of the min_n smallest and largest, in English and French."""
    import numpy as np

    result, first, _ = run
    m = json.loads(first["publication/manifest.json"])
    w = m["weighting"]
    min_n = m["settings"]["thresholds"]["min_n"]
    assert min_n == 11 and w["respondents in each extreme mean"] == min_n
    table = result.tables["weights"]
    resp = table[table["status"] == "respondent"]
    for column, label in (("weight", "final weight"), ("g", "g-weight")):
        v = np.sort(resp[column].to_numpy(dtype=float))
        assert w[f"{label}, mean of the smallest"] == pytest.approx(v[:min_n].mean(), rel=1e-12)
        assert w[f"{label}, mean of the largest"] == pytest.approx(v[-min_n:].mean(), rel=1e-12)
        published = [x for x in w.values() if isinstance(x, float)]
        assert not any(np.isclose(x, v[0], rtol=1e-9) or np.isclose(x, v[-1], rtol=1e-9) for x in published), column
    # no median either (one respondent's g-weight, issue 25): the mean of the min_n middle g-weights instead
    g = np.sort(resp["g"].to_numpy(dtype=float))
    start = (g.size - min_n) // 2
    assert w["g-weight, mean of the middle"] == pytest.approx(g[start : start + min_n].mean(), rel=1e-12)
    assert not any("median" in k for k in w)
    assert m["settings"]["disclosure"] == {
        "min_n": 11,
        "min_cell": 11,
        "threshold": 11,
        "allow_below_threshold": False,
        "below_threshold": False,
    }
    assert w["final weight, ratio largest / smallest"] == pytest.approx(
        w["final weight, mean of the largest"] / w["final weight, mean of the smallest"], rel=1e-12
    )
    assert not any(k.endswith((" min", " max")) for k in w)
    html = first["publication/report.html"].decode()
    assert ("poids final, moyenne des plus grands" in html) != ("final weight, mean of the largest" in html)
    assert "poids final maximum" not in html and "final weight max" not in html


def _true_n(weights: pd.DataFrame, by: str | None) -> dict:
    """Eligible respondents per domain x right, from the confidential weights file."""
    rights = ["cmuc", "acs", "tpn", "tss"]
    resp = weights[weights["weight"] > 0]
    out = {}
    for r in rights:
        el = resp[resp[r].notna()]
        if by is None:
            out[(None, None, r)] = len(el)
        else:
            for k, v in el.groupby(el[by].astype(str)).size().items():
                out[(by, k, r)] = int(v)
            for k in resp[by].astype(str).unique():
                out.setdefault((by, k, r), 0)
    return out


def test_attacker_recovers_no_small_count_from_publication(run):
    """From every table of publication/ (the report shows the same numbers), the linear relations between
    domain counts and their totals recover no count below the threshold."""
    from attacker import attack_domains

    result, _, _ = run
    pub = result.folder / "publication"
    min_n = result.config.estimation.thresholds.min_n
    assert min_n == 11
    weights = result.tables["weights"]
    truth = {
        **_true_n(weights, None),
        **_true_n(weights, "is_qpv"),
        **_true_n(weights, "benefit"),
        **_true_n(weights, "territory"),
    }
    read = {
        name: pd.read_csv(pub / f"{name}.csv", dtype={"territory": str, "is_qpv": str, "benefit": str})
        for name in ("estimates_national", "estimates_qpv", "estimates_benefit", "estimates_territory", "sae")
    }

    def cells(name, by):
        t = read[name]
        out = []
        for row in t.itertuples():
            key = (by, str(getattr(row, by)) if by else None, row.right)
            n = None if pd.isna(row.n) else int(row.n)
            if n is not None:
                assert n == truth[key], key  # published counts are the true ones
            out.append((key, n))
        return out

    nat = {k[2]: n for k, n in cells("estimates_national", None)}
    qpv = cells("estimates_qpv", "is_qpv")
    ben = cells("estimates_benefit", "benefit")
    ter = cells("estimates_territory", "territory")
    sae = read["sae"]
    in_s = sae[sae["in_sample"]]
    ter_known = [
        (("territory", t, r), int(n)) for t, r, n in zip(in_s["territory"], in_s["right"], in_s["n"]) if pd.notna(n)
    ]
    # a territory in the model whose direct estimate is hidden (fewer than min_n takers or non-takers) has an
    # eblup apart from its synthetic estimate: the attacker infers at least min_n eligible respondents
    at_least = {
        ("territory", t, r): min_n for t, r, n in zip(in_s["territory"], in_s["right"], in_s["n"]) if pd.isna(n)
    }
    assert at_least  # the rule hides some of the model's territories
    groups = []
    qmap = dict(zip(weights["territory"].astype(str), weights["is_qpv"].astype(str)))
    for r, total in nat.items():
        groups.append(([c for c in qpv if c[0][2] == r], total))
        groups.append(([c for c in ben if c[0][2] == r], total))
        groups.append(([c for c in ter if c[0][2] == r], total))
        for q, n_q in ((k[1], n) for k, n in qpv if k[2] == r):
            groups.append(([c for c in ter if c[0][2] == r and qmap[c[0][1]] == q], n_q))
    groups.append((ter_known, None))  # known values from the small-area table
    suppressed = [k for g, _ in groups for k, n in g if n is None]
    assert len(suppressed) > 50 and any(truth[k] < min_n for k in suppressed)
    assert attack_domains(groups, truth, min_n, lower=at_least) == []
    # the attacker is not blind: one suppressed cell beside a published one is recovered by subtraction,
    # and two small ones are shown small
    assert attack_domains(
        [([(("x", 0, "r"), None), (("y", 0, "r"), 5)], 8)], {("x", 0, "r"): 3, ("y", 0, "r"): 5}, min_n
    )
    two = {("x", 0, "r"): 3, ("z", 0, "r"): 4}
    assert len(attack_domains([([(k, None) for k in two], 7)], two, min_n)) == 2


def test_killed_run_leaves_no_half_finished_results(population, tmp_path):
    """A run killed while writing leaves the previous results whole; the next run removes its strays."""
    import os
    import subprocess
    import sys
    import time

    shutil.copytree(population / "population", tmp_path / "population")
    study = write_study(tmp_path)
    before = run_study(study)
    old = _files(before.folder)
    root = Path(__file__).resolve().parents[1]
    env = {**os.environ, "PYTHONPATH": str(root)}
    proc = subprocess.Popen(
        [sys.executable, "-m", "nonrecours", "run", str(study), "--overwrite"],
        cwd=root,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 120
    staging = []
    while time.monotonic() < deadline and proc.poll() is None:
        staging = [p for p in tmp_path.iterdir() if p.name.startswith(".results.staging-")]
        if staging and (staging[0] / "publication").is_dir():
            break
        time.sleep(0.005)
    assert proc.poll() is None, "the run ended before it could be killed"
    proc.kill()  # SIGKILL: no clean-up code runs
    proc.wait()
    assert staging and staging[0].exists()  # the half-written run is left aside, not in results/
    assert staging[0].stat().st_mode & 0o777 == 0o700  # private: it holds the microdata
    assert _files(before.folder) == old  # the previous results, whole
    m = json.loads((before.folder / "publication" / "manifest.json").read_text())
    assert verify_manifest(m, before.folder) == []
    again = run_study(study, overwrite=True)  # not refused, and cleans the strays
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]
    assert {k: v for k, v in _files(again.folder).items() if not k.endswith("manifest.json")} == {
        k: v for k, v in old.items() if not k.endswith("manifest.json")
    }


def test_terminated_run_removes_its_staging_folder(population, tmp_path):
    """SIGTERM (or SIGHUP, SIGINT) during the writing: the run removes its staging folder, then ends by the signal;
    the previous results are whole (issue 25, item 4)."""
    import os
    import signal
    import subprocess
    import sys
    import time

    shutil.copytree(population / "population", tmp_path / "population")
    study = write_study(tmp_path)
    before = run_study(study)
    old = _files(before.folder)
    root = Path(__file__).resolve().parents[1]
    env = {**os.environ, "PYTHONPATH": str(root)}
    proc = subprocess.Popen(
        [sys.executable, "-m", "nonrecours", "run", str(study), "--overwrite"],
        cwd=root,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 120
    staging = []
    while time.monotonic() < deadline and proc.poll() is None:
        staging = [p for p in tmp_path.iterdir() if p.name.startswith(".results.staging-")]
        if staging and (staging[0] / "publication").is_dir():
            break
        time.sleep(0.005)
    assert proc.poll() is None and staging, "the run ended before it could be terminated"
    proc.send_signal(signal.SIGTERM)
    assert proc.wait() == -signal.SIGTERM  # ended by the signal, as without the handler
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no staging folder left
    assert _files(before.folder) == old


def test_staging_folder_is_private_and_removed_on_failure(tmp_path):
    from nonrecours.study.pipeline import staging_folder

    folder = tmp_path / "results"
    stray = tmp_path / ".results.staging-old"
    stray.mkdir()  # left by a SIGKILLed run
    with pytest.raises(RuntimeError), staging_folder(folder) as staging:
        assert not stray.exists() and staging.stat().st_mode & 0o777 == 0o700
        (staging / "sample.csv").write_text("id\n1\n")
        raise RuntimeError("a stage failed")
    assert not staging.exists() and not folder.exists()


def test_overwrite_replaces_a_killed_run_of_the_flat_layout(population, tmp_path):
    """The issue's killed run: a folder with some tables, no report or manifest and a stray temporary file;
    --overwrite replaces it (stray included), without --overwrite it is refused."""
    shutil.copytree(population / "population", tmp_path / "population")
    study = write_study(tmp_path)
    old = tmp_path / "results"
    old.mkdir()
    (old / "sample.csv").write_text("id\n1\n")
    (old / ".comparison.csv.abc123.tmp").write_text("half")
    with pytest.raises(OutputError, match="not empty"):
        run_study(study)
    result = run_study(study, overwrite=True)
    assert sorted(p.name for p in result.folder.iterdir()) == ["microdata", "publication"]
    assert not [p for p in tmp_path.rglob(".*") if p.is_file()]


def test_unit_level_model(population, tmp_path):
    """[territorial] model = "unit": the unit-level EBP in sae.csv, the same columns, compared with the truth."""
    shutil.copytree(population / "population", tmp_path / "population")
    study = write_study(tmp_path, **{"[territorial]\n": '[territorial]\nmodel = "unit"\nreplicates = 10\n'})
    res = run_study(study)
    sae = res.tables["sae"]
    assert list(sae.columns) == list(OUTPUT_COLUMNS)
    assert sae["eblup"].between(0, 1).all() and (sae["mse"] > 0).all()
    assert set(sae.loc[sae["in_sample"], "gamma"].between(0, 1)) == {True}
    assert "comparison_summary" in res.tables


def test_two_stage_study_with_a_pps_variance(population, tmp_path):
    # [estimation] pps: same estimates, the first stage's variance from the Sampford inclusion probabilities
    shutil.copytree(population / "population", tmp_path / "population")
    two = {
        'strata = ["is_qpv", "benefit"]': 'strata = ["is_qpv"]\npsu = "territory"\nn_psu = 6',
        'selection = "srswor"': 'selection = "two-stage"',
        "[territorial]\n": "[territorial]\nenabled = false\n",
    }
    runs = {}
    for pps in ("none", "hartley-rao"):
        folder = tmp_path / pps
        folder.mkdir()
        shutil.copytree(population / "population", folder / "population")
        extra = {'lonely_psu = "adjust"': f'lonely_psu = "adjust"\npps = "{pps}"'} if pps != "none" else {}
        runs[pps] = run_study(write_study(folder, **two, **extra))
    a, b = (runs[k].tables["estimates_national"] for k in ("none", "hartley-rao"))
    pd.testing.assert_series_equal(a["estimate"], b["estimate"])
    assert (a["se"] - b["se"]).abs().max() > 1e-6 * a["se"].max()
    assert "hartley-rao" in (runs["hartley-rao"].folder / "publication" / "report.html").read_text()


def test_forked_child_ended_by_sigterm_leaves_the_staging_folder(tmp_path):
    """A process forked during the run (the report's map workers: a pool ends them by SIGTERM) inherits the
    cleanup handler; its SIGTERM must not remove the run's staging folder (a demo failed with 'output folder
    does not exist' when it did), and the child still ends by the signal."""
    import os
    import signal

    from nonrecours.study.pipeline import staging_folder

    if not hasattr(os, "fork"):
        pytest.skip("no fork on this platform")
    with staging_folder(tmp_path / "results") as staging:
        (staging / "publication").mkdir()
        pid = os.fork()
        if pid == 0:  # the child: ended by SIGTERM as a pool's terminate() does
            try:
                os.kill(os.getpid(), signal.SIGTERM)
            finally:
                os._exit(3)  # reached only if the signal did not end the child
        _, status = os.waitpid(pid, 0)
        assert os.WIFSIGNALED(status) and os.WTERMSIG(status) == signal.SIGTERM
        assert (staging / "publication").is_dir()
