"""One benchmark runner: every workload built once, nonrecours timed beside each peer on the same data.

Workloads (full size; ``--quick`` shrinks them to run in seconds):

1. simulate 5 M recipients (``simulate_population``; no peer);
2. select 100,000 from 5 M with 6,000 strata (stratified SRS; svy, samplics, R ``sampling::strata``);
3. take-up rates, 1,500 territories x 4 rights on 500,000 rows, Taylor SEs (svy, samplics, R ``svyby``);
4. 500 bootstrap replicates, 1,500 territories x 4 rights on 200,000 rows (checked against a numpy
   computation from the same replicate weights);
5. raking 1 M rows on margins of 10/20/50 categories (svy, samplics, R ``rake``);
6. Fay–Herriot on 1,500 territories: REML fit + Prasad–Rao MSE (samplics ``EblupAreaModel``);
7. Fay–Herriot parametric bootstrap MSE, 1,000 replicates (checked against Prasad–Rao).

Data builders and peer calls are imported from the ``bench_*.py`` scripts of
this folder. A peer that is not installed (samplics and svy are in the
``bench`` extra) or R without ``Rscript`` is skipped with a note.

Usage::

    python benchmarks/run.py [--quick] [--peers svy,samplics,R] [--no-write]

Prints a markdown table (workload, nonrecours, each peer, ratio = fastest peer
/ nonrecours, agreement with the max abs difference) and replaces the section
``## Runner summary`` of ``benchmarks/RESULTS.md`` (with the machine) unless
``--no-write``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import importlib.util
import shutil
import subprocess
import sys
import tempfile
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import bench_estimate  # noqa: E402
import bench_territorial  # noqa: E402
import bench_weights  # noqa: E402
from _bench import RESULTS, machine, replace_section, timed  # noqa: E402

TITLE = "Runner summary"
SECTION = f"## {TITLE}"
PEERS = ("svy", "samplics", "R")
RIGHTS = bench_estimate.RIGHTS

FULL = {"simulate": 5_000_000, "frame": 5_000_000, "strata": 6_000, "select_n": 100_000, "taylor_rows": 500_000,
        "territories": 1500, "boot_rows": 200_000, "boot_reps": 500, "rake_rows": 1_000_000, "fh_t": 1500,
        "fh_boot": 1000, "samplics_max_rows": 150_000}
QUICK = {"simulate": 50_000, "frame": 50_000, "strata": 60, "select_n": 2_000, "taylor_rows": 6_000,
         "territories": 40, "boot_rows": 4_000, "boot_reps": 40, "rake_rows": 20_000, "fh_t": 60, "fh_boot": 50}


@dataclass
class Row:
    """One line of the table: nonrecours' time, each peer's time (or a note), the agreement."""

    workload: str
    ours: float
    peers: dict = field(default_factory=dict)     # name -> seconds (float) or note (str)
    agree: list = field(default_factory=list)     # texts, one per comparison


def available(peer: str) -> str | None:
    """None when the peer can run, else the reason it is skipped."""
    if peer == "R":
        return None if shutil.which("Rscript") else "skipped: Rscript not found"
    return None if importlib.util.find_spec(peer) else f"skipped: {peer} not installed"


def run_peer(row: Row, peer: str, fn, check) -> None:
    """Time ``fn`` (returning (seconds or None, output)), then ``check(output) -> text``; failures become notes."""
    why = available(peer)
    if why:
        row.peers[peer] = why
        return
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            t0 = time.perf_counter()
            sec, out = fn()
            sec = time.perf_counter() - t0 if sec is None else sec
        row.peers[peer] = sec
        row.agree.append(f"{peer}: {check(out)}")
    except Exception as exc:  # noqa: BLE001 - a peer failing is reported, not fatal
        row.peers[peer] = f"failed: {type(exc).__name__}"


def verdict(diff: float, tol: float) -> str:
    return f"{'yes' if diff <= tol else 'NO'} (max abs diff {diff:.1e})"


# -- workloads ---------------------------------------------------------------------------------

def w_simulate(size, peers, repeat):
    from nonrecours.simulate import expected_recipients, simulate_population

    q = max(1, round(size["simulate"] / expected_recipients(1)))
    t, pop = timed(lambda: simulate_population(q, seed=1), repeat)
    s = pop.summary()
    ok = np.allclose(s["rate"], s["n_takers"] / s["n_eligible"])
    return Row(f"simulate {len(pop.recipients):,} recipients", t,
               agree=[f"no peer; truth consistent with counts: {'yes' if ok else 'NO'}"])


def select_frame(N: int, H: int, n: int, seed: int = 1):
    """A frame of N units in H strata of unequal sizes, and a proportional allocation of n (>= 2 per stratum)."""
    rng = np.random.default_rng(seed)
    stratum = np.sort(rng.choice(H, N, p=rng.dirichlet(np.full(H, 2.0))))
    frame = pd.DataFrame({"id": np.arange(N), "stratum": stratum})
    from nonrecours.design.allocation import allocate_frame
    alloc = allocate_frame(frame, ["stratum"], n=n, min_n=2)
    return frame, alloc


def w_select(size, peers, repeat):
    from nonrecours.design.selection import select

    frame, alloc = select_frame(size["frame"], size["strata"], size["select_n"])
    sizes = alloc.sizes()
    want = sizes.to_numpy()
    t, s = timed(lambda: select(frame, alloc, strata=["stratum"], seed=1), repeat)
    H = len(sizes)
    row = Row(f"select {size['select_n']:,} from {len(frame):,}, {H:,} strata", t)
    ours = np.bincount(s.data["stratum"].astype(int), minlength=H)
    row.agree.append(f"nonrecours: n_h {'identical' if np.array_equal(ours, want) else 'DIFFER'}")
    n_h = {int(h): int(v) for h, v in zip(sizes.index.astype(int), want)}

    def counts(labels):
        got = np.bincount(np.asarray(labels, dtype=np.int64), minlength=H)
        return f"n_h {'identical' if np.array_equal(got, want) else 'DIFFER'} in all {H:,} strata"

    if "svy" in peers:
        def svy_run():
            import polars as pl
            import svy
            smp = svy.Sample(pl.from_pandas(frame), svy.Design(stratum="stratum"))
            return None, smp.sampling.srs(n=n_h, rstate=np.random.default_rng(1)).data["stratum"].to_numpy()
        run_peer(row, "svy", svy_run, counts)
    if "samplics" in peers:
        def samplics_run():
            from samplics import SampleSelection, SelectMethod
            np.random.seed(1)  # samplics draws from the global RNG
            sel = SampleSelection(method=SelectMethod.srs_wor, strat=True, wr=False)
            out = sel.select(samp_unit=frame["id"].to_numpy(), samp_size=n_h, stratum=frame["stratum"].to_numpy())
            mask = np.asarray(out[0] if isinstance(out, tuple) else out, dtype=bool)
            return None, frame["stratum"].to_numpy()[mask]
        run_peer(row, "samplics", samplics_run, counts)
    if "R" in peers:
        def r_run():
            with tempfile.TemporaryDirectory() as tmp:
                frame.to_csv(f"{tmp}/f.csv", index=False)
                pd.DataFrame({"n": want}).to_csv(f"{tmp}/n.csv", index=False)
                script = (f"suppressMessages(library(sampling)); f <- read.csv('{tmp}/f.csv'); n <- read.csv('{tmp}/n.csv')$n;"
                          f" set.seed(1); t <- system.time(s <- strata(f, 'stratum', size = n, method = 'srswor'))[['elapsed']];"
                          f" write.csv(data.frame(stratum = s$stratum), '{tmp}/s.csv', row.names = FALSE); cat(t, '\\n')")
                p = subprocess.run(["Rscript", "-e", script], capture_output=True, text=True, check=True)
                return float(p.stdout.split()[-1]), pd.read_csv(f"{tmp}/s.csv")["stratum"].to_numpy()
        run_peer(row, "R", r_run, counts)
    return row


def numpy_rates(df: pd.DataFrame) -> pd.DataFrame:
    """The "one numpy pass" of ``bench_estimate`` from the text codes, labelled by territory."""
    codes = {c: pd.factorize(df[c]) for c in ("territory", "stratum", "psu")}
    out = bench_estimate.numpy_pass(codes["territory"][0], codes["stratum"][0], codes["psu"][0], df["fpc"].to_numpy(),
                                    df["weight"].to_numpy(), [df[r].to_numpy() for r in RIGHTS])
    return out.assign(territory=np.asarray(codes["territory"][1])[out["d"].to_numpy()])


def w_taylor(size, peers, repeat):
    df = bench_estimate.build_sample(size["taylor_rows"], territories=size["territories"])
    t, ours = timed(lambda: bench_estimate.run_nonrecours(df), repeat)
    T = df["territory"].nunique()
    row = Row(f"rates, {T:,} territories x 4 rights, {len(df):,} rows (Taylor)", t)

    def check(out):
        d_est, d_se, m = bench_estimate.compare(ours, out)
        return f"{verdict(max(d_est, d_se), 1e-9)} over {m:,} estimates and SEs"

    t_np, base = timed(lambda: numpy_rates(df), repeat)
    row.agree.append(f"one numpy pass ({t_np:.3f} s; nonrecours takes {row.ours / t_np:.1f}x that): {check(base)}")
    if "svy" in peers:
        run_peer(row, "svy", lambda: (None, bench_estimate.run_svy(df)), check)
    if "samplics" in peers and len(df) > size.get("samplics_max_rows", np.inf):
        row.peers["samplics"] = (f"not run above {size['samplics_max_rows']:,} rows (154 s at 450k rows per "
                                 "PEERS.md; crashes on zero-rate domains)")
    elif "samplics" in peers:
        run_peer(row, "samplics", lambda: (None, bench_estimate.run_samplics(df)), check)
    if "R" in peers:
        def r_run():
            with tempfile.TemporaryDirectory() as tmp:
                return bench_estimate.run_r(df, tmp)
        run_peer(row, "R", r_run, check)
    return row


def w_bootstrap(size, peers, repeat):
    """Replicate variances beside a numpy computation from the same replicate weights."""
    import scipy.sparse as sp

    from nonrecours.design import SurveyDesign
    from nonrecours.estimation import QualityThresholds, estimate_rates
    from nonrecours.weights import make_replicates

    df = bench_estimate.build_sample(size["boot_rows"], territories=size["territories"], seed=2)
    des = SurveyDesign(df, weight="weight", strata="stratum", psu="psu", fpc="fpc")
    th = QualityThresholds(min_n=0, reliable_n=0)

    def run():
        rep = make_replicates(des, "bootstrap", replicates=size["boot_reps"], seed=1)
        return rep, estimate_rates(rep, RIGHTS, by="territory", thresholds=th)
    t, (rep, res) = timed(run, repeat)
    row = Row(f"{size['boot_reps']} bootstrap replicates, {df['territory'].nunique():,} territories x 4 rights, "
              f"{len(df):,} rows", t)
    r = rep.replicates
    codes, labels = pd.factorize(df["territory"], sort=True)
    M = sp.csr_matrix((np.ones(len(df)), (codes, np.arange(len(df)))), shape=(len(labels), len(df)))
    w = rep.weights
    diffs = []
    for v, right in enumerate(RIGHTS):  # a reference computed independently: dense replicate estimates
        y = df[right].to_numpy(float)
        e = ~np.isnan(y)
        with np.errstate(invalid="ignore", divide="ignore"), warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # territories without eligible rows: NaN
            theta = (M @ (r.weights * np.where(e, y, 0)[:, None])) / (M @ (r.weights * e[:, None]))
            full = (M @ (w * np.where(e, y, 0))) / (M @ (w * e))
            centre = full[:, None] if r.mse else np.nanmean(theta, axis=1, keepdims=True)
            se = np.sqrt(r.scale * np.nansum(r.rscales * (theta - centre) ** 2, axis=1))
        got = res.raw_se[v::len(RIGHTS)]
        dom = res.domains["territory"].to_numpy()[v::len(RIGHTS)]
        ref = pd.Series(se, index=np.asarray(labels)).reindex(dom).to_numpy()
        ok = np.isfinite(ref) & np.isfinite(got)
        diffs.append(np.max(np.abs(got[ok] - ref[ok])))
    row.agree.append(f"numpy from the same replicate weights: {verdict(max(diffs), 1e-9)}")
    for p in peers:
        row.peers[p] = "–"
    return row


def w_raking(size, peers, repeat):
    from nonrecours.weights import Margins, calibrate_weights

    df, d, mt = bench_weights.raking_data(size["rake_rows"])
    m = Margins.from_frame(mt)
    t, res = timed(lambda: calibrate_weights(df, d, m, method="raking"), repeat)
    ours = res.weights
    row = Row(f"raking {len(df):,} rows, margins 10/20/50", t)

    def check(w):
        return verdict(float(np.max(np.abs(np.asarray(w) - ours))), 1e-6 * float(np.max(ours)))

    if "svy" in peers:
        run_peer(row, "svy", lambda: (None, bench_weights.peer_svy(df, d, mt)()), check)
    row.agree.append(f"margins met: max relative misfit {res.max_rel_misfit:.1e}")
    if "samplics" in peers:
        run_peer(row, "samplics", lambda: (None, bench_weights.peer_samplics(df, d, mt)()), check)
    if "R" in peers:
        def r_run():
            out = bench_weights.peer_r(df, d, mt, "rake")
            if out is None:
                raise RuntimeError("R rake failed")
            return out
        run_peer(row, "R", r_run, check)
    return row


def reml_by_optimiser(y, D, X) -> float:
    """The REML model variance by direct maximisation of the restricted log-likelihood (independent check)."""
    from scipy.optimize import minimize_scalar

    def neg_loglik(log_a):
        v = np.exp(log_a) + D
        xv = X / v[:, None]
        xtvx = X.T @ xv
        beta = np.linalg.solve(xtvx, xv.T @ y)
        r = y - X @ beta
        return 0.5 * (np.sum(np.log(v)) + np.linalg.slogdet(xtvx)[1] + np.sum(r * r / v))

    res = minimize_scalar(neg_loglik, bounds=(np.log(np.var(y)) - 25, np.log(np.var(y)) + 5), method="bounded",
                          options={"xatol": 1e-12})
    return float(np.exp(res.x))


def w_fay_herriot(size, peers, repeat):
    from nonrecours.territorial import analytic_mse, fit_fay_herriot

    y, D, X, _, _ = bench_territorial.make_area_data(size["fh_t"])
    fit_fay_herriot(y, D, X)  # warm-up
    t, (fit, mse) = timed(lambda: (lambda f: (f, analytic_mse(f)))(fit_fay_herriot(y, D, X)), max(repeat, 3))
    row = Row(f"Fay–Herriot REML fit + Prasad–Rao MSE, {len(y):,} territories", t)
    a_ref = reml_by_optimiser(y, D, X)
    row.agree.append(f"REML maximised by scipy: {verdict(abs(fit.model_variance - a_ref), 1e-6 * max(a_ref, 1e-12))}")
    if "samplics" in peers:
        def check(out):
            A_s, eb_s, mse_s = out
            d = max(abs(fit.model_variance - A_s), np.max(np.abs(fit.eblup - eb_s)), np.max(np.abs(mse.mse - mse_s)))
            return f"{verdict(d, 1e-6)} (model variance, EBLUPs, MSEs; samplics tol 1e-8)"

        def sam():
            out = bench_territorial.run_samplics(y, D, X)
            if isinstance(out, str):
                raise RuntimeError(out)
            return out[0], out[1:4]
        run_peer(row, "samplics", sam, check)
    for p in peers:
        row.peers.setdefault(p, "–")
    return row


def w_fh_bootstrap(size, peers, repeat):
    from nonrecours.territorial import analytic_mse, bootstrap_mse, fit_fay_herriot

    y, D, X, _, _ = bench_territorial.make_area_data(size["fh_t"])
    fit = fit_fay_herriot(y, D, X)
    t, boot = timed(lambda: bootstrap_mse(fit, replicates=size["fh_boot"], seed=1), 1)
    ratio = float(np.mean(boot.mse) / np.mean(analytic_mse(fit).mse))
    row = Row(f"Fay–Herriot bootstrap MSE, {size['fh_boot']:,} replicates x {len(y):,} territories", t,
              agree=[f"no peer; mean bootstrap / Prasad–Rao MSE = {ratio:.3f}"])
    for p in peers:
        row.peers[p] = "–"
    return row


WORKLOADS = (w_simulate, w_select, w_taylor, w_bootstrap, w_raking, w_fay_herriot, w_fh_bootstrap)


# -- report ------------------------------------------------------------------------------------

def _cell(v) -> str:
    return f"{v:.3f}" if isinstance(v, float) else str(v)


def table(rows: list[Row], peers: list[str]) -> str:
    head = ["workload", "nonrecours (s)", *[f"{p} (s)" for p in peers], "ratio (fastest peer / nonrecours)",
            "agreement"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in rows:
        times = [v for v in r.peers.values() if isinstance(v, float)]
        ratio = f"{min(times) / r.ours:.1f}" if times and r.ours > 0 else "–"
        cells = [r.workload, _cell(r.ours), *[_cell(r.peers.get(p, "–")) for p in peers], ratio,
                 "; ".join(r.agree) or "–"]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> str:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="tiny sizes, fast peers only (runs in seconds)")
    ap.add_argument("--peers", default=None, help="comma-separated among svy, samplics, R (default: all; "
                    "--quick: svy,samplics)")
    ap.add_argument("--no-write", action="store_true", help="print only, do not touch RESULTS.md")
    ap.add_argument("--repeat", type=int, default=None, help="repeats of the nonrecours timings (median)")
    args = ap.parse_args(argv)
    default = "svy,samplics" if args.quick else ",".join(PEERS)
    peers = [p.strip() for p in (args.peers or default).split(",") if p.strip() and p.strip() != "none"]
    unknown = [p for p in peers if p not in PEERS]
    if unknown:
        ap.error(f"unknown peers {unknown}; expected among {', '.join(PEERS)}")
    size = QUICK if args.quick else FULL
    repeat = args.repeat or (1 if args.quick else 3)
    rows = []
    t0 = time.perf_counter()
    for w in WORKLOADS:
        rows.append(w(size, peers, repeat))
        print(f"[{time.perf_counter() - t0:7.1f} s] {rows[-1].workload}: {rows[-1].ours:.3f} s", file=sys.stderr)
    md = table(rows, peers)
    print(md)
    mode = "`--quick` sizes" if args.quick else "full sizes"
    text = "\n".join([
        f"`python benchmarks/run.py{' --quick' if args.quick else ''}` ({mode}): each workload built once in memory "
        f"(CSV reading not timed); nonrecours: median of {repeat} run(s); peers: one run (R timed inside R). "
        "Ratio = fastest peer time / nonrecours time. Agreement: max abs difference of estimates and SEs "
        "(weights for raking; realised n_h for selection, whose draws differ by design).", "",
        f"Machine: {machine()}; {dt.date.today().isoformat()}.", "", md, "",
        f"Total wall time of the run: {time.perf_counter() - t0:.0f} s.", ""])
    if not args.no_write:
        replace_section(TITLE, text)
        print(f"wrote section '{SECTION}' of {RESULTS}", file=sys.stderr)
    return md


if __name__ == "__main__":
    main()
