"""Stages ``allocation`` and ``selection``: sample sizes per stratum, then the sample draw.

Calls :mod:`nonrecours.design` (``allocate_frame``, ``allocate_precision``,
``select``).
"""

from __future__ import annotations

from ...design.allocation import allocate_frame
from ...design.precision import allocate_precision
from ...design.selection import select
from ..config import StudyConfig
from ._common import State

__all__ = ["allocation_stage", "selection_stage"]


def allocation_stage(cfg: StudyConfig, state: State) -> State:
    """Allocate the sample among the strata (fixed size, or the smallest meeting a precision target)."""
    frame = state["frame"]
    a = cfg.design.allocation
    strata = list(cfg.design.strata)
    rates = dict(a.rates) or None
    domains = [list(f) for f in a.domains] or None
    if a.method == "precision":
        alloc = allocate_precision(
            frame,
            strata,
            rates=a.rates,
            target_halfwidth=a.target_halfwidth,
            target_cv=a.target_cv,
            domains=domains,
            response_rate=a.response_rate,
            cost=a.cost,
            min_n=a.min_per_stratum,
            level=cfg.estimation.level,
        )
        size = (
            f"smallest sample with a CI half-width of at most {a.target_halfwidth:g}"
            if a.target_halfwidth
            else f"smallest sample with a CV of at most {a.target_cv:g}"
        ) + " in every domain"
    else:
        assert a.n is not None  # load_study checks it
        alloc = allocate_frame(
            frame,
            strata,
            n=a.n,
            method=a.method,
            rates=rates,
            cost=a.cost,
            power_q=a.power,
            min_n=a.min_per_stratum,
            response_rate=a.response_rate,
            level=cfg.estimation.level,
        )
        size = f"n = {a.n}"
    methods = {
        "strata": f"{', '.join(strata)} ({len(alloc.N)} strata)",
        "allocation": f"{alloc.method} ({size}; at least {alloc.min_n} per stratum"
        + (f"; power q = {a.power:g}" if alloc.method == "power" else "")
        + ")",
    }
    return {
        "allocation": alloc,
        "tables": {"allocation": alloc.to_frame()},
        "methods": {"design": methods},
        "counts": {"strata": len(alloc.N)},
    }


def selection_stage(cfg: StudyConfig, state: State) -> State:
    """Draw the sample with the allocated sizes."""
    d = cfg.design
    if cfg.follow_up is not None:  # a year of a series: coordinated with the last run's sample
        from ...design.waves import select_wave
        from .follow_up import previous_sample

        fu = cfg.follow_up
        sample = select_wave(
            state["frame"],
            state["allocation"],
            strata=list(d.strata),
            scheme=fu.scheme,
            seed=d.seed,
            previous=previous_sample(cfg, state.get("runs", [])),
            share=fu.share,
            id_col=cfg.frame.id,
        )
    else:
        sample = select(
            state["frame"],
            state["allocation"],
            strata=list(d.strata),
            method=d.selection,
            seed=d.seed,
            size=d.size,
            sort=list(d.sort),
            psu=d.psu,
            n_psu=d.n_psu,
            id_col=cfg.frame.id,
        )
    data = sample.to_frame()
    return {
        "sample": data,
        "tables": {"sample": data},
        "seeds": {"design": d.seed},
        "joint": sample.joint,
        "methods": {"design": {"selection": f"{sample.method} (seed {d.seed}); variance: {sample.variance}"}},
    }
