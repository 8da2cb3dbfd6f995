"""``nonrecours allocate`` and ``nonrecours sample``: files written, contracts kept, one-line errors."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from nonrecours.cli.main import app
from nonrecours.io import read_table

runner = CliRunner()


@pytest.fixture()
def frame_path(tmp_path):
    rng = np.random.default_rng(11)
    sizes = rng.integers(40, 160, 16)
    terr = np.repeat([f"{i:05d}" for i in range(16)], sizes)
    qpv = np.repeat(np.arange(16) % 2, sizes)
    n = terr.size
    df = pd.DataFrame(
        {
            "id": [f"{i:06d}" for i in range(n)],
            "territory": terr,
            "departement": "01",
            "is_qpv": qpv,
            "benefit": rng.choice(["RSA", "AAH", "ASPA"], n),
            "hh": rng.integers(1, 6, n),
            "cmuc": np.where(rng.uniform(size=n) < 0.7, (rng.uniform(size=n) < 0.65).astype(float), np.nan),
        }
    )
    p = tmp_path / "recipients.csv"
    df.to_csv(p, index=False)
    return p


def run(*args):
    return runner.invoke(app, [str(a) for a in args])


def test_allocate_neyman_then_sample_srswor(frame_path, tmp_path):
    alloc = tmp_path / "allocation.csv"
    r = run(
        "allocate",
        frame_path,
        "--strata",
        "is_qpv,benefit",
        "--n",
        300,
        "--method",
        "neyman",
        "--rates",
        "cmuc=0.65,acs=0.4",
        "--min",
        2,
        "--out",
        alloc,
    )
    assert r.exit_code == 0, r.output
    a = read_table(alloc)
    assert list(a.columns[:5]) == ["is_qpv", "benefit", "stratum", "N_h", "n_h"]
    assert {"take_all", "method", "halfwidth", "cv"} <= set(a.columns)
    assert a["n_h"].sum() == 300 and (a["n_h"] >= 2).all() and (a["method"] == "neyman").all()
    out = tmp_path / "sample.csv"
    r = run("sample", frame_path, "--allocation", alloc, "--method", "srswor", "--seed", 42, "--out", out)
    assert r.exit_code == 0, r.output
    s = read_table(out)
    frame = read_table(frame_path)
    assert list(s.columns[: frame.shape[1]]) == list(frame.columns)
    assert {"stratum", "psu", "fpc", "pi", "weight"} <= set(s.columns)
    assert s.groupby("stratum").size().to_dict() == dict(zip(a["stratum"], a["n_h"]))
    assert s["cmuc"].isna().any()  # right columns kept as 1/0/empty
    out2 = tmp_path / "sample2.csv"
    run("sample", frame_path, "--allocation", alloc, "--seed", 42, "--out", out2)
    assert out.read_bytes() == out2.read_bytes()  # same seed, same file


@pytest.mark.parametrize(
    "method, extra",
    [
        ("systematic", ["--sort", "territory"]),
        ("poisson", []),
        ("pps-systematic", ["--size-col", "hh", "--sort", "territory"]),
        ("sampford", ["--size-col", "hh"]),
    ],
)
def test_sample_methods(frame_path, tmp_path, method, extra):
    alloc = tmp_path / "allocation.csv"
    assert run("allocate", frame_path, "--strata", "is_qpv", "--n", 100, "--out", alloc).exit_code == 0
    out = tmp_path / "s.csv"
    r = run("sample", frame_path, "--allocation", alloc, "--method", method, "--seed", 7, *extra, "--out", out)
    assert r.exit_code == 0, r.output
    s = read_table(out)
    np.testing.assert_allclose(s["weight"], 1 / s["pi"])
    assert ("fpc" in s.columns) == (method in ("systematic", "poisson"))


def test_two_stage(frame_path, tmp_path):
    alloc = tmp_path / "allocation.csv"
    assert run("allocate", frame_path, "--strata", "is_qpv", "--n", 120, "--out", alloc).exit_code == 0
    out = tmp_path / "s.csv"
    r = run(
        "sample",
        frame_path,
        "--allocation",
        alloc,
        "--method",
        "two-stage",
        "--seed",
        3,
        "--psu-col",
        "territory",
        "--n-psu",
        3,
        "--out",
        out,
    )
    assert r.exit_code == 0, r.output
    s = read_table(out)
    assert {"ssu", "fpc2", "pi1", "pi2"} <= set(s.columns) and len(s) == 120
    assert s["psu"].str.len().eq(5).any()  # territory codes read back as text


def test_precision_allocation(frame_path, tmp_path):
    alloc, prec = tmp_path / "allocation.csv", tmp_path / "precision.csv"
    r = run(
        "allocate",
        frame_path,
        "--strata",
        "territory",
        "--target-halfwidth",
        0.15,
        "--rates",
        "cmuc=0.65,acs=0.4",
        "--response-rate",
        0.6,
        "--domains",
        "territory,benefit:is_qpv",
        "--out",
        alloc,
        "--precision-out",
        prec,
    )
    assert r.exit_code == 0, r.output
    p = read_table(prec)
    assert (p["halfwidth"] <= 0.15 + 1e-12).all() and p["binding"].any()
    assert set(p["domain"]) == {"territory", "benefit:is_qpv"}
    assert (read_table(alloc)["method"] == "precision").all()
    assert "targets bind" in r.output


@pytest.mark.parametrize(
    "args, text",
    [
        (["allocate", "{f}", "--strata", "is_qpv", "--n", "100", "--rates", "cmuc=1.5"], "outside (0, 1)"),
        (
            ["allocate", "{f}", "--strata", "is_qpv", "--n", "100", "--rates", "cmuc=x"],
            "anticipated-rate column not found",
        ),
        (["allocate", "{f}", "--strata", "nope", "--n", "100"], "'nope'"),
        (["allocate", "{f}", "--strata", "is_qpv"], "no sample size"),
        (
            [
                "allocate",
                "{f}",
                "--strata",
                "territory",
                "--target-halfwidth",
                "0.01",
                "--rates",
                "cmuc=0.5",
                "--response-rate",
                "0.5",
            ],
            "unreachable even with a census",
        ),
        (["allocate", "{f}", "--strata", "is_qpv", "--n", "100", "--out", "{f}"], "overwrite an input"),
        (
            ["sample", "{f}", "--allocation", "{a}", "--method", "pps", "--seed", "1", "--out", "{o}"],
            "unknown value for --method",
        ),
        (
            ["sample", "{f}", "--allocation", "{a}", "--method", "sampford", "--seed", "1", "--out", "{o}"],
            "needs a size measure",
        ),
        (["sample", "{f}", "--allocation", "{f}", "--seed", "1", "--out", "{o}"], "not an allocation file"),
    ],
)
def test_errors_are_one_line_exit_2(frame_path, tmp_path, args, text):
    alloc = tmp_path / "allocation.csv"
    run("allocate", frame_path, "--strata", "is_qpv", "--n", 50, "--out", alloc)
    fmt = {"f": frame_path, "a": alloc, "o": tmp_path / "o.csv"}
    r = run(*[a.format(**fmt) for a in args])
    assert r.exit_code == 2, r.output
    err = r.output.strip()
    assert err.startswith("error:") and err.count("\n") == 0 and text in err, err


def test_sample_errors_on_bad_allocation_and_frame(frame_path, tmp_path):
    alloc = tmp_path / "allocation.csv"
    run("allocate", frame_path, "--strata", "is_qpv", "--n", 50, "--out", alloc)
    a = read_table(alloc)
    a.loc[0, "n_h"] = a.loc[0, "N_h"] + 5
    bad = tmp_path / "bad.csv"
    a.to_csv(bad, index=False)
    r = run("sample", frame_path, "--allocation", bad, "--seed", 1, "--out", tmp_path / "o.csv")
    assert r.exit_code == 2 and "strata '0'" in r.output and "n_h <= N_h" in r.output
    f = read_table(frame_path)
    dup = tmp_path / "dup.csv"
    pd.concat([f, f.iloc[[0]]]).to_csv(dup, index=False)
    r = run("sample", dup, "--allocation", alloc, "--seed", 1, "--out", tmp_path / "o.csv")
    assert r.exit_code == 2 and "duplicate ids" in r.output
    f.loc[[2, 5], "hh"] = -1
    neg = tmp_path / "neg.csv"
    f.to_csv(neg, index=False)
    r = run(
        "sample",
        neg,
        "--allocation",
        alloc,
        "--method",
        "pps-systematic",
        "--size-col",
        "hh",
        "--seed",
        1,
        "--out",
        tmp_path / "o.csv",
    )
    assert r.exit_code == 2 and "'hh'" in r.output and "2 rows" in r.output
