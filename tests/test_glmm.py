"""Logit-normal random-intercept model against lme4::glmer (tests/reference/make_glmer_reference.R)."""

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from nonrecours.errors import InputError
from nonrecours.territorial.glmm import _Cells, _loglik, fit_glmm, fit_glmm_many

REF = Path(__file__).parent / "reference"


@pytest.fixture(scope="module")
def data():
    d = pd.read_csv(REF / "glmer" / "glmer_units.csv")
    terr, area = np.unique(d["territory"], return_inverse=True)
    X = np.column_stack([np.ones(len(d)), d["benefit"] == "ASPA", d["benefit"] == "RSA", d["qpv"], d["z"]]).astype(
        float
    )
    return d["y"].to_numpy(float), X, area, terr, json.loads((REF / "glmer_reference.json").read_text())


@pytest.mark.parametrize("nagq", [1, 10])
def test_matches_glmer(data, nagq):
    """Fixed effects and sigma within 1e-5 relative (an iterative fit; observed 6e-7), logLik within 1e-7,
    conditional modes within 1e-5 absolute, SEs within 1e-3 (lme4 differentiates numerically)."""
    y, X, area, terr, ref = data
    r = ref[f"nAGQ{nagq}"]
    fit = fit_glmm(y, np.ones_like(y), X, area, nagq=nagq)
    np.testing.assert_allclose(fit.coef, list(r["fixef"].values()), rtol=1e-5)
    np.testing.assert_allclose(fit.sigma, r["sigma"], rtol=1e-5)
    np.testing.assert_allclose(fit.loglike, r["logLik"], rtol=0, atol=1e-7)
    assert list(terr) == r["territories"]
    np.testing.assert_allclose(fit.modes, r["ranef"], rtol=0, atol=1e-5)
    np.testing.assert_allclose(np.sqrt(np.diag(fit.coef_cov)), r["fixef_se"], rtol=1e-3)


def test_cells_equal_units(data):
    """Grouping units with the same area and covariates into binomial cells gives the same fit."""
    y, X, area, _, _ = data
    units = fit_glmm(y, np.ones_like(y), X, area, nagq=1)
    key = pd.DataFrame(np.column_stack([area, X]))
    g = key.assign(y=y, n=1.0).groupby(list(key.columns), sort=False).sum().reset_index()
    cells = fit_glmm(
        g["y"].to_numpy(), g["n"].to_numpy(), g[list(key.columns)[1:]].to_numpy(), g[0].to_numpy().astype(int), nagq=1
    )
    np.testing.assert_allclose(cells.coef, units.coef, rtol=1e-8)
    np.testing.assert_allclose(cells.sigma, units.sigma, rtol=1e-8)


@pytest.mark.parametrize("nagq", [1, 5])
def test_gradient_is_the_derivative(data, nagq):
    y, X, area, _, _ = data
    cells = _Cells.build(area, np.ones_like(y), X, int(area.max()) + 1)
    th = np.array([[-0.3, -0.2, 0.5, 0.3, 0.3, np.log(0.6)]])
    _, g, _ = _loglik(th, cells, y[None], nagq)
    num = np.empty(th.shape[1])
    for j in range(th.shape[1]):
        e = np.zeros_like(th)
        e[0, j] = 1e-6
        num[j] = (
            _loglik(th + e, cells, y[None], nagq, grad=False)[0][0]
            - _loglik(th - e, cells, y[None], nagq, grad=False)[0][0]
        ) / 2e-6
    np.testing.assert_allclose(g[0], num, rtol=1e-5, atol=1e-6)


def test_many_equals_one_by_one(data):
    """The vectorised fit of several data sets equals separate fits."""
    y, X, area, _, _ = data
    rng = np.random.default_rng(3)
    Y = np.vstack([y, rng.permutation(y), 1 - y])
    cells = _Cells.build(area, np.ones_like(y), X, int(area.max()) + 1)
    start = np.array([-0.3, 0, 0, 0, 0, np.log(0.5)])
    theta, _, _, _, ok = fit_glmm_many(Y, cells, start[None, :], nagq=1)
    assert ok.all()
    for b in range(3):
        one = fit_glmm(Y[b], np.ones_like(y), X, area, nagq=1)
        np.testing.assert_allclose(theta[b, :-1], one.coef, rtol=1e-6, atol=1e-8)


def test_collinear_design_refused(data):
    y, X, area, _, _ = data
    with pytest.raises(InputError, match="collinear"):
        fit_glmm(y, np.ones_like(y), np.column_stack([X, X[:, 1]]), area)


def test_adjusted_likelihood_is_positive_and_maximises_l_times_sigma2():
    """Without area effects ML puts sigma on 0; sigma^2 L has an interior maximum (checked by a zero gradient
    of ll + log sigma^2, 1e-5)."""
    rng = np.random.default_rng(8)
    area = np.repeat(np.arange(40), 10)
    X = np.column_stack([np.ones(400), rng.normal(size=400)])
    y = rng.binomial(1, 1 / (1 + np.exp(-(0.2 + 0.5 * X[:, 1])))).astype(float)
    ml = fit_glmm(y, np.ones(400), X, area)
    adj = fit_glmm(y, np.ones(400), X, area, adjusted=True)
    assert ml.sigma == 0.0 and adj.sigma > 0.05 and adj.adjusted and not ml.adjusted
    cells = _Cells.build(area, np.ones(400), X, 40)
    _, g, _ = _loglik(adj.theta[None, :], cells, y[None], 1)
    g[0, -1] += 1.0
    np.testing.assert_allclose(g[0], 0.0, atol=1e-5)
