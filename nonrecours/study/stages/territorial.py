"""Stage ``territorial``: Fay–Herriot estimates per territory, and the comparison with the truth.

Calls :func:`nonrecours.territorial.territories.fit_territories` on the direct
estimates by territory and :func:`nonrecours.territorial.compare.compare_estimates`
when true rates are given.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ...io import read_table
from ...publication import blank_rows, hidden_cells, published_n
from ...territorial.compare import compare_estimates
from ...territorial.territories import fit_territories
from ..config import StudyConfig
from ._common import State, need

__all__ = ["territorial_stage"]

#: Models of ``[territorial] model`` that borrow strength (:func:`~nonrecours.territorial.borrowing.fit_borrowing`).
_BORROWING = ("rao-yu", "multivariate", "spatial")


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
    if ter.model in _BORROWING:
        return _borrowing_stage(cfg, state, aux)
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


def _yearly_direct(cfg: StudyConfig, state: State) -> tuple[pd.DataFrame, list[int]]:
    """Direct estimates by territory of every year of the follow-up (earlier runs' designs re-estimated with this
    study's options, as the follow-up stage rebuilds them; this run's from the estimation stage), with a ``year``
    column, and the years; this run alone (year 0) without ``[follow_up]``."""
    from .estimation import model_direct_table
    from .follow_up import wave_designs

    est = cfg.estimation
    # the model's direct estimates (the estimation stage's, protected only by min_n eligible respondents; the
    # direct side of a cell with fewer takers or non-takers is hidden in the published table)
    current = state.get("model_direct", state["tables"]["estimates_territory"])
    if cfg.follow_up is None or not state.get("runs"):
        year = cfg.follow_up.year if cfg.follow_up is not None else 0
        return current.assign(year=year), [year]
    years = [r["year"] for r in state["runs"]] + [cfg.follow_up.year]
    designs = wave_designs(cfg, state)[:-1]
    # the earlier years under the current year's rule (min_n eligible respondents, protected across partitions)
    earlier = [model_direct_table(d, est).assign(year=y) for d, y in zip(designs, years)]
    return pd.concat([*earlier, current.assign(year=years[-1])], ignore_index=True), years


def _gvf_se(direct: pd.DataFrame) -> np.ndarray:
    """SEs from the generalised variance function of each right and year (the univariate model's default)."""
    from ...territorial.proportions import gvf_variance

    se = np.full(len(direct), np.nan)
    for _, idx in direct.groupby(["right", "year"], sort=False).indices.items():  # a few rights x years
        d = direct.iloc[idx]
        D, _, _ = gvf_variance(
            d["estimate"].to_numpy(float),
            d["n"].to_numpy(float),
            d["deff"].to_numpy(float) if "deff" in d else None,
            where="direct estimates by territory",
        )
        se[idx] = np.sqrt(D)
    return se


def _borrowing_stage(cfg: StudyConfig, state: State, aux) -> State:  # noqa: ANN001
    """``model = "rao-yu" | "multivariate" | "spatial"``: :func:`~nonrecours.territorial.borrowing.fit_borrowing`
    on this run's direct estimates by territory and, for Rao–Yu, the earlier runs' of the follow-up."""
    from ...territorial.borrowing import fit_borrowing

    ter = cfg.territorial
    terr = cfg.estimation.domains.territory
    direct, years = _yearly_direct(cfg, state)
    direct = direct.rename(columns={terr: "territory"})
    direct = direct[np.isfinite(direct["estimate"].to_numpy(dtype=float)) & (direct["n"].to_numpy(float) > 0)]
    direct = direct.reset_index(drop=True)
    if ter.variance == "gvf":
        direct = direct.assign(se=_gvf_se(direct))
    model = ter.model
    if model == "rao-yu" and len(years) < 2:  # the first year of a follow-up: nothing to borrow over yet
        model = "fh"
    elif model != "rao-yu":  # multivariate and spatial: this year only
        direct = direct[direct["year"] == years[-1]]
    neighbours = None
    if model == "spatial":
        assert ter.neighbours is not None  # load_study checks it
        neighbours = read_table(ter.neighbours, option="territorial.neighbours", read=cfg.input.read_options())
    fit = fit_borrowing(
        direct,
        aux,
        list(ter.covariates),
        model=model,
        time="year",
        neighbours=neighbours,
        method=ter.method,
        level=cfg.estimation.level,
        rights=list(cfg.estimation.rights),
    )
    full = fit.to_frame()
    this = full[full["year"] == years[-1]].drop(columns="year").reset_index(drop=True)
    names = {
        "fh": "univariate Fay–Herriot per right (the first year of the follow-up: Rao–Yu needs two years)",
        "rao-yu": f"Rao–Yu per right over the years {years[0]}–{years[-1]} (territory effect plus AR(1) "
        "territory x year effects; earlier years re-estimated from their runs' designs)",
        "multivariate": "multivariate Fay–Herriot (MFH1) over the rights of each territory",
        "spatial": "spatial Fay–Herriot per right (SAR territory effects over the neighbours, row-standardised)",
    }
    mt = fit.models
    ins = this["in_sample"].to_numpy(bool)
    with np.errstate(invalid="ignore", divide="ignore"):
        gain = 1.0 - np.nanmedian(this["rmse"].to_numpy(float)[ins] / this["se_direct"].to_numpy(float)[ins])
    methods = {
        "model": f"{names[model]} on {', '.join(ter.covariates)} (with an intercept), fitted by {ter.method.upper()}",
        "territorial model": model,
        "sampling variances": {
            "gvf": "smoothed by a generalised variance function of the direct rates, per right and year",
            "direct": "the direct estimates' variances",
        }[ter.variance]
        + "; covariances between years and rights taken as 0 (diagonal)",
        "MSE": "analytic (g1 + g2 + 2 g3)",
        "variance parameters": {
            f"{r} {y} {p}": float(v) for r, y, p, v in zip(mt["right"], mt["year"], mt["parameter"], mt["estimate"])
        },
        "median root MSE / direct SE of sampled territories": float(1.0 - gain),
    }
    table = published_n(this, state["tables"]["estimates_territory"], terr)
    table = _hide_direct(table, state["tables"]["estimates_territory"], terr)
    tables = {"sae": table}
    if model == "rao-yu":  # the territory series of the chosen model (model-based: no direct estimate, no count)
        cols = ["territory", "year", "right", "eblup", "rmse", "ci_low", "ci_high", "in_sample"]
        # what the model gained, per right: median over the sampled territories x years of root MSE / direct SE
        ratio = (full["rmse"] / full["se_direct"]).where(full["in_sample"])
        gained = ratio.groupby(full["right"]).transform("median")
        tables["sae_series"] = full[cols].assign(model=model, median_rmse_ratio=gained)
    out: State = {"tables": tables, "methods": {"territorial": methods}, "seeds": {"territorial": None}}
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
