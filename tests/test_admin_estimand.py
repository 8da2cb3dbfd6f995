"""Issue 30: what the administrative intervals estimate, from the simulator's truth, and their coverage of it."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from nonrecours.admin.eligibility import assess_eligibility, load_rulebook
from nonrecours.errors import OptionError
from nonrecours.simulate import simulate_population
from nonrecours.simulate.params import FileResourceParams
from nonrecours.simulate.sources import ORGANISMS, SourceParams, file_rates, simulate_sources
from nonrecours.validation.admin import admin_coverage, admin_coverages

RIGHTS = ["cmuc", "acs", "tpn", "tss"]


@pytest.fixture(scope="module")
def sources():
    pop = simulate_population(3, seed=30)
    params = SourceParams(file_resources=FileResourceParams(), resources_missing_rate=0.05)
    return pop, simulate_sources(pop, seed=31, params=params)


def test_the_estimand_is_the_files_verdict_with_the_missing_resources_recorded(sources):
    _pop, src = sources
    left = pd.concat([src.tables[o] for o in ORGANISMS], ignore_index=True)
    elig = assess_eligibility(left, load_rulebook().entry(2015)).astype({"rec_id": str}).set_index("rec_id")
    te = src.tables["truth_eligibility"].astype({"rec_id": str}).set_index("rec_id").reindex(elig.index)
    for r in RIGHTS:
        status, rule, file = elig[r].to_numpy(), elig[f"{r}_rule"].to_numpy(), te[f"file_{r}"].to_numpy()
        # where the files decide, the estimand's verdict is theirs
        assert (file[status == "eligible"] == 1).all() and (file[status == "not_eligible"] == 0).all(), r
        # the recipients whose resources are missing get a verdict (the tariffs': or undetermined for the fiscal
        # income, once their resources are known); the fiscal income's undetermined get none
        missing = rule == "resources_missing"
        decided = np.isin(file[missing], [0.0, 1.0])
        assert missing.sum() > 20 and (decided.all() if r in ("cmuc", "acs") else decided.mean() > 0.5), r
        assert np.isnan(file[rule == "fiscal_income_missing"]).all(), r
    # the files miss resources: their verdict is not the truth
    assert (te["file_cmuc"].fillna(-1) != te["cmuc"]).mean() > 0.01


def test_file_rates_are_take_up_among_the_file_eligible(sources):
    _pop, src = sources
    te = src.tables["truth_eligibility"]
    fr = file_rates(te).set_index(["territory", "right"])
    for (terr, r), row in fr.sample(6, random_state=1).iterrows():
        sub = te[(te["territory"].astype(str) == terr) & (te[f"file_{r}"] == 1)]
        assert row["n_file_eligible"] == len(sub)
        assert row["file_rate"] == pytest.approx(sub[f"took_{r}"].mean(), rel=1e-12)
    truth = src.tables["truth"]
    assert {"rate", "file_rate", "n_file_eligible"} <= set(truth.columns)
    assert truth["file_rate"].notna().all() and (truth["file_rate"] != truth["rate"]).any()


def _toy(seed: int = 4, cells: int = 400):
    """Published cells with intervals of known coverage: errors N(0, se^2), intervals ± 1.96 se."""
    rng = np.random.default_rng(seed)
    terr = [f"t{i}" for i in range(cells)]
    truth = pd.DataFrame({"territory": terr, "right": "tss", "rate": rng.uniform(0.3, 0.7, cells)})
    truth["file_rate"] = truth["rate"] - 0.08
    se = rng.uniform(0.005, 0.02, cells)
    est = truth["file_rate"].to_numpy() + rng.normal(0, 1, cells) * se
    rates = pd.DataFrame(
        {
            "territory": terr,
            "right": "tss",
            "rate_adjusted": est,
            "ci_low": est - 1.96 * se,
            "ci_high": est + 1.96 * se,
            "status": np.where(np.arange(cells) % 10 == 0, "suppressed", "published"),
        }
    )
    return rates, truth, est, se


def test_coverage_of_each_interval_against_its_own_estimand():
    rates, truth, est, se = _toy()
    pub = rates["status"].to_numpy() == "published"
    expected = (np.abs(est - truth["file_rate"].to_numpy()) <= 1.96 * se)[pub].mean()
    cov = admin_coverage(rates, truth, estimand="file_rate").set_index("right").loc["tss"]
    assert cov["cells"] == pub.sum() and cov["coverage"] == pytest.approx(expected, rel=1e-12)
    # against the true rate (0.08 away, twice the widest half-width) these intervals hardly ever cover
    assert admin_coverage(rates, truth).set_index("right").loc["tss", "coverage"] < 0.01
    corrected = rates.rename(columns={"rate_adjusted": "rate_corrected"})
    corrected[["rate_corrected", "ci_low", "ci_high"]] += 0.08
    both = admin_coverages(rates, truth, corrected).set_index(["interval", "right"])
    assert both.loc[("admin_rates", "tss"), "estimand"] == "file_rate"
    assert both.loc[("admin_corrected", "tss"), "coverage"] == pytest.approx(expected, rel=1e-12)
    assert both.loc[("admin_rates", "all"), "cells"] == pub.sum()
    with pytest.raises(OptionError, match="parameter estimand"):
        admin_coverage(rates, truth, estimand="file")
