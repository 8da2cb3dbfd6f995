"""Allocation: closed forms (proportional, Neyman, optimal, power), bounds and rounding,
take-all strata, and the precision-driven allocation (targets met, minimal)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy.optimize import minimize
from scipy.stats import norm

from nonrecours.design.allocation import allocate, allocate_frame, bounded_allocation, round_allocation, stds_from_rates
from nonrecours.design.precision import allocate_precision, solve_min_cost
from nonrecours.errors import DesignError, InputError, OptionError

N = np.array([1200, 800, 3000, 450, 2200, 90])
S = np.array([0.30, 0.45, 0.20, 0.50, 0.35, 0.40])
COST = np.array([1.0, 2.5, 1.0, 4.0, 1.5, 3.0])


def frame(seed: int = 0, territories: int = 24) -> pd.DataFrame:
    """Recipients in territories (QPV or not) with benefits; domains cut across strata."""
    rng = np.random.default_rng(seed)
    sizes = rng.integers(60, 400, territories)
    terr = np.repeat([f"T{i:02d}" for i in range(territories)], sizes)
    qpv = np.repeat(np.arange(territories) % 2, sizes)
    ben = rng.choice(["RSA", "AAH", "ASPA"], terr.size, p=[0.5, 0.3, 0.2])
    return pd.DataFrame(
        {
            "id": np.arange(terr.size).astype(str),
            "territory": terr,
            "is_qpv": qpv,
            "benefit": ben,
            "cost": np.where(qpv == 1, 2.0, 1.0),
            "prior_cmuc": np.where(qpv == 1, 0.55, 0.7),
        }
    )


# --- closed forms ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "method, score",
    [
        ("proportional", N.astype(float)),
        ("equal", np.ones(N.size)),
        ("neyman", N * S),
        ("optimal", N * S / np.sqrt(COST)),
        ("power", N**0.3 * S),
    ],
)
def test_closed_forms_when_no_bound_binds(method, score):
    n = 420
    a = allocate(N, n, method=method, S=S, cost=COST, unit_cv=S, power_q=0.3, min_n=2)
    np.testing.assert_allclose(a.n_continuous, n * score / score.sum(), rtol=1e-9)
    assert a.n.sum() == n
    assert np.all(np.abs(a.n - a.n_continuous) < 1)


def test_neyman_take_all_iterates_to_the_capped_closed_form():
    Nt = np.array([40, 5000, 3000, 30])
    St = np.array([5.0, 0.3, 0.4, 4.0])  # the small strata would ask n_h > N_h
    a = allocate(Nt, 1500, method="neyman", S=St, min_n=2)
    assert a.take_all.tolist() == [True, False, False, True]
    free = ~a.take_all
    rest = 1500 - Nt[~free].sum()
    np.testing.assert_allclose(a.n_continuous[free], rest * (Nt * St)[free] / (Nt * St)[free].sum(), rtol=1e-9)
    assert a.n.sum() == 1500 and np.all(a.n <= Nt)
    frame_ = a.to_frame()
    assert frame_["take_all"].tolist() == [True, False, False, True]
    assert list(frame_.columns[:5]) == ["stratum", "N_h", "n_h", "take_all", "method"]


def test_minimum_per_stratum_binds():
    a = allocate(np.array([10_000, 20, 30]), 100, method="proportional", min_n=5)
    assert a.n.tolist()[1:] == [5, 5] and a.n.sum() == 100


def test_rounding_keeps_total_and_bounds_and_is_deterministic():
    rng = np.random.default_rng(7)
    for _ in range(200):
        H = rng.integers(2, 40)
        Nh = rng.integers(2, 500, H)
        Sh = rng.uniform(0.05, 2, H)
        n = int(rng.integers(2 * H, Nh.sum() + 1))
        a = allocate(Nh, n, method="neyman", S=Sh, min_n=2)
        b = allocate(Nh, n, method="neyman", S=Sh, min_n=2)
        assert a.n.sum() == n
        assert np.all((a.n >= 2) & (a.n <= Nh))
        assert np.array_equal(a.n, b.n)
        assert np.all(np.abs(a.n - a.n_continuous) < 1 + 1e-9)


def test_largest_remainder_by_hand():
    x = np.array([2.5, 3.7, 1.8, 2.0])  # floors 2,3,1,2 = 8; two units to the largest fractions .8, .7
    assert round_allocation(x, 10, np.ones(4), np.full(4, 9.0)).tolist() == [2, 4, 2, 2]
    # ties go to the first stratum, deterministic
    assert round_allocation(np.array([1.5, 1.5, 1.0]), 4, np.ones(3), np.full(3, 9.0)).tolist() == [2, 1, 1]


def test_grouped_bounded_allocation_matches_one_group_at_a_time():
    rng = np.random.default_rng(3)
    a, lo, hi = rng.uniform(0.1, 5, 12), np.ones(12), rng.integers(2, 30, 12).astype(float)
    g = np.repeat([0, 1, 2], 4)
    tot = np.array([20.0, 15.0, 9.0])
    x = bounded_allocation(a, tot, lo, hi, g)
    for k in range(3):
        m = g == k
        np.testing.assert_allclose(x[m], bounded_allocation(a[m], tot[k], lo[m], hi[m]), rtol=1e-12)
        assert x[m].sum() == pytest.approx(tot[k], rel=1e-12)


def test_rms_combination_of_rights():
    P = {"cmuc": np.array([0.65, 0.9]), "acs": np.array([0.4, 0.2])}
    Sh, _cv = stds_from_rates(P, "rms")
    np.testing.assert_allclose(Sh, np.sqrt((P["cmuc"] * (1 - P["cmuc"]) + P["acs"] * (1 - P["acs"])) / 2), rtol=1e-12)
    np.testing.assert_allclose(stds_from_rates(P, "max")[0], np.sqrt([0.4 * 0.6, 0.2 * 0.8]), rtol=1e-12)


def test_allocate_frame_neyman_with_rates_from_a_column_and_optimal_costs():
    f = frame()
    a = allocate_frame(f, ["is_qpv", "benefit"], n=400, method="neyman", rates={"cmuc": "prior_cmuc"})
    Nh = f.groupby(["is_qpv", "benefit"]).size().to_numpy()
    p = np.repeat([0.7, 0.55], 3)
    np.testing.assert_allclose(
        a.n_continuous, 400 * Nh * np.sqrt(p * (1 - p)) / (Nh * np.sqrt(p * (1 - p))).sum(), rtol=1e-9
    )
    o = allocate_frame(f, ["is_qpv", "benefit"], n=400, method="optimal", rates={"cmuc": 0.6}, cost="cost")
    c = np.repeat([1.0, 2.0], 3)
    np.testing.assert_allclose(o.n_continuous, 400 * (Nh / np.sqrt(c)) / (Nh / np.sqrt(c)).sum(), rtol=1e-9)
    t = o.to_frame()
    assert {"is_qpv", "benefit", "stratum", "N_h", "n_h", "halfwidth", "cv", "cost_h"} <= set(t.columns)
    assert t["stratum"].iloc[0] == "0|AAH"


# --- bad input -----------------------------------------------------------------------------------


def test_errors_name_what_and_where():
    with pytest.raises(DesignError, match=r"'2'.*fewer than 2 units"):
        allocate(np.array([10, 10, 1]), 10, min_n=2)
    with pytest.raises(DesignError, match="sample size out of reach"):
        allocate(N, int(N.sum()) + 1)
    with pytest.raises(DesignError, match=r"'0'.*n_h > N_h"):
        allocate(np.array([40, 5000]), 500, method="neyman", S=np.array([5.0, 0.3]), take_all=False)
    with pytest.raises(OptionError, match="parameter method: unknown value"):
        allocate(N, 100, method="neymann")
    f = frame()
    with pytest.raises(OptionError, match=r"right 'acs'.*outside \(0, 1\)"):
        allocate_frame(f, ["is_qpv"], n=100, method="neyman", rates={"cmuc": 0.5, "acs": 1.0})
    f.loc[[3, 8], "benefit"] = np.nan
    with pytest.raises(InputError, match=r"'benefit'.*missing stratum values.*2 empty rows"):
        allocate_frame(f, ["benefit"], n=100)


# --- precision-driven allocation ----------------------------------------------------------------


def anticipated_variance(f, strata, domain_cols, n_by_stratum, p, e, rho):
    """Independent computation from a crosstab: V_d = p(1-p)/(e N_d^2) sum_h N_h N_dh (1/(rho n_h) - 1/N_h)."""
    key = f[strata].astype(str).agg("|".join, axis=1)
    dom = f[domain_cols].astype(str).agg("|".join, axis=1)
    Ndh = pd.crosstab(dom, key)  # domains x strata
    Nh = Ndh.sum(axis=0).to_numpy(float)
    nh = n_by_stratum[Ndh.columns].to_numpy(float)
    Nd = Ndh.sum(axis=1).to_numpy(float)
    V = p * (1 - p) / (e * Nd**2) * (Ndh.to_numpy() @ (Nh * (1 / (rho * nh) - 1 / Nh)))
    return pd.Series(V, index=Ndh.index)


@pytest.mark.slow
def test_precision_allocation_meets_every_target_and_is_minimal():
    f = frame()
    strata, rates, e, rho, hw = (
        ["territory", "benefit"],
        {"cmuc": 0.65, "acs": 0.4},
        {"cmuc": 0.9, "acs": 0.6},
        0.7,
        0.12,
    )
    fam = [["territory"], ["benefit", "is_qpv"]]
    a = allocate_precision(f, strata, rates=rates, target_halfwidth=hw, domains=fam, response_rate=rho, eligible=e)
    T = (hw / norm.ppf(0.975)) ** 2
    n_by = pd.Series(a.n, index=a.strata["stratum"])
    key = f[strata].astype(str).agg("|".join, axis=1)
    doms = [f[cols].astype(str).agg("|".join, axis=1) for cols in fam]
    tabs = [pd.crosstab(d, key) for d in doms]

    def worst(n_series):  # largest V/T over every domain x right (same formula, precomputed crosstabs)
        out = 0.0
        for tab in tabs:
            Nh = tab.sum(axis=0).to_numpy(float)
            nh = n_series[tab.columns].to_numpy(float)
            Nd = tab.sum(axis=1).to_numpy(float)
            for r, p in rates.items():
                V = p * (1 - p) / (e[r] * Nd**2) * (tab.to_numpy() @ (Nh * (1 / (rho * nh) - 1 / Nh)))
                out = max(out, V.max() / T)
        return out

    assert worst(n_by) <= 1 + 1e-9
    # the report agrees with the independent formula
    rep = a.precision.set_index(["domain", "level", "right"])
    V_terr = anticipated_variance(f, strata, ["territory"], n_by, 0.4, 0.6, rho)
    assert rep.loc[("territory", "T05", "acs"), "variance"] == pytest.approx(V_terr["T05"], rel=1e-9)
    V_cell = anticipated_variance(f, strata, ["benefit", "is_qpv"], n_by, 0.65, 0.9, rho)
    assert rep.loc[("benefit:is_qpv", "AAH|1", "cmuc"), "variance"] == pytest.approx(V_cell["AAH|1"], rel=1e-9)
    # minimal: no stratum above its minimum can lose a unit
    above = np.flatnonzero(a.n > a.min_n)
    assert above.size > 0
    for h in above:
        less = n_by.copy()
        less.iloc[h] -= 1
        assert worst(less) > 1, f"stratum {n_by.index[h]} could lose a unit"
    assert a.precision["binding"].any()
    assert (a.precision["variance"] <= a.precision["target"] * (1 + 1e-12)).all()


def test_precision_single_domain_closed_form():
    f = frame(territories=2)
    f = f[f["territory"] == "T00"]
    p, e, rho, hw = 0.4, 0.8, 0.6, 0.08
    a = allocate_precision(
        f, ["territory"], rates={"acs": p}, target_halfwidth=hw, eligible={"acs": e}, response_rate=rho
    )
    T = (hw / norm.ppf(0.975)) ** 2
    Nt = len(f)
    # p(1-p)(1/(e rho n) - 1/(e N)) <= T  <=>  n >= 1 / (rho (e T / (p(1-p)) + 1/N))
    assert a.n[0] == int(np.ceil(1 / (rho * (e * T / (p * (1 - p)) + 1 / Nt))))


def test_precision_cv_target_and_costs():
    f = frame()
    a = allocate_precision(f, ["territory"], rates={"acs": 0.4}, target_cv=0.15, cost="cost")
    assert (a.precision["cv"] <= 0.15 * (1 + 1e-9)).all()
    assert a.method == "precision" and a.cost is not None


def test_continuous_solution_matches_slsqp():
    rng = np.random.default_rng(5)
    H, K = 7, 5
    A = rng.uniform(0, 1, (K, H)) * (rng.uniform(size=(K, H)) < 0.7) * 50
    rhs = rng.uniform(0.5, 1.5, K)
    cost = rng.uniform(1, 3, H)
    lo, hi = np.full(H, 2.0), np.full(H, 400.0)
    n, mult = solve_min_cost(A, rhs, cost, lo, hi)
    ref = minimize(
        lambda m: cost @ m,
        np.full(H, 200.0),
        method="SLSQP",
        bounds=list(zip(lo, hi)),
        constraints=[{"type": "ineq", "fun": lambda m: rhs - A @ (1 / m)}],
        options={"ftol": 1e-14, "maxiter": 1000},
    )
    assert ref.success
    assert cost @ n == pytest.approx(ref.fun, rel=1e-6)
    assert np.all(A @ (1 / n) <= rhs * (1 + 1e-6))
    assert (mult > 0).any()


def test_unreachable_target_names_the_domains():
    f = frame()
    with pytest.raises(DesignError, match=r"territory=T\d\d \(acs\).*unreachable even with a census"):
        allocate_precision(f, ["territory"], rates={"acs": 0.4}, target_halfwidth=0.02, response_rate=0.5)
    with pytest.raises(OptionError, match="exactly one precision target"):
        allocate_precision(f, ["territory"], rates={"acs": 0.4})
