"""Bad input on every command, through the real CLI: the contract of a user mistake.

Each case builds its input files in a fresh folder, runs ``nonrecours ...`` with
``typer.testing.CliRunner`` on :data:`nonrecours.cli.main.app` from that folder,
and checks the contract of the issues' "Bad input" sections and of
``docs/architecture.md``:

* exit status 2, no traceback;
* exactly one line on stderr, starting with ``error:``, naming the column or
  option (the ``expect`` fragments of the case);
* nothing written: the folder (inputs, outputs, hidden temporary files) is
  byte-for-byte what it was before the command.

"""

from __future__ import annotations

import hashlib
import shutil
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from nonrecours.cli.main import app
from nonrecours.design.allocation import allocate_frame
from nonrecours.study.demo import example_study

RUN = CliRunner()


# --------------------------------------------------------------------------- input tables


def _frame() -> pd.DataFrame:
    """A small frame: 600 recipients, 20 territories, two benefits, two rights."""
    rng = np.random.default_rng(3)
    n = 600
    df = pd.DataFrame(
        {
            "id": [f"R{i:05d}" for i in range(n)],
            "territory": np.array([f"T{i:02d}" for i in range(20)])[rng.integers(0, 20, n)],
            "departement": "75",
            "is_qpv": rng.integers(0, 2, n),
            "benefit": rng.choice(["RSA", "AAH"], n),
            "size": rng.uniform(1, 5, n),
        }
    )
    for r in ("cmuc", "acs"):
        y = rng.integers(0, 2, n).astype(float)
        y[rng.uniform(size=n) < 0.3] = np.nan
        df[r] = y
    return df


def _sample() -> pd.DataFrame:
    """A stratified cluster sample: 4 strata x 10 PSUs x 10 rows, FPC 40, weights, a response column."""
    rng = np.random.default_rng(5)
    psu = np.repeat(np.arange(40), 10)
    n = psu.size
    df = pd.DataFrame(
        {
            "id": [f"R{i}" for i in range(n)],
            "stratum": [f"s{p // 10}" for p in psu],
            "psu": [f"u{p}" for p in psu],
            "fpc": 40.0,
            "weight": rng.uniform(5, 15, n),
            "territory": [f"T{p % 8}" for p in psu],
            "is_qpv": rng.integers(0, 2, n),
            "benefit": rng.choice(["RSA", "AAH"], n),
            "responded": (rng.uniform(size=n) < 0.8).astype(int),
        }
    )
    for r in ("cmuc", "acs"):
        y = rng.integers(0, 2, n).astype(float)
        y[rng.uniform(size=n) < 0.2] = np.nan
        df[r] = y
    return df


MARGINS = pd.DataFrame(
    {
        "variable": ["benefit", "benefit", "is_qpv", "is_qpv"],
        "category": ["RSA", "AAH", "0", "1"],
        "total": [2000.0, 2000.0, 2100.0, 1900.0],
    }
)


def _aux(m: int = 30) -> pd.DataFrame:
    rng = np.random.default_rng(7)
    return pd.DataFrame(
        {
            "territory": [f"T{i:02d}" for i in range(m)],
            "departement": "75",
            "population": rng.integers(1000, 5000, m),
            "poverty_rate": rng.uniform(0.1, 0.4, m),
            "social_housing_share": rng.uniform(0.1, 0.6, m),
        }
    )


def _direct(m: int = 30) -> pd.DataFrame:
    """Direct estimates by territory, as 'nonrecours estimate --by territory' writes them."""
    rng = np.random.default_rng(8)
    rows = []
    for i in range(m):
        for r in ("cmuc", "acs"):
            p, n = rng.uniform(0.3, 0.7), int(rng.integers(20, 60))
            se = np.sqrt(p * (1 - p) / n)
            rows.append((f"T{i:02d}", r, n, p, se, p - 2 * se, p + 2 * se, 1.0, "ok"))
    return pd.DataFrame(
        rows, columns=["territory", "right", "n", "estimate", "se", "ci_low", "ci_high", "deff", "flag"]
    )


def _truth(m: int = 30) -> pd.DataFrame:
    rng = np.random.default_rng(9)
    return pd.DataFrame(
        [(f"T{i:02d}", r, 100, 50, rng.uniform(0.3, 0.7)) for i in range(m) for r in ("cmuc", "acs")],
        columns=["territory", "right", "n_eligible", "n_takers", "rate"],
    )


FRAME, SAMPLE, AUX, DIRECT, TRUTH = _frame(), _sample(), _aux(), _direct(), _truth()
ALLOCATION = allocate_frame(FRAME, ["is_qpv", "benefit"], n=80).to_frame()


def _set(col: str, rows: list[int], value) -> Callable[[pd.DataFrame], pd.DataFrame]:
    def mutate(df: pd.DataFrame) -> pd.DataFrame:
        df = df.copy()
        df[col] = df[col].astype(object)
        df.loc[rows, col] = value
        return df

    return mutate


def _write(d: Path, name: str, df: pd.DataFrame, mutate=None) -> str:
    (mutate(df) if mutate else df).to_csv(d / name, index=False)
    return name


# --------------------------------------------------------------------------- command builders


def estimate(mutate=None, *extra: str, rights: str = "cmuc,acs", name: str = "sample.csv"):
    return lambda d: ["estimate", _write(d, name, SAMPLE, mutate), "--rights", rights, *extra]


def allocate(mutate=None, *extra: str, strata: str = "is_qpv,benefit", n: str | None = "80"):
    return lambda d: [
        "allocate",
        _write(d, "frame.csv", FRAME, mutate),
        "--strata",
        strata,
        *(["--n", n] if n else []),
        *extra,
    ]


def sample(mutate=None, alloc=None, *extra: str, method: str = "srswor"):
    return lambda d: [
        "sample",
        _write(d, "frame.csv", FRAME, mutate),
        "--allocation",
        _write(d, "allocation.csv", ALLOCATION, alloc),
        "--method",
        method,
        "--seed",
        "1",
        "--out",
        "sample_out.csv",
        *extra,
    ]


def weight(mutate=None, margins=None, *extra: str, calibrate: bool = True, nonresponse: bool = True):
    def build(d: Path) -> list[str]:
        args = ["weight", _write(d, "sample.csv", SAMPLE, mutate), "--out", "weighted.csv"]
        if nonresponse:
            args += ["--responded", "responded", "--nonresponse", "classes:benefit"]
        if calibrate:
            args += ["--calibrate", _write(d, "margins.csv", MARGINS, margins)]
        return args + list(extra)

    return build


def fit(direct=None, aux=None, *extra: str, covariates: str = "poverty_rate,social_housing_share"):
    return lambda d: [
        "territorial",
        "fit",
        _write(d, "direct.csv", DIRECT, direct),
        "--aux",
        _write(d, "aux.csv", AUX, aux),
        "--covariates",
        covariates,
        "--out",
        "sae.csv",
        *extra,
    ]


def admin(mutate=None, *extra: str, rights: str = "cmuc,acs"):
    return lambda d: [
        "territorial",
        "admin",
        _write(d, "recipients.csv", FRAME, mutate),
        "--rights",
        rights,
        "--out",
        "admin.csv",
        *extra,
    ]


def compare(est=None, truth=None, *extra: str):
    return lambda d: [
        "territorial",
        "compare",
        _write(d, "estimates.csv", DIRECT, est),
        "--truth",
        _write(d, "truth.csv", TRUTH, truth),
        *extra,
    ]


STUDY = example_study(seed=1).replace("n = 6000", "n = 400").replace("min_per_stratum = 50", "min_per_stratum = 5")


#: Where the ``population`` fixture wrote the tiny synthetic population of the study cases.
POPULATION: dict[str, Path] = {}


def study(edit=None, *extra: str, prepare=None):
    def build(d: Path) -> list[str]:
        shutil.copytree(POPULATION["dir"], d / "population")
        (d / "study.toml").write_text(STUDY if edit is None else edit(STUDY), encoding="utf-8")
        if prepare:
            prepare(d)
        return ["run", "study.toml", *extra]

    return build


def _replace(old: str, new: str):
    def edit(text: str) -> str:
        assert old in text
        return text.replace(old, new)

    return edit


def _nonempty(folder: str):
    def prepare(d: Path) -> None:
        (d / folder).mkdir(exist_ok=True)
        (d / folder / "notes.txt").write_text("x")

    return prepare


def _file(name: str, text: str = "x"):
    def prepare(d: Path) -> None:
        (d / name).parent.mkdir(parents=True, exist_ok=True)
        (d / name).write_text(text)

    return prepare


def existing(name: str, build):
    """A previous output ``name`` already in the folder, then the command ``build`` writing it."""

    def b(d: Path) -> list[str]:
        _file(name)(d)
        return build(d)

    return b


def _strata_lost(df: pd.DataFrame) -> pd.DataFrame:
    """The sample with an FPC that varies between strata, and without its stratum column."""
    return df.assign(fpc=np.where(df["stratum"].isin(["s0", "s1"]), 40.0, 50.0)).drop(columns="stratum")


def prepared(prepare, *args: str):
    """Run ``prepare(folder)``, then the command ``args``."""

    def build(d: Path) -> list[str]:
        prepare(d)
        return list(args)

    return build


def _raw(text: str, name: str, *args: str):
    def build(d: Path) -> list[str]:
        (d / name).write_text(text)
        return [a.replace("{}", name) for a in args]

    return build


VALIDATE = ["validate", "--territories", "2", "--replications", "3", "--n", "200", "--seed", "1"]

# (id, command builder, fragments expected in the error line)
CASES = [
    # ---- estimate (issue 3)
    ("estimate/missing right column", estimate(None, rights="cmuc,tpn"), ["'tpn'", "not found"]),
    ("estimate/right value 2", estimate(_set("cmuc", [0, 1], 2)), ["'cmuc'", "2 rows, on lines 2, 3", "1, 0 or empty"]),
    ("estimate/right value -1", estimate(_set("cmuc", [0], -1)), ["'cmuc'", "1 rows, on line 2"]),
    (
        "estimate/right column of text",
        estimate(lambda df: df.assign(cmuc="oui")),
        ["'cmuc'", "400 rows", "lines 2, 3, 4, 5, 6 and 395 more"],
    ),
    ("estimate/negative weight", estimate(_set("weight", [3], -1.0)), ["'weight'", "1 rows"]),
    ("estimate/zero weight", estimate(_set("weight", [3], 0.0)), ["'weight'", "> 0"]),
    ("estimate/missing weight", estimate(_set("weight", [3, 4], np.nan)), ["'weight'", "2 rows"]),
    ("estimate/weight of text", estimate(_set("weight", [3], "abc")), ["'weight'", "not numeric"]),
    ("estimate/missing stratum", estimate(_set("stratum", [3], np.nan)), ["'stratum'", "1 rows empty"]),
    ("estimate/missing psu", estimate(_set("psu", [3], np.nan)), ["'psu'", "1 rows empty"]),
    ("estimate/psu not nested", estimate(lambda df: df.assign(psu=df["psu"].str[:2])), ["'psu'", "nest"]),
    ("estimate/fpc varies in stratum", estimate(_set("fpc", [3], 50.0)), ["'fpc'", "varies"]),
    ("estimate/fpc below sampled psus", estimate(lambda df: df.assign(fpc=2.0)), ["'fpc'", "smaller"]),
    ("estimate/fpc missing", estimate(_set("fpc", [3], np.nan)), ["'fpc'", "1 rows"]),
    (
        "estimate/lonely psu fail",
        estimate(lambda df: df[(df.stratum != "s0") | (df.psu == "u0")]),
        ["'s0'", "--lonely-psu"],
    ),
    ("estimate/missing by column", estimate(None, "--by", "nope"), ["'nope'"]),
    ("estimate/missing weight column", estimate(None, "--weight", "w2"), ["'w2'"]),
    ("estimate/gap column absent", estimate(None, "--gap", "nope"), ["'nope'"]),
    ("estimate/gap reference absent", estimate(None, "--gap", "territory:T999"), ["'territory'", "level not found"]),
    ("estimate/unknown --adjust", estimate(None, "--gap", "territory", "--adjust", "fdr"), ["--adjust", "'fdr'"]),
    ("estimate/gap level absent", estimate(None, "--gap", "is_qpv=1,9"), ["'is_qpv'", "'9'"]),
    ("estimate/unknown ci", estimate(None, "--ci", "foo"), ["--ci", "'foo'"]),
    ("estimate/unknown df rule", estimate(None, "--df", "foo"), ["--df", "'foo'"]),
    ("estimate/level out of range", estimate(None, "--level", "1.5"), ["--level", "1.5"]),
    ("estimate/level of text (typer usage error)", estimate(None, "--level", "abc"), ["--level", "--help"]),
    (
        "estimate/missing --rights (needed by the default --stat rate)",
        lambda d: ["estimate", _write(d, "s.csv", SAMPLE)],
        ["--rights", "needs rights"],
    ),
    ("estimate/unknown --stat", estimate(None, "--stat", "median"), ["--stat", "median"]),
    (
        "estimate/--stat mean without --variables",
        lambda d: ["estimate", _write(d, "s.csv", SAMPLE), "--stat", "mean"],
        ["--variables", "needs columns"],
    ),
    ("estimate/--variables with --stat rate", estimate(None, "--variables", "x"), ["--variables", "--stat"]),
    (
        "estimate/malformed ratio",
        lambda d: ["estimate", _write(d, "s.csv", SAMPLE), "--stat", "ratio", "--variables", "a"],
        ["--variables", "NUMERATOR/DENOMINATOR"],
    ),
    (
        "estimate/quantile gap",
        lambda d: ["estimate", _write(d, "s.csv", SAMPLE), "--stat", "quantile", "--variables", "x", "--gap", "is_qpv"],
        ["--gap", "quantiles"],
    ),
    ("estimate/unknown option (typer usage error)", estimate(None, "--foo", "1"), ["--foo"]),
    ("estimate/output equals input", estimate(None, "--out", "sample.csv"), ["--out", "overwrite"]),
    ("estimate/gap output equals input", estimate(None, "--gap", "is_qpv", "--out", "sample.csv"), ["overwrite"]),
    ("estimate/unsupported output suffix", estimate(None, "--out", "rates.txt"), ["--out", "'.txt'"]),
    ("estimate/unsupported input suffix", estimate(None, name="sample.txt"), ["SAMPLE", "'.txt'"]),
    (
        "estimate/missing input file",
        lambda d: ["estimate", "nofile.csv", "--rights", "cmuc"],
        ["'nofile.csv'", "not found"],
    ),
    ("estimate/empty csv", _raw("", "e.csv", "estimate", "{}", "--rights", "cmuc"), ["'e.csv'", "cannot read"]),
    ("estimate/header-only csv", _raw("cmuc,weight\n", "e.csv", "estimate", "{}", "--rights", "cmuc"), ["empty"]),
    ("estimate/replicates without sidecar", estimate(None, "--replicates"), ["--replicates", "sidecar"]),
    # ---- allocate (issue 4)
    ("allocate/missing strata column", allocate(None, strata="nope"), ["'nope'"]),
    ("allocate/missing stratum value", allocate(_set("benefit", [0], np.nan)), ["'benefit'", "1 empty rows"]),
    ("allocate/n above the population", allocate(None, n="700"), ["option --n", "700"]),
    (
        "allocate/stratum below min 2",
        allocate(lambda df: pd.concat([df, df.iloc[:1].assign(benefit="ASS", id="X")])),
        ["'0|ASS'", "fewer than 2"],
    ),
    ("allocate/rate above 1", allocate(None, "--method", "neyman", "--rates", "cmuc=1.2"), ["'cmuc'", "(0, 1)", "1.2"]),
    ("allocate/rate 0", allocate(None, "--method", "neyman", "--rates", "cmuc=0"), ["'cmuc'", "(0, 1)"]),
    ("allocate/neyman without rates", allocate(None, "--method", "neyman"), ["rates"]),
    ("allocate/unknown method", allocate(None, "--method", "foo"), ["--method", "'foo'"]),
    ("allocate/min 0", allocate(None, "--min", "0"), ["option --min", "found 0"]),
    (
        "allocate/negative cost",
        allocate(
            lambda df: df.assign(size=-df["size"]), "--method", "optimal", "--rates", "cmuc=0.5", "--cost", "size"
        ),
        ["'size'", "costs must be positive"],
    ),
    (
        "allocate/target unreachable",
        allocate(
            None,
            "--target-halfwidth",
            "0.001",
            "--rates",
            "cmuc=0.5",
            "--response-rate",
            "0.5",
            strata="territory",
            n=None,
        ),
        ["territory=T00", "census"],
    ),
    ("allocate/response rate 1.5", allocate(None, "--response-rate", "1.5"), ["response-rate", "1.5"]),
    (
        "allocate/level 2",
        allocate(None, "--target-halfwidth", "0.1", "--rates", "cmuc=0.5", "--level", "2", n=None),
        ["level", "2.0"],
    ),
    (
        "allocate/precision-out without rates",
        allocate(None, "--out", "a.csv", "--precision-out", "p.csv"),
        ["--precision-out", "rates"],
    ),
    (
        "allocate/precision-out bad suffix",
        allocate(None, "--rates", "cmuc=0.5", "--out", "a.csv", "--precision-out", "p.txt"),
        ["--precision-out", "'.txt'"],
    ),
    (
        "allocate/precision-out equals input",
        allocate(None, "--rates", "cmuc=0.5", "--out", "a.csv", "--precision-out", "frame.csv"),
        ["--precision-out", "overwrite"],
    ),
    ("allocate/output equals input", allocate(None, "--out", "frame.csv"), ["--out", "overwrite"]),
    (
        "allocate/header-only frame",
        _raw("id,is_qpv\n", "e.csv", "allocate", "{}", "--strata", "is_qpv", "--n", "5"),
        ["frame is empty"],
    ),
    # ---- sample (issue 4)
    (
        "sample/duplicate ids",
        sample(lambda df: df.assign(id=df["id"].where(df.index != 1, df["id"][0]))),
        ["'id'", "duplicate"],
    ),
    ("sample/missing stratum value", sample(_set("benefit", [2], np.nan)), ["'benefit'", "missing stratum"]),
    (
        "sample/n_h above N_h",
        sample(None, lambda a: a.assign(n_h=a["n_h"].where(a.index != 0, 10_000))),
        ["'0|AAH'", "n_h <= N_h"],
    ),
    ("sample/n_h negative", sample(None, lambda a: a.assign(n_h=a["n_h"].where(a.index != 0, -1))), ["'0|AAH'"]),
    (
        "sample/n_h of text",
        sample(None, lambda a: a.assign(n_h=a["n_h"].astype(object).where(a.index != 0, "x"))),
        ["'0|AAH'", "n_h"],
    ),
    ("sample/not an allocation file", sample(None, lambda a: a[["is_qpv"]]), ["--allocation", "n_h"]),
    (
        "sample/allocation names unknown stratum",
        sample(None, lambda a: pd.concat([a, a.iloc[:1].assign(stratum="9|RSA", is_qpv=9)])),
        ["'9|RSA'", "absent"],
    ),
    (
        "sample/pps size 0",
        sample(_set("size", [4], 0.0), None, "--size-col", "size", method="pps-systematic"),
        ["'size'", "positive"],
    ),
    (
        "sample/pps size negative",
        sample(_set("size", [4], -3.0), None, "--size-col", "size", method="sampford"),
        ["'size'", "positive"],
    ),
    (
        "sample/pps size missing",
        sample(_set("size", [4], np.nan), None, "--size-col", "size", method="pps-systematic"),
        ["'size'"],
    ),
    ("sample/pps without size", sample(None, None, method="pps-systematic"), ["size-col"]),
    (
        "sample/two-stage psus across strata",
        sample(None, None, "--psu-col", "territory", "--n-psu", "2", method="two-stage"),
        ["'territory'", "across strata"],
    ),
    ("sample/negative seed", sample(None, None, "--seed", "-1"), ["seed", "-1"]),
    ("sample/output equals frame", sample(None, None, "--out", "frame.csv"), ["overwrite"]),
    ("sample/output equals allocation", sample(None, None, "--out", "allocation.csv"), ["overwrite"]),
    ("sample/unsupported output suffix", sample(None, None, "--out", "s.txt"), ["--out", "'.txt'"]),
    (
        "sample/missing allocation file",
        lambda d: ["sample", _write(d, "frame.csv", FRAME), "--allocation", "no.csv", "--seed", "1", "--out", "s.csv"],
        ["--allocation", "not found"],
    ),
    # ---- weight (issue 5)
    ("weight/negative weight", weight(_set("weight", [3], -2.0)), ["'weight'", "1 rows"]),
    ("weight/zero weight", weight(_set("weight", [3], 0.0)), ["'weight'"]),
    ("weight/missing weight", weight(_set("weight", [3], np.nan)), ["'weight'"]),
    ("weight/response code 5", weight(_set("responded", [3], 5)), ["'responded'", "5"]),
    (
        "weight/margin category unknown",
        weight(
            None,
            lambda m: pd.concat([m, pd.DataFrame({"variable": ["benefit"], "category": ["ASS"], "total": [10.0]})]),
        ),
        ["benefit=ASS"],
    ),
    (
        "weight/sample category missing from margins",
        weight(
            None,
            lambda m: m[m.category != "AAH"].assign(total=lambda x: np.where(x.variable == "benefit", 4000.0, x.total)),
        ),
        ["benefit=AAH", "missing"],
    ),
    (
        "weight/margins with different totals",
        weight(None, lambda m: m.assign(total=np.where(m.category == "RSA", 3000.0, m.total))),
        ["different totals", "benefit: 5000"],
    ),
    (
        "weight/margin variable absent",
        weight(
            None, lambda m: pd.concat([m, pd.DataFrame({"variable": ["zz"], "category": ["a"], "total": [4000.0]})])
        ),
        ["'zz'"],
    ),
    ("weight/margin total of text", weight(None, _set("total", [0], "x")), ["'total'", "numbers"]),
    (
        "weight/infeasible bounds",
        weight(
            None,
            lambda m: m.assign(total=[3000.0, 1000.0, 2100.0, 1900.0]),
            "--method",
            "logit",
            "--bounds",
            "0.99,1.01",
        ),
        ["infeasible", "benefit=RSA"],
    ),
    ("weight/bounds not around 1", weight(None, None, "--method", "logit", "--bounds", "1.5,3"), ["bounds", "L=1.5"]),
    ("weight/unknown lonely-psu rule", weight(None, None, "--lonely-psu", "foo"), ["--lonely-psu", "'foo'"]),
    ("weight/psu not nested", weight(lambda df: df.assign(psu=df["psu"].str[:2])), ["'psu'", "nest"]),
    ("weight/fpc varies", weight(_set("fpc", [0], 50.0)), ["'fpc'", "varies"]),
    ("weight/bootstrap without seed", weight(None, None, "--replicates", "bootstrap:10"), ["seed"]),
    ("weight/brr needs two psus per stratum", weight(None, None, "--replicates", "brr"), ["BRR", "two PSUs"]),
    ("weight/output equals input", weight(None, None, "--out", "sample.csv"), ["overwrite"]),
    ("weight/output equals margins", weight(None, None, "--out", "margins.csv"), ["overwrite"]),
    ("weight/unsupported output suffix", weight(None, None, "--out", "w.txt"), ["--out", "'.txt'"]),
    ("weight/no respondent", weight(lambda df: df.assign(responded=0)), ["no respondent"]),
    (
        "weight/bootstrap with 0 replicates",
        weight(None, None, "--replicates", "bootstrap:0", "--seed", "1"),
        ["bootstrap", "0"],
    ),
    (
        "weight/--nonresponse without --responded",
        lambda d: [
            "weight",
            _write(d, "sample.csv", SAMPLE),
            "--out",
            "weighted.csv",
            "--nonresponse",
            "classes:benefit",
        ],
        ["--responded"],
    ),
    # ---- territorial fit / admin / compare (issue 6)
    ("fit/territory absent from covariates", fit(_set("territory", [0, 1], "T99")), ["'T99'", "no covariates"]),
    ("fit/zero variance", fit(_set("se", [0], 0.0), None, "--variance", "direct"), ["'se'", "'T00'"]),
    ("fit/negative variance", fit(_set("se", [0], -0.1), None, "--variance", "direct"), ["'se'", "'T00'"]),
    ("fit/missing variance", fit(_set("se", [0], np.nan), None, "--variance", "direct"), ["'se'", "'T00'"]),
    (
        "fit/collinear covariates",
        fit(None, lambda a: a.assign(pov2=2 * a.poverty_rate), covariates="poverty_rate,pov2"),
        ["collinear", "'pov2'"],
    ),
    (
        "fit/fewer territories than parameters",
        fit(lambda d: d[d.territory.isin(["T00", "T01", "T02"])]),
        ["fewer", "found 3"],
    ),
    (
        "fit/every direct estimate suppressed",
        fit(lambda d: d.assign(estimate=np.nan, se=np.nan, flag="suppressed")),
        ["fewer", "found 0"],
    ),
    ("fit/missing covariate column", fit(None, None, covariates="poverty_rate,zz"), ["'zz'"]),
    ("fit/covariate of text", fit(None, _set("poverty_rate", [2], "high")), ["'poverty_rate'", "'T02'"]),
    ("fit/duplicate territory x right", fit(lambda d: pd.concat([d, d.iloc[:1]])), ["twice", "'T00/cmuc'"]),
    ("fit/bootstrap without seed", fit(None, None, "--mse", "bootstrap", "--bootstrap", "10"), ["seed"]),
    ("fit/output equals input", fit(None, None, "--out", "aux.csv"), ["overwrite"]),
    (
        "fit/diagnostics-out bad suffix",
        fit(None, None, "--diagnostics-out", "diag.txt"),
        ["--diagnostics-out", "'.txt'"],
    ),
    ("admin/right value 2", admin(_set("cmuc", [0], 2)), ["'cmuc'", "line 2"]),
    ("admin/missing territory value", admin(_set("territory", [0], np.nan)), ["'territory'", "1 empty rows"]),
    ("admin/min-cell 0", admin(None, "--min-cell", "0"), ["min-cell"]),
    ("admin/totals-out bad suffix", admin(None, "--totals-out", "t.txt"), ["--totals-out", "'.txt'"]),
    ("admin/output equals input", admin(None, "--out", "recipients.csv"), ["overwrite"]),
    ("compare/truth rate of text", compare(None, _set("rate", [0], "abc")), ["'rate'", "not numeric", "line 2"]),
    ("compare/truth rate above 1", compare(None, _set("rate", [0], 1.5)), ["'rate'", "[0, 1]", "line 2"]),
    ("compare/estimate of text", compare(_set("estimate", [0], "abc")), ["'estimate'", "not numeric"]),
    ("compare/no territory in common", compare(None, lambda t: t.assign(territory="X" + t.territory)), ["in common"]),
    (
        "compare/detail-out bad suffix",
        compare(None, None, "--out", "c.csv", "--detail-out", "d.txt"),
        ["--detail-out", "'.txt'"],
    ),
    # ---- run / demo (issue 7)
    ("run/unknown key", study(_replace('method = "power"', 'methd = "power"')), ["design.allocation.methd", "method"]),
    ("run/wrong type", study(_replace("n = 400", 'n = "400"')), ["design.allocation.n", "integer"]),
    (
        "run/missing frame file",
        study(_replace("population/recipients.csv", "population/nope.csv")),
        ["frame.path", "not found"],
    ),
    ("run/unknown choice", study(_replace('ci = "auto"', 'ci = "foo"')), ["estimation.ci", "'foo'"]),
    (
        "run/unknown stratum column",
        study(_replace('strata = ["is_qpv", "benefit"]', 'strata = ["is_qpv", "zz"]')),
        ["design.strata", "'zz'"],
    ),
    (
        "run/unknown covariate",
        study(_replace('covariates = ["is_qpv",', 'covariates = ["zz",')),
        ["territorial.covariates", "'zz'"],
    ),
    ("run/invalid toml", study(lambda t: t + "\n[[[bad\n"), ["TOML"]),
    ("run/missing study file", lambda d: ["run", "nope.toml"], ["'nope.toml'", "not found"]),
    ("run/non-empty output folder", study(None, prepare=_nonempty("results")), ["results", "not empty"]),
    (
        "run/output folder is the frame",
        study(_replace('folder = "results"', 'folder = "population/recipients.csv"')),
        ["output.folder", "is a file"],
    ),
    (
        "demo/non-empty folder",
        prepared(_nonempty("demo"), "demo", "--out", "demo", "--territories", "2"),
        ["--out", "not empty"],
    ),
    (
        "demo/territories of text (typer usage error)",
        lambda d: ["demo", "--out", "demo", "--territories", "abc"],
        ["--territories", "integer"],
    ),
    ("demo/territories 0", lambda d: ["demo", "--out", "demo", "--territories", "0"], ["--territories"]),
    # ---- simulate (issue 2) and validate (issue 8)
    (
        "simulate/territories of text (typer usage error)",
        lambda d: ["simulate", "--territories", "abc", "--seed", "1", "--out", "pop"],
        ["--territories"],
    ),
    ("simulate/missing --seed (typer usage error)", lambda d: ["simulate", "--out", "pop"], ["--seed"]),
    (
        "simulate/unknown format",
        lambda d: ["simulate", "--seed", "1", "--out", "pop", "--format", "xlsx"],
        ["--format", "'xlsx'"],
    ),
    (
        "simulate/existing output files",
        prepared(_file("pop/recipients.csv"), "simulate", "--seed", "1", "--territories", "1", "--out", "pop"),
        ["recipients.csv", "--overwrite"],
    ),
    ("validate/replications 1", lambda d: [*VALIDATE[:3], "--replications", "1", *VALIDATE[5:]], ["--replications"]),
    ("validate/unknown ci", lambda d: [*VALIDATE, "--ci", "foo"], ["--ci", "'foo'"]),
    ("validate/level 2", lambda d: [*VALIDATE, "--level", "2"], ["--level"]),
    ("validate/unknown right", lambda d: [*VALIDATE, "--rights", "zz"], ["'zz'"]),
    (
        "validate/existing output",
        prepared(_file("vo/validation.csv"), *VALIDATE, "--out", "vo"),
        ["validation.csv", "--overwrite"],
    ),
    ("nonrecours/unknown command (typer usage error)", lambda d: ["frobnicate"], ["frobnicate"]),
    # ---- issue 12: no silent overwrite (one rule for every command), the errors of its table
    (
        "fit/--out and --diagnostics-out the same file",
        fit(None, None, "--diagnostics-out", "sae.csv"),
        ["--out and --diagnostics-out", "same path"],
    ),
    (
        "admin/--out and --totals-out the same file",
        admin(None, "--totals-out", "./admin.csv"),
        ["--out and --totals-out", "same path"],
    ),
    (
        "compare/--out and --detail-out the same file",
        compare(None, None, "--out", "c.csv", "--detail-out", "c.csv"),
        ["--out and --detail-out", "same path"],
    ),
    (
        "allocate/--out and --precision-out the same file",
        allocate(None, "--rates", "cmuc=0.5", "--out", "a.csv", "--precision-out", "a.csv"),
        ["same path"],
    ),
    (
        "estimate/existing output",
        existing("rates.csv", estimate(None, "--out", "rates.csv")),
        ["--out", "already exists", "--overwrite"],
    ),
    (
        "estimate/existing gap output",
        existing("rates_gap.csv", estimate(None, "--gap", "is_qpv", "--out", "rates.csv")),
        ["gap", "already exists"],
    ),
    ("allocate/existing output", existing("a.csv", allocate(None, "--out", "a.csv")), ["--out", "already exists"]),
    (
        "allocate/existing precision output",
        existing("p.csv", allocate(None, "--rates", "cmuc=0.5", "--out", "a.csv", "--precision-out", "p.csv")),
        ["--precision-out", "already exists"],
    ),
    ("sample/existing output", existing("sample_out.csv", sample()), ["--out", "already exists"]),
    ("weight/existing output", existing("weighted.csv", weight()), ["--out", "already exists"]),
    ("weight/existing sidecar", existing("weighted.design.json", weight()), ["sidecar", "already exists"]),
    ("fit/existing output", existing("sae.csv", fit()), ["--out", "already exists"]),
    (
        "fit/existing diagnostics",
        existing("diag.csv", fit(None, None, "--diagnostics-out", "diag.csv")),
        ["--diagnostics-out", "already exists"],
    ),
    ("admin/existing output", existing("admin.csv", admin()), ["--out", "already exists"]),
    (
        "admin/existing totals",
        existing("t.csv", admin(None, "--totals-out", "t.csv")),
        ["--totals-out", "already exists"],
    ),
    ("compare/existing output", existing("c.csv", compare(None, None, "--out", "c.csv")), ["--out", "already exists"]),
    ("estimate/output is a folder", existing("outdir/x", estimate(None, "--out", "outdir")), ["--out"]),
    (
        "weight/duplicate ids",
        weight(lambda df: df.assign(id=df["id"].where(df.index != 1, df["id"][0]))),
        ["'id'", "duplicate ids", "2 rows share an id, on lines 2, 3"],
    ),
    (
        "weight/duplicate ids in --id-col",
        weight(lambda df: df.assign(key=1), None, "--id-col", "key"),
        ["'key'", "duplicate ids"],
    ),
    # one row per unit everywhere a file carries ids (the same check as weight, sample and run)
    (
        "admin/duplicate ids",
        admin(lambda df: df.assign(id=df["id"].where(df.index != 1, df["id"][0]))),
        ["recipients file, column 'id'", "duplicate ids", "2 rows share an id, on lines 2, 3", "--id-col"],
    ),
    (
        "admin/duplicate ids in --id-col",
        admin(lambda df: df.assign(key=1), "--id-col", "key"),
        ["'key'", "duplicate ids"],
    ),
    ("admin/--id-col missing", admin(None, "--id-col", "key"), ["'key'", "not found"]),
    (
        "estimate/duplicate ids",
        estimate(lambda df: df.assign(id=df["id"].where(df.index != 1, df["id"][0]))),
        ["sample, column 'id'", "duplicate ids", "2 rows share an id, on lines 2, 3", "--id-col"],
    ),
    (
        "allocate/duplicate ids",
        allocate(lambda df: df.assign(id=df["id"].where(df.index != 1, df["id"][0]))),
        ["frame, column 'id'", "duplicate ids", "2 rows share an id, on lines 2, 3", "--id-col"],
    ),
    (
        "margins/duplicate ids",
        lambda d: [
            "margins",
            _write(d, "frame.csv", FRAME, lambda df: df.assign(id=df["id"].where(df.index != 1, df["id"][0]))),
            "--variables",
            "benefit",
            "--out",
            "m.csv",
        ],
        ["frame, column 'id'", "duplicate ids", "2 rows share an id, on lines 2, 3", "--id-col"],
    ),
    (
        "margins/duplicate ids in --id-col",
        lambda d: [
            "margins",
            _write(d, "frame.csv", FRAME, lambda df: df.assign(key=1)),
            "--variables",
            "benefit",
            "--id-col",
            "key",
        ],
        ["'key'", "duplicate ids"],
    ),
    ("estimate/strata column missing (varying fpc)", estimate(_strata_lost), ["'stratum'", "missing", "--strata"]),
    ("weight/strata column missing (varying fpc)", weight(_strata_lost), ["'stratum'", "missing", "--strata"]),
    ("estimate/min-n negative", estimate(None, "--min-n", "-1"), ["--min-n"]),
]


# --------------------------------------------------------------------------- the contract


@pytest.fixture(scope="module", autouse=True)
def population(tmp_path_factory):
    """A tiny synthetic population (2 QPVs) for the study cases, written once."""
    from nonrecours.simulate import simulate_population

    POPULATION["dir"] = tmp_path_factory.mktemp("population") / "population"
    simulate_population(2, seed=1).write(POPULATION["dir"], "csv")


def _snapshot(folder: Path) -> dict[str, str]:
    """Every file and folder under ``folder`` (hidden temporary files included) with its hash."""
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest() if p.is_file() else "dir"
        for p in sorted(folder.rglob("*"))
    }


def _params():
    for case in CASES:
        if hasattr(case, "marks"):  # already a pytest.param (an xfail case)
            yield pytest.param(*case.values, id=case.values[0], marks=case.marks)
        else:
            yield pytest.param(*case, id=case[0])


@pytest.mark.parametrize(("name", "build", "expect"), list(_params()))
def test_bad_input_one_line_exit_2_nothing_written(name, build, expect, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    args = build(tmp_path)
    before = _snapshot(tmp_path)
    res = RUN.invoke(app, args)
    after = _snapshot(tmp_path)
    assert res.exc_info is None or isinstance(res.exc_info[1], SystemExit), res.exc_info
    assert "Traceback" not in res.output
    assert res.exit_code == 2, (res.exit_code, res.output)
    lines = res.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), res.stderr
    for fragment in expect:
        assert fragment.lower() in lines[0].lower(), (fragment, lines[0])
    assert after == before, "files written or changed: " + ", ".join(
        sorted(k for k in set(before) | set(after) if before.get(k) != after.get(k))
    )


def test_usage_error_is_one_line_with_hint():
    """Typer's usage errors (multi-line boxes by default) are one line naming the option, with a hint."""
    res = RUN.invoke(app, ["simulate", "--territories", "abc", "--seed", "1", "--out", "pop"])
    assert res.exit_code == 2
    (line,) = res.stderr.splitlines()
    assert line.startswith("error: nonrecours simulate: Invalid value for '--territories'")
    assert line.endswith("Hint: see 'nonrecours simulate --help'.")
    assert "╭" not in res.output and "Usage:" not in res.output


def test_help_and_bare_group_still_show_help():
    assert RUN.invoke(app, ["--help"]).exit_code == 0
    bare = RUN.invoke(app, ["territorial"])
    assert "fit" in bare.output and "error:" not in bare.output


def test_a_numeric_column_with_text_names_markers_by_kind_not_values():
    """Issue 28: what a non-numeric column holds, by kind; only other software's missing markers are quoted."""
    import pandas as pd

    from nonrecours._checks import check_numeric_column
    from nonrecours.errors import InputError

    df = pd.DataFrame({"x": ["1", "NA", "Durand", "2", "."]})
    with pytest.raises(InputError) as err:
        check_numeric_column(df, "x", source="truth file")
    text = str(err.value)
    assert "text 'NA' (R's missing marker)" in text and "text '.' (the SAS and Stata missing marker)" in text
    assert "text values (1 distinct)" in text and "Durand" not in text and "parameter na" in text
