"""``nonrecours demo`` and ``nonrecours run`` through typer's CliRunner."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from typer.testing import CliRunner

from nonrecours.cli.main import app

# slow: every test runs the demo (a full study on 320,000 recipients) or uses its run
pytestmark = [pytest.mark.slow, pytest.mark.filterwarnings("ignore::nonrecours.errors.ConvergenceWarning")]

runner = CliRunner()


@pytest.fixture(scope="module")
def demo(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("cli") / "demo"
    res = runner.invoke(app, ["demo", "--out", str(out), "--territories", "15", "--seed", "2"])
    assert res.exit_code == 0, res.output
    return out, res


def test_demo_writes_population_study_and_results(demo):
    out, res = demo
    assert {p.name for p in (out / "population").iterdir()} == {
        "recipients.csv",
        "territories.csv",
        "truth.csv",
        "qpv.geojson",
        "sources",
    }
    # the administrative phase runs by default: linkage quality and administrative rates are published
    import pandas as pd

    pub = out / "results" / "publication"
    q = pd.read_csv(pub / "linkage_quality.csv").set_index("source")
    assert set(q.index) == {"health", "tpn", "tss"}
    assert (q["true_precision"] >= 0.98).all() and (q["true_recall"] >= 0.98).all(), q
    rates = pd.read_csv(pub / "admin_rates.csv")
    assert {"rate_adjusted", "ci_low", "ci_high", "status"} <= set(rates.columns)
    assert not any(c in rates.columns for c in ("rec_id", "id_l", "surname"))
    assert "seed = 2" in (out / "study.toml").read_text()
    assert (out / "results" / "publication" / "report.html").is_file() and (
        out / "results" / "publication" / "manifest.json"
    ).is_file()
    assert "National take-up rates" in res.stdout and "gap QPV-rest" in res.stdout
    for right in ("cmuc", "acs", "tpn", "tss"):
        assert right in res.stdout
    assert re.search(r"\[(\d+)/\1\] report", res.stderr)  # progress on stderr: the report is the last step


def test_demo_without_admin(tmp_path):
    out = tmp_path / "demo"
    res = runner.invoke(app, ["demo", "--out", str(out), "--territories", "8", "--seed", "3", "--no-admin", "--quiet"])
    assert res.exit_code == 0, res.output
    assert not (out / "population" / "sources").exists()
    assert not (out / "results" / "publication" / "linkage_quality.csv").exists()
    assert not re.search(r"^\[admin\]", (out / "study.toml").read_text(), re.M)  # no [admin] section


def test_demo_refuses_non_empty_folder(demo):
    out, _ = demo
    res = runner.invoke(app, ["demo", "--out", str(out), "--territories", "15"])
    assert res.exit_code == 2
    assert res.stderr.startswith("error: ") and "not empty" in res.stderr and "Traceback" not in res.output


def test_run_with_and_without_overwrite(demo):
    out, _ = demo
    study = str(out / "study.toml")
    res = runner.invoke(app, ["run", study])
    assert res.exit_code == 2 and "--overwrite" in res.stderr
    before = (out / "results" / "publication" / "report.html").read_bytes()
    res = runner.invoke(app, ["run", study, "--overwrite"])
    assert res.exit_code == 0, res.output
    # every file of results/ counted: the tables (the analysis stage's, the administrative phase's, the corrected
    # and combined rates, the calibration gain), report, publication workbook, manifest and the design sidecar
    written = sum(1 for p in (out / "results").rglob("*") if p.is_file())
    assert f"wrote {written} files" in res.stdout and written >= 30
    assert (out / "results" / "publication" / "report.html").read_bytes() == before


def test_overwrite_stops_at_a_file_the_package_did_not_write(demo):
    """A user's file inside results/publication (or the demo folder) stops run/demo --overwrite, naming the file
    count and a hint, and is kept (issue 25, item 4: demo --overwrite deleted it)."""
    out, _ = demo
    mine = out / "results" / "publication" / "my_notes.txt"
    mine.write_text("mine")
    try:
        before = sorted(p.relative_to(out).as_posix() for p in out.rglob("*"))
        for args in (
            ["run", str(out / "study.toml"), "--overwrite"],
            ["demo", "--out", str(out), "--territories", "15", "--seed", "2", "--overwrite"],
        ):
            res = runner.invoke(app, args)
            assert res.exit_code == 2, res.output
            assert "did not write" in res.stderr and "1 other file" in res.stderr and "my_notes.txt" in res.stderr
            assert "Hint:" in res.stderr and res.stderr.count("\n") == 1
            assert mine.read_text() == "mine"
            assert sorted(p.relative_to(out).as_posix() for p in out.rglob("*")) == before  # nothing touched
    finally:
        mine.unlink()
    assert runner.invoke(app, ["run", str(out / "study.toml"), "--overwrite"]).exit_code == 0


def test_bad_study_file_exits_2(tmp_path, demo):
    out, _ = demo
    text = (out / "study.toml").read_text().replace('ci = "auto"', 'ci = "logistic"')
    (tmp_path / "population").symlink_to(out / "population")
    bad = tmp_path / "bad.toml"
    bad.write_text(text)
    res = runner.invoke(app, ["run", str(bad)])
    assert res.exit_code == 2
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: estimation.ci: unknown value")
    assert not (tmp_path / "results").exists()
    res = runner.invoke(app, ["run", str(tmp_path / "missing.toml")])
    assert res.exit_code == 2 and "study file not found" in res.stderr
