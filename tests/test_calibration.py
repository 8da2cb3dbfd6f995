"""Calibration (linear, raking, logit, truncated) against R survey 4.1.1, identities, bad input."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
from _weighting_data import api, api_reference, margins_frame, weighting_reference

from nonrecours.design import SurveyDesign
from nonrecours.errors import ConvergenceError, InputError, OptionError
from nonrecours.estimation import estimate_means
from nonrecours.weights import Margins, calibrate, calibrate_weights, cap_weights, trim_and_recalibrate

REF = api_reference()
WREF = weighting_reference()


@pytest.fixture(scope="module")
def dstrat() -> SurveyDesign:
    return SurveyDesign(api("apistrat"), weight="pw", strata="stype", fpc="fpc")


def M(**kw) -> Margins:
    return Margins.from_frame(margins_frame(**kw))


def rel(a, b) -> float:
    return float(np.max(np.abs(np.asarray(a, float) / np.asarray(b, float) - 1)))


CASES = [  # reference key, margins, method, bounds, estimate tol, se tol (measured worst: 9e-13)
    ("strat_calib_raking_stype_schwide_mean_api00_awards", dict(numeric="sch.wide"), "raking", None, 1e-9, 1e-9),
    ("strat_calib_linear_stype_api99_mean_api00_awards", dict(numeric="api99"), "linear", None, 1e-9, 1e-9),
    ("strat_calib_logit_0.7_1.7_mean_api00_awards", dict(numeric="api99"), "logit", (0.7, 1.7), 1e-9, 1e-9),
    # rake(): R computes the SE by iterated post-stratification, not from calibration residuals
    # (measured 1.3e-3 apart); the estimates agree to 1e-9 (measured 2e-14)
    ("strat_rake_stype_schwide_mean_api00_awards", dict(categorical_schwide=True), "raking", None, 1e-9, 2e-3),
]


@pytest.mark.parametrize("key,margins,method,bounds,tol_e,tol_se", CASES, ids=[c[0] for c in CASES])
@pytest.mark.parametrize("coding", ["dummies", "treatment"])
def test_calibrated_means_match_r(dstrat, key, margins, method, bounds, tol_e, tol_se, coding):
    des = calibrate(dstrat, M(**margins), method=method, bounds=bounds, coding=coding)
    r = estimate_means(des, ["api00", "awards"]).to_frame()
    assert rel(r["estimate"], REF[key]["estimate"]) < tol_e
    assert rel(r["se"], REF[key]["se"]) < tol_se


def test_logit_first_five_weights(dstrat):
    des = calibrate(dstrat, M(numeric="api99"), method="logit", bounds=(0.7, 1.7))
    assert rel(des.weights[:5], REF["strat_calib_logit_0.7_1.7_weights_first5"]["weights"]) < 1e-9


@pytest.mark.parametrize(
    "key,method",
    [
        ("strat_calib_truncated_0.97_1.035_mean_api00_awards", "truncated"),
        ("strat_calib_raking_0.97_1.035_mean_api00_awards", "raking"),
    ],
)
def test_bounded_calibration_matches_r(dstrat, key, method):
    des = calibrate(dstrat, M(numeric="api99"), method=method, bounds=(0.97, 1.035))
    r = estimate_means(des, ["api00", "awards"]).to_frame()
    ref = WREF[key]
    assert rel(r["estimate"], ref["estimate"]) < 1e-8
    assert rel(r["se"], ref["se"]) < 1e-8
    assert rel(des.weights[:5], ref["weights_first5"]) < 1e-8
    g = des.calibration[-1].g
    assert g.min() >= 0.97 - 1e-12 and g.max() <= 1.035 + 1e-12


def test_raking_equals_calibration_with_raking_distance(dstrat):
    """rake() margins (two categorical) and calibrate(~stype + sch.wide) give the same weights."""
    a = calibrate_weights(dstrat.data, dstrat.weights, M(categorical_schwide=True), method="raking")
    b = calibrate_weights(dstrat.data, dstrat.weights, M(numeric="sch.wide"), method="raking")
    np.testing.assert_allclose(a.weights, b.weights, rtol=1e-12)
    # and raking = iterative proportional fitting on the two margins
    d = dstrat.data
    w = dstrat.weights.copy()
    targets = margins_frame(categorical_schwide=True)
    for _ in range(200):
        for var in ("stype", "sch.wide"):
            t = targets[targets.variable == var].set_index("category")["total"]
            key = d[var].astype(str)
            cur = pd.Series(w).groupby(key.to_numpy()).sum()
            w = w * (t / cur).reindex(key).to_numpy()
    np.testing.assert_allclose(a.weights, w, rtol=1e-10)


def test_diagnostics(dstrat):
    res = calibrate_weights(dstrat.data, dstrat.weights, M(numeric="api99"), method="logit", bounds=(0.7, 1.7))
    tab = res.margins_table()
    assert np.all(np.abs(tab["rel_error"]) < 1e-12)
    g = res.g_summary()
    assert {"min", "median", "max", "at_lower", "at_upper", "weight_cv"} <= set(g.columns)
    assert 0.7 < g["min"][0] <= g["max"][0] < 1.7
    assert res.iterations >= 1 and res.max_rel_misfit < 1e-12


def test_large_sample_reaches_margins():
    """200,000 rows and 80 margins are all reached (the timing lives in benchmarks/bench_weights.py)."""
    rng = np.random.default_rng(1)
    n = 200_000
    df = pd.DataFrame({"a": rng.integers(0, 10, n), "b": rng.integers(0, 20, n), "c": rng.integers(0, 50, n)})
    d = rng.uniform(1, 3, n)
    rows = []
    for v, k in (("a", 10), ("b", 20), ("c", 50)):
        t = np.bincount(df[v], weights=d, minlength=k) * rng.uniform(0.9, 1.1, k)
        t *= 2.1 * n / t.sum()
        rows += [(v, str(i), t[i]) for i in range(k)]
    m = Margins.from_frame(pd.DataFrame(rows, columns=["variable", "category", "total"]))
    res = calibrate_weights(df, d, m, method="raking")
    assert res.margins_table()["rel_error"].abs().max() < 1e-12


# -- bad input ---------------------------------------------------------------------------------


def test_unknown_category_in_margins(dstrat):
    t = pd.concat(
        [margins_frame(numeric=None), pd.DataFrame([("stype", "X", 10.0)], columns=["variable", "category", "total"])]
    )
    t.loc[t.category == "E", "total"] -= 10
    with pytest.raises(InputError, match="categories that no respondent has.*stype=X"):
        calibrate(dstrat, Margins.from_frame(t))


def test_sample_categories_missing_from_margins(dstrat):
    t = margins_frame(numeric=None)
    t = t[t.category != "M"]
    with pytest.raises(InputError, match=r"sample categories missing from the margins.*stype=M \(50 rows\)"):
        calibrate(dstrat, Margins.from_frame(t))


def test_margins_with_different_totals(dstrat):
    t = margins_frame(categorical_schwide=True)
    t.loc[t.category == "1", "total"] += 5
    with pytest.raises(InputError, match="different totals.*stype: 6194, sch.wide: 6199"):
        calibrate(dstrat, Margins.from_frame(t))


def test_infeasible_bounds(dstrat):
    t = margins_frame(numeric=None)
    t.loc[t.category == "H", "total"] *= 1.5
    t.loc[t.category == "E", "total"] -= t.loc[t.category == "H", "total"].iloc[0] / 3
    with pytest.raises(InputError, match="bounds make calibration infeasible.*stype=H"):
        calibrate(dstrat, Margins.from_frame(t), method="logit", bounds=(0.8, 1.2))
    with pytest.raises(InputError, match="bounds make calibration infeasible"):  # found by the LP check
        calibrate(dstrat, M(numeric="api99"), method="truncated", bounds=(0.999, 1.001))


def test_no_convergence_reports_iterations_and_margin(dstrat):
    with pytest.raises(ConvergenceError, match=r"did not converge.*on margin '[^']+' after 1 iterations"):
        calibrate(dstrat, M(numeric="api99"), method="logit", bounds=(0.7, 1.7), max_iter=1)


def test_negative_weights(dstrat):
    t = margins_frame(numeric="api99")
    t.loc[t.variable == "api99", "total"] *= 1.6
    with pytest.raises(InputError, match="zero or negative"):
        calibrate(dstrat, Margins.from_frame(t), method="linear")


def test_options(dstrat):
    with pytest.raises(OptionError, match="needs bounds"):
        calibrate(dstrat, M(), method="logit")
    with pytest.raises(OptionError, match="truncated"):
        calibrate(dstrat, M(), method="linear", bounds=(0.5, 2))
    with pytest.raises(OptionError, match="surround 1"):
        calibrate(dstrat, M(), method="logit", bounds=(1.2, 2))
    with pytest.raises(InputError, match="margin variable not found"):
        calibrate(dstrat, Margins.from_frame(pd.DataFrame({"variable": ["nope"], "category": [""], "total": [1.0]})))


# -- trimming ----------------------------------------------------------------------------------


def test_cap_weights_keeps_total():
    w = np.array([1.0, 2.0, 3.0, 50.0, 4.0])
    t, k = cap_weights(w, 15.0)
    assert k == 2 and t.max() <= 15 + 1e-12 and abs(t.sum() - w.sum()) < 1e-12
    with pytest.raises(InputError, match="cap is too low"):
        cap_weights(w, 5.0)


def test_trim_then_recalibrate(dstrat):
    res = calibrate_weights(dstrat.data, dstrat.weights, M(numeric="api99"), method="raking")
    cap_factor = 1.45
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        out, report = trim_and_recalibrate(dstrat.data, res, upper=cap_factor)
    cap = cap_factor * res.weights.mean()
    assert out.weights.max() <= cap * (1 + 1e-4)
    assert out.margins_table()["rel_error"].abs().max() < 1e-10
    assert len(report) >= 1 and report["n_capped"].iloc[0] > 0
    des = calibrate(dstrat, M(numeric="api99"), method="raking", trim=cap_factor)
    np.testing.assert_allclose(des.weights, out.weights, rtol=1e-12)


# -- the calibration through the API: sparse to the end, cells, one new design (issue 31) ----------


def _raking_sample(n: int, seed: int = 3, zeros: bool = True):
    rng = np.random.default_rng(seed)
    df = pd.DataFrame(
        {
            "a": rng.integers(0, 10, n),
            "b": rng.choice([f"b{i}" for i in range(20)], n),
            "c": rng.integers(-5, 15, n),
            "w": rng.uniform(1, 3, n),
        }
    )
    if zeros:  # non-respondents: weight 0, a missing category
        out = rng.random(n) < 0.1
        df.loc[out, "w"] = 0.0
        df["b"] = df["b"].where(~out, None)
    rows = []
    for v in ("a", "b", "c"):
        t = df.groupby(v)["w"].sum() * rng.uniform(0.9, 1.1, df[v].nunique())
        t *= 2.0 * n / t.sum()
        rows += [(v, str(k), float(x)) for k, x in t.items()]
    return df, Margins.from_frame(pd.DataFrame(rows, columns=["variable", "category", "total"]))


@pytest.mark.parametrize(
    "method,bounds,coding",
    [("raking", None, "dummies"), ("linear", None, "treatment"), ("logit", (0.5, 2.0), "dummies")],
)
def test_cells_give_the_weights_of_the_rows(monkeypatch, method, bounds, coding):
    """Categorical margins only: the solver runs on the cells (crossed categories, weights summed once);
    the weights, g and totals are those of the solver on the rows, to rounding."""
    from nonrecours.weights._calsolve import SlotMatrix

    df, m = _raking_sample(20_000)
    cells = calibrate_weights(df, df["w"].to_numpy(), m, method=method, bounds=bounds, coding=coding)
    assert cells.matrix.cells is not None and cells.matrix.cells[1].n <= 10 * 21 * 20  # b: also missing
    monkeypatch.setattr(SlotMatrix, "CELLS_UP_TO", 0.0)  # no cells: every product over the rows
    rows = calibrate_weights(df, df["w"].to_numpy(), m, method=method, bounds=bounds, coding=coding)
    assert rows.matrix.cells is None
    assert rel(cells.weights[cells.d > 0], rows.weights[rows.d > 0]) < 1e-12
    np.testing.assert_array_equal(cells.weights == 0, rows.weights == 0)
    np.testing.assert_allclose(cells.before, rows.before, rtol=1e-13)
    assert cells.columns == rows.columns and cells.max_rel_misfit < 1e-12
    W = np.column_stack([df["w"].to_numpy() * f for f in (0.9, 1.0, 1.2, 1.1, 0.95, 1.05)])  # > SPARSE_FROM columns
    np.testing.assert_allclose(cells.matrix.rmatvec(W), rows.matrix.rmatvec(W), rtol=1e-13)
    np.testing.assert_allclose(cells.matrix.gram(W[:, :2]), rows.matrix.gram(W[:, :2]), rtol=1e-13, atol=1e-9)
    lam = np.random.default_rng(0).normal(size=(cells.matrix.p, 2))
    np.testing.assert_array_equal(cells.matrix.matvec(lam), rows.matrix.matvec(lam))


def test_integer_categories_read_as_their_text():
    """Integer columns are looked up by value: the same matrix as their text, the same messages."""
    from nonrecours.weights.margins import build_matrix

    df, m = _raking_sample(5_000, zeros=False)
    d = df["w"].to_numpy()
    M1, T1 = build_matrix(df, m, d)
    M2, T2 = build_matrix(df.astype({"a": str, "c": str}), m, d)
    np.testing.assert_array_equal(M1.cols, M2.cols)
    np.testing.assert_array_equal(T1, T2)
    bad = df.assign(c=df["c"].where(df["c"] != 3, 99))  # 99 is no category of the margins
    with pytest.raises(InputError, match=r"missing from the margins.*c=99 \(\d+ rows\)"):
        build_matrix(bad, m, d)
    t = m.to_frame()
    t.loc[(t["variable"] == "a") & (t["category"] == "0"), "category"] = "00"  # not the text of an integer 0
    with pytest.raises(InputError, match=r"c?a=0 \(\d+ rows\)"):
        build_matrix(df, Margins.from_frame(t), d)


def test_calibrate_keeps_the_matrix_sparse_and_builds_the_design_once(monkeypatch):
    """No dense n x p matrix, no copy of the weights handed over, one new design (with replicates too);
    the variance engine still gets the calibration residuals (same SEs as from the dense matrix)."""
    import tracemalloc

    from nonrecours.design import Calibration
    from nonrecours.design import survey_design as sd
    from nonrecours.estimation import estimate_rates
    from nonrecours.weights import make_replicates

    df, m = _raking_sample(100_000)
    df["y"] = (np.random.default_rng(4).random(len(df)) < 0.6).astype(float)
    des = SurveyDesign(df, weight="w", zero_weights=True)
    calibrate(des, m)  # first use: imports and caches outside the measure
    tracemalloc.start()
    cal = calibrate(des, m)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    step = cal.calibration[0]
    n, p = step.X.shape
    assert not isinstance(step.X, np.ndarray) and p == 10 + 19 + 19
    assert peak < n * p * 8 / 2  # the dense matrix alone would take n * p * 8 bytes (38 MB here)
    assert np.shares_memory(step.d, des.weights) and np.shares_memory(step.g, step.record.g)
    assert np.shares_memory(cal.weights, cal.data[cal.weight].to_numpy())
    np.testing.assert_array_equal(step.X.toarray(), step.record.X)
    dense = des.with_calibration(Calibration(step.record.X, step.d, step.g))
    a, b = (estimate_rates(x, ["y"], by="a").to_frame() for x in (cal, dense))
    np.testing.assert_array_equal(a["se"], b["se"])

    built = []
    real = sd.SurveyDesign._build
    monkeypatch.setattr(sd.SurveyDesign, "_build", lambda self: built.append(1) or real(self))
    calibrate(des, m)
    assert len(built) == 1
    reps = make_replicates(des.subset(np.arange(len(df)) < 2_000), "bootstrap", replicates=5, seed=1)
    built.clear()
    out = calibrate(reps, m.__class__.from_frame(_raking_margins(reps)))
    assert len(built) == 1 and out.replicates.weights.shape == (len(df), 5)


def _raking_margins(design: SurveyDesign) -> pd.DataFrame:
    """Margins of ``a`` met by the design's own weights (a calibration that keeps them)."""
    t = pd.Series(design.weights).groupby(design.data["a"].to_numpy()).sum()
    t = t[t > 0]
    return pd.DataFrame({"variable": "a", "category": [str(k) for k in t.index], "total": t.to_numpy()})
