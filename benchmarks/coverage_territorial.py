"""Coverage and RMSE of the territory estimators on the demo's design (issue 17): direct, Fay-Herriot
(REML, adjusted REML amrl / amrl-yl) and the unit-level EBP, sampled and unsampled territories separately.

The demo's population (``simulate --territories 200 --seed 1``: 400 territories) and design: strata
is_qpv x benefit, power allocation (N_h^0.5), 3,900 respondents (the demo's 6,000 at its 65 % response),
every respondent answering. Run: ``python benchmarks/coverage_territorial.py --replications 200
--methods reml,amrl,amrl-yl --rights cmuc,acs,tpn,tss --out results.csv``.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from nonrecours.simulate import simulate_population
from nonrecours.validation import run_validation

COVARIATES = ("is_qpv", "poverty_rate", "unemployment_rate", "social_housing_share", "gp_density", "rsa_share")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--replications", type=int, default=200)
    ap.add_argument("--methods", default="reml,amrl,amrl-yl")
    ap.add_argument("--rights", default="cmuc,acs,tpn,tss")
    ap.add_argument("--unit-replicates", type=int, default=50)
    ap.add_argument("--seed", type=int, default=11)
    ap.add_argument("--workers", type=int, default=1)
    ap.add_argument("--ci", default="logit,beta,wilson")
    ap.add_argument("--out", required=True)
    a = ap.parse_args()
    pop = simulate_population(200, seed=1)
    t0 = time.perf_counter()
    res = run_validation(pop, n=3900, replications=a.replications, seed=a.seed, rights=a.rights.split(","),
                         ci=tuple(a.ci.split(",")), levels=("territory",), strata=("is_qpv", "benefit"),
                         allocation="power", sae=True, covariates=COVARIATES, sae_methods=a.methods.split(","),
                         unit_replicates=a.unit_replicates, workers=a.workers,
                         progress=lambda d, n: print(f"{d}/{n} {time.perf_counter() - t0:.0f}s load "
                                                     f"{os.getloadavg()[0]:.1f}", file=sys.stderr, flush=True))
    summary = res.summary()
    summary.to_csv(a.out, index=False)
    Path(a.out).with_suffix(".json").write_text(json.dumps({**res.settings, "elapsed_total_s": time.perf_counter() - t0},
                                                           indent=1, default=str))
    cols = ["estimator", "ci", "estimands", "coverage", "coverage_mcse", "rmse", "mean_width"]
    print(summary[cols].to_string(index=False))


if __name__ == "__main__":
    main()
