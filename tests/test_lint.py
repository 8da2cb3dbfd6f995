"""The code is linted, formatted and type-checked (issue 24, item 7): ``ruff check``, ``ruff format --check``
and ``mypy`` with the configuration of ``pyproject.toml``, at the versions the test extra pins.

Each tool runs as ``python -m <tool>`` from the interpreter running the tests, so the checks use the pinned
versions of the test environment, not whatever is first on PATH.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _run(*args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "NO_COLOR": "1"}
    return subprocess.run([sys.executable, "-m", *args], cwd=ROOT, capture_output=True, text=True, env=env, timeout=600)


def test_ruff_check():
    res = _run("ruff", "check", "nonrecours", "tests")
    assert res.returncode == 0, (res.stdout + res.stderr)[-5000:]


def test_ruff_format():
    res = _run("ruff", "format", "--check", "nonrecours", "tests")
    assert res.returncode == 0, (res.stdout + res.stderr)[-5000:]


@pytest.mark.slow  # a cold run type-checks the whole package (~30 s of CPU)
def test_mypy():
    # mypy's incremental cache (.mypy_cache) is keyed on the files' contents: a re-run takes seconds, not 30
    res = _run("mypy", "nonrecours")
    assert res.returncode == 0, (res.stdout + res.stderr)[-5000:]
