"""The heuristic suppression's audit fails closed: a linear programme that does not end is not protection.

``leaky_rights`` (publication/cells.py) audits a pattern with margins by scipy's ``linprog``; the tests replace
``linprog`` by one that returns HiGHS's failure statuses for some attacks and check that the publication still
resists the independent attacker (tests/attacker.py, with the real solver) and that the repair loop ends.
"""

from __future__ import annotations

import warnings

import attacker  # noqa: F401 - imported before linprog is replaced: the attacker keeps the real solver
import numpy as np
import pandas as pd
import pytest
import scipy.optimize
from scipy.optimize import OptimizeResult
from test_disclosure import _admin_blocks

from nonrecours.errors import ConvergenceWarning
from nonrecours.publication import protect_admin_counts

REAL_LINPROG = scipy.optimize.linprog


def _cells():
    """A right (tpn) whose pattern, completed within its départements and margins, the real audit finds leaky
    (the margins cross the départements), and a right (big) without a small count (no attack)."""
    tpn = pd.DataFrame(
        {
            "territory": ["T0r", "T1q", "T2r", "T3r", "T4r", "T5q"],
            "departement": ["03", "02", "03", "02", "03", "02"],
            "right": "tpn",
            "n_eligible": [30, 5, 12, 8, 5, 40],
            "n_takers": [15, 2, 6, 4, 2, 20],
        }
    )
    big = tpn.assign(right="big", n_eligible=[30, 40, 50, 60, 70, 80], n_takers=[15, 20, 25, 30, 35, 40])
    cells = pd.concat([tpn, big], ignore_index=True)
    cells["q"] = cells["territory"].str[-1]
    return cells


def _failing(status, fails):
    """A linprog that returns ``status`` for the calls ``fails(k)`` selects (k = 0, 1, ...), the real result
    otherwise; it refuses to be called without end (the repair loop must end)."""
    calls = []

    def linprog(*args, **kwargs):
        k = len(calls)
        calls.append(k)
        if k > 1000:
            raise RuntimeError("the repair loop does not end")
        if fails(k):
            return OptimizeResult(status=status, fun=np.nan, x=None, success=False, message="made to fail")
        return REAL_LINPROG(*args, **kwargs)

    return linprog, calls


def _protect(monkeypatch, status, fails):
    linprog, calls = _failing(status, fails)
    with monkeypatch.context() as mp, warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        mp.setattr(scipy.optimize, "linprog", linprog)
        table, totals, _ = protect_admin_counts(_cells(), min_cell=11, margins=["q"])
    return table, totals, calls, [w for w in caught if issubclass(w.category, ConvergenceWarning)]


def _published(df, right):
    return df[(df["right"] == right) & (df["status"] == "published")]


@pytest.mark.parametrize("status", [1, 2, 4])
def test_every_attack_failing_withholds_the_right_and_ends(monkeypatch, status):
    """Every programme fails: the audit never shows the pattern safe, the loop suppresses the margins, then the
    national total, then the whole right (with a warning), and ends; the attacker recovers nothing."""
    table, totals, calls, warned = _protect(monkeypatch, status, lambda k: True)
    assert 0 < len(calls) < 20
    assert _admin_blocks(table, totals, "q").attack(11) == []
    assert _published(table, "tpn").empty and _published(totals, "tpn").empty
    assert len(warned) == 1 and "min_cell" in str(warned[0].message)
    # the right without a small count is not audited, and keeps what the real run publishes
    ref_table, ref_totals, _ = protect_admin_counts(_cells(), min_cell=11, margins=["q"])
    pd.testing.assert_frame_equal(_published(table, "big"), _published(ref_table, "big"))
    pd.testing.assert_frame_equal(_published(totals, "big"), _published(ref_totals, "big"))


# in the real run the sixth programme (k == 5) is the first to bound a count under min_cell
@pytest.mark.parametrize("fails", [lambda k: k == 5, lambda k: k % 2 == 0, lambda k: k % 2 == 1])
def test_some_attacks_failing_still_protect(monkeypatch, fails):
    """Some programmes fail (numerical difficulties, status 4): the publication still resists the attacker, the
    loop ends, and nothing published is small."""
    table, totals, calls, _ = _protect(monkeypatch, 4, fails)
    assert 0 < len(calls) < 20
    assert _admin_blocks(table, totals, "q").attack(11) == []
    pub = totals[totals["status"] == "published"]
    assert (pub[["n_eligible", "n_takers", "n_non_takers"]].astype(int) >= 11).all().all()


def test_unbounded_is_protection(monkeypatch):
    """Status 3 (unbounded) says the attacker cannot bound the count: no repair follows, so the QPV total that the
    real audit suppresses stays published (and the real attacker then finds the pair: the audit is what repairs
    it)."""
    table, totals, calls, warned = _protect(monkeypatch, 3, lambda k: True)
    assert calls and not warned
    assert not _published(totals, "tpn").query("level == 'q'").empty
    assert _admin_blocks(table, totals, "q").attack(11) != []
    ref_table, ref_totals, _ = protect_admin_counts(_cells(), min_cell=11, margins=["q"])
    assert _published(ref_totals, "tpn").query("level == 'q'").empty
    assert _admin_blocks(ref_table, ref_totals, "q").attack(11) == []
