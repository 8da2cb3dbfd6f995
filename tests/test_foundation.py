"""Foundation: atomic I/O, input protection, boundary checks, CLI shell."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from nonrecours import __version__
from nonrecours._checks import (
    check_choice,
    check_columns,
    check_positive_weights,
    check_random_state,
    check_right_column,
    parse_list,
    parse_mapping,
)
from nonrecours.cli.main import app
from nonrecours.errors import InputError, OptionError, OutputError
from nonrecours.io import read_table, write_table


def test_right_column_codes():
    df = pd.DataFrame({"cmuc": [1, 0, None, 1.0]})
    v = check_right_column(df, "cmuc")
    assert v.dtype == np.float64
    np.testing.assert_array_equal(np.isnan(v), [False, False, True, False])
    bad = pd.DataFrame({"cmuc": [1, 2, 0, "x"]})
    # refused values are named by kind, with their lines, never by their content (issue 28)
    with pytest.raises(
        InputError,
        match=r"column 'cmuc'.*text values \(1 distinct\) in 1 rows, on line 5; "
        r"numbers other than 0 and 1 in 1 rows, on line 3",
    ) as err:
        check_right_column(bad, "cmuc")
    assert "'x'" not in str(err.value) and " 2 " not in str(err.value)


def test_missing_columns_named():
    with pytest.raises(InputError, match=r"'wgt'.*not found"):
        check_columns(pd.DataFrame({"a": [1]}), ["a", "wgt"], role="weight column")


def test_weights_checked():
    with pytest.raises(InputError, match="2 rows"):
        check_positive_weights(np.array([1.0, 0.0, np.nan]), "w")
    assert check_positive_weights(np.array([1.0, 0.0]), "w", allow_zero=True).sum() == 1.0


def test_random_state_requires_seed():
    assert isinstance(check_random_state(3), np.random.Generator)
    g = np.random.default_rng(1)
    assert check_random_state(g) is g
    with pytest.raises(OptionError, match="seed"):
        check_random_state(None)
    a = check_random_state(5).random(3)
    b = check_random_state(5).random(3)
    np.testing.assert_array_equal(a, b)


def test_options_parsed():
    assert parse_list("a, b,,c", option="--by") == ["a", "b", "c"]
    assert parse_mapping("cmuc=0.65,acs=0.4", option="--rates") == {"cmuc": 0.65, "acs": 0.4}
    with pytest.raises(OptionError, match="--rates"):
        parse_mapping("cmuc:0.6", option="--rates")
    with pytest.raises(OptionError, match="one of"):
        check_choice("--ci", "probit", ("logit", "wald"))


def test_table_roundtrip_keeps_codes_and_empty_cells(tmp_path):
    df = pd.DataFrame({"departement": ["01", "2A", "971"], "cmuc": [1.0, np.nan, 0.0], "x": [1, 2, 3]})
    p = write_table(df, tmp_path / "t.csv")
    back = read_table(p)
    assert list(back["departement"]) == ["01", "2A", "971"]
    assert np.isnan(back["cmuc"][1])
    assert not any(f.name.endswith(".tmp") for f in tmp_path.iterdir())


def test_output_never_overwrites_input(tmp_path):
    src = tmp_path / "in.csv"
    pd.DataFrame({"a": [1]}).to_csv(src, index=False)
    before = src.read_bytes()
    with pytest.raises(OutputError, match="overwrite an input"):
        write_table(pd.DataFrame({"a": [2]}), src, inputs=[src])
    assert src.read_bytes() == before


def test_unsupported_suffix(tmp_path):
    with pytest.raises(OptionError, match=r"\.ods"):
        write_table(pd.DataFrame({"a": [1]}), tmp_path / "t.ods")


def test_cli_version_and_help():
    runner = CliRunner()
    res = runner.invoke(app, ["--version"])
    assert res.exit_code == 0 and __version__ in res.output
    res = runner.invoke(app, ["--help"])
    assert res.exit_code == 0 and "nonrecours" in res.output.lower()
