"""The README's Python example runs as written, and its two set-up commands are there."""

from __future__ import annotations

import re
from pathlib import Path

README = Path(__file__).resolve().parents[1] / "README.md"


def test_readme_python_example_runs():
    text = README.read_text(encoding="utf-8")
    blocks = re.findall(r"```python\n(.*?)```", text, re.S)
    assert blocks, "README has no Python example"
    ns: dict = {}
    exec(compile(blocks[0], str(README), "exec"), ns)  # noqa: S102 - our own documentation
    table = ns["rates"].to_frame()
    assert {"territory", "right", "n", "estimate", "se", "ci_low", "ci_high", "df", "deff", "cv", "flag"} <= set(table)
    assert set(ns["gap"]["right"]) == {"cmuc", "acs"}
    assert {"eblup", "mse", "gamma", "synthetic"} <= set(ns["sae"].to_frame())


def test_readme_keeps_exactly_two_setup_commands():
    text = README.read_text(encoding="utf-8")
    setup = text.split("## Set up", 1)[1].split("\n## ", 1)[0]
    commands = re.findall(r"```sh\n(.*?)```", setup, re.S)
    assert [c.strip() for c in commands] == ["python -m pip install . && nonrecours demo --out demo-study",
                                             "python -m pip install '.[test]' && python -m pytest"]


def test_default_run_includes_the_doctests():
    """``python -m pytest`` collects the package's docstring examples too."""
    import tomllib

    cfg = tomllib.loads((README.parent / "pyproject.toml").read_text(encoding="utf-8"))["tool"]["pytest"]["ini_options"]
    assert "--doctest-modules" in cfg["addopts"].split() and "nonrecours" in cfg["testpaths"]
