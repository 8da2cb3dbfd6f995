"""DuckDB, embedded: files read in place, a memory limit, spilling to disk beyond it."""

from __future__ import annotations

import os
from pathlib import Path

import pandas as pd

from ..errors import OptionError, message
from .base import Engine, table_files

__all__ = ["DuckDBEngine"]


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


class DuckDBEngine(Engine):
    """A DuckDB connection (in memory) whose tables are views over files.

    Parameters
    ----------
    memory_limit : str, optional
        For example ``"4GB"``; DuckDB's default (80 % of RAM) otherwise.
    threads : int, optional
    temp_directory : path, optional
        Where intermediate results spill when over the memory limit.

    Examples
    --------
    >>> import pandas as pd
    >>> with DuckDBEngine(memory_limit="1GB") as eng:
    ...     eng.register_frame("t", pd.DataFrame({"a": [1, 2, 3]}))
    ...     int(eng.sql("SELECT SUM(a) AS s FROM t")["s"].iloc[0])
    6
    """

    name = "duckdb"

    def __init__(self, *, memory_limit: str | None = None, threads: int | None = None,
                 temp_directory: str | os.PathLike | None = None) -> None:
        try:
            import duckdb
        except ImportError:
            raise OptionError(message("the duckdb engine needs the duckdb package", where="parameter engine",
                                      hint="pip install 'nonrecours[duckdb]'")) from None
        self._con = duckdb.connect(":memory:")
        settings = {"memory_limit": memory_limit, "threads": threads,
                    "temp_directory": None if temp_directory is None else str(temp_directory)}
        for key, value in settings.items():
            if value is None:
                continue
            try:
                self._con.execute(f"SET {key} = {_literal(str(value))}")
            except duckdb.Error as exc:
                self._con.close()
                raise OptionError(message(f"DuckDB refused the {key.replace('_', ' ')}",
                                          where=f"parameter {key}",
                                          expected="e.g. 4GB" if key == "memory_limit" else "a valid value",
                                          found=repr(value), hint=str(exc).splitlines()[0])) from None
        self._con.execute("SET preserve_insertion_order = false")
        self._con.execute("SET enable_progress_bar = false")  # it would write to the caller's stdout

    def register(self, name: str, source: str | os.PathLike, *, option: str = "input") -> None:
        path, fmt = table_files(source, option=option)
        if path.is_dir():
            pattern = str(Path(path) / "**" / f"*.{fmt}")
            hive = ", hive_partitioning = true, hive_types_autocast = false"
        else:
            pattern, hive = str(path), ""
        if fmt == "csv":
            read = f"read_csv({_literal(pattern)}, header = true, all_varchar = true{hive})"
        else:
            read = f"read_parquet({_literal(pattern)}{hive})"
        self._con.execute(f"CREATE OR REPLACE VIEW {self.quote(name)} AS SELECT * FROM {read}")

    def register_frame(self, name: str, frame: pd.DataFrame) -> None:
        self._con.register(name, frame)

    def columns(self, name: str) -> list[str]:
        return [row[0] for row in self._con.execute(f"DESCRIBE {self.quote(name)}").fetchall()]

    def sql(self, query: str) -> pd.DataFrame:
        cur = self._con.execute(query)
        names = [d[0] for d in cur.description]
        return pd.DataFrame(cur.fetchall(), columns=names)

    def close(self) -> None:
        self._con.close()
