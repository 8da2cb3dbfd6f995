"""Library errors name parameters; the command line names its options (issue 24, item 5).

The library says ``parameter lonely_psu``; a command prints ``option --lonely-psu``
(:func:`nonrecours.cli._common.in_command_words`, applied by ``handle_errors``).
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

import nonrecours
from nonrecours.cli import estimate, series, weight
from nonrecours.cli._common import command_options, in_command_words
from nonrecours.cli.main import app

PACKAGE = Path(nonrecours.__file__).parent
#: String constants outside the CLI that may start with '--x' (not an option of nonrecours).
NOT_OURS = {"--add-modules=jdk.incubator.vector"}  # a JVM flag (engines/spark.py)


def _strings(tree: ast.AST):
    """String constants of a module, docstrings left out."""
    docs = {
        id(n.body[0].value)
        for n in ast.walk(tree)
        if isinstance(n, (ast.Module, ast.FunctionDef, ast.ClassDef, ast.AsyncFunctionDef))
        and n.body
        and isinstance(n.body[0], ast.Expr)
        and isinstance(n.body[0].value, ast.Constant)
    }
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in docs:
            yield node.lineno, node.value


def test_no_library_module_speaks_in_command_line_flags():
    found = []
    for path in sorted(PACKAGE.rglob("*.py")):
        if path.parent.name == "cli":
            continue
        for line, text in _strings(ast.parse(path.read_text(encoding="utf-8"))):
            if (re.match(r"--[a-z]", text) and text not in NOT_OURS) or "option --" in text:
                found.append(f"{path.relative_to(PACKAGE)}:{line}: {text[:60]!r}")
    assert not found, "\n".join(found)


def test_in_command_words_uses_the_commands_own_options():
    opts = command_options(estimate.estimate)
    assert opts["lonely_psu"] == "--lonely-psu" and opts["rep_rho"] == "--rep-rho" and opts["out"] == "--out"
    text = "parameter lonely_psu: unknown value. Hint: set parameter rho, or write parameter path 'x.csv'."
    assert in_command_words(text, opts) == (
        "option --lonely-psu: unknown value. Hint: set option --rep-rho, or write option --out 'x.csv'."
    )
    # a parameter the command has no option for keeps the library's words; another command, its own option
    assert in_command_words("parameter years: malformed.", opts) == "parameter years: malformed."
    assert (
        in_command_words("parameter years: malformed.", command_options(series.series)) == "option --waves: malformed."
    )
    assert (
        in_command_words("parameter margins: no file.", command_options(weight.weight))
        == "option --calibrate: no file."
    )


@pytest.fixture
def sample(tmp_path) -> Path:
    rng = np.random.default_rng(3)
    n = 120
    path = tmp_path / "s.csv"
    pd.DataFrame(
        {
            "id": np.arange(n),
            "stratum": rng.integers(0, 3, n),
            "weight": 10.0,
            "benefit": rng.choice(["RSA", "AAH"], n),
            "responded": (rng.uniform(size=n) < 0.7).astype(int),
            "cmuc": rng.integers(0, 2, n),
            "rw_1": 10.0,
            "rw_2": 12.0,
        }
    ).to_csv(path, index=False)
    return path


@pytest.mark.parametrize(
    "args,flags",
    [
        (
            ["weight", "{s}", "--responded", "responded", "--out", "{d}/w.csv"],
            ["option --responded", "option --nonresponse"],
        ),
        (["weight", "{s}", "--trim", "3", "--out", "{d}/w.csv"], ["option --trim", "option --calibrate"]),
        (
            ["estimate", "{s}", "--rights", "cmuc", "--repweights", "rw_*", "--rep-type", "jkn"],
            ["option --rep-rscales"],
        ),
        (["test", "{s}", "--right", "cmuc", "--by", "benefit", "--pps", "brewer"], ["option --pps", "option --fpc"]),
        (["simulate", "--territories", "2", "--seed", "1", "--out", "{s}"], ["option --out"]),
    ],
)
def test_library_errors_reach_the_user_in_flags(sample, args, flags):
    res = CliRunner().invoke(app, [a.format(s=sample, d=sample.parent) for a in args])
    assert res.exit_code == 2
    assert all(f in res.output for f in flags), res.output
    assert "parameter" not in res.output, res.output
