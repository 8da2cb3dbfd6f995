"""Non-response adjustment: response homogeneity groups and propensity classes.

Respondents of class ``c`` get ``w_i = d_i * f_c`` with
``f_c = sum_{i in c} d_i / sum_{i in c, responded} d_i``; non-respondents keep
their row with weight 0 and ``status = "nonrespondent"``: nothing is dropped.

Classes with fewer than ``min_respondents`` respondents are collapsed, one at
a time, starting with the class having the fewest respondents, into the
*nearest* class in the stated order: classes are sorted by their key (the
class columns in the order given, or the propensity), and a class merges
with its previous or next neighbour, preferring the one sharing the longer
key prefix (same first column, then same second ...), then the one with fewer
respondents, then the previous one. Every merge is in the report.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from .._checks import check_columns, check_positive_weights
from .._frozen import freeze_arrays
from ..errors import ConvergenceError, InputError, OptionError, message, rows_found
from ..options import PropensityFit, check_option

__all__ = ["NonresponseResult", "response_indicator", "adjust_classes", "adjust_propensity"]

STATUS = ("respondent", "nonrespondent")


@dataclass(frozen=True)
class NonresponseResult:
    """Adjusted weights and the report of the classes.

    Attributes
    ----------
    weights : ndarray (n,)
        Adjusted weights (0 for non-respondents).
    status : ndarray (n,) of str
        ``respondent`` or ``nonrespondent``.
    group : ndarray (n,) of int
        Final (collapsed) adjustment class of every row.
    report : DataFrame
        One row per initial class: its key, ``n``, ``respondents``,
        ``weighted_response_rate``, ``group``, ``collapsed``, ``factor``.
    method : {'classes', 'propensity'}
    columns : tuple of str
        Class columns or propensity covariates.
    propensity : ndarray (n,) or None
        Estimated response propensities (propensity method).
    """

    weights: np.ndarray
    status: np.ndarray
    group: np.ndarray
    report: pd.DataFrame
    method: str
    columns: tuple[str, ...]
    min_respondents: int
    propensity: np.ndarray | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        freeze_arrays(self)  # arrays handed out are read-only

    def to_frame(self, data: pd.DataFrame, *, weight: str = "nr_weight") -> pd.DataFrame:
        """``data`` with columns ``status``, ``nr_class`` and ``weight`` added."""
        extra = {"status": self.status, "nr_class": self.group, weight: self.weights}
        if self.propensity is not None:
            extra["propensity"] = self.propensity
        return data.assign(**extra)


def response_indicator(data: pd.DataFrame, column: str) -> np.ndarray:
    """Boolean response indicator from a 1/0 (or true/false) column; other values refused."""
    check_columns(data, [column], role="response column", source="the sample")
    s = data[column]
    text = s.astype(str).str.strip().str.lower()
    yes = text.isin(["1", "1.0", "true", "yes"]).to_numpy()
    no = text.isin(["0", "0.0", "false", "no"]).to_numpy()
    bad = ~(yes | no)
    if bad.any():
        raise InputError(
            message(
                "response column must be 1 (responded) or 0",
                where=f"column {column!r}",
                found=rows_found(bad),
                hint="code every sampled unit 1 or 0",
            )
        )
    return yes


def _collapse(keys: list[tuple], n_resp: np.ndarray, min_resp: int) -> np.ndarray:
    """Group index of each (sorted) class after collapsing; see module docstring."""
    groups = [[i] for i in range(len(keys))]
    counts = [int(c) for c in n_resp]
    while len(groups) > 1:
        small = [k for k, c in enumerate(counts) if c < min_resp]
        if not small:
            break
        k = min(small, key=lambda j: (counts[j], j))
        rep = keys[groups[k][0]]

        def prefix(j: int) -> int:
            other = keys[groups[j][0]]
            m = 0
            while m < len(rep) and rep[m] == other[m]:  # noqa: B023 - prefix() is called in this iteration only
                m += 1
            return m

        cands = [j for j in (k - 1, k + 1) if 0 <= j < len(groups)]
        j = min(cands, key=lambda j: (-prefix(j), counts[j], j))
        a, b = sorted((j, k))
        groups[a] = groups[a] + groups[b]
        counts[a] += counts[b]
        del groups[b], counts[b]
    out = np.empty(len(keys), dtype=np.int64)
    for g, members in enumerate(groups):
        out[members] = g
    return out


def _adjust(
    cls: np.ndarray,
    keys: pd.DataFrame,
    d: np.ndarray,
    resp: np.ndarray,
    min_resp: int,
    method: str,
    columns: tuple[str, ...],
    propensity=None,
) -> NonresponseResult:
    """Weighting-class adjustment given integer classes ``cls`` (sorted order) and their ``keys``."""
    K = len(keys)
    n = np.bincount(cls, minlength=K)
    nr = np.bincount(cls, weights=resp.astype(float), minlength=K).astype(int)
    sd = np.bincount(cls, weights=d, minlength=K)
    sdr = np.bincount(cls, weights=d * resp, minlength=K)
    if nr.sum() == 0:
        raise InputError(message("no respondent in the sample", where="non-response adjustment"))
    tuples = [tuple(r) for r in keys.itertuples(index=False)]
    grp = _collapse(tuples, nr, min_resp)
    G = grp.max() + 1
    f = np.bincount(grp, weights=sd, minlength=G) / np.bincount(grp, weights=sdr, minlength=G)
    row_grp = grp[cls]
    w = np.where(resp, d * f[row_grp], 0.0)
    size = np.bincount(grp, minlength=G)
    report = keys.reset_index(drop=True).assign(
        n=n, respondents=nr, weighted_response_rate=sdr / sd, group=grp, collapsed=size[grp] > 1, factor=f[grp]
    )
    return NonresponseResult(
        weights=w,
        status=np.where(resp, STATUS[0], STATUS[1]).astype(object),
        group=row_grp,
        report=report,
        method=method,
        columns=columns,
        min_respondents=min_resp,
        propensity=propensity,
    )


def _check_common(data: pd.DataFrame, weights, responded, min_respondents: int) -> tuple[np.ndarray, np.ndarray]:
    d = check_positive_weights(np.asarray(weights, dtype=float), "design weight")
    resp = response_indicator(data, responded) if isinstance(responded, str) else np.asarray(responded, dtype=bool)
    if d.shape != (len(data),) or resp.shape != (len(data),):
        raise InputError(
            message(
                "weights or response indicator not aligned with the data",
                where="non-response",
                expected=f"{len(data)} values",
            )
        )
    if not isinstance(min_respondents, (int, np.integer)) or min_respondents < 1:
        raise OptionError(
            message(
                "min_respondents must be a positive integer",
                where="parameter min_respondents",
                found=repr(min_respondents),
            )
        )
    return d, resp


def adjust_classes(
    data: pd.DataFrame, weights, responded, classes: list[str], *, min_respondents: int = 20
) -> NonresponseResult:
    """Response homogeneity groups: classes from ``classes`` columns, collapsed if small.

    Parameters
    ----------
    data : DataFrame
        Every sampled unit (respondents and non-respondents).
    weights : array (n,)
        Design weights (> 0).
    responded : str or array of bool
        Response column (1/0) or indicator.
    classes : list of str
        Columns defining the classes; their order sets the collapsing order.
    min_respondents : int
        Minimum respondents per final class.

    Returns
    -------
    NonresponseResult

    Notes
    -----
    ``f_c = sum_{c} d_i / sum_{c, r} d_i`` (Särndal & Lundström 2005,
    *Estimation in Surveys with Nonresponse*, ch. 8; Valliant, Dever & Kreuter
    2018, ch. 13).

    Examples
    --------
    >>> df = pd.DataFrame({"b": ["A", "A", "B", "B"], "r": [1, 0, 1, 1]})
    >>> adjust_classes(df, np.ones(4), "r", ["b"], min_respondents=1).weights.tolist()
    [2.0, 0.0, 1.0, 1.0]
    """
    d, resp = _check_common(data, weights, responded, min_respondents)
    if not classes:
        raise OptionError(message("no class column", where="parameter classes", hint="e.g. benefit, is_qpv"))
    check_columns(data, classes, role="class column", source="the sample")
    miss = data[classes].isna().any(axis=1).to_numpy()
    if miss.any():
        raise InputError(
            message(
                "class columns have missing values",
                where=", ".join(classes),
                found=f"{int(miss.sum())} rows",
                hint="code missing values as a category",
            )
        )
    key = data[classes].astype(str)
    keys = key.drop_duplicates().sort_values(classes).reset_index(drop=True)
    cls = pd.MultiIndex.from_frame(keys).get_indexer(pd.MultiIndex.from_frame(key))
    return _adjust(cls, keys, d, resp, min_respondents, "classes", tuple(classes))


def adjust_propensity(
    data: pd.DataFrame,
    weights,
    responded,
    covariates: list[str],
    *,
    n_classes: int = 5,
    min_respondents: int = 20,
    fit: PropensityFit | str = "weighted",
) -> NonresponseResult:
    """Propensity classes: logistic response model, classes on propensity quantiles.

    The response indicator is regressed on ``covariates`` (text columns as
    dummies, first category dropped; numeric columns as they are) by a
    logistic GLM (statsmodels; weighted by the design weights if
    ``fit='weighted'``). Units are grouped into ``n_classes`` classes of equal
    size on the estimated propensity, small classes are collapsed with their
    neighbour in propensity order, and the class adjustment is applied.

    Notes
    -----
    Little (1986), Survey nonresponse adjustments for estimates of means,
    ISR 54, 139-157; Rosenbaum & Rubin (1983).
    """
    fit = check_option("fit", fit, PropensityFit)
    import statsmodels.api as sm

    d, resp = _check_common(data, weights, responded, min_respondents)
    if not covariates:
        raise OptionError(message("no covariate", where="parameter covariates", hint="e.g. age_band, household"))
    check_columns(data, covariates, role="propensity covariate", source="the sample")
    if not isinstance(n_classes, (int, np.integer)) or n_classes < 1:
        raise OptionError(
            message("n_classes must be a positive integer", where="parameter n_classes", found=repr(n_classes))
        )
    parts = []
    for c in covariates:
        s = data[c]
        if s.isna().any():
            raise InputError(
                message(
                    "propensity covariate has missing values",
                    where=f"column {c!r}",
                    found=f"{int(s.isna().sum())} rows",
                )
            )
        if pd.api.types.is_numeric_dtype(s) and s.nunique() > 2:
            parts.append(s.astype(float).rename(c).to_frame())
        else:
            parts.append(pd.get_dummies(s.astype(str), prefix=c, drop_first=True, dtype=float))
    X = sm.add_constant(pd.concat(parts, axis=1), has_constant="add")
    vw = d / d.mean() if fit == "weighted" else None
    try:
        import warnings

        with warnings.catch_warnings():
            warnings.simplefilter("error", category=sm.tools.sm_exceptions.PerfectSeparationWarning)
            res = sm.GLM(resp.astype(float), X, family=sm.families.Binomial(), var_weights=vw).fit()
    except (
        sm.tools.sm_exceptions.PerfectSeparationWarning,
        sm.tools.sm_exceptions.PerfectSeparationError,
        np.linalg.LinAlgError,
    ) as exc:
        raise ConvergenceError(
            message(
                "the response propensity model cannot be fitted",
                where=", ".join(covariates),
                found=str(exc).splitlines()[0] if str(exc) else type(exc).__name__,
                hint="use fewer or coarser covariates, or weighting classes",
            )
        ) from None
    p = np.asarray(res.predict(X), dtype=float)
    cls = np.asarray(pd.qcut(p, n_classes, labels=False, duplicates="drop"), dtype=np.int64)
    K = cls.max() + 1
    lo = np.array([p[cls == k].min() for k in range(K)])
    hi = np.array([p[cls == k].max() for k in range(K)])
    keys = pd.DataFrame({"propensity_class": np.arange(K)})
    out = _adjust(cls, keys, d, resp, min_respondents, "propensity", tuple(covariates), propensity=p)
    report = out.report.assign(propensity_min=lo, propensity_max=hi)
    return NonresponseResult(**{**out.__dict__, "report": report})
