"""Spatio-temporal Fay–Herriot model (issue 26): parity with R ``sae``'s ``eblupSTFH`` on data the tests own.

Reference values: ``tests/reference/stfh_reference.json``, made by ``tests/reference/make_stfh_reference.R``
(R 4.2.2, sae 1.3; versions in the file's ``_about``) on sae's ``spacetime``/``spacetimeprox`` (11 areas x 3
periods) and on ``tests/reference/stfh/grid.csv`` (36 territories of the rook grid of ``borrow/neighbours.csv`` x
4 years, drawn from the model by the script, seed 2). sae was run at PRECISION 1e-12 (relative change of the
parameters), our fits to a step below 1e-10 (:func:`~nonrecours.territorial.borrow.fit_blocks`).

The variance components, their standard errors, beta and its standard errors, the log-likelihood and the EBLUPs are
sae's. sae has no analytic MSE for this model: ``g1``, ``g2``, ``g3`` and ``mse`` are the script's own dense R code
at sae's estimates (an implementation written apart from the package's), the check of :func:`block_mse` on this
covariance model.

Tolerance: ``RTOL = 1e-6`` relative. Measured worst relative differences (both cases): 2.5e-12 on the variance
components, 2.4e-12 on their standard errors, 5e-13 on beta, 1.1e-13 on the EBLUPs, 2.5e-13 on the MSEs (sae
converges here in 77 and 39 Fisher steps, ours in 9 and 11 Newton steps).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from nonrecours.territorial.spatial import row_standardise
from nonrecours.territorial.spatio_temporal import fit_spatio_temporal

REF = Path(__file__).parent / "reference"
RTOL = 1e-6
_REF = {f["case"]: f for f in json.loads((REF / "stfh_reference.json").read_text())["fits"]}


def _spacetime():
    st = pd.read_csv(REF / "stfh" / "spacetime.csv")
    W = pd.read_csv(REF / "stfh" / "spacetimeprox.csv").to_numpy(float)
    D, T = len(W), st["Time"].nunique()
    X = np.column_stack([np.ones(len(st)), st["X1"], st["X2"]]).reshape(D, T, 3)
    return st["Y"].to_numpy().reshape(D, T), st["Var"].to_numpy().reshape(D, T), X, W, np.sort(st["Time"].unique())


def _grid():
    g = pd.read_csv(REF / "stfh" / "grid.csv")
    nb = pd.read_csv(REF / "borrow" / "neighbours.csv")
    territories = sorted(g["territory"].unique())
    assert list(g["territory"]) == list(np.repeat(territories, 4))
    pos = {t: i for i, t in enumerate(territories)}
    A = np.zeros((len(territories),) * 2)
    A[nb.territory_a.map(pos), nb.territory_b.map(pos)] = 1.0
    D = len(territories)
    X = np.column_stack([np.ones(len(g)), g["x1"], g["x2"]]).reshape(D, 4, 3)
    return (
        g["direct"].to_numpy().reshape(D, 4),
        g["vardir"].to_numpy().reshape(D, 4),
        X,
        row_standardise(A),
        (np.sort(g["year"].unique())),
    )


def _close(actual, expected, what):
    np.testing.assert_allclose(np.asarray(actual, float), np.asarray(expected, float), rtol=RTOL, atol=0, err_msg=what)


@pytest.mark.parametrize("case", ["spacetime", "grid"])
def test_spatio_temporal_matches_sae_eblupSTFH(case):
    y, vardir, X, W, times = (_spacetime if case == "spacetime" else _grid)()
    r = _REF[case]
    assert r["convergence"]
    fit = fit_spatio_temporal(y, vardir, X, W, times=times)
    assert fit.names == ("sigma2_1", "rho1", "sigma2_2", "rho2")
    assert fit.at_bound == ()
    _close(fit.theta, r["estimate"], "sigma21, rho1, sigma22, rho2")
    _close(np.sqrt(np.diag(np.linalg.inv(fit.info))), r["std_error"], "their standard errors")
    _close(fit.coef, r["beta"], "beta")
    _close(np.sqrt(np.diag(fit.coef_cov)), r["beta_std_error"], "beta's standard errors")
    _close(fit.loglike, r["loglike"], "loglike")
    _close(fit.eblup, r["eblup"], "EBLUP")
    for g in ("g1", "g2", "g3", "mse"):
        _close(getattr(fit, g), r[g], g)
    # rows territory-major, years within, as sae's
    assert list(fit.component[: len(times)]) == [str(t) for t in times]


def test_spatio_temporal_diagonal_variances_equal_a_diagonal_covariance():
    y, vardir, X, W, times = _spacetime()
    a = fit_spatio_temporal(y, vardir, X, W, times=times)
    b = fit_spatio_temporal(y, vardir[:, :, None] * np.eye(len(times)), X, W, times=times)
    np.testing.assert_array_equal(a.eblup, b.eblup)
    np.testing.assert_array_equal(a.mse, b.mse)


def test_spatio_temporal_missing_year_is_predicted_from_the_model():
    """A territory-year without a direct estimate is left out of the likelihood (sae needs a balanced panel) and
    predicted through G: its EBLUP is x'beta + G_{t,O} V_OO^-1 (y_O - X_O beta), checked against the dense formula."""
    y, vardir, X, W, times = _grid()
    y = y.copy()
    y[3, 2] = np.nan
    y[10, :] = np.nan  # a territory with none: predicted from its neighbours through the SAR
    fit = fit_spatio_temporal(y, vardir, X, W, times=times)
    assert not fit.in_sample[3 * 4 + 2] and not fit.in_sample[10 * 4 : 11 * 4].any()
    o = np.isfinite(y.ravel())
    G = fit.covariance.matrix(fit.theta)
    V = G[np.ix_(o, o)] + np.diag(vardir.ravel()[o])
    Xf = X.reshape(-1, 3)
    r = y.ravel()[o] - Xf[o] @ fit.coef
    expected = Xf @ fit.coef + G[:, o] @ np.linalg.solve(V, r)
    np.testing.assert_allclose(fit.eblup, expected, rtol=1e-10)
    assert np.isnan(fit.direct[3 * 4 + 2])
    assert (fit.mse > 0).all()


def _borrow_right(right):
    """One right of ``borrow/direct.csv`` (36 territories x 4 years): y, vardir, X, W, years, and the 4 x 4 sampling
    covariance over the years of each territory from ``borrow/covariances.csv``."""
    d = pd.read_csv(REF / "borrow" / "direct.csv")
    c = pd.read_csv(REF / "borrow" / "covariances.csv")
    nb = pd.read_csv(REF / "borrow" / "neighbours.csv")
    territories = sorted(d["territory"].unique())
    pos = {t: i for i, t in enumerate(territories)}
    A = np.zeros((len(territories),) * 2)
    A[nb.territory_a.map(pos), nb.territory_b.map(pos)] = 1.0
    dd = d[d["right"] == right].sort_values(["territory", "year"])
    years = np.sort(dd["year"].unique())
    m, T = len(territories), len(years)
    S = np.zeros((m, T, T))
    S[:, np.arange(T), np.arange(T)] = dd["vardir"].to_numpy().reshape(m, T)
    cc = c[(c["right_a"] == right) & (c["right_b"] == right)]
    ia, ib = np.searchsorted(years, cc["year_a"]), np.searchsorted(years, cc["year_b"])
    S[cc["territory"].map(pos), ia, ib] = S[cc["territory"].map(pos), ib, ia] = cc["cov"].to_numpy()
    X = np.column_stack([np.ones(len(dd)), dd["x1"], dd["x2"]]).reshape(m, T, 3)
    return dd["direct"].to_numpy().reshape(m, T), S, X, row_standardise(A), years


def test_spatio_temporal_with_covariances_over_the_years_is_the_dense_blup():
    """With a panel's covariances between years (sae has none), V = G + blockdiag(S_d): the EBLUP and g1 are the
    dense formulas x'beta + G V^-1 (y - X beta) and diag(G - G V^-1 G), V built here with scipy's block_diag."""
    from scipy.linalg import block_diag

    y, S, X, W, years = _borrow_right("acs")
    fit = fit_spatio_temporal(y, S, X, W, times=years)
    diag = fit_spatio_temporal(y, np.diagonal(S, axis1=1, axis2=2), X, W, times=years)
    assert not np.allclose(fit.theta, diag.theta)  # the covariances are used
    G = fit.covariance.matrix(fit.theta)
    V = G + block_diag(*S)
    Xf = X.reshape(-1, 3)
    Vi = np.linalg.inv(V)
    beta = np.linalg.solve(Xf.T @ Vi @ Xf, Xf.T @ Vi @ y.ravel())
    np.testing.assert_allclose(fit.coef, beta, rtol=1e-10)
    np.testing.assert_allclose(fit.eblup, Xf @ beta + G @ Vi @ (y.ravel() - Xf @ beta), rtol=1e-10)
    np.testing.assert_allclose(fit.g1, np.diag(G - G @ Vi @ G), rtol=1e-9)


@pytest.mark.parametrize("right", ["cmuc", "acs", "rsa"])
def test_spatio_temporal_reaches_the_reml_maximum_where_sae_diverges(right):
    """On these data sae's Fisher scoring diverges from its starting values (sigma21 < 0; make_stfh_reference.R's
    header): our fit ends at an interior point whose REML score is 0 and where the restricted likelihood is above
    its value at every nearby point of each coordinate."""
    from nonrecours.territorial.borrow import _score_info, _state

    y, S, X, W, years = _borrow_right(right)
    v = np.diagonal(S, axis1=1, axis2=2)
    fit = fit_spatio_temporal(y, v, X, W, times=years)
    assert fit.at_bound == () and (fit.theta[[0, 2]] > 0).all()
    cov = fit.covariance

    def state(theta):
        return _state(fit.block.y, fit.block.X, fit.block.R, cov.matrix(theta))

    st = state(fit.theta)
    s, F = _score_info(st, fit.block.X, cov.derivatives(fit.theta), "reml")
    assert np.all(np.abs(s) * np.sqrt(np.diag(np.linalg.inv(F))) < 1e-6)  # score in units of its standard error
    best = st.restricted("reml")
    for j in range(4):
        for h in (-1e-3, 1e-3):
            th = fit.theta.copy()
            th[j] += h * (np.median(v) if cov.variance[j] else 1.0)
            assert state(th).restricted("reml") < best
