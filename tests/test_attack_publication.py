"""The attacker plays on EVERYTHING a run publishes (issue 12): every CSV of publication/, the workbook's sheets,
the numbers behind the report's plots, over the years of a follow-up and with the administrative phase.

It builds the linear relations a reader knows (every partition of the respondents sums to the national count:
QPV / rest, benefit, territory, the analysis groups, every year; territories nest in QPV / rest; administrative
cells sum to their département, départements and QPV / rest to the nation; eligibles = takers + non-takers)
and, by linear programming (tests/attacker.py), bounds every count that is not published: none may be pinned
down, nor shown to be below the threshold. No count of 1 to threshold - 1 may be published at all (0 is: it
describes no one). The negative control un-hides the secondary cells: the same attacker then recovers counts.
"""

from __future__ import annotations

import re
import shutil

import numpy as np
import openpyxl
import pandas as pd
import pytest
from attacker import (
    COUNT_COLUMN,
    NOT_INDIVIDUALS,
    Blocks,
    few_sides,
    rate_times_n_attack,
    sides_from_microdata,
    survey_estimates_behind,
)

from nonrecours.publication import histogram_edges
from nonrecours.report.publication import SHEETS
from nonrecours.report.publication import TEXT as SHEET_TEXT

# slow: attacks the demo publication, with and without years
pytestmark = [
    pytest.mark.slow,
    pytest.mark.filterwarnings(
        "ignore::nonrecours.errors.ConvergenceWarning", "ignore::nonrecours.errors.DisclosureWarning"
    ),
]

MIN = 11  # the demo's threshold for respondents (min_n) and administrative cells (min_cell)
TEXT_COLS = {
    "territory": str,
    "is_qpv": str,
    "benefit": str,
    "level": str,
    "departement": str,
    "level_a": str,
    "level_b": str,
    "domain_a": str,
    "domain_b": str,
}


def _read(path):
    return pd.read_csv(path, dtype=TEXT_COLS, keep_default_na=True)


def _val(v):
    return None if pd.isna(v) else float(v)


def _code(v):
    s = str(v)
    return s[:-2] if s.endswith(".0") else s


def direct_small_counts(pub):
    """Published counts of individuals between 1 and MIN - 1, in every CSV of the folder."""
    bad = []
    for f in sorted(pub.glob("*.csv")):
        t = _read(f)
        for c in t.columns:
            if not re.match(COUNT_COLUMN, c) or NOT_INDIVIDUALS.get((f.stem, c), None):
                continue
            v = pd.to_numeric(t[c], errors="coerce")
            small = v[(v > 0) & (v < MIN)]
            bad += [(f.name, c, float(x)) for x in small]
    return bad


def sample_relations(b, pub, year, qpv_of, truth=None):
    """Sample counts of one run's folder (and its follow-up tables) into ``b``."""

    def cell(dim, level, right, n, y=year):
        key = ("s", y, dim, _code(level), right)
        b.publish(("s", y, right), key, _val(n), lower=1.0)  # zeros are published: a blank is >= 1
        if truth is not None and _val(n) is not None and (y, dim) in truth:
            assert truth[(y, dim)].get((_code(level), right), 0) == _val(n), key  # keys are right

    tables = {f.stem: _read(f) for f in pub.glob("*.csv")}
    for r, n in zip(tables["estimates_national"]["right"], tables["estimates_national"]["n"]):
        cell("national", "", r, n)
    for name, dim in (
        ("estimates_qpv", "is_qpv"),
        ("estimates_benefit", "benefit"),
        ("estimates_territory", "territory"),
        ("sae", "territory"),
    ):
        t = tables.get(name)
        if t is not None:
            for lv, r, n in zip(t[dim], t["right"], t["n"]):
                cell(dim, lv, r, n)
    t = tables.get("analysis_nontakers")
    if t is not None:
        for g, lv, r, n in zip(t["group"], t["level"], t["right"], t["n"]):
            cell(g, lv, r.rsplit(":", 1)[0], n)
    t = tables.get("admin_comparison")
    if t is not None:
        for q, r, n in zip(t["is_qpv"], t["right"], t["sample_n"]):
            cell("is_qpv", q, r, n)
    t = tables.get("follow_up_yearly")
    if t is not None:
        for y, q, r, n in zip(t["year"], t["is_qpv"], t["right"], t["n"]):
            cell("is_qpv", q, r, n, y=int(y))
    t = tables.get("follow_up_territories")
    if t is not None:
        for a, z, ter, r, n1, n2 in zip(t["year_from"], t["year_to"], t["territory"], t["right"], t["n_1"], t["n_2"]):
            cell("territory", ter, r, n1, y=int(a))
            cell("territory", ter, r, n2, y=int(z))


def sample_sums(b, qpv_of):
    """Every partition of a year's respondents sums to the national count; territories nest in QPV / rest."""
    cells = {}
    for key in list(b.block_of):
        if key[0] == "s" and key[2] != "national":
            cells.setdefault((key[1], key[4], key[2]), []).append(key)
    for (y, r, dim), keys in cells.items():
        b.relate(("s", y, r), ("s", y, "national", "", r), keys)
        if dim == "territory":
            for q in ("0", "1"):
                b.relate(("s", y, r), ("s", y, "is_qpv", q, r), [k for k in keys if qpv_of[k[3]] == q])


def admin_relations(b, pub, qpv_of):
    """Administrative counts: cells, départements, QPV / rest (admin_comparison), the unpublished nation."""
    tables = {f.stem: _read(f) for f in pub.glob("admin_*.csv")}
    if "admin_rates" not in tables:
        return 0
    counts = ("E", "T", "N")

    def triple(right, key, e, t):
        block = ("a", right)
        e, t = _val(e), _val(t)
        vals = (e, t, None if e is None or t is None else e - t)
        for c, v in zip(counts, vals):
            b.publish(block, (*key, c), v)
        b.relate(block, (*key, "E"), [(*key, "T"), (*key, "N")])

    rates = tables["admin_rates"]
    for ter, _d, r, e, t in zip(
        rates["territory"], rates["departement"], rates["right"], rates["n_eligible"], rates["n_takers"]
    ):
        triple(r, ("a", r, "cell", ter), e, t)
    deps = tables["admin_departements"]
    for d, r, e, t in zip(deps["departement"], deps["right"], deps["n_eligible"], deps["n_takers"]):
        triple(r, ("a", r, "dep", d), e, t)
    comp = tables.get("admin_comparison")
    for r in rates["right"].unique():
        triple(r, ("a", r, "nat", ""), None, None)  # not published: an unknown all the relations share
        sub = rates[rates["right"] == r]
        for c in counts:
            for d in sub["departement"].unique():
                b.relate(
                    ("a", r),
                    ("a", r, "dep", d, c),
                    [("a", r, "cell", t, c) for t in sub.loc[sub["departement"] == d, "territory"]],
                )
            b.relate(("a", r), ("a", r, "nat", "", c), [("a", r, "dep", d, c) for d in sub["departement"].unique()])
        if comp is not None:
            cr = comp[comp["right"] == r]
            for q, e, rate in zip(cr["is_qpv"], cr["admin_n_eligible"], cr["admin_rate"]):
                e, rate = _val(e), _val(rate)
                triple(r, ("a", r, "is_qpv", _code(q)), e, None if e is None else round(rate * e))
            for c in counts:
                qs = [_code(q) for q in cr["is_qpv"]]
                b.relate(("a", r), ("a", r, "nat", "", c), [("a", r, "is_qpv", q, c) for q in qs])
                for q in qs:
                    b.relate(
                        ("a", r),
                        ("a", r, "is_qpv", q, c),
                        [("a", r, "cell", t, c) for t in sub["territory"] if qpv_of[t] == q],
                    )
    return int((rates["status"] != "published").sum())


def workbook_adds_nothing(pub):
    """Every number of the publication workbook's sheets is a number of its CSV table."""
    wb = openpyxl.load_workbook(pub / "tables.xlsx")
    for lang in ("fr", "en"):
        titles = {SHEET_TEXT[lang][name]: name for name in SHEETS}
        if set(titles) & set(wb.sheetnames):
            break
    checked = 0
    for title, name in titles.items():
        if title not in wb.sheetnames:
            continue
        csv = _read(pub / f"{name}.csv")
        known = {f"{float(v):.10g}" for c in csv.columns for v in pd.to_numeric(csv[c], errors="coerce").dropna()}
        for row in list(wb[title].iter_rows(values_only=True))[1:]:
            for v in row:
                if isinstance(v, (int, float)) and not isinstance(v, bool):
                    assert f"{float(v):.10g}" in known, (title, v)
                    checked += 1
    return checked


def truth_counts(weights, year, dims):
    """Eligible respondents per domain x right, from the confidential weights file (for the key checks)."""
    resp = weights[weights["weight"] > 0]
    out = {}
    for dim in dims:
        d = {}
        for r in ("cmuc", "acs", "tpn", "tss"):
            el = resp[resp[r].notna()]
            for lv, v in el.groupby(el[dim].map(_code)).size().items():
                d[(lv, r)] = int(v)
        out[(year, dim)] = d
    return out


#: The demo's study with a smaller sample (the demo's population and thresholds): many small territory cells.
SMALL_SAMPLE = {"n = 6000": "n = 1500", "min_per_stratum = 50": "min_per_stratum = 20"}


def _small(text, n=1500):
    for old, new in SMALL_SAMPLE.items():
        assert old in text
        text = text.replace(old, new.replace("1500", str(n)))
    return text


@pytest.fixture(scope="module")
def demo_admin(tmp_path_factory):
    """The demo's study with its administrative phase (``demo --admin``) on 10 QPVs, with a smaller sample."""
    from nonrecours.simulate import simulate_population
    from nonrecours.simulate.sources import simulate_sources
    from nonrecours.study import run_study
    from nonrecours.study.demo import ADMIN_SECTION, example_study

    folder = tmp_path_factory.mktemp("attack")
    pop = simulate_population(10, seed=1)
    pop.write(folder / "population")
    simulate_sources(pop, seed=2).write(folder / "population" / "sources")
    study = folder / "study.toml"
    study.write_text(_small(example_study(seed=1)) + ADMIN_SECTION, encoding="utf-8")
    return run_study(study)


@pytest.fixture(scope="module")
def demo_years(tmp_path_factory):
    """The follow-up demo's studies (``demo --years 2014-2015``) on 10 QPVs, with a smaller sample."""
    from nonrecours.simulate.waves import simulate_waves
    from nonrecours.study import run_study
    from nonrecours.study.demo_followup import followup_study

    folder = tmp_path_factory.mktemp("attack_years")
    w = simulate_waves(10, (2014, 2015), seed=2)
    w.write(folder / "population")
    out = []
    for k, y in enumerate(w.years):
        study = folder / f"study_{y}.toml"
        study.write_text(_small(followup_study(y, w.years[:k], seed=2), n=3000), encoding="utf-8")
        out.append(run_study(study))
    return out


def _geography(folder):
    t = pd.read_csv(folder, dtype=str)
    return dict(zip(t["territory"], t["is_qpv"].map(_code)))


def test_attacker_recovers_nothing_from_the_demo_with_admin(demo_admin):
    pub = demo_admin.folder / "publication"
    assert direct_small_counts(pub) == []
    qpv_of = _geography(demo_admin.config.territorial.covariates_file)
    weights = pd.read_csv(demo_admin.folder / "microdata" / "weights.csv", dtype=TEXT_COLS)
    b = Blocks()
    sample_relations(b, pub, 0, qpv_of, truth_counts(weights, 0, ("is_qpv", "benefit", "territory")))
    sample_sums(b, qpv_of)
    n_admin = admin_relations(b, pub, qpv_of)
    n_sample = sum(1 for k in b.lower if k[0] == "s" and k not in b.known)
    assert n_sample > 20 and n_admin > 0  # the attacker has work: suppressed sample and administrative cells
    assert b.attack(MIN) == []
    assert workbook_adds_nothing(pub) > 100
    # the report's histogram of the weights (the one plot drawn from microdata) has no bar under MIN respondents
    resp = weights.loc[weights["weight"] > 0]
    for col in ("weight", "g"):
        edges = histogram_edges(resp[col].to_numpy(float), bins=40, min_n=MIN)
        assert np.histogram(resp[col].to_numpy(float), bins=edges)[0].min() >= MIN


def test_attacker_recovers_nothing_from_the_follow_up_demo(demo_years):
    last = demo_years[-1]
    qpv_of = _geography(last.config.territorial.covariates_file)
    b = Blocks()
    truth = {}
    for res in demo_years:
        y = res.config.follow_up.year
        w = pd.read_csv(res.folder / "microdata" / "weights.csv", dtype=TEXT_COLS)
        truth |= truth_counts(w, y, ("is_qpv", "benefit", "territory"))
        assert direct_small_counts(res.folder / "publication") == []
        sample_relations(b, res.folder / "publication", y, qpv_of, truth)
        assert workbook_adds_nothing(res.folder / "publication") > 100
    sample_sums(b, qpv_of)
    assert {k[1] for k in b.lower if k[0] == "s" and k not in b.known} == {2014, 2015}
    assert b.attack(MIN) == []


def test_negative_control_primary_only_is_attacked(demo_admin, tmp_path):
    """The same attacker on the same publication with the secondary cells shown: counts are recovered."""
    pub = tmp_path / "publication"
    shutil.copytree(demo_admin.folder / "publication", pub)
    weights = pd.read_csv(demo_admin.folder / "microdata" / "weights.csv", dtype=TEXT_COLS)
    truth = truth_counts(weights, 0, ("territory",))[(0, "territory")]
    t = _read(pub / "estimates_territory.csv")
    true_n = np.array([truth.get((ter, r), 0) for ter, r in zip(t["territory"], t["right"])])
    shown = t["n"].isna().to_numpy() & (true_n >= MIN)  # secondary cells: large, hidden only to protect others
    assert shown.any()
    t.loc[shown, "n"] = true_n[shown]
    t.to_csv(pub / "estimates_territory.csv", index=False)
    qpv_of = _geography(demo_admin.config.territorial.covariates_file)
    b = Blocks()
    sample_relations(b, pub, 0, qpv_of)
    sample_sums(b, qpv_of)
    found = b.attack(MIN)
    assert found and all(k[2] == "territory" for k, _, _ in found)


# --------------------------------------------------------------------------- issue 25: every survey estimate rests
# on min_n takers and min_n non-takers, checked from the microdata

DOMAINS = ("is_qpv", "benefit", "territory")


def _tables(pub):
    return {f.stem: _read(f) for f in sorted(pub.glob("*.csv"))}


def _weights(res):
    return pd.read_csv(res.folder / "microdata" / "weights.csv", dtype=TEXT_COLS)


def test_no_survey_estimate_rests_on_few_takers_or_non_takers(demo_admin):
    """From the microdata: every rate, gap and predicted take-up published with a domain (QPV, benefit,
    territory, the analysis groups, the direct estimates beside the small-area ones) is built from at least
    MIN takers and MIN non-takers among the respondents of each of its cells; the attacker's round(n x rate)
    recovers no count below MIN."""
    tables = _tables(demo_admin.folder / "publication")
    groups = tuple(demo_admin.config.analysis.groups)
    sides = {0: sides_from_microdata(_weights(demo_admin), DOMAINS + groups)}
    behind = survey_estimates_behind(tables, sides, DOMAINS + groups)
    for name in ("estimates_qpv", "estimates_benefit", "estimates_territory", "gap_qpv", "analysis_nontakers"):
        assert behind.get(name), name  # the check has work in every table with a domain
    assert few_sides(behind, sides, MIN) == []
    # and some published cells are near the edge: the rule, not the sample size, keeps them out
    edge = [t for (d, _lv, _r), t in sides[0].items() if d == "territory" and 0 < min(t) < MIN]
    assert edge, "no territory cell under the rule: the test would not see a leak"
    assert rate_times_n_attack(tables, sides, MIN) == []


def test_rate_attack_negative_control(demo_admin):
    """The round(n x rate) attack on the same sample's territory rates published without the rule (every cell,
    n beside its rate) recovers counts below MIN: the attack of the test above can fail."""
    from nonrecours.design import SurveyDesign
    from nonrecours.estimation import QualityThresholds, estimate_rates

    w = _weights(demo_admin)
    w = w[pd.to_numeric(w["weight"], errors="coerce") > 0]
    rights = list(demo_admin.config.estimation.rights)
    every = QualityThresholds(min_n=0, reliable_n=0)
    raw = estimate_rates(SurveyDesign(w, weight="weight"), rights, by="territory", ci="wald", thresholds=every)
    sides = {0: sides_from_microdata(w, ("territory",))}
    found = rate_times_n_attack({"estimates_territory": raw.to_frame()}, sides, MIN)
    assert len(found) > 10
    # the estimator's counts of both sides are the microdata's
    t = raw.to_frame().assign(n_takers=raw.n_takers, n_non_takers=raw.n_non_takers)
    for ter, r, nt, nn in zip(t["territory"], t["right"], t["n_takers"], t["n_non_takers"]):
        assert sides[0].get(("territory", str(ter), r), (0, 0)) == (nt, nn)


def test_no_follow_up_estimate_rests_on_few_takers_or_non_takers(demo_years):
    """From the microdata of both years: the yearly rates, changes, trends, DiD and territories' changes of the
    follow-up, and each year's own tables, rest on MIN takers and MIN non-takers in every cell and year."""
    sides = {
        res.config.follow_up.year: sides_from_microdata(_weights(res), DOMAINS + tuple(res.config.analysis.groups))
        for res in demo_years
    }
    seen = set()
    for res in demo_years:
        y = res.config.follow_up.year
        tables = _tables(res.folder / "publication")
        behind = survey_estimates_behind(tables, sides, DOMAINS + tuple(res.config.analysis.groups), year=y)
        seen |= {name for name, rows in behind.items() if rows}
        assert few_sides(behind, sides, MIN) == []
        assert rate_times_n_attack(tables, sides, MIN, year=y) == []
    assert {"follow_up_yearly", "follow_up_changes", "estimates_territory"} <= seen
