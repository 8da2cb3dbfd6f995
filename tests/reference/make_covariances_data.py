"""Write tests/reference/covariances/sample.csv: a stratified cluster sample of 8 territories x 3 rights whose
rights are correlated within a respondent (seed 2626), for make_covariances_reference.R.

Run from the repository root: python tests/reference/make_covariances_data.py
"""

from pathlib import Path

import numpy as np
import pandas as pd

rng = np.random.default_rng(2626)
n_psu, per = 48, 12
psu = np.repeat(np.arange(n_psu), per)
n = psu.size
territory = np.where(rng.uniform(size=n) < 0.8, psu % 8, rng.integers(0, 8, n))  # PSUs cut across territories
u = rng.normal(size=n)  # a respondent's propensity, shared by the rights
df = pd.DataFrame(
    {
        "id": np.arange(n),
        "stratum": [f"s{p // 8}" for p in psu],
        "psu": [f"u{p}" for p in psu],
        "weight": np.round(rng.uniform(5, 25, n), 3),
        "territory": [f"T{t}" for t in territory],
    }
)
for k, r in enumerate(("cmuc", "acs", "aah")):
    p = 1 / (1 + np.exp(-(0.3 * k - 0.2 + 1.2 * u + 0.4 * rng.normal(size=n))))
    y = (rng.uniform(size=n) < p).astype(float)
    y[rng.uniform(size=n) < 0.15 + 0.1 * k] = np.nan  # not eligible
    df[r] = y
out = Path(__file__).parent / "covariances" / "sample.csv"
df.to_csv(out, index=False)
print(out, len(df))
