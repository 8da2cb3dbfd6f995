"""``nonrecours estimate`` through typer's CliRunner: contract, defaults, outputs and one-line errors."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import typer
from typer.testing import CliRunner

from nonrecours.cli.estimate import register
from nonrecours.design import SurveyDesign
from nonrecours.estimation import estimate_rates


def _app() -> typer.Typer:
    # the command registered on its own app, so that these tests do not depend on other command groups
    app = typer.Typer(pretty_exceptions_enable=False)

    @app.callback()
    def _root() -> None:
        """nonrecours (test app)."""

    register(app)
    return app


APP = _app()
RUN = CliRunner()
COLUMNS = ["territory", "right", "n", "estimate", "se", "ci_low", "ci_high", "df", "deff", "cv", "flag", "ci_method"]


@pytest.fixture
def sample(tmp_path) -> tuple[pd.DataFrame, str]:
    rng = np.random.default_rng(5)
    psu = np.repeat(np.arange(60), 15)
    n = psu.size
    df = pd.DataFrame(
        {
            "id": np.arange(n),
            "stratum": [f"s{p // 10}" for p in psu],
            "psu": [f"u{p}" for p in psu],
            "fpc": 40,
            "weight": rng.uniform(5, 15, n),
            "territory": [f"t{p % 4}" for p in psu],
            "is_qpv": rng.integers(0, 2, n),
        }
    )
    for r in ("cmuc", "acs"):
        y = rng.integers(0, 2, n).astype(float)
        y[rng.uniform(size=n) < 0.2] = np.nan
        df[r] = y
    path = tmp_path / "sample.csv"
    df.to_csv(path, index=False)
    return df, str(path)


def test_out_csv_and_gap(sample, tmp_path):
    df, path = sample
    out = tmp_path / "rates.csv"
    res = RUN.invoke(
        APP, ["estimate", path, "--rights", "cmuc,acs", "--by", "territory", "--gap", "is_qpv", "--out", str(out)]
    )
    assert res.exit_code == 0, res.output
    table = pd.read_csv(out, dtype={"territory": str})
    assert list(table.columns) == COLUMNS and len(table) == 8
    design = SurveyDesign(
        df.astype({"stratum": str, "psu": str}), weight="weight", strata="stratum", psu="psu", fpc="fpc"
    )
    ref = estimate_rates(design, ["cmuc", "acs"], by="territory").to_frame()
    np.testing.assert_allclose(table["se"], ref["se"], rtol=1e-12)
    gap = pd.read_csv(tmp_path / "rates_gap.csv", dtype={"territory": str})
    assert list(gap.columns) == [
        "territory",
        "right",
        "domain_a",
        "domain_b",
        "estimate_a",
        "estimate_b",
        "gap",
        "se",
        "ci_low",
        "ci_high",
        "df",
        "t",
        "p_value",
    ]


def test_api_to_frame_blanks_what_the_cli_writes(sample, tmp_path):
    """Issue 28: a result's ``to_frame()`` is the CLI's table, suppressed rows blanked (n and df too)."""
    from nonrecours.estimation import QualityThresholds
    from nonrecours.publication import blank_suppressed

    df, path = sample
    design = SurveyDesign(
        df.astype({"stratum": str, "psu": str}), weight="weight", strata="stratum", psu="psu", fpc="fpc"
    )
    raw = estimate_rates(design, ["cmuc", "acs"], by="territory")
    # about half the cells suppressed (the smaller side of each cell, takers or non-takers, is held to min_n)
    min_n = int(np.median(np.minimum(raw.n_takers, raw.n_non_takers))) + 1
    res = estimate_rates(
        design, ["cmuc", "acs"], by="territory", thresholds=QualityThresholds(min_n=min_n, reliable_n=min_n)
    )
    api = res.to_frame()
    supp = (res.flag == "suppressed") & (res.n > 0)
    assert 0 < supp.sum() < len(res)
    assert api.loc[supp, "n"].isna().all() and api.loc[supp, "df"].isna().all()
    assert (api.loc[~supp, "n"].to_numpy() == res.n[~supp]).all()
    pd.testing.assert_frame_equal(api, blank_suppressed(res.to_frame(blank=False)))
    kept = res.to_frame(blank=False)  # for the package's own secondary suppression
    assert (kept["n"].to_numpy() == res.n).all()
    out = tmp_path / "rates.csv"
    cli = RUN.invoke(
        APP, ["estimate", path, "--rights", "cmuc,acs", "--by", "territory", "--min-n", str(min_n), "--out", str(out)]
    )
    assert cli.exit_code == 0, cli.output
    table = pd.read_csv(out, dtype={"territory": str})
    pd.testing.assert_series_equal(table["n"].astype("Int64"), api["n"].astype("Int64"))
    np.testing.assert_array_equal(np.isnan(table["df"]), np.isnan(api["df"].to_numpy(float)))


def test_stdout_and_none_disables(sample):
    _, path = sample
    res = RUN.invoke(
        APP,
        [
            "estimate",
            path,
            "--rights",
            "cmuc",
            "--psu",
            "none",
            "--strata",
            "none",
            "--fpc",
            "none",
            "--ci",
            "wald",
            "--df",
            "inf",
        ],
    )
    assert res.exit_code == 0, res.output
    assert "estimate" in res.output and "cmuc" in res.output


@pytest.mark.parametrize("suffix", [".parquet", ".json"])
def test_other_formats(sample, tmp_path, suffix):
    _, path = sample
    out = tmp_path / f"r{suffix}"
    res = RUN.invoke(APP, ["estimate", path, "--rights", "acs", "--out", str(out)])
    assert res.exit_code == 0, res.output
    t = pd.read_parquet(out) if suffix == ".parquet" else pd.read_json(out, orient="records")
    assert list(t.columns) == COLUMNS[1:]


@pytest.mark.parametrize(
    "args, text",
    [
        (["--rights", "cmuc", "--ci", "exact"], "--ci"),
        (["--rights", "nope"], "'nope'"),
        (["--rights", "cmuc", "--by", "zone"], "'zone'"),
        (["--rights", "cmuc", "--lonely-psu", "drop"], "--lonely-psu"),
        (["--rights", "cmuc", "--weight", "id", "--level", "1.5"], "level"),
        (["--rights", "cmuc", "--psu", "territory"], "not nested"),
        (["--rights", "cmuc", "--gap", "territory:no-such-level"], "level not found"),
    ],
)
def test_errors_one_line_exit_2_nothing_written(sample, tmp_path, args, text):
    _, path = sample
    out = tmp_path / "o.csv"
    res = RUN.invoke(APP, ["estimate", path, *args, "--out", str(out)])
    assert res.exit_code == 2, res.output
    lines = [ln for ln in res.output.splitlines() if ln.startswith("error:")]
    assert len(lines) == 1 and text in lines[0], res.output
    assert not out.exists() and not (tmp_path / "o_gap.csv").exists()


def test_refuses_overwriting_input(sample):
    _, path = sample
    res = RUN.invoke(APP, ["estimate", path, "--rights", "cmuc", "--out", path])
    assert res.exit_code == 2 and "overwrite" in res.output
