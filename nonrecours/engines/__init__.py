"""Engines that run the administrative phase's SQL on files too large for memory.

The administrative phase states its work once, as SQL over named tables
registered from files (CSV or Parquet, a single file or a folder partitioned
as ``year=2024/departement=59/part-0.parquet``), and an engine runs it:

- ``duckdb``: embedded, reads the files in place with a memory limit
  (:class:`~nonrecours.engines.duckdb.DuckDBEngine`);
- ``spark``: a Spark session, local or on a cluster
  (:class:`~nonrecours.engines.spark.SparkEngine`);
- ``pandas``: no SQL engine; the file is read into memory and counted with
  numpy (the reference the two others are compared with, cell by cell).

Engines are imported lazily: ``import nonrecours.engines`` loads neither
DuckDB nor Spark. Nothing outside this package opens a database: a function
that runs SQL takes an :class:`~nonrecours.engines.base.Engine`, or borrows a
DuckDB one for its call (:func:`borrow_engine`).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

from ..options import ComputeEngine, choices

if TYPE_CHECKING:
    from .base import Engine

__all__ = ["ENGINES", "SQL_ENGINES", "Engine", "open_engine", "borrow_engine"]

#: The ``--engine`` choices (``engine`` of ``study.toml``): :class:`~nonrecours.options.ComputeEngine`.
ENGINES = choices(ComputeEngine)
#: The engines that run SQL.
SQL_ENGINES = tuple(e for e in ENGINES if e != ComputeEngine.PANDAS)


def open_engine(
    name: str,
    *,
    memory_limit: str | None = None,
    threads: int | None = None,
    temp_directory: str | os.PathLike | None = None,
    spark_master: str | None = None,
):
    """Open the SQL engine ``name`` (``"duckdb"`` or ``"spark"``), an :class:`~nonrecours.engines.base.Engine`.

    Parameters
    ----------
    name : {"duckdb", "spark"}
    memory_limit : str, optional
        DuckDB's memory limit (``"4GB"``); beyond it, DuckDB spills to
        ``temp_directory``. For Spark, the driver memory of a local session.
    threads : int, optional
        Worker threads (DuckDB) or local cores (Spark ``local[threads]``).
    temp_directory : path, optional
        Where DuckDB spills (default: DuckDB's own, next to the process).
    spark_master : str, optional
        Spark master URL (``local[2]``, ``spark://host:7077``, ``yarn``,
        ``k8s://...``); ignored when ``SPARK_REMOTE`` (Spark Connect) is set.
    """
    from .._checks import check_choice

    check_choice("engine", name, SQL_ENGINES)
    if name == "duckdb":
        from .duckdb import DuckDBEngine

        return DuckDBEngine(memory_limit=memory_limit, threads=threads, temp_directory=temp_directory)
    from .spark import SparkEngine

    return SparkEngine(master=spark_master, threads=threads, memory=memory_limit)


@contextmanager
def borrow_engine(
    engine: Engine | None = None, *, memory_limit: str | None = None, threads: int | None = None
) -> Iterator[Engine]:
    """``engine`` itself (left open for its owner), or an in-memory DuckDB engine closed at the end of the block.

    Parameters
    ----------
    engine : Engine, optional
        An open engine.
    memory_limit, threads
        Settings of the DuckDB engine opened when ``engine`` is ``None``.

    Examples
    --------
    >>> import pandas as pd
    >>> with borrow_engine() as eng:
    ...     eng.sql_frames("select sum(a) as s from t", {"t": pd.DataFrame({"a": [1, 2]})})["s"].tolist()
    [3]
    """
    if engine is not None:
        yield engine
        return
    from .duckdb import DuckDBEngine

    with DuckDBEngine(memory_limit=memory_limit, threads=threads) as own:
        yield own


def __getattr__(name: str):
    """``Engine`` on first use (importing this package stays free of pandas)."""
    if name == "Engine":
        from .base import Engine

        return Engine
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
