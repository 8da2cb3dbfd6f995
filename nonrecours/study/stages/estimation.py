"""Stage ``estimation``: take-up rates nationally, QPV vs rest (with the gap), by benefit, by territory.

Calls :mod:`nonrecours.estimation`; the methods recorded for the report are
the metadata of the results (``EstimateResult.meta()``), not the settings
asked for.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from ...estimation import estimate_rates, gap_between
from ...publication import blank_gap_rights, nested_in, protect_domain_counts
from ..config import StudyConfig
from ._common import State, estimate_options

__all__ = ["estimation_stage"]


def _pps_design(design, est, joint):  # noqa: ANN001
    """The weighted design with the first-stage PPS variance of ``[estimation] pps``."""
    from ...design.pps_variance import JointProbabilities
    from ...design.selection import first_stage_probabilities
    from ...io import read_table

    if est.pps in ("ht", "yg") and est.joint is not None:
        joint = JointProbabilities.from_frame(
            read_table(est.joint, option="estimation.joint"), source="estimation.joint"
        )
    return design.with_pps(
        est.pps, first_stage_probabilities(design.data), joint=joint if est.pps in ("ht", "yg") else None
    )


def _n_rule(res) -> pd.DataFrame:  # noqa: ANN001
    """``res.to_frame(blank=False)`` with the flag, estimate, SE, design effect and CV of the rule on eligible
    respondents alone (without the takers / non-takers sides): the input of the territories' model (the GVF uses
    the design effects), never published. The intervals stay those of the result."""
    with np.errstate(invalid="ignore", divide="ignore"):
        cv = res.raw_se / np.abs(res.raw_estimate)
    flag = res.thresholds.flags(res.n, cv)
    hide = flag == "suppressed"

    def shown(a: np.ndarray) -> np.ndarray:
        return np.where(hide, np.nan, a)

    return res.to_frame(blank=False).assign(
        estimate=shown(res.raw_estimate), se=shown(res.raw_se), deff=shown(res.raw_deff), cv=shown(cv), flag=flag
    )


def model_direct_table(design, est, results: Sequence | None = None) -> pd.DataFrame:  # noqa: ANN001
    """The direct estimates by territory the territories' models are fitted on, for ``design``.

    The cells of the rule on eligible respondents alone (:func:`_n_rule`), protected as the published tables are:
    suppressed below ``min_n`` eligible respondents, and more cells suppressed across the national, QPV, benefit
    and territory partitions so that no suppressed count can be recovered. ``results``: the four estimates
    (national, QPV, benefit, territory) when the caller has them; otherwise they are computed with ``est``'s
    options. The same rule for every year of a follow-up (the Rao–Yu model's earlier years included).
    """
    dom = est.domains
    parts = [None, dom.qpv, dom.benefit, dom.territory]
    if results is None:
        opts = estimate_options(est)
        rights = list(est.rights)
        results = [estimate_rates(design, rights, by=b, **opts) for b in parts]
    nests = nested_in(design.data, dom.territory, dom.qpv)
    return protect_domain_counts([_n_rule(r) for r in results], parts, min_n=est.thresholds.min_n, nests=nests)[3]


def estimation_stage(cfg: StudyConfig, state: State) -> State:
    """Estimate every published table from the weighted design."""
    design = state["design"]
    est = cfg.estimation
    if est.pps is not None:
        design = _pps_design(design, est, state.get("joint"))
    th = est.thresholds
    opts = estimate_options(est)
    rights = list(est.rights)
    dom = est.domains
    national = estimate_rates(design, rights, **opts)
    qpv = estimate_rates(design, rights, by=dom.qpv, **opts)
    gap = gap_between(qpv, dom.qpv, levels=(1, 0))  # from the QPV estimates and their covariance
    benefit = estimate_rates(design, rights, by=dom.benefit, **opts)
    territory = estimate_rates(design, rights, by=dom.territory, **opts)
    # published: secondary suppression of the respondent counts, territories nested in the QPV domains when each
    # territory of the sample lies in one
    parts = [None, dom.qpv, dom.benefit, dom.territory]
    nests = nested_in(design.data, dom.territory, dom.qpv)
    results = (national, qpv, benefit, territory)
    tables = protect_domain_counts([r.to_frame(blank=False) for r in results], parts, min_n=th.min_n, nests=nests)
    # the direct estimates the territories' model is fitted on: the cells of the rule on eligible respondents
    # alone, protected the same way (never published; the published sae table hides the direct side of a cell
    # whose direct estimate is suppressed here)
    model_direct = model_direct_table(design, est, results)
    meta = national.meta()
    methods = {
        "estimator": f"Hájek ratio estimator of the take-up {meta['statistic']} (takers / eligible "
        "respondents, weighted) per right and domain; domains as zero weights on the full design",
        "variance": (
            ("Taylor linearisation" + (" with calibration residuals" if design.calibration else ""))
            if meta["variance_method"] == "taylor"
            else f"{meta['variance_method']} (replicate weights of the weighting stage)"
        ),
        "confidence intervals": f"{meta['ci_method']} at level {meta['level']:g}",
        "degrees of freedom": f"rule {meta['df_rule']} (design: {national.design_df:g})",
        "lonely PSU rule": meta["lonely_psu"],
        **(
            {"first stage": f"PPS without replacement, {est.pps} variance (inclusion probabilities of the draw)"}
            if est.pps is not None
            else {}
        ),
        "gap QPV - rest": f"difference {gap.to_frame()['domain_a'].iloc[0]} - {gap.to_frame()['domain_b'].iloc[0]} "
        f"of {dom.qpv}, SE from the joint covariance, t test with df rule {gap.df_rule}",
        "publication": f"suppressed below {th.min_n} eligible respondents, or below {th.min_n} takers or "
        f"{th.min_n} non-takers among them (a gap needs both of its sides), and more cells suppressed so that no "
        "suppressed count can be recovered from the published totals; unreliable below "
        f"{th.reliable_n} or CV above {th.max_cv:g}",
    }
    return {
        "model_direct": model_direct,
        "results": {"national": national, "qpv": qpv, "gap": gap, "benefit": benefit, "territory": territory},
        "tables": {
            "estimates_national": tables[0],
            "estimates_qpv": tables[1],
            "gap_qpv": blank_gap_rights(gap.to_frame(), tables[1]),
            "estimates_benefit": tables[2],
            "estimates_territory": tables[3],
            **_calibration_gain(state, est, national, qpv, opts),
        },
        "methods": {"estimation": methods},
    }


def _calibration_gain(state: State, est, national, qpv, opts) -> dict[str, pd.DataFrame]:  # noqa: ANN001
    """National and QPV rates with the frame's margins only beside those with the holder margins too.

    Runs when the weighting stage calibrated to linked holders (``design_frame_margins`` of the state):
    the same estimators on the design calibrated without them. Table ``calibration_gain``: one row per
    right and domain (``national``, then the levels of the QPV column), estimates and SEs before and
    after, and the ratio of the SEs; a domain under ``min_n`` eligible respondents is blanked (no count).
    """
    if "design_frame_margins" not in state:
        return {}
    before_design = state["design_frame_margins"]
    if est.pps is not None:  # the same first-stage variance as the published estimates
        before_design = _pps_design(before_design, est, state.get("joint"))
    rights, qpv_column = list(est.rights), est.domains.qpv
    frames = []
    for after, by in ((national, None), (qpv, qpv_column)):
        before = estimate_rates(before_design, rights, by=by, **opts).to_frame(blank=False)
        a = after.to_frame(blank=False)
        domain = pd.Series("national", index=a.index) if by is None else a[by].astype(str)
        frames.append(
            pd.DataFrame(
                {
                    "right": a["right"].to_numpy(),
                    "domain": domain.to_numpy(),
                    "estimate_before": before["estimate"].to_numpy(),
                    "se_before": before["se"].to_numpy(),
                    "estimate": a["estimate"].to_numpy(),
                    "se": a["se"].to_numpy(),
                    "se_ratio": (a["se"] / before["se"]).to_numpy(),
                    "small": (a["n"] < opts["thresholds"].min_n).to_numpy(),
                }
            )
        )
    gain = pd.concat(frames, ignore_index=True)
    cols = ["estimate_before", "se_before", "estimate", "se", "se_ratio"]
    gain.loc[gain["small"], cols] = np.nan
    return {"calibration_gain": gain.drop(columns="small")}
