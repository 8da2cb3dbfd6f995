"""The frozen survey design: data plus column roles, validated once.

A :class:`SurveyDesign` holds the sample, the names of the columns that play a
role in the design (weight, strata, first- and second-stage units, finite
population corrections) and the lonely-PSU rule. It is validated on
construction and precomputes integer codes (strata, PSUs, SSUs) once, so that
the estimation engine never re-reads the columns. Transformations
(:meth:`SurveyDesign.with_weights`, :meth:`~SurveyDesign.with_calibration`,
:meth:`~SurveyDesign.with_replicates`, :meth:`~SurveyDesign.subset`) return new
designs; a subset keeps every row and sets the weights outside it to zero,
as R's ``survey`` does (``prob = Inf``).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any, Protocol

import numpy as np
import pandas as pd
import scipy.sparse as sp

from .._checks import check_columns
from .._frozen import owned, readonly
from ..errors import DesignError, InputError, line_list, message, rows_found
from ..options import LonelyPSURule, PPSMethod, check_option
from .pps_variance import JointProbabilities

__all__ = ["SurveyDesign", "Calibration", "MatrixLike", "Replicates", "Stage", "DESIGN_COLUMNS"]

#: Conventional column of each design role, as ``nonrecours sample`` writes them.
DESIGN_COLUMNS: dict[str, str] = {
    "weight": "weight",
    "strata": "stratum",
    "psu": "psu",
    "ssu": "ssu",
    "fpc": "fpc",
    "fpc2": "fpc2",
}


class MatrixLike(Protocol):
    """A matrix kept in another form than a dense array: its shape and its dense array on demand
    (scipy sparse matrices; the slot form of :class:`~nonrecours.weights._calsolve.SlotMatrix`)."""

    @property
    def shape(self) -> tuple[int, ...]: ...

    def toarray(self) -> np.ndarray: ...


@dataclass(frozen=True, eq=False)
class Calibration:
    """One calibration step, rows aligned with the design's data.

    Parameters
    ----------
    X : ndarray, scipy sparse matrix or matrix in slot form, of shape (n, p)
        Calibration variables (model matrix). A sparse matrix, or any matrix with ``shape`` and
        ``toarray()`` (:class:`MatrixLike`) such as the slot form calibration builds (a few non-zero
        entries per row: :class:`~nonrecours.weights._calsolve.SlotMatrix`), is kept as given;
        the variance engine expands it when it needs it.
    d : ndarray of shape (n,)
        Weights before this step.
    g : ndarray of shape (n,)
        Calibration factors; the weights after the step are ``d * g``.
    record : object, optional
        What the step needs to replay itself (the
        :class:`~nonrecours.weights.calibration.CalibrationResult`: margins,
        distance, bounds, coding), so that replicate weights added later are
        re-calibrated without the caller passing the calibration again.

    Notes
    -----
    The Taylor engine replaces the weighted influence values :math:`x` by the
    residuals :math:`x - w X\\beta`, :math:`\\beta = (X^\\top D X)^{-1} X^\\top (x / g)`,
    :math:`w = d g` (R survey's ``greg_calibration``; Deville & Särndal, 1992).
    """

    X: np.ndarray | MatrixLike
    d: np.ndarray
    g: np.ndarray
    record: object | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        X: Any = self.X
        if sp.issparse(X):  # kept, read-only (its arrays flagged)
            X = X.tocsr().astype(float, copy=False)
            for a in (X.data, X.indices, X.indptr):
                a.setflags(write=False)
        elif not (hasattr(X, "toarray") and hasattr(X, "shape")):  # a matrix in slot form is kept as it is
            X = np.asarray(X, dtype=float)
            X = X.reshape(-1, 1) if X.ndim == 1 else X
        d = np.asarray(self.d, dtype=float).ravel()
        g = np.asarray(self.g, dtype=float).ravel()
        if not (X.shape[0] == d.size == g.size):
            raise DesignError(
                message(
                    "calibration arrays are not aligned",
                    where="Calibration",
                    expected="X (n, p), d (n,), g (n,) with the same n",
                    found=f"X {X.shape}, d {d.shape}, g {g.shape}",
                )
            )
        if isinstance(X, np.ndarray):
            X = owned(X, self.X)  # copied when shared: the caller's arrays stay theirs
        object.__setattr__(self, "X", X)
        object.__setattr__(self, "d", d if _frozen(d) else owned(d, self.d))
        object.__setattr__(self, "g", g if _frozen(g) else owned(g, self.g))


def _frozen(a: np.ndarray) -> bool:
    """Is ``a`` read-only down to the array owning its memory (no one can change it: no need to copy)?"""
    cur: Any = a
    while isinstance(cur, np.ndarray):
        if cur.flags.writeable:
            return False
        cur = cur.base
    return True


@dataclass(frozen=True, eq=False)
class Replicates:
    """Replicate weights and how to combine the replicate estimates (R's ``svrVar``).

    Parameters
    ----------
    weights : ndarray of shape (n, R)
        Replicate weights, rows aligned with the design's data.
    type : str
        Method that produced them (``"JK1"``, ``"JKn"``, ``"bootstrap"``, ...), recorded only.
    scale : float
        Overall multiplier.
    rscales : ndarray of shape (R,)
        Per-replicate multipliers.
    mse : bool
        Centre on the full-sample estimate (``True``) or on the mean of the replicates.

    Notes
    -----
    :math:`v = \\text{scale} \\sum_r \\text{rscales}_r (\\hat\\theta_r - c)^2` with
    :math:`c = \\hat\\theta` if ``mse`` else the mean of the replicates having
    ``rscales > 0`` (Wolter, 2007; R survey ``svrVar``).
    """

    weights: np.ndarray
    type: str
    scale: float
    rscales: np.ndarray
    mse: bool

    def __post_init__(self) -> None:
        W = np.asarray(self.weights, dtype=float)
        W = W.reshape(-1, 1) if W.ndim == 1 else W
        r = np.broadcast_to(np.asarray(self.rscales, dtype=float), (W.shape[1],)).copy()
        # two reductions, no n x R temporaries (NaN fails min >= 0, +inf fails max < inf)
        if W.size and not (W.min() >= 0 and W.max() < np.inf):
            raise DesignError(
                message(
                    "replicate weights must be finite and non-negative",
                    where="Replicates.weights",
                    found=f"{int((~np.isfinite(W) | (W < 0)).any(axis=1).sum())} rows",
                )
            )
        object.__setattr__(self, "weights", owned(W, self.weights))  # copied when shared with the caller
        object.__setattr__(self, "rscales", readonly(r))
        object.__setattr__(self, "scale", float(self.scale))
        object.__setattr__(self, "mse", bool(self.mse))

    @cached_property
    def rank(self) -> int:
        """Numerical rank of the replicate weight matrix, computed once (R's ``qr(W, tol=1e-5)$rank``).

        Notes
        -----
        The rank is read from the eigenvalues of the R x R matrix :math:`W^\\top W`
        (cost :math:`nR^2`, instead of an SVD of the n x R matrix): a singular
        value :math:`s_k` of W counts when :math:`s_k > 10^{-5} s_1`, that is
        :math:`\\lambda_k > 10^{-10} \\lambda_1`.

        Full column rank is first certified cheaply from ``4R`` spread rows S:
        :math:`W^\\top W \\succeq S^\\top S` gives
        :math:`\\lambda_{\\min}(W^\\top W) \\ge \\lambda_{\\min}(S^\\top S)`, and
        :math:`\\lambda_1 \\le \\|W\\|_F^2`; when
        :math:`\\lambda_{\\min}(S^\\top S) > 10^{-8} \\|W\\|_F^2` (100 times the
        threshold) every eigenvalue passes and the rank is R, as the full
        computation (which runs otherwise) would find.
        """
        W = self.weights
        if W.size == 0:
            return 0
        n, R = W.shape
        if n >= 8 * R:
            S = W[np.linspace(0, n - 1, 4 * R).astype(np.int64)]
            if W.flags.c_contiguous or W.flags.f_contiguous:
                flat = W.reshape(-1, order="A")  # a view
                fro2 = float(flat @ flat)
            else:
                fro2 = float(np.einsum("ij,ij->", W, W))
            if np.linalg.eigvalsh(S.T @ S).min() > 1e-8 * fro2:
                return R
        lam = np.linalg.eigvalsh(W.T @ W)
        return int((lam > lam.max() * 1e-10).sum())


@dataclass(frozen=True)
class Stage:
    """A sampling stage below the first (R's ``svydesign(id = ~psu + ssu + ..., strata =, fpc =)``).

    Parameters
    ----------
    units : str
        Column of the stage's sampling units; ids need only be unique within the unit of the stage above.
    strata : str, optional
        Strata of this stage, within each unit of the stage above (one stratum per unit if omitted).
    fpc : str, optional
        Population units per stratum of this stage (or sampling fractions <= 1), constant within a
        stratum; without it the stage is with replacement and the stages below it add nothing.
    """

    units: str
    strata: str | None = None
    fpc: str | None = None


class StageStructure:
    """Codes of one stage below the first: units, their strata (nested in the unit above) and sizes.

    ``unit`` (row codes), ``unit_stratum`` (stratum of each unit), ``stratum_parent`` (unit of the
    stage above holding each stratum), ``n`` and ``N`` (sampled / population units per stratum,
    ``N = inf`` without FPC), ``above`` (per stratum, the product of the sampling fractions of the
    stages above: R's ``nPSU / fpc`` factors of ``multistage``) and ``frac`` (per unit, ``above``
    times its own stratum's ``n / N``: the ``above`` of the next stage).
    """

    def __init__(self, *, unit, unit_stratum, stratum_parent, n, N, above, frac, stage: Stage, number: int) -> None:
        self.unit = readonly(unit)
        self.unit_stratum = readonly(unit_stratum)
        self.stratum_parent = readonly(stratum_parent)
        self.n = readonly(n)
        self.N = readonly(N)
        self.above = readonly(above)
        self.frac = readonly(frac)
        self.stage = stage
        self.number = number

    @cached_property
    def unit_matrix(self) -> sp.csr_matrix:
        """Indicator matrix units x rows."""
        m = self.unit_stratum.size
        return sp.csr_matrix(
            (np.ones(self.unit.size), (self.unit, np.arange(self.unit.size))), shape=(m, self.unit.size)
        )

    @cached_property
    def stratum_matrix(self) -> sp.csr_matrix:
        """Indicator matrix strata x units."""
        m = self.unit_stratum.size
        return sp.csr_matrix((np.ones(m), (self.unit_stratum, np.arange(m))), shape=(self.n.size, m))


class DesignStructure:
    """Integer codes and stage sizes of a design (computed once per design).

    Attributes are plain arrays: ``stratum`` and ``psu`` (row codes), ``psu_stratum``
    (stratum of each PSU), ``n_h`` (sampled PSUs per stratum), ``N_h`` (population
    PSUs, ``inf`` without FPC); ``later`` the :class:`StageStructure` of each stage
    below the first. ``pi_psu`` is the first-stage inclusion
    probability of each PSU (``n_h / N_h``; 0 without FPC; the PSU's own with PPS)
    and ``pps_M`` the factors ``(P, N)`` (sparse, rows x PSUs) of the matrix
    :math:`M = P^\\top P - N^\\top N` of a PPS first stage in Horvitz-Thompson or
    Sen-Yates-Grundy form (``None`` otherwise; see
    :func:`~nonrecours.design.pps_variance.pps_blocks`).
    """

    def __init__(
        self,
        *,
        weights,
        stratum,
        psu,
        psu_stratum,
        n_h,
        N_h,
        has_fpc,
        stratum_labels,
        later=(),
        pi_psu=None,
        pps_M=None,
    ) -> None:
        self.weights = weights
        self.stratum = stratum
        self.psu = psu
        self.psu_stratum = psu_stratum
        self.n_h = n_h
        self.N_h = N_h
        self.has_fpc = has_fpc
        self.stratum_labels = stratum_labels
        self.later = tuple(later)
        self.pi_psu = pi_psu
        self.pps_M = pps_M  # a pair of sparse matrices (read-only by construction: never handed out writable)
        for name, value in vars(self).items():  # arrays handed out are read-only
            if isinstance(value, np.ndarray):
                if value.flags.owndata:  # made by the design: frozen itself, so that sharing it needs no copy
                    value.setflags(write=False)
                setattr(self, name, readonly(value))
        self.n = weights.size
        self.n_strata = n_h.size
        self.n_psu = psu_stratum.size

    @cached_property
    def psu_matrix(self) -> sp.csr_matrix:
        """Indicator matrix PSUs x rows (sums rows into PSU totals)."""
        return sp.csr_matrix((np.ones(self.n), (self.psu, np.arange(self.n))), shape=(self.n_psu, self.n))

    @cached_property
    def stratum_matrix(self) -> sp.csr_matrix:
        """Indicator matrix strata x PSUs."""
        return sp.csr_matrix(
            (np.ones(self.n_psu), (self.psu_stratum, np.arange(self.n_psu))), shape=(self.n_strata, self.n_psu)
        )


def _codes(s: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    codes, uniques = pd.factorize(s, sort=True)
    return codes.astype(np.int64), np.asarray(uniques, dtype=object)


def _numeric(data: pd.DataFrame, col: str, role: str) -> np.ndarray:
    s = data[col]
    if isinstance(s.dtype, np.dtype) and s.dtype.kind in "fiub":  # numpy numbers: nothing to coerce
        v = s.to_numpy()
        return v if v.dtype == float and _frozen(v) else np.array(v, dtype=float)  # a frozen column is shared
    v = pd.to_numeric(s, errors="coerce").to_numpy(dtype=float, na_value=np.nan)
    bad = s.notna().to_numpy() & np.isnan(v)
    if bad.any():
        raise InputError(
            message(f"{role} column is not numeric", where=f"column {col!r}", expected="numbers", found=rows_found(bad))
        )
    return v


def _missing(data: pd.DataFrame, col: str, role: str) -> None:
    miss = data[col].isna().to_numpy()
    if miss.any():
        raise DesignError(
            message(
                f"missing {role} values",
                where=f"column {col!r}",
                expected=f"a {role} for every row",
                found=f"{int(miss.sum())} rows empty, on {line_list(miss)}",
                hint="fill them in or drop those rows before building the design",
            )
        )


def _check_fpc_present(f: np.ndarray, col: str) -> None:
    if np.isnan(f).any():
        raise DesignError(
            message(
                "missing FPC values",
                where=f"column {col!r}",
                expected="a population size or sampling fraction on every row",
                found=f"{int(np.isnan(f).sum())} rows empty, on {line_list(np.isnan(f))}",
            )
        )


def _popsize(f: np.ndarray, n: np.ndarray, col: str) -> np.ndarray:
    """FPC values <= 1 are sampling fractions, larger ones population sizes (R survey)."""
    if (f < 0).any():
        raise DesignError(
            message("negative FPC values", where=f"column {col!r}", expected=">= 0", found=f"{int((f < 0).sum())} rows")
        )
    if (f > 1).any():
        if (f < 1).any():
            raise DesignError(
                message(
                    "FPC mixes sampling fractions and population sizes",
                    where=f"column {col!r}",
                    expected="all values <= 1 (fractions) or all >= 1 (population sizes)",
                    found=f"{int((f < 1).sum())} rows < 1 and {int((f > 1).sum())} rows > 1",
                )
            )
        return f.copy()
    with np.errstate(divide="ignore"):
        return np.where(f > 0, n / np.where(f > 0, f, 1.0), np.inf)


def _nested(parent: np.ndarray, raw: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Codes of ``raw`` ids made unique within ``parent`` codes (R's ``interaction``), and the parent of each."""
    base = int(raw.max()) + 1
    code, key = pd.factorize(parent * base + raw)
    return code.astype(np.int64), (np.asarray(key, dtype=np.int64) // base).astype(np.int64)


def _constant_within(values: np.ndarray, groups: np.ndarray, ngroups: int) -> np.ndarray:
    """Boolean per row: is the value of its group not constant?"""
    first = np.empty(ngroups)
    first[groups] = values
    ref = first[groups]
    differs = ref != values  # exact comparison first; isclose only where they differ
    if differs.any():
        idx = np.flatnonzero(differs)
        differs[idx] = ~np.isclose(ref[idx], values[idx], rtol=1e-12, atol=0.0)
    bad = np.zeros(ngroups, bool)
    bad[groups[differs]] = True
    return bad[groups]


@dataclass(frozen=True, eq=False)
class SurveyDesign:
    """A stratified multistage sample design: data plus column roles.

    Parameters
    ----------
    data : DataFrame
        The sample, one row per respondent.
    weight : str, optional
        Sampling weights column. Without it, weights are the inverse sampling
        fractions implied by the FPC columns, or 1.
    strata : str, optional
        First-stage strata; one stratum if omitted.
    psu : str, optional
        Primary sampling units, nested in strata; each row is its own PSU if omitted.
    ssu : str, optional
        Second-stage units (ids need only be unique within their PSU).
    fpc, fpc2 : str, optional
        Finite population corrections of stage 1 (constant within a stratum) and
        stage 2 (constant within a PSU): values <= 1 are sampling fractions,
        larger values population sizes, as in R's ``svydesign``.
    lonely_psu : {"fail", "remove", "adjust", "average", "certainty"}
        What to do with a stratum holding a single PSU (R's ``survey.lonely.psu``).
    calibration : tuple of Calibration
        Calibration steps, in order, whose residuals enter the Taylor variance.
    replicates : Replicates, optional
        Replicate weights; when present the variance is computed from them.
    pps : {"brewer", "overton", "hartley-rao", "ht", "yg"}, optional
        The first stage was drawn with unequal probabilities without
        replacement; ``fpc`` then holds each PSU's inclusion probability
        (<= 1, constant within a PSU; R's ``svydesign(pps=)``). See
        :mod:`~nonrecours.design.pps_variance` and :mod:`~nonrecours.estimation.taylor`.
    joint : JointProbabilities, optional
        Joint inclusion probabilities of the PSUs (``pps`` ``ht`` and ``yg``).
    nest : bool
        PSU ids are unique only within their stratum (R's ``nest = TRUE``).
    zero_weights : bool
        Accept zero weights in the weight column: those rows stay in the design
        (their PSUs and strata count) and out of every estimate, as R's
        ``prob = Inf``.
    pps_psum : float or str, optional
        With ``pps="hartley-rao"``: the population's sum of squared inclusion probabilities
        divided by the number of PSUs drawn, :math:`\\bar p = \\sum_{k \\in U_h} \\pi_k^2 / n_h`
        (R's ``HR(psum)``), one number for every stratum or the name of a column constant
        within each stratum. Without it, the mean of the sampled probabilities estimates it
        (R's ``HR()``).

    Notes
    -----
    Validation raises :class:`~nonrecours.errors.InputError` or
    :class:`~nonrecours.errors.DesignError` naming the column and the number of
    rows concerned. Reference: Lumley (2010), *Complex Surveys*, ch. 2-3.

    Examples
    --------
    >>> import pandas as pd
    >>> df = pd.DataFrame({"h": ["a", "a", "b", "b"], "w": [2.0, 2.0, 3.0, 3.0], "y": [1, 0, 1, 1]})
    >>> SurveyDesign(df, weight="w", strata="h").n_psu
    4
    """

    data: pd.DataFrame
    weight: str | None = None
    strata: str | None = None
    psu: str | None = None
    ssu: str | None = None
    fpc: str | None = None
    fpc2: str | None = None
    lonely_psu: LonelyPSURule | str = "fail"
    calibration: tuple[Calibration, ...] = ()
    replicates: Replicates | None = None
    stages: tuple[Stage, ...] = ()
    pps: PPSMethod | str | None = None
    joint: JointProbabilities | None = None
    nest: bool = False
    zero_weights: bool = False
    pps_psum: float | str | None = None
    _allow_zero: bool = field(default=False, repr=False, kw_only=True)
    _structure: DesignStructure = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if not isinstance(self.data, pd.DataFrame):
            raise InputError(
                message("design data must be a pandas DataFrame", where="SurveyDesign", found=type(self.data).__name__)
            )
        object.__setattr__(self, "lonely_psu", check_option("lonely_psu", self.lonely_psu, LonelyPSURule))
        object.__setattr__(self, "calibration", tuple(self.calibration))
        self._check_pps()
        roles = {
            "weight": self.weight,
            "strata": self.strata,
            "psu": self.psu,
            "ssu": self.ssu,
            "fpc": self.fpc,
            "fpc2": self.fpc2,
        }
        for role, col in roles.items():
            check_columns(self.data, [col], role=f"{role} column", source="the sample")
        if self.ssu is not None and self.psu is None:
            raise DesignError(
                message(
                    "a second-stage unit needs a first-stage unit",
                    where=f"column {self.ssu!r}",
                    hint="give the psu column too",
                )
            )
        if self.fpc2 is not None and self.ssu is None:
            raise DesignError(
                message(
                    "a second-stage FPC needs second-stage units",
                    where=f"column {self.fpc2!r}",
                    hint="give the ssu column too",
                )
            )
        object.__setattr__(self, "stages", tuple(self.stages))
        if self.stages:
            if self.ssu is not None:
                raise DesignError(
                    message(
                        "give the stages below the first either as ssu/fpc2 or as stages",
                        where="ssu / stages",
                        hint="stages=(Stage(ssu, fpc=fpc2), ...)",
                    )
                )
            if self.psu is None:
                raise DesignError(message("later stages need a first-stage unit", where="stages", hint="give psu"))
            for i, stage in enumerate(self.stages):
                if not isinstance(stage, Stage):
                    raise InputError(
                        message("a stage must be a Stage", where=f"stages[{i}]", found=type(stage).__name__)
                    )
                for role, col in (("units", stage.units), ("strata", stage.strata), ("fpc", stage.fpc)):
                    check_columns(self.data, [col], role=f"stage {i + 2} {role} column", source="the sample")
        object.__setattr__(self, "_structure", self._build())
        n = self._structure.n
        for i, cal in enumerate(self.calibration):
            if cal.X.shape[0] != n:
                raise DesignError(
                    message(
                        "calibration step not aligned with the data",
                        where=f"calibration[{i}]",
                        expected=f"{n} rows",
                        found=f"{cal.X.shape[0]}",
                    )
                )
        if self.replicates is not None and self.replicates.weights.shape[0] != n:
            raise DesignError(
                message(
                    "replicate weights not aligned with the data",
                    where="replicates.weights",
                    expected=f"{n} rows",
                    found=f"{self.replicates.weights.shape[0]}",
                )
            )

    # -- construction -------------------------------------------------------------------------
    def _check_psum(self) -> None:
        """``pps_psum`` goes with the Hartley-Rao variance: a positive number or a column of the data."""
        v = self.pps_psum
        if v is None:
            return
        if self.pps != "hartley-rao":
            raise DesignError(
                message(
                    "the population's sum of squared inclusion probabilities is used by the Hartley-Rao variance only",
                    where="parameter pps_psum",
                    found=f"pps {self.pps or 'none'}",
                    hint="set parameter pps to 'hartley-rao', or leave pps_psum out",
                )
            )
        if isinstance(v, str):
            check_columns(self.data, [v], role="pps_psum column", source="the sample")
            return
        if isinstance(v, bool) or not isinstance(v, (int, float, np.number)) or not np.isfinite(v) or v <= 0:
            raise DesignError(
                message(
                    "the population's sum of squared inclusion probabilities divided by n must be a positive number",
                    where="parameter pps_psum",
                    expected="a number > 0 or a column name",
                    found=repr(v) if isinstance(v, (int, float, np.number)) else type(v).__name__,
                    hint="sum(pi_k ** 2 for every PSU k of the population) / n, as R's HR(psum)",
                )
            )

    def _psum_by_stratum(self, stratum: np.ndarray, H: int) -> np.ndarray | None:
        """The ``pps_psum`` of each stratum (H,), or None (estimated from the sample, as R's ``HR()``)."""
        v = self.pps_psum
        if v is None:
            return None
        if not isinstance(v, str):
            return np.full(H, float(v))
        col = pd.to_numeric(self.data[v], errors="coerce").to_numpy(float)
        lo = np.full(H, np.inf)
        hi = np.full(H, -np.inf)
        np.minimum.at(lo, stratum, col)
        np.maximum.at(hi, stratum, col)
        if not (np.isfinite(lo).all() and np.isfinite(hi).all() and (lo > 0).all() and (lo == hi).all()):
            raise DesignError(
                message(
                    "the pps_psum column must hold one positive number per stratum",
                    where=f"parameter pps_psum (column {v!r})",
                    expected="the same value > 0 on every row of a stratum, no missing value",
                    found=f"{int(((lo != hi) | ~np.isfinite(lo) | (lo <= 0)).sum())} strata otherwise",
                    hint="sum(pi_k ** 2 over the stratum's PSUs in the population) / n_h on each row",
                )
            )
        return lo

    def _check_pps(self) -> None:
        if self.pps is None:
            if self.pps_psum is not None:
                self._check_psum()
            if self.joint is not None:
                raise DesignError(
                    message(
                        "joint probabilities are used by the ht and yg PPS variances only",
                        where="parameter joint",
                        hint="set parameter pps to 'ht' or 'yg'",
                    )
                )
            return
        object.__setattr__(self, "pps", check_option("pps", self.pps, PPSMethod))
        self._check_psum()
        if self.fpc is None:
            raise DesignError(
                message(
                    "a PPS variance needs the PSUs' inclusion probabilities",
                    where="parameter pps",
                    expected="an fpc column of probabilities <= 1",
                    hint="give the column of the inclusion probabilities as parameter fpc",
                )
            )
        if (self.pps in ("ht", "yg")) != (self.joint is not None):
            raise DesignError(
                message(
                    "joint probabilities go with the ht and yg PPS variances",
                    where="parameter pps, parameter joint",
                    expected="joint given exactly when pps is ht or yg",
                    found=f"pps {self.pps}, joint {'given' if self.joint is not None else 'none'}",
                    hint="give parameter joint (psu_i, psu_j, pi_ij) with parameter pps 'ht' or 'yg'",
                )
            )
        if self.joint is not None and not isinstance(self.joint, JointProbabilities):
            raise InputError(
                message(
                    "joint must be a JointProbabilities",
                    where="parameter joint",
                    found=type(self.joint).__name__,
                    hint="JointProbabilities.from_frame(table)",
                )
            )

    def _build(self) -> DesignStructure:
        data = self.data
        n = len(data)
        if n == 0:
            raise InputError(message("the sample is empty", where="SurveyDesign", expected="at least one row"))
        stratum, labels, psu, psu_labels = self._stage1_codes(n)
        H, U = labels.size, int(psu.max()) + 1
        psu_stratum = np.zeros(U, np.int64)
        psu_stratum[psu] = stratum
        n_h = np.bincount(psu_stratum, minlength=H).astype(float)
        N_h, pi_psu = self._stage1_fpc(stratum, psu, psu_stratum, n_h)
        later = self._later_stages(psu, pi_psu)
        w = self._weights(n, stratum, psu, n_h, N_h, pi_psu, later)
        pps_M = None
        if self.pps is not None and self.pps != "brewer":
            from .pps_variance import pps_blocks, pps_factor

            p2bar = self._psum_by_stratum(stratum, H)
            blocks = pps_blocks(self.pps, pi_psu, psu_stratum, joint=self.joint, psu_labels=psu_labels, p2bar=p2bar)
            pps_M = pps_factor(blocks, U)
        return DesignStructure(
            weights=w,
            stratum=stratum,
            psu=psu,
            psu_stratum=psu_stratum,
            n_h=n_h,
            N_h=N_h,
            has_fpc=self.fpc is not None,
            stratum_labels=labels,
            later=later,
            pi_psu=pi_psu,
            pps_M=pps_M,
        )

    def _stage1_codes(self, n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Stratum and PSU codes of the rows, PSUs checked nested in strata (or made so, ``nest``)."""
        data = self.data
        if self.strata is not None:
            _missing(data, self.strata, "stratum")
            stratum, labels = _codes(data[self.strata])
        else:
            stratum, labels = np.zeros(n, np.int64), np.array(["(all)"], dtype=object)
        if self.psu is None:
            psu = np.arange(n, dtype=np.int64)
            return stratum, labels, psu, psu  # each row its own PSU, labelled by its number
        _missing(data, self.psu, "PSU")
        psu, psu_labels = _codes(data[self.psu])
        if self.nest and self.strata is not None:  # R's nest=TRUE: a PSU id is unique within its stratum only
            psu, key = pd.factorize(stratum * (int(psu.max()) + 1) + psu, sort=True)
            psu = psu.astype(np.int64)
            psu_labels = psu_labels[np.asarray(key, dtype=np.int64) % psu_labels.size]
            return stratum, labels, psu, psu_labels
        U = int(psu.max()) + 1
        crossing = _constant_within(stratum.astype(float), psu, U)
        if crossing.any():
            n_bad = int(np.unique(psu[crossing]).size)
            raise DesignError(
                message(
                    "PSUs are not nested in strata",
                    where=f"column {self.psu!r}",
                    expected="each PSU id in a single stratum",
                    found=f"{n_bad} PSU ids in several strata ({int(crossing.sum())} rows)",
                    hint="make PSU ids unique across strata, or set parameter nest (R's nest=TRUE)",
                )
            )
        return stratum, labels, psu, psu_labels

    def _stage1_fpc(
        self, stratum: np.ndarray, psu: np.ndarray, psu_stratum: np.ndarray, n_h: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        """Population PSUs per stratum (``inf`` without FPC) and the inclusion probability of each PSU."""
        H, U = n_h.size, psu_stratum.size
        if self.fpc is None:
            return np.full(H, np.inf), np.zeros(U)
        f = _numeric(self.data, self.fpc, "FPC")
        _check_fpc_present(f, self.fpc)
        if self.pps is not None:  # one inclusion probability per PSU (R: fpc as sampling fractions with pps)
            bad = ~((f > 0) & (f <= 1))
            if bad.any():
                raise DesignError(
                    message(
                        "PPS needs the PSUs' inclusion probabilities as FPC",
                        where=f"column {self.fpc!r}",
                        expected="0 < fpc <= 1 (R's convention for pps)",
                        found=f"{int(bad.sum())} rows outside",
                        hint="give the column of pi1",
                    )
                )
            varying = _constant_within(f, psu, U)
            if varying.any():
                raise DesignError(
                    message(
                        "FPC varies within a PSU",
                        where=f"column {self.fpc!r}",
                        expected="one inclusion probability per PSU",
                        found=f"{int(varying.sum())} rows in such PSUs",
                    )
                )
            pi = np.empty(U)
            pi[psu] = f
            return np.full(H, np.inf), pi
        varying = _constant_within(np.nan_to_num(f, nan=-1.0), stratum, H)
        if varying.any():
            raise DesignError(
                message(
                    "FPC varies within a stratum",
                    where=f"column {self.fpc!r}",
                    expected="one value per stratum",
                    found=f"{int(varying.sum())} rows in such strata",
                    hint="the first-stage FPC is the stratum's population count of PSUs",
                )
            )
        N_row = _popsize(f, n_h[stratum], self.fpc)
        too_small = N_row < n_h[stratum]
        if too_small.any():
            raise DesignError(
                message(
                    "FPC smaller than the number of sampled PSUs",
                    where=f"column {self.fpc!r}",
                    expected="population size >= sampled PSUs in the stratum",
                    found=f"{int(too_small.sum())} rows",
                    hint="FPC values > 1 are population counts, <= 1 sampling fractions",
                )
            )
        N_h = np.empty(H)
        N_h[stratum] = N_row
        with np.errstate(divide="ignore", invalid="ignore"):
            frac1 = np.where(np.isfinite(N_h), n_h / np.where(np.isfinite(N_h), N_h, 1.0), 0.0)
        return N_h, frac1[psu_stratum]

    def later_stages(self) -> tuple[Stage, ...]:
        """The stages below the first: ``stages``, or ``Stage(ssu, fpc=fpc2)``."""
        if self.ssu is not None:
            return (Stage(self.ssu, None, self.fpc2),)
        return self.stages

    def _later_stages(self, psu: np.ndarray, pi_psu: np.ndarray) -> list[StageStructure]:
        """Codes and sizes of every stage below the first (R's ``multistage`` recursion, flattened)."""
        data = self.data
        parent, above_unit = psu, pi_psu  # the units of the stage above and the product of their fractions
        out = []
        for k, stage in enumerate(self.later_stages(), start=2):
            role = "SSU" if k == 2 else f"stage-{k} unit"
            _missing(data, stage.units, role)
            raw, _ = _codes(data[stage.units])
            unit, _unit_parent = _nested(parent, raw)
            if stage.strata is None:
                stratum, stratum_parent = parent, np.arange(int(parent.max()) + 1, dtype=np.int64)
            else:
                _missing(data, stage.strata, f"stage-{k} stratum")
                sraw, _ = _codes(data[stage.strata])
                stratum, stratum_parent = _nested(parent, sraw)
            m, H = int(unit.max()) + 1, int(stratum.max()) + 1
            crossing = _constant_within(stratum.astype(float), unit, m)
            if crossing.any():
                raise DesignError(
                    message(
                        f"stage-{k} units are not nested in their strata",
                        where=f"column {stage.units!r}",
                        expected="each unit in a single stratum",
                        found=f"{int(np.unique(unit[crossing]).size)} units in several strata",
                    )
                )
            unit_stratum = np.zeros(m, np.int64)
            unit_stratum[unit] = stratum
            n = np.bincount(unit_stratum, minlength=H).astype(float)
            N = np.full(H, np.inf)
            if stage.fpc is not None:
                f = _numeric(data, stage.fpc, "FPC")
                _check_fpc_present(f, stage.fpc)
                varying = _constant_within(np.nan_to_num(f, nan=-1.0), stratum, H)
                if varying.any():
                    where = "a PSU" if stage.strata is None and k == 2 else "a stratum of its stage"
                    label = "second-stage" if k == 2 else f"stage-{k}"
                    raise DesignError(
                        message(
                            f"{label} FPC varies within {where}",
                            where=f"column {stage.fpc!r}",
                            expected="one value per stratum of the stage",
                            found=f"{int(varying.sum())} rows in such units",
                        )
                    )
                N_row = _popsize(f, n[stratum], stage.fpc)
                too_small = N_row < n[stratum]
                if too_small.any():
                    raise DesignError(
                        message(
                            f"{'second-stage' if k == 2 else f'stage-{k}'} FPC smaller than the "
                            "number of sampled units",
                            where=f"column {stage.fpc!r}",
                            expected="population size >= sampled units in the stratum",
                            found=f"{int(too_small.sum())} rows",
                        )
                    )
                N[stratum] = N_row
            above = above_unit[stratum_parent]
            with np.errstate(divide="ignore", invalid="ignore"):
                own = np.where(np.isfinite(N), n / np.where(np.isfinite(N), N, 1.0), 0.0)
            out.append(
                StageStructure(
                    unit=unit,
                    unit_stratum=unit_stratum,
                    stratum_parent=stratum_parent,
                    n=n,
                    N=N,
                    above=above,
                    frac=(above * own)[unit_stratum],
                    stage=stage,
                    number=k,
                )
            )
            parent, above_unit = unit, (above * own)[unit_stratum]
        return out

    def _weights(self, n, stratum, psu, n_h, N_h, pi_psu, later) -> np.ndarray:
        """The weight column, or the inverse sampling fractions of the FPCs, or 1."""
        if self.weight is not None:
            w = _numeric(self.data, self.weight, "weight")
            bad = ~np.isfinite(w) | (w < 0)
            if not self._allow_zero and not self.zero_weights:
                bad |= w == 0
            if bad.any():
                raise InputError(
                    message(
                        "weights must be finite and positive",
                        where=f"column {self.weight!r}",
                        expected="> 0",
                        found=f"{int(bad.sum())} rows missing, zero or negative, on {line_list(bad)}",
                        hint="fix or drop those rows; zero weights are accepted with parameter "
                        "zero_weights: those rows stay in the design, outside every estimate",
                    )
                )
            return w
        if self.fpc is None:
            return np.ones(n)
        w = 1.0 / pi_psu[psu] if self.pps is not None else N_h[stratum] / n_h[stratum]
        for st in later:
            if st.stage.fpc is not None:
                row_stratum = st.unit_stratum[st.unit]
                w = w * st.N[row_stratum] / st.n[row_stratum]
        if not np.isfinite(w).all():
            raise DesignError(
                message(
                    "weights cannot be derived from an FPC of 0",
                    where=f"column {self.fpc!r}",
                    hint="give a weight column",
                )
            )
        return w

    # -- read-only views ----------------------------------------------------------------------
    @property
    def structure(self) -> DesignStructure:
        """Precomputed integer codes and stage sizes."""
        return self._structure

    @property
    def weights(self) -> np.ndarray:
        """Analysis weights (zero outside a subset)."""
        return self._structure.weights

    @property
    def n(self) -> int:
        """Number of rows."""
        return self._structure.n

    @property
    def n_psu(self) -> int:
        """Number of sampled PSUs."""
        return self._structure.n_psu

    @property
    def n_strata(self) -> int:
        """Number of strata."""
        return self._structure.n_strata

    def degf(self) -> float:
        """Design degrees of freedom: PSUs minus strata among rows of non-zero weight (R's ``degf``)."""
        if self.replicates is not None:
            return float(self.replicates.rank - 1)
        st = self._structure
        inset = st.weights != 0
        if inset.all():  # every coded PSU and stratum holds a row
            return float(st.n_psu - st.n_strata)
        return float(
            np.count_nonzero(np.bincount(st.psu[inset], minlength=st.n_psu))
            - np.count_nonzero(np.bincount(st.stratum[inset], minlength=st.n_strata))
        )

    # -- transformations ----------------------------------------------------------------------
    def _weight_name(self) -> str:
        if self.weight is not None:
            return self.weight
        name = "weight"
        while name in self.data.columns:
            name = "_" + name
        return name

    def with_weights(self, weights: np.ndarray | str) -> SurveyDesign:
        """Return a design with new weights (an array aligned with the rows, or a column name).

        Zero weights are allowed in an array: those rows leave the estimation
        but stay in the design (as a subset).
        """
        if isinstance(weights, str):
            check_columns(self.data, [weights], role="weight column", source="the sample")
            return dataclasses.replace(self, weight=weights)
        w = np.asarray(weights, dtype=float).ravel()
        if w.size != self.n:
            raise InputError(
                message(
                    "weights not aligned with the data",
                    where="with_weights",
                    expected=f"{self.n} values",
                    found=f"{w.size}",
                )
            )
        name = self._weight_name()
        return dataclasses.replace(self, data=self.data.assign(**{name: w}), weight=name, _allow_zero=True)

    def with_calibration(self, calibration: Calibration, *, replicates: Replicates | None = None) -> SurveyDesign:
        """Return a design calibrated by one more step; its weights become ``d * g``.

        ``replicates`` replaces the replicate weights in the same step (re-calibrated ones);
        without it the design's are kept. The new design is built once.
        """
        w = calibration.d * calibration.g
        w.setflags(write=False)  # frozen: the data column and the design's weights share it
        name = self._weight_name()
        data = self.data.assign(**{name: pd.Series(w, index=self.data.index, copy=False)})  # the column is w
        return dataclasses.replace(
            self,
            data=data,
            weight=name,
            _allow_zero=True,
            calibration=self.calibration + (calibration,),
            replicates=self.replicates if replicates is None else replicates,
        )

    def with_pps(
        self, pps: PPSMethod | str, probabilities: np.ndarray | str, *, joint: JointProbabilities | None = None
    ) -> SurveyDesign:
        """Return the design whose first stage has the PPS-without-replacement variance ``pps``.

        ``probabilities`` (a column name or an array aligned with the rows) holds each
        PSU's inclusion probability; it becomes the first-stage ``fpc`` (R's
        ``svydesign(fpc = ~pi, pps = ...)``). Weights, calibration and replicates are kept.
        """
        if isinstance(probabilities, str):
            check_columns(self.data, [probabilities], role="inclusion probability column", source="the sample")
            return dataclasses.replace(self, fpc=probabilities, pps=pps, joint=joint)
        p = np.asarray(probabilities, dtype=float).ravel()
        if p.size != self.n:
            raise InputError(
                message(
                    "inclusion probabilities not aligned with the data",
                    where="with_pps",
                    expected=f"{self.n} values",
                    found=f"{p.size}",
                )
            )
        name = "pi_pps"
        while name in self.data.columns:
            name = "_" + name
        return dataclasses.replace(self, data=self.data.assign(**{name: p}), fpc=name, pps=pps, joint=joint)

    def with_replicates(self, replicates: Replicates | None) -> SurveyDesign:
        """Return the design with replicate weights attached (``None`` removes them)."""
        return dataclasses.replace(self, replicates=replicates)

    def subset(self, mask: np.ndarray | pd.Series) -> SurveyDesign:
        """Return the design restricted to ``mask`` by zero weights (R's ``subset``, ``prob = Inf``).

        Every row, PSU and stratum stays in the design, so variances and
        degrees of freedom follow R's subset designs.
        """
        m = np.asarray(mask.to_numpy(dtype=bool, na_value=False) if isinstance(mask, pd.Series) else mask, dtype=bool)
        if m.shape != (self.n,):
            raise InputError(
                message(
                    "subset mask not aligned with the data",
                    where="subset",
                    expected=f"{self.n} booleans",
                    found=str(m.shape),
                )
            )
        new = self.with_weights(np.where(m, self.weights, 0.0))
        if self.replicates is not None:
            r = self.replicates
            new = dataclasses.replace(new, replicates=dataclasses.replace(r, weights=r.weights * m[:, None]))
        return new
