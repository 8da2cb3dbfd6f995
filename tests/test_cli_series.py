"""``nonrecours series`` from the command line (waves simulated, sampled and combined)."""

import pandas as pd
import pytest
from typer.testing import CliRunner

from nonrecours.cli.main import app
from nonrecours.design.waves import select_wave
from nonrecours.simulate.waves import simulate_waves
from nonrecours.validation.change import proportional_sizes

run = CliRunner().invoke


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    d = tmp_path_factory.mktemp("series")
    w = simulate_waves(5, (2014, 2015, 2016), seed=9)
    prev, waves, admin = None, {}, {}
    for y, p in zip(w.years, w.populations):
        f = p.recipients
        s = select_wave(
            f,
            proportional_sizes(f, ["is_qpv", "benefit"], 500),
            strata=["is_qpv", "benefit"],
            scheme="panel",
            seed=y,
            previous=prev,
            share=0.1,
        ).data
        prev = s
        waves[y] = d / f"s{y}.csv"
        s.to_csv(waves[y], index=False)
        admin[y] = d / f"r{y}.csv"
        f.to_csv(admin[y], index=False)
    return d, waves, admin


def _arg(m):
    return ",".join(f"{y}={p}" for y, p in m.items())


def test_series_cli(files):
    d, waves, admin = files
    out = d / "out"
    r = run(
        app,
        [
            "series",
            "--rights",
            "cmuc,acs",
            "--by",
            "is_qpv",
            "--waves",
            _arg(waves),
            "--admin",
            _arg(admin),
            "--min-cell",
            "40",
            "--out",
            str(out),
        ],
    )
    assert r.exit_code == 0, r.output
    y = pd.read_csv(out / "series_yearly.csv")
    assert sorted(y["year"].unique()) == [2014, 2015, 2016]
    c = pd.read_csv(out / "series_changes.csv")
    assert set(zip(c["year_from"], c["year_to"])) == {(2014, 2015), (2015, 2016), (2014, 2016)}
    shown = c["se"].notna()  # cells under 11 takers or non-takers in a year are hidden in every year
    assert shown.any() and (c.loc[shown, "se"] < c.loc[shown, "se_independent"]).mean() > 0.5  # the panel's cov
    t = pd.read_csv(out / "series_trend.csv")
    assert {"slope", "se", "p_value", "lack_of_fit_p"} <= set(t.columns)
    a = pd.read_csv(out / "admin_series.csv", dtype={"territory": str})
    assert (a.groupby(["territory", "right"])["status"].nunique() == 1).all()
    # refuses to overwrite, writes nothing new
    r = run(app, ["series", "--rights", "cmuc", "--waves", _arg(waves), "--out", str(out)])
    assert r.exit_code == 2 and "--overwrite" in r.output


def test_series_cli_errors(files, tmp_path):
    _d, waves, _admin = files
    r = run(app, ["series", "--rights", "cmuc", "--out", str(tmp_path / "x")])
    assert r.exit_code == 2 and "--waves" in r.output
    one = {2014: waves[2014]}
    r = run(app, ["series", "--rights", "cmuc", "--waves", _arg(one), "--out", str(tmp_path / "x")])
    assert r.exit_code == 2 and "two waves" in r.output
    r = run(
        app,
        [
            "series",
            "--rights",
            "cmuc",
            "--waves",
            f"2015={waves[2015]},2014={waves[2014]}",
            "--out",
            str(tmp_path / "x"),
        ],
    )
    assert r.exit_code == 2 and "increase" in r.output
    assert not (tmp_path / "x").exists()


def test_series_cli_publishes_no_small_count(files, tmp_path):
    """--min-n: a territory with fewer eligible respondents in some year is suppressed in every year, with its
    changes and trend; --min-n 1 shows them (the test can fail)."""
    _d, waves, _ = files
    base = ["series", "--rights", "cmuc,acs", "--by", "territory", "--waves", _arg(waves)]
    assert run(app, [*base, "--min-n", "1", "--allow-below-threshold", "--out", str(tmp_path / "all")]).exit_code == 0
    r = run(app, [*base, "--out", str(tmp_path / "safe")])
    assert r.exit_code == 0, r.output
    raw = pd.read_csv(tmp_path / "all" / "series_yearly.csv", dtype={"territory": str})
    safe = pd.read_csv(tmp_path / "safe" / "series_yearly.csv", dtype={"territory": str})
    small = raw[(raw["n"] > 0) & (raw["n"] < 11)][["territory", "right"]].drop_duplicates()
    assert len(small)
    hidden = safe.merge(small, on=["territory", "right"])
    # in every year, not only the small one (a year without respondents there keeps its 0: it describes no one)
    assert (hidden["n"].isna() | (hidden["n"] == 0)).all() and hidden["estimate"].isna().all()
    assert hidden.loc[hidden["n"].isna(), "year"].nunique() == 3
    assert not ((safe["n"] > 0) & (safe["n"] < 11)).any()
    for name in ("series_changes.csv", "series_trend.csv"):
        t = pd.read_csv(tmp_path / "safe" / name, dtype={"territory": str}).merge(small, on=["territory", "right"])
        col = "change" if "changes" in name else "slope"
        assert len(t) and t[col].isna().all(), name
    ch = pd.read_csv(tmp_path / "safe" / "series_changes.csv")
    assert not ((ch["n_both"] > 0) & (ch["n_both"] < 11)).any()
