"""Unit-level small-area estimates of take-up: logit-normal mixed model and empirical best predictor.

For each right, the eligible respondents of the sample give a binary take-up
:math:`y_j`; the register (the sampling frame) gives, for every territory, the
number of eligible recipients in each cell of the unit-level covariates
(benefit, age band, household, housing, ...). The model (:mod:`.glmm`) is

.. math:: \\mathrm{logit}\\, P(y_j = 1 \\mid u_i) = x_j^\\top\\beta + u_i,\\quad u_i \\sim N(0, \\sigma^2),

with territory covariates allowed in :math:`x_j`. The target is each territory's
take-up rate over its whole eligible population. Its empirical best predictor
(EBP) keeps the respondents' own outcomes and predicts the others:

.. math:: \\hat\\theta_i = \\frac{1}{N_i}\\sum_{c \\in i}\\Big[y_c + (N_c - n_c)\\,
          E\\big(\\mathrm{expit}(x_c^\\top\\hat\\beta + u_i) \\mid y_i\\big)\\Big],

where :math:`N_c` is the register's count of the cell, :math:`n_c` and :math:`y_c`
the respondents and takers in it (non-respondents and non-sampled recipients
alike are predicted: missing at random given the covariates). The conditional
expectation is computed by adaptive Gauss–Hermite quadrature on the posterior of
:math:`u_i`; a territory without respondents gets the marginal prediction
(:math:`u_i` integrated over :math:`N(0, \\hat\\sigma^2)`). This is the
"sample + predicted remainder" form of the EBP (Molina & Rao 2010; Rao & Molina
2015, section 9.4), not the census form that predicts every unit.

MSE: the parametric bootstrap of González-Manteiga, Lombardía, Molina, Morales &
Santamaría (2007): populations are generated from the fitted model cell by cell
(binomial counts, sample and remainder drawn separately), the model is refitted
to each bootstrap sample and the bootstrap EBP compared with the bootstrap
population's rate; all replicates are fitted together (:func:`.glmm.fit_glmm_many`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import sparse
from scipy.special import expit

from .._checks import check_columns, check_level, check_random_state
from .._parallel import check_workers, chunks, ordered_map
from ..errors import InputError, OptionError, message, name_list
from ..estimation._dist import norm_ppf, norm_sf
from ..options import UnitInterval, UnitMSE, UnitSigmaMethod, check_option, choices
from .glmm import GLMMFit, _Cells, fit_glmm, fit_glmm_many, posterior_nodes, prior_nodes
from .territories import OUTPUT_COLUMNS

__all__ = ["UnitFit", "fit_unit", "INTERVALS", "MSE_KINDS", "SIGMA_METHODS"]

#: Estimators of the area-effect variance: adjusted likelihood (never 0), or maximum likelihood.
SIGMA_METHODS: tuple[str, ...] = choices(UnitSigmaMethod)
#: MSE estimators of the unit-level model.
MSE_KINDS: tuple[str, ...] = choices(UnitMSE)
#: Intervals of the unit-level EBP.
INTERVALS: tuple[str, ...] = choices(UnitInterval)
#: Quadrature nodes of the EBP's conditional expectations.
EBP_NODES = 9


@dataclass(frozen=True)
class UnitFit:
    """Unit-level EBPs for every territory x right, with the models behind them.

    Attributes
    ----------
    table : DataFrame
        One row per territory x right, the columns of ``territorial fit``
        (:data:`~.territories.OUTPUT_COLUMNS`): ``direct`` is the respondents'
        (weighted when a weight column is given) take-up rate and ``se_direct`` is
        empty (a design SE comes from ``nonrecours estimate --by territory``);
        ``eblup`` holds the EBP; ``gamma`` is the shrinkage of the territory's
        effect on the logit scale, :math:`1 - \\mathrm{Var}(u_i \\mid y_i)/\\hat\\sigma^2`, 0 without
        respondents; ``synthetic`` the marginal prediction.
    fits : tuple of (str, GLMMFit)
    models : DataFrame
        One row per right: ``right``, ``m``, ``n_predicted``, ``n_respondents``, ``sigma``, ``loglike``,
        ``iterations``, ``nagq``, ``mse``, ``replicates``, ``failed_replicates`` (non-finite refits, left
        out), ``unconverged_replicates`` (refits stopped after 40 steps, kept: a category whose respondents
        are all takers or all non-takers in the replicate has no finite MLE), ``dropped_terms``
        (dummies left out: redundant on the respondents, or a category without respondents,
        which is then merged with the reference category).
    nagq : int
    mse_kind : str
    replicates : int
    level : float
    seed : int or None
    interval : str
        ``percentile`` or ``normal``: how ``ci_low`` and ``ci_high`` were made (see :func:`fit_unit`).
    error_quantiles : DataFrame or None
        With the bootstrap, the rows of ``table`` in its order: ``err_low`` and ``err_high``, the
        ``(1 - level)/2`` and ``(1 + level)/2`` quantiles of the bootstrap prediction errors
        :math:`\\hat\\theta^*_i - \\theta^*_i` (the percentile interval is
        :math:`[\\hat\\theta_i - \\text{err\\_high}, \\hat\\theta_i - \\text{err\\_low}]`).
    """

    table: pd.DataFrame
    fits: tuple[tuple[str, GLMMFit], ...]
    models: pd.DataFrame
    nagq: int
    mse_kind: str
    replicates: int
    level: float
    seed: int | None
    interval: str = "normal"
    error_quantiles: pd.DataFrame | None = None

    def to_frame(self) -> pd.DataFrame:
        """The estimates table (a copy)."""
        return self.table.copy()

    def coefficients_frame(self) -> pd.DataFrame:
        """Fixed effects of every right's model with SEs, z and p-values, and ``sigma``."""
        rows = []
        for right, f in self.fits:
            se = np.sqrt(np.diag(f.coef_cov))
            z = f.coef / se
            rows.append(
                pd.DataFrame(
                    {
                        "right": right,
                        "term": list(f.coef_names),
                        "estimate": f.coef,
                        "se": se,
                        "z": z,
                        "p_value": 2 * norm_sf(np.abs(z)),
                    }
                )
            )
        return pd.concat(rows, ignore_index=True)


@dataclass(frozen=True)
class _Population:
    """One right's register cells and sample counts, with the design matrix and territory indices."""

    territories: np.ndarray  # (T,) labels, sorted
    cell_terr: np.ndarray  # (Cf,) territory index of each register cell
    X: np.ndarray  # (Cf, p)
    N: np.ndarray  # (Cf,) eligible recipients
    n: np.ndarray  # (Cf,) eligible respondents
    y: np.ndarray  # (Cf,) takers among them
    names: tuple[str, ...]
    dropped: tuple[str, ...]  # terms left out: redundant, or a category without respondents
    direct: np.ndarray  # (T,)
    n_resp: np.ndarray  # (T,)

    @property
    def sampled(self) -> np.ndarray:
        """Indices of the register cells holding respondents."""
        return np.flatnonzero(self.n > 0)

    def totals(self, v: np.ndarray) -> np.ndarray:
        """Sum (B, Cf) over the cells of each territory: (B, T)."""
        S = sparse.csr_matrix(
            (np.ones(len(self.cell_terr)), (np.arange(len(self.cell_terr)), self.cell_terr)),
            shape=(len(self.cell_terr), len(self.territories)),
        )
        return np.asarray(np.atleast_2d(v) @ S)


def _levels(frame: pd.DataFrame, col: str) -> list[str]:
    return sorted(pd.unique(frame[col].astype(str)))


def _population(
    sample: pd.DataFrame,
    frame: pd.DataFrame,
    right: str,
    covariates: list[str],
    territory: str,
    aux: pd.DataFrame | None,
    aux_covariates: list[str],
    responded: str | None,
    weight: str | None,
    frame_keys: pd.DataFrame | None = None,
) -> _Population:
    """One right's cells; ``frame_keys`` is ``frame[[territory, *covariates]].astype(str)`` (made once for all
    rights)."""
    where = f"right {right!r}"
    eligible = frame[right].notna().to_numpy()
    fr = frame[eligible]
    if fr.empty:
        raise InputError(
            message(
                "no eligible recipient in the frame",
                where=f"frame, column {right!r}",
                hint="the frame's right column marks eligibility (non-missing = eligible)",
            )
        )
    keep = sample[right].notna().to_numpy().copy()
    if responded is not None:
        keep &= pd.to_numeric(sample[responded], errors="coerce").fillna(0).to_numpy() == 1
    sa = sample[keep]
    yv = pd.to_numeric(sa[right], errors="coerce").to_numpy(dtype=float)
    if not np.isin(yv, (0.0, 1.0)).all():
        raise InputError(
            message(
                "take-up answers must be 0 or 1",
                where=f"sample, column {right!r}",
                found=f"{int((~np.isin(yv, (0.0, 1.0))).sum())} other values",
            )
        )
    keys = [territory, *covariates]
    for name, d in (("frame", fr), ("sample", sa)):
        bad = d[keys].isna().any(axis=1).to_numpy()
        if bad.any():
            raise InputError(
                message(
                    "missing territory or covariate values",
                    where=f"{name}, {where}",
                    found=f"{int(bad.sum())} rows",
                    hint="impute them or drop those rows",
                )
            )
    fk = fr[keys].astype(str) if frame_keys is None else frame_keys[eligible]
    cells = fk.groupby(keys, sort=True).size().rename("N").reset_index()
    sk = sa[keys].astype(str).assign(_y=yv, _n=1.0)
    sc = sk.groupby(keys, sort=True)[["_y", "_n"]].sum().reset_index()
    merged = cells.merge(sc, on=keys, how="outer", indicator=True)
    orphan = merged["_merge"] == "right_only"
    if orphan.any():
        raise InputError(
            message(
                "respondents whose territory x covariate cell has no eligible recipient in the frame",
                where=f"sample, {where}",
                found=f"{int(merged.loc[orphan, '_n'].sum())} respondents",
                hint="the frame must be the register the sample was drawn from, with the same covariate coding",
            )
        )
    merged = merged.sort_values(keys, kind="stable").reset_index(drop=True)
    N = merged["N"].to_numpy(float)
    n = merged["_n"].fillna(0).to_numpy(float)
    y = merged["_y"].fillna(0).to_numpy(float)
    if (n > N).any():
        raise InputError(
            message(
                "more respondents than eligible recipients in a cell",
                where=f"{where}",
                found=f"{int((n > N).sum())} cells",
                hint="the frame must hold every sampled unit",
            )
        )
    terr, cell_terr = np.unique(merged[territory].to_numpy(), return_inverse=True)
    cols, names = [np.ones(len(merged))], ["intercept"]
    for c in covariates:
        lv = _levels(fr, c)
        for level in lv[1:]:
            cols.append((merged[c].to_numpy() == level).astype(float))
            names.append(f"{c}={level}")
    if aux_covariates and aux is not None:  # fit_unit refuses aux_covariates without aux
        a = aux.assign(**{territory: aux[territory].astype(str)}).drop_duplicates(territory).set_index(territory)
        missing = sorted(set(terr) - set(a.index))
        if missing:
            raise InputError(
                message(
                    "territories of the frame have no territory covariates",
                    where="parameter aux",
                    found=f"{len(missing)} absent: {name_list(missing)}",
                )
            )
        Z = a.loc[terr, aux_covariates].apply(pd.to_numeric, errors="coerce").to_numpy(float)
        if not np.isfinite(Z).all():
            raise InputError(
                message(
                    "missing or non-numeric territory covariates",
                    where="parameter aux",
                    found=f"columns {name_list([c for c, b in zip(aux_covariates, ~np.isfinite(Z).all(0)) if b])}",
                )
            )
        for j, c in enumerate(aux_covariates):
            cols.append(Z[cell_terr, j])
            names.append(c)
    X = np.column_stack(cols)
    # a dummy that the others determine on the respondents (e.g. a benefit given only above an age) is dropped:
    # greedy, in order, keeping a column when it raises the rank of the respondents' design
    # and a category without any eligible respondent is merged with the reference (its effect is not estimable)
    Xs = X[n > 0]
    # the rank of any set of columns of Xs = Q R is that of R's same columns (Q orthonormal): p x p matrices,
    # with matrix_rank's default tolerance for Xs's shape
    R = np.asarray(np.linalg.qr(Xs, mode="r"))
    keep = [0]

    def full_rank(cols):
        sv = np.linalg.svd(R[:, cols], compute_uv=False)
        return int(np.sum(sv > sv.max() * max(Xs.shape[0], len(cols)) * np.finfo(float).eps)) == len(cols)

    for j in range(1, X.shape[1]):
        if np.any(Xs[:, j] != 0) and full_rank(keep + [j]):
            keep.append(j)
    dropped = tuple(names[j] for j in range(X.shape[1]) if j not in keep)
    X, names = X[:, keep], [names[j] for j in keep]
    # respondents' own rate per territory (weighted when a weight column is given)
    ti = pd.Index(terr).get_indexer(sa[territory].astype(str))
    wv = np.ones(len(sa)) if weight is None else pd.to_numeric(sa[weight], errors="coerce").to_numpy(float)
    sw = np.bincount(ti, weights=wv, minlength=len(terr))
    with np.errstate(invalid="ignore", divide="ignore"):
        direct = np.bincount(ti, weights=wv * yv, minlength=len(terr)) / sw
    return _Population(
        territories=terr,
        cell_terr=cell_terr,
        X=X,
        N=N,
        n=n,
        y=y,
        names=tuple(names),
        dropped=dropped,
        direct=np.where(sw > 0, direct, np.nan),
        n_resp=np.bincount(ti, minlength=len(terr)),
    )


def _ebp(
    theta: np.ndarray, pop: _Population, Ys: np.ndarray, Yf: np.ndarray, k: int = EBP_NODES
) -> tuple[np.ndarray, np.ndarray]:
    """EBP (B, T) and shrinkage (B, T) for parameters ``theta`` (B, q) and sample successes.

    ``Ys`` (B, Cs): successes of the sampled cells; ``Yf`` (B, Cf): the same on the register's cells.
    """
    p = pop.X.shape[1]
    s_idx = pop.sampled
    s_terr, s_area = np.unique(pop.cell_terr[s_idx], return_inverse=True)
    cells = _Cells.build(s_area, pop.n[s_idx], pop.X[s_idx], len(s_terr))
    uk, wk = posterior_nodes(theta, cells, Ys, k)  # (B, m, k)
    sigma = np.exp(0.5 * theta[:, p])
    B, T = theta.shape[0], len(pop.territories)
    zk, w0 = prior_nodes(sigma, k)  # (B, k), (k,)
    U = np.repeat(zk[:, None, :], T, axis=1)
    W = np.broadcast_to(w0, (B, T, k)).copy()
    U[:, s_terr, :] = uk
    W[:, s_terr, :] = wk
    eta = theta[:, :p] @ pop.X.T  # (B, Cf)
    ep = np.sum(W[:, pop.cell_terr, :] * expit(eta[:, :, None] + U[:, pop.cell_terr, :]), axis=2)
    total = pop.totals(Yf + (pop.N - pop.n) * ep)
    Nt = pop.totals(pop.N)
    # shrinkage on the logit scale from the posterior spread: 1 - var(u | y) / sigma^2 (AGQ), 0 out of sample
    mean_u = np.sum(W * U, axis=2)
    var_u = np.sum(W * U**2, axis=2) - mean_u**2
    gamma = np.clip(1.0 - var_u / (sigma[:, None] ** 2), 0.0, 1.0)
    gamma[:, np.setdiff1d(np.arange(T), s_terr)] = 0.0
    return total / Nt, gamma


def _synthetic(theta: np.ndarray, pop: _Population, k: int = EBP_NODES) -> np.ndarray:
    """Marginal prediction of every territory's rate: u integrated over N(0, sigma^2)."""
    p = pop.X.shape[1]
    zk, w0 = prior_nodes(np.exp(0.5 * theta[:, p]), k)
    eta = theta[:, :p] @ pop.X.T
    ep = expit(eta[:, :, None] + zk[:, None, :]) @ w0
    return pop.totals(pop.N * ep) / pop.totals(pop.N)


#: Bootstrap replicates per unit of work (a spawned generator each): fixed, so that the draws, hence the
#: results, do not depend on the number of workers.
BOOT_CHUNK = 25


def _bootstrap_chunk(
    fit: GLMMFit, pop: _Population, b: int, rng: np.random.Generator, nagq: int, ebp_chunk: int = 10
) -> tuple[np.ndarray, int, int]:
    """``b`` bootstrap replicates: prediction errors (b_ok, T) of the refitted EBP, failed and unconverged counts."""
    theta = fit.theta
    p = pop.X.shape[1]
    s_idx = pop.sampled
    s_terr, s_area = np.unique(pop.cell_terr[s_idx], return_inverse=True)
    cells = _Cells.build(s_area, pop.n[s_idx], pop.X[s_idx], len(s_terr))
    eta = pop.X @ theta[:p]
    T = len(pop.territories)
    Nt = pop.totals(pop.N)[0]
    rest = (pop.N - pop.n).astype(np.int64)
    u = fit.sigma * rng.standard_normal((b, T))
    pr = expit(eta[None, :] + u[:, pop.cell_terr])
    ys = rng.binomial(pop.n.astype(np.int64), pr).astype(float)
    yr = rng.binomial(rest, pr).astype(float)
    truth = pop.totals(ys + yr) / Nt
    th, _, _, _, conv = fit_glmm_many(
        ys[:, s_idx],
        cells,
        theta[None, :],
        nagq=nagq,
        tol=1e-6,
        ftol=1e-8,
        max_iter=40,
        hessian0=fit.hessian,
        adjusted=fit.adjusted,
    )
    # a fit still moving after 40 steps is nearly always a category whose few respondents are all takers
    # or all non-takers in that replicate: its coefficient heads for infinity (no finite MLE) and its
    # predictions for 0 or 1, which is what the estimator gives there; such fits are kept (and counted)
    ok = np.isfinite(th).all(axis=1)
    th, ys, truth = th[ok], ys[ok], truth[ok]
    err = np.empty((len(th), T))
    for j in range(0, len(th), ebp_chunk):  # bounds memory at ebp_chunk x cells x nodes
        est, _ = _ebp(th[j : j + ebp_chunk], pop, ys[j : j + ebp_chunk, s_idx], ys[j : j + ebp_chunk])
        err[j : j + ebp_chunk] = est - truth[j : j + ebp_chunk]
    return err, int((~ok).sum()), int((ok & ~conv).sum())


def _bootstrap(
    fit: GLMMFit,
    pop: _Population,
    *,
    replicates: int,
    rng: np.random.Generator,
    nagq: int,
    level: float,
    workers: int = 1,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, int, int]:
    """Parametric bootstrap of the EBP's prediction error (González-Manteiga et al. 2007).

    Replicates run in chunks of :data:`BOOT_CHUNK`, each with its own generator spawned from ``rng``, on
    ``workers`` processes, and come back in chunk order: the results do not depend on ``workers``.
    Returns the MSE (T,), the ``(1 - level)/2`` and ``(1 + level)/2`` quantiles of the errors
    :math:`\\hat\\theta^*_i - \\theta^*_i` (T,) each, and the failed and unconverged replicate counts.
    """
    sizes = [len(r) for r in chunks(replicates, BOOT_CHUNK)]
    tasks = [(fit, pop, b, g, nagq) for b, g in zip(sizes, rng.spawn(len(sizes)))]
    errs, failed, unconverged = [], 0, 0
    for err, f, u in ordered_map(_bootstrap_chunk, tasks, workers=workers):
        errs.append(err)
        failed += f
        unconverged += u
    err = np.concatenate(errs, axis=0)
    T = len(pop.territories)
    if len(err) == 0:
        nan = np.full(T, np.nan)
        return nan, nan, nan, failed, unconverged
    q_lo, q_hi = np.quantile(err, [(1 - level) / 2, (1 + level) / 2], axis=0)
    return np.mean(err**2, axis=0), q_lo, q_hi, failed, unconverged


def _check_options(
    *, mse: str, sigma_method: str, interval: str, workers: int, level: float, nagq: int, seed, replicates: int
) -> tuple[str, str, str, int, np.random.Generator | None]:
    """Check the options of :func:`fit_unit`; return them with the bootstrap's generator (None without it)."""
    mse = check_option("mse", mse, UnitMSE)
    sigma_method = check_option("sigma_method", sigma_method, UnitSigmaMethod)
    interval = check_option("interval", interval, UnitInterval)
    workers = check_workers(workers)
    check_level(level)
    if not isinstance(nagq, (int, np.integer)) or not 1 <= nagq <= 25:
        raise OptionError(
            message(
                "the number of quadrature nodes must be an integer from 1 to 25",
                where="parameter nagq",
                found=repr(nagq),
            )
        )
    rng = None
    if mse == "bootstrap":
        rng = check_random_state(seed)
        if not isinstance(replicates, (int, np.integer)) or replicates < 2:
            raise OptionError(
                message(
                    "the bootstrap needs at least 2 replicates", where="parameter replicates", found=repr(replicates)
                )
            )
    return mse, sigma_method, interval, workers, rng


def _check_tables(
    sample: pd.DataFrame,
    frame: pd.DataFrame,
    aux: pd.DataFrame | None,
    *,
    territory: str,
    covariates: list[str],
    aux_covariates: list[str],
    rights: list[str],
    responded: str | None,
    weight: str | None,
) -> str | None:
    """Check the rights given and the columns of the sample, the frame and the territories file; return the
    response column, None when the sample has none (every row is then a respondent)."""
    if not rights:
        raise OptionError(message("no right given", where="parameter rights", expected="one or more right columns"))
    if responded is not None and responded not in sample.columns:
        responded = None
    check_columns(sample, [territory, *covariates, *rights, weight], role="column", source="sample")
    check_columns(frame, [territory, *covariates, *rights], role="column", source="frame")
    if aux_covariates:
        if aux is None:
            raise OptionError(
                message(
                    "territory covariates need a territories file",
                    where="parameter aux",
                    hint="give the territories' table (parameter aux)",
                )
            )
        check_columns(
            aux, [territory, *aux_covariates], role="covariate column", source="the territories' table (parameter aux)"
        )
    return responded


def _fit_right(pop: _Population, *, nagq: int, sigma_method: str, right: str) -> tuple[GLMMFit, int]:
    """The logit-normal model of one right fitted to its respondents' cells (:func:`.glmm.fit_glmm`), and the
    number of territories with respondents."""
    s_idx = pop.sampled
    s_terr, s_area = np.unique(pop.cell_terr[s_idx], return_inverse=True)
    fit = fit_glmm(
        pop.y[s_idx],
        pop.n[s_idx],
        pop.X[s_idx],
        s_area,
        len(s_terr),
        nagq=nagq,
        names=pop.names,
        adjusted=sigma_method == "adjusted",
        where=f"right {right!r}",
    )
    return fit, len(s_terr)


def _predict(fit: GLMMFit, pop: _Population) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """EBP, shrinkage and marginal (synthetic) prediction of every territory (T,) at the fitted parameters."""
    th = fit.theta[None, :]
    est, gamma = _ebp(th, pop, pop.y[pop.sampled][None, :], pop.y[None, :])
    synth = _synthetic(th, pop)[0]
    return est[0], gamma[0], synth


def _interval(
    est: np.ndarray, mse: np.ndarray, err_low: np.ndarray, err_high: np.ndarray, *, interval: str, z: float
) -> tuple[np.ndarray, np.ndarray]:
    """Bounds of the ``percentile`` (EBP minus the error quantiles) or ``normal`` (EBP :math:`\\pm z`
    root MSE) interval, clipped to [0, 1]."""
    if interval == "percentile":
        return np.clip(est - err_high, 0, 1), np.clip(est - err_low, 0, 1)
    return np.clip(est - z * np.sqrt(mse), 0, 1), np.clip(est + z * np.sqrt(mse), 0, 1)


def _right_table(
    right: str,
    pop: _Population,
    est: np.ndarray,
    gamma: np.ndarray,
    synth: np.ndarray,
    mse: np.ndarray,
    lo: np.ndarray,
    hi: np.ndarray,
) -> pd.DataFrame:
    """One right's rows of the estimates table (the columns of :data:`~.territories.OUTPUT_COLUMNS`)."""
    T = len(pop.territories)
    return pd.DataFrame(
        {
            "territory": pop.territories,
            "right": right,
            "direct": pop.direct,
            "se_direct": np.full(T, np.nan),
            "eblup": est,
            "mse": mse,
            "rmse": np.sqrt(mse),
            "ci_low": lo,
            "ci_high": hi,
            "gamma": gamma,
            "synthetic": synth,
            "n": pd.array(pop.n_resp, dtype="Int64"),
            "in_sample": pop.n_resp > 0,
        }
    )


def fit_unit(
    sample: pd.DataFrame,
    frame: pd.DataFrame,
    covariates: Sequence[str],
    *,
    rights: Sequence[str],
    territory: str = "territory",
    aux: pd.DataFrame | None = None,
    aux_covariates: Sequence[str] = (),
    nagq: int = 1,
    sigma_method: UnitSigmaMethod | str = "adjusted",
    mse: UnitMSE | str = "bootstrap",
    replicates: int = 200,
    seed: int | np.random.Generator | None = None,
    level: float = 0.95,
    responded: str | None = "responded",
    weight: str | None = None,
    interval: UnitInterval | str = "normal",
    workers: int = 1,
) -> UnitFit:
    """Unit-level EBPs of every territory's take-up rate, one logit-normal model per right.

    Parameters
    ----------
    sample : DataFrame
        Respondents (or the whole sample with a ``responded`` column): ``territory``,
        the covariates and one 0/1 column per right (missing = not eligible or no answer).
    frame : DataFrame
        The register the sample was drawn from: ``territory``, the covariates and the
        right columns, whose non-missing values mark eligibility (their values are not used).
    covariates : sequence of str
        Unit-level categorical covariates known for every recipient (treatment
        coding, first level in sorted order as reference). A dummy that the
        columns before it determine on the respondents (e.g. a benefit paid only
        above an age), or of a category without any eligible respondent, is left
        out of the model (listed in ``models["dropped_terms"]``).
    rights : sequence of str
    territory : str
        Territory column of ``sample``, ``frame`` and ``aux``.
    aux : DataFrame, optional
        Territory covariates (one row per territory), with ``aux_covariates`` numeric columns.
    aux_covariates : sequence of str
    nagq : int
        Quadrature nodes of the likelihood (1 = Laplace, as lme4's default).
    sigma_method : {"adjusted", "ml"}
        The adjusted likelihood :math:`\\sigma^2 L` (default), whose :math:`\\hat\\sigma`
        is never 0 (see :func:`.glmm.fit_glmm`), or maximum likelihood (as lme4, whose
        :math:`\\hat\\sigma = 0` makes the bootstrap MSE miss the territory effects: on the
        demo's sample, coverage 0.71 instead of 0.97 for cmuc); the bootstrap refits
        with the same one.
    mse : {"bootstrap", "none"}
    replicates : int
        Bootstrap replicates.
    seed : int, optional
        Required for the bootstrap.
    level : float
        Confidence level of the intervals.
    responded : str or None
        0/1 response column of ``sample``, if present (rows with 0 are not respondents).
    weight : str, optional
        Weight column of ``sample`` for the ``direct`` column (unweighted otherwise).
    interval : {"normal", "percentile"}
        With the bootstrap: ``normal`` (default), :math:`\\hat\\theta_i \\pm z\\sqrt{\\mathrm{mse}_i}`; or
        ``percentile``, :math:`[\\hat\\theta_i - e_{(1+\\ell)/2},\\ \\hat\\theta_i - e_{(1-\\ell)/2}]` with
        :math:`e_q` the quantiles of the bootstrap prediction errors :math:`\\hat\\theta^*_i - \\theta^*_i`
        (a bootstrap prediction interval that carries the EBP's bias and skewness near 0 and 1); both clipped
        to [0, 1]. On the demo's design (100 samples x 4 rights, 200 replicates) ``normal`` covers 0.944
        (sampled territories) and 0.945 (unsampled), ``percentile`` 0.937 and 0.939: the 2.5 % tails of 200
        replicates are noisier than their mean square (``benchmarks/RESULTS.md``).
    workers : int
        Processes running the bootstrap replicates (chunks of :data:`BOOT_CHUNK` replicates, each with its
        own generator spawned from ``seed``): the results do not depend on it (bit for bit between any
        numbers of worker processes, whose BLAS is single-threaded; ``workers=1`` runs in this process, where a
        multi-threaded BLAS may round some products differently: about 1e-15 relative).

    Returns
    -------
    UnitFit

    Notes
    -----
    See the module's docstring for the model, the EBP and the bootstrap. The
    model is fitted to the eligible respondents as if they were a simple random
    sample within covariate cells (non-informative design given the covariates);
    put the design variables (e.g. strata) among the covariates.
    """
    mse, sigma_method, interval, workers, rng = _check_options(
        mse=mse,
        sigma_method=sigma_method,
        interval=interval,
        workers=workers,
        level=level,
        nagq=nagq,
        seed=seed,
        replicates=replicates,
    )
    covariates, aux_covariates, rights = list(covariates), list(aux_covariates), list(rights)
    responded = _check_tables(
        sample,
        frame,
        aux,
        territory=territory,
        covariates=covariates,
        aux_covariates=aux_covariates,
        rights=rights,
        responded=responded,
        weight=weight,
    )
    z = norm_ppf(0.5 + level / 2)
    frames, fits, models, quantiles = [], [], [], []
    frame_keys = frame[[territory, *covariates]].astype(str)  # once for every right
    for right in rights:
        pop = _population(
            sample, frame, right, covariates, territory, aux, aux_covariates, responded, weight, frame_keys
        )
        fit, m_sampled = _fit_right(pop, nagq=nagq, sigma_method=sigma_method, right=right)
        est, gamma, synth = _predict(fit, pop)
        failed = unconverged = 0
        if rng is not None:  # mse == "bootstrap"
            m, e_lo, e_hi, failed, unconverged = _bootstrap(
                fit, pop, replicates=int(replicates), rng=rng, nagq=nagq, level=level, workers=workers
            )
            lo, hi = _interval(est, m, e_lo, e_hi, interval=interval, z=z)
            quantiles.append(pd.DataFrame({"err_low": e_lo, "err_high": e_hi}))
        else:
            m = lo = hi = np.full(len(est), np.nan)
        frames.append(_right_table(right, pop, est, gamma, synth, m, lo, hi))
        fits.append((right, fit))
        models.append(
            {
                "right": right,
                "m": m_sampled,
                "n_predicted": len(pop.territories) - m_sampled,
                "n_respondents": int(pop.n.sum()),
                "sigma": fit.sigma,
                "loglike": fit.loglike,
                "iterations": fit.iterations,
                "nagq": nagq,
                "sigma_method": sigma_method,
                "mse": mse,
                "interval": interval if mse == "bootstrap" else "none",
                "replicates": int(replicates) if mse == "bootstrap" else 0,
                "failed_replicates": failed,
                "unconverged_replicates": unconverged,
                "dropped_terms": ", ".join(pop.dropped),
            }
        )
    return UnitFit(
        table=pd.concat(frames, ignore_index=True)[list(OUTPUT_COLUMNS)],
        fits=tuple(fits),
        models=pd.DataFrame(models),
        nagq=int(nagq),
        mse_kind=mse,
        replicates=int(replicates) if mse == "bootstrap" else 0,
        level=level,
        seed=seed if isinstance(seed, int) else None,
        interval=interval,
        error_quantiles=pd.concat(quantiles, ignore_index=True) if quantiles else None,
    )
