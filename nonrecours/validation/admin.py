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

__all__ = ["admin_coverage", "run_admin_validation", "TOLERANCE"]

#: Stated tolerance of the coverage of the administrative intervals around their level.
TOLERANCE = 0.03


def admin_coverage(
    table: pd.DataFrame, truth: pd.DataFrame, *, level: float = 0.95, tolerance: float = TOLERANCE
) -> pd.DataFrame:
    """Coverage of the intervals of an administrative rates table against the true rates, by right.

    Parameters
    ----------
    table : DataFrame
        ``territory``, ``right``, ``status``, ``rate_adjusted``, ``ci_low``, ``ci_high``
        (:class:`~nonrecours.admin.rates.LinkedRates`' table, ``admin_rates.csv``).
    truth : DataFrame
        ``territory``, ``right``, ``rate`` (the simulator's ``truth``).
    level, tolerance : float
        The intervals' level and the tolerance of their coverage.

    Returns
    -------
    DataFrame
        Per ``right``: ``cells`` (published), ``coverage``, ``mc_se`` (``sqrt(c (1 - c) / cells)``),
        ``mean_width``, ``mean_abs_error``, ``mean_error`` (of ``rate_adjusted``), ``within_tolerance``.
    """
    level = check_level(level)
    if not 0 < tolerance < 1:
        raise OptionError(
            message(
                "invalid tolerance", where="parameter tolerance", expected="0 < tolerance < 1", found=str(tolerance)
            )
        )
    pub = table[table["status"] == "published"]
    t = truth[["territory", "right", "rate"]].rename(columns={"rate": "true_rate"})
    m = pub.astype({"territory": "str", "right": "str"}).merge(
        t.astype({"territory": "str", "right": "str"}), on=["territory", "right"], how="inner"
    )
    m = m.assign(
        covered=((m["ci_low"] <= m["true_rate"]) & (m["true_rate"] <= m["ci_high"])).astype(float),
        width=m["ci_high"] - m["ci_low"],
        error=m["rate_adjusted"] - m["true_rate"],
    )
    g = m.groupby("right", sort=True)
    out = pd.DataFrame(
        {
            "cells": g.size(),
            "coverage": g["covered"].mean(),
            "mean_width": g["width"].mean(),
            "mean_abs_error": g["error"].apply(lambda e: float(np.abs(e).mean())),
            "mean_error": g["error"].mean(),
        }
    )
    out.insert(2, "mc_se", np.sqrt(out["coverage"] * (1 - out["coverage"]) / out["cells"]))
    out["within_tolerance"] = (out["coverage"] - level).abs() <= tolerance
    return out.reset_index()


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
