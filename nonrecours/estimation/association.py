r"""Design-based tests of association in a two-way table (R's ``svychisq``).

The row variable is typically a right (takes up / does not) and the column variable a
group (benefit, QPV x benefit, another right). The cell proportions and totals and their
covariance come from the package's one variance engine (Taylor or replicate), so the
tests account for strata, clusters, FPCs and calibration.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from .._checks import check_columns, check_grouping_column, parse_list
from .._frozen import freeze_arrays
from ..errors import InputError, NonrecoursWarning, message, rows_found
from ..options import AssociationStatistic, check_option, choices
from ._dist import chi2_sf, f_sf

__all__ = ["ChisqResult", "chisq_test"]


@dataclass(frozen=True)
class ChisqResult:
    """Tests of association between ``row`` and ``col``; :meth:`to_frame` gives one row per statistic."""

    row: str
    col: str
    statistics: tuple[str, ...]
    statistic: np.ndarray
    ndf: np.ndarray
    ddf: np.ndarray
    p_value: np.ndarray
    pearson: float
    design_effects: np.ndarray
    n_rows: int
    n_cols: int

    def __post_init__(self) -> None:
        freeze_arrays(self)  # arrays handed out are read-only

    def to_frame(self) -> pd.DataFrame:
        """Columns: row, col, statistic, value, ndf, ddf, p_value (ddf is infinite for ``chisq``)."""
        return pd.DataFrame(
            {
                "row": self.row,
                "col": self.col,
                "statistic": list(self.statistics),
                "value": self.statistic,
                "ndf": self.ndf,
                "ddf": self.ddf,
                "p_value": self.p_value,
            }
        )


def _codes(data: pd.DataFrame, cols: list[str], name: str) -> tuple[np.ndarray, int]:
    """Code the combination of ``cols`` (sorted observed levels; -1 where any is empty)."""
    from .domains import make_domains

    check_columns(data, cols, role=f"{name} column", source="the sample")
    if name == "col":  # groups of one respondent each: a test of nothing, and their labels name people
        check_grouping_column(data, cols, name="col")
    empty = data[cols].isna().any(axis=1).to_numpy()
    if not empty.any():
        dom = make_domains(data, cols)
        return dom.codes, dom.n_domains
    # rows with an empty value are left out of the table, as R's svychisq does (na.rm); make_domains would
    # make them a domain of their own (the rule of estimates by domain). An empty right means "not
    # eligible" (left out by definition); an empty group is said, never dropped silently.
    if name == "col":
        warnings.warn(
            message(
                "rows with an empty value are left out of the test of association",
                where="group column " + ", ".join(repr(c) for c in cols),
                found=rows_found(empty),
                hint="fill them in (e.g. 'unknown') to test them as a group of their own",
            ),
            NonrecoursWarning,
            stacklevel=3,
        )
    dom = make_domains(data[~empty], cols)
    codes = np.full(len(data), -1, np.int64)
    codes[~empty] = dom.codes
    return codes, dom.n_domains


def _model_matrices(nr: int, nc: int) -> tuple[np.ndarray, np.ndarray]:
    """R's ``model.matrix(~rows + cols)`` and the interaction columns of ``~rows * cols`` on ``expand.grid``."""
    r = np.tile(np.arange(nr), nc)
    c = np.repeat(np.arange(nc), nr)
    X1 = np.column_stack(
        [np.ones(nr * nc)]
        + [(r == i).astype(float) for i in range(1, nr)]
        + [(c == j).astype(float) for j in range(1, nc)]
    )
    inter = np.column_stack([((r == i) & (c == j)).astype(float) for j in range(1, nc) for i in range(1, nr)])
    return X1, inter


def chisq_test(
    design, row: str | Sequence[str], col: str | Sequence[str], *, statistics: Sequence[str] | None = None
) -> ChisqResult:
    r"""Rao–Scott and Wald tests of association between two (combinations of) categorical columns.

    Parameters
    ----------
    design : SurveyDesign
    row, col : str or list of str
        Columns (a list is their cross-classification, e.g. ``["is_qpv", "benefit"]``). Rows
        with an empty value in either are left out of the table (R's ``na.rm = TRUE``); for ``col``
        (the groups) a :class:`~nonrecours.errors.NonrecoursWarning` says how many rows and where.
    statistics : sequence of {"f", "chisq", "wald", "adjwald"}, optional
        R's ``svychisq`` statistics ``"F"``, ``"Chisq"``, ``"Wald"``, ``"adjWald"`` (all by default).

    Returns
    -------
    ChisqResult

    Notes
    -----
    As R survey 4.1.1's ``svychisq``. With :math:`\hat p` the :math:`rc` cell proportions,
    :math:`V` their design covariance, :math:`N` the number of rows of the design (rows
    with an empty value included, as R's ``nrow(model.matrix)``) and Pearson's
    :math:`X^2` on the weighted table rescaled to total :math:`N`:

    * :math:`C` = interaction columns of the saturated model residualised on the main
      effects; :math:`\Delta = (C^\top D^{-1} C / N)^{-1} C^\top D^{-1} V D^{-1} C`,
      :math:`D = \mathrm{diag}(\hat p)`; :math:`\nu` = PSUs minus strata of the design;
    * ``F`` (second-order Rao–Scott): :math:`X^2/\mathrm{tr}\,\Delta` on
      :math:`F(d_0, d_0\nu)`, :math:`d_0 = (\mathrm{tr}\,\Delta)^2/\mathrm{tr}\,\Delta^2`;
    * ``Chisq`` (first-order): R reports :math:`X^2` and the p-value of
      :math:`X^2/\bar\delta` on :math:`\chi^2_{(r-1)(c-1)}`;
    * ``Wald``: from the cell totals, :math:`Y = \hat T_{ij} - \hat T_{i\cdot}\hat T_{\cdot j}/\hat T`
      (first row and column dropped), :math:`W = Y^\top (J V_T J^\top)^{-1} Y / ((r-1)(c-1))`
      on :math:`F((r-1)(c-1), \nu)`; ``adjWald``: :math:`W (\nu - k + 1)/(k\nu)` times
      :math:`k = (r-1)(c-1)` on :math:`F(k, \nu - k + 1)`.

    A singular Wald covariance (an empty row or column) gives NaN (R stops with an error).

    References
    ----------
    Rao, J. N. K. and Scott, A. J. (1984). *Annals of Statistics* 12, 46–60.
    Koch, G. G., Freeman, D. H. and Freeman, J. L. (1975). *International Statistical Review* 43, 59–78.
    """
    from .domains import make_domains, stack_variables
    from .estimators import _run
    from .results import QualityThresholds

    rows_cols = parse_list(row, option="row") if isinstance(row, str) else list(row)
    col_cols = parse_list(col, option="col") if isinstance(col, str) else list(col)
    stats_asked = (
        choices(AssociationStatistic)
        if statistics is None
        else tuple(check_option("statistic", s, AssociationStatistic) for s in statistics)
    )
    data = design.data
    rc, nr = _codes(data, rows_cols, "row")
    cc, nc = _codes(data, col_cols, "col")
    if nr < 2 or nc < 2:
        raise InputError(
            message(
                "a test of association needs two levels or more on each side",
                where="columns " + ", ".join(rows_cols + col_cols),
                found=f"{nr} x {nc} table",
                hint="check the columns and the rows kept",
            )
        )
    ok = (rc >= 0) & (cc >= 0)
    w = design.weights
    N = float(np.count_nonzero(w != 0))  # R: nrow of the design's model frame, empty values included
    cell = np.where(ok, cc * nr + rc, -1)  # rows fastest, as R's interaction() and expand.grid
    K = nr * nc
    ind = [np.where(ok, (cell == k).astype(float), np.nan) for k in range(K)]
    one = make_domains(data, [])  # a single domain: the whole design
    every = QualityThresholds(min_n=0, reliable_n=0, max_cv=np.inf)
    res = {}
    # cell proportions (svymean of the cell indicators) and their covariance
    st = stack_variables(one, w, ind, "ones")
    means = _run(
        design,
        st,
        one,
        [str(k) for k in range(K)],
        statistic="mean",
        ci="wald",
        level=0.95,
        df_rule="design",
        thresholds=every,
    )
    p = means.raw_estimate
    V = _dense(means.vcov())
    X1, inter = _model_matrices(nr, nc)
    C = inter - X1 @ np.linalg.lstsq(X1, inter, rcond=None)[0]
    with np.errstate(divide="ignore"):
        idiag = np.where(p == 0, 0.0, 1.0 / p)
    denom = C.T @ (idiag[:, None] * C) / N
    numr = C.T @ (idiag[:, None] * V * idiag[None, :]) @ C
    Delta = np.linalg.solve(denom, numr)
    tr, tr2 = np.trace(Delta), np.trace(Delta @ Delta)
    d0 = tr**2 / tr2
    st_des = design.structure
    nu = float(st_des.n_psu - st_des.n_strata) if design.replicates is None else design.degf()
    # Pearson X^2 of the weighted table rescaled to N
    T = np.bincount(cell[ok], weights=w[ok], minlength=K).reshape(nc, nr).T
    T = T * (N / T.sum())
    E = np.outer(T.sum(axis=1), T.sum(axis=0)) / N
    with np.errstate(divide="ignore", invalid="ignore"):
        X2 = float(np.nansum((T - E) ** 2 / E))
    if "f" in stats_asked:
        f = X2 / tr
        res["f"] = (f, d0, d0 * nu, f_sf(f, d0, d0 * nu))
    if "chisq" in stats_asked:
        res["chisq"] = (X2, float(C.shape[1]), np.inf, chi2_sf(X2 / np.mean(np.diag(Delta)), C.shape[1]))
    if "wald" in stats_asked or "adjwald" in stats_asked:
        res.update(_wald(design, one, w, ok, rc, cc, nr, nc, nu, every, stats_asked))
    out = [res[s] for s in stats_asked]
    return ChisqResult(
        row=",".join(rows_cols),
        col=",".join(col_cols),
        statistics=stats_asked,
        statistic=np.array([o[0] for o in out], float),
        ndf=np.array([o[1] for o in out], float),
        ddf=np.array([o[2] for o in out], float),
        p_value=np.array([o[3] for o in out], float),
        pearson=X2,
        design_effects=np.linalg.eigvals(Delta).real,
        n_rows=nr,
        n_cols=nc,
    )


def _dense(V) -> np.ndarray:
    return V.toarray() if hasattr(V, "toarray") else np.asarray(V)


def _wald(design, one, w, ok, rc, cc, nr, nc, nu, every, asked) -> dict:
    """Wald and adjusted Wald statistics from the cell, margin and grand totals (R's ``svychisq``)."""
    from .domains import stack_variables
    from .estimators import _run

    cols = [np.where(ok, ((rc == i) & (cc == j)).astype(float), np.nan) for j in range(nc) for i in range(nr)]
    cols += [np.where(ok, (rc == i).astype(float), np.nan) for i in range(nr)]
    cols += [np.where(ok, (cc == j).astype(float), np.nan) for j in range(nc)]
    cols += [np.where(ok, 1.0, np.nan)]
    st = stack_variables(one, w, cols, None)
    tot = _run(
        design,
        st,
        one,
        [str(k) for k in range(len(cols))],
        statistic="total",
        ci="wald",
        level=0.95,
        df_rule="design",
        thresholds=every,
    )
    t = tot.raw_estimate
    V = _dense(tot.vcov())
    K = nr * nc
    Tr, Tc, T = t[K : K + nr], t[K + nr : K + nr + nc], t[-1]
    r_idx = np.tile(np.arange(nr), nc)
    c_idx = np.repeat(np.arange(nc), nr)
    J = np.hstack(
        [
            np.eye(K),
            -(r_idx[:, None] == np.arange(nr)[None, :]).astype(float) * (Tc[c_idx] / T)[:, None],
            -(c_idx[:, None] == np.arange(nc)[None, :]).astype(float) * (Tr[r_idx] / T)[:, None],
            (Tr[r_idx] * Tc[c_idx] / T**2)[:, None],
        ]
    )
    Y = t[:K] - Tr[r_idx] * Tc[c_idx] / T
    VY = J @ V @ J.T
    use = np.flatnonzero((r_idx > 0) & (c_idx > 0))
    k = (nr - 1) * (nc - 1)
    try:
        A = VY[np.ix_(use, use)]
        if np.linalg.cond(A) > 1e15:
            raise np.linalg.LinAlgError
        W = float(Y[use] @ np.linalg.solve(A, Y[use]))
    except np.linalg.LinAlgError:
        W = np.nan
    out = {}
    if "wald" in asked:
        out["wald"] = (W / k, float(k), nu, f_sf(W / k, k, nu))
    if "adjwald" in asked:
        ddf = nu - k + 1
        a = W * ddf / (k * nu)
        out["adjwald"] = (a, float(k), ddf, f_sf(a, k, ddf))
    return out
