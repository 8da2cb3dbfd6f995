"""Every design option of the command line is spelled once (issue 11): in cli/_common.py or cli/_design.py.

A command takes ``--weight``, ``--strata``... ``--lonely-psu``, ``--replicates``, ``--pps``, ``--joint``,
``--stages``, ``--nest``, ``--zero-weights``, the ``--repweights`` options (the bundle of
:func:`nonrecours.cli._design.design_options`), ``--sep``/``--decimal``/``--encoding``/``--sheet``,
``--overwrite`` and ``--min-n`` from the shared option helpers, and builds its design with
:func:`nonrecours.cli._design.load_design`; a command module that writes ``typer.Option(..., "--strata", ...)``
itself fails here.
"""

from __future__ import annotations

import ast
from pathlib import Path

import nonrecours.cli

CLI = Path(nonrecours.cli.__file__).parent
SHARED = {"_common.py", "_design.py"}
FLAGS = {
    "--weight",
    "--strata",
    "--psu",
    "--ssu",
    "--fpc",
    "--fpc2",
    "--lonely-psu",
    "--replicates",
    "--repweights",
    "--rep-type",
    "--rep-scale",
    "--rep-rscales",
    "--rep-rho",
    "--mse",
    "--pps",
    "--joint",
    "--stages",
    "--nest",
    "--zero-weights",
    "--sep",
    "--decimal",
    "--encoding",
    "--sheet",
    "--overwrite",
    "--min-n",
    "--na",
    "--out-sep",
    "--out-decimal",
    "--out-encoding",
}
#: Options that share a name with a design option but are something else (module, command function, flag).
OTHER_MEANING = {
    ("design.py", "allocate_command", "--strata"),  # stratum columns to allocate over
    ("validate.py", "validate", "--strata"),  # strata of the simulated designs
    ("validate.py", "validate", "--pps"),  # the PPS variances to evaluate (several)
    ("territorial.py", "fit", "--weight"),  # the --aux column weighting territories in benchmarking
    ("territorial.py", "fit", "--mse"),  # the Fay-Herriot MSE estimator
    ("territorial.py", "fit_unit", "--mse"),  # the unit-level bootstrap MSE
    ("weight.py", "weight", "--replicates"),  # the replicate weights to draw (bootstrap:B, fay:RHO...)
}


def _option_flags(tree: ast.AST):
    """(function name, flag) of every ``typer.Option(...)`` call with a string flag, by the function around it."""
    for func in ast.walk(tree):
        if not isinstance(func, ast.FunctionDef):
            continue
        for node in ast.walk(func):
            if (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Attribute)
                and node.func.attr == "Option"
                and isinstance(node.func.value, ast.Name)
                and node.func.value.id == "typer"
            ):
                for arg in node.args:
                    if isinstance(arg, ast.Constant) and isinstance(arg.value, str) and arg.value.startswith("--"):
                        yield func.name, arg.value


def test_design_and_output_options_are_defined_only_by_the_shared_helpers():
    found = set()
    for path in sorted(CLI.glob("*.py")):
        for name, flag in _option_flags(ast.parse(path.read_text(encoding="utf-8"))):
            if flag in FLAGS:
                found.add((path.name, name, flag))
    stray = {f for f in found if f[0] not in SHARED and f not in OTHER_MEANING}
    assert not stray, f"options defined outside cli/_common.py and cli/_design.py: {sorted(stray)}"
    assert found >= OTHER_MEANING, "an exception listed here no longer exists: drop it"
    shared = "".join((CLI / name).read_text(encoding="utf-8") for name in SHARED)
    assert all(f'"{flag}"' in shared for flag in FLAGS)  # the shared helpers do spell them


def test_no_command_builds_a_design_itself():
    """The design of a sample comes from load_design: no command calls SurveyDesign(...) or a private loader."""
    for path in sorted(CLI.glob("*.py")):
        if path.name in SHARED:
            continue
        text = path.read_text(encoding="utf-8")
        assert "SurveyDesign(" not in text, path.name
        assert "_design(" not in text.replace("load_design(", "").replace("run_design(", ""), path.name
