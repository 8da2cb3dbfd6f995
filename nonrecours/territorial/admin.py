"""Exact take-up rates per territory from a linked administrative file, with disclosure control.

Counts come from one vectorised pass per right (``np.bincount`` on integer
territory codes), so a national file of several million recipients takes
seconds. Cells are then protected for statistical confidentiality:

* primary suppression: a territory × right cell with fewer than ``min_cell``
  eligible recipients is not published;
* secondary suppression: the département totals are published, so within a
  département × right a single suppressed cell could be recovered by
  subtraction; the smallest published cell of that département is suppressed too.

The work is split so that every engine shares all but the counting: an engine
counts (:func:`count_territories` in memory, or the SQL of
:mod:`nonrecours.territorial.admin_sql` on DuckDB or Spark) into a small table
with one row per territory, :func:`counts_table` checks it and puts it in long
form (territory × right), and :func:`protect` applies disclosure control to
that aggregated table only.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from .._checks import check_columns, check_right_column
from ..errors import DisclosureWarning, InputError, OptionError, message

__all__ = ["AdminRates", "admin_rates", "count_territories", "counts_table", "protect", "check_min_cell",
           "COUNT_COLUMNS"]

#: Columns of the aggregated counts table handed to :func:`protect`.
COUNT_COLUMNS = ("territory", "departement", "right", "n_eligible", "n_takers")


@dataclass(frozen=True)
class AdminRates:
    """Per territory × right counts and rates, suppressed cells marked.

    Attributes
    ----------
    table : DataFrame
        ``territory``, ``departement``, ``right``, ``n_eligible``, ``n_takers``,
        ``rate``, ``status`` (``published``, ``primary``, ``secondary``); the
        counts and rate are missing where ``status`` is not ``published``.
    departements : DataFrame
        Published totals: ``departement``, ``right``, ``n_eligible``, ``n_takers``,
        ``rate``, ``status`` (``published``, or ``suppressed`` for a
        département whose only cell is suppressed).
    min_cell : int
    """

    table: pd.DataFrame
    departements: pd.DataFrame
    min_cell: int

    def to_frame(self) -> pd.DataFrame:
        """The territory table (a copy)."""
        return self.table.copy()

    @property
    def n_suppressed(self) -> dict[str, int]:
        """Number of cells suppressed by each rule."""
        vc = self.table["status"].value_counts()
        return {k: int(vc.get(k, 0)) for k in ("primary", "secondary")}


def _masked(values: np.ndarray, keep: np.ndarray) -> pd.arrays.IntegerArray:
    """Integer counts as a nullable array, missing where ``keep`` is False."""
    return pd.arrays.IntegerArray(values.astype(np.int64), ~keep)


def _secondary(dept: np.ndarray, n: np.ndarray, order: np.ndarray, suppressed: np.ndarray,
               n_dept: int) -> tuple[np.ndarray, np.ndarray]:
    """Cells to suppress so no département has exactly one suppressed non-empty cell.

    Returns the secondary mask and the mask of départements left exposed
    (a single suppressed cell and no other cell to pair it with).
    """
    single = np.bincount(dept, weights=suppressed & (n > 0), minlength=n_dept) == 1
    cand = np.flatnonzero(~suppressed & single[dept])
    second = np.zeros(n.size, dtype=bool)
    if cand.size:
        srt = cand[np.lexsort((order[cand], n[cand], dept[cand]))]
        _, first = np.unique(dept[srt], return_index=True)
        second[srt[first]] = True
    covered = np.bincount(dept, weights=second, minlength=n_dept) > 0
    return second, single & ~covered


def check_min_cell(min_cell: object) -> int:
    """The minimum cell size, checked (a positive integer)."""
    if isinstance(min_cell, bool) or not isinstance(min_cell, (int, np.integer)) or min_cell < 1:
        raise OptionError(message("the minimum cell size must be a positive integer", where="option min-cell",
                                  found=repr(min_cell)))
    return int(min_cell)


def _codes(values: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """Integer codes (-1 for empty) and text labels of a code column, categoricals used as they are."""
    if isinstance(values.dtype, pd.CategoricalDtype):
        return values.cat.codes.to_numpy(), np.asarray(values.cat.categories.astype(str), dtype=object)
    codes, labels = pd.factorize(values)
    return codes, np.asarray(pd.Index(labels).astype(str), dtype=object)


def count_territories(recipients: pd.DataFrame, rights: Sequence[str], *, territory: str = "territory",
                      departement: str = "departement") -> pd.DataFrame:
    """Eligible recipients and takers per territory and right, counted in memory (one pass per right).

    Parameters
    ----------
    recipients : DataFrame
        One row per recipient: ``territory``, ``departement`` and right columns
        coded 1 (takes up), 0 (eligible, does not), empty (not eligible).
    rights : sequence of str
    territory, departement : str
        Column names.

    Returns
    -------
    DataFrame
        The wide counts of :func:`counts_table`: ``territory``, ``departement``,
        ``n_rows``, and ``n_eligible_<j>``, ``n_takers_<j>`` for the j-th right;
        one row per territory (the département of its first row).
    """
    rights = _check_rights(rights)
    check_columns(recipients, [territory, departement, *rights], role="column", source="recipients file")
    t_codes, t_labels = _codes(recipients[territory])
    d_codes, d_labels = _codes(recipients[departement])
    for col, codes in ((territory, t_codes), (departement, d_codes)):
        empty = codes < 0
        if empty.any():
            raise InputError(message("missing codes", where=f"recipients file, column {col!r}",
                                     expected="a code on every row", found=f"{int(empty.sum())} empty rows",
                                     hint="fill them in, or drop those recipients"))
    n_terr = len(t_labels)
    first = np.full(n_terr, -1)
    first[t_codes[::-1]] = d_codes[::-1]  # département of each territory (its first row)
    mixed = first[t_codes] != d_codes
    if mixed.any():
        bad = pd.unique(t_labels[t_codes[mixed]])
        raise InputError(message("territories spread over several départements", where="recipients file",
                                 found=", ".join(map(repr, bad[:5])), hint="a territory must lie in one département"))
    present = np.bincount(t_codes, minlength=n_terr)
    keep = present > 0  # unused categories are no territory
    out = {"territory": t_labels[keep], "departement": d_labels[first[keep]], "n_rows": present[keep]}
    for j, right in enumerate(rights):
        v = check_right_column(recipients, right)
        out[f"n_eligible_{j}"] = np.bincount(t_codes, weights=~np.isnan(v), minlength=n_terr)[keep].astype(np.int64)
        out[f"n_takers_{j}"] = np.bincount(t_codes, weights=v == 1, minlength=n_terr)[keep].astype(np.int64)
    return pd.DataFrame(out)


def _check_rights(rights: Sequence[str]) -> list[str]:
    rights = list(rights)
    if not rights:
        raise OptionError(message("no rights given", where="option rights", expected="e.g. cmuc,acs,tpn,tss"))
    return rights


def counts_table(groups: pd.DataFrame, rights: Sequence[str], *, territory: str = "territory",
                 departement: str = "departement") -> pd.DataFrame:
    """Check the wide counts of an engine and return the long counts table (territory × right).

    Parameters
    ----------
    groups : DataFrame
        One row per (territory, département) pair found: ``territory``,
        ``departement``, ``n_rows``, ``n_eligible_<j>`` and ``n_takers_<j>``
        for the j-th right, and optionally ``n_invalid_<j>`` (rows whose right
        value is neither 1, 0 nor empty).
    rights : sequence of str
    territory, departement : str
        Column names in the recipients file (for messages).

    Returns
    -------
    DataFrame
        :data:`COUNT_COLUMNS`, one row per territory × right, territories in
        text order and rights in the order given.
    """
    rights = _check_rights(rights)
    for j, right in enumerate(rights):
        col = f"n_invalid_{j}"
        if col in groups and groups[col].sum() > 0:
            raise InputError(message("a right column holds values other than 1, 0 or empty",
                                     where=f"column {right!r}",
                                     expected="1 (takes up), 0 (eligible, does not) or empty (not eligible)",
                                     found=f"{int(groups[col].sum())} rows",
                                     hint="recode the column before estimating"))
    for col, key in ((territory, "territory"), (departement, "departement")):
        empty = groups[key].isna().to_numpy()
        if empty.any():
            raise InputError(message("missing codes", where=f"recipients file, column {col!r}",
                                     expected="a code on every row",
                                     found=f"{int(groups.loc[empty, 'n_rows'].sum())} empty rows",
                                     hint="fill them in, or drop those recipients"))
    groups = groups.assign(territory=groups["territory"].astype(str), departement=groups["departement"].astype(str))
    dup = groups["territory"].duplicated(keep=False).to_numpy()
    if dup.any():
        bad = pd.unique(groups.loc[dup, "territory"])
        raise InputError(message("territories spread over several départements", where="recipients file",
                                 found=", ".join(map(repr, bad[:5])), hint="a territory must lie in one département"))
    groups = groups.sort_values("territory", ignore_index=True)
    n_terr, n_rights = len(groups), len(rights)
    elig = np.column_stack([groups[f"n_eligible_{j}"].to_numpy(np.int64) for j in range(n_rights)])
    takers = np.column_stack([groups[f"n_takers_{j}"].to_numpy(np.int64) for j in range(n_rights)])
    return pd.DataFrame({"territory": np.repeat(groups["territory"].to_numpy(object), n_rights),
                         "departement": np.repeat(groups["departement"].to_numpy(object), n_rights),
                         "right": np.tile(np.asarray(rights, dtype=object), n_terr),
                         "n_eligible": elig.ravel(), "n_takers": takers.ravel()})


def protect(counts: pd.DataFrame, *, min_cell: int = 11) -> AdminRates:
    """Rates and disclosure control from the aggregated counts table (no microdata).

    Parameters
    ----------
    counts : DataFrame
        :data:`COUNT_COLUMNS`, one row per territory × right, as
        :func:`counts_table` returns it (every territory once per right,
        territories in text order, rights in the same order for each).
    min_cell : int
        Cells with fewer eligible recipients are suppressed (default 11).

    Returns
    -------
    AdminRates

    Notes
    -----
    Primary suppression when :math:`N_{dr} <` ``min_cell``.
    Secondary suppression (Hundepool et al. 2012, *Statistical Disclosure
    Control*, section 4.2): within each département × right, if exactly one
    non-empty cell is suppressed, the published cell with the fewest eligible
    recipients (ties by territory code) is suppressed too, so that the
    suppressed cells sum to a total of at least two unknowns. A département
    with a single territory cannot protect it that way: its total is then
    suppressed and a :class:`~nonrecours.errors.DisclosureWarning` says so.
    """
    check_min_cell(min_cell)
    check_columns(counts, COUNT_COLUMNS, source="counts table")
    rights = list(pd.unique(counts["right"]))
    n_rights = len(rights)
    terr = counts["territory"].to_numpy(object)[::n_rights]
    dept_of_terr = counts["departement"].to_numpy(object)[::n_rights]
    d_codes, d_labels = pd.factorize(dept_of_terr, sort=True)
    n_terr, n_dept = len(terr), len(d_labels)
    if len(counts) != n_terr * n_rights or (counts["right"].to_numpy(object).reshape(n_terr, n_rights)
                                            != np.asarray(rights, dtype=object)).any():
        raise InputError(message("the counts table is not one row per territory and right", where="counts table",
                                 expected="every territory once per right, rights in the same order",
                                 hint="build it with counts_table"))
    t_dept = d_codes
    order = np.arange(n_terr)
    elig = counts["n_eligible"].to_numpy(np.int64).reshape(n_terr, n_rights)
    tak = counts["n_takers"].to_numpy(np.int64).reshape(n_terr, n_rights)
    tables, totals = [], []
    for j, right in enumerate(rights):
        n, k = elig[:, j], tak[:, j]
        primary = n < min_cell
        second, exposed = _secondary(t_dept, n, order, primary, n_dept)
        status = np.where(primary, "primary", np.where(second, "secondary", "published"))
        pub = status == "published"
        with np.errstate(invalid="ignore", divide="ignore"):
            rate = np.where(pub & (n > 0), k / np.maximum(n, 1), np.nan)
        tables.append(pd.DataFrame({
            "territory": terr, "departement": np.asarray(d_labels)[t_dept], "right": right,
            "n_eligible": _masked(n, pub),
            "n_takers": _masked(k, pub),
            "rate": rate, "status": status}))
        nd = np.bincount(t_dept, weights=n, minlength=n_dept).astype(np.int64)
        kd = np.bincount(t_dept, weights=k, minlength=n_dept).astype(np.int64)
        with np.errstate(invalid="ignore", divide="ignore"):
            rd = np.where(~exposed & (nd > 0), kd / np.maximum(nd, 1), np.nan)
        totals.append(pd.DataFrame({
            "departement": np.asarray(d_labels), "right": right,
            "n_eligible": _masked(nd, ~exposed),
            "n_takers": _masked(kd, ~exposed),
            "rate": rd, "status": np.where(exposed, "suppressed", "published")}))
    table = pd.concat(tables, ignore_index=True).sort_values("territory", kind="stable",
                                                             ignore_index=True)
    deps = pd.concat(totals, ignore_index=True)
    res = AdminRates(table=table, departements=deps, min_cell=int(min_cell))
    n_supp = res.n_suppressed
    if n_supp["primary"] or n_supp["secondary"]:
        n_exp = int((deps["status"] == "suppressed").sum())
        warnings.warn(message(f"{n_supp['primary']} cells suppressed below {min_cell} eligible recipients and "
                              f"{n_supp['secondary']} more so that they cannot be recovered from the "
                              "département totals"
                              + (f"; {n_exp} département totals suppressed (a single territory)" if n_exp else ""),
                              where="territory x right cells"), DisclosureWarning, stacklevel=3)
    return res


def admin_rates(recipients: pd.DataFrame, rights: Sequence[str], *, min_cell: int = 11,
                territory: str = "territory", departement: str = "departement") -> AdminRates:
    """Exact take-up counts and rates per territory and right, with primary and secondary suppression.

    The in-memory engine: :func:`count_territories`, :func:`counts_table`,
    then :func:`protect` (see :func:`nonrecours.territorial.admin_sql.admin_rates_sql`
    for the same on DuckDB or Spark).

    Parameters
    ----------
    recipients : DataFrame
        One row per recipient: ``territory``, ``departement`` and right columns
        coded 1 (takes up), 0 (eligible, does not), empty (not eligible).
    rights : sequence of str
    min_cell : int
        Cells with fewer eligible recipients are suppressed (default 11).
    territory, departement : str
        Column names.

    Returns
    -------
    AdminRates

    Notes
    -----
    :math:`N_{dr} = \\#\\{i \\in d: r_i \\in \\{0,1\\}\\}`, :math:`T_{dr} = \\#\\{i \\in d: r_i = 1\\}`,
    rate :math:`T_{dr}/N_{dr}`; suppression as in :func:`protect`.

    Examples
    --------
    >>> df = pd.DataFrame({"territory": ["a"] * 12 + ["b"] * 5 + ["c"] * 20, "departement": "01",
    ...                    "tpn": [1.0] * 30 + [0.0] * 7})
    >>> admin_rates(df, ["tpn"]).table["status"].tolist()
    ['secondary', 'primary', 'published']
    """
    check_min_cell(min_cell)
    groups = count_territories(recipients, rights, territory=territory, departement=departement)
    return protect(counts_table(groups, rights, territory=territory, departement=departement), min_cell=min_cell)
