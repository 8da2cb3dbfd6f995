"""The demo's report stage alone (issue 31, item 4): the sections, the report and the workbook of a demo's run.

Run ``python benchmarks/bench_report.py --demo DIR [--mode auto|one|fork] [--repeat N]`` on the folder of a
``nonrecours demo --out DIR``. Each repeat does, in this process, what ``study.pipeline._write`` does after the
tables are read back: the extra sections (the territories section on a forked process in ``fork`` mode, its maps
on two processes), the publication workbook, the report. Prints CPU seconds (user + system, this process and its
children), wall seconds and the 1-minute load, and whether ``report.html`` and ``tables.xlsx`` are byte-identical
to the run's own files. ``one``: everything in this process; ``auto``: as a run decides (by the load). The CPU of
the children (the forked section and its map worker, together) is given apart from this process's.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import time
from pathlib import Path


def _cpu() -> tuple[float, float]:
    """CPU seconds (user + system) of this process, and of its children and theirs (once ended)."""
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime, children.ru_utime + children.ru_stime


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--demo", type=Path, required=True, help="folder of a `nonrecours demo --out DIR`")
    parser.add_argument("--mode", choices=("auto", "one", "fork"), default="auto")
    parser.add_argument("--repeat", type=int, default=1)
    args = parser.parse_args()
    from nonrecours import _background
    from nonrecours.io import read_table
    from nonrecours.report import maps, render_report
    from nonrecours.report.publication import publication_workbook
    from nonrecours.study.config import load_study
    from nonrecours.study.pipeline import MICRODATA_TABLES, _extra_sections

    demo = args.demo.resolve()
    os.chdir(demo)  # the study's paths are relative to its folder
    root = demo / "results"
    cfg = load_study(demo / "study.toml")
    manifest = json.loads((root / "publication" / "manifest.json").read_text())
    drop = ("manifest_version", "outputs", "compute", "timings_seconds", "publication")
    provenance = {k: v for k, v in manifest.items() if k not in drop}
    lang = cfg.report.lang
    if args.mode != "auto":
        fork = args.mode == "fork"
        _background.core_free = lambda: fork  # type: ignore[assignment]
        draw = maps.choropleths
        maps.choropleths = lambda m, lang="en", workers=None: draw(  # type: ignore[assignment]
            m, lang=lang, workers=2 if fork else 1
        )
    tables = {p.stem: read_table(p, option="output") for p in sorted(root.glob("*/*.csv"))}
    html_before = (root / "publication" / "report.html").read_text()
    xlsx_before = (root / "publication" / "tables.xlsx").read_bytes()
    for _ in range(args.repeat):
        load = os.getloadavg()[0]
        c0, w0 = _cpu(), time.perf_counter()
        shown = {k: v for k, v in tables.items() if k not in MICRODATA_TABLES or k == "weights"}
        extra = _extra_sections(shown, lang, cfg)
        published = {k: v for k, v in tables.items() if k not in MICRODATA_TABLES}
        workbook = publication_workbook(published, provenance, lang=lang)
        html = render_report(shown, provenance, lang=lang, extra_sections=extra)
        (own, children), wall = _cpu(), time.perf_counter() - w0
        own, children = own - c0[0], children - c0[1]
        print(
            f"{args.mode}: CPU {own + children:.2f} s (this process {own:.2f}, children {children:.2f}), "
            f"wall {wall:.2f} s, load {load:.1f}; report.html identical {html == html_before}, "
            f"tables.xlsx identical {workbook == xlsx_before}"
        )


if __name__ == "__main__":
    main()
