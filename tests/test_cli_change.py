"""``nonrecours change`` and ``nonrecours validate --change`` from the command line."""

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from nonrecours.cli.main import app

REF = Path(__file__).parent / "reference"
run = CliRunner().invoke


def test_change_cli_writes_change_and_did(tmp_path):
    out = tmp_path / "change.csv"
    r = run(
        app,
        [
            "change",
            str(REF / "change_panel_wave1.csv"),
            str(REF / "change_panel_wave2.csv"),
            "--rights",
            "cmuc,acs",
            "--gap",
            "is_qpv",
            "--scheme",
            "panel",
            "--out",
            str(out),
        ],
    )
    assert r.exit_code == 0, r.output
    t = pd.read_csv(out)
    assert list(t.columns[:2]) == ["is_qpv", "right"] and len(t) == 4
    shown = t["se"].notna()  # a domain under 11 takers or non-takers in a wave has no change published
    assert shown.sum() >= 2 and (t.loc[shown, "se"] < t.loc[shown, "se_independent"]).all()
    d = pd.read_csv(tmp_path / "change_did.csv")
    assert len(d) == 2 and set(d["right"]) == {"cmuc", "acs"}
    # same file again: refused, nothing rewritten
    before = out.read_bytes()
    r = run(
        app,
        [
            "change",
            str(REF / "change_panel_wave1.csv"),
            str(REF / "change_panel_wave2.csv"),
            "--rights",
            "cmuc",
            "--out",
            str(REF / "change_panel_wave1.csv"),
        ],
    )
    assert r.exit_code == 2
    assert out.read_bytes() == before


@pytest.mark.parametrize(
    "args, where",
    [
        (["--scheme", "cohort"], "--scheme"),
        (["--variance", "jackknife"], "--variance"),
        (["--rights", "nope"], "nope"),
        (["--variance", "replicate"], "replicate"),
    ],
)
def test_change_cli_errors(tmp_path, args, where):
    base = ["change", str(REF / "change_panel_wave1.csv"), str(REF / "change_panel_wave2.csv")]
    if "--rights" not in args:
        args = ["--rights", "cmuc"] + args
    r = run(app, base + args + ["--out", str(tmp_path / "c.csv")])
    assert r.exit_code == 2, r.output
    assert where in r.output and "Traceback" not in r.output
    assert not (tmp_path / "c.csv").exists()


def test_validate_change_cli(tmp_path):
    r = run(
        app,
        [
            "validate",
            "--territories",
            "3",
            "--replications",
            "3",
            "--n",
            "300",
            "--seed",
            "2",
            "--change",
            "rotating",
            "--share",
            "0.3",
            "--rights",
            "cmuc",
            "--out",
            str(tmp_path),
        ],
    )
    assert r.exit_code == 0, r.output
    t = pd.read_csv(tmp_path / "validation.csv")
    assert {"se_sd_ratio", "coverage", "true_change"} <= set(t.columns)


def test_change_cli_publishes_no_small_count(tmp_path):
    """--min-n (default 11): a domain with fewer eligible respondents in either wave has its change emptied, and
    no count of respondents in both waves below it is written; --min-n 1 shows them (the test can fail)."""
    base = [
        "change",
        str(REF / "change_panel_wave1.csv"),
        str(REF / "change_panel_wave2.csv"),
        "--rights",
        "cmuc,acs",
        "--by",
        "stratum,is_qpv",
        "--scheme",
        "panel",
    ]
    r = run(app, [*base, "--min-n", "1", "--allow-below-threshold", "--out", str(tmp_path / "all.csv")])
    assert r.exit_code == 0, r.output
    raw = pd.read_csv(tmp_path / "all.csv")
    small = ((raw[["n_1", "n_2"]] > 0) & (raw[["n_1", "n_2"]] < 11)).any(axis=1)
    # and the domains with fewer than 11 takers or 11 non-takers in either wave, counted from the microdata
    for k in (1, 2):
        wave = pd.read_csv(REF / f"change_panel_wave{k}.csv")
        long = wave.melt(id_vars=["stratum", "is_qpv"], value_vars=["cmuc", "acs"], var_name="right").dropna()
        sides = long.groupby(["stratum", "is_qpv", "right", "value"]).size().unstack("value", fill_value=0)
        few = sides.min(axis=1).lt(11).rename("few").reset_index()
        few = raw[["stratum", "is_qpv", "right"]].merge(few, how="left")["few"].fillna(False).astype(bool)
        small |= few.to_numpy() & (raw[f"n_{k}"] > 0).to_numpy()
    assert small.any() and raw.loc[small, "change"].notna().all()
    r = run(app, [*base, "--out", str(tmp_path / "safe.csv")])
    assert r.exit_code == 0, r.output
    safe = pd.read_csv(tmp_path / "safe.csv")
    for c in ("n_1", "n_2", "n_both"):
        assert not ((safe[c] > 0) & (safe[c] < 11)).any(), c
    assert safe.loc[small.to_numpy(), ["change", "se", "estimate_1", "estimate_2"]].isna().all().all()
    kept = ~small.to_numpy()
    assert np.array_equal(safe.loc[kept, "change"].to_numpy(), raw.loc[kept, "change"].to_numpy(), equal_nan=True)
    r = run(app, [*base, "--min-n", "0", "--out", str(tmp_path / "x.csv")])
    assert r.exit_code == 2 and "--min-n" in r.output and not (tmp_path / "x.csv").exists()
