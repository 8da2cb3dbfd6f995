"""Benchmark of the whole administrative phase: sources -> eligibility -> QPV -> linkage -> rates.

The population and its sources are simulated and written as Parquet first
(not timed); the phase then runs in a fresh process on the files, so that its
peak resident memory (``ru_maxrss``, interpreter and imports included) is the
phase's own. The health insurance's file holds ``--health-ratio`` times as many
records as there are recipients (1.4: 5 million recipients against 7 million
health-insurance records), the suppliers' lists their takers plus 50 %.

Run ``python benchmarks/bench_admin_phase.py --recipients 5000000 [--folder DIR] [--no-write]``;
the results go to the section ``## Administrative phase`` of ``RESULTS.md``.
``--folder`` keeps the simulated sources (and reuses them when the folder
already holds them, so that the phase can be timed again without simulating).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import subprocess
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from _bench import machine, replace_section  # noqa: E402

TITLE = "Administrative phase"

CHILD = r"""
import json, os, resource, sys, time
import pandas as pd
from nonrecours.admin.pipeline import run_admin_phase, compare_with_truth
folder = sys.argv[1]
truth_links = pd.read_parquet(f"{folder}/truth_links.parquet")  # the truth is read before the clock starts
load_before = os.getloadavg()
t = time.perf_counter()
ph = run_admin_phase(folder, truth_links=truth_links)
total = time.perf_counter() - t
load_after = os.getloadavg()
cmp = compare_with_truth(ph.rates.table, pd.read_parquet(f"{folder}/truth.parquet"))
q = ph.quality
cpu = resource.getrusage(resource.RUSAGE_SELF)
out = {"total_s": total, "timings": ph.timings, "cpu": ph.cpu, "cpu_total_s": cpu.ru_utime + cpu.ru_stime, "load": [load_before, load_after], "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
       "quality": q.to_dict(orient="records"), "compare": cmp, "location": ph.location_counts,
       "n_links": int(len(ph.links)), "n_number": int((ph.links["method"] == "number").sum())}
with open(sys.argv[2], "w") as f:  # not stdout: nothing else can mix into it
    json.dump(out, f)
"""


def simulate(n_recipients: int, folder: Path, health_ratio: float, seed: int = 1) -> dict:
    from nonrecours.simulate import expected_recipients, simulate_population
    from nonrecours.simulate.sources import SourceParams, simulate_sources

    n_terr = max(1, round(1500 * n_recipients / expected_recipients(1500)))
    t = time.perf_counter()
    pop = simulate_population(n_terr, seed=seed)
    health_takers = float(((pop.recipients["cmuc"] == 1) | (pop.recipients["acs"] == 1)).mean())
    extra = max(health_ratio / max(health_takers, 1e-9) - 1.0, 0.0)
    t1 = time.perf_counter()
    src = simulate_sources(pop, seed=seed + 1, params=replace(SourceParams(), health_extra_ratio=extra))
    sources_s = time.perf_counter() - t1
    t1 = time.perf_counter()
    src.write(folder, "parquet")
    return {"territories": n_terr, "recipients": len(pop.recipients), "health": len(src.tables["health"]),
            "tpn": len(src.tables["tpn"]), "tss": len(src.tables["tss"]), "simulate_s": time.perf_counter() - t,
            "sources_s": sources_s, "write_s": time.perf_counter() - t1}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--recipients", type=int, default=500_000)
    ap.add_argument("--health-ratio", type=float, default=1.4)
    ap.add_argument("--no-write", action="store_true")
    ap.add_argument("--folder", type=Path, default=None, help="keep (or reuse) the simulated sources here")
    a = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = a.folder or Path(tmp) / "sources"
        info = folder / "simulated.json"
        if info.is_file():
            sim = json.loads(info.read_text())
        else:
            sim = simulate(a.recipients, folder, a.health_ratio)
            info.write_text(json.dumps(sim))
        print("simulated", json.dumps(sim), flush=True)
        out = Path(tmp) / "result.json"
        proc = subprocess.run([sys.executable, "-c", CHILD, str(folder), str(out)], capture_output=True, text=True)
        if proc.returncode:
            sys.exit(proc.stderr[-3000:])
        res = json.loads(out.read_text())
    print(json.dumps(res, indent=1))
    if a.no_write:
        return
    tm, cpu = res["timings"], res["cpu"]
    lb, la = res["load"]
    rows = "\n".join(
        f"| {q['source']} | {q['links_number']:,} | {q['links_probabilistic']:,} | {q['share_number']:.3f} | "
        f"{q['est_precision']:.4f} / {q['est_recall']:.4f} | {q['true_precision']:.4f} / {q['true_recall']:.4f} |"
        for q in res["quality"])
    c = res["compare"]
    body = (
        f"`nice -n 5 python benchmarks/bench_admin_phase.py --recipients {a.recipients}` ({dt.date.today()}): "
        f"{sim['recipients']:,} recipients in {2 * sim['territories']:,} territories (4 organisms' files), "
        f"{sim['health']:,} health-insurance records (CMU-C/ACS), {sim['tpn']:,} TPN and {sim['tss']:,} TSS "
        "holders (the suppliers' lists at their natural size: takers plus 50 %), written as Parquet "
        f"(not timed: population, sources and writing {sim['simulate_s']:.0f} s, of which the sources "
        f"{sim.get('sources_s', float('nan')):.0f} s and writing {sim.get('write_s', float('nan')):.0f} s). "
        "The phase runs in a fresh process on the files; peak memory is that process's maximum resident "
        "set size; CPU is the process's user + system time (all threads). Load average (1, 5, 15 min) "
        f"before / after the phase: {lb[0]:.1f} {lb[1]:.1f} {lb[2]:.1f} / {la[0]:.1f} {la[1]:.1f} {la[2]:.1f} "
        "(2 CPUs shared with other sessions).\n\n"
        f"Machine: {machine()}\n\n"
        "| step | wall (s) | CPU (s) |\n|---|---:|---:|\n"
        + "".join(f"| {k} | {v:.1f} | {cpu.get(k, float('nan')):.1f} |\n" for k, v in tm.items())
        + f"| **whole phase** | **{res['total_s']:.1f}** | **{sum(v for k, v in cpu.items() if not k.startswith('linkage ')):.1f}** |\n\n"
        f"Peak RSS of the phase: {res['peak_rss_mb']:,.0f} MiB. Links: {res['n_links']:,}, of which "
        f"{res['n_number']:,} by number ({res['n_number'] / max(res['n_links'], 1):.1%}) and "
        f"{res['n_links'] - res['n_number']:,} probabilistic "
        f"({(res['n_links'] - res['n_number']) / max(res['n_links'], 1):.1%}; Splink 5, DuckDB backend).\n\n"
        "| source | links by number | probabilistic | share by number | model precision / recall | "
        "true precision / recall |\n|---|---:|---:|---:|---|---|\n" + rows + "\n\n"
        f"Rates against the simulator's true rates over {c['cells']:,} published territory × right cells: "
        f"mean absolute error {c['mae_observed']:.4f} observed, {c['mae_adjusted']:.4f} after the linkage-error "
        f"adjustment (mean error {c['mean_error_observed']:+.4f} → {c['mean_error_adjusted']:+.4f}).\n")
    replace_section(TITLE, body)


if __name__ == "__main__":
    main()
