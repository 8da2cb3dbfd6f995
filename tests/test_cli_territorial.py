"""``nonrecours territorial fit | admin | compare`` end to end on small fixture files."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from nonrecours.cli.main import app
from nonrecours.io import read_table

COLUMNS = [
    "territory",
    "right",
    "direct",
    "se_direct",
    "eblup",
    "mse",
    "rmse",
    "ci_low",
    "ci_high",
    "gamma",
    "synthetic",
    "n",
    "in_sample",
]


@pytest.fixture()
def files(tmp_path):
    """A small synthetic population: recipients, territories, direct estimates of a sample of it."""
    rng = np.random.default_rng(42)
    T, rights = 60, ["cmuc", "tpn"]
    terr = pd.DataFrame(
        {
            "territory": [f"{i:04d}" for i in range(T)],
            "departement": [f"{i % 5:02d}" for i in range(T)],
            "is_qpv": np.arange(T) % 2,
            "population": rng.integers(400, 3000, T),
            "poverty_rate": rng.uniform(0.1, 0.45, T),
            "social_housing_share": rng.uniform(0, 0.7, T),
        }
    )
    sizes = rng.integers(5, 150, T)
    rec = pd.DataFrame(
        {
            "territory": np.repeat(terr["territory"], sizes).to_numpy(),
            "departement": np.repeat(terr["departement"], sizes).to_numpy(),
        }
    )
    for r in rights:
        pov = np.repeat(terr["poverty_rate"] + rng.normal(0, 0.1, T), sizes).to_numpy()
        u = rng.random(len(rec))
        rec[r] = np.where(u < 0.2, np.nan, (rng.random(len(rec)) < 0.3 + pov).astype(float))
    rec["acs"] = np.nan
    # direct estimates from a 30 % subsample of 50 territories
    samp = rec[rec["territory"].isin(terr["territory"][:50]) & (rng.random(len(rec)) < 0.3)]
    rows = []
    for r in rights:
        g = samp.dropna(subset=[r]).groupby("territory")[r]
        p, n = g.mean(), g.size()
        rows.append(
            pd.DataFrame(
                {
                    "territory": p.index,
                    "right": r,
                    "n": n.to_numpy(),
                    "estimate": p.to_numpy(),
                    "se": np.sqrt(p * (1 - p) / n).to_numpy(),
                    "ci_low": 0.0,
                    "ci_high": 1.0,
                    "df": n.to_numpy() - 1,
                    "deff": 1.0,
                    "cv": 0.1,
                    "flag": "ok",
                }
            )
        )
    paths = {
        "terr": tmp_path / "territories.csv",
        "rec": tmp_path / "recipients.csv",
        "direct": tmp_path / "direct.csv",
    }
    terr.to_csv(paths["terr"], index=False)
    rec.to_csv(paths["rec"], index=False)
    pd.concat(rows).to_csv(paths["direct"], index=False)
    paths["dir"] = tmp_path
    return paths


def run(*args):
    return CliRunner().invoke(app, ["territorial", *map(str, args)])


def test_fit_admin_compare_end_to_end(files):
    d = files["dir"]
    res = run(
        "fit",
        files["direct"],
        "--aux",
        files["terr"],
        "--covariates",
        "poverty_rate,social_housing_share",
        "--out",
        d / "sae.csv",
        "--diagnostics-out",
        d / "diag.csv",
    )
    assert res.exit_code == 0, res.output
    sae = read_table(d / "sae.csv")
    assert list(sae.columns) == COLUMNS and len(sae) == 60 * 2
    assert sae["territory"].str.len().eq(4).all()  # codes kept as text
    assert (~sae["in_sample"]).sum() == 2 * 10
    assert (d / "diag.csv").exists()
    assert f"wrote {d / 'sae.csv'} and {d / 'diag.csv'}" in res.output  # both files said
    res = run(
        "admin",
        files["rec"],
        "--rights",
        "cmuc,acs,tpn",
        "--min-cell",
        "11",
        "--out",
        d / "admin.csv",
        "--totals-out",
        d / "deps.csv",
    )
    assert res.exit_code == 0, res.output
    adm = read_table(d / "admin.csv")
    assert set(adm["status"]) <= {"published", "suppressed"}
    assert (adm.loc[adm["right"] == "acs", "status"] == "suppressed").all()  # nobody eligible
    pub = adm[adm["status"] == "published"]
    assert (pub[["n_eligible", "n_takers", "n_non_takers"]] >= 11).all().all()
    assert f"wrote {d / 'admin.csv'} and {d / 'deps.csv'}" in res.output
    deps = read_table(d / "deps.csv")
    assert set(deps["level"]) == {"departement", "national"}
    res = run(
        "compare", d / "sae.csv", "--truth", d / "admin.csv", "--out", d / "cmp.csv", "--detail-out", d / "detail.csv"
    )
    assert res.exit_code == 0, res.output
    cmp_ = read_table(d / "cmp.csv").set_index(["right", "estimator", "subset"])
    assert cmp_.loc[("all", "eblup", "sampled"), "rmse"] < cmp_.loc[("all", "direct", "sampled"), "rmse"]
    assert 0 < cmp_.loc[("all", "eblup", "unsampled"), "n"] <= 2 * 10  # less the suppressed truths
    assert "eblup" in res.output


@pytest.mark.parametrize(
    "extra",
    [
        ["--method", "ml"],
        ["--method", "fh", "--benchmark", "departement", "--benchmark-method", "additive"],
        ["--transform", "arcsin", "--bootstrap", "100", "--seed", "3"],
        ["--mse", "bootstrap", "--bootstrap", "100", "--seed", "3", "--benchmark", "nation", "--level", "0.9"],
    ],
)
def test_fit_options(files, extra):
    out = files["dir"] / "sae.csv"
    res = run("fit", files["direct"], "--aux", files["terr"], "--covariates", "poverty_rate", *extra, "--out", out)
    assert res.exit_code == 0, res.output
    sae = read_table(out)
    assert sae[["eblup", "ci_low", "ci_high"]].apply(lambda c: c.between(0, 1).all()).all()


@pytest.mark.slow  # bootstrap MSE run with 1 and several worker processes
def test_fit_bootstrap_same_file_whatever_the_workers(files):
    outs = []
    for workers in ("1", "2"):
        out = files["dir"] / f"sae_w{workers}.csv"
        res = run(
            "fit",
            files["direct"],
            "--aux",
            files["terr"],
            "--covariates",
            "poverty_rate",
            "--mse",
            "bootstrap",
            "--bootstrap",
            "600",
            "--seed",
            "3",
            "--workers",
            workers,
            "--out",
            out,
        )
        assert res.exit_code == 0, res.output
        outs.append(out.read_bytes())
    assert outs[0] == outs[1]


def _bad_direct(files, change):
    df = read_table(files["direct"])
    df = change(df)
    p = files["dir"] / "bad_direct.csv"
    df.to_csv(p, index=False)
    return p


@pytest.mark.parametrize(
    "case, args_fn, needle",
    [
        (
            "unknown territory",
            lambda f: [
                _bad_direct(f, lambda d: d.assign(territory=d["territory"].replace("0003", "9999"))),
                "--aux",
                f["terr"],
                "--covariates",
                "poverty_rate",
            ],
            "'9999'",
        ),
        (
            "zero se",
            lambda f: [
                _bad_direct(f, lambda d: d.assign(se=0.0)),
                "--aux",
                f["terr"],
                "--covariates",
                "poverty_rate",
                "--variance",
                "direct",
            ],
            "'se'",
        ),
        (
            "collinear",
            lambda f: [f["direct"], "--aux", f["terr"], "--covariates", "poverty_rate,is_qpv,is_qpv"],
            "collinear",
        ),
        (
            "missing covariate",
            lambda f: [f["direct"], "--aux", f["terr"], "--covariates", "gp_density"],
            "'gp_density'",
        ),
        (
            "bootstrap no seed",
            lambda f: [f["direct"], "--aux", f["terr"], "--covariates", "poverty_rate", "--mse", "bootstrap"],
            "seed",
        ),
        (
            "bad method",
            lambda f: [f["direct"], "--aux", f["terr"], "--covariates", "poverty_rate", "--method", "bayes"],
            "--method",
        ),
        (
            "arcsin prasad-rao",
            lambda f: [
                f["direct"],
                "--aux",
                f["terr"],
                "--covariates",
                "poverty_rate",
                "--transform",
                "arcsin",
                "--mse",
                "prasad-rao",
            ],
            "bootstrap",
        ),
        (
            "bad benchmark column",
            lambda f: [f["direct"], "--aux", f["terr"], "--covariates", "poverty_rate", "--benchmark", "region"],
            "'region'",
        ),
    ],
)
def test_fit_bad_input_exits_2_and_writes_nothing(files, case, args_fn, needle):
    out = files["dir"] / "sae.csv"
    res = run("fit", *args_fn(files), "--out", out)
    assert res.exit_code == 2, (case, res.output)
    assert needle in res.stderr and "Traceback" not in res.output
    assert len(res.stderr.strip().splitlines()) == 1
    assert not out.exists()


def test_admin_and_compare_bad_input(files):
    d = files["dir"]
    res = run("admin", files["rec"], "--rights", "cmuc,xyz", "--out", d / "a.csv")
    assert res.exit_code == 2 and "'xyz'" in res.stderr and not (d / "a.csv").exists()
    res = run("admin", files["rec"], "--min-cell", "0", "--out", d / "a.csv")
    assert res.exit_code == 2 and not (d / "a.csv").exists()
    res = run("admin", files["rec"], "--out", files["rec"])
    assert res.exit_code == 2 and "overwrite" in res.stderr
    res = run("compare", files["direct"], "--truth", files["terr"], "--out", d / "c.csv")
    assert res.exit_code == 2 and "'right'" in res.stderr and not (d / "c.csv").exists()
