"""The audit's shortcut (publication/cells.py ``_movable``): a count it shows protected needs no programme.

The shortcut only skips linear programmes whose answer it proves (a feasible point of the attacker's programme
with the count at ``min_cell`` or more): the pattern must be the one every programme solved gives.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import scipy.optimize
from hypothesis import given, settings
from hypothesis import strategies as st
from test_disclosure import _count_tables

from nonrecours.publication import cells as cells_module
from nonrecours.publication import protect_admin_counts

REAL_LINPROG = scipy.optimize.linprog


def _with_margin(cells: pd.DataFrame) -> pd.DataFrame:
    cells = cells.assign(q=cells["territory"].map(lambda t: "q" if int(t[1:]) % 2 else "r"))
    cells["territory"] = cells["territory"] + cells["q"]
    return cells


def _protect(monkeypatch, cells, min_cell, shortcut):
    calls = []

    def linprog(*args, **kwargs):
        calls.append(1)
        return REAL_LINPROG(*args, **kwargs)

    with monkeypatch.context() as mp:
        mp.setattr(scipy.optimize, "linprog", linprog)
        if not shortcut:  # no count shown protected: every small suppressed count gets its programme
            mp.setattr(cells_module, "_movable", lambda c, supp, small, *a: np.zeros((len(small), 3)))
        table, totals, rules = protect_admin_counts(cells, min_cell=min_cell, margins=["q"])
    return table, totals, rules, len(calls)


@settings(max_examples=12, deadline=None)
@given(_count_tables(), st.sampled_from([5, 11]))
def test_shortcut_gives_the_pattern_of_every_programme(cells, min_cell):
    with pytest.MonkeyPatch.context() as monkeypatch:
        cells = _with_margin(cells)
        fast = _protect(monkeypatch, cells, min_cell, shortcut=True)
        full = _protect(monkeypatch, cells, min_cell, shortcut=False)
    pd.testing.assert_frame_equal(fast[0], full[0])
    pd.testing.assert_frame_equal(fast[1], full[1])
    pd.testing.assert_series_equal(pd.Series(fast[2]), pd.Series(full[2]))
    assert fast[3] <= full[3]


def test_shortcut_bound_is_below_the_programmes_maximum(monkeypatch):
    """Every bound the shortcut gives is at most the attacker's maximum of the count (HiGHS's optimum)."""
    rng = np.random.default_rng(3)
    n = 24
    cells = pd.DataFrame(
        {
            "territory": [f"T{i}" for i in range(n)],
            "departement": rng.choice(["01", "02", "03"], n),
            "right": "tpn",
            "n_eligible": rng.integers(2, 40, n),
        }
    )
    cells["n_takers"] = (cells["n_eligible"] * rng.uniform(0.2, 0.8, n)).astype(int)
    cells = _with_margin(cells)
    bounds, maxima = [], []
    real_movable = cells_module._movable

    def movable(c, supp, small, *a):
        b = real_movable(c, supp, small, *a)
        bounds.append((c, supp, small, b, len(maxima)))
        return np.zeros_like(b)  # every programme solved, its maximum recorded

    def linprog(obj, *args, **kwargs):
        sol = REAL_LINPROG(obj, *args, **kwargs)
        maxima.append(np.inf if sol.status == 3 else -sol.fun)
        return sol

    monkeypatch.setattr(cells_module, "_movable", movable)
    monkeypatch.setattr(scipy.optimize, "linprog", linprog)
    protect_admin_counts(cells, min_cell=11, margins=["q"])
    assert bounds and maxima
    # each audit's programmes run in the order of its small counts (cell, then count) until the first leak
    ends = [start for *_, start in bounds[1:]] + [len(maxima)]
    checked = 0
    for (c, _, small, b, start), end in zip(bounds, ends):
        expected = [b[k, j] for k, i in enumerate(small) for j in np.flatnonzero(c.counts[i] < 11)]
        for bound, maximum in zip(expected, maxima[start:end]):
            assert bound <= maximum + 1e-6
            checked += bound > 0
    assert checked > 0
