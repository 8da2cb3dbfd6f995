"""Each command imports only the heavy modules it needs (issue 31, item 2).

Every command of ``nonrecours`` runs once on a tiny population, and the heavy modules it loaded
(``sys.modules`` after the command) are compared with what it needs: ``scipy.stats`` alone costs more
to import than a whole ``estimate`` (``benchmarks/bench_cli.py``), matplotlib and the administrative
phase's engines more still. To stay fast (a few seconds for all commands), one process imports what
every command uses (numpy, pandas, scipy.sparse, typer, the package's light core) and forks a child
per command, so that each child adds only its command's own imports; the children run one after the
other, each on the outputs of the ones before (simulate, allocate, sample, respond, weight, ...).

This file is also the driver: ``python tests/test_imports.py FOLDER`` prints one JSON line per command.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time

#: The modules that cost a noticeable share of a command's time to import.
HEAVY = (
    "scipy.stats",
    "scipy.optimize",
    "matplotlib",
    "statsmodels",
    "splink",
    "duckdb",
    "pyspark",
    "shapely",
    "pyproj",
    "openpyxl",
)

#: What the parent process imports before forking: used by (nearly) every command, none of them heavy.
BASE = (
    "numpy",
    "pandas",
    "scipy.sparse",
    "scipy.special",
    "typer",
    "nonrecours.cli.main",
    "nonrecours.cli._common",
    "nonrecours.io",
    "nonrecours._checks",
    "nonrecours.estimation",
    "nonrecours.design.survey_design",
)

REF = os.path.join(os.path.dirname(os.path.abspath(__file__)), "reference")

#: (label, arguments, the heavy modules the command needs and why), run in this order; ``{d}`` is the folder.
COMMANDS: tuple[tuple[str, tuple[str, ...], dict[str, str]], ...] = (
    (
        "simulate --sources",
        ("simulate", "--territories", "4", "--seed", "1", "--out", "{d}/pop", "--sources"),
        {
            "pyproj": "the sources' QPV contours are written in WGS84",
            "shapely": "the QPV contours are placed inside the base map's département outlines",
            "duckdb": "the truth's eligibility by the files' facts (the administrative rates' estimand) runs the "
            "rulebook's SQL on the files",
        },
    ),
    ("simulate", ("simulate", "--territories", "4", "--seed", "1", "--out", "{d}/pop2"), {}),
    (
        "allocate",
        ("allocate", "{d}/pop/recipients.csv", "--strata", "is_qpv", "--n", "300", "--out", "{d}/alloc.csv"),
        {},
    ),
    (
        "sample",
        ("sample", "{d}/pop/recipients.csv", "--allocation", "{d}/alloc.csv", "--seed", "1", "--out", "{d}/sample.csv"),
        {},
    ),
    ("respond", ("respond", "{d}/sample.csv", "--seed", "1", "--out", "{d}/answers.csv"), {}),
    ("margins", ("margins", "{d}/pop/recipients.csv", "--variables", "benefit,is_qpv", "--out", "{d}/margins.csv"), {}),
    (
        "weight",
        (
            "weight",
            "{d}/answers.csv",
            "--responded",
            "responded",
            "--nonresponse",
            "classes:benefit",
            "--calibrate",
            "{d}/margins.csv",
            "--out",
            "{d}/w.csv",
        ),
        {},
    ),
    (
        "estimate",  # every territory's rate (a 300-respondent sample): the direct estimates territorial fit reads
        (
            "estimate",
            "{d}/w.csv",
            "--rights",
            "cmuc,acs",
            "--by",
            "territory",
            "--min-n",
            "1",
            "--allow-below-threshold",
        )
        + ("--out", "{d}/e.csv"),
        {},
    ),
    ("test", ("test", "{d}/w.csv", "--right", "cmuc", "--by", "benefit", "--out", "{d}/t.csv"), {}),
    ("model", ("model", "{d}/w.csv", "--right", "cmuc", "--covariates", "is_qpv", "--out", "{d}/m.csv"), {}),
    (
        "change",
        (
            "change",
            f"{REF}/change_panel_wave1.csv",
            f"{REF}/change_panel_wave2.csv",
            "--rights",
            "cmuc",
            "--out",
            "{d}/ch.csv",
        ),
        {},
    ),
    (
        "series",
        (
            "series",
            "--rights",
            "cmuc",
            "--waves",
            "2014={d}/w.csv,2015={d}/sample.csv",
            "--admin",
            "2014={d}/pop/recipients.csv,2015={d}/pop2/recipients.csv",
            "--scheme",
            "independent",
            "--out",
            "{d}/series",
        ),
        {},
    ),
    (
        "territorial fit",
        (
            "territorial",
            "fit",
            "{d}/e.csv",
            "--aux",
            "{d}/pop/territories.csv",
            "--covariates",
            "poverty_rate",
            "--method",
            "fh",
            "--out",
            "{d}/f.csv",
        ),
        {"scipy.stats": "the Shapiro-Wilk test of the models table", "scipy.optimize": "imported by scipy.stats"},
    ),
    (
        "territorial fit-unit",
        (
            "territorial",
            "fit-unit",
            "{d}/w.csv",
            "--frame",
            "{d}/pop/recipients.csv",
            "--right",
            "cmuc",
            "--covariates",
            "benefit",
            "--mse",
            "none",
            "--out",
            "{d}/unit",
        ),
        {},
    ),
    (
        "territorial compare",
        ("territorial", "compare", "{d}/f.csv", "--truth", "{d}/pop/truth.csv", "--out", "{d}/c.csv"),
        {},
    ),
    ("territorial admin", ("territorial", "admin", "{d}/pop/recipients.csv", "--out", "{d}/a.csv"), {}),
    (
        "territorial admin --engine duckdb",
        ("territorial", "admin", "{d}/pop/recipients.csv", "--engine", "duckdb", "--out", "{d}/a2.csv"),
        {"duckdb": "the engine"},
    ),
    (
        "eligibility",
        ("eligibility", "{d}/pop/sources", "--out", "{d}/elig.csv"),
        {"duckdb": "the rulebook runs as SQL through the DuckDB engine"},
    ),
    (
        "map",
        (
            "map",
            "{d}/a.csv",
            "--kind",
            "admin",
            "--right",
            "cmuc",
            "--contours",
            "{d}/pop/sources/qpv.geojson",
            "--out",
            "{d}/map.png",
        ),
        {"matplotlib": "the drawing", "shapely": "the contours", "pyproj": "the projection"},
    ),
    ("init", ("init", "{d}/study.toml"), {}),
    (
        "validate",
        (
            "validate",
            "--territories",
            "3",
            "--replications",
            "2",
            "--n",
            "300",
            "--seed",
            "2",
            "--levels",
            "national",
            "--ci",
            "logit",
            "--quiet",
            "--out",
            "{d}/val",
        ),
        {"matplotlib": "validation.png"},
    ),
)

#: Commands not run here, and why: each takes seconds and needs nearly every heavy module by design.
NOT_RUN = {
    "link": "Splink on DuckDB (its own tests in test_admin*.py)",
    "run": "a whole study: every stage, the report's maps and the workbook (test_study_pipeline.py)",
    "demo": "simulates a population and runs a whole study (test_cli_study.py)",
    "validate-admin": "simulates populations and runs the administrative phase, Splink included (test_admin_review.py)",
}


def _heavy() -> list[str]:
    return sorted({h for h in HEAVY for m in list(sys.modules) if m == h or m.startswith(h + ".")})


def _run_in_child(args: list[str]) -> dict:
    """Run one command in a forked child; its exit code, heavy modules and wall time."""
    from nonrecours.cli.main import app

    r, w = os.pipe()
    t0 = time.perf_counter()
    pid = os.fork()
    if pid == 0:  # the child: run the command, report, end without tearing the interpreter down
        os.close(r)
        try:
            rv = app(args, standalone_mode=False)
            code = rv if isinstance(rv, int) else 0
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else 1
        except BaseException as exc:  # noqa: BLE001 - reported to the parent
            code = f"{type(exc).__name__}: {exc}"[:500]
        sys.stdout.flush()
        sys.stderr.flush()
        os.write(w, json.dumps({"code": code, "heavy": _heavy()}).encode())
        os._exit(0)
    os.close(w)
    data = b""
    while chunk := os.read(r, 1 << 16):
        data += chunk
    os.close(r)
    os.waitpid(pid, 0)
    return {**json.loads(data), "seconds": round(time.perf_counter() - t0, 3)}


def main(folder: str) -> None:
    import importlib

    for name in BASE:
        importlib.import_module(name)
    print("RESULT", json.dumps({"label": "(parent)", "code": 0, "heavy": _heavy(), "seconds": 0.0}), flush=True)
    for label, args, _ in COMMANDS:
        out = _run_in_child([a.replace("{d}", folder) for a in args])
        print("RESULT", json.dumps({"label": label, **out}), flush=True)


def _results(tmp_path) -> dict[str, dict]:
    env = {**os.environ, "OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    p = subprocess.run(
        [sys.executable, os.path.abspath(__file__), str(tmp_path)], capture_output=True, text=True, env=env, timeout=300
    )
    assert p.returncode == 0, p.stderr[-2000:]
    rows = [json.loads(line[len("RESULT ") :]) for line in p.stdout.splitlines() if line.startswith("RESULT ")]
    return {r["label"]: {**r, "stderr": p.stderr} for r in rows}


def test_every_command_is_run_here_or_said_why_not():
    from nonrecours.cli.main import COMMAND_INDEX

    commands = {name for names in COMMAND_INDEX.values() for name in names}
    run = {args[0] for _, args, _ in COMMANDS}
    assert commands == run | set(NOT_RUN), (commands - run - set(NOT_RUN), (run | set(NOT_RUN)) - commands)
    assert not run & set(NOT_RUN)
    assert {a[1] for _, a, _ in COMMANDS if a[0] == "territorial"} == {"fit", "fit-unit", "compare", "admin"}


def test_each_command_imports_only_the_heavy_modules_it_needs(tmp_path):
    if not hasattr(os, "fork"):
        import pytest

        pytest.skip("the driver forks a child per command")
    res = _results(tmp_path)
    assert res["(parent)"]["heavy"] == [], res["(parent)"]  # the base the children start from
    assert [label for label, _, _ in COMMANDS] == [k for k in res if k != "(parent)"]
    failures = []
    for label, _, needs in COMMANDS:
        r = res[label]
        if r["code"] != 0:  # the command must have done its work, or its imports say nothing
            failures.append(f"{label}: exit code {r['code']}")
        extra = set(r["heavy"]) - set(needs)
        if extra:
            failures.append(f"{label}: imports {sorted(extra)} it does not need")
    assert not failures, "\n".join(failures) + "\n" + res["(parent)"]["stderr"][-3000:]
    # the check can fail: the commands that need a heavy module do import it
    assert "scipy.stats" in res["territorial fit"]["heavy"] and "duckdb" in res["eligibility"]["heavy"]
    assert "matplotlib" in res["map"]["heavy"]


if __name__ == "__main__":
    main(sys.argv[1])
