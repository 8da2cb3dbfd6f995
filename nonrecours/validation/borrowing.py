r"""Which territory model: Monte Carlo comparison of the models that borrow strength over years, rights, neighbours.

One multi-year population is fixed (:func:`~nonrecours.simulate.waves.simulate_waves`: territory effects
persistent over years, shared by the rights, spatially smooth); each replication draws one independent sample
per year (stratified SRS without replacement, strata ``is_qpv``, proportional allocation), estimates every
territory x right x year directly with :func:`~nonrecours.estimation.estimate_rates`, and fits every model of
:func:`~nonrecours.territorial.borrowing.fit_borrowing` on those estimates: univariate Fay–Herriot (``fh``),
Rao–Yu over the years, the multivariate Fay–Herriot over the rights and the spatial Fay–Herriot over the
neighbours of :attr:`~nonrecours.simulate.waves.Waves.neighbours`. The truth is each year's finite-population
rate. Bias, empirical SE, RMSE and the coverage of :math:`\hat\theta \pm z\sqrt{\mathrm{mse}}` are accumulated
per territory x year x right (:class:`~nonrecours.validation.metrics.Accumulator`), over all replications and
over those where the territory had respondents (``/sampled``) or none (``/unsampled``).
"""

from __future__ import annotations

import time
import warnings
from collections.abc import Callable, Sequence

import numpy as np
import pandas as pd

from .._checks import check_choice, check_level
from .._parallel import check_workers, chunks, ordered_map, spawn
from ..design import SurveyDesign
from ..design._strata import index_strata
from ..design.allocation import allocate_frame
from ..design.selection import srswor_draw
from ..errors import NonrecoursError, OptionError, message
from ..estimation import QualityThresholds, estimate_rates
from ..territorial.borrowing import BORROW_MODELS, fit_borrowing
from ..territorial.proportions import gvf_variance
from .metrics import Accumulator
from .study import DEFAULT_COVARIATES, ValidationResult

__all__ = ["run_borrowing_validation", "borrowing_gains"]

_ALL = QualityThresholds(min_n=0, reliable_n=0)
_PARTS = ("", "/sampled", "/unsampled")


def _check_int(value, name: str, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise OptionError(
            message(f"{name} must be an integer >= {minimum}", where=f"parameter {name}", found=repr(value))
        )
    return int(value)


class _Year:
    """One year's sampling frame (``id``, ``is_qpv``, territory code, rights) and its stratified draw."""

    def __init__(self, recipients: pd.DataFrame, codes: pd.Index, rights: list[str], n: int) -> None:
        self.frame = pd.DataFrame(
            {
                "id": np.arange(len(recipients)),
                "is_qpv": recipients["is_qpv"].to_numpy(np.int64),
                "territory": codes.get_indexer(recipients["territory"].astype(str)),
                **{r: recipients[r].to_numpy(dtype=float) for r in rights},
            }
        )
        alloc = allocate_frame(self.frame, ["is_qpv"], n=n, method="proportional", min_n=2)
        index = index_strata(self.frame, ["is_qpv"])
        self.codes = index.codes
        self.n_h = alloc.sizes().reindex(pd.Index(index.labels).astype(str)).to_numpy(np.int64)
        self.N_h = index.N.astype(float)

    def draw(self, rng: np.random.Generator) -> SurveyDesign:
        rows = np.flatnonzero(srswor_draw(self.codes, self.n_h, rng))
        h = self.codes[rows]
        data = (
            self.frame.iloc[rows]
            .reset_index(drop=True)
            .assign(stratum=h, weight=self.N_h[h] / self.n_h[h], fpc=self.N_h[h])
        )
        return SurveyDesign(data, weight="weight", strata="stratum", fpc="fpc")


def _direct(design: SurveyDesign, rights: list[str], labels: np.ndarray, year: int) -> pd.DataFrame:
    """Direct estimates of every sampled territory x right, with GVF-smoothed SEs per right (the territorial
    stage's default: :func:`~nonrecours.territorial.proportions.gvf_variance`)."""
    r = estimate_rates(design, rights, by="territory", ci="wald", thresholds=_ALL)
    d = pd.DataFrame(
        {
            "territory": labels[r.domains["territory"].to_numpy(np.int64)],
            "year": year,
            "right": np.asarray(r.right, dtype=str),
            "n": np.asarray(r.n, dtype=float),
            "estimate": np.asarray(r.raw_estimate, dtype=float),
            "deff": np.asarray(r.deff, dtype=float),
        }
    )
    d = d[np.isfinite(d["estimate"]) & (d["n"] > 0)].reset_index(drop=True)
    se = np.full(len(d), np.nan)
    for right in rights:  # four rights: one pooled variance function each
        m = (d["right"] == right).to_numpy()
        if m.any():
            D, _, _ = gvf_variance(d.loc[m, "estimate"].to_numpy(), d.loc[m, "n"].to_numpy(), d.loc[m, "deff"])
            se[m] = np.sqrt(D)
    return d.assign(se=se)


class _Replication:
    """Everything a replication needs besides its generator: the years' samplers, the covariates, the
    neighbours, the estimand index."""

    def __init__(self, years, samplers, labels, rights, aux, covariates, neighbours, models, level, method):
        self.years, self.samplers, self.labels, self.rights = years, samplers, labels, rights
        self.aux, self.covariates, self.neighbours = aux, covariates, neighbours
        self.models, self.level, self.method = models, level, method

    def position(self, fit: pd.DataFrame) -> np.ndarray:
        """Index of each output row in the estimand order (territory-major, then year, then right)."""
        T, R = len(self.years), len(self.rights)
        t = pd.Index(self.labels).get_indexer(fit["territory"].astype(str))
        y = pd.Index(self.years).get_indexer(fit["year"].to_numpy(int))
        r = pd.Index(self.rights).get_indexer(fit["right"].astype(str))
        return (t * T + y) * R + r

    def run(self, rng: np.random.Generator) -> dict:
        """One sample per year, every model fitted: {model: ((eblup, rmse, low, high, in_sample), failed fits)}.

        The models fitted right by right (all but ``multivariate``) are called one right at a time, so that a fit
        that fails (no convergence, too few territories) leaves that right missing in this sample, not the
        others; its estimates stay NaN."""
        direct = pd.concat(
            [_direct(s.draw(rng), self.rights, self.labels, y) for y, s in zip(self.years, self.samplers)],
            ignore_index=True,
        )
        K = len(self.labels) * len(self.years) * len(self.rights)
        out: dict = {}
        for model in self.models:
            arrays = [np.full(K, np.nan) for _ in range(5)]
            groups = [self.rights] if model == "multivariate" else [[r] for r in self.rights]
            failed = 0
            for rights in groups:
                try:
                    with warnings.catch_warnings():
                        warnings.simplefilter("ignore")
                        fit = fit_borrowing(
                            direct,
                            self.aux,
                            self.covariates,
                            model=model,
                            time="year",
                            neighbours=self.neighbours if model == "spatial" else None,
                            method=self.method,
                            level=self.level,
                            rights=rights,
                        ).table
                except NonrecoursError:  # counted, and missing in this sample
                    failed += 1
                    continue
                pos = self.position(fit)
                for arr, col in zip(arrays, ("eblup", "rmse", "ci_low", "ci_high", "in_sample")):
                    arr[pos] = fit[col].to_numpy(float)
            out[model] = (tuple(arrays), failed)
        return out


def _run_chunk(rep: _Replication, rngs: list) -> list:
    return [rep.run(rng) for rng in rngs]


def run_borrowing_validation(
    waves,
    *,
    n: int,
    replications: int,
    seed: int | np.random.Generator,
    models: Sequence[str] = BORROW_MODELS,
    rights: Sequence[str] | None = None,
    covariates: Sequence[str] = DEFAULT_COVARIATES,
    level: float = 0.95,
    method: str = "reml",
    workers: int = 1,
    progress: Callable[[int, int], None] | None = None,
) -> ValidationResult:
    r"""Compare the territory models on repeated samples of a simulated multi-year population.

    Parameters
    ----------
    waves : Waves
        From :func:`~nonrecours.simulate.waves.simulate_waves` (at least two years for ``rao-yu``); its
        ``neighbours`` serve the spatial model, its first year's territories the covariates.
    n : int
        Sample size of each year (independent samples, stratified by ``is_qpv``, proportional allocation).
    replications : int
        Samples per year (>= 2).
    seed : int or numpy.random.Generator
        Seed of the draws; replication :math:`r` uses the :math:`r`-th child of ``SeedSequence(seed)``.
    models : sequence of {"fh", "rao-yu", "multivariate", "spatial"}
        Models of :func:`~nonrecours.territorial.borrowing.fit_borrowing`.
    rights : sequence of str, optional
        Rights (default: the four).
    covariates : sequence of str
        Territory covariates (the first year's territories table).
    level : float
        Level of the intervals :math:`\hat\theta \pm z\sqrt{\mathrm{mse}}` (analytic MSE of each model).
    method : {"reml", "ml"}
        Variance-component method (``multivariate`` is REML only).
    workers : int
        Processes; the results do not depend on it.
    progress : callable, optional
        ``progress(done, replications)``.

    Returns
    -------
    ValidationResult
        ``table``: one row per model (``estimator``: the model, ``<model>/sampled``, ``<model>/unsampled``) x
        territory x year x right, with ``level = "territory"``, ``domain`` the territory, ``year`` and the
        measures of :data:`~nonrecours.validation.metrics.MEASURE_COLUMNS` (CI ``normal``); its
        :meth:`~ValidationResult.summary` gives per model the mean coverage and the RMSE over the estimands;
        :func:`borrowing_gains` the RMSE of each model relative to ``fh``. ``settings["failed"]`` counts the
        fits that failed per model (one per right, or per replication for ``multivariate``; their estimates are
        missing from that replication).

    Notes
    -----
    Sampling variances are the generalised variance function of the territorial stage, per right and year,
    :math:`D_d = \bar p(1-\bar p)\,\overline{\mathrm{deff}}/n_d` (samples of different years are independent,
    so the between-year sampling covariances are 0; the between-right covariances within a territory are
    left out: diagonal, as ``fit_borrowing`` without ``covariances``). RMSE of a model is
    :math:`\sqrt{K^{-1}\sum_k (\mathrm{bias}_k^2 + \mathrm{SE}_k^2)}` over its estimands.

    Examples
    --------
    >>> from nonrecours.simulate.waves import simulate_waves
    >>> w = simulate_waves(15, (2014, 2015, 2016), seed=1)
    >>> res = run_borrowing_validation(w, n=900, replications=2, seed=2, models=("fh", "rao-yu"), rights=["acs"])
    >>> sorted(res.summary()["estimator"].unique())[:2]
    ['fh', 'fh/sampled']
    """
    n = _check_int(n, "n", 2)
    replications = _check_int(replications, "replications", 2)
    workers = check_workers(workers)
    check_level(level)
    models = tuple(dict.fromkeys(check_choice("models", m, BORROW_MODELS) for m in models))
    if not models:
        raise OptionError(
            message("no model given", where="parameter models", expected="one or more of " + ", ".join(BORROW_MODELS))
        )
    if "rao-yu" in models and len(waves.years) < 2:
        raise OptionError(
            message(
                "the Rao-Yu model needs several years",
                where="parameter waves",
                found=f"{len(waves.years)} year",
                hint="simulate two years or more, or leave rao-yu out of the models",
            )
        )
    rights = list(rights) if rights else ["cmuc", "acs", "tpn", "tss"]
    first = waves.populations[0]
    aux = first.territories.assign(territory=first.territories["territory"].astype(str))
    labels = aux["territory"].to_numpy().astype(str)
    codes = pd.Index(labels)
    years = tuple(int(y) for y in waves.years)
    samplers = [_Year(p.recipients, codes, rights, n) for p in waves.populations]
    rep = _Replication(years, samplers, labels, rights, aux, list(covariates), waves.neighbours, models, level, method)
    truth = waves.truth()
    truth = truth[truth["right"].isin(rights)]
    tv = np.full(len(labels) * len(years) * len(rights), np.nan)
    tv[rep.position(truth)] = truth["rate"].to_numpy(float)
    accs = {m: tuple(Accumulator(tv, ("normal",)) for _ in _PARTS) for m in models}
    failed = dict.fromkeys(models, 0)
    rngs = spawn(seed, replications)
    size = -(-replications // (1 if workers == 1 else 4 * workers))
    tasks = [(rep, [rngs[i] for i in idx]) for idx in chunks(replications, size)]
    t0 = time.perf_counter()
    done = 0
    for results in ordered_map(_run_chunk, tasks, workers=workers):
        for result in results:
            for m, (arrays, n_failed) in result.items():
                failed[m] += n_failed
                eb, rmse, lo, hi, ins = arrays
                a_all, a_in, a_out = accs[m]
                a_all.add(eb, rmse, lo, hi)
                for acc, keep in ((a_in, ins == 1), (a_out, ins == 0)):
                    acc.add(*(np.where(keep, a, np.nan) for a in (eb, rmse, lo, hi)))
            done += 1
            if progress is not None:
                progress(done, replications)
    elapsed = time.perf_counter() - t0
    T, R = len(years), len(rights)
    keys = pd.DataFrame(
        {
            "level": "territory",
            "domain": np.repeat(labels, T * R),
            "year": np.tile(np.repeat(np.asarray(years), R), len(labels)),
            "right": np.tile(np.asarray(rights), len(labels) * T),
        }
    )
    blocks = [
        pd.concat([keys.assign(estimator=m + part), acc.measures()], axis=1)
        for m in models
        for part, acc in zip(_PARTS, accs[m])
    ]
    table = pd.concat(blocks, ignore_index=True)
    table = table[np.isfinite(table["truth"].to_numpy(float))]
    first_cols = ["level", "estimator", "domain", "year", "right"]
    table = table[first_cols + [c for c in table.columns if c not in first_cols]].reset_index(drop=True)
    settings = {
        "design": "stratified",
        "strata": ["is_qpv"],
        "n": n,
        "replications": replications,
        "seed": None if isinstance(seed, np.random.Generator) else int(seed),
        "years": list(years),
        "rights": rights,
        "models": list(models),
        "method": method,
        "covariates": list(covariates),
        "level": float(level),
        "variance": "gvf",
        "population_seed": waves.seed,
        "recipients": [len(p.recipients) for p in waves.populations],
        "territories": len(labels),
        "failed": failed,
    }
    return ValidationResult(table=table, settings=settings, elapsed=elapsed, workers=workers)


def borrowing_gains(summary: pd.DataFrame, reference: str = "fh") -> pd.DataFrame:
    """RMSE of each model relative to ``reference``, over all, sampled and unsampled territories.

    Parameters
    ----------
    summary : DataFrame
        :meth:`ValidationResult.summary` of :func:`run_borrowing_validation`.
    reference : str
        The model compared with (univariate Fay–Herriot).

    Returns
    -------
    DataFrame
        ``model``, ``territories`` (``all``, ``sampled``, ``unsampled``), ``rmse``, ``coverage``,
        ``coverage_mcse``, ``rmse_change`` (relative to the reference: -0.15 is 15 % below it).
    """
    s = summary.copy()
    parts = s["estimator"].str.split("/", n=1, expand=True).reindex(columns=[0, 1])
    s = s.assign(model=parts[0], territories=parts[1].fillna("all"))
    ref = s[s["model"] == reference].set_index("territories")["rmse"]
    s["rmse_change"] = s["rmse"].to_numpy() / s["territories"].map(ref).to_numpy() - 1.0
    return s[["model", "territories", "rmse", "coverage", "coverage_mcse", "rmse_change"]].reset_index(drop=True)
