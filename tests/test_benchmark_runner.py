"""The benchmark runner cannot rot: ``benchmarks/run.py --quick --no-write`` prints the full table.

Runs in a subprocess (as a user would), without R (``--peers`` limited to the
Python peers, each skipped with a note when it is not installed: samplics and
svy are in the ``bench`` extra, not in ``test``).
"""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow  # runs the benchmark workloads in a subprocess

ROOT = Path(__file__).resolve().parents[1]
RUNNER = ROOT / "benchmarks" / "run.py"
WORKLOADS = (
    "simulate",
    "select",
    "(Taylor)",
    "bootstrap replicates",
    "raking",
    "Fay–Herriot REML fit",
    "Fay–Herriot bootstrap MSE",
)


@pytest.fixture(scope="module")
def output():
    if not RUNNER.exists():
        pytest.skip("benchmarks/ not shipped with this copy")
    proc = subprocess.run(
        [sys.executable, str(RUNNER), "--quick", "--no-write", "--peers", "svy,samplics"],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=ROOT,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    return proc.stdout, proc.stderr


def test_table_has_every_workload_and_the_agreement_column(output):
    out, _ = output
    lines = [ln for ln in out.splitlines() if ln.startswith("|")]
    header = [c.strip() for c in lines[0].strip("|").split("|")]
    assert header[:2] == ["workload", "nonrecours (s)"]
    assert "agreement" in header[-1] and "ratio" in header[-2]
    assert {"svy (s)", "samplics (s)"} <= set(header)
    body = lines[2:]
    for w in WORKLOADS:
        assert sum(w in ln for ln in body) == 1, (w, out)
    for ln in body:
        cells = [c.strip() for c in ln.strip("|").split("|")]
        assert len(cells) == len(header)
        assert float(cells[1]) >= 0  # nonrecours always runs
        assert cells[-1] and cells[-1] != "–"  # every workload says how it was checked
        assert "NO" not in cells[-1].split() and "DIFFER" not in cells[-1], ln


def test_peers_run_or_are_skipped_with_a_note(output):
    out, _ = output
    body = [ln for ln in out.splitlines() if ln.startswith("| rates")]
    for peer in ("svy", "samplics"):
        if importlib.util.find_spec(peer) is None:
            assert f"skipped: {peer} not installed" in body[0]
        else:
            assert f"{peer}: yes" in body[0]


def test_no_write_leaves_results_untouched(output):
    _, err = output  # (RESULTS.md itself is shared with the other benchmarks: not compared here)
    assert "wrote section" not in err
