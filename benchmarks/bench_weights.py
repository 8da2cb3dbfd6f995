"""Weighting benchmarks: raking 1,000,000 records and 500 bootstrap replicates.

Run ``python benchmarks/bench_weights.py [--peers] [--write]``:

1. raking 1,000,000 records on three margins of 10, 20 and 50 categories
   (goal < 2 s), beside svy, samplics and R's ``rake`` / ``calibrate`` with
   ``--peers``, checking that the weights agree;
2. 500 Rao–Wu bootstrap replicates of a stratified sample of 200,000 rows and
   take-up rates for 1,500 territories x 4 rights with replicate variances
   (goal < 30 s).

``--write`` replaces the ``## Weighting`` section of ``benchmarks/RESULTS.md``.
Timings are medians of ``--repeat`` runs (data built in memory; not timed).
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd

from nonrecours.design import SurveyDesign
from nonrecours.estimation import estimate_rates
from nonrecours.weights import Margins, calibrate_weights, make_replicates

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from _bench import machine, replace_section, timed  # noqa: E402

SIZES = (10, 20, 50)


def raking_data(n: int = 1_000_000, seed: int = 1):
    rng = np.random.default_rng(seed)
    df = pd.DataFrame({f"m{k}": rng.integers(0, k, n) for k in SIZES})
    d = rng.uniform(1.0, 3.0, n)
    rows = []
    for k in SIZES:
        t = np.bincount(df[f"m{k}"], weights=d, minlength=k) * rng.uniform(0.9, 1.1, k)
        t *= 2.0 * n / t.sum()
        rows += [(f"m{k}", str(i), float(t[i])) for i in range(k)]
    return df, d, pd.DataFrame(rows, columns=["variable", "category", "total"])


def peer_svy(df, d, margins):
    import polars as pl
    import svy
    pdf = pl.DataFrame({**{c: df[c].to_numpy() for c in df.columns}, "w": d})
    controls = {v: {int(c): t for c, t in zip(g.category, g.total)} for v, g in margins.groupby("variable")}

    def run():
        s = svy.Sample(pdf, svy.Design(wgt="w")).weighting.rake(controls=controls, tol=1e-9, max_iter=1000)
        return s.data["rk_wgt"].to_numpy()
    return run


def peer_samplics(df, d, margins):
    from samplics.weighting import SampleWeight
    mcodes = {c: df[c].to_numpy() for c in df.columns}
    control = {v: {int(c): t for c, t in zip(g.category, g.total)} for v, g in margins.groupby("variable")}

    def run():
        return np.asarray(SampleWeight().rake(samp_weight=d, control=control, margins=mcodes), dtype=float)
    return run


def peer_r(df, d, margins, what: str) -> tuple[float, np.ndarray] | None:
    with tempfile.TemporaryDirectory() as tmp:
        df.assign(w=d).to_csv(f"{tmp}/d.csv", index=False)
        margins.to_csv(f"{tmp}/m.csv", index=False)
        pops = ", ".join(f"data.frame(m{k} = factor(0:{k - 1}), Freq = mm$total[mm$variable == 'm{k}'])" for k in SIZES)
        call = (f"rake(des, list({', '.join(f'~m{k}' for k in SIZES)}), list({pops}), "
                "control = list(maxit = 1000, epsilon = 1e-12))") if what == "rake" else (
            "calibrate(des, ~" + " + ".join(f"m{k}" for k in SIZES) + ", tot, calfun = 'raking', epsilon = 1e-12)")
        script = f"""suppressMessages(library(survey))
d <- read.csv('{tmp}/d.csv'); for (k in c({', '.join(map(str, SIZES))})) d[[paste0('m', k)]] <- factor(d[[paste0('m', k)]], levels = 0:(k-1))
mm <- read.csv('{tmp}/m.csv', colClasses = c('character', 'character', 'numeric'))
des <- svydesign(ids = ~1, weights = ~w, data = d)
mmx <- model.matrix(~{' + '.join(f'm{k}' for k in SIZES)}, d[1:2, ])
tot <- c(sum(mm$total[mm$variable == 'm10']), {', '.join(f"mm$total[mm$variable == 'm{k}'][-1]" for k in SIZES)})
names(tot) <- colnames(mmx)
t0 <- Sys.time(); r <- {call}; el <- as.numeric(Sys.time() - t0, units = 'secs')
write.csv(data.frame(w = weights(r)), '{tmp}/w.csv', row.names = FALSE); cat(el, '\\n')
"""
        p = subprocess.run(["Rscript", "-e", script], capture_output=True, text=True)
        if p.returncode != 0:
            print(f"R {what} failed: {p.stderr[-400:]}", file=sys.stderr)
            return None
        return float(p.stdout.split()[-1]), pd.read_csv(f"{tmp}/w.csv")["w"].to_numpy()


def bench_raking(repeat: int, peers: bool) -> list[dict]:
    df, d, mt = raking_data()
    m = Margins.from_frame(mt)
    t, res = timed(lambda: calibrate_weights(df, d, m, method="raking"), repeat)
    ours = res.weights
    rows = [{"workload": "raking 1M rows, margins 10/20/50", "tool": "nonrecours calibrate_weights (raking)",
             "seconds": t, "max_rel_diff": 0.0, "note": f"{res.iterations} Newton iterations, misfit {res.max_rel_misfit:.1e}"}]
    if peers:
        for name, make in (("svy 0.35 weighting.rake", peer_svy), ("samplics 0.6 SampleWeight.rake", peer_samplics)):
            try:
                tp, w = timed(make(df, d, mt), repeat)
                rows.append({"workload": rows[0]["workload"], "tool": name, "seconds": tp,
                             "max_rel_diff": float(np.max(np.abs(w / ours - 1))), "note": ""})
            except Exception as exc:  # noqa: BLE001 - a peer missing or failing is reported, not fatal
                rows.append({"workload": rows[0]["workload"], "tool": name, "seconds": np.nan,
                             "max_rel_diff": np.nan, "note": f"failed: {type(exc).__name__}"})
        for what in ("rake", "calibrate"):
            out = peer_r(df, d, mt, what)
            if out is not None:
                rows.append({"workload": rows[0]["workload"], "tool": f"R survey {what}", "seconds": out[0],
                             "max_rel_diff": float(np.max(np.abs(out[1] / ours - 1))), "note": "one run, timed in R"})
    return rows


def bench_bootstrap(repeat: int) -> list[dict]:
    rng = np.random.default_rng(2)
    n, T = 200_000, 1500
    territory = rng.integers(0, T, n)
    is_qpv = (territory % 2).astype(int)
    benefit = rng.choice(["RSA", "AAH", "ASPA", "ASS"], n, p=[0.45, 0.3, 0.15, 0.1])
    stratum = pd.Series(is_qpv.astype(str)) + "|" + benefit
    df = pd.DataFrame({"territory": territory.astype(str), "stratum": stratum, "psu": np.arange(n).astype(str),
                       "weight": rng.uniform(5, 30, n)})
    for r in ("cmuc", "acs", "tpn", "tss"):
        y = (rng.random(n) < 0.6).astype(float)
        y[rng.random(n) < 0.3] = np.nan
        df[r] = y
    des = SurveyDesign(df, weight="weight", strata="stratum", psu="psu")
    rights = ["cmuc", "acs", "tpn", "tss"]
    t_gen, rep = timed(lambda: make_replicates(des, "bootstrap", replicates=500, seed=1), repeat)
    # each estimation on a fresh Replicates object, so that its one-time rank (the degrees of freedom) is timed too
    fresh = iter([rep.with_replicates(dataclasses.replace(rep.replicates)) for _ in range(repeat)])
    t_est, res = timed(lambda: estimate_rates(next(fresh), rights, by="territory"), repeat)
    r = dataclasses.replace(rep.replicates)
    t_rank, rank = timed(lambda: dataclasses.replace(r).rank, 1)
    wl = "500 bootstrap replicates, 200k rows, 1,500 territories x 4 rights"
    return [{"workload": wl, "tool": "nonrecours make_replicates + estimate_rates", "seconds": t_gen + t_est,
             "max_rel_diff": np.nan, "note": f"replicates {t_gen:.2f} s + estimation {t_est:.2f} s "
                                             f"({len(res.to_frame())} rows), of which the replicate rank "
                                             f"(design df = {rank} - 1, computed once per replicate set) {t_rank:.2f} s"}]


def section_body(table: pd.DataFrame, header: str) -> str:
    """The ``## Weighting`` section of RESULTS.md, without its heading: the header line and the table."""
    lines = [header, "", "| workload | tool | seconds | max rel. diff. vs nonrecours | note |", "|---|---|---|---|---|"]
    for r in table.itertuples():
        diff = "" if pd.isna(r.max_rel_diff) else f"{r.max_rel_diff:.1e}"
        sec = "" if pd.isna(r.seconds) else f"{r.seconds:.3f}"
        lines.append(f"| {r.workload} | {r.tool} | {sec} | {diff} | {r.note} |")
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--peers", action="store_true", help="also time svy, samplics and R (rake, calibrate)")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--write", action="store_true", help="write the ## Weighting section of RESULTS.md")
    args = ap.parse_args()
    rows = bench_raking(args.repeat, args.peers) + bench_bootstrap(args.repeat)
    table = pd.DataFrame(rows)
    with pd.option_context("display.width", 200, "display.max_colwidth", 80):
        print(table.to_string(index=False))
    load = os.getloadavg()[0]
    header = (f"Machine: {machine()}; 1-min load average {load:.1f} at the end of the run. Median of {args.repeat} runs (R: one run, timed inside R); "
              f"`python benchmarks/bench_weights.py{' --peers' if args.peers else ''} --write`. "
              "Goals: raking < 2 s, bootstrap workload < 30 s.")
    print(header)
    if args.write:
        replace_section("Weighting", section_body(table, header))


if __name__ == "__main__":
    main()
