"""Unit-level EBP of territory take-up (nonrecours.territorial.unit) and its CLI."""

import numpy as np
import pandas as pd
import pytest
from scipy import integrate
from scipy.special import expit
from typer.testing import CliRunner

from nonrecours.cli.main import app
from nonrecours.errors import InputError
from nonrecours.territorial import OUTPUT_COLUMNS
from nonrecours.territorial.unit import fit_unit


def population(seed=1, T=60, sigma=0.5, frac=0.08, unsampled=5):
    """A register from the model (two categorical covariates), and a simple random sample of it."""
    rng = np.random.default_rng(seed)
    size = rng.integers(40, 300, T)
    terr = np.repeat([f"T{i:03d}" for i in range(T)], size)
    benefit = rng.choice(["AAH", "RSA", "ASS"], len(terr))
    age = rng.choice(["young", "old"], len(terr))
    u = sigma * rng.standard_normal(T)
    eta = -0.2 + 0.6 * (benefit == "RSA") - 0.5 * (benefit == "ASS") + 0.4 * (age == "old") + np.repeat(u, size)
    y = rng.binomial(1, expit(eta)).astype(float)
    frame = pd.DataFrame({"territory": terr, "benefit": benefit, "age": age, "cmuc": y})
    pick = rng.random(len(frame)) < frac
    pick &= ~frame["territory"].isin([f"T{i:03d}" for i in range(unsampled)]).to_numpy()
    return frame, frame[pick].reset_index(drop=True)


def test_ebp_equals_numerical_integration():
    """The EBP of a sampled territory = respondents' takers + sum over cells of (N - n) E[expit(x b + u) | y],
    the expectation by adaptive quadrature checked against scipy's quad on the posterior (1e-7 absolute)."""
    frame, sample = population(seed=2)
    res = fit_unit(sample, frame, ["benefit", "age"], rights=["cmuc"], mse="none")
    fit = res.fits[0][1]
    b, s = fit.coef, fit.sigma
    t = sample["territory"].iloc[0]

    def X(d):  # noqa: ANN001, ANN202
        return np.column_stack(
            [np.ones(len(d)), d["benefit"] == "ASS", d["benefit"] == "RSA", d["age"] == "young"]
        ).astype(float)

    assert fit.coef_names == ("intercept", "benefit=ASS", "benefit=RSA", "age=young")
    ds, df = sample[sample["territory"] == t], frame[frame["territory"] == t]
    es, ef = X(ds) @ b, X(df) @ b
    ys = ds["cmuc"].to_numpy()
    logpost = lambda u: np.sum(ys * (es + u) - np.log1p(np.exp(es + u))) - u * u / (2 * s * s)  # noqa: E731
    mode = fit.modes[0]
    c = logpost(mode)
    dens = lambda u: np.exp(logpost(u) - c)  # noqa: E731
    norm = integrate.quad(dens, -10, 10, points=[mode])[0]
    # every frame unit of the territory, minus the respondents (the sample is a subset of the frame)
    pred = sum(integrate.quad(lambda u, e=e: expit(e + u) * dens(u), -10, 10, points=[mode])[0] for e in ef)
    pred -= sum(integrate.quad(lambda u, e=e: expit(e + u) * dens(u), -10, 10, points=[mode])[0] for e in es)
    expected = (ys.sum() + pred / norm) / len(df)
    got = res.table.set_index("territory").loc[t, "eblup"]
    assert got == pytest.approx(expected, abs=1e-7)


def test_unsampled_territories_get_the_marginal_prediction():
    frame, sample = population(seed=3)
    tab = fit_unit(sample, frame, ["benefit", "age"], rights=["cmuc"], mse="none").to_frame()
    assert list(tab.columns) == list(OUTPUT_COLUMNS)
    out = tab[~tab["in_sample"]]
    assert len(out) >= 5 and (out["n"] == 0).all() and (out["gamma"] == 0).all()
    np.testing.assert_allclose(out["eblup"], out["synthetic"], rtol=1e-12)
    ins = tab[tab["in_sample"]]
    assert ((ins["gamma"] > 0) & (ins["gamma"] < 1)).all()


def test_bootstrap_mse_tracks_the_actual_error():
    """Seeded: same seed, same MSE; the mean bootstrap MSE over 100 territories is within 35 % of the mean
    squared error of the EBPs against the population's rates (one population; tolerance from repeated runs)."""
    frame, sample = population(seed=5, T=100, unsampled=10)
    kw = dict(rights=["cmuc"], mse="bootstrap", replicates=100, seed=11)
    res = fit_unit(sample, frame, ["benefit", "age"], **kw)
    again = fit_unit(sample, frame, ["benefit", "age"], **kw)
    np.testing.assert_array_equal(res.table["mse"], again.table["mse"])
    truth = frame.groupby("territory")["cmuc"].mean()
    tab = res.table.set_index("territory")
    err2 = (tab["eblup"] - truth.loc[tab.index]) ** 2
    assert 0.65 < tab["mse"].mean() / err2.mean() < 1.35
    assert (tab["mse"] > 0).all()
    assert res.models.loc[0, "failed_replicates"] == 0


def test_sample_outside_the_frame_refused():
    frame, sample = population(seed=4)
    sample.loc[0, "benefit"] = "other"
    with pytest.raises(InputError, match="no eligible recipient in the frame"):
        fit_unit(sample, frame, ["benefit", "age"], rights=["cmuc"], mse="none")


def test_cli_fit_unit(tmp_path):
    frame, sample = population(seed=6, T=30)
    frame.to_csv(tmp_path / "frame.csv", index=False)
    sample.assign(responded=1).to_csv(tmp_path / "sample.csv", index=False)
    runner = CliRunner()
    args = [
        "territorial",
        "fit-unit",
        str(tmp_path / "sample.csv"),
        "--frame",
        str(tmp_path / "frame.csv"),
        "--right",
        "cmuc",
        "--covariates",
        "benefit,age",
        "--mse",
        "bootstrap:20",
        "--seed",
        "1",
        "--workers",
        "2",
        "--out",
        str(tmp_path / "out"),
    ]
    r = runner.invoke(app, args)
    assert r.exit_code == 0, r.output
    est = pd.read_csv(tmp_path / "out" / "estimates.csv")
    assert list(est.columns) == list(OUTPUT_COLUMNS) and len(est) == 30
    assert (est["ci_low"] <= est["eblup"]).all() and (est["eblup"] <= est["ci_high"]).all()
    z = (est["ci_high"] - est["eblup"]) / est["rmse"]  # the default --interval normal
    assert np.allclose(z[(est["ci_high"] < 1) & (est["rmse"] > 0)], 1.959963984540054)
    bad = runner.invoke(app, args[:-1] + [str(tmp_path / "o3"), "--mse", "boot"])
    assert bad.exit_code == 2 and not (tmp_path / "o3").exists()


@pytest.mark.slow
def test_bootstrap_identical_whatever_the_workers_and_percentile_interval():
    """Chunks of spawned generators: 1 or 2 workers give the same MSE and error quantiles; the percentile
    interval is the EBP minus the error quantiles, the normal one EBP +- z root MSE (both clipped)."""
    frame, sample = population(seed=8, T=25, unsampled=3)
    kw = dict(rights=["cmuc"], mse="bootstrap", replicates=30, seed=5)
    one = fit_unit(sample, frame, ["benefit", "age"], workers=1, interval="percentile", **kw)
    two = fit_unit(sample, frame, ["benefit", "age"], workers=2, interval="percentile", **kw)
    pd.testing.assert_frame_equal(one.table, two.table)
    pd.testing.assert_frame_equal(one.error_quantiles, two.error_quantiles)
    t, q = one.table, one.error_quantiles
    assert one.interval == "percentile" and (q["err_low"] < q["err_high"]).all()
    np.testing.assert_allclose(t["ci_low"], np.clip(t["eblup"] - q["err_high"], 0, 1), rtol=1e-12)
    np.testing.assert_allclose(t["ci_high"], np.clip(t["eblup"] - q["err_low"], 0, 1), rtol=1e-12)
    normal = fit_unit(sample, frame, ["benefit", "age"], **kw).table  # the default
    np.testing.assert_array_equal(normal["mse"], t["mse"])
    np.testing.assert_allclose(normal["ci_high"], np.clip(t["eblup"] + 1.959963984540054 * t["rmse"], 0, 1))


def test_cli_fit_unit_refuses_the_fay_herriot_mse(tmp_path):
    frame, sample = population(seed=6, T=10)
    frame.to_csv(tmp_path / "frame.csv", index=False)
    sample.to_csv(tmp_path / "sample.csv", index=False)
    r = CliRunner().invoke(
        app,
        [
            "territorial",
            "fit-unit",
            str(tmp_path / "sample.csv"),
            "--frame",
            str(tmp_path / "frame.csv"),
            "--right",
            "cmuc",
            "--covariates",
            "benefit,age",
            "--mse",
            "prasad-rao",
            "--out",
            str(tmp_path / "out"),
        ],
    )
    assert r.exit_code == 2 and not (tmp_path / "out").exists()
    assert "--mse" in r.output and "Fay-Herriot" in r.output and "bootstrap:200" in r.output


def test_redundant_and_empty_dummies_are_dropped():
    """A dummy that earlier columns determine on the respondents, and a category without respondents, are left out
    of the model (and listed); the fit is that of the model without them."""
    frame, _ = population(seed=9, T=30)
    frame["rsa"] = np.where(frame["benefit"] == "RSA", "yes", "no")  # = the benefit=RSA dummy
    frame["zone"] = np.where(frame.index % 50 == 0, "rare", "common")
    pick = (np.random.default_rng(9).random(len(frame)) < 0.1) & (frame["zone"] == "common").to_numpy()
    sample = frame[pick]  # no respondent in "rare"
    full = fit_unit(sample, frame, ["benefit", "age", "rsa", "zone"], rights=["cmuc"], mse="none")
    assert full.models.loc[0, "dropped_terms"] == "rsa=yes, zone=rare"
    base = fit_unit(sample, frame.assign(zone="common"), ["benefit", "age"], rights=["cmuc"], mse="none")
    np.testing.assert_allclose(full.fits[0][1].coef, base.fits[0][1].coef, rtol=1e-8)
