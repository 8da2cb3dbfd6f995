"""Benchmark of the territorial stage, beside samplics' ``EblupAreaModel`` on the same data.

Workloads (data built in memory; reading files is not timed):

* Fay–Herriot fit (REML) + Prasad–Rao MSE for 1,500 territories (goal < 0.5 s);
  the same through the table-level ``fit_territories`` (checks, GVF, CIs);
* parametric bootstrap MSE with 1,000 replicates (goal < 30 s);
* samplics 0.6.1 ``EblupAreaModel`` (REML) fit + predict on the same data,
  with the largest differences from ours (model variance, EBLUPs, MSEs);
* administrative rates with disclosure control on 5,000,000 recipients × 4 rights.

Run ``python benchmarks/bench_territorial.py [--no-write]``; the results go to
the section ``## Territorial`` of ``benchmarks/RESULTS.md`` (other sections are
left as they are).

``--fh`` runs only the Fay–Herriot fit (REML) + Prasad–Rao MSE on 1,500 areas beside
a minimal numpy fit of the same model (:func:`minimal_fay_herriot`: Fisher scoring on
the REML score, EBLUP and Prasad–Rao MSE, no checks, no labels), interleaved in one
process (alternating order), medians; it writes the section
``## Fay–Herriot beside a minimal fit`` (issue 31) unless ``--no-write``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

from nonrecours.admin import admin_rates
from nonrecours.territorial import analytic_mse, bootstrap_mse, fit_fay_herriot, fit_territories

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from _bench import RESULTS, machine, replace_section, timed  # noqa: E402

TITLE = "Territorial"
SECTION = f"## {TITLE}"


def make_area_data(T: int = 1500, seed: int = 1):
    """A true Fay–Herriot model on the rate scale with GVF-like sampling variances."""
    rng = np.random.default_rng(seed)
    pov, soc = rng.uniform(0.1, 0.45, T), rng.uniform(0, 0.7, T)
    X = np.column_stack([np.ones(T), pov, soc])
    theta = X @ np.array([0.35, 0.6, 0.1]) + rng.normal(0, 0.06, T)
    n = rng.integers(8, 120, T)
    D = 0.25 * 1.3 / n
    y = theta + rng.normal(0, np.sqrt(D))
    aux = pd.DataFrame({"territory": [f"{i:05d}" for i in range(T)], "departement": [f"{i % 95:02d}" for i in range(T)],
                        "population": rng.integers(500, 20000, T), "poverty_rate": pov, "social_housing_share": soc})
    direct = pd.DataFrame({"territory": aux["territory"], "right": "tpn", "n": n, "estimate": np.clip(y, 0, 1),
                           "se": np.sqrt(D), "deff": 1.3})
    return y, D, X, aux, direct


def make_recipients(N: int = 5_000_000, T: int = 1500, seed: int = 2) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    size = rng.lognormal(0, 1.5, T)
    terr = rng.choice(T, N, p=size / size.sum())
    codes = np.array([f"{i:05d}" for i in range(T)])
    deps = np.array([f"{i % 95:02d}" for i in range(T)])
    df = pd.DataFrame({"territory": codes[terr], "departement": deps[terr]})
    for j, r in enumerate(("cmuc", "acs", "tpn", "tss")):
        u = rng.random(N)
        df[r] = np.where(u < 0.3 + 0.1 * j, np.nan, (u < 0.7 + 0.05 * j).astype(float))
    return df


def minimal_fay_herriot(y: np.ndarray, D: np.ndarray, X: np.ndarray, tol: float = 1e-12):
    """The reference: REML by Fisher scoring from A = median(D), the three weighted cross-products of each
    step in one product with the row products x_d x_d' (computed once), then the EBLUP and the Prasad–Rao
    MSE. No checks of the data, no truncation test at 0, no bracket, no labels; (A, EBLUP, MSE)."""
    m, p = X.shape
    XX = (X[:, :, None] * X[:, None, :]).reshape(m, p * p)
    scale = float(np.median(D))
    A = scale
    for _ in range(100):
        w = 1.0 / (A + D)
        M1, M2, M3 = (np.stack([w, w * w, w * w * w]) @ XX).reshape(3, p, p)
        Q = np.linalg.inv(M1)
        r = y - X @ (Q @ (X.T @ (w * y)))
        QM2 = Q @ M2
        s = -0.5 * (w.sum() - np.trace(QM2)) + 0.5 * np.sum((w * r) ** 2)
        F = 0.5 * (np.sum(w * w) - 2.0 * np.trace(Q @ M3) + np.sum(QM2 * QM2.T))
        new = max(A + s / F, 0.0)
        done = abs(new - A) <= tol * (new + scale)
        A = new
        if done:
            break
    w = 1.0 / (A + D)
    Q = np.linalg.inv((w @ XX).reshape(p, p))
    synth = X @ (Q @ (X.T @ (w * y)))
    B = D * w
    g2 = B ** 2 * np.einsum("di,di->d", X @ Q, X)
    return A, synth + (1.0 - B) * (y - synth), D * (1.0 - B) + g2 + 2.0 * B ** 2 * (2.0 / np.sum(w * w)) * w


def bench_fh_minimal(repeat: int) -> dict:
    """``fit_fay_herriot`` + ``analytic_mse`` and :func:`minimal_fay_herriot`, interleaved (alternating order)."""
    y, D, X, _, _ = make_area_data()
    calls = {"ours": lambda: (lambda f: (f, analytic_mse(f)))(fit_fay_herriot(y, D, X)),
             "minimal": lambda: minimal_fay_herriot(y, D, X)}
    out = {k: f() for k, f in calls.items()}  # warm-up, and the results compared
    times: dict[str, list[float]] = {k: [] for k in calls}
    for r in range(repeat):
        for k in (("ours", "minimal") if r % 2 == 0 else ("minimal", "ours")):
            t0 = time.perf_counter()
            calls[k]()
            times[k].append(time.perf_counter() - t0)
    (fit, mse), (A, eblup, mse_min) = out["ours"], out["minimal"]
    q = {k: np.percentile(v, [25, 50, 75]) for k, v in times.items()}
    return {"T": len(y), "repeat": repeat, "q": q, "ratio": q["ours"][1] / q["minimal"][1],
            "iterations": fit.iterations,
            "diff": (abs(fit.model_variance / A - 1), float(np.max(np.abs(fit.eblup / eblup - 1))),
                     float(np.max(np.abs(mse.mse / mse_min - 1))))}


def fh_section(res: dict, loads: tuple[float, float]) -> str:
    """The section ``## Fay–Herriot beside a minimal fit``."""
    q = res["q"]
    return "\n".join([
        f"`python benchmarks/bench_territorial.py --fh --repeat {res['repeat']}` ({dt.date.today().isoformat()}): "
        f"REML fit + Prasad–Rao MSE of {res['T']:,} areas (3 coefficients, the data of `## Territorial`), "
        f"`fit_fay_herriot` + `analytic_mse` beside `minimal_fay_herriot` (Fisher scoring, EBLUP, MSE; no "
        f"checks, no labels), {res['repeat']} runs each interleaved in one process (alternating order): median "
        "and interquartile range.", "",
        f"Machine: {machine()}; 1-min load average {loads[0]:.1f} at the start, {loads[1]:.1f} at the end.", "",
        "| call | median (ms) | IQR (ms) | / minimal |", "|---|---:|---:|---:|",
        f"| `fit_fay_herriot` + `analytic_mse` | {q['ours'][1] * 1e3:.3f} | {q['ours'][0] * 1e3:.3f}-"
        f"{q['ours'][2] * 1e3:.3f} | {res['ratio']:.2f}x |",
        f"| minimal numpy fit (reference) | {q['minimal'][1] * 1e3:.3f} | {q['minimal'][0] * 1e3:.3f}-"
        f"{q['minimal'][2] * 1e3:.3f} | 1.00x |", "",
        f"Same model variance, EBLUPs and MSEs: max relative differences {res['diff'][0]:.1e}, {res['diff'][1]:.1e}, "
        f"{res['diff'][2]:.1e} ({res['iterations']} iterations of our root finder)."])


def run_samplics(y, D, X):
    """samplics' EblupAreaModel (REML) fit + predict; returns (seconds, A, eblup, mse) or the error text."""
    try:
        from samplics import EblupAreaModel
        from samplics.utils.types import FitMethod
    except ImportError as exc:  # pragma: no cover
        return str(exc)
    area = np.arange(len(y))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        t = time.perf_counter()
        model = EblupAreaModel(method=FitMethod.reml)
        model.fit(yhat=y, X=X[:, 1:], area=area, error_std=np.sqrt(D), tol=1e-8, maxiter=200)
        model.predict(X=X[:, 1:], area=area)
        sec = time.perf_counter() - t
    return sec, float(model.re_std ** 2), np.array([model.area_est[a] for a in area]), \
        np.array([model.area_mse[a] for a in area]), int(model.convergence["iterations"])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--no-write", action="store_true", help="print only, do not touch RESULTS.md")
    ap.add_argument("--rows", type=int, default=5_000_000)
    ap.add_argument("--fh", action="store_true", help="only the Fay-Herriot fit beside a minimal numpy fit")
    ap.add_argument("--repeat", type=int, default=300, help="runs of each call with --fh")
    args = ap.parse_args()
    if args.fh:
        import os

        load0 = os.getloadavg()[0]
        body = fh_section(bench_fh_minimal(args.repeat), (load0, os.getloadavg()[0]))
        print(body)
        if not args.no_write:
            replace_section("Fay–Herriot beside a minimal fit", body)
        return

    y, D, X, aux, direct = make_area_data()
    T = len(y)
    fit_fay_herriot(y, D, X)  # warm-up (imports, BLAS)
    t_fit, (fit, mse) = timed(lambda: (lambda f: (f, analytic_mse(f)))(fit_fay_herriot(y, D, X)), repeat=5)
    t_tab, _ = timed(lambda: fit_territories(direct, aux, ["poverty_rate", "social_housing_share"],
                                             variance="direct"), repeat=3)
    t_boot, boot = timed(lambda: bootstrap_mse(fit, replicates=1000, seed=1), repeat=1)
    print(f"fit+PR {t_fit:.3f} s, table-level {t_tab:.3f} s, bootstrap {t_boot:.2f} s")
    sam = run_samplics(y, D, X)
    if isinstance(sam, tuple):
        t_sam, A_s, eb_s, mse_s, it_s = sam
        agree = (f"model variance {abs(fit.model_variance - A_s) / A_s:.1e}, EBLUP "
                 f"{np.max(np.abs(fit.eblup - eb_s) / np.abs(eb_s)):.1e}, MSE {np.max(np.abs(mse.mse - mse_s) / mse_s):.1e}")
        sam_row = f"| samplics 0.6.1 `EblupAreaModel` REML fit + predict (tol 1e-8, {it_s} iterations) | {t_sam:.2f} | max relative differences from ours: {agree} |"
    else:
        sam_row = f"| samplics `EblupAreaModel` | – | not run: {sam} |"
    print(sam_row)
    rec = make_recipients(args.rows)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        t_adm, adm = timed(lambda: admin_rates(rec, ["cmuc", "acs", "tpn", "tss"], min_cell=11), repeat=3)
    sup = adm.n_suppressed
    print(f"admin {t_adm:.2f} s, {sup}")
    ratio = float(np.mean(boot.mse) / np.mean(mse.mse))
    body = "\n".join([
        f"`python benchmarks/bench_territorial.py` ({dt.date.today().isoformat()}): medians of repeated runs, "
        f"data built in memory (CSV reading not timed). {T:,} territories, 3 coefficients, a true Fay–Herriot model "
        f"(A = 0.0036, D from GVF-like 0.325/n, n = 8..119).", "",
        f"Machine: {machine()}.", "",
        "| workload | time (s) | goal | notes |", "|---|---:|---:|---|",
        f"| `fit_fay_herriot` REML + `analytic_mse` (Prasad–Rao), {T:,} territories | {t_fit:.3f} | < 0.5 | "
        f"A = {fit.model_variance:.5f}, root to 1e-12 in {fit.iterations} iterations (median of 5) |",
        f"| `fit_territories` (table level: checks, CIs, diagnostics), {T:,} territories, 1 right | {t_tab:.3f} | – | "
        "median of 3 |",
        f"| `bootstrap_mse`, 1,000 replicates × {T:,} territories | {t_boot:.2f} | < 30 | all 1,000 variances "
        f"refitted at once (vectorised root finder, chunks of 250); mean bootstrap / Prasad–Rao MSE = {ratio:.3f} |",
        sam_row.replace("| – |", "| – | – |") if "not run" in sam_row else sam_row.replace(" | max", " | – | max"),
        f"| `admin_rates`, {args.rows:,} recipients × 4 rights, {rec['territory'].nunique():,} territories | "
        f"{t_adm:.2f} | – | suppressed cells: {sup['primary']} primary, {sup['secondary']} secondary (min cell 11) |",
        "",
        "samplics builds dense m × m matrices and loops over areas in Python (O(m²) masks); its ML variant stops "
        "after 2 iterations (an aliasing bug), so only REML is compared.", ""])
    print(f"{SECTION}\n\n{body}")
    if not args.no_write:
        replace_section(TITLE, body)
        print(f"wrote section '{SECTION}' of {RESULTS}")


if __name__ == "__main__":
    main()
