r"""Monte Carlo validation: many samples from one synthetic population, estimated as a user would.

One population is fixed; ``replications`` samples are drawn from it under a
stratified or two-stage design; each sample is estimated with
:func:`~nonrecours.estimation.estimate_rates` (national, QPV / non-QPV,
benefit, territory), :func:`~nonrecours.estimation.gaps` (QPV minus non-QPV)
and, optionally, the Fay–Herriot model of :func:`~nonrecours.territorial.fit_territories`;
every CI method is computed from the same estimates and SEs. The truth is the
population's finite-population rates. Performance measures and their Monte
Carlo errors are those of :class:`~nonrecours.validation.metrics.Accumulator`.
"""

from __future__ import annotations

import time
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from .._checks import check_choice, check_columns, check_level
from .._parallel import check_workers, chunks, ordered_map, spawn
from ..design import SurveyDesign
from ..design._strata import index_strata
from ..design.allocation import allocate_frame
from ..design.selection import first_stage_probabilities, select, srswor_draw
from ..errors import OptionError, message
from ..estimation import QualityThresholds, estimate_rates
from ..estimation.estimators import gaps_at
from ..estimation.intervals import auto_ci, proportion_ci
from ..options import DFRule, EstimateCI, FHMethod, PPSMethod, ValidationDesign, ValidationLevel, check_option, choices
from .metrics import Accumulator
from .targets import FAMILY_COLUMN, Targets, build_targets, code_column

__all__ = [
    "DEFAULT_CI",
    "DEFAULT_COVARIATES",
    "DEFAULT_UNIT_COVARIATES",
    "SAE_METHODS",
    "ValidationResult",
    "run_validation",
]

#: CI methods evaluated by default (``likelihood`` is exact but slow: ask for it).
DEFAULT_CI = ("wald", "logit", "beta", "wilson")
#: Territory covariates of the Fay–Herriot model.
DEFAULT_COVARIATES = ("is_qpv", "poverty_rate", "social_housing_share")
#: Default strata of each design (two-stage: PSUs = territories, nested in them).
DEFAULT_STRATA = {"stratified": ("territory",), "two-stage": ("is_qpv",)}
_ALL = QualityThresholds(min_n=0, reliable_n=0)  # measure every estimate: no suppression


@dataclass(frozen=True, eq=False)
class ValidationResult:
    """Performance of the estimators over the replications of a validation study.

    Attributes
    ----------
    table : DataFrame
        One row per level x estimator x domain x right x CI method: ``level``,
        ``estimator`` (``direct`` or ``fay-herriot``), ``domain``, ``right``
        and :data:`~nonrecours.validation.metrics.MEASURE_COLUMNS`.
    settings : dict
        Design, sample size, replications, seed, CI methods, level, df rule,
        population size: what determines the results.
    elapsed : float
        Seconds spent drawing and estimating (not part of the results).
    workers : int
        Processes used (the results do not depend on it).
    """

    table: pd.DataFrame = field(repr=False)
    settings: dict
    elapsed: float = 0.0
    workers: int = 1

    def to_frame(self) -> pd.DataFrame:
        """The detailed table (a copy)."""
        return self.table.copy()

    def summary(self) -> pd.DataFrame:
        """Per level x estimator x CI method, over domains x rights: coverage and SE ratio.

        Columns: ``level``, ``estimator``, ``ci``, ``estimands``, ``coverage`` (mean),
        ``coverage_mcse`` (MC error of the mean, estimands independent), ``coverage_min``,
        ``coverage_max``, ``mean_abs_rel_bias``, ``median_se_ratio``, ``mean_width`` (of the intervals),
        ``rmse`` (root of the mean over estimands of bias^2 + empirical variance).
        """
        t = self.table.dropna(subset=["coverage"])
        g = t.groupby(["level", "estimator", "ci"], sort=False)
        t = t.assign(_mse=t["bias"] ** 2 + t["emp_se"] ** 2)
        g = t.groupby(["level", "estimator", "ci"], sort=False)
        out = g.agg(
            estimands=("coverage", "size"),
            coverage=("coverage", "mean"),
            coverage_min=("coverage", "min"),
            coverage_max=("coverage", "max"),
            mean_abs_rel_bias=("rel_bias", lambda s: float(np.nanmean(np.abs(s))) if s.notna().any() else np.nan),
            median_se_ratio=("se_ratio", "median"),
            mean_width=("mean_width", "mean"),
            rmse=("_mse", lambda v: float(np.sqrt(np.nanmean(v))) if v.notna().any() else np.nan),
        ).reset_index()
        mc = g["coverage_mcse"].apply(lambda s: float(np.sqrt(np.sum(s**2))) / max(len(s), 1)).to_numpy()
        out.insert(5, "coverage_mcse", mc)
        return out


def _check_int(value, name: str, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise OptionError(
            message(f"{name} must be an integer >= {minimum}", where=f"parameter {name}", found=repr(value))
        )
    return int(value)


class _Sampler:
    """Draws samples of the population under a design; everything that does not change is prepared once."""

    def __init__(
        self,
        frame: pd.DataFrame,
        design: str,
        n: int,
        strata: Sequence[str],
        n_psu: int,
        allocation: str = "proportional",
    ) -> None:
        self.design = design
        self.frame = frame
        self.strata = list(strata)
        alloc = allocate_frame(frame, self.strata, n=n, method=allocation, min_n=2)
        self.alloc = alloc
        self.n_psu = n_psu
        if design == "stratified":
            index = index_strata(frame, self.strata)
            self.codes = index.codes
            self.n_h = alloc.sizes().reindex(pd.Index(index.labels).astype(str)).to_numpy(np.int64)
            self.N_h = index.N.astype(float)

    def draw(self, rng: np.random.Generator) -> SurveyDesign:
        """One sample, as a design (stratified SRSWOR: as :func:`~nonrecours.design.selection.select` draws it)."""
        return self.draw_variants(rng)[0]

    def draw_variants(
        self, rng: np.random.Generator, pps: Sequence[str] = ()
    ) -> tuple[SurveyDesign, dict[str, SurveyDesign]]:
        """One sample's design and (two-stage) the same design with each first-stage PPS variance of ``pps``."""
        if self.design == "stratified":
            # srswor_draw is select()'s draw; calling it on the prepared strata skips
            # select()'s per-call frame checks (id uniqueness: ~2.6 s on 2.8 M rows)
            rows = np.flatnonzero(srswor_draw(self.codes, self.n_h, rng))
            h = self.codes[rows]
            data = (
                self.frame.iloc[rows]
                .reset_index(drop=True)
                .assign(stratum=h, psu=rows, fpc=self.N_h[h], weight=self.N_h[h] / self.n_h[h])
            )
            return SurveyDesign(data, weight="weight", strata="stratum", psu="psu", fpc="fpc"), {}
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # certainty / lonely PSUs: reported once by the caller's design
            s = select(
                self.frame,
                self.alloc,
                strata=self.strata,
                method="two-stage",
                psu="territory",
                n_psu=self.n_psu,
                seed=rng,
            )
        base = SurveyDesign(
            s.data, weight="weight", strata="stratum", psu="psu", ssu="ssu", fpc="fpc", fpc2="fpc2", lonely_psu="adjust"
        )
        if not pps:
            return base, {}
        pi = first_stage_probabilities(s.data)
        return base, {m: base.with_pps(m, pi, joint=s.joint if m in ("ht", "yg") else None) for m in pps}


def _cis(est, se, df, n, methods, level, design_df):
    low = np.empty((len(methods), est.size))
    high = np.empty_like(low)
    for m, meth in enumerate(methods):  # loop over CI methods, each vectorised over estimands
        with np.errstate(all="ignore"):
            if meth == "auto":  # the default of estimate: its rule row by row
                low[m], high[m], _ = auto_ci(est, se, df, n, design_df=design_df, level=level)
            else:
                low[m], high[m] = proportion_ci(est, se, df, method=meth, level=level, n=n)
    return low, high


def _one_replication(
    design: SurveyDesign,
    targets: Targets,
    rights: list[str],
    levels: Sequence[str],
    methods: tuple[str, ...],
    level: float,
    df: str,
):
    """Estimates, SEs and CIs of every estimand in one sample (NaN where a domain is not in it).

    Returns the rate estimands' ``(est, se, low, high)``, the gap's (its t interval
    only) or None, the territory result (input of the small-area fit) or None, and the
    estimands' numbers of respondents (NaN where a domain is not in the sample).
    """
    K = len(targets.table)
    est, se, dfs, n = (np.full(K, np.nan) for _ in range(4))
    gap = territory = None
    for lev in levels:
        if lev == "gap":
            continue
        col = FAMILY_COLUMN[lev]
        r = estimate_rates(design, rights, by=col, ci="wald", level=level, df=df, thresholds=_ALL)
        # result rows are domain-major, right-minor: one domain code every V rows
        dom = np.zeros(1, np.int64) if col is None else r.domains[col].to_numpy(np.int64)[:: len(rights)]
        pos = targets.positions(lev, dom)
        est[pos], se[pos], dfs[pos], n[pos] = r.raw_estimate, r.raw_se, r.df, r.n
        if lev == "qpv" and "gap" in levels:
            V = len(rights)
            g = np.full((4, V), np.nan)
            if dom.size == 2:  # last level minus first (is_qpv 1 - 0), with the joint covariance
                t = gaps_at(r, V + np.arange(V), np.arange(V))
                g = t[["gap", "se", "ci_low", "ci_high"]].to_numpy(float).T
            gap = (g[0], g[1], g[2][None, :], g[3][None, :])
        if lev == "territory":
            territory = r
    low, high = _cis(est, se, dfs, n, methods, level, design.degf())
    return (est, se, low, high), gap, territory, n


#: Small-area estimators of ``sae_methods``: Fay–Herriot with a model-variance method, or the unit-level EBP.
SAE_METHODS = (*choices(FHMethod), "unit")
#: Categorical recipient columns of the unit-level model in the validation.
DEFAULT_UNIT_COVARIATES = ("benefit", "age_band", "household", "housing")
#: Intervals of the unit-level EBP evaluated on the same fit and bootstrap (names of the ``ci`` column).
UNIT_INTERVALS = ("normal", "percentile")


def _sae_name(method: str) -> str:
    return {"reml": "fay-herriot", "unit": "unit-ebp"}.get(method, f"fay-herriot-{method}")


def _place(fit: pd.DataFrame, targets: Targets, suffixes: Sequence[str] = ("",)):
    """EBLUP, root MSE, CI bounds (one row per interval of ``ci_low<suffix>``, ``ci_high<suffix>``) and in-sample
    flag in the territory block's order (domain-major, right-minor)."""
    labels = targets.labels["territory"]
    V = len(targets.rights)
    d = pd.Index(labels).get_indexer(fit["territory"].astype(str))
    v = pd.Index(targets.rights).get_indexer(fit["right"].astype(str))
    keep = (d >= 0) & (v >= 0)
    pos = d[keep] * V + v[keep]
    K, M = len(labels) * V, len(suffixes)
    eb, rmse, ins = (np.full(K, np.nan) for _ in range(3))
    low, high = np.full((M, K), np.nan), np.full((M, K), np.nan)
    for arr, col in ((eb, "eblup"), (rmse, "rmse"), (ins, "in_sample")):
        arr[pos] = fit[col].to_numpy(float)[keep]
    for j, suf in enumerate(suffixes):
        low[j, pos] = fit["ci_low" + suf].to_numpy(float)[keep]
        high[j, pos] = fit["ci_high" + suf].to_numpy(float)[keep]
    return [eb, rmse, low, high, ins]


def _unit_ebp(
    design: SurveyDesign,
    unit_frame: pd.DataFrame,
    targets: Targets,
    aux: pd.DataFrame,
    covariates: list[str],
    unit_covariates: list[str],
    level: float,
    replicates: int,
    rng: np.random.Generator,
):
    """Unit-level EBP, bootstrap root MSE and CI of every territory x right from one sample."""
    from ..errors import ConvergenceError
    from ..territorial.unit import fit_unit

    sample = unit_frame.iloc[design.data["id"].to_numpy(np.int64)]
    M = len(UNIT_INTERVALS)
    try:
        res = fit_unit(
            sample,
            unit_frame,
            unit_covariates,
            rights=list(targets.rights),
            aux=aux,
            aux_covariates=covariates,
            mse="bootstrap",
            replicates=replicates,
            seed=rng,
            level=level,
            responded=None,
            interval="normal",
        )
    except ConvergenceError:  # e.g. a category whose respondents all took up: that sample counts as missing
        size = len(targets.labels["territory"]) * len(targets.rights)
        nan = np.full(size, np.nan)
        return [nan, nan, np.full((M, size), np.nan), np.full((M, size), np.nan), np.full(size, -1.0)]
    fit = res.to_frame()
    q = res.error_quantiles
    assert q is not None  # mse="bootstrap"
    eb = fit["eblup"].to_numpy(float)
    # both intervals of the same fit and bootstrap: normal (as fitted) and percentile
    fit = fit.assign(
        ci_low_percentile=np.clip(eb - q["err_high"].to_numpy(float), 0, 1),
        ci_high_percentile=np.clip(eb - q["err_low"].to_numpy(float), 0, 1),
    )
    return _place(fit, targets, suffixes=("", "_percentile"))


def _fay_herriot(
    result, targets: Targets, aux: pd.DataFrame, covariates: list[str], level: float, method: str = "reml"
):
    """EBLUP, root MSE, CI and in-sample flag of every territory x right (territory-block order) from one
    sample's direct estimates."""
    from ..territorial import fit_territories

    labels = targets.labels["territory"]
    dom = result.domains["territory"].to_numpy(np.int64)  # one per result row
    direct = pd.DataFrame(
        {
            "territory": labels[dom],
            "right": result.right.astype(str),
            "n": result.n,
            "estimate": result.raw_estimate,
            "se": result.raw_se,
            "deff": result.deff,
        }
    )
    direct = direct[np.isfinite(direct["estimate"]) & (direct["n"] > 0)]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fit = fit_territories(
            direct, aux, covariates, level=level, rights=list(targets.rights), method=method
        ).to_frame()
    return _place(fit, targets)


@dataclass(frozen=True, eq=False)
class _Replication:
    """Everything one replication needs besides its generator (sent once per chunk to a worker)."""

    sampler: _Sampler
    targets: Targets
    rights: list[str]
    levels: tuple[str, ...]
    methods: tuple[str, ...]
    level: float
    df: str
    aux: pd.DataFrame | None
    covariates: list[str]
    sae_methods: tuple[str, ...] = ()
    unit_frame: pd.DataFrame | None = None
    unit_covariates: list[str] = field(default_factory=list)
    unit_replicates: int = 50
    pps: tuple[str, ...] = ()
    pps_targets: Targets | None = None
    pps_levels: tuple[str, ...] = ()

    def run(self, rng: np.random.Generator):
        """Draw and estimate one sample: (rates, gap or None, {small-area method: (estimate, rmse, low, high,
        in-sample flag)}, [rates of each PPS variance], respondents of each rate estimand)."""
        des, variants = self.sampler.draw_variants(rng, self.pps)
        pps_rates = (
            []
            if self.pps_targets is None
            else [  # pps_targets is set whenever pps is
                _one_replication(
                    variants[m], self.pps_targets, self.rights, self.pps_levels, self.methods, self.level, self.df
                )[0]
                for m in self.pps
            ]
        )
        rates, gap, terr, n = _one_replication(
            des, self.targets, self.rights, self.levels, self.methods, self.level, self.df
        )
        small_area = {}
        for m in self.sae_methods if self.aux is not None else ():
            if m == "unit":
                small_area[m] = _unit_ebp(
                    des,
                    self.unit_frame,
                    self.targets,
                    self.aux,
                    self.covariates,
                    self.unit_covariates,
                    self.level,
                    self.unit_replicates,
                    rng,
                )
            else:
                small_area[m] = _fay_herriot(terr, self.targets, self.aux, self.covariates, self.level, m)
        return rates, gap, small_area, pps_rates, n


def _run_chunk(rep: _Replication, rngs: list[np.random.Generator]) -> list:
    """The replications of one chunk, in order (the unit of work of a worker)."""
    return [rep.run(rng) for rng in rngs]


@dataclass(frozen=True)
class _Options:
    """The options of :func:`run_validation`, checked: duplicates dropped, defaults filled in, the seed spawned."""

    design: str
    n: int
    replications: int
    n_psu: int
    workers: int
    rngs: list  # one generator per replication: the r-th child of SeedSequence(seed)
    methods: tuple[str, ...]
    bands: list[int]
    level: float
    df: str
    levels: tuple[str, ...]
    sae: bool
    sae_methods: tuple[str, ...]
    allocation: str
    pps: tuple[str, ...]
    pps_levels: tuple[str, ...]
    rights: list[str]
    strata: list[str]


def _check_options(
    population,
    *,
    design,
    n,
    replications,
    seed,
    rights,
    ci,
    level,
    df,
    levels,
    strata,
    n_psu,
    sae,
    sae_methods,
    allocation,
    workers,
    pps,
    n_bands,
) -> _Options:
    """Check the options of :func:`run_validation` and the population's right and stratum columns; the first
    problem found is raised (:class:`~nonrecours.errors.OptionError` or :class:`~nonrecours.errors.InputError`).

    ``gap`` among the levels brings ``qpv`` (the gap is estimated from the QPV / non-QPV rates); rights and strata
    default to the four rights and the design's :data:`DEFAULT_STRATA`.
    """
    check_option("design", design, ValidationDesign)
    n = _check_int(n, "n", 2)
    replications = _check_int(replications, "replications", 2)
    n_psu = _check_int(n_psu, "n_psu", 2)
    workers = check_workers(workers)
    rngs = spawn(seed, replications)
    methods = tuple(dict.fromkeys(check_option("ci", m, EstimateCI) for m in ci))
    if not methods:
        raise OptionError(
            message(
                "no CI method given", where="parameter ci", expected="one or more of " + ", ".join(choices(EstimateCI))
            )
        )
    bands = [_check_int(b, "n_bands", 1) for b in n_bands]
    if bands != sorted(set(bands)):
        raise OptionError(
            message(
                "the respondent bands must be increasing lower ends",
                where="parameter n_bands",
                found=repr(list(n_bands)),
                hint="e.g. 1,5,11,30",
            )
        )
    check_option("df", df, DFRule)
    check_level(level, "level")
    levels = tuple(dict.fromkeys(check_option("levels", lv, ValidationLevel) for lv in levels))
    if "gap" in levels and "qpv" not in levels:
        levels = tuple(lv for lv in choices(ValidationLevel) if lv in levels + ("qpv",))
    sae_methods = tuple(dict.fromkeys(check_choice("sae_methods", m, SAE_METHODS) for m in sae_methods))
    check_choice("allocation", allocation, ("proportional", "power"))
    if sae and not sae_methods:
        raise OptionError(
            message(
                "no small-area estimator given",
                where="parameter sae_methods",
                expected="one or more of " + ", ".join(SAE_METHODS),
            )
        )
    pps = tuple(dict.fromkeys(check_option("pps", m, PPSMethod) for m in pps))
    if pps and design != "two-stage":
        raise OptionError(
            message(
                "PPS variances apply to the two-stage design",
                where="parameter pps",
                found=f"design {design}",
                hint="set parameter design to 'two-stage'",
            )
        )
    pps_levels = tuple(lv for lv in ("national", "qpv") if lv in levels)
    if pps and not pps_levels:
        raise OptionError(
            message(
                "PPS variances are evaluated on the national and QPV rates",
                where="parameter pps",
                hint="add national or qpv to the levels",
            )
        )
    if sae and "territory" not in levels:
        raise OptionError(
            message(
                "small-area estimates need the territory level",
                where="parameter sae",
                hint="add territory to the levels",
            )
        )
    rec = population.recipients
    rights = list(rights) if rights else ["cmuc", "acs", "tpn", "tss"]
    strata = list(strata) if strata else list(DEFAULT_STRATA[design])
    check_columns(rec, rights, role="right column", source="the population")
    check_columns(rec, strata, role="stratum column", source="the population")
    if design == "two-stage" and "territory" in strata:
        raise OptionError(
            message(
                "territories are the PSUs of the two-stage design, not strata",
                where="parameter strata",
                hint="use strata that contain territories, e.g. is_qpv",
            )
        )
    return _Options(
        design=design,
        n=n,
        replications=replications,
        n_psu=n_psu,
        workers=workers,
        rngs=rngs,
        methods=methods,
        bands=bands,
        level=level,
        df=df,
        levels=levels,
        sae=sae,
        sae_methods=sae_methods,
        allocation=allocation,
        pps=pps,
        pps_levels=pps_levels,
        rights=rights,
        strata=strata,
    )


def _sampling_frame(rec: pd.DataFrame, rights: list[str], strata: list[str], codes: dict) -> pd.DataFrame:
    """The population as the samplers draw it: row number ``id``, the coded domain columns, the strata and
    the rights as floats (NaN = not eligible)."""
    return pd.DataFrame(
        {
            "id": np.arange(len(rec)),
            **{c: codes[c] for c in codes},
            **{s: rec[s] for s in strata if s not in codes},
            **{r: rec[r].to_numpy(dtype=float) for r in rights},
        }
    )


def _small_area_inputs(
    population,
    rights: list[str],
    codes: dict,
    labels: dict,
    covariates: Sequence[str],
    sae_methods: tuple[str, ...],
    unit_covariates: list[str],
):
    """What the small-area fits of every sample share: the territories table (``territory`` as text, the
    covariates checked), the territory targets and, for ``unit``, the recipients' frame of the unit-level model
    (territory label, unit covariates as text, rights); None without ``unit``."""
    rec = population.recipients
    aux = population.territories.assign(territory=population.territories["territory"].astype(str))
    check_columns(aux, covariates, role="covariate", source="the territories")
    sae_targets = build_targets(rec, rights, ("territory",), codes, labels)
    unit_frame = None
    if "unit" in sae_methods:
        check_columns(rec, unit_covariates, role="unit covariate", source="the population")
        unit_frame = pd.DataFrame(
            {
                "territory": labels["territory"][codes["territory"]],
                **{c: rec[c].astype(str).to_numpy() for c in unit_covariates},
                **{r: rec[r].to_numpy(dtype=float) for r in rights},
            }
        )
    return aux, sae_targets, unit_frame


def _band_name(lo: int, hi: float) -> str:
    """Estimator name of the direct estimates over the replications with ``lo`` to ``hi`` respondents."""
    return f"direct/n{lo}+" if np.isinf(hi) else (f"direct/n{lo}" if hi == lo else f"direct/n{lo}-{int(hi)}")


class _Sums:
    """Running sums (:class:`Accumulator`) of every estimator of a study, in the order of the output table.

    Blocks: ``direct``; the gap's (t interval); each small-area method over all replications, those where the
    territory is sampled and those where it is not; ``direct`` again for each respondent band; ``direct, pps
    <method>`` for each first-stage PPS variance.
    """

    def __init__(
        self,
        targets: Targets,
        methods: tuple[str, ...],
        gap_targets: Targets | None,
        sae_targets: Targets | None,
        sae_methods: tuple[str, ...],
        bands: list[int],
        pps_targets: Targets | None,
        pps: tuple[str, ...],
    ) -> None:
        self.direct = Accumulator(targets.truth, methods)
        self.parts = [(targets, "direct", self.direct)]
        self.gap: Accumulator | None = None
        if gap_targets is not None:
            self.gap = Accumulator(gap_targets.truth, ("t",))
            self.parts.append((gap_targets, "direct", self.gap))
        self.sae: dict[str, tuple[Accumulator, ...]] = {}
        if sae_targets is not None:  # with sae
            for m in sae_methods:
                cis = UNIT_INTERVALS if m == "unit" else ("normal",)
                accs = tuple(Accumulator(sae_targets.truth, cis) for _ in range(3))  # all, sampled, unsampled
                self.sae[m] = accs
                for acc, suffix in zip(accs, ("", "/sampled", "/unsampled")):
                    self.parts.append((sae_targets, _sae_name(m) + suffix, acc))
        self.bands: list[tuple[int, float, Accumulator]] = []
        for i, lo in enumerate(bands):  # the direct estimates again, over the replications of each respondent band
            hi = bands[i + 1] - 1 if i + 1 < len(bands) else np.inf
            self.bands.append((lo, hi, Accumulator(targets.truth, methods)))
            self.parts.append((targets, _band_name(lo, hi), self.bands[-1][2]))
        self.pps: list[Accumulator] = []
        if pps_targets is not None:  # with pps
            self.pps = [Accumulator(pps_targets.truth, methods) for _ in pps]
            self.parts += [(pps_targets, f"direct, pps {m}", acc) for m, acc in zip(pps, self.pps)]

    def add(self, rates, gap, small_area, pps_rates, n_resp) -> None:
        """Add one replication, as :meth:`_Replication.run` returns it."""
        self.direct.add(*rates)
        for lo, hi, acc in self.bands:  # NaN outside the band: not counted
            keep = (n_resp >= lo) & (n_resp <= hi)
            est, se_, low, high = rates
            acc.add(
                np.where(keep, est, np.nan),
                np.where(keep, se_, np.nan),
                np.where(keep, low, np.nan),
                np.where(keep, high, np.nan),
            )
        if gap is not None and self.gap is not None:  # the gap is estimated when its level is asked for
            self.gap.add(*gap)
        for m, (eb, rmse, lo, hi, ins) in small_area.items():
            a_all, a_in, a_out = self.sae[m]
            a_all.add(eb, rmse, lo, hi)
            for acc, keep in ((a_in, ins == 1), (a_out, ins == 0)):  # NaN elsewhere: not counted
                acc.add(*(np.where(keep, a, np.nan) for a in (eb, rmse, lo, hi)))
        for acc, r in zip(self.pps, pps_rates):
            acc.add(*r)

    def table(self) -> pd.DataFrame:
        """The measures of every block (estimands with a finite truth), sorted by level then estimator
        (stable): ``level``, ``estimator``, ``domain``, ``right``, then the measures."""
        blocks = []
        for tg, estimator, acc in self.parts:
            keys = tg.table[["level", "domain", "right"]]
            M = len(acc.methods)
            blocks.append(
                pd.concat(
                    [
                        keys.iloc[np.repeat(np.arange(len(keys)), M)]
                        .reset_index(drop=True)
                        .assign(estimator=estimator),
                        acc.measures(),
                    ],
                    axis=1,
                )
            )
        table = pd.concat(blocks, ignore_index=True)
        table = table[np.isfinite(table["truth"].to_numpy(float))]
        order = table["level"].map({lv: i for i, lv in enumerate(choices(ValidationLevel))})
        table = table.assign(_o=order).sort_values(["_o", "estimator"], kind="stable").drop(columns="_o")
        first = ["level", "estimator", "domain", "right"]
        return table[first + [c for c in table.columns if c not in first]].reset_index(drop=True)


def _domain_codes(rec: pd.DataFrame) -> tuple[dict, dict]:
    """Integer codes and labels (:func:`~.targets.code_column`) of the domain columns ``is_qpv``, ``benefit`` and
    ``territory``."""
    codes, labels = {}, {}
    for col in ("is_qpv", "benefit", "territory"):
        codes[col], labels[col] = code_column(rec[col])
    return codes, labels


def _prepare(
    population,
    opts: _Options,
    codes: dict,
    labels: dict,
    *,
    covariates: Sequence[str],
    unit_covariates: list[str],
    unit_replicates: int,
) -> tuple[_Replication, _Sums]:
    """What does not change between replications: the targets of each estimator, the sampler, the small-area
    inputs (with ``sae``), gathered in a :class:`_Replication`; and the empty running sums."""
    rec = population.recipients
    rate_levels = tuple(lv for lv in opts.levels if lv != "gap")
    targets = build_targets(rec, opts.rights, rate_levels, codes, labels)
    sampler = _Sampler(
        _sampling_frame(rec, opts.rights, opts.strata, codes),
        opts.design,
        opts.n,
        opts.strata,
        opts.n_psu,
        opts.allocation,
    )
    gap_targets = build_targets(rec, opts.rights, ("gap",), codes, labels) if "gap" in opts.levels else None
    aux = sae_targets = unit_frame = None
    if opts.sae:
        aux, sae_targets, unit_frame = _small_area_inputs(
            population, opts.rights, codes, labels, covariates, opts.sae_methods, unit_covariates
        )
    sae_methods = opts.sae_methods if opts.sae else ()
    pps_targets = build_targets(rec, opts.rights, opts.pps_levels, codes, labels) if opts.pps else None
    sums = _Sums(targets, opts.methods, gap_targets, sae_targets, sae_methods, opts.bands, pps_targets, opts.pps)
    rep = _Replication(
        sampler,
        targets,
        opts.rights,
        opts.levels,
        opts.methods,
        opts.level,
        opts.df,
        aux,
        list(covariates),
        sae_methods,
        unit_frame,
        unit_covariates,
        unit_replicates,
        opts.pps,
        pps_targets,
        opts.pps_levels,
    )
    return rep, sums


def _run_replications(
    rep: _Replication,
    rngs: list[np.random.Generator],
    sums: _Sums,
    *,
    workers: int,
    progress: Callable[[int, int], None] | None,
) -> float:
    """Draw and estimate one sample per generator, in chunks on ``workers`` processes, and add them to ``sums``
    in replication order (so that the sums do not depend on ``workers``); returns the seconds spent."""
    replications = len(rngs)
    size = -(-replications // (1 if workers == 1 else 4 * workers))  # a few chunks per worker balance the load
    tasks = [(rep, [rngs[i] for i in idx]) for idx in chunks(replications, size)]
    t0 = time.perf_counter()
    done = 0
    for results in ordered_map(_run_chunk, tasks, workers=workers):  # chunks back in replication order
        for result in results:
            sums.add(*result)
            done += 1
            if progress is not None:
                progress(done, replications)
    return time.perf_counter() - t0


def _settings(opts: _Options, *, seed, covariates: Sequence[str], population, territories: int) -> dict:
    """What determines the results of a study (:attr:`ValidationResult.settings`); ``pps`` and ``n_bands`` only
    when asked for, so that the settings of earlier studies stay as they were."""
    settings = {
        "design": opts.design,
        "n": opts.n,
        "replications": opts.replications,
        "seed": None if isinstance(seed, np.random.Generator) else int(seed),
        "rights": opts.rights,
        "ci": list(opts.methods),
        "level": float(opts.level),
        "df": opts.df,
        "levels": list(opts.levels),
        "strata": opts.strata,
        "n_psu": opts.n_psu if opts.design == "two-stage" else None,
        "sae": bool(opts.sae),
        "sae_methods": list(opts.sae_methods) if opts.sae else None,
        "allocation": opts.allocation,
        "covariates": list(covariates) if opts.sae else None,
        "population_seed": population.seed,
        "recipients": len(population.recipients),
        "territories": territories,
    }
    if opts.pps:
        settings["pps"] = list(opts.pps)
    if opts.bands:
        settings["n_bands"] = opts.bands
    return settings


def run_validation(
    population,
    *,
    design: ValidationDesign | str = "stratified",
    n: int,
    replications: int,
    seed: int | np.random.Generator,
    rights: Sequence[str] | None = None,
    ci: Sequence[str] = DEFAULT_CI,
    level: float = 0.95,
    df: str = "domain",
    levels: Sequence[str] = choices(ValidationLevel),
    strata: Sequence[str] | None = None,
    n_psu: int = 10,
    sae: bool = False,
    covariates: Sequence[str] = DEFAULT_COVARIATES,
    sae_methods: Sequence[str] = ("reml",),
    allocation: str = "proportional",
    unit_covariates: Sequence[str] = DEFAULT_UNIT_COVARIATES,
    unit_replicates: int = 50,
    progress: Callable[[int, int], None] | None = None,
    workers: int = 1,
    pps: Sequence[str] = (),
    n_bands: Sequence[int] = (),
) -> ValidationResult:
    r"""Draw ``replications`` samples from one population and measure bias, SEs and CI coverage.

    Parameters
    ----------
    population : Population
        From :func:`~nonrecours.simulate.simulate_population`; the truth is
        computed from its recipients.
    design : {"stratified", "two-stage"}
        Stratified SRS without replacement (default strata: territory), or
        two-stage: territories by Sampford PPS within strata (default: QPV
        status), ``n_psu`` per stratum, then SRS of recipients.
    n : int
        Sample size (proportional allocation, at least 2 per stratum).
    replications : int
        Number of samples (>= 2).
    seed : int or numpy.random.Generator
        Seed of the draws (required).
    rights : sequence of str, optional
        Rights (default: all four).
    ci : sequence of str
        CI methods of :func:`~nonrecours.estimation.intervals.proportion_ci`, or ``auto``
        (the rule of ``estimate``'s default, :func:`~nonrecours.estimation.intervals.auto_ci`).
    level : float
        Confidence level.
    df : {"domain", "design", "inf"}
        Degrees-of-freedom rule.
    levels : sequence of str
        Among ``national``, ``qpv``, ``gap``, ``benefit``, ``territory``.
    strata : sequence of str, optional
        Stratum columns (default as above).
    n_psu : int
        Territories drawn per stratum (two-stage).
    sae : bool
        Also fit the Fay–Herriot model on the territory estimates of each sample
        (``level = territory``, ``estimator = fay-herriot``, CI ``normal``:
        EBLUP :math:`\pm z \sqrt{\mathrm{mse}}`, Prasad–Rao MSE).
    covariates : sequence of str
        Territory covariates of the Fay–Herriot model.
    progress : callable, optional
        Called as ``progress(done, replications)`` after each sample (the
        command line draws a progress bar).
    sae_methods : sequence of str
        Small-area estimators evaluated with ``sae``: Fay–Herriot by ``reml``
        (estimator ``fay-herriot``), ``ml``, ``fh``, ``amrl``, ``amrl-yl``
        (``fay-herriot-<method>``), and ``unit`` (``unit-ebp``: the unit-level
        logit-normal EBP over the population's recipients, bootstrap MSE with
        ``unit_replicates`` replicates). Each is reported three times: over all
        replications (its name), and over the replications where the territory
        has respondents (``<name>/sampled``) or none (``<name>/unsampled``).
    allocation : {"proportional", "power"}
        Allocation of ``n`` to the strata (``power``: :math:`N_h^{0.5}`, the demo's).
    unit_covariates : sequence of str
        Recipient columns of the unit-level model.
    unit_replicates : int
        Bootstrap replicates of the unit-level MSE in each replication.
    workers : int
        Processes drawing and estimating the samples (joblib/loky); the
        results do not depend on it.
    pps : sequence of {"brewer", "overton", "hartley-rao", "ht", "yg"}
        Two-stage only: also estimate the national and QPV rates of every sample
        with these first-stage variances (Sampford inclusion and joint
        probabilities of the draw), as estimators ``direct, pps <method>`` beside
        ``direct`` (the SRS-of-PSUs approximation with the average FPC), on the
        same samples.
    n_bands : sequence of int
        Lower ends of bands of respondents, e.g. ``(1, 5, 11, 30)``: the direct estimates are also
        reported over the replications where the estimand's domain had that many respondents, as
        estimators ``direct/n1-4``, ``direct/n5-10``, ``direct/n11-29``, ``direct/n30+``.

    Returns
    -------
    ValidationResult

    Notes
    -----
    The per-replication loop draws and estimates one sample; within it, every
    level is one vectorised call over all its domains x rights, and every CI
    method one vectorised call over all estimands. The gap's interval is its
    t interval (reported under ``wald``). Memory does not grow with the
    number of replications (running sums). Replication :math:`r` draws from
    its own generator, the :math:`r`-th child of ``SeedSequence(seed).spawn``;
    replications run in chunks on ``workers`` processes and are added to the
    running sums in replication order, so that the results are bit-identical
    whatever the number of workers.

    Examples
    --------
    >>> from nonrecours.simulate import simulate_population
    >>> pop = simulate_population(5, seed=1)
    >>> res = run_validation(pop, n=600, replications=5, seed=2, levels=("national",))
    >>> sorted(res.to_frame()["ci"].unique())
    ['beta', 'logit', 'wald', 'wilson']
    """
    opts = _check_options(
        population,
        design=design,
        n=n,
        replications=replications,
        seed=seed,
        rights=rights,
        ci=ci,
        level=level,
        df=df,
        levels=levels,
        strata=strata,
        n_psu=n_psu,
        sae=sae,
        sae_methods=sae_methods,
        allocation=allocation,
        workers=workers,
        pps=pps,
        n_bands=n_bands,
    )
    codes, labels = _domain_codes(population.recipients)
    rep, sums = _prepare(
        population,
        opts,
        codes,
        labels,
        covariates=covariates,
        unit_covariates=list(unit_covariates),
        unit_replicates=unit_replicates,
    )
    elapsed = _run_replications(rep, opts.rngs, sums, workers=opts.workers, progress=progress)
    settings = _settings(
        opts, seed=seed, covariates=covariates, population=population, territories=len(labels["territory"])
    )
    return ValidationResult(table=sums.table(), settings=settings, elapsed=elapsed, workers=opts.workers)
