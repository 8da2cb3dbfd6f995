"""Every array handed out by a design or a result is read-only (issue 11, item 3).

The test walks the public attributes and properties of each object (and of the
values they hold: structure, calibration steps, replicates, variance factor) and
of the arrays returned by ``vcov()`` and ``cov()``; writing into any of them must raise.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from _weighting_data import api, clustered_sample, margins_frame

from nonrecours.design import Calibration, Replicates, SurveyDesign, allocate
from nonrecours.estimation import estimate_rates
from nonrecours.territorial import analytic_mse, bootstrap_mse, fit_fay_herriot
from nonrecours.weights import Margins, adjust_classes, calibrate, calibrate_weights, make_replicates


def _arrays(obj, seen=None, path="obj"):
    """(path, array) for every ndarray reachable through public attributes (2 levels of values)."""
    seen = set() if seen is None else seen
    if id(obj) in seen:
        return
    seen.add(id(obj))
    for name in dir(obj):
        if name.startswith("_"):
            continue
        try:
            value = getattr(obj, name)
        except Exception:  # noqa: BLE001 - a property that does not apply to this object
            continue
        if callable(value) or isinstance(value, (pd.DataFrame, pd.Series, str, int, float, type(None))):
            continue
        if isinstance(value, np.ndarray):
            yield f"{path}.{name}", value
        elif isinstance(value, tuple):
            for i, v in enumerate(value):
                if isinstance(v, np.ndarray):
                    yield f"{path}.{name}[{i}]", v
                elif hasattr(v, "__dict__") or hasattr(v, "__dataclass_fields__"):
                    yield from _arrays(v, seen, f"{path}.{name}[{i}]")
        elif (
            (hasattr(value, "__dict__") or hasattr(value, "__dataclass_fields__"))
            and path.count(".") < 3
            and type(value).__module__.startswith("nonrecours")
        ):
            yield from _arrays(value, seen, f"{path}.{name}")


def _assert_all_readonly(obj, minimum: int) -> list[str]:
    found = list(_arrays(obj))
    assert len(found) >= minimum, [p for p, _ in found]  # the walk reaches the arrays
    for path, a in found:
        assert not a.flags.writeable, path
        with pytest.raises(ValueError, match="read-only"):
            a[(0,) * a.ndim if a.size else ...] = a[(0,) * a.ndim] if a.size else 0
    return [p for p, _ in found]


@pytest.fixture(scope="module")
def dstrat() -> SurveyDesign:
    return SurveyDesign(api("apistrat"), weight="pw", strata="stype", fpc="fpc")


def test_design_arrays_are_readonly(dstrat):
    rep = calibrate(make_replicates(dstrat, "jkn"), Margins.from_frame(margins_frame(numeric="api99")), method="raking")
    paths = _assert_all_readonly(rep, minimum=10)
    assert {"obj.weights", "obj.structure.psu", "obj.calibration[0].g", "obj.replicates.weights"} <= set(paths)


def test_issue_example_weights_cannot_be_changed(dstrat):
    before = estimate_rates(dstrat, "sch.wide").estimate.copy()
    with pytest.raises(ValueError):
        dstrat.weights[:] = 1
    np.testing.assert_array_equal(estimate_rates(dstrat, "sch.wide").estimate, before)


def test_constructors_keep_the_callers_arrays_writable_and_unshared():
    X, d, g = np.ones((3, 1)), np.array([1.0, 2.0, 3.0]), np.ones(3)
    c = Calibration(X, d, g)
    d[0] = 99.0  # the caller's array stays writable; the step does not see the change
    assert c.d[0] == 1.0
    W = np.ones((3, 2))
    r = Replicates(W, "JK1", 1.0, np.ones(2), False)
    W[:] = 5.0
    assert r.weights.max() == 1.0


def test_result_arrays_are_readonly(dstrat):
    res = estimate_rates(dstrat, ["sch.wide", "awards"], by="stype")
    _assert_all_readonly(res, minimum=14)
    V = res.vcov()
    if isinstance(V, np.ndarray):
        assert not V.flags.writeable
    assert not res.cov([("E", "sch.wide")], [("H", "sch.wide")]).flags.writeable


def test_weighting_and_territorial_results_are_readonly(dstrat):
    cr = calibrate_weights(
        dstrat.data,
        dstrat.weights,
        Margins.from_frame(margins_frame(numeric="api99")),
        method="logit",
        bounds=(0.7, 1.7),
    )
    _assert_all_readonly(cr, minimum=6)
    sample = clustered_sample()
    nr = adjust_classes(sample, sample["weight"], "responded", ["benefit", "is_qpv"], min_respondents=20)
    _assert_all_readonly(nr, minimum=3)
    rng = np.random.default_rng(0)
    m = 30
    X = np.column_stack([np.ones(m), rng.normal(size=m)])
    D = rng.uniform(0.5, 1.5, m)
    y = X @ [1.0, 0.5] + rng.normal(size=m) * np.sqrt(D + 1)
    fit = fit_fay_herriot(y, D, X)
    _assert_all_readonly(fit, minimum=8)
    _assert_all_readonly(analytic_mse(fit), minimum=2)
    _assert_all_readonly(bootstrap_mse(fit, replicates=20, seed=1), minimum=2)
    alloc = allocate(np.array([100, 200, 300]), 60, method="proportional")
    _assert_all_readonly(alloc, minimum=3)
