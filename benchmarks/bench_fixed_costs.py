"""Fixed costs: each workload beside a one-pass numpy reference written here, in the same run.

Workloads (goal: within 1.5x of the reference):

- administrative rates from a 5 M-row CSV: every column read (before) or only the
  needed ones (after, ``read_table(columns=...)``), against reading the needed
  columns and counting with ``np.bincount`` on factorised codes;
- administrative rates from Parquet with categorical codes: codes cast to text
  (before) or used as they are (after), against ``np.bincount`` on the codes;
- stratified SRSWOR of 100,000 from 5,000,000 in 6,000 strata with ``select``,
  against the kernel on integer codes; the id-uniqueness check before (a hash
  table of 5 M ids) and after (increasing integer ids checked in one pass);
- domain rates, 1,500 territories on 112,000 rows (design + estimate), against
  the reference pass of ``bench_estimate.numpy_pass``;
- raking of 1,000,000 rows to margins of 10, 20 and 50 categories, against
  iterative proportional fitting to the same tolerance (1e-10 relative misfit).

Usage::

    python benchmarks/bench_fixed_costs.py [--repeat 3] [--dir /tmp] [--no-write-results]

Results go to the section ``## Fixed costs`` of ``benchmarks/RESULTS.md``.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent))

from _bench import machine, replace_section, timed  # noqa: E402

from nonrecours.admin.counts import admin_rates  # noqa: E402
from nonrecours.design import SurveyDesign  # noqa: E402
from nonrecours.design.selection import select, srswor_draw  # noqa: E402
from nonrecours.errors import DisclosureWarning  # noqa: E402
from nonrecours.estimation import QualityThresholds, estimate_rates  # noqa: E402
from nonrecours.io import read_table  # noqa: E402
from nonrecours.weights import Margins, calibrate_weights  # noqa: E402

RIGHTS = ["cmuc", "acs", "tpn", "tss"]


def admin_frame(rows: int, territories: int = 3000, seed: int = 1) -> pd.DataFrame:
    """A recipients file with the simulator's columns (codes as text, four rights, seven other columns)."""
    rng = np.random.default_rng(seed)
    t = rng.integers(0, territories, rows)
    df = pd.DataFrame({"id": np.char.add("R", np.arange(rows).astype("U9")),
                       "territory": np.char.add("QP", (t + 100000).astype("U6")),
                       "departement": np.char.zfill((t % 96 + 1).astype("U2"), 2),
                       "is_qpv": t % 2, "benefit": np.array(["RSA", "AAH", "ASPA", "ASS"])[rng.integers(0, 4, rows)],
                       "age_band": rng.integers(0, 6, rows), "household": rng.integers(0, 5, rows),
                       "housing": rng.integers(0, 3, rows)})
    for j, r in enumerate(RIGHTS):
        u = rng.random(rows)
        df[r] = np.where(u < 0.2 + 0.1 * j, np.nan, (u < 0.6 + 0.05 * j).astype(float))
    return df


def numpy_admin(t_codes: np.ndarray, values: list[np.ndarray], T: int) -> np.ndarray:  # noqa: N803
    """The reference: eligible and taker counts per territory and right, one bincount each."""
    return np.stack([np.stack([np.bincount(t_codes, ~np.isnan(v), T), np.bincount(t_codes, v == 1, T)])
                     for v in values])


def ipf(codes: list[np.ndarray], totals: list[np.ndarray], d: np.ndarray, tol: float = 1e-10) -> tuple[np.ndarray, int]:
    """Iterative proportional fitting (the reference raking): one bincount per margin and sweep."""
    w = d.copy()
    for sweep in range(1, 1000):
        for c, t in zip(codes, totals):
            w *= (t / np.bincount(c, w, t.size))[c]
        misfit = max(np.max(np.abs(np.bincount(c, w, t.size) / t - 1)) for c, t in zip(codes, totals))
        if misfit < tol:
            return w, sweep
    return w, sweep


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--dir", default=tempfile.gettempdir())
    ap.add_argument("--no-write-results", action="store_true")
    args = ap.parse_args()
    rep = args.repeat
    rows = []
    load0 = os.getloadavg()

    def row(workload, before, after, ref, note=""):
        ratio = after / ref if ref else np.nan
        rows.append((workload, before, after, ref, ratio, note))
        print(rows[-1], flush=True)

    warnings.simplefilter("ignore", DisclosureWarning)
    # --- administrative rates from files
    df = admin_frame(5_000_000)
    with tempfile.TemporaryDirectory(dir=args.dir) as tmp:
        csv = Path(tmp) / "recipients.csv"
        df.to_csv(csv, index=False)
        del df
        cols = ["territory", "departement", *RIGHTS]
        before, res_b = timed(lambda: admin_rates(read_table(csv), RIGHTS), rep)
        after, res_a = timed(lambda: admin_rates(read_table(csv, columns=cols), RIGHTS), rep)

        def ref_csv():
            d = pd.read_csv(csv, usecols=cols, dtype={"territory": str, "departement": str})
            codes, labels = pd.factorize(d["territory"])
            return numpy_admin(codes, [d[r].to_numpy() for r in RIGHTS], len(labels))
        ref, _ = timed(ref_csv, rep)
        same = res_a.table.equals(res_b.table)
        row("admin rates, 5 M-row CSV (15 columns), 4 rights", before, after, ref,
            f"needed columns only (usecols); tables identical: {'yes' if same else 'NO'}")
        d = read_table(csv, columns=cols)
        pq = Path(tmp) / "recipients.parquet"
        d.astype({"territory": "category", "departement": "category"}).to_parquet(pq, index=False)
        cat = pd.read_parquet(pq)
        before, res_b = timed(lambda: admin_rates(cat.astype({"territory": str, "departement": str}), RIGHTS), rep)
        after, res_a = timed(lambda: admin_rates(cat, RIGHTS), rep)
        ref, _ = timed(lambda: numpy_admin(cat["territory"].cat.codes.to_numpy(), [cat[r].to_numpy() for r in RIGHTS],
                                           len(cat["territory"].cat.categories)), rep)
        same = res_a.table.equals(res_b.table)
        row("admin rates, 5 M rows, Parquet categorical codes (in memory)", before, after, ref,
            f"codes used as they are instead of cast to text; tables identical: {'yes' if same else 'NO'}")
        del cat, d
    # --- selection
    from bench_sample import build
    frame, codes, labels, _Nh, n_h = build(5_000_000, 6000, 100_000)
    sizes = pd.Series(n_h, index=labels)
    after, _ = timed(lambda: select(frame, sizes, strata=["stratum"], method="srswor", seed=1), rep)
    ref, _ = timed(lambda: srswor_draw(codes, n_h, np.random.default_rng(1)), rep)
    old_check, _ = timed(lambda: frame["id"].is_unique, rep)
    new_check, _ = timed(lambda: bool((frame["id"].to_numpy()[1:] > frame["id"].to_numpy()[:-1]).all()), rep)
    row("select 100,000 from 5,000,000 in 6,000 strata (end to end)", after - new_check + old_check, after, ref,
        f"id check {old_check:.3f} s (hash table) -> {new_check:.3f} s (increasing integers); before = after "
        "with the old check's time")
    del frame
    # --- domain rates
    from bench_estimate import build_sample, run_numpy_pass
    sample = build_sample(112_000)

    def ours():
        design = SurveyDesign(sample, weight="weight", strata="stratum", psu="psu", fpc="fpc")
        return estimate_rates(design, RIGHTS, by="territory", ci="logit",
                              thresholds=QualityThresholds(min_n=0, reliable_n=0))
    t_design, _ = timed(lambda: SurveyDesign(sample, weight="weight", strata="stratum", psu="psu", fpc="fpc"), rep)
    after, _ = timed(ours, rep)
    ref, _ = timed(lambda: run_numpy_pass(sample), rep)
    row("domain rates, 1,500 territories x 4 rights, 112,000 rows (design + estimate)", np.nan, after, ref,
        f"design building {t_design:.3f} s; not changed in this branch")
    # --- raking
    from bench_weights import raking_data
    rk, d, mt = raking_data()
    m = Margins.from_frame(mt)
    after, res = timed(lambda: calibrate_weights(rk, d, m, method="raking"), rep)
    rcodes = [rk[f"m{k}"].to_numpy() for k in (10, 20, 50)]
    totals = [mt[mt["variable"] == f"m{k}"].set_index("category")["total"]
              .reindex([str(i) for i in range(k)]).to_numpy() for k in (10, 20, 50)]
    ref, (w_ipf, sweeps) = timed(lambda: ipf(rcodes, totals, d), rep)
    diff = float(np.max(np.abs(w_ipf / res.weights - 1)))
    row("raking 1,000,000 rows, margins 10/20/50", np.nan, after, ref,
        f"IPF {sweeps} sweeps to 1e-10; max rel. diff. of the weights {diff:.1e}; not changed in this branch")

    load1 = os.getloadavg()
    lines = [f"`python benchmarks/bench_fixed_costs.py --repeat {rep}` ({time.strftime('%Y-%m-%d %H:%M')} UTC): "
             "medians of the runs; the reference is a one-pass numpy computation written in the benchmark, "
             "timed in the same run; goal: within 1.5x of it.", "",
             f"Machine: {machine()}. Shared with other jobs: load average (1 min) {load0[0]:.1f} at the start, "
             f"{load1[0]:.1f} at the end.", "",
             "| workload | before (s) | after (s) | numpy reference (s) | after / reference | notes |",
             "|---|---:|---:|---:|---:|---|"]
    for w, b, a, r, ratio, note in rows:
        lines.append(f"| {w} | {'–' if np.isnan(b) else f'{b:.3f}'} | {a:.3f} | {r:.3f} | {ratio:.1f}x | {note} |")
    body = "\n".join(lines)
    print(body)
    if not args.no_write_results:
        replace_section("Fixed costs", body)


if __name__ == "__main__":
    main()
