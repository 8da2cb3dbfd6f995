"""Benchmark: numbers of takers and non-takers beside take-up rates (issue 14), one pass each.

On the workload of ``bench_estimate.py`` (500,000 rows, 3,000 territory domains, 4
rights, stratified cluster design with FPC), times on the same design:

- ``estimate_rates(design, rights, by="territory")`` (rates only);
- ``estimate_rates`` + ``estimate_counts`` (rates, then weighted takers and non-takers:
  8 totals per territory, from one coding of the 4 rights' entries and two Taylor passes);

- ``estimate_takeup`` (both results from one coding of the domains, entries and cells);

and reports the ratios (target: totals and rates within 2x the rate-only time).

Usage::

    python benchmarks/bench_totals.py --rows 500000 --repeat 3
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import numpy as np  # noqa: E402
from _bench import timed  # noqa: E402
from bench_estimate import RIGHTS, build_sample  # noqa: E402

from nonrecours.design import SurveyDesign  # noqa: E402
from nonrecours.estimation import QualityThresholds, estimate_counts, estimate_rates, estimate_takeup  # noqa: E402


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=500_000)
    ap.add_argument("--territories", type=int, default=1500, help="QPV territories (x2 domains)")
    ap.add_argument("--repeat", type=int, default=3)
    a = ap.parse_args(argv)
    df = build_sample(a.rows, a.territories)
    design = SurveyDesign(df, weight="weight", strata="stratum", psu="psu", fpc="fpc")
    th = QualityThresholds()
    design.structure  # built once, outside the timings
    t_rates, t_both, t_counts, t_one = [], [], [], []
    for _ in range(a.repeat):  # interleaved, so that a burst of load on a shared machine hits all
        _, r = timed(lambda: estimate_rates(design, RIGHTS, "territory", thresholds=th), 1, t_rates)
        _, c = timed(lambda: estimate_counts(design, RIGHTS, "territory", thresholds=th), 1, t_counts)
        t_both.append(t_rates[-1] + t_counts[-1])
        timed(lambda: estimate_takeup(design, RIGHTS, "territory", thresholds=th), 1, t_one)
    rates, both, one = float(np.median(t_rates)), float(np.median(t_both)), float(np.median(t_one))
    print(f"rows {a.rows:,}, domains {len(r) // len(RIGHTS):,}, rights {len(RIGHTS)}: "
          f"{len(r):,} rates, {len(c):,} totals")
    print(f"rates only: median {rates:.3f} s (min {min(t_rates):.3f}); rates + takers and non-takers: median "
          f"{both:.3f} s (min {min(t_both):.3f}); ratio of medians {both / rates:.2f}, of minima "
          f"{min(t_both) / min(t_rates):.2f}")
    print(f"estimate_takeup (rates and counts from one coding): median {one:.3f} s (min {min(t_one):.3f}); "
          f"ratio of medians {one / rates:.2f}, of minima {min(t_one) / min(t_rates):.2f}")


if __name__ == "__main__":
    main()
