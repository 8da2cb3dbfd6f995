"""The documentation site builds with ``mkdocs build --strict`` (warnings are errors: broken links, API
pages whose docstrings do not parse, a CLI reference that cannot be generated).

The build runs without ``-q``: quiet mode raises the log level above WARNING, so strict mode then counts
no warning at all and a docstring griffe cannot parse passed unseen (issue 24)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_mkdocs_build_strict(tmp_path):
    env = {**os.environ, "NO_MKDOCS_2_WARNING": "1", "PYTHONPATH": str(ROOT)}
    res = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "-d", str(tmp_path / "site")],
        cwd=ROOT,
        capture_output=True,
        text=True,
        env=env,
        timeout=600,
    )
    warnings = [line for line in (res.stdout + res.stderr).splitlines() if line.startswith(("WARNING", "ERROR"))]
    assert res.returncode == 0 and not warnings, "\n".join(warnings) or res.stderr[-3000:]
    cli = (tmp_path / "site" / "cli" / "index.html").read_text(encoding="utf-8")
    assert 'id="nonrecours-estimate"' in cli and "--sep" in cli and 'id="nonrecours-territorial-fit"' in cli
    api = (tmp_path / "site" / "api" / "estimation" / "index.html").read_text(encoding="utf-8")
    assert "Parameters" in api and "estimate_rates" in api
    assert "arithmatex" in (tmp_path / "site" / "method" / "small-areas" / "index.html").read_text(encoding="utf-8")
    territorial = (tmp_path / "site" / "api" / "territorial" / "index.html").read_text(encoding="utf-8")
    # the docstrings' :math:`...` roles are typeset (MathJax on arithmatex spans), not shown as TeX source
    assert ":math:" not in territorial and ".. math::" not in territorial
    assert '<span class="arithmatex">\\(h(A) = A\\)</span>' in territorial


def test_math_roles_hook_turns_rst_math_into_arithmatex():
    sys.path.insert(0, str(ROOT / "docs" / "hooks"))
    try:
        from math_roles import typeset
    finally:
        sys.path.pop(0)
    html = "<p>a :math:<code>\\hat p</code> b</p><p>.. math:: x = \\frac{1}{2}\n</p>"
    assert typeset(html) == (
        '<p>a <span class="arithmatex">\\(\\hat p\\)</span> b</p><div class="arithmatex">\\[x = \\frac{1}{2}\\]</div>'
    )
