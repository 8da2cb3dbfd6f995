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

``--api`` runs only the third workload (issue 31): raking the same 1,000,000 rows
through the public API (``SurveyDesign`` -> ``weights.calibrate`` -> ``.weights``)
beside a one-pass numpy IPF to 1e-10 and the kernel ``calibrate_weights`` alone,
interleaved in one process (medians), and the peak memory of each in a fresh
process (tracemalloc peak and the rise of the resident set, whose high-water mark
is reset through ``/proc/self/clear_refs``); with ``--write`` it replaces the
section ``## Raking through the API`` only.
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


def numpy_ipf(codes: list[np.ndarray], totals: list[np.ndarray], d: np.ndarray,
              tol: float = 1e-10) -> tuple[np.ndarray, int]:
    """The reference: iterative proportional fitting, one ``np.bincount`` per margin and sweep, until every
    margin's relative misfit ``|sum w - T| / T`` is below ``tol``; the weights and the number of sweeps."""
    w = d.copy()
    for sweep in range(1, 1000):
        for c, t in zip(codes, totals):
            w *= (t / np.bincount(c, w, t.size))[c]
        if max(np.max(np.abs(np.bincount(c, w, t.size) / t - 1)) for c, t in zip(codes, totals)) < tol:
            return w, sweep
    return w, 1000


def api_workloads(n: int = 1_000_000):
    """The three calls compared on the same data: the public API, the kernel, the numpy IPF."""
    from nonrecours.weights.calibration import calibrate

    df, d, mt = raking_data(n)
    df = df.assign(w=d)
    m = Margins.from_frame(mt)
    codes = [df[f"m{k}"].to_numpy() for k in SIZES]
    totals = [mt[mt["variable"] == f"m{k}"].set_index("category")["total"].reindex([str(i) for i in range(k)])
              .to_numpy() for k in SIZES]
    return {"api": lambda: calibrate(SurveyDesign(df, weight="w"), m, method="raking").weights,
            "kernel": lambda: calibrate_weights(df, d, m, method="raking").weights,
            "ipf": lambda: numpy_ipf(codes, totals, d)[0]}


def _rss_kib(field: str) -> int:
    with open("/proc/self/status") as fh:
        return next(int(line.split()[1]) for line in fh if line.startswith(field + ":"))


def memory_child(which: str) -> None:
    """In a fresh process: peak memory of one call of ``which`` (JSON on stdout)."""
    import json
    import tracemalloc

    api_workloads(2_000)[which]()  # imports and first-use caches outside the measure
    fn = api_workloads()[which]
    out = {}
    try:
        with open("/proc/self/clear_refs", "w") as fh:  # reset the resident set's high-water mark (Linux)
            fh.write("5")
        base = _rss_kib("VmRSS")
        fn()
        out["rss_mib"] = (_rss_kib("VmHWM") - base) / 1024
    except OSError:
        out["rss_mib"] = float("nan")
    tracemalloc.start()
    fn()
    out["traced_mib"] = tracemalloc.get_traced_memory()[1] / 2**20
    tracemalloc.stop()
    print(json.dumps(out))


def bench_api(repeat: int) -> tuple[list[dict], dict]:
    """Interleaved medians of the three calls (alternating order), then each one's memory in a fresh process."""
    import json
    import time

    calls = api_workloads()
    results = {k: f() for k, f in calls.items()}  # warm-up, and the weights compared
    times: dict[str, list[float]] = {k: [] for k in calls}
    order = list(calls)
    for r in range(repeat):
        for k in (order if r % 2 == 0 else order[::-1]):
            t0 = time.perf_counter()
            calls[k]()
            times[k].append(time.perf_counter() - t0)
    mem = {}
    for k in calls:
        p = subprocess.run([sys.executable, __file__, "--memory-child", k], capture_output=True, text=True, check=True)
        mem[k] = json.loads(p.stdout.strip().splitlines()[-1])
    diff = float(np.max(np.abs(results["api"] / results["ipf"] - 1)))
    rows = []
    for k, label in (("api", "public API: SurveyDesign -> calibrate -> weights"),
                     ("kernel", "kernel: calibrate_weights"), ("ipf", "numpy IPF to 1e-10 (reference)")):
        t = np.array(times[k])
        rows.append({"call": label, "median": float(np.median(t)), "min": float(t.min()), "max": float(t.max()),
                     "ratio": float(np.median(t) / np.median(times["ipf"])), "rss_mib": mem[k]["rss_mib"],
                     "traced_mib": mem[k]["traced_mib"]})
    return rows, {"max_rel_diff": diff}


def api_section(rows: list[dict], info: dict, repeat: int, loads: tuple[float, float]) -> str:
    """The ``## Raking through the API`` section: machine, load, and the table."""
    import datetime as dt

    lines = [f"`python benchmarks/bench_weights.py --api --repeat {repeat}` ({dt.date.today().isoformat()}): raking "
             "1,000,000 rows to 3 margins of 10, 20 and 50 categories, the three calls interleaved in one process "
             f"(alternating order, {repeat} runs each: median, min-max); peak memory of one call in a fresh process "
             "(rise of the resident set over the data, and tracemalloc's peak). Max relative difference of the "
             f"API's weights from IPF's: {info['max_rel_diff']:.1e}.", "",
             f"Machine: {machine()}; 1-min load average {loads[0]:.1f} at the start, {loads[1]:.1f} at the end.", "",
             "| call | median (s) | min-max (s) | / IPF | peak RSS rise (MiB) | tracemalloc peak (MiB) |",
             "|---|---:|---:|---:|---:|---:|"]
    for r in rows:
        lines.append(f"| {r['call']} | {r['median']:.3f} | {r['min']:.3f}-{r['max']:.3f} | {r['ratio']:.2f}x | "
                     f"{r['rss_mib']:.0f} | {r['traced_mib']:.0f} |")
    return "\n".join(lines)


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
    ap.add_argument("--api", action="store_true", help="only raking through the API beside a numpy IPF (issue 31)")
    ap.add_argument("--memory-child", choices=("api", "kernel", "ipf"), help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.memory_child:
        memory_child(args.memory_child)
        return
    if args.api:
        load0 = os.getloadavg()[0]
        api_rows, info = bench_api(args.repeat)
        body = api_section(api_rows, info, args.repeat, (load0, os.getloadavg()[0]))
        print(body)
        if args.write:
            replace_section("Raking through the API", body)
        return
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
