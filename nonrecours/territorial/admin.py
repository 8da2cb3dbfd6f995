"""Exact take-up rates per territory from a linked administrative file, with disclosure control.

Counts come from one vectorised pass per right (``np.bincount`` on integer
territory codes), so a national file of several million recipients takes
seconds. Cells are then protected for statistical confidentiality:

* primary suppression: a territory × right cell with fewer than ``min_cell``
  eligible recipients is not published;
* secondary suppression: the département totals are published, so within a
  département × right a single suppressed cell could be recovered by
  subtraction; the smallest published cell of that département is suppressed too.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from .._checks import check_columns, check_right_column
from ..errors import DisclosureWarning, InputError, OptionError, message

__all__ = ["AdminRates", "admin_rates"]


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
        Cells with fewer eligible recipients are suppressed (default 11).
    territory, departement : str
        Column names.

    Returns
    -------
    AdminRates

    Notes
    -----
    :math:`N_{dr} = \\#\\{i \\in d: r_i \\in \\{0,1\\}\\}`, :math:`T_{dr} = \\#\\{i \\in d: r_i = 1\\}`,
    rate :math:`T_{dr}/N_{dr}`. Primary suppression when :math:`N_{dr} <` ``min_cell``.
    Secondary suppression (Hundepool et al. 2012, *Statistical Disclosure
    Control*, section 4.2): within each département × right, if exactly one
    non-empty cell is suppressed, the published cell with the fewest eligible
    recipients (ties by territory code) is suppressed too, so that the
    suppressed cells sum to a total of at least two unknowns. A département
    with a single territory cannot protect it that way: its total is then
    suppressed and a :class:`~nonrecours.errors.DisclosureWarning` says so.

    Examples
    --------
    >>> df = pd.DataFrame({"territory": ["a"] * 12 + ["b"] * 5 + ["c"] * 20, "departement": "01",
    ...                    "tpn": [1.0] * 30 + [0.0] * 7})
    >>> admin_rates(df, ["tpn"]).table["status"].tolist()
    ['secondary', 'primary', 'published']
    """
    if isinstance(min_cell, bool) or not isinstance(min_cell, (int, np.integer)) or min_cell < 1:
        raise OptionError(message("the minimum cell size must be a positive integer", where="option min-cell",
                                  found=repr(min_cell)))
    rights = list(rights)
    if not rights:
        raise OptionError(message("no rights given", where="option rights", expected="e.g. cmuc,acs,tpn,tss"))
    check_columns(recipients, [territory, departement, *rights], role="column", source="recipients file")
    for col in (territory, departement):
        empty = recipients[col].isna().to_numpy()
        if empty.any():
            raise InputError(message("missing codes", where=f"recipients file, column {col!r}",
                                     expected="a code on every row", found=f"{int(empty.sum())} empty rows",
                                     hint="fill them in, or drop those recipients"))
    t_codes, t_labels = pd.factorize(recipients[territory].astype(str), sort=True)
    d_codes, d_labels = pd.factorize(recipients[departement].astype(str), sort=True)
    n_terr, n_dept = len(t_labels), len(d_labels)
    first = np.full(n_terr, -1)
    first[t_codes[::-1]] = d_codes[::-1]  # département of each territory (its first row)
    mixed = first[t_codes] != d_codes
    if mixed.any():
        bad = pd.unique(np.asarray(t_labels)[t_codes[mixed]])
        raise InputError(message("territories spread over several départements", where="recipients file",
                                 found=", ".join(map(repr, bad[:5])), hint="a territory must lie in one département"))
    t_dept = first
    order = np.arange(n_terr)
    tables, totals = [], []
    for right in rights:
        v = check_right_column(recipients, right)
        elig = ~np.isnan(v)
        n = np.bincount(t_codes, weights=elig, minlength=n_terr).astype(np.int64)
        k = np.bincount(t_codes, weights=v == 1, minlength=n_terr).astype(np.int64)
        primary = n < min_cell
        second, exposed = _secondary(t_dept, n, order, primary, n_dept)
        status = np.where(primary, "primary", np.where(second, "secondary", "published"))
        pub = status == "published"
        with np.errstate(invalid="ignore", divide="ignore"):
            rate = np.where(pub & (n > 0), k / np.maximum(n, 1), np.nan)
        tables.append(pd.DataFrame({
            "territory": np.asarray(t_labels), "departement": np.asarray(d_labels)[t_dept], "right": right,
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
    counts = res.n_suppressed
    if counts["primary"] or counts["secondary"]:
        n_exp = int((deps["status"] == "suppressed").sum())
        warnings.warn(message(f"{counts['primary']} cells suppressed below {min_cell} eligible recipients and "
                              f"{counts['secondary']} more so that they cannot be recovered from the département totals"
                              + (f"; {n_exp} département totals suppressed (a single territory)" if n_exp else ""),
                              where="territory x right cells"), DisclosureWarning, stacklevel=2)
    return res
