"""The README's Python example runs as written, and its two set-up commands are there."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

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
    assert [c.strip() for c in commands] == [
        "python -m pip install '.[admin]' && nonrecours demo --out demo-study",
        "python -m pip install -c constraints/test.txt '.[test]' && python -m pytest",
    ]


def test_ci_runs_the_readmes_test_command():
    """``.ci/run`` installs and tests exactly as the README says (the pinned test dependencies)."""
    ci = (README.parent / ".ci" / "run").read_text(encoding="utf-8")
    assert "python -m pip install -c constraints/test.txt '.[test]' && python -m pytest" in ci
    assert (README.parent / "constraints" / "test.txt").is_file()


def test_default_run_includes_the_doctests():
    """``python -m pytest`` collects the package's docstring examples too."""
    import tomllib

    cfg = tomllib.loads((README.parent / "pyproject.toml").read_text(encoding="utf-8"))["tool"]["pytest"]["ini_options"]
    assert "--doctest-modules" in cfg["addopts"].split() and "nonrecours" in cfg["testpaths"]


#: Sizes of the README's stage-by-stage commands made small for the test; nothing else is changed.
SMALL = {
    # 30 territories: the README's three covariates leave the adjusted REML fit m - p > 2 territories with a direct
    # estimate (at 12 or 16, m - p = 2: the adjusted likelihood has no finite maximum, an error that says so)
    "--territories 100": "--territories 30",
    "--n 4000": "--n 1500",
    "bootstrap:200": "bootstrap:20",
    "--replications 500": "--replications 3",
    "--n 3000": "--n 400",
}


def _stage_commands() -> list[str]:
    text = README.read_text(encoding="utf-8")
    section = text.split("## The command line, stage by stage", 1)[1].split("\n## ", 1)[0]
    block = re.findall(r"```sh\n(.*?)```", section, re.S)[0]
    lines = block.replace("\\\n", " ").splitlines()
    return [line.split("#", 1)[0].strip() for line in lines if line.strip()]


@pytest.mark.slow  # every command of the README, in order
def test_readme_stage_by_stage_runs_in_sequence(tmp_path, monkeypatch):
    import shlex
    import warnings

    from typer.testing import CliRunner

    from nonrecours.cli.main import app

    commands = _stage_commands()
    for name in (
        "simulate",
        "allocate",
        "sample",
        "respond",
        "margins",
        "weight",
        "estimate",
        "territorial fit",
        "territorial admin",
        "territorial compare",
        "init",
        "run",
        "validate",
    ):
        assert any(c.startswith(f"nonrecours {name} ") for c in commands), name
    monkeypatch.chdir(tmp_path)
    runner = CliRunner()
    for command in commands:
        for old, new in SMALL.items():
            command = command.replace(old, new)
        args = shlex.split(command)
        assert args[0] == "nonrecours"
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # a small population: zero model variances and the like are expected
            res = runner.invoke(app, args[1:])
        assert res.exit_code == 0, (command, res.output)
    for name in (
        "population/recipients.csv",
        "allocation.csv",
        "precision.csv",
        "sample.csv",
        "answers.csv",
        "margins.csv",
        "weighted.csv",
        "weighted.design.json",
        "direct.csv",
        "by_benefit.xlsx",
        "sae.csv",
        "admin.csv",
        "study.toml",
        "results/publication/report.html",
        "results/publication/tables.xlsx",
        "results/microdata/weights.csv",
        "validation/validation.csv",
    ):
        assert (tmp_path / name).is_file(), name
    answers = (tmp_path / "answers.csv").read_text().splitlines()[0].split(",")
    assert "responded" in answers
    assert (tmp_path / "margins.csv").read_text().startswith("variable,category,total\nbenefit,AAH,")
