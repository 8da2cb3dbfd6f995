"""Persistent and transient non-take-up between two panel waves.

Provenance of the R values: ``tests/reference/persistence_reference.json`` made by
``tests/reference/make_persistence_reference.R`` (R 4.2.2, survey 4.1.1, 15 significant digits) on the
balanced panel ``change_panel_wave1.csv`` / ``change_panel_wave2.csv`` (``make_change_panel_data.py``,
numpy seed 2018): ``svyratio(~u, ~e)`` on the later wave's design, nationally and by QPV (``svyby``),
and ``svyratio(~persistent + entries, ~e, covmat=TRUE)`` for the joint covariance. Ratios are closed
forms: tolerance 1e-9 relative.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from nonrecours.design import SurveyDesign
from nonrecours.errors import InputError
from nonrecours.estimation import QualityThresholds
from nonrecours.estimation.persistence import INDICATORS, estimate_persistence

REF_DIR = Path(__file__).resolve().parent / "reference"
RTOL = 1e-9
ALL = QualityThresholds(min_n=0, reliable_n=0, max_cv=1e9)


def _waves():
    w = [pd.read_csv(REF_DIR / f"change_panel_wave{k}.csv", dtype={"id": str, "stratum": str}) for k in (1, 2)]
    return [SurveyDesign(d, strata="stratum", fpc="fpc", weight="weight") for d in w]


def test_persistence_matches_r_svyratio():
    ref = json.loads((REF_DIR / "persistence_reference.json").read_text())
    d1, d2 = _waves()
    nat = estimate_persistence(d1, d2, ["cmuc", "acs"], thresholds=ALL)
    qpv = estimate_persistence(d1, d2, ["cmuc", "acs"], by="is_qpv", thresholds=ALL)
    got = pd.concat(
        [nat.table.assign(domain="all"), qpv.table.assign(domain=qpv.table["is_qpv"].astype(str))]
    ).set_index(["right", "indicator", "domain"])
    want = pd.DataFrame(ref["rows"]).set_index(["right", "indicator", "domain"])
    assert len(want) == 30 and set(want.index) == set(got.index)
    g = got.loc[want.index]
    assert np.max(np.abs(g["estimate"] - want["estimate"]) / want["estimate"]) < RTOL
    assert np.max(np.abs(g["se"] - want["se"]) / want["se"]) < RTOL
    V = nat.vcov()
    t = nat.table.reset_index(drop=True)
    for right in ("cmuc", "acs"):
        i = t.index[(t["right"] == right) & (t["indicator"] == "persistent")][0]
        j = t.index[(t["right"] == right) & (t["indicator"] == "entries")][0]
        want_cov = ref[f"cov_persistent_entries_{right}"]
        assert abs(V[i, j] - want_cov) < RTOL * abs(want_cov)


def test_identities_and_joint_covariance():
    d1, d2 = _waves()
    res = estimate_persistence(d1, d2, "cmuc", by="is_qpv", thresholds=ALL)
    t = res.table.set_index(["is_qpv", "indicator"])["estimate"].unstack()
    assert list(res.table["indicator"].unique()) == list(INDICATORS)
    assert np.allclose(t["either"], t["persistent"] + t["transient"], rtol=0, atol=1e-14)
    assert np.allclose(t["transient"], t["entries"] + t["exits"], rtol=0, atol=1e-14)
    # a linear identity between estimates holds for their linearised values: Var(either - persistent - transient) = 0
    V = res.vcov()
    tab = res.table.reset_index(drop=True)
    for q in (0, 1):
        c = np.zeros(len(tab))
        rows = tab.index[tab["is_qpv"] == q]
        for ind, coef in (("either", 1.0), ("persistent", -1.0), ("transient", -1.0)):
            c[rows[tab.loc[rows, "indicator"] == ind][0]] = coef
        assert abs(c @ V @ c) < 1e-14
    assert res.n_panel == d2.n


def test_recipients_outside_the_panel_stay_in_the_design_with_zero_values():
    d1, d2 = _waves()
    part = SurveyDesign(d1.data.iloc[::2], strata="stratum", fpc="fpc", weight="weight")
    res = estimate_persistence(part, d2, "cmuc", thresholds=ALL)
    assert res.n_panel == (d1.n + 1) // 2
    ids = set(part.data["id"])
    sub = d2.subset(d2.data["id"].isin(ids).to_numpy())  # the same as a subset design (zero weights)
    same = estimate_persistence(part, sub, "cmuc", thresholds=ALL)
    assert np.allclose(res.table["estimate"], same.table["estimate"], rtol=1e-12)
    assert np.allclose(res.table["se"], same.table["se"], rtol=1e-12)


def test_repeated_ids_are_refused_with_the_parameter_named():
    d1, d2 = _waves()
    dup = SurveyDesign(pd.concat([d1.data, d1.data.iloc[:2]]), strata="stratum", weight="weight")
    with pytest.raises(InputError, match="earlier wave, column 'id'.*2 repeated.*parameter id_col"):
        estimate_persistence(dup, d2, "cmuc", thresholds=ALL)


def test_coverage_by_seeded_simulation():
    """Coverage of the 95 % interval of the persistent share over 400 stratified panels (seed 27).

    A population of 6,000 recipients in 3 strata, take-up at two dates from a Markov chain (persistence
    depending on the stratum), eligibility changing for 10 %; each draw a stratified SRS of 600 followed
    at both dates. Stated tolerance: coverage within 0.95 +- 0.035 (2.8 binomial SEs at 400 draws); the
    mean estimate within 0.005 of the truth (a ratio estimator: bias O(1/n)).
    """
    rng = np.random.default_rng(27)
    N_h, n_h = np.array([3000, 2000, 1000]), np.array([250, 200, 150])
    h = np.repeat(np.arange(3), N_h)
    e1 = rng.random(h.size) < 0.7
    e2 = np.where(rng.random(h.size) < 0.1, ~e1, e1)
    y1 = rng.random(h.size) < np.array([0.5, 0.6, 0.7])[h]
    stay = rng.random(h.size) < np.array([0.8, 0.7, 0.6])[h]
    y2 = np.where(stay, y1, rng.random(h.size) < 0.6)
    both = e1 & e2
    truth = float(np.mean((~y1 & ~y2)[both]))
    ids = np.array([f"R{i:05d}" for i in range(h.size)])
    hits, ests = 0, []
    R = 400
    for _ in range(R):
        s = np.concatenate([rng.choice(np.flatnonzero(h == k), n, replace=False) for k, n in enumerate(n_h)])
        base = pd.DataFrame({"id": ids[s], "stratum": h[s], "fpc": N_h[h[s]].astype(float)})
        w1 = base.assign(cmuc=np.where(e1[s], y1[s].astype(float), np.nan))
        w2 = base.assign(cmuc=np.where(e2[s], y2[s].astype(float), np.nan))
        d1, d2 = (SurveyDesign(w, strata="stratum", fpc="fpc") for w in (w1, w2))
        r = estimate_persistence(d1, d2, "cmuc", thresholds=ALL).table.set_index("indicator").loc["persistent"]
        hits += r["ci_low"] <= truth <= r["ci_high"]
        ests.append(r["estimate"])
    assert abs(hits / R - 0.95) <= 0.035
    assert abs(np.mean(ests) - truth) < 0.005


@pytest.mark.slow
def test_follow_up_study_publishes_persistence_in_its_report(tmp_path):
    from nonrecours.simulate.waves import simulate_waves
    from nonrecours.study.demo_followup import followup_study
    from nonrecours.study.pipeline import run_study
    from nonrecours.study.runs import read_run, run_design

    simulate_waves(12, (2014, 2015), seed=3).write(tmp_path / "population")
    for year, earlier in ((2014, []), (2015, [2014])):
        text = followup_study(year, earlier, seed=3).replace("n = 6000", "n = 1500")
        text = text.replace("[territorial]\n", "[territorial]\nenabled = false\n")
        (tmp_path / f"study_{year}.toml").write_text(text, encoding="utf-8")
        res = run_study(tmp_path / f"study_{year}.toml")
    table = res.tables["follow_up_persistence"]
    assert set(table["indicator"]) == set(INDICATORS) and "n" not in table.columns  # no count published
    # the published figures are the estimator's on the two runs' designs (rebuilt from weights.csv + sidecar)
    d1, d2 = (run_design(read_run(tmp_path / "results" / str(y), "run"), lonely_psu="adjust") for y in (2014, 2015))
    nat = estimate_persistence(d1, d2, ["cmuc", "acs", "tpn", "tss"]).table
    got = table[table["is_qpv"].isna()].reset_index(drop=True)
    assert np.allclose(got["estimate"], nat["estimate"], rtol=1e-12, equal_nan=True)
    assert np.allclose(got["se"], nat["se"], rtol=1e-12, equal_nan=True)
    wide = table.assign(d=table["is_qpv"].fillna(-1)).set_index(["right", "d", "indicator"])["estimate"].unstack()
    # linked shares are suppressed together: a row has all five or none (one would come back from the others)
    assert wide.isna().all(axis=1).equals(wide.isna().any(axis=1))
    assert np.allclose(wide["either"], wide["persistent"] + wide["transient"], atol=1e-12, equal_nan=True)
    fr = (tmp_path / "results" / "2015" / "publication" / "report.html").read_text(encoding="utf-8")
    assert "Non-recours persistant et transitoire" in fr
    from nonrecours.report.section_followup import render

    assert "Persistent and transient non-take-up" in render(res.tables, lang="en", scheme="rotating")


def test_cli_change_persistence_writes_the_table_beside_out(tmp_path):
    from typer.testing import CliRunner

    from nonrecours.cli.main import app

    w1, w2 = (str(REF_DIR / f"change_panel_wave{k}.csv") for k in (1, 2))
    out = tmp_path / "changes.csv"
    args = ["change", w1, w2, "--rights", "cmuc,acs", "--by", "is_qpv", "--persistence"]
    args += ["--strata", "stratum", "--fpc", "fpc", "--weight", "weight", "--out", str(out), "--min-n", "11"]
    res = CliRunner().invoke(app, args)
    assert res.exit_code == 0, res.output
    table = pd.read_csv(tmp_path / "changes_persistence.csv")
    assert "n" not in table.columns and len(table) == 2 * 2 * len(INDICATORS)
    d1, d2 = _waves()
    lib = estimate_persistence(d1, d2, ["cmuc", "acs"], by="is_qpv").table
    assert np.allclose(table["estimate"], lib["estimate"], rtol=1e-12, equal_nan=True)
    assert np.allclose(table["se"], lib["se"], rtol=1e-12, equal_nan=True)
    again = CliRunner().invoke(app, args)  # the persistence output is checked before any work, like --out
    assert again.exit_code == 2 and "already exists" in again.output
