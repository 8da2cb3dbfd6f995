"""The administrative aggregation stated once as SQL, run by DuckDB or Spark on files in place.

One ``GROUP BY`` over the recipients file yields one row per (territory,
département) pair with, for each right, the eligible recipients, the takers
and the rows holding an invalid code: a table of a few thousand rows
whatever the file's size. The checks and the disclosure control of
:mod:`nonrecours.admin.counts` then run on that small table, exactly as
for the in-memory path (:func:`~nonrecours.admin.counts.admin_rates`),
whose results these equal cell by cell.
"""

from __future__ import annotations

import os
from collections.abc import Sequence

import pandas as pd

from .._checks import check_columns, duplicate_ids_message, id_column
from ..engines.base import Engine
from ..errors import InputError, message
from ..publication.policy import DEFAULT_MIN_CELL
from .counts import AdminRates, check_min_cell, counts_table, protect

__all__ = ["counts_sql", "count_territories_sql", "check_unique_ids_sql", "admin_rates_sql"]

#: 64-bit hash function of each engine, for the distinct count of ids (a 32-bit hash would collide on millions of rows).
_HASH64 = {"duckdb": "hash", "spark": "xxhash64"}


def counts_sql(
    engine: Engine, table: str, rights: Sequence[str], *, territory: str = "territory", departement: str = "departement"
) -> str:
    """The aggregation query over registered table ``table`` (DuckDB and Spark alike).

    A right value counts as eligible when it reads as the number 0 or 1, as a
    taker when it reads as 1; an empty or missing value is 'not eligible';
    anything else is counted in ``n_invalid_<j>`` (and refused afterwards).

    Examples
    --------
    >>> from nonrecours.engines.duckdb import DuckDBEngine
    >>> print(counts_sql(DuckDBEngine(), "recipients", ["cmuc"]).splitlines()[0])
    SELECT CAST("territory" AS STRING) AS territory, CAST("departement" AS STRING) AS departement, COUNT(*) AS n_rows,
    """
    q = engine.quote
    cols = [
        f"CAST({q(territory)} AS STRING) AS territory",
        f"CAST({q(departement)} AS STRING) AS departement",
        "COUNT(*) AS n_rows",
    ]
    for j, right in enumerate(rights):
        raw = q(right)
        val = f"TRY_CAST({raw} AS DOUBLE)"
        cols.append(f"SUM(CASE WHEN {val} IN (0, 1) THEN 1 ELSE 0 END) AS n_eligible_{j}")
        cols.append(f"SUM(CASE WHEN {val} = 1 THEN 1 ELSE 0 END) AS n_takers_{j}")
        cols.append(
            f"SUM(CASE WHEN {val} IN (0, 1) THEN 0 WHEN {val} IS NOT NULL THEN 1 WHEN {raw} IS NULL THEN 0 "
            f"WHEN TRIM(CAST({raw} AS STRING)) = '' THEN 0 ELSE 1 END) AS n_invalid_{j}"
        )
    return (
        "SELECT "
        + cols[0]
        + ", "
        + cols[1]
        + ", "
        + cols[2]
        + ",\n  "
        + ",\n  ".join(cols[3:])
        + f"\nFROM {q(table)}\nGROUP BY 1, 2"
    )


def check_unique_ids_sql(engine: Engine, table: str, column: str, *, source: str = "recipients file") -> None:
    """Refuse missing or repeated ids in registered ``table``: ``count(*)`` against the number of distinct ids.

    One query when the ids are unique, over 64-bit hashes of the ids (DuckDB's
    ``hash``, Spark's ``xxhash64``; the ids themselves on other engines):
    distinct hashes imply distinct ids, and a hash keeps 8 bytes per id instead
    of the id text. On DuckDB the hashes are sorted and each compared with the
    one before it (``LAG(h) OVER (ORDER BY h)``): the hashes repeated are those
    equal to their predecessor, so

    .. math:: n_\\text{distinct} = n_\\text{id} - \\#\\{i : h_{(i)} = h_{(i-1)}\\},

    with ``COUNT(*)`` and ``COUNT(id)`` in the same scan; a sort of the 8-byte
    hashes needs about half the memory and time of DuckDB's hash table of
    ``COUNT(DISTINCT hash(id))``, and spills to disk under the engine's memory
    limit. On Spark, where a window over the whole table would run in one
    partition, ``COUNT(DISTINCT xxhash64(id))``. Only when the hashes repeat
    (repeated ids, or a collision, probability about :math:`n^2 / 2^{65}`,
    7e-7 for 5 million ids) is the exact second scan run,
    ``GROUP BY id HAVING COUNT(*) > 1``, which counts the rows sharing an id
    (none after a mere collision: the file passes).

    The SQL twin of :func:`nonrecours._checks.check_unique_ids`, with the same
    message (column named, never an id value); it gives how many rows share
    an id but not their lines, which a folder of files read in place does not
    have (read a single file with ``--engine pandas`` to get them).
    """
    q, t = engine.quote(column), engine.quote(table)
    hashed = f"{_HASH64[engine.name]}({q})" if engine.name in _HASH64 else q
    if engine.name == "duckdb":
        counts = engine.sql(
            "SELECT COUNT(*) AS n, COUNT(h) AS n_id, "
            "COUNT(h) - COALESCE(SUM(CASE WHEN h = p THEN 1 ELSE 0 END), 0) AS n_distinct "
            f"FROM (SELECT h, LAG(h) OVER (ORDER BY h) AS p FROM (SELECT CASE WHEN {q} IS NULL THEN NULL "
            f"ELSE {hashed} END AS h FROM {t}) AS s) AS w"
        )
    else:
        counts = engine.sql(
            f"SELECT COUNT(*) AS n, COUNT({q}) AS n_id, COUNT(DISTINCT {hashed}) AS n_distinct FROM {t}"
        )
    n, n_id, n_distinct = (int(counts.iloc[0, k]) for k in range(3))
    where = f"{source}, column {column!r}"
    if n_id < n:
        raise InputError(
            message("missing ids", where=where, expected="an id on every row", found=f"{n - n_id} empty rows")
        )
    if n_distinct == n_id:
        return
    dups = engine.sql(
        f"SELECT COUNT(*) AS n_groups, SUM(c) AS n_dup FROM (SELECT COUNT(*) AS c FROM {t} "
        f"WHERE {q} IS NOT NULL GROUP BY {q} HAVING COUNT(*) > 1) AS d"
    )
    if int(dups.iloc[0, 0]) > 0:  # else a hash collision between distinct ids: unique
        raise InputError(
            duplicate_ids_message(
                column,
                source=source,
                found=f"{int(dups.iloc[0, 1])} rows share an id",
                hint="drop or fix the duplicated rows before counting (parameter id_col "
                "names the id column; the pandas engine gives their lines)",
            )
        )


def count_territories_sql(
    engine: Engine,
    source: str | os.PathLike,
    rights: Sequence[str],
    *,
    territory: str = "territory",
    departement: str = "departement",
    option: str = "RECIPIENTS",
    id_col: str | None = None,
) -> pd.DataFrame:
    """Register ``source`` on ``engine`` and run :func:`counts_sql`: the wide counts of :func:`counts_table`.

    The ids (``id_col``, else ``'id'`` when the file has it) are checked by
    :func:`check_unique_ids_sql`: a recipient listed twice would be counted twice. On an engine that can
    (:meth:`Engine.start <nonrecours.engines.base.Engine.start>`: DuckDB), the counts run at the same time
    on a second cursor and are given up when the check fails; the check's sort and the ``GROUP BY`` each
    keep part of the cores idle when run alone (0.48 and 0.41 s on 2 cores for 5 million rows).
    """
    engine.register("recipients", source, option=option)
    header = pd.DataFrame(columns=engine.columns("recipients"))  # the file's columns, no rows read
    column = id_column(header.columns, id_col)
    check_columns(
        header,
        [territory, departement, *rights, *([column] if column else [])],
        role="column",
        source="recipients file",
    )
    query = counts_sql(engine, "recipients", rights, territory=territory, departement=departement)
    if column is None:
        return engine.sql(query)
    counts = engine.start(query)  # on DuckDB, the counts' GROUP BY runs beside the id check's sort
    try:
        check_unique_ids_sql(engine, "recipients", column)
    except BaseException:
        counts.cancel()
        raise
    return counts.result()


def admin_rates_sql(
    engine: Engine,
    source: str | os.PathLike,
    rights: Sequence[str],
    *,
    min_cell: int = DEFAULT_MIN_CELL,
    territory: str = "territory",
    departement: str = "departement",
    option: str = "RECIPIENTS",
    id_col: str | None = None,
    suppression: str = "heuristic",
) -> AdminRates:
    """:func:`~nonrecours.admin.counts.admin_rates` on a file read in place by a SQL engine.

    Parameters
    ----------
    engine : Engine
        An open engine (:func:`nonrecours.engines.open_engine`).
    source : path
        CSV or Parquet file, or a folder of them (partitioned by year and
        département, for example); never loaded into memory.
    rights, min_cell, territory, departement, suppression
        As for :func:`~nonrecours.admin.counts.admin_rates`.
    id_col : str, optional
        Identifier column checked for missing and repeated ids (default
        ``'id'`` when the file has it; no check otherwise).

    Returns
    -------
    AdminRates
        Equal, cell by cell, to the in-memory result on the same data.
    """
    check_min_cell(min_cell)
    groups = count_territories_sql(
        engine, source, rights, territory=territory, departement=departement, option=option, id_col=id_col
    )
    return protect(
        counts_table(groups, rights, territory=territory, departement=departement),
        min_cell=min_cell,
        suppression=suppression,
    )
