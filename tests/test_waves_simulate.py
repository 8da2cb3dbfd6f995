"""Waves of the synthetic population (nonrecours.simulate.waves) and ``simulate --years``."""

import numpy as np
import pytest

from nonrecours.errors import OptionError
from nonrecours.simulate.waves import WaveParams, parse_years, simulate_waves


@pytest.fixture(scope="module")
def waves():
    return simulate_waves(40, (2014, 2015, 2016), seed=11)


def test_same_seed_same_waves(waves):
    again = simulate_waves(40, (2014, 2015, 2016), seed=11)
    for a, b in zip(waves.populations, again.populations):
        assert a.recipients.equals(b.recipients)
        assert a.truth.equals(b.truth)
    assert waves.policy == again.policy


def test_entries_exits_moves(waves):
    r0, r1 = waves.populations[0].recipients, waves.populations[1].recipients
    ids0, ids1 = set(r0["id"]), set(r1["id"])
    exits, entries = len(ids0 - ids1) / len(ids0), len(ids1 - ids0) / len(ids0)
    assert abs(exits - 0.10) < 0.01 and abs(entries - 0.10) < 0.01
    both = r0.merge(r1, on="id", suffixes=("_0", "_1"))
    moved = (both["territory_0"].astype(str) != both["territory_1"].astype(str)).mean()
    assert 0.015 < moved < 0.035  # 3 % move, some to their own territory
    assert (both["departement_0"].astype(str) == both["departement_1"].astype(str)).all()
    # eligibility is kept, take-up persists: agreement far above independence
    e = both["cmuc_0"].notna()
    assert (both.loc[e, "cmuc_1"].notna()).all()
    agree = (both.loc[e, "cmuc_0"] == both.loc[e, "cmuc_1"]).mean()
    assert agree > 0.75


def test_truth_is_the_recipients_counts(waves):
    p = waves.populations[2]
    t = p.truth.groupby("right")["n_takers"].sum()
    assert int(t["acs"]) == int(np.nansum(p.recipients["acs"]))


def test_policy_effect_and_trend():
    p = WaveParams(policy_share=0.5, policy_effect=1.5, trend=(0.0, 0.0, 0.0, 0.0), qpv_trend=0.0, persistence=0.0)
    w = simulate_waves(60, (2014, 2015), seed=2, waves=p)
    t0, t1 = w.populations[0].truth, w.populations[1].truth
    pol = t0["territory"].isin(w.policy)
    d = t1["n_takers"].sum() - t0["n_takers"].sum()
    rate = lambda t, m: t.loc[m, "n_takers"].sum() / t.loc[m, "n_eligible"].sum()  # noqa: E731
    assert rate(t1, pol) - rate(t0, pol) > 0.15  # +1.5 on the logit scale
    assert abs(rate(t1, ~pol) - rate(t0, ~pol)) < 0.03
    assert d > 0


def test_parse_years():
    assert parse_years("2014-2016") == (2014, 2015, 2016)
    assert parse_years("2014,2016") == (2014, 2016)
    with pytest.raises(OptionError, match="parameter years"):
        parse_years("2016-2014")


def test_cli_years_identical_files(tmp_path):
    from typer.testing import CliRunner

    from nonrecours.cli.main import app

    cmd = ["simulate", "--territories", "8", "--seed", "4", "--years", "2014-2015"]
    for d in ("a", "b"):
        r = CliRunner().invoke(app, cmd + ["--out", str(tmp_path / d)])
        assert r.exit_code == 0, r.output
    for y in ("2014", "2015"):
        for f in ("recipients.csv", "truth.csv", "territories.csv"):
            assert (tmp_path / "a" / y / f).read_bytes() == (tmp_path / "b" / y / f).read_bytes()
    assert (tmp_path / "a" / "waves.json").exists()
    r = CliRunner().invoke(app, cmd + ["--out", str(tmp_path / "a")])
    assert r.exit_code == 2 and "--overwrite" in r.output
