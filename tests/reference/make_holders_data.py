"""Makes holders_sample.csv and holders_totals.csv: a stratified sample calibrated to administrative totals.

Run from this folder: ``python make_holders_data.py`` (numpy seed 2027). A population of recipients
(4 benefits x QPV or rest = 8 strata) of whom some take up a right (CMU-C) and are linked to the
holders' file with linkage errors (a taker missed, a non-taker linked, 2 % each); a stratified simple
random sample with 30 to 60 respondents per stratum. ``holders_totals.csv`` holds the margins known
exactly from the files: recipients per stratum and linked holders by QPV (``linked_cmuc``: ``1`` holder
in QPV, ``0`` holder in the rest, ``not_linked``). make_holders_reference.R calibrates with R survey and
computes the take-up ratio (svyratio) nationally and by QPV.
"""

from pathlib import Path

import numpy as np
import pandas as pd

rng = np.random.default_rng(2027)
benefits = np.array(["RSA", "AAH", "ASS", "ASPA"])
N_h = np.array([4000, 2500, 1500, 2000, 1200, 800, 500, 600])
n_h = np.array([60, 50, 40, 45, 50, 40, 30, 35])
h_pop = np.repeat(np.arange(8), N_h)
qpv_pop = (h_pop >= 4).astype(int)
eligible = rng.random(h_pop.size) < np.array([0.8, 0.5, 0.6, 0.4, 0.85, 0.55, 0.65, 0.45])[h_pop]
takes = eligible & (rng.random(h_pop.size) < 0.55 + 0.1 * qpv_pop)
err = rng.random(h_pop.size) < 0.02
linked = np.where(err, ~takes, takes)
pick = np.concatenate([rng.choice(np.flatnonzero(h_pop == h), n, replace=False) for h, n in enumerate(n_h)])
stratum = np.array([f"{b}_{q}" for q in (0, 1) for b in benefits])
sample = pd.DataFrame(
    {
        "id": [f"R{i:07d}" for i in pick],
        "stratum": stratum[h_pop[pick]],
        "is_qpv": qpv_pop[pick],
        "fpc": N_h[h_pop[pick]].astype(float),
        "weight": (N_h / n_h)[h_pop[pick]],
        "cmuc": np.where(eligible[pick], takes[pick].astype(float), np.nan),
        "linked_cmuc": np.where(linked[pick], qpv_pop[pick].astype(str), "not_linked"),
    }
)
rows = [("stratum", s, float(n)) for s, n in zip(stratum, N_h)]
lab = np.where(linked, qpv_pop.astype(str), "not_linked")
rows += [("linked_cmuc", c, float((lab == c).sum())) for c in ("0", "1", "not_linked")]
totals = pd.DataFrame(rows, columns=["variable", "category", "total"])
if __name__ == "__main__":  # pytest's --doctest-modules imports this file: write only when run
    sample.to_csv(Path(__file__).with_name("holders_sample.csv"), index=False, na_rep="")
    totals.to_csv(Path(__file__).with_name("holders_totals.csv"), index=False)
