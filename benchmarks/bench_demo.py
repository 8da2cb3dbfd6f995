"""The demo's stages (issue 31, item 4): `nonrecours demo` in a fresh process, then its maps and linkage alone.

Run ``python benchmarks/bench_demo.py --out DIR [--repeat N] [--idle 0.5]``. Each repeat runs ``nonrecours demo
--out DIR/k`` in a fresh process (wall, user + system CPU, peak RSS of the child; the stages' seconds from the run's
manifest), then, on the files of the first run, in this process: the 12 maps of the report (CPU seconds each: on a
shared machine the wall time grows with the load, the CPU time much less) and the administrative phase (wall and CPU
seconds per step, the linkage's true precision and recall per source). Prints a Markdown table per part and the load
average before and after; ``--idle L`` waits before each run for the 1-minute load to fall below ``L``.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd


def _load() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


def wait_idle(below: float, at_most: float = 180.0) -> str:
    """Wait (at most ``at_most`` seconds) for the 1-minute load average to fall below ``below``: the demo forks
    its independent work when a core is free (``nonrecours._background.core_free``: load below 1.5 on 2 cores),
    and a run right after another starts at the last one's load. The load when the run starts."""
    t0 = time.perf_counter()
    while os.getloadavg()[0] >= below and time.perf_counter() - t0 < at_most:
        time.sleep(2.0)
    return _load()


def run_demo(out: Path) -> dict:
    """One `nonrecours demo` in a fresh process: wall, CPU (user + system), peak RSS, the manifest's stages."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    subprocess.run([sys.executable, "-m", "nonrecours", "demo", "--out", str(out)], check=True, capture_output=True)
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    stages = json.loads((out / "results" / "publication" / "manifest.json").read_text())["timings_seconds"]
    return {"wall": wall, "cpu": cpu, "rss_mib": after.ru_maxrss / 1024, "stages": stages}


def maps_cpu(folder: Path) -> dict:
    """CPU seconds of the report's maps on a demo's results: 4 small-area, 4 administrative, 4 by département."""
    from nonrecours.report import maps

    res, pop = folder / "results" / "publication", folder / "population"
    shapes = maps.territory_shapes(pop / "qpv.geojson", pd.read_csv(pop / "territories.csv", dtype=str))
    out = {}
    for kind, name, col, sh, width in (
        ("sae", "sae.csv", "territory", shapes, True),
        ("admin", "admin_rates.csv", "territory", shapes, True),
        ("admin", "admin_departements.csv", "departement", maps.departement_shapes(), False),
    ):
        table = pd.read_csv(res / name, dtype={col: str})
        for right in ("cmuc", "acs", "tpn", "tss"):
            v = maps.map_values(table, kind, right, territory=col)
            t0 = time.process_time()
            maps.choropleth(v, sh, kind=kind, right=right, lang="fr", width=width)
            out[f"{name[:-4]} {right}"] = time.process_time() - t0
    return out


def admin_phase(folder: Path) -> tuple[dict, dict, pd.DataFrame]:
    """The administrative phase on a demo's sources: wall and CPU seconds per step, the linkage's quality."""
    from nonrecours.admin.pipeline import run_admin_phase

    d = folder / "population" / "sources"
    phase = run_admin_phase(d, truth_links=pd.read_csv(d / "truth_links.csv", dtype=str))
    return phase.timings, phase.cpu, phase.quality


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--repeat", type=int, default=1)
    ap.add_argument("--idle", type=float, default=None, help="wait for the 1-minute load to fall below this first")
    a = ap.parse_args()
    print(f"load before: {_load()}")
    runs = []
    for k in range(a.repeat):
        if a.idle is not None:
            print(f"run {k}: load at start {wait_idle(a.idle)}")
        runs.append(run_demo(a.out / str(k)))
    print("\n| run | wall (s) | CPU (s) | peak RSS (MiB) | " + " | ".join(runs[0]["stages"]) + " |")
    print("|---" * (4 + len(runs[0]["stages"])) + "|")
    for k, r in enumerate(runs):
        cells = " | ".join(f"{v:.1f}" for v in r["stages"].values())
        print(f"| {k} | {r['wall']:.1f} | {r['cpu']:.1f} | {r['rss_mib']:,.0f} | {cells} |")
    if a.repeat > 1:
        print(f"median wall {statistics.median(r['wall'] for r in runs):.1f} s")
    first = a.out / "0"
    m = maps_cpu(first)
    print(f"\nmaps: {len(m)} in {sum(m.values()):.2f} CPU s (" + ", ".join(f"{k} {v:.2f}" for k, v in m.items()) + ")")
    wall, cpu, quality = admin_phase(first)
    print("\n| step | wall (s) | CPU (s) |\n|---|---:|---:|")
    for step in wall:
        print(f"| {step} | {wall[step]:.2f} | {cpu[step]:.2f} |")
    print()
    print(quality[["source", "links_number", "links_probabilistic", "true_precision", "true_recall"]].to_string())
    print(f"\nload after: {_load()}; pid {os.getpid()}")


if __name__ == "__main__":
    main()
