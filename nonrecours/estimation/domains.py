"""Domains as zero weights on the full design, all at once.

A domain is a combination of the ``by`` columns; each row belongs to at most
one domain (rows with an empty ``by`` value to none). The estimates of every
domain x variable are the columns ``k = d * V + v`` of one sparse indicator
structure, built in one vectorised pass (no loop over domains or strata), so
that their joint covariance comes out of a single call of the variance engine.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
import scipy.sparse as sp

from .._checks import check_columns
from .linearize import LinearStats

__all__ = ["Domains", "make_domains", "stack_variables", "presence"]


@dataclass(frozen=True, eq=False)
class Domains:
    """Domain code of each row (-1 = in no domain) and the table of domain levels."""

    codes: np.ndarray
    levels: pd.DataFrame
    by: tuple[str, ...]

    @property
    def n_domains(self) -> int:
        """Number of domains D."""
        return len(self.levels)

    def indicator(self) -> sp.csr_matrix:
        """Sparse n x D indicator matrix of the domains."""
        keep = self.codes >= 0
        rows = np.flatnonzero(keep)
        return sp.csr_matrix((np.ones(rows.size), (rows, self.codes[keep])), shape=(self.codes.size, self.n_domains))


def make_domains(data: pd.DataFrame, by: Sequence[str]) -> Domains:
    """Code the domains defined by the ``by`` columns (sorted levels, observed combinations).

    Without ``by``, a single domain holds every row.
    """
    by = tuple(by)
    n = len(data)
    if not by:
        return Domains(np.zeros(n, np.int64), pd.DataFrame(index=range(1)), by)
    check_columns(data, by, role="by column", source="the sample")
    codes, uniques = [], []
    for col in by:
        c, u = pd.factorize(data[col], sort=True)
        codes.append(c.astype(np.int64))
        uniques.append(u)
    ok = np.logical_and.reduce([c >= 0 for c in codes])
    key = np.zeros(n, np.int64)
    for c, u in zip(codes, uniques):  # mixed-radix key of the combination (loop over by columns)
        key = key * max(len(u), 1) + c
    dom, combo_keys = pd.factorize(key[ok], sort=True)
    out = np.full(n, -1, np.int64)
    out[ok] = dom
    cols = {}
    rest = np.asarray(combo_keys, dtype=np.int64)
    for col, u in reversed(list(zip(by, uniques))):
        cols[col] = u.take(rest % max(len(u), 1))
        rest = rest // max(len(u), 1)
    levels = pd.DataFrame({col: cols[col] for col in by})
    return Domains(out, levels, by)


def stack_variables(domains: Domains, weights: np.ndarray, num: Sequence[np.ndarray],
                    den: Sequence[np.ndarray] | None) -> LinearStats:
    """Entries of the K = D x V estimates: row i enters column ``codes[i] * V + v``.

    A row enters estimate (d, v) when it is in domain d, has non-zero weight
    and non-missing values of variable v (R's ``na.rm = TRUE`` on the domain).
    ``den=None`` gives totals (no denominator).
    """
    V = len(num)
    base = (domains.codes >= 0) & (weights != 0)
    rows_l, cols_l, num_l, den_l = [], [], [], []
    for v in range(V):  # loop over variables (rights), never over domains
        y = np.asarray(num[v], dtype=float)
        ok = base & ~np.isnan(y)
        if den is not None:
            x = np.asarray(den[v], dtype=float)
            ok &= ~np.isnan(x)
        r = np.flatnonzero(ok)
        rows_l.append(r)
        cols_l.append(domains.codes[r] * V + v)
        num_l.append(y[r])
        if den is not None:
            den_l.append(x[r])
    rows = np.concatenate(rows_l)
    cols = np.concatenate(cols_l)
    return LinearStats(rows=rows, cols=cols, num=np.concatenate(num_l),
                       den=None if den is None else np.concatenate(den_l), n_cols=domains.n_domains * V)


def presence(structure, stats: LinearStats) -> tuple[sp.csc_matrix, sp.csc_matrix]:
    """Number of entries of each estimate per PSU (U x K) and per stratum (H x K).

    Their numbers of non-zeros per column are the PSUs and strata with in-domain
    rows, from which the domain degrees of freedom follow (R's ``degf`` on a subset).
    """
    K = stats.n_cols
    psu = sp.csc_matrix((np.ones(stats.rows.size), (structure.psu[stats.rows], stats.cols)),
                        shape=(structure.n_psu, K))
    psu.sum_duplicates()
    strata = (structure.stratum_matrix @ psu).tocsc()
    return psu, strata
