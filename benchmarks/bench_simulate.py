"""Benchmark: simulating 5,000,000 recipients, then writing them as CSV and Parquet.

Each measurement runs in a fresh subprocess, so that its peak resident memory
(``resource.getrusage(...).ru_maxrss``, the figure the 4 GB budget is about)
covers that job alone: the interpreter and imports, the simulation, and, for
the write jobs, the writing. Time is wall-clock (``time.perf_counter``).

The number of QPVs is chosen, near its expected value, so that the drawn
recipient count (for the seed) is the smallest reaching the target: the
territories are drawn first from the seeded generator, so the count is known
from that cheap step alone.

Usage::

    python benchmarks/bench_simulate.py [--recipients 5000000] [--seed 1] [--repeat 3] [--no-write-results]

The results go to the section ``## Simulation`` of ``benchmarks/RESULTS.md``
(other sections are left as they are).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from _bench import RESULTS, machine, replace_section  # noqa: E402

CHILD = r"""
import json, resource, sys, time
t0 = time.perf_counter()
import numpy as np
from nonrecours.simulate import simulate_population
n, seed, job, out = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3], sys.argv[4]
base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
t = time.perf_counter()
pop = simulate_population(n, seed=seed)
sim = time.perf_counter() - t
res = {"n_territories": n, "n_recipients": len(pop.recipients), "simulate_s": sim,
       "frame_mb": pop.recipients.memory_usage(deep=True).sum() / 2**20, "baseline_rss_mb": base / 1024}
if job != "simulate":
    t = time.perf_counter()
    paths = pop.write(out, job)
    res["write_s"] = time.perf_counter() - t
    res["recipients_file_mb"] = paths["recipients"].stat().st_size / 2**20
res["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(json.dumps(res))
"""


def n_territories_for(target: int, seed: int) -> int:
    """Number of QPVs whose drawn recipient count is the smallest one reaching ``target``."""
    from nonrecours._checks import check_random_state
    from nonrecours.simulate import SimulationParams, expected_recipients
    from nonrecours.simulate.territories import draw_territories

    p = SimulationParams()

    def drawn(n: int) -> int:
        return int(draw_territories(n, check_random_state(seed), p.territory, p.covariates).n_recipients.sum())

    guess = target / expected_recipients(1, p)
    # the count is not monotone in n (each n reshuffles the draws): scan +-15 % around the
    # expectation and keep the n whose count exceeds the target by the least
    best = None
    for n in range(max(1, int(0.85 * guess)), int(1.15 * guess) + 2):
        count = drawn(n)
        if count >= target and (best is None or count < best[1]):
            best = (n, count)
    if best is None:
        raise SystemExit(f"no number of territories near {guess:.0f} reaches {target} recipients")
    return best[0]


def run_child(n: int, seed: int, job: str, out: str) -> dict:
    proc = subprocess.run([sys.executable, "-c", CHILD, str(n), str(seed), job, out],
                          capture_output=True, text=True, check=True)
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--recipients", type=int, default=5_000_000)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--no-write-results", action="store_true")
    args = ap.parse_args()

    n = n_territories_for(args.recipients, args.seed)
    sims = [run_child(n, args.seed, "simulate", "") for _ in range(args.repeat)]
    with tempfile.TemporaryDirectory() as tmp:
        csv = run_child(n, args.seed, "csv", str(Path(tmp) / "csv"))
        parquet = run_child(n, args.seed, "parquet", str(Path(tmp) / "parquet"))
    times = sorted(s["simulate_s"] for s in sims)
    s0 = sims[0]
    lines = [
        f"`python benchmarks/bench_simulate.py` ({time.strftime('%Y-%m-%d')}): "
        f"`simulate_population({n}, seed={args.seed})` draws {s0['n_recipients']:,} recipients "
        f"in {2 * n:,} territories. Each job runs in a fresh process; peak memory is the process's "
        "maximum resident set size (interpreter and imports included); budget: 60 s and 4 GB.",
        "",
        f"Machine: {machine()}.",
        "",
        "| job | time (s) | peak RSS (MiB) | notes |",
        "|---|---:|---:|---|",
        f"| simulate ({args.repeat} runs: min / median / max) | {times[0]:.2f} / {times[len(times) // 2]:.2f} / "
        f"{times[-1]:.2f} | {max(s['peak_rss_mb'] for s in sims):.0f} | recipients frame "
        f"{s0['frame_mb']:.0f} MiB in memory; {s0['baseline_rss_mb']:.0f} MiB after imports |",
        f"| write CSV (3 files) | {csv['write_s']:.2f} | {csv['peak_rss_mb']:.0f} | recipients.csv "
        f"{csv['recipients_file_mb']:.0f} MiB; simulation in the same process: {csv['simulate_s']:.2f} s |",
        f"| write Parquet (3 files) | {parquet['write_s']:.2f} | {parquet['peak_rss_mb']:.0f} | recipients.parquet "
        f"{parquet['recipients_file_mb']:.0f} MiB; simulation in the same process: {parquet['simulate_s']:.2f} s |",
        "",
    ]
    body = "\n".join(lines)
    print(f"## Simulation\n\n{body}")
    if not args.no_write_results:
        replace_section("Simulation", body)
        print(f"wrote section '## Simulation' of {RESULTS}")


if __name__ == "__main__":
    main()
