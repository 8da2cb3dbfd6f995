"""Strata and domains of a sampling frame, and the anticipated variance of domain rates.

Shared by the allocation, precision and selection modules: one factorisation of
the stratum (and domain) columns into integer codes, one text label per stratum,
and the sparse matrix of the anticipated-variance coefficients.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
import scipy.sparse as sp

from .._checks import check_columns, where_name
from ..errors import InputError, OptionError, line_list, message

__all__ = [
    "StrataIndex",
    "index_strata",
    "label_strata",
    "domain_counts",
    "check_rates",
    "check_share",
    "variance_coefficients",
    "LABEL_SEP",
]

#: Separator of the key values in a stratum label (``"1|RSA"`` for is_qpv=1, benefit=RSA).
LABEL_SEP = "|"


@dataclass(frozen=True)
class StrataIndex:
    """Integer codes of the strata of a frame.

    Attributes
    ----------
    keys : tuple of str
        The stratum columns.
    codes : ndarray of int64, shape (N,)
        Stratum of every row, ``0 .. H-1``, strata sorted by their key values.
    table : DataFrame, shape (H, len(keys) + 1)
        One row per stratum: the key values and the text label ``stratum``.
    N : ndarray of int64, shape (H,)
        Population size of every stratum.
    """

    keys: tuple[str, ...]
    codes: np.ndarray
    table: pd.DataFrame
    N: np.ndarray

    @property
    def labels(self) -> np.ndarray:
        """Text labels of the strata (``stratum`` column of the sample)."""
        return self.table["stratum"].to_numpy(dtype=object)


def label_strata(table: pd.DataFrame, keys: Sequence[str]) -> pd.Series:
    """Text label of each row of ``table``: key values joined by ``|``."""
    parts = [table[k].astype(str) for k in keys]
    out = parts[0]
    for p in parts[1:]:
        out = out + LABEL_SEP + p
    return out.rename("stratum")


def _factorize(frame: pd.DataFrame, keys: Sequence[str], *, role: str, source: str) -> tuple[np.ndarray, pd.DataFrame]:
    check_columns(frame, keys, role=f"{role} column", source=source)
    for k in keys:
        miss = frame[k].isna().to_numpy()
        if miss.any():
            raise InputError(
                message(
                    f"missing {role} values",
                    where=f"column {k!r} of {source}",
                    expected="a value on every row",
                    found=f"{int(miss.sum())} empty rows, on {line_list(miss)}",
                    hint=f"fill or drop those rows, or use another {role} column",
                )
            )
    if len(keys) == 1:
        codes, uniques = pd.factorize(frame[keys[0]], sort=True)
        table = pd.DataFrame({keys[0]: np.asarray(uniques)})
    else:
        grouped = frame.groupby(list(keys), sort=True, observed=True)
        codes = grouped.ngroup().to_numpy()
        table = grouped.size().reset_index()[list(keys)]
    return codes.astype(np.int64, copy=False), table


def index_strata(frame: pd.DataFrame, keys: Sequence[str], *, source: str = "frame") -> StrataIndex:
    """Factorise the stratum columns of ``frame`` (missing values refused)."""
    keys = tuple(keys)
    if not keys:
        raise OptionError(
            message(
                "no stratum column given",
                where="parameter strata",
                expected="one or more column names",
                hint="e.g. is_qpv, benefit",
            )
        )
    if len(frame) == 0:
        raise InputError(
            message(
                f"the {source} is empty",
                where=source,
                expected="at least one row",
                hint="check the file: it has a header but no rows",
            )
        )
    codes, table = _factorize(frame, keys, role="stratum", source=source)
    table["stratum"] = label_strata(table, keys).to_numpy()
    N = np.bincount(codes, minlength=len(table)).astype(np.int64)
    return StrataIndex(keys, codes, table, N)


def domain_counts(
    frame: pd.DataFrame, strata: StrataIndex, families: Sequence[Sequence[str]] | None
) -> tuple[sp.csr_matrix, pd.DataFrame]:
    """Counts ``N_dh`` of frame units in domain ``d`` and stratum ``h``.

    Parameters
    ----------
    families : list of lists of column names, or None
        Each family is a partition of the frame by the crossing of its columns
        (``[["territory"], ["benefit", "is_qpv"]]``: every territory, and every
        benefit x QPV cell). ``None``: the strata themselves are the domains.

    Returns
    -------
    counts : csr_matrix, shape (D, H)
    domains : DataFrame with columns ``domain`` (the family, columns joined by
        ``:``) and ``level`` (the values joined by ``|``), one row per domain.
    """
    if not families:
        counts = sp.diags(strata.N.astype(float)).tocsr()
        return counts, pd.DataFrame({"domain": ":".join(strata.keys), "level": strata.labels})
    blocks, tables = [], []
    for cols in families:
        codes, table = _factorize(frame, cols, role="domain", source="frame")
        D = len(table)
        blocks.append(sp.csr_matrix((np.ones(len(codes)), (codes, strata.codes)), shape=(D, len(strata.N))))
        tables.append(pd.DataFrame({"domain": ":".join(cols), "level": label_strata(table, cols).to_numpy()}))
    counts = sp.vstack(blocks).tocsr()
    counts.sum_duplicates()
    return counts, pd.concat(tables, ignore_index=True)


def check_share(value: float, name: str, *, allow_one: bool = True) -> float:
    """Check a share in (0, 1] (or (0, 1)) and return it as float."""
    v = float(value)
    ok = 0 < v <= 1 if allow_one else 0 < v < 1
    if not np.isfinite(v) or not ok:
        raise OptionError(
            message(
                f"{name} out of range",
                where=where_name(name),
                expected="a number in (0, 1]" if allow_one else "a number in (0, 1)",
                found=repr(value),
            )
        )
    return v


def check_rates(rates: Mapping[str, float | np.ndarray], H: int, *, option: str = "rates") -> dict[str, np.ndarray]:
    """Anticipated take-up rates per right, as arrays of length ``H`` strictly inside (0, 1)."""
    if not rates:
        raise OptionError(
            message(
                "no anticipated rate given",
                where=where_name(option),
                expected="right=rate pairs",
                hint="e.g. cmuc 0.65, acs 0.4",
            )
        )
    out = {}
    for right, p in rates.items():
        arr = np.broadcast_to(np.asarray(p, dtype=float), (H,))
        bad = ~np.isfinite(arr) | (arr <= 0) | (arr >= 1)
        if bad.any():
            raise OptionError(
                message(
                    "anticipated rate outside (0, 1)",
                    where=f"{where_name(option)}, right {right!r}",
                    expected="0 < rate < 1",
                    found=repr(float(p)) if np.ndim(p) == 0 else f"{int(bad.sum())} strata out of range",
                    hint="a rate of 0 or 1 has no sampling variance: drop the right or use 0.01/0.99",
                )
            )
        out[str(right)] = np.array(arr, dtype=float)
    return out


def variance_coefficients(
    counts: sp.csr_matrix,
    N: np.ndarray,
    rates: Mapping[str, np.ndarray],
    eligible: Mapping[str, float],
    response_rate: float,
) -> tuple[sp.csr_matrix, np.ndarray, list[str], np.ndarray]:
    """Coefficients of the anticipated variance of every domain x right rate.

    The variance of the estimated rate of right ``r`` in domain ``d`` under
    stratified SRS of ``n_h`` units, of whom a share ``rho`` respond and a
    share ``e_r`` are eligible, is anticipated as

    .. math:: V_{dr}(n) = \\sum_h A_{dr,h} / n_h - b_{dr},\\quad
              A_{dr,h} = \\frac{p_{hr}(1-p_{hr}) N_h N_{dh}}{\\rho\\, e_r N_d^2},\\quad
              b_{dr} = \\sum_h \\frac{p_{hr}(1-p_{hr}) N_{dh}}{e_r N_d^2}.

    It is the Taylor variance of the ratio of the domain's takers to its
    eligibles, with the within-stratum variance of the linearised variable
    :math:`\\delta_d E (y - R_d)/(e N_d)` taken as :math:`P_{dh} e\\, p(1-p)/(e N_d)^2`
    (differences between stratum rates within a domain neglected), and the
    respondents treated as an SRS of :math:`\\rho n_h` units (Särndal, Swensson
    & Wretman 1992, §5.6 and §10.7; Cochran 1977, §5A.13).

    Returns
    -------
    A : csr_matrix, shape (D * R, H), rows ordered right-major within domain
        (row ``d * R + r``).
    b : ndarray, shape (D * R,)
    rights : list of str
    p_domain : ndarray, shape (D * R,): the anticipated domain rates (means of
        ``p_hr`` weighted by ``N_dh``).
    """
    rights = list(rates)
    coo = counts.tocoo()
    Nd = np.bincount(coo.row, weights=coo.data, minlength=counts.shape[0])
    rows, cols, vals = coo.row, coo.col, coo.data
    R = len(rights)
    P = np.column_stack([rates[r] for r in rights])  # (H, R)
    E = np.array([eligible.get(r, 1.0) for r in rights])  # (R,)
    pq = P * (1 - P)  # (H, R)
    scale = 1.0 / (E[None, :] * Nd[rows, None] ** 2)  # (nnz, R)
    b_terms = pq[cols] * vals[:, None] * scale  # (nnz, R)
    a_terms = b_terms * (N[cols, None] / response_rate)
    krow = (rows[:, None] * R + np.arange(R)[None, :]).ravel()
    kcol = np.repeat(cols, R)
    shape = (counts.shape[0] * R, counts.shape[1])
    A = sp.csr_matrix((a_terms.ravel(), (krow, kcol)), shape=shape)
    b = np.bincount(krow, weights=b_terms.ravel(), minlength=shape[0])
    p_dom = np.bincount(krow, weights=(P[cols] * vals[:, None]).ravel(), minlength=shape[0]) / np.repeat(Nd, R)
    return A, b, rights, p_dom
