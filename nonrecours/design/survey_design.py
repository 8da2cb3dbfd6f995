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

import numpy as np
import pandas as pd
import scipy.sparse as sp

from .._checks import check_columns
from .._frozen import owned, readonly
from ..errors import DesignError, InputError, line_list, message, rows_found
from ..options import LonelyPSURule, check_option

__all__ = ["SurveyDesign", "Calibration", "Replicates", "DESIGN_COLUMNS"]

#: Conventional column of each design role, as ``nonrecours sample`` writes them.
DESIGN_COLUMNS: dict[str, str] = {"weight": "weight", "strata": "stratum", "psu": "psu", "ssu": "ssu",
                                  "fpc": "fpc", "fpc2": "fpc2"}


@dataclass(frozen=True, eq=False)
class Calibration:
    """One calibration step, rows aligned with the design's data.

    Parameters
    ----------
    X : ndarray of shape (n, p)
        Calibration variables (model matrix).
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

    X: np.ndarray
    d: np.ndarray
    g: np.ndarray
    record: object | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        X = np.asarray(self.X, dtype=float)
        X = X.reshape(-1, 1) if X.ndim == 1 else X
        d = np.asarray(self.d, dtype=float).ravel()
        g = np.asarray(self.g, dtype=float).ravel()
        if not (X.shape[0] == d.size == g.size):
            raise DesignError(message("calibration arrays are not aligned", where="Calibration",
                                      expected="X (n, p), d (n,), g (n,) with the same n",
                                      found=f"X {X.shape}, d {d.shape}, g {g.shape}"))
        object.__setattr__(self, "X", owned(X, self.X))  # copied when shared: the caller's arrays stay theirs
        object.__setattr__(self, "d", owned(d, self.d))
        object.__setattr__(self, "g", owned(g, self.g))


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
            raise DesignError(message("replicate weights must be finite and non-negative",
                                      where="Replicates.weights",
                                      found=f"{int((~np.isfinite(W) | (W < 0)).any(axis=1).sum())} rows"))
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


class DesignStructure:
    """Integer codes and stage sizes of a design (computed once per design).

    Attributes are plain arrays: ``stratum`` and ``psu`` (row codes), ``psu_stratum``
    (stratum of each PSU), ``n_h`` (sampled PSUs per stratum), ``N_h`` (population
    PSUs, ``inf`` without FPC), ``ssu`` / ``ssu_psu`` / ``n2`` / ``N2`` for the
    second stage (``None`` without SSU).
    """

    def __init__(self, *, weights, stratum, psu, psu_stratum, n_h, N_h, has_fpc, stratum_labels,
                 ssu=None, ssu_psu=None, n2=None, N2=None) -> None:
        self.weights = weights
        self.stratum = stratum
        self.psu = psu
        self.psu_stratum = psu_stratum
        self.n_h = n_h
        self.N_h = N_h
        self.has_fpc = has_fpc
        self.stratum_labels = stratum_labels
        self.ssu = ssu
        self.ssu_psu = ssu_psu
        self.n2 = n2
        self.N2 = N2
        for name, value in vars(self).items():  # arrays handed out are read-only
            if isinstance(value, np.ndarray):
                setattr(self, name, readonly(value))
        self.n = weights.size
        self.n_strata = n_h.size
        self.n_psu = psu_stratum.size

    @cached_property
    def psu_matrix(self) -> sp.csr_matrix:
        """Indicator matrix PSUs x rows (sums rows into PSU totals)."""
        return sp.csr_matrix((np.ones(self.n), (self.psu, np.arange(self.n))), shape=(self.n_psu, self.n))

    @cached_property
    def ssu_matrix(self) -> sp.csr_matrix:
        """Indicator matrix SSUs x rows."""
        m = self.ssu_psu.size
        return sp.csr_matrix((np.ones(self.n), (self.ssu, np.arange(self.n))), shape=(m, self.n))

    @cached_property
    def stratum_matrix(self) -> sp.csr_matrix:
        """Indicator matrix strata x PSUs."""
        return sp.csr_matrix((np.ones(self.n_psu), (self.psu_stratum, np.arange(self.n_psu))),
                             shape=(self.n_strata, self.n_psu))


def _codes(s: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    codes, uniques = pd.factorize(s, sort=True)
    return codes.astype(np.int64), np.asarray(uniques, dtype=object)


def _numeric(data: pd.DataFrame, col: str, role: str) -> np.ndarray:
    s = data[col]
    if isinstance(s.dtype, np.dtype) and s.dtype.kind in "fiub":  # numpy numbers: nothing to coerce
        return np.array(s.to_numpy(), dtype=float)
    v = pd.to_numeric(s, errors="coerce").to_numpy(dtype=float, na_value=np.nan)
    bad = s.notna().to_numpy() & np.isnan(v)
    if bad.any():
        raise InputError(message(f"{role} column is not numeric", where=f"column {col!r}",
                                 expected="numbers", found=rows_found(bad)))
    return v


def _missing(data: pd.DataFrame, col: str, role: str) -> None:
    miss = data[col].isna().to_numpy()
    if miss.any():
        raise DesignError(message(f"missing {role} values", where=f"column {col!r}",
                                  expected=f"a {role} for every row", found=f"{int(miss.sum())} rows empty, on {line_list(miss)}",
                                  hint="fill them in or drop those rows before building the design"))


def _check_fpc_present(f: np.ndarray, col: str) -> None:
    if np.isnan(f).any():
        raise DesignError(message("missing FPC values", where=f"column {col!r}",
                                  expected="a population size or sampling fraction on every row",
                                  found=f"{int(np.isnan(f).sum())} rows empty, on {line_list(np.isnan(f))}"))


def _popsize(f: np.ndarray, n: np.ndarray, col: str) -> np.ndarray:
    """FPC values <= 1 are sampling fractions, larger ones population sizes (R survey)."""
    if (f < 0).any():
        raise DesignError(message("negative FPC values", where=f"column {col!r}", expected=">= 0",
                                  found=f"{int((f < 0).sum())} rows"))
    if (f > 1).any():
        if (f < 1).any():
            raise DesignError(message("FPC mixes sampling fractions and population sizes", where=f"column {col!r}",
                                      expected="all values <= 1 (fractions) or all >= 1 (population sizes)",
                                      found=f"{int((f < 1).sum())} rows < 1 and {int((f > 1).sum())} rows > 1"))
        return f.copy()
    with np.errstate(divide="ignore"):
        return np.where(f > 0, n / np.where(f > 0, f, 1.0), np.inf)


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
    _allow_zero: bool = field(default=False, repr=False, kw_only=True)
    _structure: DesignStructure = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if not isinstance(self.data, pd.DataFrame):
            raise InputError(message("design data must be a pandas DataFrame", where="SurveyDesign",
                                     found=type(self.data).__name__))
        object.__setattr__(self, "lonely_psu", check_option("lonely_psu", self.lonely_psu, LonelyPSURule))
        object.__setattr__(self, "calibration", tuple(self.calibration))
        roles = {"weight": self.weight, "strata": self.strata, "psu": self.psu, "ssu": self.ssu,
                 "fpc": self.fpc, "fpc2": self.fpc2}
        for role, col in roles.items():
            check_columns(self.data, [col], role=f"{role} column", source="the sample")
        if self.ssu is not None and self.psu is None:
            raise DesignError(message("a second-stage unit needs a first-stage unit", where=f"column {self.ssu!r}",
                                      hint="give the psu column too"))
        if self.fpc2 is not None and self.ssu is None:
            raise DesignError(message("a second-stage FPC needs second-stage units", where=f"column {self.fpc2!r}",
                                      hint="give the ssu column too"))
        object.__setattr__(self, "_structure", self._build())
        n = self._structure.n
        for i, cal in enumerate(self.calibration):
            if cal.X.shape[0] != n:
                raise DesignError(message("calibration step not aligned with the data", where=f"calibration[{i}]",
                                          expected=f"{n} rows", found=f"{cal.X.shape[0]}"))
        if self.replicates is not None and self.replicates.weights.shape[0] != n:
            raise DesignError(message("replicate weights not aligned with the data", where="replicates.weights",
                                      expected=f"{n} rows", found=f"{self.replicates.weights.shape[0]}"))

    # -- construction -------------------------------------------------------------------------
    def _build(self) -> DesignStructure:
        data = self.data
        n = len(data)
        if n == 0:
            raise InputError(message("the sample is empty", where="SurveyDesign", expected="at least one row"))
        if self.strata is not None:
            _missing(data, self.strata, "stratum")
            stratum, labels = _codes(data[self.strata])
        else:
            stratum, labels = np.zeros(n, np.int64), np.array(["(all)"], dtype=object)
        H = labels.size
        if self.psu is not None:
            _missing(data, self.psu, "PSU")
            psu, _ = _codes(data[self.psu])
        else:
            psu = np.arange(n, dtype=np.int64)
        U = int(psu.max()) + 1
        psu_stratum = np.zeros(U, np.int64)
        psu_stratum[psu] = stratum
        crossing = _constant_within(stratum.astype(float), psu, U)
        if crossing.any():
            n_bad = int(np.unique(psu[crossing]).size)
            raise DesignError(message("PSUs are not nested in strata", where=f"column {self.psu!r}",
                                      expected="each PSU id in a single stratum",
                                      found=f"{n_bad} PSU ids in several strata ({int(crossing.sum())} rows)",
                                      hint=f"make PSU ids unique across strata, e.g. {self.strata} + '_' + {self.psu} "
                                           "(R's nest=TRUE)"))
        n_h = np.bincount(psu_stratum, minlength=H).astype(float)
        has_fpc = self.fpc is not None
        if has_fpc:
            f = _numeric(data, self.fpc, "FPC")
            _check_fpc_present(f, self.fpc)
            varying = _constant_within(np.nan_to_num(f, nan=-1.0), stratum, H)
            if varying.any():
                raise DesignError(message("FPC varies within a stratum", where=f"column {self.fpc!r}",
                                          expected="one value per stratum", found=f"{int(varying.sum())} rows in such strata",
                                          hint="the first-stage FPC is the stratum's population count of PSUs"))
            N_row = _popsize(f, n_h[stratum], self.fpc)
            too_small = N_row < n_h[stratum]
            if too_small.any():
                raise DesignError(message("FPC smaller than the number of sampled PSUs", where=f"column {self.fpc!r}",
                                          expected="population size >= sampled PSUs in the stratum",
                                          found=f"{int(too_small.sum())} rows",
                                          hint="FPC values > 1 are population counts, <= 1 sampling fractions"))
            N_h = np.empty(H)
            N_h[stratum] = N_row
        else:
            N_h = np.full(H, np.inf)
        ssu = ssu_psu = n2 = N2 = None
        if self.ssu is not None:
            _missing(data, self.ssu, "SSU")
            raw, _ = _codes(data[self.ssu])
            ssu, ssu_key = pd.factorize(psu * (int(raw.max()) + 1) + raw)
            ssu = ssu.astype(np.int64)
            ssu_psu = (np.asarray(ssu_key, dtype=np.int64) // (int(raw.max()) + 1)).astype(np.int64)
            n2 = np.bincount(ssu_psu, minlength=U).astype(float)
            if self.fpc2 is not None:
                f2 = _numeric(data, self.fpc2, "FPC")
                _check_fpc_present(f2, self.fpc2)
                varying = _constant_within(np.nan_to_num(f2, nan=-1.0), psu, U)
                if varying.any():
                    raise DesignError(message("second-stage FPC varies within a PSU", where=f"column {self.fpc2!r}",
                                              expected="one value per PSU", found=f"{int(varying.sum())} rows in such PSUs"))
                N2_row = _popsize(f2, n2[psu], self.fpc2)
                too_small = N2_row < n2[psu]
                if too_small.any():
                    raise DesignError(message("second-stage FPC smaller than the number of sampled SSUs",
                                              where=f"column {self.fpc2!r}", expected="population size >= sampled SSUs in the PSU",
                                              found=f"{int(too_small.sum())} rows"))
                N2 = np.empty(U)
                N2[psu] = N2_row
            else:
                N2 = np.full(U, np.inf)
        if self.weight is not None:
            w = _numeric(data, self.weight, "weight")
            bad = ~np.isfinite(w) | ((w < 0) if self._allow_zero else (w <= 0))
            if bad.any():
                raise InputError(message("weights must be finite and positive", where=f"column {self.weight!r}",
                                         expected="> 0", found=f"{int(bad.sum())} rows missing, zero or negative, on "
                                                                 f"{line_list(bad)}",
                                         hint="fix or drop those rows; use design.subset() to leave rows out of a domain"))
        elif has_fpc:
            w = N_h[stratum] / n_h[stratum]
            if N2 is not None and self.fpc2 is not None:
                w = w * N2[psu] / n2[psu]
            if not np.isfinite(w).all():
                raise DesignError(message("weights cannot be derived from an FPC of 0", where=f"column {self.fpc!r}",
                                          hint="give a weight column"))
        else:
            w = np.ones(n)
        return DesignStructure(weights=w, stratum=stratum, psu=psu, psu_stratum=psu_stratum, n_h=n_h, N_h=N_h,
                               has_fpc=has_fpc, stratum_labels=labels, ssu=ssu, ssu_psu=ssu_psu, n2=n2, N2=N2)

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
        return float(np.count_nonzero(np.bincount(st.psu[inset], minlength=st.n_psu))
                     - np.count_nonzero(np.bincount(st.stratum[inset], minlength=st.n_strata)))

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
            raise InputError(message("weights not aligned with the data", where="with_weights",
                                     expected=f"{self.n} values", found=f"{w.size}"))
        name = self._weight_name()
        return dataclasses.replace(self, data=self.data.assign(**{name: w}), weight=name, _allow_zero=True)

    def with_calibration(self, calibration: Calibration) -> SurveyDesign:
        """Return a design calibrated by one more step; its weights become ``d * g``."""
        new = self.with_weights(calibration.d * calibration.g)
        return dataclasses.replace(new, calibration=self.calibration + (calibration,))

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
            raise InputError(message("subset mask not aligned with the data", where="subset",
                                     expected=f"{self.n} booleans", found=str(m.shape)))
        new = self.with_weights(np.where(m, self.weights, 0.0))
        if self.replicates is not None:
            r = self.replicates
            new = dataclasses.replace(new, replicates=dataclasses.replace(r, weights=r.weights * m[:, None]))
        return new
