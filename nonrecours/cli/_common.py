"""Shared pieces of the command line: error handling and output helpers.

Every command is wrapped by :func:`handle_errors`, which turns a
:class:`~nonrecours.errors.NonrecoursError` (and missing/unreadable files)
into one line on stderr and exit status 2, without a traceback.
"""

from __future__ import annotations

import functools
import sys
import warnings
from collections.abc import Callable
from typing import Any, TypeVar

import typer

from ..errors import NonrecoursError, NonrecoursWarning

F = TypeVar("F", bound=Callable[..., Any])

EXIT_USAGE = 2


def fail(text: str) -> None:
    """Print ``error: text`` on stderr (one line) and exit with status 2."""
    typer.echo(f"error: {' '.join(str(text).split())}", err=True)
    raise typer.Exit(EXIT_USAGE)


def handle_errors(func: F) -> F:
    """Decorator for CLI commands: user errors become one line and exit 2."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        with warnings.catch_warnings():
            warnings.simplefilter("default", NonrecoursWarning)
            warnings.showwarning = _show_warning
            try:
                return func(*args, **kwargs)
            except NonrecoursError as exc:
                fail(str(exc))
            except (FileNotFoundError, IsADirectoryError, PermissionError) as exc:
                fail(f"{exc.strerror}: {exc.filename!r}")

    return wrapper  # type: ignore[return-value]


def _show_warning(msg, category, filename, lineno, file=None, line=None) -> None:  # noqa: ANN001
    print(f"warning: {' '.join(str(msg).split())}", file=sys.stderr)


def echo_table(df, *, max_rows: int = 60) -> None:  # noqa: ANN001
    """Print a DataFrame as a readable fixed-width table on stdout."""
    import pandas as pd

    with pd.option_context("display.max_rows", max_rows, "display.max_columns", 40, "display.width", 200,
                           "display.float_format", lambda v: f"{v:.4g}"):
        typer.echo(df.to_string(index=False))
