"""Exact take-up rates per territory from a linked administrative file, with disclosure control.

Counts come from one vectorised pass per right (``np.bincount`` on integer
territory codes), so a national file of several million recipients takes
seconds. Cells are then protected for statistical confidentiality:

* primary suppression: a territory × right cell (or a total) with fewer than
  ``min_cell`` eligibles, takers or non-takers is not published;
* secondary suppression: the département and national totals are published, so
  more cells are suppressed until no suppressed count can be recovered by
  subtraction (:mod:`nonrecours.publication`, shared by every engine).

The work is split so that every engine shares all but the counting: an engine
counts (:func:`count_territories` in memory, or the SQL of
:mod:`nonrecours.admin.counts_sql` on DuckDB or Spark) into a small table
with one row per territory, :func:`counts_table` checks it and puts it in long
form (territory × right), and :func:`protect` applies disclosure control to
that aggregated table only.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from .._checks import check_columns, check_right_column
from ..errors import DisclosureWarning, InputError, OptionError, message
from ..options import SuppressionMethod, check_option
from ..publication import DEFAULT_MIN_CELL, check_min_cell, protect_admin_counts

__all__ = [
    "AdminRates",
    "admin_rates",
    "count_cells",
    "count_territories",
    "counts_table",
    "protect",
    "protected_rates",
    "check_min_cell",
    "COUNT_COLUMNS",
]

#: Columns of the aggregated counts table handed to :func:`protect`.
COUNT_COLUMNS = ("territory", "departement", "right", "n_eligible", "n_takers")


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
        dep = self.totals[self.totals["level"] == "departement"]
        cols = ["departement", "right", "n_eligible", "n_takers", "n_non_takers", "rate", "status"]
        return dep[cols].reset_index(drop=True)

    def margin(self, name: str) -> pd.DataFrame:
        """The totals of a margin (e.g. ``is_qpv``): its value, ``right``, the counts, ``rate``, ``status``."""
        m = self.totals[self.totals["level"] == name]
        return m[[name, "right", "n_eligible", "n_takers", "n_non_takers", "rate", "status"]].reset_index(drop=True)

    @property
    def n_suppressed(self) -> dict[str, int]:
        """Number of cells suppressed by each rule."""
        return {k: int((self.rules == k).sum()) for k in ("primary", "secondary")}


def count_cells(
    recipients: pd.DataFrame, rights: Sequence[str], *, territory: str = "territory", departement: str = "departement"
) -> pd.DataFrame:
    """Aggregate a recipients file into territory × right counts (the input of disclosure control).

    Returns ``territory``, ``departement``, ``right``, ``n_eligible``,
    ``n_takers``, ``n_non_takers``: one row per territory of the file and
    right (rights in the order given, per territory): :func:`count_territories`
    (one integer ``np.bincount`` pass per right) then :func:`counts_table`.
    """
    rights = _check_rights(rights)
    check_columns(recipients, [territory, departement, *rights], role="column", source="recipients file")
    if not len(recipients):
        raise InputError(
            message(
                "the recipients file has no rows",
                where="recipients file",
                expected="one row per recipient",
                found="a header only",
            )
        )
    cells = counts_table(
        count_territories(recipients, rights, territory=territory, departement=departement),
        rights,
        territory=territory,
        departement=departement,
    )
    return cells.assign(n_non_takers=cells["n_eligible"] - cells["n_takers"])


def _codes(values: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """Integer codes (-1 for empty) and text labels of a code column, categoricals used as they are."""
    if isinstance(values.dtype, pd.CategoricalDtype):
        return values.cat.codes.to_numpy(), np.asarray(values.cat.categories.astype(str), dtype=object)
    codes, labels = pd.factorize(values)
    return codes, np.asarray(pd.Index(labels).astype(str), dtype=object)


def _right_masks(recipients: pd.DataFrame, right: str) -> tuple[np.ndarray, np.ndarray]:
    """Eligible (not empty) and taker (1) masks of a right column, its values checked.

    A float column is valid when its non-missing values are all 0 or 1, that is when

    .. math:: \\#\\{v_i \\ne \\text{NaN}\\} = \\#\\{v_i = 1\\} + \\#\\{v_i = 0\\},

    three comparisons of which two are the masks counted (without the copy and the six passes of
    :func:`~nonrecours._checks.check_right_column`); any other column, or a float column failing the
    count, goes through :func:`~nonrecours._checks.check_right_column`, which coerces it or raises its message.
    """
    s = recipients[right]
    if isinstance(s.dtype, np.dtype) and s.dtype.kind == "f":
        v = s.to_numpy()
        eligible, taker = v == v, v == 1
        if np.count_nonzero(eligible) == np.count_nonzero(taker) + np.count_nonzero(v == 0):
            return eligible, taker
    values = check_right_column(recipients, right)
    return values == values, values == 1


def count_territories(
    recipients: pd.DataFrame, rights: Sequence[str], *, territory: str = "territory", departement: str = "departement"
) -> pd.DataFrame:
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
            raise InputError(
                message(
                    "missing codes",
                    where=f"recipients file, column {col!r}",
                    expected="a code on every row",
                    found=f"{int(empty.sum())} empty rows, the first on line {int(np.flatnonzero(empty)[0]) + 2}",
                    hint="fill them in, or drop those recipients",
                )
            )
    n_terr = len(t_labels)
    first = np.full(n_terr, -1)
    first[t_codes[::-1]] = d_codes[::-1]  # département of each territory (its first row)
    mixed = first[t_codes] != d_codes
    if mixed.any():
        raise InputError(
            message(
                "territories spread over several départements",
                where="recipients file",
                found=f"{int(np.unique(t_codes[mixed]).size)} territories, the first conflict on "
                f"line {int(np.flatnonzero(mixed)[0]) + 2}",
                hint="a territory must lie in one département",
            )
        )
    present = np.bincount(t_codes, minlength=n_terr)
    keep = present > 0  # unused categories are no territory
    out = {"territory": t_labels[keep], "departement": d_labels[first[keep]], "n_rows": present[keep]}
    base = t_codes.astype(np.intp) * 3  # one integer bincount per right over 3 states: not eligible, eligible, taker
    for j, right in enumerate(rights):
        eligible, taker = _right_masks(recipients, right)
        state = base + eligible  # + 1 when eligible (not NaN)
        state += taker  # + 1 more when a taker
        k = np.bincount(state, minlength=3 * n_terr).reshape(n_terr, 3)[keep]
        out[f"n_eligible_{j}"] = (k[:, 1] + k[:, 2]).astype(np.int64)
        out[f"n_takers_{j}"] = k[:, 2].astype(np.int64)
    return pd.DataFrame(out)


def _check_rights(rights: Sequence[str]) -> list[str]:
    rights = list(rights)
    if not rights:
        raise OptionError(message("no rights given", where="parameter rights", expected="e.g. cmuc,acs,tpn,tss"))
    return rights


def counts_table(
    groups: pd.DataFrame, rights: Sequence[str], *, territory: str = "territory", departement: str = "departement"
) -> pd.DataFrame:
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
            raise InputError(
                message(
                    "a right column holds values other than 1, 0 or empty",
                    where=f"column {right!r}",
                    expected="1 (takes up), 0 (eligible, does not) or empty (not eligible)",
                    found=f"{int(groups[col].sum())} rows",
                    hint="recode the column before estimating",
                )
            )
    for col, key in ((territory, "territory"), (departement, "departement")):
        empty = groups[key].isna().to_numpy()
        if empty.any():
            raise InputError(
                message(
                    "missing codes",
                    where=f"recipients file, column {col!r}",
                    expected="a code on every row",
                    found=f"{int(groups.loc[empty, 'n_rows'].sum())} empty rows",
                    hint="fill them in, or drop those recipients",
                )
            )
    groups = groups.assign(territory=groups["territory"].astype(str), departement=groups["departement"].astype(str))
    dup = groups["territory"].duplicated(keep=False).to_numpy()
    if dup.any():
        bad = pd.unique(groups.loc[dup, "territory"])
        raise InputError(
            message(
                "territories spread over several départements",
                where="recipients file",
                found=", ".join(map(repr, bad[:5])),
                hint="a territory must lie in one département",
            )
        )
    groups = groups.sort_values("territory", ignore_index=True)
    n_terr, n_rights = len(groups), len(rights)
    elig = np.column_stack([groups[f"n_eligible_{j}"].to_numpy(np.int64) for j in range(n_rights)])
    takers = np.column_stack([groups[f"n_takers_{j}"].to_numpy(np.int64) for j in range(n_rights)])
    return pd.DataFrame(
        {
            "territory": np.repeat(groups["territory"].to_numpy(object), n_rights),
            "departement": np.repeat(groups["departement"].to_numpy(object), n_rights),
            "right": np.tile(np.asarray(rights, dtype=object), n_terr),
            "n_eligible": elig.ravel(),
            "n_takers": takers.ravel(),
        }
    )


def protect(
    counts: pd.DataFrame,
    *,
    min_cell: int = DEFAULT_MIN_CELL,
    suppression: str = "heuristic",
) -> AdminRates:
    """Rates and disclosure control from the aggregated counts table (no microdata): every engine ends here.

    Parameters
    ----------
    counts : DataFrame
        :data:`COUNT_COLUMNS`, one row per territory × right, as
        :func:`counts_table` returns it.
    min_cell : int
        Cells (and totals) with fewer eligibles, takers or non-takers are
        suppressed (default :data:`~nonrecours.publication.policy.DEFAULT_MIN_CELL`).
    suppression : {"heuristic", "optimal"}
        Secondary suppression: the completion heuristic, or the least-cost pattern of a mixed-integer
        programme over the linked tables (:mod:`nonrecours.publication.optimal`).

    Returns
    -------
    AdminRates

    Notes
    -----
    :func:`protected_rates`, that is
    :func:`nonrecours.publication.protect_admin_counts`: primary suppression
    when eligibles, takers or non-takers are fewer than ``min_cell``;
    secondary suppression (Hundepool et al. 2012, *Statistical Disclosure
    Control*, section 4.2) so that no suppressed count can be recovered from
    the published département and national totals.
    """
    check_columns(counts, COUNT_COLUMNS, source="counts table")
    return protected_rates(counts, min_cell=min_cell, suppression=suppression)


def admin_rates(
    recipients: pd.DataFrame,
    rights: Sequence[str],
    *,
    min_cell: int = DEFAULT_MIN_CELL,
    territory: str = "territory",
    departement: str = "departement",
    suppression: str = "heuristic",
) -> AdminRates:
    """Exact take-up counts and rates per territory and right, with primary and secondary suppression.

    The in-memory engine: :func:`count_territories`, :func:`counts_table`,
    then :func:`protect` (see :func:`nonrecours.admin.counts_sql.admin_rates_sql`
    for the same on DuckDB or Spark).

    Parameters
    ----------
    recipients : DataFrame
        One row per recipient: ``territory``, ``departement`` and right columns
        coded 1 (takes up), 0 (eligible, does not), empty (not eligible).
    rights : sequence of str
    min_cell : int
        No published figure is built from fewer eligibles, takers or
        non-takers (default :data:`~nonrecours.publication.policy.DEFAULT_MIN_CELL`).
    territory, departement : str
        Column names.
    suppression : {"heuristic", "optimal"}
        Secondary suppression (:func:`protect`).

    Returns
    -------
    AdminRates

    Notes
    -----
    :math:`N_{dr} = \\#\\{i \\in d: r_i \\in \\{0,1\\}\\}`, :math:`T_{dr} = \\#\\{i \\in d: r_i = 1\\}`,
    rate :math:`T_{dr}/N_{dr}`. The counts are aggregated by
    :func:`count_territories` and :func:`counts_table`, then protected by
    :func:`protect`, that is
    :func:`nonrecours.publication.protect_admin_counts` (primary suppression
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
    groups = count_territories(recipients, rights, territory=territory, departement=departement)
    return protect(
        counts_table(groups, rights, territory=territory, departement=departement),
        min_cell=min_cell,
        suppression=suppression,
    )


def protected_rates(
    cells: pd.DataFrame,
    *,
    min_cell: int = DEFAULT_MIN_CELL,
    margins: Sequence[str] = (),
    suppression: str = "heuristic",
) -> AdminRates:
    """:class:`AdminRates` from an aggregated territory × right table, whatever engine aggregated it.

    ``cells`` has ``territory``, ``departement``, ``right``, ``n_eligible``,
    ``n_takers`` (as :func:`count_cells` or :func:`counts_table` return, or a
    DuckDB / Spark aggregation); disclosure control is
    :func:`nonrecours.publication.protect_admin_counts`, and a
    :class:`~nonrecours.errors.DisclosureWarning` says how many cells it suppressed. ``margins``: columns of
    ``cells`` (one value per territory, e.g. ``is_qpv``) whose totals are published too (their rows in
    ``totals`` have that ``level``); the cells are protected against them as well. ``suppression``: the
    secondary suppression's method (``heuristic`` or ``optimal``, :mod:`nonrecours.publication.optimal`).
    """
    check_min_cell(min_cell)
    method = check_option("suppression", suppression, SuppressionMethod)
    table, totals, rules = protect_admin_counts(cells, min_cell=min_cell, margins=margins, method=method)
    res = AdminRates(table=table, totals=totals, min_cell=int(min_cell), rules=rules)
    counts = res.n_suppressed
    if counts["primary"] or counts["secondary"]:
        n_tot = int((totals["status"] == "suppressed").sum())
        warnings.warn(
            message(
                f"{counts['primary']} cells suppressed below {min_cell} eligibles, takers or "
                f"non-takers and {counts['secondary']} more so that they cannot be recovered from the "
                "totals" + (f"; {n_tot} totals suppressed" if n_tot else ""),
                where="territory x right cells",
            ),
            DisclosureWarning,
            stacklevel=3,
        )
    return res
