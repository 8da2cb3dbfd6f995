"""The interface every SQL engine implements: register files as named tables, run SQL, close.

Backends stay thin (Splink's backends, ibis): they know how to read a file
in place and how to run a query, nothing about take-up. The statements
themselves (aggregation, eligibility rules, linkage blocking) live with the
stage that owns them and are written in the SQL subset DuckDB and Spark
share: ``CAST(x AS STRING)``, ``TRY_CAST``, ``CASE``, ``SUM``, ``COUNT``,
``GROUP BY``; identifiers are quoted with :meth:`Engine.quote`.
"""

from __future__ import annotations

import os
from abc import ABC, abstractmethod
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Self

import pandas as pd

from ..errors import InputError, OptionError, message

__all__ = ["Engine", "PendingQuery", "table_files"]

_SUFFIXES = (".csv", ".parquet")


def table_files(source: str | os.PathLike, *, option: str = "input") -> tuple[Path, str]:
    """The path of a table and its format: a ``.csv`` / ``.parquet`` file, or a folder of them.

    A folder is read as one table (every file under it, any depth), its
    ``key=value`` sub-folder names becoming text columns (Hive partitioning).

    Returns
    -------
    (path, format)
        ``format`` is ``"csv"`` or ``"parquet"``.
    """
    p = Path(source)
    if p.is_file():
        suffix = p.suffix.lower()
        if suffix not in _SUFFIXES:
            raise OptionError(
                message(
                    "unsupported file type for a SQL engine",
                    where=f"{option} {str(p)!r}",
                    expected="a name ending in .csv or .parquet, or a folder of them",
                    found=repr(p.suffix or "no suffix"),
                    hint="use the pandas engine for JSON",
                )
            )
        return p, suffix[1:]
    if p.is_dir():
        found = {s for s in _SUFFIXES if next(p.rglob(f"*{s}"), None) is not None}
        if len(found) != 1:
            raise InputError(
                message(
                    "a folder read as one table must hold files of one type",
                    where=f"{option} {str(p)!r}",
                    expected="only .csv or only .parquet files",
                    found=", ".join(sorted(found)) if found else "none of them",
                    hint="point at a single file, or a folder of one file type",
                )
            )
        return p, found.pop()[1:]
    raise InputError(message("file not found", where=f"{option} {str(p)!r}", hint="check the path"))


class PendingQuery:
    """A query begun by :meth:`Engine.start`: :meth:`result` gives its table, :meth:`cancel` drops it.

    This base form runs the query when its result is asked for (engines that cannot run two queries at once);
    :class:`~nonrecours.engines.duckdb.DuckDBEngine` runs it at once on a second cursor.
    """

    def __init__(self, engine: Engine, query: str) -> None:
        self._engine, self._query = engine, query

    def result(self) -> pd.DataFrame:
        """The query's table (its errors raised here)."""
        return self._engine.sql(self._query)

    def cancel(self) -> None:
        """Give the query up (nothing to do when it has not begun)."""


class Engine(ABC):
    """A SQL engine: named tables registered from files or frames, queries returning pandas tables.

    Use it as a context manager, or call :meth:`close`. Every text column of a
    CSV is read as text (codes such as ``"01"`` or ``"2A"`` keep their form);
    Parquet columns keep their types, partition columns are text.
    """

    #: The engine's name in ``--engine``.
    name: str = ""

    @abstractmethod
    def register(self, name: str, source: str | os.PathLike, *, option: str = "input") -> None:
        """Make the file or folder ``source`` queryable as table ``name``, without reading it."""

    @abstractmethod
    def register_frame(self, name: str, frame: pd.DataFrame) -> None:
        """Make an in-memory table queryable as ``name`` (small tables: rules, margins, tests)."""

    @abstractmethod
    def columns(self, name: str) -> list[str]:
        """Column names of a registered table."""

    @abstractmethod
    def sql(self, query: str) -> pd.DataFrame:
        """Run ``query`` and return its result as a pandas table."""

    def start(self, query: str) -> PendingQuery:
        """Begin ``query`` over registered files, beside the caller's next queries where the engine can.

        Two queries of one file (DuckDB: the id check's sort and the counts' ``GROUP BY``) each leave part
        of the cores idle; run at once they share them. The query must read only tables registered from
        files or created by :meth:`create_table` before the call, not frames of :meth:`register_frame`. Here,
        and on Spark, it runs when its result is asked for.

        Examples
        --------
        >>> from nonrecours.engines.duckdb import DuckDBEngine
        >>> with DuckDBEngine() as eng:
        ...     pending = eng.start("SELECT 40 + 2 AS x")
        ...     int(pending.result()["x"].iloc[0])
        42
        """
        return PendingQuery(self, query)

    @abstractmethod
    def create_table(self, name: str, query: str) -> None:
        """Run ``query`` and keep its result in the engine as the temporary table ``name``.

        A long intermediate table (one row per recipient and right) stays in
        the engine, where later queries read it; it replaces a table of the
        same name and is dropped by :meth:`unregister` or :meth:`close`.
        """

    @abstractmethod
    def unregister(self, name: str) -> None:
        """Forget the table ``name`` (registered or created); no error when there is none."""

    @property
    @abstractmethod
    def version(self) -> str:
        """Version of the library behind the engine (DuckDB's, Spark's)."""

    @abstractmethod
    def settings(self) -> dict[str, Any]:
        """``engine``, ``version``, ``memory_limit`` and ``threads`` in use (for the manifest of a run)."""

    @abstractmethod
    def close(self) -> None:
        """Release the engine's resources."""

    @contextmanager
    def insertion_order(self) -> Iterator[None]:
        """Within the block, a query without ordering, grouping or join gives its rows in its input's order where
        the engine can keep it at little cost (DuckDB); elsewhere (Spark) nothing changes: the caller reorders."""
        yield

    def sql_frames(self, query: str, frames: Mapping[str, pd.DataFrame]) -> pd.DataFrame:
        """Run ``query`` over in-memory tables registered for the query only (names of ``frames``).

        Examples
        --------
        >>> from nonrecours.engines.duckdb import DuckDBEngine
        >>> with DuckDBEngine() as eng:
        ...     out = eng.sql_frames("select count(*) as n from t where a > 1", {"t": pd.DataFrame({"a": [1, 2, 3]})})
        >>> out["n"].tolist()
        [2]
        """
        try:
            for name, frame in frames.items():
                self.register_frame(name, frame)
            return self.sql(query)
        finally:
            for name in frames:
                self.unregister(name)

    @staticmethod
    def quote(identifier: str) -> str:
        """``identifier`` quoted for this engine's SQL."""
        return '"' + identifier.replace('"', '""') + '"'

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
