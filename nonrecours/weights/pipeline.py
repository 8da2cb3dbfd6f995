"""The weighting chain: non-response -> calibration (-> trimming) -> replicates.

Replicates replay the whole chain: each replicate starts from the design
weights times its multipliers, gets the non-response adjustment of the same
(collapsed) classes, and is re-calibrated to the same margins.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import scipy.sparse as sp

from .._checks import check_positive_weights
from ..design.survey_design import Replicates, SurveyDesign
from ..errors import OptionError, message
from ..options import CalibrationMethod, NonresponseMethod, ReplicateType, check_option
from .calibration import CalibrationResult, calibrate_weights, recalibrate_replicates
from .margins import Margins
from .nonresponse import NonresponseResult, adjust_classes, adjust_propensity, response_indicator
from .replicates import MAX_CELLS, R_NAMES, replicate_weights
from .trimming import trim_and_recalibrate

__all__ = ["WeightingSpec", "WeightingOutcome", "weight_sample", "nonresponse_replicates", "FORMAT"]

FORMAT = "nonrecours-weighted/1"
ROLES = ("strata", "psu", "ssu", "fpc", "fpc2")


@dataclass(frozen=True)
class WeightingSpec:
    """What to do: every field optional except the design weight column."""

    weight: str = "weight"
    design: dict = field(default_factory=dict)  # role -> column (strata, psu, ssu, fpc, fpc2)
    lonely_psu: str = "fail"
    responded: str | None = None
    nonresponse: tuple[str, tuple[str, ...]] | None = None  # ("classes" | "propensity", columns)
    min_respondents: int = 20
    propensity_classes: int = 5
    margins: Margins | None = None
    method: CalibrationMethod | str = "raking"
    bounds: tuple[float, float] | None = None
    coding: str = "dummies"
    trim: float | None = None
    replicates: tuple[str, float | None] | None = None  # (type, B or rho)
    seed: int | None = None
    mse: bool = False


@dataclass(frozen=True)
class WeightingOutcome:
    """The weighted table, its design, the sidecar record and the reports."""

    table: pd.DataFrame
    design: SurveyDesign
    sidecar: dict
    nonresponse: NonresponseResult | None
    calibration: CalibrationResult | None
    trimming: pd.DataFrame | None


def nonresponse_replicates(nr: NonresponseResult, W: np.ndarray, responded: np.ndarray) -> np.ndarray:
    """Apply the class adjustment of ``nr`` to each replicate column of design weights ``W`` (n, R)."""
    G = int(nr.group.max()) + 1
    n = W.shape[0]
    S = sp.csr_matrix((np.ones(n), (nr.group, np.arange(n))), shape=(G, n))
    tot = np.asarray(S @ W)
    resp = np.asarray(S @ (W * responded[:, None]))
    with np.errstate(divide="ignore", invalid="ignore"):
        f = np.where(resp > 0, tot / np.where(resp > 0, resp, 1.0), 0.0)
    return np.where(responded[:, None], W * f[nr.group], 0.0)


def weight_sample(data: pd.DataFrame, spec: WeightingSpec) -> WeightingOutcome:
    """Run the weighting chain on a sample (every sampled unit, respondents or not).

    Returns the output table (all rows; ``status``, ``design_weight``,
    ``nr_weight``, ``trim_weight``, final ``weight``, ``repw_1..R``) and the
    sidecar record that :func:`nonrecours.weights.sidecar.load_weighted_design`
    reads back.
    """
    roles = {r: spec.design.get(r) for r in ROLES}
    d0 = check_positive_weights(pd.to_numeric(data[spec.weight], errors="coerce").to_numpy(float), spec.weight) \
        if spec.weight in data.columns else None
    if d0 is None:
        from .._checks import check_columns
        check_columns(data, [spec.weight], role="design weight column", source="the sample")
    base = SurveyDesign(data, weight=spec.weight, lonely_psu=spec.lonely_psu, **roles)  # type: ignore[arg-type]
    out = data.drop(columns=[spec.weight]).assign(design_weight=d0) if spec.weight == "weight" \
        else data.assign(design_weight=d0)
    resp = response_indicator(data, spec.responded) if spec.responded else np.ones(len(data), dtype=bool)
    nr = None
    w = d0
    cal_base = "design_weight"
    if spec.nonresponse is not None:
        if not spec.responded:
            raise OptionError(message("a non-response adjustment needs the response column", where="option --responded",
                                      expected="the column coding 1 = responded, 0 = did not",
                                      found="no --responded", hint="add --responded COL, or drop --nonresponse"))
        kind, cols = spec.nonresponse
        check_option("non-response method", kind, NonresponseMethod)
        if kind == "classes":
            nr = adjust_classes(data, d0, resp, list(cols), min_respondents=spec.min_respondents)
        else:
            nr = adjust_propensity(data, d0, resp, list(cols), n_classes=spec.propensity_classes,
                                   min_respondents=spec.min_respondents)
        w = nr.weights
        out = out.assign(nr_class=nr.group, nr_weight=w)
        if nr.propensity is not None:
            out = out.assign(propensity=nr.propensity)
        cal_base = "nr_weight"
    elif spec.responded:
        raise OptionError(message("non-respondents need a non-response adjustment", where="option --responded",
                                  hint="add --nonresponse classes:COLS or propensity:COLS"))
    out = out.assign(status=np.where(resp, "respondent", "nonrespondent"))
    cal = trim_report = None
    if spec.margins is not None:
        cal = calibrate_weights(data, w, spec.margins, method=spec.method, bounds=spec.bounds,
                                coding=spec.coding)  # type: ignore[arg-type]
        if spec.trim is not None:
            cal, trim_report = trim_and_recalibrate(data, cal, upper=spec.trim)
            out = out.assign(trim_weight=cal.d)
            cal_base = "trim_weight"
        w = cal.weights
    elif spec.trim is not None:
        raise OptionError(message("trimming is followed by re-calibration and needs margins", where="option --trim",
                                  hint="add --calibrate margins.csv"))
    out = out.assign(weight=w)
    design = SurveyDesign(out.drop(columns=["weight"]), lonely_psu=spec.lonely_psu, **roles).with_weights(w)  # type: ignore[arg-type]
    if cal is not None:
        design = design.with_calibration(cal.to_calibration())
    sidecar = {"format": FORMAT, "design": {"weight": "weight", **roles, "lonely_psu": spec.lonely_psu},
               "status": "status", "weights": ["design_weight"] + (["nr_weight"] if nr else []) +
               (["trim_weight"] if spec.trim is not None else []) + ["weight"],
               "nonresponse": None if nr is None else {"method": nr.method, "columns": list(nr.columns),
                                                       "min_respondents": nr.min_respondents,
                                                       "groups": int(nr.group.max()) + 1},
               "calibration": None, "replicates": None}
    if cal is not None:
        sidecar["calibration"] = {"margins": spec.margins.to_frame().to_dict("records"), "method": cal.method,
                                  "bounds": None if cal.bounds is None else list(cal.bounds), "coding": cal.coding,
                                  "base_weight": cal_base, "trim": spec.trim, "columns": list(cal.columns),
                                  "dropped": list(cal.dropped), "iterations": cal.iterations,
                                  "max_rel_misfit": cal.max_rel_misfit}
    if spec.replicates is not None:
        kind, arg = spec.replicates
        check_option("replicates type", kind, ReplicateType)
        B = int(arg) if kind == "bootstrap" else 0
        n_rep = B if kind == "bootstrap" else base.n_psu
        if base.n * n_rep > MAX_CELLS:
            raise OptionError(message("too many replicate weights to hold in memory", where="option --replicates",
                                      found=f"{base.n} rows x {n_rep} replicates",
                                      hint="use bootstrap:B with a smaller B"))
        W, scale, rscales = replicate_weights(base, kind, d0, replicates=B,  # type: ignore[arg-type]
                                              rho=arg if kind == "fay" else 0.5, seed=spec.seed)
        if nr is not None:
            W = nonresponse_replicates(nr, W, resp)
        if cal is not None:
            W = recalibrate_replicates(cal, W)
        reps = Replicates(W, R_NAMES[kind], scale, rscales, spec.mse)
        design = design.with_replicates(reps)
        names = [f"repw_{r + 1}" for r in range(W.shape[1])]
        out = pd.concat([out, pd.DataFrame(W, columns=names, index=out.index)], axis=1)
        sidecar["replicates"] = {"type": reps.type, "scale": reps.scale, "rscales": reps.rscales.tolist(),
                                 "mse": reps.mse, "columns": names, "seed": spec.seed,
                                 "rho": arg if kind == "fay" else (0.0 if kind == "brr" else None)}
    return WeightingOutcome(table=out, design=design, sidecar=sidecar, nonresponse=nr, calibration=cal,
                            trimming=trim_report)
