"""The ``nonrecours`` command line: a thin layer over the library.

One module per command group; each exposes ``register(app)``. Modules are
imported when one of their commands runs, not at start-up: ``nonrecours
--help`` lists the commands from :data:`COMMAND_INDEX` (checked against the
modules by a test) and imports none of them, and ``nonrecours estimate``
imports only what estimating needs. A module listed in
:data:`COMMAND_MODULES` but absent from the index is still found: it is then
imported to list its commands.

Help is plain text (no rich markup), so that ``[default: ...]`` and other
bracketed text show as written and flags show as flags.
"""

from __future__ import annotations

import importlib
import logging
import os
import shutil
import sys
from typing import Any

import typer

from .._version import __version__
from ._common import OneLineErrorsGroup, nothing_held_declared

#: Command modules, registered in this order (``nonrecours --help`` lists them so).
COMMAND_MODULES = (
    "simulate",
    "design",
    "respond",
    "margins",
    "weight",
    "estimate",
    "analysis",
    "change",
    "series",
    "territorial",
    "admin",
    "maps",
    "study",
    "validate",
)

#: The commands each module registers, with their one-line help, so that ``--help`` imports no module.
COMMAND_INDEX: dict[str, dict[str, str]] = {
    "simulate": {"simulate": "Simulate recipients, territories and true take-up rates; write three tables to --out."},
    "design": {
        "allocate": "Allocate a sample across strata, by a fixed total or by a precision target per domain.",
        "sample": "Draw a sample with the sizes of an allocation file, with inclusion probabilities and weights.",
    },
    "respond": {"respond": "Simulate who responds to a dry-run survey and write the answers file (answers.csv)."},
    "weight": {"weight": "Adjust for non-response, calibrate to margins, trim, and add replicate weights."},
    "estimate": {
        "estimate": "Estimate take-up rates, numbers of takers and non-takers, means, ratios or quantiles per domain."
    },
    "analysis": {
        "test": "Test the association between taking up a right and a group (Rao-Scott corrected chi-square, Wald).",
        "model": "Survey logistic regression of taking up a right: odds ratios, Wald tests per term, "
        "predicted take-up.",
    },
    "change": {
        "change": "Change of take-up per domain x right between two waves: SE from joint linearisation, CI, test."
    },
    "series": {
        "series": "Series over years: yearly take-up, changes, trend test; territorial admin rates with "
        "consistent suppression."
    },
    "margins": {"margins": "Count a frame's categories: the calibration margins of 'nonrecours weight --calibrate'."},
    "territorial": {"territorial": "Per-territory take-up: Fay-Herriot estimates, administrative rates, comparison."},
    "admin": {
        "eligibility": "Eligibility for CMU-C, ACS, TPN and TSS from resources and household size "
        "(eligible / not / undetermined).",
        "link": "Link the recipients with the health insurance's file and the suppliers' lists: by number, "
        "then Splink.",
    },
    "maps": {
        "map": "Map one right's territory values (PNG or SVG) over the QPV contours and the département outlines."
    },
    "study": {
        "init": "Write the example study file to edit (a dry run on population/, report in French).",
        "run": "Run a study: sample, weights, estimates, small areas, report.html, tables.xlsx and manifest.json.",
        "demo": "Simulate a population, write an example study file next to it, and run it.",
    },
    "validate": {
        "validate": "Draw many samples from one synthetic population; report bias, SEs and CI coverage with MC errors.",
        "validate-admin": "Simulate populations, sources, linkages and surveys; report each administrative "
        "interval's coverage by right.",
    },
}


def _plain_help(cmd: Any) -> None:
    """Plain-text help for a command and its sub-commands (rich markup would eat ``[...]``)."""
    if hasattr(cmd, "rich_markup_mode"):
        cmd.rich_markup_mode = None
    for sub in getattr(cmd, "commands", {}).values():
        _plain_help(sub)


class LazyGroup(OneLineErrorsGroup):
    """The root group: a command's module is imported when the command is looked up, not before."""

    def make_context(self, info_name: str | None, args: list[str], parent: Any = None, **extra: Any) -> Any:
        # help wraps at the terminal's width (50 to 200 columns), also under typer's test runner (which forces 80)
        if parent is None and "terminal_width" not in extra:
            extra["terminal_width"] = max(min(shutil.get_terminal_size().columns, 200) - 2, 50)
        return super().make_context(info_name, args, parent=parent, **extra)

    def _index(self) -> dict[str, str]:
        """Command name -> module name, for every module (unindexed modules are imported to list them)."""
        out: dict[str, str] = {}
        for module in COMMAND_MODULES:
            names = COMMAND_INDEX.get(module)
            if names is None:
                names = {name: "" for name in self._load(module)}
            out.update({name: module for name in names})
        return out

    def _load(self, module: str) -> list[str]:
        """Import a command module, add its commands to the group; their names."""
        sub = typer.Typer()
        sub.callback()(lambda: None)  # a group, even for a module with one command
        importlib.import_module(f".{module}", __package__).register(sub)
        group = typer.main.get_command(sub)
        for name, cmd in group.commands.items():  # type: ignore[attr-defined]
            _plain_help(cmd)
            self.add_command(cmd, name)
        return list(group.commands)  # type: ignore[attr-defined]

    def list_commands(self, ctx: Any) -> list[str]:
        return list(dict.fromkeys([*self._index(), *self.commands]))

    def get_command(self, ctx: Any, cmd_name: str) -> Any:
        if cmd_name not in self.commands:
            module = self._index().get(cmd_name)
            if module is not None:
                self._load(module)
        return self.commands.get(cmd_name)

    def format_commands(self, ctx: Any, formatter: Any) -> None:
        """The command list of ``--help``, from :data:`COMMAND_INDEX` (no module imported)."""
        rows = []
        for module in COMMAND_MODULES:
            names = COMMAND_INDEX.get(module)
            if names is None:
                names = {n: self.get_command(ctx, n).get_short_help_str() for n in self._load(module)}
            rows += list(names.items())
        if rows:
            limit = formatter.width - 6 - max(len(name) for name, _ in rows)
            short = [
                (name, text if len(text) <= limit else text[: max(limit - 3, 10)].rstrip() + "...")
                for name, text in rows
            ]
            with formatter.section("Commands"):
                formatter.write_dl(short)


app = typer.Typer(
    name="nonrecours",
    help="Measure non-take-up (non-recours) of social rights: simulate, sample, weight, estimate, "
    "small-area estimates and reproducible study reports.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
    cls=LazyGroup,
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"nonrecours {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: bool = typer.Option(
        False, "--version", callback=_version, is_eager=True, help="Print the version and exit."
    ),
) -> None:
    """Measure non-take-up of social rights by recipients of minimum income benefits."""


#: Commands that hold nothing Python's shutdown must release (no temporary folder, thread or process pool,
#: subprocess, JVM or database connection): once such a command has written its outputs and messages, the
#: process ends without tearing the interpreter down. Freeing pandas, scipy and their arrays module by module
#: takes 0.15-0.2 s, a fifth of a whole ``nonrecours estimate`` (``benchmarks/bench_cli.py``).
QUICK_EXIT = frozenset({"estimate", "test", "model", "margins", "allocate", "sample", "change"})
#: A command whose safety depends on its options says so itself (:func:`nonrecours.cli._common.nothing_held`):
#: ``territorial admin`` once its engine (pandas or DuckDB) is closed and its tables written.


def _command_name(args: list[str]) -> str | None:
    """The command a command line runs: its first argument that is not an option (the root has only flags)."""
    return next((a for a in args if not a.startswith("-")), None)


def _quick_exit(code: object) -> None:
    """End the process now with ``code`` (as ``sys.exit`` would), after flushing every output stream."""
    if code is None:
        status = 0
    elif isinstance(code, int):
        status = code
    else:  # sys.exit("text"): the text on stderr, status 1
        print(code, file=sys.stderr)
        status = 1
    logging.shutdown()
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):  # a closed pipe (e.g. `| head`): nothing left to flush to
            pass
    os._exit(status)


def main() -> None:
    """Console-script entry point."""
    try:
        app()
    except SystemExit as exc:
        if _command_name(sys.argv[1:]) in QUICK_EXIT or nothing_held_declared():
            _quick_exit(exc.code)
        raise


if __name__ == "__main__":  # pragma: no cover
    main()
