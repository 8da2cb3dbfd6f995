"""Benchmark of secondary suppression at national scale: the heuristic against the optimal MILP.

The tables: 1,514 QPVs and the rest of their units (3,028 territories) x 4 rights x 5 years
(``simulate_waves``, seed 3; simulated and counted first, not timed, kept in ``--folder`` when given),
published with their département, QPV / rest and national totals. Timed: one year
(:func:`nonrecours.publication.protect_admin_counts`) and the five years under one pattern
(:func:`nonrecours.publication.protect_admin_series`), each with ``method="heuristic"`` and
``method="optimal"``. Then an attacker independent of both (below: a linear programme per right and year
over what is published, the smallest and largest value of every suppressed count below ``min_cell``)
counts the counts recovered (interval narrower than one) or shown small (largest value under ``min_cell``).

Run ``python benchmarks/bench_suppression.py [--qpvs 1514] [--folder DIR] [--no-write]``; the results go to
the section ``## Secondary suppression at national scale`` of ``RESULTS.md``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import scipy.sparse as sp
from scipy.optimize import linprog

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from _bench import machine, replace_section  # noqa: E402

TITLE = "Secondary suppression at national scale"
RIGHTS = ["cmuc", "acs", "tpn", "tss"]
YEARS = (2014, 2015, 2016, 2017, 2018)
MIN_CELL = 11


def counts(n_qpv: int, folder: Path | None) -> pd.DataFrame:
    """Per year x territory x right counts (with ``is_qpv``), simulated once (and kept in ``folder``)."""
    path = None if folder is None else folder / f"counts_{n_qpv}.parquet"
    if path is not None and path.exists():
        return pd.read_parquet(path)
    from nonrecours.admin.series import admin_counts
    from nonrecours.simulate.waves import simulate_waves

    w = simulate_waves(n_qpv, YEARS, seed=3)
    qpv = w.populations[0].territories.set_index("territory")["is_qpv"].astype(int)
    c = pd.concat(
        [admin_counts(p.recipients, RIGHTS).assign(year=y) for y, p in zip(w.years, w.populations)], ignore_index=True
    )
    c["is_qpv"] = c["territory"].map(qpv)
    if path is not None:
        folder.mkdir(parents=True, exist_ok=True)
        c.to_parquet(path)
    return c


def attack(cells: pd.DataFrame, N: np.ndarray, K: np.ndarray, hidden: np.ndarray, totals: pd.DataFrame) -> int:
    """Counts below MIN_CELL recovered or shown small by linear programming over one year's publication.

    Unknowns: the three counts of every suppressed cell and total; relations: cells sum to their département
    and QPV / rest totals, those to the nation, eligibles = takers + non-takers; counts >= 0. Independent of
    the suppression code (absolute values, no capacities)."""
    found = 0
    for r in RIGHTS:  # loop over rights
        rc = np.flatnonzero((cells["right"] == r).to_numpy())
        tr = totals[totals["right"] == r].reset_index(drop=True)
        units = [("c", i) for i in rc] + [("t", j) for j in range(len(tr))]
        val = np.vstack([np.stack([N[rc], K[rc], N[rc] - K[rc]], axis=1), tr[["_E", "_T", "_N"]].to_numpy()])
        hid = np.r_[hidden[rc], (tr["status"] == "suppressed").to_numpy()]
        members: list[tuple[int, list[int]]] = []
        nat = int(np.flatnonzero((tr["level"] == "national").to_numpy())[0])
        n_c = rc.size
        for lvl, key in (("departement", "departement"), ("is_qpv", "is_qpv")):
            rows = np.flatnonzero((tr["level"] == lvl).to_numpy())
            cell_key = cells[key].iloc[rc].astype(str).to_numpy()
            for j in rows:
                members.append((n_c + j, np.flatnonzero(cell_key == str(tr.loc[j, key])).tolist()))
            members.append((n_c + nat, (n_c + rows).tolist()))
        var = -np.ones(len(units), dtype=np.int64)
        var[hid] = np.arange(int(hid.sum()))
        nv = 3 * int(hid.sum())
        A_r, A_c, A_v, b = [], [], [], []
        row = 0
        for total, parts in members:  # loop over relations (a few hundred)
            for j in range(3):
                rhs = 0.0
                for u, s in [(total, -1.0)] + [(p, 1.0) for p in parts]:
                    if hid[u]:
                        A_r.append(row)
                        A_c.append(3 * var[u] + j)
                        A_v.append(s)
                    else:
                        rhs -= s * val[u, j]
                b.append(rhs)
                row += 1
        for u in np.flatnonzero(hid):
            A_r += [row] * 3
            A_c += [3 * var[u], 3 * var[u] + 1, 3 * var[u] + 2]
            A_v += [1.0, -1.0, -1.0]
            b.append(0.0)
            row += 1
        A = sp.csr_matrix((A_v, (A_r, A_c)), shape=(row, nv))
        for u in np.flatnonzero(hid & (val < MIN_CELL).any(axis=1)):
            for j in np.flatnonzero(val[u] < MIN_CELL):
                c = np.zeros(nv)
                c[3 * var[u] + j] = 1.0
                lo = linprog(c, A_eq=A, b_eq=b, bounds=(0, None), method="highs")
                hi = linprog(-c, A_eq=A, b_eq=b, bounds=(0, None), method="highs")
                hi_v = np.inf if hi.status == 3 else -hi.fun
                if hi_v - lo.fun < 0.5 or hi_v < MIN_CELL - 1e-6:
                    found += 1
    return found


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--qpvs", type=int, default=1514)
    ap.add_argument("--folder", type=Path, default=None)
    ap.add_argument("--no-write", action="store_true")
    args = ap.parse_args()
    warnings.simplefilter("ignore")
    from nonrecours.publication import protect_admin_counts, protect_admin_series

    c = counts(args.qpvs, args.folder)
    cells = c[["territory", "departement", "right", "is_qpv"]].drop_duplicates(ignore_index=True)
    wide = c.pivot_table(index=["territory", "right"], columns="year", values=["n_eligible", "n_takers"], fill_value=0)
    idx = pd.MultiIndex.from_frame(cells[["territory", "right"]])
    N = wide["n_eligible"].reindex(idx).fillna(0).to_numpy(np.int64)
    K = wide["n_takers"].reindex(idx).fillna(0).to_numpy(np.int64)
    rows = []
    load = os.getloadavg()
    for method in ("heuristic", "optimal"):
        one = cells.assign(n_eligible=N[:, 0], n_takers=K[:, 0])
        t = time.perf_counter()
        table, totals, rules = protect_admin_counts(one, min_cell=MIN_CELL, margins=["is_qpv"], method=method)
        t1 = time.perf_counter() - t
        hidden = (table["status"] == "suppressed").to_numpy()
        tot = _true_totals(cells, N[:, :1], K[:, :1], totals)[0]
        found1 = attack(cells, N[:, 0], K[:, 0], hidden, tot)
        secondary = hidden & (rules != "primary")
        rows.append(_row("1 year (2014)", method, t1, rules == "primary", secondary, N[:, :1], totals, found1))
        t = time.perf_counter()
        primary, supp, per_year = protect_admin_series(
            cells, N, K, min_cell=MIN_CELL, margins=["is_qpv"], method=method
        )
        t5 = time.perf_counter() - t
        found5 = sum(
            attack(cells, N[:, y], K[:, y], supp, tt) for y, tt in enumerate(_true_totals(cells, N, K, *per_year))
        )
        rows.append(_row("5 years (2014-2018)", method, t5, primary, supp & ~primary, N, per_year[0], found5))
        print(rows[-2], rows[-1], flush=True)
    load_after = os.getloadavg()
    header = (
        "| tables | method | seconds | cells | primary | secondary | eligibles of secondary cells | totals suppressed "
        "| counts recovered or shown small |\n|---|---|---|---|---|---|---|---|---|\n"
    )
    body = (
        f"{dt.date.today().isoformat()}; `python benchmarks/bench_suppression.py --qpvs {args.qpvs}`: "
        f"{args.qpvs:,} QPVs and the rest of their units ({cells['territory'].nunique():,} territories) x 4 rights "
        f"x 5 years (simulate_waves, seed 3), min cell {MIN_CELL}, with département, QPV / rest and national totals. "
        "The attacker (a linear programme per right and year, independent of the suppression code) bounds every "
        "suppressed count below the threshold in every year. Load average "
        f"{load[0]:.1f} before, {load_after[0]:.1f} after (2 cores shared).\n\n"
        + header
        + "\n".join(rows)
        + "\n\n"
        + machine()
        + "\n"
    )
    print(body)
    if not args.no_write:
        replace_section(TITLE, body)


def _true_totals(cells: pd.DataFrame, N: np.ndarray, K: np.ndarray, *per_year: pd.DataFrame) -> list[pd.DataFrame]:
    """Each year's totals table with its true counts (``_E``, ``_T``, ``_N``) beside the published status."""
    out = []
    for y, tot in enumerate(per_year):
        c = cells.assign(E=N[:, y], T=K[:, y])
        t = tot.copy()
        keys = {
            "departement": c.groupby(["departement", "right"])[["E", "T"]].sum(),
            "is_qpv": c.assign(is_qpv=c["is_qpv"].astype(str)).groupby(["is_qpv", "right"])[["E", "T"]].sum(),
            "national": c.groupby("right")[["E", "T"]].sum(),
        }
        E, T = np.zeros(len(t)), np.zeros(len(t))
        for i, row in enumerate(t.to_dict("records")):  # a few hundred totals
            lvl = row["level"]
            k = row["right"] if lvl == "national" else (str(row[lvl]), row["right"])
            E[i], T[i] = keys[lvl].loc[k, "E"], keys[lvl].loc[k, "T"]
        out.append(t.assign(_E=E, _T=T, _N=E - T))
    return out


def _row(name, method, seconds, primary, secondary, N, totals, found) -> str:
    el = int(N[secondary].sum())
    n_tot = int((totals["status"] == "suppressed").sum())
    return (
        f"| {name} | {method} | {seconds:.2f} | {primary.size:,} | {int(primary.sum())} | {int(secondary.sum())} "
        f"| {el:,} | {n_tot} | {found} |"
    )


if __name__ == "__main__":
    main()
