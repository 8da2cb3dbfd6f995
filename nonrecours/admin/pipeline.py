"""The administrative phase end to end: sources -> eligibility -> QPV -> linkage -> rates."""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from ..errors import InputError, message
from ..io import read_table
from .sources import ORGANISMS, RIGHT_SOURCES

__all__ = ["AdminPhase", "run_admin_phase", "read_recipients", "compare_with_truth"]


def read_recipients(folder: str | os.PathLike) -> pd.DataFrame:
    """Union of the organisms' recipients files found in ``folder`` (``caf.csv``, ``msa.csv``...), with ``organism``."""
    d = Path(folder)
    parts = []
    for org in ORGANISMS:
        for suffix in (".parquet", ".csv"):
            p = d / f"{org}{suffix}"
            if p.is_file():
                parts.append(_read(p).assign(organism=org))
                break
    if not parts:
        raise InputError(message("no organism file found", where=f"sources folder {str(d)!r}",
                                 expected="caf, msa, pole_emploi or cnav (.csv or .parquet)",
                                 hint="write them with 'nonrecours simulate --sources'"))
    return pd.concat(parts, ignore_index=True)


def _read(path: Path) -> pd.DataFrame:
    if path.suffix == ".csv":  # codes and identifiers stay text
        text = {c: str for c in ("rec_id", "nir_hash", "surname", "first_name", "birth_date", "sex", "commune",
                                 "right", "id_l", "id_r", "source", "territory", "departement", "urban_area", "qpv")}
        header = pd.read_csv(path, nrows=0).columns
        return pd.read_csv(path, dtype={c: t for c, t in text.items() if c in header}, keep_default_na=False,
                           na_values=[""])
    return read_table(path)


def read_source(folder: str | os.PathLike, name: str) -> pd.DataFrame:
    """One table of a sources folder (CSV or Parquet)."""
    d = Path(folder)
    for suffix in (".parquet", ".csv"):
        if (d / f"{name}{suffix}").is_file():
            return _read(d / f"{name}{suffix}")
    raise InputError(message("source file not found", where=f"sources folder {str(d)!r}",
                             expected=f"{name}.csv or {name}.parquet"))


@dataclass(frozen=True, eq=False)
class AdminPhase:
    """Everything the administrative phase produced (tables are aggregated except ``links``/``eligibility``)."""

    eligibility: pd.DataFrame
    territories: pd.DataFrame
    location_counts: dict
    links: pd.DataFrame
    near_misses: pd.DataFrame
    quality: pd.DataFrame
    rates: object
    by_qpv: pd.DataFrame
    timings: dict = field(default_factory=dict)


def run_admin_phase(folder: str | os.PathLike, *, year: int = 2015, rulebook=None, threshold: float = 0.9,
                    min_cell: int = 11, level: float = 0.95, truth_links: pd.DataFrame | None = None,
                    seed: int = 1) -> AdminPhase:
    """Run eligibility, QPV assignment, linkage and rates on a sources folder."""
    from .eligibility import assess_eligibility, load_rulebook
    from .geo import assign_territories, read_contours
    from .linkage import link_quality, link_records
    from .rates import group_rates, linked_rates, suppressed_margin, taker_table

    d = Path(folder)
    timings = {}
    t0 = time.perf_counter()
    rule = (rulebook or load_rulebook()).entry(year)
    left = read_recipients(d)
    sources = {s: read_source(d, s) for s in sorted(set(RIGHT_SOURCES.values()))}
    communes = read_source(d, "communes")
    timings["read"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    elig = assess_eligibility(left, rule)
    timings["eligibility"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    terr, counts = assign_territories(left, read_contours(d / "qpv.geojson"), communes)
    timings["geo"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    links, near, quality = [], [], []
    for name, src in sources.items():
        res = link_records(left, src, threshold=threshold, seed=seed)
        links.append(res.links.assign(source=name))
        near.append(res.near_misses.assign(source=name))
        truth = None if truth_links is None else truth_links[truth_links["source"] == name]
        quality.append(link_quality(res, name, len(left), truth))
    links_df = pd.concat(links, ignore_index=True)
    near_df = pd.concat(near, ignore_index=True)
    timings["linkage"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    rec = pd.DataFrame({"rec_id": left["rec_id"].astype(str), "territory": terr["territory"],
                        "departement": terr["departement"]}).dropna()
    takers = taker_table(rec, elig, links_df, near_df, {"health": sources["health"]})
    flags = terr.dropna(subset=["territory"]).drop_duplicates("territory").set_index("territory")["is_qpv"]
    # the QPV / rest totals are published beside the territory cells: the cells are protected against them too
    rates = linked_rates(takers, min_cell=min_cell, level=level, margins={"is_qpv": flags})
    by_qpv = group_rates(takers.assign(is_qpv=flags.reindex(takers["territory"]).to_numpy()), "is_qpv", level=level)
    by_qpv = suppressed_margin(by_qpv, rates.margins["is_qpv"], "is_qpv")
    timings["rates"] = time.perf_counter() - t0
    return AdminPhase(eligibility=elig, territories=terr, location_counts=counts, links=links_df,
                      near_misses=near_df, quality=pd.DataFrame(quality), rates=rates, by_qpv=by_qpv,
                      timings=timings)


def compare_with_truth(table: pd.DataFrame, truth: pd.DataFrame) -> dict:
    """Mean absolute error of the observed and adjusted rates against the true rates, over published cells."""
    t = table[table["status"] == "published"].merge(truth[["territory", "right", "rate"]].rename(
        columns={"rate": "true_rate"}), on=["territory", "right"], how="inner")
    return {"cells": int(len(t)),
            "mae_observed": float(np.nanmean(np.abs(t["rate"] - t["true_rate"]))),
            "mae_adjusted": float(np.nanmean(np.abs(t["rate_adjusted"] - t["true_rate"]))),
            "mean_error_observed": float(np.nanmean(t["rate"] - t["true_rate"])),
            "mean_error_adjusted": float(np.nanmean(t["rate_adjusted"] - t["true_rate"]))}
