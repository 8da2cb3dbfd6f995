"""The one call every table of an output folder goes through before it is written.

Stages and commands protect their tables with the layer's engine
(:mod:`~nonrecours.publication.suppression`) and blank the tables that depend
on them (:mod:`~nonrecours.publication.blanking`); then they hand every table
of their output to :func:`publish`, and write what it returns. It holds each
table to the :class:`~nonrecours.publication.policy.DisclosurePolicy` of the
run: no count of individuals from 1 to the threshold minus 1 leaves the
package, whatever the table (0 is published: it describes no one). A table
that would publish one was handed over without its protection: nothing is
written and the error names the table and the column.

Microdata (one row per recipient: the sample, its weights, the true rates)
never reach this layer: the caller writes them apart, in ``microdata/``.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd

from ..errors import OutputError, message
from .policy import DEFAULT_POLICY, DisclosurePolicy

__all__ = ["publish", "RESPONDENT_COUNTS", "RECIPIENT_COUNTS", "OTHER_COUNTS"]

#: Columns counting respondents of the sample, in any published table: held to ``min_n``.
RESPONDENT_COUNTS = ("n", "n_1", "n_2", "n_both", "sample_n")
#: Columns counting recipients of the administrative files: held to ``min_cell``.
RECIPIENT_COUNTS = ("n_eligible", "n_takers", "n_non_takers", "admin_n_eligible")
#: Count columns of a table that count something else than individuals (table -> columns).
OTHER_COUNTS = {"comparison_summary": ("n",)}  # territories of each comparison subset


def publish(
    tables: Mapping[str, pd.DataFrame], *, policy: DisclosurePolicy = DEFAULT_POLICY
) -> dict[str, pd.DataFrame]:
    """The tables of a publication folder, held to the disclosure policy: what may be written.

    Parameters
    ----------
    tables : mapping of str to DataFrame
        Every table the caller is about to write for publication, by name (the file's stem), each
        protected already (suppression and blanking of :mod:`nonrecours.publication`).
    policy : DisclosurePolicy
        The run's thresholds.

    Returns
    -------
    dict of str to DataFrame
        The tables, unchanged and in the order given: the caller writes these, and nothing else, in
        its publication folder.

    Raises
    ------
    OutputError
        A table would publish a count of 1 to ``min_n - 1`` respondents (:data:`RESPONDENT_COUNTS`) or
        of 1 to ``min_cell - 1`` recipients (:data:`RECIPIENT_COUNTS`).

    Examples
    --------
    >>> t = pd.DataFrame({"right": ["cmuc", "acs"], "n": [40, 0], "estimate": [0.6, float("nan")]})
    >>> list(publish({"estimates": t}))
    ['estimates']
    >>> publish({"estimates": t.assign(n=[40, 3])})  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    nonrecours.errors.OutputError: table 'estimates', column 'n': a count of 1 to 10 respondents would be ...
    """
    out = {}
    for name, table in tables.items():
        for col in table.columns:
            if col in OTHER_COUNTS.get(name, ()):
                continue
            if col in RESPONDENT_COUNTS:
                _hold(name, col, table[col], policy.min_n, "respondents")
            elif col in RECIPIENT_COUNTS:
                _hold(name, col, table[col], policy.min_cell, "recipients")
        out[name] = table
    return out


def _hold(name: str, col: str, values: pd.Series, threshold: int, who: str) -> None:
    """Raise if ``values`` hold a count from 1 to ``threshold - 1``."""
    v = pd.to_numeric(values, errors="coerce").to_numpy(dtype=float, na_value=np.nan)
    small = (v > 0) & (v < threshold)
    if small.any():
        raise OutputError(
            message(
                f"a count of 1 to {threshold - 1} {who} would be published",
                where=f"table {name!r}, column {col!r}",
                found=f"{int(small.sum())} rows",
                hint="protect the table with nonrecours.publication before publishing it "
                "(a table reaching this point unprotected is a bug: please report it)",
            )
        )
