"""Coverage and RMSE of the administrative rates, raw and corrected by the survey, and of the combined estimate
(issue 27), by repeated simulation: the demo's population (200 QPVs, seed 1) fixed, and in each replication new
organisms' files missing part of the resources (FileResourceParams' defaults) and a new sample (strata is_qpv x
benefit, power allocation, 3,900 respondents, every one answering).

The files' eligibility is read with the rulebook of 2015; takers come from the true links (match probability 1:
the linkage error, which admin/rates.py models, is left out here, so that the replications take seconds, not a
minute each). The small-area estimate is the Fay-Herriot adjusted REML (amrl) on the demo's covariates.

Run: ``python benchmarks/coverage_combined.py --replications 40 --out combined.csv``.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from nonrecours.admin.eligibility import assess_eligibility, load_rulebook
from nonrecours.admin.misclassification import combine_estimates, survey_corrected_rates
from nonrecours.admin.rates import linked_rates, taker_table
from nonrecours.design import SurveyDesign
from nonrecours.estimation import QualityThresholds, estimate_rates
from nonrecours.publication.policy import DEFAULT_MIN_N
from nonrecours.simulate import simulate_population
from nonrecours.simulate.params import FileResourceParams
from nonrecours.simulate.sources import ORGANISMS, SourceParams, simulate_sources
from nonrecours.territorial.compare import compare_estimators
from nonrecours.territorial.territories import fit_territories

COVARIATES = ("is_qpv", "poverty_rate", "unemployment_rate", "social_housing_share", "gp_density", "rsa_share")
RIGHTS = ["cmuc", "acs", "tpn", "tss"]
COLS = ["territory", "right", "estimator", "subset", "estimate", "ci_low", "ci_high"]


def _sample(frame: pd.DataFrame, n: int, rng: np.random.Generator) -> pd.DataFrame:
    """Stratified simple random sample, power allocation (n_h proportional to N_h^0.5), Horvitz-Thompson weights."""
    key = frame["is_qpv"].astype(str) + "|" + frame["benefit"].astype(str)
    sizes = key.value_counts()
    alloc = np.maximum(np.round(n * np.sqrt(sizes) / np.sqrt(sizes).sum()).astype(int), 2)
    keep = []
    for h, n_h in alloc.items():  # eight strata
        rows = np.flatnonzero((key == h).to_numpy())
        keep.append(rng.choice(rows, size=min(n_h, rows.size), replace=False))
    idx = np.concatenate(keep)
    s = frame.iloc[idx].reset_index(drop=True)
    s["stratum"] = key.iloc[idx].to_numpy()
    s["weight"] = s["stratum"].map(sizes / alloc).to_numpy(dtype=float)
    s["fpc"] = s["stratum"].map(sizes).to_numpy(dtype=float)
    return s


def replication(pop, r: int, n: int, seed: int) -> pd.DataFrame:
    """One replication: the long table of estimates (admin, admin_corrected, combined, direct, eblup)."""
    src = simulate_sources(pop, seed=seed + 1000 * r, params=SourceParams(file_resources=FileResourceParams()))
    left = pd.concat([src.tables[o] for o in ORGANISMS], ignore_index=True)
    elig = assess_eligibility(left, load_rulebook().entry(2015))
    tr = src.tables["truth_eligibility"].set_index("rec_id").reindex(elig["rec_id"]).reset_index()
    rec = tr[["rec_id", "territory", "departement"]]
    links = src.tables["truth_links"].assign(match_probability=1.0)
    rights_of = {"health": src.tables["health"][["rec_id", "right"]]}
    takers = taker_table(rec, elig, links, links.iloc[:0], rights_of)
    admin = linked_rates(takers).table
    sample = _sample(pop.recipients.assign(id=pop.recipients["id"].astype(str)), n, np.random.default_rng(seed + r))
    design = SurveyDesign(sample, weight="weight", strata="stratum", fpc="fpc")
    strata = pd.DataFrame({"rec_id": tr["rec_id"], "is_qpv": tr["is_qpv"], "benefit": left["benefit"].to_numpy()})
    res = survey_corrected_rates(design, elig, strata, takers, src.tables["frame_ids"], RIGHTS)
    # the model's direct estimates, as the study's estimation stage hands them to it: every territory with at least
    # min_n eligible respondents (the takers / non-takers rule is for publication; the model's input stays inside)
    every = QualityThresholds(min_n=0, reliable_n=0, max_cv=1e9)
    direct = estimate_rates(design, RIGHTS, by="territory", thresholds=every).to_frame(blank=False)
    direct = direct[direct["n"] >= DEFAULT_MIN_N]
    aux = pop.territories
    fit = fit_territories(direct, aux, list(COVARIATES), method="amrl", rights=RIGHTS)
    sae = fit.to_frame()
    comb = combine_estimates(res.table, sae)
    sampled = sae.loc[sae["direct"].notna(), ["territory", "right"]].assign(subset="sampled")

    def rows(t: pd.DataFrame, estimator: str, value: str) -> pd.DataFrame:
        t = t.assign(territory=t["territory"].astype(str)).merge(sampled, on=["territory", "right"], how="left")
        return t.fillna({"subset": "unsampled"}).assign(estimator=estimator, estimate=t[value])[COLS]

    z = 1.959963984540054
    sae_long = pd.concat(
        [
            rows(
                sae.assign(lo=sae["direct"] - z * sae["se_direct"], hi=sae["direct"] + z * sae["se_direct"])
                .drop(columns=["ci_low", "ci_high"])
                .rename(columns={"lo": "ci_low", "hi": "ci_high"}),
                "direct",
                "direct",
            ),
            rows(sae, "eblup", "eblup"),
        ]
    )
    pub = admin[admin["status"] == "published"]
    cells = pub[["territory", "right"]].astype(str)  # the three administrative estimators on the published cells
    return (
        pd.concat(
            [
                rows(pub, "admin", "rate_adjusted"),
                rows(res.table.astype({"territory": str}).merge(cells), "admin_corrected", "rate_corrected"),
                rows(comb.merge(cells), "combined", "combined"),
                sae_long,
            ],
            ignore_index=True,
        )
        .dropna(subset=["estimate"])
        .assign(replication=r)
    )


def run(replications: int, *, n: int = 3900, seed: int = 27, progress=None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The summary per right x estimator x subset over every replication (and the detail)."""
    pop = simulate_population(200, seed=1)
    truth = pop.truth
    details = []
    for r in range(replications):
        details.append(compare_estimators(replication(pop, r, n, seed), truth).detail.assign(replication=r))
        if progress is not None:
            progress(r + 1, replications)
    detail = pd.concat(details, ignore_index=True)
    e2 = detail.assign(e2=detail["error"] ** 2)
    g = e2.groupby(["estimator", "subset"])
    summary = g.agg(n=("error", "size"), bias=("error", "mean"), mse=("e2", "mean"), coverage=("covered", "mean"))
    summary["rmse"] = np.sqrt(summary.pop("mse"))
    # the Monte Carlo error of the coverage, from the replications' own coverages (territories are correlated)
    per_rep = e2.groupby(["estimator", "subset", "replication"])["covered"].mean()
    summary["coverage_mcse"] = per_rep.groupby(["estimator", "subset"]).std() / np.sqrt(replications)
    return summary.reset_index(), detail


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--replications", type=int, default=40)
    ap.add_argument("--seed", type=int, default=27)
    ap.add_argument("--out", required=True)
    a = ap.parse_args()
    t0 = time.perf_counter()
    summary, _ = run(
        a.replications,
        seed=a.seed,
        progress=lambda d, m: print(
            f"{d}/{m} {time.perf_counter() - t0:.0f}s load {os.getloadavg()[0]:.1f}", file=sys.stderr, flush=True
        ),
    )
    summary.to_csv(a.out, index=False)
    print(summary.to_string(index=False))


if __name__ == "__main__":
    main()
