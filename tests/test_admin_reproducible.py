"""Re-runs of a study with an administrative phase give the same bytes, whatever the engine's threads.

The demo population of 30 territories (about 47,000 recipients, enough rows for
DuckDB to aggregate and join on several threads) and its administrative
sources are simulated once; the demo's study, with ``[compute] threads = 2``,
runs twice into the same folder, then with ``engine = "duckdb"`` and
``threads = 1``. Before the fix, the linkage model's EM step (a parallel sum of
match probabilities) and the rates' sums changed the last digits of
``admin_rates.csv``, ``admin_comparison.csv`` and ``linkage_quality.csv`` from
one run to the next.
"""

from __future__ import annotations

import json
import os
import warnings
from importlib import metadata
from pathlib import Path

import pandas as pd
import pytest

from nonrecours.simulate import simulate_population
from nonrecours.simulate.contours import qpv_contours
from nonrecours.simulate.sources import simulate_sources
from nonrecours.study import run_study
from nonrecours.study.demo import ADMIN_SECTION, CONTOURS, POPULATION, example_study

pytestmark = pytest.mark.slow

SEED = 2


def _run(study: Path) -> Path:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        run_study(study, overwrite=True)
    return study.parent


def _files(folder: Path) -> dict[str, bytes]:
    pub = folder / "publication"
    return {p.name: p.read_bytes() for p in sorted(pub.iterdir()) if p.name != "manifest.json"}


def _manifest(folder: Path) -> dict:
    m = json.loads((folder / "publication" / "manifest.json").read_text(encoding="utf-8"))
    m.pop("timings_seconds")
    return m


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    """The demo's population and sources (30 territories) and its study file, with [compute] threads = 2."""
    folder = tmp_path_factory.mktemp("repro")
    pop = simulate_population(30, seed=SEED)
    pop.write(folder / POPULATION)
    (folder / POPULATION / CONTOURS).write_text(qpv_contours(pop.territories, seed=SEED + 1))
    simulate_sources(pop, seed=SEED + 1).write(folder / POPULATION / "sources")
    key = f'contours = "{POPULATION}/{CONTOURS}"'
    text = example_study(seed=SEED).replace(f"# {key}", key) + ADMIN_SECTION
    (folder / "study.toml").write_text(text + "\n[compute]\nthreads = 2\n")
    return folder, text


@pytest.fixture(scope="module")
def runs(demo):
    """Two runs of the same study (the first set aside), and one on DuckDB with one thread."""
    folder, text = demo
    _run(folder / "study.toml")
    os.replace(folder / "results", folder / "first")
    _run(folder / "study.toml")
    duck = text.replace('folder = "results"', 'folder = "results_duckdb"')
    (folder / "study_duckdb.toml").write_text(
        duck + '\n[compute]\nengine = "duckdb"\nthreads = 1\nmemory_limit = "1GB"\n'
    )
    _run(folder / "study_duckdb.toml")
    return folder / "first", folder / "results", folder / "results_duckdb"


def test_same_study_twice_gives_the_same_bytes(runs):
    first, second, _ = runs
    a, b = _files(first), _files(second)
    assert {"admin_rates.csv", "admin_comparison.csv", "linkage_quality.csv", "report.html", "tables.xlsx"} <= set(a)
    assert sorted(a) == sorted(b)
    assert [name for name in a if a[name] != b[name]] == []
    assert _manifest(first) == _manifest(second)  # every hash, setting and engine; only the timings differ
    published = pd.read_csv(first / "publication" / "admin_rates.csv")
    assert published["rate_adjusted"].notna().sum() > 20  # linkage-adjusted figures are published


def test_duckdb_engine_one_thread_publishes_the_same_tables(runs):
    """[compute] engine = "duckdb", threads = 1 against the default engine on 2 threads: the same tables, to
    the byte (the tests ask 1e-9; the sums are exact and the linkage model is trained on one thread)."""
    first, _, duck = runs
    a, b = _files(first), _files(duck)
    tables = [name for name in a if name.endswith(".csv")]
    assert sorted(tables) == sorted(name for name in b if name.endswith(".csv"))
    for name in tables:
        ta, tb = pd.read_csv(first / "publication" / name), pd.read_csv(duck / "publication" / name)
        pd.testing.assert_frame_equal(ta, tb, check_exact=False, rtol=1e-9, atol=0)
    assert [name for name in tables if a[name] != b[name]] == []


def test_manifest_records_the_engines(runs):
    first, _, duck = runs
    default, on_duckdb = _manifest(first)["compute"], _manifest(duck)["compute"]
    assert default["engine"] == "pandas" and default["version"] == pd.__version__
    assert default["threads"] == 2 and default["memory_limit"] == "4GB"
    # pandas has no SQL: the phase's SQL and linkage ran on DuckDB, and the manifest says so
    assert default["sql_engine"] == "duckdb" and default["engines"]["linkage"]["engine"] == "duckdb"
    assert default["engines"]["sql"]["threads"] == 2
    assert on_duckdb["engine"] == "duckdb" and on_duckdb["version"] == metadata.version("duckdb")
    assert (on_duckdb["threads"], on_duckdb["memory_limit"]) == (1, "1GB")
    assert on_duckdb["engines"]["sql"] == {
        "engine": "duckdb",
        "version": metadata.version("duckdb"),
        "memory_limit": "1GB",
        "threads": 1,
    }
