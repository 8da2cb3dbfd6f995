"""Territory effects of the simulated follow-up: persistent over years, shared by the rights, spatially smooth."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pandas as pd
import pytest

from nonrecours.errors import OptionError
from nonrecours.simulate import simulate_population
from nonrecours.simulate.effects import territory_neighbours
from nonrecours.simulate.params import TerritoryEffectParams
from nonrecours.simulate.waves import WaveParams, simulate_waves

YEARS = (2014, 2015, 2016, 2017)


@pytest.fixture(scope="module")
def waves():
    return simulate_waves(60, YEARS, seed=4)


def _effects(w, year: int) -> pd.DataFrame:
    e = w.effects
    return e[e["year"] == year].pivot(index="territory", columns="right", values="effect")


def test_first_year_is_the_single_year_population(waves):
    first = simulate_population(60, seed=4)
    pd.testing.assert_frame_equal(waves.populations[0].truth, first.truth)
    assert (_effects(waves, 2014).to_numpy() == 0).all()


def test_neighbours_symmetric_and_pairs_each_qpv_with_its_urban_area(waves):
    nb = waves.neighbours
    pairs = set(zip(nb["territory_a"], nb["territory_b"]))
    assert pairs == {(b, a) for a, b in pairs} and all(a != b for a, b in pairs)
    codes = waves.populations[0].territories["territory"].astype(str)
    for q in codes[codes.str.startswith("QP")]:
        assert (q, q.replace("QP", "HQ", 1)) in pairs
    deg = nb.groupby("territory_a").size()
    assert deg.min() >= 1 and deg.median() >= 4  # a lone overseas urban area: its own pair only
    assert set(nb["territory_a"]) == set(codes)


def test_effects_persistent_correlated_across_rights_and_spatially_smooth(waves):
    e1, e3 = _effects(waves, 2015), _effects(waves, 2017)
    # persistence: AR(1) with phi = 0.8, so year 1 and year 3 correlate
    assert np.corrcoef(e1.to_numpy().ravel(), e3.to_numpy().ravel())[0, 1] > 0.4
    # shared factor: right_share = 0.7 -> correlations between rights well above 0
    c = np.corrcoef(e3.to_numpy().T)
    assert c[np.triu_indices(4, 1)].min() > 0.3
    # spatial smoothness: Moran's I over the neighbours, against the same statistic on shuffled territories
    nb = waves.neighbours
    x = e3["cmuc"] - e3["cmuc"].mean()

    def moran(v: pd.Series) -> float:
        return float((v[nb["territory_a"]].to_numpy() * v[nb["territory_b"]].to_numpy()).mean() / (v**2).mean())

    shuffled = [moran(pd.Series(np.random.default_rng(k).permutation(x.to_numpy()), index=x.index)) for k in range(50)]
    assert moran(x) > np.quantile(shuffled, 0.98)
    # the component's size: SD of the innovation 0.2, about 0.2-0.35 after a few years
    assert 0.15 < float(e3.to_numpy().std()) < 0.45


def test_effects_move_the_true_rates_and_none_without_innovation():
    w0 = simulate_waves(20, (2014, 2015), seed=2, waves=WaveParams(effects=TerritoryEffectParams(innovation_sd=0.0)))
    w1 = simulate_waves(20, (2014, 2015), seed=2)
    assert (w0.effects["effect"] == 0).all()
    r0 = w0.populations[1].truth["rate"].to_numpy()
    r1 = w1.populations[1].truth["rate"].to_numpy()
    eff = _effects(w1, 2015).stack()
    # the same draws otherwise: the difference of the rates goes with the effect of the territory x right
    t = w1.populations[1].truth
    key = pd.MultiIndex.from_arrays([t["territory"], t["right"]])
    ok = np.isfinite(r0) & np.isfinite(r1)
    assert np.corrcoef((r1 - r0)[ok], eff.reindex(key).to_numpy()[ok])[0, 1] > 0.5


def test_waves_write_neighbours(tmp_path, waves):
    waves.write(tmp_path / "w")
    nb = pd.read_csv(tmp_path / "w" / "neighbours.csv")
    assert list(nb.columns) == ["territory_a", "territory_b"] and len(nb) == len(waves.neighbours)


def test_effect_parameters_checked():
    with pytest.raises(OptionError, match="spatial_rho"):
        TerritoryEffectParams(spatial_rho=1.0)
    with pytest.raises(OptionError, match="k_neighbours"):
        TerritoryEffectParams(k_neighbours=0)
    p = replace(TerritoryEffectParams(), ar=1.0)  # a random walk is allowed
    assert p.ar == 1.0


def test_neighbours_of_a_few_territories():
    t = simulate_population(3, seed=1).territories
    nb = territory_neighbours(t, k=10)  # more neighbours asked than urban areas: all of them
    assert len(nb) == len(nb.drop_duplicates())
