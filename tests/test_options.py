"""Every option spelled once (issue 11, item 2).

- the command line's choices and help text come from :mod:`nonrecours.options`;
- no module of the package restates an option list (a tuple, list, set or
  ``Literal`` holding all the values of an option enum) outside ``options.py``;
- the library checks a value with the enum and names the option in its error.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest
from typer.testing import CliRunner

import nonrecours
from nonrecours.cli.main import app
from nonrecours.errors import OptionError
from nonrecours.options import (
    ALL_OPTIONS,
    FHMSE,
    AllocationMethod,
    BenchmarkMethod,
    CalibrationMethod,
    ChangeVariance,
    CIMethod,
    DFRule,
    FHMethod,
    FHTransform,
    FHVariance,
    LonelyPSURule,
    MapKind,
    NonresponseMethod,
    PPSMethod,
    RateCombination,
    ReplicateType,
    RepWeightsType,
    SelectionMethod,
    TableFormat,
    ValidationDesign,
    ValidationLevel,
    WaveScheme,
    check_option,
    choices,
    choices_text,
)

PACKAGE = Path(nonrecours.__file__).resolve().parent

# (command, option) -> the enum whose values the option takes
CLI_OPTIONS = {
    (("estimate",), "--ci"): CIMethod,
    (("estimate",), "--df"): DFRule,
    (("estimate",), "--lonely-psu"): LonelyPSURule,
    (("estimate",), "--pps"): PPSMethod,
    (("estimate",), "--rep-type"): RepWeightsType,
    (("weight",), "--method"): CalibrationMethod,
    (("weight",), "--lonely-psu"): LonelyPSURule,
    (("weight",), "--replicates"): ReplicateType,
    (("weight",), "--nonresponse"): NonresponseMethod,
    (("allocate",), "--method"): AllocationMethod,
    (("allocate",), "--combine"): RateCombination,
    (("sample",), "--method"): SelectionMethod,
    (("territorial", "fit"), "--method"): FHMethod,
    (("territorial", "fit"), "--transform"): FHTransform,
    (("territorial", "fit"), "--variance"): FHVariance,
    (("territorial", "fit"), "--mse"): FHMSE,
    (("territorial", "fit"), "--benchmark-method"): BenchmarkMethod,
    (("simulate",), "--format"): TableFormat,
    (("validate",), "--design"): ValidationDesign,
    (("validate",), "--df"): DFRule,
    (("validate",), "--change"): WaveScheme,
    (("sample",), "--scheme"): WaveScheme,
    (("change",), "--scheme"): WaveScheme,
    (("change",), "--variance"): ChangeVariance,
    (("change",), "--lonely-psu"): LonelyPSURule,
    (("series",), "--scheme"): WaveScheme,
    (("series",), "--variance"): ChangeVariance,
    (("map",), "--kind"): MapKind,
}


def _help(command: tuple[str, ...]) -> str:
    out = CliRunner().invoke(app, [*command, "--help"], env={"COLUMNS": "400", "TERM": "dumb", "NO_COLOR": "1"})
    assert out.exit_code == 0, out.output
    return re.sub(r"[\s│|]+", " ", out.output)


@pytest.mark.parametrize("command,option", list(CLI_OPTIONS), ids=[f"{' '.join(c)} {o}" for c, o in CLI_OPTIONS])
def test_cli_help_lists_the_enum_values(command, option):
    text = _help(command)
    enum = CLI_OPTIONS[(command, option)]
    assert option in text
    assert choices_text(enum) in text or ", ".join(choices(enum)) in text


def test_validate_help_lists_ci_methods_and_levels():
    text = _help(("validate",))
    assert ", ".join(choices(CIMethod)) in text and ", ".join(choices(ValidationLevel)) in text


@pytest.mark.parametrize(
    "command,option,bad",
    [
        (("estimate", "x.csv", "--rights", "r"), "--ci", "logt"),
        (("weight", "x.csv", "--out", "o.csv"), "--method", "rake"),
    ],
)
def test_cli_refuses_a_value_outside_the_enum(command, option, bad):
    out = CliRunner().invoke(app, [*command, option, bad])
    assert out.exit_code == 2
    assert f"option {option}: unknown value" in out.output


def _string_collections(tree: ast.AST):
    for node in ast.walk(tree):
        if isinstance(node, (ast.Tuple, ast.List, ast.Set)):
            values = [e.value for e in node.elts if isinstance(e, ast.Constant) and isinstance(e.value, str)]
            if len(values) == len(node.elts) and len(values) >= 2:
                yield node.lineno, set(values)


def test_each_option_list_exists_once():
    """No module but options.py holds a literal collection of all the values of an option enum."""
    restated = []
    for path in sorted(PACKAGE.rglob("*.py")):
        if path.name == "options.py":
            continue
        for line, values in _string_collections(ast.parse(path.read_text(encoding="utf-8"))):
            for enum in ALL_OPTIONS:
                if set(choices(enum)) <= values:
                    restated.append(f"{path.relative_to(PACKAGE)}:{line} restates {enum.__name__}")
    assert not restated, restated


def test_enums_are_distinct_and_lower_case():
    names = [e.__name__ for e in ALL_OPTIONS]
    assert len(names) == len(set(names))
    for enum in ALL_OPTIONS:
        assert all(v == v.lower() for v in choices(enum)), enum
        assert len(set(choices(enum))) == len(enum)


def test_check_option_returns_plain_strings_and_names_the_option():
    assert type(check_option("ci", CIMethod.BETA, CIMethod)) is str
    # the library names its parameter; the command line names its option (cli._common.in_command_words)
    with pytest.raises(OptionError, match=r"parameter ci: unknown value; expected one of wald, logit"):
        check_option("ci", "logt", CIMethod)
    with pytest.raises(OptionError, match=r"option --ci: unknown value for --ci; expected one of wald, logit"):
        check_option("--ci", "logt", CIMethod)


def test_library_checks_its_options():
    import numpy as np
    import pandas as pd

    from nonrecours.design import SurveyDesign
    from nonrecours.estimation import estimate_rates

    d = SurveyDesign(pd.DataFrame({"y": [1.0, 0.0, 1.0]}))
    with pytest.raises(OptionError, match="parameter lonely_psu"):
        SurveyDesign(pd.DataFrame({"y": [1.0]}), lonely_psu="drop")
    with pytest.raises(OptionError, match="parameter ci"):
        estimate_rates(d, "y", ci="normal")
    with pytest.raises(OptionError, match="parameter df"):
        estimate_rates(d, "y", df="residual")
    res = estimate_rates(d, "y", ci=CIMethod.WILSON, df=DFRule.DESIGN)
    assert type(res.ci_method) is str and type(res.df_rule) is str and np.isfinite(res.raw_estimate).all()
