"""scripts/compare_outputs.py: two output folders compared file by file (CSV cell by cell, other files by bytes)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "compare_outputs.py"


def _run(*args: str | Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(SCRIPT), *map(str, args)], capture_output=True, text=True, check=False)


def _folder(root: Path, rate: str, status: str = "published", report: str = "<p>1</p>") -> Path:
    (root / "publication").mkdir(parents=True)
    (root / "publication" / "rates.csv").write_text(
        f"territory,rate,status\nQP001,{rate},{status}\nQP002,,suppressed\n"
    )
    (root / "publication" / "report.html").write_text(report)
    (root / "publication" / "manifest.json").write_text(str(root))  # differs between any two folders
    return root


def test_numbers_within_the_tolerance_agree(tmp_path):
    a = _folder(tmp_path / "a", "0.61234567890123")
    b = _folder(tmp_path / "b", "0.61234567890124")
    res = _run(a, b, "--ignore", "manifest.json")
    assert res.returncode == 0, res.stdout
    assert res.stdout.startswith("0 files differ")
    res = _run(a, b, "--ignore", "manifest.json", "--rtol", "0")  # the last digit is a difference at rtol 0
    assert res.returncode == 1 and "publication/rates.csv: 1 of 6 cells differ" in res.stdout
    assert "column 'rate', row 1" in res.stdout


def test_each_differing_file_on_one_line(tmp_path):
    a = _folder(tmp_path / "a", "0.5")
    b = _folder(tmp_path / "b", "0.5001", status="secondary", report="<p>2</p>")
    (b / "extra.csv").write_text("x\n1\n")
    res = _run(a, b, "--ignore", "manifest.json")
    assert res.returncode == 1
    lines = res.stdout.strip().splitlines()
    assert len(lines) == 4  # rates.csv, report.html, extra.csv (one side only), the count
    rates = next(line for line in lines if line.startswith("publication/rates.csv"))
    assert "largest relative difference 0.0002" in rates and "text cells differ" in rates and "'status'" in rates
    assert any(line.startswith("publication/report.html: text differs") for line in lines)
    assert any(line.startswith("extra.csv: only in") for line in lines)
    assert _run(a, b).stdout.count("manifest.json") == 1  # not ignored: compared by bytes
    assert _run(a, tmp_path / "missing").returncode == 2
