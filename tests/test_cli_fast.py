"""The fast command line: ``--help`` imports no command module, the index matches the commands, help is plain.

Timings are in benchmarks/bench_cli.py (figures in benchmarks/RESULTS.md), not here.
"""

from __future__ import annotations

import re
import subprocess
import sys

import pytest
import typer
from typer.testing import CliRunner

from nonrecours.cli.main import COMMAND_INDEX, COMMAND_MODULES, app

RUN = CliRunner()
HEAVY = (
    "pandas",
    "numpy",
    "scipy",
    "matplotlib",
    "statsmodels",
    "nonrecours.cli.estimate",
    "nonrecours.study",
    "nonrecours.design",
    "rich",
)


def test_help_imports_no_command_module_and_nothing_heavy():
    code = (
        "import sys, runpy; sys.argv = ['nonrecours', '--help']\n"
        "try:\n    runpy.run_module('nonrecours', run_name='__main__')\nexcept SystemExit:\n    pass\n"
        "print('LOADED', ' '.join(sorted(m for m in sys.modules)))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    loaded = set(out.split("LOADED", 1)[1].split())
    assert not {
        m for m in loaded if m.split(".")[0] in HEAVY or m in HEAVY or any(m.startswith(h + ".") for h in HEAVY)
    }
    assert "estimate" in out.split("LOADED")[0]


def test_command_modules_import_no_heavy_library():
    """Each command module imports pandas, numpy, scipy... inside its command, so its --help stays fast."""
    import importlib

    code = (
        "import importlib, sys\n"
        "for m in {modules!r}:\n    importlib.import_module('nonrecours.cli.' + m)\n"
        "print(' '.join(sorted(m for m in sys.modules if m.split('.')[0] in {heavy!r})))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code.format(modules=list(COMMAND_MODULES), heavy=HEAVY[:5])],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert out.strip() == ""
    assert importlib.import_module("nonrecours.cli.estimate")


def test_index_lists_every_command_with_its_own_help():
    group = typer.main.get_command(app)
    assert set(COMMAND_INDEX) == set(COMMAND_MODULES)
    for module in COMMAND_MODULES:
        names = group._load(module)
        assert list(COMMAND_INDEX[module]) == names, module
        for name in names:
            cmd = group.commands[name]
            assert COMMAND_INDEX[module][name] == (cmd.short_help or cmd.help).split("\n\n")[0].strip(), name


def test_help_shows_defaults_brackets_and_flags():
    res = RUN.invoke(app, ["estimate", "--help"], terminal_width=200)
    assert res.exit_code == 0
    text = " ".join(res.output.split())
    assert "Weight column [default: 'weight' if present; none = equal]" in text  # brackets kept
    assert "[default: auto]" in text and "[default: 0.95]" in text
    assert "--replicates " in text and "<bool>" not in text and "BOOLEAN" not in text
    res = RUN.invoke(app, ["allocate", "--help"], terminal_width=200)
    assert "--take-all / --no-take-all" in res.output


def test_unknown_command_is_one_line():
    res = RUN.invoke(app, ["estimat"])
    assert res.exit_code == 2 and res.output.count("\n") == 1 and "estimat" in res.output


def test_progress_bar_only_on_a_terminal_and_not_quiet(monkeypatch, tmp_path):
    from nonrecours.cli import _common

    args = [
        "validate",
        "--territories",
        "3",
        "--replications",
        "3",
        "--n",
        "300",
        "--seed",
        "2",
        "--levels",
        "national",
        "--ci",
        "logit",
    ]
    plain = RUN.invoke(app, args)  # CliRunner's stderr is not a terminal
    assert plain.exit_code == 0, plain.output
    assert "samples drawn" not in plain.stderr
    monkeypatch.setattr(_common, "is_terminal", lambda: True)
    bar = RUN.invoke(app, args)
    assert bar.exit_code == 0 and "samples drawn and estimated" in bar.stderr and "3/3" in bar.stderr
    quiet = RUN.invoke(app, [*args, "--quiet"])
    assert quiet.exit_code == 0 and quiet.stderr == ""
    # same results, with or without a bar (the elapsed time aside: it flips 0.0 / 0.1 s on a loaded machine)
    assert re.sub(r"\d+\.\d s", "", quiet.stdout) == re.sub(r"\d+\.\d s", "", plain.stdout)


def test_replicate_progress_reaches_the_number_of_replicates():
    import numpy as np
    import pandas as pd

    from nonrecours.design import SurveyDesign
    from nonrecours.weights.replicates import replicate_weights

    df = pd.DataFrame({"stratum": np.repeat([0, 1], 20), "psu": np.arange(40), "w": 2.0})
    design = SurveyDesign(df, weight="w", strata="stratum", psu="psu")
    seen = []
    replicate_weights(
        design,
        "bootstrap",
        df["w"].to_numpy(),
        replicates=50,
        seed=1,
        progress=lambda done, total: seen.append((done, total)),
    )
    assert seen and seen[-1] == (50, 50) and all(t == 50 for _, t in seen)


def _small_sample(path):
    rows = ["territory,stratum,psu,weight,cmuc,acs"]
    for i in range(120):
        rows.append(f"T{i % 3},S{i // 4 % 2},P{i // 4},{10 + i % 7},{i % 3 % 2},{'' if i % 5 == 0 else (i // 2) % 2}")
    path.write_text("\n".join(rows) + "\n")
    return path


def test_estimate_imports_neither_scipy_stats_nor_plotting(tmp_path):
    """scipy.stats alone costs more than the whole estimation: the estimate path computes quantiles on
    scipy.special (estimation._dist); a module importing scipy.stats at its top would bring it back."""
    sample = _small_sample(tmp_path / "s.csv")
    code = (
        "import sys\nfrom nonrecours.cli.main import app\n"
        f"app(['estimate', {str(sample)!r}, '--rights', 'cmuc,acs', '--by', 'territory', '--out', "
        f"{str(tmp_path / 'e.csv')!r}], standalone_mode=False)\n"
        "print('LOADED', ' '.join(sorted(sys.modules)))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    loaded = set(out.split("LOADED", 1)[1].split())
    assert (tmp_path / "e.csv").exists()
    assert not {
        m
        for m in loaded
        if m == "scipy.stats" or m.startswith(("scipy.stats.", "matplotlib", "statsmodels", "scipy.optimize"))
    }


@pytest.mark.slow
def test_quick_exit_keeps_outputs_messages_and_exit_codes(tmp_path):
    """``estimate`` ends without interpreter teardown (cli.main.QUICK_EXIT): its table, its summary line on a
    pipe and its exit codes are those of a normal exit."""
    from nonrecours.cli.main import QUICK_EXIT, _command_name

    assert "estimate" in QUICK_EXIT and "run" not in QUICK_EXIT and "validate" not in QUICK_EXIT
    assert _command_name(["--version"]) is None and _command_name(["estimate", "--ci", "beta"]) == "estimate"
    sample = _small_sample(tmp_path / "s.csv")
    out = tmp_path / "e.csv"
    cmd = [
        sys.executable,
        "-m",
        "nonrecours",
        "estimate",
        str(sample),
        "--rights",
        "cmuc,acs",
        "--by",
        "territory",
        "--out",
        str(out),
    ]
    ok = subprocess.run(cmd, capture_output=True, text=True)
    assert ok.returncode == 0, ok.stderr
    assert ok.stdout.startswith("6 estimates of rate") and ok.stdout.endswith("\n")
    assert out.read_text().count("\n") == 7  # header and 3 territories x 2 rights, flushed before exiting
    again = subprocess.run(cmd, capture_output=True, text=True)  # the output exists: refused, exit 2, one line
    assert again.returncode == 2 and again.stderr.count("\n") == 1 and again.stderr.startswith("error:")
    usage = subprocess.run(cmd[:5] + ["--ci", "nope", "--out", str(tmp_path / "f.csv")], capture_output=True, text=True)
    assert usage.returncode == 2 and "ci" in usage.stderr and usage.stderr.count("\n") == 1
    assert not (tmp_path / "f.csv").exists()


def _small_recipients(path):
    rows = ["id,territory,departement,cmuc"]
    rows += [f"R{i:04d},T{i % 4},D{i % 2},{'' if i % 7 == 0 else i % 3 % 2}" for i in range(400)]
    path.write_text("\n".join(rows) + "\n")
    return path


@pytest.mark.parametrize("engine", ["pandas", "duckdb"])
def test_territorial_admin_ends_without_teardown_once_its_engine_is_closed(tmp_path, engine):
    """``territorial admin`` (pandas or DuckDB) declares itself done (cli._common.nothing_held) after writing its
    table: no exit handler runs, and its table and messages are those of a normal exit. The same command refused
    (its output exists) declares nothing and tears the interpreter down as before."""
    if engine == "duckdb":
        pytest.importorskip("duckdb")
    rec = _small_recipients(tmp_path / "rec.csv")
    code = (
        "import atexit, sys\natexit.register(lambda: print('TEARDOWN'))\nsys.argv = ['nonrecours', *sys.argv[1:]]\n"
        "from nonrecours.cli.main import main\nmain()"
    )
    out = tmp_path / "a.csv"
    cmd = [sys.executable, "-c", code, "territorial", "admin", str(rec), "--rights", "cmuc", "--engine", engine]
    ok = subprocess.run([*cmd, "--out", str(out)], capture_output=True, text=True)
    assert ok.returncode == 0, ok.stderr
    assert ok.stdout.startswith("4 territory x right cells") and ok.stdout.endswith(f"wrote {out}\n")
    assert "TEARDOWN" not in ok.stdout
    assert out.read_text().count("\n") == 5  # header and 4 territories, flushed before exiting
    again = subprocess.run([*cmd, "--out", str(out)], capture_output=True, text=True)
    assert again.returncode == 2 and again.stderr.startswith("error:") and "TEARDOWN" in again.stdout
