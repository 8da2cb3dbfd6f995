"""Benchmark of the administrative id-uniqueness check (issue 31, item 1), before and after, beside a plain GROUP BY.

A recipients file of ``--rows`` rows (Parquet under ``--folder``, default ``/tmp``;
never in the repository) with unique string ids, territories, départements
and four rights is written once (not timed). Each workload then runs in a
fresh process, launched by a fresh wrapper process that reports the wall time
and ``resource.getrusage(RUSAGE_CHILDREN)``: ``ru_maxrss`` (the workload's peak
resident memory, interpreter and imports included) and the CPU seconds of all its threads; the workloads are
interleaved over ``--repeat`` rounds and medians reported:

- ``check duckdb`` / ``check pandas``: the check alone (time inside the process,
  reading excluded; for pandas the id column is read by ``read_table`` first);
- ``admin duckdb`` / ``admin pandas``: ``nonrecours territorial admin --engine ...``;
- ``floor``: one plain DuckDB ``GROUP BY`` of the same counts (``counts_sql``'s query,
  DuckDB alone imported).

``--before DIR`` names a checkout of the code before the change (run with
``PYTHONPATH=DIR``), ``--after DIR`` the code after (default: this checkout). Their modules are compiled
once first (``compileall``, not timed), as an installed package's are: with ``PYTHONDONTWRITEBYTECODE``
set, each run would otherwise compile them from source (``--source-only``), which the floor does not.

Run ``python benchmarks/bench_idcheck.py --rows 5000000 --before /path/to/main`` (``--only admin``: the
floor and the ``admin`` workloads alone, for more rounds in the same time); the
results go to the section ``## Administrative id check`` of ``RESULTS.md`` (``--no-write``: print only).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

TITLE = "Administrative id check"
RIGHTS = ["cmuc", "acs", "tpn", "tss"]

CHECK = r"""
import json, sys, time
engine, path = sys.argv[1], sys.argv[2]
if engine == "duckdb":
    from nonrecours.engines.duckdb import DuckDBEngine
    from nonrecours.admin.counts_sql import check_unique_ids_sql
    with DuckDBEngine() as eng:
        eng.register("recipients", path, option="RECIPIENTS")
        t = time.perf_counter()
        check_unique_ids_sql(eng, "recipients", "id")
        dt = time.perf_counter() - t
else:
    from nonrecours.io import read_table
    from nonrecours._checks import check_ids_if_present
    data = read_table(path, option="RECIPIENTS", columns=["id"])
    t = time.perf_counter()
    check_ids_if_present(data, None, source="recipients file", before="counting")
    dt = time.perf_counter() - t
print(json.dumps({"inner_s": dt}))
"""

FLOOR = r"""
import sys, duckdb
con = duckdb.connect()
con.execute(f"CREATE VIEW recipients AS SELECT * FROM read_parquet('{sys.argv[1]}')")
con.execute(sys.argv[2]).fetchall()
"""


def make_file(path: Path, rows: int, seed: int = 1) -> None:
    """``rows`` recipients: unique shuffled string ids, ~1,500 territories in ~100 départements, four rights."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    rng = np.random.default_rng(seed)
    terr = rng.integers(0, 1500, rows)
    cols = {
        "id": pa.array(np.char.add("R", np.char.zfill(rng.permutation(rows).astype(str), 9))),
        "territory": pa.array(np.char.add("T", np.char.zfill(terr.astype(str), 4))),
        "departement": pa.array(np.char.zfill((terr // 15).astype(str), 3)),
    }
    for r in RIGHTS:
        v = rng.choice(np.array([0.0, 1.0, np.nan]), rows, p=[0.3, 0.5, 0.2])
        cols[r] = pa.array(v, from_pandas=True)
    pq.write_table(pa.table(cols), path)


def wrapped(cmd: list[str], env: dict, cwd: Path) -> dict:
    """Run ``cmd`` through a fresh wrapper in ``cwd``: wall time, the child's peak RSS (MiB), its JSON stdout if any.

    ``cwd`` holds no ``nonrecours`` folder: ``python -c`` and ``-m`` put the current folder first on ``sys.path``,
    which would shadow the code named by ``PYTHONPATH``.
    """
    wrapper = (
        "import json, resource, subprocess, sys, time\n"
        "t = time.perf_counter(); p = subprocess.run(sys.argv[1:], capture_output=True, text=True)\n"
        "wall = time.perf_counter() - t\n"
        "ru = resource.getrusage(resource.RUSAGE_CHILDREN); rss = ru.ru_maxrss / 1024\n"
        "print(json.dumps({'wall_s': wall, 'rss_mib': rss, 'cpu_s': ru.ru_utime + ru.ru_stime, 'rc': p.returncode,"
        " 'out': p.stdout[-2000:], 'err': p.stderr[-2000:]}))\n"
    )
    p = subprocess.run(
        [sys.executable, "-c", wrapper, *cmd], capture_output=True, text=True, env=env, check=True, cwd=cwd
    )
    res = json.loads(p.stdout)
    if res["rc"] != 0:
        raise RuntimeError(f"{cmd[:4]} failed: {res['err']}")
    lines = [ln for ln in res["out"].splitlines() if ln.startswith("{")]
    if lines:
        res.update(json.loads(lines[-1]))
    return res


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=500_000)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--folder", type=Path, default=Path("/tmp"))
    ap.add_argument("--before", type=Path, help="checkout of the code before the change")
    ap.add_argument("--after", type=Path, default=HERE.parent)
    ap.add_argument("--no-write", action="store_true")
    ap.add_argument(
        "--source-only",
        action="store_true",
        help="do not compile the code under test first (with PYTHONDONTWRITEBYTECODE set, every run then compiles "
        "its modules from source, which the floor's DuckDB does not)",
    )
    ap.add_argument("--only", default="", help="comma-separated workload kinds to run besides the floor: check, admin")
    args = ap.parse_args()

    path = args.folder / f"idcheck_{args.rows}.parquet"
    if not path.exists():
        make_file(path, args.rows)
    sys.path.insert(0, str(args.after))
    from nonrecours.admin.counts_sql import counts_sql
    from nonrecours.engines.duckdb import DuckDBEngine

    with DuckDBEngine() as eng:
        floor_sql = counts_sql(eng, "recipients", RIGHTS)
    codes = {"after": args.after, **({"before": args.before} if args.before else {})}
    if not args.source_only:  # as an installed package: the modules compiled once (not timed), not at every run
        for root in codes.values():
            subprocess.run([sys.executable, "-m", "compileall", "-q", str(root / "nonrecours")], check=True)
    out_csv = args.folder / "idcheck_out.csv"
    work = {"floor": ([sys.executable, "-c", FLOOR, str(path), floor_sql], None)}
    for label, root in codes.items():
        for engine in ("duckdb", "pandas"):
            work[f"check {engine} {label}"] = ([sys.executable, "-c", CHECK, engine, str(path)], root)
            work[f"admin {engine} {label}"] = (
                [
                    sys.executable,
                    "-m",
                    "nonrecours.cli.main",
                    "territorial",
                    "admin",
                    str(path),
                    "--rights",
                    ",".join(RIGHTS),
                    "--engine",
                    engine,
                    "--out",
                    str(out_csv),
                    "--overwrite",
                ],
                root,
            )
    kinds = [k for k in args.only.split(",") if k]
    work = {k: v for k, v in work.items() if k == "floor" or not kinds or k.split()[0] in kinds}
    runs: dict[str, list[dict]] = {k: [] for k in work}
    load = [os.getloadavg()]
    for _ in range(args.repeat):  # interleaved: every workload once per round
        for name, (cmd, root) in work.items():
            env = dict(os.environ)
            if root is not None:
                env["PYTHONPATH"] = str(root)
            runs[name].append(wrapped(cmd, env, args.folder))
            print(
                name,
                {k: round(v, 3) for k, v in runs[name][-1].items() if k in ("wall_s", "cpu_s", "rss_mib", "inner_s")},
                flush=True,
            )
    load.append(os.getloadavg())
    rows = []
    floor_t = float(np.median([r["wall_s"] for r in runs["floor"]]))
    floor_m = float(np.median([r["rss_mib"] for r in runs["floor"]]))
    for name, rs in runs.items():
        wall = [r["wall_s"] for r in rs]
        inner = [r["inner_s"] for r in rs if "inner_s" in r]
        rss = float(np.median([r["rss_mib"] for r in rs]))
        rows.append(
            f"| {name} | {np.median(wall):.2f} ({min(wall):.2f}–{max(wall):.2f}) | {np.median(inner):.3f} |"
            if inner
            else f"| {name} | {np.median(wall):.2f} ({min(wall):.2f}–{max(wall):.2f}) | – |"
        )
        cpu = float(np.median([r["cpu_s"] for r in rs]))
        rows[-1] += f" {cpu:.2f} | {rss:,.0f} | {np.median(wall) / floor_t:.1f}× | {rss / floor_m:.1f}× |"
    table = (
        "| workload | process wall s, median (min–max) | check alone s | CPU s | peak RSS MiB | time / floor | "
        "memory / floor |\n|---|---|---|---|---|---|---|\n" + "\n".join(rows)
    )
    print(table)
    print("load", load)
    if not args.no_write:
        from _bench import machine, replace_section

        text = (
            f"{args.rows:,} rows Parquet, unique string ids, {args.repeat} interleaved rounds, medians; "
            f"load average (1, 5, 15 min) before {tuple(round(x, 2) for x in load[0])}, after "
            f"{tuple(round(x, 2) for x in load[1])}.\n\n{machine()}\n\n{table}\n"
        )
        replace_section(TITLE, text)


if __name__ == "__main__":
    main()
