"""Benchmark of the unit-level small-area model (issue 17): logit-normal fit + EBP + 200-replicate bootstrap MSE
for 400 territories x 4 rights (goal < 60 s).

Data: the demo's population (``simulate_population(200, seed=1)``: 400 territories, ~324,000 recipients) and a
stratified sample of it (is_qpv x benefit, power allocation, 3,900 respondents), built in memory; the timed call
is :func:`nonrecours.territorial.unit.fit_unit` with the recipients' benefit, age band, household and housing
and six territory covariates, Laplace likelihood.

Run ``python benchmarks/bench_unit.py [--no-write] [--replicates 200] [--workers 2]``; the results go to the section
``## Unit-level model`` of ``benchmarks/RESULTS.md``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import sys
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent))

from _bench import machine, replace_section, timed  # noqa: E402

from nonrecours.design.allocation import allocate_frame  # noqa: E402
from nonrecours.design.selection import select  # noqa: E402
from nonrecours.simulate import simulate_population  # noqa: E402
from nonrecours.territorial.unit import fit_unit  # noqa: E402

TITLE = "Unit-level model"
COVARIATES = ["benefit", "age_band", "household", "housing"]
AUX = ["is_qpv", "poverty_rate", "unemployment_rate", "social_housing_share", "gp_density", "rsa_share"]
RIGHTS = ["cmuc", "acs", "tpn", "tss"]


def data(seed: int = 1):
    pop = simulate_population(200, seed=seed)
    frame = pop.recipients
    alloc = allocate_frame(frame, ["is_qpv", "benefit"], n=3900, method="power", min_n=2)
    sample = select(frame, alloc, strata=["is_qpv", "benefit"], method="srswor", seed=seed + 1).data
    return sample, frame, pop.territories


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--no-write", action="store_true", help="print only, do not touch RESULTS.md")
    ap.add_argument("--replicates", type=int, default=200)
    ap.add_argument("--repeat", type=int, default=1)
    ap.add_argument("--workers", type=int, default=2, help="processes of the bootstrap (fit-unit --workers)")
    a = ap.parse_args()
    sample, frame, aux = data()

    def run(workers):
        return fit_unit(sample, frame, COVARIATES, rights=RIGHTS, aux=aux, aux_covariates=AUX, mse="bootstrap",
                        replicates=a.replicates, seed=7, workers=workers)

    times: list[float] = []
    load0 = os.getloadavg()[0]
    t, res = timed(lambda: run(a.workers), repeat=a.repeat, times=times)
    load = os.getloadavg()[0]
    # the CPU time of the whole work, in this process: one worker (joblib's loky workers outlive the call,
    # so their CPU is not counted here); the same results whatever the number of workers
    c0 = time.process_time()
    t1, one = timed(lambda: run(1))
    cpu = time.process_time() - c0
    num = ["eblup", "mse", "ci_low", "ci_high"]
    x, y = one.table[num].to_numpy(float), res.table[num].to_numpy(float)
    with np.errstate(invalid="ignore", divide="ignore"):
        diff = float(np.nanmax(np.abs(x - y) / np.abs(x)))
    t_fit, _ = timed(lambda: fit_unit(sample, frame, COVARIATES, rights=RIGHTS, aux=aux, aux_covariates=AUX,
                                      mse="none"))
    m = res.models
    tab = res.to_frame()
    lines = [
        f"Run {dt.date.today().isoformat()} on {machine()}.",
        "",
        f"Demo population: {len(frame):,} recipients, {frame['territory'].nunique()} territories; sample of "
        f"{len(sample):,} (is_qpv x benefit, power allocation); {len(COVARIATES)} recipient covariates and "
        f"{len(AUX)} territory covariates; Laplace likelihood.",
        "",
        "| workload | time (s) | goal |",
        "|---|---|---|",
        f"| fit + EBP, 4 rights | {t_fit:.2f} | |",
        f"| fit + EBP + {a.replicates}-replicate bootstrap MSE, 4 rights x {tab['territory'].nunique()} territories "
        f"(median of {len(times)}), {a.workers} worker{'s' if a.workers > 1 else ''} | {t:.1f} wall | < 60 |",
        f"| the same, 1 worker | {t1:.1f} wall, {cpu:.1f} CPU | |",
        "",
        f"Load average (1 min) before and after the {a.workers}-worker run: {load0:.1f}, {load:.1f} (the machine "
        f"is shared by other jobs). Largest relative difference between the {a.workers}-worker and 1-worker "
        f"results (EBP, MSE, bounds): {diff:.1e} (0 when BLAS is single-threaded, as in the worker processes: "
        f"a multi-threaded BLAS in the calling process rounds some products differently).",
        "",
        "Per right: sampled territories, respondents, sigma, failed bootstrap replicates: "
        + "; ".join(f"{r.right} {r.m}, {r.n_respondents}, {r.sigma:.3f}, {r.failed_replicates}"
                    for r in m.itertuples()) + ".",
    ]
    body = "\n".join(lines)
    print(body)
    if not a.no_write:
        replace_section(TITLE, body)


if __name__ == "__main__":
    main()
