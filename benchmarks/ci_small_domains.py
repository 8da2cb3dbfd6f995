"""Direct intervals of small territories on the demo's design (issue 17): which interval covers?

Candidates beyond the package's methods (computed here from the estimate, its design SE, the domain's
respondents and Kish's effective n = (sum w)^2 / sum w^2): Korn-Graubard ``beta`` with the domain df (the
earlier default of ``--ci auto``) and with the design df, Clopper-Pearson, Jeffreys, mid-p (average of the
Clopper-Pearson bounds at x and x +- 1) and Wilson (normal quantile) with the design-based effective n
p(1-p)/s^2 or Kish's, and logit. Coverage of nominal 95 % intervals over (sample, territory x right) pairs,
by the territory's respondents in that sample (1-4, 5-10, 11-29, 30+), with binomial MC errors (pairs taken
as independent). The demo's population (``simulate_population(200, seed=1)``) and design (is_qpv x benefit,
power allocation, 3,900 respondents).

Run ``python benchmarks/ci_small_domains.py 150`` (about 30 s). The package's own rule is then measured by
``nonrecours validate ... --ci auto,beta,wilson,logit --n-bands 1,5,11,30`` (see RESULTS.md).
"""

import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np
import pandas as pd
from scipy import special, stats

from nonrecours._parallel import spawn
from nonrecours.estimation import QualityThresholds, estimate_rates
from nonrecours.estimation.intervals import proportion_ci
from nonrecours.simulate import simulate_population
from nonrecours.validation.study import _Sampler
from nonrecours.validation.targets import build_targets, code_column

R = int(sys.argv[1]) if len(sys.argv) > 1 else 150
pop = simulate_population(200, seed=1)
rec = pop.recipients
rights = ["cmuc", "acs", "tpn", "tss"]
codes, labels = {}, {}
for col in ("is_qpv", "benefit", "territory"):
    codes[col], labels[col] = code_column(rec[col])
targets = build_targets(rec, rights, ("territory",), codes, labels)
frame = pd.DataFrame({"id": np.arange(len(rec)), **codes, **{r: rec[r].to_numpy(float) for r in rights}})
sam = _Sampler(frame, "stratified", 3900, ["is_qpv", "benefit"], 10, "power")
truth = targets.truth
K = truth.size
z = stats.norm.isf(0.025)

def beta_int(x, n):  # CP with real x, n
    a_lo = np.where(x <= 0, 1.0, x)
    lo = np.where(x <= 0, 0.0, special.betaincinv(a_lo, n - x + 1, 0.025))
    b_hi = np.where(n - x <= 0, 1.0, n - x)
    hi = np.where(n - x <= 0, 1.0, special.betaincinv(x + 1, b_hi, 0.975))
    return lo, hi

def jeff(x, n):
    lo = np.where(x <= 0, 0.0, special.betaincinv(x + 0.5, n - x + 0.5, 0.025))
    hi = np.where(n - x <= 0, 1.0, special.betaincinv(x + 0.5, n - x + 0.5, 0.975))
    return lo, hi

def wilson(p, ne, q=z):
    k = q**2 / ne
    c = (p + k / 2) / (1 + k)
    h = q / (1 + k) * np.sqrt(p * (1 - p) / ne + k / (4 * ne))
    return c - h, c + h

def midp(x, n):
    # mid-p CP via bisection on continuous x: approximate using beta average of CP bounds with x and x+-1
    lo1, hi1 = beta_int(x, n)
    # mid-p ~ average of CP with x and with x shifted (Berry-Armitage approx)
    lo2 = np.where(x + 1 > n, lo1, special.betaincinv(np.maximum(x + 1, 1e-9), np.maximum(n - x, 1e-9), 0.025))
    hi2 = np.where(x - 1 < 0, hi1, special.betaincinv(np.maximum(x, 1e-9), np.maximum(n - x + 1, 1e-9), 0.975))
    return (lo1 + lo2) / 2, (hi1 + hi2) / 2

names = None
hits = {}; cnt = {}
bands = [(1, 4), (5, 10), (11, 29), (30, 10**9)]
t0 = time.time()
for _i, rng in enumerate(spawn(11, R)):
    des = sam.draw(rng)
    r = estimate_rates(des, rights, by="territory", ci="wald", level=0.95, df="domain", thresholds=QualityThresholds(min_n=0, reliable_n=0))
    dom = r.domains["territory"].to_numpy(np.int64)[::4]
    pos = targets.positions("territory", dom)
    p, s, df, n = r.raw_estimate, r.raw_se, r.df, r.n.astype(float)
    # Kish n per territory x right
    d = des.data
    w = d["weight"].to_numpy(float)
    tcode = d["territory"].to_numpy(np.int64)
    nk = np.full(p.size, np.nan)
    for v, rt in enumerate(rights):
        e = ~np.isnan(d[rt].to_numpy(float))
        sw = np.bincount(tcode[e], weights=w[e], minlength=len(labels["territory"]))
        sw2 = np.bincount(tcode[e], weights=w[e]**2, minlength=len(labels["territory"]))
        with np.errstate(all="ignore"):
            kk = sw**2 / sw2
        nk[v::4] = kk[dom]
    with np.errstate(all="ignore"):
        ne = np.where((p == 0) | (p == 1), n, p * (1 - p) / s**2)
        ne_k = np.where((p == 0) | (p == 1), nk, ne)
        cands = {
            "beta_domdf": proportion_ci(p, s, df, method="beta", n=n),
            "beta_designdf": proportion_ci(p, s, np.full(p.size, des.degf()), method="beta", n=n),
            "cp_ne": beta_int(ne * p, ne),
            "cp_kish": beta_int(nk * p, nk),
            "wilson_domdf": proportion_ci(p, s, df, method="wilson", n=n),
            "wilson_z_ne": wilson(p, ne),
            "wilson_z_kish": wilson(p, nk),
            "wilson_z_ne_kish01": wilson(p, ne_k),
            "jeff_ne": jeff(ne * p, ne),
            "jeff_kish": jeff(nk * p, nk),
            "jeff_ne_kish01": jeff(ne_k * p, ne_k),
            "midp_ne": midp(ne * p, ne),
            "midp_kish": midp(nk * p, nk),
            "logit": proportion_ci(p, s, df, method="logit", n=n),
        }
    T = truth[pos]
    ok = np.isfinite(p) & (n > 0)
    for name, (lo, hi) in cands.items():
        for b, (a1, a2) in enumerate(bands + [(1, 10**9)]):
            m = ok & (n >= a1) & (n <= a2) & np.isfinite(lo) & np.isfinite(hi)
            key = (name, b)
            h = ((lo <= T) & (hi >= T))[m]
            hits[key] = hits.get(key, 0) + h.sum()
            cnt[key] = cnt.get(key, 0) + m.sum()
            hits[(name, b, "w")] = hits.get((name, b, "w"), 0) + (hi - lo)[m].sum()
print(f"{R} samples, {time.time()-t0:.0f}s")
rows = []
for name in cands:
    row = {"method": name}
    for b, lab in enumerate(["1-4", "5-10", "11-29", "30+", "all"]):
        c = hits[(name, b)] / cnt[(name, b)]
        row[lab] = f"{c:.3f}±{np.sqrt(c*(1-c)/cnt[(name,b)]):.3f}"
        row[lab + " w"] = round(hits[(name, b, 'w')] / cnt[(name, b)], 3)
    rows.append(row)
print("counts", [cnt[("logit", b)] for b in range(5)])
pd.set_option("display.width", 250)
print(pd.DataFrame(rows).to_string(index=False))
