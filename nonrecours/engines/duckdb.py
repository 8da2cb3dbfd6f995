"""DuckDB, embedded: files read in place, a memory limit, spilling to disk beyond it.

This module is the only place a DuckDB connection is opened: the
administrative phase's SQL and Splink's linkage model (through
:meth:`DuckDBEngine.splink_api`) run on the connection of a
:class:`DuckDBEngine`, under its memory limit, threads and temporary folder.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ..errors import OptionError, message
from .base import Engine, PendingQuery, table_files

__all__ = ["DuckDBEngine"]


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


#: DuckDB types whose Arrow conversion gives the dtypes of DuckDB's own (:meth:`DuckDBEngine.sql`).
_ARROW_KINDS = frozenset(
    {"VARCHAR", "DOUBLE", "FLOAT", "BOOLEAN", "TINYINT", "SMALLINT", "INTEGER", "BIGINT"}
    | {"UTINYINT", "USMALLINT", "UINTEGER", "UBIGINT"}
)


def _text_dtype() -> Any:
    """The dtype pandas gives text (Arrow-backed ``str`` from pandas 3), or ``None`` when it is ``object``."""
    dtype = pd.Series(["a"]).dtype
    return dtype if isinstance(dtype, pd.StringDtype) else None


def _arrow_frame(table: Any, text: Any) -> pd.DataFrame:
    """A pyarrow table as DuckDB's ``df()`` would give it: text as ``text``, nullable integers and booleans."""
    import pyarrow as pa

    types = {pa.string(): text, pa.large_string(): text, pa.string_view(): text}
    nullable = [
        (i, col)
        for i, col in enumerate(table.columns)
        if col.null_count and (pa.types.is_integer(col.type) or pa.types.is_boolean(col.type))
    ]
    empty = [i for i, col in enumerate(table.columns) if col.type in types and col.null_count == len(col)]
    frame = table.to_pandas(types_mapper=types.get, split_blocks=True)
    for i, col in nullable:  # DuckDB gives Int64, boolean... where values are missing (pyarrow: float, object)
        frame.isetitem(i, col.to_pandas(types_mapper=lambda t: pd.api.types.pandas_dtype(_NULLABLE[str(t)])))
    for i in empty:  # text without a value (or no row): DuckDB gives object
        frame.isetitem(i, pd.Series([None] * len(frame), index=frame.index, dtype=object))
    return frame


_NULLABLE = {
    **{f"int{b}": f"Int{b}" for b in (8, 16, 32, 64)},
    **{f"uint{b}": f"UInt{b}" for b in (8, 16, 32, 64)},
    "bool": "boolean",
}


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

    def __init__(
        self,
        *,
        memory_limit: str | None = None,
        threads: int | None = None,
        temp_directory: str | os.PathLike | None = None,
    ) -> None:
        try:
            import duckdb
        except ImportError:
            raise OptionError(
                message(
                    "the duckdb engine needs the duckdb package",
                    where="parameter engine",
                    hint="pip install 'nonrecours[duckdb]'",
                )
            ) from None
        self._error = duckdb.Error
        # without a folder given, a private one (removed on close): DuckDB's default is '.tmp' in the current folder
        self._own_temp = None if temp_directory is not None else tempfile.mkdtemp(prefix="nonrecours-duckdb-")
        self._memory_limit = memory_limit
        self._con: Any = duckdb.connect(":memory:")
        settings = {
            "memory_limit": memory_limit,
            "threads": threads,
            "temp_directory": str(temp_directory if temp_directory is not None else self._own_temp),
        }
        for key, value in settings.items():
            if value is None:
                continue
            try:
                self._con.execute(f"SET {key} = {_literal(str(value))}")
            except duckdb.Error as exc:
                self.close()
                raise OptionError(
                    message(
                        f"DuckDB refused the {key.replace('_', ' ')}",
                        where=f"parameter {key}",
                        expected="e.g. 4GB" if key == "memory_limit" else "a valid value",
                        found=repr(value),
                        hint=str(exc).splitlines()[0],
                    )
                ) from None
        self._con.execute("SET preserve_insertion_order = false")
        self._con.execute("SET enable_progress_bar = false")  # it would write to the caller's stdout

    @property
    def version(self) -> str:
        return metadata.version("duckdb")

    @property
    def threads(self) -> int:
        """Worker threads in use (the ``threads`` given, else one per core)."""
        return int(self._setting("threads"))

    def settings(self) -> dict[str, Any]:
        return {
            "engine": self.name,
            "version": self.version,
            "memory_limit": self._memory_limit or self._setting("memory_limit"),
            "threads": self.threads,
        }

    def _setting(self, key: str) -> str:
        return str(self._con.execute(f"SELECT current_setting({_literal(key)})").fetchall()[0][0])

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

    def create_table(self, name: str, query: str) -> None:
        self._con.execute(f"CREATE OR REPLACE TEMP TABLE {self.quote(name)} AS {query}")

    def unregister(self, name: str) -> None:
        kind = self._con.execute(
            "SELECT table_type FROM information_schema.tables WHERE table_name = ?", [name]
        ).fetchall()
        if not kind:
            return
        if kind[0][0] == "VIEW":  # a file's view, or a registered frame (DuckDB keeps those as views)
            try:
                self._con.unregister(name)
            except self._error:
                pass
            self._con.execute(f"DROP VIEW IF EXISTS {self.quote(name)}")
        else:
            self._con.execute(f"DROP TABLE IF EXISTS {self.quote(name)}")

    def columns(self, name: str) -> list[str]:
        return [row[0] for row in self._con.execute(f"DESCRIBE {self.quote(name)}").fetchall()]

    def sql(self, query: str) -> pd.DataFrame:
        """Run ``query``; its result comes back column by column (no Python object per row).

        A result of text, floating-point, integer and boolean columns comes
        through Arrow (pandas' Arrow-backed strings take DuckDB's buffers as
        they are), with the dtypes DuckDB's own conversion would give (an
        integer or boolean column with missing values is a nullable one, a decimal
        a ``float64``); DuckDB's conversion otherwise. Through Arrow a 5-million-row result of nine text
        columns takes a fifth of the time and half the peak memory: DuckDB's
        conversion builds a Python string per value before pandas packs them.

        DuckDB's ``HUGEINT`` (the type of a ``SUM`` of integers) comes back
        as ``int64`` where it fits, as Spark's ``SUM`` does, rather than as
        DuckDB's ``float64``.
        """
        return self._frame(self._con, query)

    def _frame(self, con: Any, query: str) -> pd.DataFrame:
        """:meth:`sql` on connection or cursor ``con``."""
        rel = con.sql(query)
        if rel is None:  # a statement without a result
            return pd.DataFrame()
        kinds = [str(t) for t in rel.types]
        if any(k.startswith("DECIMAL") for k in kinds) and len(set(rel.columns)) == len(kinds):
            # DuckDB's conversion gives decimals as float64, the bits of CAST(... AS DOUBLE) (tested)
            rel = rel.project(
                ", ".join(
                    f"cast({self.quote(c)} as double) as {self.quote(c)}" if k.startswith("DECIMAL") else self.quote(c)
                    for c, k in zip(rel.columns, kinds)
                )
            )
            kinds = [str(t) for t in rel.types]
        text = _text_dtype()
        if text is not None and set(kinds) <= _ARROW_KINDS and len(set(rel.columns)) == len(kinds):
            return _arrow_frame(rel.to_arrow_table(), text)
        frame = rel.df()
        for i, kind in enumerate(kinds):
            v = frame.iloc[:, i]
            if kind == "HUGEINT" and v.notna().all() and (v.abs() < 2.0**53).all():
                frame.isetitem(i, v.to_numpy().astype(np.int64))
        return frame

    def start(self, query: str) -> PendingQuery:
        """Begin ``query`` now, on a second cursor of the connection in a thread (see :meth:`Engine.start`).

        DuckDB leaves the interpreter's lock while it runs a query, so the caller's next query runs beside
        it, both under the engine's memory limit and threads; the cursor sees the views and tables of the
        connection's database (files registered, tables created), not the frames of :meth:`register_frame`.
        On one thread (``threads=1``) the query waits for its result to be asked for: a second cursor would
        run on a thread of its own.
        """
        if self.threads == 1:
            return PendingQuery(self, query)
        return _Background(self, query)

    @contextmanager
    def insertion_order(self) -> Iterator[None]:
        """Within the block, results keep their input's order (``preserve_insertion_order``, off otherwise).

        A projection over a registered frame then comes back in the frame's order, in parallel, instead of in the
        order the threads finish: no reordering copy of the result (a 5-million-row eligibility table).
        """
        self._con.execute("SET preserve_insertion_order = true")
        try:
            yield
        finally:
            self._con.execute("SET preserve_insertion_order = false")

    @contextmanager
    def single_thread(self) -> Iterator[None]:
        """Run the block on one thread, then give the engine its threads back.

        A sum of floating-point numbers depends on the order of its terms;
        DuckDB's parallel aggregation adds them in the order its threads
        finish, so the last digits of a ``SUM`` over doubles (Splink's EM
        step: ``sum(match_probability)`` per comparison level) change from
        one run to the next and with the number of threads. On one thread,
        the rows are read, joined and added in one order: the same bytes on
        every run and whatever ``threads`` the engine was given.
        """
        before = self._setting("threads")
        self._con.execute("SET threads = 1")
        try:
            yield
        finally:
            self._con.execute(f"SET threads = {int(before)}")

    @contextmanager
    def scratch(self) -> Iterator[None]:
        """Drop, at the end of the block, every table and view created in it.

        Splink leaves its intermediate tables (candidate pairs, term
        frequencies, predictions) on the connection; an engine that outlives
        one linkage (a study links three sources on one engine) lets them go
        here.
        """
        before = set(self._table_names())
        try:
            yield
        finally:
            for name in sorted(set(self._table_names()) - before):
                self.unregister(name)

    def _table_names(self) -> list[str]:
        return [row[0] for row in self._con.execute("SELECT table_name FROM information_schema.tables").fetchall()]

    def sibling(self) -> DuckDBEngine:
        """A new engine (its own connection) with this one's memory limit and threads.

        Its temporary folder is a private one: two DuckDB databases spilling
        into the same folder could use the same file names. The caller closes
        it (``with engine.sibling() as other:``).
        """
        return DuckDBEngine(memory_limit=self._memory_limit, threads=self.threads)

    def splink_api(self) -> Any:  # a splink.DuckDBAPI (splink is imported on use)
        """Splink's DuckDB backend (``splink.DuckDBAPI``) on this engine's connection.

        The linkage model then runs under the engine's memory limit, threads
        and temporary folder (where DuckDB spills beyond the limit); its
        tables are the engine's (``query`` runs on them).
        """
        from splink import DuckDBAPI

        return DuckDBAPI(connection=self._con)

    def close(self) -> None:
        con = getattr(self, "_con", None)
        if con is not None:
            con.close()
            self._con = None
        if self._own_temp is not None:
            shutil.rmtree(self._own_temp, ignore_errors=True)
            self._own_temp = None


class _Background(PendingQuery):
    """A query of :meth:`DuckDBEngine.start`, running on its own cursor in a thread."""

    def __init__(self, engine: DuckDBEngine, query: str) -> None:
        super().__init__(engine, query)
        self._cursor = engine._con.cursor()
        self._out: pd.DataFrame | None = None
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, args=(engine, query), daemon=True)
        self._thread.start()

    def _run(self, engine: DuckDBEngine, query: str) -> None:
        try:
            self._out = engine._frame(self._cursor, query)
        except BaseException as exc:  # noqa: BLE001 - raised in the caller's thread by result()
            self._error = exc

    def _finish(self) -> None:
        self._thread.join()
        self._cursor.close()

    def result(self) -> pd.DataFrame:
        self._finish()
        if self._error is not None:
            raise self._error
        assert self._out is not None
        return self._out

    def cancel(self) -> None:
        if self._thread.is_alive():
            self._cursor.interrupt()
        self._finish()
