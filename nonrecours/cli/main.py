"""The ``nonrecours`` command line: a thin layer over the library.

One module per command group; each exposes ``register(app)``.
"""

from __future__ import annotations

import importlib

import typer

from .._version import __version__
from ._common import OneLineErrorsGroup

app = typer.Typer(
    name="nonrecours",
    help="Measure non-take-up (non-recours) of social rights: simulate, sample, weight, estimate, "
    "small-area estimates and reproducible study reports.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    cls=OneLineErrorsGroup,
)

#: Command modules, registered in this order (``nonrecours --help`` lists them so).
COMMAND_MODULES = ("simulate", "design", "weight", "estimate", "analysis", "territorial", "study", "validate")


def _version(value: bool) -> None:
    if value:
        typer.echo(f"nonrecours {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: bool = typer.Option(False, "--version", callback=_version, is_eager=True, help="Print the version and exit."),
) -> None:
    """Measure non-take-up of social rights by recipients of minimum income benefits."""


for _name in COMMAND_MODULES:
    importlib.import_module(f".{_name}", __package__).register(app)


def main() -> None:
    """Console-script entry point."""
    app()


if __name__ == "__main__":  # pragma: no cover
    main()
