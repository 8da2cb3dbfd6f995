"""Shared fixtures data for the weighting tests: the api data of R's survey package."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd

SHARED = Path(__file__).resolve().parent / "reference"  # copy of the shared R reference (reference/README.md)
HERE = Path(__file__).resolve().parent / "reference"


def api(name: str) -> pd.DataFrame:
    return pd.read_csv(SHARED / "api" / f"{name}.csv")


def api_reference() -> dict:
    return json.loads((SHARED / "api_reference.json").read_text())


def weighting_reference() -> dict:
    return json.loads((HERE / "weighting_reference.json").read_text())


def margins_frame(numeric: str | None = "sch.wide", categorical_schwide: bool = False) -> pd.DataFrame:
    pop = api("apipop")
    rows = [("stype", "E", 4421.0), ("stype", "H", 755.0), ("stype", "M", 1018.0)]
    if categorical_schwide:
        rows += [
            ("sch.wide", "0", float((pop["sch.wide"] == 0).sum())),
            ("sch.wide", "1", float((pop["sch.wide"] == 1).sum())),
        ]
    elif numeric:
        rows.append((numeric, "", float(pop[numeric].sum())))
    return pd.DataFrame(rows, columns=["variable", "category", "total"])


def clustered_sample(n_strata: int = 4, psu_per_stratum: int = 40, per_psu: int = 12, seed: int = 3) -> pd.DataFrame:
    """A synthetic stratified cluster sample with benefit / is_qpv / a right and a response indicator."""
    rng = np.random.default_rng(seed)
    n = n_strata * psu_per_stratum * per_psu
    stratum = np.repeat(np.arange(n_strata), psu_per_stratum * per_psu)
    psu = np.repeat(np.arange(n_strata * psu_per_stratum), per_psu)
    benefit = rng.choice(["RSA", "AAH", "ASPA", "ASS"], n, p=[0.45, 0.3, 0.15, 0.1])
    is_qpv = (rng.random(n) < 0.3 + 0.1 * stratum / n_strata).astype(int)
    u = rng.normal(0, 0.5, n_strata * psu_per_stratum)[psu]
    p = 1 / (1 + np.exp(-(0.3 + 0.5 * (benefit == "RSA") - 0.4 * is_qpv + u)))
    tpn = (rng.random(n) < p).astype(float)
    responded = (rng.random(n) < 0.55 + 0.1 * (benefit == "AAH") + 0.1 * is_qpv).astype(int)
    weight = np.array([20.0, 35.0, 50.0, 80.0, 65.0, 40.0])[stratum % 6]
    fpc = np.full(n, psu_per_stratum * 30)
    return pd.DataFrame(
        {
            "id": np.arange(n).astype(str),
            "stratum": stratum.astype(str),
            "psu": psu.astype(str),
            "fpc": fpc,
            "weight": weight,
            "benefit": benefit,
            "is_qpv": is_qpv,
            "tpn": tpn,
            "age": rng.integers(18, 80, n),
            "responded": responded,
        }
    )


def population_margins(df: pd.DataFrame, noise: float = 0.02, seed: int = 5) -> pd.DataFrame:
    """Margins near the weighted sample totals (benefit x is_qpv counts, scaled)."""
    rng = np.random.default_rng(seed)
    N = df["weight"].sum()
    rows = []
    for var in ("benefit", "is_qpv"):
        t = df.groupby(var)["weight"].sum()
        t = t * (1 + noise * rng.standard_normal(t.size))
        t = t / t.sum() * N
        rows += [(var, str(k), float(v)) for k, v in t.items()]
    return pd.DataFrame(rows, columns=["variable", "category", "total"])
