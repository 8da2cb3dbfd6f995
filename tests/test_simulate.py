"""The synthetic population matches its parameters; it is reproducible; the CLI writes it.

Tolerances. Every check is seeded, so it is deterministic; the tolerances
say how far a *correct* simulator may be from its parameters for a typical
seed, in multiples of the sampling standard error (SE):

- benefit shares and take-up rates: intercepts are solved on the drawn
  population, so only multinomial/Bernoulli noise remains (SE about 0.001
  with 10^5–10^6 recipients); tolerance 0.005–0.015 (5 SE or more);
- QPV population (1,500 QPVs, lognormal sigma about 1.03): SE of the median
  about 60, of the mean about 100 (heavy tail); tolerances 250 and 450;
- densities are ratios dominated by large territories: tolerance 10 % relative;
- total recipients at 1,500 QPVs: the non-QPV sizes are a product of two
  lognormals (coefficient of variation about 2.5 per territory, SE of the total
  about 7 %); tolerance 20 % around :func:`expected_recipients`.
"""

from __future__ import annotations

import re
from dataclasses import replace

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from nonrecours.errors import OptionError, OutputError
from nonrecours.io import read_table
from nonrecours.simulate import (
    BENEFITS,
    RIGHTS,
    CompositionParams,
    SimulationParams,
    expected_recipients,
    simulate_population,
)
from nonrecours.simulate.params import DEPARTEMENT_WEIGHTS

RECIPIENT_COLUMNS = [
    "id",
    "territory",
    "departement",
    "is_qpv",
    "benefit",
    "age_band",
    "household",
    "housing",
    "cmuc",
    "acs",
    "tpn",
    "tss",
]
VALID_DEPS = {d for d, _ in DEPARTEMENT_WEIGHTS}


@pytest.fixture(scope="module")
def pop():
    return simulate_population(300, seed=11)


@pytest.fixture(scope="module")
def pop1500():
    return simulate_population(1500, seed=1)


def test_columns_and_types(pop):
    r = pop.recipients
    assert list(r.columns) == RECIPIENT_COLUMNS
    assert r["id"].is_unique and r["id"].str.fullmatch(r"R\d{7}").all()
    assert r["id"].iloc[0] == "R0000001"
    assert set(np.unique(r["is_qpv"])) == {0, 1} and np.issubdtype(r["is_qpv"].dtype, np.integer)
    for right in RIGHTS:
        assert r[right].dtype == np.float64
    assert list(pop.truth.columns) == ["territory", "right", "n_eligible", "n_takers", "rate"]
    t = pop.territories
    for c in (
        "territory",
        "departement",
        "is_qpv",
        "urban_area",
        "population",
        "n_recipients",
        "poverty_rate",
        "social_housing_share",
        "gp_density",
        "rsa_share",
        "unemployment_rate",
        "median_income",
    ):
        assert c in t.columns
    assert len(t) == 600 and len(pop.truth) == 600 * 4


@pytest.mark.slow
def test_benefit_shares(pop, pop1500):
    for p in (pop, pop1500):
        shares = p.recipients["benefit"].value_counts(normalize=True)
        for b, target in zip(BENEFITS, (0.45, 0.30, 0.16, 0.09)):
            assert shares[b] == pytest.approx(target, abs=0.005), b


@pytest.mark.slow
def test_qpv_sizes_and_total(pop1500):
    t = pop1500.territories
    q = t.loc[t["is_qpv"] == 1, "population"]
    assert q.min() >= 1000
    assert q.median() == pytest.approx(2700, abs=250)
    assert q.mean() == pytest.approx(3900, abs=450)
    assert q.max() > 5 * q.median()  # long tail
    h = t.loc[t["is_qpv"] == 0, "population"]
    assert h.median() > 4 * q.median()  # the rest of an urban area is large
    n = len(pop1500.recipients)
    assert 2.5e6 <= n <= 4e6
    assert n == pytest.approx(expected_recipients(1500), rel=0.2)
    assert t["n_recipients"].sum() == n


@pytest.mark.slow
def test_recipient_density(pop1500):
    t = pop1500.territories
    dens = t.groupby("is_qpv")["n_recipients"].sum() / t.groupby("is_qpv")["population"].sum()
    assert dens[1] == pytest.approx(0.08, rel=0.1)
    assert dens[0] == pytest.approx(0.04, rel=0.1)
    assert 1.6 <= dens[1] / dens[0] <= 2.4


@pytest.mark.slow
def test_takeup_near_targets(pop1500):
    r = pop1500.recipients
    assert r.loc[r["benefit"] == "RSA", "cmuc"].mean() == pytest.approx(0.65, abs=0.01)
    s = pop1500.summary().set_index("right")["rate"]
    assert s["acs"] == pytest.approx(0.38, abs=0.01) and 0.30 <= s["acs"] <= 0.45
    assert s["tpn"] == pytest.approx(0.60, abs=0.01)
    assert s["tss"] == pytest.approx(0.50, abs=0.015)
    # the territory random effect (logit SD 0.4) spreads the true rates
    truth = pop1500.truth
    big = truth[(truth["right"] == "cmuc") & (truth["n_eligible"] >= 500)]
    assert 0.05 < big["rate"].std() < 0.2


def test_territory_codes_and_pairs(pop):
    t = pop.territories
    m = t["territory"].str.extract(r"^(QP|HQ)(\d{3}|02A|02B)(\d{3})$")
    assert m.notna().all().all()
    assert ((m[0] == "QP") == (t["is_qpv"] == 1)).all()
    assert (m[1] == t["departement"].str.zfill(3)).all()
    assert set(t["departement"]) <= VALID_DEPS and t["departement"].str.len().between(2, 3).all()
    assert t["territory"].is_unique
    qp, hq = t.iloc[0::2].reset_index(drop=True), t.iloc[1::2].reset_index(drop=True)
    assert (qp["is_qpv"] == 1).all() and (hq["is_qpv"] == 0).all()
    assert (qp["territory"].str[2:] == hq["territory"].str[2:]).all()
    assert (qp["urban_area"] == hq["urban_area"]).all() and qp["urban_area"].is_unique
    assert (qp["departement"] == hq["departement"]).all()
    # skew: the départements with most QPVs in reality come first
    top = t.loc[t["is_qpv"] == 1, "departement"].value_counts().index[:8]
    assert len(set(top) & {"59", "93", "13", "62", "76", "94", "95", "91", "69", "974"}) >= 4


def test_recipients_match_territories(pop):
    r, t = pop.recipients, pop.territories
    counts = r["territory"].value_counts().reindex(t["territory"], fill_value=0).to_numpy()
    np.testing.assert_array_equal(counts, t["n_recipients"].to_numpy())
    dep = dict(zip(t["territory"], t["departement"]))
    first = r.drop_duplicates("territory")
    assert (first["departement"].astype(str) == first["territory"].astype(str).map(dep)).all()
    rsa = (r["benefit"] == "RSA").groupby(r["territory"], observed=True).mean()
    np.testing.assert_allclose(t.set_index("territory")["rsa_share"].reindex(rsa.index), rsa, atol=5e-5)


def test_truth_matches_recipients(pop):
    r = pop.recipients
    truth = pop.truth.set_index(["territory", "right"])
    for right in RIGHTS:
        g = r.groupby("territory", observed=True)[right]
        got = truth.xs(right, level="right").reindex(g.count().index)
        np.testing.assert_array_equal(got["n_eligible"], g.count())
        np.testing.assert_array_equal(got["n_takers"], g.sum().astype(int))
        np.testing.assert_allclose(got["rate"], g.mean())


def test_eligibility_coding(pop):
    r = pop.recipients
    for right in RIGHTS:
        assert set(np.unique(r[right].dropna())) <= {0.0, 1.0}
    rsa = r["benefit"] == "RSA"
    assert r.loc[rsa, "cmuc"].notna().all() and r.loc[rsa, "acs"].isna().all()
    assert not (r["cmuc"].notna() & r["acs"].notna()).any()  # CMU-C and ACS are exclusive
    health = r["cmuc"].notna() | r["acs"].notna()
    assert not (r["tpn"].notna() & ~health).any() and not (r["tss"].notna() & ~health).any()
    assert r["tss"].notna().sum() < 0.6 * r["tpn"].notna().sum()  # gas contracts are less common
    for b in ("AAH", "ASPA"):  # incomes just above the CMU-C ceiling: mostly ACS
        assert r.loc[r["benefit"] == b, "acs"].notna().mean() > 0.6
    ass = r.loc[r["benefit"] == "ASS"]
    assert 0.3 < ass["cmuc"].notna().mean() < 0.6 and 0.2 < ass["acs"].notna().mean() < 0.5
    assert set(r.loc[r["benefit"] == "ASPA", "age_band"].astype(str)) <= {"65-74", "75+"}


def test_covariates_carry_signal(pop):
    """The true rates depend on the covariates enough for a Fay–Herriot model."""
    t = pop.territories.set_index("territory")
    truth = pop.truth[pop.truth["right"] == "cmuc"].set_index("territory").reindex(t.index)
    assert np.corrcoef(t["service_density"], truth["rate"])[0, 1] > 0.4
    assert np.corrcoef(t["poverty_rate"], truth["rate"])[0, 1] > 0.15
    cols = [
        "poverty_rate",
        "unemployment_rate",
        "social_housing_share",
        "median_income",
        "gp_density",
        "service_density",
        "rsa_share",
        "is_qpv",
    ]
    x = np.column_stack([np.ones(len(t)), t[cols].to_numpy(float)])
    y = np.log(truth["rate"] / (1 - truth["rate"])).to_numpy()
    res = y - x @ np.linalg.lstsq(x, y, rcond=None)[0]
    assert 0.3 < 1 - res.var() / y.var() < 0.9  # signal, but not a deterministic function


def test_same_seed_same_frames_different_seed_differs():
    a, b = simulate_population(40, seed=5), simulate_population(40, seed=5)
    for name in ("recipients", "territories", "truth"):
        # DataFrame.equals compares values and dtypes (assert_frame_equal is slow on categoricals)
        assert getattr(a, name).equals(getattr(b, name)), name
    pd.testing.assert_frame_equal(a.truth, b.truth)
    c = simulate_population(40, seed=6)
    assert not a.territories["population"].equals(c.territories["population"])
    assert not a.truth["rate"].equals(c.truth["rate"])
    g = simulate_population(40, seed=np.random.default_rng(5))
    assert a.recipients.equals(g.recipients)
    assert a.seed == 5 and g.seed is None


def test_same_seed_identical_files(tmp_path):
    for d in ("a", "b"):
        simulate_population(30, seed=3).write(tmp_path / d)
    for name in ("recipients", "territories", "truth"):
        assert (tmp_path / "a" / f"{name}.csv").read_bytes() == (tmp_path / "b" / f"{name}.csv").read_bytes()


def test_written_files_read_back(tmp_path):
    p = simulate_population(30, seed=4)
    p.write(tmp_path)
    r = read_table(tmp_path / "recipients.csv")
    assert list(r.columns) == RECIPIENT_COLUMNS
    assert r["departement"].str.len().between(2, 3).all()
    for right in RIGHTS:
        np.testing.assert_array_equal(r[right].to_numpy(float), p.recipients[right].to_numpy())
    text = (tmp_path / "recipients.csv").read_text().splitlines()[1]
    assert not re.search(r"\d\.0\b", text)  # rights written 1/0/empty, not 1.0
    truth = read_table(tmp_path / "truth.csv")
    np.testing.assert_allclose(truth["rate"], p.truth["rate"])
    with pytest.raises(OutputError, match="already exist"):
        p.write(tmp_path)


def test_parquet_roundtrip(tmp_path):
    import pyarrow  # noqa: F401  (in the test extra: a missing one fails, never skips)

    p = simulate_population(20, seed=2)
    p.write(tmp_path, "parquet")
    r = read_table(tmp_path / "recipients.parquet")
    np.testing.assert_array_equal(r["id"].astype(str), p.recipients["id"].astype(str))
    np.testing.assert_array_equal(r["tss"].to_numpy(float), p.recipients["tss"].to_numpy())


def test_parameters_validated_and_changeable():
    with pytest.raises(OptionError, match="seed"):
        simulate_population(10, seed=None)
    with pytest.raises(OptionError, match="territories"):
        simulate_population(0, seed=1)
    with pytest.raises(OptionError, match="benefit_shares"):
        CompositionParams(benefit_shares=(0.5, 0.5, 0.1, 0.0))
    base = SimulationParams()
    big = replace(base, territory=replace(base.territory, outside_scale=2.0))
    assert expected_recipients(100, big) > 1.7 * expected_recipients(100, base)
    shares = (0.25, 0.25, 0.25, 0.25)
    p = simulate_population(
        50, seed=1, params=replace(base, composition=replace(base.composition, benefit_shares=shares))
    )
    assert p.recipients["benefit"].value_counts(normalize=True).to_numpy() == pytest.approx(shares, abs=0.01)


def _app():
    # imported here so that the library tests above do not depend on every command group importing
    from nonrecours.cli.main import app

    return app


def test_cli_writes_files(tmp_path):
    app = _app()
    out = tmp_path / "pop"
    res = CliRunner().invoke(app, ["simulate", "--territories", "20", "--seed", "7", "--out", str(out)])
    assert res.exit_code == 0, res.output
    assert sorted(f.name for f in out.iterdir()) == ["recipients.csv", "territories.csv", "truth.csv"]
    assert "cmuc" in res.output and "recipients" in res.output
    expected = simulate_population(20, seed=7).recipients
    assert len(read_table(out / "recipients.csv")) == len(expected)


def test_cli_refuses_existing_files_unless_overwrite(tmp_path):
    app = _app()
    runner = CliRunner()
    args = ["simulate", "--territories", "5", "--seed", "1", "--out", str(tmp_path)]
    assert runner.invoke(app, args).exit_code == 0
    before = (tmp_path / "truth.csv").read_bytes()
    res = runner.invoke(app, args[:4] + ["2"] + args[5:])
    assert res.exit_code == 2 and "already exist" in res.output and "Traceback" not in res.output
    assert (tmp_path / "truth.csv").read_bytes() == before
    res = runner.invoke(app, args[:4] + ["2"] + args[5:] + ["--overwrite"])
    assert res.exit_code == 0 and (tmp_path / "truth.csv").read_bytes() != before


@pytest.mark.parametrize("bad", [["--territories", "0"], ["--format", "xlsx"], ["--seed", "-1"]])
def test_cli_bad_options_exit_2_nothing_written(tmp_path, bad):
    out = tmp_path / "pop"
    args = {"--territories": "5", "--seed": "1", "--format": "csv"}
    args[bad[0]] = bad[1]
    res = CliRunner().invoke(_app(), ["simulate", "--out", str(out)] + [x for kv in args.items() for x in kv])
    assert res.exit_code == 2
    lines = [ln for ln in res.output.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("error:") and bad[0] in lines[0]
    assert not out.exists()


def test_more_than_999_qpvs_in_a_departement_get_wider_serials():
    """National-scale simulations (50 M recipients need about 26,000 QPVs) are not capped at 999 per département."""
    from nonrecours.simulate.params import CovariateParams, TerritoryParams
    from nonrecours.simulate.territories import draw_territories

    small = draw_territories(
        40, np.random.default_rng(1), TerritoryParams(departement_weights=(("59", 1.0),)), CovariateParams()
    )
    assert small.code[0] == "QP059001"  # the usual 3-digit serials below 1,000
    big = draw_territories(
        1200, np.random.default_rng(1), TerritoryParams(departement_weights=(("59", 1.0),)), CovariateParams()
    )
    assert len(set(big.code)) == 2400 and {len(c) for c in big.code} == {9}
    assert big.code[-2:].tolist() == ["QP0591200", "HQ0591200"]


def test_population_csv_by_pyarrow_is_pandas_text(tmp_path):
    from nonrecours.io import write_table
    from nonrecours.simulate.params import RIGHTS
    from nonrecours.simulate.sources import _same_csv_text

    pop = simulate_population(3, seed=2)
    paths = pop.write(tmp_path / "pop")
    r = pop.recipients.assign(**{k: pop.recipients[k].astype("Int8") for k in RIGHTS})
    assert _same_csv_text(r) and not _same_csv_text(pop.truth)  # floats: pandas' writer
    assert not _same_csv_text(pd.DataFrame({"b": [True, False]}))
    write_table(r, tmp_path / "pandas.csv")
    assert paths["recipients"].read_bytes() == (tmp_path / "pandas.csv").read_bytes()
