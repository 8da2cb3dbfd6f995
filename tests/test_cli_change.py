"""``nonrecours change`` and ``nonrecours validate --change`` from the command line."""

from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from nonrecours.cli.main import app

REF = Path(__file__).parent / "reference"
run = CliRunner().invoke


def test_change_cli_writes_change_and_did(tmp_path):
    out = tmp_path / "change.csv"
    r = run(app, ["change", str(REF / "change_panel_wave1.csv"), str(REF / "change_panel_wave2.csv"),
                  "--rights", "cmuc,acs", "--gap", "is_qpv", "--scheme", "panel", "--out", str(out)])
    assert r.exit_code == 0, r.output
    t = pd.read_csv(out)
    assert list(t.columns[:2]) == ["is_qpv", "right"] and len(t) == 4
    assert (t["se"] < t["se_independent"]).all()
    d = pd.read_csv(tmp_path / "change_did.csv")
    assert len(d) == 2 and set(d["right"]) == {"cmuc", "acs"}
    # same file again: refused, nothing rewritten
    before = out.read_bytes()
    r = run(app, ["change", str(REF / "change_panel_wave1.csv"), str(REF / "change_panel_wave2.csv"),
                  "--rights", "cmuc", "--out", str(REF / "change_panel_wave1.csv")])
    assert r.exit_code == 2
    assert out.read_bytes() == before


@pytest.mark.parametrize("args, where", [(["--scheme", "cohort"], "--scheme"), (["--variance", "jackknife"], "--variance"),
                                         (["--rights", "nope"], "nope"), (["--variance", "replicate"], "replicate")])
def test_change_cli_errors(tmp_path, args, where):
    base = ["change", str(REF / "change_panel_wave1.csv"), str(REF / "change_panel_wave2.csv")]
    if "--rights" not in args:
        args = ["--rights", "cmuc"] + args
    r = run(app, base + args + ["--out", str(tmp_path / "c.csv")])
    assert r.exit_code == 2, r.output
    assert where in r.output and "Traceback" not in r.output
    assert not (tmp_path / "c.csv").exists()


def test_validate_change_cli(tmp_path):
    r = run(app, ["validate", "--territories", "3", "--replications", "3", "--n", "300", "--seed", "2",
                  "--change", "rotating", "--share", "0.3", "--rights", "cmuc", "--out", str(tmp_path)])
    assert r.exit_code == 0, r.output
    t = pd.read_csv(tmp_path / "validation.csv")
    assert {"se_sd_ratio", "coverage", "true_change"} <= set(t.columns)
