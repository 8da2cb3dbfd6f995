"""Administrative take-up rates per territory and year, with disclosure control consistent over time.

Suppressing cells year by year is not enough once several years are
published: a cell hidden in 2015 but shown in 2016, next to a published
"change since 2015" of its neighbour or of the totals, can be recovered by
subtraction between the years. Here the suppression pattern is the **same
every year**: a territory x right cell is suppressed in all years as soon as it
is small in one of them (primary: fewer than ``min_cell`` eligible recipients,
takers or non-takers in some year), and secondary suppression is the one rule
of every published table, :func:`nonrecours.publication.protect_admin_counts`,
applied to each year with the cells and totals suppressed in any year forced,
repeated until the pattern stops growing
(:func:`nonrecours.publication.protect_admin_series`, the publication layer's
one fixed-point loop over years). Every published figure —
cells, département totals, changes between years — is then a sum over the
same published cells, and the suppressed cells of a département only ever
appear through their sum (at least two unknowns per year, the same ones each
year), so no difference of years' totals isolates one of them.

Works on the **aggregated** counts (territory x right x year: eligible recipients
and takers), so that any engine that aggregates can call it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from .._checks import check_columns, check_right_column
from ..errors import InputError, message
from ..publication import DEFAULT_MIN_CELL, check_threshold, protect_admin_series

__all__ = ["AdminSeries", "admin_counts", "admin_series", "COUNT_COLUMNS"]

#: Columns of an aggregated counts table.
COUNT_COLUMNS = ("territory", "departement", "right", "n_eligible", "n_takers")


@dataclass(frozen=True)
class AdminSeries:
    """Per year x territory x right counts and rates under one suppression pattern.

    Attributes
    ----------
    table : DataFrame
        ``year``, ``territory``, ``departement``, ``right``, ``n_eligible``, ``n_takers``,
        ``rate``, ``status`` (``published`` or ``suppressed``; the same in every
        year); counts and rate missing where not published.
    departements : DataFrame
        ``year``, ``departement``, ``right``, totals, ``rate``, ``status`` (``suppressed`` for
        a département whose single cell cannot be protected otherwise).
    changes : DataFrame
        Published cells: change of rate and counts between consecutive years.
    min_cell : int
    rules : ndarray of str
        Per row of ``table``: ``primary`` (small in some year), ``secondary``
        or ``published`` (for the producer: telling them apart would tell an
        attacker that a secondary cell is large).
    """

    table: pd.DataFrame
    departements: pd.DataFrame
    changes: pd.DataFrame
    min_cell: int
    rules: np.ndarray = field(repr=False, default_factory=lambda: np.array([], dtype=object))

    @property
    def n_suppressed(self) -> dict[str, int]:
        """Number of territory x right cells suppressed by each rule (per year, the same every year)."""
        first = (self.table["year"] == self.table["year"].min()).to_numpy()
        vc = pd.Series(self.rules[first]).value_counts()
        return {k: int(vc.get(k, 0)) for k in ("primary", "secondary")}


def admin_counts(
    recipients: pd.DataFrame, rights: Sequence[str], *, territory: str = "territory", departement: str = "departement"
) -> pd.DataFrame:
    """Aggregate a recipients file into counts per territory x right (:data:`COUNT_COLUMNS`).

    One ``np.bincount`` per right on integer territory codes.
    """
    check_columns(recipients, [territory, departement, *rights], role="column", source="recipients file")
    t_codes, t_labels = pd.factorize(recipients[territory].astype(str), sort=True)
    if (t_codes < 0).any():
        raise InputError(
            message(
                "missing codes",
                where=f"recipients file, column {territory!r}",
                expected="a code on every row",
                found=f"{int((t_codes < 0).sum())} empty rows",
            )
        )
    T = len(t_labels)
    dep = np.empty(T, dtype=object)
    dep[t_codes[::-1]] = recipients[departement].astype(str).to_numpy(dtype=object)[::-1]
    parts = []
    for right in rights:  # loop over rights only
        v = check_right_column(recipients, right)
        elig = ~np.isnan(v)
        parts.append(
            pd.DataFrame(
                {
                    "territory": np.asarray(t_labels, dtype=object),
                    "departement": dep,
                    "right": right,
                    "n_eligible": np.bincount(t_codes, weights=elig, minlength=T).astype(np.int64),
                    "n_takers": np.bincount(t_codes, weights=v == 1, minlength=T).astype(np.int64),
                }
            )
        )
    return pd.concat(parts, ignore_index=True)


def admin_series(
    counts: Mapping[int, pd.DataFrame] | pd.DataFrame,
    *,
    min_cell: int = DEFAULT_MIN_CELL,
    method: str = "heuristic",
    cost: str = "cells",
) -> AdminSeries:
    """Apply one suppression pattern to the counts of every year.

    Parameters
    ----------
    counts : DataFrame with a ``year`` column, or mapping year -> DataFrame
        Aggregated counts (:data:`COUNT_COLUMNS`) of each year.
    min_cell : int
        A cell with fewer eligible recipients in any year is suppressed in all years.
    method : {"heuristic", "optimal"}
        Secondary suppression: the completion heuristic, or the least-cost pattern over every year's tables
        (:mod:`nonrecours.publication.optimal`).
    cost : {"cells", "eligibles"}
        What ``optimal`` minimises.

    Returns
    -------
    AdminSeries

    Notes
    -----
    Primary: eligibles, takers or non-takers below ``min_cell`` in some year
    (a territory absent one year counts 0 that year). Secondary: the rule of
    :func:`nonrecours.publication.protect_admin_counts` (Hundepool et al.,
    2012, §4.2-4.3) on each year, with every cell and total suppressed in
    some year forced in all years, until the pattern is stable
    (:func:`nonrecours.publication.protect_admin_series`).

    Examples
    --------
    >>> c = pd.DataFrame({"year": [1, 1, 1, 2, 2, 2], "territory": list("abcabc"), "departement": "01",
    ...                   "right": "tpn", "n_eligible": [30, 40, 50, 30, 5, 50], "n_takers": [15, 20, 25, 15, 2, 25]})
    >>> s = admin_series(c)
    >>> s.rules[(s.table["year"] == 1).to_numpy()].tolist()
    ['secondary', 'primary', 'published']
    >>> s.table.loc[s.table["year"] == 1, "status"].tolist()
    ['suppressed', 'suppressed', 'published']
    """
    check_threshold(min_cell, name="min_cell", where="parameter min_cell")
    if isinstance(counts, Mapping):
        counts = pd.concat([c.assign(year=int(y)) for y, c in counts.items()], ignore_index=True)
    check_columns(counts, ["year", *COUNT_COLUMNS], role="column", source="counts table")
    c = counts.assign(
        territory=counts["territory"].astype(str),
        departement=counts["departement"].astype(str),
        right=counts["right"].astype(str),
    )
    years = np.sort(c["year"].astype(int).unique())
    cells = (
        c[["territory", "departement", "right"]]
        .drop_duplicates()
        .sort_values(["right", "territory"], ignore_index=True)
    )
    spread = cells.groupby(["territory", "right"]).size()
    if (spread > 1).any():
        raise InputError(
            message(
                "territories in several départements",
                where="counts table, column 'departement'",
                found=f"{int((spread > 1).sum())} territory x right cells",
                hint="a territory must lie in one département in every year",
            )
        )
    key = pd.MultiIndex.from_frame(cells[["territory", "right"]])
    C, T = len(cells), years.size
    row = key.get_indexer(pd.MultiIndex.from_frame(c[["territory", "right"]]))
    col = np.searchsorted(years, c["year"].astype(int).to_numpy())
    N = np.zeros((C, T), np.int64)
    K = np.zeros((C, T), np.int64)
    N[row, col] = pd.to_numeric(c["n_eligible"]).to_numpy(dtype=np.int64)
    K[row, col] = pd.to_numeric(c["n_takers"]).to_numpy(dtype=np.int64)
    # one pattern for every year (the one fixed-point loop of the publication layer)
    primary, forced, per_year = protect_admin_series(cells, N, K, min_cell=min_cell, method=method, cost=cost)
    rules = np.where(primary, "primary", np.where(forced, "secondary", "published"))
    pub = ~forced
    with np.errstate(invalid="ignore", divide="ignore"):
        rate = np.where(pub[:, None] & (N > 0), K / np.maximum(N, 1), np.nan)
    year_col = np.repeat(years[None, :], C, axis=0).ravel()
    rep = np.repeat(np.arange(C), T)
    table = (
        cells.iloc[rep]
        .reset_index(drop=True)
        .assign(
            year=year_col,
            n_eligible=pd.arrays.IntegerArray(N.ravel(), ~np.repeat(pub, T)),
            n_takers=pd.arrays.IntegerArray(K.ravel(), ~np.repeat(pub, T)),
            rate=rate.ravel(),
            status=np.where(pub, "published", "suppressed")[rep],
            _rule=rules[rep],
        )
    )
    table = table[["year", "territory", "departement", "right", "n_eligible", "n_takers", "rate", "status", "_rule"]]
    table = table.sort_values(["year", "territory", "right"], kind="stable", ignore_index=True)
    table_rules = table.pop("_rule").to_numpy()
    # département totals as protect_admin_counts publishes them (the same pattern every year)
    deps = pd.concat(
        [tot[tot["level"] == "departement"].assign(year=y) for y, tot in zip(years, per_year)], ignore_index=True
    )
    deps = deps[["year", "departement", "right", "n_eligible", "n_takers", "rate", "status"]].sort_values(
        ["year", "departement", "right"], kind="stable", ignore_index=True
    )
    # changes between consecutive years, published cells only (the same cells every year)
    ch = []
    for t in range(1, T):  # loop over years
        keep = pub & (N[:, t - 1] > 0) & (N[:, t] > 0)
        ch.append(
            cells.loc[keep].assign(
                year_from=years[t - 1],
                year_to=years[t],
                rate_from=rate[keep, t - 1],
                rate_to=rate[keep, t],
                change=rate[keep, t] - rate[keep, t - 1],
                change_eligible=N[keep, t] - N[keep, t - 1],
                change_takers=K[keep, t] - K[keep, t - 1],
            )
        )
    changes = (
        pd.concat(ch, ignore_index=True)
        if ch
        else pd.DataFrame(columns=["territory", "departement", "right", "year_from", "year_to", "change"])
    )
    return AdminSeries(table=table, departements=deps, changes=changes, min_cell=int(min_cell), rules=table_rules)
