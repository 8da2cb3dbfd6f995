"""Coverage of the administrative intervals over repeated simulated populations, sources and linkages.

Each replication simulates a population and its administrative sources
(:func:`~nonrecours.simulate.sources.simulate_sources`), runs the whole phase
(:func:`~nonrecours.admin.pipeline.run_admin_phase`: eligibility, QPV,
linkage, a clerical review simulated from the true links, rates) and
compares every published territory cell with the simulator's true rate.
Per right, the coverage is the share of published cells whose interval holds
the true rate; its Monte Carlo standard error is that of a proportion over
the cells (cells of one replication share the review's calibration error, so
it is a lower bound). The coverage is *within tolerance* when it lies in
``level ± tolerance`` (0.95 ± 0.03).
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np
import pandas as pd

from .._checks import check_level
from ..errors import OptionError, message

__all__ = ["admin_coverage", "admin_coverages", "run_admin_validation", "TOLERANCE", "INTERVALS"]

#: Stated tolerance of the coverage of the administrative intervals around their level.
TOLERANCE = 0.03


def admin_coverage(
    table: pd.DataFrame,
    truth: pd.DataFrame,
    *,
    level: float = 0.95,
    tolerance: float = TOLERANCE,
    estimand: str = "rate",
    estimate: str = "rate_adjusted",
) -> pd.DataFrame:
    """Coverage of the intervals of an administrative rates table against the true rates, by right.

    Parameters
    ----------
    table : DataFrame
        ``territory``, ``right``, ``estimate``'s column, ``ci_low``, ``ci_high`` and, when present, ``status``
        (only ``published`` rows count; :class:`~nonrecours.admin.rates.LinkedRates`' table,
        ``admin_rates.csv``, or the corrected rates, ``admin_corrected.csv``).
    truth : DataFrame
        ``territory``, ``right`` and the ``estimand`` column (the simulator's ``truth``: ``rate``, the true
        rate; the sources' truth also has ``file_rate``, the administrative rates' own estimand,
        :func:`~nonrecours.simulate.sources.file_rates`).
    level, tolerance : float
        The intervals' level and the tolerance of their coverage.
    estimand, estimate : str
        The column of ``truth`` the intervals are checked against and the column of ``table`` they are around.

    Returns
    -------
    DataFrame
        Per ``right``: ``cells`` (published, with a finite estimand), ``coverage``, ``mc_se``
        (``sqrt(c (1 - c) / cells)``), ``mean_width``, ``mean_abs_error``, ``mean_error`` (of ``estimate``),
        ``within_tolerance``.
    """
    level = check_level(level)
    if not 0 < tolerance < 1:
        raise OptionError(
            message(
                "invalid tolerance", where="parameter tolerance", expected="0 < tolerance < 1", found=str(tolerance)
            )
        )
    for name, value, frame, role in (("estimand", estimand, truth, "truth"), ("estimate", estimate, table, "table")):
        if value not in frame:
            raise OptionError(
                message(
                    f"invalid {name}",
                    where=f"parameter {name}",
                    expected=f"a column of the {role}",
                    found=repr(value),
                )
            )
    pub = table[table["status"] == "published"] if "status" in table else table
    t = truth[["territory", "right", estimand]].rename(columns={estimand: "true_rate"})
    m = pub.astype({"territory": "str", "right": "str"}).merge(
        t.astype({"territory": "str", "right": "str"}), on=["territory", "right"], how="inner"
    )
    m = m[np.isfinite(m["true_rate"].to_numpy(dtype=float)) & np.isfinite(m[estimate].to_numpy(dtype=float))]
    m = m.assign(
        covered=((m["ci_low"] <= m["true_rate"]) & (m["true_rate"] <= m["ci_high"])).astype(float),
        width=m["ci_high"] - m["ci_low"],
        error=m[estimate] - m["true_rate"],
        abs_error=(m[estimate] - m["true_rate"]).abs(),
    )
    g = m.groupby("right", sort=True)
    out = pd.DataFrame(
        {
            "cells": g.size(),
            "coverage": g["covered"].mean(),
            "mean_width": g["width"].mean(),
            "mean_abs_error": g["abs_error"].mean(),
            "mean_error": g["error"].mean(),
        }
    )
    out.insert(2, "mc_se", np.sqrt(out["coverage"] * (1 - out["coverage"]) / out["cells"]))
    out["within_tolerance"] = (out["coverage"] - level).abs() <= tolerance
    return out.reset_index()


#: The intervals :func:`admin_coverages` checks: table, its estimate column, and the truth's column it covers.
INTERVALS = {
    "admin_rates": ("rate_adjusted", "file_rate"),
    "admin_corrected": ("rate_corrected", "rate"),
}


def admin_coverages(
    rates: pd.DataFrame,
    truth: pd.DataFrame,
    corrected: pd.DataFrame | None = None,
    *,
    level: float = 0.95,
    tolerance: float = TOLERANCE,
) -> pd.DataFrame:
    """Coverage of each administrative interval against what it estimates, by right (:func:`admin_coverage`).

    ``rates`` (``admin_rates.csv``) against ``truth``'s ``file_rate`` (take-up among the recipients eligible by
    the files' facts, true links and territories: :func:`~nonrecours.simulate.sources.file_rates`), and
    ``corrected`` (``admin_corrected.csv``, optional) against the true rate ``rate``.

    Returns
    -------
    DataFrame
        :func:`admin_coverage`'s columns with ``interval`` (:data:`INTERVALS`) and ``estimand`` first, plus a
        row per interval with ``right`` ``all`` (every cell pooled).
    """
    parts = []
    for name, table in (("admin_rates", rates), ("admin_corrected", corrected)):
        if table is None:
            continue
        estimate, estimand = INTERVALS[name]
        for pooled in (False, True):
            t = table.assign(right="all") if pooled else table
            tr = truth.assign(right="all") if pooled else truth
            if pooled:  # cells keyed by territory and right, pooled under one right
                key = table["territory"].astype(str) + ":" + table["right"].astype(str)
                t = t.assign(territory=key.to_numpy())
                tr = tr.assign(territory=(truth["territory"].astype(str) + ":" + truth["right"].astype(str)).to_numpy())
            cov = admin_coverage(t, tr, level=level, tolerance=tolerance, estimand=estimand, estimate=estimate)
            parts.append(cov.assign(interval=name, estimand=estimand))
    out = pd.concat(parts, ignore_index=True)
    return out[["interval", "estimand", *[c for c in out.columns if c not in ("interval", "estimand")]]]


def run_admin_validation(
    territories: int,
    replications: int,
    *,
    seed: int,
    review_sample: int = 3000,
    level: float = 0.95,
    tolerance: float = TOLERANCE,
    threads: int | None = None,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Coverage of the administrative intervals over ``replications`` simulated populations and linkages.

    Replication ``k`` simulates the population with seed ``seed + k`` and its sources with ``seed + k + 1``
    (as the demo does), and draws the review with ``seed + k``.

    Returns
    -------
    DataFrame, DataFrame
        The coverage by right pooled over the replications (:func:`admin_coverage`'s columns), and the same
        per replication (with ``replication``).
    """
    from ..admin.pipeline import run_admin_phase
    from ..simulate import simulate_population
    from ..simulate.sources import simulate_sources

    if int(replications) != replications or replications < 1:
        raise OptionError(
            message(
                "invalid replications",
                where="parameter replications",
                expected="an integer >= 1",
                found=str(replications),
            )
        )
    tables, truths, per = [], [], []
    for k in range(int(replications)):
        pop = simulate_population(territories, seed=seed + k)
        src = simulate_sources(pop, seed=seed + k + 1)
        with tempfile.TemporaryDirectory() as tmp:
            src.write(Path(tmp) / "sources")
            ph = run_admin_phase(
                Path(tmp) / "sources",
                truth_links=src.tables["truth_links"],
                review_sample=review_sample,
                level=level,
                seed=seed + k,
                threads=threads,
            )
        tables.append(ph.rates.table)
        truths.append(pop.truth)
        per.append(admin_coverage(ph.rates.table, pop.truth, level=level, tolerance=tolerance).assign(replication=k))
    # territory codes repeat across replications: pool by making them distinct
    pooled, truth = (
        pd.concat(
            [t.assign(territory=f"{k}:" + t["territory"].astype(str)) for k, t in enumerate(ts)], ignore_index=True
        )
        for ts in (tables, truths)
    )
    return admin_coverage(pooled, truth, level=level, tolerance=tolerance), pd.concat(per, ignore_index=True)
