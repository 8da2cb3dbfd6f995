"""Small-area estimates of take-up per territory and right, from direct estimates and covariates.

The table-level layer over :mod:`.fay_herriot` and :mod:`.mse`: it checks the
two input tables, fits one Fay–Herriot model per right, predicts every
territory of the covariates file (synthetically where there is no sample),
adds MSEs and CIs, and optionally benchmarks.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from .._checks import check_columns, check_level, check_random_state
from .._parallel import check_workers
from ..errors import InputError, OptionError, message, name_list
from ..estimation._dist import norm_ppf
from ..options import FHMSE, BenchmarkMethod, FHMethod, FHTransform, FHVariance, check_option
from .benchmark import BenchmarkResult
from .benchmark import benchmark as _benchmark
from .diagnostics import area_diagnostics, normality_test
from .fay_herriot import FayHerriotFit, fit_fay_herriot
from .mse import MSEResult, analytic_mse, bootstrap_mse
from .proportions import arcsin_sqrt, gvf_variance, sin_squared

__all__ = ["TerritorialFit", "fit_territories", "OUTPUT_COLUMNS"]

#: Columns of the ``territorial fit`` output (docs/architecture.md), then ``n`` and ``in_sample``.
OUTPUT_COLUMNS = (
    "territory",
    "right",
    "direct",
    "se_direct",
    "eblup",
    "mse",
    "rmse",
    "ci_low",
    "ci_high",
    "gamma",
    "synthetic",
    "n",
    "in_sample",
)
DIRECT_COLUMNS = ("territory", "right", "n", "estimate", "se")


@dataclass(frozen=True)
class TerritorialFit:
    """Fay–Herriot estimates for every territory × right, with the models behind them.

    Attributes
    ----------
    table : DataFrame
        One row per territory × right (:data:`OUTPUT_COLUMNS`); use :meth:`to_frame`.
    fits : tuple of (str, FayHerriotFit)
        The model of each right.
    mses : tuple of (str, MSEResult)
    method, transform, variance, mse_kind : str
    level : float
    seed : int or None
    benchmark : BenchmarkResult or None
    diagnostics : DataFrame
        ``territory``, ``right``, ``gamma``, ``std_residual``, ``cv_direct``, ``cv_eblup``, ``cv_gain``.
    """

    table: pd.DataFrame
    fits: tuple[tuple[str, FayHerriotFit], ...]
    mses: tuple[tuple[str, MSEResult], ...]
    method: str
    transform: str
    variance: str
    mse_kind: str
    level: float
    seed: int | None
    benchmark: BenchmarkResult | None
    diagnostics: pd.DataFrame
    models: pd.DataFrame

    def to_frame(self) -> pd.DataFrame:
        """Per territory × right: ``territory``, ``right``, ``direct``, ``se_direct``, ``eblup``, ``mse``,
        ``rmse``, ``ci_low``, ``ci_high``, ``gamma``, ``synthetic``, ``n``, ``in_sample`` (a copy)."""
        return self.table.copy()

    def coefficients_frame(self) -> pd.DataFrame:
        """Coefficients of every right's model with SEs, z and p-values."""
        return pd.concat([f.coefficients_frame().assign(right=r) for r, f in self.fits], ignore_index=True)[
            ["right", "term", "estimate", "se", "z", "p_value"]
        ]


def _check_inputs(direct: pd.DataFrame, aux: pd.DataFrame, covariates: Sequence[str]) -> None:
    """Check the two tables: their columns, no territory (territory x right) listed twice, covariates for every
    territory of the direct file, and finite numeric covariate values."""
    check_columns(direct, DIRECT_COLUMNS, role="direct-estimate column", source="direct file")
    check_columns(aux, ["territory", *covariates], role="covariate column", source="territories file")
    if not covariates:
        raise OptionError(
            message(
                "no covariates given",
                where="parameter covariates",
                expected="one or more columns of the territories file",
            )
        )
    dup = aux["territory"][aux["territory"].duplicated()]
    if len(dup):
        raise InputError(message("territories listed twice", where="territories file", found=name_list(pd.unique(dup))))
    dup = direct[direct.duplicated(["territory", "right"])]
    if len(dup):
        raise InputError(
            message(
                "territory x right listed twice",
                where="direct file",
                found=name_list(pd.unique(dup["territory"] + "/" + dup["right"])),
            )
        )
    unknown = sorted(set(direct["territory"]) - set(aux["territory"]))
    if unknown:
        raise InputError(
            message(
                "territories of the direct file have no covariates",
                where="territories file",
                found=f"{len(unknown)} absent: {name_list(unknown)}",
                hint="add them to the territories file (the reverse, territories without "
                "direct estimates, is allowed and gives synthetic predictions)",
            )
        )
    Z = aux[list(covariates)].apply(pd.to_numeric, errors="coerce").to_numpy(dtype=float, na_value=np.nan)
    bad = ~np.isfinite(Z).all(axis=1)
    if bad.any():
        cols = [c for c, b in zip(covariates, ~np.isfinite(Z).all(axis=0)) if b]
        raise InputError(
            message(
                "missing or non-numeric covariate values",
                where=f"columns {name_list(cols)}",
                found=f"{int(bad.sum())} territories such as {name_list(aux.loc[bad, 'territory'])}",
                hint="impute or drop those territories",
            )
        )


def _check_options(*, method: str, transform: str, variance: str, mse: str | None, level: float, seed) -> str:
    """Check the model options of :func:`fit_territories` and return the MSE estimator (default: ``bootstrap``
    under the arcsine transform, ``prasad-rao`` otherwise); the bootstrap needs a seed."""
    check_option("method", method, FHMethod)
    check_option("transform", transform, FHTransform)
    check_option("variance", variance, FHVariance)
    if mse is None:
        mse = "bootstrap" if transform == "arcsin" else "prasad-rao"
    check_option("mse", mse, FHMSE)
    if transform == "arcsin" and mse != "bootstrap":
        raise OptionError(
            message(
                "the analytic MSE is on the arcsine scale, not on the rate scale",
                where="parameter mse",
                expected="bootstrap with transform arcsin",
                found=repr(mse),
                hint="use parameter mse 'bootstrap'",
            )
        )
    check_level(level)
    if mse == "bootstrap":
        check_random_state(seed)
    return mse


def _check_tables(
    direct: pd.DataFrame,
    aux: pd.DataFrame,
    covariates: Sequence[str],
    *,
    rights: Sequence[str] | None,
    benchmark: str | None,
    weight: str,
    benchmark_method: str,
) -> tuple[pd.DataFrame, pd.DataFrame, list[str], list[str]]:
    """Copies of the two tables with ``territory`` as text, checked (:func:`_check_inputs`, the benchmark's
    columns and method), the covariates as a list and the rights to model (default: every right of ``direct``,
    in order of appearance)."""
    covariates = list(covariates)
    direct, aux = direct.copy(), aux.copy()
    for frame in (direct, aux):
        if "territory" in frame:
            frame["territory"] = frame["territory"].astype(str)
    _check_inputs(direct, aux, covariates)
    if benchmark is not None:
        check_columns(
            aux, [c for c in (benchmark, weight) if c != "nation"], role="benchmark column", source="territories file"
        )
        check_option("benchmark_method", benchmark_method, BenchmarkMethod)
    all_rights = list(pd.unique(direct["right"].astype(str)))
    rights = all_rights if rights is None else list(rights)
    missing = [r for r in rights if r not in all_rights]
    if missing:
        raise OptionError(
            message(
                "rights absent from the direct file",
                where="parameter rights",
                found=name_list(missing),
                expected="one of " + ", ".join(all_rights),
            )
        )
    return direct, aux, covariates, rights


@dataclass(frozen=True)
class _Territories:
    """Every territory of the covariates file, in its order: labels, design matrix (intercept first), term names
    and the row of each label."""

    area: np.ndarray
    X: np.ndarray
    names: tuple[str, ...]
    pos: pd.Series

    @classmethod
    def of(cls, aux: pd.DataFrame, covariates: list[str]) -> _Territories:
        """From the checked territories file and its covariate columns."""
        Z = aux[covariates].apply(pd.to_numeric).to_numpy(dtype=float)
        area = aux["territory"].to_numpy()
        return cls(
            area=area,
            X=np.column_stack([np.ones(len(aux)), Z]),
            names=("intercept", *covariates),
            pos=pd.Series(np.arange(len(aux)), index=area),
        )


@dataclass(frozen=True)
class _DirectRight:
    """One right's direct estimates (sampled territories, in the direct file's order) and their sampling variances
    on the model's scale, with the GVF's pooled rate and design effect and the count of variances it replaced."""

    right: str
    territory: np.ndarray
    p: np.ndarray
    n: np.ndarray
    se: np.ndarray
    D: np.ndarray
    pooled_rate: float
    pooled_deff: float
    variance_replaced: int


def _direct_right(direct: pd.DataFrame, right: str, *, transform: str, variance: str) -> _DirectRight:
    """Check one right's rows of the direct file and compute their sampling variances.

    Rows the estimation stage suppressed (``flag == "suppressed"``, no estimate) are left out: those territories are
    predicted like unsampled ones; any other missing estimate is an input error. The variances are the GVF's
    (:func:`~.proportions.gvf_variance`) or, with ``variance="direct"``, :math:`se^2` (:math:`se^2 / 4p(1-p)` on
    the arcsine scale), except where the direct rate is 0 or 1 (its SE is 0): the GVF's stays there.
    """
    where = f"right {right!r}"
    d = direct[direct["right"].astype(str) == right]
    p = pd.to_numeric(d["estimate"], errors="coerce").to_numpy(dtype=float)
    if "flag" in d:  # rows the estimation stage suppressed: predicted like unsampled territories
        keep = ~((d["flag"].astype(str) == "suppressed").to_numpy() & ~np.isfinite(p))
        d, p = d[keep], p[keep]
    nmiss = ~np.isfinite(p)
    if nmiss.any():
        raise InputError(
            message(
                "missing direct estimates",
                where=f"direct file, {where}",
                found=f"territories {name_list(d.loc[nmiss, 'territory'])}",
                hint="drop those rows: territories without a direct estimate are predicted synthetically",
            )
        )
    n = pd.to_numeric(d["n"], errors="coerce").to_numpy(dtype=float)
    se = pd.to_numeric(d["se"], errors="coerce").to_numpy(dtype=float)
    deff = pd.to_numeric(d["deff"], errors="coerce").to_numpy(dtype=float) if "deff" in d else None
    D, pbar, deff_bar = gvf_variance(p, n, deff, transform=transform, where=f"direct file, {where}")
    n_replaced = 0
    if variance == "direct":
        # guard: a sample rate of 0 or 1 has a direct SE of 0 (and no arcsine-scale variance): the GVF
        # variance replaces it for those territories (counted in models["variance_replaced"]); any other
        # SE that is missing or <= 0 is an input error
        q = p * (1 - p)
        degenerate = q == 0
        bad = ~degenerate & ~(np.isfinite(se) & (se > 0))
        if bad.any():
            raise InputError(
                message(
                    "sampling variances must be finite and positive",
                    where=f"direct file, {where}, column 'se'",
                    found=f"{int(bad.sum())} territories missing or <= 0: {name_list(d.loc[bad, 'territory'])}",
                    hint="use the GVF smoothing (parameter variance 'gvf')",
                )
            )
        with np.errstate(divide="ignore", invalid="ignore"):
            Dd = se**2 / (4 * q) if transform == "arcsin" else se**2
        n_replaced = int(degenerate.sum())
        D = np.where(degenerate, D, Dd)
    return _DirectRight(
        right=right,
        territory=d["territory"].to_numpy(),
        p=p,
        n=n,
        se=se,
        D=D,
        pooled_rate=pbar,
        pooled_deff=deff_bar,
        variance_replaced=n_replaced,
    )


def _fit_right(
    obs: _DirectRight,
    territories: _Territories,
    *,
    method: str,
    transform: str,
    mse: str,
    replicates: int,
    rng: np.random.Generator | None,
    workers: int,
) -> tuple[FayHerriotFit, MSEResult]:
    """Fay–Herriot model of one right (:func:`~.fay_herriot.fit_fay_herriot`: its sampled territories, then the
    others of the covariates file) and its MSEs (analytic, or bootstrap drawn from ``rng``)."""
    y = arcsin_sqrt(obs.p) if transform == "arcsin" else obs.p
    ins = territories.pos[obs.territory].to_numpy()
    out_mask = np.ones(len(territories.area), bool)
    out_mask[ins] = False
    outs = np.flatnonzero(out_mask)
    fit = fit_fay_herriot(
        y,
        obs.D,
        territories.X[ins],
        method=method,
        X_out=territories.X[outs],
        area=territories.area[ins],
        area_out=territories.area[outs],
        names=territories.names,
        where=f"right {obs.right!r}",
    )
    if mse == "prasad-rao":
        res = analytic_mse(fit)
    else:
        assert rng is not None  # fit_territories draws it for the bootstrap
        res = bootstrap_mse(fit, replicates=replicates, seed=rng, transform=transform, workers=workers)
    return fit, res


def _right_outputs(
    obs: _DirectRight, fit: FayHerriotFit, res: MSEResult, *, z: float, method: str, transform: str, variance: str
) -> tuple[pd.DataFrame, pd.DataFrame, dict]:
    """One right's rows of the estimates table (on the rate scale, CIs :math:`\\hat\\theta \\pm z\\sqrt{mse}`
    clipped to [0, 1] or back-transformed by :math:`\\sin^2`), its diagnostics and its row of the models table."""
    right = obs.right
    k = int((~fit.in_sample).sum())  # territories predicted without a sample
    half = z * np.sqrt(res.mse_model)
    if transform == "arcsin":
        est, synth = sin_squared(fit.eblup), sin_squared(fit.synthetic)
        lo, hi = sin_squared(fit.eblup - half), sin_squared(fit.eblup + half)
    else:
        est, synth = np.clip(fit.eblup, 0, 1), np.clip(fit.synthetic, 0, 1)
        lo, hi = np.clip(fit.eblup - half, 0, 1), np.clip(fit.eblup + half, 0, 1)
    se_direct = np.concatenate([obs.se, np.full(k, np.nan)])
    frame = pd.DataFrame(
        {
            "territory": fit.area,
            "right": right,
            "direct": np.concatenate([obs.p, np.full(k, np.nan)]),
            "se_direct": se_direct,
            "eblup": est,
            "mse": res.mse,
            "rmse": np.sqrt(res.mse),
            "ci_low": lo,
            "ci_high": hi,
            "gamma": fit.gamma,
            "synthetic": synth,
            "n": pd.array(np.concatenate([obs.n, np.zeros(k)]), dtype="Int64"),
            "in_sample": fit.in_sample,
        }
    )
    dg = area_diagnostics(fit, res.mse, se_direct=se_direct, estimate=est)
    diag = dg.rename(columns={"area": "territory"}).assign(right=right)
    sw, sw_p = normality_test(fit)
    model = {
        "right": right,
        "method": method,
        "transform": transform,
        "variance": variance,
        "mse": res.kind,
        "m": fit.m,
        "variance_replaced": obs.variance_replaced,
        "n_predicted": k,
        "model_variance": fit.model_variance,
        "model_variance_se": fit.model_variance_se,
        "zero_variance": fit.zero_variance,
        "loglike": fit.loglike,
        "iterations": fit.iterations,
        "pooled_rate": obs.pooled_rate,
        "pooled_deff": obs.pooled_deff,
        "shapiro_w": sw,
        "shapiro_p": sw_p,
        "mean_gamma": float(np.mean(fit.gamma[fit.in_sample])),
        "median_cv_gain": float(np.nanmedian(dg["cv_gain"].to_numpy()[fit.in_sample])),
    }
    return frame, diag, model


def _benchmarked(
    table: pd.DataFrame, aux: pd.DataFrame, *, benchmark: str, weight: str, method: str, targets: pd.DataFrame | None
) -> tuple[pd.DataFrame, BenchmarkResult]:
    """The estimates benchmarked by groups ``benchmark`` of the territories file (:func:`~.benchmark.benchmark`),
    weighted by its column ``weight``."""
    extra = [c for c in dict.fromkeys([benchmark, weight]) if c not in ("nation", "territory")]
    merged = table.merge(aux[["territory", *extra]], on="territory", how="left")
    merged, bres = _benchmark(merged, by=benchmark, weight=weight, method=method, targets=targets)
    return merged[list(OUTPUT_COLUMNS)], bres


def fit_territories(
    direct: pd.DataFrame,
    aux: pd.DataFrame,
    covariates: Sequence[str],
    *,
    method: FHMethod | str = "amrl",
    transform: FHTransform | str = "none",
    variance: FHVariance | str = "gvf",
    mse: FHMSE | str | None = None,
    replicates: int = 1000,
    seed: int | None = None,
    benchmark: str | None = None,
    benchmark_method: BenchmarkMethod | str = "ratio",
    weight: str = "population",
    targets: pd.DataFrame | None = None,
    level: float = 0.95,
    rights: Sequence[str] | None = None,
    workers: int = 1,
) -> TerritorialFit:
    """Fay–Herriot estimates of take-up rates for every territory and right.

    Parameters
    ----------
    direct : DataFrame
        ``nonrecours estimate --by territory`` output: ``territory``, ``right``,
        ``n``, ``estimate``, ``se`` (``deff`` used by the GVF when present; rows
        with ``flag == "suppressed"`` and no estimate are treated as unsampled).
    aux : DataFrame
        Territories file: ``territory`` and the covariates; every territory in
        it is predicted (synthetically when it has no direct estimate).
    covariates : sequence of str
        Covariate columns; an intercept is added.
    method : {"amrl", "reml", "ml", "fh", "amrl-yl"}
        Model variance by adjusted REML (default; Li & Lahiri 2010, :math:`h(A) = A`),
        REML, ML, moments, or the Yoshimori & Lahiri (2014) adjustment. The adjusted
        estimates are never 0. On the demo's design (200 samples, 400 territories x
        4 rights), nominal 95 % intervals cover 0.957 / 0.960 (sampled / unsampled
        territories) with ``amrl`` and its Li–Lahiri MSE, against 0.931 / 0.927
        with REML and Prasad–Rao (benchmarks/RESULTS.md).
    transform : {"none", "arcsin"}
        ``"arcsin"`` fits the model to :math:`\\arcsin\\sqrt{\\hat p}` and back-transforms.
    variance : {"gvf", "direct"}
        Sampling variances from the GVF (:func:`~.proportions.gvf_variance`) or ``se**2``.
        With ``"direct"``, a territory whose direct rate is 0 or 1 (so its SE is 0)
        gets the GVF variance instead (counted in ``models["variance_replaced"]``):
        a zero variance would make its EBLUP the direct rate with an MSE of 0.
        Any other SE that is missing or <= 0 is refused.
    mse : {"prasad-rao", "bootstrap"}, optional
        Default ``"prasad-rao"`` (the analytic estimator matching ``method``),
        ``"bootstrap"`` with ``transform="arcsin"`` (the only one allowed there).
    replicates : int
    seed : int, optional
        Required for the bootstrap.
    workers : int
        Processes running the bootstrap MSE (results identical whatever their number).
    benchmark : str, optional
        Group column of ``aux`` or ``"nation"``.
    benchmark_method : {"ratio", "additive"}
    weight : str
        ``aux`` column of territory weights for benchmarking.
    targets : DataFrame, optional
        Benchmark targets (see :func:`~.benchmark.benchmark`).
    level : float
        Confidence level of the intervals.
    rights : sequence of str, optional
        Rights to model (default: all in ``direct``, in order of appearance).

    Returns
    -------
    TerritorialFit

    Notes
    -----
    CIs: :math:`\\hat\\theta_d \\pm z_{1-\\alpha/2}\\sqrt{\\mathrm{mse}_d}` clipped to
    [0, 1]; under the arcsine transform the interval is built on the model
    scale and back-transformed with :math:`\\sin^2`. One model per right
    (Rao & Molina 2015, chapter 6).

    Examples
    --------
    >>> d = pd.DataFrame({"territory": list("abcdef"), "right": "tpn", "n": 30,
    ...                   "estimate": [.2, .55, .3, .7, .4, .75], "se": .08})
    >>> aux = pd.DataFrame({"territory": list("abcdefg"), "x": [1., 2, 3, 4, 5, 6, 7]})
    >>> fit_territories(d, aux, ["x"]).to_frame().shape
    (7, 13)
    """
    mse = _check_options(method=method, transform=transform, variance=variance, mse=mse, level=level, seed=seed)
    direct, aux, covariates, rights = _check_tables(
        direct, aux, covariates, rights=rights, benchmark=benchmark, weight=weight, benchmark_method=benchmark_method
    )
    territories = _Territories.of(aux, covariates)
    z = norm_ppf(0.5 + level / 2)
    check_workers(workers)
    rng = check_random_state(seed) if mse == "bootstrap" else None
    frames, diags, fits, mses, models = [], [], [], [], []
    for right in rights:
        obs = _direct_right(direct, right, transform=transform, variance=variance)
        fit, res = _fit_right(
            obs,
            territories,
            method=method,
            transform=transform,
            mse=mse,
            replicates=replicates,
            rng=rng,
            workers=workers,
        )
        frame, diag, model = _right_outputs(obs, fit, res, z=z, method=method, transform=transform, variance=variance)
        frames.append(frame)
        diags.append(diag)
        models.append(model)
        fits.append((right, fit))
        mses.append((right, res))
    table = pd.concat(frames, ignore_index=True)
    bres = None
    if benchmark is not None:
        table, bres = _benchmarked(
            table, aux, benchmark=benchmark, weight=weight, method=benchmark_method, targets=targets
        )
    diagnostics = pd.concat(diags, ignore_index=True)[
        ["territory", "right", "gamma", "std_residual", "cv_direct", "cv_eblup", "cv_gain"]
    ]
    return TerritorialFit(
        table=table[list(OUTPUT_COLUMNS)],
        fits=tuple(fits),
        mses=tuple(mses),
        method=method,
        transform=transform,
        variance=variance,
        mse_kind=mse,
        level=level,
        seed=seed if isinstance(seed, int) else None,
        benchmark=bres,
        diagnostics=diagnostics,
        models=pd.DataFrame(models),
    )
