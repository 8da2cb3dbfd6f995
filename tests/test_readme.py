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


def _section_commands(heading: str) -> list[str]:
    """The commands of the first shell block under ``heading``, continuation lines joined, comments dropped."""
    text = README.read_text(encoding="utf-8")
    section = text.split(heading, 1)[1].split("\n#", 1)[0]
    block = re.findall(r"```sh\n(.*?)```", section, re.S)[0]
    lines = block.replace("\\\n", " ").splitlines()
    commands = [line.split("#", 1)[0].strip() for line in lines]
    return [c for c in commands if c]


def _stage_commands() -> list[str]:
    return _section_commands("## The command line, stage by stage")


def _run_readme_commands(commands: list[str], small: dict[str, str]) -> None:
    """Run README commands in the current folder through the CLI, in order; each must exit 0."""
    import shlex
    import warnings

    from typer.testing import CliRunner

    from nonrecours.cli.main import app

    runner = CliRunner()
    for command in commands:
        for old, new in small.items():
            command = command.replace(old, new)
        args = shlex.split(command)
        assert args[0] == "nonrecours"
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # a small population: zero model variances and the like are expected
            res = runner.invoke(app, args[1:])
        assert res.exit_code == 0, (command, res.output)


def test_readme_sections_follow_the_reader():
    """The stage-by-stage commands, then the follow-up and the administrative phase, then what is published."""
    text = README.read_text(encoding="utf-8")
    order = [
        "## The command line, stage by stage",
        "### Follow-up year after year",
        "### The administrative phase: the organisms' files, linked",
        "## Confidential microdata, published tables",
        "## National scale: DuckDB, Spark and several workers",
    ]
    at = [text.index(h) for h in order]
    assert at == sorted(at)
    # the two sub-sections belong to the command line, not to the confidentiality rules
    between = text[at[0] : at[3]]
    assert between.count("\n## ") == 0


@pytest.mark.slow  # every command of the README, in order
def test_readme_stage_by_stage_runs_in_sequence(tmp_path, monkeypatch):
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
    _run_readme_commands(commands, SMALL)
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


@pytest.mark.slow  # the follow-up block as written, in an empty folder: every file it reads, it creates
def test_readme_follow_up_block_runs_in_sequence(tmp_path, monkeypatch):
    commands = _section_commands("### Follow-up year after year")
    for name in ("simulate", "allocate", "sample", "change", "series", "demo", "validate"):
        assert any(c.startswith(f"nonrecours {name} ") for c in commands), name
    monkeypatch.chdir(tmp_path)
    small = {
        "--territories 200": "--territories 30",
        "--n 3000": "--n 800",
        "--territories 60": "--territories 12",
        "--replications 400": "--replications 3",
    }
    _run_readme_commands(commands, small)
    for name in ("a14.csv", "s14.csv", "s15.csv", "s16.csv", "change.csv", "follow-up/results/2016"):
        assert (tmp_path / name).exists(), name
    assert "in_previous" in (tmp_path / "s16.csv").read_text().splitlines()[0].split(",")


@pytest.mark.slow  # the administrative phase's block as written, in an empty folder
def test_readme_admin_block_runs_in_sequence(tmp_path, monkeypatch):
    commands = _section_commands("### The administrative phase: the organisms' files, linked")
    for name in ("simulate", "eligibility", "link", "territorial admin"):
        assert any(c.startswith(f"nonrecours {name} ") for c in commands), name
    monkeypatch.chdir(tmp_path)
    _run_readme_commands(commands, {"--territories 100": "--territories 30"})
    for name in ("eligibility.csv", "links.csv", "near.csv", "linkage_quality.csv", "admin_linked.csv"):
        assert (tmp_path / name).is_file(), name


@pytest.mark.slow  # the map command of the README, on a small demo
def test_readme_map_command_runs(tmp_path, monkeypatch):
    text = README.read_text(encoding="utf-8").replace("\n", " ")
    command = re.search(r"`(nonrecours map demo-study/results/publication [^`]*)`", text).group(1)
    monkeypatch.chdir(tmp_path)
    _run_readme_commands(
        ["nonrecours demo --territories 25 --no-admin --out demo-study", command], {"--departement 59": ""}
    )
    assert (tmp_path / "map.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
