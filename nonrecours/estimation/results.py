"""Frozen results of the estimation engine and the factored covariance they carry.

A result holds one row per (domain, right) and a :class:`VarianceFactor`, a
factored form of the covariance of all its estimates. With 1,500 territories
x 4 rights (6,000 estimates) a dense covariance would take 288 MB; the factor
keeps the PSU-level linearised totals (sparse), from which the variances, any
selected covariances and a sparse covariance matrix are computed on demand.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TypeAlias

import numpy as np
import pandas as pd
import scipy.sparse as sp

from .._frozen import freeze_arrays, readonly
from ..errors import OptionError, message
from ..publication.policy import DEFAULT_MIN_N, DisclosurePolicy

__all__ = ["VarianceFactor", "QualityThresholds", "EstimateResult", "GapResult", "Labels", "SMALL_DOMAIN_N"]

#: Names of estimates: a DataFrame with the ``by`` columns and ``right``, tuples
#: ``(by values..., right)``, or (without ``by``) right names.
Labels: TypeAlias = pd.DataFrame | Sequence[tuple] | Sequence[str]

from .intervals import SMALL_DOMAIN_N  # noqa: E402  (re-exported: the threshold of ``ci = "auto"``)


@dataclass(frozen=True, eq=False)
class VarianceFactor:
    r"""Factored covariance :math:`V = G (A^\top A - B^\top B) G` of K estimates.

    Parameters
    ----------
    A, B : scipy.sparse.csc_matrix of shapes (m, K) and (q, K)
        Scaled unit totals of the linearised values (A: PSUs and SSUs; B: the
        stratum and PSU means that centre them) or centred replicate deviations.
    LA, LB, R : ndarray, optional
        Low-rank calibration terms: the factors are ``A - LA @ R`` and ``B - LB @ R``.
    mult : ndarray of shape (K,)
        Per-estimate multiplier (lonely-PSU rule ``average``; NaN = undefined);
        :math:`G = \mathrm{diag}(\sqrt{\text{mult}})`.

    Notes
    -----
    With stratum totals :math:`z_{hi}` of PSU *i* and scale :math:`c_h = f_h n_h/(n_h-1)`,
    :math:`\sum_h c_h \sum_i (z_{hi} - \bar z_h)(z_{hi} - \bar z_h)^\top =
    \sum_{h,i} c_h z_{hi} z_{hi}^\top - \sum_h c_h n_h \bar z_h \bar z_h^\top`, hence
    :math:`A` rows :math:`\sqrt{c_h} z_{hi}` and :math:`B` rows :math:`\sqrt{c_h n_h}\bar z_h`
    (R survey ``onestrat``; Wolter, 2007, ch. 6).
    """

    A: sp.csc_matrix
    B: sp.csc_matrix
    mult: np.ndarray
    LA: np.ndarray | None = None
    LB: np.ndarray | None = None
    R: np.ndarray | None = None

    def __post_init__(self) -> None:
        freeze_arrays(self)  # arrays handed out are read-only

    @property
    def n_estimates(self) -> int:
        """Number of estimates K."""
        return self.A.shape[1]

    def _gram_diag(self, M: sp.csc_matrix, L: np.ndarray | None) -> np.ndarray:
        d = np.asarray(M.multiply(M).sum(axis=0)).ravel()
        if L is not None and self.R is not None and L.shape[1]:
            ML = np.asarray(M.T @ L)  # K x p
            d = d - 2 * np.einsum("kp,pk->k", ML, self.R) + np.einsum("pk,pq,qk->k", self.R, L.T @ L, self.R)
        return d

    def variances(self) -> np.ndarray:
        """Variances of the K estimates (diagonal of V), clipped at 0."""
        v = (self._gram_diag(self.A, self.LA) - self._gram_diag(self.B, self.LB)) * self.mult
        return np.where(np.isnan(v), np.nan, np.maximum(v, 0.0))

    def _gram_pairs(self, M: sp.csc_matrix, L: np.ndarray | None, i: np.ndarray, j: np.ndarray) -> np.ndarray:
        out = np.asarray(M[:, i].multiply(M[:, j]).sum(axis=0)).ravel()
        if L is not None and self.R is not None and L.shape[1]:
            Ri, Rj = self.R[:, i], self.R[:, j]
            out = (
                out
                - np.einsum("kp,pk->k", np.asarray(M[:, i].T @ L), Rj)
                - np.einsum("kp,pk->k", np.asarray(M[:, j].T @ L), Ri)
                + np.einsum("pk,pq,qk->k", Ri, L.T @ L, Rj)
            )
        return out

    def covariances(self, i: np.ndarray, j: np.ndarray) -> np.ndarray:
        """Covariances of the pairs of estimates ``(i[m], j[m])``, as a vector."""
        i = np.asarray(i, dtype=np.int64).ravel()
        j = np.asarray(j, dtype=np.int64).ravel()
        if i.size == 0:
            return np.zeros(0)
        c = self._gram_pairs(self.A, self.LA, i, j) - self._gram_pairs(self.B, self.LB, i, j)
        return c * np.sqrt(self.mult[i] * self.mult[j])

    def matrix(self, index: np.ndarray | None = None) -> sp.csr_matrix | np.ndarray:
        """Covariance matrix of the estimates ``index`` (all by default).

        Sparse (``scipy.sparse.csr_matrix``) for Taylor designs without
        calibration; dense (ndarray) when low-rank calibration terms or
        replicate weights make it dense.
        """
        idx = np.arange(self.n_estimates) if index is None else np.asarray(index, dtype=np.int64)
        A, B = self.A[:, idx], self.B[:, idx]
        V = (A.T @ A - B.T @ B).tocsr()
        if self.R is not None and self.R.shape[0]:
            R = self.R[:, idx]
            V = V.toarray()
            for M, L in ((A, self.LA), (B, self.LB)):
                sign = 1.0 if M is A else -1.0
                assert L is not None  # set with R
                ML = np.asarray(M.T @ L)
                V += sign * (-ML @ R - (ML @ R).T + R.T @ (L.T @ L) @ R)
        g = np.sqrt(self.mult[idx])
        if sp.issparse(V):
            return sp.diags(g) @ V @ sp.diags(g)
        return V * np.outer(g, g)


@dataclass(frozen=True)
class QualityThresholds:
    """Thresholds of the quality flag.

    Parameters
    ----------
    min_n : int
        Below this number of eligible respondents the cell is ``suppressed``
        (statistical confidentiality): estimate, SE and CI are not shown
        (default :data:`~nonrecours.publication.policy.DEFAULT_MIN_N`). An
        estimate of take-up is suppressed too below ``min_n`` takers or
        ``min_n`` non-takers among them (the policy's rule,
        :meth:`~nonrecours.publication.policy.DisclosurePolicy.small_survey_cells`).
    reliable_n : int
        Below this number the estimate is ``unreliable``.
    max_cv : float
        Above this coefficient of variation the estimate is ``unreliable``.
    """

    min_n: int = DEFAULT_MIN_N
    reliable_n: int = 30
    max_cv: float = 0.30

    def __post_init__(self) -> None:
        if not (0 <= self.min_n <= self.reliable_n) or not self.max_cv > 0:
            raise OptionError(
                message(
                    "inconsistent quality thresholds",
                    where="QualityThresholds",
                    expected="0 <= min_n <= reliable_n and max_cv > 0",
                    found=f"min_n={self.min_n}, reliable_n={self.reliable_n}, max_cv={self.max_cv}",
                )
            )

    def flags(
        self,
        n: np.ndarray,
        cv: np.ndarray,
        n_takers: np.ndarray | None = None,
        n_non_takers: np.ndarray | None = None,
    ) -> np.ndarray:
        """Return ``'suppressed'``, ``'unreliable'`` or ``'ok'`` per estimate.

        ``n_takers`` and ``n_non_takers`` (unweighted respondents taking up and not taking up the right
        behind each estimate; given for estimates of take-up) suppress the estimates with fewer than
        ``min_n`` of either (:meth:`~nonrecours.publication.policy.DisclosurePolicy.small_survey_cells`).

        Examples
        --------
        >>> QualityThresholds().flags(np.array([40, 40]), np.array([0.1, 0.1]),
        ...                           np.array([10, 11]), np.array([30, 29])).tolist()
        ['suppressed', 'ok']
        """
        n = np.asarray(n)
        cv = np.asarray(cv, dtype=float)
        bad_cv = ~(cv <= self.max_cv)  # NaN or infinite CV is unreliable
        small = n < self.min_n
        if n_takers is not None and n_non_takers is not None:
            policy = DisclosurePolicy(min_n=self.min_n, allow_below_threshold=True)  # the caller's threshold
            small = small | policy.small_survey_cells(n, n_takers, n_non_takers)
        return np.where(small, "suppressed", np.where((n < self.reliable_n) | bad_cv, "unreliable", "ok"))


@dataclass(frozen=True, eq=False)
class EstimateResult:
    """Estimates for every (domain, right), their covariance and how they were made.

    Attributes
    ----------
    domains : DataFrame
        The ``by`` columns of each estimate (no column without ``by``).
    right, n, estimate, se, ci_low, ci_high, df, deff, cv, flag : ndarray
        One value per estimate; ``n`` is the number of eligible respondents,
        ``estimate``/``se``/``ci_*``/``deff``/``cv`` are NaN where suppressed.
    n_takers, n_non_takers : ndarray or None
        Estimates of take-up (rates, counts of takers and non-takers): the
        eligible respondents taking up the right (1) and not taking it up (0)
        behind each estimate (``n = n_takers + n_non_takers``; both counts
        for the two rows of a right in a count table), from which the
        ``flag`` holds each side to ``min_n``. ``None`` for other statistics.
        Not in :meth:`to_frame`: never publish them.
    n_eff : ndarray
        Effective sample size ``n / deff``.
    raw_estimate, raw_se, raw_deff : ndarray
        Estimates, SEs and design effects before suppression (for internal use; do not publish).
    variance : VarianceFactor
        Factored covariance; see :meth:`vcov` and :meth:`cov`.
    statistic, ci_method, df_rule, lonely_psu, level, variance_method, by, thresholds
        Metadata of the computation.
    """

    domains: pd.DataFrame
    right: np.ndarray
    n: np.ndarray
    estimate: np.ndarray
    se: np.ndarray
    ci_low: np.ndarray
    ci_high: np.ndarray
    df: np.ndarray
    deff: np.ndarray
    cv: np.ndarray
    flag: np.ndarray
    n_eff: np.ndarray
    raw_estimate: np.ndarray
    raw_se: np.ndarray
    variance: VarianceFactor = field(repr=False)
    statistic: str = "rate"
    ci_method: str = "logit"
    df_rule: str = "domain"
    lonely_psu: str = "fail"
    level: float = 0.95
    variance_method: str = "taylor"
    by: tuple[str, ...] = ()
    thresholds: QualityThresholds = QualityThresholds()
    psu_presence: sp.csc_matrix | None = field(default=None, repr=False)
    stratum_presence: sp.csc_matrix | None = field(default=None, repr=False)
    design_df: float = np.nan
    ci_methods: np.ndarray | None = field(default=None, repr=False)
    raw_deff: np.ndarray | None = field(default=None, repr=False)
    n_takers: np.ndarray | None = field(default=None, repr=False)
    n_non_takers: np.ndarray | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        freeze_arrays(self)  # arrays handed out are read-only

    def __len__(self) -> int:
        return self.estimate.size

    def to_frame(self, *, blank: bool = True) -> pd.DataFrame:
        """One row per (domain, right): the by columns, right, n, estimate, se, ci_low, ci_high, df, deff, cv, flag,
        ci_method (the interval method of the row).

        Parameters
        ----------
        blank : bool, default True
            Blank the suppressed rows as ``nonrecours estimate`` publishes them: besides the estimate, SE, CI,
            deff and CV (already missing), ``n`` and ``df``, which would give the suppressed count back
            (``n`` is a nullable integer column). A suppressed empty domain (``n = 0``: no one) keeps its 0.
            ``False`` keeps ``n`` and ``df`` for the package's own secondary suppression: never publish it.

        Examples
        --------
        >>> # res = estimate_rates(design, ["cmuc"], by="territory")
        >>> # res.to_frame().loc[lambda t: t.flag == "suppressed", "n"]   # <NA>, as in the CLI's table
        """
        out = self.domains.reset_index(drop=True).copy()
        methods = self.ci_methods if self.ci_methods is not None else np.full(self.estimate.size, self.ci_method)
        n, df = self.n, self.df
        if blank:
            hide = (self.flag == "suppressed") & (self.n > 0)
            n = pd.arrays.IntegerArray(np.asarray(self.n, dtype=np.int64), hide)
            df = np.where(hide, np.nan, self.df)
        cols = {
            "right": self.right,
            "n": n,
            "estimate": self.estimate,
            "se": self.se,
            "ci_low": self.ci_low,
            "ci_high": self.ci_high,
            "df": df,
            "deff": self.deff,
            "cv": self.cv,
            "flag": self.flag,
            "ci_method": methods,
        }
        return out.assign(
            **{k: pd.array(v, dtype="str") if k in ("right", "flag", "ci_method") else v for k, v in cols.items()}
        )

    def positions(self, labels: Labels) -> np.ndarray:
        """Rows of :meth:`to_frame` of the estimates named by ``labels``, in the order given.

        Parameters
        ----------
        labels : DataFrame, or sequence of tuples or of right names
            Each estimate is named by its domain values (the ``by`` columns, in
            order) followed by its right: a DataFrame with the ``by`` columns and
            ``right`` (e.g. rows of :meth:`to_frame`), or tuples
            ``(by values..., right)``; without ``by``, right names. Values are
            compared as text (``1`` and ``"1"`` name the same domain).

        Raises
        ------
        OptionError
            A label of the wrong length or naming no estimate of the result.

        Examples
        --------
        >>> # res = estimate_rates(design, ["cmuc", "acs"], by="is_qpv")
        >>> # res.cov([(1, "cmuc")], [(0, "cmuc")])   # QPV vs rest, same right
        """
        cols = [*self.by, "right"]
        if isinstance(labels, pd.DataFrame):
            missing = [c for c in cols if c not in labels.columns]
            if missing:
                raise OptionError(
                    message(
                        "labels lack columns",
                        where="labels",
                        expected=", ".join(cols),
                        found="missing " + ", ".join(missing),
                    )
                )
            keys = labels[cols].reset_index(drop=True)
        else:
            rows = [lab if isinstance(lab, tuple) else (lab,) for lab in labels]
            bad = sum(len(r) != len(cols) for r in rows)
            if bad:
                raise OptionError(
                    message(
                        "labels must name the domain values and the right",
                        where="labels",
                        expected=f"tuples ({', '.join(cols)})" if self.by else "right names",
                        found=f"{bad} labels of another length",
                    )
                )
            keys = pd.DataFrame(rows, columns=cols) if rows else pd.DataFrame(columns=cols)
        mine = self.domains[list(self.by)].reset_index(drop=True).assign(right=self.right)
        mine = mine.astype(str).assign(_pos=np.arange(len(self)))
        found = keys.astype(str).merge(mine, on=cols, how="left", sort=False)["_pos"]
        if found.isna().any():
            raise OptionError(
                message(
                    "labels name no estimate of the result",
                    where="labels",
                    expected=f"values of {', '.join(cols)} present in to_frame()",
                    found=f"{int(found.isna().sum())} of {len(keys)} labels not found",
                )
            )
        return found.to_numpy(dtype=np.int64)

    def vcov(self, labels: Labels | None = None) -> sp.csr_matrix | np.ndarray:
        """Covariance matrix of the estimates, sparse when possible.

        ``labels`` names the estimates (see :meth:`positions`), in the order of
        the rows and columns of the matrix; all estimates, in the order of
        :meth:`to_frame`, by default. Computed on demand from the PSU-level
        linearised totals; with few strata and many domains, prefer :meth:`cov`
        on the pairs you need.
        """
        V = self.variance.matrix(None if labels is None else self.positions(labels))
        return V if sp.issparse(V) else readonly(V)

    def cov(self, a: Labels, b: Labels) -> np.ndarray:
        """Covariances of the pairs of estimates named by ``a[m]`` and ``b[m]`` (see :meth:`positions`)."""
        i, j = self.positions(a), self.positions(b)
        if i.size != j.size:
            raise OptionError(
                message("a and b must name as many estimates", where="cov", found=f"{i.size} and {j.size} labels")
            )
        return readonly(self.variance.covariances(i, j))

    def meta(self) -> dict[str, object]:
        """Metadata: statistic, CI method, df rule, lonely-PSU rule, level, variance method, by."""
        return {
            "statistic": self.statistic,
            "ci_method": self.ci_method,
            "df_rule": self.df_rule,
            "lonely_psu": self.lonely_psu,
            "level": self.level,
            "variance_method": self.variance_method,
            "by": list(self.by),
        }


@dataclass(frozen=True, eq=False)
class GapResult:
    """Differences between two domains per right, with design-based SE, CI and t test.

    ``gap = estimate_a - estimate_b``; its variance is
    :math:`V_{aa} + V_{bb} - 2 V_{ab}` from the joint covariance.
    """

    table: pd.DataFrame
    level: float
    df_rule: str
    variance_method: str

    def to_frame(self) -> pd.DataFrame:
        """The gap table: (by columns), right, domain_a, domain_b, estimate_a, estimate_b, gap, se, ci_low, ci_high,
        df, t, p_value."""
        return self.table.copy()
