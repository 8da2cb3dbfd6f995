"""Domains as zero weights on the full design, all at once.

A domain is a combination of the ``by`` columns; each row belongs to at most
one domain (rows with an empty ``by`` value to none). The estimates of every
domain x variable are the columns ``k = d * V + v`` of one sparse indicator
structure, built in one vectorised pass (no loop over domains or strata), so
that their joint covariance comes out of a single call of the variance engine.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
import pandas as pd
import scipy.sparse as sp

from .._checks import check_grouping_column
from .._frozen import freeze_arrays
from ..errors import NonrecoursWarning, message, rows_found
from .linearize import LinearStats

__all__ = ["Domains", "make_domains", "stack_variables", "PSUCells", "psu_cells", "presence"]


@dataclass(frozen=True, eq=False)
class Domains:
    """Domain code of each row (-1 = in no domain) and the table of domain levels."""

    codes: np.ndarray
    levels: pd.DataFrame
    by: tuple[str, ...]

    def __post_init__(self) -> None:
        freeze_arrays(self)  # arrays handed out are read-only

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

    Without ``by``, a single domain holds every row. Rows with an empty value
    in a ``by`` column are never dropped: they form their own domain, whose
    label is missing (an empty cell in the output, sorted last), and a
    :class:`~nonrecours.errors.NonrecoursWarning` says how many rows and where.
    """
    by = tuple(by)
    n = len(data)
    if not by:
        return Domains(np.zeros(n, np.int64), pd.DataFrame(index=range(1)), by)
    check_grouping_column(data, by, name="by")  # a domain per person would publish (and name) each one
    codes, uniques = [], []
    for col in by:
        empty = data[col].isna().to_numpy()
        if empty.any():
            warnings.warn(
                message(
                    "empty values form their own domain, labelled as missing (an empty cell)",
                    where=f"by column {col!r}",
                    found=rows_found(empty),
                    hint="fill them in (e.g. 'unknown') to give that domain a name",
                ),
                NonrecoursWarning,
                stacklevel=3,
            )
        c, u = pd.factorize(data[col], sort=True, use_na_sentinel=False)
        codes.append(c.astype(np.int64, copy=False))
        uniques.append(u)
    if len(by) == 1:  # the sorted codes of the column are the domains (an empty value: a level of its own)
        return Domains(codes[0], pd.DataFrame({by[0]: uniques[0]}), by)
    ok = np.logical_and.reduce([c >= 0 for c in codes])
    key = np.zeros(n, np.int64)
    for c, u in zip(codes, uniques):  # mixed-radix key of the combination (loop over by columns)
        key = key * max(len(u), 1) + c
    size = int(np.prod([max(len(u), 1) for u in uniques], dtype=float))
    out = np.full(n, -1, np.int64)
    rest, out[ok] = observed_keys(key[ok], size)
    cols = {}
    for col, u in reversed(list(zip(by, uniques))):
        cols[col] = u.take(rest % max(len(u), 1))
        rest = rest // max(len(u), 1)
    levels = pd.DataFrame({col: cols[col] for col in by})
    return Domains(out, levels, by)


def observed_keys(key: np.ndarray, size: int) -> tuple[np.ndarray, np.ndarray]:
    """The distinct values of ``key`` (mixed-radix codes of combinations, in ``[0, size)``), sorted, and each row's
    rank among them (what ``pd.factorize(key, sort=True)`` gives, reversed): by counting when a table of every
    possible key is small, else by sorting."""
    if size <= 4 * len(key) + 1024:
        seen = np.bincount(key, minlength=size) > 0
        return np.flatnonzero(seen), (np.cumsum(seen) - 1)[key]
    ranks, keys = pd.factorize(key, sort=True)
    return np.asarray(keys, dtype=np.int64), np.asarray(ranks, dtype=np.int64)


def stack_variables(
    domains: Domains, weights: np.ndarray, num: Sequence[np.ndarray], den: Sequence[np.ndarray] | Literal["ones"] | None
) -> LinearStats:
    """Entries of the K = D x V estimates: row i enters column ``codes[i] * V + v``.

    A row enters estimate (d, v) when it is in domain d, has non-zero weight
    and non-missing values of variable v (R's ``na.rm = TRUE`` on the domain).
    ``den=None`` gives totals (no denominator); ``den="ones"`` a denominator of 1
    wherever the numerator is present (Hájek means and rates).
    """
    V = len(num)
    unit = isinstance(den, str)
    if unit and den != "ones":
        raise ValueError(f"den must be a sequence of arrays, 'ones' or None, not {den!r}")
    base = (domains.codes >= 0) & (weights != 0)
    oks = []
    for v in range(V):  # loop over variables (rights), never over domains
        ok = base & ~np.isnan(np.asarray(num[v], dtype=float))
        if den is not None and not unit:
            ok &= ~np.isnan(np.asarray(den[v], dtype=float))
        oks.append(ok)
    sizes = [int(np.count_nonzero(ok)) for ok in oks]
    nnz = sum(sizes)
    rows = np.empty(nnz, np.int64)
    cols = np.empty(nnz, np.int64)
    nums = np.empty(nnz)
    dens = np.empty(nnz) if den is not None and not unit else None
    start = 0
    for v, (ok, m) in enumerate(zip(oks, sizes)):  # filled in place: no concatenation copies
        sl = slice(start, start + m)
        r = np.flatnonzero(ok)
        rows[sl] = r
        np.take(domains.codes, r, out=cols[sl])
        cols[sl] *= V
        cols[sl] += v
        np.take(np.asarray(num[v], dtype=float), r, out=nums[sl])
        if dens is not None and den is not None:
            np.take(np.asarray(den[v], dtype=float), r, out=dens[sl])
        start += m
    if unit:
        dens = np.broadcast_to(np.float64(1.0), (nnz,))  # read-only, no memory
    return LinearStats(
        rows=rows,
        cols=cols,
        num=nums,
        den=dens,
        n_cols=domains.n_domains * V,
        unit_den=unit,
        row_domain=domains.codes,
        var_bounds=np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64),
    )


@dataclass(frozen=True, eq=False)
class PSUCells:
    """The (PSU, estimate) cells holding entries: a canonical CSC pattern (U x K) and each entry's cell.

    ``pos[e]`` is the position in ``indices`` / the CSC data of the cell of entry
    ``e``, so that a sparse U x K matrix of PSU totals of any entry values ``x`` is
    ``csc_matrix((np.bincount(pos, x, nnz), indices, indptr))`` (one pass, no sort).
    ``counts`` holds the number of entries of each cell.
    """

    pos: np.ndarray
    indices: np.ndarray
    indptr: np.ndarray
    shape: tuple[int, int]
    counts: np.ndarray

    @property
    def nnz(self) -> int:
        """Number of cells."""
        return self.indices.size

    def matrix(self, values: np.ndarray | None) -> sp.csc_matrix:
        """U x K matrix of the PSU totals of ``values`` (one value per entry; ``None``: counts), in entry order."""
        if values is None:
            data = self.counts.astype(float)
        else:
            data = np.bincount(self.pos, weights=values, minlength=self.nnz)
        return sp.csc_matrix((data, self.indices.copy(), self.indptr.copy()), shape=self.shape)


def _index_dtype(*maxima: int) -> type:
    return np.int32 if max(maxima) < 2**31 - 1 else np.int64


def psu_cells(structure, stats: LinearStats) -> PSUCells:
    """Code the (PSU, estimate) cells of the entries in CSC order (by estimate, then PSU).

    With the layout of :func:`stack_variables` the cells are coded on the rows
    (domain x PSU, shared by the V variables) and ranked by counting; otherwise
    the (estimate, PSU) keys of the entries are factorised.
    """
    U, K = structure.n_psu, stats.n_cols
    if stats.row_domain is None or stats.var_bounds is None or stats.rows.size == 0:
        key = stats.cols * U
        key += structure.psu[stats.rows]
        pos, cells = pd.factorize(key, sort=True)
        cells = np.asarray(cells, dtype=np.int64)
        col = cells // U
        counts = np.bincount(pos, minlength=cells.size)
        indices = cells - col * U
    else:
        bounds = stats.var_bounds
        V = bounds.size - 1
        dom = stats.row_domain
        inside = np.flatnonzero(dom >= 0)
        rowcell = np.full(dom.size, -1, np.int64)
        c, cell_keys = pd.factorize(dom[inside] * U + structure.psu[inside], sort=True)  # sorted (domain, PSU)
        rowcell[inside] = c
        cell_keys = np.asarray(cell_keys, dtype=np.int64)
        C = cell_keys.size
        cell_dom = cell_keys // U
        pair = rowcell[stats.rows]  # (variable, cell) of each entry: v * C + cell
        for v in range(1, V):
            pair[bounds[v] : bounds[v + 1]] += v * C
        n_pair = np.bincount(pair, minlength=V * C)
        used = np.flatnonzero(n_pair)  # ordered by (variable, domain, PSU)
        u_var, u_cell = np.divmod(used, C)
        col = cell_dom[u_cell] * V + u_var
        order = np.argsort(col, kind="stable")  # to CSC order (domain, variable, PSU)
        where = np.empty(V * C, np.int64)
        where[used[order]] = np.arange(used.size)
        pos = where[pair]
        col = col[order]
        counts = n_pair[used[order]]
        indices = cell_keys[u_cell[order]] - cell_dom[u_cell[order]] * U
    idx = _index_dtype(U, K, indices.size)
    indptr: np.ndarray = np.zeros(K + 1, dtype=idx)
    np.cumsum(np.bincount(col, minlength=K), out=indptr[1:])
    return PSUCells(
        pos=pos.astype(np.intp, copy=False), indices=indices.astype(idx), indptr=indptr, shape=(U, K), counts=counts
    )


def presence(structure, stats: LinearStats, cells: PSUCells | None = None) -> tuple[sp.csc_matrix, sp.csc_matrix]:
    """Number of entries of each estimate per PSU (U x K) and per stratum (H x K).

    Their numbers of non-zeros per column are the PSUs and strata with in-domain
    rows, from which the domain degrees of freedom follow (R's ``degf`` on a subset).
    """
    if cells is None:
        cells = psu_cells(structure, stats)
    psu = cells.matrix(None)
    strata = (structure.stratum_matrix @ psu).tocsc()
    return psu, strata
