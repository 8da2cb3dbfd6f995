"""Models that borrow strength (issue 26): independent solutions, identities, boundaries and errors.

The parity with R is in ``test_borrow_reference.py``; here the block engine is checked against a dense
solution of the same likelihood by a general optimiser, the multivariate model against the univariate
Fay–Herriot model when nothing links the variables, and the spatial model against a relabelling of the
territories.
"""

from __future__ import annotations

import numpy as np
import pytest
from scipy import optimize

from nonrecours.errors import InputError, OptionError
from nonrecours.territorial import analytic_mse, fit_fay_herriot, fit_multivariate, fit_rao_yu, fit_spatial_fh
from nonrecours.territorial.spatial import row_standardise


def _panel(seed, m=40, T=4, sig_u=0.02, sig_v=0.03, rho=0.5, corr=0.3):
    """A Rao-Yu panel: y (m, T), covariances (m, T, T), X (m, T, 2)."""
    rng = np.random.default_rng(seed)
    X = np.stack([np.ones((m, T)), rng.normal(size=(m, T))], axis=-1)
    lag = np.abs(np.subtract.outer(np.arange(T), np.arange(T)))
    sd = np.sqrt(rng.uniform(0.01, 0.04, size=(m, T)))
    S = corr**lag * sd[:, :, None] * sd[:, None, :]
    u = np.zeros((m, T))
    u[:, 0] = rng.normal(0, sig_u / np.sqrt(1 - rho**2), m)
    for t in range(1, T):
        u[:, t] = rho * u[:, t - 1] + rng.normal(0, sig_u, m)
    e = np.einsum("dij,dj->di", np.linalg.cholesky(S), rng.normal(size=(m, T)))
    y = X @ np.array([0.4, 0.1]) + rng.normal(0, sig_v, (m, 1)) + u + e
    return y, S, X


def _grid(n):
    idx = np.arange(n * n)
    r, c = idx // n, idx % n
    return (np.abs(r[:, None] - r[None, :]) + np.abs(c[:, None] - c[None, :]) == 1).astype(float)


@pytest.mark.parametrize("seed", [1, 2, 3])  # with seed 3 the maximum is on sigma2_v = 0
def test_rao_yu_reml_matches_a_dense_general_optimiser(seed):
    y, S, X = _panel(seed, m=20, T=3, sig_u=0.2, sig_v=0.2, rho=0.6)
    m, T, p = X.shape
    y[[2, 7, 7], [1, 0, 2]] = np.nan  # years without a direct estimate: left out, then predicted
    y[11] = np.nan  # a territory without any
    fit = fit_rao_yu(y, S, X)
    lag = np.abs(np.subtract.outer(np.arange(T), np.arange(T)))
    Xf, yf = X.reshape(-1, p), y.ravel()
    o = np.isfinite(yf)

    def dense(z):  # the dense N x N model: G over all rows, V over the observed ones, from scratch
        su, sv, rho = z
        G = np.kron(np.eye(m), su * rho**lag / (1 - rho**2) + sv)
        V = G + np.kron(np.eye(m), np.ones((T, T))) * np.einsum("dij,de->diej", S, np.eye(m)).reshape(m * T, m * T)
        return G, V[np.ix_(o, o)]

    def neg_reml(z):
        _, V = dense(z)
        Vi = np.linalg.inv(V)
        XtViX = Xf[o].T @ Vi @ Xf[o]
        beta = np.linalg.solve(XtViX, Xf[o].T @ Vi @ yf[o])
        r = yf[o] - Xf[o] @ beta
        return 0.5 * (np.linalg.slogdet(V)[1] + np.linalg.slogdet(XtViX)[1] + r @ Vi @ r)

    start = np.array([0.04, 0.04, 0.5])
    res = optimize.minimize(
        neg_reml,
        start,
        method="Nelder-Mead",
        bounds=[(0, None), (0, None), (0, 0.98)],
        options={"xatol": 1e-10, "fatol": 1e-13, "maxiter": 4000, "maxfev": 8000},
    )
    np.testing.assert_allclose(fit.theta, res.x, rtol=1e-5, atol=1e-7)
    assert neg_reml(fit.theta) <= res.fun + 1e-10  # ours is at least as high a maximum
    assert set(fit.at_bound) == {n for n, v in zip(fit.names, res.x) if v < 1e-7 or v > 0.98 - 1e-7}
    G, V = dense(fit.theta)  # the BLUP of every row, observed or not, from the observed ones
    blup = Xf @ fit.coef + G[:, o] @ np.linalg.solve(V, yf[o] - Xf[o] @ fit.coef)
    np.testing.assert_allclose(fit.eblup, blup, rtol=1e-10)
    np.testing.assert_array_equal(fit.in_sample, o)
    np.testing.assert_allclose(fit.eblup[11 * T : 12 * T], fit.synthetic[11 * T : 12 * T], rtol=1e-14)


def test_multivariate_without_links_is_univariate_fay_herriot():
    """Zero sampling covariances and independent effects (MFH1): the likelihood separates by variable."""
    rng = np.random.default_rng(3)
    m, r = 30, 3
    X = np.stack([np.ones((m, r)), rng.normal(size=(m, r))], axis=-1)
    D = rng.uniform(0.005, 0.02, size=(m, r))
    y = X @ np.array([0.3, 0.05]) + rng.normal(0, 0.1, (m, r)) + rng.normal(0, np.sqrt(D))
    S = np.zeros((m, r, r))
    S[:, np.arange(r), np.arange(r)] = D
    fit = fit_multivariate(y, S, X, model="mfh1")
    eblup = fit.eblup.reshape(m, r)
    g1, g2 = fit.g1.reshape(m, r), fit.g2.reshape(m, r)
    for k in range(r):  # three variables, each checked on its own
        uni = fit_fay_herriot(y[:, k], D[:, k], X[:, k], method="reml")
        mse = analytic_mse(uni)
        np.testing.assert_allclose(fit.theta[k], uni.model_variance, rtol=1e-8)
        np.testing.assert_allclose(fit.coef[2 * k : 2 * k + 2], uni.coef, rtol=1e-8)
        np.testing.assert_allclose(eblup[:, k], uni.eblup, rtol=1e-8)
        np.testing.assert_allclose(g1[:, k], mse.g1, rtol=1e-8)
        np.testing.assert_allclose(g2[:, k], mse.g2, rtol=1e-7)
        np.testing.assert_allclose(fit.gamma.reshape(m, r)[:, k], uni.gamma, rtol=1e-8)
    # territories out of the sample: the regression, with the model variance and the coefficients' variance
    out = np.zeros(m, bool)
    out[:4] = True
    y_out, S_out = y.copy(), S.copy()
    y_out[out], S_out[out] = np.nan, np.nan
    part = fit_multivariate(y_out, S_out, X, model="mfh1", in_sample=~out)
    rows = np.repeat(out, r)
    np.testing.assert_array_equal(part.eblup[rows], part.synthetic[rows])
    np.testing.assert_allclose(part.mse[rows], np.tile(part.theta, 4) + part.g2[rows], rtol=1e-12)
    assert not part.in_sample[rows].any() and (part.gamma[rows] == 0).all()


def test_spatial_fit_does_not_depend_on_the_order_of_territories():
    rng = np.random.default_rng(4)
    A = _grid(6)
    m = len(A)
    X = np.column_stack([np.ones(m), rng.normal(size=m)])
    D = rng.uniform(0.01, 0.03, m)
    u = np.linalg.solve(np.eye(m) - 0.6 * row_standardise(A), rng.normal(0, 0.12, m))
    y = X @ np.array([0.5, 0.1]) + u + rng.normal(0, np.sqrt(D))
    fit = fit_spatial_fh(y, D, X, row_standardise(A))
    perm = rng.permutation(m)
    other = fit_spatial_fh(y[perm], D[perm], X[perm], row_standardise(A[np.ix_(perm, perm)]))
    np.testing.assert_allclose(other.theta, fit.theta, rtol=1e-8)
    np.testing.assert_allclose(other.eblup, fit.eblup[perm], rtol=1e-8)
    np.testing.assert_allclose(other.mse, fit.mse[perm], rtol=1e-7)
    assert fit.params["rho"] > 0  # the simulated effects are spatially smooth


def test_rao_yu_without_territory_effect_stops_at_zero():
    y, S, X = _panel(5, sig_v=0.0, sig_u=0.1, rho=0.3)
    y = y - y.mean(axis=1, keepdims=True) + X[:, :, 1] * 0.1  # no persistent territory effect left
    fit = fit_rao_yu(y, S, X)
    assert "sigma2_v" in fit.at_bound and fit.params["sigma2_v"] == 0.0
    assert np.isfinite(fit.mse).all() and (fit.mse > 0).all()


def test_mse_is_below_the_sampling_variance_where_strength_is_borrowed():
    y, S, X = _panel(6)
    fit = fit_rao_yu(y, S, X)
    D = np.diagonal(S, axis1=1, axis2=2).ravel()
    assert np.median(fit.mse / D) < 0.9


def test_errors_name_the_problem():
    y, S, X = _panel(7, m=12)
    with pytest.raises(OptionError, match="method"):
        fit_rao_yu(y, S, X, method="fh")
    bad = S.copy()
    bad[3, 0, 1] = bad[3, 1, 0] = 10 * bad[3, 0, 0]  # a correlation far above 1
    with pytest.raises(InputError, match="not positive definite"):
        fit_rao_yu(y, bad, X)
    asym = S.copy()
    asym[2, 0, 1] *= 2
    with pytest.raises(InputError, match="symmetric"):
        fit_rao_yu(y, asym, X)
    with pytest.raises(InputError, match="do not match") as err:
        fit_rao_yu(y, S[:, :3, :3], X)
    assert "shapes (m, T), (m, T, T) and (m, T, p)" in str(err.value) and f"{S[:, :3, :3].shape}" in str(err.value)
    with pytest.raises(InputError, match=r"shapes \(m, r\), \(m, r, r\) and \(m, r, p\)"):
        fit_multivariate(y, S[:, :3, :3], X)
    from nonrecours.territorial.spatio_temporal import fit_spatio_temporal

    with pytest.raises(InputError, match="sampling covariances and covariates do not match") as err:
        fit_spatio_temporal(y, S[:, :3, :3], X, _grid(3))
    assert "(D, T), (D, T) or (D, T, T), and (D, T, p)" in str(err.value)
    with pytest.raises(OptionError, match="model"):
        fit_multivariate(y, S, X, model="mfh9")
    A = _grid(3)
    A[4] = A[:, 4] = 0.0  # the centre of the grid loses its neighbours
    with pytest.raises(InputError, match="without a neighbour"):
        row_standardise(A)
    with pytest.raises(InputError, match="9 x 9"):
        fit_spatial_fh(np.ones(9), np.full(9, 0.1), np.column_stack([np.ones(9), np.arange(9.0)]), np.eye(4))


def test_spatial_territory_without_sample_is_predicted_from_its_neighbours():
    rng = np.random.default_rng(8)
    A = _grid(6)
    m = len(A)
    W = row_standardise(A)
    X = np.column_stack([np.ones(m), rng.normal(size=m)])
    D = rng.uniform(0.005, 0.01, m)
    y = (
        X @ np.array([0.5, 0.1])
        + np.linalg.solve(np.eye(m) - 0.7 * W, rng.normal(0, 0.1, m))
        + rng.normal(0, np.sqrt(D))
    )
    y[[7, 20]] = np.nan
    fit = fit_spatial_fh(y, D, X, W)
    o = np.isfinite(y)
    sigma2, rho = fit.theta
    B = np.eye(m) - rho * W
    G = sigma2 * np.linalg.inv(B.T @ B)  # the SAR covariance of every territory, dense
    V = G[np.ix_(o, o)] + np.diag(D[o])
    blup = X @ fit.coef + G[:, o] @ np.linalg.solve(V, y[o] - X[o] @ fit.coef)
    np.testing.assert_allclose(fit.eblup, blup, rtol=1e-10)
    assert not fit.in_sample[[7, 20]].any() and fit.in_sample.sum() == m - 2
    assert (fit.g4[[7, 20]] == 0).all() and (fit.g3[[7, 20]] > 0).all()
    Vi = np.linalg.inv(V)  # g1 and g2 of every territory, dense
    g1 = np.diag(G) - np.einsum("io,op,ip->i", G[:, o], Vi, G[:, o])
    d = X - G[:, o] @ Vi @ X[o]
    g2 = np.einsum("ip,pq,iq->i", d, np.linalg.inv(X[o].T @ Vi @ X[o]), d)
    np.testing.assert_allclose(fit.g1, g1, rtol=1e-9)
    np.testing.assert_allclose(fit.g2, g2, rtol=1e-9)
    assert (fit.g1[[7, 20]] > np.median(fit.g1[o])).all()  # no direct estimate: the largest g1
