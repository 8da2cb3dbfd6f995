"""One bundle of design options for every command that reads a design (issue 24, item 5).

``estimate``, ``test``, ``model``, ``change`` and ``series`` take the same design options
(:func:`nonrecours.cli._design.design_options`), so a PPS first stage (``--pps brewer``) or a
multistage design (``--stages``) can be tested, modelled and followed over waves, not only estimated.
Where the quantities are the same, the commands give the same numbers as ``estimate``: the predicted
take-up of a saturated model is the domain rate with its SE, and a series' yearly SEs are each wave's
own. Data: R's ``election`` PPS sample and the three-stage ``apiclus2`` extension of
``tests/reference`` (see ``tests/test_pps_variance.py`` and ``tests/test_multistage.py``).
"""

from __future__ import annotations

import inspect
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from nonrecours.cli import analysis, change, estimate, series
from nonrecours.cli._design import ROLE_FLAGS
from nonrecours.cli.main import app
from nonrecours.design import SurveyDesign
from nonrecours.design.survey_design import Stage
from nonrecours.estimation.association import chisq_test

pytestmark = pytest.mark.filterwarnings("ignore::nonrecours.errors.LonelyPSUWarning")

DIR = Path(__file__).resolve().parent / "reference"
RUN = CliRunner()

#: The design of each case, as options and as the library's SurveyDesign (data -> design).
PPS = ["--psu", "psu", "--fpc", "p", "--pps", "brewer", "--weight", "none", "--lonely-psu", "adjust"]
STAGES = [
    "--weight",
    "none",
    "--strata",
    "none",
    "--psu",
    "dnum",
    "--fpc",
    "fpc1",
    "--stages",
    "snum::fpc2,cls::f3",
    "--lonely-psu",
    "adjust",
]
CASES = {
    "pps": (
        "election",
        "kerry_wins",
        "big",
        PPS,
        lambda d: SurveyDesign(d, psu="psu", fpc="p", pps="brewer", lonely_psu="adjust"),
    ),
    "stages": (
        "three",
        "z",
        "stype",
        STAGES,
        lambda d: SurveyDesign(
            d, psu="dnum", fpc="fpc1", stages=(Stage("snum", fpc="fpc2"), Stage("cls", fpc="f3")), lonely_psu="adjust"
        ),
    ),
}


@pytest.fixture(scope="module")
def files(tmp_path_factory) -> Path:
    """Two waves of each sample (a panel: wave 2 has every fifth outcome flipped), with an id column."""
    folder = tmp_path_factory.mktemp("bundle")
    el = pd.read_csv(DIR / "pps" / "election_pps.csv")
    three = pd.read_csv(DIR / "multistage" / "api_three_stage.csv")
    for name, data, right in (("election", el, "kerry_wins"), ("three", three, "z")):
        data = data.assign(id=np.arange(len(data)))
        data.to_csv(folder / f"{name}_1.csv", index=False)
        flip = np.arange(len(data)) % 5 == 0
        data.assign(**{right: np.where(flip, 1 - data[right], data[right])}).to_csv(
            folder / f"{name}_2.csv", index=False
        )
    return folder


def _run(args: list) -> None:
    res = RUN.invoke(app, [str(a) for a in args])
    assert res.exit_code == 0, res.output


#: Every estimate shown (the comparisons across commands are of the design options, not of the disclosure rule,
#: whose pattern differs: one per wave for estimate and change, one for all years in series).
EVERY = ["--min-n", "1", "--allow-below-threshold"]


def _estimate(files: Path, case: str, wave: int = 1, every: bool = False) -> pd.DataFrame:
    name, right, by, opts, _ = CASES[case]
    out = files / f"est_{case}_{wave}{'_every' if every else ''}.csv"
    if not out.exists():
        extra = EVERY if every else []
        _run(["estimate", files / f"{name}_{wave}.csv", "--rights", right, "--by", by, *opts, *extra, "--out", out])
    return pd.read_csv(out, dtype={by: str})


def test_the_five_commands_take_the_same_design_options():
    bundle = {
        *ROLE_FLAGS.values(),
        "--lonely-psu",
        "--replicates",
        "--pps",
        "--joint",
        "--stages",
        "--nest",
        "--zero-weights",
        "--repweights",
        "--rep-type",
        "--rep-scale",
        "--rep-rscales",
        "--rep-rho",
        "--mse",
    }
    for command in (estimate.estimate, analysis.test, analysis.model, change.change, series.series):
        flags = {
            d
            for p in inspect.signature(command).parameters.values()
            for d in getattr(p.default, "param_decls", ()) or ()
            if d.startswith("--")
        }
        assert bundle <= flags, (command.__name__, sorted(bundle - flags))


@pytest.mark.parametrize("case", sorted(CASES))
def test_model_and_test_take_the_design_estimate_takes(files, case):
    """model's predicted take-up by group (a saturated model) is estimate's domain rate with its SE; test's
    statistics are chisq_test's on the library's design, and the design options change them."""
    name, right, by, opts, build = CASES[case]
    sample = files / f"{name}_1.csv"
    est = _estimate(files, case)
    out = files / f"model_{case}.csv"
    _run(["model", sample, "--right", right, "--covariates", by, "--predict", by, *opts, "--out", out])
    pred = pd.read_csv(files / f"model_{case}_predicted.csv", dtype={"level": str})
    both = est.merge(pred, left_on=by, right_on="level", suffixes=("", "_model"))
    assert len(both) == len(est) >= 2
    np.testing.assert_allclose(both["estimate_model"], both["estimate"], rtol=1e-8)
    np.testing.assert_allclose(both["se_model"], both["se"], rtol=1e-7)

    out = files / f"test_{case}.csv"
    _run(["test", sample, "--right", right, "--by", by, *opts, "--out", out])
    got = pd.read_csv(out)
    want = chisq_test(build(pd.read_csv(sample)), [right], [by]).to_frame()
    np.testing.assert_allclose(got["value"], want["value"], rtol=1e-9)  # the file read as text, then typed
    np.testing.assert_allclose(got["p_value"], want["p_value"], rtol=1e-9)
    plain = files / f"test_{case}_plain.csv"  # the same sample as an SRS of its rows: other statistics
    _run(
        [
            "test",
            sample,
            "--right",
            right,
            "--by",
            by,
            "--weight",
            "none",
            "--psu",
            "none",
            "--fpc",
            "none",
            "--fpc2",
            "none",
            "--strata",
            "none",
            "--out",
            plain,
        ]
    )
    assert not np.allclose(pd.read_csv(plain)["value"], got["value"], rtol=1e-3)


@pytest.mark.parametrize("case", sorted(CASES))
def test_series_and_change_apply_them_to_each_wave(files, case):
    """series' yearly rates and SEs are estimate's on each wave; change's change is the difference of the waves'
    rates; one --joint file for several waves is refused."""
    name, right, by, opts, _ = CASES[case]
    w1, w2 = files / f"{name}_1.csv", files / f"{name}_2.csv"
    out = files / f"series_{case}"
    _run(
        [
            "series",
            "--rights",
            right,
            "--by",
            by,
            "--waves",
            f"2014={w1},2015={w2}",
            "--scheme",
            "panel",
            *opts,
            *EVERY,
            "--out",
            out,
        ]
    )
    yearly = pd.read_csv(out / "series_yearly.csv", dtype={by: str})
    for year, wave in ((2014, 1), (2015, 2)):
        est = _estimate(files, case, wave, every=True)
        got = yearly[yearly["year"] == year].merge(est, on=[by, "right"], suffixes=("", "_est"))
        assert len(got) == len(est) >= 2
        np.testing.assert_allclose(got["estimate"], got["estimate_est"], rtol=1e-12)
        np.testing.assert_allclose(got["se"], got["se_est"], rtol=1e-12)

    out = files / f"change_{case}.csv"
    _run(["change", w1, w2, "--rights", right, "--by", by, "--scheme", "panel", *opts, *EVERY, "--out", out])
    ch = pd.read_csv(out, dtype={by: str})
    keys = [by, "right"]
    e1, e2 = (
        _estimate(files, case, w, every=True)[[*keys, "estimate"]].rename(columns={"estimate": f"rate_{w}"})
        for w in (1, 2)
    )
    got = ch.merge(e1, on=keys).merge(e2, on=keys)
    assert len(got) == len(e1)
    np.testing.assert_allclose(got["change"], got["rate_2"] - got["rate_1"], rtol=1e-12, atol=1e-15)
    assert (got["se"] > 0).all() and np.isfinite(got["se"]).all()

    res = RUN.invoke(app, ["change", str(w1), str(w2), "--rights", right, *opts, "--joint", str(w1)])
    assert res.exit_code == 2 and "--joint" in res.output and "several waves" in res.output
