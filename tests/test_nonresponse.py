"""Non-response adjustment: weighting classes with collapsing, propensity classes, bad input."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from _weighting_data import clustered_sample

from nonrecours.errors import InputError, OptionError
from nonrecours.weights import adjust_classes, adjust_propensity


@pytest.fixture(scope="module")
def sample() -> pd.DataFrame:
    return clustered_sample()


def test_classes_keep_class_totals_and_rows(sample):
    res = adjust_classes(sample, sample["weight"], "responded", ["benefit", "is_qpv"], min_respondents=20)
    d = sample["weight"].to_numpy()
    resp = sample["responded"].to_numpy() == 1
    assert res.weights.shape == (len(sample),)  # nothing dropped
    assert np.all(res.weights[~resp] == 0) and np.all(res.weights[resp] > 0)
    assert set(res.status) == {"respondent", "nonrespondent"}
    assert (res.status == "nonrespondent").sum() == (~resp).sum()
    tot = pd.Series(d).groupby(res.group).sum()
    adj = pd.Series(res.weights).groupby(res.group).sum()
    np.testing.assert_allclose(adj, tot, rtol=1e-12)
    rep = res.report
    assert list(rep.columns[:2]) == ["benefit", "is_qpv"] and rep["n"].sum() == len(sample)
    assert rep.groupby("group")["respondents"].sum().min() >= 20


def test_collapsing_nearest_class_in_stated_order():
    # classes sorted A/0, A/1, B/0, B/1: B/0 has 2 respondents -> merges with B/1 (same first key), not A/1
    df = pd.DataFrame(
        {
            "x": ["A"] * 40 + ["B"] * 34,
            "q": [0] * 20 + [1] * 20 + [0] * 4 + [1] * 30,
            "r": [1] * 40 + [1, 1, 0, 0] + [1] * 30,
        }
    )
    res = adjust_classes(df, np.ones(len(df)), "r", ["x", "q"], min_respondents=10)
    rep = res.report.set_index(["x", "q"])
    assert rep.loc[("B", "0"), "group"] == rep.loc[("B", "1"), "group"]
    assert rep.loc[("A", "1"), "group"] != rep.loc[("B", "0"), "group"]
    assert bool(rep.loc[("B", "0"), "collapsed"]) and not bool(rep.loc[("A", "0"), "collapsed"])
    np.testing.assert_allclose(rep.loc[("B", "1"), "factor"], 34 / 32)


def test_propensity_classes(sample):
    res = adjust_propensity(sample, sample["weight"], "responded", ["benefit", "is_qpv", "age"], n_classes=5)
    assert res.method == "propensity" and res.propensity is not None
    assert res.report["propensity_class"].tolist() == [0, 1, 2, 3, 4]
    assert np.all(np.diff(res.report["propensity_min"]) > 0)
    np.testing.assert_allclose(res.weights.sum(), sample["weight"].sum(), rtol=1e-12)
    assert np.all(res.weights[sample["responded"].to_numpy() == 0] == 0)
    out = res.to_frame(sample)
    assert {"status", "nr_class", "nr_weight", "propensity"} <= set(out.columns) and len(out) == len(sample)


def test_bad_input(sample):
    bad = sample.assign(responded=sample["responded"].astype(str).replace({"1": "yes!"}))
    with pytest.raises(InputError, match="1 \\(responded\\) or 0"):
        adjust_classes(bad, sample["weight"], "responded", ["benefit"])
    with pytest.raises(InputError, match="missing values"):
        adjust_classes(
            sample.assign(benefit=sample["benefit"].where(sample.index > 3)), sample["weight"], "responded", ["benefit"]
        )
    with pytest.raises(InputError, match="class column not found"):
        adjust_classes(sample, sample["weight"], "responded", ["nope"])
    with pytest.raises(OptionError, match="min_respondents"):
        adjust_classes(sample, sample["weight"], "responded", ["benefit"], min_respondents=0)
    with pytest.raises(InputError, match="no respondent"):
        adjust_classes(sample.assign(responded=0), sample["weight"], "responded", ["benefit"])
    with pytest.raises(InputError, match="weights must be finite and positive"):
        adjust_classes(sample, -sample["weight"], "responded", ["benefit"])
