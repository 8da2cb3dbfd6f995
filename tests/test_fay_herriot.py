"""Fay–Herriot model: parity with R sae on the milk data, an independent solution, Monte Carlo checks.

Reference values: ``tests/reference/fay_herriot_milk.json`` made by
``tests/reference/make_milk_reference.R`` with R package sae 1.3 (``eblupFH`` /
``mseFH``, R 4.2.2) on the milk expenditure data of Arora & Lahiri (1997)
(``tests/reference/milk/milk.csv``), model ``yi ~ as.factor(MajorArea)`` with
sampling variances ``SD^2`` (copied from ``../shared/reference``).
sae stops Fisher scoring at a 1e-4 relative change of the model variance, so
its values are exact only to about that: they are compared at ``RTOL_SAE``
below, and our own, tighter solution (1e-12) is checked separately against a
dense, independent solution of the same estimating equations.
"""

from __future__ import annotations

import dataclasses
import json
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import optimize

from nonrecours.errors import ConvergenceError, ConvergenceWarning, InputError, OptionError
from nonrecours.territorial import (
    analytic_mse,
    benchmark,
    bootstrap_mse,
    fit_fay_herriot,
    fit_territories,
    gvf_variance,
    normality_test,
    solve_model_variance,
)
from nonrecours.territorial.fay_herriot import gls

REF = Path(__file__).parent / "reference"
RTOL_SAE = 1e-4  # sae's own stopping rule (relative change of A below 1e-4)
METHODS = ("REML", "ML", "FH")


@pytest.fixture(scope="module")
def milk():
    d = pd.read_csv(REF / "milk" / "milk.csv")
    X = np.column_stack([np.ones(len(d))] + [(d["MajorArea"] == k).to_numpy(float) for k in (2, 3, 4)])
    return d["yi"].to_numpy(float), d["SD"].to_numpy(float) ** 2, X


@pytest.fixture(scope="module")
def ref():
    return json.loads((REF / "fay_herriot_milk.json").read_text())


@pytest.mark.parametrize("method", METHODS)
def test_milk_matches_sae(milk, ref, method):
    y, D, X = milk
    r = ref[method]
    fit = fit_fay_herriot(y, D, X, method=method.lower())
    mse = analytic_mse(fit)
    np.testing.assert_allclose(fit.model_variance, r["refvar"], rtol=RTOL_SAE)
    np.testing.assert_allclose(fit.coef, r["beta"], rtol=RTOL_SAE)
    np.testing.assert_allclose(np.sqrt(np.diag(fit.coef_cov)), r["beta_std_error"], rtol=RTOL_SAE)
    np.testing.assert_allclose(fit.eblup, r["eblup"], rtol=RTOL_SAE)
    np.testing.assert_allclose(mse.mse, r["mse"], rtol=RTOL_SAE)
    np.testing.assert_allclose(fit.loglike, r["loglike"], rtol=RTOL_SAE)
    assert mse.kind == {"REML": "prasad-rao", "ML": "datta-lahiri", "FH": "datta-rao-smith"}[method]


@pytest.mark.parametrize("method", METHODS)
def test_milk_mse_is_sae_msefh_at_sae_variance(milk, ref, method):
    """At sae's own model variance (its 1e-4 stopping rule aside), the MSE is ``mseFH``'s to 1e-9."""
    y, D, X = milk
    r = ref[method]
    A = np.array([r["refvar"]])
    beta, Q = gls(y[None, :], D, X, A)
    fit = dataclasses.replace(
        fit_fay_herriot(y, D, X, method=method.lower()), model_variance=float(A[0]), coef=beta[0], coef_cov=Q[0]
    )
    np.testing.assert_allclose(analytic_mse(fit).mse, r["mse"], rtol=1e-9)


def test_fh_mse_is_not_floored_amrl_is():
    """The moment method's bias term b >= 0 is subtracted as in sae's ``mseFH``, even below g1 + g2
    (issue 28: the floor of adjusted REML had spread to ``fh``); ``amrl`` keeps its floor."""
    rng = np.random.default_rng(13)
    m = 30
    X = np.column_stack([np.ones(m), rng.normal(size=m)])
    D = np.linspace(0.002, 0.05, m)
    y = X @ [0.5, 0.1] + rng.normal(0, 0.02, m) + rng.normal(0, np.sqrt(D))
    for method in ("fh", "amrl"):
        fit = fit_fay_herriot(y, D, X, method=method)
        A = fit.model_variance
        assert A > 0
        res = analytic_mse(fit)
        Vi = np.diag(1 / (A + D))
        Q = np.linalg.inv(X.T @ Vi @ X)
        Bd = D / (A + D)
        g1, g2 = D * (1 - Bd), Bd**2 * np.einsum("di,ij,dj->d", X, Q, X)
        if method == "fh":
            sw, sw2 = np.sum(1 / (A + D)), np.sum((A + D) ** -2.0)
            vbar, b = 2 * m / sw**2, 2 * (m * sw2 - sw**2) / sw**3
        else:
            vbar = 2 / np.sum((A + D) ** -2.0)
            b = vbar / A
        raw = g1 + g2 + 2 * Bd**2 * vbar / (A + D) - b * Bd**2
        assert (raw < g1 + g2).any()  # the data reach the case where a floor would bind
        expected = raw if method == "fh" else np.maximum(raw, g1 + g2)
        np.testing.assert_allclose(res.mse, expected, rtol=1e-9)


def _dense_score(A, y, D, X, method):
    """Estimating equations written out with dense matrices (an independent route)."""
    V = np.diag(A + D)
    Vi = np.linalg.inv(V)
    Q = np.linalg.inv(X.T @ Vi @ X)
    P = Vi - Vi @ X @ Q @ X.T @ Vi
    beta = Q @ X.T @ Vi @ y
    r = y - X @ beta
    if method == "reml":
        return -0.5 * np.trace(P) + 0.5 * y @ P @ P @ y
    if method == "ml":
        return -0.5 * np.trace(Vi) + 0.5 * r @ Vi @ Vi @ r
    return r @ Vi @ r - (len(y) - X.shape[1])


@pytest.mark.parametrize("method", ["reml", "ml", "fh"])
def test_milk_tight_solution_by_brute_force_root(milk, method):
    y, D, X = milk
    fit = fit_fay_herriot(y, D, X, method=method)
    root = optimize.brentq(_dense_score, 1e-6, 1.0, args=(y, D, X, method), xtol=1e-16, rtol=1e-15, maxiter=500)
    np.testing.assert_allclose(fit.model_variance, root, rtol=1e-10)
    # EBLUP and MSE at the independent root, written out in full
    Vi = np.diag(1 / (root + D))
    Q = np.linalg.inv(X.T @ Vi @ X)
    beta = Q @ X.T @ Vi @ y
    g = root / (root + D)
    np.testing.assert_allclose(fit.eblup, X @ beta + g * (y - X @ beta), rtol=1e-10)
    Bd = D / (root + D)
    g1, g2 = D * (1 - Bd), Bd**2 * np.einsum("di,ij,dj->d", X, Q, X)
    if method == "fh":
        sw, sw2 = np.sum(1 / (root + D)), np.sum((root + D) ** -2.0)
        vbar, b = 2 * len(y) / sw**2, 2 * (len(y) * sw2 - sw**2) / sw**3
    else:
        sw2 = np.sum((root + D) ** -2.0)
        vbar = 2 / sw2
        b = 0.0 if method == "reml" else -np.trace(Q @ X.T @ Vi @ Vi @ X) / sw2
    expected = g1 + g2 + 2 * Bd**2 * vbar / (root + D) - b * Bd**2
    np.testing.assert_allclose(analytic_mse(fit).mse, expected, rtol=1e-9)


def test_reml_maximises_restricted_likelihood(milk):
    y, D, X = milk

    def neg_restricted_loglik(A):
        V = A + D
        Vi = np.diag(1 / V)
        M = X.T @ Vi @ X
        P = Vi - Vi @ X @ np.linalg.solve(M, X.T @ Vi)
        return 0.5 * (np.sum(np.log(V)) + np.linalg.slogdet(M)[1] + y @ P @ y)

    best = optimize.minimize_scalar(neg_restricted_loglik, bounds=(0, 1), method="bounded", options={"xatol": 1e-12})
    fit = fit_fay_herriot(y, D, X)
    np.testing.assert_allclose(fit.model_variance, best.x, rtol=1e-5)  # optimiser precision ~ sqrt(eps)
    assert neg_restricted_loglik(fit.model_variance) <= best.fun + 1e-12


def test_milk_matches_samplics(milk):
    # samplics is archived; its successor for small areas (svy-sae) runs on JAX, too heavy for a test extra. samplics
    # stays in the test extra for this cross-check against a second Python implementation only (the references are
    # R's sae), its import warning silenced here
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="samplics is archived", category=FutureWarning)
        import samplics  # in the test extra: a missing samplics fails here instead of skipping

    y, D, X = milk
    from samplics.utils.types import FitMethod

    # ML left out: samplics 0.6.1 adds an array score in place to the variance, so the
    # "previous" value aliases the new one and its Fisher scoring stops after 2 iterations
    # (A = 0.0155446 vs the ML root 0.0155175 that sae and we find).
    for name, meth in (("reml", "reml"), ("fh", "fh")):
        model = samplics.EblupAreaModel(method=getattr(FitMethod, name))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            model.fit(yhat=y, X=X[:, 1:], area=np.arange(len(y)), error_std=np.sqrt(D), tol=1e-10, maxiter=500)
            model.predict(X=X[:, 1:], area=np.arange(len(y)))
        fit = fit_fay_herriot(y, D, X, method=meth)
        np.testing.assert_allclose(fit.model_variance, model.re_std**2, rtol=1e-6)
        np.testing.assert_allclose(fit.eblup, list(model.area_est.values()), rtol=1e-7)
        np.testing.assert_allclose(analytic_mse(fit).mse, list(model.area_mse.values()), rtol=1e-6)


def test_vectorised_solver_equals_one_by_one(milk):
    y, D, X = milk
    rng = np.random.default_rng(5)
    Y = y + rng.normal(0, 0.1, (25, len(y)))
    Y[0] = X @ np.array([1.0, 0.1, 0.2, -0.2]) + rng.normal(0, 0.001, len(y))  # gives A = 0
    for method in ("reml", "ml", "fh"):
        A, _ = solve_model_variance(Y, D, X, method)
        one = np.array([solve_model_variance(Y[b], D, X, method)[0][0] for b in range(len(Y))])
        np.testing.assert_allclose(A, one, rtol=1e-10, atol=1e-15)
        assert A[0] == 0.0


def test_one_data_set_takes_the_vectorised_steps(milk):
    """A single fit runs the root finder's steps on scalars (no per-step array operations), the bootstrap's
    many data sets the vectorised loop: the same steps, hence the same roots (the products of one data set
    and of several differ in the last bits (BLAS), which can cost a data set a few more steps)."""
    y, D, X = milk
    rng = np.random.default_rng(6)
    Y = y + rng.normal(0, 0.05, (6, len(y)))
    for method in ("reml", "ml", "fh", "amrl", "amrl-yl"):
        A, its = solve_model_variance(Y, D, X, method)
        one = [solve_model_variance(Y[b], D, X, method) for b in range(len(Y))]
        np.testing.assert_allclose([a[0] for a, _ in one], A, rtol=1e-12, err_msg=method)
        # the same steps up to the last bits: a data set may take a step or two more alone (on one processor amrl's
        # second data set took 9 steps alone, 7 among the six; the same root to 1e-15)
        assert all(1 <= int(i[0]) <= k + 2 for (_, i), k in zip(one, its)), method
    with pytest.raises(ConvergenceError, match="1 fits still moving after 2 iterations"):
        solve_model_variance(y, D, X, "reml", max_iter=2)


@pytest.mark.parametrize("eps", [0.0, 1e-13, 1e-3])
def test_collinearity_found_whatever_the_shortcut(milk, eps):
    """A full-rank design is certified at once (Gram matrix of the unit-norm columns); a nearly collinear one
    still goes through the rank of each leading block, with the same verdict."""
    y, D, X = milk
    Xc = np.column_stack([X, X[:, 1] + eps * np.arange(len(y))])
    if eps < 1e-9:
        with pytest.raises(InputError, match=r"collinear.*'x4'"):
            fit_fay_herriot(y, D, Xc)
    else:
        assert fit_fay_herriot(y, D, Xc).coef.size == 5


def test_zero_model_variance_is_handled_and_reported():
    m = 20
    x = np.linspace(0, 1, m)
    X = np.column_stack([np.ones(m), x])
    D = np.full(m, 0.04)
    y = 0.2 + 0.5 * x + 0.01 * np.sin(np.arange(m))  # residuals far smaller than sqrt(D)
    with pytest.warns(ConvergenceWarning, match="model variance is 0"):
        fit = fit_fay_herriot(y, D, X, X_out=np.array([[1.0, 0.5]]))
    assert fit.zero_variance and fit.model_variance == 0.0
    np.testing.assert_array_equal(fit.gamma, 0.0)
    np.testing.assert_allclose(fit.eblup, fit.synthetic)
    mse = analytic_mse(fit)
    np.testing.assert_array_equal(mse.g1, 0.0)
    assert (mse.mse > 0).all()
    np.testing.assert_allclose(mse.mse[:m], mse.g2[:m] + 2 * mse.g3[:m])


def test_synthetic_prediction_out_of_sample(milk):
    y, D, X = milk
    X_out = np.array([[1.0, 0, 1, 0], [1.0, 0, 0, 0]])
    fit = fit_fay_herriot(y, D, X, X_out=X_out, area_out=["new1", "new2"])
    assert list(fit.area[-2:]) == ["new1", "new2"] and not fit.in_sample[-2:].any()
    np.testing.assert_allclose(fit.eblup[-2:], X_out @ fit.coef)
    np.testing.assert_array_equal(fit.gamma[-2:], 0.0)
    for method, b in (("reml", 0.0), ("ml", None)):
        f = fit_fay_herriot(y, D, X, method=method, X_out=X_out)
        mse = analytic_mse(f)
        b = mse.bias if b is None else b
        expected = f.model_variance + np.einsum("di,ij,dj->d", X_out, f.coef_cov, X_out) - b
        np.testing.assert_allclose(mse.mse[-2:], expected, rtol=1e-12)
    boot = bootstrap_mse(fit, replicates=400, seed=3)
    np.testing.assert_allclose(boot.mse[-2:], analytic_mse(fit).mse[-2:], rtol=0.25)


def test_bootstrap_reproducible_and_chunk_invariant(milk):
    y, D, X = milk
    fit = fit_fay_herriot(y, D, X)
    a = bootstrap_mse(fit, replicates=300, seed=11, chunk=300)
    b = bootstrap_mse(fit, replicates=300, seed=11, chunk=300)
    np.testing.assert_array_equal(a.mse, b.mse)
    assert a.seed == 11 and a.replicates == 300
    with pytest.raises(OptionError, match="seed"):
        bootstrap_mse(fit, replicates=10, seed=None)


@pytest.mark.slow
def test_bootstrap_identical_whatever_the_workers(milk):
    """Each chunk draws from its own stream spawned from the seed; chunk sums are added in chunk order."""
    y, D, X = milk
    fit = fit_fay_herriot(y, D, X)
    one = bootstrap_mse(fit, replicates=250, seed=5, chunk=50, transform="arcsin", workers=1)
    two = bootstrap_mse(fit, replicates=250, seed=5, chunk=50, transform="arcsin", workers=2)
    np.testing.assert_array_equal(one.mse, two.mse)
    np.testing.assert_array_equal(one.mse_model, two.mse_model)
    with pytest.raises(OptionError, match="workers"):
        bootstrap_mse(fit, replicates=10, seed=1, workers=0)


def _simulate(rng, m, A, X, D, beta):
    theta = X @ beta + rng.normal(0, np.sqrt(A), m)
    return theta, theta + rng.normal(0, np.sqrt(D))


@pytest.mark.slow
def test_monte_carlo_eblup_beats_direct_and_ci_coverage_near_nominal():
    """300 seeded data sets of a true FH model (m = 60, A = 0.01, D from 0.005 to 0.02).

    Tolerance on coverage of the 95 % intervals EBLUP +- 1.96 sqrt(mse_PR): 0.015,
    about 4 Monte Carlo standard errors (0.0032, from the spread of per-data-set
    coverage) plus the O(1/m) undercoverage of plug-in intervals.
    """
    rng = np.random.default_rng(20240601)
    m, A, beta = 60, 0.01, np.array([0.3, 0.5])
    X = np.column_stack([np.ones(m), np.linspace(0, 1, m)])
    D = np.linspace(0.005, 0.02, m)
    err_eb, err_dir, covered, pr = [], [], [], []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        for _ in range(300):
            theta, y = _simulate(rng, m, A, X, D, beta)
            fit = fit_fay_herriot(y, D, X)
            mse = analytic_mse(fit).mse
            err_eb.append(fit.eblup - theta)
            err_dir.append(y - theta)
            covered.append(np.abs(fit.eblup - theta) <= 1.959963984540054 * np.sqrt(mse))
            pr.append(mse)
    rmse_eb, rmse_dir = np.sqrt(np.mean(np.square(err_eb))), np.sqrt(np.mean(np.square(err_dir)))
    assert rmse_eb < 0.8 * rmse_dir
    assert abs(np.mean(covered) - 0.95) < 0.015
    # Prasad-Rao is unbiased for the MSE to O(1/m): within 5 % of the empirical MSE on average
    assert abs(np.mean(pr) / np.mean(np.square(err_eb)) - 1) < 0.05


def test_bootstrap_close_to_prasad_rao_on_average():
    """Naive parametric bootstrap vs Prasad-Rao over 15 data sets: within 10 % on average
    (the naive bootstrap has an O(1/m) downward bias)."""
    rng = np.random.default_rng(7)
    m, A, beta = 60, 0.01, np.array([0.3, 0.5])
    X = np.column_stack([np.ones(m), np.linspace(0, 1, m)])
    D = np.linspace(0.005, 0.02, m)
    ratios = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        for k in range(15):
            _, y = _simulate(rng, m, A, X, D, beta)
            fit = fit_fay_herriot(y, D, X)
            ratios.append(bootstrap_mse(fit, replicates=500, seed=k).mse.mean() / analytic_mse(fit).mse.mean())
    assert abs(np.mean(ratios) - 1) < 0.10


def _tables(T=80, m=60, seed=3, rights=("cmuc", "tpn")):
    rng = np.random.default_rng(seed)
    aux = pd.DataFrame(
        {
            "territory": [f"T{i:03d}" for i in range(T)],
            "departement": [f"{i % 4:02d}" for i in range(T)],
            "population": rng.integers(500, 5000, T),
            "poverty_rate": rng.uniform(0.1, 0.4, T),
            "social_housing_share": rng.uniform(0, 0.6, T),
        }
    )
    rows = []
    for right in rights:
        theta = np.clip(0.3 + 0.8 * aux["poverty_rate"] + rng.normal(0, 0.05, T), 0.02, 0.98)
        n = rng.integers(4, 60, T)
        p = rng.binomial(n, theta) / n
        rows.append(
            pd.DataFrame(
                {
                    "territory": aux["territory"],
                    "right": right,
                    "n": n,
                    "estimate": p,
                    "se": np.sqrt(p * (1 - p) / n),
                    "ci_low": 0.0,
                    "ci_high": 1.0,
                    "df": n - 1,
                    "deff": 1.3,
                    "cv": 0.1,
                    "flag": "ok",
                }
            ).iloc[:m]
        )
    return pd.concat(rows, ignore_index=True), aux


def test_territories_table_contract_and_out_of_sample():
    direct, aux = _tables()
    res = fit_territories(direct, aux, ["poverty_rate", "social_housing_share"])
    df = res.to_frame()
    assert list(df.columns) == [
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
    assert len(df) == 2 * 80 and df["in_sample"].sum() == 2 * 60
    out = df[~df["in_sample"]]
    assert out["direct"].isna().all() and (out["gamma"] == 0).all() and (out["n"] == 0).all()
    np.testing.assert_allclose(out["eblup"], out["synthetic"])
    assert ((df["ci_low"] <= df["eblup"]) & (df["eblup"] <= df["ci_high"])).all()
    assert df[["eblup", "ci_low", "ci_high"]].apply(lambda c: c.between(0, 1).all()).all()
    np.testing.assert_allclose(df["rmse"], np.sqrt(df["mse"]))
    coefs = res.coefficients_frame()
    assert list(coefs["term"][:3]) == ["intercept", "poverty_rate", "social_housing_share"]
    assert set(res.models["right"]) == {"cmuc", "tpn"} and res.models["shapiro_p"].between(0, 1).all()
    assert res.diagnostics["cv_gain"][res.diagnostics["std_residual"].notna()].median() > 1


def test_gvf_gives_positive_variances_for_zero_one_rates():
    p = np.array([0.0, 1.0, 0.4, 0.5])
    n = np.array([3, 5, 40, 100])
    v, pbar, deff = gvf_variance(p, n, np.array([1.5, np.nan, 1.5, 1.5]))
    assert (v > 0).all() and deff == 1.5
    np.testing.assert_allclose(pbar, (0 + 5 + 16 + 50) / 148)
    np.testing.assert_allclose(v, pbar * (1 - pbar) * 1.5 / n, rtol=1e-14)
    va, _, _ = gvf_variance(p, n, None, transform="arcsin")
    np.testing.assert_allclose(va, 1 / (4 * n))


def test_arcsin_variant_stays_in_unit_interval_and_is_seeded():
    direct, aux = _tables()
    direct.loc[direct.index[:5], "estimate"] = [0.0, 1.0, 0.0, 1.0, 1.0]
    kw = dict(transform="arcsin", replicates=200, seed=4)
    a = fit_territories(direct, aux, ["poverty_rate"], **kw).to_frame()
    b = fit_territories(direct, aux, ["poverty_rate"], **kw).to_frame()
    pd.testing.assert_frame_equal(a, b)
    for c in ("eblup", "ci_low", "ci_high", "synthetic"):
        assert a[c].between(0, 1).all()
    assert (a["mse"] > 0).all() and ((a["ci_low"] <= a["eblup"]) & (a["eblup"] <= a["ci_high"])).all()
    with pytest.raises(OptionError, match="bootstrap"):
        fit_territories(direct, aux, ["poverty_rate"], transform="arcsin", mse="prasad-rao")
    with pytest.raises(OptionError, match="seed"):
        fit_territories(direct, aux, ["poverty_rate"], mse="bootstrap")


@pytest.mark.parametrize("how", ["ratio", "additive"])
def test_benchmark_adds_up_to_the_group_direct(how):
    direct, aux = _tables()
    res = fit_territories(direct, aux, ["poverty_rate"], benchmark="departement", benchmark_method=how)
    df = res.to_frame().merge(aux[["territory", "departement", "population"]], on="territory")
    s = df[df["in_sample"]]
    w = s["population"] * s["eblup"]
    got = w.groupby([s["departement"], s["right"]]).sum() / s.groupby(["departement", "right"])["population"].sum()
    want = (s["population"] * s["direct"]).groupby([s["departement"], s["right"]]).sum() / s.groupby(
        ["departement", "right"]
    )["population"].sum()
    np.testing.assert_allclose(got.to_numpy(), want.to_numpy(), rtol=1e-12)
    adj = res.benchmark.to_frame()
    assert len(adj) == 4 * 2 and res.benchmark.method == how
    np.testing.assert_allclose(adj["after"], adj["target"], rtol=1e-12)
    if how == "ratio":
        np.testing.assert_allclose(adj["adjustment"], adj["target"] / adj["before"])
    else:
        np.testing.assert_allclose(adj["adjustment"], adj["target"] - adj["before"])
    nat = fit_territories(direct, aux, ["poverty_rate"], benchmark="nation").benchmark.to_frame()
    assert list(nat["group"]) == ["nation", "nation"]


def test_benchmark_with_explicit_targets():
    t = pd.DataFrame(
        {
            "territory": ["a", "b", "c"],
            "right": "tpn",
            "direct": [0.2, 0.4, np.nan],
            "in_sample": [True, True, False],
            "eblup": [0.3, 0.5, 0.4],
            "ci_low": [0.1, 0.3, 0.2],
            "ci_high": [0.5, 0.7, 0.6],
            "w": [1.0, 3.0, 1.0],
            "g": "x",
        }
    )
    out, res = benchmark(
        t,
        by="g",
        weight="w",
        method="additive",
        targets=pd.DataFrame({"g": ["x"], "right": ["tpn"], "estimate": [0.5]}),
    )
    np.testing.assert_allclose(res.adjustments["adjustment"], 0.5 - 0.45)
    np.testing.assert_allclose(out["eblup"], [0.35, 0.55, 0.45])


def test_normality_test_on_normal_residuals(milk):
    y, D, X = milk
    w, p = normality_test(fit_fay_herriot(y, D, X))
    assert 0 < w <= 1 and 0 <= p <= 1


def test_bad_inputs_name_the_problem():
    direct, aux = _tables()
    cov = ["poverty_rate", "social_housing_share"]
    with pytest.raises(InputError, match=r"no covariates.*'T005'"):
        fit_territories(direct, aux[aux["territory"] != "T005"], cov)
    bad = direct.copy()
    bad.loc[3, "se"] = 0.0
    with pytest.raises(InputError, match=r"'se'.*'T003'"):
        fit_territories(bad, aux, cov, variance="direct")
    bad.loc[3, "estimate"] = 0.0  # a rate of 0: guard of --variance direct, the GVF variance, counted
    right = bad.loc[3, "right"]
    res = fit_territories(bad, aux, cov, variance="direct")
    gvf = fit_territories(bad, aux, cov, variance="gvf")
    fits, gfits = dict(res.fits), dict(gvf.fits)
    at = list(fits[right].area).index(bad.loc[3, "territory"])
    assert fits[right].vardir[at] == pytest.approx(
        gfits[right].vardir[list(gfits[right].area).index(bad.loc[3, "territory"])]
    )
    degenerate = bad.assign(z=bad["estimate"].isin([0.0, 1.0])).groupby("right")["z"].sum()
    assert res.models.set_index("right")["variance_replaced"].to_dict() == degenerate.to_dict()
    assert degenerate[right] >= 1
    bad = direct.copy()
    bad.loc[2, "estimate"] = np.nan
    with pytest.raises(InputError, match=r"missing direct estimates.*'T002'"):
        fit_territories(bad, aux, cov)
    bad.loc[2, "flag"] = "suppressed"  # suppressed upstream: predicted like an unsampled territory
    row = fit_territories(bad, aux, cov).to_frame().query("territory == 'T002' and right == 'cmuc'").iloc[0]
    assert not row["in_sample"] and row["eblup"] == row["synthetic"]
    col = aux.assign(twice=2 * aux["poverty_rate"], const=1.0)
    with pytest.raises(InputError, match=r"collinear.*'twice'"):
        fit_territories(direct, col, ["poverty_rate", "twice"])
    with pytest.raises(InputError, match=r"collinear.*'const'"):
        fit_territories(direct, col, ["const", "poverty_rate"])
    small = direct[direct["territory"].isin(["T000", "T001", "T002"])]
    with pytest.raises(InputError, match=r"fewer sampled territories than model parameters.*found 3"):
        fit_territories(small, aux, cov)
    nan_cov = aux.copy()
    nan_cov.loc[1, "poverty_rate"] = np.nan
    with pytest.raises(InputError, match=r"'poverty_rate'.*'T001'"):
        fit_territories(direct, nan_cov, cov)
    with pytest.raises(OptionError, match="method"):
        fit_territories(direct, aux, cov, method="bayes")
