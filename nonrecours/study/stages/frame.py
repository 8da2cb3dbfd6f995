"""Stage ``frame``: read the sampling frame and check the columns the study names."""

from __future__ import annotations

from ..._checks import check_right_column
from ...errors import InputError, message, rows_found
from ...io import read_table
from ..config import StudyConfig
from ._common import State, need

__all__ = ["frame_stage"]


def frame_stage(cfg: StudyConfig, state: State) -> State:
    """Read the frame and check every column the study names (in the frame and the covariates file)."""
    frame = read_table(cfg.frame.path, option="frame.path", read=cfg.input.read_options())
    cols = frame.columns
    need([cfg.frame.id], cols, "frame.id", "frame")
    need(cfg.design.strata, cols, "design.strata", "frame")
    for key in ("size", "psu"):
        if getattr(cfg.design, key) is not None:
            need([getattr(cfg.design, key)], cols, f"design.{key}", "frame")
    need(cfg.design.sort, cols, "design.sort", "frame")
    need(cfg.weighting.nonresponse.classes, cols, "weighting.nonresponse.classes", "frame")
    need(cfg.weighting.nonresponse.covariates, cols, "weighting.nonresponse.covariates", "frame")
    if cfg.design.allocation.cost is not None:
        need([cfg.design.allocation.cost], cols, "design.allocation.cost", "frame")
    for i, family in enumerate(cfg.design.allocation.domains):
        need(family, cols, f"design.allocation.domains[{i}]", "frame")
    need(cfg.weighting.calibration.margins, cols, "weighting.calibration.margins", "frame")
    dom = cfg.estimation.domains
    for name in ("qpv", "benefit", "territory"):
        need([getattr(dom, name)], cols, f"estimation.domains.{name}", "frame")
    if cfg.responses.simulate:
        need(cfg.estimation.rights, cols, "estimation.rights", "frame (a dry run takes the answers from it)")
        for right in cfg.estimation.rights:
            check_right_column(frame, right)
    ter = cfg.territorial
    if ter.enabled and ter.covariates_file is not None:  # the territorial phase runs last: check its columns now
        aux = read_table(
            ter.covariates_file, option="territorial.covariates_file", read=cfg.input.read_options()
        ).columns
        need(["territory", *ter.covariates], aux, "territorial.covariates", "covariates file")
        if ter.model == "unit":
            need(list(ter.unit_covariates), cols, "territorial.unit_covariates", "frame")
        if ter.benchmark != "none":
            need(
                [c for c in (ter.benchmark_by, ter.benchmark_weight) if c != "nation"],
                aux,
                "territorial.benchmark_by / benchmark_weight",
                "covariates file",
            )
    ids = frame[cfg.frame.id]
    if ids.isna().any() or ids.duplicated().any():
        bad = ids.isna() | ids.duplicated(keep=False)
        raise InputError(
            message(
                "recipient identifiers must be present and unique",
                where=f"frame column {cfg.frame.id!r}",
                found=f"{int(ids.isna().sum())} missing, {int(ids.duplicated().sum())} repeated: " + rows_found(bad),
            )
        )
    return {"frame": frame, "counts": {"frame": len(frame)}}
