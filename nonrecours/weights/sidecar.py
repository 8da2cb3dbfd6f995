"""The JSON sidecar of a weighted file, and the design rebuilt from both.

``nonrecours weight ... --out weighted.csv`` writes ``weighted.design.json``
beside it::

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

import numpy as np
import pandas as pd

from .._checks import check_columns
from ..design.survey_design import Calibration, Replicates, SurveyDesign
from ..errors import InputError, message
from .calibration import _check_redundancy
from .margins import Margins, build_matrix
from .pipeline import FORMAT

__all__ = ["sidecar_path", "read_sidecar", "load_weighted_design"]


def sidecar_path(path: str | os.PathLike) -> Path:
    """``weighted.csv`` -> ``weighted.design.json``."""
    p = Path(path)
    return p.with_name(p.stem + ".design.json")


def read_sidecar(path: str | os.PathLike) -> dict:
    """Read and check the sidecar of a weighted file (``path`` is the weighted file)."""
    sp_ = sidecar_path(path)
    if not sp_.is_file():
        raise InputError(message("the weighted file has no design sidecar", where=str(sp_),
                                 hint="produce the file with 'nonrecours weight', which writes it beside the output"))
    try:
        meta = json.loads(sp_.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise InputError(message("cannot read the design sidecar", where=str(sp_), found=str(exc))) from None
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        raise InputError(message("not a nonrecours design sidecar", where=str(sp_), expected=f"format {FORMAT!r}",
                                 found=repr(meta.get("format") if isinstance(meta, dict) else type(meta).__name__)))
    return meta


def load_weighted_design(path: str | os.PathLike, *, data: pd.DataFrame | None = None) -> SurveyDesign:
    """Rebuild the full design (weights, calibration residual information, replicates).

    Parameters
    ----------
    path : path
        The weighted file written by ``nonrecours weight`` (its sidecar beside it).
    data : DataFrame, optional
        The file's content when already read.

    Returns
    -------
    SurveyDesign
        Rows of non-respondents stay with weight 0 (a subset in R's terms).

    Examples
    --------
    >>> # design = load_weighted_design("weighted.csv"); estimate_rates(design, ...)
    """
    from ..io import read_table

    meta = read_sidecar(path)
    df = read_table(path, option="weighted file") if data is None else data
    des = meta["design"]
    roles = {r: des.get(r) for r in ("strata", "psu", "ssu", "fpc", "fpc2")}
    wcol = des.get("weight", "weight")
    check_columns(df, [wcol, *roles.values()], role="design column", source=f"weighted file {str(path)!r}")
    w = pd.to_numeric(df[wcol], errors="coerce").to_numpy(float)
    if not np.all(np.isfinite(w)) or np.any(w < 0):
        raise InputError(message("weights must be finite and >= 0", where=f"column {wcol!r}",
                                 found=f"{int(np.sum(~np.isfinite(w) | (w < 0)))} rows"))
    design = SurveyDesign(df.drop(columns=[wcol]), lonely_psu=des.get("lonely_psu", "fail"), **roles).with_weights(w)
    cal = meta.get("calibration")
    if cal:
        check_columns(df, [cal["base_weight"]], role="calibration base weight", source=str(path))
        d = pd.to_numeric(df[cal["base_weight"]], errors="coerce").to_numpy(float)
        margins = Margins.from_frame(pd.DataFrame(cal["margins"]).fillna({"category": ""}), source="sidecar margins")
        M, T = build_matrix(df, margins, d, coding=cal.get("coding", "dummies"), source="sidecar margins")
        M, T, _ = _check_redundancy(M, d, T, "sidecar margins")
        with np.errstate(divide="ignore", invalid="ignore"):
            g = np.where(d > 0, w / np.where(d > 0, d, 1.0), 1.0)
        design = design.with_calibration(Calibration(M.dense(), d, g))
    reps = meta.get("replicates")
    if reps:
        check_columns(df, reps["columns"], role="replicate weight column", source=str(path))
        W = df[reps["columns"]].to_numpy(dtype=float)
        design = design.with_replicates(Replicates(W, reps["type"], reps["scale"], np.asarray(reps["rscales"]),
                                                   reps["mse"]))
    return design
