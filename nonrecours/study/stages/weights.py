"""Stage ``weighting``: design weights -> non-response adjustment -> calibration -> replicates.

Calls :func:`nonrecours.weights.pipeline.weight_sample`; the design is built
on every sampled unit, non-respondents keeping their row with weight 0
(nothing is dropped). The only computation here is counting the frame's
margins for a dry run.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import numpy as np
import pandas as pd

from ..._text import index_text
from ...design.survey_design import DESIGN_COLUMNS
from ...publication import extreme_means, middle_mean
from ...weights.margins import Margins, read_margins
from ...weights.pipeline import WeightingOutcome, WeightingSpec, weight_sample
from ..config import StudyConfig
from ._common import RESPONDED, State

__all__ = ["weighting_stage", "frame_margins"]


def frame_margins(frame: pd.DataFrame, columns: list[str]) -> Margins:
    """Calibration margins counted in the frame: one total per category of each column.

    Examples
    --------
    >>> f = pd.DataFrame({"b": ["RSA", "AAH", "RSA"]})
    >>> frame_margins(f, ["b"]).to_frame()["total"].tolist()
    [1.0, 2.0]
    """
    return _margins([row for col in columns for row in _margin_rows(frame, col)])


def _margin_rows(frame: pd.DataFrame, col: str) -> list[tuple[str, str, float]]:
    """One (variable, category, total) row per category of ``col`` in the frame, in the categories' order."""
    counts = frame[col].astype(str).value_counts(sort=False).sort_index()
    return [(col, str(cat), float(n)) for cat, n in counts.items()]


def _margins(rows: list[tuple[str, str, float]]) -> Margins:
    return Margins.from_frame(
        pd.DataFrame(rows, columns=["variable", "category", "total"]), source="margins counted in the frame"
    )


def weighting_stage(cfg: StudyConfig, state: State) -> State:
    """Non-response adjustment, calibration (with trimming) and replicate weights, via ``weight_sample``."""
    w_cfg = cfg.weighting
    sample = state["sample"].reset_index(drop=True)
    nr, cal, rep = w_cfg.nonresponse, w_cfg.calibration, w_cfg.replicates
    margins = None
    frame = state["frame"]
    held: dict[str, Any] = {}
    counted: dict[str, list[tuple[str, str, float]]] = {}

    def count(col: str) -> list[tuple[str, str, float]]:  # the frame's margins, each column counted once
        if col not in counted:
            counted[col] = _margin_rows(frame, col)
        return counted[col]

    if cal.holders:  # linked holders of rights, counted over the whole frame from the administrative phase's links
        held = _holder_columns(cfg, state)
        frame = frame.assign(**held["frame"])
        pos = index_text(sample[cfg.frame.id], frame[cfg.frame.id])  # in C: the frame's ids are unique
        sample = sample.assign(**{c: v.array.take(pos) for c, v in held["frame"].items()})  # Arrow's take
    if cal.method != "none":
        margins = (
            read_margins(cal.margins_file, read=cfg.input.read_options())
            if cal.margins_file is not None
            else _margins([row for col in list(cal.margins) + list(held.get("frame", {})) for row in count(col)])
        )
    seed = None
    replicates = None
    if rep.method != "none":
        seed = rep.seed if rep.seed is not None else cfg.design.seed + 2
        replicates = (rep.method, float(rep.n) if rep.method == "bootstrap" and rep.n is not None else None)
    roles = {role: col for role, col in DESIGN_COLUMNS.items() if role != "weight" and col in sample.columns}
    spec = WeightingSpec(
        weight="weight",
        design=roles,
        lonely_psu=cfg.estimation.lonely_psu,
        responded=RESPONDED,
        nonresponse=None
        if nr.method == "none"
        else (nr.method, tuple(nr.classes if nr.method == "classes" else nr.covariates)),
        min_respondents=nr.min_respondents,
        propensity_classes=nr.n_classes,
        margins=margins,
        method=cal.method if cal.method != "none" else "raking",
        bounds=cal.bounds,
        trim=cal.trim,
        replicates=replicates,
        seed=seed,
        workers=cfg.compute.workers,
    )
    out = weight_sample(sample, spec)
    extra: dict[str, Any] = {}
    if held:  # the same chain calibrated to the frame's margins only: the design the holder margins improve on
        before = _margins([row for col in cal.margins for row in count(col)])  # frame_margins(frame, cal.margins)
        extra = {
            "admin_phase": held["phase"],
            "design_frame_margins": weight_sample(sample, replace(spec, margins=before, replicates=None)).design,
        }
    table = out.table
    if out.calibration is not None:
        table = table.assign(g=out.calibration.g)
    # the design travels with its weights: microdata/weights.csv gets this sidecar (calibration, replicates, roles)
    return {
        "sample": table,
        "design": out.design,
        "tables": {"weights": table},
        "sidecars": {"weights": out.sidecar},
        "methods": {"weighting": _methods(cfg, out)},
        "seeds": {"replicates": seed},
        "weight_summary": _summary(table, out, cfg.estimation.thresholds.min_n),
        **extra,
    }


def _holder_columns(cfg: StudyConfig, state: State) -> dict[str, Any]:
    """The administrative phase and the frame's holder columns ``linked_<right>`` (level of ``holders_by`` or
    ``not_linked``), read through the frame's record ids (:func:`nonrecours.admin.holders.linked_holders`)."""
    from ..._checks import check_columns
    from ...admin.holders import holder_margin_columns, linked_holders
    from ...errors import InputError, message
    from ...io import read_table
    from .admin import PendingPhase, start_phase

    cal = cfg.weighting.calibration
    frame = state["frame"]
    assert cfg.admin.frame_ids is not None  # checked by the study file's _check_holders
    ids = read_table(cfg.admin.frame_ids, option="admin.frame_ids", text_columns=("id", "rec_id"))
    check_columns(ids, ["id", "rec_id"], role="record id column", source="admin.frame_ids")
    frame_id, rec_id = frame[cfg.frame.id].astype(str), ids["rec_id"].astype(str)
    if frame_id.array.equals(ids["id"].astype(str).array):  # the file in the frame's order (unique ids): its rows
        frame_rec = rec_id.reset_index(drop=True)
    else:  # each frame id's first row of the file, hashed in C (a reindex on text converts it to Python objects)
        frame_rec = pd.Series(rec_id.array.take(index_text(frame_id, ids["id"]), allow_fill=True))  # missing: NaN
    missing = int(frame_rec.isna().sum())
    if missing:
        raise InputError(
            message(
                "recipients of the frame without a record id",
                where="admin.frame_ids",
                expected="a rec_id for every id of the frame",
                found=f"{missing} of {len(frame)} recipients",
                hint="give the record ids of the whole frame (the simulated sources' frame_ids.csv)",
            )
        )
    # the phase started with the study (run_study) is reused, else it runs here; only its links are waited for
    phase = state["admin_phase"] if "admin_phase" in state else start_phase(cfg, fork=False)
    links, source_rights = phase.links() if isinstance(phase, PendingPhase) else (phase.links, phase.source_rights)
    holders = linked_holders(frame_rec, links, source_rights, list(cal.holders))
    cols = holder_margin_columns(holders, frame[cal.holders_by].to_numpy())
    return {"phase": phase, "frame": {c: cols[c].set_axis(frame.index) for c in cols}}


def _methods(cfg: StudyConfig, out: WeightingOutcome) -> dict[str, Any]:
    """What the weighting chain did, from its outcome."""
    cal_cfg = cfg.weighting.calibration
    methods: dict[str, Any] = {}
    res = out.nonresponse
    if res is None:
        methods["non-response"] = "none: respondents keep their design weight"
    else:
        collapsed = int(res.report["collapsed"].astype(bool).sum()) if "collapsed" in res.report else 0
        n_groups = int(np.unique(res.group[res.status == "respondent"]).size)
        methods["non-response"] = (
            f"{res.method} adjustment on {', '.join(res.columns)}: {n_groups} final classes "
            f"of at least {res.min_respondents} respondents ({collapsed} initial classes merged)"
        )
    cal = out.calibration
    if cal is None:
        methods["calibration"] = "none"
    else:
        where = (
            f"the frame's counts of {', '.join(cal_cfg.margins)}"
            if cal_cfg.margins_file is None
            else f"the margins file {cal_cfg.margins_file.name}"
        )
        if cal_cfg.holders:
            where += (
                f" and the linked holders of {', '.join(cal_cfg.holders)} by {cal_cfg.holders_by} "
                "(recipients of the frame linked to a record of the right by the administrative phase)"
            )
        methods["calibration"] = (
            f"{cal.method} calibration to {where} ({len(cal.columns)} totals"
            + (f", g within [{cal.bounds[0]:g}, {cal.bounds[1]:g}]" if cal.bounds else "")
            + f"; {cal.iterations} iterations, max relative misfit {cal.max_rel_misfit:.2g}"
            + (
                f"; weights trimmed at {cal_cfg.trim:g} x the mean and re-calibrated"
                if out.trimming is not None
                else ""
            )
            + ")"
        )
    reps = out.design.replicates
    if reps is not None:
        methods["replicates"] = (
            f"{reps.type} replicate weights ({reps.weights.shape[1]} replicates), replaying "
            "the non-response adjustment and the calibration in each"
        )
    return methods


def _summary(table: pd.DataFrame, out: WeightingOutcome, min_n: int) -> dict[str, Any]:
    """Weight distribution of the respondents, from the weighted table and the calibration's g summary.

    Published in the report and the manifest: no minimum or maximum (each is
    one respondent's weight) but the means of the ``min_n`` smallest and of
    the ``min_n`` largest weights and g-weights
    (:func:`nonrecours.publication.extreme_means`), and their ratio; no median (one respondent's g-weight)
    but the mean of the ``min_n`` middle g-weights (:func:`nonrecours.publication.middle_mean`).
    """
    resp = table["status"].to_numpy() == "respondent"
    w = table["weight"].to_numpy(dtype=float)[resp]
    low, high = extreme_means(w, min_n=min_n)
    summary: dict[str, Any] = {
        "sum of design weights (sample)": float(table["design_weight"].sum()),
        "respondents": int(resp.sum()),
        "sum of final weights": float(w.sum()),
        "respondents in each extreme mean": min(int(min_n), int(resp.sum())),
        "final weight, mean of the smallest": low,
        "final weight, mean of the largest": high,
        "final weight, ratio largest / smallest": high / low if low > 0 else float("nan"),
    }
    if out.calibration is not None:
        gs = out.calibration.g_summary().iloc[0]
        cal = out.calibration
        g_low, g_high = extreme_means(cal.g[cal.d > 0], min_n=min_n)
        summary.update(
            {
                "final weight CV": float(gs["weight_cv"]),
                "g-weight, mean of the smallest": g_low,
                "g-weight, mean of the middle": middle_mean(cal.g[cal.d > 0], min_n=min_n),
                "g-weight, mean of the largest": g_high,
            }
        )
    return summary
