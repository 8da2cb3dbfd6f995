"""The JSON sidecar of a weighted file, and the design rebuilt from both.

``nonrecours weight ... --out weighted.csv`` writes ``weighted.design.json``
beside it, and a study run writes ``microdata/weights.design.json`` beside its
``microdata/weights.csv``::

    {"format": "nonrecours-weighted/1",
     "design": {"weight": "weight", "strata": "stratum", "psu": "psu", "ssu": null,
                "fpc": "fpc", "fpc2": null, "lonely_psu": "fail"},
     "status": "status", "weights": ["design_weight", "nr_weight", "weight"],
     "nonresponse": {"method": "classes", "columns": [...], ...},
     "calibration": {"margins": [{"variable": ..., "category": ..., "total": ...}, ...],
                     "method": "raking", "bounds": null, "coding": "dummies",
                     "base_weight": "nr_weight", "trim": null, "columns": [...], ...},
     "replicates": {"type": "bootstrap", "scale": 0.002, "rscales": [...], "mse": false,
                    "columns": ["repw_1", ...], "seed": 1, "rho": null}}

:func:`load_weighted_design` rebuilds the :class:`SurveyDesign` with its
calibration step (``X`` rebuilt from the margins and the data, ``d`` the
pre-calibration weight column, ``g = weight / d``) and its replicates, so that
Taylor variances use the calibration residuals and replicate variances the
re-calibrated replicate weights.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from .._checks import check_columns
from ..errors import InputError, message, rows_found

if TYPE_CHECKING:  # pragma: no cover  (imported where used: reading a weighted file stays light)
    from ..design.survey_design import Replicates, SurveyDesign
    from .calibration import CalibrationResult
    from .nonresponse import NonresponseResult

__all__ = ["FORMAT", "sidecar_path", "sidecar_record", "read_sidecar", "load_weighted_design"]

#: Format tag of the sidecar.
FORMAT = "nonrecours-weighted/1"


def sidecar_path(path: str | os.PathLike) -> Path:
    """``weighted.csv`` -> ``weighted.design.json``."""
    p = Path(path)
    return p.with_name(p.stem + ".design.json")


def sidecar_record(
    roles: dict[str, str | None],
    lonely_psu: str,
    *,
    nonresponse: NonresponseResult | None,
    calibration: CalibrationResult | None,
    trim: float | None,
    replicates: Replicates | None,
    replicate_columns: list[str] | None,
    replicate_how: dict | None,
) -> dict:
    """The sidecar of a weighted file, from the records of its weighting steps (the inverse of
    :func:`load_weighted_design`).

    ``roles`` are the design columns (strata, psu, ssu, fpc, fpc2); the steps'
    records give the rest: the non-response classes, the calibration (margins,
    distance, bounds, coding, base weight column) and the replicates (type,
    scale, rscales, mse, columns; ``replicate_how``: seed and Fay's rho).
    """
    nr, cal = nonresponse, calibration
    base_weight = "trim_weight" if trim is not None else ("nr_weight" if nr is not None else "design_weight")
    record = {
        "format": FORMAT,
        "design": {"weight": "weight", **roles, "lonely_psu": lonely_psu},
        "status": "status",
        "weights": ["design_weight"]
        + (["nr_weight"] if nr else [])
        + (["trim_weight"] if trim is not None else [])
        + ["weight"],
        "nonresponse": None
        if nr is None
        else {
            "method": nr.method,
            "columns": list(nr.columns),
            "min_respondents": nr.min_respondents,
            "groups": int(nr.group.max()) + 1,
        },
        "calibration": None,
        "replicates": None,
    }
    if cal is not None:
        record["calibration"] = {
            "margins": cal.margins.to_frame().to_dict("records"),
            "method": cal.method,
            "bounds": None if cal.bounds is None else list(cal.bounds),
            "coding": cal.coding,
            "base_weight": base_weight,
            "trim": trim,
            "columns": list(cal.columns),
            "dropped": list(cal.dropped),
            "iterations": cal.iterations,
            "max_rel_misfit": cal.max_rel_misfit,
        }
    if replicates is not None:
        record["replicates"] = {
            "type": replicates.type,
            "scale": replicates.scale,
            "rscales": replicates.rscales.tolist(),
            "mse": replicates.mse,
            "columns": replicate_columns,
            **(replicate_how or {}),
        }
    return record


def read_sidecar(path: str | os.PathLike) -> dict:
    """Read and check the sidecar of a weighted file (``path`` is the weighted file)."""
    sp_ = sidecar_path(path)
    if not sp_.is_file():
        raise InputError(
            message(
                "the weighted file has no design sidecar",
                where=str(sp_),
                hint="produce the file with 'nonrecours weight', which writes it beside the output",
            )
        )
    try:
        meta = json.loads(sp_.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise InputError(message("cannot read the design sidecar", where=str(sp_), found=str(exc))) from None
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        raise InputError(
            message(
                "not a nonrecours design sidecar",
                where=str(sp_),
                expected=f"format {FORMAT!r}",
                found=repr(meta.get("format") if isinstance(meta, dict) else type(meta).__name__),
            )
        )
    return meta


def load_weighted_design(
    path: str | os.PathLike, *, data: pd.DataFrame | None = None, lonely_psu: str | None = None
) -> SurveyDesign:
    """Rebuild the full design (weights, calibration residual information, replicates).

    Parameters
    ----------
    path : path
        The weighted file written by ``nonrecours weight`` or by a study run
        (``microdata/weights.csv``), its sidecar beside it.
    data : DataFrame, optional
        The file's content when already read.
    lonely_psu : str, optional
        The lonely-PSU rule of the design (default: the one recorded in the
        sidecar, that of the weighting). A rule is a choice of the analysis,
        not of the weights: a later analysis may apply its own.

    Returns
    -------
    SurveyDesign
        Rows of non-respondents stay with weight 0 (a subset in R's terms).

    Examples
    --------
    >>> # design = load_weighted_design("weighted.csv"); estimate_rates(design, ...)
    """
    from ..design.survey_design import Calibration, Replicates, SurveyDesign
    from ..io import read_table
    from .calibration import _check_redundancy
    from .margins import Margins, build_matrix

    meta = read_sidecar(path)
    df = read_table(path, option="weighted file") if data is None else data
    des = meta["design"]
    roles = {r: des.get(r) for r in ("strata", "psu", "ssu", "fpc", "fpc2")}
    wcol = des.get("weight", "weight")
    check_columns(df, [wcol, *roles.values()], role="design column", source=f"weighted file {str(path)!r}")
    w = pd.to_numeric(df[wcol], errors="coerce").to_numpy(float)
    bad = ~np.isfinite(w) | (w < 0)
    if bad.any():  # the rows by line number, never their values
        raise InputError(
            message(
                "weights of a weighted file must be finite and >= 0",
                where=f"column {wcol!r}",
                expected="a number >= 0 on every row (0 for a non-respondent)",
                found=rows_found(bad, "rows empty, not numeric, infinite or negative"),
                hint="re-run nonrecours weight, or fix those rows of the weighted file",
            )
        )
    rule = des.get("lonely_psu", "fail") if lonely_psu is None else lonely_psu
    design = SurveyDesign(df.drop(columns=[wcol]), lonely_psu=rule, **roles).with_weights(w)
    cal = meta.get("calibration")
    if cal:
        check_columns(df, [cal["base_weight"]], role="calibration base weight", source=str(path))
        d = pd.to_numeric(df[cal["base_weight"]], errors="coerce").to_numpy(float)
        margins = Margins.from_frame(pd.DataFrame(cal["margins"]).fillna({"category": ""}), source="sidecar margins")
        M, T = build_matrix(df, margins, d, coding=cal.get("coding", "dummies"), source="sidecar margins")
        M, T, _ = _check_redundancy(M, d, T, "sidecar margins")
        with np.errstate(divide="ignore", invalid="ignore"):
            g = np.where(d > 0, w / np.where(d > 0, d, 1.0), 1.0)
        design = design.with_calibration(Calibration(M, d, g))  # the matrix in slot form, never dense
    reps = meta.get("replicates")
    if reps:
        check_columns(df, reps["columns"], role="replicate weight column", source=str(path))
        W = df[reps["columns"]].to_numpy(dtype=float)
        design = design.with_replicates(
            Replicates(W, reps["type"], reps["scale"], np.asarray(reps["rscales"]), reps["mse"])
        )
    return design
