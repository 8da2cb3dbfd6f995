"""Exact take-up rates per territory from a linked administrative file, with disclosure control.

Counts come from one vectorised pass per right (``np.bincount`` on integer
territory codes), so a national file of several million recipients takes
seconds. Cells are then protected for statistical confidentiality:

* primary suppression: a territory × right cell (or a total) with fewer than
  ``min_cell`` eligibles, takers or non-takers is not published;
* secondary suppression: the département and national totals are published, so
  more cells are suppressed until no suppressed count can be recovered by
  subtraction (:mod:`nonrecours.disclosure`, shared by every engine).
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from .._checks import check_columns, check_right_column
from ..disclosure import check_min_cell, protect_admin_counts
from ..errors import DisclosureWarning, InputError, OptionError, message

__all__ = ["AdminRates", "admin_rates", "count_cells", "protected_rates"]


@dataclass(frozen=True)
class AdminRates:
    """Per territory × right counts and rates, suppressed cells marked.

    Attributes
    ----------
    table : DataFrame
        ``territory``, ``departement``, ``right``, ``n_eligible``, ``n_takers``,
        ``n_non_takers``, ``rate``, ``status`` (``published`` or
        ``suppressed``); the counts and rate are missing where suppressed.
    totals : DataFrame
        Published totals: ``level`` (``departement`` or ``national``),
        ``departement``, ``right``, the counts, ``rate`` and ``status``.
    min_cell : int
    rules : ndarray of str
        Why each cell of ``table`` is suppressed (``primary``, ``secondary``)
        or ``published``: for the producer, not for publication (it would
        tell an attacker that a secondary cell is large).
    """

    table: pd.DataFrame
    totals: pd.DataFrame
    min_cell: int
    rules: np.ndarray = field(repr=False)

    def to_frame(self) -> pd.DataFrame:
        """The territory table (a copy)."""
        return self.table.copy()

    @property
    def departements(self) -> pd.DataFrame:
        """The département rows of :attr:`totals`."""
        return self.totals[self.totals["level"] == "departement"].drop(columns="level").reset_index(drop=True)

    @property
    def n_suppressed(self) -> dict[str, int]:
        """Number of cells suppressed by each rule."""
        return {k: int((self.rules == k).sum()) for k in ("primary", "secondary")}


def count_cells(recipients: pd.DataFrame, rights: Sequence[str], *, territory: str = "territory",
                departement: str = "departement") -> pd.DataFrame:
    """Aggregate a recipients file into territory × right counts (the input of disclosure control).

    Returns ``territory``, ``departement``, ``right``, ``n_eligible``,
    ``n_takers``, ``n_non_takers``: one row per territory of the file and
    right (rights in the order given, per territory), with one
    ``np.bincount`` pass per right.
    """
    rights = list(rights)
    if not rights:
        raise OptionError(message("no rights given", where="option rights", expected="e.g. cmuc,acs,tpn,tss"))
    check_columns(recipients, [territory, departement, *rights], role="column", source="recipients file")
    if not len(recipients):
        raise InputError(message("the recipients file has no rows", where="recipients file",
                                 expected="one row per recipient", found="a header only"))
    for col in (territory, departement):
        empty = recipients[col].isna().to_numpy()
        if empty.any():
            raise InputError(message("missing codes", where=f"recipients file, column {col!r}",
                                     expected="a code on every row",
                                     found=f"{int(empty.sum())} empty rows, the first on line "
                                           f"{int(np.flatnonzero(empty)[0]) + 2}",
                                     hint="fill them in, or drop those recipients"))
    t_codes, t_labels = pd.factorize(recipients[territory].astype(str), sort=True)
    d_codes, d_labels = pd.factorize(recipients[departement].astype(str), sort=True)
    n_terr = len(t_labels)
    first = np.full(n_terr, -1)
    first[t_codes[::-1]] = d_codes[::-1]  # département of each territory (its first row)
    mixed = first[t_codes] != d_codes
    if mixed.any():
        raise InputError(message("territories spread over several départements", where="recipients file",
                                 found=f"{int(np.unique(t_codes[mixed]).size)} territories, the first conflict on "
                                       f"line {int(np.flatnonzero(mixed)[0]) + 2}",
                                 hint="a territory must lie in one département"))
    parts = []
    for right in rights:
        v = check_right_column(recipients, right)
        n = np.bincount(t_codes, weights=~np.isnan(v), minlength=n_terr).astype(np.int64)
        k = np.bincount(t_codes, weights=v == 1, minlength=n_terr).astype(np.int64)
        parts.append(pd.DataFrame({"territory": np.asarray(t_labels), "departement": np.asarray(d_labels)[first],
                                   "right": right, "n_eligible": n, "n_takers": k, "n_non_takers": n - k}))
    return pd.concat(parts, ignore_index=True).sort_values("territory", kind="stable", ignore_index=True)


def admin_rates(recipients: pd.DataFrame, rights: Sequence[str], *, min_cell: int = 11,
                territory: str = "territory", departement: str = "departement") -> AdminRates:
    """Exact take-up counts and rates per territory and right, with primary and secondary suppression.

    Parameters
    ----------
    recipients : DataFrame
        One row per recipient: ``territory``, ``departement`` and right columns
        coded 1 (takes up), 0 (eligible, does not), empty (not eligible).
    rights : sequence of str
    min_cell : int
        No published figure is built from fewer eligibles, takers or
        non-takers (default 11).
    territory, departement : str
        Column names.

    Returns
    -------
    AdminRates

    Notes
    -----
    :math:`N_{dr} = \\#\\{i \\in d: r_i \\in \\{0,1\\}\\}`, :math:`T_{dr} = \\#\\{i \\in d: r_i = 1\\}`,
    rate :math:`T_{dr}/N_{dr}`. The counts are aggregated by
    :func:`count_cells`, then protected by
    :func:`nonrecours.disclosure.protect_admin_counts` (primary suppression
    when eligibles, takers or non-takers are fewer than ``min_cell``; secondary
    suppression against the département and national totals), the same
    function every engine calls on its aggregated table.

    Examples
    --------
    >>> df = pd.DataFrame({"territory": ["a"] * 12 + ["b"] * 5 + ["c"] * 20, "departement": "01",
    ...                    "tpn": [1.0] * 6 + [0.0] * 6 + [1.0] * 3 + [0.0] * 2 + [1.0] * 10 + [0.0] * 10})
    >>> import warnings
    >>> with warnings.catch_warnings(record=True):  # a DisclosureWarning says how many cells were suppressed
    ...     admin_rates(df, ["tpn"], min_cell=5).table["status"].tolist()
    ['suppressed', 'suppressed', 'published']
    """
    check_min_cell(min_cell)
    cells = count_cells(recipients, rights, territory=territory, departement=departement)
    return protected_rates(cells, min_cell=min_cell)


def protected_rates(cells: pd.DataFrame, *, min_cell: int = 11) -> AdminRates:
    """:class:`AdminRates` from an aggregated territory × right table, whatever engine aggregated it.

    ``cells`` has ``territory``, ``departement``, ``right``, ``n_eligible``,
    ``n_takers`` (as :func:`count_cells` returns, or a DuckDB / Spark
    aggregation); disclosure control is
    :func:`nonrecours.disclosure.protect_admin_counts`, and a
    :class:`~nonrecours.errors.DisclosureWarning` says how many cells it suppressed.
    """
    table, totals, rules = protect_admin_counts(cells, min_cell=min_cell)
    res = AdminRates(table=table, totals=totals, min_cell=int(min_cell), rules=rules)
    counts = res.n_suppressed
    if counts["primary"] or counts["secondary"]:
        n_tot = int((totals["status"] == "suppressed").sum())
        warnings.warn(message(f"{counts['primary']} cells suppressed below {min_cell} eligibles, takers or "
                              f"non-takers and {counts['secondary']} more so that they cannot be recovered from the "
                              "totals" + (f"; {n_tot} totals suppressed" if n_tot else ""),
                              where="territory x right cells"), DisclosureWarning, stacklevel=3)
    return res
