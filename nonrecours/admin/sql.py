"""The one boundary between the administrative phase's SQL and the engine that runs it.

Set-based work (eligibility from resources, aggregation of counts) is stated
once as SQL text over named tables; :func:`run_sql` runs it. DuckDB is the
embedded engine; another engine (Spark) can register the same tables and run
the same text.
"""

from __future__ import annotations

from typing import Literal

import pandas as pd

from ..errors import OptionError, message

__all__ = ["run_sql", "ENGINES"]

#: Engines this module can run SQL on.
ENGINES = ("duckdb",)


def run_sql(sql: str, tables: dict[str, pd.DataFrame], *, engine: Literal["duckdb"] = "duckdb",
            memory_limit: str | None = None) -> pd.DataFrame:
    """Run ``sql`` over the DataFrames ``tables`` (registered under their keys) and return the result.

    Parameters
    ----------
    sql : str
        One SELECT statement.
    tables : dict of str to DataFrame
        Tables referenced by ``sql``.
    engine : {"duckdb"}
        The engine.
    memory_limit : str, optional
        DuckDB memory limit, e.g. ``"4GB"``.

    Examples
    --------
    >>> run_sql("select count(*) as n from t where a > 1", {"t": pd.DataFrame({"a": [1, 2, 3]})})["n"].tolist()
    [2]
    """
    if engine not in ENGINES:
        raise OptionError(message("unknown engine", where="engine", expected=" or ".join(ENGINES), found=repr(engine)))
    import duckdb

    con = duckdb.connect()
    try:
        con.execute("set enable_progress_bar = false")  # DuckDB would draw one on stdout on long queries
        if memory_limit:
            con.execute(f"set memory_limit = '{memory_limit}'")
        for name, df in tables.items():
            con.register(name, df)
        return con.execute(sql).df()
    finally:
        con.close()
