"""The weighting chain: non-response -> calibration (-> trimming) -> replicates.

Replicates replay the whole chain: each replicate starts from the design
weights times its multipliers, gets the non-response adjustment of the same
(collapsed) classes, and is re-calibrated to the same margins.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from typing import cast

import numpy as np
import pandas as pd
import scipy.sparse as sp

from .._checks import check_positive_weights
from ..design.survey_design import Replicates, SurveyDesign
from ..errors import NonrecoursWarning, OptionError, message
from ..options import CalibrationMethod, NonresponseMethod, ReplicateType, check_option
from .calibration import CalibrationResult, calibrate_weights, recalibrate_replicates
from .margins import Margins
from .nonresponse import NonresponseResult, adjust_classes, adjust_propensity, response_indicator
from .replicates import MAX_CELLS, R_NAMES, replicate_weights
from .sidecar import sidecar_record
from .trimming import trim_and_recalibrate

__all__ = ["WeightingSpec", "WeightingOutcome", "weight_sample", "nonresponse_replicates"]

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
    workers: int = 1  # processes drawing bootstrap replicates (same replicates whatever their number)


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


def _nonresponse_step(
    data: pd.DataFrame, spec: WeightingSpec, d0: np.ndarray, resp: np.ndarray
) -> NonresponseResult | None:
    """The non-response adjustment the spec asks for (None without one)."""
    if spec.responded and resp.all():
        warnings.warn(
            message(
                "every sampled unit responded (100 %): nothing to adjust for non-response",
                where=f"column {spec.responded!r}",
            ),
            NonrecoursWarning,
            stacklevel=3,
        )
    if spec.nonresponse is None:
        if spec.responded and not resp.all():
            raise OptionError(
                message(
                    "non-respondents need a non-response adjustment",
                    where="parameter responded",
                    hint="set parameter nonresponse: classes or propensity, with their columns",
                )
            )
        return None
    if not spec.responded:
        raise OptionError(
            message(
                "a non-response adjustment needs the response column",
                where="parameter responded",
                expected="the column coding 1 = responded, 0 = did not",
                found="none",
                hint="set parameter responded, or drop parameter nonresponse",
            )
        )
    kind, cols = spec.nonresponse
    check_option("nonresponse", kind, NonresponseMethod)
    if kind == "classes":
        return adjust_classes(data, d0, resp, list(cols), min_respondents=spec.min_respondents)
    return adjust_propensity(
        data, d0, resp, list(cols), n_classes=spec.propensity_classes, min_respondents=spec.min_respondents
    )


def _calibration_step(
    data: pd.DataFrame, spec: WeightingSpec, w: np.ndarray
) -> tuple[CalibrationResult | None, pd.DataFrame | None]:
    """Calibration to the spec's margins, then trimming alternated with re-calibration (None without margins)."""
    if spec.margins is None:
        if spec.trim is not None:
            raise OptionError(
                message(
                    "trimming is followed by re-calibration and needs margins",
                    where="parameter trim",
                    hint="give parameter margins",
                )
            )
        return None, None
    cal = calibrate_weights(data, w, spec.margins, method=spec.method, bounds=spec.bounds, coding=spec.coding)
    if spec.trim is None:
        return cal, None
    return trim_and_recalibrate(data, cal, upper=spec.trim)


def _replicate_step(
    base: SurveyDesign,
    spec: WeightingSpec,
    d0: np.ndarray,
    resp: np.ndarray,
    nr: NonresponseResult | None,
    cal: CalibrationResult | None,
    progress=None,
) -> tuple[Replicates, dict]:  # noqa: ANN001
    """Replicate weights replaying the chain (non-response classes, re-calibration) and how they were made."""
    kind, arg = cast(tuple[str, float], spec.replicates)  # set when this step runs; B or rho given by the parsers
    check_option("replicates", kind, ReplicateType)
    B = int(arg) if kind == "bootstrap" else 0
    n_rep = B if kind == "bootstrap" else base.n_psu
    if base.n * n_rep > MAX_CELLS:
        raise OptionError(
            message(
                "too many replicate weights to hold in memory",
                where="parameter replicates",
                found=f"{base.n} rows x {n_rep} replicates",
                hint="use the bootstrap with fewer replicates",
            )
        )
    W, scale, rscales = replicate_weights(
        base,
        kind,
        d0,
        replicates=B,
        rho=arg if kind == "fay" else 0.5,
        seed=spec.seed,
        progress=progress,
        workers=spec.workers,
    )
    if nr is not None:
        W = nonresponse_replicates(nr, W, resp)
    if cal is not None:
        W = recalibrate_replicates(cal, W)
    how = {"seed": spec.seed, "rho": arg if kind == "fay" else (0.0 if kind == "brr" else None)}
    return Replicates(W, R_NAMES[kind], scale, rscales, spec.mse), how


def weight_sample(data: pd.DataFrame, spec: WeightingSpec, *, progress=None) -> WeightingOutcome:  # noqa: ANN001
    """Run the weighting chain on a sample (every sampled unit, respondents or not).

    Returns the output table (all rows; ``status``, ``design_weight``,
    ``nr_weight``, ``trim_weight``, final ``weight``, ``repw_1..R``), the
    weighted design and the sidecar record
    (:func:`nonrecours.weights.sidecar.sidecar_record`) that
    :func:`nonrecours.weights.sidecar.load_weighted_design` reads back.
    """
    roles = {r: spec.design.get(r) for r in ROLES}
    d0 = (
        check_positive_weights(pd.to_numeric(data[spec.weight], errors="coerce").to_numpy(float), spec.weight)
        if spec.weight in data.columns
        else None
    )
    if d0 is None:
        from .._checks import check_columns

        check_columns(data, [spec.weight], role="design weight column", source="the sample")
    assert d0 is not None  # check_columns raised otherwise
    base = SurveyDesign(data, weight=spec.weight, lonely_psu=spec.lonely_psu, **roles)  # type: ignore[arg-type]
    out = (
        data.drop(columns=[spec.weight]).assign(design_weight=d0)
        if spec.weight == "weight"
        else data.assign(design_weight=d0)
    )
    resp = response_indicator(data, spec.responded) if spec.responded else np.ones(len(data), dtype=bool)
    nr = _nonresponse_step(data, spec, d0, resp)
    w = d0
    if nr is not None:
        w = nr.weights
        out = out.assign(nr_class=nr.group, nr_weight=w)
        if nr.propensity is not None:
            out = out.assign(propensity=nr.propensity)
    out = out.assign(status=np.where(resp, "respondent", "nonrespondent"))
    cal, trim_report = _calibration_step(data, spec, w)
    if cal is not None:
        if trim_report is not None:
            out = out.assign(trim_weight=cal.d)
        w = cal.weights
    out = out.assign(weight=w)
    design = SurveyDesign(out.drop(columns=["weight"]), lonely_psu=spec.lonely_psu, **roles).with_weights(w)  # type: ignore[arg-type]
    if cal is not None:
        design = design.with_calibration(cal.to_calibration())
    reps = how = names = None
    if spec.replicates is not None:
        reps, how = _replicate_step(base, spec, d0, resp, nr, cal, progress)
        design = design.with_replicates(reps)
        names = [f"repw_{r + 1}" for r in range(reps.weights.shape[1])]
        out = pd.concat([out, pd.DataFrame(reps.weights, columns=names, index=out.index)], axis=1)
    record = sidecar_record(
        roles,
        spec.lonely_psu,
        nonresponse=nr,
        calibration=cal,
        trim=spec.trim,
        replicates=reps,
        replicate_columns=names,
        replicate_how=how,
    )
    return WeightingOutcome(
        table=out, design=design, sidecar=record, nonresponse=nr, calibration=cal, trimming=trim_report
    )
