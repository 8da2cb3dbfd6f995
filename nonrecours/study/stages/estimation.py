"""Stage ``estimation``: take-up rates nationally, QPV vs rest (with the gap), by benefit, by territory.

Calls :mod:`nonrecours.estimation`; the methods recorded for the report are
the metadata of the results (``EstimateResult.meta()``), not the settings
asked for.
"""

from __future__ import annotations

from typing import Any

from ...estimation import QualityThresholds, estimate_rates, gap_between
from ..config import StudyConfig
from ._common import State

__all__ = ["estimation_stage"]


def estimation_stage(cfg: StudyConfig, state: State) -> State:
    """Estimate every published table from the weighted design."""
    design = state["design"]
    est = cfg.estimation
    th = est.thresholds
    opts: dict[str, Any] = {"ci": est.ci, "level": est.level, "df": est.df,
                            "thresholds": QualityThresholds(min_n=th.min_n, reliable_n=th.reliable_n,
                                                            max_cv=th.max_cv)}
    rights = list(est.rights)
    dom = est.domains
    national = estimate_rates(design, rights, **opts)
    qpv = estimate_rates(design, rights, by=dom.qpv, **opts)
    gap = gap_between(qpv, dom.qpv, levels=(1, 0))  # from the QPV estimates and their covariance
    benefit = estimate_rates(design, rights, by=dom.benefit, **opts)
    territory = estimate_rates(design, rights, by=dom.territory, **opts)
    meta = national.meta()
    methods = {
        "estimator": f"Hájek ratio estimator of the take-up {meta['statistic']} (takers / eligible "
                     "respondents, weighted) per right and domain; domains as zero weights on the full design",
        "variance": (("Taylor linearisation" + (" with calibration residuals" if design.calibration else ""))
                     if meta["variance_method"] == "taylor" else f"{meta['variance_method']} (replicate weights "
                     "of the weighting stage)"),
        "confidence intervals": f"{meta['ci_method']} at level {meta['level']:g}",
        "degrees of freedom": f"rule {meta['df_rule']} (design: {national.design_df:g})",
        "lonely PSU rule": meta["lonely_psu"],
        "gap QPV - rest": f"difference {gap.to_frame()['domain_a'].iloc[0]} - {gap.to_frame()['domain_b'].iloc[0]} "
                          f"of {dom.qpv}, SE from the joint covariance, t test with df rule {gap.df_rule}",
        "publication": f"suppressed below {th.min_n} eligible respondents; unreliable below {th.reliable_n} "
                       f"or CV above {th.max_cv:g}",
    }
    return {"results": {"national": national, "qpv": qpv, "gap": gap, "benefit": benefit, "territory": territory},
            "tables": {"estimates_national": national.to_frame(), "estimates_qpv": qpv.to_frame(),
                       "gap_qpv": gap.to_frame(), "estimates_benefit": benefit.to_frame(),
                       "estimates_territory": territory.to_frame()},
            "methods": {"estimation": methods}}
