#!/usr/bin/env python
"""Compare two output folders file by file: CSV tables cell by cell, other files by their bytes.

Usage::

    python scripts/compare_outputs.py FOLDER_A FOLDER_B [--rtol 1e-9] [--atol 0] [--ignore manifest.json ...]

Every file under either folder is compared with the file of the same relative
path under the other:

- a ``.csv`` file is read as text; the headers and the number of rows must be
  the same; a cell that reads as a number in both files is compared with the
  tolerance ``|a - b| <= max(atol, rtol * max(|a|, |b|))`` (empty cells and
  ``nan`` equal each other), any other cell must be the same text;
- any other file must hold the same bytes (for a text file the first line that
  differs is shown).

One line is printed per file that differs (or exists on one side only), with
the largest difference found; nothing else but a closing count. ``--ignore``
takes a file name or a glob pattern matched against the name and the relative
path (``manifest.json``, ``*.xlsx``, ``results/publication/report.html``), and may
be repeated. Exit status: 0 when every compared file agrees, 1 otherwise, 2 on
a usage error.
"""

from __future__ import annotations

import argparse
import csv
import fnmatch
import math
import sys
from pathlib import Path


def _files(folder: Path, ignore: list[str]) -> set[str]:
    out = set()
    for p in folder.rglob("*"):
        if not p.is_file():
            continue
        rel = p.relative_to(folder).as_posix()
        if any(fnmatch.fnmatch(p.name, pat) or fnmatch.fnmatch(rel, pat) for pat in ignore):
            continue
        out.add(rel)
    return out


def _number(text: str) -> float | None:
    t = text.strip()
    if t == "":
        return math.nan
    try:
        return float(t)
    except ValueError:
        return None


def _read_csv(path: Path) -> list[list[str]]:
    with open(path, newline="", encoding="utf-8") as fh:
        return list(csv.reader(fh))


def compare_csv(a: Path, b: Path, rtol: float, atol: float) -> str | None:
    """``None`` when the tables agree, else one line saying how they differ (the largest difference)."""
    ra, rb = _read_csv(a), _read_csv(b)
    if not ra or not rb:
        return None if ra == rb else "one file is empty"
    if ra[0] != rb[0]:
        only_a = [c for c in ra[0] if c not in rb[0]]
        only_b = [c for c in rb[0] if c not in ra[0]]
        return f"columns differ (only in A: {only_a}, only in B: {only_b}, or another order)"
    if len(ra) != len(rb):
        return f"{len(ra) - 1} rows vs {len(rb) - 1}"
    header = ra[0]
    n_diff, n_text, worst = 0, 0, None  # worst: (relative difference, absolute difference, column, row, a, b)
    first_text = None
    for i, (row_a, row_b) in enumerate(zip(ra[1:], rb[1:]), start=1):
        if len(row_a) != len(row_b):
            return f"row {i}: {len(row_a)} cells vs {len(row_b)}"
        for j, (x, y) in enumerate(zip(row_a, row_b)):
            if x == y:
                continue
            fx, fy = _number(x), _number(y)
            if fx is None or fy is None:
                n_diff += 1
                n_text += 1
                if first_text is None:
                    first_text = (header[j], i, x, y)
                continue
            if math.isnan(fx) and math.isnan(fy):
                continue
            if math.isnan(fx) or math.isnan(fy) or math.isinf(fx) or math.isinf(fy):
                if fx == fy:
                    continue
                rel = absd = math.inf
            else:
                absd = abs(fx - fy)
                scale = max(abs(fx), abs(fy))
                if absd <= max(atol, rtol * scale):
                    continue
                rel = absd / scale if scale > 0 else math.inf
            n_diff += 1
            if worst is None or (rel, absd) > worst[:2]:
                worst = (rel, absd, header[j], i, x, y)
    if n_diff == 0:
        return None
    cells = (len(ra) - 1) * len(header)
    parts = [f"{n_diff} of {cells} cells differ"]
    if worst is not None:
        rel, absd, col, row, x, y = worst
        parts.append(f"largest relative difference {rel:.3g} (absolute {absd:.3g}) in column {col!r}, "
                     f"row {row}: {x} vs {y}")
    if first_text is not None:
        col, row, x, y = first_text
        parts.append(f"{n_text} text cells differ, first in column {col!r}, row {row}: {x!r} vs {y!r}")
    return "; ".join(parts)


def compare_bytes(a: Path, b: Path) -> str | None:
    """``None`` when both files hold the same bytes, else where they first differ."""
    da, db = a.read_bytes(), b.read_bytes()
    if da == db:
        return None
    try:
        la, lb = da.decode("utf-8").splitlines(), db.decode("utf-8").splitlines()
    except UnicodeDecodeError:
        k = next((i for i, (x, y) in enumerate(zip(da, db)) if x != y), min(len(da), len(db)))
        return f"bytes differ from byte {k} ({len(da)} vs {len(db)} bytes)"
    k = next((i for i, (x, y) in enumerate(zip(la, lb)) if x != y), min(len(la), len(lb)))
    n = sum(x != y for x, y in zip(la, lb)) + abs(len(la) - len(lb))
    return f"text differs: {n} of {max(len(la), len(lb))} lines, first at line {k + 1} ({len(da)} vs {len(db)} bytes)"


def compare_folders(a: Path, b: Path, *, rtol: float = 1e-9, atol: float = 0.0,
                    ignore: list[str] | None = None) -> tuple[list[str], int]:
    """Lines describing the files that differ, and the number of files compared."""
    ignore = list(ignore or [])
    fa, fb = _files(a, ignore), _files(b, ignore)
    lines = [f"{rel}: only in {a}" for rel in sorted(fa - fb)] + [f"{rel}: only in {b}" for rel in sorted(fb - fa)]
    both = sorted(fa & fb)
    for rel in both:
        pa, pb = a / rel, b / rel
        diff = compare_csv(pa, pb, rtol, atol) if rel.lower().endswith(".csv") else compare_bytes(pa, pb)
        if diff is not None:
            lines.append(f"{rel}: {diff}")
    return lines, len(both)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("folder_a", type=Path)
    parser.add_argument("folder_b", type=Path)
    parser.add_argument("--rtol", type=float, default=1e-9, help="relative tolerance of numeric CSV cells (1e-9)")
    parser.add_argument("--atol", type=float, default=0.0, help="absolute tolerance of numeric CSV cells (0)")
    parser.add_argument("--ignore", action="append", default=[], metavar="PATTERN",
                        help="file name or glob (name or relative path) to leave out; repeatable")
    args = parser.parse_args(argv)
    for folder in (args.folder_a, args.folder_b):
        if not folder.is_dir():
            parser.error(f"not a folder: {folder}")
    if args.rtol < 0 or args.atol < 0:
        parser.error("--rtol and --atol must be >= 0")
    lines, n = compare_folders(args.folder_a, args.folder_b, rtol=args.rtol, atol=args.atol, ignore=args.ignore)
    for line in lines:
        print(line)
    print(f"{len(lines)} files differ or are on one side only; {n} files compared (rtol {args.rtol:g}, "
          f"atol {args.atol:g})")
    return 1 if lines else 0


if __name__ == "__main__":
    sys.exit(main())
