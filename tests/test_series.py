"""Series of yearly estimates (nonrecours.estimation.series)."""

import numpy as np
import pytest
import statsmodels.api as sm

from nonrecours.design.survey_design import SurveyDesign
from nonrecours.design.waves import select_wave
from nonrecours.errors import OptionError
from nonrecours.estimation.change import estimate_change
from nonrecours.estimation.series import estimate_series, trend_test
from nonrecours.simulate.waves import simulate_waves
from nonrecours.validation.change import proportional_sizes


def test_trend_is_gls_with_the_full_covariance():
    """Identity with statsmodels GLS: coefficients and (X' V^-1 X)^-1 (unscaled covariance)."""
    rng = np.random.default_rng(3)
    years = np.array([2014, 2015, 2016, 2018])
    K = 5
    est = rng.uniform(0.3, 0.7, (K, 4))
    L = rng.normal(size=(K, 4, 4)) * 0.01
    cov = L @ np.transpose(L, (0, 2, 1)) + np.eye(4) * 1e-4
    r = trend_test(years, est, cov)
    X = np.column_stack([np.ones(4), years - years.mean()])
    for k in range(K):
        fit = sm.GLS(est[k], X, sigma=cov[k]).fit()
        assert r["slope"][k] == pytest.approx(fit.params[1], rel=1e-9)
        assert r["intercept"][k] == pytest.approx(fit.params[0], rel=1e-9)
        assert r["se"][k] == pytest.approx(np.sqrt(fit.normalized_cov_params[1, 1]), rel=1e-9)
        resid = est[k] - X @ fit.params
        assert r["lack_of_fit"][k] == pytest.approx(resid @ np.linalg.solve(cov[k], resid), rel=1e-9)


@pytest.fixture(scope="module")
def rotating_waves():
    w = simulate_waves(6, (2014, 2015, 2016), seed=8)
    prev, designs = None, []
    for y, p in zip(w.years, w.populations):
        f = p.recipients
        s = select_wave(
            f,
            proportional_sizes(f, ["is_qpv", "benefit"], 800),
            strata=["is_qpv", "benefit"],
            scheme="rotating",
            seed=y,
            previous=prev,
            share=0.3,
        ).data
        prev = s
        designs.append(SurveyDesign(s, weight="weight", strata="stratum", fpc="fpc"))
    return w, designs


def test_series_tables(rotating_waves):
    w, designs = rotating_waves
    r = estimate_series(designs, w.years, ["cmuc", "acs"], ["is_qpv"], scheme="rotating")
    assert len(r.yearly) == 3 * 4 and set(r.yearly["year"]) == {2014, 2015, 2016}
    assert len(r.changes) == 3 * 4  # 2014-15, 2015-16, 2014-16
    # a change of the series is exactly 'nonrecours change' on the two waves
    c = estimate_change(
        designs[0], designs[1], ["cmuc", "acs"], ["is_qpv"], scheme="rotating", df="inf", lonely_psu="adjust"
    ).table
    s = r.changes[r.changes["year_to"] == 2015].reset_index(drop=True)
    np.testing.assert_allclose(s["se"], c["se"], rtol=1e-12)
    np.testing.assert_allclose(s["change"], c["change"], rtol=1e-12)
    # yearly SEs are each wave's own SEs
    from nonrecours.estimation import estimate_rates

    e = estimate_rates(designs[2], ["cmuc", "acs"], ["is_qpv"], df="inf")
    y = r.yearly[r.yearly["year"] == 2016].reset_index(drop=True)
    np.testing.assert_allclose(y["se"], e.raw_se, rtol=1e-9)
    np.testing.assert_allclose(y["estimate"], e.raw_estimate, rtol=1e-12)
    assert r.trend["se"].notna().all() and (r.trend["lack_of_fit_p"].between(0, 1)).all()


def test_series_needs_increasing_years(rotating_waves):
    _w, designs = rotating_waves
    with pytest.raises(OptionError, match="increasing"):
        estimate_series(designs, [2015, 2014, 2016], ["cmuc"], scheme="rotating")
