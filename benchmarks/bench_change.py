"""Benchmark of the follow-up (issue 18): waves, coordinated samples, changes and series.

``python benchmarks/bench_change.py [--territories 200] [--n 20000] [--write]``: simulates three
years, draws rotating samples, estimates the change of take-up by territory (every domain x right
at once, joint linearisation over the union of two samples) and the series over three waves;
with ``--write`` replaces the "Follow-up" section of RESULTS.md.
"""

from __future__ import annotations

import argparse
import os
import time

import numpy as np
from _bench import machine, replace_section, timed

from nonrecours.design.survey_design import SurveyDesign
from nonrecours.design.waves import select_wave
from nonrecours.estimation.change import estimate_change
from nonrecours.estimation.series import estimate_series
from nonrecours.simulate.waves import simulate_waves
from nonrecours.validation.change import proportional_sizes

RIGHTS = ["cmuc", "acs", "tpn", "tss"]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--territories", type=int, default=200)
    ap.add_argument("--n", type=int, default=20000)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--write", action="store_true")
    a = ap.parse_args()
    t0 = time.perf_counter()
    w = simulate_waves(a.territories, (2014, 2015, 2016), seed=1)
    t_sim = time.perf_counter() - t0
    frames = [p.recipients for p in w.populations]
    sizes = [proportional_sizes(f, ["is_qpv", "benefit"], a.n) for f in frames]
    prev, samples, t_sel = None, [], []
    for y, f, s in zip(w.years, frames, sizes):
        t, smp = timed(lambda: select_wave(f, s, strata=["is_qpv", "benefit"], scheme="rotating", seed=y,
                                           previous=prev, share=0.25).data, a.repeat)
        t_sel.append(t)
        samples.append(smp)
        prev = smp
    designs = [SurveyDesign(s, weight="weight", strata="stratum", fpc="fpc") for s in samples]
    t_nat, _ = timed(lambda: estimate_change(designs[0], designs[1], RIGHTS, "is_qpv", scheme="rotating"), a.repeat)
    t_ter, res = timed(lambda: estimate_change(designs[0], designs[1], RIGHTS, "territory", scheme="rotating",
                                               lonely_psu="adjust"), a.repeat)
    t_ser, _ = timed(lambda: estimate_series(designs, w.years, RIGHTS, ["is_qpv"], scheme="rotating"), a.repeat)
    n_rec = len(frames[0])
    overlap = float(np.mean(samples[1]["in_previous"]))
    rows = [
        ("`simulate_waves`, 3 years", f"{t_sim:.2f}", f"{n_rec:,} recipients in year 1, {2 * a.territories:,} territories"),
        ("`select_wave` rotating (share 0.25), per wave", " / ".join(f"{t:.2f}" for t in t_sel),
         f"n = {len(samples[0]):,} per wave; {overlap:.0%} of wave 2 also in wave 1"),
        ("`estimate_change` by is_qpv, 4 rights", f"{t_nat:.3f}", "2 domains x 4 rights"),
        ("`estimate_change` by territory, 4 rights", f"{t_ter:.3f}",
         f"{len(res.table):,} changes (domains x rights) in one pass"),
        ("`estimate_series`, 3 waves by is_qpv", f"{t_ser:.3f}", "yearly, 3 pairwise changes, GLS trend"),
    ]
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    body = (f"`python benchmarks/bench_change.py --territories {a.territories} --n {a.n}` "
            f"({time.strftime('%Y-%m-%d')}, 1-min load {load:.1f} at the end): medians of {a.repeat} runs.\n\n"
            f"Machine: {machine()}.\n\n| job | time (s) | notes |\n|---|---:|---|\n"
            + "\n".join(f"| {j} | {t} | {n} |" for j, t, n in rows) + "\n")
    print(body)
    if a.write:
        replace_section("Follow-up: waves, changes, series", body)


if __name__ == "__main__":
    main()
