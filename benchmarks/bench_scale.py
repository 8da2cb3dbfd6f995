"""Benchmark of scale: the administrative aggregation on 5, 20 and 50 million rows, and parallel validation.

For each size, a population is simulated (in its own process) and its
recipients written as one Parquet file under ``--dir``. Then every engine
computes the administrative rates (eligibility and four rights by territory,
with disclosure control) from that file, each run in a fresh process:

- ``pandas``: the in-memory path (the needed columns read into pandas, numpy counts);
- ``duckdb``: the SQL read in place by DuckDB, memory limit ``--memory-limit`` (4 GB);
- ``spark``: the same SQL on a local Spark session (``local[2]``, driver memory 4 GB).

Time is wall-clock from the start of the process's work (imports excluded,
session start included); peak memory is the peak of the summed resident set
size of the process and its children (the Spark JVM), sampled from ``/proc``
every 0.2 s. Each engine's territory table is compared cell by cell with the
in-memory one where both ran (a hash of the table's CSV).

``validate`` is timed with 1, 2 and 4 workers on the same settings; the
output files are compared.

Usage::

    python benchmarks/bench_scale.py [--sizes 5,20,50] [--dir /tmp/scale] [--engines pandas,duckdb,spark]
                                     [--memory-limit 4GB] [--validate-replications 200] [--no-write-results]

The data folder is deleted at the end unless ``--keep``. Results go to the
section ``## Scale`` of ``benchmarks/RESULTS.md``.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))

from _bench import RESULTS, machine, replace_section  # noqa: E402

RIGHTS = ["cmuc", "acs", "tpn", "tss"]

SIMULATE = r"""
import json, sys, time
from nonrecours.simulate import SimulationParams, expected_recipients, simulate_population
target, seed, out = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
n = int(1.04 * target / expected_recipients(1, SimulationParams())) + 1  # draws fall a little short
t = time.perf_counter()
pop = simulate_population(n, seed=seed)
sim = time.perf_counter() - t
t = time.perf_counter()
pop.recipients.to_parquet(out, index=False)
print(json.dumps({"n_territories": 2 * n, "rows": len(pop.recipients), "simulate_s": sim,
                  "write_s": time.perf_counter() - t}))
"""

AGGREGATE = r"""
import hashlib, json, sys, time, warnings
engine, path, memory_limit = sys.argv[1], sys.argv[2], sys.argv[3]
rights = ["cmuc", "acs", "tpn", "tss"]
warnings.simplefilter("ignore")
from nonrecours.io import read_table
from nonrecours.admin.counts import admin_rates
from nonrecours.admin.counts_sql import admin_rates_sql
t = time.perf_counter()
if engine == "pandas":
    res = admin_rates(read_table(path, columns=["territory", "departement", *rights]), rights)
else:
    from nonrecours.engines import open_engine
    with open_engine(engine, memory_limit=memory_limit, threads=2) as eng:
        res = admin_rates_sql(eng, path, rights)
elapsed = time.perf_counter() - t
digest = hashlib.sha256(res.table.to_csv(index=False).encode()).hexdigest()[:16]
print(json.dumps({"seconds": elapsed, "cells": len(res.table), "digest": digest, **res.n_suppressed}))
"""


def _tree_rss(root: int) -> int:
    """Summed resident set size (bytes) of ``root`` and its descendants, from /proc."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as fh:
                ppid = int(fh.read().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        children.setdefault(ppid, []).append(int(entry))
    total, todo = 0, [root]
    while todo:
        pid = todo.pop()
        todo.extend(children.get(pid, ()))
        try:
            with open(f"/proc/{pid}/statm") as fh:
                total += int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
        except (OSError, IndexError, ValueError):
            pass
    return total


def run(code_or_args: list[str], *, timeout: float = 3600) -> tuple[dict | None, float, str]:
    """Run a child process; its last stdout line as JSON (None on failure), peak tree RSS (MiB), stderr tail."""
    proc = subprocess.Popen(code_or_args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT)
    peak = 0
    t0 = time.time()
    while proc.poll() is None:
        peak = max(peak, _tree_rss(proc.pid))
        if time.time() - t0 > timeout:
            proc.kill()
        time.sleep(0.2)
    out, err = proc.communicate()
    result = None
    if proc.returncode == 0 and out.strip():
        try:
            last = out.strip().splitlines()[-1]
            result = json.loads(last[last.rfind("{"):])
        except json.JSONDecodeError:
            result = None
    tail = (err.strip().splitlines() or [""])[-1][:200]
    if result is None and not tail:
        tail = f"exit status {proc.returncode}, no result"
    return result, peak / 2**20, tail if result is None else ""


def load() -> str:
    return " / ".join(f"{x:.1f}" for x in os.getloadavg())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", default="5,20,50", help="millions of rows")
    ap.add_argument("--dir", default="/tmp/nonrecours-scale")
    ap.add_argument("--engines", default="pandas,duckdb,spark")
    ap.add_argument("--memory-limit", default="4GB")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--validate-replications", type=int, default=200)
    ap.add_argument("--workers", default="1,2,4")
    ap.add_argument("--keep", action="store_true")
    ap.add_argument("--no-write-results", action="store_true")
    args = ap.parse_args()
    data = Path(args.dir)
    data.mkdir(parents=True, exist_ok=True)
    engines = args.engines.split(",")
    rows, notes = [], []
    loads = [load()]
    try:
        for size in [float(s) for s in args.sizes.split(",")]:
            path = data / f"recipients_{size}M.parquet"
            sim, sim_peak, err = run([sys.executable, "-c", SIMULATE, str(int(size * 1_000_000)), str(args.seed),
                                      str(path)])
            if sim is None:
                notes.append(f"simulating {size} M rows failed: {err}")
                continue
            print(f"{size}M: simulated {sim['rows']:,} rows in {sim['simulate_s']:.1f} s "
                  f"(peak {sim_peak:.0f} MiB), file {path.stat().st_size / 2**20:.0f} MiB", flush=True)
            ref = None
            for engine in engines:
                res, peak, err = run([sys.executable, "-c", AGGREGATE, engine, str(path), args.memory_limit])
                loads.append(load())
                same = "" if res is None or ref is None else ("yes" if res["digest"] == ref else "NO")
                if engine == "pandas" and res is not None:
                    ref = res["digest"]
                rows.append({"rows": sim["rows"], "engine": engine, "seconds": None if res is None else res["seconds"],
                             "peak_mib": peak, "same": same, "cells": None if res is None else res["cells"],
                             "error": err, "file_mib": path.stat().st_size / 2**20})
                print(rows[-1], flush=True)
            if not args.keep:
                path.unlink(missing_ok=True)
        vrows = []
        digests = {}
        for w in [int(x) for x in args.workers.split(",")]:
            out = data / f"validate_w{w}"
            shutil.rmtree(out, ignore_errors=True)
            t = time.perf_counter()
            cmd = [sys.executable, "-m", "nonrecours", "validate", "--territories", "100", "--replications",
                   str(args.validate_replications), "--n", "3000", "--seed", "1", "--levels",
                   "national,qpv,gap,benefit,territory", "--workers", str(w), "--out", str(out)]
            proc = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT)
            secs = time.perf_counter() - t
            loads.append(load())
            digests[w] = hashlib.sha256(b"".join((out / f).read_bytes() for f in
                                                 ("validation.csv", "validation.json"))).hexdigest()
            vrows.append((w, secs, proc.returncode))
            print(w, secs, proc.returncode, flush=True)
    finally:
        if not args.keep:
            shutil.rmtree(data, ignore_errors=True)

    first = next(iter(digests.values()), None)
    lines = [
        f"`python benchmarks/bench_scale.py --sizes {args.sizes} --engines {args.engines}` "
        f"({time.strftime('%Y-%m-%d %H:%M')} UTC): the administrative aggregation (eligibility and four rights "
        "by territory, primary and secondary suppression) from one Parquet file of simulated recipients; every "
        "run in a fresh process; time from the start of the work (imports excluded; Spark's session start and "
        "DuckDB's connection included); peak memory = peak summed RSS of the process and its children "
        f"(the Spark JVM), sampled every 0.2 s. DuckDB: memory limit {args.memory_limit}, 2 threads; Spark: "
        "`local[2]`, driver memory 4 GB; pandas: the needed columns only. 'same' = the territory table equals "
        "the in-memory one cell by cell (hash of its CSV).",
        "",
        f"Machine: {machine()}. The machine was shared with other engineers' jobs during the run: load "
        f"averages (1 / 5 / 15 min) went from {loads[0]} to {loads[-1]}, so times are upper bounds.",
        "",
        "| rows | engine | time (s) | peak memory (MiB) | same as in-memory | notes |",
        "|---:|---|---:|---:|---|---|",
    ]
    for r in rows:
        t = "failed" if r["seconds"] is None else f"{r['seconds']:.1f}"
        note = r["error"] or f"Parquet file {r['file_mib']:.0f} MiB; {r['cells']:,} cells"
        lines.append(f"| {r['rows']:,} | {r['engine']} | {t} | {r['peak_mib']:.0f} | {r['same'] or '–'} | {note} |")
    lines += ["", *notes]
    if vrows:
        lines += ["", f"`nonrecours validate --territories 100 --replications {args.validate_replications} --n 3000 "
                  "--levels national,qpv,gap,benefit,territory --workers N` (stratified by territory):", "",
                  "| workers | time (s) | files identical to 1 worker |", "|---:|---:|---|"]
        for w, secs, rc in vrows:
            same = "yes" if digests[w] == first else "NO"
            lines.append(f"| {w} | {secs:.1f} | {same}{'' if rc == 0 else ' (failed)'} |")
    body = "\n".join(lines)
    print(body)
    if not args.no_write_results:
        replace_section("Scale", body)
        print(f"wrote section '## Scale' of {RESULTS}")


if __name__ == "__main__":
    main()
