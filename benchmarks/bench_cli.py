"""Benchmark: the command line as a whole process — ``nonrecours --help`` and ``nonrecours estimate``.

Times ``python -m nonrecours --help`` and ``python -m nonrecours estimate
sample.csv --rights cmuc,acs,tpn,tss --by territory --out est.csv`` on a
stratified cluster sample of 112,000 rows and 1,500 territories (the sample
of ``bench_estimate.build_sample``), each as a fresh process: wall time and
CPU time (user + system of the child, which a loaded machine inflates less
than the wall time). Then runs each once under ``python -X importtime`` and
breaks the start-up down by top-level import (cumulative microseconds as
Python reports them).

``--compare DIR`` runs the same commands with ``DIR`` as the working
directory (a checkout of another version, e.g. ``git archive main | tar -x
-C DIR``), so that before and after are measured in the same conditions.

Usage::

    python benchmarks/bench_cli.py --repeat 5 [--compare /tmp/main-src] [--write]
"""

from __future__ import annotations

import argparse
import os
import re
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))

from _bench import machine, replace_section  # noqa: E402

ROWS, TERRITORIES = 112_000, 750  # 750 QPVs and the rest of their urban areas: 1,500 territories
GROUPS = ("typer", "pydantic", "numpy", "pandas", "pyarrow", "scipy", "matplotlib", "statsmodels", "rich",
          "nonrecours")


def _run(cmd: list[str], cwd: Path) -> tuple[float, float]:
    """Wall and CPU seconds of one child process."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t = time.perf_counter()
    subprocess.run(cmd, cwd=cwd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wall = time.perf_counter() - t
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def _importtime(cmd: list[str], cwd: Path) -> dict[str, float]:
    """Self time of every imported module, summed by top-level package (seconds), and the total."""
    p = subprocess.run([sys.executable, "-X", "importtime", *cmd[1:]], cwd=cwd, capture_output=True, text=True,
                       check=True)
    out: dict[str, float] = {}
    for line in p.stderr.splitlines():
        m = re.match(r"import time:\s+(\d+) \|\s+(\d+) \|(\s*)(\S+)", line)
        if not m:
            continue
        top = m.group(4).split(".")[0]
        key = top if top in GROUPS else "other (stdlib, ...)"
        out[key] = out.get(key, 0.0) + int(m.group(1)) / 1e6
    out["total"] = sum(out.values())
    return out


def measure(cwd: Path, sample: Path, out: Path, repeat: int) -> dict[str, object]:
    help_cmd = [sys.executable, "-m", "nonrecours", "--help"]
    sub_help_cmd = [sys.executable, "-m", "nonrecours", "estimate", "--help"]
    est_cmd = [sys.executable, "-m", "nonrecours", "estimate", str(sample), "--rights", "cmuc,acs,tpn,tss",
               "--by", "territory", "--out", str(out), "--overwrite"]
    # the floor: a process that only imports the libraries a whole estimate needs (typer parses options through
    # pydantic) and ends as estimate does (os._exit); no code of nonrecours runs
    floor_cmd = [sys.executable, "-c", "import os, numpy, pandas, scipy.sparse, scipy.special, typer, pydantic; "
                 "os._exit(0)"]
    res: dict[str, object] = {}
    for name, cmd in (("help", help_cmd), ("estimate --help", sub_help_cmd), ("estimate", est_cmd),
                      ("floor", floor_cmd)):
        runs = [_run(cmd, cwd) for _ in range(repeat)]
        res[name] = {"wall": statistics.median(w for w, _ in runs), "cpu": statistics.median(c for _, c in runs),
                     "wall_min": min(w for w, _ in runs), "cpu_min": min(c for _, c in runs)}
        res[name + "_imports"] = _importtime(cmd, cwd)
        out.unlink(missing_ok=True)
    return res


def _load() -> str:
    try:
        return " ".join(f"{x:.1f}" for x in os.getloadavg())
    except OSError:
        return "unknown"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--compare", type=Path, help="a checkout of another version to time the same way")
    ap.add_argument("--write", action="store_true", help="write the section of RESULTS.md")
    args = ap.parse_args()
    from bench_estimate import build_sample

    with tempfile.TemporaryDirectory() as tmp:
        sample = Path(tmp) / "sample.csv"
        df = build_sample(ROWS, territories=TERRITORIES)
        df.to_csv(sample, index=False)
        n_terr = df["territory"].nunique()
        load_before = _load()
        results = {"this branch": measure(ROOT, sample, Path(tmp) / "est.csv", args.repeat)}
        if args.compare is not None:
            results["compared"] = measure(args.compare.resolve(), sample, Path(tmp) / "est.csv", args.repeat)
        load_after = _load()
    lines = [f"Whole processes (`python -m nonrecours ...`), median of {args.repeat} runs; CPU = user + system time "
             f"of the process. Sample: {len(df):,} rows, {n_terr:,} territories, 4 rights, `estimate --by territory`"
             f" (6,000 estimates). Load average before / after: {load_before} / {load_after} (2 cores shared with "
             "other jobs: wall times are inflated, CPU times much less).", "",
             "| version | command | wall (median) | wall (min) | CPU (median) |", "|---|---|---|---|---|"]
    for name, r in results.items():
        for cmd in ("help", "estimate --help", "estimate", "floor"):
            x = r[cmd]
            label = {"help": "`nonrecours --help`", "floor": "imports only: numpy, pandas, scipy.sparse, "
                     "scipy.special, typer, pydantic"}.get(cmd, f"`nonrecours {cmd}`")
            lines.append(f"| {name} | {label} | {x['wall']:.2f} s | {x['wall_min']:.2f} s | {x['cpu']:.2f} s |")
    lines += ["", "Import time by top-level package (self times summed, seconds, `python -X importtime`):", "",
              "| version, command | " + " | ".join(GROUPS) + " | other | total |",
              "|---" * (len(GROUPS) + 3) + "|"]
    for name, r in results.items():
        for cmd in ("help", "estimate --help", "estimate", "floor"):
            imp = r[cmd + "_imports"]
            lines.append(f"| {name}, `{cmd}` | " + " | ".join(f"{imp.get(g, 0.0):.3f}" for g in GROUPS)
                         + f" | {imp.get('other (stdlib, ...)', 0.0):.3f} | {imp['total']:.3f} |")
    lines += ["", f"Machine: {machine()}."]
    text = "\n".join(lines)
    print(text)
    if args.write:
        replace_section("Command line: start-up and a whole estimate", text)


if __name__ == "__main__":
    main()
