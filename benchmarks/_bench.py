"""Helpers shared by the benchmark scripts of this folder: timing, machine description, RESULTS.md sections.

Imported as ``_bench`` (the scripts run as ``python benchmarks/X.py``, which puts
this folder on ``sys.path``; ``run.py`` puts it there for its imports).
"""

from __future__ import annotations

import importlib.metadata
import os
import platform
import re
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "RESULTS.md"
PEER_PACKAGES = ("svy", "samplics")


def timed(fn, repeat: int = 1, times: list[float] | None = None) -> tuple[float, object]:
    """Median wall time of ``repeat`` calls of ``fn`` and the last result.

    Each call's wall time is also appended to ``times`` when given (for min / median / max).
    """
    runs, out = [], None
    for _ in range(repeat):
        t = time.perf_counter()
        out = fn()
        runs.append(time.perf_counter() - t)
    if times is not None:
        times.extend(runs)
    return float(np.median(runs)), out


def _version(dist: str) -> str | None:
    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        return None


def _r_version() -> str | None:
    if shutil.which("Rscript") is None:
        return None
    try:
        p = subprocess.run(["Rscript", "--version"], capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.SubprocessError):
        return None
    m = re.search(r"version\s+(\S+)", p.stdout + p.stderr)
    return m.group(1) if m else None


def machine() -> str:
    """CPU model (lscpu), logical CPUs, RAM, OS; Python, numpy, scipy, pandas, pyarrow and the peers'
    versions when installed; R's version when ``Rscript`` is on the PATH."""
    text = ""
    if shutil.which("lscpu"):
        try:
            text = subprocess.run(["lscpu"], capture_output=True, text=True).stdout
        except OSError:
            pass
    model = re.search(r"Model name:\s*(.+)", text)
    cpus = re.search(r"^CPU\(s\):\s*(\d+)", text, re.M)
    try:
        ram = f"{os.sysconf('SC_PAGE_SIZE') * os.sysconf('SC_PHYS_PAGES') / 2**30:.1f} GiB"
    except (ValueError, OSError, AttributeError):
        ram = "unknown"
    libs = [f"Python {platform.python_version()}"]
    for dist in ("numpy", "scipy", "pandas", "pyarrow", *PEER_PACKAGES):
        v = _version(dist)
        if v is not None:
            libs.append(f"{dist} {v}")
    r = _r_version()
    if r is not None:
        libs.append(f"R {r}")
    return (f"{model.group(1).strip() if model else platform.processor() or 'unknown CPU'}, "
            f"{cpus.group(1) if cpus else os.cpu_count()} logical CPUs, {ram} RAM; "
            f"{platform.system()} {platform.release()}; {', '.join(libs)}")


def replace_section(title: str, body: str, path: Path | str = RESULTS) -> None:
    """Replace (or append) the section ``## title`` of ``path`` with ``body``, leaving the other sections alone.

    ``body`` is the section's text without its heading. The file is rewritten atomically
    (a temporary file in the same folder, then ``os.replace``).
    """
    path = Path(path)
    old = path.read_text(encoding="utf-8") if path.exists() else "# Benchmark results\n"
    section = f"## {title}\n\n{body.strip(chr(10))}\n"
    pattern = re.compile(rf"^## {re.escape(title)}[ \t]*\n.*?(?=^## |\Z)", re.S | re.M)
    if pattern.search(old):
        new = pattern.sub(lambda _: section + "\n", old, count=1)
    else:
        new = old.rstrip("\n") + "\n\n" + section
    mode = path.stat().st_mode & 0o777 if path.exists() else 0o644
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        os.chmod(tmp, mode)
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(new.rstrip("\n") + "\n")
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
