"""Benchmark: take-up rates of 4 rights by territory on a stratified cluster sample.

Builds a sample (default 500,000 rows) with 1,500 QPV territories and their
non-QPV counterparts (3,000 domains), strata = département x QPV status, PSUs
nested in territories, FPC = population count of PSUs, and 4 rights with
empty (not eligible) cells, some domain x right cells having no eligible
respondent. Times ``SurveyDesign(...)`` + ``estimate_rates(design, rights,
by="territory")`` (design built from the string codes, split into design and
estimation) beside a reference "one numpy pass" (:func:`numpy_pass`: the domain
ratio estimates of the 4 rights and a simple stratified-cluster variance, PSU
totals of the linearised values centred within strata, all by ``np.bincount``;
timed on integer codes and including the factorisation of the string codes) and
the peers: svy 0.35, samplics 0.6 and R survey ``svyby`` (only the ``svyby``
calls are timed inside R). Checks that the numpy pass and each peer agree (max
abs diff of estimates and SEs).

Usage::

    python benchmarks/bench_estimate.py --rows 112000 --peers svy,samplics,R --repeat 3
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

from nonrecours.design import SurveyDesign
from nonrecours.estimation import QualityThresholds, estimate_rates

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from _bench import timed  # noqa: E402

RIGHTS = ["cmuc", "acs", "tpn", "tss"]


def build_sample(rows: int, territories: int = 1500, seed: int = 1) -> pd.DataFrame:
    """A stratified cluster sample: 2 x ``territories`` domains, ~33 rows per PSU."""
    rng = np.random.default_rng(seed)
    T = 2 * territories
    dep = rng.integers(0, 100, territories)
    t_dep = np.concatenate([dep, dep])
    t_qpv = np.repeat([1, 0], territories)
    psu_per_t = 5
    U = T * psu_per_t
    psu_t = np.repeat(np.arange(T), psu_per_t)
    size = rng.poisson(rows / U, U) + 1
    size = np.maximum(1, np.round(size * rows / size.sum())).astype(int)
    psu = np.repeat(np.arange(U), size)[:rows]
    n = psu.size
    t = psu_t[psu]
    stratum = t_dep[t] * 2 + t_qpv[t]
    npsu_h = np.bincount(stratum[np.unique(psu, return_index=True)[1]], minlength=200)
    fpc = 4.0 * npsu_h[stratum]
    weight = 4.0 * rng.uniform(20, 40, U)[psu]
    df = pd.DataFrame({"territory": pd.array([f"T{x:04d}" for x in t], dtype="str"),
                       "stratum": pd.array([f"S{x:03d}" for x in stratum], dtype="str"),
                       "psu": pd.array([f"P{x:05d}" for x in psu], dtype="str"),
                       "fpc": fpc, "weight": weight, "is_qpv": t_qpv[t]})
    base = rng.uniform(0.3, 0.8, T)
    for j, r in enumerate(RIGHTS):
        p = np.clip(base[t] + rng.normal(0, 0.1, n) + 0.05 * j, 0.02, 0.98)
        y = (rng.uniform(size=n) < p).astype(float)
        eligible = rng.uniform(size=n) < (0.9 - 0.2 * j)
        if j >= 2:  # some territories with no eligible recipient for this right
            eligible &= ~np.isin(t, rng.choice(T, 40, replace=False))
        df[r] = np.where(eligible, y, np.nan)
    return df


def numpy_pass(territory: np.ndarray, stratum: np.ndarray, psu: np.ndarray, fpc: np.ndarray, weight: np.ndarray,
               rights: list[np.ndarray]) -> pd.DataFrame:
    """The reference "one numpy pass": domain rates and their stratified-cluster SEs by ``np.bincount``.

    Integer codes in, no checks. For right y (NaN = not eligible) and domain d:
    p_d = sum w y / sum w over eligible rows, z = w (y - p_d) / sum w, PSU x domain
    totals z_hid, and var_d = sum_h (1 - n_h/N_h) n_h/(n_h - 1) sum_i (z_hid - mean_h z_hid)^2
    (R's ``svyrecvar`` with FPC, without lonely PSUs or calibration).
    """
    D, H, U = int(territory.max()) + 1, int(stratum.max()) + 1, int(psu.max()) + 1
    cell, cells = pd.factorize(psu * D + territory)  # the (PSU, domain) cells, shared by the rights
    psu_h = np.zeros(U, np.int64)
    psu_h[psu] = stratum
    cell_hd = psu_h[cells // D] * D + cells % D
    n_h = np.bincount(psu_h, minlength=H).astype(float)
    N_h = np.zeros(H)
    N_h[stratum] = fpc
    c = (1 - n_h / N_h) * n_h / (n_h - 1)
    out = []
    with np.errstate(invalid="ignore", divide="ignore"):
        for j, y in enumerate(rights):
            ok = ~np.isnan(y)
            wy = np.where(ok, weight, 0.0)
            y0 = np.where(ok, y, 0.0)
            Td = np.bincount(territory, wy, D)
            p = np.bincount(territory, wy * y0, D) / Td
            z = wy * (y0 - p[territory]) / Td[territory]
            zc = np.bincount(cell, z, len(cells))
            s1 = np.bincount(cell_hd, zc, H * D).reshape(H, D)
            s2 = np.bincount(cell_hd, zc * zc, H * D).reshape(H, D)
            se = np.sqrt((c[:, None] * (s2 - s1 ** 2 / n_h[:, None])).sum(axis=0))
            out.append(pd.DataFrame({"d": np.arange(D), "right": RIGHTS[j], "estimate": p, "se": se}))
    return pd.concat(out, ignore_index=True)


def run_numpy_pass(df: pd.DataFrame, codes: dict[str, np.ndarray] | None = None) -> pd.DataFrame:
    """:func:`numpy_pass` on given integer codes, or factorising the string codes (unsorted) itself."""
    if codes is None:
        codes = {c: pd.factorize(df[c])[0] for c in ("territory", "stratum", "psu")}
    return numpy_pass(codes["territory"], codes["stratum"], codes["psu"], df["fpc"].to_numpy(),
                      df["weight"].to_numpy(), [df[r].to_numpy() for r in RIGHTS])


def run_nonrecours(df: pd.DataFrame, timings: dict[str, list[float]] | None = None) -> pd.DataFrame:
    t0 = time.perf_counter()
    design = SurveyDesign(df, weight="weight", strata="stratum", psu="psu", fpc="fpc")
    t1 = time.perf_counter()
    res = estimate_rates(design, RIGHTS, by="territory", ci="logit",
                         thresholds=QualityThresholds(min_n=0, reliable_n=0))
    if timings is not None:
        timings.setdefault("design", []).append(t1 - t0)
        timings.setdefault("estimate", []).append(time.perf_counter() - t1)
    return res.to_frame()


def run_svy(df: pd.DataFrame) -> pd.DataFrame:
    import polars as pl
    import svy

    s = svy.Sample(pl.from_pandas(df), svy.Design(stratum="stratum", psu="psu", wgt="weight", pop_size="fpc"))
    out = []
    for r in RIGHTS:
        e = s.estimation.mean(r, by="territory", drop_nulls=True).to_polars().to_pandas()
        out.append(pd.DataFrame({"territory": e["territory"].astype(str), "right": r, "estimate": e["est"], "se": e["se"]}))
    return pd.concat(out)


def run_samplics(df: pd.DataFrame) -> pd.DataFrame:
    """samplics' ``TaylorEstimator`` by territory, one right at a time, not-eligible rows in a domain ``__out__``.

    The parked rows hold y = 1, not 0: samplics computes every domain's CV and
    raises ZeroDivisionError when a domain's mean is 0, which the parked domain's
    is when its rows hold 0. Parked rows never enter the other domains' estimates
    (nor their SEs, domain estimation zeroing them), and ``__out__`` is dropped.
    """
    from samplics import PopParam, TaylorEstimator

    codes_h, _ = pd.factorize(df["stratum"])
    codes_u, _ = pd.factorize(df["psu"])
    n_h = df.groupby("stratum")["psu"].transform("nunique").to_numpy()
    fpc = 1 - n_h / df["fpc"].to_numpy()
    out = []
    for r in RIGHTS:
        y = df[r].to_numpy()
        dom = np.where(np.isnan(y), "__out__", df["territory"].to_numpy(dtype=object))
        est = TaylorEstimator(PopParam.mean)
        est.estimate(y=np.where(np.isnan(y), 1.0, y), samp_weight=df["weight"].to_numpy(), stratum=codes_h,
                     psu=codes_u, fpc=fpc, domain=dom)
        keys = [k for k in est.point_est if k != "__out__"]
        out.append(pd.DataFrame({"territory": keys, "right": r, "estimate": [est.point_est[k] for k in keys],
                                 "se": [est.stderror[k] for k in keys]}))
    return pd.concat(out)


R_SCRIPT = r"""
suppressMessages(library(survey))
args <- commandArgs(trailingOnly = TRUE)
d <- read.csv(args[1], colClasses = c(territory = "character", stratum = "character", psu = "character"))
des <- svydesign(ids = ~psu, strata = ~stratum, fpc = ~fpc, weights = ~weight, data = d, nest = TRUE)
rights <- c("cmuc", "acs", "tpn", "tss")
out <- list(); elapsed <- 0
for (r in rights) {
  sub <- subset(des, !is.na(d[[r]][des$prob < Inf]))
  f <- as.formula(paste0("~", r))
  t <- system.time(b <- svyby(f, ~territory, sub, svymean))[["elapsed"]]
  elapsed <- elapsed + t
  out[[r]] <- data.frame(territory = b$territory, right = r, estimate = b[[r]], se = b$se)
}
write.csv(do.call(rbind, out), args[2], row.names = FALSE)
cat(elapsed, "\n", file = args[3])
"""


def run_r(df: pd.DataFrame, tmp: str) -> tuple[float, pd.DataFrame]:
    data, res, tim, script = (os.path.join(tmp, x) for x in ("d.csv", "r.csv", "t.txt", "b.R"))
    df.to_csv(data, index=False)
    with open(script, "w") as fh:
        fh.write(R_SCRIPT)
    subprocess.run(["Rscript", script, data, res, tim], check=True)
    out = pd.read_csv(res, dtype={"territory": str})
    return float(open(tim).read()), out


def compare(ours: pd.DataFrame, peer: pd.DataFrame) -> tuple[float, float, int]:
    a = ours[["territory", "right", "estimate", "se"]].assign(territory=lambda x: x["territory"].astype(str))
    m = a.merge(peer.assign(territory=peer["territory"].astype(str)), on=["territory", "right"], suffixes=("", "_p"))
    return (float(np.nanmax(np.abs(m["estimate"] - m["estimate_p"]))),
            float(np.nanmax(np.abs(m["se"] - m["se_p"]))), len(m))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=500_000)
    ap.add_argument("--peers", default="svy,samplics,R", help="comma-separated: svy, samplics, R (or none)")
    ap.add_argument("--repeat", type=int, default=3, help="repeats of the fast timings (median reported)")
    args = ap.parse_args()
    peers = [p for p in args.peers.split(",") if p and p != "none"]
    df = build_sample(args.rows)
    n_dom = df["territory"].nunique()
    print(f"sample: {len(df):,} rows, {df['psu'].nunique():,} PSUs, {df['stratum'].nunique()} strata, "
          f"{n_dom:,} territories x {len(RIGHTS)} rights")
    codes = {c: pd.factorize(df[c])[0] for c in ("territory", "stratum", "psu")}
    reps = max(args.repeat, 5)
    t_np, base = timed(lambda: run_numpy_pass(df, codes), reps)
    t_np_s, _ = timed(lambda: run_numpy_pass(df), reps)
    split: dict[str, list[float]] = {}
    t_ours, ours = timed(lambda: run_nonrecours(df, split), args.repeat)
    t_des, t_est = np.median(split["design"]), np.median(split["estimate"])
    print(f"one numpy pass, integer codes:      {t_np:9.4f} s   (median of {reps})")
    print(f"one numpy pass, from string codes:  {t_np_s:9.4f} s")
    print(f"nonrecours design + estimate_rates: {t_ours:9.4f} s   ({t_ours / t_np:.1f} x numpy pass on integer codes, "
          f"{t_ours / t_np_s:.1f} x from string codes; design {t_des:.4f} s + estimate {t_est:.4f} s; "
          f"{len(ours):,} rows incl. {int((ours['n'] == 0).sum())} empty cells)")
    base["territory"] = pd.factorize(df["territory"])[1][base["d"].to_numpy()]
    d_est, d_se, m = compare(ours, base.drop(columns="d"))
    print(f"numpy pass vs nonrecours: {m:,} estimates compared, max |diff| estimate {d_est:.2e}, se {d_se:.2e}")
    for peer in peers:
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                if peer == "svy":
                    t, out = timed(lambda: run_svy(df), 1)
                elif peer == "samplics":
                    t, out = timed(lambda: run_samplics(df), 1)
                elif peer == "R":
                    if shutil.which("Rscript") is None:
                        print("R: Rscript not found, skipped")
                        continue
                    with tempfile.TemporaryDirectory() as tmp:
                        t, out = run_r(df, tmp)
                else:
                    print(f"unknown peer {peer!r} skipped")
                    continue
        except Exception as exc:  # a peer failing is reported, not fatal
            print(f"{peer}: failed ({type(exc).__name__}: {exc})")
            continue
        d_est, d_se, m = compare(ours, out)
        print(f"{peer:<27} {t:9.3f} s  ({t / t_ours:.0f} x nonrecours); {m:,} estimates compared, "
              f"max |diff| estimate {d_est:.2e}, se {d_se:.2e}")


if __name__ == "__main__":
    main()
