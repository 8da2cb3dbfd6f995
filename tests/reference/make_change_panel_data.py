"""Makes change_panel_wave1.csv and change_panel_wave2.csv: two waves of a stratified panel.

Run from this folder: ``python make_change_panel_data.py`` (numpy seed 2018). The same
recipients are in both waves (a balanced panel); strata, sampling fractions and weights
are those of wave 2 for the stacked design (population sizes differ between waves, so the
weights do), and some recipients change domain (is_qpv) or eligibility between waves.
make_change_reference.R computes the reference values with R survey on the wide file.
"""

from pathlib import Path

import numpy as np
import pandas as pd

rng = np.random.default_rng(2018)
strata = np.array(["a", "b", "c"])
n_h = np.array([30, 40, 50])
N1 = np.array([480.0, 820.0, 1150.0])
N2 = np.array([500.0, 800.0, 1200.0])
h = np.repeat(np.arange(3), n_h)
n = h.size
ids = np.array([f"R{i:07d}" for i in rng.permutation(np.arange(1, n + 1) * 7)])
q1 = (rng.random(n) < np.array([0.2, 0.35, 0.5])[h]).astype(int)
q2 = np.where(rng.random(n) < 0.06, 1 - q1, q1)
waves = []
for N, q in ((N1, q1), (N2, q2)):
    waves.append(pd.DataFrame({"id": ids, "stratum": strata[h], "is_qpv": q, "fpc": N[h], "weight": N[h] / n_h[h]}))
for right, elig, base in (("cmuc", 0.7, 0.55), ("acs", 0.5, 0.35)):
    e1 = rng.random(n) < elig
    e2 = np.where(rng.random(n) < 0.1, ~e1, e1)
    y1 = rng.random(n) < base + 0.1 * q1
    y2 = np.where(rng.random(n) < 0.6, y1, rng.random(n) < base + 0.05 + 0.15 * q2)
    waves[0][right] = np.where(e1, y1.astype(float), np.nan)
    waves[1][right] = np.where(e2, y2.astype(float), np.nan)
if __name__ == "__main__":  # pytest's --doctest-modules imports this file: writing on import left copies at the root
    for k, w in enumerate(waves, start=1):
        w.to_csv(Path(__file__).with_name(f"change_panel_wave{k}.csv"), index=False, na_rep="")
