"""SurveyDesign: validation messages, FPC conventions, transformations, cached codes."""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import pytest

from nonrecours.design import Calibration, Replicates, SurveyDesign
from nonrecours.errors import DesignError, InputError, OptionError


@pytest.fixture
def df() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "stratum": ["a"] * 4 + ["b"] * 4,
            "psu": ["1", "1", "2", "2", "3", "3", "4", "4"],
            "weight": [2.0] * 8,
            "fpc": [10.0] * 4 + [20.0] * 4,
            "y": [1, 0, 1, 1, 0, 0, 1, np.nan],
        }
    )


def test_codes_and_sizes(df):
    d = SurveyDesign(df, weight="weight", strata="stratum", psu="psu", fpc="fpc")
    st = d.structure
    assert d.n_psu == 4 and d.n_strata == 2
    np.testing.assert_array_equal(st.n_h, [2, 2])
    np.testing.assert_array_equal(st.N_h, [10, 20])
    assert d.degf() == 2
    assert d.structure is st  # computed once


def test_fpc_fraction_equals_population_count(df):
    a = SurveyDesign(df, weight="weight", strata="stratum", psu="psu", fpc="fpc")
    b = SurveyDesign(
        df.assign(fpc=np.where(df["stratum"] == "a", 0.2, 0.1)), weight="weight", strata="stratum", psu="psu", fpc="fpc"
    )
    np.testing.assert_allclose(a.structure.N_h, b.structure.N_h)


def test_weights_derived_from_fpc(df):
    d = SurveyDesign(df, strata="stratum", psu="psu", fpc="fpc")
    np.testing.assert_allclose(d.weights, [5.0] * 4 + [10.0] * 4)
    assert np.all(SurveyDesign(df).weights == 1)


def test_frozen_and_transformations(df):
    d = SurveyDesign(df, weight="weight", strata="stratum", psu="psu")
    with pytest.raises(dataclasses.FrozenInstanceError):
        d.weight = "y"  # type: ignore[misc]
    s = d.subset(df["stratum"] == "a")
    assert s is not d and s.n == d.n
    np.testing.assert_array_equal(s.weights, [2.0] * 4 + [0.0] * 4)
    np.testing.assert_array_equal(d.weights, [2.0] * 8)
    assert s.n_psu == d.n_psu and s.degf() == 1
    w = d.with_weights(np.arange(1.0, 9.0))
    np.testing.assert_array_equal(w.weights, np.arange(1.0, 9.0))
    assert "weight" in d.data and (d.data["weight"] == 2).all()
    cal = d.with_calibration(Calibration(np.ones((8, 1)), d.weights, np.full(8, 1.5)))
    np.testing.assert_allclose(cal.weights, 3.0)
    assert len(cal.calibration) == 1 and d.calibration == ()
    rep = d.with_replicates(Replicates(np.ones((8, 3)), "JK1", 1.0, np.ones(3), False))
    assert rep.replicates is not None and d.replicates is None
    assert rep.subset(df["stratum"] == "b").replicates.weights[:4].sum() == 0


def test_missing_column(df):
    with pytest.raises(InputError, match="'wgt'"):
        SurveyDesign(df, weight="wgt")


@pytest.mark.parametrize("value, count", [(0.0, 1), (-1.0, 1), (np.nan, 1)])
def test_bad_weights(df, value, count):
    bad = df.assign(weight=[value] + [2.0] * 7)
    with pytest.raises(InputError, match=rf"column 'weight'.*{count} rows"):
        SurveyDesign(bad, weight="weight")


def test_missing_strata_and_psu(df):
    with pytest.raises(DesignError, match=r"column 'stratum'.*2 rows"):
        SurveyDesign(df.assign(stratum=[None, None] + ["a"] * 2 + ["b"] * 4), strata="stratum")
    with pytest.raises(DesignError, match=r"column 'psu'.*1 rows"):
        SurveyDesign(df.assign(psu=[None] + list(df["psu"][1:])), psu="psu")


def test_psu_not_nested(df):
    bad = df.assign(psu=["1", "1", "2", "2", "1", "1", "4", "4"])
    with pytest.raises(DesignError, match=r"not nested.*1 PSU ids in several strata \(4 rows\).*unique"):
        SurveyDesign(bad, strata="stratum", psu="psu")


def test_fpc_errors(df):
    with pytest.raises(DesignError, match=r"varies within a stratum.*column 'fpc'|column 'fpc'.*varies.*4 rows"):
        SurveyDesign(df.assign(fpc=[10.0, 11.0, 10.0, 10.0] + [20.0] * 4), strata="stratum", psu="psu", fpc="fpc")
    with pytest.raises(DesignError, match=r"column 'fpc'.*smaller than the number of sampled PSUs.*4 rows"):
        SurveyDesign(df.assign(fpc=[1.5] * 4 + [20.0] * 4), strata="stratum", psu="psu", fpc="fpc")
    with pytest.raises(DesignError, match="mixes"):
        SurveyDesign(df.assign(fpc=[0.5] * 4 + [20.0] * 4), strata="stratum", psu="psu", fpc="fpc")
    with pytest.raises(DesignError, match=r"missing FPC.*1 rows"):
        SurveyDesign(df.assign(fpc=[np.nan] + [10.0] * 3 + [20.0] * 4), strata="stratum", psu="psu", fpc="fpc")


def test_second_stage_checks(df):
    two = df.assign(ssu=["x", "y"] * 4, fpc2=[5.0] * 8)
    d = SurveyDesign(two, strata="stratum", psu="psu", ssu="ssu", fpc="fpc", fpc2="fpc2")
    np.testing.assert_array_equal(d.structure.later[0].n, [2, 2, 2, 2])  # SSUs per PSU
    with pytest.raises(DesignError, match="second-stage FPC varies within a PSU"):
        SurveyDesign(
            two.assign(fpc2=[5.0, 6.0] + [5.0] * 6), strata="stratum", psu="psu", ssu="ssu", fpc="fpc", fpc2="fpc2"
        )
    with pytest.raises(DesignError, match="needs a first-stage unit"):
        SurveyDesign(two, ssu="ssu")


def test_lonely_rule_option(df):
    with pytest.raises(OptionError, match="lonely_psu"):
        SurveyDesign(df, lonely_psu="drop")  # type: ignore[arg-type]
