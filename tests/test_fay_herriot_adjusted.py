"""Adjusted REML for the Fay-Herriot model (Li & Lahiri 2010; Yoshimori & Lahiri 2014).

No R package in Debian implements these (emdi, which does, is not packaged), so the
estimates are checked against an independent numerical solution: the adjusted
residual log-likelihood written with dense matrices (as in the papers) and
maximised by scipy's bounded scalar optimiser, then the root of its score (the
same dense matrices, differentiated by hand) by Brent's method next to it
(tolerance 1e-9 relative). The optimiser alone stops where the likelihood is flat
to its rounding: on one processor 2.6e-7 relative from the maximum (checked with
40-digit arithmetic), beyond the 1e-7 this test once asked of it.
"""

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import optimize

from nonrecours.territorial.fay_herriot import fit_fay_herriot
from nonrecours.territorial.mse import analytic_mse, bootstrap_mse

MILK = Path(__file__).parent / "reference" / "milk" / "milk.csv"


def adjusted_reml_by_optimiser(y, D, X, method):
    m = len(y)

    def loglik(A):
        V = np.diag(A + D)
        Vi = np.linalg.inv(V)
        Q = np.linalg.inv(X.T @ Vi @ X)
        P = Vi - Vi @ X @ Q @ X.T @ Vi
        lr = -0.5 * np.linalg.slogdet(V)[1] - 0.5 * np.linalg.slogdet(X.T @ Vi @ X)[1] - 0.5 * y @ P @ y
        h = np.log(A) if method == "amrl" else np.log(np.arctan(np.sum(A / (A + D)))) / m
        return lr + h

    r = optimize.minimize_scalar(
        lambda a: -loglik(a),
        bounds=(1e-10, 10 * np.var(y) + 1),
        method="bounded",
        options={"xatol": 1e-14, "maxiter": 2000},
    )

    def score(A):  # d/dA of loglik: -tr(P)/2 + y'PPy/2 + h'(A)
        Vi = np.diag(1.0 / (A + D))
        P = Vi - Vi @ X @ np.linalg.inv(X.T @ Vi @ X) @ X.T @ Vi
        if method == "amrl":
            dh = 1.0 / A
        else:
            s = np.sum(A / (A + D))
            dh = np.sum(D / (A + D) ** 2) / ((1.0 + s * s) * np.arctan(s)) / m
        return -0.5 * np.trace(P) + 0.5 * y @ P @ P @ y + dh

    lo, hi = r.x * (1 - 1e-4), r.x * (1 + 1e-4)
    assert score(lo) > 0 > score(hi)  # the optimiser's point brackets the score's root
    return optimize.brentq(score, lo, hi, xtol=1e-18, rtol=4 * np.finfo(float).eps)


@pytest.fixture(scope="module")
def milk():
    d = pd.read_csv(MILK)
    X = np.column_stack([np.ones(len(d))] + [(d["MajorArea"] == k).to_numpy(float) for k in (2, 3, 4)])
    return d["yi"].to_numpy(float), d["SD"].to_numpy(float) ** 2, X


@pytest.mark.parametrize("method", ["amrl", "amrl-yl"])
def test_adjusted_reml_equals_direct_maximisation(milk, method):
    y, D, X = milk
    fit = fit_fay_herriot(y, D, X, method=method)
    assert fit.model_variance == pytest.approx(adjusted_reml_by_optimiser(y, D, X, method), rel=1e-9)
    reml = fit_fay_herriot(y, D, X, method="reml").model_variance
    assert fit.model_variance > reml  # the adjustment pushes A up (h increasing)


@pytest.mark.parametrize("method", ["amrl", "amrl-yl"])
def test_adjusted_reml_is_positive_where_reml_is_zero(method):
    rng = np.random.default_rng(4)
    m = 30
    X = np.column_stack([np.ones(m), rng.normal(size=m)])
    D = np.full(m, 0.04)
    y = X @ [0.5, 0.1] + rng.normal(0, 0.12, m)  # no area effect, and less spread than D: REML gives 0
    with pytest.warns(Warning):
        assert fit_fay_herriot(y, D, X, method="reml").model_variance == 0.0
    fit = fit_fay_herriot(y, D, X, method=method)
    assert fit.model_variance > 0
    assert fit.model_variance == pytest.approx(adjusted_reml_by_optimiser(y, D, X, method), rel=1e-6)
    res = analytic_mse(fit)
    assert res.kind == {"amrl": "li-lahiri", "amrl-yl": "yoshimori-lahiri"}[method]
    assert (res.mse >= res.g1 + res.g2 - 1e-15).all()
    boot = bootstrap_mse(fit, replicates=50, seed=1)
    assert np.isfinite(boot.mse).all() and (boot.mse > 0).all()


def test_li_lahiri_mse_formula(milk):
    """g1 + g2 + 2 g3 - B^2 Vbar/A, Vbar = 2 / sum (A + D)^-2 (emdi's li_lahiri for method AMRL)."""
    y, D, X = milk
    fit = fit_fay_herriot(y, D, X, method="amrl")
    res = analytic_mse(fit)
    A = fit.model_variance
    w = 1 / (A + D)
    B = D * w
    Q = np.linalg.inv(X.T @ (X * w[:, None]))
    vbar = 2 / np.sum(w**2)
    expected = D * (1 - B) + B**2 * np.einsum("di,ij,dj->d", X, Q, X) + 2 * B**2 * vbar * w - B**2 * vbar / A
    np.testing.assert_allclose(res.mse, np.maximum(expected, res.g1 + res.g2), rtol=1e-9)
