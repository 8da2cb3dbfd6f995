"""Stage ``territorial``: Fay–Herriot estimates per territory, and the comparison with the truth.

Calls :func:`nonrecours.territorial.territories.fit_territories` on the direct
estimates by territory and :func:`nonrecours.territorial.compare.compare_estimates`
when true rates are given.
"""

from __future__ import annotations

import numpy as np

from ...io import read_table
from ...publication import blank_rows, hidden_cells, published_n
from ...territorial.compare import compare_estimates
from ...territorial.territories import fit_territories
from ..config import StudyConfig
from ._common import State, need

__all__ = ["territorial_stage"]


def territorial_stage(cfg: StudyConfig, state: State) -> State:
    """Small-area estimates for every territory of the covariates file."""
    ter = cfg.territorial
    if not ter.enabled:
        return {"methods": {"territorial": "not run (territorial.enabled = false)"}}
    assert ter.covariates_file is not None  # load_study checks it
    aux = read_table(ter.covariates_file, option="territorial.covariates_file", read=cfg.input.read_options())
    need(["territory", *ter.covariates], aux.columns, "territorial.covariates", "covariates file")
    seed = ter.seed if ter.seed is not None else cfg.design.seed + 3
    if ter.model == "unit":
        return _unit_stage(cfg, state, aux, seed)
    # the model's direct estimates: the territories of at least min_n eligible respondents (the estimation
    # stage's, protected; a cell with fewer takers or non-takers is in the model, and its direct side hidden below)
    direct = state.get("model_direct", state["tables"]["estimates_territory"])
    direct = direct.rename(columns={cfg.estimation.domains.territory: "territory"})
    direct = direct[np.isfinite(direct["estimate"].to_numpy(dtype=float))]
    mse = None if ter.mse == "auto" else ter.mse
    bench = {}
    if ter.benchmark != "none":
        bench = {"benchmark": ter.benchmark_by, "benchmark_method": ter.benchmark, "weight": ter.benchmark_weight}
    fit = fit_territories(
        direct,
        aux,
        list(ter.covariates),
        method=ter.method,
        transform=ter.transform,
        variance=ter.variance,
        mse=mse,
        replicates=ter.replicates,
        seed=seed,
        level=cfg.estimation.level,
        rights=list(cfg.estimation.rights),
        workers=cfg.compute.workers,
        **bench,
    )
    models = fit.models
    methods = {
        "model": f"Fay–Herriot area-level model per right on {', '.join(ter.covariates)} (with an intercept), "
        f"fitted by {fit.method.upper()}" + ("" if fit.transform == "none" else f" on the {fit.transform} scale"),
        "sampling variances": {
            "gvf": "smoothed by a generalised variance function of the direct rates",
            "direct": "the direct estimates' variances",
        }[fit.variance],
        "MSE": fit.mse_kind + (f" ({ter.replicates} replicates, seed {seed})" if fit.mse_kind == "bootstrap" else ""),
        "model variance per right": {r: float(v) for r, v in zip(models["right"], models["model_variance"])},
        "mean gamma of sampled territories": {r: float(v) for r, v in zip(models["right"], models["mean_gamma"])},
        "benchmark": "none"
        if fit.benchmark is None
        else f"{fit.benchmark.method} to the direct estimates by {fit.benchmark.by}, weights {fit.benchmark.weight}",
    }
    published = state["tables"]["estimates_territory"]
    table = _hide_direct(fit.to_frame(), published, cfg.estimation.domains.territory)
    table = published_n(table, published, cfg.estimation.domains.territory)
    out: State = {
        "tables": {"sae": table},
        "methods": {"territorial": methods},
        "seeds": {"territorial": seed if fit.mse_kind == "bootstrap" else None},
    }
    return _compare(cfg, out, table)


#: Columns of the small-area table that give a territory's direct estimate back (with ``eblup``: ``direct`` =
#: (``eblup`` - (1 - ``gamma``) ``synthetic``) / ``gamma``).
DIRECT_SIDE = ("direct", "se_direct", "gamma")


def _hide_direct(table, published, col: str):  # noqa: ANN001, ANN202
    """The small-area table with the direct side of the cells suppressed in ``published`` (the estimates by
    territory) emptied: the model-based estimate, its MSE and interval stay, flagged by the report as the
    small-area estimate shown instead (a model's figure, not a count)."""
    hidden = hidden_cells(published, col)
    hide = np.fromiter(
        ((str(t), str(r)) in hidden for t, r in zip(table["territory"], table["right"])), dtype=bool, count=len(table)
    )
    return blank_rows(table, hide, keep=tuple(c for c in table.columns if c not in DIRECT_SIDE))


def _compare(cfg: StudyConfig, out: State, table) -> State:
    if cfg.territorial.truth is not None:
        truth = read_table(cfg.territorial.truth, option="territorial.truth", read=cfg.input.read_options())
        cmp_ = compare_estimates(table, truth, level=cfg.estimation.level)
        out["tables"].update({"comparison": cmp_.detail, "comparison_summary": cmp_.summary})
    return out


def _unit_stage(cfg: StudyConfig, state: State, aux, seed: int) -> State:
    """``model = "unit"``: logit-normal model of the respondents' answers, EBP over the frame's recipients."""
    from ...territorial.unit import fit_unit

    ter = cfg.territorial
    terr = cfg.estimation.domains.territory
    frame = state["frame"]
    need([terr, *ter.unit_covariates], frame.columns, "territorial.unit_covariates", "frame")
    sample = state["sample"]
    mse = "bootstrap"  # "auto" or "bootstrap"; prasad-rao is refused with model = "unit" by the config's checks
    fit = fit_unit(
        sample,
        frame,
        list(ter.unit_covariates),
        rights=list(cfg.estimation.rights),
        territory=terr,
        aux=aux.rename(columns={"territory": terr}),
        aux_covariates=list(ter.covariates),
        nagq=ter.nagq,
        sigma_method=ter.sigma_method,
        mse=mse,
        replicates=ter.replicates,
        seed=seed,
        level=cfg.estimation.level,
        weight="weight" if "weight" in sample.columns else None,
        workers=cfg.compute.workers,
    )
    table = fit.to_frame().rename(columns={terr: "territory"})
    # the design-based direct estimates and SEs of the estimation stage, where published (not suppressed)
    direct = state["tables"]["estimates_territory"].rename(columns={terr: "territory"})
    direct = direct.assign(territory=direct["territory"].astype(str))[["territory", "right", "estimate", "se"]]
    table = table.merge(direct, on=["territory", "right"], how="left")
    table["direct"], table["se_direct"] = table.pop("estimate"), table.pop("se")
    models = fit.models
    methods = {
        "model": f"logit-normal unit-level model per right on {', '.join(ter.unit_covariates)} and the territory "
        f"covariates {', '.join(ter.covariates)}, random intercept per territory, maximum likelihood by "
        + ("Laplace" if fit.nagq == 1 else f"adaptive Gauss-Hermite quadrature ({fit.nagq} nodes)")
        + (", likelihood adjusted by sigma^2 (never 0)" if ter.sigma_method == "adjusted" else ""),
        "predictor": "empirical best predictor over the frame's eligible recipients (respondents' answers kept)",
        "MSE": f"parametric bootstrap ({fit.replicates} replicates, seed {seed}); intervals EBP +- z root MSE"
        if mse == "bootstrap"
        else "none",
        "territory effect SD per right": {r: float(v) for r, v in zip(models["right"], models["sigma"])},
    }
    table = published_n(table, state["tables"]["estimates_territory"], terr)
    out: State = {
        "tables": {"sae": table},
        "methods": {"territorial": methods},
        "seeds": {"territorial": seed if mse == "bootstrap" else None},
    }
    return _compare(cfg, out, table)
