"""Confidence intervals for proportions: parity with R's survey::svyciprop, edge cases, Wilson.

Provenance of the numbers:
- ``tests/reference/api_reference.json`` (``strat_ciprop_schwide_*``,
  ``clus2_ciprop_schwide_logit``), made by ``tests/reference/make_api_reference.R``.
- ``tests/reference/intervals_reference.json`` (other levels, df, small domains,
  p near 0 and p = 0), made by ``tests/reference/make_intervals_reference.R``
  with R 4.2.2 and survey 4.1-1 (recorded in its ``_about`` entry).

Tolerances (relative):
- closed forms (wald = R's mean, asin, beta, xlogit, wilson): 1e-9 (measured <= 1e-13).
- logit: R fits a svyglm and stops its IRLS about 5e-10 (p = 0.83) to 8e-9 (p = 0.02)
  away from the exact mean, and its interval inherits that gap. Fed R's own glm
  estimate, our logit matches to 1e-9 (measured <= 1e-11); fed the exact mean, it
  matches within 1e-9 + 5 x (R's relative estimate gap) (measured 5.1e-10 on the
  api_reference entries, 2.3e-8 for p = 0.02).
- likelihood: R's Rao-Scott factor lambda = cov.unscaled / naive.cov uses the
  model variance at the last-but-one IRLS iterate, 2e-7 to 1.2e-4 off its
  converged value n se^2 / (p (1 - p)). Fed R's own coef, SE and lambda, our port
  of R's profile/spline algorithm matches to 1e-7 (measured <= 1.6e-8); fed the
  exact inputs, it matches to 1e-5 where R's lambda is within 1e-4 of converged
  (measured <= 5.6e-6, 2.2e-6 on api_reference) and 5e-4 otherwise (the two
  p = 0.02 domains, measured 2.6e-4).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import special

from nonrecours.errors import OptionError
from nonrecours.estimation.intervals import _profile_interval, check_method, proportion_ci, t_quantile
from nonrecours.options import CIMethod, choices

METHODS = choices(CIMethod)

SHARED = Path(__file__).resolve().parent / "reference"  # copy of the shared R reference, see reference/README.md
LOCAL = Path(__file__).resolve().parent / "reference" / "intervals_reference.json"
R_NAME = {"mean": "wald"}  # R's method name -> ours
CLOSED = {"wald", "asin", "beta", "xlogit"}


API = json.loads((SHARED / "api_reference.json").read_text())
EXTRA = {k: v for k, v in json.loads(LOCAL.read_text()).items() if k != "_about"}


def rel_err(got, want):
    got, want = np.ravel(got), np.ravel(want)
    return np.abs(got - want) / np.maximum(np.abs(want), 1e-300)


def strat_mean_se():
    """Hajek mean of sch.wide and its stratified-SRS Taylor SE with fpc (dstrat)."""
    d = pd.read_csv(SHARED / "api" / "apistrat.csv")
    y, w = d["sch.wide"].to_numpy(float), d["pw"].to_numpy(float)
    p = np.sum(w * y) / np.sum(w)
    z = w * (y - p) / np.sum(w)  # linearised values of the mean
    h = pd.factorize(d["stype"])[0]
    nh = np.bincount(h).astype(float)
    Nh = np.bincount(h, weights=d["fpc"].to_numpy(float)) / nh
    zbar = np.bincount(h, weights=z) / nh
    ss = np.bincount(h, weights=(z - zbar[h]) ** 2)
    var = np.sum((1 - nh / Nh) * nh / (nh - 1) * ss)
    return p, np.sqrt(var), len(d), int(len(d) - len(nh))


# --- R parity: api_reference.json -------------------------------------------------


def test_strat_inputs_from_data():
    p, se, n, df = strat_mean_se()
    ref = API["strat_prop_schwide"]
    assert rel_err(p, ref["estimate"]) < 1e-12 and rel_err(se, ref["se"]) < 1e-12
    assert (n, df) == (200, API["strat_ciprop_schwide_mean"]["df"])


@pytest.mark.parametrize("r_method", ["logit", "likelihood", "asin", "beta", "mean", "xlogit"])
def test_strat_ciprop_schwide(r_method):
    p, se, n, _ = strat_mean_se()
    ref = API[f"strat_ciprop_schwide_{r_method}"]
    lo, hi = proportion_ci(p, se, ref["df"], method=R_NAME.get(r_method, r_method), n=n)
    err = rel_err([lo, hi], ref["ci"]).max()
    tol = 1e-5 if r_method == "likelihood" else 1e-9  # see module docstring
    assert err < tol, err


def test_strat_likelihood_on_r_internals():
    """The api_reference likelihood entry, from R's own svyglm coef, SE and lambda."""
    e = EXTRA["strat_schwide_likelihood"]
    assert e["ci"] == API["strat_ciprop_schwide_likelihood"]["ci"]
    assert rel_err(_likelihood_from_internals(e), e["ci"]).max() < 1e-7


def test_clus2_ciprop_schwide_logit():
    ref = API["clus2_ciprop_schwide_logit"]
    m = API["clus2_prop_schwide"]  # svymean(~sch.wide, dclus2): the same estimate and SE
    n = len(pd.read_csv(SHARED / "api" / "apiclus2.csv"))
    lo, hi = proportion_ci(m["estimate"], m["se"], ref["df"], method="logit", n=n)
    assert rel_err([lo, hi], ref["ci"]).max() < 1e-9


# --- R parity: tests/reference/intervals_reference.json ---------------------------


def _likelihood_from_internals(e):
    q = t_quantile(e["level"], float(e["df"]))
    lo, hi = _profile_interval(
        np.array([e["estimate"]]),
        np.array([e["glm_coef"]]),
        np.array([e["glm_std_err"]]),
        np.array([e["glm_lambda"]]),
        np.array([float(e["n"])]),
        np.atleast_1d(q),
    )
    return special.expit(np.r_[lo, hi])


def _ours(e, estimate=None):
    method = R_NAME.get(e["method"], e["method"])
    df = e["design_df"] if method == "beta" else float(e["df"])  # R's beta ignores svyciprop(df=)
    est = e["estimate"] if estimate is None else estimate
    return np.ravel(proportion_ci(est, e["se"], df, method=method, level=e["level"], n=e["n"]))


REGULAR = sorted(k for k, e in EXTRA.items() if e["estimate"] > 0)


@pytest.mark.parametrize("key", REGULAR)
def test_extra_reference(key):
    e = EXTRA[key]
    want = np.clip(e["ci"], 0.0, 1.0)  # R leaves mean unclamped
    got = _ours(e)
    err = np.abs(got - want) / np.where(want > 0, want, 1.0)  # absolute where R's (clamped) bound is 0
    method = R_NAME.get(e["method"], e["method"])
    if method in CLOSED:
        assert err.max() < 1e-9, err
    elif method == "logit":
        assert rel_err(_ours(e, estimate=e["r_estimate"]), want).max() < 1e-9
        gap = abs(e["r_estimate"] / e["estimate"] - 1)
        assert err.max() < 1e-9 + 5 * gap, (err, gap)
    else:
        assert rel_err(_likelihood_from_internals(e), want).max() < 1e-7
        lam = e["n"] * e["se"] ** 2 / (e["estimate"] * (1 - e["estimate"]))
        tol = 1e-5 if abs(e["glm_lambda"] / lam - 1) < 1e-4 else 5e-4
        assert err.max() < tol, err


def test_zero_domain_against_r():
    """p = 0, se = 0 (a domain without takers): R's answers and our documented ones."""
    e = {m: EXTRA[f"strat_H_hi875_zero_{m}"] for m in ("logit", "likelihood", "asin", "beta", "mean", "xlogit")}
    assert e["mean"]["ci"] == [0, 0] and max(e["logit"]["ci"]) < 1e-11  # R: a point at 0
    assert e["asin"]["ci"] == [None, None] and "interpolate" in e["likelihood"]["r_error"]
    n, df = e["mean"]["n"], e["mean"]["df"]
    for m in ("wald", "logit", "xlogit", "asin", "likelihood"):
        np.testing.assert_array_equal(np.ravel(proportion_ci(0.0, 0.0, df, method=m, n=n)), [0.0, 0.0])
    lo, hi = proportion_ci(0.0, 0.0, df, method="beta", n=n)  # n* = n: Clopper-Pearson with 0 successes
    assert lo == 0.0 and rel_err(hi, 1 - 0.025 ** (1 / n)) < 1e-12
    lo, hi = proportion_ci(1.0, 0.0, df, method="beta", n=n)
    assert hi == 1.0 and rel_err(lo, 0.025 ** (1 / n)) < 1e-12
    q2 = t_quantile(0.95, df) ** 2 / n
    lo, hi = proportion_ci(0.0, 0.0, df, method="wilson", n=n)
    assert lo == 0.0 and rel_err(hi, q2 / (1 + q2)) < 1e-12


# --- edge cases and options --------------------------------------------------------


@pytest.mark.parametrize("method", METHODS)
def test_edge_cases(method):
    est = np.array([np.nan, 0.3, 0.3, 0.3, -0.1, 1.2, 0.3, 0.4])
    se = np.array([0.05, np.nan, 0.05, -0.01, 0.05, 0.05, 0.05, 0.0])
    df = np.array([30, 30, np.nan, 30, 30, 30, 0, 30])
    lo, hi = proportion_ci(est, se, df, method=method, n=100)
    assert np.isnan(lo[:7]).all() and np.isnan(hi[:7]).all()
    assert lo[7] == hi[7] == 0.4  # zero SE inside (0, 1): a point
    if method in ("logit", "xlogit", "asin", "likelihood"):  # undefined transform at 0 with se > 0
        assert np.isnan(proportion_ci(0.0, 0.01, 30, method=method, n=100)).all()


def test_broadcasting_and_shapes():
    p = np.linspace(0.05, 0.95, 12).reshape(3, 4)
    lo, hi = proportion_ci(p, 0.03, np.inf, method="beta", n=np.array([50, 60, 70, 80]))
    assert lo.shape == hi.shape == (3, 4)
    lo2, _ = proportion_ci(p[1, 2], 0.03, np.inf, method="beta", n=70)
    assert lo2 == lo[1, 2]


def test_likelihood_vectorised_equals_one_by_one():
    """Domains with different grid sizes (and an exact-root fallback) in one call."""
    rng = np.random.default_rng(3)
    p = np.r_[rng.uniform(0.02, 0.98, 60), 0.987, 0.0236]
    n = np.r_[rng.integers(5, 400, 60), 14, 8].astype(float)
    se = np.sqrt(p * (1 - p) / n * np.r_[rng.uniform(0.3, 3, 60), 2.0, 2.0])
    lo, hi = proportion_ci(p, se, n - 2, method="likelihood", n=n)
    one = np.array([np.ravel(proportion_ci(p[i], se[i], n[i] - 2, method="likelihood", n=n[i])) for i in range(len(p))])
    np.testing.assert_allclose(np.c_[lo, hi], one, rtol=1e-13)  # matmul blocking only
    assert np.isfinite(lo).all() and np.isfinite(hi).all()


def test_likelihood_exact_root_where_r_grid_stops_short():
    """p = 0.987, n = 14: R's 9-step grid ends below the cutoff (R: NA); we solve exactly."""
    p, se, df, n = 0.9868218879927755, 0.04042874494936763, 11.0, 14.0
    lo, hi = proportion_ci(p, se, df, method="likelihood", n=n)
    assert np.isfinite(lo) and p < hi <= 1
    v, q = p * (1 - p), t_quantile(0.95, df)
    _, b = _profile_interval(*(np.array([x]) for x in (p, special.logit(p), se / v, n * se**2 / v, n, q)))
    kl = p * (np.log(p) + np.logaddexp(0, -b)) + (1 - p) * (np.log1p(-p) + np.logaddexp(0, b))
    assert rel_err(2 * (n - 1) * kl, q**2 * n * se**2 / v) < 1e-9


def test_options_checked():
    assert check_method("wilson") == "wilson"
    with pytest.raises(OptionError, match="wald"):
        check_method("clopper")
    with pytest.raises(OptionError, match="n"):
        proportion_ci(0.3, 0.05, 10, method="beta")
    with pytest.raises(OptionError, match="level"):
        proportion_ci(0.3, 0.05, 10, method="wald", level=95)


def test_t_quantile():
    q = t_quantile(0.9, np.array([np.inf, 10, 0, np.nan, -1]))
    assert q[0] == pytest.approx(1.6448536269514722, rel=1e-15)
    assert q[1] == pytest.approx(1.8124611228116756, rel=1e-14)  # R: qt(0.95, 10)
    assert np.isnan(q[2:]).all()
    assert t_quantile(0.95, 5).shape == ()


# --- Wilson -------------------------------------------------------------------------


def test_wilson_matches_statsmodels_with_effective_n():
    from statsmodels.stats.proportion import proportion_confint

    p = np.array([0.02, 0.3, 0.5, 0.83, 0.97])
    se = np.array([0.01, 0.04, 0.06, 0.02, 0.015])
    n_eff = p * (1 - p) / se**2
    lo, hi = proportion_ci(p, se, np.inf, method="wilson", level=0.9)
    sm_lo, sm_hi = proportion_confint(p * n_eff, n_eff, alpha=0.1, method="wilson")
    assert rel_err(np.r_[lo, hi], np.r_[sm_lo, sm_hi]).max() < 1e-12


def test_wilson_t_version_inverts_the_score_test():
    """Bounds solve (p - pi)^2 = q^2 pi (1 - pi) / n_eff with q a t quantile."""
    p, se, df = 0.12, 0.03, 17
    n_eff, q = p * (1 - p) / se**2, float(t_quantile(0.95, df))
    k = q**2 / n_eff
    roots = np.sort(np.roots([1 + k, -(2 * p + k), p**2]).real)
    assert rel_err(np.ravel(proportion_ci(p, se, df, method="wilson")), roots).max() < 1e-12


def test_wilson_coverage_clustered_simulation():
    """Two-stage-like clustered binary data: 40 clusters of 10, ICC ~ 0.1, df = 39.

    4,000 seeded replicates; Monte Carlo SE of a 95 % coverage is 0.0034, so
    |coverage - 0.95| < 0.02 allows the method's own small bias plus ~4 MC SEs.
    """
    rng = np.random.default_rng(20240501)
    reps, m, k, pi, icc = 4000, 40, 10, 0.3, 0.1
    a = pi * (1 - icc) / icc
    b = (1 - pi) * (1 - icc) / icc
    cluster_p = rng.beta(a, b, size=(reps, m))
    means = rng.binomial(k, cluster_p) / k
    p = means.mean(axis=1)
    se = means.std(axis=1, ddof=1) / np.sqrt(m)  # with-replacement ultimate clusters
    lo, hi = proportion_ci(p, se, m - 1, method="wilson", n=m * k)
    coverage = np.mean((lo <= pi) & (pi <= hi))
    assert abs(coverage - 0.95) < 0.02, coverage


# --- properties -----------------------------------------------------------------------


@settings(max_examples=60, deadline=None)
@given(
    method=st.sampled_from(METHODS),
    p=st.lists(st.floats(0.0, 1.0), min_size=1, max_size=20),
    rel_se=st.floats(0.0, 3.0),
    n=st.integers(2, 5000),
    df=st.one_of(st.just(np.inf), st.integers(1, 1000)),
    level=st.floats(0.5, 0.999),
)
def test_intervals_in_unit_interval_and_contain_estimate(method, p, rel_se, n, df, level):
    p = np.asarray(p)
    se = rel_se * np.sqrt(np.maximum(p * (1 - p), 1e-4) / n)
    lo, hi = proportion_ci(p, se, df, method=method, level=level, n=n)
    undefined = ((p == 0) | (p == 1)) & (se > 0) & (method in ("logit", "xlogit", "asin", "likelihood"))
    assert np.isnan(lo[undefined]).all()
    lo, hi, p = lo[~undefined], hi[~undefined], p[~undefined]
    assert np.isfinite(lo).all() and np.isfinite(hi).all()
    assert ((lo >= 0) & (lo <= hi) & (hi <= 1)).all()
    slack = 1e-12
    assert ((lo <= p + slack) & (p - slack <= hi)).all()
