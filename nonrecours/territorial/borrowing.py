"""Territory estimates that borrow strength over years, rights and neighbours: the table-level layer.

Over :func:`~.rao_yu.fit_rao_yu`, :func:`~.multivariate.fit_multivariate`, :func:`~.spatial.fit_spatial_fh`,
:func:`~.spatio_temporal.fit_spatio_temporal`
and the univariate :func:`~.fay_herriot.fit_fay_herriot` (for comparison): it checks the direct file (one row
per territory, right and, with a time dimension, year), the covariates, the sampling covariances and the
neighbours, builds each model's arrays in one vectorised pass and writes one table with the columns of
``territorial fit`` (and ``year``), a models table (variance components, AR or spatial correlation,
convergence) and a coefficients table.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, fields

import numpy as np
import pandas as pd
from scipy import stats

from .._checks import check_choice, check_columns, check_level
from .._parallel import check_workers, spawn
from ..errors import InputError, OptionError, label_list, message, name_list
from .borrow import BorrowFit, check_method
from .borrow_bootstrap import bootstrap_borrow_mse
from .fay_herriot import fit_fay_herriot
from .mse import analytic_mse, bootstrap_mse
from .multivariate import fit_multivariate
from .rao_yu import fit_rao_yu
from .spatial import fit_spatial_fh, row_standardise
from .spatio_temporal import fit_spatio_temporal

__all__ = ["BORROW_MODELS", "BORROW_MSE", "BorrowingResult", "fit_borrowing", "read_covariances", "neighbours_matrix"]

#: The models of :func:`fit_borrowing`.
BORROW_MODELS: tuple[str, ...] = ("fh", "rao-yu", "multivariate", "spatial", "spatio-temporal")
#: Their MSE estimators.
BORROW_MSE: tuple[str, ...] = ("analytic", "bootstrap")
_OUT = (
    "territory",
    "year",
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
_ALL = "all"  # the right or year of a fit that spans them all


@dataclass(frozen=True)
class BorrowingResult:
    """Estimates of every territory (x year) x right from a model that borrows strength.

    Attributes
    ----------
    table : DataFrame
        ``territory``, ``year`` (with a time dimension), ``right``, ``direct``, ``se_direct``, ``eblup``, ``mse``,
        ``rmse``, ``ci_low``, ``ci_high``, ``gamma``, ``synthetic``, ``n``, ``in_sample``.
    models : DataFrame
        One row per fit and variance parameter: ``model``, ``right``, ``year`` (``"all"`` where a fit spans them),
        ``method``, ``m`` (territories with a direct estimate), ``n_predicted`` (rows without one), ``parameter``,
        ``estimate``, ``se`` (from the
        inverse Fisher information), ``at_bound``, ``loglike``, ``iterations``, ``converged``, ``mse`` (the MSE
        estimator: ``analytic`` or ``bootstrap``) and ``replicates`` (bootstrap data sets averaged, 0 analytic).
    coefficients : DataFrame
        ``model``, ``right``, ``year``, ``term``, ``estimate``, ``se``.
    fits : tuple of ((str, str), BorrowFit or FayHerriotFit)
        Each fit by its (right, year).
    model, method, time : str
    level : float
    mse : {"analytic", "bootstrap"}
    replicates : int
        Bootstrap replicates asked for each fit (0: analytic).
    seed : int or None
        Seed of the bootstrap.
    """

    table: pd.DataFrame
    models: pd.DataFrame
    coefficients: pd.DataFrame
    fits: tuple
    model: str
    method: str
    time: str | None
    level: float
    mse: str = "analytic"
    replicates: int = 0
    seed: int | None = None

    def to_frame(self) -> pd.DataFrame:
        """The estimates table (a copy)."""
        return self.table.copy()


@dataclass(frozen=True)
class _Data:
    """The checked inputs, coded: territories (the covariates file's, in its order), years, rights, and per
    territory x year x right the direct estimate, its variance, sample size and covariates."""

    territories: np.ndarray  # (m,)
    years: np.ndarray  # (T,) sorted; [0] without a time dimension
    rights: list[str]
    y: np.ndarray  # (m, T, R), NaN where no direct estimate
    D: np.ndarray  # (m, T, R) se^2
    se: np.ndarray
    n: np.ndarray
    X: np.ndarray  # (m, T, p)
    names: tuple[str, ...]
    cov: pd.DataFrame | None  # coded covariances: t, ya, ra, yb, rb, cov (indices)
    neighbours: np.ndarray | None  # (m, m) 0/1


def read_covariances(covariances: pd.DataFrame, *, time: str | None) -> pd.DataFrame:
    """Check a covariances table (``territory, right_a, [year_a,] right_b, [year_b,] cov``) and return it with
    each unordered pair once.

    A pair listed in both orders must carry the same value; a pair of a key with itself is refused (the
    variances are the direct file's ``se``).
    """
    cols = ["territory", "right_a", "right_b", "cov"] + ([f"{time}_a", f"{time}_b"] if time else [])
    check_columns(covariances, cols, role="covariance column", source="covariances file")
    c = covariances[cols].copy()
    c["territory"] = c["territory"].astype(str)
    for k in ("right_a", "right_b"):
        c[k] = c[k].astype(str)
    c["cov"] = pd.to_numeric(c["cov"], errors="coerce")
    if not np.isfinite(c["cov"].to_numpy(float)).all():
        raise InputError(
            message(
                "missing or non-numeric covariances",
                where="covariances file, column 'cov'",
                found=f"{int((~np.isfinite(c['cov'].to_numpy(float))).sum())} rows",
            )
        )
    a = list(zip(c["right_a"], c[f"{time}_a"])) if time else list(c["right_a"])
    b = list(zip(c["right_b"], c[f"{time}_b"])) if time else list(c["right_b"])
    same = np.array([x == z for x, z in zip(a, b)])
    if same.any():
        raise InputError(
            message(
                "a covariance of an estimate with itself",
                where="covariances file",
                found=f"{int(same.sum())} rows",
                hint="the variances come from the direct file's se",
            )
        )
    swap = np.array([str(x) > str(z) for x, z in zip(a, b)])
    for k in ("right", *([time] if time else [])):
        lo, hi = c[f"{k}_a"].copy(), c[f"{k}_b"].copy()
        c.loc[swap, f"{k}_a"], c.loc[swap, f"{k}_b"] = hi[swap].to_numpy(), lo[swap].to_numpy()
    keys = [k for k in cols if k != "cov"]
    spread = c.groupby(keys, sort=False)["cov"].agg(["min", "max"])
    bad = ~np.isclose(spread["min"], spread["max"], rtol=1e-12, atol=0.0)
    if bad.any():
        raise InputError(
            message(
                "a pair of estimates with two different covariances",
                where="covariances file",
                found=f"{int(bad.sum())} pairs",
                hint="list each pair once, or both orders with the same value",
            )
        )
    return c.drop_duplicates(keys).reset_index(drop=True)


def neighbours_matrix(neighbours: pd.DataFrame, territories: Sequence[str]) -> np.ndarray:
    """The symmetric 0/1 adjacency of ``territories`` from a ``territory_a, territory_b`` table.

    Pairs may be listed in one order or both; pairs naming a territory outside ``territories`` are ignored.
    """
    check_columns(neighbours, ["territory_a", "territory_b"], role="neighbours column", source="neighbours file")
    pos = pd.Series(np.arange(len(territories)), index=pd.Index(territories, dtype=str))
    a = neighbours["territory_a"].astype(str).map(pos)
    b = neighbours["territory_b"].astype(str).map(pos)
    ok = a.notna() & b.notna() & (a != b)
    A = np.zeros((len(territories), len(territories)))
    ia, ib = a[ok].to_numpy(int), b[ok].to_numpy(int)
    A[ia, ib] = A[ib, ia] = 1.0
    return A


@dataclass(frozen=True)
class _Bootstrap:
    """The parametric bootstrap MSE asked for: replicates, the workers, and one generator per fit."""

    replicates: int
    workers: int
    rngs: tuple

    def univariate(self, fit, i: int) -> np.ndarray:
        return bootstrap_mse(fit, replicates=self.replicates, seed=self.rngs[i], workers=self.workers).mse

    def borrow(self, fit: BorrowFit, i: int) -> BorrowFit:
        return bootstrap_borrow_mse(fit, replicates=self.replicates, seed=self.rngs[i], workers=self.workers)


def _check_options(model: str, method: str, time: str | None, covariances, neighbours, level: float) -> None:
    check_choice("model", model, BORROW_MODELS)
    check_method(method)
    check_level(level)
    if model in ("rao-yu", "spatio-temporal") and time is None:
        raise OptionError(
            message(
                f"the {'Rao-Yu' if model == 'rao-yu' else 'spatio-temporal'} model needs a time dimension",
                where="option time",
                expected="the direct file's year column, e.g. time='year'",
                found="none",
            )
        )
    if model in ("multivariate", "spatio-temporal") and method != "reml":
        raise OptionError(
            message(
                f"the {model} model is fitted by REML only (as {'msae' if model == 'multivariate' else 'sae'})",
                where="option method",
                expected="reml",
                found=repr(method),
            )
        )
    if model in ("spatial", "spatio-temporal") and neighbours is None:
        raise OptionError(
            message(
                f"the {model} model needs neighbours",
                where="option neighbours",
                hint="give the territory_a, territory_b table of 'nonrecours neighbours'",
            )
        )


def _read(
    direct: pd.DataFrame,
    aux: pd.DataFrame,
    covariates: Sequence[str],
    *,
    time: str | None,
    covariances: pd.DataFrame | None,
    neighbours: pd.DataFrame | None,
    rights: Sequence[str] | None,
) -> _Data:
    """Check and code the tables (see :func:`fit_borrowing`)."""
    covariates = list(covariates)
    if not covariates:
        raise OptionError(
            message(
                "no covariates given", where="option covariates", expected="one or more columns of the territories file"
            )
        )
    cols = ["territory", "right", "n", "estimate", "se"] + ([time] if time else [])
    check_columns(direct, cols, role="direct-estimate column", source="direct file")
    check_columns(aux, ["territory", *covariates], role="covariate column", source="territories file")
    d = direct.copy()
    d["territory"], d["right"] = d["territory"].astype(str), d["right"].astype(str)
    est = pd.to_numeric(d["estimate"], errors="coerce")
    if "flag" in d:  # suppressed by the estimation stage: predicted like unsampled territories
        d = d[~((d["flag"].astype(str) == "suppressed") & est.isna())]
        est = est[d.index]
    if est.isna().any():
        raise InputError(
            message(
                "missing direct estimates",
                where="direct file, column 'estimate'",
                found=f"{int(est.isna().sum())} rows",
                hint="drop those rows: territories without a direct estimate are predicted synthetically",
            )
        )
    if time:
        t = pd.to_numeric(d[time], errors="coerce")
        if t.isna().any() or (t != np.round(t)).any():
            raise InputError(
                message(
                    "the time column must hold whole numbers (years)",
                    where=f"direct file, column {time!r}",
                    found=f"{int(t.isna().sum())} missing or non-numeric",
                )
            )
        d[time] = t.astype(int)
    key = ["territory", *([time] if time else []), "right"]
    dup = d.duplicated(key)
    if dup.any():
        raise InputError(
            message(f"{' x '.join(key)} listed twice", where="direct file", found=f"{int(dup.sum())} rows")
        )
    all_rights = list(pd.unique(d["right"]))
    rights = all_rights if rights is None else list(rights)
    missing = [r for r in rights if r not in all_rights]
    if missing:
        raise OptionError(
            message(
                "rights absent from the direct file",
                where="option rights",
                found=name_list(missing),
                expected="one of " + ", ".join(all_rights),
            )
        )
    d = d[d["right"].isin(rights)]
    est = est.loc[d.index]
    years = np.sort(d[time].unique()) if time else np.array([0])
    a = aux.copy()
    a["territory"] = a["territory"].astype(str)
    by_year = bool(time) and time in a.columns
    if by_year:
        a[time] = pd.to_numeric(a[time], errors="coerce")
    akey = ["territory", str(time)] if by_year else ["territory"]
    if a.duplicated(akey).any():
        raise InputError(
            message(
                f"{' x '.join(akey)} listed twice",
                where="territories file",
                found=f"{int(a.duplicated(akey).sum())} rows",
            )
        )
    territories = pd.unique(a["territory"])
    m, T, R, p = len(territories), len(years), len(rights), len(covariates) + 1
    tpos = pd.Series(np.arange(m), index=territories)
    ypos = pd.Series(np.arange(T), index=years)
    rpos = pd.Series(np.arange(R), index=rights)
    unknown = ~d["territory"].isin(tpos.index)
    if unknown.any():
        raise InputError(
            message(
                "territories of the direct file have no covariates",
                where="territories file",
                found=f"{int(d.loc[unknown, 'territory'].nunique())} absent: "
                f"{name_list(pd.unique(d.loc[unknown, 'territory']))}",
                hint="add them to the territories file",
            )
        )
    Z = a[covariates].apply(pd.to_numeric, errors="coerce").to_numpy(dtype=float, na_value=np.nan)
    X = np.full((m, T, p), np.nan)
    if by_year:
        ok = a[time].isin(years).to_numpy()
        X[tpos[a.loc[ok, "territory"]].to_numpy(), ypos[a.loc[ok, time]].to_numpy(), 1:] = Z[ok]
    else:
        X[tpos[a["territory"]].to_numpy(), :, 1:] = Z[:, None, :]
    X[:, :, 0] = 1.0
    ti = tpos[d["territory"]].to_numpy()
    yi = ypos[d[time]].to_numpy() if time else np.zeros(len(d), int)
    ri = rpos[d["right"]].to_numpy()
    shape = (m, T, R)
    y, D, se, n = (np.full(shape, np.nan) for _ in range(4))
    y[ti, yi, ri] = est.to_numpy(float)
    se[ti, yi, ri] = pd.to_numeric(d["se"], errors="coerce").to_numpy(float)
    n[ti, yi, ri] = pd.to_numeric(d["n"], errors="coerce").to_numpy(float)
    D[ti, yi, ri] = se[ti, yi, ri] ** 2
    bad = np.isfinite(y) & ~(np.isfinite(D) & (D > 0))
    if bad.any():
        raise InputError(
            message(
                "sampling variances must be finite and positive",
                where="direct file, column 'se'",
                found=f"{int(bad.sum())} rows missing or <= 0",
                hint="drop those rows or give their se",
            )
        )
    cov = None
    if covariances is not None:
        c = read_covariances(covariances, time=time)
        keep = c["territory"].isin(tpos.index) & c["right_a"].isin(rights) & c["right_b"].isin(rights)
        if time:
            keep &= c[f"{time}_a"].isin(years) & c[f"{time}_b"].isin(years)
        c = c[keep]
        cov = pd.DataFrame(
            {
                "t": tpos[c["territory"]].to_numpy(),
                "ra": rpos[c["right_a"]].to_numpy(),
                "rb": rpos[c["right_b"]].to_numpy(),
                "cov": c["cov"].to_numpy(float),
                "ya": ypos[c[f"{time}_a"]].to_numpy() if time else 0,
                "yb": ypos[c[f"{time}_b"]].to_numpy() if time else 0,
            }
        )
    A = neighbours_matrix(neighbours, territories) if neighbours is not None else None
    return _Data(
        territories=np.asarray(territories, dtype=str),
        years=years,
        rights=rights,
        y=y,
        D=D,
        se=se,
        n=n,
        X=X,
        names=("intercept", *covariates),
        cov=cov,
        neighbours=A,
    )


def _blocks(data: _Data, keys: list[tuple[int, int]]) -> np.ndarray:
    """Sampling covariances (m, k, k) between the (year, right) index ``keys`` of each territory: the variances
    on the diagonal, the covariances file's values off it (0 where it has none)."""
    m, k = len(data.territories), len(keys)
    S = np.zeros((m, k, k))
    yk = np.array([t for t, _ in keys])
    rk = np.array([r for _, r in keys])
    S[:, np.arange(k), np.arange(k)] = data.D[:, yk, rk]
    if data.cov is not None and len(data.cov):
        code = {key: i for i, key in enumerate(keys)}
        c = data.cov
        ia = np.array([code.get(key, -1) for key in zip(c["ya"], c["ra"])], dtype=int)
        ib = np.array([code.get(key, -1) for key in zip(c["yb"], c["rb"])], dtype=int)
        ok = (ia >= 0) & (ib >= 0)
        t = c["t"].to_numpy()[ok]
        S[t, ia[ok], ib[ok]] = S[t, ib[ok], ia[ok]] = c["cov"].to_numpy()[ok]
    return S


def _fits(
    data: _Data, model: str, method: str, boot: _Bootstrap | None = None
) -> list[tuple[tuple[str, str], np.ndarray, BorrowFit]]:
    """Every fit of the model: its (right, year) labels, the (territory, year, right) index of each of its rows,
    and the fit (its MSE bootstrapped with ``boot``: fit ``i`` with the generator ``boot.rngs[i]``)."""
    m, T, R = data.y.shape
    terr = np.arange(m)
    out: list[tuple[tuple[str, str], np.ndarray, BorrowFit]] = []
    ylab = [str(t) for t in data.years]
    if model == "rao-yu":
        for r, right in enumerate(data.rights):
            keys = [(t, r) for t in range(T)]
            where = f"right {right!r}"
            fit = fit_rao_yu(
                data.y[:, :, r],
                _blocks(data, keys),
                data.X,
                times=data.years,
                method=method,
                area=data.territories,
                names=data.names,
                where=where,
            )
            fit = fit if boot is None else boot.borrow(fit, len(out))
            idx = np.column_stack([np.repeat(terr, T), np.tile(np.arange(T), m), np.full(m * T, r)])
            out.append(((right, _ALL), idx, fit))
    elif model == "spatio-temporal":
        assert data.neighbours is not None  # checked with the options
        W = row_standardise(data.neighbours, where="neighbours file")
        for r, right in enumerate(data.rights):
            keys = [(t, r) for t in range(T)]
            fit = fit_spatio_temporal(
                data.y[:, :, r],
                _blocks(data, keys),
                data.X,
                W,
                times=data.years,
                area=data.territories,
                names=data.names,
                where=f"right {right!r}",
            )
            fit = fit if boot is None else boot.borrow(fit, len(out))
            idx = np.column_stack([np.repeat(terr, T), np.tile(np.arange(T), m), np.full(m * T, r)])
            out.append(((right, _ALL), idx, fit))
    elif model == "multivariate":
        for t in range(T):
            keys = [(t, r) for r in range(R)]
            where = f"year {ylab[t]}" if len(ylab) > 1 else "multivariate model"
            Xr = np.repeat(data.X[:, t, None, :], R, axis=1)
            fit = fit_multivariate(
                data.y[:, t, :],
                _blocks(data, keys),
                Xr,
                model="mfh1",
                variables=data.rights,
                area=data.territories,
                names=data.names,
                where=where,
            )
            fit = fit if boot is None else boot.borrow(fit, len(out))
            idx = np.column_stack([np.repeat(terr, R), np.full(m * R, t), np.tile(np.arange(R), m)])
            out.append(((_ALL, ylab[t]), idx, fit))
    else:  # fh, spatial: one fit per right and year
        for r, right in enumerate(data.rights):
            for t in range(T):
                where = f"right {right!r}" + (f", year {ylab[t]}" if len(ylab) > 1 else "")
                s = np.isfinite(data.y[:, t, r])
                fit = (_spatial if model == "spatial" else _univariate)(data, t, r, s, method, where, boot, len(out))
                idx = np.column_stack([np.concatenate([terr[s], terr[~s]]), np.full(m, t), np.full(m, r)])
                out.append(((right, ylab[t]), idx, fit))
    return out


def _univariate(
    data: _Data, t: int, r: int, s: np.ndarray, method: str, where: str, boot: _Bootstrap | None, i: int
) -> BorrowFit:
    """Fay–Herriot on one right and year (sampled territories first), as a :class:`BorrowFit` (the bootstrap MSE
    of :func:`~.mse.bootstrap_mse` with ``boot``)."""
    X = data.X[:, t, :]
    fit = fit_fay_herriot(
        data.y[s, t, r],
        data.D[s, t, r],
        X[s],
        method=method,
        X_out=X[~s],
        area=data.territories[s],
        area_out=data.territories[~s],
        names=data.names,
        where=where,
    )
    res = analytic_mse(fit)
    assert res.g1 is not None and res.g2 is not None and res.g3 is not None  # analytic: its components
    k = len(fit.area)
    info = np.array([[1.0 / fit.model_variance_se**2]])  # REML, ML: se = sqrt(2 / sum (A + D)^-2)
    return BorrowFit(
        model="fh",
        method=method,
        area=fit.area,
        component=np.full(k, "", dtype=object).astype(str),
        in_sample=fit.in_sample,
        direct=fit.direct,
        eblup=fit.eblup,
        synthetic=fit.synthetic,
        gamma=fit.gamma,
        mse=res.mse if boot is None else boot.univariate(fit, i),
        g1=res.g1,
        g2=res.g2,
        g3=res.g3,
        g4=np.zeros(k),
        mse_kind="analytic" if boot is None else "bootstrap",
        replicates=0 if boot is None else boot.replicates,
        names=("sigma2",),
        theta=np.array([fit.model_variance]),
        info=info,
        coef=fit.coef,
        coef_cov=fit.coef_cov,
        coef_names=fit.coef_names,
        loglike=fit.loglike,
        iterations=fit.iterations,
        at_bound=("sigma2",) if fit.zero_variance else (),
    )


def _spatial(
    data: _Data, t: int, r: int, s: np.ndarray, method: str, where: str, boot: _Bootstrap | None, i: int
) -> BorrowFit:
    """Spatial Fay–Herriot on one right and year over every territory of the neighbours' graph (row-standardised):
    those without a direct estimate are predicted from their neighbours (:func:`~.spatial.fit_spatial_fh`); the
    bootstrap MSE with ``boot``, on the rows of the block before they are reordered."""
    assert data.neighbours is not None  # checked with the options
    W = row_standardise(data.neighbours, where="neighbours file")
    fit = fit_spatial_fh(
        data.y[:, t, r],
        data.D[:, t, r],
        data.X[:, t, :],
        W,
        method=method,
        area=data.territories,
        names=data.names,
        where=where,
    )
    fit = fit if boot is None else boot.borrow(fit, i)
    order = np.concatenate([np.flatnonzero(s), np.flatnonzero(~s)])  # the rows of _fits: sampled first
    kept = {"block": None, "covariance": None}  # its rows no longer those of the block
    return BorrowFit(
        **{
            f.name: (getattr(fit, f.name)[order] if f.name in _ROWS else kept.get(f.name, getattr(fit, f.name)))
            for f in fields(BorrowFit)
        }
    )


_ROWS = ("area", "component", "in_sample", "direct", "eblup", "synthetic", "gamma", "mse", "g1", "g2", "g3", "g4")


def fit_borrowing(
    direct: pd.DataFrame,
    aux: pd.DataFrame,
    covariates: Sequence[str],
    *,
    model: str = "rao-yu",
    time: str | None = None,
    covariances: pd.DataFrame | None = None,
    neighbours: pd.DataFrame | None = None,
    method: str = "reml",
    level: float = 0.95,
    rights: Sequence[str] | None = None,
    mse: str = "analytic",
    replicates: int = 200,
    seed: int | np.random.Generator | None = None,
    workers: int = 1,
) -> BorrowingResult:
    """Small-area estimates of take-up that borrow strength over years, rights or neighbouring territories.

    Parameters
    ----------
    direct : DataFrame
        ``territory``, ``right``, ``n``, ``estimate``, ``se`` and, with ``time``, the year column (rows with
        ``flag == "suppressed"`` and no estimate are treated as unsampled). The sampling variances are
        :math:`se^2`.
    aux : DataFrame
        Territories file: ``territory`` and the covariates; every territory in it is predicted. With a column
        ``time`` it is joined on territory and year (every year of the direct file needs its row).
    covariates : sequence of str
        Covariate columns; an intercept is added.
    model : {"fh", "rao-yu", "multivariate", "spatial", "spatio-temporal"}
        Univariate Fay–Herriot per right and year (for comparison); Rao–Yu per right over the years
        (:func:`~.rao_yu.fit_rao_yu`); multivariate Fay–Herriot (MFH1) per year over the rights
        (:func:`~.multivariate.fit_multivariate`); spatial Fay–Herriot per right and year
        (:func:`~.spatial.fit_spatial_fh`); spatio-temporal Fay–Herriot per right over the territories and years
        (:func:`~.spatio_temporal.fit_spatio_temporal`, SAR territory effects and AR(1) territory-year effects).
    time : str, optional
        The direct file's year column (required by ``rao-yu`` and ``spatio-temporal``).
    covariances : DataFrame, optional
        ``territory, right_a, [year_a,] right_b, [year_b,] cov``: sampling covariances between the direct
        estimates of a territory (between rights, between years); absent pairs are 0 (diagonal covariances
        without the table).
    neighbours : DataFrame, optional
        ``territory_a, territory_b`` (required by ``spatial`` and ``spatio-temporal``); the proximity matrix of the
        territories file's territories, row-standardised as ``sae``'s ``proxmat``.
    method : {"reml", "ml"}
        ``multivariate`` and ``spatio-temporal`` are REML only.
    level : float
        Confidence level of the intervals :math:`\\hat\\theta \\pm z\\sqrt{\\mathrm{mse}}`, clipped to [0, 1].
    rights : sequence of str, optional
        Rights to model (default: all, in order of appearance).
    mse : {"analytic", "bootstrap"}
        The anchors' analytic MSE, or the parametric bootstrap MSE (:func:`~.borrow_bootstrap.bootstrap_borrow_mse`;
        for ``fh``, :func:`~.mse.bootstrap_mse`), with ``replicates`` data sets per fit.
    replicates : int
        Bootstrap replicates of each fit.
    seed : int or numpy.random.Generator
        Seed of the bootstrap (required with it); each fit draws from its own stream spawned from it.
    workers : int
        Processes running the bootstrap's chunks; the results are bit-identical whatever their number.

    Returns
    -------
    BorrowingResult

    Notes
    -----
    A territory with direct estimates for some years (Rao–Yu) or some rights (multivariate) only is fitted on
    those, and its other rows are predicted from them through the model's covariance (the anchors need
    complete territories). A territory without any is predicted by the regression
    :math:`x^\\top\\hat\\beta` with MSE :math:`g_1 + g_2` (the model's variance of the territory effect and the
    coefficients'), except in the spatial and spatio-temporal models, where it stays in the SAR over every
    territory of the territories file and is predicted from its neighbours (sae predicts no territory outside the
    fit). The spatio-temporal model takes the sampling covariances between the years of a territory (sae's are
    independent) and needs no balanced panel (sae's ``eblupSTFH`` does).

    Examples
    --------
    >>> rng = np.random.default_rng(1)
    >>> d = pd.DataFrame({"territory": np.repeat(list("abcdefghij"), 3), "year": np.tile([2015, 2016, 2017], 10),
    ...                   "right": "acs", "n": 50, "se": 0.05})
    >>> d["estimate"] = 0.3 + np.repeat(rng.normal(0, 0.08, 10), 3) + rng.normal(0, 0.05, 30)
    >>> aux = pd.DataFrame({"territory": list("abcdefghij"), "x": rng.normal(size=10)})
    >>> fit_borrowing(d, aux, ["x"], model="rao-yu", time="year").to_frame().shape
    (30, 14)
    """
    _check_options(model, method, time, covariances, neighbours, level)
    check_choice("mse", mse, BORROW_MSE)
    workers = check_workers(workers)
    if mse == "bootstrap" and seed is None:
        raise OptionError(
            message(
                "the bootstrap MSE needs a seed",
                where="option seed",
                expected="an integer, recorded with the results",
                found="none",
            )
        )
    data = _read(direct, aux, covariates, time=time, covariances=covariances, neighbours=neighbours, rights=rights)
    if not np.isfinite(data.X).all():
        bad = ~np.isfinite(data.X).all(axis=(1, 2))
        raise InputError(
            message(
                "missing or non-numeric covariate values",
                where="territories file",
                found=f"{int(bad.sum())} territories: {label_list(data.territories, bad)}",
                hint="give every territory (and year) its covariates, or drop the territory",
            )
        )
    z = stats.norm.ppf(0.5 + level / 2)
    boot = None
    if mse == "bootstrap":
        _m, T, R = data.y.shape
        n_fits = R if model in ("rao-yu", "spatio-temporal") else T if model == "multivariate" else R * T
        assert seed is not None  # checked above
        boot = _Bootstrap(int(replicates), workers, tuple(spawn(seed, n_fits)))
    frames, models, coefs, fits = [], [], [], []
    for (right, year), idx, fit in _fits(data, model, method, boot):
        ti, yi, ri = idx.T
        est = np.clip(fit.eblup, 0.0, 1.0)
        half = z * np.sqrt(fit.mse)
        frames.append(
            pd.DataFrame(
                {
                    "territory": data.territories[ti],
                    "year": data.years[yi],
                    "right": np.asarray(data.rights)[ri],
                    "direct": data.y[ti, yi, ri],
                    "se_direct": data.se[ti, yi, ri],
                    "eblup": est,
                    "mse": fit.mse,
                    "rmse": np.sqrt(fit.mse),
                    "ci_low": np.clip(fit.eblup - half, 0, 1),
                    "ci_high": np.clip(fit.eblup + half, 0, 1),
                    "gamma": fit.gamma,
                    "synthetic": np.clip(fit.synthetic, 0, 1),
                    "n": pd.array(np.nan_to_num(data.n[ti, yi, ri]), dtype="Int64"),
                    "in_sample": fit.in_sample,
                    "_order": (ri * len(data.years) + yi) * len(data.territories) + ti,
                }
            )
        )
        se = np.sqrt(np.clip(np.diag(np.linalg.pinv(fit.info)), 0, None))
        models.append(
            pd.DataFrame(
                {
                    "model": model,
                    "right": right,
                    "year": year,
                    "method": method,
                    "m": len(np.unique(fit.area[fit.in_sample])),
                    "n_predicted": int((~fit.in_sample).sum()),
                    "parameter": list(fit.names),
                    "estimate": fit.theta,
                    "se": se,
                    "at_bound": [n in fit.at_bound for n in fit.names],
                    "loglike": fit.loglike,
                    "iterations": fit.iterations,
                    "converged": True,
                    "mse": fit.mse_kind,
                    "replicates": fit.replicates,
                }
            )
        )
        coefs.append(
            pd.DataFrame(
                {
                    "model": model,
                    "right": right,
                    "year": year,
                    "term": list(fit.coef_names),
                    "estimate": fit.coef,
                    "se": np.sqrt(np.diag(fit.coef_cov)),
                }
            )
        )
        fits.append(((right, year), fit))
    table = pd.concat(frames, ignore_index=True)
    cols = list(_OUT) if time else [c for c in _OUT if c != "year"]
    if time:
        table = table.rename(columns={"year": time}) if time != "year" else table
        cols = [time if c == "year" else c for c in cols]
    table = table.sort_values("_order").reset_index(drop=True)  # rights, years, then the territories file's order
    mt = pd.concat(models, ignore_index=True)
    if not time:
        mt = mt.drop(columns="year")
    ct = pd.concat(coefs, ignore_index=True)
    if not time:
        ct = ct.drop(columns="year")
    return BorrowingResult(
        table=table[cols],
        models=mt,
        coefficients=ct,
        fits=tuple(fits),
        model=model,
        method=method,
        time=time,
        level=level,
        mse=mse,
        replicates=0 if boot is None else boot.replicates,
        seed=int(seed) if boot is not None and isinstance(seed, (int, np.integer)) else None,
    )
