"""Benchmark: stratified SRS without replacement of 100,000 units from 5,000,000 in 6,000 strata.

Builds the frame in memory (``id``, text ``stratum``), allocates 100,000 units
proportionally (``nonrecours.design.allocation.allocate``, at least 2 per
stratum), then times on the same frame and sizes, in the same run:

- nonrecours ``select(frame, sizes, strata=["stratum"], method="srswor", seed=1)``
  end to end (id checks, factorisation, draw, sample table), and its kernel
  ``srswor_draw`` alone;
- svy 0.35 ``Sample(frame, Design(stratum=...)).sampling.srs(n={h: n_h})``;
- samplics 0.6 ``SampleSelection(srs_wor, strat=True).select(...)`` on integer
  stratum codes (text labels make it about 6 times slower);
- R ``sampling::strata(d, "stratum", size, method = "srswor")`` and a
  hand-vectorised base-R draw (``order(stratum, runif)`` + ``sequence``),
  timed inside R (data read with ``data.table::fread``, not timed).

Every peer's per-stratum sample sizes are checked against the allocation.
Peers are slow (samplics ~1 min, R ``strata`` ~2.5 min at 5M rows): choose
them with ``--peers``.

Usage::

    python benchmarks/bench_sample.py --rows 5000000 --peers all --repeat 3 --write
    python benchmarks/bench_sample.py --rows 500000 --peers svy,R-vec
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import shutil
import subprocess
import sys
import tempfile
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

from nonrecours.design.allocation import allocate
from nonrecours.design.selection import select, srswor_draw

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from _bench import machine, replace_section, timed  # noqa: E402

PEERS = ("svy", "samplics", "R", "R-vec")


def build(rows: int, strata: int, n: int, seed: int = 1):
    rng = np.random.default_rng(seed)
    codes = rng.integers(0, strata, rows)
    labels = np.array([f"S{h:04d}" for h in range(strata)], dtype=object)
    frame = pd.DataFrame({"id": np.arange(rows), "stratum": pd.array(labels[codes], dtype="str")})
    Nh = np.bincount(codes, minlength=strata)
    n_h = allocate(Nh, n, method="proportional", min_n=2).n
    return frame, codes, labels, Nh, n_h


def check_sizes(name: str, got: np.ndarray, n_h: np.ndarray) -> str:
    ok = np.array_equal(np.asarray(got), n_h)
    return "sizes exact" if ok else f"SIZES DIFFER ({name})"


def run_svy(frame, labels, n_h, repeat):
    import polars as pl
    import svy
    pf = pl.from_pandas(frame)
    sizes = dict(zip(labels, n_h.tolist()))
    times: list[float] = []
    _, s = timed(lambda: svy.Sample(pf, svy.Design(stratum="stratum")).sampling.srs(n=sizes, rstate=np.random.default_rng(1)), repeat, times)
    got = s.data.group_by("stratum").len().sort("stratum")["len"].to_numpy()
    return times, check_sizes("svy", got, n_h)


def run_samplics(frame, codes, n_h, repeat):
    """samplics with integer stratum codes: about 6 times faster than with the text labels."""
    warnings.simplefilter("ignore")
    from samplics.sampling import SampleSelection
    from samplics.utils.types import SelectMethod
    unit, strat = frame["id"].to_numpy(), codes
    sizes = dict(enumerate(n_h.tolist()))

    def go():
        np.random.seed(1)  # samplics draws from the global numpy RNG
        return SampleSelection(method=SelectMethod.srs_wor, strat=True, wr=False).select(samp_unit=unit, samp_size=sizes, stratum=strat)
    times: list[float] = []
    _, out = timed(go, repeat, times)
    got = np.bincount(strat[out[0].astype(bool)], minlength=n_h.size)
    return times, check_sizes("samplics", got, n_h)


R_SCRIPT = r"""
suppressPackageStartupMessages({library(sampling); library(data.table); library(jsonlite)})
args <- commandArgs(TRUE)
d <- as.data.frame(fread(args[1]))
nh <- fread(args[2])$n_h
H <- length(nh)
out <- list(R = R.version.string, sampling = as.character(packageVersion("sampling")))
reps <- as.integer(args[4])
if (grepl("R-vec", args[3], fixed = TRUE)) {
  tv <- c()
  for (i in seq_len(reps)) {
    set.seed(i)
    tv[i] <- system.time({
      o <- order(d$code, runif(nrow(d)))
      s <- d$code[o]
      r <- sequence(tabulate(s, H))
      sel <- o[r <= nh[s]]
    })[["elapsed"]]
  }
  out$vec <- tv
  out$vec_ok <- identical(tabulate(d$code[sel], H), as.integer(nh))
}
if (grepl("(^|,)R(,|$)", args[3])) {
  u <- unique(d$code)
  set.seed(1)
  ts <- system.time(st <- strata(d, "code", size = nh[u], method = "srswor"))[["elapsed"]]
  out$strata <- ts
  out$strata_ok <- identical(tabulate(st$code, H), as.integer(nh))
}
cat(toJSON(out, auto_unbox = TRUE, digits = NA))
"""


def run_r(codes, n_h, peers, repeat):
    if shutil.which("Rscript") is None:
        return {}
    with tempfile.TemporaryDirectory() as tmp:
        pd.DataFrame({"code": codes + 1}).to_csv(os.path.join(tmp, "d.csv"), index=False)
        pd.DataFrame({"n_h": n_h}).to_csv(os.path.join(tmp, "n.csv"), index=False)
        Path(tmp, "b.R").write_text(R_SCRIPT)
        res = subprocess.run(["Rscript", os.path.join(tmp, "b.R"), os.path.join(tmp, "d.csv"), os.path.join(tmp, "n.csv"),
                              ",".join(peers), str(repeat)], capture_output=True, text=True, check=True)
    return json.loads(res.stdout.strip().splitlines()[-1])


def fmt(times) -> str:
    t = sorted(times)
    return f"{t[len(t) // 2]:.3f}" if len(t) == 1 else f"{t[0]:.3f} / {t[len(t) // 2]:.3f} / {t[-1]:.3f}"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=5_000_000)
    ap.add_argument("--strata", type=int, default=6000)
    ap.add_argument("--n", type=int, default=100_000)
    ap.add_argument("--peers", default="svy,R-vec", help="comma-separated among svy, samplics, R, R-vec, or 'all' or 'none'")
    ap.add_argument("--repeat", type=int, default=3, help="runs of nonrecours, svy and hand-vectorised R (slow peers run once)")
    ap.add_argument("--write", action="store_true", help="replace the '## Selection' section of benchmarks/RESULTS.md")
    args = ap.parse_args()
    peers = PEERS if args.peers == "all" else tuple(p for p in args.peers.split(",") if p and p != "none")

    frame, codes, labels, _Nh, n_h = build(args.rows, args.strata, args.n)
    sizes = pd.Series(n_h, index=labels)
    rows = []
    t: list[float] = []
    _, s = timed(lambda: select(frame, sizes, strata=["stratum"], method="srswor", seed=1), args.repeat, t)
    got = s.data.groupby("stratum").size().reindex(labels, fill_value=0).to_numpy()
    rows.append(("nonrecours `select` (end to end: checks, strata, draw, sample table)", t, check_sizes("nonrecours", got, n_h)))
    t = []
    _, m = timed(lambda: srswor_draw(codes, n_h, np.random.default_rng(1)), args.repeat, t)
    rows.append(("nonrecours `srswor_draw` (kernel on integer codes)", t, check_sizes("kernel", np.bincount(codes[m], minlength=args.strata), n_h)))
    if "svy" in peers:
        t, note = run_svy(frame, labels, n_h, args.repeat)
        rows.append(("svy 0.35 `sampling.srs`", t, note))
    if "samplics" in peers:
        t, note = run_samplics(frame, codes, n_h, 1)
        rows.append(("samplics 0.6 `SampleSelection(srs_wor)` (integer stratum codes)", t, note))
    r_peers = [p for p in peers if p in ("R", "R-vec")]
    if r_peers:
        r = run_r(codes, n_h, r_peers, args.repeat)
        if "vec" in r:
            rows.append(("R base, hand-vectorised (`order` + `sequence`)", r["vec"], "sizes exact" if r["vec_ok"] else "SIZES DIFFER"))
        if "strata" in r:
            rows.append((f"R sampling {r['sampling']} `strata(method = \"srswor\")`", [r["strata"]], "sizes exact" if r["strata_ok"] else "SIZES DIFFER"))
    lines = [f"`python benchmarks/bench_sample.py --rows {args.rows} --strata {args.strata} --n {args.n} --peers {args.peers} --repeat {args.repeat}` "
             f"({dt.date.today().isoformat()}): stratified SRS without replacement of {int(n_h.sum()):,} units from a {args.rows:,}-row "
             f"frame in {args.strata:,} strata (proportional allocation, at least 2 per stratum), every tool on the same frame and sizes in one run. "
             "Frame built in memory; R reads it with `data.table::fread` (not timed) and times inside R. Times: min / median / max of the runs "
             "(one run for samplics and R `strata`). Goal: nonrecours under 2 s.",
             "", f"Machine: {machine()}.", "",
             "| tool | time (s) | check |", "|---|---:|---|"]
    lines += [f"| {name} | {fmt(t)} | {note} |" for name, t, note in rows]
    text = "\n".join(lines)
    print(text)
    if args.write:
        replace_section("Selection", text)


if __name__ == "__main__":
    main()
