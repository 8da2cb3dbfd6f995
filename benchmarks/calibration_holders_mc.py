"""Monte Carlo of the calibration to linked holders on the demo's design: SE/SD and coverage, before and after.

Usage: ``python benchmarks/calibration_holders_mc.py DEMO_FOLDER [REPLICATIONS]`` on a folder written by
``nonrecours demo`` (its ``study.toml`` calibrates to the holders). The administrative phase runs once (its
links are fixed: they are the files'); each replication draws a new sample (design seed), new respondents,
weights with the frame's margins only and with the holders too, and estimates the national and QPV take-up
rates. Prints, per right and domain, the true rate, the SD of the estimates over the draws, the mean SE and
the coverage of the 95 % intervals, before and after.
"""

from __future__ import annotations

import dataclasses
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

from nonrecours.estimation import estimate_rates
from nonrecours.study import stages
from nonrecours.study.config import load_study
from nonrecours.study.stages.admin import run_phase


def main(folder: Path, reps: int) -> pd.DataFrame:
    cfg = load_study(folder / "study.toml")
    rights = list(cfg.estimation.rights)
    frame = pd.read_csv(cfg.frame.path, dtype={"id": str})
    truth = []
    for dom, sel in (("national", np.ones(len(frame), bool)), ("0", frame["is_qpv"] == 0), ("1", frame["is_qpv"] == 1)):
        for r in rights:
            truth.append((r, dom, float(frame.loc[sel, r].mean())))  # mean of 1/0 over eligibles (NaN skipped)
    truth_df = pd.DataFrame(truth, columns=["right", "domain", "true"])
    t0 = time.perf_counter()
    phase = run_phase(cfg)
    print(f"admin phase {time.perf_counter() - t0:.1f} s", file=sys.stderr)
    rows = []
    for b in range(reps):
        c = dataclasses.replace(cfg, design=dataclasses.replace(cfg.design, seed=1000 + b))
        state: dict = {"tables": {}, "methods": {}, "seeds": {}, "counts": {}, "weight_summary": {}, "runs": []}
        state["admin_phase"] = phase
        for name in ("frame", "allocation", "selection", "responses", "weighting"):
            state.update(dict(stages.STAGES)[name](c, state))
        for label, design in (("before", state["design_frame_margins"]), ("after", state["design"])):
            for by in (None, "is_qpv"):
                t = estimate_rates(design, rights, by=by).to_frame(blank=False)
                dom = ["national"] * len(t) if by is None else t["is_qpv"].astype(str).tolist()
                rows += [
                    (b, label, r, d, e, s, lo, hi)
                    for r, d, e, s, lo, hi in zip(t["right"], dom, t["estimate"], t["se"], t["ci_low"], t["ci_high"])
                ]
        print(f"replication {b + 1}/{reps} ({time.perf_counter() - t0:.0f} s)", file=sys.stderr)
    res = pd.DataFrame(rows, columns=["rep", "calibration", "right", "domain", "estimate", "se", "lo", "hi"])
    res = res.merge(truth_df, on=["right", "domain"])
    res["covered"] = (res["lo"] <= res["true"]) & (res["true"] <= res["hi"])
    out = res.groupby(["right", "domain", "calibration"]).agg(
        true=("true", "first"),
        mean=("estimate", "mean"),
        sd=("estimate", "std"),
        mean_se=("se", "mean"),
        coverage=("covered", "mean"),
    )
    return out.unstack("calibration")


if __name__ == "__main__":
    table = main(Path(sys.argv[1]), int(sys.argv[2]) if len(sys.argv) > 2 else 50)
    pd.set_option("display.width", 200)
    print(table.round(4).to_string())
