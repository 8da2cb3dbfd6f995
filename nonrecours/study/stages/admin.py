"""Stage ``admin``: the administrative phase beside the sample study.

Runs :func:`nonrecours.admin.pipeline.run_admin_phase` on the ``[admin]``
sources (eligibility from resources, QPV from coordinates, linkage by number
then Fellegi–Sunter, rates corrected for linkage errors) and sets the
administrative rates per right, QPV vs rest, beside the sample's estimates.
Only aggregated tables leave the stage (no link, no record). The study's
``[compute]`` section chooses the engine of its SQL and the memory limit and
threads of its engines; the settings of the engines that ran go to the
manifest (``engines`` of the state).
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from ...errors import ConfigError, message
from ..config import StudyConfig
from ._common import State

__all__ = ["admin_stage", "compare_phases"]


def compare_phases(sample_qpv: pd.DataFrame, admin_qpv: pd.DataFrame, qpv_column: str) -> pd.DataFrame:
    """Sample estimates and administrative rates per right and QPV vs rest, side by side."""
    s = sample_qpv.rename(columns={qpv_column: "is_qpv"})
    s = s[["right", "is_qpv", "estimate", "ci_low", "ci_high", "n"]].rename(
        columns={"estimate": "sample_estimate", "ci_low": "sample_ci_low", "ci_high": "sample_ci_high", "n": "sample_n"}
    )
    s["is_qpv"] = pd.to_numeric(s["is_qpv"], errors="coerce")
    a = admin_qpv.rename(
        columns={
            "rate": "admin_rate",
            "rate_adjusted": "admin_rate_adjusted",
            "ci_low": "admin_ci_low",
            "ci_high": "admin_ci_high",
            "n_eligible": "admin_n_eligible",
        }
    )
    a = a[["right", "is_qpv", "admin_n_eligible", "admin_rate", "admin_rate_adjusted", "admin_ci_low", "admin_ci_high"]]
    out = s.merge(a, on=["right", "is_qpv"], how="outer")
    out["difference"] = out["sample_estimate"] - out["admin_rate_adjusted"]
    return out.sort_values(["right", "is_qpv"], ignore_index=True)


def admin_stage(cfg: StudyConfig, state: State) -> State:
    """Administrative rates from the sources, and their comparison with the sample's QPV estimates."""
    from ...admin.eligibility import load_rulebook
    from ...admin.pipeline import compare_with_truth, run_admin_phase
    from ...engines import open_engine
    from ...io import read_table

    adm = cfg.admin
    if adm.sources is None:
        return {"methods": {"admin": "not run (no [admin] sources)"}}
    if not Path(adm.sources).is_dir():
        raise ConfigError(
            message(
                "folder not found",
                where="admin.sources",
                found=str(adm.sources),
                hint="write one with 'nonrecours simulate --sources'",
            )
        )
    truth_links = read_table(adm.truth_links, option="admin.truth_links") if adm.truth_links else None
    comp = cfg.compute
    # [compute]: the SQL on its engine (pandas has none: DuckDB), the linkage on DuckDB, both under its settings
    with open_engine(
        "duckdb" if comp.engine == "pandas" else comp.engine,
        memory_limit=comp.memory_limit,
        threads=comp.threads,
        spark_master=comp.spark_master,
    ) as engine:
        ph = run_admin_phase(
            adm.sources,
            year=adm.year,
            rulebook=load_rulebook(adm.rulebook) if adm.rulebook else None,
            threshold=adm.threshold,
            min_cell=adm.min_cell,
            suppression=adm.suppression,
            level=cfg.estimation.level,
            truth_links=truth_links,
            seed=cfg.design.seed,
            memory_limit=comp.memory_limit,
            threads=comp.threads,
            engine=engine,
        )
    tables = {"linkage_quality": ph.quality, "admin_rates": ph.rates.table, "admin_departements": ph.rates.departements}
    if "estimates_qpv" in state.get("tables", {}):
        tables["admin_comparison"] = compare_phases(
            state["tables"]["estimates_qpv"], ph.by_qpv, cfg.estimation.domains.qpv
        )
    if adm.truth is not None:
        tables["admin_accuracy"] = pd.DataFrame(
            [compare_with_truth(ph.rates.table, read_table(adm.truth, option="admin.truth"))]
        )
    q = ph.quality
    methods = {
        "eligibility": f"rulebook year {adm.year}: CMU-C ceiling by household size (metropolitan/overseas), "
        "ACS band up to +35 %, TPN/TSS under the tariff ceiling with a contract",
        "QPV": "point-in-polygon against the QPV contours ("
        + ", ".join(f"{k} {v}" for k, v in ph.location_counts.items())
        + ")",
        "linkage": f"by certified hashed number, then Fellegi–Sunter (Splink, EM m/u, term frequencies, "
        f"Jaro–Winkler names); threshold {adm.threshold}; share linked by number "
        + ", ".join(f"{s} {v:.1%}" for s, v in zip(q["source"], q["share_number"].fillna(0))),
        "rates": "takers corrected by the expected false and missed links (match probabilities); "
        f"cells under {adm.min_cell} suppressed",
    }
    return {
        "tables": tables,
        "methods": {"admin": methods},
        "engines": ph.engines,
        "counts": {"admin recipients": int(len(ph.eligibility)), "admin links": int(len(ph.links))},
    }
