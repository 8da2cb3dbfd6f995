"""Coverage of the administrative intervals over repeated simulated populations, sources and linkages.

Each replication simulates a population and its administrative sources
(:func:`~nonrecours.simulate.sources.simulate_sources`, files that miss part of
the resources as in the demo), runs the whole phase
(:func:`~nonrecours.admin.pipeline.run_admin_phase`: eligibility, QPV,
linkage, a clerical review simulated from the true links, rates), draws a
survey that measures the files' misclassification
(:func:`~nonrecours.admin.misclassification.survey_corrected_rates`) and
compares every published territory cell with what each interval estimates:

* the administrative rates (``admin_rates.csv``) estimate take-up among the
  recipients eligible by the files' facts, with the true links and territories
  (the sources' ``file_rate``, :func:`~nonrecours.simulate.sources.file_rates`);
* the corrected rates (``admin_corrected.csv``) estimate the true rate.

Per interval and right, the coverage is the share of published cells whose
interval holds its estimand; its Monte Carlo standard error is that of a
proportion over the cells (cells of one replication share the review's
calibration and the survey's errors, so it is a lower bound). The coverage is
*within tolerance* when it lies in ``level ± tolerance`` (0.95 ± 0.03).
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


def _survey(recipients: pd.DataFrame, n: int, rng: np.random.Generator):
    """A stratified simple random sample of ``n`` recipients (strata ``is_qpv`` × ``benefit``, power allocation
    ``n_h ∝ N_h^0.5``, at least 2 per stratum), everyone answering with their true rights: a SurveyDesign."""
    from ..design import SurveyDesign

    key = recipients["is_qpv"].astype(str) + "|" + recipients["benefit"].astype(str)
    sizes = key.value_counts()
    alloc = np.minimum(np.maximum(np.round(n * np.sqrt(sizes) / np.sqrt(sizes).sum()).astype(int), 2), sizes)
    # the n_h rows of smallest random key in each stratum: a simple random sample within it
    rank = pd.Series(rng.random(len(key)), index=key.index).groupby(key.to_numpy()).rank(method="first")
    keep = (rank <= key.map(alloc)).to_numpy()
    s = recipients[keep].reset_index(drop=True).assign(stratum=key[keep].to_numpy())
    s["id"] = s["id"].astype(str)
    s["weight"] = s["stratum"].map(sizes / alloc).to_numpy(dtype=float)
    s["fpc"] = s["stratum"].map(sizes).to_numpy(dtype=float)
    return SurveyDesign(s, weight="weight", strata="stratum", fpc="fpc")


def _corrected(ph, folder: Path, src, design, level: float) -> pd.DataFrame:
    """The survey-corrected rates of a phase (:func:`~nonrecours.admin.misclassification.survey_corrected_rates`,
    the review's calibration) on the cells the administrative rates publish, with their ``status``."""
    from ..admin.misclassification import survey_corrected_rates
    from ..admin.pipeline import read_recipients
    from ..admin.rates import taker_table

    terr = ph.territories
    rec_id = ph.eligibility["rec_id"].astype(str).to_numpy()
    left = read_recipients(folder).astype({"rec_id": str}).set_index("rec_id")
    strata = pd.DataFrame(
        {"rec_id": rec_id, "is_qpv": terr["is_qpv"].to_numpy(), "benefit": left["benefit"].reindex(rec_id).to_numpy()}
    )
    rec = ph.recipient_cells()
    takers = taker_table(rec, ph.eligibility, ph.links, ph.near_misses, ph.source_rights)
    flags = terr.dropna(subset=["territory"]).drop_duplicates("territory")
    res = survey_corrected_rates(
        design,
        ph.eligibility,
        strata,
        takers,
        src.tables["frame_ids"],
        ["cmuc", "acs", "tpn", "tss"],
        level=level,
        calibration=ph.calibration,
        qpv=pd.Series(flags["is_qpv"].to_numpy(), index=flags["territory"].astype(str).to_numpy()),
    )
    status = ph.rates.table[["territory", "right", "status"]].astype({"territory": str})
    return res.table.astype({"territory": str}).merge(status, on=["territory", "right"], how="left")


def run_admin_validation(
    territories: int,
    replications: int,
    *,
    seed: int,
    review_sample: int = 3000,
    sample_size: int = 3900,
    level: float = 0.95,
    tolerance: float = TOLERANCE,
    threads: int | None = None,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Coverage of the administrative intervals over ``replications`` simulated populations and linkages.

    Replication ``k`` simulates the population with seed ``seed + k`` and its sources with ``seed + k + 1``
    (as the demo does: files that miss part of the resources, :class:`~nonrecours.simulate.params.FileResourceParams`),
    and draws the review and the survey with ``seed + k``. The survey (``sample_size`` recipients, stratified by
    ``is_qpv`` × ``benefit``, power allocation, everyone answering; 0: none) measures the files'
    misclassification for the corrected rates.

    Returns
    -------
    DataFrame, DataFrame
        The coverage by interval and right pooled over the replications (:func:`admin_coverages`: the
        administrative rates against ``file_rate``, the corrected rates against the true rate), and the same per
        replication (with ``replication``).
    """
    from ..admin.pipeline import run_admin_phase
    from ..simulate import simulate_population
    from ..simulate.params import FileResourceParams
    from ..simulate.sources import SourceParams, simulate_sources

    if int(replications) != replications or replications < 1:
        raise OptionError(
            message(
                "invalid replications",
                where="parameter replications",
                expected="an integer >= 1",
                found=str(replications),
            )
        )
    if int(sample_size) != sample_size or sample_size < 0:
        raise OptionError(
            message(
                "invalid sample size",
                where="parameter sample_size",
                expected="an integer >= 0 (0: no survey)",
                found=str(sample_size),
            )
        )
    rates, corrected, truths, per = [], [], [], []
    for k in range(int(replications)):
        pop = simulate_population(territories, seed=seed + k)
        src = simulate_sources(pop, seed=seed + k + 1, params=SourceParams(file_resources=FileResourceParams()))
        with tempfile.TemporaryDirectory() as tmp:
            folder = Path(tmp) / "sources"
            src.write(folder)
            ph = run_admin_phase(
                folder,
                truth_links=src.tables["truth_links"],
                review_sample=review_sample,
                level=level,
                seed=seed + k,
                threads=threads,
            )
            design = _survey(pop.recipients, int(sample_size), np.random.default_rng(seed + k)) if sample_size else None
            cor = None if design is None else _corrected(ph, folder, src, design, level)
        truth = src.tables["truth"]
        rates.append(ph.rates.table)
        corrected.append(cor)
        truths.append(truth)
        per.append(admin_coverages(ph.rates.table, truth, cor, level=level, tolerance=tolerance).assign(replication=k))

    def pool(tables: list) -> pd.DataFrame | None:
        """Territory codes repeat across replications: pooled under distinct codes."""
        if any(t is None for t in tables):
            return None
        return pd.concat(
            [t.assign(territory=f"{k}:" + t["territory"].astype(str)) for k, t in enumerate(tables)], ignore_index=True
        )

    pooled = admin_coverages(pool(rates), pool(truths), pool(corrected), level=level, tolerance=tolerance)
    return pooled, pd.concat(per, ignore_index=True)
