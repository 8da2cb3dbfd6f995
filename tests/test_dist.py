"""The t, normal and F functions on scipy.special equal scipy.stats' exactly (same formulas, same edge cases)."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.stats as st

from nonrecours.estimation import _dist as d

Q = np.array([0, 1e-12, 1e-6, 0.001, 0.025, 0.05, 0.3, 0.5, 0.7, 0.975, 1 - 1e-9, 1, np.nan, -0.1, 1.1])
X = np.array([-np.inf, -30, -3, -1, 0, 0.5, 2, 40.0, np.inf, np.nan])


@pytest.mark.parametrize("df", [0.5, 1, 2, 3.5, 10, 29, 1000, 1e8, np.inf, 0.0, -1.0, np.nan])
def test_t_functions_equal_scipy_stats(df):
    assert np.array_equal(d.t_isf(Q, df), st.t.isf(Q, df), equal_nan=True)
    assert np.array_equal(d.t_ppf(Q, df), st.t.ppf(Q, df), equal_nan=True)
    assert np.array_equal(d.t_sf(X, df), st.t.sf(X, df), equal_nan=True)


def test_normal_and_f_equal_scipy_stats():
    q = Q[1:11]
    assert np.array_equal(d.norm_isf(q), st.norm.isf(q)) and np.array_equal(
        d.norm_cdf(X), st.norm.cdf(X), equal_nan=True
    )
    for n in (3, 10, 100):
        assert np.array_equal(d.f_isf(q, 1.0, n - 1.0), st.f.isf(q, 1.0, n - 1.0))
    assert d.t_isf(0.025, 5) == st.t.isf(0.025, 5) and np.ndim(d.t_isf(0.025, 5)) == 0


@pytest.mark.parametrize("df", [0.5, 1, 2, 3.5, 10, 29, 1000, np.inf, 0.0, -1.0, np.nan])
def test_chi2_f_and_normal_tails_equal_scipy_stats(df):
    assert np.array_equal(d.chi2_sf(X, df), st.chi2.sf(X, df), equal_nan=True), df
    for dfd in (1.0, 4.0, 57.5, np.inf, 0.0, np.nan):
        assert np.array_equal(d.f_sf(X, df, dfd), st.f.sf(X, df, dfd), equal_nan=True), (df, dfd)
    assert np.array_equal(d.norm_sf(X), st.norm.sf(X), equal_nan=True)
    assert np.array_equal(d.norm_ppf(Q), st.norm.ppf(Q), equal_nan=True)
    assert np.ndim(d.chi2_sf(3.0, 2)) == 0 and np.ndim(d.f_sf(3.0, 2, 9)) == 0
